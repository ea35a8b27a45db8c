/**
 * The tiny networks: shapes, the hand-written GRU backward against autodiff, the transformer's
 * gradients against finite differences, decoding (the transformer's with a KV cache) = teacher forcing.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createNet, type NetSpec, prefixSharing, sharedPrefix } from '../src/core/nets/net';
import { transformerFlops } from '../src/core/nets/sizes';
import { TransformerNet } from '../src/core/nets/transformer';
import { completionOutputs, oneHotTokens, sampleCompletions, tokenLogProbs } from '../src/core/nets/policy';
import { Rng } from '../src/core/rng';
import { groupedPrompts } from './helpers';

const spec = (kind: 'gru' | 'mlp' | 'transformer'): NetSpec => ({ kind, vocab: 14, maxLen: 10, embed: 8, hidden: 16, layers: 2, window: 10, outDim: 14, heads: 2 });
const shape = { promptLen: 6, maxNew: 4, vocab: 14, eos: 12, pad: 13 };

/** The weighted sum of completion log-probs (prompts of 6, completions of 4) and its gradient per weight. */
function lossAndGrads(net: ReturnType<typeof createNet>, prompts: Int32Array, comp: Int32Array, oh: tf.Tensor3D, w: tf.Tensor2D, B: number) {
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(tokenLogProbs(completionOutputs(net, prompts, comp, B, 6, 4), oh).logp, w)) as tf.Scalar, net.vars);
  const out = { loss: value.dataSync()[0], g: net.vars.map((v) => Array.from(grads[v.name].dataSync())) };
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

/** The largest gradient entry of a, and the largest difference between a's and b's. */
function gradGap(a: { g: number[][] }, b: { g: number[][] }): { maxAbs: number; maxDiff: number } {
  let maxAbs = 0;
  let maxDiff = 0;
  a.g.forEach((ga, i) => ga.forEach((x, j) => {
    maxAbs = Math.max(maxAbs, Math.abs(x));
    maxDiff = Math.max(maxDiff, Math.abs(x - b.g[i][j]));
  }));
  return { maxAbs, maxDiff };
}

describe('GRU', () => {
  // Distinct prompts; and groups of rows that share a prompt, whose prefix state is computed once.
  it.each([
    ['distinct prompts', 5, 1],
    ['groups of 4 rows sharing a prompt (GRPO)', 12, 4],
  ])('the hand-written BPTT gives the same loss and gradients as autodiff of the unrolled cell: %s', (_, B, G) => {
    const net = createNet(spec('gru'), new Rng(1)) as ReturnType<typeof createNet> & { fusedBptt: boolean };
    const rng = new Rng(2);
    const prompts = groupedPrompts(rng, B, G);
    const comp = Int32Array.from({ length: B * 4 }, () => rng.int(14));
    const oh = tf.tensor3d(oneHotTokens(comp, 14), [B, 4, 14]);
    const w = tf.tensor2d(Float32Array.from({ length: B * 4 }, () => rng.next() * 2 - 1), [B, 4]);
    const grads = (fused: boolean) => {
      net.fusedBptt = fused;
      return lossAndGrads(net, prompts, comp, oh, w, B);
    };
    const a = grads(false);
    const b = grads(true);
    expect(b.loss).toBeCloseTo(a.loss, 4);
    const { maxAbs, maxDiff } = gradGap(a, b);
    expect(maxAbs).toBeGreaterThan(1e-2); // the check is not vacuous
    expect(maxDiff).toBeLessThan(1e-4 * Math.max(1, maxAbs));
    tf.dispose([oh, w]);
    net.dispose();
  });
});

describe.each(['gru', 'mlp', 'transformer'] as const)('%s policy', (kind) => {
  it.each([
    ['distinct prompts', 7, 1],
    ['groups of 8 rows sharing a prompt', 24, 8],
  ])('sampled log-probs agree with teacher forcing on the same tokens: %s', async (_, B, G) => {
    const net = createNet(spec(kind), new Rng(3));
    const rng = new Rng(4);
    const prompts = groupedPrompts(rng, B, G);
    const ro = await sampleCompletions(net, shape, prompts, B, rng);
    const oh = tf.tensor3d(oneHotTokens(ro.tokens, 14), [B, 4, 14]);
    const lp = tf.tidy(() => tokenLogProbs(completionOutputs(net, prompts, ro.tokens, B, 6, 4), oh).logp);
    const forced = await lp.data();
    for (let i = 0; i < B * 4; i++) if (ro.mask[i]) expect(forced[i]).toBeCloseTo(ro.logp[i], 4);
    tf.dispose([oh, lp]);
    net.dispose();
  });
});

describe.each(['gru', 'mlp', 'transformer'] as const)('%s prefix sharing', (kind) => {
  it('a batch whose rows share prompts gives the loss and gradients of its rows taken one by one', () => {
    const net = createNet(spec(kind), new Rng(11));
    const rng = new Rng(12);
    const B = 12;
    const G = 4;
    const prompts = groupedPrompts(rng, B, G);
    const comp = Int32Array.from({ length: B * 4 }, () => rng.int(14));
    const w = Float32Array.from({ length: B * 4 }, () => rng.next() * 2 - 1);
    const lossGrads = (rows: number[]) => {
      const n = rows.length;
      const p = Int32Array.from({ length: n * 6 }, (_, i) => prompts[rows[Math.floor(i / 6)] * 6 + (i % 6)]);
      const c = Int32Array.from({ length: n * 4 }, (_, i) => comp[rows[Math.floor(i / 4)] * 4 + (i % 4)]);
      const ww = tf.tensor2d(Float32Array.from({ length: n * 4 }, (_, i) => w[rows[Math.floor(i / 4)] * 4 + (i % 4)]), [n, 4]);
      const oh = tf.tensor3d(oneHotTokens(c, 14), [n, 4, 14]);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(tokenLogProbs(completionOutputs(net, p, c, n, 6, 4), oh).logp, ww)) as tf.Scalar, net.vars);
      const out = { loss: value.dataSync()[0], g: net.vars.map((v) => Array.from(grads[v.name].dataSync())) };
      tf.dispose([value, ww, oh, ...Object.values(grads)]);
      return out;
    };
    const all = lossGrads(Array.from({ length: B }, (_, b) => b));
    const one = Array.from({ length: B }, (_, b) => lossGrads([b]));
    expect(all.loss).toBeCloseTo(one.reduce((s, o) => s + o.loss, 0), 3);
    let maxAbs = 0;
    let maxDiff = 0;
    all.g.forEach((ga, i) => ga.forEach((x, j) => {
      const sum = one.reduce((s, o) => s + o.g[i][j], 0);
      maxAbs = Math.max(maxAbs, Math.abs(x));
      maxDiff = Math.max(maxDiff, Math.abs(x - sum));
    }));
    expect(maxAbs).toBeGreaterThan(1e-2);
    expect(maxDiff).toBeLessThan(1e-4 * Math.max(1, maxAbs));
    net.dispose();
  });
});

describe('GRU partial prefix sharing', () => {
  it('rows that share only the start of their prompts (a batch of distinct prompts) share it, with the loss and gradients of the unshared batch', () => {
    const rng = new Rng(31);
    const B = 12;
    // Two 3-token starts, then distinct tokens: no two prompts are the same.
    const starts = [Int32Array.from([1, 2, 10]), Int32Array.from([3, 4, 10])];
    const prompts = new Int32Array(B * 6);
    for (let b = 0; b < B; b++) {
      prompts.set(starts[b % 2], b * 6);
      prompts.set([b % 10, rng.int(10), 11], b * 6 + 3);
    }
    const ids = new Int32Array(B * 9);
    for (let b = 0; b < B; b++) ids.set(prompts.subarray(b * 6, b * 6 + 6), b * 9);
    expect(sharedPrefix(ids, B, 9, 6)).toMatchObject({ s: 3, g: { U: 2 } });
    const net = createNet(spec('gru'), new Rng(32));
    const comp = Int32Array.from({ length: B * 4 }, () => rng.int(14));
    const oh = tf.tensor3d(oneHotTokens(comp, 14), [B, 4, 14]);
    const w = tf.tensor2d(Float32Array.from({ length: B * 4 }, () => rng.next() * 2 - 1), [B, 4]);
    const run = (sharing: boolean) => {
      prefixSharing.enabled = sharing;
      try {
        return lossAndGrads(net, prompts, comp, oh, w, B);
      } finally {
        prefixSharing.enabled = true;
      }
    };
    const shared = run(true);
    const plain = run(false);
    expect(shared.loss).toBeCloseTo(plain.loss, 5);
    const { maxAbs, maxDiff } = gradGap(plain, shared);
    expect(maxAbs).toBeGreaterThan(1e-2);
    expect(maxDiff).toBeLessThan(1e-5 * Math.max(1, maxAbs));
    tf.dispose([oh, w]);
    net.dispose();
  });

  it('a shorter prefix is shared only where it pays', () => {
    // 8 rows, all distinct after a first token of 3 values: sharing it saves 5 row-steps of 48, under an eighth.
    const ids = Int32Array.from({ length: 8 * 6 }, (_, i) => (i % 6 === 0 ? Math.floor(i / 6) % 3 : Math.floor(i / 6) + (i % 6)));
    expect(sharedPrefix(ids, 8, 6, 6)).toBeNull();
    // GRPO's groups share the whole prompt.
    const grouped = Int32Array.from({ length: 8 * 6 }, (_, i) => Math.floor(i / 24) * 3 + (i % 6));
    expect(sharedPrefix(grouped, 8, 6, 6)).toMatchObject({ s: 6, g: { U: 2 } });
  });
});

describe('transformer', () => {
  const tspec = { ...spec('transformer'), heads: 2 };
  const B = 3;
  const rng = new Rng(21);
  const prompts = Int32Array.from({ length: B * 6 }, () => rng.int(12));
  const comp = Int32Array.from({ length: B * 4 }, () => rng.int(14));
  const w = Float32Array.from({ length: B * 4 }, () => rng.next() * 2 - 1);
  const lossOf = (net: ReturnType<typeof createNet>) => {
    const oh = tf.tensor3d(oneHotTokens(comp, 14), [B, 4, 14]);
    const ww = tf.tensor2d(w, [B, 4]);
    const l = tf.sum(tf.mul(tokenLogProbs(completionOutputs(net, prompts, comp, B, 6, 4), oh).logp, ww)) as tf.Scalar;
    tf.dispose([oh, ww]);
    return l;
  };

  it('its gradients match central finite differences (float64 steps on float32 weights, every weight matrix)', () => {
    const net = createNet(tspec, new Rng(22));
    // Larger weights than the init's 0.02, so attention is far from uniform and every path matters.
    const pick = new Rng(23);
    for (const v of net.vars) v.assign(tf.tidy(() => tf.add(v, tf.mul(tf.randomNormal(v.shape, 0, 1, 'float32', pick.int(1e6)), 0.3))));
    const { value, grads } = tf.variableGrads(() => lossOf(net), net.vars);
    value.dispose();
    const eps = 1e-2;
    let checked = 0;
    let maxG = 0;
    for (const v of net.vars) {
      const g = grads[v.name].dataSync();
      const base = v.dataSync().slice();
      for (let k = 0; k < 3; k++) {
        const i = pick.int(v.size);
        const at = (d: number) => {
          const x = base.slice();
          x[i] += d;
          v.assign(tf.tensor(x, v.shape));
          return tf.tidy(() => lossOf(net).dataSync()[0]);
        };
        const fd = (at(eps) - at(-eps)) / (2 * eps);
        v.assign(tf.tensor(base, v.shape));
        expect(Math.abs(fd - g[i]), `${v.name}[${i}]: autodiff ${g[i]}, finite differences ${fd}`).toBeLessThan(3e-3 + 3e-2 * Math.abs(g[i]));
        maxG = Math.max(maxG, Math.abs(g[i]));
        checked++;
      }
    }
    expect(checked).toBe(net.vars.length * 3);
    expect(maxG).toBeGreaterThan(1e-2); // not vacuous
    tf.dispose(Object.values(grads));
    net.dispose();
  });

  it('attention is causal and each row sums to 1, per head; decoding with the cache sees the same maps', async () => {
    const net = createNet(tspec, new Rng(24)) as unknown as TransformerNet;
    for (const v of net.vars) v.assign(tf.tidy(() => tf.mul(v, 20)));
    net.record = [];
    tf.tidy(() => net.outputs(prompts, B, 6, 0));
    const forced = net.record;
    expect(forced.map((m) => [m.layer, m.head])).toEqual([[0, 0], [0, 1], [1, 0], [1, 1]]);
    for (const m of forced) {
      m.weights.forEach((row, i) => {
        expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
        row.forEach((x, j) => (j > i ? expect(x).toBeLessThan(1e-6) : undefined));
      });
    }
    // Decoding: the prompt's maps from begin(), then one row per new token over the whole cache.
    net.record = [];
    const { state, out } = net.begin(prompts, B, 6);
    const r = net.next(state, comp.filter((_, i) => i % 4 === 0), 6);
    expect(net.record[0].weights.map((w) => w.length)).toEqual([6, 6, 6, 6, 6, 6, 7]);
    // Row 6 of the cached maps is what a full pass over the prompt + the token gives at position 6.
    net.record = [];
    const seq = Int32Array.from({ length: B * 7 }, (_, i) => (i % 7 < 6 ? prompts[Math.floor(i / 7) * 6 + (i % 7)] : comp[Math.floor(i / 7) * 4]));
    tf.tidy(() => net.outputs(seq, B, 7, 0));
    const full = net.record[3].weights[6];
    net.record = [];
    tf.dispose([out, r.out, ...state.kv!, ...r.state.kv!]);
    const again = net.begin(prompts, B, 6);
    const r2 = net.next(again.state, comp.filter((_, i) => i % 4 === 0), 6);
    const cached = net.record[3].weights[6];
    cached.forEach((x, j) => expect(x).toBeCloseTo(full[j], 5));
    tf.dispose([again.out, r2.out, ...again.state.kv!, ...r2.state.kv!]);
    net.record = null;
    net.dispose();
  });

  it('sampling and a training step leave no tensors behind; its size and FLOPs are reported', async () => {
    const start = tf.memory().numTensors;
    const net = createNet(tspec, new Rng(25));
    const before = tf.memory().numTensors;
    const ro = await sampleCompletions(net, shape, prompts, B, new Rng(26));
    const { value, grads } = tf.variableGrads(() => lossOf(net), net.vars);
    tf.dispose([value, ...Object.values(grads)]);
    expect(ro.tokens.length).toBe(B * 4);
    // The causal masks it keeps (one per length seen) are its only lasting tensors.
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(2);
    const E = 8;
    const F = 16;
    const A = 2 * 4;
    expect(net.paramCount).toBe((14 + 10) * E + 2 * (2 * E + 3 * E * A + A * E + E + 2 * E + E * F + F + F * E + E) + 2 * E + E * 14 + 14);
    expect(net.flopsPerToken).toBe(transformerFlops(tspec));
    expect(transformerFlops(tspec, 5)).toBe(2 * (2 * (3 * E * A + 2 * 5 * A + A * E + 2 * E * F) + E * 14));
    net.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});
