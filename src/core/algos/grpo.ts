/**
 * GRPO: Group Relative Policy Optimization (Shao et al. 2024, DeepSeekMath, section 4.1,
 * Algorithm 1 and eq. 3), with the variants that followed it:
 * - Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-Like Training"): no std scaling of the
 *   advantages (advStd = 'none') and a constant-length loss normaliser (agg = 'constant');
 * - DAPO (Yu et al. 2025): clip-higher (clipHigh > clipLow), token-level loss (agg = 'token'),
 *   dynamic sampling (drop groups whose rewards are all equal: they carry no gradient).
 *
 * One step, top to bottom as in Algorithm 1:
 *   1. draw B/G prompts; sample G completions for each with the current policy (pi_old);
 *   2. score each completion with the verifier -> rewards;
 *   3. advantages relative to the group: A_i = (r_i - mean_g) / (std_g + eps)   (eq. in 4.1.2);
 *   4. mu iterations of: the clipped surrogate per token, minus beta * k3 KL to the reference
 *      policy (eq. 3), averaged per the chosen aggregation; gradient step.
 */
import * as tf from '@tensorflow/tfjs';
import type { RunContext, Algorithm } from './common';
import { addFlops, adam, optimiserState, completionStats, groupStats, meanOf, optimiserStep, promptsOf, repeatEach, scoreRollout, sumOf } from './common';
import { groupNormalize } from '../math/advantages';
import { grpoLossTf } from '../math/tf-losses';
import { completionOutputs, oneHotTokens, sampleCompletions, tokenLogProbs, type Rollout } from '../nets/policy';
import type { SeqNet } from '../nets/net';
import { stopGradient } from '../nets/layers';
import type { StepMetrics } from '../metrics';
import type { Problem } from '../tasks/task';

/** Keep only the groups listed, from a rollout of groups of size G. */
function selectGroups(ro: Rollout, problems: Problem[], rewards: Float64Array, keep: number[], G: number, P: number) {
  const n = keep.length * G;
  const T = ro.T;
  const out: Rollout = { n, T, prompts: new Int32Array(n * P), tokens: new Int32Array(n * T), mask: new Float32Array(n * T), logp: new Float32Array(n * T) };
  const probs: Problem[] = [];
  const r = new Float64Array(n);
  keep.forEach((g, k) => {
    for (let j = 0; j < G; j++) {
      const src = g * G + j;
      const dst = k * G + j;
      out.prompts.set(ro.prompts.subarray(src * P, src * P + P), dst * P);
      out.tokens.set(ro.tokens.subarray(src * T, src * T + T), dst * T);
      out.mask.set(ro.mask.subarray(src * T, src * T + T), dst * T);
      out.logp.set(ro.logp.subarray(src * T, src * T + T), dst * T);
      probs.push(problems[src]);
      r[dst] = rewards[src];
    }
  });
  return { ro: out, problems: probs, rewards: r };
}

/** Concatenate rollouts with the same T. */
function concatRollouts(parts: Rollout[], P: number): Rollout {
  const n = parts.reduce((s, p) => s + p.n, 0);
  const T = parts[0].T;
  const out: Rollout = { n, T, prompts: new Int32Array(n * P), tokens: new Int32Array(n * T), mask: new Float32Array(n * T), logp: new Float32Array(n * T) };
  let o = 0;
  for (const p of parts) {
    out.prompts.set(p.prompts, o * P);
    out.tokens.set(p.tokens, o * T);
    out.mask.set(p.mask, o * T);
    out.logp.set(p.logp, o * T);
    o += p.n;
  }
  return out;
}

/** DAPO's dynamic sampling may resample at most this many extra rounds per step. */
const MAX_RESAMPLE_ROUNDS = 3;

export function createGrpo(ctx: RunContext, ref: SeqNet | null): Algorithm {
  const { run, shape, policy, task } = ctx;
  const { promptLen: P, maxNew: T, vocab: V } = shape;
  const G = run.G;
  const nPrompts = Math.max(1, Math.round(run.batch / G));
  const opt = adam(run.lr);

  async function rolloutGroups(k: number) {
    const problems = repeatEach(ctx.problems(k), G);
    const prompts = promptsOf(problems, P);
    const ro = await sampleCompletions(policy, shape, prompts, problems.length, ctx.rng.sample, run.temperature);
    ctx.cost.samples += ro.n;
    ctx.cost.tokens += sumOf(ro.mask);
    addFlops(ctx.cost, policy, ro.n * (P + T), false);
    const { rewards, correct } = scoreRollout(ctx, problems, ro);
    return { ro, problems, rewards, correct };
  }

  return {
    async step(): Promise<StepMetrics> {
      // 1-2. Sample G completions per prompt and score them with the verifier.
      const sampled = await rolloutGroups(nPrompts);
      let { ro, problems, rewards } = sampled;
      const first = groupStats(rewards, G);
      const metrics: StepMetrics = {
        reward: first.mean,
        reward_std: first.meanGroupStd,
        frac_reward_zero_std: first.fracZeroStd,
        ...completionStats(task, ro, sampled.correct),
      };
      // DAPO dynamic sampling: keep only groups with some spread; top up with fresh groups.
      if (run.dynamicSampling) {
        let kept = selectGroups(ro, problems, rewards, first.informative, G, P);
        for (let round = 0; kept.ro.n < nPrompts * G && round < MAX_RESAMPLE_ROUNDS; round++) {
          const more = await rolloutGroups(nPrompts - kept.ro.n / G);
          const s = groupStats(more.rewards, G);
          const add = selectGroups(more.ro, more.problems, more.rewards, s.informative, G, P);
          kept = {
            ro: concatRollouts([kept.ro, add.ro], P),
            problems: [...kept.problems, ...add.problems],
            rewards: Float64Array.from([...kept.rewards, ...add.rewards]),
          };
        }
        if (kept.ro.n === 0) return metrics; // no group carries signal: nothing to learn from
        ({ ro, problems, rewards } = kept);
      }
      const n = ro.n;

      // 3. Group-relative advantages.
      const adv = groupNormalize(rewards, G, { std: run.advStd, scale: run.advScale });
      ctx.record({ problems, rollout: ro, rewards, advantages: adv, perToken: false, groupSize: G });

      // 4. mu iterations of the clipped objective. pi_old is the sampling policy: with mu = 1
      // the ratio is exactly 1 and we reuse the live log-probs (detached) instead of a pass.
      const mask = tf.tensor2d(ro.mask, [n, T]);
      const advT = tf.tensor1d(Float32Array.from(adv));
      const oneHot = tf.tensor3d(oneHotTokens(ro.tokens, V), [n, T, V]);
      const logpOf = (net: SeqNet) => tokenLogProbs(completionOutputs(net, ro.prompts, ro.tokens, n, P, T, ro.mask), oneHot, run.temperature);
      const refLogp = ref && run.beta > 0 ? tf.tidy(() => logpOf(ref).logp) : null;
      if (refLogp) addFlops(ctx.cost, ref!, n * (P + T - 1), false);
      const oldLogp = run.mu > 1 ? tf.tidy(() => logpOf(policy).logp) : null;
      if (oldLogp) addFlops(ctx.cost, policy, n * (P + T - 1), false);
      const clipLow: number[] = [];
      const clipHigh: number[] = [];
      try {
        for (let it = 0; it < run.mu; it++) {
          const r = await optimiserStep(opt, policy.vars, run.maxGradNorm, () => {
            const { logp, entropy } = logpOf(policy);
            const old = oldLogp ?? stopGradient(logp);
            const l = grpoLossTf(logp, old, refLogp, advT, mask, {
              clipLow: run.clipLow, clipHigh: run.clipHigh, beta: run.beta, agg: run.agg, maxLen: T,
            });
            const ent = tf.div(tf.sum(tf.mul(entropy, mask)), tf.sum(mask)) as tf.Scalar;
            return { loss: l.loss, extras: [ent, l.clipLowFrac, l.clipHighFrac, l.kl] };
          });
          addFlops(ctx.cost, policy, n * (P + T - 1), true);
          clipLow.push(r.extras[1]);
          clipHigh.push(r.extras[2]);
          if (it === 0) {
            metrics['loss/policy'] = r.loss;
            metrics.grad_norm = r.gradNorm;
            metrics.entropy = r.extras[0];
            if (refLogp) metrics.kl = r.extras[3];
          }
        }
        // Clipping can only act from the second iteration on (the ratio is 1 at the first).
        metrics['clip_ratio/low_mean'] = meanOf(clipLow);
        metrics['clip_ratio/high_mean'] = meanOf(clipHigh);
      } finally {
        tf.dispose([mask, advT, oneHot]);
        if (refLogp) refLogp.dispose();
        if (oldLogp) oldLogp.dispose();
      }
      return metrics;
    },
    ...optimiserState(opt),
    dispose() {
      opt.dispose();
    },
  };
}
