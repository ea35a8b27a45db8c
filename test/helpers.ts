/** Shared helpers for the learning tests: drive a Session like the CLI does. */
import { cloneConfig, decode, type ExperimentConfig } from '../src/core/config';
import { type PolicyFiles, trainExperiment } from '../src/core/experiment';
import type { MetricRow } from '../src/core/metrics';
import type { Policy } from '../src/core/policy-file';
import { Session, type SessionPolicies } from '../src/core/session';
import { type Arith, arithmetic, backendTraits } from '../src/core/nets/layers';
import { wasmFeatures } from '../src/core/platform';

export function configOf(hash: string): ExperimentConfig {
  const { config, problems } = decode(hash);
  if (problems.length) throw new Error(`bad test hash ${hash}: ${JSON.stringify(problems)}`);
  return config;
}

/** Run one (run, seed) of an experiment to the end; the eval rows, as `npm run sim` prints them. */
export async function runSession(config: ExperimentConfig, runIndex = 0, seedIndex = 0, policies: SessionPolicies = {}, keep?: (p: Policy) => void): Promise<MetricRow[]> {
  const s = new Session(config, runIndex, seedIndex, policies);
  const rows: MetricRow[] = [];
  try {
    rows.push(await s.evaluate());
    while (!s.done) {
      await s.trainStep();
      if (s.atEvalPoint) rows.push(await s.evaluate());
    }
    if (keep) keep(await s.exportPolicy());
  } finally {
    s.dispose();
  }
  return rows;
}

/** Rows without wall-clock time, for exact comparisons. */
export function withoutTime(rows: MetricRow[]): MetricRow[] {
  return rows.map((r) => {
    const { 'time/seconds': _t, ...rest } = r;
    void _t;
    return rest;
  });
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

import { overlay } from '../src/core/config';
import { presetById, presetConfig } from '../src/core/presets';

/** A preset with settings layered over it (e.g. a reduced budget), as `sim --preset ID HASH` does. */
export function presetWith(id: string, hash = ''): ExperimentConfig {
  const p = presetById(id);
  if (!p) throw new Error(`no preset ${id}`);
  const { config, problems } = overlay(presetConfig(p), hash);
  if (problems.length) throw new Error(`bad overlay ${hash}: ${JSON.stringify(problems)}`);
  return config;
}

/**
 * Rows of every (run, seed) of an experiment for seeds seed, seed+1, ...: rows[run][seed], trained
 * as `npm run sim` trains them (runs that learn from runs after their teachers). Throws on any error.
 */
export async function runAll(config: ExperimentConfig, seeds: number, files: PolicyFiles = new Map()): Promise<MetricRow[][][]> {
  const c = cloneConfig(config);
  for (const r of c.runs) r.seeds = seeds;
  const out: MetricRow[][][] = c.runs.map(() => Array.from({ length: seeds }, () => []));
  const errors: string[] = [];
  await trainExperiment(c, files, {
    onRow: (r, s, row) => out[r][s].push(row),
    onError: (r, s, e) => errors.push(`r${r + 1} seed ${s}: ${e.message}`),
  });
  if (errors.length) throw new Error(errors.join('; '));
  return out;
}

export const last = (rows: MetricRow[]) => rows[rows.length - 1];
/** First step at which `pred` holds, or Infinity. */
export function firstStep(rows: MetricRow[], pred: (r: MetricRow) => boolean): number {
  const r = rows.find(pred);
  return r ? r.step! : Infinity;
}

/** The eval row at the end of each generation (the session evaluates there): rows[g - 1]. */
export function generationEnds(rows: MetricRow[]): MetricRow[] {
  return rows.filter((r, i) => r.step! > 0 && (i === rows.length - 1 || rows[i + 1].generation! > r.generation!));
}

/** B prompts of 6 tokens (ids below 12) in groups of G rows that share one (GRPO's groups; G = 1: all distinct). */
export function groupedPrompts(rng: { int(n: number): number }, B: number, G: number): Int32Array {
  const distinct = Int32Array.from({ length: (B / G) * 6 }, () => rng.int(12));
  return Int32Array.from({ length: B * 6 }, (_, i) => distinct[Math.floor(i / 6 / G) * 6 + (i % 6)]);
}

/** f() with one of the core's kernel switches (src/core/nets/layers.ts backendTraits) set, restored after. */
export function withTrait<T>(trait: keyof typeof backendTraits, on: boolean, f: () => T): T {
  const prev = backendTraits[trait];
  backendTraits[trait] = on;
  try {
    return f();
  } finally {
    backendTraits[trait] = prev;
  }
}

/** Whether this engine fuses relaxed SIMD's multiply-adds (the arith=fma path runs here). */
export const FMA_HERE = wasmFeatures().fusedMadd;

/** The arithmetics a kernel test runs under: portable, and fma where this engine fuses. */
export const ARITHS: Arith[] = FMA_HERE ? ['portable', 'fma'] : ['portable'];

/** f() with our matMul's arithmetic set (src/core/nets/layers.ts arithmetic), portable after. */
export function withArith<T>(arith: Arith, f: () => T): T {
  if (arithmetic.use(arith) !== arith) throw new Error(`arith=${arith} is not available here`);
  try {
    return f();
  } finally {
    arithmetic.use('portable');
  }
}
