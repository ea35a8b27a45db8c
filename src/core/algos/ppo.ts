/**
 * PPO with a learned critic, as RLHF uses it (Schulman et al. 2017, "Proximal Policy Optimization
 * Algorithms", eq. 7 and 9; GAE from Schulman et al. 2016, eq. 16; the token-level RLHF setting of
 * Ouyang et al. 2022 and TRL's PPOTrainer). This is the costlier baseline GRPO was built to
 * replace: a second network of the policy's size, trained alongside it.
 *
 * One step, top to bottom (cleanrl's ppo.py order):
 *   1. rollout: one completion per prompt with the current policy;
 *   2. rewards: the verifier's score on the last token (+ an optional per-token KL penalty
 *      -klCoef * (log pi_old - log pi_ref), InstructGPT);
 *   3. pi_old's log-probs (kept from sampling) and the critic's values at rollout time; GAE
 *      advantages and returns; optional whitening (one epoch of one minibatch: the values come
 *      from the critic update's own forward pass, not a pass of their own);
 *   4. epochs x minibatches of: vfCoef x the clipped value loss and the clipped policy loss;
 *      actor and critic have separate variables and optimisers;
 *   5. diagnostics: clip fractions, explained variance of the rollout-time values.
 */
import * as tf from '@tensorflow/tfjs';
import type { Algorithm, RunContext } from './common';
import { addFlops, adam, assignFlat, checkAlgoState, readFlat, completionStats, meanOf, optimiserStep, promptsOf, scoreRollout, stdOf, sumOf } from './common';
import { explainedVariance, gae, ppoTokenRewards, whiten } from '../math/advantages';
import { ppoPolicyLossTf, ppoValueLossTf } from '../math/tf-losses';
import { completionOutputs, oneHotTokens, sampleCompletions, tokenLogProbs } from '../nets/policy';
import type { SeqNet } from '../nets/net';
import type { StepMetrics } from '../metrics';
import { exp } from '../math/libm';
import { readFloats } from '../nets/layers';

/**
 * One epoch of one minibatch takes the critic's rollout-time values from its update's forward pass
 * (the same numbers as a pass of their own; test/learning.test.ts turns this off to compare).
 */
export const criticPassReuse = { enabled: true };

/** Rows `idx` of a flat [n * w] array. */
function rows<A extends Int32Array | Float32Array>(x: A, idx: number[], w: number): A {
  const out = new (x.constructor as new (n: number) => A)(idx.length * w);
  idx.forEach((r, k) => out.set(x.subarray(r * w, r * w + w), k * w));
  return out;
}

export function createPpo(ctx: RunContext, ref: SeqNet | null): Algorithm {
  const { run, shape, policy, task } = ctx;
  const { promptLen: P, maxNew: T, vocab: V } = shape;
  const critic = ctx.makeNet(1);
  const actorOpt = adam(run.lr);
  const criticOpt = adam(run.criticLr);
  const n = run.batch;
  const L = P + T - 1;

  return {
    async step(): Promise<StepMetrics> {
      // 1. Rollout.
      const problems = ctx.problems(n);
      const prompts = promptsOf(problems, P);
      const ro = await sampleCompletions(policy, shape, prompts, n, ctx.rng.sample, run.temperature);
      ctx.cost.samples += n;
      ctx.cost.tokens += sumOf(ro.mask);
      addFlops(ctx.cost, policy, n * (P + T), false);

      // 2. Rewards, and the rollout-time quantities (no gradients).
      const { rewards, correct } = scoreRollout(ctx, problems, ro);
      const oneHotAll = oneHotTokens(ro.tokens, V);
      // Both are weighed by the completion mask, so the nets may skip the positions it drops.
      const logpOf = (net: SeqNet, pr: Int32Array, tok: Int32Array, oh: tf.Tensor3D, m: number, mask: Float32Array) =>
        tokenLogProbs(completionOutputs(net, pr, tok, m, P, T, mask), oh, run.temperature);
      const valuesOf = (pr: Int32Array, tok: Int32Array, m: number, mask: Float32Array) => tf.reshape(completionOutputs(critic, pr, tok, m, P, T, mask), [m, T]);
      // pi_old's log-probs are the sampling-time ones (the same policy, the same function: decoding
      // equals teacher forcing, test/nets.test.ts), so no extra policy pass is needed for them.
      const oldLogp = ro.logp;
      let refLogp: Float32Array | null = null;
      if (ref && run.klCoef > 0) {
        const oh = tf.tensor3d(oneHotAll, [n, T, V]);
        const t = tf.tidy(() => logpOf(ref, prompts, ro.tokens, oh, n, ro.mask).logp);
        oh.dispose();
        refLogp = readFloats(t);
        t.dispose();
        addFlops(ctx.cost, ref, n * L, false);
      }

      // 3. Per-token rewards; GAE with the critic's rollout-time values, whitening. With one epoch
      // of one minibatch those values are the ones its update's forward pass computes (the critic
      // has not changed since the rollout), so they come from there and cost no pass of their own;
      // otherwise a pass before the updates computes them.
      const tokRewards = ppoTokenRewards(rewards, ro.mask, n, T, { oldLogp, refLogp: refLogp ?? undefined, klCoef: refLogp ? run.klCoef : 0 });
      /** The rollout-time values and what GAE makes of them (advantages and returns as float32 copies, made once). */
      const targetsOf = (values: Float32Array) => {
        const { advantages, returns } = gae(tokRewards, values, ro.mask, n, T, run.gamma, run.gaeLambda);
        const adv = run.whiten ? whiten(advantages, ro.mask) : advantages;
        ctx.record({ problems, rollout: ro, rewards, advantages: adv, perToken: true, groupSize: 1 });
        return { values, returns, adv32: Float32Array.from(adv), returns32: Float32Array.from(returns) };
      };
      let targets: ReturnType<typeof targetsOf> | null = null;
      if (!(criticPassReuse.enabled && run.epochs === 1 && run.minibatches === 1)) {
        const t = tf.tidy(() => tf.mul(valuesOf(prompts, ro.tokens, n, ro.mask), tf.tensor2d(ro.mask, [n, T])));
        targets = targetsOf(readFloats(t));
        t.dispose();
        addFlops(ctx.cost, critic, n * L, false);
      }

      // 4. Epochs x minibatches of clipped value and policy updates.
      const mbSize = Math.max(1, Math.floor(n / run.minibatches));
      const acc: Record<string, number[]> = { pg: [], vf: [], gn: [], ent: [], lo: [], hi: [], kl: [] };
      for (let epoch = 0; epoch < run.epochs; epoch++) {
        const order = run.minibatches > 1 ? ctx.rng.minibatch.permutation(n) : Array.from({ length: n }, (_, i) => i);
        for (let k = 0; k < run.minibatches; k++) {
          const idx = order.slice(k * mbSize, (k + 1) * mbSize);
          const m = idx.length;
          const pr = rows(prompts, idx, P);
          const tok = rows(ro.tokens, idx, T);
          const mbMask = rows(ro.mask, idx, T);
          const mask = tf.tensor2d(mbMask, [m, T]);
          try {
            // The critic first: the two nets' updates are independent (the advantages are fixed).
            const c = await optimiserStep(criticOpt, critic.vars, run.maxGradNorm, () => {
              const values = tf.mul(valuesOf(pr, tok, m, mbMask), mask) as tf.Tensor2D;
              targets ??= targetsOf(Float32Array.from(values.dataSync()));
              const oldV = tf.tensor2d(rows(targets.values, idx, T), [m, T]);
              const ret = tf.tensor2d(rows(targets.returns32, idx, T), [m, T]);
              const l = ppoValueLossTf(values, oldV, ret, mask, { clipVf: run.vfClip });
              return { loss: tf.mul(l.loss, run.vfCoef) as tf.Scalar, extras: [l.loss] };
            });
            const a = await optimiserStep(actorOpt, policy.vars, run.maxGradNorm, () => {
              const oh = tf.tensor3d(rows(oneHotAll, idx, T * V), [m, T, V]);
              const { logp, entropy } = logpOf(policy, pr, tok, oh, m, mbMask);
              const old = tf.tensor2d(rows(oldLogp, idx, T), [m, T]);
              const adv = tf.tensor2d(rows(targets!.adv32, idx, T), [m, T]);
              const l = ppoPolicyLossTf(logp, old, adv, mask, { clipLow: run.clipLow, clipHigh: run.clipHigh });
              const ent = tf.div(tf.sum(tf.mul(entropy, mask)), tf.sum(mask)) as tf.Scalar;
              return { loss: l.loss, extras: [ent, l.clipLowFrac, l.clipHighFrac] };
            });
            addFlops(ctx.cost, policy, m * L, true);
            addFlops(ctx.cost, critic, m * L, true);
            acc.pg.push(a.loss);
            acc.gn.push(a.gradNorm);
            acc.ent.push(a.extras[0]);
            acc.lo.push(a.extras[1]);
            acc.hi.push(a.extras[2]);
            acc.vf.push(c.extras[0]);
          } finally {
            mask.dispose();
          }
        }
      }
      const { values: oldValues, returns } = targets!;

      // 5. Diagnostics.
      let klSum = 0;
      if (refLogp) for (let i = 0; i < n * T; i++) if (ro.mask[i]) { const d = refLogp[i] - oldLogp[i]; klSum += exp(d) - d - 1; }
      const metrics: StepMetrics = {
        reward: meanOf(rewards),
        reward_std: stdOf(rewards),
        entropy: meanOf(acc.ent),
        'clip_ratio/low_mean': meanOf(acc.lo),
        'clip_ratio/high_mean': meanOf(acc.hi),
        'loss/policy': meanOf(acc.pg),
        'loss/value': meanOf(acc.vf),
        explained_variance: explainedVariance(oldValues, returns, ro.mask),
        grad_norm: meanOf(acc.gn),
        ...completionStats(task, ro, correct),
      };
      if (refLogp) metrics.kl = klSum / sumOf(ro.mask);
      return metrics;
    },
    save: () => ({ opts: [actorOpt.state(), criticOpt.state()], nets: [readFlat(critic.vars)] }),
    load(s) {
      checkAlgoState(s, 2, [critic.paramCount]);
      actorOpt.load(s.opts[0]);
      criticOpt.load(s.opts[1]);
      assignFlat(critic.vars, s.nets[0]);
    },
    dispose() {
      actorOpt.dispose();
      criticOpt.dispose();
      critic.dispose();
    },
  };
}
