/**
 * RLOO: REINFORCE with a leave-one-out baseline (Kool et al. 2019, "Buy 4 REINFORCE samples, get
 * a baseline for free"; Ahmadian et al. 2024, "Back to Basics", eq. 6). Like GRPO it needs no
 * critic; unlike it, each whole completion is one action and there is no ratio clipping.
 *
 * One step:
 *   1. draw B/G prompts, sample G completions each;
 *   2. rewards from the verifier;
 *   3. A_i = r_i - mean_{j != i} r_j   (the other samples of the same prompt are the baseline);
 *   4. loss = -mean_i A_i * log pi(o_i | q), with log pi(o_i | q) = sum_t log pi(o_it | q, o_i<t).
 */
import * as tf from '@tensorflow/tfjs';
import type { Algorithm, RunContext } from './common';
import { addFlops, adam, optimiserState, completionStats, groupStats, optimiserStep, promptsOf, repeatEach, scoreRollout, sumOf } from './common';
import { rlooAdvantages } from '../math/advantages';
import { completionOutputs, oneHotTokens, sampleCompletions, tokenLogProbs } from '../nets/policy';
import type { StepMetrics } from '../metrics';

export function createRloo(ctx: RunContext): Algorithm {
  const { run, shape, policy, task } = ctx;
  const { promptLen: P, maxNew: T, vocab: V } = shape;
  const G = run.G;
  const nPrompts = Math.max(1, Math.round(run.batch / G));
  const opt = adam(run.lr);

  return {
    async step(): Promise<StepMetrics> {
      // 1-2. Rollout and rewards.
      const problems = repeatEach(ctx.problems(nPrompts), G);
      const n = problems.length;
      const prompts = promptsOf(problems, P);
      const ro = await sampleCompletions(policy, shape, prompts, n, ctx.rng.sample, run.temperature);
      ctx.cost.samples += n;
      ctx.cost.tokens += sumOf(ro.mask);
      addFlops(ctx.cost, policy, n * (P + T), false);
      const { rewards, correct } = scoreRollout(ctx, problems, ro);
      const stats = groupStats(rewards, G);

      // 3. Leave-one-out advantages.
      const adv = rlooAdvantages(rewards, G);
      ctx.record({ problems, rollout: ro, rewards, advantages: adv, perToken: false, groupSize: G });

      // 4. REINFORCE on whole-sequence log-probs.
      const mask = tf.tensor2d(ro.mask, [n, T]);
      const advT = tf.tensor1d(Float32Array.from(adv));
      const oneHot = tf.tensor3d(oneHotTokens(ro.tokens, V), [n, T, V]);
      try {
        const r = await optimiserStep(opt, policy.vars, run.maxGradNorm, () => {
          const { logp, entropy } = tokenLogProbs(completionOutputs(policy, prompts, ro.tokens, n, P, T, ro.mask), oneHot, run.temperature);
          const seqLogp = tf.sum(tf.mul(logp, mask), 1); // [n]
          const loss = tf.neg(tf.mean(tf.mul(advT, seqLogp))) as tf.Scalar;
          const ent = tf.div(tf.sum(tf.mul(entropy, mask)), tf.sum(mask)) as tf.Scalar;
          return { loss, extras: [ent] };
        });
        addFlops(ctx.cost, policy, n * (P + T - 1), true);
        return {
          reward: stats.mean,
          reward_std: stats.meanGroupStd,
          frac_reward_zero_std: stats.fracZeroStd,
          entropy: r.extras[0],
          'loss/policy': r.loss,
          grad_norm: r.gradNorm,
          ...completionStats(task, ro, correct),
        };
      } finally {
        tf.dispose([mask, advT, oneHot]);
      }
    },
    ...optimiserState(opt),
    dispose() {
      opt.dispose();
    },
  };
}
