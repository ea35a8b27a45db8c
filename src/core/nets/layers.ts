/**
 * Building blocks for the tiny networks, written around three measured tfjs-wasm traps
 * (../shared/DESIGN.md section 3):
 * - `tf.oneHot(x, n, 'float32')` returns ~1e-45 instead of 1: we cast an int one-hot instead.
 * - matMul with a transposed operand is 7-15x slower, and the built-in matMul gradient uses
 *   transposed operands: `dense` below computes its gradients with explicit transposes.
 * - The gradient of `tf.gather` is not registered on wasm: a gather that needs a gradient is
 *   wrapped in a custom op that supplies it (net.ts), else embeddings are one-hot x matrix.
 * Weights are initialised from our seeded Rng, never from tfjs initialisers.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../rng';

/**
 * A float32 tensor's values, read synchronously. Our backends keep tensors in CPU memory
 * (tfjs-wasm's heap, or the cpu backend's arrays), so a read is the same copy either way, but
 * tfjs's async `await t.data()` measured 0.5-0.7 ms per call inside a training step against
 * 0.02-0.03 ms for dataSync() (the same 160 KB read of a GRU step's gradients and weights):
 * ~10% of a GRU SFT step and ~7% of a GRPO step.
 */
export function readFloats(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

/** Whether a gradient tape is recording (inside tf.grad / tf.variableGrads). */
export function taping(): boolean {
  return (tf.engine().state as unknown as { gradientDepth: number }).gradientDepth > 0;
}

/**
 * What the backend's kernels are good at, set by whoever installs them (workers/wasm-kernels.ts;
 * its useOwnKernels switches them together):
 * - transposedMatMul: a matMul with a transposed operand costs no more than a plain one (our
 *   BatchMatMul; it gives the same bits as transposing first). tfjs-wasm's own ran ~20x slower
 *   with a transposed operand, so without ours the gradients below transpose first.
 * - gruSequence, oneHotRows, layerNorm, biasGelu, biasTanh, logSoftmax, nll, attention, adam: use
 *   our kernels for these (gru-bptt.ts, below, policy.ts's maskedNll and algos/common.ts's Adam)
 *   where they are registered.
 */
export const backendTraits = { transposedMatMul: false, gruSequence: false, oneHotRows: false, layerNorm: false, biasGelu: false, biasTanh: false, logSoftmax: false, nll: false, headNll: false, attention: false, adam: false };

/**
 * The arithmetic of our kernels' matrix products (the experiment's `arith`): 'portable' rounds every
 * multiply and add (plain SIMD: the same bits in every engine), 'fma' uses fused multiply-adds
 * (relaxed SIMD). Whoever installs the kernels sets `use` (workers/fused-kernels.ts): it switches
 * to the arithmetic asked for where it can and returns the one in effect. Session calls it before
 * each piece of work (an update, an evaluation), so sessions of different experiments may take
 * turns in one process, one piece at a time (the bench alternates them; the app has one per worker).
 */
export type Arith = 'portable' | 'fma';
export const arithmetic: { use: (want: Arith) => Arith } = { use: () => 'portable' };

/**
 * Adam's two kernels (registered by workers/fused-kernels.ts): the gradients' sum of squares, and
 * every weight tensor's step in one call (the moments kept in the optimiser's own state tensor).
 * They give the JS Adam's numbers to the bit (the same f64 operations in the same order).
 */
export const ADAM_KERNELS = { sumSquares: 'PlaygroundSumSquares', update: 'PlaygroundAdam' } as const;

/** Whether our kernels for `trait` run here: backendTraits has it on and the backend has them. */
export function ownKernels(trait: keyof typeof backendTraits, kernels: { forward: string }): boolean {
  return backendTraits[trait] && !!tf.getKernel(kernels.forward, tf.getBackend());
}

/** Layer normalisation's two kernels (registered by workers/fused-kernels.ts). */
export const LAYER_NORM_KERNELS = { forward: 'PlaygroundLayerNorm', backward: 'PlaygroundLayerNormGrad' } as const;

/**
 * Layer normalisation over the last axis, (x - mean) / sqrt(var + eps) * g + b, as one kernel
 * forward and one backward where the backend has them (backendTraits.layerNorm), else the tfjs
 * ops (the same function to float rounding: test/kernels.test.ts).
 */
export function layerNorm(x: tf.Tensor2D, g: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor2D {
  if (!ownKernels('layerNorm', LAYER_NORM_KERNELS)) {
    const mean = tf.mean(x, -1, true);
    const c = tf.sub(x, mean);
    const variance = tf.mean(tf.mul(c, c), -1, true);
    return tf.add(tf.mul(tf.mul(c, tf.rsqrt(tf.add(variance, eps))), g), b) as tf.Tensor2D;
  }
  return kernelOp(LAYER_NORM_KERNELS, { x, g, b }, {}, { eps }, (ins, [, xhat, rstd]) => ({ g: ins.g, xhat, rstd })) as tf.Tensor2D;
}

/** gelu(a + b)'s two kernels (registered by workers/fused-kernels.ts). */
export const BIAS_GELU_KERNELS = { forward: 'PlaygroundBiasGelu', backward: 'PlaygroundBiasGeluGrad' } as const;

/**
 * gelu(a + b) for a [N, D] and a bias b [D], gelu(x) ~ x sigmoid(1.702 x) (Hendrycks & Gimpel's
 * sigmoid approximation): one kernel each way where the backend has them (backendTraits.biasGelu),
 * else the tfjs ops (the same function to float rounding: test/kernels.test.ts).
 */
export function biasGelu(a: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  if (!ownKernels('biasGelu', BIAS_GELU_KERNELS)) {
    const x = tf.add(a, b);
    return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))) as tf.Tensor2D;
  }
  return kernelOp(BIAS_GELU_KERNELS, { a, b }, {}, {}, (_, [, xs, ss]) => ({ xs, ss })) as tf.Tensor2D;
}

/** tanh(x) = 2 sigmoid(2x) - 1: tfjs-wasm's Tanh kernel is ~13x slower than its Sigmoid. */
export function tanh(x: tf.Tensor): tf.Tensor {
  return tf.sub(tf.mul(tf.sigmoid(tf.mul(x, 2)), 2), 1);
}

/** tanh(a + b)'s two kernels (registered by workers/fused-kernels.ts). */
export const BIAS_TANH_KERNELS = { forward: 'PlaygroundBiasTanh', backward: 'PlaygroundBiasTanhGrad' } as const;

/**
 * tanh(a + b) for a [N, D] and a bias b [D] (an MLP layer): one kernel each way where the backend
 * has them (backendTraits.biasTanh), else the five tfjs ops forward and their gradients backward.
 * The kernels repeat those ops' arithmetic (tfjs-wasm's Sigmoid included) in their order: the
 * same values and gradients to the bit (test/kernels.test.ts), so no run's numbers change.
 */
export function biasTanh(a: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  if (!ownKernels('biasTanh', BIAS_TANH_KERNELS)) return tanh(tf.add(a, b)) as tf.Tensor2D;
  return kernelOp(BIAS_TANH_KERNELS, { a, b }, {}, {}, (_, [, ss]) => ({ ss })) as tf.Tensor2D;
}

/** Log softmax's two kernels (registered by workers/fused-kernels.ts). */
export const LOG_SOFTMAX_KERNELS = { forward: 'PlaygroundLogSoftmax', backward: 'PlaygroundLogSoftmaxGrad' } as const;

/**
 * tf.logSoftmax over the last axis: one kernel each way where the backend has them
 * (backendTraits.logSoftmax) in place of seven forward (max, sub, cast, exp, sum, log, sub) and
 * four backward. They repeat those kernels' arithmetic in their order, tfjs-wasm's exp and log
 * included (musl's expf and logf), so the same values and gradients to the bit (test/kernels.test.ts).
 */
export function logSoftmax<T extends tf.Tensor>(x: T): T {
  if (!ownKernels('logSoftmax', LOG_SOFTMAX_KERNELS)) return tf.logSoftmax(x) as T;
  return kernelOp(LOG_SOFTMAX_KERNELS, { x }, {}, {}, (_, [y]) => ({ y })) as T;
}

/** The masked token NLL's two kernels (registered by workers/fused-kernels.ts). */
export const NLL_KERNELS = { forward: 'PlaygroundNll', backward: 'PlaygroundNllGrad' } as const;

/** Whether maskedNllKernels can run (the backend has the kernels and they are on: backendTraits.nll). */
export function fusedNll(): boolean {
  return ownKernels('nll', NLL_KERNELS);
}

/**
 * policy.ts's maskedNll as our kernels (only where fusedNll()): logits [n, T, V], tok int32 [n*T],
 * mask [n, T] -> the loss (differentiable in the logits) and the entropy's masked mean (not), from
 * one forward call. They repeat the tfjs ops' arithmetic in their order: the same values and
 * gradient to the bit.
 */
export function maskedNllKernels(logits: tf.Tensor3D, tok: tf.Tensor, mask: tf.Tensor2D): { loss: tf.Scalar; entropy: tf.Scalar } {
  return lossWithEntropy(
    [logits],
    ([x]) => {
      const [loss, lp, entropy] = tf.engine().runKernel(NLL_KERNELS.forward, { x, tok, mask }) as unknown as [tf.Scalar, tf.Tensor, tf.Scalar];
      return { loss, entropy, kept: [lp] };
    },
    () => [tok, mask],
    (dy, [lp, tokS, maskS]) => [tf.engine().runKernel(NLL_KERNELS.backward, { dy, lp, tok: tokS, mask: maskS }) as tf.Tensor],
  );
}

/**
 * A loss kernel pair as an op differentiable in xs: run(xs) gives the loss, the entropy (a
 * diagnostic, not differentiated) and what the forward kernel made for the gradient (`kept`,
 * disposed where nothing is taped); the gradient reads kept, then also(xs), and gives one gradient
 * per x. The entropy is made in the op's own scope: kept there, and a copy handed to the caller's.
 */
function lossWithEntropy(
  xs: tf.Tensor[],
  run: (xs: tf.Tensor[]) => { loss: tf.Scalar; entropy: tf.Scalar; kept: tf.Tensor[] },
  also: (xs: tf.Tensor[]) => tf.Tensor[],
  grad: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[],
): { loss: tf.Scalar; entropy: tf.Scalar } {
  if (!taping()) {
    const { loss, entropy, kept } = run(xs);
    tf.dispose(kept);
    return { loss, entropy };
  }
  let entropy: tf.Scalar | null = null;
  const op = tf.customGrad(((...args: unknown[]) => {
    const ins = args.slice(0, xs.length) as tf.Tensor[];
    const save = args[xs.length] as tf.GradSaveFunc;
    const r = run(ins);
    entropy = tf.keep(r.entropy);
    save([...r.kept, ...also(ins)]);
    return { value: r.loss, gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => grad(dy as tf.Tensor, saved) };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  }) as any) as (...xs: tf.Tensor[]) => tf.Scalar;
  const loss = op(...xs);
  const e = entropy as unknown as tf.Scalar;
  const out = tf.clone(e);
  e.dispose();
  return { loss, entropy: out };
}

/** A linear head with the masked token NLL: two kernels (registered by workers/fused-kernels.ts). */
export const HEAD_NLL_KERNELS = { forward: 'PlaygroundHeadNll', backward: 'PlaygroundHeadNllGrad' } as const;

/** Whether headNllKernels can run (the backend has the kernels and they are on: backendTraits.headNll). */
export function fusedHeadNll(): boolean {
  return ownKernels('headNll', HEAD_NLL_KERNELS);
}

/**
 * maskedNllKernels of a linear head's logits, the head in the same kernels (only where
 * fusedHeadNll()): features f [skip + B*T, H], past its first `skip` rows time-major (row skip +
 * t*B + b), weights w [H, V], bias [V]; tok int32 [B*T] and mask [B, T] batch-major. The same
 * loss, entropy and gradients (of f, w and bias) to the bit as slicing the skipped rows off, the
 * head's matMulFast, bias add, reshape and transpose to [B, T, V], then maskedNllKernels: two
 * kernels in place of ~16 (f's gradient is 0 on the skipped rows, as the slice's), and the loss's
 * exp(log p) kept for the gradient.
 */
export function headNllKernels(f: tf.Tensor2D, w: tf.Tensor2D, bias: tf.Tensor1D, tok: tf.Tensor, mask: tf.Tensor2D, skip = 0): { loss: tf.Scalar; entropy: tf.Scalar } {
  const [B, T] = mask.shape;
  return lossWithEntropy(
    [f, w, bias],
    ([fi, wi, bi]) => {
      const [loss, lp, p, entropy] = tf.engine().runKernel(HEAD_NLL_KERNELS.forward, { f: fi, w: wi, bias: bi, tok, mask }, { B, T, skip }) as unknown as tf.Tensor[];
      return { loss: loss as tf.Scalar, entropy: entropy as tf.Scalar, kept: [lp, p] };
    },
    ([fi, wi]) => [tok, mask, fi, wi],
    (dy, [lp, p, tokS, maskS, fS, wS]) =>
      tf.engine().runKernel(HEAD_NLL_KERNELS.backward, { dy, lp, p, tok: tokS, mask: maskS, f: fS, w: wS }, { B, T, skip }) as unknown as tf.Tensor[],
  );
}

/** Causal multi-head attention's two kernels (registered by workers/fused-kernels.ts). */
export const ATTENTION_KERNELS = { forward: 'PlaygroundAttention', backward: 'PlaygroundAttentionGrad' } as const;

/** Whether attention() can run (the backend has the kernels and they are on). */
export function fusedAttention(): boolean {
  return ownKernels('attention', ATTENTION_KERNELS);
}

/**
 * Causal multi-head attention as one kernel each way (only where fusedAttention()): q [B*Lq, A],
 * k and v [B*Lk, A] (A = H heads of A/H columns; a decoding step's keys and values include the
 * cache's, Lk >= Lq), P = softmax(scale q k^T) with each query seeing the keys up to its own
 * position, out = P v [B*Lq, A]. `maps`, if given, gets P [B, H, Lq, Lk] outside a gradient tape
 * (the inspector; then freed). The tfjs ops in transformer.ts compute the same function (to float
 * rounding: test/kernels.test.ts).
 */
export function attention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, B: number, H: number, scale: number, maps?: (P: tf.Tensor4D) => void): tf.Tensor2D {
  const attrs = { B, H, scale };
  if (maps && !taping()) {
    const [o, P] = tf.engine().runKernel(ATTENTION_KERNELS.forward, { q, k, v }, attrs) as unknown as [tf.Tensor2D, tf.Tensor4D];
    maps(P);
    P.dispose();
    return o;
  }
  return kernelOp(ATTENTION_KERNELS, { q, k, v }, {}, attrs, (ins, [, P]) => ({ q: ins.q, k: ins.k, v: ins.v, P }), attrs) as tf.Tensor2D;
}

/** Kernels for a one-hot matrix times a weight matrix (registered by workers/fused-kernels.ts). */
export const ONE_HOT_KERNELS = { forward: 'PlaygroundRowsSum', backward: 'PlaygroundRowsScatter' } as const;

/** Whether oneHotMatMul can run (the backend has the kernels and they are on). */
export function oneHotRows(): boolean {
  return ownKernels('oneHotRows', ONE_HOT_KERNELS);
}

/**
 * x w for a one-hot x [N, K] given by its ones: cols [N, S] lists each row's columns in increasing
 * order (-1: none). The rows of w are summed instead of multiplying by zeros (S / K of the work),
 * in the dense product's order, so the values are those of inputMatMul on our matMul kernel; w's
 * gradient adds dy's rows into the rows of w the same way. Only where oneHotRows().
 */
export function oneHotMatMul(cols: Int32Array, N: number, S: number, K: number, w: tf.Tensor2D): tf.Tensor2D {
  const c = tf.tensor2d(cols, [N, S], 'int32');
  return kernelOp(ONE_HOT_KERNELS, { w }, { cols: c }, {}, (ins) => ({ cols: ins.cols }), { K }) as tf.Tensor2D;
}

/**
 * A pair of our kernels as one differentiable op. The forward kernel gets `inputs` (differentiated)
 * and `constants` (not) and returns [y, ...saves]; the backward kernel gets dy and the tensors
 * `gradInputs` names (from the inputs, constants and all the outputs) and returns the inputs'
 * gradients in the order of `inputs`. Outside a gradient tape only the forward runs.
 */
export function kernelOp(
  kernels: { forward: string; backward: string },
  inputs: Record<string, tf.Tensor>, constants: Record<string, tf.Tensor>, attrs: tf.NamedAttrMap,
  gradInputs: (ins: Record<string, tf.Tensor>, outs: tf.Tensor[]) => Record<string, tf.Tensor>, gradAttrs: tf.NamedAttrMap = {},
): tf.Tensor {
  const run = (name: string, ins: tf.NamedTensorMap, at: tf.NamedAttrMap): tf.Tensor[] => {
    const out = tf.engine().runKernel(name, ins, at) as unknown as tf.Tensor | tf.Tensor[];
    return Array.isArray(out) ? out : [out];
  };
  if (!taping()) {
    const [y, ...saved] = run(kernels.forward, { ...inputs, ...constants }, attrs);
    tf.dispose(saved);
    return y;
  }
  const keys = Object.keys(inputs);
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args[keys.length] as tf.GradSaveFunc;
    const ins = { ...Object.fromEntries(keys.map((k, i) => [k, args[i] as tf.Tensor])), ...constants };
    const outs = run(kernels.forward, ins, attrs);
    const need = gradInputs(ins, outs);
    const needKeys = Object.keys(need);
    save(needKeys.map((k) => need[k]));
    return {
      value: outs[0],
      gradFunc: (dy: tf.Tensor | tf.Tensor[], kept: tf.Tensor[]) =>
        run(kernels.backward, { dy: dy as tf.Tensor, ...Object.fromEntries(needKeys.map((k, i) => [k, kept[i]])) }, gradAttrs),
    };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  }) as any) as (...xs: tf.Tensor[]) => tf.Tensor;
  return op(...keys.map((k) => inputs[k]));
}

const matMulWithFastGrad = tf.customGrad(((x: tf.Tensor, w: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      const g = dy as tf.Tensor2D;
      if (backendTraits.transposedMatMul) return [tf.matMul(g, ws, false, true), tf.matMul(xs, g, true, false)];
      return [tf.matMul(g, tf.transpose(ws)), tf.matMul(tf.transpose(xs), g)];
    },
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
}) as any) as unknown as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;

/**
 * x [N, I] . w [I, O] -> [N, O], with gradients that avoid transposed-operand matMuls. Outside a
 * gradient tape (sampling, evaluation, reference passes) it is a plain matMul: the custom-gradient
 * wrapper costs extra kernels for nothing there.
 */
export function matMulFast(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  return taping() ? matMulWithFastGrad(x, w) : tf.matMul(x, w);
}

/**
 * y = forward(w) where forward is linear in w, as y = M w for a constant M [N, I] whose transpose
 * mT [I, N] the caller built in JS: the gradient of w is mT . dy, with no transpose kernel and no
 * gradient for M. (The caller may compute M w more cheaply than a matMul, e.g. as a gather.)
 */
export function constLinear(w: tf.Tensor2D, forward: (w: tf.Tensor2D) => tf.Tensor2D, mT: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad(((wIn: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([mT]);
    return {
      value: forward(wIn),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => [tf.matMul(saved[0] as tf.Tensor2D, dy as tf.Tensor2D)],
    };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  }) as any) as unknown as (w: tf.Tensor2D) => tf.Tensor2D;
  return op(w);
}

/**
 * Row rows[b] of x [U, D] for each b: [rows.length, D]; the gradient sums each row's copies (x's
 * gradient is the selection matrix's transpose times dy: tfjs-wasm registers no gradient for gather).
 */
export function pickRows(x: tf.Tensor2D, rows: Int32Array): tf.Tensor2D {
  const idx = tf.tensor1d(rows, 'int32');
  if (!taping()) return tf.gather(x, idx) as tf.Tensor2D;
  const U = x.shape[0], B = rows.length;
  const sT = new Float32Array(U * B); // the selection matrix, transposed: [U, B]
  for (let b = 0; b < B; b++) sT[rows[b] * B + b] = 1;
  return constLinear(x, (xIn) => tf.gather(xIn, idx) as tf.Tensor2D, tf.tensor2d(sT, [U, B]));
}

/**
 * x [N, I] . w [I, O] where x is a constant input (a one-hot built in JS) whose transpose xT
 * [I, N] the caller built too: the only gradient is w's, xT . dy (matMulFast would also compute
 * dy . w^T, a wasted matMul as large as the forward one). Outside a gradient tape a plain matMul.
 */
export function inputMatMul(x: tf.Tensor2D, xT: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  return taping() ? constLinear(w, (wIn) => tf.matMul(x, wIn), xT) : tf.matMul(x, w);
}

/** One-hot as float32, working around the wasm float one-hot bug. ids [...] -> [..., n]. */
export function oneHotF(ids: tf.Tensor, n: number): tf.Tensor {
  return tf.cast(tf.oneHot(ids as tf.Tensor1D, n), 'float32');
}

/** Uniform(-bound, bound) weights from our Rng, as a trainable variable. */
export function uniformVar(rng: Rng, shape: number[], bound: number, name: string): tf.Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (rng.next() * 2 - 1) * bound;
  return variableFrom(v, shape, name);
}

/** N(0, std^2) weights from our Rng, as a trainable variable. */
export function normalVar(rng: Rng, shape: number[], std: number, name: string): tf.Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal() * std;
  return variableFrom(v, shape, name);
}

export function zerosVar(shape: number[], name: string): tf.Variable {
  return variableFrom(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, name);
}

/** A trainable variable holding `values` (the temporary initial tensor is freed). */
function variableFrom(values: Float32Array, shape: number[], name: string): tf.Variable {
  const t = tf.tensor(values, shape);
  const v = tf.variable(t, true, name);
  t.dispose();
  return v;
}

let varCounter = 0;
/** A unique variable name (tfjs requires unique names per engine). */
export function uniqueName(prefix: string): string {
  varCounter += 1;
  return `${prefix}_${varCounter}`;
}

/** The value of x, with no gradient flowing back through it (tfjs has no stop_gradient op). */
export const stopGradient = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  void save;
  return { value: tf.add(x, 0), gradFunc: (dy: tf.Tensor) => [tf.zerosLike(dy)] };
}) as any) as unknown as <T extends tf.Tensor>(x: T) => T; // eslint-disable-line @typescript-eslint/no-explicit-any
