/**
 * What every algorithm file shares: the run context it is handed, the reward function, and the
 * optimiser step (grads -> global-norm clip -> Adam), written once.
 */
import * as tf from '@tensorflow/tfjs';
import type { ExperimentConfig, RunConfig } from '../config';
import type { StepMetrics } from '../metrics';
import type { SeqNet } from '../nets/net';
import type { Rollout, SeqShape } from '../nets/policy';
import type { Rng } from '../rng';
import type { Teacher } from '../teacher';
import type { Problem, Task, Verdict } from '../tasks/task';

/** Cumulative cost of a run: what each method pays. */
export interface Cost {
  /** Completions sampled (RL) or teacher examples consumed (distillation). */
  samples: number;
  /** Completion tokens sampled or trained on. */
  tokens: number;
  /** Floating-point operations of every forward and backward pass (2 per multiply-add). */
  flops: number;
}

export interface RunContext {
  exp: ExperimentConfig;
  run: RunConfig;
  task: Task;
  teacher: Teacher;
  shape: SeqShape;
  policy: SeqNet;
  /** Named random streams: adding draws to one never shifts another. */
  rng: { task: Rng; sample: Rng; teacher: Rng; minibatch: Rng; init: Rng };
  cost: Cost;
  /** Makes a fresh net of the policy's family with `outDim` outputs (a critic: 1). */
  makeNet(outDim: number): SeqNet;
  /** Keep the latest batch for the inspector (cheap: references, no copies or passes). */
  record(batch: RecordedBatch): void;
}

/** The latest batch of an RL step, as the inspector shows it. */
export interface RecordedBatch {
  problems: Problem[];
  rollout: Rollout;
  rewards: ArrayLike<number>;
  /** One advantage per completion (GRPO, RLOO) or per token [n * T] (PPO). */
  advantages: ArrayLike<number>;
  perToken: boolean;
  /** Group size (1 for PPO). */
  groupSize: number;
}

/** An algorithm stage: one update per `step()`. Owns its optimiser(s) and any extra nets. */
export interface Algorithm {
  step(): Promise<StepMetrics>;
  dispose(): void;
}

export class DivergenceError extends Error {
  constructor(what: string) {
    super(`training diverged: ${what} is not a finite number. Try a smaller learning rate or a tighter gradient clip.`);
    this.name = 'DivergenceError';
  }
}

/** The reward of one verdict under the experiment's reward setting. */
export function rewardOf(run: RunConfig, v: Verdict): number {
  if (v.correct) return 1;
  if (run.reward === 'format') return v.wellFormed ? run.formatReward : 0;
  if (run.reward === 'partial') return v.partial;
  return 0;
}

/** Score a rollout: rewards and correctness per completion. */
export function scoreRollout(ctx: RunContext, problems: Problem[], ro: Rollout): { rewards: Float64Array; correct: Uint8Array } {
  const rewards = new Float64Array(ro.n);
  const correct = new Uint8Array(ro.n);
  for (let i = 0; i < ro.n; i++) {
    const v = ctx.task.verify(problems[i], ro.tokens.subarray(i * ro.T, (i + 1) * ro.T));
    rewards[i] = rewardOf(ctx.run, v);
    correct[i] = v.correct ? 1 : 0;
  }
  return { rewards, correct };
}

/** Prompts of problems, flat [n * promptLen]. */
export function promptsOf(problems: Problem[], P: number): Int32Array {
  const x = new Int32Array(problems.length * P);
  problems.forEach((p, i) => x.set(p.prompt, i * P));
  return x;
}

/** Each problem repeated `g` times in a row (a group per prompt). */
export function repeatEach<T>(xs: T[], g: number): T[] {
  const out: T[] = [];
  for (const x of xs) for (let k = 0; k < g; k++) out.push(x);
  return out;
}

export function sumOf(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return s;
}

/**
 * Reward statistics of contiguous groups of size G: the mean reward, the mean of the groups'
 * sample stds (TRL's reward_std), the share of groups whose rewards are all equal (TRL's
 * frac_reward_zero_std: those groups have zero advantage, hence no learning signal), and the
 * indices of the groups that do carry signal.
 */
export function groupStats(rewards: ArrayLike<number>, G: number) {
  const nGroups = Math.floor(rewards.length / G);
  let stdSum = 0;
  const informative: number[] = [];
  for (let g = 0; g < nGroups; g++) {
    const grp = Array.from({ length: G }, (_, j) => rewards[g * G + j]);
    stdSum += stdOf(grp);
    if (grp.some((r) => r !== grp[0])) informative.push(g);
  }
  return {
    mean: meanOf(rewards),
    meanGroupStd: nGroups ? stdSum / nGroups : 0,
    fracZeroStd: nGroups ? 1 - informative.length / nGroups : 0,
    informative,
  };
}

export function meanOf(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i];
  return xs.length ? s / xs.length : NaN;
}

export function stdOf(xs: ArrayLike<number>): number {
  const m = meanOf(xs);
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += (xs[i] - m) ** 2;
  return xs.length > 1 ? Math.sqrt(s / (xs.length - 1)) : 0;
}

/**
 * Mean completion length of right and of wrong answers (the length bias Dr. GRPO describes shows
 * in the wrong ones). A side with no completions is left out.
 */
export function lengthsByCorrectness(mask: Float32Array, correct: Uint8Array, T: number): StepMetrics {
  const sum = [0, 0];
  const cnt = [0, 0];
  for (let i = 0; i < correct.length; i++) {
    let len = 0;
    for (let t = 0; t < T; t++) len += mask[i * T + t];
    sum[correct[i]] += len;
    cnt[correct[i]] += 1;
  }
  const m: StepMetrics = {};
  if (cnt[1]) m['completions/mean_length_correct'] = sum[1] / cnt[1];
  if (cnt[0]) m['completions/mean_length_incorrect'] = sum[0] / cnt[0];
  return m;
}

/** Mean completion length (valid tokens per completion). */
export function meanLength(mask: Float32Array, n: number): number {
  let s = 0;
  for (let i = 0; i < mask.length; i++) s += mask[i];
  return s / n;
}

/**
 * One optimiser step: gradients of `lossFn` w.r.t. `vars`, clipped to a global norm of
 * `maxGradNorm` (0: no clipping), applied with `opt`. `lossFn` returns the scalar loss plus any
 * diagnostics (scalars) to read back; everything is read back once, batched, after the update.
 */
export async function optimiserStep(
  opt: tf.Optimizer,
  vars: tf.Variable[],
  maxGradNorm: number,
  lossFn: () => { loss: tf.Scalar; extras?: tf.Scalar[] },
): Promise<{ loss: number; gradNorm: number; extras: number[] }> {
  let extras: tf.Scalar[] = [];
  const packed = tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const r = lossFn();
      extras = (r.extras ?? []).map((e) => tf.keep(e));
      return r.loss;
    }, vars);
    const gs = vars.map((v) => grads[v.name]);
    const norm = tf.sqrt(tf.addN(gs.map((g) => tf.sum(tf.square(g))))) as tf.Scalar;
    let scaled = gs;
    if (maxGradNorm > 0) {
      const scale = tf.minimum(1, tf.div(maxGradNorm, tf.add(norm, 1e-6)));
      scaled = gs.map((g) => tf.mul(g, scale));
    }
    const named: tf.NamedTensorMap = {};
    vars.forEach((v, i) => (named[v.name] = scaled[i]));
    opt.applyGradients(named);
    return tf.stack([value, norm, ...extras]);
  });
  tf.dispose(extras);
  const vals = await packed.data();
  packed.dispose();
  const loss = vals[0];
  const gradNorm = vals[1];
  if (!Number.isFinite(loss)) throw new DivergenceError('the loss');
  if (!Number.isFinite(gradNorm)) throw new DivergenceError('the gradient norm');
  return { loss, gradNorm, extras: Array.from(vals.slice(2)) };
}

/** Adam as the reference uses it (PyTorch defaults: betas 0.9/0.999, eps 1e-8). */
export function adam(lr: number): tf.Optimizer {
  return tf.train.adam(lr, 0.9, 0.999, 1e-8);
}

/** Account for `tokens` positions through `net`: forward only, or forward + backward (3x). */
export function addFlops(cost: Cost, net: SeqNet, tokens: number, backward: boolean): void {
  cost.flops += net.flopsPerToken * tokens * (backward ? 3 : 1);
}
