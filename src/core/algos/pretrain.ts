/**
 * Pretraining: a base model (issue 10). Before any RL, the policy is trained by next-token
 * prediction on a fixed corpus (src/core/corpus.ts): mostly direct answers, some wrong on hard
 * items, and a minority of correct worked solutions. It comes out with a latent habit (it shows
 * its work some of the time) that RL with an answer-only reward may find worth growing: the toy
 * version of the base model DeepSeek-R1-Zero started from.
 *
 * One step: B problems -> corpus completions (fresh draws from the corpus's fixed distribution) ->
 * cross-entropy on every completion token, masked mean -> gradient step.
 */
import * as tf from '@tensorflow/tfjs';
import type { Algorithm, RunContext } from './common';
import { addFlops, adam, optimiserState, optimiserStep, promptsOf, sumOf } from './common';
import { corpusCompletions } from '../corpus';
import { completionMask, completionNll } from '../nets/policy';
import type { StepMetrics } from '../metrics';

export function createPretrain(ctx: RunContext): Algorithm {
  const { run, shape, policy, task } = ctx;
  const { promptLen: P, maxNew: T, eos } = shape;
  const n = run.batch;
  const opt = adam(run.distillLr);
  const mix = { worked: run.corpusWorked, error: run.corpusError };

  return {
    async step(): Promise<StepMetrics> {
      const problems = ctx.problems(n);
      const tokens = corpusCompletions(task, problems, ctx.rng.teacher, mix);
      const prompts = promptsOf(problems, P);
      const maskArr = completionMask(tokens, n, T, eos);
      ctx.cost.samples += n;
      ctx.cost.tokens += sumOf(maskArr);
      const mask = tf.tensor2d(maskArr, [n, T]);
      try {
        const r = await optimiserStep(opt, policy.vars, run.maxGradNorm, () => {
          // The mean of -log p(token) over the kept tokens (negating is exact: the same bits as -(sum of log p) / count)
          const { loss, entropy } = completionNll(policy, prompts, tokens, n, P, T, maskArr, mask);
          return { loss, extras: [entropy] };
        });
        addFlops(ctx.cost, policy, n * (P + T - 1), true);
        return { 'loss/policy': r.loss, entropy: r.extras[0], grad_norm: r.gradNorm };
      } finally {
        mask.dispose();
      }
    },
    ...optimiserState(opt),
    dispose() {
      opt.dispose();
    },
  };
}
