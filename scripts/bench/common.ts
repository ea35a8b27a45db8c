/**
 * What the benchmark groups share: the workloads (the reference's, as app links), the flat
 * figure map, the table printer, and small statistics. Figures are flat `group.name.figure` keys
 * so that `--json` prints one object whose keys name each figure.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode, type ExperimentConfig } from '../../src/core/config';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** ../shared beside the repository (the CI clone has it there too). */
export function sharedDir(): string | null {
  for (const d of [join(ROOT, '../shared'), join(ROOT, 'shared')]) if (existsSync(join(d, 'reference/tiny_rl.py'))) return d;
  return null;
}

export type Figures = Record<string, number | string | boolean | null>;

/** Warm-up steps before timing, as the reference's --bench-warmup. */
export const WARMUP = 5;

export type WorkloadId = 'grpo' | 'ppo' | 'sft';

export interface Workload {
  id: WorkloadId;
  title: string;
  /** tiny_rl.py --algo */
  refAlgo: string;
}

export const WORKLOADS: Workload[] = [
  { id: 'grpo', title: 'GRPO, 32 prompts x G=8 (sampled tokens)', refAlgo: 'grpo' },
  { id: 'ppo', title: 'PPO, batch 256 + critic (sampled tokens)', refAlgo: 'ppo' },
  { id: 'sft', title: 'SFT distillation, batch 256 (trained tokens)', refAlgo: 'sft' },
];

/** No evaluation inside the timed window, and a budget that never ends it. */
const NO_EVAL = 'steps=1000000&evalEvery=100000';
const RUN: Record<WorkloadId, string> = {
  // beta 0.04 (the default): a reference-model forward each step, as the reference does. mu = 1.
  grpo: 'runs=grpo&r1.batch=256&r1.G=8',
  // epochs 1, minibatches 1 (the defaults), critic of the policy's family and size.
  ppo: 'runs=ppo&r1.batch=256',
  sft: 'runs=sft&r1.batch=256',
};
/** The reference's network: token emb 32 + position emb 32 -> GRU 64 -> 14 logits. */
export const GRU_NET = 'net=gru&embed=32&hidden=64';
/** The transformer policy at the app's default sizes: width 32, 2 blocks, 2 heads, MLP block 128 (26k weights on addition). */
export const TRANSFORMER_NET = 'net=transformer';

/** The app link of a workload: the reference's GRU, or the app's default policy (net = ''). */
export function workloadHash(id: WorkloadId, net: string): string {
  return ['v=1', 'task=add&digits=2', net, NO_EVAL, RUN[id]].filter(Boolean).join('&');
}

/**
 * Worked answers (issue 10): GRPO, 32 prompts x G=8, on the sum of four digits with the app's
 * default policy; completions of up to 16 tokens (from scratch most run to the budget: the worst case).
 */
export const WORKED_HASH = ['v=1', 'task=sum&blindSpot=none', NO_EVAL, RUN.grpo].join('&');

export function configOf(hash: string): ExperimentConfig {
  const d = decode(hash);
  if (d.problems.length) throw new Error(`bad benchmark link ${hash}: ${JSON.stringify(d.problems)}`);
  return d.config;
}

import { median } from '../../src/core/metrics';
export { median };

/** The median time of `reps` calls of `fn` (ms), after one untimed call. */
export async function timeIt(reps: number, fn: () => unknown): Promise<number> {
  await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i];
}

export const round = (x: number | null | undefined, d = 3): number | null =>
  x === null || x === undefined || !Number.isFinite(x) ? null : Math.round(x * 10 ** d) / 10 ** d;

/** Progress for humans, on stderr (stdout holds the tables or the JSON). */
export const log = (msg: string) => process.stderr.write(`# ${msg}\n`);

export interface Row {
  figure: string;
  value: string;
  target?: string;
  ok?: boolean | null;
}

/** A plain text table: figure, value, target, pass/miss. */
export function table(title: string, rows: Row[]): string {
  const w0 = Math.max(6, ...rows.map((r) => r.figure.length));
  const w1 = Math.max(5, ...rows.map((r) => r.value.length));
  const w2 = Math.max(6, ...rows.map((r) => (r.target ?? '').length));
  const line = (a: string, b: string, c: string, d: string) => `${a.padEnd(w0)}  ${b.padStart(w1)}  ${c.padEnd(w2)}  ${d}`.trimEnd();
  const out = [`== ${title}`, line('figure', 'value', 'target', ''), line('-'.repeat(w0), '-'.repeat(w1), '-'.repeat(w2), '')];
  for (const r of rows) out.push(line(r.figure, r.value, r.target ?? '', r.ok === undefined || r.ok === null ? '' : r.ok ? 'ok' : 'MISS'));
  return out.join('\n') + '\n';
}

export const fmtNum = (x: number | null | undefined, d = 0): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
