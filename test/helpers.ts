/** Shared helpers for the learning tests: drive a Session like the CLI does. */
import { decode, type ExperimentConfig } from '../src/core/config';
import type { MetricRow } from '../src/core/metrics';
import { Session } from '../src/core/session';

export function configOf(hash: string): ExperimentConfig {
  const { config, problems } = decode(hash);
  if (problems.length) throw new Error(`bad test hash ${hash}: ${JSON.stringify(problems)}`);
  return config;
}

/** Run one (run, seed) of an experiment to the end; the eval rows, as `npm run sim` prints them. */
export async function runSession(config: ExperimentConfig, runIndex = 0, seedIndex = 0): Promise<MetricRow[]> {
  const s = new Session(config, runIndex, seedIndex);
  const rows: MetricRow[] = [];
  try {
    rows.push(await s.evaluate());
    while (!s.done) {
      await s.trainStep();
      if (s.step % config.evalEvery === 0 || s.done) rows.push(await s.evaluate());
    }
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

/** Rows of every (run, seed) of an experiment for seeds seed, seed+1, ...: rows[run][seed]. */
export async function runAll(config: ExperimentConfig, seeds: number): Promise<MetricRow[][][]> {
  const out: MetricRow[][][] = [];
  for (let r = 0; r < config.runs.length; r++) {
    const perSeed: MetricRow[][] = [];
    for (let s = 0; s < seeds; s++) perSeed.push(await runSession(config, r, s));
    out.push(perSeed);
  }
  return out;
}

export const last = (rows: MetricRow[]) => rows[rows.length - 1];
/** First step at which `pred` holds, or Infinity. */
export function firstStep(rows: MetricRow[], pred: (r: MetricRow) => boolean): number {
  const r = rows.find(pred);
  return r ? r.step! : Infinity;
}
