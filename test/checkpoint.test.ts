/**
 * Checkpoints (issue 12): a run saved between two updates and restored into a new Session continues
 * with exactly the numbers of a run that never stopped, for every algorithm, net and stage kind;
 * the saved state goes through the binary format each time. Bad checkpoints are refused by name.
 */
import { describe, expect, it } from 'vitest';
import { Adam } from '../src/core/algos/common';
import { CheckpointError, decodeCheckpoint, decodeState, encodeCheckpoint, encodeState } from '../src/core/checkpoint';
import { type ExperimentConfig, runIdentity } from '../src/core/config';
import type { MetricRow } from '../src/core/metrics';
import type { Policy } from '../src/core/policy-file';
import { Rng } from '../src/core/rng';
import { Session, type SessionPolicies } from '../src/core/session';
import { configOf, runSession, withoutTime } from './helpers';

/** Train to step `cut` (eval rows where due), save, restore into a new Session, train to the end. */
async function interrupted(cfg: ExperimentConfig, cut: number, runIndex = 0, policies: SessionPolicies = {}): Promise<{ rows: MetricRow[]; bytes: number }> {
  const a = new Session(cfg, runIndex, 0, policies);
  const rows: MetricRow[] = [await a.evaluate()];
  let bytes: Uint8Array;
  try {
    while (a.step < cut) {
      await a.trainStep();
      if (a.atEvalPoint) rows.push(await a.evaluate());
    }
    bytes = encodeState(a.saveState());
  } finally {
    a.dispose();
  }
  const b = new Session(cfg, runIndex, 0, policies);
  try {
    b.restoreState(decodeState(bytes));
    expect(b.step).toBe(cut);
    while (!b.done) {
      await b.trainStep();
      if (b.atEvalPoint) rows.push(await b.evaluate());
    }
  } finally {
    b.dispose();
  }
  return { rows, bytes: bytes.length };
}

const SMALL = 'steps=6&evalEvery=2&hidden=32&embed=16';

/** Every kind of state a run carries, with the steps to cut at (between eval points, on one, at a stage's end). */
const CASES: [string, string, number[]][] = [
  ['GRPO with KL to a reference', `${SMALL}&runs=grpo&r1.batch=16&r1.G=4`, [3, 4]],
  ['GRPO, GRU, DAPO dynamic sampling, mu=2, clip-higher', `${SMALL}&net=gru&runs=grpo&r1.batch=16&r1.G=4&r1.dynamicSampling=1&r1.mu=2&r1.clipHigh=0.28`, [3]],
  ['PPO: critic, its optimiser, minibatch order, KL in the reward', `${SMALL}&runs=ppo&r1.batch=16&r1.minibatches=2&r1.epochs=2&r1.klCoef=0.05`, [3]],
  ['RLOO', `${SMALL}&runs=rloo&r1.batch=16&r1.G=4`, [3]],
  ['SFT then GRPO, across the stage change', `${SMALL}&runs=sft-grpo&r1.batch=16&r1.G=4&r1.distillSteps=3`, [2, 3, 4]],
  ['forward KD from a finite data set', `${SMALL}&runs=kd&r1.batch=16&r1.dataSize=40`, [3]],
  ['reverse KD on the data set\'s prompts', `${SMALL}&runs=kd&r1.batch=16&r1.dataSize=40&r1.kdDir=reverse`, [3]],
  ['verified-only SFT from a finite data set', `${SMALL}&runs=rsft&r1.batch=16&r1.dataSize=40`, [3]],
  ['pretraining then GRPO on worked answers', `${SMALL}&task=sum&blindSpot=none&runs=pretrain-grpo&r1.batch=16&r1.G=4&r1.distillSteps=3`, [2, 5]],
  ['two generations: the previous one teaches', `${SMALL}&runs=sft&r1.batch=16&r1.generations=2`, [3, 4]],
  ['transformer', `${SMALL}&net=transformer&runs=grpo&r1.batch=16&r1.G=4`, [3]],
  ['mixture of experts (top-1, shared expert, balance loss)', `${SMALL}&runs=grpo&r1.batch=16&r1.G=4&r1.experts=4&r1.topK=1&r1.sharedExperts=1`, [3]],
  ['quantisation-aware training at int4', `${SMALL}&runs=grpo&r1.batch=16&r1.G=4&r1.qat=int4&r1.quantEval=int8`, [3]],
];

/** The cases above run the default MLP policy; each again with a GRU (and a GRU critic for PPO). */
const GRU_CASES: [string, string, number[]][] = CASES.filter(([, h]) => !h.includes('net=') && !h.includes('experts')).map(([n, h, c]) => [`${n} (GRU)`, `${h}&net=gru`, c.slice(0, 1)]);

describe('a restored run continues exactly as one that never stopped', () => {
  for (const [name, hash, cuts] of [...CASES, ...GRU_CASES]) {
    it(name, async () => {
      const cfg = configOf(hash);
      const whole = withoutTime(await runSession(cfg));
      for (const cut of cuts) {
        const { rows } = await interrupted(cfg, cut);
        expect(withoutTime(rows), `cut at step ${cut}`).toEqual(whole);
      }
    }, 60_000);
  }

  it('a run taught by another run, restored with that run\'s final policy', async () => {
    const cfg = configOf(`${SMALL}&runs=grpo,sft&r1.batch=16&r1.G=4&r2.batch=16&r2.teacher=r1`);
    let teacher: Policy | null = null;
    await runSession(cfg, 0, 0, {}, (p) => (teacher = p));
    const whole = withoutTime(await runSession(cfg, 1, 0, { teacher }));
    expect(withoutTime((await interrupted(cfg, 3, 1, { teacher })).rows)).toEqual(whole);
  }, 60_000);

  it('restoring a finished run gives its final policy; the policy it saved is the one it had', async () => {
    const cfg = configOf(`${SMALL}&runs=grpo&r1.batch=16&r1.G=4`);
    const a = new Session(cfg);
    while (!a.done) await a.trainStep();
    const p1 = await a.exportPolicy();
    const state = decodeState(encodeState(a.saveState()));
    a.dispose();
    const b = new Session(cfg);
    b.restoreState(state);
    expect(b.done).toBe(true);
    expect(await b.exportPolicy()).toEqual(p1);
    b.dispose();
  });
});

describe('what a checkpoint holds', () => {
  it("a run's identity: its settings, the shared ones and its teacher's, wherever the runs sit; not the other runs'", () => {
    const id = (hash: string, i: number) => runIdentity(configOf(hash), i);
    const base = id('runs=grpo,sft&r2.teacher=r1', 1);
    expect(id('runs=grpo,sft&r2.teacher=r1&r1.seeds=1', 1)).toBe(base);
    expect(id('runs=ppo,grpo,sft&r3.teacher=r2', 2)).toBe(base); // another run before it
    expect(id('runs=grpo,sft&r2.teacher=r1&r1.lr=0.002', 1)).not.toBe(base); // its teacher changed
    expect(id('runs=grpo,sft&r2.teacher=r1&seed=2', 1)).not.toBe(base); // a shared setting
    expect(id('runs=grpo,grpo&r2.lr=0.002', 0)).toBe(id('runs=grpo,grpo&r2.lr=0.003', 0)); // another run's setting
    expect(id('runs=grpo,grpo', 0)).not.toBe(id('runs=grpo,grpo&r2.leak=0.5', 0)); // a leak anywhere adds fresh-set rows
  });

  it('random streams: a stream given another\'s state draws the same numbers, the cached normal too', () => {
    const a = new Rng(7);
    a.next();
    a.normal(); // leaves a cached second draw
    const b = new Rng(99);
    b.setState(a.state());
    expect(Array.from({ length: 5 }, () => b.normal())).toEqual(Array.from({ length: 5 }, () => a.normal()));
    expect(b.int(1000)).toBe(a.int(1000));
    expect(() => b.setState([1, 2, 3] as never)).toThrow(/random stream/);
  });

  it("Adam's step count and moments: a loaded optimiser takes the same steps", () => {
    // Plain arrays stand in for weights: apply() only assigns through the variable list given.
    const grads = [new Float32Array([0.3, -0.2, 0.5]), new Float32Array([-0.1, 0.4, 0.05])];
    const w0 = new Float32Array([1, 2, 3]);
    const run = (opt: Adam, w: Float32Array, g: Float32Array) => {
      let out = w;
      opt.apply([], w, g, 0.5, (u) => ((out = u.slice()), new Float32Array(0)));
      return out;
    };
    const a = new Adam(0.01);
    const w1 = run(a, w0, grads[0]);
    const b = new Adam(0.01);
    b.load(decodeCheckpoint(encodeCheckpoint(a.state())) as ReturnType<Adam['state']>);
    expect(run(b, w1, grads[1])).toEqual(run(a, w1, grads[1]));
    expect(() => b.load({ t: 3, m: new Float64Array(2), v: null })).toThrow(/optimiser/);
  });

  it('the binary format keeps every typed array and value exactly', () => {
    const v = { a: new Float32Array([1.5, -0, NaN, 3e-39]), b: [new Float64Array([Math.PI]), new Int32Array([-7, 2 ** 31 - 1])], c: { d: 'x', e: null, f: [1, 2] }, g: new Uint8Array([255]) };
    const back = decodeCheckpoint(encodeCheckpoint(v)) as typeof v;
    expect(back).toEqual(v);
    expect(back.a).toBeInstanceOf(Float32Array);
    expect(Object.is(back.a[1], -0)).toBe(true);
  });
});

describe('a checkpoint that cannot be used is refused, saying why', () => {
  const cfg = configOf(`${SMALL}&runs=grpo&r1.batch=16&r1.G=4`);
  async function saved(): Promise<Uint8Array> {
    const s = new Session(cfg);
    await s.trainStep();
    const bytes = encodeState(s.saveState());
    s.dispose();
    return bytes;
  }

  it('damaged, cut short, of another version, not a checkpoint', async () => {
    const bytes = await saved();
    const flipped = bytes.slice();
    flipped[bytes.length - 3] ^= 1;
    expect(() => decodeState(flipped)).toThrow(/damaged/);
    expect(() => decodeState(bytes.subarray(0, bytes.length - 100))).toThrow(/damaged|cut short/);
    expect(() => decodeState(bytes.subarray(0, 30))).toThrow(CheckpointError);
    const v2 = bytes.slice();
    new DataView(v2.buffer).setUint32(8, 2, true);
    expect(() => decodeState(v2)).toThrow(/version 2/);
    expect(() => decodeState(new TextEncoder().encode('{"link":"v=1"}'))).toThrow(/not a checkpoint/);
    expect(() => decodeState(encodeCheckpoint({ link: 'v=1' }))).toThrow(/does not hold a run/);
  });

  it('of another experiment, run or seed, or with weights of another size', async () => {
    const state = decodeState(await saved());
    const other = new Session(configOf(`${SMALL}&runs=grpo&r1.batch=16&r1.G=4&r1.lr=0.002`));
    expect(() => other.restoreState(state)).toThrow(/another experiment/);
    other.dispose();
    const two = configOf(`${SMALL}&runs=grpo&r1.batch=16&r1.G=4&r1.seeds=2`);
    const first = new Session(two, 0, 0);
    const firstState = first.saveState();
    first.dispose();
    const second = new Session(two, 0, 1);
    expect(() => second.restoreState(firstState)).toThrow(/cannot resume r1 seed 2/);
    second.dispose();
    const s = new Session(cfg);
    expect(() => s.restoreState({ ...state, policy: state.policy.subarray(1) })).toThrow(/the policy has \d+ weights for \d+/);
    s.dispose();
    const t = new Session(cfg);
    expect(() => t.restoreState({ ...state, step: 99 })).toThrow(/step the run does not have/);
    t.dispose();
  });
});
