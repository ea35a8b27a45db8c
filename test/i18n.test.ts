/**
 * The two message catalogues (src/ui/i18n): the same keys and placeholders in both; every preset
 * and every setting has its Chinese texts, stating the same figures; no text of the interface is
 * written in a component's markup outside the catalogue.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALGOS, EXPERIMENT_FIELDS, RUN_FIELDS } from '../src/core/config';
import { PRESETS } from '../src/core/presets';
import { en } from '../src/ui/i18n/en';
import { browserLang, fill } from '../src/ui/i18n/index.svelte';
import { zh, zhContent } from '../src/ui/i18n/zh';

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
/** The numbers a text states (1,500 → 1500; 0.9 stays 0.9). */
const numbers = (s: string) => [...s.replace(/(\d),(\d{3})/g, '$1$2').matchAll(/\d+(?:\.\d+)?/g)].map((m) => m[0]).sort();
const hasCjk = (s: string) => /[\u4e00-\u9fff]/.test(s);

describe('message catalogues', () => {
  it('have the same keys in English and Chinese', () => {
    const enKeys = Object.keys(en).sort();
    const zhKeys = Object.keys(zh).sort();
    expect(zhKeys.filter((k) => !(k in en)), 'keys only in zh.ts').toEqual([]);
    expect(enKeys.filter((k) => !(k in zh)), 'keys missing in zh.ts').toEqual([]);
  });

  it('have the same placeholders in both, and no empty message', () => {
    for (const k of Object.keys(en) as (keyof typeof en)[]) {
      expect(placeholders(zh[k]), `placeholders of ${k}`).toEqual(placeholders(en[k]));
      expect(en[k].trim(), `en ${k}`).not.toBe('');
      expect(zh[k].trim(), `zh ${k}`).not.toBe('');
    }
  });

  it('are written in Chinese where English has words (not copied over)', () => {
    const copied = (Object.keys(en) as (keyof typeof en)[]).filter((k) => /[a-z]{3,}\s+[a-z]{3,}/i.test(en[k]) && !hasCjk(zh[k]));
    expect(copied).toEqual([]);
  });

  it('fill placeholders and leave unknown ones visible', () => {
    expect(fill('step {n} of {total}', { n: 3, total: 10 })).toBe('step 3 of 10');
    expect(fill('{x}', {})).toBe('{x}');
  });

  it('follow the browser: any zh variant is Chinese, everything else English', () => {
    expect(browserLang(['zh-CN', 'en'])).toBe('zh');
    expect(browserLang(['zh-TW'])).toBe('zh');
    expect(browserLang(['fr-FR', 'zh'])).toBe('zh');
    expect(browserLang(['en-GB', 'zh'])).toBe('en');
    expect(browserLang(['de'])).toBe('en');
    expect(browserLang([])).toBe('en');
  });
});

describe('Chinese content', () => {
  it('has every preset title and story, stating the same figures as the English', () => {
    for (const p of PRESETS) {
      const c = zhContent.presets[p.id];
      expect(c, `preset ${p.id}`).toBeDefined();
      expect(hasCjk(c.title) && hasCjk(c.story), `preset ${p.id} in Chinese`).toBe(true);
      // The story is a measured claim (test/presets*.test.ts): the Chinese must say the same numbers.
      expect(numbers(c.story), `figures of ${p.id}'s story`).toEqual(numbers(p.story));
    }
    expect(Object.keys(zhContent.presets).sort()).toEqual(PRESETS.map((p) => p.id).sort());
  });

  it('has every setting label and help text, stating the same figures', () => {
    const want = [...EXPERIMENT_FIELDS.map((f) => ['experiment', f] as const), ...RUN_FIELDS.map((f) => ['run', f] as const)];
    for (const [scope, f] of want) {
      const c = zhContent.fields[`${scope}.${f.key}`];
      expect(c, `${scope}.${f.key}`).toBeDefined();
      expect(c.label.trim(), `${scope}.${f.key} label`).not.toBe('');
      expect(hasCjk(c.doc), `${scope}.${f.key} help in Chinese`).toBe(true);
      expect(numbers(c.doc), `figures of ${scope}.${f.key}'s help`).toEqual(numbers(f.doc));
    }
    expect(Object.keys(zhContent.fields).sort()).toEqual(want.map(([s, f]) => `${s}.${f.key}`).sort());
  });

  it('names every algorithm', () => {
    for (const a of ALGOS) expect(hasCjk(zhContent.algos[a] ?? ''), a).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// No interface text outside the catalogue: components' markup holds no literal words.
// ---------------------------------------------------------------------------------------------
function svelteFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? svelteFiles(p) : p.endsWith('.svelte') ? [p] : [];
  });
}

/** Remove balanced {...} expressions (Svelte's) from markup. */
function stripExpressions(s: string): string {
  let out = '';
  let depth = 0;
  for (const ch of s) {
    if (ch === '{') depth++;
    else if (ch === '}') depth = Math.max(0, depth - 1);
    else if (depth === 0) out += ch;
  }
  return out;
}

/** Tokens that are the same in every language: names of formats, keys, symbols. */
const SAME_IN_EVERY_LANGUAGE = /^(GRPO Playground|GRPO|PPO|KL|SVG|PNG|CSV|JSON|G|x|y|r\d|×|✕|▶|❚❚|·|…|—|–|:|\(|\)|%|\/|=|\+|-)$/;

export function literalTexts(source: string): string[] {
  const markup = source
    .replace(/<script[\s\S]*?<\/script>/g, '')
    .replace(/<style[\s\S]*?<\/style>/g, '')
    .replace(/<!--[\s\S]*?-->/g, '');
  const found: string[] = [];
  // Attributes a reader hears or sees.
  for (const m of markup.matchAll(/\s(title|aria-label|aria-description|placeholder|alt|aria-valuetext)="([^"]*)"/g)) {
    const text = stripExpressions(m[2]).trim();
    if (/[A-Za-z\u4e00-\u9fff]/.test(text) && !SAME_IN_EVERY_LANGUAGE.test(text)) found.push(`${m[1]}="${m[2]}"`);
  }
  // Text between tags (attributes' own values are removed first, so `>` inside them is no tag end).
  const bare = stripExpressions(markup).replace(/"[^"]*"/g, '""');
  for (const m of bare.matchAll(/>([^<>]+)</g)) {
    for (const piece of m[1].split(/\s{2,}|\n/)) {
      const text = piece.trim();
      if (!text || !/[A-Za-z\u4e00-\u9fff]/.test(text) || SAME_IN_EVERY_LANGUAGE.test(text)) continue;
      const words = text.split(/\s+/).filter((w) => /[A-Za-z\u4e00-\u9fff]/.test(w));
      if (words.every((w) => SAME_IN_EVERY_LANGUAGE.test(w.replace(/[.,:;]$/, '')))) continue;
      found.push(text);
    }
  }
  return found;
}

describe('components', () => {
  it('the scanner finds literal text and passes catalogue calls', () => {
    expect(literalTexts('<button title="Play (Space)">▶ <span>Play</span></button>')).toEqual(['title="Play (Space)"', 'Play']);
    expect(literalTexts('<button title={t(\'app.play\')}>▶ <span>{t(\'app.play\')}</span></button>')).toEqual([]);
    expect(literalTexts('<p>{a > b ? "x" : "y"} SVG</p><script>const s = "<b>words</b>";</script>')).toEqual([]);
  });

  it('write no interface text outside the catalogue', () => {
    const offenders = svelteFiles('src/ui').flatMap((f) => literalTexts(readFileSync(f, 'utf8')).map((t) => `${f}: ${t}`));
    expect(offenders).toEqual([]);
  });
});
