/**
 * Faster replacements for tfjs-backend-wasm 4.22 kernels that cost far more than they should at
 * our sizes (measured with `npm run bench -- --only profile`). Installed by whoever picks the
 * backend: the worker, scripts/backend.ts (CLI, benchmarks) and the test setup. Slice, PadV2,
 * GatherV2, Identity and Sum compute exactly the values of the kernel they replace; BatchMatMul sums in
 * another order (our own path: the same bits in every engine, not the stock kernel's bits).
 *
 * - Slice: the stock kernel starts with `backend.readSync(x)`, which copies the WHOLE input out of
 *   the wasm heap before taking the slice. Slicing one time step out of a [L*B, H] sequence thus
 *   copied all L steps: ~0.4 ms per slice, 15 ms of a 44 ms GRU SFT step. This one reads the input
 *   through a view of the heap and copies only the slice.
 * - GatherV2, Identity, Sum, BatchMatMul: see fastGather, sharedIdentity, fastSum, fastMatMul.
 *
 * It also registers kernels tfjs does not have (fused-kernels.ts: the GRU sequence, one-hot first
 * layers, layer norm, bias + gelu, attention, Adam), each one WebAssembly SIMD call.
 */
import * as tf from '@tensorflow/tfjs';
import { backendTraits } from '../src/core/nets/layers';
import { fusedModule, heapOffset, installOwnKernels, type FusedModule } from './fused-kernels';

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(id: unknown): boolean;
}

function fastSlice(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const backend = args.backend as WasmBackendLike;
  const attrs = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
  const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, attrs.begin, attrs.size);
  // The output first: allocating may grow the heap, which detaches earlier views.
  const out = backend.makeOutput(size, x.dtype);
  const n = size.reduce((a, b) => a * b, 1);
  if (n === 0) return out;
  const xv = backend.typedArrayFromHeap(x);
  const ov = backend.typedArrayFromHeap(out);
  const strides = tf.util.computeStrides(x.shape);
  if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
    const off = tf.slice_util.computeFlatOffset(begin, strides);
    ov.set(xv.subarray(off, off + n));
    return out;
  }
  // General case: copy runs of the innermost dimension, walking the outer indices.
  const rank = x.shape.length;
  const inner = size[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  let o = 0;
  for (;;) {
    let off = begin[rank - 1];
    for (let d = 0; d < rank - 1; d++) off += (begin[d] + idx[d]) * strides[d];
    ov.set(xv.subarray(off, off + inner), o);
    o += inner;
    let d = rank - 2;
    while (d >= 0 && ++idx[d] === size[d]) idx[d--] = 0;
    if (d < 0) break;
  }
  return out;
}

let stockPad: Kernel | null = null;

/** Whether PadV2 on float32 runs ours (the same values; the tests switch it off to compare). */
export const ourPad = { enabled: true };

/**
 * PadV2 on float32 (what the gradient of a slice runs: the GRU's outputs are a slice of its states,
 * [1,806, 64] in a GRU SFT step): the stock kernel walked every element through its C++ index
 * arithmetic (~1.3 ms for that pad in a PPO step). The output is filled with the constant and the
 * input copied in runs as long as the padding allows (one run where only the first axis is padded):
 * the same values. Other dtypes go to the stock kernel.
 */
function fastPad(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const { paddings, constantValue } = args.attrs as unknown as { paddings: [number, number][]; constantValue: number };
  const rank = x.shape.length;
  if (!ourPad.enabled || x.dtype !== 'float32' || rank === 0 || paddings.length !== rank || tf.util.sizeFromShape(x.shape) === 0) return stockPad!(args);
  const backend = args.backend as WasmBackendLike;
  const outShape = x.shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
  const out = backend.makeOutput(outShape, 'float32');
  const xv = backend.typedArrayFromHeap(x);
  const ov = backend.typedArrayFromHeap(out);
  ov.fill(constantValue);
  // The last padded axis k: below it the input's rows are whole rows of the output.
  let k = rank - 1;
  while (k > 0 && paddings[k][0] === 0 && paddings[k][1] === 0) k--;
  const outStrides = [...tf.util.computeStrides(outShape), 1];
  const run = x.shape.slice(k).reduce((a, b) => a * b, 1);
  const idx = new Array<number>(k).fill(0);
  for (let from = 0; ; from += run) {
    let o = paddings[k][0] * outStrides[k];
    for (let d = 0; d < k; d++) o += (idx[d] + paddings[d][0]) * outStrides[d];
    ov.set(xv.subarray(from, from + run), o);
    let d = k - 1;
    while (d >= 0 && ++idx[d] === x.shape[d]) idx[d--] = 0;
    if (d < 0) break;
  }
  return out;
}

/**
 * GatherV2 (rows of x picked by integer indices): the stock kernel ran at ~6 ms for 2,304 rows of
 * 64 floats. Whole rows of 4-byte values are copied by our wasm module (fused-kernels.ts), the
 * general case row by row from JS.
 */
function fastGather(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo {
  const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const backend = args.backend as WasmBackendLike;
  const attrs = args.attrs as unknown as { axis: number; batchDims: number };
  const axis = tf.util.parseAxisParam(attrs.axis, x.shape)[0];
  const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x as unknown as tf.Tensor, indices as unknown as tf.Tensor, axis, attrs.batchDims);
  const out = backend.makeOutput(info.outputShape, x.dtype);
  const nIdx = indices.shape.reduce((a, b) => a * b, 1);
  const total = info.outputShape.reduce((a, b) => a * b, 1);
  if (total === 0) return out;
  const { batchSize, outerSize, dimSize, sliceSize } = info;
  const bytes = tf.util.bytesPerElement(x.dtype);
  if (ours && batchSize === 1 && outerSize === 1 && bytes === 4 && indices.dtype === 'int32') {
    // One wasm call copying whole rows (memory.copy): a JS loop over typed arrays of either
    // dtype ran at ~3 ns an element (0.9 ms for 2,560 rows of 64).
    const bad = ours.gatherRows(heapOffset(backend, x), heapOffset(backend, indices), heapOffset(backend, out), nIdx, sliceSize * 4, dimSize);
    if (bad >= 0) {
      const k = backend.typedArrayFromHeap(indices)[bad];
      backend.disposeData(out.dataId);
      throw new Error(`GatherV2: the index value ${k} is not in [0, ${dimSize - 1}]`);
    }
    return out;
  }
  const xv = backend.typedArrayFromHeap(x);
  const iv = backend.typedArrayFromHeap(indices);
  const ov = backend.typedArrayFromHeap(out);
  const perBatch = nIdx / batchSize;
  let o = 0;
  for (let b = 0; b < batchSize; b++) {
    for (let q = 0; q < outerSize; q++) {
      const base = (b * outerSize + q) * dimSize * sliceSize;
      for (let i = 0; i < perBatch; i++) {
        const k = iv[b * perBatch + i];
        if (!(k >= 0 && k < dimSize)) throw new Error(`GatherV2: the index value ${k} is not in [0, ${dimSize - 1}]`);
        const from = base + k * sliceSize;
        ov.set(xv.subarray(from, from + sliceSize), o);
        o += sliceSize;
      }
    }
  }
  return out;
}

/**
 * Identity (what tf.clone and the gradient tape's saved inputs run): the stock kernel copies the
 * tensor; tensors are immutable, so, as the cpu backend and wasm's own Reshape do, the output
 * shares the input's buffer (reference-counted). The tape clones every saved input, so this was
 * ~140 copies per GRPO step.
 */
function sharedIdentity(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  (args.backend as { incRef(id: unknown): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/**
 * What a kernel or a custom gradient saves for its gradient under the tape: tfjs-core's engine
 * copies each tensor with its own `clone` (the Identity kernel above, plus a tape node of its own
 * for a gradient that no saved tensor ever takes), ~85 a GRU SFT step; nothing else calls it (the
 * public tf.clone is an op of its own). The same alias without the kernel call and the tape node:
 * the data's reference count raised, a tensor made on it, as Identity's output was. The values the
 * gradients read are the same, so every number is. On for tfjs-wasm.
 */
export const cheapSaves = { enabled: true };

interface EngineLike {
  backend: { incRef(id: unknown): void };
  state: { tensorInfo: Map<unknown, { backend: unknown }> };
  clone(x: tf.Tensor): tf.Tensor;
  makeTensorFromTensorInfo(info: tf.TensorInfo, backend?: unknown): tf.Tensor;
}

function installCheapSaves(): void {
  const engine = tf.engine() as unknown as EngineLike;
  const stock = engine.clone;
  engine.clone = function (this: EngineLike, x: tf.Tensor): tf.Tensor {
    const backend = this.backend;
    if (!cheapSaves.enabled || this.state.tensorInfo.get(x.dataId)?.backend !== backend) return stock.call(this, x);
    backend.incRef(x.dataId);
    return this.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype }, backend);
  };
}

type Kernel = (args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }) => tf.TensorInfo;
let stockSum: Kernel | null = null;

/**
 * Sum over a block of adjacent axes that is not the last (a bias's gradient, sum(dy, 0); a
 * [L, B, H] tensor summed over B): the stock kernel transposes the reduced axes to the end first
 * (a second kernel and a copy, ~0.3 ms at [2560, 64]). Our wasm module sums in place, in the same
 * order, so the values are the same to the bit; every other case goes to the stock kernel.
 */
function fastSum(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  const contiguous = axes.length > 0 && axes.every((a, i) => a === axes[0] + i) && axes[axes.length - 1] < rank - 1;
  if (!ours || x.dtype !== 'float32' || !contiguous) return stockSum!(args);
  const backend = args.backend as WasmBackendLike;
  const size = (from: number, to: number) => x.shape.slice(from, to).reduce((a, b) => a * b, 1);
  const first = axes[0], last = axes[axes.length - 1];
  const outer = size(0, first), mid = size(first, last + 1), inner = size(last + 1, rank);
  const outShape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
  const out = backend.makeOutput(outShape, 'float32');
  if (outer * inner === 0) return out;
  if (mid === 0) {
    backend.typedArrayFromHeap(out).fill(0);
    return out;
  }
  ours.sumMiddle(heapOffset(backend, x), heapOffset(backend, out), outer, mid, inner);
  return out;
}

let stockMatMul: Kernel | null = null;

/** Whether BatchMatMul runs our kernel (true) or the stock one (the bench switches it). */
export const ourMatMul = { enabled: true };

/**
 * BatchMatMul on float32 (any batch, a transposed or b transposed): our wasm module's blocked
 * SIMD kernels (workers/kernels/assembly/kernels.ts: 4 x 8 register blocks; each output summed
 * over k in order) instead of the stock XNNPACK path, which at our sizes ran 10-20 GFLOP/s against
 * ~15-20 for ours and spent more per call. Not the same bits as the stock kernel (another order
 * of summation): a different path, deterministic on every engine (plain SIMD, no FMA).
 */
function fastMatMul(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap; backend: unknown }): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
  if (!ours || !ourMatMul.enabled || a.dtype !== 'float32' || b.dtype !== 'float32' || (transposeA && transposeB)) return stockMatMul!(args);
  const aR = a.shape.length, bR = b.shape.length;
  const K = transposeA ? a.shape[aR - 2] : a.shape[aR - 1];
  const M = transposeA ? a.shape[aR - 1] : a.shape[aR - 2];
  const N = transposeB ? b.shape[bR - 2] : b.shape[bR - 1];
  const size = (s: number[]) => s.reduce((x, y) => x * y, 1);
  const batchA = size(a.shape.slice(0, -2)), batchB = size(b.shape.slice(0, -2));
  // Mismatched inner sizes (the stock kernel throws tfjs's error) and batch broadcasting beyond 1 x n.
  if (K !== (transposeB ? b.shape[bR - 1] : b.shape[bR - 2]) || (batchA !== batchB && batchA !== 1 && batchB !== 1)) return stockMatMul!(args);
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const backend = args.backend as WasmBackendLike;
  const out = backend.makeOutput([...outer, M, N], 'float32');
  const batch = Math.max(batchA, batchB);
  if (batch * M * N === 0) return out;
  if (K === 0) {
    backend.typedArrayFromHeap(out).fill(0);
    return out;
  }
  const bT = transposeB ? backend.makeOutput([K, N], 'float32') : null;
  const pa = heapOffset(backend, a), pb = heapOffset(backend, b), po = heapOffset(backend, out);
  for (let i = 0; i < batch; i++) {
    const ai = pa + (batchA === 1 ? 0 : i * M * K * 4), bi = pb + (batchB === 1 ? 0 : i * K * N * 4), oi = po + i * M * N * 4;
    if (transposeA) ours.matmulTA(ai, bi, oi, K, M, N, 0);
    else if (bT) {
      const t = heapOffset(backend, bT);
      if (i === 0 || batchB !== 1) ours.transpose(bi, t, N, K);
      ours.matmul(ai, t, oi, M, K, N, 0);
    } else ours.matmul(ai, bi, oi, M, K, N, 0);
  }
  if (bT) backend.disposeData(bT.dataId);
  return out;
}

let installed = false;
let ours: FusedModule | null = null;

/** Replace the slow wasm kernels (idempotent; call after tf.setBackend('wasm')). */
export function installWasmKernels(): void {
  if (installed || tf.getBackend() !== 'wasm') return;
  const replace = (name: string, kernelFunc: unknown) => {
    if (!tf.getKernel(name, 'wasm')) return;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: kernelFunc as tf.KernelFunc });
  };
  replace('Slice', fastSlice);
  replace('GatherV2', fastGather);
  replace('Identity', sharedIdentity);
  stockPad = (tf.getKernel('PadV2', 'wasm')?.kernelFunc ?? null) as Kernel | null;
  if (stockPad) replace('PadV2', fastPad);
  installCheapSaves();
  stockSum = (tf.getKernel('Sum', 'wasm')?.kernelFunc ?? null) as Kernel | null;
  if (stockSum) replace('Sum', fastSum);
  stockMatMul = (tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc ?? null) as Kernel | null;
  if (stockMatMul) replace('BatchMatMul', fastMatMul);
  try {
    ours = fusedModule();
    if (ours && installOwnKernels()) useOwnKernels(true);
  } catch (e) {
    // An engine without wasm SIMD cannot compile the module: everything takes its tfjs path.
    console.warn(`our kernels not installed (${e instanceof Error ? e.message : String(e)}): using tfjs's own`);
  }
  installed = true;
}

/**
 * Our own kernels (the fused GRU, BatchMatMul, the one-hot rows, the transformer's layer norm,
 * bias + gelu and attention) on or off: off gives tfjs's own kernels and ops for all of them (the
 * bench's --stock-kernels, for before/after figures in one invocation). The other replacements
 * give the stock kernels' values and stay.
 */
export function useOwnKernels(on: boolean): void {
  ourMatMul.enabled = on;
  const own = on && !!ours;
  for (const k of Object.keys(backendTraits) as (keyof typeof backendTraits)[]) backendTraits[k] = own;
}

/** Which kernels run: 'ours' (our wasm SIMD module) or 'stock' (tfjs's own; also where ours failed to load). */
export function kernelPath(): 'ours' | 'stock' {
  return ours && ourMatMul.enabled && backendTraits.gruSequence ? 'ours' : 'stock';
}
