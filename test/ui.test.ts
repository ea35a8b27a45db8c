/** The page's pure helpers: view keys around the engine's URL codec, and the bounded plot history. */
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../src/core/config';
import { presetById, presetConfig } from '../src/core/presets';
import { aggregate, BoundedHistory } from '../src/ui/history';
import { readHash, splitView, writeHash } from '../src/ui/url';

const fallback = () => presetConfig(presetById('first-steps')!);

describe('view keys in the URL', () => {
  it('are split off before decode and written back after encode', () => {
    const c = fallback();
    const hash = writeHash(c, { present: true, hide: ['builder', 'lr'], x: 'cost/flops', lang: 'zh' });
    expect(hash).toBe(`${encode(c)}&present=1&hide=builder,lr&x=flops&lang=zh`);
    const loc = readHash(`#${hash}`, fallback);
    expect(loc.problems).toEqual([]);
    expect(loc.config).toEqual(c);
    expect(loc.view).toEqual({ present: true, hide: ['builder', 'lr'], x: 'cost/flops', lang: 'zh' });
    // No lang key: the page follows the browser's language (and writes none back).
    expect(readHash(`#${encode(c)}`, fallback).view.lang).toBeNull();
    expect(writeHash(c, { present: false, hide: [], x: 'step', lang: null })).toBe(encode(c));
    const bad = readHash(`#${encode(c)}&lang=fr`, fallback);
    expect(bad.view.lang).toBeNull();
    expect(bad.problems.map((p) => [p.key, p.value, p.message])).toEqual([['lang', 'fr', 'must be one of en, zh']]);
    expect(decode(splitView(hash).experiment).problems).toEqual([]);
  });

  it('an empty hash gives the default preset; bad view values are reported, never thrown', () => {
    expect(readHash('', fallback).config).toEqual(fallback());
    const loc = readHash('#v=1&present=yes&hide=builder,<b>x</b>&x=%E0%A4%A', fallback);
    expect(loc.view).toEqual({ present: false, hide: ['builder'], x: 'step', lang: null });
    expect(loc.problems.map((p) => p.key)).toEqual(['present', 'hide', 'x']);
    expect(loc.problems[1].value).toBe('<b>x</b>');
  });
});

describe('short preset links', () => {
  it('preset=ID opens that preset; other settings in the link override it; views still apply', () => {
    const r1 = presetConfig(presetById('r1-recipe')!);
    const loc = readHash('#preset=r1-recipe', fallback);
    expect(loc.problems).toEqual([]);
    expect(loc.config).toEqual(r1);
    const o = readHash('#preset=r1-recipe&seed=7&present=1', fallback);
    expect(o.problems).toEqual([]);
    expect(o.config).toEqual({ ...r1, seed: 7 });
    expect(o.view.present).toBe(true);
  });

  it('an unknown preset is reported with the list, and the rest of the link still applies', () => {
    const loc = readHash('#preset=nope&seed=3', fallback);
    expect(loc.problems.map((p) => p.key)).toEqual(['preset']);
    expect(loc.problems[0].message).toContain('r1-recipe');
    expect(loc.config.seed).toBe(3);
    expect(readHash('#preset=%E0%A4%A', fallback).config).toEqual(fallback());
  });
});

describe('BoundedHistory', () => {
  it('aggregates seeds into mean, min and max', () => {
    const p = aggregate([{ step: 10, reward: 0.2 }, { step: 10, reward: 0.6 }, { step: 10 }]);
    expect(p.mean.reward).toBeCloseTo(0.4);
    expect(p.lo.reward).toBe(0.2);
    expect(p.hi.reward).toBe(0.6);
  });

  it('keeps a bounded number of points, the overall mean and range, and the latest x', () => {
    const h = new BoundedHistory(50);
    let sum = 0;
    const n = 10_000;
    for (let i = 1; i <= n; i++) {
      const y = Math.sin(i / 100);
      sum += y;
      h.push(aggregate([{ step: i, 'cost/samples': 64 * i, reward: y }]));
      expect(h.length).toBeLessThanOrEqual(51);
    }
    const pts = h.snapshot();
    const total = pts.reduce((s, p) => s + (p.mean.reward ?? 0) * p.n, 0);
    expect(pts.reduce((s, p) => s + p.n, 0)).toBe(n);
    expect(total / n).toBeCloseTo(sum / n, 10);
    expect(pts[pts.length - 1].mean.step).toBe(n);
    expect(pts[pts.length - 1].mean['cost/samples']).toBe(64 * n);
    expect(Math.min(...pts.map((p) => p.lo.reward!))).toBeCloseTo(-1, 3);
    expect(Math.max(...pts.map((p) => p.hi.reward!))).toBeCloseTo(1, 3);
    // x increases along the series (plots draw it left to right).
    for (let i = 1; i < pts.length; i++) expect(pts[i].mean.step!).toBeGreaterThan(pts[i - 1].mean.step!);
  });
});
