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
