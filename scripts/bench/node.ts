/**
 * The Node groups of `npm run bench` (tfjs wasm backend, SIMD, one thread):
 * - throughput: the reference's three workloads through the engine's Session, tokens/s counted
 *   as tiny_rl.py counts them, side by side with tiny_rl.py itself when /usr/bin/python3 has torch;
 *   the same workloads with the app's default policy; accuracy of both policies at equal steps.
 * - memory: four runs trained round-robin through workers/trainer.ts (what each worker runs),
 *   their eval rows kept as the page keeps them: tensor count, JS heap, plot history length.
 * - profile: where a GRU step's time goes (sampling, forward, backward, optimiser; kernel counts).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type ExperimentConfig, overlay } from '../../src/core/config';
import { presetById, presetConfig } from '../../src/core/presets';
import { Session } from '../../src/core/session';
import { Adam } from '../../src/core/algos/common';
import { Rng } from '../../src/core/rng';
import { completionOutputs, oneHotTokens, sampleCompletions, tokenLogProbs } from '../../src/core/nets/policy';
import { liveOnly, prefixSharing } from '../../src/core/nets/net';
import { arithmetic } from '../../src/core/nets/layers';
import type { MetricRow } from '../../src/core/metrics';
import { BoundedSeries, RowStore } from '../../src/core/metrics';
import { aggregate, BoundedHistory } from '../../src/ui/history';
import { createTrainer } from '../../workers/trainer';
import {
  configOf, type Figures, WORKED_HASH, fmtNum, GRU_NET, TRANSFORMER_NET, log, median, round, type Row, sharedDir, table, timeIt, WARMUP, type WorkloadId, WORKLOADS, workloadHash,
} from './common';

const PYTHON = '/usr/bin/python3';

export interface Measured {
  tokensPerS: number;
  stepsPerS: number;
  seconds: number;
}

/**
 * Tokens/s of whole training steps (sampling + update) after WARMUP steps, read from session.cost.
 * Each measurement starts from a collected heap (with --expose-gc), as each of the reference's
 * starts in a fresh process: not in the garbage the sessions measured before it left.
 */
export async function measureSession(hash: string, steps: number): Promise<Measured> {
  (globalThis as { gc?: () => void }).gc?.();
  const s = new Session(configOf(hash));
  try {
    for (let i = 0; i < WARMUP; i++) await s.trainStep();
    const tok0 = s.cost.tokens;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await s.trainStep();
    const seconds = (performance.now() - t0) / 1000;
    return { tokensPerS: (s.cost.tokens - tok0) / seconds, stepsPerS: steps / seconds, seconds };
  } finally {
    s.dispose();
  }
}

/** Is the reference runnable here (the Debian interpreter with torch)? */
export function referenceStatus(): { ok: true; script: string } | { ok: false; why: string } {
  const shared = sharedDir();
  if (!shared) return { ok: false, why: 'no ../shared/reference/tiny_rl.py beside the repository' };
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return { ok: false, why: `${PYTHON} not runnable (${r.error.message})` };
  if (r.status !== 0) return { ok: false, why: `${PYTHON} has no torch (apt-get install -y python3-torch python3-numpy libopenblas0-pthread)` };
  return { ok: true, script: join(shared, 'reference/tiny_rl.py') };
}

/** tiny_rl.py --bench: its own `# bench {json}` line. */
export function runReference(script: string, algo: string, steps: number): Measured | null {
  const r = spawnSync(PYTHON, [script, '--algo', algo, '--bench', '--steps', String(steps + WARMUP), '--threads', '1', '--bench-warmup', String(WARMUP)], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('# bench '));
  if (!line) {
    log(`reference ${algo} failed: ${(r.stderr || String(r.error)).trim().split('\n').slice(-2).join(' ')}`);
    return null;
  }
  const b = JSON.parse(line.slice('# bench '.length)) as { tokens_per_s: number; steps_per_s: number; seconds: number };
  return { tokensPerS: b.tokens_per_s, stepsPerS: b.steps_per_s, seconds: b.seconds };
}

export interface ThroughputOptions {
  steps: number;
  repeat: number;
  reference: boolean;
  /** Steps of the r1-recipe run for the accuracy comparison (0: skip). */
  accuracySteps: number;
}

/** Held-out accuracy after `steps` of the r1-recipe preset, with the given policy. */
async function accuracyAt(net: string, steps: number): Promise<{ acc: number; ceiling: number; seconds: number }> {
  const d = overlay(presetConfig(presetById('r1-recipe')!), [net, `steps=${steps}`, `evalEvery=${steps}`].filter(Boolean).join('&'));
  if (d.problems.length) throw new Error(JSON.stringify(d.problems));
  const s = new Session(d.config);
  try {
    const t0 = performance.now();
    while (!s.done) await s.trainStep();
    const seconds = (performance.now() - t0) / 1000;
    const row = await s.evaluate();
    return { acc: row['eval/accuracy'] ?? NaN, ceiling: row['teacher/ceiling'] ?? NaN, seconds };
  } finally {
    s.dispose();
  }
}

export async function throughput(o: ThroughputOptions): Promise<{ figures: Figures; text: string }> {
  const f: Figures = {};
  const ref = o.reference ? referenceStatus() : ({ ok: false, why: 'skipped (--no-reference)' } as const);
  f['reference.available'] = ref.ok;
  if (!ref.ok) log(`reference not run: ${ref.why}`);
  const got: Record<string, number[]> = {};
  const push = (k: string, v: number | undefined) => (got[k] ??= []).push(v ?? NaN);
  // The arith=fma path where this engine fuses multiply-adds (Session switches to it per step).
  const fma = arithmetic.use('fma') === 'fma';
  arithmetic.use('portable');
  f['throughput_fma.available'] = fma;
  // Interleaved, so that a burst of load from elsewhere hits every column alike.
  for (let rep = 0; rep < o.repeat; rep++) {
    for (const w of WORKLOADS) {
      if (ref.ok) {
        log(`reference ${w.id} (${rep + 1}/${o.repeat})`);
        push(`reference.${w.id}`, runReference(ref.script, w.refAlgo, o.steps)?.tokensPerS);
      }
      log(`ours ${w.id}, GRU (${rep + 1}/${o.repeat})`);
      const g = await measureSession(workloadHash(w.id, GRU_NET), o.steps);
      push(`throughput.${w.id}`, g.tokensPerS);
      push(`throughput.${w.id}.steps`, g.stepsPerS);
      if (fma) {
        log(`ours ${w.id}, GRU, arith=fma (${rep + 1}/${o.repeat})`);
        const gf = await measureSession(`${workloadHash(w.id, GRU_NET)}&arith=fma`, o.steps);
        push(`throughput_fma.${w.id}`, gf.tokensPerS);
        push(`throughput_fma.${w.id}.steps`, gf.stepsPerS);
      }
      log(`ours ${w.id}, default policy (${rep + 1}/${o.repeat})`);
      const m = await measureSession(workloadHash(w.id, ''), o.steps);
      push(`throughput_default.${w.id}`, m.tokensPerS);
      push(`throughput_default.${w.id}.steps`, m.stepsPerS);
      log(`ours ${w.id}, transformer (${rep + 1}/${o.repeat})`);
      const t = await measureSession(workloadHash(w.id, TRANSFORMER_NET), o.steps);
      push(`throughput_transformer.${w.id}`, t.tokensPerS);
      push(`throughput_transformer.${w.id}.steps`, t.stepsPerS);
    }
    log(`ours grpo on worked answers (sum of 4 digits), default policy (${rep + 1}/${o.repeat})`);
    const wk = await measureSession(WORKED_HASH, o.steps);
    push('throughput_worked.grpo', wk.tokensPerS);
    push('throughput_worked.grpo.steps', wk.stepsPerS);
  }
  const rows: Row[] = [];
  for (const w of WORKLOADS) {
    const ours = median(got[`throughput.${w.id}`]);
    const def = median(got[`throughput_default.${w.id}`]);
    const r = ref.ok ? median(got[`reference.${w.id}`]) : NaN;
    f[`throughput.${w.id}.tokens_per_s`] = round(ours, 0);
    f[`throughput.${w.id}.steps_per_s`] = round(median(got[`throughput.${w.id}.steps`]), 2);
    f[`throughput_default.${w.id}.tokens_per_s`] = round(def, 0);
    f[`throughput_default.${w.id}.steps_per_s`] = round(median(got[`throughput_default.${w.id}.steps`]), 2);
    // Each repeat's ratio, ours against the reference run just before it: this machine's speed drifts
    // by up to 30% within minutes, and a pair taken a second apart shares the drift.
    const paired = ref.ok ? got[`throughput.${w.id}`].map((v, i) => v / got[`reference.${w.id}`][i]) : [];
    const perRepeat = paired.map((x) => fmtNum(x, 2)).join(' ');
    if (ref.ok) {
      f[`reference.${w.id}.tokens_per_s`] = round(r, 0);
      f[`ratio.${w.id}`] = round(ours / r, 3);
      f[`ratio_default.${w.id}`] = round(def / r, 3);
      f[`ratio.${w.id}.per_repeat`] = perRepeat;
      f[`ratio.${w.id}.paired_median`] = round(median(paired), 3);
    }
    rows.push({ figure: `throughput.${w.id}.tokens_per_s (GRU)`, value: fmtNum(ours), target: ref.ok ? `>= ${fmtNum(r)} (reference)` : '>= reference', ok: ref.ok ? ours >= r : null });
    if (ref.ok) rows.push({ figure: `ratio.${w.id}`, value: fmtNum(ours / r, 2), target: '>= 1.0', ok: ours >= r });
    if (ref.ok) rows.push({ figure: `ratio.${w.id}.per_repeat (paired)`, value: perRepeat, target: `median ${fmtNum(median(paired), 2)}` });
    if (fma) {
      const fm = median(got[`throughput_fma.${w.id}`]);
      f[`throughput_fma.${w.id}.tokens_per_s`] = round(fm, 0);
      f[`throughput_fma.${w.id}.steps_per_s`] = round(median(got[`throughput_fma.${w.id}.steps`]), 2);
      rows.push({ figure: `throughput_fma.${w.id}.tokens_per_s (GRU, arith=fma)`, value: fmtNum(fm), target: ref.ok ? `>= ${fmtNum(r)} (reference)` : '>= reference', ok: ref.ok ? fm >= r : null });
      if (ref.ok) {
        const pf = got[`throughput_fma.${w.id}`].map((v, i) => v / got[`reference.${w.id}`][i]);
        f[`ratio_fma.${w.id}`] = round(fm / r, 3);
        f[`ratio_fma.${w.id}.per_repeat`] = pf.map((x) => fmtNum(x, 2)).join(' ');
        f[`ratio_fma.${w.id}.paired_median`] = round(median(pf), 3);
        rows.push({ figure: `ratio_fma.${w.id}.per_repeat (paired)`, value: f[`ratio_fma.${w.id}.per_repeat`] as string, target: `median ${fmtNum(median(pf), 2)} (>= 1.0)`, ok: median(pf) >= 1 });
      }
    }
    rows.push({ figure: `throughput_default.${w.id}.tokens_per_s`, value: fmtNum(def), target: ref.ok ? `> ${fmtNum(r)} (reference)` : '> reference', ok: ref.ok ? def > r : null });
    if (ref.ok) rows.push({ figure: `ratio_default.${w.id}`, value: fmtNum(def / r, 2), target: '> 1.0', ok: def > r });
  }
  for (const w of WORKLOADS) {
    const t = median(got[`throughput_transformer.${w.id}`]);
    f[`throughput_transformer.${w.id}.tokens_per_s`] = round(t, 0);
    f[`throughput_transformer.${w.id}.steps_per_s`] = round(median(got[`throughput_transformer.${w.id}.steps`]), 2);
    rows.push({ figure: `throughput_transformer.${w.id}.tokens_per_s`, value: fmtNum(t), target: `default policy: ${fmtNum(median(got[`throughput_default.${w.id}`]))}` });
  }
  const wk = median(got['throughput_worked.grpo']);
  const wkSteps = median(got['throughput_worked.grpo.steps']);
  f['throughput_worked.grpo.tokens_per_s'] = round(wk, 0);
  f['throughput_worked.grpo.steps_per_s'] = round(wkSteps, 2);
  rows.push({ figure: 'throughput_worked.grpo.tokens_per_s (sum of 4 digits, up to 16 tokens)', value: fmtNum(wk) });
  rows.push({ figure: 'throughput_worked.grpo.steps_per_s', value: fmtNum(wkSteps, 2), target: `default add task: ${fmtNum(median(got['throughput_default.grpo.steps']), 2)}` });
  f['throughput.steps_timed'] = o.steps;
  f['throughput.repeats'] = o.repeat;
  if (o.accuracySteps > 0) {
    log(`accuracy at equal steps: r1-recipe, ${o.accuracySteps} steps, GRU then default policy`);
    const g = await accuracyAt(GRU_NET, o.accuracySteps);
    const m = await accuracyAt('', o.accuracySteps);
    f['accuracy.steps'] = o.accuracySteps;
    f['accuracy.teacher_ceiling'] = round(g.ceiling);
    f['accuracy.gru.eval_accuracy'] = round(g.acc);
    f['accuracy.gru.train_seconds'] = round(g.seconds, 1);
    f['accuracy.default.eval_accuracy'] = round(m.acc);
    f['accuracy.default.train_seconds'] = round(m.seconds, 1);
    rows.push({ figure: `accuracy.gru.eval_accuracy (r1-recipe, ${o.accuracySteps} steps)`, value: fmtNum(g.acc, 3), target: `ceiling ${fmtNum(g.ceiling, 3)}` });
    rows.push({ figure: `accuracy.default.eval_accuracy (same)`, value: fmtNum(m.acc, 3), target: `>= GRU's`, ok: m.acc >= g.acc });
    rows.push({ figure: 'accuracy.gru.train_seconds', value: fmtNum(g.seconds, 1) });
    rows.push({ figure: 'accuracy.default.train_seconds', value: fmtNum(m.seconds, 1) });
  }
  if (!fma) rows.push({ figure: 'throughput_fma', value: 'not measured', target: "this engine's multiply-adds do not fuse" });
  const head = ref.ok ? '' : `(reference not run: ${ref.why})`;
  return { figures: f, text: table(`throughput (Node, wasm+SIMD; median of ${o.repeat} x ${o.steps} steps after ${WARMUP} warm-up) ${head}`, rows) };
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------
export interface MemoryOptions {
  steps: number;
  batch: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

function heapUsed(): number {
  if (gc) {
    gc();
    gc();
  }
  return process.memoryUsage().heapUsed;
}

/**
 * Four runs (grpo, ppo, rloo, sft on the default task and policy) trained round-robin through
 * createTrainer(), as four workers would train them; their eval rows are kept (as the page keeps
 * them for export) and pushed into the page's bounded plot history.
 */
export async function memory(o: MemoryOptions): Promise<{ figures: Figures; text: string }> {
  const runs = ['grpo', 'ppo', 'rloo', 'sft'];
  const hash = [`v=1`, `steps=${o.steps}`, `runs=${runs.join(',')}`, ...runs.map((_, i) => `r${i + 1}.batch=${o.batch}`)].join('&');
  const config = configOf(hash);
  const trainers = runs.map(() => createTrainer());
  // The trainer yields through a MessageChannel it unrefs: keep Node alive while it trains.
  const keepAlive = setInterval(() => {}, 1000);
  try {
    return await memoryLoop(o, runs, config, trainers);
  } finally {
    clearInterval(keepAlive);
  }
}

async function memoryLoop(o: MemoryOptions, runs: string[], config: ReturnType<typeof configOf>, trainers: ReturnType<typeof createTrainer>[]): Promise<{ figures: Figures; text: string }> {
  const rows = runs.map(() => new RowStore());
  const histories = runs.map(() => new BoundedHistory());
  const series = runs.map(() => new BoundedSeries());
  const keep = (k: number, rs: MetricRow[]) => {
    for (const r of rs) {
      rows[k].push(r);
      histories[k].push(aggregate([r]));
      series[k].push(r.step ?? 0, r['eval/accuracy'] ?? NaN);
    }
  };
  for (let k = 0; k < runs.length; k++) keep(k, [(await trainers[k].init(config, k, 0)).row!]);
  const chunk = 25;
  const warm = Math.min(o.steps, Math.max(100, Math.round(o.steps * 0.1)));
  let stepsDone = 0;
  let base: { tensors: number; bytes: number; heap: number } | null = null;
  const trace: { step: number; tensors: number; heap: number }[] = [];
  const t0 = performance.now();
  let lastLog = t0;
  while (stepsDone < o.steps) {
    const n = Math.min(chunk, o.steps - stepsDone);
    for (let k = 0; k < runs.length; k++) {
      const res = await trainers[k].run(n, (p) => keep(k, p.rows));
      if (res.status === 'error') throw new Error(`run ${runs[k]}: ${res.error?.message}`);
      keep(k, res.rows);
    }
    stepsDone += n;
    if (!base && stepsDone >= warm) {
      base = { tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, heap: heapUsed() };
      trace.push({ step: stepsDone, tensors: base.tensors, heap: base.heap });
    } else if (base && (stepsDone % Math.max(chunk, Math.round(o.steps / 10 / chunk) * chunk) === 0 || stepsDone === o.steps)) {
      trace.push({ step: stepsDone, tensors: tf.memory().numTensors, heap: heapUsed() });
    }
    if (performance.now() - lastLog > 15_000) {
      log(`memory: ${stepsDone}/${o.steps} steps per run`);
      lastLog = performance.now();
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const end = { tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, heap: heapUsed() };
  for (const t of trainers) await t.dispose();
  const after = tf.memory().numTensors;
  base ??= end;
  const f: Figures = {};
  f['memory.steps_per_run'] = o.steps;
  f['memory.batch'] = o.batch;
  f['memory.warmup_steps'] = warm;
  f['memory.gc_available'] = Boolean(gc);
  f['memory.tensors_after_warmup'] = base.tensors;
  f['memory.tensors_at_end'] = end.tensors;
  f['memory.tensor_growth'] = end.tensors - base.tensors;
  f['memory.tensor_bytes_growth'] = end.bytes - base.bytes;
  f['memory.tensors_after_dispose'] = after;
  f['memory.heap_mb_after_warmup'] = round(base.heap / 2 ** 20, 2);
  f['memory.heap_mb_at_end'] = round(end.heap / 2 ** 20, 2);
  f['memory.heap_growth_ratio'] = round(end.heap / base.heap - 1, 4);
  f['memory.heap_mb_max_in_trace'] = round(Math.max(...trace.map((t) => t.heap)) / 2 ** 20, 2);
  f['memory.eval_rows_kept'] = rows.reduce((s, r) => s + r.length, 0);
  f['memory.plot_points_max'] = Math.max(...histories.map((h) => h.length));
  f['memory.plot_points_capacity'] = histories[0].capacity;
  f['memory.series_points_max'] = Math.max(...series.map((s) => s.length));
  f['memory.seconds'] = round(seconds, 1);
  f['memory.heap_trace_mb'] = trace.map((t) => `${t.step}:${fmtNum(t.heap / 2 ** 20, 2)}`).join(' ');
  const growth = end.heap / base.heap - 1;
  const text = table(`memory (Node: 4 runs ${runs.join(',')} x ${o.steps} steps, batch ${o.batch}, round-robin through workers/trainer.ts; gc ${gc ? 'forced' : 'NOT available: run with node --expose-gc'})`, [
    { figure: 'memory.tensor_growth (after warm-up -> end)', value: String(end.tensors - base.tensors), target: '0 (flat)', ok: end.tensors === base.tensors },
    { figure: 'memory.tensors_after_warmup / at_end', value: `${base.tensors} / ${end.tensors}` },
    { figure: 'memory.heap_growth_ratio', value: fmtNum(growth * 100, 1) + ' %', target: '< 10 %', ok: growth < 0.1 },
    { figure: 'memory.heap_mb after warm-up / at end', value: `${fmtNum(base.heap / 2 ** 20, 1)} / ${fmtNum(end.heap / 2 ** 20, 1)}` },
    { figure: 'memory.plot_points_max (per run)', value: String(Math.max(...histories.map((h) => h.length))), target: `<= ${histories[0].capacity}`, ok: Math.max(...histories.map((h) => h.length)) <= histories[0].capacity },
    { figure: 'memory.eval_rows_kept (all runs, for export)', value: String(f['memory.eval_rows_kept']) },
    { figure: 'memory.seconds', value: fmtNum(seconds, 1) },
  ]) + `heap trace (step: tensors, MB): ${trace.map((t) => `${t.step}: ${t.tensors}, ${fmtNum(t.heap / 2 ** 20, 1)}`).join(' | ')}\n`;
  return { figures: f, text };
}

// ---------------------------------------------------------------------------------------------
// Profile: where a step's time goes
// ---------------------------------------------------------------------------------------------
const WRAPPERS = new Set(['forward', 'unnamed scope']);

async function kernelsOf(fn: () => Promise<void>): Promise<{ kernels: number; kernelMs: number; byName: Map<string, { n: number; ms: number }> }> {
  const info = await tf.profile(fn);
  const byName = new Map<string, { n: number; ms: number }>();
  let ms = 0;
  for (const k of info.kernels) {
    // customGrad wrappers ('forward', 'unnamed scope') contain kernels that are listed themselves.
    if (WRAPPERS.has(k.name)) continue;
    const t = Number(await k.kernelTimeMs) || 0;
    ms += t;
    const e = byName.get(k.name) ?? { n: 0, ms: 0 };
    e.n++;
    e.ms += t;
    byName.set(k.name, e);
  }
  return { kernels: [...byName.values()].reduce((a, b) => a + b.n, 0), kernelMs: ms, byName };
}

/** Median ms of a session's steps with a switch off and on, interleaved after warm-up; the switch is left on. */
async function offAndOn(config: ExperimentConfig, reps: number, set: (on: boolean) => void): Promise<{ off: number; on: number }> {
  const ws = new Session(config);
  for (let i = 0; i < WARMUP; i++) await ws.trainStep();
  const ms = { off: [] as number[], on: [] as number[] };
  try {
    for (let i = 0; i < reps; i++) {
      for (const mode of ['off', 'on'] as const) {
        set(mode === 'on');
        const t0 = performance.now();
        await ws.trainStep();
        ms[mode].push(performance.now() - t0);
      }
    }
  } finally {
    set(true);
    ws.dispose();
  }
  return { off: median(ms.off), on: median(ms.on) };
}

/**
 * One GRU (then default-policy, then transformer) step taken apart with the engine's own pieces: sampling 256 completions, a
 * teacher-forced forward pass (log-probs), forward + backward (variableGrads), the Adam update;
 * each timed alone (median of `reps`) and profiled for its kernel count. Then one whole
 * trainStep of each workload under tf.profile, and the cost of one tiny kernel launch.
 */
export async function profile(reps = 15): Promise<{ figures: Figures; text: string }> {
  const f: Figures = {};
  const lines: string[] = [];
  const rows: Row[] = [];
  for (const net of [GRU_NET, '', TRANSFORMER_NET]) {
    const name = net === GRU_NET ? 'gru' : net ? 'transformer' : 'default';
    const s = new Session(configOf(workloadHash('grpo', net)));
    const { policy, shape, task } = s;
    const { promptLen: P, maxNew: T, vocab: V } = shape;
    const rng = new Rng(7);
    const problems = task.sample(rng, 32).flatMap((p) => Array(8).fill(p));
    const n = problems.length;
    const prompts = new Int32Array(n * P);
    problems.forEach((p, i) => prompts.set(p.prompt, i * P));
    const ro = await sampleCompletions(policy, shape, prompts, n, rng);
    const oh = tf.tensor3d(oneHotTokens(ro.tokens, V), [n, T, V]);
    const mask = tf.tensor2d(ro.mask, [n, T]);
    const opt = new Adam(1e-3);
    const zeroGrads = policy.vars.map((v) => tf.zerosLike(v));
    const lossOf = () => tf.div(tf.sum(tf.mul(tokenLogProbs(completionOutputs(policy, prompts, ro.tokens, n, P, T), oh).logp, mask)), tf.sum(mask)) as tf.Scalar;
    const phases: Record<string, () => Promise<void>> = {
      sampling: async () => void (await sampleCompletions(policy, shape, prompts, n, rng)),
      forward: async () => {
        const t = tf.tidy(lossOf);
        await t.data();
        t.dispose();
      },
      'forward+backward': async () => {
        const g = tf.tidy(() => {
          const { grads } = tf.variableGrads(lossOf, policy.vars);
          return tf.addN(policy.vars.map((v) => tf.sum(grads[v.name])));
        });
        await g.data();
        g.dispose();
      },
      // The engine's Adam (src/core/algos/common.ts): on our kernels where they run (the gradients
      // stay tensors); else weights and gradients read back in one piece, the update in JS, one
      // upload per weight tensor.
      optimiser: async () => {
        if (Adam.kernels()) return void opt.applyKernels(policy.vars, zeroGrads, 0);
        const size = policy.vars.reduce((a, v) => a + v.size, 0);
        const packed = tf.tidy(() => tf.concat([...policy.vars.map((v) => tf.reshape(v, [-1])), tf.zeros([size])]));
        const vals = (await packed.data()) as Float32Array;
        packed.dispose();
        opt.apply(policy.vars, vals.subarray(0, size), vals.subarray(size), 0);
      },
    };
    const ms: Record<string, number> = {};
    for (const [ph, fn] of Object.entries(phases)) {
      ms[ph] = await timeIt(reps, fn);
      const k = await kernelsOf(fn);
      f[`profile.${name}.${ph}.ms`] = round(ms[ph], 2);
      f[`profile.${name}.${ph}.kernels`] = k.kernels;
      f[`profile.${name}.${ph}.kernel_ms`] = round(k.kernelMs, 2);
      rows.push({ figure: `${name} ${ph} (256 seqs)`, value: `${fmtNum(ms[ph], 1)} ms`, target: `${k.kernels} kernels, ${fmtNum(k.kernelMs, 1)} ms in kernels` });
    }
    f[`profile.${name}.backward_only.ms`] = round(ms['forward+backward'] - ms.forward, 2);
    tf.dispose([oh, mask, ...zeroGrads]);
    opt.dispose();
    opt.dispose();
    s.dispose();
    // Whole steps of each workload, profiled: the heaviest kernels.
    for (const w of ['grpo', 'ppo', 'sft'] as WorkloadId[]) {
      const ws = new Session(configOf(workloadHash(w, net)));
      for (let i = 0; i < WARMUP; i++) await ws.trainStep();
      const stepMs = await timeIt(Math.max(5, Math.floor(reps / 2)), () => ws.trainStep());
      const k = await kernelsOf(() => ws.trainStep());
      ws.dispose();
      f[`profile.${name}.${w}.step_ms`] = round(stepMs, 2);
      f[`profile.${name}.${w}.kernels_per_step`] = k.kernels;
      f[`profile.${name}.${w}.kernel_ms_per_step`] = round(k.kernelMs, 2);
      const top = [...k.byName.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 6);
      rows.push({ figure: `${name} ${w} whole step`, value: `${fmtNum(stepMs, 1)} ms`, target: `${k.kernels} kernels, ${fmtNum(k.kernelMs, 1)} ms in kernels` });
      lines.push(`${name} ${w} top kernels: ${top.map(([kn, v]) => `${kn} x${v.n} ${fmtNum(v.ms, 1)}ms`).join(', ')}`);
    }
    // What computing a group's shared prompt once saves: GRPO steps with it off and on, interleaved.
    const shared = await offAndOn(configOf(workloadHash('grpo', net)), reps, (on) => (prefixSharing.enabled = on));
    f[`profile.${name}.grpo.step_ms_sharing_off`] = round(shared.off, 2);
    f[`profile.${name}.grpo.step_ms_sharing_on`] = round(shared.on, 2);
    rows.push({ figure: `${name} grpo step, prompt sharing off / on`, value: `${fmtNum(shared.off, 1)} / ${fmtNum(shared.on, 1)} ms`, target: 'G completions of one prompt share its computation' });
  }
  // What computing only the live positions saves: r1-zero's pretraining steps (worked answers up to
  // 16 tokens, most 4) with it off and on, interleaved (the same numbers either way).
  const live = await offAndOn(presetConfig(presetById('r1-zero')!), reps, (on) => (liveOnly.enabled = on));
  f['profile.mlp.pretrain.step_ms_live_only_off'] = round(live.off, 2);
  f['profile.mlp.pretrain.step_ms_live_only_on'] = round(live.on, 2);
  rows.push({ figure: 'mlp pretrain step (r1-zero), all positions / live only', value: `${fmtNum(live.off, 1)} / ${fmtNum(live.on, 1)} ms`, target: 'positions past a completion\'s end are not computed' });
  // The fixed cost of one kernel: a 1-element add, many times (engine bookkeeping + wasm call).
  const a = tf.scalar(1);
  const launch = await timeIt(5, async () => {
    const r = tf.tidy(() => {
      let x: tf.Tensor = a;
      for (let i = 0; i < 2000; i++) x = tf.add(x, 1);
      return x;
    });
    await r.data();
    r.dispose();
  });
  a.dispose();
  // What the matMuls of this size reach: h [256, 64] x W [64, 64] and [256, 64] x [64, 192].
  for (const [k, o] of [[64, 64], [64, 192]]) {
    const x = tf.randomUniform([256, k], -1, 1, 'float32', 1);
    const w = tf.randomUniform([k, o], -1, 1, 'float32', 2);
    const ms = await timeIt(5, async () => {
      const r = tf.tidy(() => {
        let acc: tf.Tensor = tf.zeros([256, o]);
        for (let i = 0; i < 200; i++) acc = tf.matMul(x, w);
        return acc;
      });
      await r.data();
      r.dispose();
    });
    const gflops = (2 * 256 * k * o * 200) / (ms / 1000) / 1e9;
    tf.dispose([x, w]);
    f[`profile.matmul_256x${k}x${o}.gflops`] = round(gflops, 2);
    rows.push({ figure: `matMul [256,${k}]x[${k},${o}]`, value: `${fmtNum(gflops, 1)} GFLOP/s`, target: `${fmtNum(ms / 200 * 1000, 0)} us each` });
  }
  f['profile.kernel_launch_us'] = round((launch / 2000) * 1000, 2);
  rows.push({ figure: 'one tiny kernel (add on a scalar)', value: `${fmtNum((launch / 2000) * 1000, 1)} us` });
  return { figures: f, text: table('profile (Node, wasm+SIMD): a step taken apart; median of repeats', rows) + lines.join('\n') + '\n' };
}
