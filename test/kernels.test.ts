/**
 * The fused GRU kernels (workers/fused-kernels.ts, our WebAssembly SIMD module) against the tfjs
 * path of src/core/nets/gru-bptt.ts: the same states and the same gradients to float tolerance,
 * at shapes that hit every code path (rows and columns not multiples of the SIMD blocks, one step).
 * And the committed module is what its source compiles to.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { gruPath, gruSequence } from '../src/core/nets/gru-bptt';
import { Rng } from '../src/core/rng';
import { groupedPrompts, withTrait } from './helpers';
import { ONE_HOT_KERNELS, biasGelu, layerNorm, oneHotMatMul, oneHotRows } from '../src/core/nets/layers';
import { createNet } from '../src/core/nets/net';
import { completionOutputs, oneHotTokens, tokenLogProbs } from '../src/core/nets/policy';

function rand(rng: Rng, shape: number[], scale = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale), shape);
}

function both<T>(f: () => T): { kernel: T; tfjs: T } {
  return { kernel: withTrait('gruSequence', true, f), tfjs: withTrait('gruSequence', false, f) };
}

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  const x = a.dataSync(), y = b.dataSync();
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
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

  for (const [B, H, L] of [[8, 64, 5], [7, 13, 3], [5, 6, 1], [256, 64, 4], [3, 4, 2], [1, 9, 6]]) {
    it(`give the tfjs path's states and gradients (B ${B}, H ${H}, L ${L})`, () => {
      const rng = new Rng(B * 1000 + H * 10 + L);
      const k = 1 / Math.sqrt(H);
      const inputs = [
        rand(rng, [L * B, H], 2), rand(rng, [L * B, H], 2), rand(rng, [L * B, H], 2),
        rand(rng, [H, H], k), rand(rng, [H, H], k), rand(rng, [H, H], k), rand(rng, [H], k), rand(rng, [B, H], 0.5),
      ];
      const seed = rand(rng, [L * B, H]); // a loss sum(hs * seed): every state gets a gradient
      const f = (...xs: tf.Tensor[]) => tf.sum(tf.mul(gruSequence(...(xs as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D]), B), seed));
      const { kernel, tfjs } = both(() => ({
        hs: gruSequence(...(inputs as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D]), B),
        grads: tf.grads(f)(inputs),
      }));
      expect(maxDiff(kernel.hs, tfjs.hs)).toBeLessThan(2e-6);
      const names = ['xr', 'xz', 'xn', 'whr', 'whz', 'whn', 'bhn', 'h0'];
      kernel.grads.forEach((g, i) => {
        const scale = Math.max(1, ...Array.from(tfjs.grads[i].dataSync(), Math.abs));
        expect(maxDiff(g, tfjs.grads[i]) / scale, names[i]).toBeLessThan(1e-5);
        expect(g.shape).toEqual(tfjs.grads[i].shape);
      });
      tf.dispose([...inputs, seed, kernel.hs, tfjs.hs, ...kernel.grads, ...tfjs.grads]);
    });
  }

  it('are deterministic: the same inputs give the same bits', () => {
    const rng = new Rng(3);
    const xs = [rand(rng, [40, 16]), rand(rng, [40, 16]), rand(rng, [40, 16]), rand(rng, [16, 16], 0.25), rand(rng, [16, 16], 0.25), rand(rng, [16, 16], 0.25), rand(rng, [16], 0.25), rand(rng, [8, 16])] as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D];
    const a = gruSequence(...xs, 8).dataSync();
    const b = gruSequence(...xs, 8).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it('leak no tensors', () => {
    const rng = new Rng(4);
    const xs = [rand(rng, [12, 8]), rand(rng, [12, 8]), rand(rng, [12, 8]), rand(rng, [8, 8]), rand(rng, [8, 8]), rand(rng, [8, 8]), rand(rng, [8]), rand(rng, [4, 8])];
    const buffers = () => tf.engine().backend.numDataIds();
    const before = buffers();
    const f = (...v: tf.Tensor[]) => tf.sum(gruSequence(...(v as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D]), 4));
    tf.tidy(() => { tf.grads(f)(xs); });
    tf.tidy(() => { gruSequence(...(xs as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D]), 4); });
    expect(buffers()).toBe(before); // the dropped outputs too
    tf.dispose(xs);
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
