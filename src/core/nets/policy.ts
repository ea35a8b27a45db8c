/**
 * What every algorithm needs from a policy net: sampling completions for a batch of prompts, and
 * the teacher-forced log-probs (and entropies) of given completions, with gradients.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../rng';
import type { DecodeState, SeqNet } from './net';
import { exp } from '../math/libm';
import { fusedHeadNll, fusedNll, headNllKernels, logSoftmax, maskedNllKernels, readFloats } from './layers';

export interface SeqShape {
  promptLen: number;
  /** Completion length including eos. */
  maxNew: number;
  vocab: number;
  eos: number;
  pad: number;
}

export interface Rollout {
  /** Number of sequences. */
  n: number;
  /** Completion length (maxNew). */
  T: number;
  /** Prompts [n * promptLen]. */
  prompts: Int32Array;
  /** Completions [n * T]: tokens up to and including eos, pad after. */
  tokens: Int32Array;
  /** 1 for generated tokens up to and including the first eos (all T if no eos). */
  mask: Float32Array;
  /** Log-prob of each sampled token under the sampling policy [n * T] (0 on padding). */
  logp: Float32Array;
}

/** Prompt and completion side by side: [n, P + T - 1] (the last completion token is never input). */
export function teacherForcedInput(prompts: Int32Array, tokens: Int32Array, n: number, P: number, T: number): Int32Array {
  const L = P + T - 1;
  const x = new Int32Array(n * L);
  for (let i = 0; i < n; i++) {
    x.set(prompts.subarray(i * P, i * P + P), i * L);
    x.set(tokens.subarray(i * T, i * T + T - 1), i * L + P);
  }
  return x;
}

/**
 * Teacher-forced outputs at the T positions that predict the completion: [n, T, outDim]. With
 * `mask` [n, T] (the completion mask the caller weighs them by) the net may skip the masked-out
 * positions (their outputs are then 0).
 */
export function completionOutputs(net: SeqNet, prompts: Int32Array, tokens: Int32Array, n: number, P: number, T: number, mask?: ArrayLike<number>): tf.Tensor3D {
  return net.outputs(teacherForcedInput(prompts, tokens, n, P, T), n, P + T - 1, P - 1, mask);
}

/** One-hot [n, T, V] of completion tokens, built in JS. */
export function oneHotTokens(tokens: Int32Array, V: number): Float32Array {
  const x = new Float32Array(tokens.length * V);
  for (let i = 0; i < tokens.length; i++) x[i * V + tokens[i]] = 1;
  return x;
}

/**
 * Log-probs and entropies of completion tokens: logits [n, T, V], one-hot of the tokens [n, T, V]
 * -> { logp [n, T], entropy [n, T], logProbs [n, T, V] }.
 */
export function tokenLogProbs(logits: tf.Tensor3D, oneHot: tf.Tensor3D, temperature = 1) {
  const logProbs = logSoftmax(temperature === 1 ? logits : tf.div(logits, temperature)) as tf.Tensor3D; // [n, T, V]
  const logp = tf.sum(tf.mul(logProbs, oneHot), -1) as tf.Tensor2D;
  const entropy = tf.neg(tf.sum(tf.mul(tf.exp(logProbs), logProbs), -1)) as tf.Tensor2D;
  return { logp, entropy, logProbs };
}

/**
 * Supervised fine-tuning's loss: the mean of -log p(token) over the completion tokens that `mask`
 * [n, T] keeps (cross-entropy on the given tokens [n * T]), and the mean entropy over the same
 * tokens (a diagnostic, not differentiated), from logits [n, T, V]. Our kernels where the backend
 * has them (fusedNll): three in place of ~40 small ones forward and backward, with the same values
 * and gradient to the bit (test/kernels.test.ts).
 */
export function maskedNll(logits: tf.Tensor3D, tokens: Int32Array, mask: tf.Tensor2D): { loss: tf.Scalar; entropy: tf.Scalar } {
  if (fusedNll()) return maskedNllKernels(logits, tf.tensor1d(tokens, 'int32'), mask);
  const V = logits.shape[2];
  const { logp, entropy } = tokenLogProbs(logits, tf.tensor3d(oneHotTokens(tokens, V), [mask.shape[0], mask.shape[1], V]));
  const denom = tf.sum(mask);
  return {
    loss: tf.div(tf.sum(tf.mul(tf.neg(logp), mask)), denom) as tf.Scalar,
    entropy: tf.div(tf.sum(tf.mul(entropy, mask)), denom) as tf.Scalar,
  };
}

/**
 * maskedNll of the teacher-forced completion outputs (completionOutputs with the mask `maskArr`,
 * the same as `mask` [n, T]), the net's linear head fused with the loss where the net and the
 * backend have it (headNllKernels: the same numbers to the bit, two kernels in place of ~16).
 */
export function completionNll(net: SeqNet, prompts: Int32Array, tokens: Int32Array, n: number, P: number, T: number, maskArr: ArrayLike<number>, mask: tf.Tensor2D): { loss: tf.Scalar; entropy: tf.Scalar } {
  const x = teacherForcedInput(prompts, tokens, n, P, T);
  const head = fusedHeadNll() && net.headInputs ? net.headInputs(x, n, P + T - 1, P - 1, maskArr) : null;
  if (head) return headNllKernels(head.f, head.w, head.bias, tf.tensor1d(tokens, 'int32'), mask, head.skip);
  return maskedNll(net.outputs(x, n, P + T - 1, P - 1, maskArr), tokens, mask);
}

/** Mask of valid completion tokens: up to and including the first eos. */
export function completionMask(tokens: Int32Array, n: number, T: number, eos: number): Float32Array {
  const mask = new Float32Array(n * T);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < T; t++) {
      mask[i * T + t] = 1;
      if (tokens[i * T + t] === eos) break;
    }
  }
  return mask;
}

/**
 * Sample completions token by token (ancestral sampling with our Rng; greedy when rng is null).
 * Tokens after eos are pad. Returns the rollout with the sampling-time log-probs.
 */
export async function sampleCompletions(
  net: SeqNet,
  shape: SeqShape,
  prompts: Int32Array,
  n: number,
  rng: Rng | null,
  temperature = 1,
): Promise<Rollout> {
  const { promptLen: P, maxNew: T, vocab: V, eos, pad } = shape;
  const tokens = new Int32Array(n * T).fill(pad);
  const logp = new Float32Array(n * T);
  const done = new Uint8Array(n);
  const step = new Int32Array(n);
  const probs = new Float64Array(V);
  let state: DecodeState = {};
  try {
    for (let t = 0; t < T; t++) {
      let next: DecodeState = {};
      const lpT = tf.tidy(() => {
        const r = t === 0 ? net.begin(prompts, n, P) : net.next(state, step, P + t - 1);
        next = r.state;
        if (next.h) tf.keep(next.h);
        if (next.kv) next.kv.forEach((k) => tf.keep(k));
        if (next.C && t === 0) tf.keep(next.C);
        return logSoftmax(temperature === 1 ? r.out : tf.div(r.out, temperature));
      });
      state.h?.dispose();
      if (state.kv) tf.dispose(state.kv);
      state = next;
      const lpv = readFloats(lpT); // [n * V]
      lpT.dispose();
      let allDone = true;
      for (let i = 0; i < n; i++) {
        if (done[i]) {
          step[i] = pad;
          continue;
        }
        let tok = 0;
        if (rng === null) {
          let best = -Infinity;
          for (let v = 0; v < V; v++) if (lpv[i * V + v] > best) { best = lpv[i * V + v]; tok = v; }
        } else {
          for (let v = 0; v < V; v++) probs[v] = exp(lpv[i * V + v]);
          tok = rng.categorical(probs);
        }
        tokens[i * T + t] = tok;
        logp[i * T + t] = lpv[i * V + tok];
        step[i] = tok;
        if (tok === eos) done[i] = 1;
        else allDone = false;
      }
      if (allDone) break;
    }
  } finally {
    state.h?.dispose();
    if (state.kv) tf.dispose(state.kv);
    if (state.C) tf.dispose(state.C);
  }
  return { n, T, prompts, tokens, mask: completionMask(tokens, n, T, eos), logp };
}
