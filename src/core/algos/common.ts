/**
 * What every algorithm file shares: the run context it is handed, the reward function, and the
 * optimiser step (grads -> global-norm clip -> Adam), written once.
 */
import * as tf from '@tensorflow/tfjs';
import type { ExperimentConfig, RunConfig } from '../config';
import type { StepMetrics } from '../metrics';
import { auxSink, clearAux } from '../nets/moe';
import { type QuantFormat, quantiseAll } from '../quant';
import type { SeqNet } from '../nets/net';
import type { Rollout, SeqShape } from '../nets/policy';
import type { Rng } from '../rng';
import type { TeacherModel } from '../teacher';
import type { Problem, Task, Verdict } from '../tasks/task';
import { isWorkedTask, showsWork } from '../tasks/sum';
import { pow } from '../math/libm';
import { ADAM_KERNELS, backendTraits, readFloats } from '../nets/layers';

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
  /** Who distillation learns from: the scripted teacher, or a learned one (file, run, previous generation). */
  teacher: TeacherModel;
  shape: SeqShape;
  /** The student (replaced by a fresh one at each new generation; an algorithm reads it when created). */
  policy: SeqNet;
  /** Named random streams: adding draws to one never shifts another. */
  rng: { task: Rng; sample: Rng; teacher: Rng; minibatch: Rng; init: Rng };
  cost: Cost;
  /** Makes a fresh net of the policy's family with `outDim` outputs (a critic: 1). */
  makeNet(outDim: number): SeqNet;
  /**
   * Draw `n` training problems (from rng.task): the task's training problems, or with the run's
   * `leak` > 0 a share of copies of benchmark problems (contamination).
   */
  problems(n: number): Problem[];
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
  /** Everything the stage carries from one update to the next (for checkpoints). */
  save(): AlgoState;
  /** Put back what `save` gave (on a stage just created for the same run); throws if it does not fit. */
  load(state: AlgoState): void;
  dispose(): void;
}

/** An algorithm stage's state between updates: its optimisers, its own nets' weights, its data. */
export interface AlgoState {
  opts: AdamState[];
  /** Weights of the nets the stage owns (PPO's critic), flat in each net's order. */
  nets: Float32Array[];
  /** A finite synthetic data set drawn when the stage started (distillation with dataSize > 0). */
  data?: { problems: Problem[]; tokens: Int32Array } | null;
}

/** An Adam optimiser's step count and moments (null before its first step). */
export interface AdamState {
  t: number;
  m: Float64Array | null;
  v: Float64Array | null;
}

/** The state of a stage whose only carried state is its optimisers (GRPO, RLOO, pretraining). */
export function optimiserState(...opts: Adam[]): Pick<Algorithm, 'save' | 'load'> {
  return {
    save: () => ({ opts: opts.map((o) => o.state()), nets: [] }),
    load(s) {
      checkAlgoState(s, opts.length, []);
      opts.forEach((o, i) => o.load(s.opts[i]));
    },
  };
}

/** Check a saved stage fits: `opts` optimisers, nets of the sizes given. */
export function checkAlgoState(s: AlgoState, opts: number, netSizes: number[]): void {
  if (!s || !Array.isArray(s.opts) || s.opts.length !== opts) throw new Error(`the stage's saved optimisers do not fit (${s?.opts?.length ?? 'none'} for ${opts})`);
  if (!Array.isArray(s.nets) || s.nets.length !== netSizes.length || s.nets.some((w, i) => !(w instanceof Float32Array) || w.length !== netSizes[i])) throw new Error("the stage's saved nets do not fit");
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
  // An element loop: TypedArray.set from a (frozen) plain array took ~1 us a problem.
  for (let i = 0; i < problems.length; i++) {
    const q = problems[i].prompt;
    if (q.length > P) throw new RangeError(`a prompt of ${q.length} tokens where ${P} fit`);
    for (let j = 0; j < q.length; j++) x[i * P + j] = q[j];
  }
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
 * What the sampled completions look like (TRL's completions/* logs): mean length (tokens up to
 * and including eos), of right and of wrong answers (the length bias Dr. GRPO describes shows in
 * the wrong ones), the share cut off by the length budget (no eos: clipped), and, on tasks whose
 * completions may show work, the share that does. A side with no completions is left out.
 */
export function completionStats(task: Task, ro: Rollout, correct: Uint8Array): StepMetrics {
  const { T, mask, tokens } = ro;
  const sum = [0, 0];
  const cnt = [0, 0];
  let clipped = 0;
  let worked = 0;
  for (let i = 0; i < correct.length; i++) {
    let len = 0;
    for (let t = 0; t < T; t++) len += mask[i * T + t];
    sum[correct[i]] += len;
    cnt[correct[i]] += 1;
    // The mask ends at the first eos; a completion without one ran to the budget.
    if (tokens[i * T + len - 1] !== task.eos) clipped += 1;
    if (showsWork(task, tokens.subarray(i * T, (i + 1) * T))) worked += 1;
  }
  const n = correct.length;
  const m: StepMetrics = { 'completions/mean_length': (sum[0] + sum[1]) / n, 'completions/clipped_share': clipped / n };
  if (cnt[1]) m['completions/mean_length_correct'] = sum[1] / cnt[1];
  if (cnt[0]) m['completions/mean_length_incorrect'] = sum[0] / cnt[0];
  if (isWorkedTask(task)) m['completions/worked_share'] = worked / n;
  return m;
}

/** Mean completion length (valid tokens per completion). */
export function meanLength(mask: Float32Array, n: number): number {
  let s = 0;
  for (let i = 0; i < mask.length; i++) s += mask[i];
  return s / n;
}

/**
 * Adam as the reference uses it (PyTorch's defaults: betas 0.9/0.999, eps 1e-8, bias-corrected),
 * with global-norm gradient clipping, computed in JS over all weights at once. Same update as
 * tf.train.adam (test/learning.test.ts checks it), but tfjs's Adam launches ~12 tiny kernels per
 * weight tensor, and per-kernel cost is what dominates at our sizes: here one step is a read of
 * the gradients and weights and one upload per weight tensor. The moments are float64.
 */
export class Adam {
  private m: Float64Array | null = null;
  private v: Float64Array | null = null;
  /**
   * The moments where the backend's Adam kernels update them (applyKernels): one int32 tensor of
   * 4n words holding m then v as f64 (the same values as m and v, which are null meanwhile).
   */
  private mv: tf.Tensor | null = null;
  private t = 0;

  constructor(readonly lr: number, readonly beta1 = 0.9, readonly beta2 = 0.999, readonly eps = 1e-8) {}

  /** Whether applyKernels can run: the backend has the kernels and they are on (backendTraits.adam). */
  static kernels(): boolean {
    return backendTraits.adam && !!tf.getKernel(ADAM_KERNELS.update, tf.getBackend());
  }

  /** The moments as arrays (read back from the kernels' tensor if they live there): copies. */
  private moments(): { m: Float64Array | null; v: Float64Array | null } {
    if (!this.mv) return { m: this.m && this.m.slice(), v: this.v && this.v.slice() };
    const w = this.mv.dataSync() as Int32Array;
    const all = new Float64Array(w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength));
    const n = all.length / 2;
    return { m: all.slice(0, n), v: all.slice(n) };
  }

  /** Moments in arrays (for apply), from the tensor if they live there. */
  private inArrays(): void {
    if (!this.mv) return;
    ({ m: this.m, v: this.v } = this.moments());
    this.mv.dispose();
    this.mv = null;
  }

  /** Moments in arrays for n weights: new ones, and the step count reset, for another n. */
  private sized(n: number): void {
    this.inArrays();
    if (!this.m || this.m.length !== n) {
      this.m = new Float64Array(n);
      this.v = new Float64Array(n);
      this.t = 0;
    }
  }

  /** Moments in the kernels' tensor for n weights (as sized(n) makes them). */
  private inTensor(n: number): tf.Tensor {
    if (this.mv && this.mv.size === 4 * n) return this.mv;
    this.sized(n);
    const all = new Float64Array(2 * n);
    all.set(this.m!);
    all.set(this.v!, n);
    this.mv = tf.keep(tf.tensor1d(new Int32Array(all.buffer), 'int32'));
    this.m = this.v = null;
    return this.mv;
  }

  /**
   * Clip `grads` (flat, in the order and sizes of `vars`) to a global norm of `maxGradNorm` (0: no
   * clipping) and take one step. Returns the gradient norm before clipping.
   */
  apply(vars: tf.Variable[], weights: Float32Array, grads: Float32Array, maxGradNorm: number, store?: (updated: Float32Array) => Float32Array): number {
    const n = grads.length;
    this.sized(n);
    let sq = 0;
    for (let i = 0; i < n; i++) sq += grads[i] * grads[i];
    const norm = Math.sqrt(sq);
    if (!Number.isFinite(norm)) return norm;
    const { scale, bc1, bc2 } = this.next(norm, maxGradNorm);
    const { beta1: b1, beta2: b2, eps } = this;
    const m = this.m!, v = this.v!;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const g = grads[i] * scale;
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      out[i] = weights[i] - (this.lr * (m[i] / bc1)) / (Math.sqrt(v[i] / bc2) + eps);
    }
    assignFlat(vars, store ? store(out) : out);
    return norm;
  }

  /**
   * apply() on the backend's kernels (only where Adam.kernels()), with the gradients as tensors (one
   * per variable, in order): the same numbers to the bit, with nothing read back but the norm and
   * nothing uploaded. Returns the gradient norm before clipping (not finite: nothing changed).
   */
  applyKernels(vars: tf.Variable[], grads: tf.Tensor[], maxGradNorm: number): number {
    const n = vars.reduce((s, x) => s + x.size, 0);
    const sqT = tf.engine().runKernel(ADAM_KERNELS.sumSquares, Object.fromEntries(grads.map((g, i) => [`g${i}`, g]))) as tf.Tensor;
    const words = sqT.dataSync() as Int32Array;
    sqT.dispose();
    const norm = Math.sqrt(new Float64Array(words.buffer.slice(words.byteOffset, words.byteOffset + 8))[0]);
    if (!Number.isFinite(norm)) return norm;
    const mv = this.inTensor(n);
    const { scale, bc1, bc2 } = this.next(norm, maxGradNorm);
    const { lr, beta1: b1, beta2: b2, eps } = this;
    const ins: tf.NamedTensorMap = { mv };
    vars.forEach((x, i) => {
      ins[`w${i}`] = x;
      ins[`g${i}`] = grads[i];
    });
    const ws = tf.engine().runKernel(ADAM_KERNELS.update, ins, { scale, lr, b1, b2, eps, bc1, bc2 }) as unknown as tf.Tensor[];
    vars.forEach((x, i) => {
      x.assign(ws[i]);
      ws[i].dispose();
    });
    return norm;
  }

  /** A step with a finite gradient norm: its clipping scale and bias corrections (the step count goes up). */
  private next(norm: number, maxGradNorm: number): { scale: number; bc1: number; bc2: number } {
    this.t += 1;
    return {
      scale: maxGradNorm > 0 ? Math.min(1, maxGradNorm / (norm + 1e-6)) : 1,
      bc1: 1 - pow(this.beta1, this.t),
      bc2: 1 - pow(this.beta2, this.t),
    };
  }

  /** A copy of the step count and moments (for checkpoints). */
  state(): AdamState {
    return { t: this.t, ...this.moments() };
  }

  load(s: AdamState): void {
    const ok = s && Number.isInteger(s.t) && s.t >= 0 && (s.m === null ? s.v === null && s.t === 0 : s.m instanceof Float64Array && s.v instanceof Float64Array && s.m.length === s.v.length);
    if (!ok) throw new Error("an optimiser's saved state does not fit");
    this.mv?.dispose();
    this.mv = null;
    this.t = s.t;
    this.m = s.m && s.m.slice();
    this.v = s.v && s.v.slice();
  }

  dispose(): void {
    this.mv?.dispose();
    this.mv = null;
    this.m = this.v = null;
  }
}

/**
 * One optimiser step: gradients of `lossFn` w.r.t. `vars`, clipped to a global norm of
 * `maxGradNorm` (0: no clipping), applied with `opt`. `lossFn` returns the scalar loss plus any
 * diagnostics (scalars) to read back; all of it, the gradients and the weights are read back in
 * one piece.
 */
export async function optimiserStep(
  opt: Adam,
  vars: tf.Variable[],
  maxGradNorm: number,
  lossFn: () => { loss: tf.Scalar; extras?: tf.Scalar[] },
): Promise<{ loss: number; gradNorm: number; extras: number[] }> {
  let extras: tf.Scalar[] = [];
  clearAux();
  // On the backend's Adam kernels the gradients stay tensors: only the loss, the extras and the
  // norm are read back, and one kernel gives every variable its new weights (the same numbers;
  // ~40 fewer kernels, and no copy of every gradient and weight out and of the weights back in).
  const q = qatOf.get(vars);
  const kernels = !q && Adam.kernels();
  let grads: tf.Tensor[] = [];
  const packed = tf.tidy(() => {
    const { value, grads: g } = tf.variableGrads(() => {
      const r = lossFn();
      extras = (r.extras ?? []).map((e) => tf.keep(e));
      // A mixture of experts' load-balancing losses, of this net's forward passes (nets/moe.ts).
      const aux = auxSink.filter((a) => a.owner === vars).map((a) => a.loss);
      return aux.length ? (tf.add(r.loss, aux.length === 1 ? aux[0] : tf.addN(aux)) as tf.Scalar) : r.loss;
    }, vars);
    const head = tf.stack([value, ...extras]);
    if (kernels) {
      grads = vars.map((v) => tf.keep(g[v.name]));
      return head;
    }
    const flat = (ts: tf.Tensor[]) => ts.map((t) => tf.reshape(t, [-1]));
    return tf.concat([head, ...flat(vars.map((v) => g[v.name])), ...flat(vars)]);
  });
  tf.dispose(extras);
  clearAux();
  try {
    const vals = readFloats(packed);
    const k = 1 + extras.length;
    const loss = vals[0];
    if (!Number.isFinite(loss)) throw new DivergenceError('the loss');
    let gradNorm: number;
    if (kernels) gradNorm = opt.applyKernels(vars, grads, maxGradNorm);
    else {
      // Quantisation-aware training: the gradient was taken at the rounded weights; the update goes to
      // the full-precision ones, which are rounded again for the next forward (straight-through).
      const size = vars.reduce((s, v) => s + v.size, 0);
      const weights = q ? q.latent : vals.subarray(k + size, k + 2 * size);
      const store = q ? (updated: Float32Array) => (q.latent.set(updated), quantiseAll(q.format, q.shapes, updated)) : undefined;
      gradNorm = opt.apply(vars, weights, vals.subarray(k, k + size), maxGradNorm, store);
    }
    if (!Number.isFinite(gradNorm)) throw new DivergenceError('the gradient norm');
    return { loss, gradNorm, extras: Array.from(vals.subarray(1, k)) };
  } finally {
    packed.dispose();
    tf.dispose(grads);
  }
}

/** Nets in quantisation-aware training: their format and full-precision weights (by the net's weight list). */
const qatOf = new WeakMap<tf.Variable[], { format: QuantFormat; latent: Float32Array; shapes: number[][] }>();

/**
 * Start quantisation-aware training of a net: its current weights become the full-precision ones,
 * and the net holds their rounding to `format` from now on (sampling and gradients see that).
 */
export function startQat(vars: tf.Variable[], format: QuantFormat): void {
  const latent = readFlat(vars);
  const shapes = vars.map((v) => [...v.shape]);
  qatOf.set(vars, { format, latent, shapes });
  assignFlat(vars, quantiseAll(format, shapes, latent));
}

/** A net's full-precision weights in quantisation-aware training (null when it is not). */
export function qatLatent(vars: tf.Variable[]): Float32Array | null {
  return qatOf.get(vars)?.latent.slice() ?? null;
}

/** Put back a net's full-precision weights in quantisation-aware training (it holds their rounding). */
export function setQatLatent(vars: tf.Variable[], latent: Float32Array): void {
  const q = qatOf.get(vars);
  if (!q || q.latent.length !== latent.length) throw new Error('the saved full-precision weights do not fit');
  q.latent.set(latent);
  assignFlat(vars, quantiseAll(q.format, q.shapes, latent));
}

/** A net's weights as one flat array (in order). */
export function readFlat(vars: tf.Variable[]): Float32Array {
  const flat = new Float32Array(vars.reduce((s, v) => s + v.size, 0));
  let off = 0;
  for (const v of vars) {
    flat.set(v.dataSync() as Float32Array, off);
    off += v.size;
  }
  return flat;
}

/** A net's weights from one flat array (in order). */
export function assignFlat(vars: tf.Variable[], flat: Float32Array): void {
  let off = 0;
  for (const v of vars) {
    const t = tf.tensor(flat.subarray(off, off + v.size), v.shape);
    v.assign(t);
    t.dispose();
    off += v.size;
  }
}

/** Adam as the reference uses it (PyTorch defaults: betas 0.9/0.999, eps 1e-8). */
export function adam(lr: number): Adam {
  return new Adam(lr);
}

/** Account for `tokens` positions through `net`: forward only, or forward + backward (3x). */
export function addFlops(cost: Cost, net: SeqNet, tokens: number, backward: boolean): void {
  cost.flops += net.flopsPerToken * tokens * (backward ? 3 : 1);
}
