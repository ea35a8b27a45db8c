/**
 * The fused GRU kernels (workers/fused-kernels.ts, our WebAssembly SIMD module) against the tfjs
 * path of src/core/nets/gru-bptt.ts: the same states and the same gradients (input matrices and
 * biases, recurrent weights, start state) to float tolerance, at shapes that hit every code path
 * (rows and columns not multiples of the SIMD blocks, one step, a zero start state).
 * And the committed module is what its source compiles to.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { gruPath, gruSequence, inputMatrices } from '../src/core/nets/gru-bptt';
import { Rng } from '../src/core/rng';
import { ARITHS, groupedPrompts, withArith, withTrait } from './helpers';
import { type Arith, ONE_HOT_KERNELS, biasGelu, biasTanh, fusedHeadNll, headNllKernels, layerNorm, logSoftmax, matMulFast, oneHotMatMul, oneHotRows } from '../src/core/nets/layers';
import { createNet } from '../src/core/nets/net';
import { Adam } from '../src/core/algos/common';
import { completionNll, completionOutputs, maskedNll, oneHotTokens, tokenLogProbs } from '../src/core/nets/policy';
import { ourExp } from '../workers/fused-kernels';

function rand(rng: Rng, shape: number[], scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale), shape);
}

/** f() on our GRU kernels (with `arith`'s matMul) and on the tfjs path (portable). */
function both<T>(f: () => T, arith: Arith = 'portable'): { kernel: T; tfjs: T } {
  return { kernel: withArith(arith, () => withTrait('gruSequence', true, f)), tfjs: withTrait('gruSequence', false, f) };
}

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync(), y = b.dataSync();
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

/** 'same' if two tensors hold the same bits (NaNs included), else where the first difference is. */
function sameBits(x: tf.Tensor, y: tf.Tensor): string {
  const a = new Uint32Array(Float32Array.from(x.dataSync()).buffer), b = new Uint32Array(Float32Array.from(y.dataSync()).buffer);
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `at ${i}: ${x.dataSync()[i]} against ${y.dataSync()[i]}`;
  return 'same';
}

/**
 * A loss on B completions of 4 tokens after prompts of 6 (groups of G rows share one): the
 * log-probs of random tokens, weighted by random signs, summed. `dispose` frees its constants.
 */
function weightedLogProbs(rng: Rng, B: number, G: number) {
  const prompts = groupedPrompts(rng, B, G);
  const comp = Int32Array.from({ length: B * 4 }, () => rng.int(14));
  const oh = tf.tensor3d(oneHotTokens(comp, 14), [B, 4, 14]);
  const w = tf.tensor2d(Float32Array.from({ length: B * 4 }, () => rng.next() * 2 - 1), [B, 4]);
  return {
    prompts,
    comp,
    loss: (net: ReturnType<typeof createNet>) => tf.sum(tf.mul(tokenLogProbs(completionOutputs(net, prompts, comp, B, 6, 4), oh).logp, w)) as tf.Scalar,
    dispose: () => tf.dispose([oh, w]),
  };
}

describe('fused GRU kernels', () => {
  it('are registered on the wasm backend', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(gruPath()).toBe('kernel');
  });

  /**
   * A sequence's inputs and weights at random: V tokens, positions pos0..pos0+L-1 of maxLen; h0
   * random, or null (zeros). `args` are the differentiated tensors in gruSequence's order.
   */
  function gruCase(seed: number, B: number, H: number, L: number, zeroH0 = false) {
    const rng = new Rng(seed);
    const V = 5, pos0 = rng.int(3), maxLen = pos0 + L + rng.int(3);
    const k = 1 / Math.sqrt(H);
    const C = rand(rng, [3 * (V + maxLen), H], 1) as tf.Tensor2D; // C_r, C_z, C_n stacked
    const bx = [0, 1, 2].map(() => rand(rng, [H], k)) as tf.Tensor1D[];
    const tok = Int32Array.from({ length: L * B }, () => rng.int(V));
    const wh = [0, 1, 2].map(() => rand(rng, [H, H], k)) as tf.Tensor2D[];
    const bhn = rand(rng, [H], k) as tf.Tensor1D;
    const h0 = zeroH0 ? null : (rand(rng, [B, H], 0.5) as tf.Tensor2D);
    const args: tf.Tensor[] = [C, ...bx, ...wh, bhn, ...(h0 ? [h0] : [])];
    const run = (t: tf.Tensor[]) =>
      gruSequence({ C: t[0] as tf.Tensor2D, bx: t.slice(1, 4) as tf.Tensor1D[], tok, pos0, V }, t[4] as tf.Tensor2D, t[5] as tf.Tensor2D, t[6] as tf.Tensor2D, t[7] as tf.Tensor1D, (t[8] ?? null) as tf.Tensor2D | null, B);
    return { args, run, rng };
  }
  const GRAD_NAMES = ['C', 'bxr', 'bxz', 'bxn', 'whr', 'whz', 'whn', 'bhn', 'h0'];

  for (const arith of ARITHS) for (const [B, H, L, zero] of [[8, 64, 5, 0], [7, 13, 3, 0], [5, 6, 1, 0], [256, 64, 4, 0], [3, 4, 2, 0], [1, 9, 6, 0], [8, 64, 5, 1], [5, 6, 1, 1], [7, 13, 3, 1]]) {
    it(`give the tfjs path's states and gradients (B ${B}, H ${H}, L ${L}${zero ? ', zero start' : ''}; arith ${arith})`, () => {
      const { args, run, rng } = gruCase(B * 1000 + H * 10 + L + zero, B, H, L, zero === 1);
      const seed = rand(rng, [L * B, H]); // a loss sum(hs * seed): every state gets a gradient
      const f = (...xs: tf.Tensor[]) => tf.sum(tf.mul(run(xs), seed));
      const { kernel, tfjs } = both(() => ({ hs: run(args), grads: tf.grads(f)(args) }), arith);
      expect(maxDiff(kernel.hs, tfjs.hs)).toBeLessThan(2e-6);
      expect(kernel.grads.length).toBe(zero ? 8 : 9);
      kernel.grads.forEach((g, i) => {
        const scale = Math.max(1, ...Array.from(tfjs.grads[i].dataSync(), Math.abs));
        expect(maxDiff(g, tfjs.grads[i]) / scale, GRAD_NAMES[i]).toBeLessThan(1e-5);
        expect(g.shape).toEqual(tfjs.grads[i].shape);
      });
      tf.dispose([...args, seed, kernel.hs, tfjs.hs, ...kernel.grads, ...tfjs.grads]);
    });
  }

  // A split: U distinct prefixes for the first s steps, then B rows each continuing from one of them
  // (prefix rows in any order, some used by several rows, one by none); at the first step, mid-way,
  // and at the last step (where no B rows follow).
  for (const arith of ARITHS) for (const [B, U, H, L, s] of [[9, 4, 64, 6, 3], [7, 3, 13, 4, 1], [5, 5, 6, 3, 2], [256, 90, 64, 9, 3], [6, 2, 8, 3, 3]]) {
    it(`give the tfjs path's states and gradients with ${U} prefixes for ${s} of ${L} steps (B ${B}, H ${H}; arith ${arith})`, () => {
      const rng = new Rng(B * 100 + U * 10 + L + s);
      const V = 5, pos0 = 0, maxLen = L + 1, k = 1 / Math.sqrt(H);
      const C = rand(rng, [3 * (V + maxLen), H], 1) as tf.Tensor2D;
      const bx = [0, 1, 2].map(() => rand(rng, [H], k)) as tf.Tensor1D[];
      const wh = [0, 1, 2].map(() => rand(rng, [H, H], k)) as tf.Tensor2D[];
      const bhn = rand(rng, [H], k) as tf.Tensor1D;
      const rows = s * U + (L - s) * B;
      const tok = Int32Array.from({ length: rows }, () => rng.int(V));
      const idx = Int32Array.from({ length: B }, (_, b) => (b === 0 ? U - 1 : rng.int(Math.max(1, U - 1))));
      const args: tf.Tensor[] = [C, ...bx, ...wh, bhn];
      const run = (t: tf.Tensor[]) =>
        gruSequence({ C: t[0] as tf.Tensor2D, bx: t.slice(1, 4) as tf.Tensor1D[], tok, pos0, V, split: { s, U, idx } }, t[4] as tf.Tensor2D, t[5] as tf.Tensor2D, t[6] as tf.Tensor2D, t[7] as tf.Tensor1D, null, B);
      const seed = rand(rng, [rows, H]);
      const f = (...xs: tf.Tensor[]) => tf.sum(tf.mul(run(xs), seed));
      const { kernel, tfjs } = both(() => ({ hs: run(args), grads: tf.grads(f)(args) }), arith);
      expect(kernel.hs.shape).toEqual([rows, H]);
      expect(maxDiff(kernel.hs, tfjs.hs)).toBeLessThan(2e-6);
      expect(kernel.grads.length).toBe(8);
      kernel.grads.forEach((g, i) => {
        const scale = Math.max(1, ...Array.from(tfjs.grads[i].dataSync(), Math.abs));
        expect(maxDiff(g, tfjs.grads[i]) / scale, GRAD_NAMES[i]).toBeLessThan(1e-5);
        expect(Math.max(...Array.from(g.dataSync(), Math.abs)), GRAD_NAMES[i]).toBeGreaterThan(0);
      });
      tf.dispose([...args, seed, kernel.hs, tfjs.hs, ...kernel.grads, ...tfjs.grads]);
    });
  }

  it.each([[14, 24, 32, 64], [5, 3, 7, 9], [1, 1, 1, 1]])("fold the embeddings into the input matrices as the tfjs ops do, to the bit (V %i, positions %i, E %i, H %i)", (V, P, E, H) => {
    const rng = new Rng(V * 31 + P * 7 + E + H);
    const args = [rand(rng, [V, E]), rand(rng, [P, E]), ...[0, 1, 2].map(() => rand(rng, [E, H], 0.3))] as tf.Tensor2D[];
    const seed = rand(rng, [3 * (V + P), H]);
    const run = (on: boolean) =>
      withTrait('gruSequence', on, () =>
        tf.tidy(() => {
          const f = (...t: tf.Tensor[]) => tf.sum(tf.mul(inputMatrices(t[0] as tf.Tensor2D, t[1] as tf.Tensor2D, t.slice(2) as tf.Tensor2D[]), seed));
          return [inputMatrices(args[0], args[1], args.slice(2)), ...tf.grads(f)(args)];
        }),
      );
    const ours = run(true), ops = run(false);
    expect(ours[0].shape).toEqual([3 * (V + P), H]);
    ours.forEach((t, i) => expect(sameBits(t, ops[i]), `output ${i}`).toBe('same'));
    expect(Math.max(...Array.from(ours[1].dataSync(), Math.abs))).toBeGreaterThan(0);
    tf.dispose([...args, seed, ...ours, ...ops]);
  });

  // Rows left out after their last used step (from the split on, or from step 0 without one): the
  // used states and every gradient are the same bits as computing all of them; the others are 0.
  for (const [B, U, H, L, s] of [[9, 4, 64, 6, 3], [7, 7, 13, 4, 0], [256, 90, 64, 9, 3]]) {
    it(`leave out the rows past their last used step, changing no used state or gradient (B ${B}, H ${H}, L ${L}, split ${s})`, () => {
      const rng = new Rng(B + U + H + L + s);
      const V = 5, maxLen = L + 1, k = 1 / Math.sqrt(H);
      const rows = s * U + (L - s) * B;
      const args: tf.Tensor[] = [rand(rng, [3 * (V + maxLen), H], 1), ...[0, 1, 2].map(() => rand(rng, [H], k)), ...[0, 1, 2].map(() => rand(rng, [H, H], k)), rand(rng, [H], k)];
      const tok = Int32Array.from({ length: rows }, () => rng.int(V));
      const idx = Int32Array.from({ length: B }, () => rng.int(U));
      const last = Int32Array.from({ length: B }, (_, b) => (b === 0 ? L - 1 : Math.max(s, L - 1 - rng.int(3))));
      const used = new Float32Array(rows * H); // 1 where a state is used
      for (let t = 0; t < L; t++)
        for (let b = 0; b < (t < s ? U : B); b++) if (t < s || t <= last[b]) used.fill(1, ((t < s ? t * U : s * U + (t - s) * B) + b) * H, ((t < s ? t * U : s * U + (t - s) * B) + b + 1) * H);
      const mask = tf.tensor2d(used, [rows, H]);
      const seed = tf.mul(rand(rng, [rows, H]), mask);
      const run = (withLast: boolean) => {
        const f = (...t: tf.Tensor[]) =>
          gruSequence({ C: t[0] as tf.Tensor2D, bx: t.slice(1, 4) as tf.Tensor1D[], tok, pos0: 0, V, ...(s ? { split: { s, U, idx } } : {}), ...(withLast ? { last } : {}) }, t[4] as tf.Tensor2D, t[5] as tf.Tensor2D, t[6] as tf.Tensor2D, t[7] as tf.Tensor1D, null, B);
        return tf.tidy(() => ({ hs: f(...args), grads: tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), seed)))(args) }));
      };
      const all = run(false), live = run(true);
      const a = all.hs.dataSync(), l = live.hs.dataSync();
      let left = 0;
      for (let i = 0; i < a.length; i++) {
        if (used[i]) expect(l[i]).toBe(a[i]);
        else {
          expect(l[i]).toBe(0);
          left++;
        }
      }
      expect(left).toBeGreaterThan(0); // some rows were left out
      live.grads.forEach((g, i) => expect(sameBits(g, all.grads[i]), GRAD_NAMES[i]).toBe('same'));
      tf.dispose([...args, mask, seed, all.hs, live.hs, ...all.grads, ...live.grads]);
    });
  }

  it('give a zero start state the same states and weight gradients as explicit zeros', () => {
    const B = 6, H = 8, L = 3;
    const { args, run, rng } = gruCase(11, B, H, L, true);
    const seed = rand(rng, [L * B, H]);
    const zeros = tf.zeros([B, H]);
    const withZeros = [...args, zeros];
    const loss = (xs: tf.Tensor[]) => tf.sum(tf.mul(run(xs), seed));
    const a = { hs: run(args), grads: tf.grads((...xs: tf.Tensor[]) => loss(xs))(args) };
    const b = { hs: run(withZeros), grads: tf.grads((...xs: tf.Tensor[]) => loss(xs))(withZeros) };
    expect(Array.from(a.hs.dataSync())).toEqual(Array.from(b.hs.dataSync()));
    a.grads.forEach((g, i) => expect(Array.from(g.dataSync()), GRAD_NAMES[i]).toEqual(Array.from(b.grads[i].dataSync())));
    tf.dispose([...withZeros, seed, a.hs, b.hs, ...a.grads, ...b.grads]);
  });

  it('refuse token ids outside the vocabulary and positions past the input matrices', () => {
    const B = 2, H = 4;
    const C = tf.zeros([3 * (5 + 3), H]) as tf.Tensor2D;
    const bx = [0, 1, 2].map(() => tf.zeros([H])) as tf.Tensor1D[];
    const w = tf.zeros([H, H]) as tf.Tensor2D;
    const b = tf.zeros([H]) as tf.Tensor1D;
    const seq = (tok: number[], pos0: number) => () => tf.tidy(() => gruSequence({ C, bx, tok: Int32Array.from(tok), pos0, V: 5 }, w, w, w, b, null, B));
    expect(seq([0, 5], 0)).toThrow(/token id 5 is not in \[0, 4\]/);
    expect(seq([0, -1], 0)).toThrow(/token id -1/);
    expect(seq([0, 1, 2, 3], 2)).toThrow(/do not fit/);
    expect(seq([0, 1, 2, 3], 1)).not.toThrow();
    const split = (idx: number[], tok = [0, 1, 2, 3]) => () => tf.tidy(() => gruSequence({ C, bx, tok: Int32Array.from(tok), pos0: 0, V: 5, split: { s: 1, U: 2, idx: Int32Array.from(idx) } }, w, w, w, b, null, B));
    expect(split([0, 2])).toThrow(/prefix row 2 is not in \[0, 1\]/);
    expect(split([0, 1], [0, 1, 2])).toThrow(/do not fit/);
    expect(split([1, 0])).not.toThrow();
    tf.dispose([C, ...bx, w, b]);
  });

  it('are deterministic: the same inputs give the same bits', () => {
    const { args, run } = gruCase(3, 8, 16, 5);
    const a = run(args).dataSync();
    const b = run(args).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
    tf.dispose(args);
  });

  it('leak no tensors', () => {
    for (const zero of [false, true]) {
      const { args, run } = gruCase(4, 4, 8, 3, zero);
      const buffers = () => tf.engine().backend.numDataIds();
      const before = buffers();
      tf.tidy(() => { tf.grads((...v: tf.Tensor[]) => tf.sum(run(v)))(args); });
      tf.tidy(() => { run(args); });
      expect(buffers()).toBe(before); // the dropped outputs too
      tf.dispose(args);
    }
  });
});

describe('the committed kernel modules', () => {
  it('are what their AssemblyScript sources compile to (npm run build:kernels)', async () => {
    const { KERNELS, compileKernel, generatedModule, generatedPath } = await import('../scripts/build-kernels');
    const { readFileSync } = await import('node:fs');
    for (const name of KERNELS) {
      const bytes = await compileKernel(name);
      expect(readFileSync(generatedPath(name), 'utf8'), `workers/kernels/${name}.wasm.ts is stale: run npm run build:kernels`).toBe(generatedModule(name, bytes));
    }
  }, 60_000);
});

describe('the MLP\'s one-hot first layer as summed rows (oneHotMatMul)', () => {
  it.each([
    ['distinct prompts', 5, 1, 10],
    ['groups of 4 rows sharing a prompt', 12, 4, 10],
    ['a window shorter than the sequence', 6, 1, 3],
  ])('gives the dense product\'s outputs and gradients to the bit: %s', (_, B, G, window) => {
    const net = createNet({ kind: 'mlp', vocab: 14, maxLen: 10, embed: 8, hidden: 16, layers: 2, window, outDim: 14 }, new Rng(1));
    const data = weightedLogProbs(new Rng(2), B, G);
    const { prompts, comp } = data;
    const run = (rows: boolean) =>
      withTrait('oneHotRows', rows, () => {
        const { value, grads } = tf.variableGrads(() => data.loss(net), net.vars);
        const sampled = tf.tidy(() => Array.from(completionOutputs(net, prompts, comp, B, 6, 4).dataSync()));
        const out = { loss: value.dataSync()[0], g: net.vars.map((v) => Array.from(grads[v.name].dataSync())), sampled };
        tf.dispose([value, ...Object.values(grads)]);
        return out;
      });
    expect(oneHotRows()).toBe(true);
    const dense = run(false);
    const rows = run(true);
    expect(rows.loss).toBe(dense.loss);
    expect(rows.sampled).toEqual(dense.sampled);
    rows.g.forEach((g, i) => expect(g, net.vars[i].name).toEqual(dense.g[i]));
    expect(Math.max(...rows.g[0].map(Math.abs))).toBeGreaterThan(1e-3); // the first layer's gradient is not vacuous
    data.dispose();
    net.dispose();
  });

  it('checks its columns', () => {
    const w = tf.ones([4, 3]);
    const buffers = () => tf.engine().backend.numDataIds();
    const before = buffers();
    expect(() => tf.tidy(() => oneHotMatMul(Int32Array.from([0, 4]), 1, 2, 4, w as tf.Tensor2D))).toThrow(/column 4 is not in \[-1, 3\]/);
    expect(() => tf.tidy(() => oneHotMatMul(Int32Array.from([-1, -2]), 1, 2, 4, w as tf.Tensor2D))).toThrow(/column -2 is not in \[-1, 3\]/);
    // The gradient kernel checks them too.
    const cols = tf.tensor2d(Int32Array.from([1, 5]), [1, 2], 'int32'), dy = tf.ones([1, 3]);
    expect(() => tf.engine().runKernel(ONE_HOT_KERNELS.backward, { cols, dy }, { K: 4 })).toThrow(/column 5 is not in \[-1, 3\]/);
    tf.dispose([cols, dy]);
    expect(buffers()).toBe(before); // the dropped outputs too
    expect(Array.from(oneHotMatMul(Int32Array.from([0, -1, 1, 3]), 2, 2, 4, w as tf.Tensor2D).dataSync())).toEqual([1, 1, 1, 2, 2, 2]);
    w.dispose();
  });
});

describe('layer normalisation as one kernel each way', () => {
  it.each([[6, 32], [5, 7], [1, 4], [40, 16]])('gives the tfjs ops\' values and gradients (N %i, D %i)', (N, D) => {
    const rng = new Rng(N * 100 + D);
    const x = rand(rng, [N, D], 3) as tf.Tensor2D;
    const g = tf.add(rand(rng, [D], 0.5), 1) as tf.Tensor1D;
    const b = rand(rng, [D], 0.5) as tf.Tensor1D;
    const seed = rand(rng, [N, D]);
    const run = (on: boolean) =>
      withTrait('layerNorm', on, () => {
        const y = layerNorm(x, g, b, 1e-5);
        const grads = tf.grads((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(layerNorm(xi as tf.Tensor2D, gi as tf.Tensor1D, bi as tf.Tensor1D, 1e-5), seed)))([x, g, b]);
        return { y, grads };
      });
    const ours = run(true), ops = run(false);
    expect(maxDiff(ours.y, ops.y)).toBeLessThan(2e-6 * 4);
    ours.grads.forEach((gr, i) => expect(maxDiff(gr, ops.grads[i]), ['x', 'g', 'b'][i]).toBeLessThan(1e-5 * Math.max(1, N / 4)));
    expect(Math.max(...Array.from(ours.grads[0].dataSync(), Math.abs))).toBeGreaterThan(1e-3);
    tf.dispose([x, g, b, seed, ours.y, ops.y, ...ours.grads, ...ops.grads]);
  });
});

describe('a bias and gelu as one kernel each way', () => {
  it.each([[6, 32], [5, 7], [40, 128]])('gives the tfjs ops\' values and gradients (N %i, D %i)', (N, D) => {
    const rng = new Rng(N * 7 + D);
    const a = rand(rng, [N, D], 4) as tf.Tensor2D;
    const b = rand(rng, [D], 1) as tf.Tensor1D;
    const seed = rand(rng, [N, D]);
    const run = (on: boolean) =>
      withTrait('biasGelu', on, () => {
        const y = biasGelu(a, b);
        const grads = tf.grads((ai: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(biasGelu(ai as tf.Tensor2D, bi as tf.Tensor1D), seed)))([a, b]);
        return { y, grads };
      });
    const ours = run(true), ops = run(false);
    expect(maxDiff(ours.y, ops.y)).toBeLessThan(1e-5);
    expect(maxDiff(ours.grads[0], ops.grads[0])).toBeLessThan(1e-5);
    expect(maxDiff(ours.grads[1], ops.grads[1])).toBeLessThan(1e-5 * N);
    expect(Math.max(...Array.from(ours.grads[1].dataSync(), Math.abs))).toBeGreaterThan(1e-2);
    tf.dispose([a, b, seed, ours.y, ops.y, ...ours.grads, ...ops.grads]);
  });
});

describe('a bias and tanh as one kernel each way (the MLP layers)', () => {
  // D 128 and 32 (SIMD only), 7 and 1 (a scalar tail); scales from the near-linear range to
  // saturation (|2x| past the sigmoid's cutoff of 87.3, where it returns exactly 0 or 1).
  it.each([[6, 32, 1], [5, 7, 4], [40, 128, 3], [3, 1, 60], [9, 13, 1e-3]])("gives the tfjs ops' values and gradients to the bit (N %i, D %i, scale %d)", (N, D, scale) => {
    const rng = new Rng(N * 11 + D);
    const a = rand(rng, [N, D], scale) as tf.Tensor2D;
    const b = rand(rng, [D], scale / 2) as tf.Tensor1D;
    const seed = rand(rng, [N, D]);
    const run = (on: boolean) =>
      withTrait('biasTanh', on, () =>
        tf.tidy(() => {
          const y = biasTanh(a, b);
          const grads = tf.grads((ai: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(biasTanh(ai as tf.Tensor2D, bi as tf.Tensor1D), seed)))([a, b]);
          return { y, grads };
        }),
      );
    const before = tf.memory().numTensors;
    const ours = run(true);
    const ops = run(false);
    expect(tf.memory().numTensors - before).toBe(6); // y and two gradients each
    expect(sameBits(ours.y, ops.y)).toBe('same');
    expect(sameBits(ours.grads[0], ops.grads[0])).toBe('same');
    expect(sameBits(ours.grads[1], ops.grads[1])).toBe('same');
    // Not a vacuous comparison: the values span tanh's range and the gradients are not all zero.
    expect(Math.max(...Array.from(ours.grads[1].dataSync(), Math.abs))).toBeGreaterThan(0);
    tf.dispose([a, b, seed, ours.y, ops.y, ...ours.grads, ...ops.grads]);
  });

  it("its sigmoid is tf.sigmoid's to the bit, over the whole float range", () => {
    // Every 4099th bit pattern (all signs, exponents, NaNs, infinities, denormals) and a fine grid
    // of [-100, 100]: tanh(x) with b = 0 is 2 sigmoid(2x) - 1 in both paths.
    const n = Math.floor(2 ** 32 / 4099);
    const bits = new Uint32Array(n + 40001);
    for (let i = 0; i < n; i++) bits[i] = (i * 4099) >>> 0;
    const grid = new Float32Array(bits.buffer, n * 4);
    for (let i = 0; i <= 40000; i++) grid[i] = (i - 20000) / 200;
    const x = tf.tensor2d(new Float32Array(bits.buffer), [1, bits.length]);
    const zero = tf.zeros([bits.length]) as tf.Tensor1D;
    const ours = withTrait('biasTanh', true, () => biasTanh(x, zero));
    const ops = withTrait('biasTanh', false, () => biasTanh(x, zero));
    expect(sameBits(ours, ops)).toBe('same');
    tf.dispose([x, zero, ours, ops]);
  });
});

describe('log softmax as one kernel each way', () => {
  const both = <T>(f: () => T) => ({ ours: withTrait('logSoftmax', true, f), ops: withTrait('logSoftmax', false, f) });

  // [rows, V] and [n, T, V] as the policies use it (V 14), one column, and scales from near-uniform
  // to one-hot (rows whose other entries' exp underflows to 0).
  it.each([[[256, 14], 1], [[9, 4, 14], 5], [[7, 1], 3], [[33, 5], 60], [[6, 3, 17], 1e-3]] as [number[], number][])(
    "gives tf.logSoftmax's values and gradients to the bit (shape %j, scale %d)", (shape, scale) => {
      const rng = new Rng(shape.length * 100 + shape[0]);
      const x = rand(rng, shape, scale);
      const seed = rand(rng, shape);
      const r = both(() => tf.tidy(() => ({ y: logSoftmax(x), g: tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(logSoftmax(xi), seed)))(x) })));
      expect(sameBits(r.ours.y, r.ops.y)).toBe('same');
      expect(sameBits(r.ours.g, r.ops.g)).toBe('same');
      // Not vacuous: the gradients are not all zero (one column has none: its log softmax is 0).
      if (shape[shape.length - 1] > 1) expect(Math.max(...Array.from(r.ours.g.dataSync(), Math.abs))).toBeGreaterThan(0);
      tf.dispose([x, seed, r.ours.y, r.ops.y, r.ours.g, r.ops.g]);
    },
  );

  it("its exp and log are tfjs-wasm's to the bit over their whole range", () => {
    // Rows [0, x]: exp(x) for every 4,099th float bit pattern (NaN, infinities, subnormals, past
    // the underflow limit), and log(1 + exp(x)) over [1, 2]; rows of V equal values: log(V).
    const n = Math.floor(2 ** 32 / 4099);
    const rows = new Float32Array(2 * n);
    const bits = new Uint32Array(1), f = new Float32Array(bits.buffer);
    for (let i = 0; i < n; i++) {
      bits[0] = (i * 4099) >>> 0;
      rows[2 * i + 1] = f[0];
    }
    const pairs = tf.tensor2d(rows, [n, 2]);
    const wide = tf.zeros([3, 1000]);
    const r = both(() => tf.tidy(() => [logSoftmax(pairs), logSoftmax(wide)]));
    expect(sameBits(r.ours[0], r.ops[0])).toBe('same');
    expect(sameBits(r.ours[1], r.ops[1])).toBe('same');
    tf.dispose([pairs, wide, ...r.ours, ...r.ops]);
  });
});

describe("supervised fine-tuning's masked NLL as our kernels", () => {
  // [n, T, V] logits as the policies give them (V 14), a scalar tail (V 5), one row, scales from
  // near-uniform to saturated; masks with zeros, and a batch with no kept token (0 / 0).
  it.each([[[64, 4, 14], 1, 0.3], [[9, 3, 5], 30, 0.5], [[1, 1, 14], 2, 0], [[33, 6, 14], 1e-3, 0.2], [[7, 4, 14], 4, 1]] as [number[], number, number][])(
    "gives the tfjs ops' loss, entropy and gradient to the bit (shape %j, scale %d, share masked %d)", (shape, scale, masked) => {
      const [n, T, V] = shape;
      const rng = new Rng(n * 7 + T * 3 + V);
      const logits = rand(rng, shape, scale) as tf.Tensor3D;
      const tokens = Int32Array.from({ length: n * T }, () => rng.int(V));
      const maskArr = Float32Array.from({ length: n * T }, () => (rng.next() < masked ? 0 : 1));
      if (n === 1) maskArr.fill(masked ? 0 : 1);
      const mask = tf.tensor2d(maskArr, [n, T]);
      const run = (on: boolean) =>
        withTrait('nll', on, () =>
          tf.tidy(() => {
            const { loss, entropy } = maskedNll(logits, tokens, mask);
            const g = tf.grad((x: tf.Tensor) => maskedNll(x as tf.Tensor3D, tokens, mask).loss)(logits);
            return [loss, entropy, g];
          }),
        );
      const before = tf.memory().numTensors;
      const ours = run(true);
      expect(tf.memory().numTensors - before).toBe(3); // nothing else left behind
      const ops = run(false);
      for (let i = 0; i < 3; i++) expect(sameBits(ours[i], ops[i])).toBe('same');
      // Not vacuous: the loss is finite where a token is kept, and the gradient is not all zero.
      if (maskArr.some((m) => m > 0)) {
        expect(Number.isFinite(ours[0].dataSync()[0])).toBe(true);
        expect(Math.max(...Array.from(ours[2].dataSync(), Math.abs))).toBeGreaterThan(0);
      } else expect(Number.isNaN(ours[0].dataSync()[0])).toBe(true);
      tf.dispose([logits, mask, ...ours, ...ops]);
    },
  );

  it('checks its inputs', () => {
    const logits = tf.zeros([2, 3, 4]) as tf.Tensor3D;
    const mask = tf.ones([2, 3]) as tf.Tensor2D;
    withTrait('nll', true, () => {
      expect(() => maskedNll(logits, Int32Array.of(0, 1, 2, 3, 4, 0), mask)).toThrow(/token id 4 is not in \[0, 3\]/);
      expect(() => maskedNll(logits, Int32Array.of(0, 1, 2), mask)).toThrow(/6 int32 token ids expected/);
    });
    tf.dispose([logits, mask]);
  });
});

describe('a linear head fused with the masked NLL (headNllKernels)', () => {
  // The head's features time-major [T*B, H] (the GRU's), as the tfjs path takes them: matMulFast,
  // the bias, [T, B, V] -> [B, T, V], then maskedNll (our NLL kernels, or the ops).
  const unfused = (f: tf.Tensor2D, w: tf.Tensor2D, bias: tf.Tensor1D, tokens: Int32Array, mask: tf.Tensor2D, skip: number) => {
    const [B, T] = mask.shape;
    const rows = skip ? (tf.slice(f, [skip, 0], [B * T, f.shape[1]]) as tf.Tensor2D) : f;
    const logits = tf.transpose(tf.reshape(tf.add(matMulFast(rows, w), bias), [T, B, w.shape[1]]), [1, 0, 2]) as tf.Tensor3D;
    return maskedNll(logits, tokens, mask);
  };
  it.each([[64, 4, 64, 14, 1, 0.3, 0], [9, 3, 5, 5, 3, 0.5, 7], [1, 1, 7, 14, 1, 0, 3], [33, 6, 17, 14, 0.1, 0.2, 99], [7, 4, 8, 14, 2, 1, 0]])(
    'gives the unfused path\'s loss, entropy and gradients to the bit (B %d, T %d, H %d, V %d, scale %d, share masked %d, %d rows skipped)', (B, T, H, V, scale, masked, skip) => {
      const rng = new Rng(B * 31 + T * 7 + H);
      const f = rand(rng, [skip + T * B, H], scale) as tf.Tensor2D;
      const w = rand(rng, [H, V], 0.5) as tf.Tensor2D;
      const bias = rand(rng, [V], 0.2) as tf.Tensor1D;
      const tokens = Int32Array.from({ length: B * T }, () => rng.int(V));
      const maskArr = Float32Array.from({ length: B * T }, () => (rng.next() < masked ? 0 : 1));
      if (B === 1) maskArr.fill(masked ? 0 : 1);
      const mask = tf.tensor2d(maskArr, [B, T]);
      const tok = tf.tensor1d(tokens, 'int32');
      const run = (loss: (f: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => { loss: tf.Scalar; entropy: tf.Scalar }) =>
        tf.tidy(() => {
          const { loss: l, entropy } = loss(f, w, bias);
          const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => loss(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor1D).loss)([f, w, bias]);
          return [l, entropy, ...g];
        });
      expect(fusedHeadNll()).toBe(true);
      const before = tf.memory().numTensors;
      const fused = run((a, b, c) => headNllKernels(a, b, c, tok, mask, skip));
      expect(tf.memory().numTensors - before).toBe(5); // nothing else left behind
      for (const nll of [true, false]) {
        const ref = withTrait('nll', nll, () => run((a, b, c) => unfused(a, b, c, tokens, mask, skip)));
        for (let i = 0; i < 5; i++) expect(sameBits(fused[i], ref[i])).toBe('same');
        tf.dispose(ref);
      }
      // Not vacuous: the loss is finite where a token is kept, and every gradient is not all zero.
      if (maskArr.some((m) => m > 0)) {
        expect(Number.isFinite(fused[0].dataSync()[0])).toBe(true);
        for (let i = 2; i < 5; i++) expect(Math.max(...Array.from(fused[i].dataSync(), Math.abs))).toBeGreaterThan(0);
      } else expect(Number.isNaN(fused[0].dataSync()[0])).toBe(true);
      tf.dispose([f, w, bias, mask, tok, ...fused]);
    },
  );

  it("is the GRU's SFT loss: the same loss and gradient as its outputs through maskedNll", () => {
    const net = createNet({ kind: 'gru', vocab: 14, maxLen: 10, embed: 8, hidden: 12, layers: 1, window: 10, outDim: 14 }, new Rng(5));
    const rng = new Rng(6);
    const B = 20, P = 6, T = 4;
    const prompts = Int32Array.from({ length: B * P }, () => rng.int(12));
    const tokens = Int32Array.from({ length: B * T }, () => rng.int(14));
    const maskArr = Float32Array.from({ length: B * T }, (_, i) => (i % T < 1 + (i % 3) ? 1 : 0));
    const mask = tf.tensor2d(maskArr, [B, T]);
    const grads = (on: boolean) => withTrait('headNll', on, () => tf.tidy(() => {
      const { value, grads: g } = tf.variableGrads(() => completionNll(net, prompts, tokens, B, P, T, maskArr, mask).loss, net.vars);
      return [value, ...net.vars.map((v) => g[v.name])];
    }));
    const fused = grads(true), ref = grads(false);
    for (let i = 0; i < fused.length; i++) expect(sameBits(fused[i], ref[i])).toBe('same');
    tf.dispose([mask, ...fused, ...ref]);
    net.dispose();
  });

  it('checks its inputs', () => {
    const f = tf.zeros([6, 3]) as tf.Tensor2D, w = tf.zeros([3, 4]) as tf.Tensor2D, bias = tf.zeros([4]) as tf.Tensor1D;
    const mask = tf.ones([2, 3]) as tf.Tensor2D;
    expect(() => headNllKernels(f, w, bias, tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32'), mask)).toThrow(/token id 4 is not in \[0, 3\]/);
    expect(() => headNllKernels(f, w, bias, tf.tensor1d([0, 1, 2], 'int32'), mask)).toThrow(/6 int32 token ids expected/);
    expect(() => headNllKernels(tf.zeros([5, 3]) as tf.Tensor2D, w, bias, tf.tensor1d([0, 1, 2, 3, 0, 1], 'int32'), mask)).toThrow(/an input of shape \[5,3\], 18 values expected/);
    expect(() => headNllKernels(f, w, bias, tf.tensor1d([0, 1, 2, 3, 0, 1], 'int32'), mask, 2)).toThrow(/an input of shape \[6,3\], 24 values expected/);
    tf.dispose([f, w, bias, mask]);
  });
});

describe("tfjs's Exp on our module", () => {
  it("gives the stock kernel's values to the bit over the whole float range", () => {
    // Every 4,099th float bit pattern: NaNs, infinities, subnormals, past both ends of expf's range.
    const n = Math.floor(2 ** 32 / 4099);
    const bits = Uint32Array.from({ length: n }, (_, i) => (i * 4099) >>> 0);
    const x = tf.tensor1d(new Float32Array(bits.buffer));
    const ours = tf.exp(x);
    ourExp.enabled = false;
    try {
      const stock = tf.exp(x);
      expect(sameBits(ours, stock)).toBe('same');
      stock.dispose();
    } finally {
      ourExp.enabled = true;
    }
    tf.dispose([x, ours]);
  });
});

describe('causal multi-head attention as one kernel each way', () => {
  // Head widths 4 (SIMD only), 5 (a scalar tail) and 3 (scalar only); 1-3 heads; rows of a group share a prompt.
  it.each([
    [8, 2, 2, 5],
    [10, 2, 1, 4],
    [9, 3, 2, 3],
  ])("gives the tfjs ops' outputs, gradients and cached decoding (embed %i, heads %i, blocks %i, B %i)", (embed, heads, layers, B) => {
    const net = createNet({ kind: 'transformer', vocab: 14, maxLen: 10, embed, hidden: 16, layers, window: 10, outDim: 14, heads }, new Rng(embed * 10 + heads));
    const rng = new Rng(3);
    // Weights far from the init's 0.02, so attention is far from uniform and every path matters.
    for (const v of net.vars) v.assign(tf.tidy(() => tf.add(v, rand(rng, v.shape, 0.5))));
    const data = weightedLogProbs(rng, B, 1);
    const { prompts, comp } = data;
    const run = (on: boolean) =>
      withTrait('attention', on, () => {
        const { value, grads } = tf.variableGrads(() => data.loss(net), net.vars);
        const out = { loss: value.dataSync()[0], g: net.vars.map((v) => grads[v.name]) };
        value.dispose();
        // Decoding: the prompt, then two tokens through the cache.
        const first = net.begin(prompts, B, 6);
        const second = net.next(first.state, comp.filter((_, i) => i % 4 === 0), 6);
        const third = net.next(second.state, comp.filter((_, i) => i % 4 === 1), 7);
        const decoded = [first.out, second.out, third.out];
        tf.dispose([...first.state.kv!, ...second.state.kv!, ...third.state.kv!]);
        return { ...out, decoded };
      });
    const ours = run(true), ops = run(false);
    expect(Math.abs(ours.loss - ops.loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ops.loss)));
    let maxG = 0;
    ours.g.forEach((g, i) => {
      maxG = Math.max(maxG, ...Array.from(ops.g[i].dataSync(), Math.abs));
      expect(maxDiff(g, ops.g[i]), net.vars[i].name).toBeLessThan(2e-5 * Math.max(1, maxG));
    });
    expect(maxG).toBeGreaterThan(1e-2); // not vacuous
    ours.decoded.forEach((d, i) => expect(maxDiff(d, ops.decoded[i]), `decoding step ${i}`).toBeLessThan(1e-4));
    data.dispose();
    tf.dispose([...ours.g, ...ops.g, ...ours.decoded, ...ops.decoded]);
    net.dispose();
  });

  it('checks its shapes', () => {
    const q = tf.zeros([6, 4]), k = tf.zeros([4, 4]);
    expect(() => tf.engine().runKernel('PlaygroundAttention', { q, k, v: k }, { B: 2, H: 2, scale: 1 })).toThrow(/do not fit 2 rows of 2 heads/);
    tf.dispose([q, k]);
  });
});

describe("Adam on our kernels (the gradients' norm and each tensor's step)", () => {
  /** Three variables of awkward sizes, the same weights for each optimiser. */
  function vars(seed: number): tf.Variable[] {
    const rng = new Rng(seed);
    return [[7, 5], [13], [3, 4, 2]].map((shape) => tf.variable(rand(rng, shape)));
  }
  const flat = (vs: tf.Tensor[]) => Float32Array.from(vs.flatMap((v) => Array.from(v.dataSync())));

  for (const clip of [0, 0.5]) {
    it(`gives the JS Adam's weights, moments and norms to the bit (clip ${clip})`, () => {
      expect(Adam.kernels()).toBe(true);
      const a = vars(1), b = vars(1);
      const js = new Adam(0.01), ours = new Adam(0.01);
      const rng = new Rng(2);
      for (let step = 0; step < 6; step++) {
        const grads = a.map((v) => rand(rng, v.shape, step === 3 ? 40 : 1)); // step 3: large enough to clip
        const nJs = js.apply(a, flat(a), flat(grads), clip);
        const nOurs = ours.applyKernels(b, grads, clip);
        expect(nOurs).toBe(nJs);
        expect(Array.from(flat(b))).toEqual(Array.from(flat(a)));
        tf.dispose(grads);
      }
      const [sJs, sOurs] = [js.state(), ours.state()];
      expect(sOurs.t).toBe(6);
      expect(Array.from(sOurs.m!)).toEqual(Array.from(sJs.m!));
      expect(Array.from(sOurs.v!)).toEqual(Array.from(sJs.v!));
      tf.dispose([...a, ...b]);
      js.dispose();
      ours.dispose();
    });
  }

  it('continues from a saved state on either path, and leaves everything as it was on a non-finite gradient', () => {
    const a = vars(3), b = vars(3);
    const js = new Adam(0.02), ours = new Adam(0.02);
    const rng = new Rng(4);
    const grads = () => a.map((v) => rand(rng, v.shape));
    for (let step = 0; step < 3; step++) {
      const g = grads();
      js.apply(a, flat(a), flat(g), 1);
      tf.dispose(g);
    }
    b.forEach((v, i) => v.assign(a[i]));
    ours.load(js.state()); // a JS state, continued on the kernels
    const g = grads();
    js.apply(a, flat(a), flat(g), 1);
    ours.applyKernels(b, g, 1);
    expect(Array.from(flat(b))).toEqual(Array.from(flat(a)));
    const before = flat(b);
    const bad = g.map((t, i) => (i === 1 ? tf.fill(t.shape, NaN) : t.clone()));
    expect(Number.isNaN(ours.applyKernels(b, bad, 1))).toBe(true);
    expect(Array.from(flat(b))).toEqual(Array.from(before));
    expect(ours.state().t).toBe(4);
    const back = new Adam(0.02);
    back.load(ours.state()); // the kernels' state, continued in JS
    const g2 = grads();
    back.apply(b, flat(b), flat(g2), 1);
    js.apply(a, flat(a), flat(g2), 1);
    expect(Array.from(flat(b))).toEqual(Array.from(flat(a)));
    tf.dispose([...a, ...b, ...g, ...bad, ...g2]);
    [js, ours, back].forEach((o) => o.dispose());
  });

  it('leak no tensors', () => {
    const v = vars(5);
    const opt = new Adam(0.01);
    const g = v.map((x) => tf.onesLike(x));
    opt.applyKernels(v, g, 0); // the state tensor is made
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) opt.applyKernels(v, g, 0);
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before - 1);
    tf.dispose([...v, ...g]);
  });
});
