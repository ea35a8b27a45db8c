/**
 * workers/wasm-kernels.ts: the replacement Slice kernel gives exactly the slices index arithmetic
 * gives; GatherV2 the rows; Sum exactly the stock kernel's values.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng';
import { ourMatMul, ourPad } from '../workers/wasm-kernels';

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
    expect(tf.getKernel('Sum', 'wasm')?.kernelFunc.name).toBe('fastSum');
    expect(tf.getKernel('BatchMatMul', 'wasm')?.kernelFunc.name).toBe('fastMatMul');
  });

  it('BatchMatMul (ours) agrees with the stock kernel at every shape, transpose and batch', () => {
    const rng = new Rng(12);
    const t = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next() * 2 - 1), shape);
    // [M, K, N]: blocks of 4 x 8, 4 x 4, partial vectors, single rows and columns
    const sizes = [[256, 64, 64], [33, 17, 14], [5, 3, 1], [1, 1, 9], [7, 130, 6], [4, 8, 8], [2560, 128, 14], [3, 0, 5], [0, 4, 3]];
    for (const [M, K, N] of sizes) {
      for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]]) {
        for (const [ba, bb] of [[[], []], [[3], [3]], [[2], []], [[], [2]]] as number[][][]) {
          const a = t([...ba, ...(tA ? [K, M] : [M, K])]);
          const b = t([...bb, ...(tB ? [N, K] : [K, N])]);
          ourMatMul.enabled = true;
          const x = tf.matMul(a, b, tA, tB);
          ourMatMul.enabled = false;
          const y = tf.matMul(a, b, tA, tB);
          ourMatMul.enabled = true;
          const xv0 = x.dataSync();
          expect(x.shape, `${M}x${K}x${N} ${tA} ${tB} ${ba} ${bb}`).toEqual(y.shape);
          const xv = xv0, yv = K === 0 ? new Float32Array(xv.length) : y.dataSync(); // stock leaves K = 0 unwritten
          let worst = 0;
          for (let i = 0; i < xv.length; i++) worst = Math.max(worst, Math.abs(xv[i] - yv[i]) / Math.max(1, Math.sqrt(K)));
          expect(worst, `${M}x${K}x${N} ${tA} ${tB} ${ba} ${bb}`).toBeLessThan(1e-6);
          expect(xv.every(Number.isFinite)).toBe(true);
          tf.dispose([a, b, x, y]);
        }
      }
    }
  });

  it('BatchMatMul (ours) sums each output over k in order in float32, to the bit, however many cache panels K spans', () => {
    const rng = new Rng(13);
    // K long enough for several panels of the transposed product (2 MB of operand rows per panel / 4).
    for (const [M, K, N, tA] of [[36, 4100, 13, true], [9, 3000, 130, true], [20, 2500, 300, false], [6, 40, 10, true]] as [number, number, number, boolean][]) {
      const av = Float32Array.from({ length: M * K }, () => rng.next() * 2 - 1);
      const bv = Float32Array.from({ length: K * N }, () => rng.next() * 2 - 1);
      // a [M, K] (stored [K, M] when transposed), b [K, N]
      const A = (i: number, k: number) => (tA ? av[k * M + i] : av[i * K + k]);
      const ref = new Float32Array(M * N);
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let c = 0;
          for (let k = 0; k < K; k++) c = Math.fround(c + Math.fround(A(i, k) * bv[k * N + j]));
          ref[i * N + j] = c;
        }
      }
      const a = tf.tensor2d(av, tA ? [K, M] : [M, K]), b = tf.tensor2d(bv, [K, N]);
      const x = tf.matMul(a, b, tA, false);
      expect(Array.from(x.dataSync()), `${M}x${K}x${N} ${tA}`).toEqual(Array.from(ref));
      tf.dispose([a, b, x]);
    }
  });

  it('Sum over leading or middle axes equals, to the bit, the stock kernel on the transposed input', () => {
    const rng = new Rng(11);
    const cases: [number[], number[]][] = [
      [[2560, 64], [0]], [[10, 256, 64], [1]], [[10, 256, 64], [0, 1]], [[3, 5, 7, 2], [1, 2]], [[7, 13], [0]],
      [[4, 6, 3], [0]], [[1, 1, 5], [0, 1]], [[9, 3], [0]], [[2, 3, 4], [-3]],
    ];
    for (const [shape, axes] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const x = tf.tensor(Float32Array.from({ length: n }, () => (rng.next() - 0.5) * 1e3), shape);
      const pos = axes.map((a) => (a + shape.length) % shape.length);
      const keep = shape.map((_, i) => i).filter((i) => !pos.includes(i));
      // The stock path: the reduced axes moved to the end (a Sum over trailing axes is not replaced).
      const moved = tf.transpose(x, [...keep, ...pos]);
      const stock = tf.sum(moved, pos.map((_, i) => keep.length + i));
      for (const keepDims of [false, true]) {
        const ours = tf.sum(x, axes, keepDims);
        expect(ours.shape).toEqual(keepDims ? shape.map((d, i) => (pos.includes(i) ? 1 : d)) : keep.map((i) => shape[i]));
        expect(Array.from(ours.dataSync()), `${shape} over ${axes}`).toEqual(Array.from(stock.dataSync()));
        ours.dispose();
      }
      tf.dispose([x, moved, stock]);
    }
    // An empty reduction is 0 (the stock kernel left the output unwritten).
    expect(Array.from(tf.sum(tf.zeros([5, 0, 3]), 1).dataSync())).toEqual(new Array(15).fill(0));
    // int32 and trailing axes go to the stock kernel
    expect(Array.from(tf.sum(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), 0).dataSync())).toEqual([4, 6]);
    expect(Array.from(tf.sum(tf.tensor2d([1, 2, 3, 4], [2, 2]), 1).dataSync())).toEqual([3, 7]);
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

  it("pads of rank 1-4 (any axes, any constant) equal the stock kernel's exactly", () => {
    const rng = new Rng(5);
    const stock = (f: () => tf.Tensor) => {
      ourPad.enabled = false;
      try {
        return f();
      } finally {
        ourPad.enabled = true;
      }
    };
    for (let trial = 0; trial < 200; trial++) {
      const rank = 1 + rng.int(4);
      const shape = Array.from({ length: rank }, () => 1 + rng.int(5));
      const paddings = shape.map(() => [rng.int(3), rng.int(3)] as [number, number]);
      if (trial % 4 === 0) paddings.forEach((p, d) => d > 0 && (p[0] = p[1] = 0)); // only the first axis: one run
      const c = trial % 3 === 0 ? 0 : rng.next() * 4 - 2;
      const x = tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next() * 2 - 1), shape);
      const ours = tf.pad(x, paddings, c), theirs = stock(() => tf.pad(x, paddings, c));
      expect(ours.shape).toEqual(theirs.shape);
      expect(Array.from(ours.dataSync())).toEqual(Array.from(theirs.dataSync()));
      tf.dispose([x, ours, theirs]);
    }
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
  it('are detected by validating tiny modules: SIMD and relaxed SIMD here', async () => {
    const { wasmFeatures } = await import('../src/core/platform');
    const f = wasmFeatures();
    expect(f.simd).toBe(true); // the tests run the SIMD build of tfjs-wasm
    // Node 20 has relaxed SIMD behind --experimental-wasm-relaxed-simd: scripts/backend.ts (the test setup) turns it on.
    expect(f.relaxedSimd).toBe(true);
    // Whether its multiply-add fuses is the CPU's (x64 with FMA3, Arm): a boolean either way.
    expect(typeof f.fusedMadd).toBe('boolean');
    expect(typeof f.sharedMemory).toBe('boolean');
  });
});

describe("what the gradient tape saves (cheapSaves)", () => {
  it("is an alias of the data, not a clone through Identity (kernels' saved inputs, custom gradients' saves): the same gradients, no tensor left, the inputs intact", async () => {
    const { cheapSaves } = await import('../workers/wasm-kernels');
    const x = tf.variable(tf.tensor2d([[0.5, -1], [2, 0.25]]));
    const y = tf.tensor2d([[1, 2], [3, -4]]);
    // A custom gradient saves through the engine's clone too.
    const square = tf.customGrad(((a: tf.Tensor, save: tf.GradSaveFunc) => {
      save([a]);
      return { value: tf.mul(a, a), gradFunc: (dy: tf.Tensor, [s]: tf.Tensor[]) => [tf.mul(dy, tf.mul(s, 2))] };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as (a: tf.Tensor) => tf.Tensor;
    const run = async (on: boolean) => {
      cheapSaves.enabled = on;
      const before = tf.memory().numTensors;
      let out: number[] = [];
      const prof = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(tf.matMul(tf.tanh(x), y), square(x))) as tf.Scalar, [x]);
        out = [...value.dataSync(), ...grads[x.name].dataSync()];
        tf.dispose([value, grads[x.name]]);
      });
      expect(tf.memory().numTensors).toBe(before);
      return { out, identities: prof.kernelNames.filter((k) => k === 'Identity').length };
    };
    try {
      const stock = await run(false), cheap = await run(true);
      expect(cheap.out).toEqual(stock.out);
      expect(stock.identities).toBeGreaterThan(0);
      expect(cheap.identities).toBe(0);
      // The saved aliases were disposed with the tape; the tensors they aliased still hold their values.
      expect(Array.from(x.dataSync())).toEqual([0.5, -1, 2, 0.25]);
      expect(Array.from(y.dataSync())).toEqual([1, 2, 3, -4]);
    } finally {
      cheapSaves.enabled = true;
      tf.dispose([x, y]);
    }
  });
});
