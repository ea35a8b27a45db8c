/**
 * A whole GRU sequence as one differentiable op with a hand-written backward pass
 * (backpropagation through time). Same function as stepping GruNet's cell with autodiff, but
 * tfjs-wasm's cost at these sizes is per kernel, and autodiff of the unrolled cell launches
 * ~4x more kernels than this (every add and broadcast gets its own gradient ops). Checked
 * against autodiff in test/nets.test.ts.
 *
 * PyTorch's GRU equations, per step t (x-projections include their biases):
 *   r = sig(xr_t + h Whr)        z = sig(xz_t + h Whz)
 *   hn = h Whn + bhn             n = tanh(xn_t + r * hn)
 *   h' = n + z * (h - n)
 */
import * as tf from '@tensorflow/tfjs';
import { kernelOp, matMulFast, ownKernels, pickRows, taping } from './layers';

/**
 * The whole sequence's forward and backward passes, input projections included, as one kernel
 * each where the backend has them: workers/fused-kernels.ts registers them on tfjs-wasm (our own
 * WebAssembly SIMD module). Without them, or with `backendTraits.gruSequence` false, the tfjs ops
 * below compute the same function (to float rounding; test/kernels.test.ts compares the two).
 */
export const GRU_KERNELS = { forward: 'PlaygroundGruForward', backward: 'PlaygroundGruBackward' } as const;

/** The input matrices' two kernels (registered with the GRU's, on the same switch). */
export const EMBED_KERNELS = { forward: 'PlaygroundEmbedProject', backward: 'PlaygroundEmbedProjectGrad' } as const;

/**
 * The GRU's input matrices with the embeddings folded in, stacked: [C_r; C_z; C_n] [3K, H] with
 * C_g = [tok; pos] W_g (tok [V, E], pos [maxLen, E], W_g [E, H], K = V + maxLen), so that a one-hot
 * (token, position) row times C_g is x_t W_g. One kernel each way where the GRU's kernels run, in
 * place of a concat and three products forward and nine kernels backward: the same values and
 * gradients to the bit (test/kernels.test.ts).
 */
export function inputMatrices(tok: tf.Tensor2D, pos: tf.Tensor2D, w: tf.Tensor2D[]): tf.Tensor2D {
  if (ownKernels('gruSequence', EMBED_KERNELS)) {
    const [wr, wz, wn] = w;
    return kernelOp(EMBED_KERNELS, { tok, pos, wr, wz, wn }, {}, {}, (ins) => ({ tok: ins.tok, pos: ins.pos, wr: ins.wr, wz: ins.wz, wn: ins.wn })) as tf.Tensor2D;
  }
  const emb = tf.concat([tok, pos], 0) as tf.Tensor2D; // [V + maxLen, E]
  return tf.concat(w.map((wg) => matMulFast(emb, wg)), 0) as tf.Tensor2D;
}

/** Which path gruSequence takes on the current backend: 'kernel' (fused) or 'tfjs'. */
export function gruPath(): 'kernel' | 'tfjs' {
  return ownKernels('gruSequence', GRU_KERNELS) ? 'kernel' : 'tfjs';
}

/**
 * A sequence's inputs: at step t, row b, the one-hot row (token tok[t*B+b], position pos0+t),
 * whose product with an input matrix is the sum of two of its rows (plus the gate's bias).
 */
export interface GruInputs {
  /** The folded input matrices of the gates r, z, n, stacked [3K, H] (inputMatrices): each K = V + maxLen rows, V token rows, then one row per position. */
  C: tf.Tensor2D;
  /** The gates' input biases [H] (b_ir + b_hr, b_iz + b_hz, b_in). */
  bx: tf.Tensor1D[];
  /** Token ids, time-major: B per step (rows t*B .. t*B+B-1 are step t); with a split, U per step for its first s steps. */
  tok: Int32Array;
  /**
   * Rows that share their first s tokens, computed once: the first s steps have U rows (the
   * distinct prefixes), the steps after them B, row b continuing from prefix row idx[b]. Only from
   * a zero start state. The states come out in the same layout: U rows per step, then B.
   */
  split?: { s: number; U: number; idx: Int32Array };
  /**
   * Each of the B rows' last step whose state is used (its last output), or none: every state.
   * Where given, the kernels leave a row out of the steps after it (from the split on) and its
   * states there are 0; the states that are used, and every gradient, stay the same.
   */
  last?: Int32Array;
  /** The absolute position of step 0. */
  pos0: number;
  /** Vocabulary size: C's first position row. */
  V: number;
}

function gruSequenceKernel(x: GruInputs, whr: tf.Tensor2D, whz: tf.Tensor2D, whn: tf.Tensor2D, bhn: tf.Tensor1D, h0: tf.Tensor2D | null, B: number): tf.Tensor2D {
  const [bxr, bxz, bxn] = x.bx;
  const { V, pos0, split } = x;
  const zeroH0 = h0 === null;
  const U = split ? split.U : B, s = split ? split.s : 0;
  const h = h0 ?? (tf.zeros([U, whr.shape[0]]) as tf.Tensor2D);
  const tok = tf.tensor1d(x.tok, 'int32');
  // A zero start state is a constant: no gradient, and the kernels skip what only it would need.
  const inputs: Record<string, tf.Tensor> = { c: x.C, bxr, bxz, bxn, whr, whz, whn, bhn };
  const constants: Record<string, tf.Tensor> = { tok };
  if (split) constants.idx = tf.tensor1d(split.idx, 'int32');
  if (x.last) constants.last = tf.tensor1d(x.last, 'int32');
  (zeroH0 ? constants : inputs).h0 = h;
  const attrs = { B, V, pos0, U, s };
  // The forward kernel returns [hs, R, Z, N, HN]; the backward one the inputs' gradients, in their order.
  return kernelOp(GRU_KERNELS, inputs, constants, attrs, (ins, [hs, R, Z, N, HN]) => ({
    whr: ins.whr, whz: ins.whz, whn: ins.whn, h0: ins.h0, hs, R, Z, N, HN, tok: ins.tok, ...(split ? { idx: ins.idx } : {}), ...(x.last ? { last: ins.last } : {}),
  }), { ...attrs, zeroH0, K: x.C.shape[0] / 3 }) as tf.Tensor2D;
}

/**
 * The GRU's inputs for L steps of B rows as tfjs ops: x_g = C_g[tok] + C_g[position] + bx_g, time-
 * major [L*B, H] each. C_g's gradient (tfjs-wasm registers none for gather): token rows
 * X_tok^T dy with X_tok^T [V, N] built in JS (no transpose kernel); position rows are sums of dy
 * over each position's block of rows.
 */
function projections(x: GruInputs, B: number): tf.Tensor2D[] {
  const { tok: tokIds, pos0, V } = x;
  const N = tokIds.length, count = N / B;
  const K = x.C.shape[0] / 3, H = x.C.shape[1];
  const maxLen = K - V;
  const tok = tf.tensor1d(tokIds, 'int32');
  const pos = tf.tensor1d(Int32Array.from({ length: N }, (_, r) => V + pos0 + Math.floor(r / B)), 'int32');
  const gathered = (c: tf.Tensor2D) => tf.add(tf.gather(c, tok), tf.gather(c, pos)) as tf.Tensor2D;
  let xT: tf.Tensor2D | null = null;
  const times = (c: tf.Tensor2D): tf.Tensor2D => {
    if (!taping()) return gathered(c);
    if (!xT) {
      const oh = new Float32Array(V * N);
      for (let r = 0; r < N; r++) oh[tokIds[r] * N + r] = 1;
      xT = tf.tensor2d(oh, [V, N]);
    }
    const xTc = xT;
    const op = tf.customGrad(((cIn: tf.Tensor2D, save: tf.GradSaveFunc) => {
      save([xTc]);
      return {
        value: gathered(cIn),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
          const g = dy as tf.Tensor2D;
          const D = g.shape[1];
          const parts: tf.Tensor2D[] = [tf.matMul(saved[0] as tf.Tensor2D, g)]; // token rows [V, D]
          if (pos0 > 0) parts.push(tf.zeros([pos0, D]));
          parts.push(tf.sum(tf.reshape(g, [count, B, D]), 1) as tf.Tensor2D); // positions pos0.. [count, D]
          if (maxLen - pos0 - count > 0) parts.push(tf.zeros([maxLen - pos0 - count, D]));
          return [tf.concat(parts, 0)];
        },
      };
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
    }) as any) as unknown as (c: tf.Tensor2D) => tf.Tensor2D;
    return op(c);
  };
  return [0, 1, 2].map((g) => tf.add(times(tf.slice(x.C, [g * K, 0], [K, H]) as tf.Tensor2D), x.bx[g]) as tf.Tensor2D);
}

/**
 * whr, whz, whn [H, H]; bhn [H]; h0 [B, H], the state before step 1, or null for zeros (then it
 * gets no gradient; otherwise it does, so a sequence can continue from another's state). Returns
 * all states h_1..h_L time-major, in the layout of x.tok ([L*B, H]; with a split, U rows for each of
 * its first s steps, then B).
 */
export function gruSequence(x: GruInputs, whr: tf.Tensor2D, whz: tf.Tensor2D, whn: tf.Tensor2D, bhn: tf.Tensor1D, h0: tf.Tensor2D | null, B: number): tf.Tensor2D {
  const H = whr.shape[0];
  const split = x.split;
  if (split && (h0 || split.s < 1 || split.idx.length !== B)) throw new Error('gruSequence: a split starts from zeros, after at least one step, with a prefix row for each of the B rows');
  if (x.tok.length * H > 0 && gruPath() === 'kernel') return gruSequenceKernel(x, whr, whz, whn, bhn, h0, B);
  if (split) {
    // The prefixes, then each row from its prefix's last state, as two sequences.
    const { s, U, idx } = split;
    const pre = gruSequence({ ...x, tok: x.tok.subarray(0, s * U), split: undefined }, whr, whz, whn, bhn, null, U);
    if (x.tok.length === s * U) return pre;
    const hB = pickRows(tf.slice(pre, [(s - 1) * U, 0], [U, H]) as tf.Tensor2D, idx);
    const rest = gruSequence({ ...x, tok: x.tok.subarray(s * U), pos0: x.pos0 + s, split: undefined }, whr, whz, whn, bhn, hB, B);
    return tf.concat([pre, rest], 0) as tf.Tensor2D;
  }
  const [xr, xz, xn] = projections(x, B);
  return gruRecurrence(xr, xz, xn, whr, whz, whn, bhn, h0 ?? (tf.zeros([B, H]) as tf.Tensor2D), B);
}

/** The recurrence as tfjs ops with a hand-written backward pass, from the projections xr, xz, xn [L*B, H]. */
function gruRecurrence(
  xr: tf.Tensor2D, xz: tf.Tensor2D, xn: tf.Tensor2D,
  whr: tf.Tensor2D, whz: tf.Tensor2D, whn: tf.Tensor2D, bhn: tf.Tensor1D,
  h0: tf.Tensor2D, B: number,
): tf.Tensor2D {
  const H = whr.shape[0];
  const L = xr.shape[0] / B;
  const op = tf.customGrad(((xr: tf.Tensor2D, xz: tf.Tensor2D, xn: tf.Tensor2D, whr: tf.Tensor2D, whz: tf.Tensor2D, whn: tf.Tensor2D, bhn: tf.Tensor1D, h0: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const rs: tf.Tensor2D[] = [], zs: tf.Tensor2D[] = [], ns: tf.Tensor2D[] = [], hns: tf.Tensor2D[] = [], hprev: tf.Tensor2D[] = [];
    let h = h0;
    // Row blocks by slicing (tfjs-wasm's SplitV is slower than L contiguous slices).
    const rows = (x: tf.Tensor2D) => Array.from({ length: L }, (_, t) => tf.slice(x, [t * B, 0], [B, H]) as tf.Tensor2D);
    const [XR, XZ, XN] = [rows(xr), rows(xz), rows(xn)];
    for (let t = 0; t < L; t++) {
      const r = tf.sigmoid(tf.add(XR[t], tf.matMul(h, whr))) as tf.Tensor2D;
      const z = tf.sigmoid(tf.add(XZ[t], tf.matMul(h, whz))) as tf.Tensor2D;
      const hn = tf.add(tf.matMul(h, whn), bhn) as tf.Tensor2D;
      // tanh(a) = 2 sig(2a) - 1 (tfjs-wasm's Tanh kernel is slow)
      const n = tf.sub(tf.mul(tf.sigmoid(tf.mul(tf.add(XN[t], tf.mul(r, hn)), 2)), 2), 1) as tf.Tensor2D;
      hprev.push(h);
      h = tf.add(n, tf.mul(z, tf.sub(h, n))) as tf.Tensor2D;
      rs.push(r); zs.push(z); ns.push(n); hns.push(hn);
    }
    const hsList = [...hprev.slice(1), h];
    const hs = tf.concat(hsList, 0) as tf.Tensor2D; // [L*B, H]
    save([whr, whz, whn, ...rs, ...zs, ...ns, ...hns, ...hprev]);
    return {
      value: hs,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g = dy as tf.Tensor2D;
        const [sWhr, sWhz, sWhn] = saved as tf.Tensor2D[];
        const part = (k: number) => saved.slice(3 + k * L, 3 + (k + 1) * L) as tf.Tensor2D[];
        const [R, Z, N, HN, HP] = [part(0), part(1), part(2), part(3), part(4)];
        const whrT = tf.transpose(sWhr), whzT = tf.transpose(sWhz), whnT = tf.transpose(sWhn);
        const dar: tf.Tensor2D[] = new Array(L), daz: tf.Tensor2D[] = new Array(L), dan: tf.Tensor2D[] = new Array(L), dhn: tf.Tensor2D[] = new Array(L);
        let dh: tf.Tensor2D | null = null;
        const DY = rows(g);
        for (let t = L - 1; t >= 0; t--) {
          const dyt = DY[t];
          const d = (dh ? tf.add(dh, dyt) : dyt) as tf.Tensor2D; // dL/dh_t
          const [r, z, n, hn, hp] = [R[t], Z[t], N[t], HN[t], HP[t]];
          const dn = tf.sub(d, tf.mul(d, z)); // d * (1 - z)
          const dz = tf.mul(d, tf.sub(hp, n));
          dan[t] = tf.mul(dn, tf.sub(1, tf.square(n))) as tf.Tensor2D; // through tanh
          const drr = tf.mul(dan[t], hn);
          dar[t] = tf.mul(drr, tf.mul(r, tf.sub(1, r))) as tf.Tensor2D; // through sigmoid
          daz[t] = tf.mul(dz, tf.mul(z, tf.sub(1, z))) as tf.Tensor2D;
          dhn[t] = tf.mul(dan[t], r) as tf.Tensor2D;
          dh = tf.addN([tf.mul(d, z), tf.matMul(dar[t], whrT), tf.matMul(daz[t], whzT), tf.matMul(dhn[t], whnT)]) as tf.Tensor2D;
        }
        const DAR = tf.concat(dar, 0) as tf.Tensor2D, DAZ = tf.concat(daz, 0) as tf.Tensor2D;
        const DAN = tf.concat(dan, 0) as tf.Tensor2D, DHN = tf.concat(dhn, 0) as tf.Tensor2D;
        const HPT = tf.transpose(tf.concat(HP, 0)) as tf.Tensor2D; // [H, L*B]
        return [DAR, DAZ, DAN, tf.matMul(HPT, DAR), tf.matMul(HPT, DAZ), tf.matMul(HPT, DHN), tf.sum(DHN, 0), dh!];
      },
    };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  }) as any) as (...xs: tf.Tensor[]) => tf.Tensor2D;
  return op(xr, xz, xn, whr, whz, whn, bhn, h0);
}
