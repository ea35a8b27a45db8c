/**
 * The lessons are real: each preset's claim, on its own training, with 3 seeds on a reduced
 * budget (medians over seeds). `npm run test:long` runs the full budgets (test/long/).
 * Shared figures: 2-digit addition, teacher p=0.8 with the units-carry blind spot, ceiling 0.57.
 */
import { describe, expect, it } from 'vitest';
import { presetWith, runAll, last, median } from './helpers';
import type { MetricRow } from '../src/core/metrics';

const SEEDS = 3;
const acc = (r: MetricRow) => r['eval/accuracy']!;
const blind = (r: MetricRow) => r['eval/accuracy/units-carry']!;

describe('first-steps', () => {
  it('GRPO from scratch climbs on its own rewards', async () => {
    const [runs] = await runAll(presetWith('first-steps', 'steps=300&evalEvery=50'), SEEDS);
    expect(median(runs.map((r) => acc(r[0])))).toBeLessThan(0.05);
    expect(median(runs.map((r) => acc(last(r))))).toBeGreaterThan(0.5);
    expect(median(runs.map((r) => last(r).reward!))).toBeGreaterThan(median(runs.map((r) => r[1].reward!)));
  });
});

describe('distill-ceiling', () => {
  it('settles within 0.05 of the ceiling, never 0.03 above it, blind spot below 0.05', async () => {
    const [runs] = await runAll(presetWith('distill-ceiling', 'steps=400&evalEvery=25'), SEEDS);
    const ceiling = runs[0][0]['teacher/ceiling']!;
    expect(ceiling).toBeCloseTo(0.57, 2);
    expect(median(runs.map((r) => Math.abs(acc(last(r)) - ceiling)))).toBeLessThan(0.05);
    expect(median(runs.map((r) => Math.max(...r.map(acc))))).toBeLessThanOrEqual(ceiling + 0.03);
    expect(median(runs.map((r) => blind(last(r))))).toBeLessThan(0.05);
  });
});
