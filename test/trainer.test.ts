/** The worker's trainer, called directly in Node (test/setup.ts picks the wasm backend). */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it, vi } from 'vitest';
import { DivergenceError } from '../src/core/algos/common';
import type { MetricRow } from '../src/core/metrics';
import { Session } from '../src/core/session';
import { createTrainer, type Progress } from '../workers/trainer';
import { type ExperimentConfig, encode, overlay } from '../src/core/config';
import { presetById, presetConfig } from '../src/core/presets';
import { runSession, withoutTime } from './helpers';

/** The default preset, shortened: 40 steps of 64 samples. */
const HASH = encode(from('steps=40&evalEvery=10&r1.batch=64'));

function from(settings: string): ExperimentConfig {
  const d = overlay(presetConfig(presetById('first-steps')!), settings);
  if (d.problems.length) throw new Error(JSON.stringify(d.problems));
  return d.config;
}
const configOf = (hash: string) => from(hash);

async function trainAll(hash: string): Promise<{ rows: MetricRow[]; reports: Progress[]; status: string }> {
  const t = createTrainer({ reportEveryMs: 0 });
  const init = await t.init(configOf(hash), 0, 0);
  const reports: Progress[] = [];
  const res = await t.run(Infinity, (p) => reports.push(p));
  await t.dispose();
  const rows = [init.row!, ...reports.flatMap((p) => p.rows), ...res.rows];
  return { rows, reports, status: res.status };
}

describe('createTrainer', () => {
  it('init evaluates step 0 and describes the run; step() makes one update', async () => {
    const t = createTrainer();
    const init = await t.init(configOf(HASH), 0, 0);
    expect(init.row!.step).toBe(0);
    expect(init.row!['eval/accuracy']).toBeGreaterThanOrEqual(0);
    expect(init.info.policyParams).toBeGreaterThan(0);
    expect(init.subsets.length).toBeGreaterThan(0);
    expect(init.teacher['teacher/ceiling']).toBeGreaterThan(0);
    const r = await t.step();
    expect(r.status).toBe('budget');
    expect(r.step).toBe(1);
    expect(r.rows).toEqual([]);
    expect(r.samples).toBe(64);
    const insp = await t.inspect();
    expect(insp?.rows.length).toBeGreaterThan(0);
    expect(insp?.rows[0].tokens.length).toBeGreaterThan(0);
    await t.dispose();
  });

  it('gives the rows `npm run sim` gives for the same config, deterministically', async () => {
    const a = await trainAll(HASH);
    const b = await trainAll(HASH);
    expect(a.status).toBe('done');
    expect(a.rows.map((r) => r.step)).toEqual([0, 10, 20, 30, 40]);
    expect(withoutTime(b.rows)).toEqual(withoutTime(a.rows));
    const sim = await runSession(configOf(HASH));
    expect(withoutTime(a.rows)).toEqual(withoutTime(sim));
    // Progress is throttled per report, never one message per update, and carries the state.
    for (const p of a.reports) expect(p.step).toBeGreaterThan(0);
  });

  it('sharing the cores (more workers than cores) rests between updates and changes no number', async () => {
    const plain = await trainAll(HASH);
    const t = createTrainer({ reportEveryMs: 0, yieldEveryMs: 0 });
    t.setShare(8, 2); // each trains a quarter of its time
    const init = await t.init(configOf(HASH), 0, 0);
    const rests: number[] = [];
    const real = globalThis.setTimeout;
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      rests.push(ms ?? 0);
      return real(fn, 0);
    }) as typeof setTimeout);
    let res;
    try {
      res = await t.run(Infinity);
    } finally {
      spy.mockRestore();
    }
    await t.dispose();
    expect(rests.length).toBeGreaterThan(0);
    expect(rests.every((ms) => ms >= 1)).toBe(true);
    expect(withoutTime([init.row!, ...res.rows])).toEqual(withoutTime(plain.rows));
    // As many workers as cores: no rest.
    const u = createTrainer({ reportEveryMs: 0, yieldEveryMs: 0 });
    u.setShare(2, 2);
    await u.init(configOf(HASH), 0, 0);
    const spy2 = vi.spyOn(globalThis, 'setTimeout');
    try {
      await u.run(3);
      expect(spy2).not.toHaveBeenCalled();
    } finally {
      spy2.mockRestore();
      await u.dispose();
    }
  });

  it('run(maxSteps) pauses at the budget and resumes to the same numbers', async () => {
    const t = createTrainer();
    const init = await t.init(configOf(HASH), 0, 0);
    const rows = [init.row!];
    for (const n of [7, 13, 1, 100]) {
      const r = await t.run(n);
      rows.push(...r.rows);
    }
    await t.dispose();
    const whole = await runSession(configOf(HASH));
    expect(withoutTime(rows)).toEqual(withoutTime(whole));
  });

  it('stop() ends a run between updates; init() again restarts the same run', async () => {
    const t = createTrainer({ reportEveryMs: 0 });
    const cfg = configOf(HASH.replace('steps=40', 'steps=100000'));
    await t.init(cfg, 0, 0);
    let stopped = false;
    const pending = t.run(Infinity, (p) => {
      if (p.step >= 3 && !stopped) {
        stopped = true;
        t.stop();
      }
    });
    const r = await pending;
    expect(r.status).toBe('stopped');
    expect(r.step).toBeGreaterThanOrEqual(3);
    expect(r.step).toBeLessThan(1000);
    // A second run continues, and init() while running stops it first.
    const again = t.run(Infinity);
    const re = await t.init(cfg, 0, 0);
    expect((await again).status).toBe('stopped');
    expect(re.row!.step).toBe(0);
    expect((await t.step()).step).toBe(1);
    await t.dispose();
  });

  it('NaN weights: the DivergenceError comes back as an error result, not a hang or a throw', async () => {
    const t = createTrainer({
      createSession: (e, r, s) => {
        const session = new Session(e, r, s);
        for (const v of session.policy.vars) v.assign(tf.fill(v.shape, NaN));
        return session;
      },
    });
    await t.init(configOf(HASH), 0, 0);
    const r = await t.run(Infinity);
    expect(r.status).toBe('error');
    expect(r.error?.name).toBe('DivergenceError');
    expect(r.error?.message).toMatch(/not a finite number/);
    // It stays failed.
    expect((await t.step()).status).toBe('error');
    await t.dispose();
  });

  it('any error thrown by a step is reported with its name', async () => {
    const t = createTrainer({
      createSession: (e, r, s) => {
        const session = new Session(e, r, s);
        const real = session.trainStep.bind(session);
        session.trainStep = async () => {
          if (session.step >= 2) throw new DivergenceError('the loss');
          return real();
        };
        return session;
      },
    });
    await t.init(configOf(HASH), 0, 0);
    const r = await t.run(Infinity);
    expect(r).toMatchObject({ status: 'error', step: 2, error: { name: 'DivergenceError' } });
    await t.dispose();
  });

  it('does not leak tensors across init/run/dispose', async () => {
    const t = createTrainer();
    await t.init(configOf(HASH), 0, 0);
    await t.run(5);
    await t.init(configOf(HASH), 0, 0);
    await t.run(5);
    const before = tf.memory().numTensors;
    await t.init(configOf(HASH), 0, 0);
    await t.run(5);
    await t.inspect();
    expect(tf.memory().numTensors).toBe(before);
    await t.dispose();
  });

  it('checkpoints: each report carries the state at its latest eval point, a pause its own; a trainer given one goes on to the same rows', async () => {
    const cfg = configOf(HASH);
    const whole = withoutTime(await runSession(cfg));
    const t = createTrainer({ reportEveryMs: 0 });
    t.setCheckpointing(true);
    const init = await t.init(cfg, 0, 0);
    expect(init.restored).toBeNull();
    const rows: MetricRow[] = [init.row!];
    const reports: Progress[] = [];
    // 13 updates: an eval point at 10; stopping at 13 saves there too (between eval points).
    const r = await t.run(13, (p) => reports.push(p));
    rows.push(...reports.flatMap((p) => p.rows), ...r.rows);
    const at10 = [...reports, r].find((p) => p.checkpoint?.step === 10);
    expect(at10?.checkpoint?.rows).toBe(2);
    expect(r.checkpoint).toMatchObject({ step: 13, rows: 2 }); // where it stopped, between eval points
    let stopped = false;
    const s = await t.run(Infinity, (p) => {
      rows.push(...p.rows);
      if (p.step >= 15 && !stopped) {
        stopped = true;
        t.stop();
      }
    });
    rows.push(...s.rows);
    expect(s.status).toBe('stopped');
    expect(s.checkpoint?.step).toBe(s.step);
    await t.dispose();
    // A new trainer from the pause's checkpoint: no row of its own; the rows go on as if never stopped.
    const u = createTrainer();
    const back = await u.init(cfg, 0, 0, {}, { bytes: s.checkpoint!.bytes, rows: s.checkpoint!.rows });
    expect(back).toMatchObject({ restored: s.step, row: null });
    const rest = await u.run(Infinity);
    expect(withoutTime([...rows, ...rest.rows])).toEqual(whole);
    // A damaged one: reported, and the run starts from step 0 with its row.
    const bytes = s.checkpoint!.bytes.slice();
    bytes[bytes.length - 1] ^= 1;
    const fresh = await u.init(cfg, 0, 0, {}, { bytes, rows: 3 });
    expect(fresh.restored).toBeNull();
    expect(fresh.restoreError).toMatch(/damaged/);
    expect(withoutTime([fresh.row!])).toEqual(whole.slice(0, 1));
    // Another run's checkpoint (another experiment): the same.
    const other = await u.init(configOf(HASH.replace('steps=40', 'steps=50')), 0, 0, {}, { bytes: s.checkpoint!.bytes, rows: 3 });
    expect(other.restoreError).toMatch(/another experiment/);
    await u.dispose();
  });
});
