/** The tiny networks: shapes, the hand-written GRU backward against autodiff, decoding = teacher forcing. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createNet, type NetSpec } from '../src/core/nets/net';
import { completionOutputs, oneHotTokens, sampleCompletions, tokenLogProbs } from '../src/core/nets/policy';
import { Rng } from '../src/core/rng';

const spec = (kind: 'gru' | 'mlp'): NetSpec => ({ kind, vocab: 14, maxLen: 10, embed: 8, hidden: 16, layers: 2, window: 10, outDim: 14 });
const shape = { promptLen: 6, maxNew: 4, vocab: 14, eos: 12, pad: 13 };

describe('GRU', () => {
  // Distinct prompts; and groups of rows that share a prompt, whose prefix state is computed once.
  it.each([
    ['distinct prompts', 5, 1],
    ['groups of 4 rows sharing a prompt (GRPO)', 12, 4],
  ])('the hand-written BPTT gives the same loss and gradients as autodiff of the unrolled cell: %s', (_, B, G) => {
    const net = createNet(spec('gru'), new Rng(1)) as ReturnType<typeof createNet> & { fusedBptt: boolean };
    const rng = new Rng(2);
    const distinct = Int32Array.from({ length: (B / G) * 6 }, () => rng.int(12));
    const prompts = Int32Array.from({ length: B * 6 }, (_, i) => distinct[Math.floor(i / 6 / G) * 6 + (i % 6)]);
    const comp = Int32Array.from({ length: B * 4 }, () => rng.int(14));
    const oh = tf.tensor3d(oneHotTokens(comp, 14), [B, 4, 14]);
    const w = tf.tensor2d(Float32Array.from({ length: B * 4 }, () => rng.next() * 2 - 1), [B, 4]);
    const grads = (fused: boolean) => {
      net.fusedBptt = fused;
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(tokenLogProbs(completionOutputs(net, prompts, comp, B, 6, 4), oh).logp, w)) as tf.Scalar, net.vars);
      const out = { loss: value.dataSync()[0], g: net.vars.map((v) => Array.from(grads[v.name].dataSync())) };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const a = grads(false);
    const b = grads(true);
    expect(b.loss).toBeCloseTo(a.loss, 4);
    let maxAbs = 0;
    let maxDiff = 0;
    a.g.forEach((ga, i) => ga.forEach((x, j) => {
      maxAbs = Math.max(maxAbs, Math.abs(x));
      maxDiff = Math.max(maxDiff, Math.abs(x - b.g[i][j]));
    }));
    expect(maxAbs).toBeGreaterThan(1e-2); // the check is not vacuous
    expect(maxDiff).toBeLessThan(1e-4 * Math.max(1, maxAbs));
    tf.dispose([oh, w]);
    net.dispose();
  });
});

describe.each(['gru', 'mlp'] as const)('%s policy', (kind) => {
  it.each([
    ['distinct prompts', 7, 1],
    ['groups of 8 rows sharing a prompt', 24, 8],
  ])('sampled log-probs agree with teacher forcing on the same tokens: %s', async (_, B, G) => {
    const net = createNet(spec(kind), new Rng(3));
    const rng = new Rng(4);
    const distinct = Int32Array.from({ length: (B / G) * 6 }, () => rng.int(12));
    const prompts = Int32Array.from({ length: B * 6 }, (_, i) => distinct[Math.floor(i / 6 / G) * 6 + (i % 6)]);
    const ro = await sampleCompletions(net, shape, prompts, B, rng);
    const oh = tf.tensor3d(oneHotTokens(ro.tokens, 14), [B, 4, 14]);
    const lp = tf.tidy(() => tokenLogProbs(completionOutputs(net, prompts, ro.tokens, B, 6, 4), oh).logp);
    const forced = await lp.data();
    for (let i = 0; i < B * 4; i++) if (ro.mask[i]) expect(forced[i]).toBeCloseTo(ro.logp[i], 4);
    tf.dispose([oh, lp]);
    net.dispose();
  });
});

describe.each(['gru', 'mlp'] as const)('%s prefix sharing', (kind) => {
  it('a batch whose rows share prompts gives the loss and gradients of its rows taken one by one', () => {
    const net = createNet(spec(kind), new Rng(11));
    const rng = new Rng(12);
    const B = 12;
    const G = 4;
    const distinct = Int32Array.from({ length: (B / G) * 6 }, () => rng.int(12));
    const prompts = Int32Array.from({ length: B * 6 }, (_, i) => distinct[Math.floor(i / 6 / G) * 6 + (i % 6)]);
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
