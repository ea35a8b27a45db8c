import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng';

describe('Rng', () => {
  it('same seed, same stream; different seeds differ', () => {
    const a = new Rng(7), b = new Rng(7), c = new Rng(8);
    const xa = Array.from({ length: 100 }, () => a.nextUint32());
    expect(Array.from({ length: 100 }, () => b.nextUint32())).toEqual(xa);
    expect(Array.from({ length: 100 }, () => c.nextUint32())).not.toEqual(xa);
  });

  it('is uniform enough and in range', () => {
    const r = new Rng(1);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 100000; i++) {
      const x = r.next();
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
      counts[Math.floor(x * 10)]++;
    }
    for (const c of counts) expect(Math.abs(c - 10000)).toBeLessThan(500);
  });

  it('normal has mean 0 and variance 1', () => {
    const r = new Rng(2);
    let s = 0, s2 = 0;
    const n = 50000;
    for (let i = 0; i < n; i++) { const x = r.normal(); s += x; s2 += x * x; }
    expect(Math.abs(s / n)).toBeLessThan(0.02);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.03);
  });

  it('categorical follows the weights and skips zero weights', () => {
    const r = new Rng(3);
    const w = [0, 1, 3, 0];
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 40000; i++) counts[r.categorical(w)]++;
    expect(counts[0]).toBe(0);
    expect(counts[3]).toBe(0);
    expect(Math.abs(counts[2] / 40000 - 0.75)).toBeLessThan(0.01);
  });

  it('forked streams are independent of later draws on the parent', () => {
    const a = new Rng(5), b = new Rng(5);
    const fa = a.fork('task');
    b.next();
    const fb = new Rng(5).fork('task');
    expect(fa.nextUint32()).toBe(fb.nextUint32());
    expect(new Rng(5).fork('task').nextUint32()).not.toBe(new Rng(5).fork('sample').nextUint32());
  });

  it('permutation is a permutation', () => {
    const p = new Rng(9).permutation(50);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
