/**
 * A tiny causal decoder (GPT-style, pre-norm), the third policy family:
 *
 *   x_0 = tok[token] + pos[position]                          (one-hot x [tok; pos], as the MLP does)
 *   for each of `layers` blocks:
 *     a   = MultiHeadAttention(LN_1(x))  with a causal mask   (heads of width ceil(embed / heads))
 *     x  += a W_o
 *     x  += W_2 gelu(W_1 LN_2(x) + b_1) + b_2                 (width `hidden`)
 *   logits = LN_f(x) W_out + b_out
 *
 * Sampling keeps every layer's keys and values of the positions decoded so far (the KV cache), so
 * a new token costs one position's attention over the cache instead of a pass over the whole
 * sequence; test/nets.test.ts checks that cached decoding gives teacher forcing's log-probs.
 *
 * Like the other nets it keeps to what tfjs-wasm does fast (DESIGN.md section 3): matMuls with
 * hand-written gradients (no transposed operands in the backward pass of the 2-D ones), gelu as
 * x sigmoid(1.702 x) (no Tanh or Erf kernel), and no gather under a gradient tape. Where our
 * WebAssembly kernels run (workers/fused-kernels.ts), layer norm, bias + gelu and the attention
 * itself are one kernel each way (layers.ts); elsewhere the tfjs ops below compute the same function.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../rng';
import { attention, biasGelu, fusedAttention, inputMatMul, layerNorm as layerNormOp, matMulFast, normalVar, oneHotMatMul, oneHotRows, taping, uniformVar, uniqueName, zerosVar } from './layers';
import type { DecodeState, NetSpec, SeqNet } from './net';
import { MoeLayer } from './moe';
import { headDim, transformerFlops } from './sizes';

const asT = (v: tf.Variable) => v as unknown as tf.Tensor2D;
/** One block's keys and values so far (the KV cache). */
type Cache = { k: tf.Tensor; v: tf.Tensor };
const LN_EPS = 1e-5;

/** Per block, the attention weights of the last pass that asked for them: [heads, Lq, Lk] per layer, for row 0. */
export type AttentionMaps = { layer: number; head: number; weights: number[][] }[];

interface Block {
  ln1g: tf.Variable;
  ln1b: tf.Variable;
  wq: tf.Variable;
  wk: tf.Variable;
  wv: tf.Variable;
  wo: tf.Variable;
  bo: tf.Variable;
  ln2g: tf.Variable;
  ln2b: tf.Variable;
  /** The dense MLP block, or a mixture of experts in its place. */
  mlp: { w1: tf.Variable; b1: tf.Variable; w2: tf.Variable; b2: tf.Variable } | MoeLayer;
}

/** Layer norm over the last axis of x [N, E] with gain and bias [E]. */
function layerNorm(x: tf.Tensor2D, g: tf.Variable, b: tf.Variable): tf.Tensor2D {
  return layerNormOp(x, g as unknown as tf.Tensor1D, b as unknown as tf.Tensor1D, LN_EPS);
}

export class TransformerNet implements SeqNet {
  readonly vars: tf.Variable[];
  readonly paramCount: number;
  readonly activeParams: number;
  readonly flopsPerToken: number;
  readonly moeLayers: MoeLayer[] = [];
  private readonly emb: tf.Variable; // [V + maxLen, E]: token rows, then position rows
  private readonly blocks: Block[] = [];
  private readonly lnfg: tf.Variable;
  private readonly lnfb: tf.Variable;
  private readonly wout: tf.Variable;
  private readonly bout: tf.Variable;
  private readonly H: number;
  private readonly dh: number;
  /** Causal masks [L, L] (0 on and below the diagonal, -1e9 above), by length. */
  private readonly masks = new Map<number, tf.Tensor2D>();
  /** Set to ask outputs()/begin()/next() to record row 0's attention maps (the inspector). */
  record: AttentionMaps | null = null;

  constructor(readonly spec: NetSpec, rng: Rng) {
    const { vocab: V, maxLen, embed: E, hidden: F, layers, outDim } = spec;
    this.H = Math.max(1, spec.heads ?? 1);
    this.dh = headDim(spec);
    const A = this.H * this.dh;
    // GPT-2's initialisation: N(0, 0.02) everywhere, residual projections scaled by 1/sqrt(2 layers).
    const std = 0.02;
    const resid = std / Math.sqrt(2 * layers);
    this.emb = normalVar(rng, [V + maxLen, E], std, uniqueName('tf_emb'));
    for (let l = 0; l < layers; l++) {
      this.blocks.push({
        ln1g: onesVar([E], uniqueName('tf_ln1g')),
        ln1b: zerosVar([E], uniqueName('tf_ln1b')),
        wq: normalVar(rng, [E, A], std, uniqueName('tf_wq')),
        wk: normalVar(rng, [E, A], std, uniqueName('tf_wk')),
        wv: normalVar(rng, [E, A], std, uniqueName('tf_wv')),
        wo: normalVar(rng, [A, E], resid, uniqueName('tf_wo')),
        bo: zerosVar([E], uniqueName('tf_bo')),
        ln2g: onesVar([E], uniqueName('tf_ln2g')),
        ln2b: zerosVar([E], uniqueName('tf_ln2b')),
        mlp:
          spec.moe && spec.moe.experts > 0
            ? new MoeLayer(spec.moe, E, true, rng, (shape, _fanIn, _fanOut, name) => normalVar(rng, shape, name.startsWith('moe_w2') ? resid : std, name))
            : {
                w1: normalVar(rng, [E, F], std, uniqueName('tf_w1')),
                b1: zerosVar([F], uniqueName('tf_b1')),
                w2: normalVar(rng, [F, E], resid, uniqueName('tf_w2')),
                b2: zerosVar([E], uniqueName('tf_b2')),
              },
      });
    }
    for (const b of this.blocks) if (b.mlp instanceof MoeLayer) this.moeLayers.push(b.mlp);
    this.lnfg = onesVar([E], uniqueName('tf_lnfg'));
    this.lnfb = zerosVar([E], uniqueName('tf_lnfb'));
    this.wout = uniformVar(rng, [E, outDim], 1 / Math.sqrt(E), uniqueName('tf_wout'));
    this.bout = zerosVar([outDim], uniqueName('tf_bout'));
    const mlpVars = (m: Block['mlp']) => (m instanceof MoeLayer ? m.vars : [m.w1, m.b1, m.w2, m.b2]);
    this.vars = [this.emb, ...this.blocks.flatMap((b) => [b.ln1g, b.ln1b, b.wq, b.wk, b.wv, b.wo, b.bo, b.ln2g, b.ln2b, ...mlpVars(b.mlp)]), this.lnfg, this.lnfb, this.wout, this.bout];
    this.paramCount = this.vars.reduce((n, v) => n + v.size, 0);
    this.activeParams = this.paramCount - this.moeLayers.reduce((n, m) => n + m.totalParams - m.activeParams, 0);
    this.flopsPerToken = transformerFlops(spec);
    for (const m of this.moeLayers) m.owner = this.vars;
  }

  /** x_0 for positions pos0.. of ids [B, L]: [B*L, E] (one-hot [token, position] x emb). */
  private embed(ids: Int32Array, B: number, L: number, pos0: number): tf.Tensor2D {
    const { vocab: V, maxLen } = this.spec;
    const K = V + maxLen;
    const N = B * L;
    if (oneHotRows()) {
      // Two ones per row, in increasing column order (token < V <= position column).
      const cols = new Int32Array(N * 2);
      for (let r = 0; r < N; r++) (cols[2 * r] = ids[r]), (cols[2 * r + 1] = V + pos0 + (r % L));
      return oneHotMatMul(cols, N, 2, K, asT(this.emb));
    }
    const x = new Float32Array(N * K);
    const withT = taping();
    const xT = withT ? new Float32Array(K * N) : null;
    for (let r = 0; r < N; r++) {
      const tok = ids[r];
      const p = V + pos0 + (r % L);
      x[r * K + tok] = 1;
      x[r * K + p] = 1;
      if (xT) (xT[tok * N + r] = 1), (xT[p * N + r] = 1);
    }
    const xt = tf.tensor2d(x, [N, K]);
    return xT ? inputMatMul(xt, tf.tensor2d(xT, [K, N]), asT(this.emb)) : tf.matMul(xt, asT(this.emb));
  }

  private mask(L: number): tf.Tensor2D {
    let m = this.masks.get(L);
    if (!m) {
      const a = new Float32Array(L * L);
      for (let i = 0; i < L; i++) for (let j = i + 1; j < L; j++) a[i * L + j] = -1e9;
      m = tf.keep(tf.tensor2d(a, [L, L]));
      this.masks.set(L, m);
    }
    return m;
  }

  /** [B*L, H*dh] -> [B, H, L, dh]. */
  private split(x: tf.Tensor2D, B: number, L: number): tf.Tensor4D {
    return tf.transpose(tf.reshape(x, [B, L, this.H, this.dh]), [0, 2, 1, 3]) as tf.Tensor4D;
  }

  /**
   * One block over the new positions x [B*Lq, E], attending to the cache's keys and values (when
   * decoding) and the new positions' own (causally). Returns the new x and this block's keys and
   * values (cache + new), the next step's cache: [B, Lk, A] where our attention kernel runs
   * (fusedAttention()), else [B, H, Lk, dh] for the tfjs ops. A cache keeps the path it began on.
   */
  private block(l: number, x: tf.Tensor2D, B: number, Lq: number, cache: Cache | null): { x: tf.Tensor2D; k: tf.Tensor; v: tf.Tensor } {
    const b = this.blocks[l];
    const A = this.H * this.dh;
    const scale = 1 / Math.sqrt(this.dh);
    const h = layerNorm(x, b.ln1g, b.ln1b);
    let o: tf.Tensor2D;
    let k: tf.Tensor;
    let v: tf.Tensor;
    if (cache ? cache.k.rank === 3 : fusedAttention()) {
      k = tf.reshape(matMulFast(h, asT(b.wk)), [B, Lq, A]);
      v = tf.reshape(matMulFast(h, asT(b.wv)), [B, Lq, A]);
      if (cache) {
        k = tf.concat([cache.k, k], 1);
        v = tf.concat([cache.v, v], 1);
      }
      const Lk = k.shape[1]!;
      const flat = (t: tf.Tensor) => tf.reshape(t, [B * Lk, A]) as tf.Tensor2D;
      o = attention(matMulFast(h, asT(b.wq)), flat(k), flat(v), B, this.H, scale, this.record ? (P) => this.keepMaps(l, P, Lq, Lk) : undefined);
    } else {
      const q = this.split(matMulFast(h, asT(b.wq)), B, Lq);
      k = this.split(matMulFast(h, asT(b.wk)), B, Lq);
      v = this.split(matMulFast(h, asT(b.wv)), B, Lq);
      if (cache) {
        k = tf.concat([cache.k, k], 2);
        v = tf.concat([cache.v, v], 2);
      }
      const Lk = k.shape[2]!;
      let scores = tf.mul(tf.matMul(q, k as tf.Tensor4D, false, true), scale) as tf.Tensor4D; // [B, H, Lq, Lk]
      // A pass over a whole sequence masks the future; one decoding step (Lq = 1) sees the whole cache.
      if (Lq > 1) scores = tf.add(scores, this.mask(Lk)) as tf.Tensor4D;
      const attn = tf.softmax(scores) as tf.Tensor4D;
      if (this.record) this.keepMaps(l, attn, Lq, Lk);
      o = tf.reshape(tf.transpose(tf.matMul(attn, v as tf.Tensor4D), [0, 2, 1, 3]), [B * Lq, A]) as tf.Tensor2D;
    }
    let y = tf.add(x, tf.add(matMulFast(o, asT(b.wo)), b.bo)) as tf.Tensor2D;
    const n2 = layerNorm(y, b.ln2g, b.ln2b);
    if (b.mlp instanceof MoeLayer) y = tf.add(y, b.mlp.apply(n2)) as tf.Tensor2D;
    else {
      const m = biasGelu(matMulFast(n2, asT(b.mlp.w1)), b.mlp.b1 as unknown as tf.Tensor1D);
      y = tf.add(y, tf.add(matMulFast(m, asT(b.mlp.w2)), b.mlp.b2)) as tf.Tensor2D;
    }
    return { x: y, k, v };
  }

  /** Row 0's attention [H, Lq, Lk] of layer l, appended to `record` (decoding steps add rows). */
  private keepMaps(l: number, attn: tf.Tensor4D, Lq: number, Lk: number): void {
    const a = tf.slice(attn, [0, 0, 0, 0], [1, this.H, Lq, Lk]).dataSync();
    for (let hd = 0; hd < this.H; hd++) {
      let map = this.record!.find((m) => m.layer === l && m.head === hd);
      if (!map) this.record!.push((map = { layer: l, head: hd, weights: [] }));
      for (let i = 0; i < Lq; i++) map.weights.push(Array.from(a.subarray((hd * Lq + i) * Lk, (hd * Lq + i + 1) * Lk)));
    }
  }

  private head(x: tf.Tensor2D): tf.Tensor2D {
    return tf.add(matMulFast(layerNorm(x, this.lnfg, this.lnfb), asT(this.wout)), this.bout) as tf.Tensor2D;
  }

  /** The whole stack over ids [B, L] from position pos0, with the caches it leaves. */
  private run(ids: Int32Array, B: number, L: number, pos0: number, caches: Cache[] | null): { x: tf.Tensor2D; caches: Cache[] } {
    let x = this.embed(ids, B, L, pos0);
    const out: Cache[] = [];
    for (let l = 0; l < this.blocks.length; l++) {
      const r = this.block(l, x, B, L, caches ? caches[l] : null);
      x = r.x;
      out.push({ k: r.k, v: r.v });
    }
    return { x, caches: out };
  }

  outputs(tokens: Int32Array, B: number, L: number, from: number): tf.Tensor3D {
    const { x } = this.run(tokens, B, L, 0, null);
    const E = this.spec.embed;
    const tail = from === 0 ? x : (tf.reshape(tf.slice(tf.reshape(x, [B, L, E]), [0, from, 0], [B, L - from, E]), [B * (L - from), E]) as tf.Tensor2D);
    return tf.reshape(this.head(tail), [B, L - from, this.spec.outDim]) as tf.Tensor3D;
  }

  begin(prompts: Int32Array, B: number, P: number) {
    const { x, caches } = this.run(prompts, B, P, 0, null);
    const E = this.spec.embed;
    const last = tf.reshape(tf.slice(tf.reshape(x, [B, P, E]), [0, P - 1, 0], [B, 1, E]), [B, E]) as tf.Tensor2D;
    return { state: { kv: caches.flatMap((c) => [c.k, c.v]) }, out: this.head(last) };
  }

  next(state: DecodeState, tokens: Int32Array, pos: number) {
    const B = tokens.length;
    const kv = state.kv!;
    const caches = this.blocks.map((_, l) => ({ k: kv[2 * l], v: kv[2 * l + 1] }));
    const { x, caches: next } = this.run(tokens, B, 1, pos, caches);
    return { state: { kv: next.flatMap((c) => [c.k, c.v]) }, out: this.head(x) };
  }

  copyFrom(other: SeqNet): void {
    other.vars.forEach((v, i) => this.vars[i].assign(v));
  }

  dispose(): void {
    tf.dispose(this.vars);
    for (const m of this.moeLayers) m.dispose();
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
  }
}

function onesVar(shape: number[], name: string): tf.Variable {
  const t = tf.ones(shape);
  const v = tf.variable(t, true, name);
  t.dispose();
  return v;
}
