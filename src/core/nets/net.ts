/**
 * Tiny sequence networks for the policy and the critic: one interface, two families.
 *
 * - 'gru': token embedding + position embedding -> one GRU layer -> linear head (the workload of
 *   ../shared/reference/tiny_rl.py: 32 + 32 -> GRU 64 -> 14 logits, PyTorch's GRU equations).
 * - 'mlp': a causal MLP over a window of the `window` most recent tokens: each position sees the
 *   one-hot tokens of itself and the window-1 positions before it (zeros before the start) and its
 *   position, then `layers` tanh layers of width `hidden`, then the head. (The first layer on a
 *   one-hot window is a per-slot embedding folded into one matrix.)
 *
 * Inputs are token ids as plain Int32Arrays (they live in JS anyway: sampled, or from the task);
 * the one-hot inputs are built in JS and uploaded once. That, and everything else here, follows
 * what was measured on tfjs-wasm 4.22 (DESIGN.md section 3, and scripts/bench.ts): per-kernel cost
 * dominates at these sizes, so the graph is kept to few kernels; oneHot/gather/unstack/Tanh and
 * transposed matMuls are avoided.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../rng';
import { gruSequence } from './gru-bptt';
import { matMulFast, normalVar, taping, uniformVar, uniqueName, zerosVar } from './layers';

export type NetKind = 'gru' | 'mlp';

export interface NetSpec {
  kind: NetKind;
  /** Vocabulary size (inputs). */
  vocab: number;
  /** Longest sequence the net will see (prompt + completion). */
  maxLen: number;
  /** Width of the token and position embeddings (GRU). */
  embed: number;
  /** GRU state size, or MLP layer width. */
  hidden: number;
  /** MLP only: number of hidden layers. */
  layers: number;
  /** MLP only: how many recent tokens each position sees. */
  window: number;
  /** Outputs per position: vocab for a policy, 1 for a critic. */
  outDim: number;
}

/** Per-family decoding state for sampling; tensors are owned by the caller. */
export interface DecodeState {
  /** GRU hidden state [B, H]. */
  h?: tf.Tensor2D;
  /** GRU: the input matrices of this decode (kept across steps, disposed with the state). */
  C?: tf.Tensor2D[];
  /** MLP: the tokens so far, [B * len] row-major. */
  tokens?: Int32Array;
  len?: number;
}

export interface SeqNet {
  readonly spec: NetSpec;
  readonly vars: tf.Variable[];
  /** Number of trainable weights. */
  readonly paramCount: number;
  /** FLOPs (2 x multiply-adds) of a forward pass at one position. */
  readonly flopsPerToken: number;
  /**
   * Teacher-forced pass over tokens [B, L] (row-major); returns the outputs at positions
   * from..L-1 as [B, L-from, outDim].
   */
  outputs(tokens: Int32Array, B: number, L: number, from: number): tf.Tensor3D;
  /** Incremental decoding: consume prompts [B, P]; outputs at the last prompt position [B, outDim]. */
  begin(prompts: Int32Array, B: number, P: number): { state: DecodeState; out: tf.Tensor2D };
  /** Feed one token per row at absolute position `pos`; outputs there [B, outDim]. */
  next(state: DecodeState, tokens: Int32Array, pos: number): { state: DecodeState; out: tf.Tensor2D };
  /** Copy all weights from a net of the same spec. */
  copyFrom(other: SeqNet): void;
  dispose(): void;
}

/** tanh(x) = 2 sigmoid(2x) - 1: tfjs-wasm's Tanh kernel is ~13x slower than its Sigmoid. */
export function tanh(x: tf.Tensor): tf.Tensor {
  return tf.sub(tf.mul(tf.sigmoid(tf.mul(x, 2)), 2), 1);
}

function countParams(vars: tf.Variable[]): number {
  return vars.reduce((n, v) => n + v.size, 0);
}

const asT = (v: tf.Variable) => v as unknown as tf.Tensor2D;

/** One-hot rows [B, V + maxLen]: token at column id, position at column V + pos. */
function tokenPosOneHot(ids: Int32Array, off: number, stride: number, B: number, pos: number, V: number, maxLen: number): tf.Tensor2D {
  const K = V + maxLen;
  const x = new Float32Array(B * K);
  for (let b = 0; b < B; b++) {
    x[b * K + ids[b * stride + off]] = 1;
    x[b * K + V + pos] = 1;
  }
  return tf.tensor2d(x, [B, K]);
}

class GruNet implements SeqNet {
  readonly vars: tf.Variable[];
  readonly paramCount: number;
  readonly flopsPerToken: number;
  private tok: tf.Variable; // [V, E]
  private pos: tf.Variable; // [maxLen, E]
  // Gates r, z, n as separate matrices: PyTorch packs them, but a split costs more than it saves here.
  private wx: tf.Variable[]; // 3 x [E, H]
  private bx: tf.Variable[]; // 3 x [H]   (b_ir + b_hr, b_iz + b_hz, b_in)
  private wh: tf.Variable[]; // 3 x [H, H]
  private bhn: tf.Variable; // [H]  (b_hn sits inside r * (.), so it stays separate)
  private wo: tf.Variable; // [H, out]
  private bo: tf.Variable; // [out]
  /** Train through the hand-written BPTT op (gru-bptt.ts); false: autodiff of the unrolled cell. */
  fusedBptt = true;

  constructor(readonly spec: NetSpec, rng: Rng) {
    const { vocab, maxLen, embed: E, hidden: H, outDim } = spec;
    // PyTorch defaults, as in the reference: embeddings N(0,1); GRU and Linear U(+-1/sqrt(fan_in)).
    const k = 1 / Math.sqrt(H);
    this.tok = normalVar(rng, [vocab, E], 1, uniqueName('gru_tok'));
    this.pos = normalVar(rng, [maxLen, E], 1, uniqueName('gru_pos'));
    this.wx = [0, 1, 2].map(() => uniformVar(rng, [E, H], k, uniqueName('gru_wx')));
    // Two PyTorch biases summed: U(-k,k) + U(-k,k) for r and z; n has b_in here, b_hn below.
    this.bx = [0, 1, 2].map((g) => uniformVar(rng, [H], g < 2 ? 2 * k : k, uniqueName('gru_bx')));
    this.wh = [0, 1, 2].map(() => uniformVar(rng, [H, H], k, uniqueName('gru_wh')));
    this.bhn = uniformVar(rng, [H], k, uniqueName('gru_bhn'));
    this.wo = uniformVar(rng, [H, outDim], k, uniqueName('gru_wo'));
    this.bo = uniformVar(rng, [outDim], k, uniqueName('gru_bo'));
    this.vars = [this.tok, this.pos, ...this.wx, ...this.bx, ...this.wh, this.bhn, this.wo, this.bo];
    this.paramCount = countParams(this.vars);
    this.flopsPerToken = 2 * (E * 3 * H + H * 3 * H + H * outDim);
  }

  /**
   * The embeddings folded into the input projections: C_g = [tok; pos] W_g, [V + maxLen, H], so
   * that x_t W_g = onehot(token, position) C_g. Same function as embed-then-project.
   */
  private inputMatrices(): tf.Tensor2D[] {
    const emb = tf.concat([this.tok, this.pos], 0) as tf.Tensor2D; // [V + maxLen, E]
    return this.wx.map((w) => matMulFast(emb, asT(w)));
  }

  /** One GRU step (PyTorch's equations): one-hot input x [B, K], state h [B, H] -> new state. */
  private cell(C: tf.Tensor2D[], x: tf.Tensor2D, h: tf.Tensor2D): tf.Tensor2D {
    const xp = (g: number) => tf.add(matMulFast(x, C[g]), this.bx[g]);
    const hp = (g: number) => matMulFast(h, asT(this.wh[g]));
    const r = tf.sigmoid(tf.add(xp(0), hp(0)));
    const z = tf.sigmoid(tf.add(xp(1), hp(1)));
    const n = tanh(tf.add(xp(2), tf.mul(r, tf.add(hp(2), this.bhn))));
    // h' = (1 - z) * n + z * h  =  n + z * (h - n)
    return tf.add(n, tf.mul(z, tf.sub(h, n))) as tf.Tensor2D;
  }

  private run(C: tf.Tensor2D[], ids: Int32Array, B: number, L: number, pos0: number, h: tf.Tensor2D, keepFrom: number) {
    const hs: tf.Tensor2D[] = [];
    for (let t = 0; t < L; t++) {
      h = this.cell(C, tokenPosOneHot(ids, t, L, B, pos0 + t, this.spec.vocab, this.spec.maxLen), h);
      if (t >= keepFrom) hs.push(h);
    }
    return { hs, h };
  }

  private head(f: tf.Tensor2D): tf.Tensor2D {
    return tf.add(matMulFast(f, asT(this.wo)), this.bo) as tf.Tensor2D;
  }

  outputs(tokens: Int32Array, B: number, L: number, from: number): tf.Tensor3D {
    // Forward-only passes (sampling, reference and old log-probs) are cheaper unfused; the fused
    // op pays off only when a gradient is being taken.
    if (!this.fusedBptt || !taping()) {
      // Reference path: step the cell and let autodiff unroll it (kept for the gradient check).
      const { hs } = this.run(this.inputMatrices(), tokens, B, L, 0, tf.zeros([B, this.spec.hidden]), from);
      const n = L - from;
      const f = tf.reshape(tf.stack(hs, 1), [B * n, this.spec.hidden]) as tf.Tensor2D; // [B*n, H]
      return tf.reshape(this.head(f), [B, n, this.spec.outDim]);
    }
    const { vocab: V, maxLen, hidden: H, outDim } = this.spec;
    // One-hot (token, position) inputs for every step, time-major [L*B, V + maxLen].
    const K = V + maxLen;
    const x = new Float32Array(L * B * K);
    for (let t = 0; t < L; t++) {
      for (let b = 0; b < B; b++) {
        const row = (t * B + b) * K;
        x[row + tokens[b * L + t]] = 1;
        x[row + V + t] = 1;
      }
    }
    const X = tf.tensor2d(x, [L * B, K]);
    const C = this.inputMatrices();
    const [xr, xz, xn] = [0, 1, 2].map((g) => tf.add(matMulFast(X, C[g]), this.bx[g]) as tf.Tensor2D); // [L*B, H]
    const hs = gruSequence(xr, xz, xn, asT(this.wh[0]), asT(this.wh[1]), asT(this.wh[2]), this.bhn as unknown as tf.Tensor1D, tf.zeros([B, H]), B);
    const n = L - from;
    const f = tf.slice(hs, [from * B, 0], [n * B, H]) as tf.Tensor2D; // [n*B, H], time-major
    const out = tf.reshape(this.head(f), [n, B, outDim]);
    return tf.transpose(out, [1, 0, 2]) as tf.Tensor3D; // [B, n, outDim]
  }

  begin(prompts: Int32Array, B: number, P: number) {
    // The folded input matrices are computed once per decode and carried in the state.
    const C = this.inputMatrices();
    const { h } = this.run(C, prompts, B, P, 0, tf.zeros([B, this.spec.hidden]), P);
    return { state: { h, C }, out: this.head(h) };
  }

  next(state: DecodeState, tokens: Int32Array, pos: number) {
    const { h } = this.run(state.C!, tokens, tokens.length, 1, pos, state.h!, 1);
    return { state: { h, C: state.C }, out: this.head(h) };
  }

  copyFrom(other: SeqNet): void {
    other.vars.forEach((v, i) => this.vars[i].assign(v));
  }

  dispose(): void {
    tf.dispose(this.vars);
  }
}

class MlpNet implements SeqNet {
  readonly vars: tf.Variable[];
  readonly paramCount: number;
  readonly flopsPerToken: number;
  private ws: tf.Variable[] = [];
  private bs: tf.Variable[] = [];
  private wo: tf.Variable;
  private bo: tf.Variable;
  /** Input width: window slots x vocab, plus the position one-hot. */
  private readonly K: number;

  constructor(readonly spec: NetSpec, rng: Rng) {
    const { vocab, maxLen, hidden: H, layers, window: W, outDim } = spec;
    this.K = W * vocab + maxLen;
    let fanIn = this.K;
    let flops = 0;
    for (let l = 0; l < layers; l++) {
      // The first layer sees W + 1 active one-hot inputs: scale as if its fan-in were that.
      const bound = l === 0 ? Math.sqrt(3 / (W + 1)) : Math.sqrt(6 / (fanIn + H));
      this.ws.push(l === 0 ? normalVar(rng, [fanIn, H], bound / Math.sqrt(3), uniqueName('mlp_w')) : uniformVar(rng, [fanIn, H], bound, uniqueName('mlp_w')));
      this.bs.push(zerosVar([H], uniqueName('mlp_b')));
      // A one-hot first layer costs (W + 1) x H multiply-adds (a lookup), not K x H.
      flops += 2 * (l === 0 ? (W + 1) : fanIn) * H;
      fanIn = H;
    }
    this.wo = uniformVar(rng, [fanIn, outDim], 1 / Math.sqrt(fanIn), uniqueName('mlp_wo'));
    this.bo = zerosVar([outDim], uniqueName('mlp_bo'));
    flops += 2 * fanIn * outDim;
    this.vars = [...this.ws, ...this.bs, this.wo, this.bo];
    this.paramCount = countParams(this.vars);
    this.flopsPerToken = flops;
  }

  /** One-hot windows [B*n, K] for positions from..L-1 of tokens [B, L] that start at pos0. */
  private windows(tokens: Int32Array, B: number, L: number, from: number, pos0: number): tf.Tensor2D {
    const { vocab: V, window: W } = this.spec;
    const K = this.K;
    const n = L - from;
    const x = new Float32Array(B * n * K);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < n; i++) {
        const t = from + i;
        const row = (b * n + i) * K;
        for (let k = 0; k < W && t - k >= 0; k++) x[row + k * V + tokens[b * L + t - k]] = 1; // slot k: k back
        x[row + W * V + pos0 + t] = 1;
      }
    }
    return tf.tensor2d(x, [B * n, K]);
  }

  private mlp(x: tf.Tensor2D): tf.Tensor2D {
    for (let l = 0; l < this.ws.length; l++) x = tanh(tf.add(matMulFast(x, asT(this.ws[l])), this.bs[l])) as tf.Tensor2D;
    return tf.add(matMulFast(x, asT(this.wo)), this.bo) as tf.Tensor2D;
  }

  outputs(tokens: Int32Array, B: number, L: number, from: number): tf.Tensor3D {
    return tf.reshape(this.mlp(this.windows(tokens, B, L, from, 0)), [B, L - from, this.spec.outDim]);
  }

  /** Keep only the last `window` tokens of each row. */
  private tail(tokens: Int32Array, B: number, L: number): { tokens: Int32Array; len: number } {
    const len = Math.min(L, this.spec.window);
    if (len === L) return { tokens, len };
    const out = new Int32Array(B * len);
    for (let b = 0; b < B; b++) out.set(tokens.subarray(b * L + L - len, b * L + L), b * len);
    return { tokens: out, len };
  }

  begin(prompts: Int32Array, B: number, P: number) {
    const t = this.tail(prompts, B, P);
    return { state: t, out: this.mlp(this.windows(t.tokens, B, t.len, t.len - 1, P - t.len)) };
  }

  next(state: DecodeState, tokens: Int32Array, pos: number) {
    const B = tokens.length;
    const L0 = state.len!;
    const all = new Int32Array(B * (L0 + 1));
    for (let b = 0; b < B; b++) {
      all.set(state.tokens!.subarray(b * L0, b * L0 + L0), b * (L0 + 1));
      all[b * (L0 + 1) + L0] = tokens[b];
    }
    const t = this.tail(all, B, L0 + 1);
    return { state: t, out: this.mlp(this.windows(t.tokens, B, t.len, t.len - 1, pos + 1 - t.len)) };
  }

  copyFrom(other: SeqNet): void {
    other.vars.forEach((v, i) => this.vars[i].assign(v));
  }

  dispose(): void {
    tf.dispose(this.vars);
  }
}

export function createNet(spec: NetSpec, rng: Rng): SeqNet {
  return spec.kind === 'gru' ? new GruNet(spec, rng) : new MlpNet(spec, rng);
}
