/**
 * Our own WebAssembly SIMD module (workers/kernels/assembly/kernels.ts, compiled by `npm run
 * build:kernels`) and the tfjs kernels made of it: the GRU sequence's forward and backward passes
 * with their input projections, each one call instead of ~15 (forward) and ~25 (backward) tfjs
 * kernels per time step and ~20 for the projections; the
 * MLP's and the transformer's one-hot first products as summed rows; layer normalisation (one
 * call forward, one backward, instead of ~10 and ~25); a bias add and gelu (the transformer's MLP);
 * a bias add and tanh (the MLP's layers) and log softmax (every policy's outputs), both to the tfjs
 * ops' bits;
 * causal multi-head attention (one call each way instead of ~10 and ~20: the heads' split and
 * merge, scores, mask, softmax and both products); and what wasm-kernels.ts's replacements of
 * GatherV2, Sum and BatchMatMul call. Installed by wasm-kernels.ts's installWasmKernels
 * (the worker, scripts/backend.ts, the test setup); src/core/nets/ uses each where it is registered
 * and `backendTraits` says so, else its tfjs path.
 *
 * The module imports tfjs-wasm's own memory: its functions take the byte offsets of tfjs tensors
 * and write into outputs made here, so nothing is copied.
 */
import * as tf from '@tensorflow/tfjs';
import { EMBED_KERNELS, GRU_KERNELS } from '../src/core/nets/gru-bptt';
import { ADAM_KERNELS, type Arith, arithmetic, ATTENTION_KERNELS, BIAS_GELU_KERNELS, BIAS_TANH_KERNELS, LAYER_NORM_KERNELS, HEAD_NLL_KERNELS, LOG_SOFTMAX_KERNELS, NLL_KERNELS, ONE_HOT_KERNELS } from '../src/core/nets/layers';
import { wasmFeatures } from '../src/core/platform';
import { WASM_BASE64 } from './kernels/kernels.wasm';
import { WASM_BASE64 as FMA_WASM_BASE64 } from './kernels/kernels-fma.wasm';

export interface FusedModule {
  gemm(a: number, rs: number, ks: number, w: number, out: number, M: number, K: number, N: number, acc: number): void;
  gruForward(cr: number, cz: number, cn: number, bxr: number, bxz: number, bxn: number, tok: number, posRow: number,
    whr: number, whz: number, whn: number, bhn: number, h0: number,
    hs: number, R: number, Z: number, N: number, HN: number, B: number, H: number, L: number, U: number, s: number, idx: number, last: number, work: number): void;
  gruBackward(dy: number, whr: number, whz: number, whn: number, h0: number, hs: number, R: number, Z: number, N: number, HN: number,
    tok: number, posRow: number, dcr: number, dcz: number, dcn: number, dbxr: number, dbxz: number, dbxn: number,
    dwhr: number, dwhz: number, dwhn: number, dbhn: number, dh0: number, scratch: number, B: number, H: number, L: number, K: number,
    U: number, s: number, idx: number, last: number): void;
  embedProject(tok: number, pos: number, wr: number, wz: number, wn: number, c: number, V: number, P: number, E: number, H: number, scratch: number): void;
  embedProjectGrad(dc: number, tok: number, pos: number, wr: number, wz: number, wn: number,
    dtok: number, dpos: number, dwr: number, dwz: number, dwn: number, V: number, P: number, E: number, H: number, scratch: number): void;
  gatherRows(x: number, idx: number, out: number, n: number, rowBytes: number, dim: number): number;
  sumMiddle(x: number, out: number, outer: number, mid: number, inner: number): void;
  matmul(a: number, w: number, out: number, M: number, K: number, N: number, acc: number): void;
  matmulTA(a: number, b: number, out: number, M: number, K: number, N: number, acc: number): void;
  transpose(x: number, out: number, R: number, C: number): void;
  rowsSum(cols: number, w: number, out: number, N: number, S: number, D: number, K: number): number;
  rowsScatter(cols: number, dy: number, dw: number, N: number, S: number, D: number, K: number): number;
  layerNormForward(x: number, g: number, b: number, y: number, xhat: number, rstd: number, N: number, D: number, eps: number): void;
  layerNormBackward(dy: number, g: number, xhat: number, rstd: number, dx: number, dg: number, db: number, N: number, D: number): void;
  biasGeluForward(a: number, b: number, y: number, xs: number, ss: number, N: number, D: number): void;
  biasGeluBackward(dy: number, xs: number, ss: number, da: number, db: number, N: number, D: number): void;
  biasTanhForward(a: number, b: number, y: number, ss: number, N: number, D: number): void;
  biasTanhBackward(dy: number, ss: number, da: number, db: number, N: number, D: number): void;
  logSoftmaxForward(x: number, out: number, R: number, V: number, tab: number): void;
  expf(x: number, out: number, n: number, tab: number): void;
  nllForward(x: number, tok: number, mask: number, lp: number, out: number, ent: number, R: number, V: number, tab: number): void;
  nllBackward(dy: number, lp: number, tok: number, mask: number, dx: number, R: number, V: number, tab: number): void;
  headNllForward(f: number, w: number, bias: number, tok: number, mask: number, x: number, lp: number, p: number, out: number, ent: number,
    B: number, T: number, H: number, V: number, tab: number): void;
  headNllBackward(dy: number, lp: number, p: number, tok: number, mask: number, f: number, w: number, df: number, dw: number, dbias: number,
    scratch: number, B: number, T: number, H: number, V: number, tab: number): void;
  logSoftmaxBackward(dy: number, y: number, dx: number, R: number, V: number, tab: number): void;
  attentionForward(q: number, k: number, v: number, o: number, P: number, B: number, H: number, Lq: number, Lk: number, dh: number, scale: number): void;
  attentionBackward(dO: number, q: number, k: number, v: number, P: number, dq: number, dk: number, dv: number, scratch: number,
    B: number, H: number, Lq: number, Lk: number, dh: number, scale: number): void;
  sumSquares(g: number, n: number, acc: number): number;
  adamUpdate(w: number, g: number, m: number, v: number, out: number, n: number,
    scale: number, lr: number, b1: number, b2: number, eps: number, bc1: number, bc2: number): void;
}

interface WasmBackendLike {
  wasm: { asm: { memory?: WebAssembly.Memory } };
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  dataIdMap: { get(id: unknown): { memoryOffset: number | null } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(id: unknown, force?: boolean): boolean;
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown };

function bytesOf(b64: string): Uint8Array {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * The module reads and writes wherever it is pointed: each kernel checks its inputs' dtype and
 * element counts (shape [count]) before calling it.
 */
function float32(name: string, t: tf.TensorInfo, size?: number): void {
  if (t.dtype !== 'float32') throw new Error(`${name}: ${t.dtype} input, float32 expected`);
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (size !== undefined && n !== size) throw new Error(`${name}: an input of shape [${t.shape}], ${size} values expected`);
}

/**
 * The tables of musl's expf and logf (Arm's optimized-routines), which tfjs-wasm's Exp and Log run
 * and our log softmax repeats: 2^(i/32) correctly rounded, as bits minus i << 47 (i = 0..31); then
 * (1/c, log c) for logf's 16 intervals. Written once into a tensor kept for good (tablesPtr).
 */
const EXP2_TABLE = BigUint64Array.of(
  0x3ff0000000000000n, 0x3fefd9b0d3158574n, 0x3fefb5586cf9890fn, 0x3fef9301d0125b51n,
  0x3fef72b83c7d517bn, 0x3fef54873168b9aan, 0x3fef387a6e756238n, 0x3fef1e9df51fdee1n,
  0x3fef06fe0a31b715n, 0x3feef1a7373aa9cbn, 0x3feedea64c123422n, 0x3feece086061892dn,
  0x3feebfdad5362a27n, 0x3feeb42b569d4f82n, 0x3feeab07dd485429n, 0x3feea47eb03a5585n,
  0x3feea09e667f3bcdn, 0x3fee9f75e8ec5f74n, 0x3feea11473eb0187n, 0x3feea589994cce13n,
  0x3feeace5422aa0dbn, 0x3feeb737b0cdc5e5n, 0x3feec49182a3f090n, 0x3feed503b23e255dn,
  0x3feee89f995ad3adn, 0x3feeff76f2fb5e47n, 0x3fef199bdd85529cn, 0x3fef3720dcef9069n,
  0x3fef5818dcfba487n, 0x3fef7c97337b9b5fn, 0x3fefa4afa2a490dan, 0x3fefd0765b6e4540n,
);
const LOGF_TABLE = Float64Array.of(
  1.398907162146528, -0.33569133332882284, 1.3403141896637998, -0.2929040563774074,
  1.286432210124115, -0.2518726580937369, 1.2367150214269895, -0.21245868807117255,
  1.1906977166711752, -0.17453945183745634, 1.1479821020556429, -0.1380057072319758,
  1.1082251448272158, -0.10275976698545139, 1.0711297413057381, -0.06871392447020525,
  1.036437278977283, -0.0357891387398228, 1.0, 0.0, 0.9492859795739057, 0.05204517742929496,
  0.8951049428609004, 0.11081431298787942, 0.8476821620351103, 0.1652495223695143,
  0.8050314851692001, 0.21687389031699977, 0.7664671008843108, 0.2659635028121397,
  0.731428603316328, 0.3127556664073557,
);

/**
 * What every kernel calls: a plain object holding the functions of one build of the module
 * (`arith`), replaced in place when the arithmetic changes (useArith), so the kernels never look
 * further than one property.
 */
let fused: FusedModule | null = null;
/** The builds instantiated so far, on tfjs-wasm's memory. */
const builds: Partial<Record<Arith, FusedModule>> = {};
let arith: Arith = 'portable';
/** Whether this engine's relaxed SIMD fuses multiply-adds (probed once). */
let fusesMadd: boolean | null = null;
/** Set by setFusedModule: a module of the caller's, which useArith leaves in place. */
let custom = false;

/**
 * Use this instance of the module instead of one made from the committed bytes (before the kernels
 * are installed). The threads bench passes one built for a shared memory whose matMuls split their
 * rows over two threads.
 */
export function setFusedModule(m: FusedModule): void {
  fused = m;
  custom = true;
}

function instantiate(b64: string): FusedModule | null {
  const memory = (tf.backend() as unknown as WasmBackendLike).wasm?.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) return null;
  const mod = new WebAssembly.Module(bytesOf(b64) as BufferSource);
  return new WebAssembly.Instance(mod, { env: { memory } }).exports as unknown as FusedModule;
}

/**
 * The module, instantiated on tfjs-wasm's memory (after tf.setBackend('wasm')); null where the
 * backend is not tfjs-wasm. Throws where the engine cannot compile it (no wasm SIMD).
 */
export function fusedModule(): FusedModule | null {
  if (fused) return fused;
  if (tf.getBackend() !== 'wasm') return null;
  const portable = instantiate(WASM_BASE64);
  if (!portable) return null;
  builds.portable = portable;
  fused = { ...portable };
  arithmetic.use = useArith;
  return fused;
}

/**
 * Our matMul's arithmetic from now on: 'fma' (kernels-fma, its multiply-adds fused) where the
 * engine's relaxed SIMD fuses them, else 'portable' (the plain build). Returns the one in effect.
 * Registered as the core's `arithmetic.use` when the module is made (Session calls it).
 */
export function useArith(want: Arith): Arith {
  if (!fused || custom) return 'portable';
  if (want === arith) return arith;
  let next: Arith = 'portable';
  if (want === 'fma' && (fusesMadd ??= wasmFeatures().fusedMadd)) {
    builds.fma ??= instantiate(FMA_WASM_BASE64) ?? undefined;
    if (builds.fma) next = 'fma';
  }
  if (next !== arith) {
    Object.assign(fused, builds[next]);
    arith = next;
  }
  return arith;
}

/** Take this engine as one whose multiply-adds do (true) or do not (false) fuse; null: probe it (tests stand in for an engine without fma). */
export function assumeFusedMadd(fuses: boolean | null): void {
  fusesMadd = fuses;
  if (fuses === false) useArith('portable');
}

/** The arithmetic our matMul runs now. */
export function arithInEffect(): Arith {
  return fused && !custom ? arith : 'portable';
}

/** A tensor's byte offset in tfjs-wasm's heap. */
export function heapOffset(backend: unknown, t: tf.TensorInfo): number {
  const off = (backend as WasmBackendLike).dataIdMap.get(t.dataId).memoryOffset;
  if (off === null) throw new Error('a tensor without memory in the wasm heap');
  return off;
}

let installed = false;

/** Whether tfjs's Exp runs our loop (the same values; the tests switch it off to compare). */
export const ourExp = { enabled: true };

/** Register our kernels: the GRU's two, the one-hot product's two, layer norm's two, bias + gelu's two, the NLL's two, a head with the NLL's two, attention's two, Adam's two (idempotent). False if the backend is not tfjs-wasm. */
export function installOwnKernels(): boolean {
  if (installed) return true;
  const mod = fusedModule();
  if (!mod) return false;
  const backend = tf.backend();
  const ptr = (t: tf.TensorInfo) => heapOffset(backend, t);

  /**
   * The GRU's shapes, checked: C_g [K, H], tok [L*B] int32 with every id in [0, V), positions
   * pos0..pos0+L-1 within C's K - V position rows. Returns the position rows' first row.
   */
  /**
   * The GRU's shapes, checked: C_g [K, H], tok int32 with every id in [0, V) (U rows for each of
   * the first s steps, then B rows for each step; s = 0: B rows throughout), idx int32 [B] with
   * every row in [0, U) when s > 0, last (if given) int32 [B], positions pos0..pos0+L-1 within C's
   * K - V position rows.
   * Returns the steps, the position rows' first row and the rows of all steps.
   */
  const gruShapes = (name: string, b: WasmBackendLike, tok: tf.TensorInfo, idx: tf.TensorInfo | undefined, last: tf.TensorInfo | undefined, a: GruAttrs, K: number) => {
    const { B, V, pos0, U, s } = a;
    if (tok.dtype !== 'int32') throw new Error(`${name}: ${tok.dtype} token ids, int32 expected`);
    const n = tok.shape[0];
    const L = s > 0 ? s + (n - s * U) / B : n / B;
    if (!Number.isInteger(L) || L < s || V + pos0 + L > K) throw new Error(`${name}: ${n} token ids do not fit ${B} rows (${U} for the first ${s} steps) at positions from ${pos0} in ${K - V}`);
    const ids = b.typedArrayFromHeap(tok);
    for (let i = 0; i < ids.length; i++) if (!(ids[i] >= 0 && ids[i] < V)) throw new Error(`${name}: token id ${ids[i]} is not in [0, ${V - 1}]`);
    if (last && (last.dtype !== 'int32' || last.shape[0] !== B)) throw new Error(`${name}: ${B} int32 last steps expected`);
    if (s > 0) {
      if (!idx || idx.dtype !== 'int32' || idx.shape[0] !== B) throw new Error(`${name}: ${B} int32 prefix rows expected`);
      const rows = b.typedArrayFromHeap(idx);
      for (let i = 0; i < B; i++) if (!(rows[i] >= 0 && rows[i] < U)) throw new Error(`${name}: prefix row ${rows[i]} is not in [0, ${U - 1}]`);
    }
    return { L, posRow: V + pos0, rows0: s > 0 ? U : B, TR: n };
  };

  /** B rows; U distinct prefixes for the first s steps (s = 0: none, U = B). */
  type GruAttrs = { B: number; V: number; pos0: number; zeroH0: boolean; U: number; s: number };

  const forward = ({ inputs, attrs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const { c, bxr, bxz, bxn, whr, whz, whn, bhn, h0, tok, idx, last } = inputs as Record<string, tf.TensorInfo>;
    const a = attrs as unknown as GruAttrs;
    const K = c.shape[0] / 3, H = c.shape[1];
    if (!Number.isInteger(K)) throw new Error(`${GRU_KERNELS.forward}: input matrices [${c.shape}], three stacked expected`);
    const { L, posRow, rows0, TR } = gruShapes(GRU_KERNELS.forward, b, tok, idx, last, a, K);
    float32(GRU_KERNELS.forward, c, 3 * K * H);
    for (const t of [bxr, bxz, bxn, bhn]) float32(GRU_KERNELS.forward, t, H);
    for (const t of [whr, whz, whn]) float32(GRU_KERNELS.forward, t, H * H);
    float32(GRU_KERNELS.forward, h0, rows0 * H);
    const outs = [0, 1, 2, 3, 4].map(() => b.makeOutput([TR, H], 'float32'));
    if (TR * H > 0) {
      const [hs, R, Z, N, HN] = outs.map(ptr);
      // Room for the split's states and the live rows' packed products (none needed: one float).
      const work = b.makeOutput([a.s > 0 || last ? 5 * a.B * H + a.B : 1], 'float32');
      const cr = ptr(c), KH = K * H * 4;
      mod.gruForward(cr, cr + KH, cr + 2 * KH, ptr(bxr), ptr(bxz), ptr(bxn), ptr(tok), posRow,
        ptr(whr), ptr(whz), ptr(whn), ptr(bhn), ptr(h0), hs, R, Z, N, HN, a.B, H, L, a.U, a.s, a.s > 0 ? ptr(idx) : 0, last ? ptr(last) : 0, ptr(work));
      b.disposeData(work.dataId);
    }
    return outs;
  };

  /** Outputs in the order of the forward's differentiated inputs: dC (the three stacked), dbx_g, dW_g, dbhn, then dh0 unless zeroH0. */
  const backward = ({ inputs, attrs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const { dy, whr, whz, whn, h0, hs, R, Z, N, HN, tok, idx, last } = inputs as Record<string, tf.TensorInfo>;
    const a = attrs as unknown as GruAttrs & { K: number };
    const { B, zeroH0, K } = a;
    const H = whr.shape[0];
    const { L, posRow, rows0, TR } = gruShapes(GRU_KERNELS.backward, b, tok, idx, last, a, K);
    if (a.s > 0 && !zeroH0) throw new Error(`${GRU_KERNELS.backward}: prefixes start from zeros`);
    for (const t of [dy, hs, R, Z, N, HN]) float32(GRU_KERNELS.backward, t, TR * H);
    for (const t of [whr, whz, whn]) float32(GRU_KERNELS.backward, t, H * H);
    float32(GRU_KERNELS.backward, h0, rows0 * H);
    const outs = [
      b.makeOutput([3 * K, H], 'float32'),
      ...[0, 1, 2].map(() => b.makeOutput([H], 'float32')),
      ...[0, 1, 2].map(() => b.makeOutput([H, H], 'float32')),
      b.makeOutput([H], 'float32'),
      ...(zeroH0 ? [] : [b.makeOutput([B, H], 'float32')]),
    ];
    const scratch = b.makeOutput([4 * TR * H + 3 * H * H + 3 * B * H + B + 6 * B * H], 'float32');
    if (TR * H > 0) {
      const [dcr, dbxr, dbxz, dbxn, dwhr, dwhz, dwhn, dbhn, dh0] = outs.map(ptr);
      const dcz = dcr + K * H * 4, dcn = dcz + K * H * 4;
      // dh0 = 0 (no such output): the module skips what only h0's gradient needs.
      mod.gruBackward(ptr(dy), ptr(whr), ptr(whz), ptr(whn), ptr(h0), ptr(hs), ptr(R), ptr(Z), ptr(N), ptr(HN),
        ptr(tok), posRow, dcr, dcz, dcn, dbxr, dbxz, dbxn, dwhr, dwhz, dwhn, dbhn, zeroH0 ? 0 : dh0, ptr(scratch), B, H, L, K,
        a.U, a.s, a.s > 0 ? ptr(idx) : 0, last ? ptr(last) : 0);
    }
    b.disposeData(scratch.dataId);
    return outs;
  };


  /**
   * The module checks the columns as it goes (-1 or each within [0, K)) and returns the first bad
   * one's position: the output is dropped and the error names it.
   */
  const int32Cols = (cols: tf.TensorInfo, name: string) => {
    if (cols.dtype !== 'int32') throw new Error(`${name}: ${cols.dtype} columns, int32 expected`);
  };
  const badCol = (b: WasmBackendLike, cols: tf.TensorInfo, out: tf.TensorInfo, at: number, K: number, name: string) => {
    if (at < 0) return out;
    b.disposeData(out.dataId);
    throw new Error(`${name}: column ${b.typedArrayFromHeap(cols)[at]} is not in [-1, ${K - 1}]`);
  };

  const rowsSum = ({ inputs, backend: be }: KernelArgs): tf.TensorInfo => {
    const b = be as WasmBackendLike;
    const { cols, w } = inputs as Record<string, tf.TensorInfo>;
    float32(ONE_HOT_KERNELS.forward, w);
    int32Cols(cols, ONE_HOT_KERNELS.forward);
    const [N, S] = cols.shape, [K, D] = w.shape;
    const out = b.makeOutput([N, D], 'float32');
    return badCol(b, cols, out, N * D > 0 ? mod.rowsSum(ptr(cols), ptr(w), ptr(out), N, S, D, K) : -1, K, ONE_HOT_KERNELS.forward);
  };

  const rowsScatter = ({ inputs, attrs, backend: be }: KernelArgs): tf.TensorInfo => {
    const b = be as WasmBackendLike;
    const { cols, dy } = inputs as Record<string, tf.TensorInfo>;
    const K = (attrs as { K: number }).K;
    const [N, S] = cols.shape, D = dy.shape[1];
    float32(ONE_HOT_KERNELS.backward, dy, N * D);
    int32Cols(cols, ONE_HOT_KERNELS.backward);
    const out = b.makeOutput([K, D], 'float32');
    return badCol(b, cols, out, K * D > 0 ? mod.rowsScatter(ptr(cols), ptr(dy), ptr(out), N, S, D, K) : -1, K, ONE_HOT_KERNELS.backward);
  };

  const layerNormForward = ({ inputs, attrs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const { x, g, b: beta } = inputs as Record<string, tf.TensorInfo>;
    const D = x.shape[x.shape.length - 1], N = x.shape.reduce((p, q) => p * q, 1) / D;
    float32(LAYER_NORM_KERNELS.forward, x);
    for (const t of [g, beta]) float32(LAYER_NORM_KERNELS.forward, t, D);
    const outs = [b.makeOutput(x.shape, 'float32'), b.makeOutput(x.shape, 'float32'), b.makeOutput([N], 'float32')];
    if (N * D > 0) {
      const [y, xhat, rstd] = outs.map(ptr);
      mod.layerNormForward(ptr(x), ptr(g), ptr(beta), y, xhat, rstd, N, D, (attrs as { eps: number }).eps);
    }
    return outs;
  };

  const layerNormBackward = ({ inputs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const { dy, g, xhat, rstd } = inputs as Record<string, tf.TensorInfo>;
    const D = dy.shape[dy.shape.length - 1], N = dy.shape.reduce((p, q) => p * q, 1) / D;
    for (const [t, n] of [[dy, N * D], [xhat, N * D], [g, D], [rstd, N]] as const) float32(LAYER_NORM_KERNELS.backward, t, n);
    const outs = [b.makeOutput(dy.shape, 'float32'), b.makeOutput([D], 'float32'), b.makeOutput([D], 'float32')];
    if (D > 0) {
      const [dx, dg, db] = outs.map(ptr);
      mod.layerNormBackward(ptr(dy), ptr(g), ptr(xhat), ptr(rstd), dx, dg, db, N, D);
    }
    return outs;
  };

  const biasGeluForward = ({ inputs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const { a, b: bias } = inputs as Record<string, tf.TensorInfo>;
    const [N, D] = a.shape;
    float32(BIAS_GELU_KERNELS.forward, a);
    float32(BIAS_GELU_KERNELS.forward, bias, D);
    const outs = [0, 1, 2].map(() => b.makeOutput([N, D], 'float32'));
    if (N * D > 0) {
      const [y, xs, ss] = outs.map(ptr);
      mod.biasGeluForward(ptr(a), ptr(bias), y, xs, ss, N, D);
    }
    return outs;
  };

  const biasGeluBackward = ({ inputs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const { dy, xs, ss } = inputs as Record<string, tf.TensorInfo>;
    const [N, D] = dy.shape;
    for (const t of [dy, xs, ss]) float32(BIAS_GELU_KERNELS.backward, t, N * D);
    const outs = [b.makeOutput([N, D], 'float32'), b.makeOutput([D], 'float32')];
    if (D > 0) {
      const [da, db] = outs.map(ptr);
      mod.biasGeluBackward(ptr(dy), ptr(xs), ptr(ss), da, db, N, D);
    }
    return outs;
  };

  const biasTanhForward = ({ inputs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const { a, b: bias } = inputs as Record<string, tf.TensorInfo>;
    const [N, D] = a.shape;
    float32(BIAS_TANH_KERNELS.forward, a);
    float32(BIAS_TANH_KERNELS.forward, bias, D);
    const outs = [b.makeOutput([N, D], 'float32'), b.makeOutput([N, D], 'float32')];
    if (N * D > 0) mod.biasTanhForward(ptr(a), ptr(bias), ptr(outs[0]), ptr(outs[1]), N, D);
    return outs;
  };

  const biasTanhBackward = ({ inputs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const { dy, ss } = inputs as Record<string, tf.TensorInfo>;
    const [N, D] = dy.shape;
    for (const t of [dy, ss]) float32(BIAS_TANH_KERNELS.backward, t, N * D);
    const outs = [b.makeOutput([N, D], 'float32'), b.makeOutput([D], 'float32')];
    if (D > 0) mod.biasTanhBackward(ptr(dy), ptr(ss), ptr(outs[0]), ptr(outs[1]), N, D);
    return outs;
  };

  /** The GRU's input matrices, the three stacked: [tok; pos] W_g for g = r, z, n. */
  const embedForward = ({ inputs, backend: be }: KernelArgs): tf.TensorInfo => {
    const b = be as WasmBackendLike;
    const { tok, pos, wr, wz, wn } = inputs as Record<string, tf.TensorInfo>;
    const { V, P, E, H } = embedShapes(EMBED_KERNELS.forward, tok, pos, wr, wz, wn);
    const c = b.makeOutput([3 * (V + P), H], 'float32');
    const scratch = b.makeOutput([Math.max(1, (V + P) * E)], 'float32');
    mod.embedProject(ptr(tok), ptr(pos), ptr(wr), ptr(wz), ptr(wn), ptr(c), V, P, E, H, ptr(scratch));
    b.disposeData(scratch.dataId);
    return c;
  };

  /** Gradients in the order of the inputs: tok, pos, wr, wz, wn. */
  const embedBackward = ({ inputs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const { dy, tok, pos, wr, wz, wn } = inputs as Record<string, tf.TensorInfo>;
    const { V, P, E, H } = embedShapes(EMBED_KERNELS.backward, tok, pos, wr, wz, wn);
    float32(EMBED_KERNELS.backward, dy, 3 * (V + P) * H);
    const outs = [b.makeOutput([V, E], 'float32'), b.makeOutput([P, E], 'float32'), ...[0, 1, 2].map(() => b.makeOutput([E, H], 'float32'))];
    const scratch = b.makeOutput([Math.max(1, 3 * (V + P) * E + H * E)], 'float32');
    const [dtok, dpos, dwr, dwz, dwn] = outs.map(ptr);
    mod.embedProjectGrad(ptr(dy), ptr(tok), ptr(pos), ptr(wr), ptr(wz), ptr(wn), dtok, dpos, dwr, dwz, dwn, V, P, E, H, ptr(scratch));
    b.disposeData(scratch.dataId);
    return outs;
  };

  const embedShapes = (name: string, tok: tf.TensorInfo, pos: tf.TensorInfo, wr: tf.TensorInfo, wz: tf.TensorInfo, wn: tf.TensorInfo) => {
    const [V, E] = tok.shape, [P] = pos.shape, H = wr.shape[1];
    const ok = tok.shape.length === 2 && pos.shape.length === 2 && pos.shape[1] === E && [wr, wz, wn].every((w) => w.shape.length === 2 && w.shape[0] === E && w.shape[1] === H);
    if (!ok) throw new Error(`${name}: embeddings [${tok.shape}], [${pos.shape}] and input weights [${wr.shape}] do not fit`);
    for (const t of [tok, pos, wr, wz, wn]) float32(name, t);
    return { V, P, E, H };
  };

  /** Rows of the last axis: [..., V] as R rows of V. */
  const rowsOf = (t: tf.TensorInfo) => {
    const V = t.shape[t.shape.length - 1] ?? 1;
    return { V, R: V > 0 ? t.shape.reduce((p, q) => p * q, 1) / V : 0 };
  };

  /** expf's and logf's tables, in a tensor kept for good (made again if disposed). */
  let tables: tf.Tensor | null = null;
  const tablesPtr = (): number => {
    if (!tables || tables.isDisposed) {
      const words = new Int32Array(128);
      words.set(new Int32Array(EXP2_TABLE.buffer), 0);
      words.set(new Int32Array(LOGF_TABLE.buffer), 64);
      tables = tf.keep(tf.tensor1d(words, 'int32'));
    }
    return heapOffset(backend, tables as unknown as tf.TensorInfo);
  };

  const logSoftmaxForward = ({ inputs, backend: be }: KernelArgs): tf.TensorInfo => {
    const b = be as WasmBackendLike;
    const { x } = inputs as Record<string, tf.TensorInfo>;
    float32(LOG_SOFTMAX_KERNELS.forward, x);
    const { R, V } = rowsOf(x);
    const out = b.makeOutput(x.shape, 'float32');
    if (R * V > 0) mod.logSoftmaxForward(ptr(x), ptr(out), R, V, tablesPtr());
    return out;
  };

  const logSoftmaxBackward = ({ inputs, backend: be }: KernelArgs): tf.TensorInfo => {
    const b = be as WasmBackendLike;
    const { dy, y } = inputs as Record<string, tf.TensorInfo>;
    const { R, V } = rowsOf(y);
    for (const t of [dy, y]) float32(LOG_SOFTMAX_KERNELS.backward, t, R * V);
    const out = b.makeOutput(y.shape, 'float32');
    if (R * V > 0) mod.logSoftmaxBackward(ptr(dy), ptr(y), ptr(out), R, V, tablesPtr());
    return out;
  };

  /** R token ids (int32, each in [0, V)) and R mask values. */
  const tokensAndMask = (name: string, b: WasmBackendLike, tok: tf.TensorInfo, mask: tf.TensorInfo, R: number, V: number) => {
    float32(name, mask, R);
    if (tok.dtype !== 'int32' || tok.shape.reduce((p, q) => p * q, 1) !== R) throw new Error(`${name}: ${R} int32 token ids expected`);
    const ids = b.typedArrayFromHeap(tok);
    for (let i = 0; i < ids.length; i++) if (!(ids[i] >= 0 && ids[i] < V)) throw new Error(`${name}: token id ${ids[i]} is not in [0, ${V - 1}]`);
  };

  /** Logits [..., V] with a token id (int32, each in [0, V)) and a mask value per row: R rows of V. */
  const nllShapes = (name: string, b: WasmBackendLike, x: tf.TensorInfo, tok: tf.TensorInfo, mask: tf.TensorInfo) => {
    float32(name, x);
    const { R, V } = rowsOf(x);
    tokensAndMask(name, b, tok, mask, R, V);
    return { R, V };
  };

  /** [loss, lp, entropy]: the masked means of -log p(token) and of the entropy, and the log softmax the gradient reads. */
  const nllForward = ({ inputs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const { x, tok, mask } = inputs as Record<string, tf.TensorInfo>;
    const { R, V } = nllShapes(NLL_KERNELS.forward, b, x, tok, mask);
    const loss = b.makeOutput([], 'float32');
    const lp = b.makeOutput(x.shape, 'float32');
    const ent = b.makeOutput([], 'float32');
    mod.nllForward(ptr(x), ptr(tok), ptr(mask), ptr(lp), ptr(loss), ptr(ent), R, V, tablesPtr());
    return [loss, lp, ent];
  };

  const nllBackward = ({ inputs, backend: be }: KernelArgs): tf.TensorInfo => {
    const b = be as WasmBackendLike;
    const { dy, lp, tok, mask } = inputs as Record<string, tf.TensorInfo>;
    const { R, V } = nllShapes(NLL_KERNELS.backward, b, lp, tok, mask);
    float32(NLL_KERNELS.backward, dy, 1);
    const dx = b.makeOutput(lp.shape, 'float32');
    mod.nllBackward(ptr(dy), ptr(lp), ptr(tok), ptr(mask), ptr(dx), R, V, tablesPtr());
    return dx;
  };

  /**
   * The head's features f [skip + B*T, H] (time-major after skip rows), w [H, V], bias [V], and the
   * loss's token ids and mask (B*T each, batch-major), checked as nllShapes checks them. Returns
   * R = B*T, H and V.
   */
  type HeadNllAttrs = { B: number; T: number; skip: number };
  const headNllShapes = (name: string, b: WasmBackendLike, f: tf.TensorInfo, w: tf.TensorInfo, bias: tf.TensorInfo | null, tok: tf.TensorInfo, mask: tf.TensorInfo, a: HeadNllAttrs) => {
    const R = a.B * a.T;
    if (w.shape.length !== 2) throw new Error(`${name}: head weights [${w.shape}], [H, V] expected`);
    const [H, V] = w.shape;
    if (!(Number.isInteger(a.skip) && a.skip >= 0)) throw new Error(`${name}: ${a.skip} rows to skip`);
    float32(name, f, (a.skip + R) * H);
    float32(name, w);
    if (bias) float32(name, bias, V);
    tokensAndMask(name, b, tok, mask, R, V);
    return { R, H, V };
  };

  /** [loss, lp, p, entropy]: maskedNll of the head's logits, with the log softmax and its exp the gradient reads. */
  const headNllForward = ({ inputs, attrs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const { f, w, bias, tok, mask } = inputs as Record<string, tf.TensorInfo>;
    const a = attrs as unknown as HeadNllAttrs;
    const { R, H, V } = headNllShapes(HEAD_NLL_KERNELS.forward, b, f, w, bias, tok, mask, a);
    const loss = b.makeOutput([], 'float32');
    const lp = b.makeOutput([R, V], 'float32');
    const p = b.makeOutput([R, V], 'float32');
    const ent = b.makeOutput([], 'float32');
    const x = b.makeOutput([Math.max(1, 2 * R * V)], 'float32');
    mod.headNllForward(ptr(f) + a.skip * H * 4, ptr(w), ptr(bias), ptr(tok), ptr(mask), ptr(x), ptr(lp), ptr(p), ptr(loss), ptr(ent), a.B, a.T, H, V, tablesPtr());
    b.disposeData(x.dataId);
    return [loss, lp, p, ent];
  };

  /** [df, dw, dbias]; df is 0 on the skipped rows. */
  const headNllBackward = ({ inputs, attrs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const { dy, lp, p, tok, mask, f, w } = inputs as Record<string, tf.TensorInfo>;
    const a = attrs as unknown as HeadNllAttrs;
    const name = HEAD_NLL_KERNELS.backward;
    const { R, H, V } = headNllShapes(name, b, f, w, null, tok, mask, a);
    float32(name, dy, 1);
    for (const t of [lp, p]) float32(name, t, R * V);
    const outs = [b.makeOutput([a.skip + R, H], 'float32'), b.makeOutput([H, V], 'float32'), b.makeOutput([V], 'float32')];
    const scratch = b.makeOutput([2 * R * V + V * H], 'float32');
    b.typedArrayFromHeap(outs[0]).fill(0, 0, a.skip * H);
    const [df, dw, db] = outs.map(ptr);
    const skipped = a.skip * H * 4;
    mod.headNllBackward(ptr(dy), ptr(lp), ptr(p), ptr(tok), ptr(mask), ptr(f) + skipped, ptr(w), df + skipped, dw, db, ptr(scratch), a.B, a.T, H, V, tablesPtr());
    b.disposeData(scratch.dataId);
    return outs;
  };

  /** q [B*Lq, A], k and v [B*Lk, A] with A = H*dh: the shapes attentionForward/Backward read. */
  const attentionShapes = (name: string, q: tf.TensorInfo, k: tf.TensorInfo, v: tf.TensorInfo, B: number, H: number) => {
    const A = q.shape[q.shape.length - 1];
    const Lq = q.shape.reduce((p, x) => p * x, 1) / A / B, Lk = k.shape.reduce((p, x) => p * x, 1) / A / B;
    if (!Number.isInteger(Lq) || !Number.isInteger(Lk) || Lq > Lk || A % H !== 0) throw new Error(`${name}: q [${q.shape}], k [${k.shape}] do not fit ${B} rows of ${H} heads`);
    float32(name, q, B * Lq * A);
    for (const t of [k, v]) float32(name, t, B * Lk * A);
    return { A, Lq, Lk, dh: A / H };
  };

  const attentionForward = ({ inputs, attrs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const { q, k, v } = inputs as Record<string, tf.TensorInfo>;
    const { B, H, scale } = attrs as { B: number; H: number; scale: number };
    const { A, Lq, Lk, dh } = attentionShapes(ATTENTION_KERNELS.forward, q, k, v, B, H);
    const outs = [b.makeOutput([B * Lq, A], 'float32'), b.makeOutput([B, H, Lq, Lk], 'float32')];
    if (B * Lq * A > 0) mod.attentionForward(ptr(q), ptr(k), ptr(v), ptr(outs[0]), ptr(outs[1]), B, H, Lq, Lk, dh, scale);
    return outs;
  };

  const attentionBackward = ({ inputs, attrs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const { dy, q, k, v, P } = inputs as Record<string, tf.TensorInfo>;
    const { B, H, scale } = attrs as { B: number; H: number; scale: number };
    const { A, Lq, Lk, dh } = attentionShapes(ATTENTION_KERNELS.backward, q, k, v, B, H);
    float32(ATTENTION_KERNELS.backward, dy, B * Lq * A);
    float32(ATTENTION_KERNELS.backward, P, B * H * Lq * Lk);
    const outs = [b.makeOutput(q.shape, 'float32'), b.makeOutput(k.shape, 'float32'), b.makeOutput(v.shape, 'float32')];
    const scratch = b.makeOutput([Lk], 'float32');
    if (B * Lq * A > 0) {
      const [dq, dk, dv] = outs.map(ptr);
      mod.attentionBackward(ptr(dy), ptr(q), ptr(k), ptr(v), ptr(P), dq, dk, dv, ptr(scratch), B, H, Lq, Lk, dh, scale);
    }
    b.disposeData(scratch.dataId);
    return outs;
  };

  /** The sum of squares of every input (g0, g1, ... in order) as one f64: an int32 [2] tensor holding its bits. */
  const sumSquares = ({ inputs, backend: be }: KernelArgs): tf.TensorInfo => {
    const b = be as WasmBackendLike;
    let acc = 0;
    for (let i = 0; `g${i}` in inputs; i++) {
      const g = (inputs as Record<string, tf.TensorInfo>)[`g${i}`];
      float32(ADAM_KERNELS.sumSquares, g);
      const n = g.shape.reduce((p, q) => p * q, 1);
      if (n > 0) acc = mod.sumSquares(ptr(g), n, acc);
    }
    const out = b.makeOutput([2], 'int32');
    (b.typedArrayFromHeap(out) as Int32Array).set(new Int32Array(new Float64Array([acc]).buffer));
    return out;
  };

  /**
   * One Adam step of every weight tensor w0, w1, ... with its gradient g0, g1, ...: returns their
   * new weights, in order (one kernel for the whole net). The moments are f64 in the optimiser's
   * state tensor mv (int32 words: all of m, then all of v), the tensors' in order; they are updated
   * in place (mv is the optimiser's own, never shared).
   */
  const adam = ({ inputs, attrs, backend: be }: KernelArgs): tf.TensorInfo[] => {
    const b = be as WasmBackendLike;
    const ins = inputs as Record<string, tf.TensorInfo>;
    const { mv } = ins;
    const { scale, lr, b1, b2, eps, bc1, bc2 } = attrs as unknown as Record<string, number>;
    if (mv.dtype !== 'int32') throw new Error(`${ADAM_KERNELS.update}: a ${mv.dtype} state, int32 words expected`);
    const half = mv.shape.reduce((p, q) => p * q, 1) / 2; // words of m, then of v
    const pairs: [tf.TensorInfo, tf.TensorInfo, number][] = [];
    let words = 0;
    for (let i = 0; `w${i}` in ins; i++) {
      const w = ins[`w${i}`], g = ins[`g${i}`];
      const n = w.shape.reduce((p, q) => p * q, 1);
      float32(ADAM_KERNELS.update, w, n);
      if (!g) throw new Error(`${ADAM_KERNELS.update}: no gradient g${i}`);
      float32(ADAM_KERNELS.update, g, n);
      pairs.push([w, g, n]);
      words += 2 * n;
    }
    if (words !== half) throw new Error(`${ADAM_KERNELS.update}: moments for ${words / 2} weights do not fit a state of ${half / 2}`);
    const outs = pairs.map(([w]) => b.makeOutput(w.shape, 'float32'));
    let off = 0;
    pairs.forEach(([w, g, n], i) => {
      if (n > 0) {
        const m = ptr(mv) + off * 4;
        mod.adamUpdate(ptr(w), ptr(g), m, m + half * 4, ptr(outs[i]), n, scale, lr, b1, b2, eps, bc1, bc2);
      }
      off += 2 * n;
    });
    return outs;
  };

  const kernels: [string, unknown][] = [
    [ADAM_KERNELS.sumSquares, sumSquares], [ADAM_KERNELS.update, adam],
    [GRU_KERNELS.forward, forward], [GRU_KERNELS.backward, backward],
    [EMBED_KERNELS.forward, embedForward], [EMBED_KERNELS.backward, embedBackward],
    [ONE_HOT_KERNELS.forward, rowsSum], [ONE_HOT_KERNELS.backward, rowsScatter],
    [LAYER_NORM_KERNELS.forward, layerNormForward], [LAYER_NORM_KERNELS.backward, layerNormBackward],
    [BIAS_GELU_KERNELS.forward, biasGeluForward], [BIAS_GELU_KERNELS.backward, biasGeluBackward],
    [BIAS_TANH_KERNELS.forward, biasTanhForward], [BIAS_TANH_KERNELS.backward, biasTanhBackward],
    [LOG_SOFTMAX_KERNELS.forward, logSoftmaxForward], [LOG_SOFTMAX_KERNELS.backward, logSoftmaxBackward],
    [NLL_KERNELS.forward, nllForward], [NLL_KERNELS.backward, nllBackward],
    [HEAD_NLL_KERNELS.forward, headNllForward], [HEAD_NLL_KERNELS.backward, headNllBackward],
    [ATTENTION_KERNELS.forward, attentionForward], [ATTENTION_KERNELS.backward, attentionBackward],
  ];
  for (const [kernelName, f] of kernels) tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: f as tf.KernelFunc });

  // Exp: the same function as tfjs-wasm's (musl's expf) in a loop of our module, to the bit, without
  // the stock kernel's per-element call through its C++ (173 -> 74 us at [256, 4, 14]). Other
  // dtypes, and ourExp off, go to the stock kernel.
  const stockExp = tf.getKernel('Exp', 'wasm')?.kernelFunc as ((a: KernelArgs) => tf.TensorInfo) | undefined;
  if (stockExp) {
    const exp = (args: KernelArgs): tf.TensorInfo => {
      const x = (args.inputs as Record<string, tf.TensorInfo>).x;
      if (!ourExp.enabled || x.dtype !== 'float32') return stockExp(args);
      const b = args.backend as WasmBackendLike;
      const out = b.makeOutput(x.shape, 'float32');
      const n = x.shape.reduce((p, q) => p * q, 1);
      if (n > 0) mod.expf(ptr(x), ptr(out), n, tablesPtr());
      return out;
    };
    tf.unregisterKernel('Exp', 'wasm');
    tf.registerKernel({ kernelName: 'Exp', backendName: 'wasm', kernelFunc: exp as tf.KernelFunc });
  }
  tablesPtr(); // made here, outside any kernel, so the kernels only read them
  installed = true;
  return true;
}
