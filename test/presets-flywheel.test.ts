/**
 * The flywheel's lessons (issue 9) on a reduced budget, 3 seeds, medians: a leaked benchmark, and
 * generations of synthetic data. (distil-the-rl-model reuses the R1 runs of presets-rl.test.ts.)
 * `npm run test:long` checks them at full budget.
 */
import { describe, expect, it } from 'vitest';
import { last, median, presetWith, runAll } from './helpers';
import type { MetricRow } from '../src/core/metrics';

const SEEDS = 3;
const bench = (r: MetricRow) => r['eval/accuracy']!;
const fresh = (r: MetricRow) => r['eval/accuracy_fresh']!;

describe('contamination', () => {
  it('the leaky run scores well above its fresh accuracy (and below the clean run on fresh problems); the clean run\'s two agree', async () => {
    const [clean, leaky] = await runAll(presetWith('contamination', 'steps=300&evalEvery=100'), SEEDS);
    const gap = (r: MetricRow[]) => bench(last(r)) - fresh(last(r));
    expect(median(leaky.map(gap))).toBeGreaterThan(0.2);
    expect(Math.abs(median(clean.map(gap)))).toBeLessThan(0.05);
    expect(median(leaky.map((r) => fresh(last(r))))).toBeLessThan(median(clean.map((r) => fresh(last(r)))));
  });
});
