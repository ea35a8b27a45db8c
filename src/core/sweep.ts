/**
 * Sweeps (issue 15): a grid of settings x seeds, expanded, sharded and summarised. Pure: the CLI
 * (scripts/sweep.ts) runs each job as `npm run sim`, and the tests check this file's arithmetic.
 *
 * A grid is 'r1.lr=0.001,0.003;r1.G=4,8': keys as in a link, each with a list of values; every
 * combination (in the grid's order, the last key varying fastest) runs with every seed.
 */
import { type ExperimentConfig, experimentField, overlay, parseValue, runField } from './config';
import { type MetricRow, median } from './metrics';

export interface GridAxis {
  key: string;
  values: string[];
}

/** One combination: a value for each axis, in the grid's order. */
export type Combination = [key: string, value: string][];

/** Parse a grid; every bad key or value is reported (key and value named), nothing is thrown. */
export function parseGrid(text: string, base: ExperimentConfig): { ok: true; axes: GridAxis[] } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const axes: GridAxis[] = [];
  const parts = text.split(';').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) return { ok: false, errors: ['--grid: empty (e.g. --grid "r1.lr=0.001,0.003;r1.G=4,8")'] };
  for (const part of parts) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq).trim();
    const values = eq < 0 ? [] : part.slice(eq + 1).split(',').map((v) => v.trim()).filter((v) => v !== '');
    const m = /^r(\d+)\.(.+)$/.exec(key);
    const field = m ? runField(m[2]) : experimentField(key);
    if (!field) {
      errors.push(`--grid: unknown setting '${key}'`);
      continue;
    }
    if (m && (Number(m[1]) < 1 || Number(m[1]) > base.runs.length)) {
      errors.push(`--grid: '${key}': there is no run ${m[1]} (runs: ${base.runs.length})`);
      continue;
    }
    if (values.length === 0) {
      errors.push(`--grid: '${key}' has no values`);
      continue;
    }
    if (axes.some((a) => a.key === key)) {
      errors.push(`--grid: '${key}' appears more than once`);
      continue;
    }
    for (const v of values) {
      const p = parseValue(field, v);
      if (!p.ok) errors.push(`--grid: ${key}=${v}: ${p.message}`);
    }
    axes.push({ key, values });
  }
  // Combinations the settings check would change (e.g. a batch that is not a multiple of G) are bad too.
  if (errors.length === 0) {
    for (const c of expandGrid(axes)) {
      const { problems } = overlay(base, comboHash(c));
      for (const p of problems) errors.push(`--grid: ${comboHash(c)}: ${p.key}=${p.value}: ${p.message}`);
    }
  }
  return errors.length ? { ok: false, errors } : { ok: true, axes };
}

/** Every combination of the axes, the last axis varying fastest. */
export function expandGrid(axes: GridAxis[]): Combination[] {
  let out: Combination[] = [[]];
  for (const a of axes) out = out.flatMap((c) => a.values.map((v) => [...c, [a.key, v]] as Combination));
  return out;
}

/** A combination as link settings, e.g. 'r1.lr=0.001&r1.G=4'. */
export const comboHash = (c: Combination) => c.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');

/** Seeds: '1-5', '1,3,7' or '2'. */
export function parseSeeds(text: string): number[] | null {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) return null;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 10_000) return null;
    for (let s = a; s <= b; s++) if (!out.includes(s)) out.push(s);
  }
  return out.length ? out : null;
}

export interface SweepJob {
  combination: Combination;
  seed: number;
  /** Index of the job in the whole sweep (combinations in order, seeds fastest). */
  index: number;
}

/** Every combination x seed, in order. */
export function sweepJobs(axes: GridAxis[], seeds: number[]): SweepJob[] {
  const jobs: SweepJob[] = [];
  for (const combination of expandGrid(axes)) for (const seed of seeds) jobs.push({ combination, seed, index: jobs.length });
  return jobs;
}

/** Shard I of N (1-based): jobs I-1, I-1+N, I-1+2N, ... so every job is in exactly one shard. */
export function shardOf<T>(jobs: T[], i: number, n: number): T[] {
  return jobs.filter((_, k) => k % n === i - 1);
}

/** The file a job writes: its combination and seed, readable and safe as a file name. */
export function jobFileName(job: Pick<SweepJob, 'combination' | 'seed'>): string {
  const name = job.combination.map(([k, v]) => `${k}=${v}`).join('_').replace(/[^A-Za-z0-9._=-]/g, '-') || 'base';
  return `${name}__seed${job.seed}.jsonl`;
}

// ---------------------------------------------------------------------------------------------
// Summary
// ---------------------------------------------------------------------------------------------
/** What one finished run says: its final metrics and the first steps at which milestones held. */
export function runFigures(rows: MetricRow[]): Record<string, number> {
  const last = rows[rows.length - 1] ?? {};
  const first = (pred: (r: MetricRow) => boolean) => rows.find(pred)?.step ?? NaN;
  const acc = (r: MetricRow) => r['eval/accuracy'] ?? NaN;
  return {
    'final/eval/accuracy': acc(last),
    'final/reward': last.reward ?? NaN,
    'final/step': last.step ?? NaN,
    'steps_to/accuracy_0.5': first((r) => acc(r) >= 0.5),
    'steps_to/accuracy_0.9': first((r) => acc(r) >= 0.9),
    'steps_to/teacher_ceiling': first((r) => r['teacher/ceiling'] !== undefined && acc(r) > r['teacher/ceiling']!),
  };
}

export const SUMMARY_FIGURES = ['final/eval/accuracy', 'final/reward', 'final/step', 'steps_to/accuracy_0.5', 'steps_to/accuracy_0.9', 'steps_to/teacher_ceiling'];

/**
 * summary.csv: one row per combination: its settings, the number of seeds, and per figure the
 * median, min and max over seeds (empty where no seed reached a milestone).
 */
export function summaryCsv(keys: string[], groups: { combination: Combination; runs: MetricRow[][] }[]): string {
  const cell = (x: number) => (Number.isFinite(x) ? String(Math.round(x * 1e6) / 1e6) : '');
  const head = [...keys, 'seeds', ...SUMMARY_FIGURES.flatMap((f) => [`${f}/median`, `${f}/min`, `${f}/max`])];
  const lines = [head.join(',')];
  for (const g of groups) {
    const figs = g.runs.map(runFigures);
    const vals = new Map(g.combination);
    const row = [...keys.map((k) => vals.get(k) ?? ''), String(g.runs.length)];
    for (const f of SUMMARY_FIGURES) {
      const xs = figs.map((x) => x[f]).filter(Number.isFinite);
      row.push(cell(median(xs)), cell(xs.length ? Math.min(...xs) : NaN), cell(xs.length ? Math.max(...xs) : NaN));
    }
    lines.push(row.join(','));
  }
  return lines.join('\n') + '\n';
}
