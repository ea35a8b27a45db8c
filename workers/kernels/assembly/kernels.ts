// AssemblyScript: a whole GRU sequence (its input projections, forward and its backpropagation
// through time) as two WebAssembly SIMD kernels, in place of the ~15 tfjs kernels per step forward
// and ~25 backward, plus ~20 for the projections, that src/core/nets/gru-bptt.ts launches
// otherwise. Compiled by scripts/build-kernels.ts into workers/kernels/kernels.wasm.ts; the module
// imports tfjs-wasm's own memory, so every pointer below is a byte offset of a tensor in tfjs's
// heap (no copies). It has no data and no heap of its own: it writes only to the outputs it is given.
//
// Plain 128-bit SIMD (no relaxed ops, no fused multiply-add): the same bits on every engine, so a
// link gives the same numbers in the browser and in Node. Every sum runs in a fixed order.
//
// PyTorch's GRU equations, per step t (x-projections include their biases):
//   r = sig(xr_t + h Whr)        z = sig(xz_t + h Whz)
//   hn = h Whn + bhn             n = tanh(xn_t + r * hn)      h' = n + z * (h - n)

// exp(x) for x in [-87, 87] (clamped): 2^k * p(f), k = round(x / ln 2), f = x - k ln 2 (ln 2 split
// in two for accuracy), p a degree-6 Taylor polynomial (relative error < 2e-7 on |f| <= ln2 / 2).
// k is rounded by adding 1.5 * 2^23, which leaves it in the low bits of the float (cheaper than
// the engines' nearest and saturating conversion); pmin/pmax are single instructions.
@inline function vexp(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.0)), f32x4.splat(87.0));
  const magic = f32x4.splat(12582912.0);
  const kb = f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), magic);
  const k = f32x4.sub(kb, magic);
  let f = f32x4.sub(x, f32x4.mul(k, f32x4.splat(0.693359375)));
  f = f32x4.sub(f, f32x4.mul(k, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.0 / 720.0);
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(1.0 / 120.0));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(1.0 / 24.0));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(1.0 / 6.0));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(1.0));
  p = f32x4.add(f32x4.mul(p, f), f32x4.splat(1.0));
  // 2^k: k + 127 in the exponent bits (kb's bits are 0x4B400000 + k).
  const e = i32x4.shl(i32x4.add(kb, i32x4.splat(127 - 0x4B400000)), 23);
  return f32x4.mul(p, e);
}

@inline function vsig(x: v128): v128 {
  const one = f32x4.splat(1.0);
  return f32x4.div(one, f32x4.add(one, vexp(f32x4.neg(x))));
}

@inline function vtanh(x: v128): v128 {
  // tanh(a) = 2 sig(2a) - 1, as the tfjs path computes it
  const two = f32x4.splat(2.0);
  return f32x4.sub(f32x4.mul(vsig(f32x4.mul(x, two)), two), f32x4.splat(1.0));
}

@inline function sexp(x: f32): f32 {
  return f32x4.extract_lane(vexp(f32x4.splat(x)), 0);
}
@inline function ssig(x: f32): f32 {
  return f32x4.extract_lane(vsig(f32x4.splat(x)), 0);
}
@inline function stanh(x: f32): f32 {
  return f32x4.extract_lane(vtanh(f32x4.splat(x)), 0);
}

@inline function ld(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}
@inline function st(p: usize, i: i32, v: f32): void {
  store<f32>(p + (<usize>i << 2), v);
}
@inline function vld(p: usize, i: i32): v128 {
  return v128.load(p + (<usize>i << 2));
}
@inline function vst(p: usize, i: i32, v: v128): void {
  v128.store(p + (<usize>i << 2), v);
}

// Partial vectors: a last column block of 1-3 columns is loaded as a whole vector (the lanes past
// the row are never stored, and lanes never mix) and stored lane by lane. The loads may then read
// up to 12 bytes past a buffer's end: the kernels check once that this stays inside the memory,
// else those columns take the scalar path.
@inline function storeLanes(p: usize, v: v128, lanes: i32): void {
  if (lanes == 4) { v128.store(p, v); return; }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (lanes > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (lanes > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** Eight outputs at o (+)= c0, c1. */
@inline function put8(o: usize, c0: v128, c1: v128, acc: i32): void {
  if (acc) {
    c0 = f32x4.add(v128.load(o), c0);
    c1 = f32x4.add(v128.load(o, 16), c1);
  }
  v128.store(o, c0);
  v128.store(o, c1, 16);
}

/** `lanes` (1-4) outputs at o (+)= c. */
@inline function put4(o: usize, c: v128, lanes: i32, acc: i32): void {
  if (acc) c = f32x4.add(v128.load(o), c);
  storeLanes(o, c, lanes);
}

@inline function inMemory(end: usize): bool {
  return end + 16 <= (<usize>memory.size() << 16);
}

/**
 * out [M, N] (+)= a [M, K] x w [K, N], all row-major. Blocks of 4 rows x 8 columns in registers
 * (then 4 x 4, then single rows); each output is summed over k in order 0..K-1 from 0, then added
 * to what out held (acc = 1).
 */
export function matmul(a: usize, w: usize, out: usize, M: i32, K: i32, N: i32, acc: i32): void {
  gemm(a, K, 1, w, out, M, K, N, acc);
}

/**
 * out [K, N] (+)= a^T b for a [M, K], b [M, N]: each output summed over the rows m in order
 * 0..M-1 from 0 (the same kernel, reading a down its columns).
 */
export function matmulTA(a: usize, b: usize, out: usize, M: i32, K: i32, N: i32, acc: i32): void {
  gemm(a, 1, K, b, out, K, M, N, acc);
}

/** Bytes of the operands' rows one pass over k keeps in cache (a quarter of this machine's 2 MB L2). */
const PANEL_BYTES: i32 = 512 * 1024;

/**
 * out [M, N] (+)= A w with A [M, K] read from a with strides (row rs, column ks, in floats) and
 * w [K, N] row-major. Without acc, k runs in panels whose rows of w (and of A, read down its
 * columns) stay in cache while every block uses them: each block's sums are stored after a panel
 * and taken up again from out for the next, so every output is still summed over k in order
 * 0..K-1 from 0 (the same bits as one pass; 2-3x faster when the operands outgrow the cache).
 */
export function gemm(a: usize, rs: i32, ks: i32, w: usize, out: usize, M: i32, K: i32, N: i32, acc: i32): void {
  const rowBytes = (N + (ks == 1 ? 0 : M)) << 2;
  const panel = acc ? K : max(16, PANEL_BYTES / max(rowBytes, 1));
  for (let k0 = 0; k0 < K; k0 += panel) {
    const k1 = min(K, k0 + panel);
    // mode 0: from 0, stored; 1: taken up from out, stored; 2: from 0, added to out (acc)
    gemmPanel(a + (<usize>(k0 * ks) << 2), rs, ks, w + (<usize>(k0 * N) << 2), out, M, k1 - k0, N, acc ? 2 : k0 > 0 ? 1 : 0);
  }
}

/** Four outputs at o: the sums' starting values (mode 1: what out holds; else 0). */
@inline function start4(o: usize, mode: i32): v128 {
  return mode == 1 ? v128.load(o) : f32x4.splat(0);
}

function gemmPanel(a: usize, rs: i32, ks: i32, w: usize, out: usize, M: i32, K: i32, N: i32, mode: i32): void {
  const over = inMemory(w + (<usize>(K * N) << 2)) && inMemory(out + (<usize>(M * N) << 2));
  const N8 = N & ~7;
  const Nv = over ? N : N & ~3; // columns done with vectors
  const Nb = <usize>N << 2, rb = <usize>rs << 2, kb = <usize>ks << 2;
  const add = mode == 2 ? 1 : 0;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const a0 = a + (<usize>(i * rs) << 2);
    const o0 = out + (<usize>(i * N) << 2), o1 = o0 + Nb, o2 = o1 + Nb, o3 = o2 + Nb;
    let j = 0;
    for (; j < N8; j += 8) {
      const jj = <usize>j << 2;
      let c00 = start4(o0 + jj, mode), c01 = start4(o0 + jj + 16, mode);
      let c10 = start4(o1 + jj, mode), c11 = start4(o1 + jj + 16, mode);
      let c20 = start4(o2 + jj, mode), c21 = start4(o2 + jj + 16, mode);
      let c30 = start4(o3 + jj, mode), c31 = start4(o3 + jj + 16, mode);
      let wp = w + (<usize>j << 2), ap = a0;
      for (let k = 0; k < K; k++) {
        const w0 = v128.load(wp), w1 = v128.load(wp, 16);
        const x0 = v128.load32_splat(ap), x1 = v128.load32_splat(ap + rb);
        const x2 = v128.load32_splat(ap + 2 * rb), x3 = v128.load32_splat(ap + 3 * rb);
        wp += Nb;
        ap += kb;
        c00 = f32x4.add(c00, f32x4.mul(x0, w0)); c01 = f32x4.add(c01, f32x4.mul(x0, w1));
        c10 = f32x4.add(c10, f32x4.mul(x1, w0)); c11 = f32x4.add(c11, f32x4.mul(x1, w1));
        c20 = f32x4.add(c20, f32x4.mul(x2, w0)); c21 = f32x4.add(c21, f32x4.mul(x2, w1));
        c30 = f32x4.add(c30, f32x4.mul(x3, w0)); c31 = f32x4.add(c31, f32x4.mul(x3, w1));
      }
      put8(o0 + jj, c00, c01, add); put8(o1 + jj, c10, c11, add);
      put8(o2 + jj, c20, c21, add); put8(o3 + jj, c30, c31, add);
    }
    for (; j < Nv; j += 4) {
      const lanes = min(4, N - j);
      const jj = <usize>j << 2;
      let c0 = start4(o0 + jj, mode), c1 = start4(o1 + jj, mode);
      let c2 = start4(o2 + jj, mode), c3 = start4(o3 + jj, mode);
      let wp = w + (<usize>j << 2), ap = a0;
      for (let k = 0; k < K; k++) {
        const w0 = v128.load(wp);
        c0 = f32x4.add(c0, f32x4.mul(v128.load32_splat(ap), w0));
        c1 = f32x4.add(c1, f32x4.mul(v128.load32_splat(ap + rb), w0));
        c2 = f32x4.add(c2, f32x4.mul(v128.load32_splat(ap + 2 * rb), w0));
        c3 = f32x4.add(c3, f32x4.mul(v128.load32_splat(ap + 3 * rb), w0));
        wp += Nb;
        ap += kb;
      }
      put4(o0 + jj, c0, lanes, add); put4(o1 + jj, c1, lanes, add);
      put4(o2 + jj, c2, lanes, add); put4(o3 + jj, c3, lanes, add);
    }
    for (; j < N; j++) for (let r = i; r < i + 4; r++) gemmOne(a, rs, ks, w, out, r, j, K, N, mode);
  }
  for (; i < M; i++) {
    const ar = a + (<usize>(i * rs) << 2), o = out + (<usize>(i * N) << 2);
    let j = 0;
    for (; j < Nv; j += 4) {
      const lanes = min(4, N - j);
      let c = start4(o + (<usize>j << 2), mode);
      let wp = w + (<usize>j << 2), ap = ar;
      for (let k = 0; k < K; k++) {
        c = f32x4.add(c, f32x4.mul(v128.load32_splat(ap), v128.load(wp)));
        wp += Nb;
        ap += kb;
      }
      put4(o + (<usize>j << 2), c, lanes, add);
    }
    for (; j < N; j++) gemmOne(a, rs, ks, w, out, i, j, K, N, mode);
  }
}

function gemmOne(a: usize, rs: i32, ks: i32, w: usize, out: usize, i: i32, j: i32, K: i32, N: i32, mode: i32): void {
  let c: f32 = mode == 1 ? ld(out, i * N + j) : 0;
  for (let k = 0; k < K; k++) c += ld(a, i * rs + k * ks) * ld(w, k * N + j);
  st(out, i * N + j, mode == 2 ? ld(out, i * N + j) + c : c);
}

/** out[i] = out[i] + x[i] for n floats. */
function addInto(out: usize, x: usize, n: i32): void {
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) vst(out, i, f32x4.add(vld(out, i), vld(x, i)));
  for (; i < n; i++) st(out, i, ld(out, i) + ld(x, i));
}

/** out [C, R] = x [R, C] transposed. */
export function transpose(x: usize, out: usize, R: i32, C: i32): void {
  for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) st(out, j * R + i, ld(x, i * C + j));
}

/** Whether the n floats at p are all zero (of either sign). */
function allZero(p: usize, n: i32): bool {
  for (let i = 0; i < n; i++) if (ld(p, i) != 0) return false;
  return true;
}

/**
 * vexp(-x0) and vexp(-x1) stored at p + c and p + c + 4 floats: vexp's operations, the two
 * vectors' steps interleaved. Each exp is a chain of ~20 dependent operations; two at a time give
 * the CPU independent work to overlap (the GRU's forward gates; the same bits as one at a time).
 */
@inline function vexpNeg2St(p: usize, c: i32, x0: v128, x1: v128): void {
  const lo = f32x4.splat(-87.0), hi = f32x4.splat(87.0), magic = f32x4.splat(12582912.0), one = f32x4.splat(1.0);
  let y0 = f32x4.neg(x0), y1 = f32x4.neg(x1);
  y0 = f32x4.pmin(f32x4.pmax(y0, lo), hi); y1 = f32x4.pmin(f32x4.pmax(y1, lo), hi);
  const kb0 = f32x4.add(f32x4.mul(y0, f32x4.splat(1.44269504088896341)), magic);
  const kb1 = f32x4.add(f32x4.mul(y1, f32x4.splat(1.44269504088896341)), magic);
  const k0 = f32x4.sub(kb0, magic), k1 = f32x4.sub(kb1, magic);
  let f0 = f32x4.sub(y0, f32x4.mul(k0, f32x4.splat(0.693359375)));
  let f1 = f32x4.sub(y1, f32x4.mul(k1, f32x4.splat(0.693359375)));
  f0 = f32x4.sub(f0, f32x4.mul(k0, f32x4.splat(-2.12194440e-4)));
  f1 = f32x4.sub(f1, f32x4.mul(k1, f32x4.splat(-2.12194440e-4)));
  let p0 = f32x4.splat(1.0 / 720.0), p1 = p0;
  p0 = f32x4.add(f32x4.mul(p0, f0), f32x4.splat(1.0 / 120.0)); p1 = f32x4.add(f32x4.mul(p1, f1), f32x4.splat(1.0 / 120.0));
  p0 = f32x4.add(f32x4.mul(p0, f0), f32x4.splat(1.0 / 24.0)); p1 = f32x4.add(f32x4.mul(p1, f1), f32x4.splat(1.0 / 24.0));
  p0 = f32x4.add(f32x4.mul(p0, f0), f32x4.splat(1.0 / 6.0)); p1 = f32x4.add(f32x4.mul(p1, f1), f32x4.splat(1.0 / 6.0));
  p0 = f32x4.add(f32x4.mul(p0, f0), f32x4.splat(0.5)); p1 = f32x4.add(f32x4.mul(p1, f1), f32x4.splat(0.5));
  p0 = f32x4.add(f32x4.mul(p0, f0), one); p1 = f32x4.add(f32x4.mul(p1, f1), one);
  p0 = f32x4.add(f32x4.mul(p0, f0), one); p1 = f32x4.add(f32x4.mul(p1, f1), one);
  const e0 = i32x4.shl(i32x4.add(kb0, i32x4.splat(127 - 0x4B400000)), 23);
  const e1 = i32x4.shl(i32x4.add(kb1, i32x4.splat(127 - 0x4B400000)), 23);
  vst(p, c, f32x4.mul(p0, e0));
  vst(p, c + 4, f32x4.mul(p1, e1));
}

/** g[c] = sig((a[c] + q[c]) + b[c] + g[c]) for c < H: a gate of one row, in place (a token's and a position's rows of C, the bias). */
@inline function gateSig(a: usize, q: usize, b: usize, g: usize, H: i32): void {
  const H4 = H & ~3, H8 = H & ~7;
  const one = f32x4.splat(1.0);
  let c = 0;
  for (; c < H8; c += 8) {
    // two vectors at once: exp(-x) into g, then vsig's 1 / (1 + exp(-x))
    vexpNeg2St(g, c, f32x4.add(f32x4.add(f32x4.add(vld(a, c), vld(q, c)), vld(b, c)), vld(g, c)),
      f32x4.add(f32x4.add(f32x4.add(vld(a, c + 4), vld(q, c + 4)), vld(b, c + 4)), vld(g, c + 4)));
    vst(g, c, f32x4.div(one, f32x4.add(one, vld(g, c))));
    vst(g, c + 4, f32x4.div(one, f32x4.add(one, vld(g, c + 4))));
  }
  for (; c < H4; c += 4) vst(g, c, vsig(f32x4.add(f32x4.add(f32x4.add(vld(a, c), vld(q, c)), vld(b, c)), vld(g, c))));
  for (; c < H; c++) st(g, c, ssig((ld(a, c) + ld(q, c)) + ld(b, c) + ld(g, c)));
}

/**
 * The GRU's folded input matrices c = [C_r; C_z; C_n] [3K, H]: C_g = emb W_g with emb = [tok; pos]
 * (tok [V, E], pos [P, E], K = V + P) and W_g [E, H], each as our matMul computes it (the tfjs ops'
 * concat and three products, to the bit). scratch: [K*E] floats.
 */
export function embedProject(tok: usize, pos: usize, wr: usize, wz: usize, wn: usize, c: usize, V: i32, P: i32, E: i32, H: i32, scratch: usize): void {
  const K = V + P, KH = <usize>(K * H) << 2;
  memory.copy(scratch, tok, <usize>(V * E) << 2);
  memory.copy(scratch + (<usize>(V * E) << 2), pos, <usize>(P * E) << 2);
  matmul(scratch, wr, c, K, E, H, 0);
  matmul(scratch, wz, c + KH, K, E, H, 0);
  matmul(scratch, wn, c + 2 * KH, K, E, H, 0);
}

/**
 * embedProject's gradient as the tfjs ops compute it, to the bit: dW_g = emb^T dC_g; the
 * embeddings' (dC_n W_n^T + dC_z W_z^T) + dC_r W_r^T (autodiff adds them in the reverse order of
 * the products), split into dtok [V, E] and dpos [P, E]. scratch: [3*K*E + H*E] floats.
 */
export function embedProjectGrad(dc: usize, tok: usize, pos: usize, wr: usize, wz: usize, wn: usize,
  dtok: usize, dpos: usize, dwr: usize, dwz: usize, dwn: usize, V: i32, P: i32, E: i32, H: i32, scratch: usize): void {
  const K = V + P, KH = <usize>(K * H) << 2, KE = <usize>(K * E) << 2, VE = <usize>(V * E) << 2;
  const emb = scratch, g1 = emb + KE, g2 = g1 + KE, wT = g2 + KE;
  memory.copy(emb, tok, VE);
  memory.copy(emb + VE, pos, <usize>(P * E) << 2);
  matmulTA(emb, dc, dwr, K, E, H, 0);
  matmulTA(emb, dc + KH, dwz, K, E, H, 0);
  matmulTA(emb, dc + 2 * KH, dwn, K, E, H, 0);
  transpose(wn, wT, E, H);
  matmul(dc + 2 * KH, wT, g1, K, H, E, 0);
  transpose(wz, wT, E, H);
  matmul(dc + KH, wT, g2, K, H, E, 0);
  addInto(g1, g2, K * E);
  transpose(wr, wT, E, H);
  matmul(dc, wT, g2, K, H, E, 0);
  addInto(g1, g2, K * E);
  memory.copy(dtok, g1, VE);
  memory.copy(dpos, g1 + VE, <usize>(P * E) << 2);
}

// A sequence may start as U distinct prefixes (rows that share their first s tokens computed once)
// and go on as B rows: steps t < s have U rows, steps from s on have B, and row b of step s
// continues from row idx[b] of step s - 1 (s = 0: B rows throughout, no idx). Rows are time-major,
// step t's first at firstRow(t).

/** Rows of step t. */
@inline function rowsAt(t: i32, s: i32, U: i32, B: i32): i32 {
  return t < s ? U : B;
}

/** The first row of step t. */
@inline function firstRow(t: i32, s: i32, U: i32, B: i32): i32 {
  return t < s ? t * U : s * U + (t - s) * B;
}

/** hp [B, H] = the rows idx[0..B-1] of src: the state each row continues from at the split. */
function gatherStates(src: usize, idx: usize, hp: usize, B: i32, H: i32): void {
  const rb = <usize>H << 2;
  for (let b = 0; b < B; b++) memory.copy(hp + <usize>b * rb, src + <usize>load<i32>(idx + (<usize>b << 2)) * rb, rb);
}

/**
 * The rows of step t still needed, listed in order into live (int32): with last given (int32 [n]:
 * each row's last step whose state is used) the rows with last >= t, else all n. Before the split
 * (t < s: the prefixes) every row is needed. Returns their count.
 */
function liveRows(last: usize, t: i32, s: i32, n: i32, live: usize): i32 {
  if (last == 0 || t < s) return n;
  let k = 0;
  for (let b = 0; b < n; b++) {
    if (load<i32>(last + (<usize>b << 2)) >= t) {
      store<i32>(live + (<usize>k << 2), b);
      k++;
    }
  }
  return k;
}

/** Row i of a step: live[i] where some rows are left out (k < n), else i. */
@inline function rowOf(live: usize, i: i32, packed: bool): i32 {
  return packed ? load<i32>(live + (<usize>i << 2)) : i;
}

/** dst rows 0..k-1 = src rows live[0..k-1] (rows of H floats). */
function packRows(src: usize, live: usize, k: i32, dst: usize, H: i32): void {
  const rb = <usize>H << 2;
  for (let i = 0; i < k; i++) memory.copy(dst + <usize>i * rb, src + <usize>load<i32>(live + (<usize>i << 2)) * rb, rb);
}

/** dst rows live[0..k-1] = src rows 0..k-1. */
function unpackRows(src: usize, live: usize, k: i32, dst: usize, H: i32): void {
  const rb = <usize>H << 2;
  for (let i = 0; i < k; i++) memory.copy(dst + <usize>load<i32>(live + (<usize>i << 2)) * rb, src + <usize>i * rb, rb);
}

/** Zero the rows of a step (n rows of H floats at p) that are not among live[0..k-1] (live in increasing order). */
function zeroOthers(p: usize, live: usize, k: i32, n: i32, H: i32): void {
  const rb = <usize>H << 2;
  let i = 0;
  for (let b = 0; b < n; b++) {
    if (i < k && load<i32>(live + (<usize>i << 2)) == b) i++;
    else memory.fill(p + <usize>b * rb, 0, rb);
  }
}

/**
 * Forward over L steps. Step t's input projections are one-hot (token, position) rows times the
 * folded input matrices, so each is two rows of C_g plus the bias, summed in this order:
 * x_g = (C_g[tok] + C_g[posRow + t]) + bx_g for g = r, z, n, with C_g [K, H], bx_g [H] and tok
 * (int32 row ids below posRow, time-major, one per row of every step). whr, whz, whn [H, H]; bhn
 * [H]; h0 [rows of step 0, H] (zeros with a split). Writes hs (the states after each step) and what
 * the backward pass needs: R, Z, N (the gates) and HN (h Whn + bhn), one row per row of every step.
 * last (int32 [B], or 0): each row's last step whose state is used (its last output); from the
 * split on, a row past it is left out of the step (0 in every output), the others' products taken
 * packed (the same bits). work: [5*B*H + B] floats (the states the rows continue from at the
 * split, the live rows' list, their packed states and products). Where h0 is all zeros its
 * products are zeros and are skipped (the same values). Each row goes in three passes, r, z, then
 * n and the new state: the operations of one pass in the same order (the same bits), with fewer
 * pointers live at once. In one pass V8 kept spilling and reloading them; this runs ~10% faster.
 */
export function gruForward(cr: usize, cz: usize, cn: usize, bxr: usize, bxz: usize, bxn: usize, tok: usize, posRow: i32,
  whr: usize, whz: usize, whn: usize, bhn: usize, h0: usize,
  hs: usize, R: usize, Z: usize, N: usize, HN: usize, B: i32, H: i32, L: i32, U: i32, s: i32, idx: usize, last: usize, work: usize): void {
  const H4 = H & ~3, H8 = H & ~7;
  const one = f32x4.splat(1.0), two = f32x4.splat(2.0);
  const fromZero = allZero(h0, rowsAt(0, s, U, B) * H);
  const BHb = <usize>(B * H) << 2;
  const hpBuf = work, live = work + BHb, pA = live + (<usize>B << 2), pR = pA + BHb, pZ = pR + BHb, pHN = pZ + BHb;
  for (let t = 0; t < L; t++) {
    const n = rowsAt(t, s, U, B);
    const nH = n * H;
    const o = <usize>(firstRow(t, s, U, B) * H) << 2;
    let hp = h0;
    if (t > 0) {
      hp = hs + (<usize>(firstRow(t - 1, s, U, B) * H) << 2);
      if (t == s) {
        gatherStates(hp, idx, hpBuf, B, H);
        hp = hpBuf;
      }
    }
    const r = R + o, z = Z + o, hn = HN + o, ng = N + o, h = hs + o;
    // Rows whose states are no longer used (past their last output) are left out: 0 in every output.
    const k = liveRows(last, t, s, n, live);
    const packed = k < n;
    if (packed) {
      zeroOthers(r, live, k, n, H); zeroOthers(z, live, k, n, H); zeroOthers(hn, live, k, n, H);
      zeroOthers(ng, live, k, n, H); zeroOthers(h, live, k, n, H);
    }
    if (t == 0 && fromZero) {
      memory.fill(r, 0, <usize>nH << 2);
      memory.fill(z, 0, <usize>nH << 2);
      memory.fill(hn, 0, <usize>nH << 2);
    } else if (!packed) {
      matmul(hp, whr, r, n, H, H, 0);
      matmul(hp, whz, z, n, H, H, 0);
      matmul(hp, whn, hn, n, H, H, 0);
    } else if (k > 0) {
      // The products of the live rows only (each row's the same bits as in the whole product).
      packRows(hp, live, k, pA, H);
      matmul(pA, whr, pR, k, H, H, 0);
      matmul(pA, whz, pZ, k, H, H, 0);
      matmul(pA, whn, pHN, k, H, H, 0);
      unpackRows(pR, live, k, r, H); unpackRows(pZ, live, k, z, H); unpackRows(pHN, live, k, hn, H);
    }
    const pr = <usize>((posRow + t) * H) << 2; // the position's row, in bytes
    const qr = cr + pr, qz = cz + pr, qn = cn + pr;
    const tk = tok + (<usize>firstRow(t, s, U, B) << 2);
    for (let i = 0; i < k; i++) {
      const b = rowOf(live, i, packed);
      const tr = <usize>(load<i32>(tk + (<usize>b << 2)) * H) << 2; // the token's row
      const ar = cr + tr, az = cz + tr, an = cn + tr;
      const rb = <usize>(b * H) << 2; // this row of the step, in bytes
      gateSig(ar, qr, bxr, r + rb, H);
      gateSig(az, qz, bxz, z + rb, H);
      // n and the new state, from this row's r and z
      const rr = r + rb, zr = z + rb, hnr = hn + rb, nr = ng + rb, hr = h + rb, hpr = hp + rb;
      let c = 0;
      for (; c < H8; c += 8) {
        // two vectors at once: hn, exp(-2a) (into n), then vtanh's 2 / (1 + exp(-2a)) - 1, and h
        const hn0 = f32x4.add(vld(hnr, c), vld(bhn, c)), hn1 = f32x4.add(vld(hnr, c + 4), vld(bhn, c + 4));
        const a0 = f32x4.add(f32x4.add(f32x4.add(vld(an, c), vld(qn, c)), vld(bxn, c)), f32x4.mul(vld(rr, c), hn0));
        const a1 = f32x4.add(f32x4.add(f32x4.add(vld(an, c + 4), vld(qn, c + 4)), vld(bxn, c + 4)), f32x4.mul(vld(rr, c + 4), hn1));
        vst(hnr, c, hn0); vst(hnr, c + 4, hn1);
        vexpNeg2St(nr, c, f32x4.mul(a0, two), f32x4.mul(a1, two));
        const n0 = f32x4.sub(f32x4.mul(f32x4.div(one, f32x4.add(one, vld(nr, c))), two), one);
        const n1 = f32x4.sub(f32x4.mul(f32x4.div(one, f32x4.add(one, vld(nr, c + 4))), two), one);
        vst(nr, c, n0); vst(nr, c + 4, n1);
        vst(hr, c, f32x4.add(n0, f32x4.mul(vld(zr, c), f32x4.sub(vld(hpr, c), n0))));
        vst(hr, c + 4, f32x4.add(n1, f32x4.mul(vld(zr, c + 4), f32x4.sub(vld(hpr, c + 4), n1))));
      }
      for (; c < H4; c += 4) {
        const xn = f32x4.add(f32x4.add(vld(an, c), vld(qn, c)), vld(bxn, c));
        const hnv = f32x4.add(vld(hnr, c), vld(bhn, c));
        const nv = vtanh(f32x4.add(xn, f32x4.mul(vld(rr, c), hnv)));
        vst(hnr, c, hnv); vst(nr, c, nv);
        vst(hr, c, f32x4.add(nv, f32x4.mul(vld(zr, c), f32x4.sub(vld(hpr, c), nv))));
      }
      for (; c < H; c++) {
        const hnv = ld(hnr, c) + ld(bhn, c);
        const nv = stanh((ld(an, c) + ld(qn, c)) + ld(bxn, c) + ld(rr, c) * hnv);
        st(hnr, c, hnv); st(nr, c, nv);
        st(hr, c, nv + ld(zr, c) * (ld(hpr, c) - nv));
      }
    }
  }
}

/**
 * The input matrices' and biases' gradients from the projections' gradients da (one row per row
 * of every step): dc [K, H] gets each row of da added into its token's row and its step's position
 * row (rows in order from 0), dbx [H] the sum of all of da's rows (in order from 0); every other
 * row of dc is 0. One pass over da: a token's row (below posRow), a position's row and dbx are
 * three different accumulators, each taking its rows in the same order as in a pass of its own.
 */
function embedGrad(da: usize, tok: usize, posRow: i32, dc: usize, dbx: usize, B: i32, H: i32, L: i32, K: i32, U: i32, s: i32): void {
  memory.fill(dc, 0, <usize>(K * H) << 2);
  memory.fill(dbx, 0, <usize>H << 2);
  const H4 = H & ~3;
  for (let t = 0; t < L; t++) {
    const pr = dc + (<usize>((posRow + t) * H) << 2);
    const m0 = firstRow(t, s, U, B), n = rowsAt(t, s, U, B);
    for (let m = m0; m < m0 + n; m++) {
      const g = da + (<usize>(m * H) << 2);
      const tr = dc + (<usize>(load<i32>(tok + (<usize>m << 2)) * H) << 2);
      let c = 0;
      for (; c < H4; c += 4) {
        const x = vld(g, c);
        vst(tr, c, f32x4.add(vld(tr, c), x));
        vst(dbx, c, f32x4.add(vld(dbx, c), x));
        vst(pr, c, f32x4.add(vld(pr, c), x));
      }
      for (; c < H; c++) {
        const x = ld(g, c);
        st(tr, c, ld(tr, c) + x);
        st(dbx, c, ld(dbx, c) + x);
        st(pr, c, ld(pr, c) + x);
      }
    }
  }
}

/** dW (+)= a^T b over `rows` rows (a [rows, H], b [rows, H]): the first piece stored, later ones added via tmp [H, H]. */
function dwPiece(a: usize, b: usize, dw: usize, tmp: usize, rows: i32, H: i32, first: bool): void {
  if (first) {
    matmulTA(a, b, dw, rows, H, H, 0);
    return;
  }
  matmulTA(a, b, tmp, rows, H, H, 0);
  addInto(dw, tmp, H * H);
}

/**
 * dW = the sum over steps t of HP_t^T dA_t, HP_t the states before step t: h0 (t = 0; skipped when
 * it is all zeros), the gathered states hpBuf (t = s), else the states of step t - 1. In pieces of
 * contiguous rows, in the order of the steps. tmp [H, H] is free room.
 */
function recurrentGrad(h0: usize, hs: usize, hpBuf: usize, da: usize, dw: usize, tmp: usize, skipH0: bool, B: i32, H: i32, L: i32, U: i32, s: i32): void {
  const TR = firstRow(L, s, U, B);
  const n0 = rowsAt(0, s, U, B);
  let first = true;
  if (!skipH0) {
    dwPiece(h0, da, dw, tmp, n0, H, first);
    first = false;
  }
  // Steps 1 .. (the split, or L) - 1: the states of the steps before them are contiguous rows.
  const split = s > 0 && s < L;
  const rows1 = firstRow(split ? s : L, s, U, B) - n0;
  if (rows1 > 0) {
    dwPiece(hs, da + (<usize>(n0 * H) << 2), dw, tmp, rows1, H, first);
    first = false;
  }
  if (split) {
    const f = firstRow(s, s, U, B);
    dwPiece(hpBuf, da + (<usize>(f * H) << 2), dw, tmp, B, H, first);
    first = false;
    const rows2 = TR - f - B;
    if (rows2 > 0) dwPiece(hs + (<usize>(f * H) << 2), da + (<usize>((f + B) * H) << 2), dw, tmp, rows2, H, false);
  }
  if (first) memory.fill(dw, 0, <usize>(H * H) << 2);
}

/**
 * Backward through the whole sequence, given dy = dLoss/dhs (one row per row of every step), the
 * forward's inputs and saves. Writes dcr, dcz, dcn [K, H] and dbxr, dbxz, dbxn [H] (the input
 * matrices' and biases' gradients); dwhr, dwhz, dwhn [H, H]; dbhn [H]; and, where dh0 is not 0,
 * dh0 [B, H] (no split). With dh0 = 0 (h0 all zeros and no gradient wanted) the products that only
 * feed h0's gradient, or multiply its zeros, are skipped. At the split, each row's dLoss/dh of the
 * state it continued from is added into its prefix's row (rows in order). The recurrent matrices'
 * gradients sum HP^T dA over the steps' rows in order (HP: the states before each step), in pieces
 * where the rows are not contiguous (h0's, the split's). scratch: [4*TR*H + 3*H*H + 3*B*H] floats,
 * TR the rows of all steps (the projections' gradients and dLoss/dhn per row, the three transposed
 * recurrent matrices, the running dLoss/dh, the split's states and gradients), then [B + 6*B*H]
 * for the live rows (last: as gruForward's; 0 where every row is used).
 */
export function gruBackward(dy: usize, whr: usize, whz: usize, whn: usize, h0: usize, hs: usize, R: usize, Z: usize, N: usize, HN: usize,
  tok: usize, posRow: i32, dcr: usize, dcz: usize, dcn: usize, dbxr: usize, dbxz: usize, dbxn: usize,
  dwhr: usize, dwhz: usize, dwhn: usize, dbhn: usize, dh0: usize, scratch: usize, B: i32, H: i32, L: i32, K: i32, U: i32, s: i32, idx: usize, last: usize): void {
  const H4 = H & ~3;
  const TR = firstRow(L, s, U, B);
  const all = <usize>(TR * H) << 2;
  const dar = scratch, daz = scratch + all, dan = scratch + 2 * all, dhnAll = scratch + 3 * all;
  const wT = scratch + 4 * all;
  const HH = <usize>(H * H) << 2;
  const BHb = <usize>(B * H) << 2;
  const noH0 = dh0 == 0;
  let dh = noH0 ? wT + 3 * HH : dh0;
  let dhAlt = wT + 3 * HH + BHb; // the prefix rows' dLoss/dh at the split
  const hpBuf = dhAlt + BHb;
  // Where rows are left out: their list, the live rows' gradients packed, and their products.
  const live = hpBuf + BHb, p1 = live + (<usize>B << 2), p2 = p1 + BHb, p3 = p2 + BHb, q1 = p3 + BHb, q2 = q1 + BHb, q3 = q2 + BHb;
  if (s > 0 && s < L) gatherStates(hs + (<usize>(firstRow(s - 1, s, U, B) * H) << 2), idx, hpBuf, B, H);
  transpose(whr, wT, H, H); transpose(whz, wT + HH, H, H); transpose(whn, wT + 2 * HH, H, H);
  const one = f32x4.splat(1.0);
  for (let t = L - 1; t >= 0; t--) {
    const n = rowsAt(t, s, U, B);
    const o = <usize>(firstRow(t, s, U, B) * H) << 2;
    let hp = h0;
    if (t > 0) hp = t == s ? hpBuf : hs + (<usize>(firstRow(t - 1, s, U, B) * H) << 2);
    const r = R + o, z = Z + o, ng = N + o, hn = HN + o, g = dy + o;
    const dr = dar + o, dz = daz + o, dn = dan + o, dhn = dhnAll + o;
    const first = t == L - 1;
    // Rows past their last output have no gradient here (nor after): 0, and left out of the products.
    const k = liveRows(last, t, s, n, live);
    const packed = k < n;
    if (packed) {
      zeroOthers(dr, live, k, n, H); zeroOthers(dz, live, k, n, H); zeroOthers(dn, live, k, n, H);
      zeroOthers(dhn, live, k, n, H); zeroOthers(dh, live, k, n, H);
    }
    for (let i = 0; i < k; i++) {
      const row = rowOf(live, i, packed) * H;
      let c = 0;
      for (; c < H4; c += 4) {
        const e = row + c;
        const d = first ? vld(g, e) : f32x4.add(vld(dh, e), vld(g, e)); // dLoss/dh_t
        const zv = vld(z, e), nv = vld(ng, e), rv = vld(r, e);
        const dnv = f32x4.sub(d, f32x4.mul(d, zv)); // d * (1 - z)
        const dzv = f32x4.mul(d, f32x4.sub(vld(hp, e), nv));
        const danv = f32x4.mul(dnv, f32x4.sub(one, f32x4.mul(nv, nv))); // through tanh
        const darv = f32x4.mul(f32x4.mul(danv, vld(hn, e)), f32x4.mul(rv, f32x4.sub(one, rv))); // through sigmoid
        const dazv = f32x4.mul(dzv, f32x4.mul(zv, f32x4.sub(one, zv)));
        vst(dn, e, danv); vst(dr, e, darv); vst(dz, e, dazv);
        vst(dhn, e, f32x4.mul(danv, rv));
        vst(dh, e, f32x4.mul(d, zv));
      }
      for (; c < H; c++) {
        const e = row + c;
        const d = first ? ld(g, e) : ld(dh, e) + ld(g, e);
        const zv = ld(z, e), nv = ld(ng, e), rv = ld(r, e);
        const dnv = d - d * zv;
        const dzv = d * (ld(hp, e) - nv);
        const danv = dnv * (1 - nv * nv);
        st(dn, e, danv);
        st(dr, e, danv * ld(hn, e) * (rv * (1 - rv)));
        st(dz, e, dzv * (zv * (1 - zv)));
        st(dhn, e, danv * rv);
        st(dh, e, d * zv);
      }
    }
    if (t == 0 && noH0) break;
    // dh_{t-1} = d * z + dar Whr^T + daz Whz^T + dhn Whn^T
    if (!packed) {
      matmul(dr, wT, dh, n, H, H, 1);
      matmul(dz, wT + HH, dh, n, H, H, 1);
      matmul(dhn, wT + 2 * HH, dh, n, H, H, 1);
    } else if (k > 0) {
      // The live rows' products, each added in the same order as the whole products add them.
      packRows(dr, live, k, p1, H); packRows(dz, live, k, p2, H); packRows(dhn, live, k, p3, H);
      matmul(p1, wT, q1, k, H, H, 0);
      matmul(p2, wT + HH, q2, k, H, H, 0);
      matmul(p3, wT + 2 * HH, q3, k, H, H, 0);
      for (let i = 0; i < k; i++) {
        const d = dh + (<usize>(load<i32>(live + (<usize>i << 2)) * H) << 2), ro = <usize>(i * H) << 2;
        addInto(d, q1 + ro, H); addInto(d, q2 + ro, H); addInto(d, q3 + ro, H);
      }
    }
    if (t == s && t > 0) {
      // Each row's gradient goes to the prefix it continued from (rows in order).
      memory.fill(dhAlt, 0, <usize>(U * H) << 2);
      for (let b = 0; b < B; b++) addInto(dhAlt + (<usize>(load<i32>(idx + (<usize>b << 2)) * H) << 2), dh + (<usize>(b * H) << 2), H);
      const x = dh;
      dh = dhAlt;
      dhAlt = x;
    }
  }
  // dW = sum over steps t of HP_t^T dA_t, HP_t = h0 (t = 0), the gathered states (t = s), else the
  // states of step t - 1; pieces of contiguous rows, in the order of the steps.
  const skipH0 = noH0 && allZero(h0, rowsAt(0, s, U, B) * H);
  recurrentGrad(h0, hs, hpBuf, dar, dwhr, wT, skipH0, B, H, L, U, s);
  recurrentGrad(h0, hs, hpBuf, daz, dwhz, wT + HH, skipH0, B, H, L, U, s);
  recurrentGrad(h0, hs, hpBuf, dhnAll, dwhn, wT + 2 * HH, skipH0, B, H, L, U, s);
  // dbhn: column sums of dhn over all rows, in row order.
  for (let c = 0; c < H; c++) st(dbhn, c, 0);
  for (let m = 0; m < TR; m++) {
    let c = 0;
    for (; c < H4; c += 4) vst(dbhn, c, f32x4.add(vld(dbhn, c), vld(dhnAll, m * H + c)));
    for (; c < H; c++) st(dbhn, c, ld(dbhn, c) + ld(dhnAll, m * H + c));
  }
  embedGrad(dar, tok, posRow, dcr, dbxr, B, H, L, K, U, s);
  embedGrad(daz, tok, posRow, dcz, dbxz, B, H, L, K, U, s);
  embedGrad(dan, tok, posRow, dcn, dbxn, B, H, L, K, U, s);
}

/**
 * GatherV2's common case: rows idx[0..n-1] of x (rows of rowBytes bytes, dim of them) into out.
 * Returns -1, or the position of the first index outside [0, dim) (nothing after it is copied).
 */
export function gatherRows(x: usize, idx: usize, out: usize, n: i32, rowBytes: i32, dim: i32): i32 {
  for (let i = 0; i < n; i++) {
    const k = load<i32>(idx + (<usize>i << 2));
    if (k < 0 || k >= dim) return i;
    memory.copy(out + <usize>(i * rowBytes), x + <usize>(k * rowBytes), <usize>rowBytes);
  }
  return -1;
}

/**
 * Sum's case the stock kernel transposes for: x viewed as [outer, mid, inner], out [outer, inner]
 * = the sum over mid. Each output is summed in order m = 0..mid-1 from 0 in float32, as the stock
 * kernel's loop sums the transposed input, so the result is the same to the bit.
 */
export function sumMiddle(x: usize, out: usize, outer: i32, mid: i32, inner: i32): void {
  const inner4 = inner & ~3;
  for (let o = 0; o < outer; o++) {
    const ob = out + (<usize>(o * inner) << 2);
    const xb = x + (<usize>(o * mid * inner) << 2);
    for (let i = 0; i < inner; i++) st(ob, i, 0);
    for (let m = 0; m < mid; m++) {
      const row = xb + (<usize>(m * inner) << 2);
      let i = 0;
      for (; i < inner4; i += 4) vst(ob, i, f32x4.add(vld(ob, i), vld(row, i)));
      for (; i < inner; i++) st(ob, i, ld(ob, i) + ld(row, i));
    }
  }
}

/**
 * A one-hot matrix x [N, K] times w [K, D], x given by its ones: cols [N, S] holds each row's
 * columns in increasing order, -1 for none. out [N, D] = the sum of those rows of w, added in
 * that order from 0: the same bits as the dense product summed over k in order (the zero terms
 * add nothing), at S / K of its cost. Returns -1, or the position in cols of the first column
 * outside [-1, K) (the output is then incomplete and must be dropped).
 */
export function rowsSum(cols: usize, w: usize, out: usize, N: i32, S: i32, D: i32, K: i32): i32 {
  const D4 = D & ~3;
  for (let n = 0; n < N; n++) {
    const o = out + (<usize>(n * D) << 2);
    for (let j = 0; j < D; j++) st(o, j, 0);
    for (let s = 0; s < S; s++) {
      const c = load<i32>(cols + (<usize>(n * S + s) << 2));
      if (c < 0) {
        if (c < -1) return n * S + s;
        continue;
      }
      if (c >= K) return n * S + s;
      const row = w + (<usize>(c * D) << 2);
      let j = 0;
      for (; j < D4; j += 4) vst(o, j, f32x4.add(vld(o, j), vld(row, j)));
      for (; j < D; j++) st(o, j, ld(o, j) + ld(row, j));
    }
  }
  return -1;
}

/**
 * Its gradient for w: dw [K, D] = x^T dy, each row c of dw the sum of dy's rows n whose ones
 * include c, added in order of n from 0 (the dense x^T dy's order). Returns -1 or the first bad
 * column's position, as rowsSum.
 */
export function rowsScatter(cols: usize, dy: usize, dw: usize, N: i32, S: i32, D: i32, K: i32): i32 {
  const D4 = D & ~3;
  for (let i = 0; i < K * D; i++) st(dw, i, 0);
  for (let n = 0; n < N; n++) {
    const g = dy + (<usize>(n * D) << 2);
    for (let s = 0; s < S; s++) {
      const c = load<i32>(cols + (<usize>(n * S + s) << 2));
      if (c < 0) {
        if (c < -1) return n * S + s;
        continue;
      }
      if (c >= K) return n * S + s;
      const row = dw + (<usize>(c * D) << 2);
      let j = 0;
      for (; j < D4; j += 4) vst(row, j, f32x4.add(vld(row, j), vld(g, j)));
      for (; j < D; j++) st(row, j, ld(row, j) + ld(g, j));
    }
  }
  return -1;
}

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** The sum of D floats from p: four lanes of partial sums (j, j+4, ...), then the lanes, then the tail. */
@inline function rowSum(p: usize, D: i32): f32 {
  const D4 = D & ~3;
  let v = f32x4.splat(0);
  let j = 0;
  for (; j < D4; j += 4) v = f32x4.add(v, vld(p, j));
  let s = hsum(v);
  for (; j < D; j++) s += ld(p, j);
  return s;
}

/**
 * Layer normalisation over rows of D: y = (x - mean) / sqrt(var + eps) * g + b, var the biased
 * variance. Saves xhat [N, D] (the normalised rows) and rstd [N] for the backward pass; scratch
 * is not needed (c = x - mean goes into xhat first).
 */
export function layerNormForward(x: usize, g: usize, b: usize, y: usize, xhat: usize, rstd: usize, N: i32, D: i32, eps: f32): void {
  const D4 = D & ~3;
  const inv = <f32>1.0 / <f32>D;
  for (let n = 0; n < N; n++) {
    const xr = x + (<usize>(n * D) << 2), hr = xhat + (<usize>(n * D) << 2), yr = y + (<usize>(n * D) << 2);
    const mean = rowSum(xr, D) * inv;
    const mv = f32x4.splat(mean);
    let v = f32x4.splat(0);
    let j = 0;
    for (; j < D4; j += 4) {
      const c = f32x4.sub(vld(xr, j), mv);
      vst(hr, j, c);
      v = f32x4.add(v, f32x4.mul(c, c));
    }
    let ss = hsum(v);
    for (; j < D; j++) {
      const c = ld(xr, j) - mean;
      st(hr, j, c);
      ss += c * c;
    }
    const r = <f32>1.0 / Mathf.sqrt(ss * inv + eps);
    st(rstd, n, r);
    const rv = f32x4.splat(r);
    j = 0;
    for (; j < D4; j += 4) {
      const h = f32x4.mul(vld(hr, j), rv);
      vst(hr, j, h);
      vst(yr, j, f32x4.add(f32x4.mul(h, vld(g, j)), vld(b, j)));
    }
    for (; j < D; j++) {
      const h = ld(hr, j) * r;
      st(hr, j, h);
      st(yr, j, h * ld(g, j) + ld(b, j));
    }
  }
}

/**
 * Its backward pass: dxhat = dy g; dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat));
 * dg = sum over rows of dy xhat, db = sum over rows of dy (rows in order).
 */
export function layerNormBackward(dy: usize, g: usize, xhat: usize, rstd: usize, dx: usize, dg: usize, db: usize, N: i32, D: i32): void {
  const D4 = D & ~3;
  const inv = <f32>1.0 / <f32>D;
  for (let j = 0; j < D; j++) { st(dg, j, 0); st(db, j, 0); }
  for (let n = 0; n < N; n++) {
    const o = <usize>(n * D) << 2;
    const gr = dy + o, hr = xhat + o, dr = dx + o;
    let s1 = f32x4.splat(0), s2 = f32x4.splat(0);
    let j = 0;
    for (; j < D4; j += 4) {
      const gy = vld(gr, j), h = vld(hr, j);
      const d = f32x4.mul(gy, vld(g, j));
      s1 = f32x4.add(s1, d);
      s2 = f32x4.add(s2, f32x4.mul(d, h));
      vst(dg, j, f32x4.add(vld(dg, j), f32x4.mul(gy, h)));
      vst(db, j, f32x4.add(vld(db, j), gy));
    }
    let m1 = hsum(s1), m2 = hsum(s2);
    for (; j < D; j++) {
      const gy = ld(gr, j), h = ld(hr, j);
      const d = gy * ld(g, j);
      m1 += d;
      m2 += d * h;
      st(dg, j, ld(dg, j) + gy * h);
      st(db, j, ld(db, j) + gy);
    }
    m1 *= inv;
    m2 *= inv;
    const r = ld(rstd, n);
    const rv = f32x4.splat(r), m1v = f32x4.splat(m1), m2v = f32x4.splat(m2);
    j = 0;
    for (; j < D4; j += 4) {
      const d = f32x4.mul(vld(gr, j), vld(g, j));
      vst(dr, j, f32x4.mul(rv, f32x4.sub(f32x4.sub(d, m1v), f32x4.mul(vld(hr, j), m2v))));
    }
    for (; j < D; j++) {
      const d = ld(gr, j) * ld(g, j);
      st(dr, j, r * (d - m1 - ld(hr, j) * m2));
    }
  }
}

/**
 * gelu(a + b) over rows of D (b [D] added to each row), gelu(x) = x sig(1.702 x): writes y and
 * s = sig(1.702 x) and x for the backward pass (xs [N, D] holds x, ss [N, D] holds s).
 */
export function biasGeluForward(a: usize, b: usize, y: usize, xs: usize, ss: usize, N: i32, D: i32): void {
  const D4 = D & ~3;
  const k = f32x4.splat(1.702);
  for (let n = 0; n < N; n++) {
    const o = n * D;
    let j = 0;
    for (; j < D4; j += 4) {
      const x = f32x4.add(vld(a, o + j), vld(b, j));
      const s = vsig(f32x4.mul(x, k));
      vst(xs, o + j, x); vst(ss, o + j, s); vst(y, o + j, f32x4.mul(x, s));
    }
    for (; j < D; j++) {
      const x = ld(a, o + j) + ld(b, j);
      const s = ssig(x * 1.702);
      st(xs, o + j, x); st(ss, o + j, s); st(y, o + j, x * s);
    }
  }
}

/** Its gradient: da = dy (s + 1.702 x s (1 - s)); db = the column sums of da (rows in order). */
export function biasGeluBackward(dy: usize, xs: usize, ss: usize, da: usize, db: usize, N: i32, D: i32): void {
  const D4 = D & ~3;
  const k = f32x4.splat(1.702), one = f32x4.splat(1.0);
  for (let j = 0; j < D; j++) st(db, j, 0);
  for (let n = 0; n < N; n++) {
    const o = n * D;
    let j = 0;
    for (; j < D4; j += 4) {
      const s = vld(ss, o + j);
      const g = f32x4.mul(vld(dy, o + j), f32x4.add(s, f32x4.mul(f32x4.mul(k, vld(xs, o + j)), f32x4.mul(s, f32x4.sub(one, s)))));
      vst(da, o + j, g);
      vst(db, j, f32x4.add(vld(db, j), g));
    }
    for (; j < D; j++) {
      const s = ld(ss, o + j);
      const g = ld(dy, o + j) * (s + <f32>1.702 * ld(xs, o + j) * (s * (1 - s)));
      st(da, o + j, g);
      st(db, j, ld(db, j) + g);
    }
  }
}

// The logistic sigmoid exactly as tfjs-wasm 4.22's Sigmoid kernel computes it (XNNPACK's wasmsimd
// rr2_p5_div microkernel): e = exp(-|x|) from k = round(-|x| / ln 2) by a magic-number addition, ln 2
// in two parts and a degree-5 polynomial; then e / (1 + e) for x < 0 and 1 minus that for x >= 0,
// 0 for |x| past the denormal cutoff. The same operations in the same order, so the same bits as
// tf.sigmoid (test/kernels.test.ts; vsig above is a cheaper approximation for the GRU's gates).
@inline function vsigXnn(x: v128): v128 {
  const magic = f32x4.splat(12583039.0), one = f32x4.splat(1.0);
  const z = f32x4.abs(x);
  let n = f32x4.add(magic, f32x4.mul(z, f32x4.splat(-1.4426950216293335)));
  const s = i32x4.shl(n, 23);
  n = f32x4.sub(n, magic);
  let t = f32x4.add(z, f32x4.mul(n, f32x4.splat(0.693145751953125)));
  t = f32x4.add(t, f32x4.mul(n, f32x4.splat(0.000001428606765330187)));
  let p = f32x4.add(f32x4.splat(0.04189782217144966), f32x4.mul(t, f32x4.splat(-0.008289290592074394)));
  p = f32x4.add(f32x4.splat(-0.16667652130126953), f32x4.mul(t, p));
  p = f32x4.add(f32x4.splat(0.4999915063381195), f32x4.mul(t, p));
  p = f32x4.add(f32x4.splat(-0.9999997019767761), f32x4.mul(t, p));
  t = f32x4.mul(t, s);
  const e = f32x4.add(s, f32x4.mul(t, p));
  let f = f32x4.div(e, f32x4.add(e, one));
  f = v128.andnot(f, f32x4.gt(z, f32x4.splat(87.33654022216797)));
  return v128.bitselect(f, f32x4.sub(one, f), i32x4.shr_s(x, 31));
}

/**
 * tanh(a + b) over rows of D (b [D] added to each row) as the MLP's tfjs ops compute it, to the
 * bit: x = a + b, s = sigmoid(2x) (vsigXnn), y = 2s - 1. Writes y and s (ss [N, D], for the
 * backward pass). The columns past the last multiple of 4 run the same vector code on one lane.
 */
export function biasTanhForward(a: usize, b: usize, y: usize, ss: usize, N: i32, D: i32): void {
  const D4 = D & ~3;
  const two = f32x4.splat(2.0), one = f32x4.splat(1.0);
  for (let n = 0; n < N; n++) {
    const o = n * D;
    let j = 0;
    for (; j < D4; j += 4) {
      const s = vsigXnn(f32x4.mul(f32x4.add(vld(a, o + j), vld(b, j)), two));
      vst(ss, o + j, s);
      vst(y, o + j, f32x4.sub(f32x4.mul(s, two), one));
    }
    for (; j < D; j++) {
      const s = vsigXnn(f32x4.mul(f32x4.splat(ld(a, o + j) + ld(b, j)), two));
      st(ss, o + j, f32x4.extract_lane(s, 0));
      st(y, o + j, f32x4.extract_lane(f32x4.sub(f32x4.mul(s, two), one), 0));
    }
  }
}

/**
 * Its gradient in the order of the tfjs ops' own gradients: ds = 2 dy, du = ds (s (1 - s)),
 * da = 2 du; db = the column sums of da, rows added in order from 0 (as tf.sum over the rows).
 */
export function biasTanhBackward(dy: usize, ss: usize, da: usize, db: usize, N: i32, D: i32): void {
  const D4 = D & ~3;
  const two = f32x4.splat(2.0), one = f32x4.splat(1.0);
  for (let j = 0; j < D; j++) st(db, j, 0);
  for (let n = 0; n < N; n++) {
    const o = n * D;
    let j = 0;
    for (; j < D4; j += 4) {
      const s = vld(ss, o + j);
      const g = f32x4.mul(f32x4.mul(f32x4.mul(vld(dy, o + j), two), f32x4.mul(s, f32x4.sub(one, s))), two);
      vst(da, o + j, g);
      vst(db, j, f32x4.add(vld(db, j), g));
    }
    for (; j < D; j++) {
      const s = ld(ss, o + j);
      const g = ((ld(dy, o + j) * 2) * (s * (1 - s))) * 2;
      st(da, o + j, g);
      st(db, j, ld(db, j) + g);
    }
  }
}

// expf and logf as tfjs-wasm's Exp and Log kernels compute them: musl's, from Arm's
// optimized-routines, in f64 inside (wasm has no fused multiply-add, so the same bits anywhere).
// expf: x = (k + r) ln2 / 32 with k rounded by adding 1.5 * 2^52; 2^(k/32) from a table of 2^(i/32)
// (correctly rounded, minus i << 47) with k's high bits added into the exponent; 2^(r/32) a cubic.
// logf: x = 2^k z with z in [0x3f330000, 2 * that), split into 16 intervals; log(z) = log1p(z/c - 1)
// + log(c) from a table of 1/c and log(c) and a cubic. Checked against tf.exp and tf.log on every
// 4,099th float bit pattern (test/kernels.test.ts). The tables (workers/fused-kernels.ts's
// MATH_TABLES, written once into a tensor kept for good; this module has no memory of its own) are
// at tab: 32 words of 64 bits, then 16 pairs of f64 (1/c, log c).
@inline function expfMusl(x: f32, tab: usize): f32 {
  const ux = reinterpret<u32>(x);
  const abstop = (ux >> 20) & 0x7ff;
  if (abstop >= 0x42b) {
    // |x| >= 88 or NaN
    if (ux == 0xff800000) return 0;
    if (abstop >= 0x7f8) return x + x;
    if (x > <f32>88.72283172607422) return Infinity;
    if (x < <f32>-103.97207641601562) return 0;
  }
  const z = 46.16624130844683 * <f64>x;
  let kd = z + 6755399441055744.0;
  const ki = reinterpret<u64>(kd);
  kd -= 6755399441055744.0;
  const r = z - kd;
  const s = reinterpret<f64>(load<u64>(tab + (<usize>(ki & 31) << 3)) + (ki << 47));
  const c = 1.6938359250920212e-06 * r + 0.00023459809789509004;
  let y = 0.021660849396613134 * r + 1;
  y = c * (r * r) + y;
  return <f32>(y * s);
}

@inline function logfMusl(x: f32, tab: usize): f32 {
  let ix = reinterpret<u32>(x);
  if (ix == 0x3f800000) return 0;
  if (ix - 0x00800000 >= 0x7f800000 - 0x00800000) {
    // x < 2^-126, or inf, or NaN
    if (ix * 2 == 0) return -Infinity;
    if (ix == 0x7f800000) return x;
    if ((ix & 0x80000000) != 0 || ix * 2 >= 0xff000000) return (x - x) / (x - x);
    ix = reinterpret<u32>(x * <f32>8388608.0) - (23 << 23); // a subnormal, normalised
  }
  const tmp = ix - 0x3f330000;
  const i = <i32>((tmp >> 19) & 15);
  const k = <i32>tmp >> 23;
  const z = <f64>reinterpret<f32>(ix - (tmp & (0x1ff << 23)));
  const r = z * load<f64>(tab + 256 + (<usize>i << 4)) - 1;
  const y0 = load<f64>(tab + 264 + (<usize>i << 4)) + <f64>k * 0.6931471805599453;
  const r2 = r * r;
  let y = 0.333456765744066 * r + -0.4999997485802103;
  y = -0.25089342214237154 * r2 + y;
  y = y * r2 + (y0 + r);
  return <f32>y;
}

/** out[i] = exp(x[i]) for n floats, as tfjs-wasm's Exp kernel computes it (musl's expf), to the bit. */
export function expf(x: usize, out: usize, n: i32, tab: usize): void {
  for (let i = 0; i < n; i++) st(out, i, expfMusl(ld(x, i), tab));
}

/**
 * log softmax over rows of V, as tf.logSoftmax computes it, to the bit: m = the row's max (the
 * first value, replaced by each greater one), s = x - m, out = s - log(sum of exp(s)) (the sum
 * in order from 0, in f32).
 */
export function logSoftmaxForward(x: usize, out: usize, R: i32, V: i32, tab: usize): void {
  for (let r = 0; r < R; r++) {
    const o = r * V;
    let m = ld(x, o);
    for (let j = 0; j < V; j++) {
      const v = ld(x, o + j);
      if (v > m) m = v;
    }
    let sum: f32 = 0;
    for (let j = 0; j < V; j++) {
      const s = ld(x, o + j) - m;
      st(out, o + j, s);
      sum += expfMusl(s, tab);
    }
    const l = logfMusl(sum, tab);
    for (let j = 0; j < V; j++) st(out, o + j, ld(out, o + j) - l);
  }
}

/** Its gradient as tf.logSoftmax's: dx = dy - (the row's sum of dy) exp(y), y the forward's output. */
export function logSoftmaxBackward(dy: usize, y: usize, dx: usize, R: i32, V: i32, tab: usize): void {
  for (let r = 0; r < R; r++) {
    const o = r * V;
    let sum: f32 = 0;
    for (let j = 0; j < V; j++) sum += ld(dy, o + j);
    for (let j = 0; j < V; j++) st(dx, o + j, ld(dy, o + j) - sum * expfMusl(ld(y, o + j), tab));
  }
}

/**
 * The masked mean of the tokens' negative log-probs and of their entropies, as src/core/nets/
 * policy.ts's maskedNll computes them with tfjs ops, to the bit: lp = log softmax of x [R, V]
 * (R = n*T rows in row-major order, as logSoftmaxForward), logp_r = the sum over v of
 * lp[r, v] * (v == tok_r) in order from 0 (the one-hot product and its sum), e_r = -(the sum over v
 * of exp(lp) * lp, in order from 0); loss = (the sum of -logp_r * mask_r over r in order) / (the
 * sum of mask_r in order), entropy = (the sum of e_r * mask_r in order) / (the same), every
 * operation in f32. Writes lp, out[0] = loss and ent[0] = entropy.
 */
export function nllForward(x: usize, tok: usize, mask: usize, lp: usize, out: usize, ent: usize, R: i32, V: i32, tab: usize): void {
  nllRows(x, tok, mask, lp, 0, out, ent, R, V, tab);
}

/** nllForward, and where p is not 0, p [R, V] = exp(lp) (the entropy's, for nllGradRows). */
function nllRows(x: usize, tok: usize, mask: usize, lp: usize, p: usize, out: usize, ent: usize, R: i32, V: i32, tab: usize): void {
  logSoftmaxForward(x, lp, R, V, tab);
  let den: f32 = 0;
  for (let r = 0; r < R; r++) den += ld(mask, r);
  let num: f32 = 0, numE: f32 = 0;
  for (let r = 0; r < R; r++) {
    const o = r * V, t = load<i32>(tok + (<usize>r << 2));
    let s: f32 = 0, e: f32 = 0;
    for (let v = 0; v < V; v++) {
      const y = ld(lp, o + v);
      s += y * <f32>(v == t);
      const q = expfMusl(y, tab);
      if (p) st(p, o + v, q);
      e += q * y;
    }
    const m = ld(mask, r);
    num += -s * m;
    numE += -e * m;
  }
  st(out, 0, num / den);
  st(ent, 0, numE / den);
}

/**
 * nllForward's gradient as the tfjs ops' gradients compute it, to the bit: g = dy / (the sum of
 * mask), each row's upstream -(g * mask_r) times the one-hot row, then logSoftmaxBackward's
 * arithmetic (dx = d - (the row's sum of d) exp(lp)). dy [1]; writes dx [R, V].
 */
export function nllBackward(dy: usize, lp: usize, tok: usize, mask: usize, dx: usize, R: i32, V: i32, tab: usize): void {
  nllGradRows(dy, lp, 0, tok, mask, dx, R, V, tab);
}

/** nllBackward, reading exp(lp) from p where p is not 0 (nllRows kept it: the same values). */
function nllGradRows(dy: usize, lp: usize, p: usize, tok: usize, mask: usize, dx: usize, R: i32, V: i32, tab: usize): void {
  let den: f32 = 0;
  for (let r = 0; r < R; r++) den += ld(mask, r);
  const g = ld(dy, 0) / den;
  for (let r = 0; r < R; r++) {
    const o = r * V, t = load<i32>(tok + (<usize>r << 2));
    const q = -(g * ld(mask, r));
    let sum: f32 = 0;
    for (let v = 0; v < V; v++) sum += q * <f32>(v == t);
    for (let v = 0; v < V; v++) st(dx, o + v, q * <f32>(v == t) - sum * (p ? ld(p, o + v) : expfMusl(ld(lp, o + v), tab)));
  }
}

/**
 * A linear head and the masked NLL of its outputs in one call, as the tfjs path computes them
 * (matMulFast, the bias added, the reshape and transpose to rows of a batch, nllForward), to the
 * bit: f [R, H] holds R = B*T rows of features time-major (row t*B + b: position t of row b), w
 * [H, V], bias [V]; tok (int32) and mask [B*T] batch-major (b*T + t). Writes lp and p = exp(lp)
 * [B*T, V] batch-major (what the gradient reads), out[0] = the loss and ent[0] = the entropy.
 * x: [2*R*V] floats of room (the logits time-major, then batch-major).
 */
export function headNllForward(f: usize, w: usize, bias: usize, tok: usize, mask: usize, x: usize, lp: usize, p: usize, out: usize, ent: usize,
  B: i32, T: i32, H: i32, V: i32, tab: usize): void {
  const R = B * T, xb = x + (<usize>(R * V) << 2);
  matmul(f, w, x, R, H, V, 0);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const src = x + (<usize>((t * B + b) * V) << 2), dst = xb + (<usize>((b * T + t) * V) << 2);
      for (let v = 0; v < V; v++) st(dst, v, ld(src, v) + ld(bias, v));
    }
  }
  nllRows(xb, tok, mask, lp, p, out, ent, R, V, tab);
}

/**
 * headNllForward's gradients as the tfjs ops' compute them, to the bit: the logits' (nllBackward's,
 * from p), back to time-major rows dl; df [R, H] = dl w^T (w transposed, then our matMul), dw
 * [H, V] = f^T dl (rows in order), dbias [V] = the sum of dl's rows in order. scratch: [2*R*V + V*H].
 */
export function headNllBackward(dy: usize, lp: usize, p: usize, tok: usize, mask: usize, f: usize, w: usize, df: usize, dw: usize, dbias: usize,
  scratch: usize, B: i32, T: i32, H: i32, V: i32, tab: usize): void {
  const R = B * T, RV = <usize>(R * V) << 2;
  const dxb = scratch, dl = scratch + RV, wT = dl + RV;
  nllGradRows(dy, lp, p, tok, mask, dxb, R, V, tab);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) memory.copy(dl + (<usize>((t * B + b) * V) << 2), dxb + (<usize>((b * T + t) * V) << 2), <usize>V << 2);
  }
  transpose(w, wT, H, V);
  matmul(dl, wT, df, R, V, H, 0);
  matmulTA(f, dl, dw, R, H, V, 0);
  sumMiddle(dl, dbias, 1, R, V);
}

/** q . k over dh floats from p and r: four lanes of partial products, then the lanes, then the tail. */
@inline function dotRow(p: usize, r: usize, dh: i32): f32 {
  const d4 = dh & ~3;
  let v = f32x4.splat(0);
  let d = 0;
  for (; d < d4; d += 4) v = f32x4.add(v, f32x4.mul(vld(p, d), vld(r, d)));
  let s = hsum(v);
  for (; d < dh; d++) s += ld(p, d) * ld(r, d);
  return s;
}

/** out[0..dh) (+)= c x[0..dh). */
@inline function axpyRow(out: usize, c: f32, x: usize, dh: i32): void {
  const d4 = dh & ~3;
  const cv = f32x4.splat(c);
  let d = 0;
  for (; d < d4; d += 4) vst(out, d, f32x4.add(vld(out, d), f32x4.mul(cv, vld(x, d))));
  for (; d < dh; d++) st(out, d, ld(out, d) + c * ld(x, d));
}

/**
 * Causal multi-head attention: q [B*Lq, A], k and v [B*Lk, A] (rows batch-major, A = H*dh, head h
 * in columns h*dh..), query i at position Lk - Lq + i sees keys 0..Lk - Lq + i (a whole sequence:
 * Lq = Lk; one decoding step over a cache: Lq = 1). For each batch row and head:
 * P = softmax(scale q k^T) with the future masked out, o = P v. Writes o [B*Lq, A] and P [B, H, Lq, Lk]
 * (0 where masked), which the backward pass and the inspector's maps use.
 */
export function attentionForward(q: usize, k: usize, v: usize, o: usize, P: usize, B: i32, H: i32, Lq: i32, Lk: i32, dh: i32, scale: f32): void {
  const A = H * dh;
  const off = Lk - Lq;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Lq; i++) {
        const qi = q + (<usize>((b * Lq + i) * A + h * dh) << 2);
        const oi = o + (<usize>((b * Lq + i) * A + h * dh) << 2);
        const pr = P + (<usize>(((b * H + h) * Lq + i) * Lk) << 2);
        const n = i + off + 1;
        let m = -Infinity as f32;
        for (let j = 0; j < n; j++) {
          const s = dotRow(qi, k + (<usize>((b * Lk + j) * A + h * dh) << 2), dh) * scale;
          st(pr, j, s);
          if (s > m) m = s;
        }
        let sum: f32 = 0;
        for (let j = 0; j < n; j++) {
          const e = sexp(ld(pr, j) - m);
          st(pr, j, e);
          sum += e;
        }
        for (let j = 0; j < n; j++) st(pr, j, ld(pr, j) / sum);
        for (let j = n; j < Lk; j++) st(pr, j, 0);
        for (let d = 0; d < dh; d++) st(oi, d, 0);
        for (let j = 0; j < n; j++) axpyRow(oi, ld(pr, j), v + (<usize>((b * Lk + j) * A + h * dh) << 2), dh);
      }
    }
  }
}

/**
 * Its backward pass, from dO [B*Lq, A] and the forward's P: per batch row, head and query i,
 * dP_ij = dO_i . v_j, dS_ij = P_ij (dP_ij - sum_j P_ij dP_ij) scale, dq_i = sum_j dS_ij k_j,
 * dk_j += dS_ij q_i, dv_j += P_ij dO_i (queries in order). scratch holds Lk floats.
 */
export function attentionBackward(dO: usize, q: usize, k: usize, v: usize, P: usize, dq: usize, dk: usize, dv: usize, scratch: usize,
  B: i32, H: i32, Lq: i32, Lk: i32, dh: i32, scale: f32): void {
  const A = H * dh;
  const off = Lk - Lq;
  memory.fill(dk, 0, <usize>(B * Lk * A) << 2);
  memory.fill(dv, 0, <usize>(B * Lk * A) << 2);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < Lq; i++) {
        const row = <usize>((b * Lq + i) * A + h * dh) << 2;
        const qi = q + row, doi = dO + row, dqi = dq + row;
        const pr = P + (<usize>(((b * H + h) * Lq + i) * Lk) << 2);
        const n = i + off + 1;
        let t: f32 = 0;
        for (let j = 0; j < n; j++) {
          const dp = dotRow(doi, v + (<usize>((b * Lk + j) * A + h * dh) << 2), dh);
          st(scratch, j, dp);
          t += ld(pr, j) * dp;
        }
        for (let d = 0; d < dh; d++) st(dqi, d, 0);
        for (let j = 0; j < n; j++) {
          const p = ld(pr, j);
          const ds = p * (ld(scratch, j) - t) * scale;
          const kj = <usize>((b * Lk + j) * A + h * dh) << 2;
          axpyRow(dqi, ds, k + kj, dh);
          axpyRow(dk + kj, ds, qi, dh);
          axpyRow(dv + kj, p, doi, dh);
        }
      }
    }
  }
}

/**
 * The optimiser's gradient norm: acc + the sum of squares of n floats at g, in order, in f64 (the
 * same operations, in the same order, as the JS loop of src/core/algos/common.ts's Adam).
 */
export function sumSquares(g: usize, n: i32, acc: f64): f64 {
  for (let i = 0; i < n; i++) {
    const x = <f64>load<f32>(g + (<usize>i << 2));
    acc += x * x;
  }
  return acc;
}

/**
 * One Adam step for n weights (Kingma & Ba, bias-corrected), the JS Adam's arithmetic to the bit:
 * the gradient g scaled by `scale` (clipping), moments m and v (f64, updated in place), and the new
 * weights w - lr (m / bc1) / (sqrt(v / bc2) + eps) rounded to f32 into out. Two weights at a time
 * in f64x2 (each lane's operations are the scalar ones, correctly rounded), then the odd one.
 */
export function adamUpdate(w: usize, g: usize, m: usize, v: usize, out: usize, n: i32,
  scale: f64, lr: f64, b1: f64, b2: f64, eps: f64, bc1: f64, bc2: f64): void {
  const sc = f64x2.splat(scale), lrv = f64x2.splat(lr), b1v = f64x2.splat(b1), b2v = f64x2.splat(b2);
  const c1 = f64x2.splat(1 - b1), c2 = f64x2.splat(1 - b2), epsv = f64x2.splat(eps), bc1v = f64x2.splat(bc1), bc2v = f64x2.splat(bc2);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const gi = f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(g + (<usize>i << 2))), sc);
    const mp = m + (<usize>i << 3), vp = v + (<usize>i << 3);
    const mi = f64x2.add(f64x2.mul(b1v, v128.load(mp)), f64x2.mul(c1, gi));
    const vi = f64x2.add(f64x2.mul(b2v, v128.load(vp)), f64x2.mul(f64x2.mul(c2, gi), gi));
    v128.store(mp, mi);
    v128.store(vp, vi);
    const wi = f64x2.promote_low_f32x4(v128.load64_zero(w + (<usize>i << 2)));
    const step = f64x2.div(f64x2.mul(lrv, f64x2.div(mi, bc1v)), f64x2.add(f64x2.sqrt(f64x2.div(vi, bc2v)), epsv));
    v128.store64_lane(out + (<usize>i << 2), f32x4.demote_f64x2_zero(f64x2.sub(wi, step)), 0);
  }
  for (; i < n; i++) {
    const gi = <f64>load<f32>(g + (<usize>i << 2)) * scale;
    const mp = m + (<usize>i << 3), vp = v + (<usize>i << 3);
    const mi = b1 * load<f64>(mp) + (1 - b1) * gi;
    const vi = b2 * load<f64>(vp) + (1 - b2) * gi * gi;
    store<f64>(mp, mi);
    store<f64>(vp, vi);
    store<f32>(out + (<usize>i << 2), <f32>(<f64>load<f32>(w + (<usize>i << 2)) - (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + eps)));
  }
}
