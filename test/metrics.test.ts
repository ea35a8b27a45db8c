/** src/core/metrics.ts: the bounded plot series and the columnar store of eval rows. */
import { describe, expect, it } from 'vitest';
import { BoundedSeries, type MetricRow, RowStore } from '../src/core/metrics';
import { Rng } from '../src/core/rng';

describe('RowStore', () => {
  it('gives back exactly the rows pushed, across growth, with metrics that come and go', () => {
    const rng = new Rng(5);
    const keys = ['step', 'eval/accuracy', 'train/reward_mean', 'skill/units-carry', 'critic/value_loss'];
    const pushed: MetricRow[] = [];
    const store = new RowStore();
    for (let i = 0; i < 1000; i++) {
      const r: Record<string, number> = { step: i * 10 };
      for (const k of keys.slice(1)) if (rng.next() < 0.7) r[k] = rng.normal() * 1e3;
      pushed.push(r as MetricRow);
      store.push(r as MetricRow);
    }
    expect(store.length).toBe(1000);
    const back = store.rows();
    expect(back).toHaveLength(1000);
    back.forEach((r, i) => expect(r).toEqual(pushed[i]));
    expect(store.row(999)).toEqual(pushed[999]);
    expect(() => store.row(1000)).toThrow(RangeError);
    // One value without building the row: the same, absent included.
    for (const i of [0, 17, 500, 999]) for (const k of [...keys, 'nope']) expect(store.value(i, k)).toBe((pushed[i] as Record<string, number>)[k]);
  });

  it('forgets the rows below an index (memory stays bounded) and keeps indices; truncate and push go on', () => {
    const store = new RowStore();
    const pushed: MetricRow[] = Array.from({ length: 300 }, (_, i) => ({ step: i, ...(i % 3 ? { reward: i / 7 } : {}) }) as MetricRow);
    for (const r of pushed.slice(0, 200)) store.push(r);
    store.forget(150);
    expect([store.first, store.length]).toEqual([150, 200]);
    expect(store.rows()).toEqual(pushed.slice(150, 200));
    expect(() => store.row(149)).toThrow(RangeError);
    expect(store.value(10, 'step')).toBeUndefined();
    for (const r of pushed.slice(200)) store.push(r);
    expect(store.row(299)).toEqual(pushed[299]);
    store.truncate(250);
    expect(store.rows()).toEqual(pushed.slice(150, 250));
    store.forget(1000);
    expect([store.first, store.length, store.rows().length]).toEqual([250, 250, 0]);
    store.push(pushed[250]);
    expect(store.row(250)).toEqual(pushed[250]);
  });
});

describe('BoundedSeries', () => {
  it('stays bounded and keeps the mean, min and max of what it merged', () => {
    const s = new BoundedSeries(50);
    for (let i = 0; i < 10_000; i++) s.push(i, i % 7);
    expect(s.xs.length).toBeLessThanOrEqual(50);
    expect(Math.min(...s.lo)).toBe(0);
    expect(Math.max(...s.hi)).toBe(6);
    const mean = s.ys.reduce((a, b) => a + b, 0) / s.ys.length;
    expect(mean).toBeGreaterThan(2.5);
    expect(mean).toBeLessThan(3.5);
  });
});
