/**
 * The worked-answer lessons (issue 10) on a reduced budget, 3 seeds, medians: r1-zero (GRPO from a
 * base model with a latent habit of showing its work) and dr-grpo (the same run against Dr. GRPO
 * from the same base). dr-grpo's r1 is r1-zero's run: it is trained once here.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { last, median, presetWith, runAll } from './helpers';
import type { MetricRow } from '../src/core/metrics';

const SEEDS = 3;
/** Pretraining 200 steps (instead of 800), then 200 GRPO steps (instead of 600). */
const BASE_STEPS = 200;
const BUDGET = `steps=400&evalEvery=50&r1.distillSteps=${BASE_STEPS}`;
const at = (r: MetricRow[], step: number) => r.find((x) => x.step === step)!;
const med = (runs: MetricRow[][], f: (r: MetricRow[]) => number) => median(runs.map(f));
const fmt = (x: number) => x.toFixed(3);

let zero: MetricRow[][];
beforeAll(async () => {
  [zero] = await runAll(presetWith('r1-zero', BUDGET), SEEDS);
}, 600_000);

/** Mean over the RL stage's eval points of the mean length of wrong answers in the rollouts. */
function wrongLength(r: MetricRow[]): number {
  const xs = r.filter((x) => x.step! > BASE_STEPS).map((x) => x['completions/mean_length_incorrect']).filter((x): x is number => x !== undefined);
  expect(xs.length).toBe(4);
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

describe('r1-zero', () => {
  // Measured at this budget (medians of 3 seeds): the base 0.48 (hard sums 0.02), worked share 0.16,
  // 4.26 tokens; after 200 GRPO steps 0.81 (hard 0.71), worked 0.06, 3.52 tokens.
  it("the base shows its work some of the time; GRPO lifts accuracy by repairing direct answers, and the worked share falls", () => {
    const base = (k: keyof MetricRow) => med(zero, (r) => at(r, BASE_STEPS)[k]!);
    const end = (k: keyof MetricRow) => med(zero, (r) => last(r)[k]!);
    console.log(`r1-zero (reduced): base acc ${fmt(base('eval/accuracy'))} hard ${fmt(base('eval/accuracy/hard'))} sampled ${fmt(base('eval/sampled_accuracy'))} worked ${fmt(base('eval/sampled_worked_share'))} length ${fmt(base('eval/sampled_length'))}; ` +
      `end acc ${fmt(end('eval/accuracy'))} hard ${fmt(end('eval/accuracy/hard'))} sampled ${fmt(end('eval/sampled_accuracy'))} worked ${fmt(end('eval/sampled_worked_share'))} length ${fmt(end('eval/sampled_length'))}`);
    // The base: a latent habit (it works some problems), and direct answers that fail on hard sums.
    expect(base('eval/sampled_worked_share')).toBeGreaterThan(0.05);
    expect(base('eval/accuracy/hard')).toBeLessThan(0.3);
    // GRPO: accuracy up, hard sums solved...
    expect(end('eval/accuracy')).toBeGreaterThan(base('eval/accuracy') + 0.2);
    expect(end('eval/accuracy/hard')).toBeGreaterThan(0.5);
    // ...but not by working: the worked share and the length fall.
    expect(end('eval/sampled_worked_share')).toBeLessThan(base('eval/sampled_worked_share'));
    expect(end('eval/sampled_length')).toBeLessThan(base('eval/sampled_length'));
  });
});

describe('dr-grpo', () => {
  // Measured at this budget: wrong answers 4.18, 4.71, 4.17 tokens under GRPO, 3.41, 3.39, 3.16 under Dr. GRPO.
  it("from the same base, GRPO's wrong answers are longer than Dr. GRPO's", async () => {
    const cfg = presetWith('dr-grpo', `${BUDGET}&r2.distillSteps=${BASE_STEPS}`);
    expect(JSON.stringify(cfg.runs[0])).toBe(JSON.stringify(presetWith('r1-zero', BUDGET).runs[0]));
    cfg.runs = [cfg.runs[1]];
    const [dr] = await runAll(cfg, SEEDS);
    // The same base: pretraining does not depend on the RL settings.
    dr.forEach((r, s) => expect(at(r, BASE_STEPS)['eval/sampled_accuracy']).toBe(at(zero[s], BASE_STEPS)['eval/sampled_accuracy']));
    const g = zero.map(wrongLength);
    const d = dr.map(wrongLength);
    console.log(`dr-grpo (reduced): wrong-answer length GRPO ${g.map(fmt).join(', ')}; Dr. GRPO ${d.map(fmt).join(', ')}`);
    expect(median(g.map((x, i) => x - d[i]))).toBeGreaterThan(0.4);
  });
});
