/**
 * Every algorithm is a real learner: a seeded smoke run on the easiest task must learn, from
 * scratch (RL, with partial credit) or from the teacher (distillation). Plus determinism and the
 * tfjs leak test.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { MetricRow } from '../src/core/metrics';
import { Session } from '../src/core/session';
import { configOf, runSession, withoutTime } from './helpers';

// Sorting 3 digits: the easiest task. RL gets partial credit (share of digits in place).
const RL = 'task=sort&sortLen=3&blindSpot=none&r1.reward=partial&steps=200&evalEvery=100&r1.lr=0.003';
const DISTILL = 'task=sort&sortLen=3&blindSpot=none&steps=100&evalEvery=50';

describe('each algorithm learns the easiest task', () => {
  const cases: [string, string, number][] = [
    ['grpo', `${RL}&runs=grpo`, 0.4],
    ['grpo (Dr. GRPO, DAPO clip-higher, token loss, mu=2)', `${RL}&runs=grpo&r1.advStd=none&r1.agg=token&r1.clipHigh=0.28&r1.mu=2&r1.beta=0`, 0.4],
    ['grpo with dynamic sampling', `${RL}&runs=grpo&r1.dynamicSampling=1`, 0.4],
    ['ppo', `${RL}&runs=ppo&r1.criticLr=0.003`, 0.4],
    ['rloo', `${RL}&runs=rloo`, 0.4],
    ['sft', `${DISTILL}&runs=sft`, 0.8],
    ['rsft', `${DISTILL}&runs=rsft`, 0.8],
    ['kd forward', `${DISTILL}&runs=kd`, 0.8],
    ['kd reverse', `${DISTILL}&runs=kd&r1.kdDir=reverse`, 0.8],
  ];
  for (const [name, hash, threshold] of cases) {
    it(name, async () => {
      const rows = await runSession(configOf(hash));
      const first = rows[0]['eval/accuracy']!;
      const last = rows[rows.length - 1]['eval/accuracy']!;
      expect(first).toBeLessThan(0.1);
      expect(last).toBeGreaterThanOrEqual(threshold);
      for (const r of rows.slice(1)) {
        expect(Number.isFinite(r['loss/policy']), JSON.stringify(r)).toBe(true);
        expect(r['cost/samples']).toBeGreaterThan(0);
        expect(r['cost/flops']).toBeGreaterThan(0);
      }
    });
  }
});

describe('metrics', () => {
  it('GRPO reports its diagnostics and leaves out what does not apply', async () => {
    const rows = await runSession(configOf('task=sort&sortLen=3&blindSpot=none&r1.reward=partial&steps=4&evalEvery=2&runs=grpo'));
    const r = rows[1];
    for (const k of ['step', 'stage', 'reward', 'reward_std', 'frac_reward_zero_std', 'kl', 'entropy', 'clip_ratio/low_mean',
      'clip_ratio/high_mean', 'loss/policy', 'grad_norm', 'completions/mean_length', 'eval/accuracy', 'eval/accuracy/duplicates',
      'cost/samples', 'cost/tokens', 'cost/flops', 'time/seconds']) expect(r, k).toHaveProperty(k);
    for (const k of ['loss/value', 'explained_variance', 'teacher/ceiling']) expect(r).not.toHaveProperty(k);
    expect(r['cost/samples']).toBe(2 * 256);
  });

  it('PPO reports its critic; a distil-then-RL pipeline reports the teacher and switches stage', async () => {
    const rows = await runSession(configOf('steps=6&evalEvery=3&runs=sft-ppo&r1.distillSteps=3'));
    expect(rows[1].stage).toBe(0);
    expect(rows[2].stage).toBe(1);
    for (const k of ['loss/value', 'explained_variance', 'teacher/accuracy', 'teacher/ceiling', 'eval/accuracy/units-carry']) expect(rows[2], k).toHaveProperty(k);
    expect(rows[1]).not.toHaveProperty('reward'); // distillation samples no rewards
    expect(rows[2]['teacher/ceiling']).toBeGreaterThan(rows[2]['teacher/accuracy']!);
  });
});

describe('PPO with one epoch of one minibatch', () => {
  it("takes the critic's rollout-time values from its update's forward pass: the same numbers as a pass of their own, one critic forward fewer", async () => {
    const { criticPassReuse } = await import('../src/core/algos/ppo');
    for (const net of ['mlp', 'gru']) {
      const config = configOf(`task=sort&sortLen=3&blindSpot=none&r1.reward=partial&steps=6&evalEvery=2&runs=ppo&r1.batch=32&net=${net}`);
      const reused = withoutTime(await runSession(config));
      criticPassReuse.enabled = false;
      let separate: MetricRow[];
      try {
        separate = withoutTime(await runSession(config));
      } finally {
        criticPassReuse.enabled = true;
      }
      const flops = (rows: MetricRow[]) => rows.map((r) => r['cost/flops']);
      const rest = (rows: MetricRow[]) => rows.map(({ 'cost/flops': _, ...r }) => r);
      expect(rest(reused), net).toEqual(rest(separate));
      expect(reused.at(-1)!['explained_variance'], net).toBeTypeOf('number');
      // Each step saves one critic forward over the batch's positions: the same amount every step.
      const saved = flops(separate).map((f, i) => f! - flops(reused)[i]!);
      expect(saved[0]).toBe(0);
      expect(saved[1]).toBeGreaterThan(0);
      expect(saved[3]).toBe(3 * saved[1]);
    }
  });
});

describe('reproducible', () => {
  it('the same config and seed give the same numbers; another seed does not', async () => {
    const hash = 'task=sort&sortLen=3&blindSpot=none&r1.reward=partial&steps=20&evalEvery=10&runs=grpo&r1.mu=2';
    const a = withoutTime(await runSession(configOf(hash)));
    const b = withoutTime(await runSession(configOf(hash)));
    const c = withoutTime(await runSession(configOf(hash + '&seed=2')));
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });
});

describe('no tensor leaks', () => {
  for (const runs of ['grpo&r1.mu=2&r1.dynamicSampling=1', 'ppo&r1.klCoef=0.05&r1.minibatches=2', 'rloo', 'sft-grpo&r1.distillSteps=3', 'rsft', 'kd&r1.kdDir=reverse', 'grpo&net=gru', 'ppo&net=gru']) {
    it(runs, async () => {
      const s = new Session(configOf(`task=sort&sortLen=3&blindSpot=none&r1.reward=partial&steps=1000&r1.batch=64&runs=${runs}`));
      try {
        const burn = async (k: number) => {
          for (let i = 0; i < k; i++) await s.trainStep();
          await s.evaluate();
          await s.inspect();
        };
        await burn(8); // past any stage switch; optimiser slots exist
        const before = tf.memory().numTensors;
        await burn(10);
        expect(tf.memory().numTensors).toBe(before);
      } finally {
        s.dispose();
      }
    });
  }

  it('dispose frees everything a session made', async () => {
    const before = tf.memory().numTensors;
    const s = new Session(configOf('runs=ppo&r1.batch=32&steps=10'));
    for (let i = 0; i < 3; i++) await s.trainStep();
    s.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('optimiser', () => {
  it("the JS Adam with clipping takes the steps tf.train.adam takes on clipped gradients", async () => {
    const { Adam, optimiserStep } = await import('../src/core/algos/common');
    const { Rng } = await import('../src/core/rng');
    const rng = new Rng(9);
    const shapes = [[3, 4], [4], [2, 2, 2]];
    const init = shapes.map((s) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => rng.normal()));
    const target = shapes.map((s) => Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => rng.normal() * 3));
    const ours = shapes.map((s, i) => tf.variable(tf.tensor(init[i], s)));
    const theirs = shapes.map((s, i) => tf.variable(tf.tensor(init[i], s)));
    const tgt = shapes.map((s, i) => tf.tensor(target[i], s));
    const lossOf = (vs: tf.Variable[]) => tf.addN(vs.map((v, i) => tf.sum(tf.square(tf.sub(v, tgt[i]))))) as tf.Scalar;
    const opt = new Adam(0.05);
    const ref = tf.train.adam(0.05, 0.9, 0.999, 1e-8);
    const maxNorm = 2; // the gradients start far larger: clipping is exercised
    let clipped = 0;
    for (let step = 0; step < 30; step++) {
      const r = await optimiserStep(opt, ours, maxNorm, () => ({ loss: lossOf(ours) }));
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => lossOf(theirs), theirs);
        const gs = theirs.map((v) => grads[v.name]);
        const norm = tf.sqrt(tf.addN(gs.map((g) => tf.sum(tf.square(g))))).dataSync()[0];
        expect(r.gradNorm).toBeCloseTo(norm, 3);
        if (norm > maxNorm) clipped++;
        const scale = Math.min(1, maxNorm / (norm + 1e-6));
        ref.applyGradients(theirs.map((v, i) => ({ name: v.name, tensor: tf.mul(gs[i], scale) })));
      });
      ours.forEach((v, i) => {
        const a = v.dataSync();
        const b = theirs[i].dataSync();
        for (let j = 0; j < a.length; j++) expect(a[j]).toBeCloseTo(b[j], 4);
      });
    }
    expect(clipped).toBeGreaterThan(5);
    const moved = ours[0].dataSync()[0] - init[0][0];
    expect(Math.abs(moved)).toBeGreaterThan(0.1);
    tf.dispose([...ours, ...theirs, ...tgt]);
    ref.dispose();
  });
});
