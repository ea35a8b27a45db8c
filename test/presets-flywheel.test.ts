/**
 * The flywheel's lessons (issue 9) on a reduced budget, 3 seeds, medians: a leaked benchmark, and
 * generations of synthetic data. (distil-the-rl-model reuses the R1 runs of presets-rl.test.ts.)
 * `npm run test:long` checks them at full budget.
 */
import { describe, expect, it } from 'vitest';
import { generationEnds, last, median, presetWith, runAll } from './helpers';
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
  }, 600_000);
});

describe('collapse', () => {
  // Reduced: 3 generations of 200 steps on 2,000 samples (batch 128); the flywheel 2 generations of
  // 200 SFT + 200 GRPO steps, too few to climb (test:long checks that at full budget), enough to
  // show that only RL between generations learns the carry.
  const SMALL = 'steps=600&evalEvery=100&r1.dataSize=2000&r2.dataSize=2000&r3.dataSize=2000&r1.generations=3&r2.generations=3&r3.generations=2' +
    '&r3.steps=800&r3.distillSteps=200&r1.batch=128&r2.batch=128';
  it('plain generations decay; verified ones hold far better but never learn the carry; RL between generations does', async () => {
    const [plain, verified, flywheel] = await runAll(presetWith('collapse', SMALL), SEEDS);
    const byGen = (runs: MetricRow[][], key: 'eval/accuracy' | 'eval/accuracy/units-carry') => {
      const e = runs.map(generationEnds);
      return e[0].map((_, g) => median(e.map((x) => x[g][key]!)));
    };
    const [p, v] = [byGen(plain, 'eval/accuracy'), byGen(verified, 'eval/accuracy')];
    expect(p).toHaveLength(3);
    expect(p[2]).toBeLessThan(p[0] - 0.15);
    expect(v[2]).toBeGreaterThan(p[2] + 0.2);
    expect(v[0] - v[2]).toBeLessThan((p[0] - p[2]) / 2);
    expect(Math.max(...byGen(verified, 'eval/accuracy/units-carry'))).toBeLessThan(0.05);
    expect(byGen(flywheel, 'eval/accuracy/units-carry').at(-1)).toBeGreaterThan(0.08);
  }, 600_000);
});
