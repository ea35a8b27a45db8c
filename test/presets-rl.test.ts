/**
 * RL lessons on a reduced budget, 3 seeds, medians (see test/presets.test.ts). The sft-grpo run is
 * the same in r1-recipe, grpo-vs-ppo, clean-data-trap and distil-the-rl-model (its r1): it is
 * computed once here, and its final policies teach distil-the-rl-model's student.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { presetWith, runAll, runSession, last, median } from './helpers';
import type { MetricRow } from '../src/core/metrics';
import type { Policy } from '../src/core/policy-file';

const SEEDS = 3;
const BUDGET = 'steps=800&evalEvery=50';
const acc = (r: MetricRow) => r['eval/accuracy']!;
const blind = (r: MetricRow) => r['eval/accuracy/units-carry']!;

let r1: MetricRow[][];
let r1Policies: Policy[];
let ceiling: number;
beforeAll(async () => {
  // Evaluating at other number formats does not touch training: these are also low-precision's r1.
  const cfg = presetWith('r1-recipe', `${BUDGET}&r1.quantEval=${presetWith('low-precision').runs[0].quantEval}`);
  r1 = [];
  r1Policies = [];
  for (let s = 0; s < SEEDS; s++) r1.push(await runSession(cfg, 0, s, {}, (p) => r1Policies.push(p)));
  ceiling = r1[0][0]['teacher/ceiling']!;
}, 600_000);

describe('r1-recipe', () => {
  it('distils to the ceiling, then GRPO passes it and learns the blind spot', () => {
    const atSwitch = r1.map((r) => r.find((x) => x.step === 300)!);
    expect(median(atSwitch.map(acc))).toBeLessThanOrEqual(ceiling + 0.03);
    expect(median(atSwitch.map(blind))).toBeLessThan(0.05);
    expect(median(r1.map((r) => acc(last(r))))).toBeGreaterThan(ceiling + 0.1);
    expect(median(r1.map((r) => blind(last(r))))).toBeGreaterThan(0.4);
  });
});

describe('clean-data-trap', () => {
  it('verified-only distillation then GRPO stays stuck on the blind spot; the R1 recipe does not', async () => {
    const cfg = presetWith('clean-data-trap', BUDGET);
    cfg.runs = [cfg.runs[0]];
    const [trap] = await runAll(cfg, SEEDS);
    expect(median(trap.map((r) => Math.max(...r.map(blind))))).toBeLessThan(0.05);
    expect(median(trap.map((r) => acc(last(r))))).toBeLessThanOrEqual(ceiling + 0.03);
    expect(median(r1.map((r) => blind(last(r))))).toBeGreaterThan(median(trap.map((r) => blind(last(r)))) + 0.3);
  });
});

describe('grpo-vs-ppo', () => {
  it('both pass the ceiling; PPO pays for a critic in weights and FLOPs per step', async () => {
    const cfg = presetWith('grpo-vs-ppo', 'steps=600&evalEvery=50');
    cfg.runs = [cfg.runs[1]];
    const [ppo] = await runAll(cfg, SEEDS);
    const grpo = r1.map((r) => r.filter((x) => x.step! <= 600));
    for (const runs of [grpo, ppo]) expect(median(runs.map((r) => Math.max(...r.map(acc))))).toBeGreaterThan(ceiling + 0.03);
    // FLOPs of the RL stage per step: PPO adds its critic's forward + backward (its rollout-time
    // values come from that forward: one epoch of one minibatch). 1.34x in 2026-12.
    const flopsPerRlStep = (r: MetricRow[]) => (last(r)['cost/flops']! - r.find((x) => x.step === 300)!['cost/flops']!) / (last(r).step! - 300);
    expect(median(ppo.map(flopsPerRlStep)) / median(grpo.map(flopsPerRlStep))).toBeGreaterThan(1.25);
    for (const r of ppo) expect(last(r)).toHaveProperty('explained_variance');
  });
});

describe('no-signal', () => {
  it('exact reward from scratch: every group is all-wrong and nothing moves; dynamic sampling finds signal', async () => {
    const cfg = presetWith('no-signal', 'steps=300&evalEvery=50');
    cfg.runs = [cfg.runs[0]];
    const [exact] = await runAll(cfg, SEEDS);
    for (const r of exact) {
      for (const row of r.slice(1)) expect(row.frac_reward_zero_std).toBeGreaterThan(0.9);
      expect(Math.max(...r.map(acc))).toBeLessThan(0.02);
    }
    const dyn = presetWith('no-signal', 'steps=600&evalEvery=100');
    dyn.runs = [dyn.runs[1]];
    const [ds] = await runAll(dyn, SEEDS);
    expect(median(ds.map((r) => last(r).reward!))).toBeGreaterThan(0);
    // The lesson's milestone (npm run bench: lesson.no_signal): 0.05, at step 300-350 at the full budget.
    expect(median(ds.map((r) => Math.max(...r.map(acc))))).toBeGreaterThan(0.05);
  });
});

describe('distil-the-rl-model', () => {
  it("a half-width student distilled from the RL model ends above the scripted teacher's ceiling and below its own teacher", async () => {
    // The preset's r1 is the R1 run above (same settings, same seeds): its final policies teach r2.
    // r1.steps=0: the budget's steps, as r1-recipe's run (the preset stops r1 at 1,000).
    const cfg = presetWith('distil-the-rl-model', `${BUDGET}&r1.steps=0&r2.steps=300`);
    expect(JSON.stringify({ ...cfg.runs[0], seeds: 1 })).toBe(JSON.stringify({ ...presetWith('r1-recipe', BUDGET).runs[0], seeds: 1 }));
    const students: MetricRow[][] = [];
    for (let s = 0; s < SEEDS; s++) students.push(await runSession(cfg, 1, s, { teacher: r1Policies[s] }));
    // Its teacher is r1's final policy: the teacher's ceiling is r1's final greedy accuracy.
    students.forEach((r, s) => expect(r[0]['teacher/ceiling']).toBe(acc(last(r1[s]))));
    expect(students[0].at(-1)!.step).toBe(300);
    const studentAcc = median(students.map((r) => acc(last(r))));
    expect(studentAcc).toBeGreaterThan(ceiling + 0.05);
    expect(studentAcc).toBeLessThan(median(r1.map((r) => acc(last(r)))));
  }, 600_000);
});

describe('low-precision', () => {
  it('bf16, fp8 and int8 keep the R1 run\'s accuracy, int4 costs a little, ternary breaks it; training at int4 recovers int4', async () => {
    const at = (runs: MetricRow[][], f: string) => median(runs.map((r) => (last(r) as Record<string, number>)[f === 'fp32' ? 'eval/accuracy' : `eval/accuracy@${f}`]));
    // The run trained at int4 for 500 steps (300 distilling, 200 of GRPO), against r1 at its step 500.
    const cfg = presetWith('low-precision', 'steps=500&evalEvery=50');
    expect(cfg.runs[0].quantEval).toBe('bf16,fp8,int8,int4,ternary');
    cfg.runs = [cfg.runs[1]];
    const [qat] = await runAll(cfg, SEEDS);
    const r1At500 = r1.map((r) => r.filter((x) => x.step! <= 500));
    const fp32 = at(r1, 'fp32');
    const figures = ['bf16', 'fp8', 'int8', 'int4', 'ternary'].map((f) => `${f} ${at(r1, f).toFixed(3)}`).join(', ');
    console.log(`low-precision (reduced): fp32 ${fp32.toFixed(3)}, ${figures}; trained at int4 (step 500): int4 ${at(qat, 'int4').toFixed(3)}, ternary ${at(qat, 'ternary').toFixed(3)}; r1 at step 500: fp32 ${at(r1At500, 'fp32').toFixed(3)}, int4 ${at(r1At500, 'int4').toFixed(3)}`);
    for (const f of ['bf16', 'fp8', 'int8']) expect(Math.abs(at(r1, f) - fp32)).toBeLessThan(0.02);
    expect(at(r1, 'int4')).toBeLessThan(fp32);
    expect(at(r1, 'int4')).toBeGreaterThan(fp32 - 0.1);
    expect(at(r1, 'ternary')).toBeLessThan(fp32 - 0.4);
    expect(at(qat, 'int4')).toBeGreaterThan(at(r1At500, 'int4'));
    expect(at(qat, 'int4')).toBe(at(qat, 'fp32')); // it runs at int4 already
  }, 600_000);
});

describe('transformer', () => {
  it("distils more slowly than the MLP: at step 400 the MLP (the R1 run above) is past the teacher's ceiling, the transformer below it, its distillation loss falling", async () => {
    const cfg = presetWith('transformer', 'steps=400&evalEvery=50');
    // Its r1 is the R1 run above: same settings, so the same first 400 steps.
    expect(JSON.stringify({ ...cfg.runs[0], seeds: 1 })).toBe(JSON.stringify({ ...presetWith('r1-recipe').runs[0], seeds: 1 }));
    expect(cfg.runs[1]).toMatchObject({ net: 'transformer', layers: 1, distillSteps: 500 });
    expect(cfg.heads).toBe(4);
    cfg.runs = [cfg.runs[1]];
    const [tf] = await runAll(cfg, SEEDS);
    const at = (runs: MetricRow[][], step: number, f: (r: MetricRow) => number) => runs.map((r) => f(r.find((x) => x.step === step)!));
    const m = median(at(r1, 400, acc));
    const t = median(at(tf, 400, acc));
    const loss = (step: number) => median(at(tf, step, (r) => r['loss/policy']!));
    console.log(`transformer (reduced): ceiling ${ceiling}; at step 400 MLP ${m.toFixed(3)}, transformer ${t.toFixed(3)} (${at(tf, 400, acc).join(', ')}); its loss ${loss(50).toFixed(3)} at step 50, ${loss(400).toFixed(3)} at 400`);
    expect(m).toBeGreaterThanOrEqual(ceiling);
    expect(t).toBeLessThan(ceiling - 0.05);
    expect(loss(400)).toBeLessThan(0.75 * loss(50));
  }, 600_000);

  it('is less reliable: with seed 4 the transformer stays below 0.1 all through its 500 distillation steps', async () => {
    const rows = await runSession(presetWith('transformer', 'steps=500&evalEvery=50'), 1, 3);
    expect(rows.at(-1)!.step).toBe(500);
    const best = Math.max(...rows.map(acc));
    console.log(`transformer seed 4 (reduced): best held-out accuracy in 500 distillation steps ${best.toFixed(3)}`);
    expect(best).toBeLessThan(0.1);
  }, 600_000);
});
