/** The tiny networks: shapes, the hand-written GRU backward against autodiff, decoding = teacher forcing. */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createNet, type NetSpec } from '../src/core/nets/net';
import { completionOutputs, oneHotTokens, sampleCompletions, tokenLogProbs } from '../src/core/nets/policy';
import { Rng } from '../src/core/rng';

const spec = (kind: 'gru' | 'mlp'): NetSpec => ({ kind, vocab: 14, maxLen: 10, embed: 8, hidden: 16, layers: 2, window: 10, outDim: 14 });
const shape = { promptLen: 6, maxNew: 4, vocab: 14, eos: 12, pad: 13 };

describe('GRU', () => {
  it('the hand-written BPTT gives the same loss and gradients as autodiff of the unrolled cell', () => {
    const net = createNet(spec('gru'), new Rng(1)) as ReturnType<typeof createNet> & { fusedBptt: boolean };
    const rng = new Rng(2);
    const B = 5;
    const prompts = Int32Array.from({ length: B * 6 }, () => rng.int(12));
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
  it('greedy decoding agrees with teacher forcing on its own output', async () => {
    const net = createNet(spec(kind), new Rng(3));
    const rng = new Rng(4);
    const B = 7;
    const prompts = Int32Array.from({ length: B * 6 }, () => rng.int(12));
    const ro = await sampleCompletions(net, shape, prompts, B, rng);
    const oh = tf.tensor3d(oneHotTokens(ro.tokens, 14), [B, 4, 14]);
    const lp = tf.tidy(() => tokenLogProbs(completionOutputs(net, prompts, ro.tokens, B, 6, 4), oh).logp);
    const forced = await lp.data();
    for (let i = 0; i < B * 4; i++) if (ro.mask[i]) expect(forced[i]).toBeCloseTo(ro.logp[i], 4);
    tf.dispose([oh, lp]);
    net.dispose();
  });
});
