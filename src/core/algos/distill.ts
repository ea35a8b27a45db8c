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
 * The teacher is any TeacherModel: the scripted one, or a learned policy (a file, another run,
 * the previous generation). Its data is fresh samples every step, or (run.dataSize = N > 0) a
 * finite synthetic data set of N samples drawn once per stage, as when each generation of a model
 * is trained on a fixed corpus its parent wrote.
 *
 * One step: B problems -> teacher (or student) completions -> per-token loss, masked mean over
 * valid tokens -> gradient step.
 */
import * as tf from '@tensorflow/tfjs';
import type { Algorithm, RunContext } from './common';
import { addFlops, adam, checkAlgoState, meanLength, optimiserStep, promptsOf, sumOf } from './common';
import { completionMask, completionNll, completionOutputs, oneHotTokens, sampleCompletions, tokenLogProbs } from '../nets/policy';
import type { StepMetrics } from '../metrics';
import type { Problem } from '../tasks/task';

/** Rejection sampling gives up topping up a batch (or a data set) after this many rounds (e.g. a teacher at p=0). */
const MAX_REJECTION_ROUNDS = 20;

export function createDistill(ctx: RunContext, kind: 'sft' | 'rsft' | 'kd'): Algorithm {
  const { run, shape, policy, task, teacher } = ctx;
  const { promptLen: P, maxNew: T, vocab: V, eos } = shape;
  const n = run.batch;
  const opt = adam(run.distillLr);
  const reverse = kind === 'kd' && run.kdDir === 'reverse';

  /** Teacher completions for `problems`, flat [m * T]; a learned teacher's forward passes are paid for. */
  async function teacherSamples(problems: Problem[]): Promise<Int32Array> {
    if (teacher.flopsPerToken) ctx.cost.flops += teacher.flopsPerToken * problems.length * (P + T);
    return teacher.sampleBatch(ctx.rng.teacher, problems);
  }

  /** 'rsft': verified teacher samples only: rounds of `size` draws until `size` are kept. */
  async function verifiedSamples(size: number): Promise<{ problems: Problem[]; tokens: Int32Array }> {
    const keptP: Problem[] = [];
    const keptT: number[] = [];
    let drawn = 0;
    for (let round = 0; keptP.length < size && round < MAX_REJECTION_ROUNDS; round++) {
      const probs = ctx.problems(size);
      const toks = await teacherSamples(probs);
      drawn += size;
      probs.forEach((p, i) => {
        const c = toks.subarray(i * T, (i + 1) * T);
        if (keptP.length < size && task.verify(p, c).correct) {
          keptP.push(p);
          keptT.push(...c);
        }
      });
    }
    ctx.cost.samples += drawn;
    return { problems: keptP, tokens: Int32Array.from(keptT) };
  }

  /**
   * A finite synthetic data set (run.dataSize > 0): N teacher samples drawn once, when the stage
   * starts (for each generation anew), then trained on for the stage's steps. Reverse KD keeps only
   * the prompts: it learns on the student's own samples.
   */
  let data: { problems: Problem[]; tokens: Int32Array } | null = null;
  async function dataSet() {
    if (data) return data;
    const N = run.dataSize;
    if (kind === 'rsft') data = await verifiedSamples(N);
    else {
      const problems = ctx.problems(N);
      data = { problems, tokens: reverse ? new Int32Array(0) : await teacherSamples(problems) };
      ctx.cost.samples += N;
    }
    return data;
  }

  /** This step's examples: fresh teacher samples, or a minibatch (with replacement) of the data set. */
  async function examples(): Promise<{ problems: Problem[]; tokens: Int32Array | null }> {
    if (run.dataSize > 0) {
      const d = await dataSet();
      if (d.problems.length === 0) return { problems: [], tokens: null };
      const idx = Array.from({ length: n }, () => ctx.rng.minibatch.int(d.problems.length));
      const problems = idx.map((i) => d.problems[i]);
      if (reverse) return { problems, tokens: null };
      const tokens = new Int32Array(n * T);
      idx.forEach((i, k) => tokens.set(d.tokens.subarray(i * T, (i + 1) * T), k * T));
      return { problems, tokens };
    }
    if (kind === 'rsft') return verifiedSamples(n);
    const problems = ctx.problems(n);
    ctx.cost.samples += n;
    return { problems, tokens: reverse ? null : await teacherSamples(problems) };
  }

  return {
    async step(): Promise<StepMetrics> {
      const ex = await examples();
      const problems = ex.problems;
      const m = problems.length;
      if (m === 0) return {};
      const prompts = promptsOf(problems, P);
      let tokens: Int32Array;
      if (ex.tokens) tokens = ex.tokens;
      else {
        // Reverse KD: the student's own samples.
        const ro = await sampleCompletions(policy, shape, prompts, m, ctx.rng.sample, run.temperature);
        addFlops(ctx.cost, policy, m * (P + T), false);
        tokens = ro.tokens;
      }
      const maskArr = completionMask(tokens, m, T, eos);
      ctx.cost.tokens += sumOf(maskArr);
      let teacherProbs: tf.Tensor3D | null = null;
      if (kind === 'kd') {
        if (teacher.flopsPerToken) ctx.cost.flops += teacher.flopsPerToken * m * (P + T - 1);
        teacherProbs = tf.tensor3d(await teacher.distributionsBatch(problems, tokens), [m, T, V]);
      }
      const mask = tf.tensor2d(maskArr, [m, T]);
      const oneHot = kind === 'kd' ? tf.tensor3d(oneHotTokens(tokens, V), [m, T, V]) : null;
      try {
        const r = await optimiserStep(opt, policy.vars, run.maxGradNorm, () => {
          if (kind !== 'kd') {
            // cross-entropy on the sampled tokens
            const { loss, entropy } = completionNll(policy, prompts, tokens, m, P, T, maskArr, mask);
            return { loss, extras: [entropy] };
          }
          const logits = completionOutputs(policy, prompts, tokens, m, P, T, maskArr);
          const { entropy, logProbs } = tokenLogProbs(logits, oneHot!);
          let perTok: tf.Tensor2D; // [m, T]
          if (!reverse) {
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
        mask.dispose();
        oneHot?.dispose();
        teacherProbs?.dispose();
      }
    },
    save: () => ({ opts: [opt.state()], nets: [], data: data && { problems: data.problems, tokens: data.tokens.slice() } }),
    load(s) {
      checkAlgoState(s, 1, []);
      opt.load(s.opts[0]);
      const d = s.data;
      if (d && !(Array.isArray(d.problems) && d.tokens instanceof Int32Array && d.tokens.length === (reverse ? 0 : d.problems.length * T))) throw new Error("the stage's saved data set does not fit");
      data = d ? { problems: d.problems, tokens: d.tokens.slice() } : null;
    },
    dispose() {
      opt.dispose();
    },
  };
}
