/**
 * `npm run test:long`: every preset at its full budget, 3 seeds, asserting each claim of issue 3
 * in full (medians over seeds; issue 10's worked-answer lessons and issue 11's architecture lessons too) and printing the table of milestones (steps and training seconds)
 * and final accuracies that the closing note reports. ~15 minutes on 2 cores.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';

vi.setConfig({ testTimeout: 1_800_000 });
import { firstStep, generationEnds, last, median, presetWith, runAll, runSession } from '../helpers';
import type { MetricRow } from '../../src/core/metrics';

const SEEDS = 3;
const acc = (r: MetricRow) => r['eval/accuracy']!;
const blind = (r: MetricRow) => r['eval/accuracy/units-carry'];
const table: string[] = ['preset | run | seeds | milestone: median step (median s) | final acc | final blind spot'];
const secondsAt = (rows: MetricRow[], step: number) => rows.find((r) => r.step === step)?.['time/seconds'] ?? NaN;
const fmt = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(3));

/** Median step and training seconds at which `pred` first holds, over seeds. */
function milestone(runs: MetricRow[][], pred: (r: MetricRow) => boolean): { step: number; seconds: number } {
  const steps = runs.map((r) => firstStep(r, pred));
  const secs = runs.map((r, i) => secondsAt(r, steps[i]));
  return { step: median(steps), seconds: median(secs.map((s) => (Number.isFinite(s) ? s : Infinity))) };
}

function report(preset: string, run: string, runs: MetricRow[][], milestones: [string, (r: MetricRow) => boolean][]) {
  const ms = milestones.map(([name, pred]) => {
    const m = milestone(runs, pred);
    return `${name} @ ${m.step} (${fmt(m.seconds)} s)`;
  });
  table.push([preset, run, SEEDS, ms.join('; ') || '-', fmt(median(runs.map((r) => acc(last(r))))),
    fmt(median(runs.map((r) => blind(last(r)) ?? NaN)))].join(' | '));
}

afterAll(() => {
  console.log('\n' + table.join('\n'));
});

const cache = new Map<string, MetricRow[][]>();
async function rowsOf(id: string, runIndex: number, hash = ''): Promise<MetricRow[][]> {
  const key = `${id}/${runIndex}/${hash}`;
  if (!cache.has(key)) {
    const cfg = presetWith(id, hash);
    cfg.runs = [cfg.runs[runIndex]];
    cache.set(key, (await runAll(cfg, SEEDS))[0]);
  }
  return cache.get(key)!;
}

describe('lessons at full budget', () => {
  it('first-steps: climbs within its budget', async () => {
    const runs = await rowsOf('first-steps', 0);
    report('first-steps', 'grpo', runs, [['acc >= 0.5', (r) => acc(r) >= 0.5], ['acc >= 0.9', (r) => acc(r) >= 0.9]]);
    expect(median(runs.map((r) => acc(last(r))))).toBeGreaterThan(0.9);
  });

  it('distill-ceiling', async () => {
    const runs = await rowsOf('distill-ceiling', 0);
    const c = runs[0][0]['teacher/ceiling']!;
    report('distill-ceiling', 'sft', runs, [[`within 0.05 of ceiling ${c.toFixed(3)}`, (r) => Math.abs(acc(r) - c) < 0.05]]);
    expect(median(runs.map((r) => Math.abs(acc(last(r)) - c)))).toBeLessThan(0.05);
    expect(median(runs.map((r) => Math.max(...r.map(acc))))).toBeLessThanOrEqual(c + 0.03);
    expect(median(runs.map((r) => blind(last(r))!))).toBeLessThan(0.05);
  });

  it('r1-recipe: passes the ceiling, reaches 0.9 held-out and 0.8 on the blind spot', async () => {
    const runs = await rowsOf('r1-recipe', 0);
    const c = runs[0][0]['teacher/ceiling']!;
    report('r1-recipe', 'sft-grpo', runs, [
      ['passes ceiling', (r) => r.step! > 300 && acc(r) > c + 0.01], ['acc >= 0.9', (r) => acc(r) >= 0.9], ['blind >= 0.8', (r) => blind(r)! >= 0.8],
    ]);
    expect(median(runs.map((r) => Math.max(...r.map(acc))))).toBeGreaterThanOrEqual(0.9);
    expect(median(runs.map((r) => Math.max(...r.map((x) => blind(x)!))))).toBeGreaterThanOrEqual(0.8);
  });

  it('grpo-vs-ppo: both pass the ceiling; steps to 0.9 and the cost of the critic', async () => {
    const grpo = await rowsOf('grpo-vs-ppo', 0);
    const ppo = await rowsOf('grpo-vs-ppo', 1);
    const c = grpo[0][0]['teacher/ceiling']!;
    for (const [name, runs] of [['sft-grpo', grpo], ['sft-ppo', ppo]] as const) {
      report('grpo-vs-ppo', name, runs, [['passes ceiling', (r) => r.step! > 300 && acc(r) > c + 0.01], ['acc >= 0.9', (r) => acc(r) >= 0.9]]);
      expect(median(runs.map((r) => Math.max(...r.map(acc))))).toBeGreaterThan(c + 0.03);
    }
    const perStep = (runs: MetricRow[][], k: 'cost/flops' | 'time/seconds') =>
      median(runs.map((r) => (last(r)[k]! - r.find((x) => x.step === 300)![k]!) / (last(r).step! - 300)));
    table.push(`grpo-vs-ppo | cost per RL step | | GRPO ${perStep(grpo, 'cost/flops').toExponential(2)} FLOPs, ${fmt(perStep(grpo, 'time/seconds') * 1000)} ms; PPO ${perStep(ppo, 'cost/flops').toExponential(2)} FLOPs, ${fmt(perStep(ppo, 'time/seconds') * 1000)} ms | |`);
    expect(perStep(ppo, 'cost/flops')).toBeGreaterThan(1.5 * perStep(grpo, 'cost/flops'));
  });

  it('no-signal: exact reward never learns; dynamic sampling and partial credit do', async () => {
    const exact = await rowsOf('no-signal', 0);
    const dyn = await rowsOf('no-signal', 1);
    const partial = await rowsOf('no-signal', 2);
    report('no-signal', 'grpo exact', exact, [['acc > 0.05', (r) => acc(r) > 0.05]]);
    report('no-signal', 'grpo + dynamic sampling', dyn, [['acc > 0.05', (r) => acc(r) > 0.05], ['acc > 0.15', (r) => acc(r) > 0.15]]);
    report('no-signal', 'grpo + partial credit', partial, [['acc > 0.05', (r) => acc(r) > 0.05], ['acc > 0.15', (r) => acc(r) > 0.15]]);
    for (const r of exact) {
      for (const row of r.slice(1)) expect(row.frac_reward_zero_std).toBeGreaterThan(0.9);
      // A rare lucky hit can move a few held-out answers (0.012 = 6 of 500 was seen): "does not
      // move" means it stays under 0.02 while the other two runs climb.
      expect(Math.max(...r.map(acc))).toBeLessThan(0.02);
    }
    expect(median(dyn.map((r) => acc(last(r))))).toBeGreaterThan(0.05);
    expect(median(partial.map((r) => acc(last(r))))).toBeGreaterThan(0.02);
  });

  it('clean-data-trap: verified-only distillation then GRPO stays stuck on the blind spot', async () => {
    const trap = await rowsOf('clean-data-trap', 0);
    const r1 = await rowsOf('r1-recipe', 0);
    report('clean-data-trap', 'rsft-grpo', trap, [['blind > 0.05', (r) => blind(r)! > 0.05]]);
    expect(median(trap.map((r) => Math.max(...r.map((x) => blind(x)!))))).toBeLessThan(0.05);
    expect(median(r1.map((r) => blind(last(r))!))).toBeGreaterThan(median(trap.map((r) => blind(last(r))!)) + 0.5);
  });

  it('r1-zero: GRPO from the base repairs the direct answers; the worked share and the length fall', async () => {
    const runs = await rowsOf('r1-zero', 0);
    const base = 800;
    const at = (r: MetricRow[], step: number) => r.find((x) => x.step === step)!;
    const med = (step: number, k: keyof MetricRow) => fmt(median(runs.map((r) => at(r, step)[k]!)));
    for (const step of [0, base, base + 100, base + 300, base + 600]) {
      table.push(`r1-zero | step ${step}${step === base ? ' (the base, RL step 0)' : step > base ? ` (RL step ${step - base})` : ''} | ${SEEDS} | greedy acc ${med(step, 'eval/accuracy')} (hard ${med(step, 'eval/accuracy/hard')}); sampled acc ${med(step, 'eval/sampled_accuracy')}, length ${med(step, 'eval/sampled_length')}, worked share ${med(step, 'eval/sampled_worked_share')} | |`);
    }
    // Measured (medians of 3 seeds): the base 0.594 (hard 0.005), worked 0.126, 3.96 tokens; the end
    // 0.980 (hard 0.969), worked 0.052, 3.43 tokens; no seed's worked share ever rose above its base's.
    const b = (k: keyof MetricRow) => median(runs.map((r) => at(r, base)[k]!));
    const e = (k: keyof MetricRow) => median(runs.map((r) => last(r)[k]!));
    expect(b('eval/sampled_worked_share')).toBeGreaterThan(0.05);
    expect(b('eval/accuracy/hard')).toBeLessThan(0.3);
    expect(e('eval/accuracy')).toBeGreaterThan(0.9);
    expect(e('eval/accuracy/hard')).toBeGreaterThan(0.8);
    expect(e('eval/sampled_worked_share')).toBeLessThan(b('eval/sampled_worked_share'));
    expect(e('eval/sampled_length')).toBeLessThan(b('eval/sampled_length'));
  });

  it('dr-grpo: the length of wrong answers under GRPO and Dr. GRPO, from the same base', async () => {
    const grpo = await rowsOf('r1-zero', 0);
    const dr = await rowsOf('dr-grpo', 1);
    const wrongLen = (r: MetricRow[]) => {
      const xs = r.filter((x) => x.step! > 800).map((x) => x['completions/mean_length_incorrect']).filter((x): x is number => x !== undefined);
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    };
    report('dr-grpo', 'pretrain-grpo (GRPO)', grpo, []);
    report('dr-grpo', 'pretrain-grpo (Dr. GRPO)', dr, []);
    table.push(`dr-grpo | mean length of wrong answers (RL stage, per seed) | | GRPO ${grpo.map(wrongLen).map(fmt).join(', ')}; Dr. GRPO ${dr.map(wrongLen).map(fmt).join(', ')} | |`);
    // Measured: 7.18, 5.60, 4.23 (GRPO) against 4.22, 3.34, 3.41 (Dr. GRPO); median difference 2.26.
    expect(median(grpo.map((r, i) => wrongLen(r) - wrongLen(dr[i])))).toBeGreaterThan(1);
  });

  it("distil-the-rl-model: the half-width student of the RL model ends above the scripted ceiling, below its teacher", async () => {
    const [r1, r2] = await runAll(presetWith('distil-the-rl-model'), SEEDS);
    const c = r1[0][0]['teacher/ceiling']!;
    report('distil-the-rl-model', 'r1 sft-grpo', r1, [['passes ceiling', (r) => r.step! > 300 && acc(r) > c + 0.01], ['acc >= 0.9', (r) => acc(r) >= 0.9]]);
    report('distil-the-rl-model', 'r2 sft from r1 (hidden 64)', r2, [[`above scripted ceiling ${c.toFixed(3)} + 0.05`, (r) => acc(r) > c + 0.05], ['acc >= 0.85', (r) => acc(r) >= 0.85]]);
    const student = median(r2.map((r) => acc(last(r))));
    // The story's figures (medians of 3 seeds): r1 0.83 after 1,000 steps, r2 0.81, on carry problems 0.68.
    expect(Math.abs(median(r1.map((r) => acc(last(r)))) - 0.83)).toBeLessThan(0.03);
    expect(Math.abs(student - 0.81)).toBeLessThan(0.03);
    expect(Math.abs(median(r2.map((r) => last(r)['eval/accuracy/units-carry']!)) - 0.68)).toBeLessThan(0.03);
    expect(student).toBeGreaterThan(c + 0.2);
    expect(student).toBeLessThan(median(r1.map((r) => acc(last(r)))));
    r2.forEach((r, s) => expect(r[0]['teacher/ceiling']).toBe(acc(last(r1[s]))));
  });

  it('contamination: the leaky run scores well above its fresh accuracy; the clean run does not', async () => {
    const [clean, leaky] = await runAll(presetWith('contamination'), SEEDS);
    const fresh = (r: MetricRow) => r['eval/accuracy_fresh']!;
    const gap = (r: MetricRow[]) => acc(last(r)) - fresh(last(r));
    for (const [name, runs] of [['sft clean', clean], ['sft leak 0.5', leaky]] as const) {
      report('contamination', name, runs, [['benchmark >= 0.8', (r) => acc(r) >= 0.8], ['fresh >= 0.8', (r) => fresh(r) >= 0.8]]);
    }
    table.push(`contamination | final benchmark / fresh (medians) | | clean ${fmt(median(clean.map((r) => acc(last(r)))))} / ${fmt(median(clean.map((r) => fresh(last(r)))))}; leaky ${fmt(median(leaky.map((r) => acc(last(r)))))} / ${fmt(median(leaky.map((r) => fresh(last(r)))))} | |`);
    expect(median(leaky.map(gap))).toBeGreaterThan(0.1);
    expect(Math.abs(median(clean.map(gap)))).toBeLessThan(0.03);
    expect(median(leaky.map((r) => fresh(last(r))))).toBeLessThan(median(clean.map((r) => fresh(last(r)))));
  });

  it('collapse: plain generations decay, verified ones hold the ceiling, RL between generations climbs', async () => {
    const [plain, verified, flywheel] = await runAll(presetWith('collapse'), SEEDS);
    const ends = (runs: MetricRow[][]) => runs.map(generationEnds);
    const byGen = (runs: MetricRow[][], key: string) => {
      const e = ends(runs);
      return e[0].map((_, g) => median(e.map((x) => x[g][key as 'eval/accuracy']!)));
    };
    for (const [name, runs] of [['sft (plain)', plain], ['rsft (verified)', verified], ['sft-grpo (flywheel)', flywheel]] as const) {
      expect(ends(runs).every((e) => e.length === 5)).toBe(true);
      table.push(`collapse | ${name} | ${SEEDS} | held-out at the end of generations 1-5: ${byGen(runs, 'eval/accuracy').map(fmt).join(', ')}; blind spot ${byGen(runs, 'eval/accuracy/units-carry').map(fmt).join(', ')}; new-digit ${byGen(runs, 'eval/accuracy/new-digit').map(fmt).join(', ')} | ${fmt(median(runs.map((r) => acc(last(r)))))} | ${fmt(median(runs.map((r) => blind(last(r))!)))}`);
    }
    const [p, v, f] = [byGen(plain, 'eval/accuracy'), byGen(verified, 'eval/accuracy'), byGen(flywheel, 'eval/accuracy')];
    expect(p[4]).toBeLessThan(p[0] - 0.1);
    expect(Math.abs(v[4] - v[0])).toBeLessThan(0.02);
    expect(v[4]).toBeGreaterThan(p[4] + 0.15);
    expect(Math.max(...byGen(verified, 'eval/accuracy/units-carry'))).toBeLessThan(0.05);
    expect(f[4]).toBeGreaterThan(f[0] + 0.05);
    expect(f[4]).toBeGreaterThan(v[4] + 0.1);
  });

  it('transformer: the transformer reaches the ceiling later than the MLP and ends lower; seed 4 stays on its plateau', async () => {
    const mlp = await rowsOf('transformer', 0);
    const tf = await rowsOf('transformer', 1);
    const c = mlp[0][0]['teacher/ceiling']!;
    for (const [name, runs] of [['mlp', mlp], ['transformer', tf]] as const) report('transformer', name, runs, [['ceiling', (r) => acc(r) >= c], ['acc >= 0.9', (r) => acc(r) >= 0.9]]);
    const toCeiling = (runs: MetricRow[][]) => milestone(runs, (r) => acc(r) >= c).step;
    const to90 = (runs: MetricRow[][]) => milestone(runs, (r) => acc(r) >= 0.9).step;
    const end = (runs: MetricRow[][]) => median(runs.map((r) => acc(last(r))));
    // The story's figures (medians of 3 seeds; steps to within one eval point, accuracies to 0.03).
    expect(Math.abs(toCeiling(mlp) - 350)).toBeLessThanOrEqual(50);
    expect(Math.abs(to90(mlp) - 1500)).toBeLessThanOrEqual(50);
    expect(Math.abs(end(mlp) - 0.9)).toBeLessThan(0.03);
    expect(Math.abs(toCeiling(tf) - 700)).toBeLessThanOrEqual(50);
    expect(Math.abs(end(tf) - 0.78)).toBeLessThan(0.03);
    expect(tf.filter((r) => r.some((x) => acc(x) >= 0.9)).length).toBe(1);
    expect(toCeiling(tf)).toBeGreaterThan(toCeiling(mlp));
    // Seed 4: below 0.1 through its distillation, 0.51 at the end.
    const rows = await runSession(presetWith('transformer'), 1, 3);
    const distilled = rows.filter((r) => (r.step ?? Infinity) <= 500);
    table.push(`transformer | seed 4 | | best ${fmt(Math.max(...distilled.map(acc)))} distilling, ${fmt(Math.max(...rows.map(acc)))} in all, ${fmt(acc(last(rows)))} at the end | |`);
    expect(Math.max(...distilled.map(acc))).toBeLessThan(0.1);
    expect(Math.abs(acc(last(rows)) - 0.51)).toBeLessThan(0.03);
  });

  it('moe-active-params: the mixture costs its active weights, not its total; routing collapses without the balance loss', async () => {
    const [small, moe, big, unbalanced] = [await rowsOf('moe-active-params', 0), await rowsOf('moe-active-params', 1), await rowsOf('moe-active-params', 2), await rowsOf('moe-active-params', 3)];
    const names = ['dense small', 'moe top-1 of 8', 'dense big', 'moe, no balance loss'];
    [small, moe, big, unbalanced].forEach((runs, i) => report('moe-active-params', names[i], runs, [['acc >= 0.9', (r) => acc(r) >= 0.9]]));
    const end = (runs: MetricRow[][], k: string) => median(runs.map((r) => (last(r) as Record<string, number>)[k]));
    const flopsTo90 = (runs: MetricRow[][]) => median(runs.map((r) => r.find((x) => acc(x) >= 0.9)?.['cost/flops'] ?? Infinity));
    table.push(`moe-active-params | FLOPs to 0.9 | | ${[small, moe, big, unbalanced].map((r, i) => `${names[i]} ${flopsTo90(r).toExponential(2)}`).join('; ')} | |`);
    table.push(`moe-active-params | routing | | entropy ${fmt(end(moe, 'moe/routing_entropy'))} vs ${fmt(end(unbalanced, 'moe/routing_entropy'))} of ${fmt(end(moe, 'moe/routing_entropy_max'))}; balance term ${fmt(end(moe, 'moe/aux_loss'))} vs ${fmt(end(unbalanced, 'moe/aux_loss'))} | |`);
    expect(flopsTo90(small)).toBeLessThan(flopsTo90(big));
    expect(median(moe.map((r) => acc(last(r))))).toBeLessThan(median(small.map((r) => acc(last(r)))));
    expect(end(unbalanced, 'moe/routing_entropy')).toBeLessThan(end(moe, 'moe/routing_entropy') - 0.5);
    expect(end(unbalanced, 'moe/aux_loss')).toBeGreaterThan(end(moe, 'moe/aux_loss') + 1);
  });

  it('low-precision: bf16, fp8 and int8 keep the accuracy, int4 costs a little, ternary breaks it; QAT recovers int4', async () => {
    const ptq = await rowsOf('low-precision', 0);
    const qat = await rowsOf('low-precision', 1);
    const at = (runs: MetricRow[][], f: string) => median(runs.map((r) => (last(r) as Record<string, number>)[f === 'fp32' ? 'eval/accuracy' : `eval/accuracy@${f}`]));
    const bytes = (f: string) => (last(ptq[0]) as Record<string, number>)[`quant/bytes@${f}`];
    table.push(`low-precision | final acc by format | | ${['fp32', 'bf16', 'fp8', 'int8', 'int4', 'ternary'].map((f) => `${f} ${fmt(at(ptq, f))} (${bytes(f)} B)`).join('; ')}; trained at int4: int4 ${fmt(at(qat, 'int4'))}, ternary ${fmt(at(qat, 'ternary'))} | |`);
    const fp32 = at(ptq, 'fp32');
    for (const f of ['bf16', 'fp8', 'int8']) expect(Math.abs(at(ptq, f) - fp32)).toBeLessThan(0.01);
    expect(at(ptq, 'int4')).toBeLessThan(fp32);
    expect(at(ptq, 'int4')).toBeGreaterThan(fp32 - 0.05);
    expect(at(ptq, 'ternary')).toBeLessThan(0.1);
    expect(at(qat, 'int4')).toBeGreaterThan(at(ptq, 'int4'));
  });
});
