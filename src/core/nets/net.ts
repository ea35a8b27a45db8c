/**
 * Tiny sequence networks for the policy and the critic: one interface, three families (the
 * third, a small causal transformer, is in transformer.ts).
 *
 * - 'gru': token embedding + position embedding -> one GRU layer -> linear head (the workload of
 *   ../shared/reference/tiny_rl.py: 32 + 32 -> GRU 64 -> 14 logits, PyTorch's GRU equations).
 * - 'mlp': a causal MLP over a window of the `window` most recent tokens: each position sees the
 *   one-hot tokens of itself and the window-1 positions before it (zeros before the start) and its
 *   position, then `layers` tanh layers of width `hidden`, then the head. (The first layer on a
 *   one-hot window is a per-slot embedding folded into one matrix.)
 *
 * Inputs are token ids as plain Int32Arrays (they live in JS anyway: sampled, or from the task);
 * one-hot inputs (and their transposes, for gradients) are built in JS and uploaded once. That, and
 * everything else here, follows what was measured on tfjs-wasm 4.22 (DESIGN.md section 3, and
 * `npm run bench -- --only profile`): per-kernel cost dominates at these sizes, so the graph is
 * kept to few kernels; tf.oneHot, unstack, Tanh and transposed matMuls are avoided, and gather is
 * used only inside ops that supply their own gradient (wasm registers none for it).
 *
 * Rows that share a prefix (GRPO's G completions of one prompt) share its computation: the GRU's
 * state after the prompt, the MLP's output at the last prompt position (`prefixGroups`).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../rng';
import { gruPath, gruSequence, inputMatrices } from './gru-bptt';
import { glorot, MoeLayer, type MoeSpec } from './moe';
import { TransformerNet } from './transformer';
import { biasTanh, inputMatMul, matMulFast, normalVar, oneHotMatMul, oneHotRows, pickRows, tanh, taping, uniformVar, uniqueName, zerosVar } from './layers';

export type NetKind = 'gru' | 'mlp' | 'transformer';

export interface NetSpec {
  kind: NetKind;
  /** Vocabulary size (inputs). */
  vocab: number;
  /** Longest sequence the net will see (prompt + completion). */
  maxLen: number;
  /** Width of the token and position embeddings (GRU), the model width (transformer). */
  embed: number;
  /** GRU state size, MLP layer width, or the transformer's MLP-block width. */
  hidden: number;
  /** MLP: number of hidden layers; transformer: number of blocks. */
  layers: number;
  /** Transformer only: attention heads (default 1). */
  heads?: number;
  /**
   * A mixture of experts in place of the MLP's hidden layers after the first (the MLP policy) or
   * of every block's MLP (the transformer); absent or 0 experts: dense.
   */
  moe?: MoeSpec;
  /** MLP only: how many recent tokens each position sees. */
  window: number;
  /** Outputs per position: vocab for a policy, 1 for a critic. */
  outDim: number;
}

/** Per-family decoding state for sampling; tensors are owned by the caller. */
export interface DecodeState {
  /** GRU hidden state [B, H]. */
  h?: tf.Tensor2D;
  /** GRU: the input matrices of this decode, stacked (kept across steps, disposed with the state). */
  C?: tf.Tensor2D;
  /** MLP: the tokens so far, [B * len] row-major. */
  tokens?: Int32Array;
  len?: number;
  /** Transformer: every layer's keys and values so far (the KV cache), [K_1, V_1, K_2, ...]. */
  kv?: tf.Tensor[];
}

export interface SeqNet {
  readonly spec: NetSpec;
  readonly vars: tf.Variable[];
  /** Number of trainable weights. */
  readonly paramCount: number;
  /** Weights one token uses: all of them, but for a mixture of experts (its top-k and shared experts). */
  readonly activeParams: number;
  /** A mixture of experts' layers (none for a dense net). */
  readonly moeLayers: MoeLayer[];
  /** FLOPs (2 x multiply-adds) of a forward pass at one position. */
  readonly flopsPerToken: number;
  /**
   * Teacher-forced pass over tokens [B, L] (row-major); returns the outputs at positions
   * from..L-1 as [B, L-from, outDim]. `live` [B, L-from] (a completion mask): where it is 0 the
   * caller ignores the output, and a net may skip computing it (then it is 0 there).
   */
  outputs(tokens: Int32Array, B: number, L: number, from: number, live?: ArrayLike<number>): tf.Tensor3D;
  /**
   * Where a net's outputs are a linear head of features (the GRU), what outputs() would put through
   * it: the features at positions from..L-1, time-major [(L-from)*B, H] (row t*B + b) after the
   * first `skip` rows of f (not sliced off: the fused loss reads past them, and their gradient is
   * 0), and the head's weights [H, outDim] and bias [outDim], for a loss that fuses the head (policy.ts's
   * completionNll). Null where outputs() goes another way (e.g. the GRU's ops path under taping).
   */
  headInputs?(tokens: Int32Array, B: number, L: number, from: number, live?: ArrayLike<number>): { f: tf.Tensor2D; skip: number; w: tf.Tensor2D; bias: tf.Tensor1D } | null;
  /** Incremental decoding: consume prompts [B, P]; outputs at the last prompt position [B, outDim]. */
  begin(prompts: Int32Array, B: number, P: number): { state: DecodeState; out: tf.Tensor2D };
  /** Feed one token per row at absolute position `pos`; outputs there [B, outDim]. */
  next(state: DecodeState, tokens: Int32Array, pos: number): { state: DecodeState; out: tf.Tensor2D };
  /** Copy all weights from a net of the same spec. */
  copyFrom(other: SeqNet): void;
  dispose(): void;
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

/**
 * Whether rows that share a prefix share its computation (on by default; `npm run bench -- --only
 * profile` switches it off to measure what it saves). Results agree either way up to float
 * rounding (test/nets.test.ts).
 */
export const prefixSharing = { enabled: true };

/**
 * Whether teacher-forced passes compute only the positions a completion mask keeps (the MLP; see
 * MlpNet.positions). The same numbers either way (test/live-positions.test.ts); the bench and tests switch it.
 */
export const liveOnly = { enabled: true, /** positions skipped so far (for tests and the bench) */ skipped: 0 };

/** Sharing pays when at most half the rows are distinct. */
function worthSharing(g: PrefixGroups, B: number): boolean {
  return prefixSharing.enabled && g.U * 2 <= B;
}

/**
 * Where a recurrent net's rows share a prefix worth computing once: the first `len` tokens if at
 * most half the rows are distinct there; otherwise the shorter prefix s that saves the most
 * row-steps, s x (B - U), if at most half the rows are distinct there and that saves at least an
 * eighth of the len x B row-steps up to len (an extra pass and a copy cost something); else null.
 */
export function sharedPrefix(ids: Int32Array, B: number, stride: number, len: number): { s: number; g: PrefixGroups } | null {
  if (!prefixSharing.enabled || len < 1) return null;
  const levels = prefixLevels(ids, B, stride, len);
  const whole = levels[len - 1];
  if (worthSharing(whole, B)) return { s: len, g: whole };
  let best: { s: number; g: PrefixGroups } | null = null;
  for (let s = len - 1; s >= 1; s--) {
    const g = levels[s - 1];
    if (worthSharing(g, B) && s * (B - g.U) >= (len * B) / 8 && (!best || s * (B - g.U) > best.s * (B - best.g.U))) best = { s, g };
  }
  return best;
}

/** Rows of ids [B, stride] grouped by their first `len` tokens: U distinct prefixes. */
export interface PrefixGroups {
  U: number;
  /** The first row of each group [U]. */
  first: Int32Array;
  /** The group of each row [B]. */
  of: Int32Array;
}

/**
 * Rows of ids [B, stride] grouped by their first s tokens, for s = 1..len (entry s - 1), groups
 * numbered in the order of their first rows. Two rows share s tokens when they share s - 1 and the
 * s-th, so each level refines the one before: B x len map lookups in all.
 */
function prefixLevels(ids: Int32Array, B: number, stride: number, len: number): PrefixGroups[] {
  const levels: PrefixGroups[] = [];
  let prev = new Int32Array(B); // every row shares the empty prefix
  let U = B > 0 ? 1 : 0;
  for (let s = 1; s <= len; s++) {
    // (previous group, token) -> group, in a table: token ids are small non-negative integers
    let V = 0;
    for (let b = 0; b < B; b++) V = Math.max(V, ids[b * stride + s - 1] + 1);
    const seen = new Int32Array(U * V).fill(-1);
    const first: number[] = [];
    const of = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      const key = prev[b] * V + ids[b * stride + s - 1];
      let u = seen[key];
      if (u < 0) {
        u = seen[key] = first.length;
        first.push(b);
      }
      of[b] = u;
    }
    U = first.length;
    levels.push({ U, first: Int32Array.from(first), of });
    prev = of;
  }
  return levels;
}

export function prefixGroups(ids: Int32Array, B: number, stride: number, len: number): PrefixGroups {
  if (len < 1) return { U: B > 0 ? 1 : 0, first: new Int32Array(B > 0 ? 1 : 0), of: new Int32Array(B) };
  return prefixLevels(ids, B, stride, len)[len - 1];
}

/** Row g.of[b] of x [U, D] for each row b: [B, D]; the gradient sums each group's rows. */
export function expandRows(x: tf.Tensor2D, g: PrefixGroups): tf.Tensor2D {
  return pickRows(x, g.of);
}

/** Rows g.first of ids [., stride], their first `len` tokens: [U, len]. */
function firstRows(ids: Int32Array, stride: number, len: number, g: PrefixGroups): Int32Array {
  const out = new Int32Array(g.U * len);
  g.first.forEach((b, u) => out.set(ids.subarray(b * stride, b * stride + len), u * len));
  return out;
}

class GruNet implements SeqNet {
  readonly vars: tf.Variable[];
  readonly paramCount: number;
  readonly moeLayers: MoeLayer[] = [];
  get activeParams(): number {
    return this.paramCount;
  }
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
   * The embeddings folded into the input projections: C_g = [tok; pos] W_g, [V + maxLen, H] each,
   * stacked [3(V + maxLen), H], so that x_t W_g = onehot(token, position) C_g. Same function as
   * embed-then-project.
   */
  private inputMatrices(): tf.Tensor2D {
    return inputMatrices(asT(this.tok), asT(this.pos), this.wx.map(asT));
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

  /** The reference path: step the cell on one-hot inputs and let autodiff unroll it (kept for the gradient check). */
  private unfusedOutputs(tokens: Int32Array, B: number, L: number, from: number): tf.Tensor3D {
    const emb = tf.concat([this.tok, this.pos], 0) as tf.Tensor2D; // [V + maxLen, E]
    const C = this.wx.map((w) => matMulFast(emb, asT(w)));
    const hs: tf.Tensor2D[] = [];
    let h = tf.zeros([B, this.spec.hidden]) as tf.Tensor2D;
    for (let t = 0; t < L; t++) {
      h = this.cell(C, tokenPosOneHot(tokens, t, L, B, t, this.spec.vocab, this.spec.maxLen), h);
      if (t >= from) hs.push(h);
    }
    const n = L - from;
    const f = tf.reshape(tf.stack(hs, 1), [B * n, this.spec.hidden]) as tf.Tensor2D; // [B*n, H]
    return tf.reshape(this.head(f), [B, n, this.spec.outDim]);
  }

  /**
   * GRU states after each of `count` positions for the given rows of ids [., stride] (columns
   * col0..col0+count-1, at positions pos0..), continuing from h0 [R, H] (null: zeros): [count*R, H],
   * time-major. The one-hot (token, position) inputs times C_g are sums of two rows of C_g: the
   * projections are part of the sequence's op (gru-bptt.ts).
   */
  private sequence(C: tf.Tensor2D, ids: Int32Array, rows: Int32Array, stride: number, col0: number, count: number, pos0: number, h0: tf.Tensor2D | null, last?: Int32Array): tf.Tensor2D {
    const R = rows.length;
    const tok = new Int32Array(count * R);
    for (let j = 0; j < count; j++) for (let i = 0; i < R; i++) tok[j * R + i] = ids[rows[i] * stride + col0 + j];
    const bx = this.bx as unknown as tf.Tensor1D[];
    // last is by position; the sequence's steps start at pos0
    const lastStep = last && last.map((p) => p - pos0);
    return gruSequence({ C, bx, tok, pos0, V: this.spec.vocab, last: lastStep }, asT(this.wh[0]), asT(this.wh[1]), asT(this.wh[2]), this.bhn as unknown as tf.Tensor1D, h0, R);
  }

  /**
   * Each row's last position whose state is used (its last live output; from - 1 for none), from
   * the completion mask `live` [B, L - from], or undefined where every state is (no mask, or
   * liveOnly off). Counts the states left out in liveOnly.skipped.
   */
  private lastLive(B: number, L: number, from: number, live?: ArrayLike<number>): Int32Array | undefined {
    if (!live || !liveOnly.enabled || gruPath() !== 'kernel') return undefined;
    const n = L - from;
    const last = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      let j = n - 1;
      while (j >= 0 && !(live[b * n + j] > 0)) j--;
      last[b] = from + j;
      liveOnly.skipped += L - 1 - last[b];
    }
    return last;
  }

  /**
   * States after positions from..L-1 of ids [B, L], time-major [(L-from)*B, H]. Rows whose first
   * s tokens agree share the state there: it is computed once per distinct prefix. s is from+1
   * where that pays (GRPO's G samples of one prompt): the prefixes' last states are outputs, copied
   * to each row (the copy's gradient sums the rows' gradients), which goes on from them. Else s is
   * the longest shorter prefix that pays (a batch of distinct prompts: 'aa+' has at most 100 values
   * where a batch holds 256 rows; sharedPrefix), and one sequence runs the prefixes and then each
   * row from its prefix's state (gruSequence's split: one kernel each way).
   */
  private states(C: tf.Tensor2D, ids: Int32Array, B: number, L: number, from: number, last?: Int32Array): tf.Tensor2D {
    const { hs, skip } = this.statesAfter(C, ids, B, L, from, last);
    return skip === 0 ? hs : (tf.slice(hs, [skip, 0], [(L - from) * B, this.spec.hidden]) as tf.Tensor2D);
  }

  /** states() before its slice: the sequence's states, whose last (L - from) * B rows are states()'s, after `skip` rows. */
  private statesAfter(C: tf.Tensor2D, ids: Int32Array, B: number, L: number, from: number, last?: Int32Array): { hs: tf.Tensor2D; skip: number } {
    const H = this.spec.hidden;
    const all = Int32Array.from({ length: B }, (_, b) => b);
    const shared = sharedPrefix(ids, B, L, from + 1);
    if (!shared) return { hs: this.sequence(C, ids, all, L, 0, L, 0, null, last), skip: from * B };
    const { s, g } = shared;
    const U = g.U;
    if (s === from + 1) {
      // The prefixes' last state is an output too (GRPO's G samples of a prompt): it is copied to
      // every row, which goes on from it.
      const pre = this.sequence(C, ids, g.first, L, 0, s, 0, null);
      const hB = expandRows(tf.slice(pre, [(s - 1) * U, 0], [U, H]) as tf.Tensor2D, g);
      if (L === s) return { hs: hB, skip: 0 };
      const rest = this.sequence(C, ids, all, L, s, L - s, s, hB, last); // positions s..L-1
      return { hs: tf.concat([hB, rest], 0) as tf.Tensor2D, skip: 0 };
    }
    // One sequence: the U prefixes for s steps, then every row from its prefix's state (positions
    // s..L-1), the outputs among the latter (a batch of distinct prompts: 'aa+' shared).
    const tok = new Int32Array(s * U + (L - s) * B);
    for (let j = 0; j < s; j++) for (let u = 0; u < U; u++) tok[j * U + u] = ids[g.first[u] * L + j];
    for (let j = s; j < L; j++) for (let b = 0; b < B; b++) tok[s * U + (j - s) * B + b] = ids[b * L + j];
    const bx = this.bx as unknown as tf.Tensor1D[];
    const hs = gruSequence({ C, bx, tok, pos0: 0, V: this.spec.vocab, split: { s, U, idx: g.of }, last }, asT(this.wh[0]), asT(this.wh[1]), asT(this.wh[2]), this.bhn as unknown as tf.Tensor1D, null, B);
    return { hs, skip: s * U + (from - s) * B };
  }

  private head(f: tf.Tensor2D): tf.Tensor2D {
    return tf.add(matMulFast(f, asT(this.wo)), this.bo) as tf.Tensor2D;
  }

  headInputs(tokens: Int32Array, B: number, L: number, from: number, live?: ArrayLike<number>) {
    if (!this.fusedBptt && taping()) return null;
    const { hs, skip } = this.statesAfter(this.inputMatrices(), tokens, B, L, from, this.lastLive(B, L, from, live));
    return { f: hs, skip, w: asT(this.wo), bias: this.bo as unknown as tf.Tensor1D };
  }

  outputs(tokens: Int32Array, B: number, L: number, from: number, live?: ArrayLike<number>): tf.Tensor3D {
    if (!this.fusedBptt && taping()) return this.unfusedOutputs(tokens, B, L, from);
    const n = L - from;
    const last = this.lastLive(B, L, from, live);
    const out = tf.reshape(this.head(this.states(this.inputMatrices(), tokens, B, L, from, last)), [n, B, this.spec.outDim]);
    return tf.transpose(out, [1, 0, 2]) as tf.Tensor3D; // [B, n, outDim]
  }

  begin(prompts: Int32Array, B: number, P: number) {
    // The folded input matrices are computed once per decode and carried in the state.
    const C = this.inputMatrices();
    const h = this.states(C, prompts, B, P, P - 1);
    return { state: { h, C }, out: this.head(h) };
  }

  next(state: DecodeState, tokens: Int32Array, pos: number) {
    const B = tokens.length;
    const h = this.sequence(state.C!, tokens, Int32Array.from({ length: B }, (_, b) => b), 1, 0, 1, pos, state.h!);
    return { state: { h, C: state.C }, out: this.head(h) };
  }

  copyFrom(other: SeqNet): void {
    other.vars.forEach((v, i) => this.vars[i].assign(v));
  }

  dispose(): void {
    tf.dispose(this.vars);
  }
}

/** An MLP's one-hot input windows: their ones (cols [N, S]), or the dense matrix (and its transpose). */
type Windows = { cols: Int32Array; N: number; S: number } | { x: tf.Tensor2D; xT: tf.Tensor2D | null };

class MlpNet implements SeqNet {
  readonly vars: tf.Variable[];
  readonly paramCount: number;
  readonly activeParams: number;
  readonly flopsPerToken: number;
  private ws: tf.Variable[] = [];
  private bs: tf.Variable[] = [];
  /** Hidden layers 2.. as mixtures of experts (spec.moe), else none. */
  readonly moeLayers: MoeLayer[] = [];
  private wo: tf.Variable;
  private bo: tf.Variable;
  /** Input width: window slots x vocab, plus the position one-hot. */
  private readonly K: number;

  constructor(readonly spec: NetSpec, rng: Rng) {
    const { vocab, maxLen, hidden: H, layers, window: W, outDim } = spec;
    this.K = W * vocab + maxLen;
    let fanIn = this.K;
    let flops = 0;
    let inactive = 0;
    for (let l = 0; l < layers; l++) {
      if (l > 0 && spec.moe && spec.moe.experts > 0) {
        const m = new MoeLayer(spec.moe, H, false, rng, glorot(rng));
        this.moeLayers.push(m);
        flops += m.activeFlops;
        inactive += m.totalParams - m.activeParams;
        continue;
      }
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
    this.vars = [...this.ws, ...this.bs, ...this.moeLayers.flatMap((m) => m.vars), this.wo, this.bo];
    this.paramCount = countParams(this.vars);
    this.activeParams = this.paramCount - inactive;
    this.flopsPerToken = flops;
    for (const m of this.moeLayers) m.owner = this.vars;
  }

  /**
   * One-hot windows [B*n, K] for positions from..L-1 of tokens [B, L] that start at pos0: each row
   * has a one per window slot (slot k, k tokens back, at column k*V + token; none before the start)
   * and one at column W*V + position. Where the backend has the one-hot kernels (oneHotRows) just
   * those columns, in increasing order [B*n, W+1] (-1: none); else the dense matrix and, with
   * `withT`, its transpose [K, B*n] (for the first layer's gradient).
   */
  private windows(tokens: Int32Array, B: number, L: number, from: number, pos0: number, withT = false, rows?: Int32Array): Windows {
    const { vocab: V, window: W } = this.spec;
    const K = this.K;
    const n = L - from;
    const N = B * n;
    if (oneHotRows()) {
      // Every position's window, or just those of `rows` (indices b * n + i), in that order.
      const S = W + 1;
      const count = rows ? rows.length : N;
      const cols = new Int32Array(count * S).fill(-1);
      for (let q = 0; q < count; q++) {
        const row = rows ? rows[q] : q;
        const b = Math.floor(row / n), t = from + (row - b * n);
        const r = q * S;
        for (let k = 0; k < W && t - k >= 0; k++) cols[r + k] = k * V + tokens[b * L + t - k];
        cols[r + W] = W * V + pos0 + t;
      }
      return { cols, N: count, S };
    }
    const x = new Float32Array(N * K);
    const xT = withT ? new Float32Array(K * N) : null;
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < n; i++) {
        const t = from + i;
        const r = b * n + i;
        for (let k = 0; k < W && t - k >= 0; k++) {
          const c = k * V + tokens[b * L + t - k]; // slot k: k back
          x[r * K + c] = 1;
          if (xT) xT[c * N + r] = 1;
        }
        const c = W * V + pos0 + t;
        x[r * K + c] = 1;
        if (xT) xT[c * N + r] = 1;
      }
    }
    return { x: tf.tensor2d(x, [N, K]), xT: xT ? tf.tensor2d(xT, [K, N]) : null };
  }

  private mlp(win: Windows): tf.Tensor2D {
    let h: tf.Tensor2D | null = null;
    for (let l = 0; l < this.ws.length; l++) {
      let a: tf.Tensor2D;
      if (l > 0) a = matMulFast(h!, asT(this.ws[l]));
      else if ('cols' in win) a = oneHotMatMul(win.cols, win.N, win.S, this.K, asT(this.ws[0]));
      else a = win.xT ? inputMatMul(win.x, win.xT, asT(this.ws[0])) : tf.matMul(win.x, asT(this.ws[0]));
      h = biasTanh(a, this.bs[l] as tf.Tensor1D);
    }
    for (const m of this.moeLayers) h = tanh(m.apply(h!)) as tf.Tensor2D;
    return tf.add(matMulFast(h!, asT(this.wo)), this.bo) as tf.Tensor2D;
  }

  outputs(tokens: Int32Array, B: number, L: number, from: number, live?: ArrayLike<number>): tf.Tensor3D {
    const out = this.spec.outDim;
    const n = L - from;
    // Rows whose first from+1 tokens agree (GRPO's G samples of one prompt) have the same output
    // at position `from`: computed once per distinct prefix and copied (the gradient sums them).
    const g = prefixGroups(tokens, B, L, from + 1);
    if (!worthSharing(g, B)) return tf.reshape(this.positions(tokens, B, L, from, live, 0), [B, n, out]);
    const heads = firstRows(tokens, L, from + 1, g);
    const first = tf.reshape(expandRows(this.mlp(this.windows(heads, g.U, from + 1, from, 0, taping())), g), [B, 1, out]);
    if (n === 1) return first as tf.Tensor3D;
    const rest = tf.reshape(this.positions(tokens, B, L, from + 1, live, 1), [B, n - 1, out]);
    return tf.concat([first, rest], 1) as tf.Tensor3D;
  }

  /**
   * The outputs at positions from..L-1 of every row, [B * (L - from), outDim]. Given `live` (a
   * mask over positions from - skip..L-1 of each row), only the live positions are computed (each
   * output depends on its own window alone) and the others are 0: the live ones are the same bits
   * as computing all (a product's dead rows only ever added zeros to the gradients). A mixture of
   * experts computes all: its balance loss and routing statistics count every position.
   */
  private positions(tokens: Int32Array, B: number, L: number, from: number, live: ArrayLike<number> | undefined, skip: number): tf.Tensor2D {
    const n = L - from;
    const all = () => this.mlp(this.windows(tokens, B, L, from, 0, taping()));
    if (!live || !liveOnly.enabled || this.moeLayers.length || !oneHotRows()) return all();
    const w = n + skip; // the mask's row length
    const at = new Int32Array(B * n); // each position's row among the computed ones, -1: not computed
    const rows: number[] = [];
    for (let b = 0; b < B; b++) for (let i = 0; i < n; i++) at[b * n + i] = live[b * w + skip + i] ? rows.push(b * n + i) - 1 : -1;
    if (rows.length === B * n) return all();
    liveOnly.skipped += B * n - rows.length;
    if (rows.length === 0) return tf.zeros([B * n, this.spec.outDim]);
    const y = this.mlp(this.windows(tokens, B, L, from, 0, taping(), Int32Array.from(rows)));
    // Back in place, zeros elsewhere: a one-hot product (its gradient copies each row back).
    return oneHotMatMul(at, B * n, 1, rows.length, y);
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
    // Repeated prompts (a GRPO group) are run once each.
    const g = prefixGroups(t.tokens, B, t.len, t.len);
    if (!worthSharing(g, B)) return { state: t, out: this.mlp(this.windows(t.tokens, B, t.len, t.len - 1, P - t.len)) };
    const uniq = firstRows(t.tokens, t.len, t.len, g);
    return { state: t, out: expandRows(this.mlp(this.windows(uniq, g.U, t.len, t.len - 1, P - t.len)), g) };
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
    for (const m of this.moeLayers) m.dispose();
  }
}

export function createNet(spec: NetSpec, rng: Rng): SeqNet {
  if (spec.kind === 'transformer') return new TransformerNet(spec, rng);
  return spec.kind === 'gru' ? new GruNet(spec, rng) : new MlpNet(spec, rng);
}
