/**
 * A mixture of experts in place of a dense layer (Switch Transformer; DeepSeekMoE's fine-grained
 * routed experts plus always-on shared experts):
 *
 *   p      = softmax(x W_gate)                     router probabilities over E experts
 *   top-k  = the k largest p of each token         (ties: the lower index)
 *   g_e    = p_e                                   on the top-k, 0 elsewhere
 *   y      = sum_e g_e expert_e(x) + sum_s shared_s(x)
 *
 * The gate is the router's probability itself, not renormalised over the top-k (Switch Transformer,
 * DeepSeekMoE): renormalised, a top-1 gate would always be 1 and the router would learn nothing
 * from the task, only from the balance loss.
 *
 * An expert is either a linear map (the MLP policy's hidden layers: expert_e(x) = x W_e + b_e, the
 * layer's tanh applied after the mix) or an FFN (the transformer's MLP block: gelu(x W1_e + b1_e)
 * W2_e + b2_e). Shared experts are of the same kind and always on.
 *
 * How it is computed: densely. Every expert runs on every token (all experts' weights side by
 * side in one matrix, one matMul), and the outputs are weighted by g, which is 0 off the top-k.
 * The result is exactly what a sparse kernel gives; the work is not. FLOPs are counted as a sparse
 * implementation would spend them (the top-k and shared experts only): `cost/flops` and
 * `moe/active_params` are that, `moe/total_params` every weight.
 *
 * The top-k choice is read back to JS (N x E numbers, small here) and enters as a constant mask:
 * routing is discrete, and the gradient reaches the router through g of the chosen experts. The
 * load-balancing loss (Switch Transformer, eq. 4) is  coef * E * sum_e f_e P_e,  f_e the share of
 * routed slots that went to e (a constant), P_e the mean router probability of e (differentiable);
 * it is added to the loss of every optimiser step of the net that owns the layer (common.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../rng';
import { matMulFast, normalVar, taping, uniformVar, uniqueName, zerosVar } from './layers';
import { log } from '../math/libm';

export interface MoeSpec {
  /** Routed experts (0: a dense layer, no mixture). */
  experts: number;
  /** Experts each token is routed to. */
  topK: number;
  /** Always-on shared experts. */
  shared: number;
  /** Inner width of an FFN expert (transformer); a linear expert is width x width. */
  expertHidden: number;
  /** Load-balancing loss coefficient (0: off). */
  balance: number;
}

/** Load-balancing losses of forward passes under a gradient tape, by the weights they belong to. */
export const auxSink: { owner: tf.Variable[]; loss: tf.Scalar }[] = [];

/** Drop (and free) the collected load-balancing losses. */
export function clearAux(): void {
  for (const a of auxSink) a.loss.dispose();
  auxSink.length = 0;
}

/** Routing statistics accumulated while `collect` is on (evaluation). */
export interface RoutingStats {
  /** Routed slots per expert (each token has k). */
  load: number[];
  /** Sum over tokens of the router probabilities per expert. */
  prob: number[];
  tokens: number;
}

const asT = (v: tf.Variable) => v as unknown as tf.Tensor2D;

export class MoeLayer {
  readonly vars: tf.Variable[];
  /** Weights one token uses (gate, its top-k experts, the shared ones). */
  readonly activeParams: number;
  /** FLOPs (2 x multiply-adds) per token of the active part. */
  readonly activeFlops: number;
  private readonly gate: tf.Variable; // [D, E]
  private readonly w1: tf.Variable; // [D, (E + S) * h]: routed experts, then shared
  private readonly b1: tf.Variable; // [(E + S) * h]
  private readonly w2: tf.Variable | null; // FFN: [(E + S) * h, D]
  private readonly b2: tf.Variable | null; // FFN: [E + S, D]; linear: b1 is the bias
  /** Per token, expert e's hidden block times g_e: the expansion [E + S, (E + S) * h] built once. */
  private expand: tf.Tensor2D | null = null;
  collect: RoutingStats | null = null;
  /** When set, every forward appends its top-k choices (tests: a probe that flips routing is not a gradient check). */
  trace: number[] | null = null;
  /** The weights of the net the layer belongs to (its load-balancing loss is added to their steps). */
  owner: tf.Variable[] = [];

  /**
   * `ffn`: an FFN expert D -> h -> D (transformer); otherwise a linear expert D -> D (h = D).
   * Initialisation: `init(shape, fanIn, fanOut)` draws all experts' matrix the way one expert's dense layer would be.
   */
  constructor(readonly spec: MoeSpec, readonly D: number, readonly ffn: boolean, rng: Rng, init: (shape: number[], fanIn: number, fanOut: number, name: string) => tf.Variable) {
    const { experts: E, shared: S, topK: k } = spec;
    const h = ffn ? spec.expertHidden : D;
    const n = E + S;
    this.gate = normalVar(rng, [D, E], 0.02, uniqueName('moe_gate'));
    this.w1 = init([D, n * h], D, h, uniqueName('moe_w1'));
    this.b1 = zerosVar([n * h], uniqueName('moe_b1'));
    this.w2 = ffn ? init([n * h, D], h, D, uniqueName('moe_w2')) : null;
    this.b2 = ffn ? zerosVar([n, D], uniqueName('moe_b2')) : null;
    this.vars = [this.gate, this.w1, this.b1, ...(this.w2 ? [this.w2, this.b2!] : [])];
    const perExpert = ffn ? D * h + h + h * D + D : D * h + h;
    this.activeParams = D * E + (k + S) * perExpert;
    this.activeFlops = 2 * (D * E + (k + S) * (ffn ? 2 * D * h : D * h));
  }

  /** Every weight: gate and all experts. */
  get totalParams(): number {
    return this.vars.reduce((a, v) => a + v.size, 0);
  }

  private expansion(): tf.Tensor2D {
    if (!this.expand) {
      const n = this.spec.experts + this.spec.shared;
      const h = this.ffn ? this.spec.expertHidden : this.D;
      const a = new Float32Array(n * n * h);
      for (let e = 0; e < n; e++) for (let j = 0; j < h; j++) a[e * n * h + e * h + j] = 1;
      this.expand = tf.keep(tf.tensor2d(a, [n, n * h]));
    }
    return this.expand;
  }

  /** Router weights g [N, E + S] (shared experts weigh 1), from x [N, D]; adds the aux loss when taping. */
  route(x: tf.Tensor2D): tf.Tensor2D {
    const { experts: E, topK: k, shared: S, balance } = this.spec;
    const N = x.shape[0];
    const probs = tf.softmax(matMulFast(x, asT(this.gate))) as tf.Tensor2D; // [N, E]
    const p = probs.dataSync();
    const mask = new Float32Array(N * E);
    const load = new Float64Array(E);
    const order = Array.from({ length: E }, (_, e) => e);
    for (let i = 0; i < N; i++) {
      const row = p.subarray(i * E, (i + 1) * E);
      order.sort((a, b) => row[b] - row[a] || a - b);
      for (let j = 0; j < k; j++) {
        mask[i * E + order[j]] = 1;
        load[order[j]]++;
        this.trace?.push(order[j]);
      }
    }
    if (this.collect) {
      const c = this.collect;
      for (let e = 0; e < E; e++) {
        c.load[e] += load[e];
        let s = 0;
        for (let i = 0; i < N; i++) s += p[i * E + e];
        c.prob[e] += s;
      }
      c.tokens += N;
    }
    let g = tf.mul(probs, tf.tensor2d(mask, [N, E])) as tf.Tensor2D;
    if (S > 0) g = tf.concat([g, tf.ones([N, S])], 1) as tf.Tensor2D;
    // (Only an optimiser step collects them; a tape of anything else must not make the list grow.)
    if (balance > 0 && taping() && this.owner.length && auxSink.length < 64) {
      const f = tf.tensor1d(Array.from(load, (c) => c / (N * k)));
      // Kept past any tidy inside the loss function; the optimiser step disposes it (clearAux).
      const aux = tf.keep(tf.mul(tf.sum(tf.mul(tf.mean(probs, 0), f)), balance * E) as tf.Scalar);
      auxSink.push({ owner: this.owner, loss: aux });
    }
    return g;
  }

  /** The mixture's output for x [N, D]: [N, D] (a linear expert's pre-activation, or an FFN's output). */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    const g = this.route(x); // [N, E + S]
    const gh = tf.matMul(g, this.expansion()); // [N, (E + S) * h]: g_e over expert e's block
    const a = tf.add(matMulFast(x, asT(this.w1)), this.b1) as tf.Tensor2D; // every expert, side by side
    if (!this.ffn) {
      // Linear experts: sum_e g_e (x W_e + b_e), as [N, E + S, D] summed over the experts.
      const n = this.spec.experts + this.spec.shared;
      return tf.sum(tf.reshape(tf.mul(a, gh), [x.shape[0], n, this.D]), 1) as tf.Tensor2D;
    }
    const hidden = tf.mul(tf.mul(a, tf.sigmoid(tf.mul(a, 1.702))), gh) as tf.Tensor2D; // gelu, weighted
    return tf.add(matMulFast(hidden, asT(this.w2!)), tf.matMul(g, asT(this.b2!))) as tf.Tensor2D;
  }

  dispose(): void {
    tf.dispose(this.vars);
    this.expand?.dispose();
    this.expand = null;
  }
}

/** Routing figures of collected statistics: expert loads (shares), entropy of the mean routing distribution, the balance loss. */
export function routingFigures(stats: RoutingStats, topK: number): { load: number[]; entropy: number; maxEntropy: number; aux: number } {
  const E = stats.load.length;
  const slots = Math.max(1, stats.tokens * topK);
  const load = stats.load.map((c) => c / slots);
  const mean = stats.prob.map((s) => s / Math.max(1, stats.tokens));
  const entropy = -mean.reduce((a, q) => a + (q > 0 ? q * log(q) : 0), 0);
  const aux = E * load.reduce((a, f, e) => a + f * mean[e], 0);
  return { load, entropy, maxEntropy: log(E), aux };
}

/** An empty accumulator for E experts. */
export const newStats = (E: number): RoutingStats => ({ load: new Array(E).fill(0), prob: new Array(E).fill(0), tokens: 0 });

/** Glorot-uniform, as the MLP's dense hidden layers (fan-out: one expert's). */
export function glorot(rng: Rng) {
  return (shape: number[], fanIn: number, fanOut: number, name: string) => uniformVar(rng, shape, Math.sqrt(6 / (fanIn + fanOut)), name);
}
