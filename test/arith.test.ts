/**
 * The arith=fma path (issue 14): our matMul's multiply-adds as relaxed SIMD's fused multiply-add
 * (workers/kernels/kernels-fma.wasm.ts), chosen by the experiment's `arith` setting, per session.
 * Where this engine fuses them (FMA_HERE: x64 with FMA3, Arm), fma gives other numbers than
 * portable, within float rounding, and the same numbers for the same link; where it does not, the
 * run takes portable arithmetic and says so. (The GRU kernels against the tfjs path under fma:
 * test/kernels.test.ts.)
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { arithmetic } from '../src/core/nets/layers';
import { Rng } from '../src/core/rng';
import { Session } from '../src/core/session';
import { arithInEffect, assumeFusedMadd } from '../workers/fused-kernels';
import { configOf, FMA_HERE, runSession, withArith, withoutTime } from './helpers';

afterEach(() => {
  assumeFusedMadd(null);
  arithmetic.use('portable');
});

/** tf.matMul of a [M, K] x [K, N] at random under each arithmetic. */
function products(M: number, K: number, N: number): { portable: Float32Array; fma: Float32Array } {
  const rng = new Rng(M * 100 + N);
  const a = tf.tensor2d(Float32Array.from({ length: M * K }, () => rng.next() * 2 - 1), [M, K]);
  const b = tf.tensor2d(Float32Array.from({ length: K * N }, () => rng.next() * 2 - 1), [K, N]);
  const run = () => tf.tidy(() => tf.matMul(a, b).dataSync() as Float32Array);
  const out = { portable: withArith('portable', run), fma: withArith('fma', run) };
  tf.dispose([a, b]);
  return out;
}

const SFT = 'task=add&net=gru&embed=32&hidden=64&runs=sft&r1.batch=64&steps=30&evalEvery=15';

describe.skipIf(!FMA_HERE)('arith=fma, on an engine that fuses multiply-adds', () => {
  it.each([[256, 64, 64], [7, 13, 5], [33, 64, 14]])('our matMul rounds each multiply-add once: within float rounding of portable, not its bits (%i x %i x %i)', (M, K, N) => {
    const { portable, fma } = products(M, K, N);
    let diff = 0, differ = 0;
    for (let i = 0; i < fma.length; i++) {
      diff = Math.max(diff, Math.abs(fma[i] - portable[i]));
      if (fma[i] !== portable[i]) differ++;
    }
    expect(diff).toBeLessThan(K * 2 ** -22); // K roundings of sums below K in size
    expect(differ).toBeGreaterThan(0);
  });

  it('a link with arith=fma gives the same numbers each time, other numbers than portable, and says which ran', async () => {
    const fma = withoutTime(await runSession(configOf(`${SFT}&arith=fma`)));
    expect(arithInEffect()).toBe('fma');
    expect(withoutTime(await runSession(configOf(`${SFT}&arith=fma`)))).toEqual(fma);
    const portable = withoutTime(await runSession(configOf(SFT)));
    expect(arithInEffect()).toBe('portable');
    expect(portable).not.toEqual(fma);
    // Float rounding, not another run: the first update's loss agrees to ~6 digits.
    expect(Math.abs(fma[1]['loss/policy']! - portable[1]['loss/policy']!)).toBeLessThan(1e-4);
    const s = new Session(configOf(`${SFT}&arith=fma`));
    expect(s.info().arith).toBe('fma');
    s.dispose();
  });

  it('each session keeps its own arithmetic when sessions of both take turns in one process (one at a time)', async () => {
    const alone = (arith: string) => runSession(configOf(`${SFT}&arith=${arith}`)).then(withoutTime);
    const [fmaAlone, portableAlone] = [await alone('fma'), await alone('portable')];
    const sessions = ['fma', 'portable'].map((a) => new Session(configOf(`${SFT}&arith=${a}`)));
    const rows = [[await sessions[0].evaluate()], [await sessions[1].evaluate()]];
    while (!sessions[0].done) {
      for (let k = 0; k < 2; k++) {
        await sessions[k].trainStep();
        if (sessions[k].atEvalPoint) rows[k].push(await sessions[k].evaluate());
      }
    }
    sessions.forEach((s) => s.dispose());
    expect(withoutTime(rows[0])).toEqual(fmaAlone);
    expect(withoutTime(rows[1])).toEqual(portableAlone);
  });

  it.each([
    ['sft', 'task=sort&sortLen=3&blindSpot=none&steps=100&evalEvery=50&runs=sft', 0.8],
    ['grpo', 'task=sort&sortLen=3&blindSpot=none&r1.reward=partial&steps=200&evalEvery=100&r1.lr=0.003&runs=grpo', 0.4],
    ['grpo, the GRU', 'task=sort&sortLen=3&blindSpot=none&r1.reward=partial&steps=200&evalEvery=100&r1.lr=0.003&runs=grpo&net=gru', 0.4],
  ])('learns the easiest task as portable does (test/learning.test.ts): %s', async (_, hash, threshold) => {
    const rows = await runSession(configOf(`${hash}&arith=fma`));
    expect(rows[0]['eval/accuracy']!).toBeLessThan(0.1);
    expect(rows[rows.length - 1]['eval/accuracy']!).toBeGreaterThanOrEqual(threshold);
  });
});

describe('arith=fma on an engine that does not fuse multiply-adds', () => {
  it('takes portable arithmetic, says so, and gives the portable numbers', async () => {
    assumeFusedMadd(false);
    const s = new Session(configOf(`${SFT}&arith=fma`));
    expect(s.info().arith).toBe('portable');
    s.dispose();
    expect(withoutTime(await runSession(configOf(`${SFT}&arith=fma`)))).toEqual(withoutTime(await runSession(configOf(SFT))));
  });
});
