/**
 * Distillation from the flawed teacher (src/core/teacher.ts), three ways:
 * - 'sft': supervised fine-tuning on teacher samples (sequence-level KD, Kim & Rush 2016; the
 *   cold-start data of DeepSeek-R1, section 2.3.1). The student learns the teacher's answer
 *   distribution, and so its greedy answer can at best be the teacher's most likely answer:
 *   the ceiling.
 * - 'rsft': rejection sampling: SFT only on teacher samples the verifier accepts (R1's
 *   rejection-sampling SFT, section 2.3.3). Clean data, but a blind spot is then never shown.
 * - 'kd': soft distillation toward the teacher's token distribution (Hinton et al. 2015):
 *   forward KL(teacher || student) along teacher samples, or reverse KL(student || teacher) along
 *   the student's own samples (mode-seeking, as in MiniLLM, Gu et al. 2024).
 *
 * One step: draw B problems -> teacher (or student) completions -> per-token loss, masked mean
 * over valid tokens -> gradient step.
 */
import * as tf from '@tensorflow/tfjs';
import type { Algorithm, RunContext } from './common';
import { addFlops, adam, meanLength, optimiserStep, promptsOf, sumOf } from './common';
import { completionMask, completionOutputs, oneHotTokens, sampleCompletions, tokenLogProbs } from '../nets/policy';
import type { StepMetrics } from '../metrics';
import type { Problem } from '../tasks/task';

/** Rejection sampling gives up topping up a batch after this many rounds (e.g. a teacher at p=0). */
const MAX_REJECTION_ROUNDS = 20;

export function createDistill(ctx: RunContext, kind: 'sft' | 'rsft' | 'kd'): Algorithm {
  const { run, shape, policy, task, teacher } = ctx;
  const { promptLen: P, maxNew: T, vocab: V, eos } = shape;
  const n = run.batch;
  const opt = adam(run.distillLr);

  /** Teacher completions for `problems`, flat [m * T]. */
  function teacherSamples(problems: Problem[]): Int32Array {
    const toks = new Int32Array(problems.length * T);
    problems.forEach((p, i) => toks.set(teacher.sample(ctx.rng.teacher, p), i * T));
    return toks;
  }

  /** 'rsft': verified teacher samples only, topped up to n. */
  function verifiedSamples(): { problems: Problem[]; tokens: Int32Array } {
    const keptP: Problem[] = [];
    const keptT: number[] = [];
    let drawn = 0;
    for (let round = 0; keptP.length < n && round < MAX_REJECTION_ROUNDS; round++) {
      const probs = task.sample(ctx.rng.task, n);
      const toks = teacherSamples(probs);
      drawn += n;
      probs.forEach((p, i) => {
        const c = toks.subarray(i * T, (i + 1) * T);
        if (keptP.length < n && task.verify(p, c).correct) {
          keptP.push(p);
          keptT.push(...c);
        }
      });
    }
    ctx.cost.samples += drawn;
    return { problems: keptP, tokens: Int32Array.from(keptT) };
  }

  return {
    async step(): Promise<StepMetrics> {
      let problems: Problem[];
      let tokens: Int32Array;
      const reverse = kind === 'kd' && run.kdDir === 'reverse';
      if (kind === 'rsft') {
        ({ problems, tokens } = verifiedSamples());
        if (problems.length === 0) return {};
      } else {
        problems = task.sample(ctx.rng.task, n);
        if (reverse) {
          const ro = await sampleCompletions(policy, shape, promptsOf(problems, P), n, ctx.rng.sample, run.temperature);
          addFlops(ctx.cost, policy, n * (P + T), false);
          tokens = ro.tokens;
        } else {
          tokens = teacherSamples(problems);
        }
        ctx.cost.samples += n;
      }
      const m = problems.length;
      const prompts = promptsOf(problems, P);
      const maskArr = completionMask(tokens, m, T, eos);
      ctx.cost.tokens += sumOf(maskArr);
      const mask = tf.tensor2d(maskArr, [m, T]);
      const oneHot = tf.tensor3d(oneHotTokens(tokens, V), [m, T, V]);
      let teacherProbs: tf.Tensor3D | null = null;
      if (kind === 'kd') {
        const tp = new Float32Array(m * T * V);
        problems.forEach((p, i) => tp.set(teacher.tokenDistributions(p, tokens.subarray(i * T, (i + 1) * T)), i * T * V));
        teacherProbs = tf.tensor3d(tp, [m, T, V]);
      }
      try {
        const r = await optimiserStep(opt, policy.vars, run.maxGradNorm, () => {
          const { logp, entropy, logProbs } = tokenLogProbs(completionOutputs(policy, prompts, tokens, m, P, T), oneHot);
          let perTok: tf.Tensor2D; // [m, T]
          if (kind !== 'kd') {
            perTok = tf.neg(logp) as tf.Tensor2D; // cross-entropy on the sampled tokens
          } else if (!reverse) {
            // KL(p_T || p_S) = sum_v p_T (log p_T - log p_S)
            perTok = tf.sum(tf.mul(teacherProbs!, tf.sub(tf.log(teacherProbs!), logProbs)), -1) as tf.Tensor2D;
          } else {
            // KL(p_S || p_T) = sum_v p_S (log p_S - log p_T), exact over the vocabulary
            perTok = tf.sum(tf.mul(tf.exp(logProbs), tf.sub(logProbs, tf.log(teacherProbs!))), -1) as tf.Tensor2D;
          }
          const denom = tf.sum(mask);
          const loss = tf.div(tf.sum(tf.mul(perTok, mask)), denom) as tf.Scalar;
          const ent = tf.div(tf.sum(tf.mul(entropy, mask)), denom) as tf.Scalar;
          return { loss, extras: [ent] };
        });
        addFlops(ctx.cost, policy, m * (P + T - 1), true);
        return {
          'loss/policy': r.loss,
          entropy: r.extras[0],
          grad_norm: r.gradNorm,
          'completions/mean_length': meanLength(maskArr, m),
        };
      } finally {
        tf.dispose([mask, oneHot]);
        teacherProbs?.dispose();
      }
    },
    dispose() {
      opt.dispose();
    },
  };
}
