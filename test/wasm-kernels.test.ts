/** workers/wasm-kernels.ts: the replacement Slice kernel gives exactly the slices index arithmetic gives. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng';

/** The slice computed in plain JS from the flat values. */
function sliceJs(vals: Float32Array, shape: number[], begin: number[], size: number[]): number[] {
  const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
  const out: number[] = [];
  const walk = (d: number, off: number) => {
    if (d === shape.length) return void out.push(vals[off]);
    for (let i = 0; i < size[d]; i++) walk(d + 1, off + (begin[d] + i) * strides[d]);
  };
  walk(0, 0);
  return out;
}

describe('wasm kernels', () => {
  it('the replacement Slice and GatherV2 are installed on the wasm backend', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.getKernel('Slice', 'wasm')?.kernelFunc.name).toBe('fastSlice');
    expect(tf.getKernel('GatherV2', 'wasm')?.kernelFunc.name).toBe('fastGather');
    expect(tf.getKernel('Identity', 'wasm')?.kernelFunc.name).toBe('sharedIdentity');
  });

  it('a clone shares its buffer and outlives the original; memory is freed when both are gone', () => {
    const before = tf.memory();
    const x = tf.tensor1d([1, 2, 3]);
    const y = tf.clone(x);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
    const init = tf.mul(y, 2);
    const v = tf.variable(init);
    tf.dispose([y, init]);
    const next = tf.add(v, 1);
    v.assign(next);
    next.dispose();
    expect(Array.from(v.dataSync())).toEqual([3, 5, 7]);
    v.dispose();
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
  });

  it('gathers along any axis equal the JS gather exactly, and a bad index throws', () => {
    const rng = new Rng(4);
    for (let trial = 0; trial < 100; trial++) {
      const rank = 1 + rng.int(3);
      const shape = Array.from({ length: rank }, () => 1 + rng.int(5));
      const axis = rng.int(rank);
      const n = shape.reduce((a, b) => a * b, 1);
      const vals = Float32Array.from({ length: n }, () => rng.next());
      const idx = Int32Array.from({ length: 1 + rng.int(7) }, () => rng.int(shape[axis]));
      const x = tf.tensor(vals, shape);
      const y = tf.gather(x, tf.tensor1d(idx, 'int32'), axis);
      const outShape = [...shape];
      outShape[axis] = idx.length;
      expect(y.shape).toEqual(outShape);
      // Expected: for every output index, the input index with axis coordinate idx[i].
      const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));
      const expected: number[] = [];
      const walk = (d: number, off: number) => {
        if (d === rank) return void expected.push(vals[off]);
        for (let i = 0; i < outShape[d]; i++) walk(d + 1, off + (d === axis ? idx[i] : i) * strides[d]);
      };
      walk(0, 0);
      expect(Array.from(y.dataSync())).toEqual(expected);
      tf.dispose([x, y]);
    }
    const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    expect(() => tf.gather(x, tf.tensor1d([2], 'int32'))).toThrow(/index value 2/);
    x.dispose();
  });

  it('slices of rank 1-4, contiguous or not, equal the JS slice exactly', () => {
    const rng = new Rng(3);
    let nonContiguous = 0;
    for (let trial = 0; trial < 200; trial++) {
      const rank = 1 + rng.int(4);
      const shape = Array.from({ length: rank }, () => 1 + rng.int(6));
      const n = shape.reduce((a, b) => a * b, 1);
      const vals = Float32Array.from({ length: n }, () => rng.next());
      const begin = shape.map((s) => rng.int(s));
      const size = shape.map((s, d) => 1 + rng.int(s - begin[d]));
      if (size.some((s, d) => d > 0 && s < shape[d])) nonContiguous++;
      const x = tf.tensor(vals, shape);
      const y = tf.slice(x, begin, size);
      expect(y.shape).toEqual(size);
      expect(Array.from(y.dataSync())).toEqual(sliceJs(vals, shape, begin, size));
      tf.dispose([x, y]);
    }
    expect(nonContiguous).toBeGreaterThan(50); // both paths are exercised
    // int32, and -1 sizes ("to the end")
    const xi = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
    expect(Array.from(tf.slice(xi, [1, 1], [-1, -1]).dataSync())).toEqual([4, 6]);
    xi.dispose();
  });
});

describe('platform features', () => {
  it('are detected by validating tiny modules: SIMD here, relaxed SIMD only where the engine has it', async () => {
    const { wasmFeatures } = await import('../src/core/platform');
    const f = wasmFeatures();
    expect(f.simd).toBe(true); // the tests run the SIMD build of tfjs-wasm
    // Node 20 has relaxed SIMD behind --experimental-wasm-relaxed-simd only (this test runs without it).
    const flag = process.execArgv.some((a) => a.includes('relaxed-simd'));
    if (process.versions.node.startsWith('20.')) expect(f.relaxedSimd).toBe(flag);
    expect(typeof f.sharedMemory).toBe('boolean');
  });
});
