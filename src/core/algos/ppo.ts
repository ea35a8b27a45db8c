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
 *      advantages and returns; optional whitening;
 *   4. epochs x minibatches of: the clipped policy loss + vfCoef x the clipped value loss;
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
      const [oldValues, refLogp] = await (async () => {
        const oh = tf.tensor3d(oneHotAll, [n, T, V]);
        const ts = tf.tidy(() => {
          const out = [tf.mul(valuesOf(prompts, ro.tokens, n, ro.mask), tf.tensor2d(ro.mask, [n, T]))];
          if (ref && run.klCoef > 0) out.push(logpOf(ref, prompts, ro.tokens, oh, n, ro.mask).logp);
          return out;
        });
        oh.dispose();
        const data = await Promise.all(ts.map((t) => t.data() as Promise<Float32Array>));
        tf.dispose(ts);
        return [data[0], data[1] ?? null] as const;
      })();
      addFlops(ctx.cost, critic, n * L, false);
      if (refLogp) addFlops(ctx.cost, ref!, n * L, false);

      // 3. Per-token rewards, GAE with the rollout-time values, whitening.
      const tokRewards = ppoTokenRewards(rewards, ro.mask, n, T, { oldLogp, refLogp: refLogp ?? undefined, klCoef: refLogp ? run.klCoef : 0 });
      const { advantages, returns } = gae(tokRewards, oldValues, ro.mask, n, T, run.gamma, run.gaeLambda);
      const adv = run.whiten ? whiten(advantages, ro.mask) : advantages;
      ctx.record({ problems, rollout: ro, rewards, advantages: adv, perToken: true, groupSize: 1 });

      // 4. Epochs x minibatches of clipped policy and value updates (float32 copies made once).
      const adv32 = Float32Array.from(adv);
      const returns32 = Float32Array.from(returns);
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
          const t = {
            oh: tf.tensor3d(rows(oneHotAll, idx, T * V), [m, T, V]),
            mask: tf.tensor2d(mbMask, [m, T]),
            old: tf.tensor2d(rows(oldLogp, idx, T), [m, T]),
            adv: tf.tensor2d(rows(adv32, idx, T), [m, T]),
            oldV: tf.tensor2d(rows(oldValues, idx, T), [m, T]),
            ret: tf.tensor2d(rows(returns32, idx, T), [m, T]),
          };
          try {
            const a = await optimiserStep(actorOpt, policy.vars, run.maxGradNorm, () => {
              const { logp, entropy } = logpOf(policy, pr, tok, t.oh, m, mbMask);
              const l = ppoPolicyLossTf(logp, t.old, t.adv, t.mask, { clipLow: run.clipLow, clipHigh: run.clipHigh });
              const ent = tf.div(tf.sum(tf.mul(entropy, t.mask)), tf.sum(t.mask)) as tf.Scalar;
              return { loss: l.loss, extras: [ent, l.clipLowFrac, l.clipHighFrac] };
            });
            const c = await optimiserStep(criticOpt, critic.vars, run.maxGradNorm, () => {
              const values = tf.mul(valuesOf(pr, tok, m, mbMask), t.mask);
              const l = ppoValueLossTf(values as tf.Tensor2D, t.oldV, t.ret, t.mask, { clipVf: run.vfClip });
              return { loss: tf.mul(l.loss, run.vfCoef) as tf.Scalar, extras: [l.loss] };
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
            tf.dispose(Object.values(t));
          }
        }
      }

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
