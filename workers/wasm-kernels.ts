/**
 * Faster replacements for tfjs-backend-wasm 4.22 kernels that cost far more than they should at
 * our sizes (measured with `npm run bench -- --only profile`). Installed by whoever picks the
 * backend: the worker, scripts/backend.ts (CLI, benchmarks) and the test setup. Each replacement
 * computes exactly the same values as the kernel it replaces (a copy is a copy), so results do
 * not depend on whether it is installed.
 *
 * - Slice: the stock kernel starts with `backend.readSync(x)`, which copies the WHOLE input out of
 *   the wasm heap before taking the slice. Slicing one time step out of a [L*B, H] sequence thus
 *   copied all L steps: ~0.4 ms per slice, 15 ms of a 44 ms GRU SFT step. This one reads the input
 *   through a view of the heap and copies only the slice.
 * - GatherV2, Identity: see fastGather, sharedIdentity.
 */
import * as tf from '@tensorflow/tfjs';

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
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

/**
 * GatherV2 (rows of x picked by integer indices): the stock kernel ran at ~6 ms for 2,304 rows of
 * 64 floats; copying the rows from JS takes ~0.1 ms.
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
  const xv = backend.typedArrayFromHeap(x);
  const iv = backend.typedArrayFromHeap(indices);
  const ov = backend.typedArrayFromHeap(out);
  const { batchSize, outerSize, dimSize, sliceSize } = info;
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

let installed = false;

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
  installed = true;
}
