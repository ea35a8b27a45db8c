/**
 * Mixtures of experts (src/core/nets/moe.ts): routing sends each token to exactly k experts plus the
 * shared ones; the dense-and-masked computation equals the sum over the chosen experts computed
 * directly; gradients against finite differences; cached decoding = teacher forcing; the
 * load-balancing loss reaches the optimiser step; sizes and FLOPs count the active experts.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Adam, optimiserStep } from '../src/core/algos/common';
import { MoeLayer, auxSink, clearAux, glorot, newStats, routingFigures } from '../src/core/nets/moe';
import { createNet, type NetSpec } from '../src/core/nets/net';
import { completionOutputs, oneHotTokens, sampleCompletions, tokenLogProbs } from '../src/core/nets/policy';
import { transformerFlops } from '../src/core/nets/sizes';
import { weightLayout } from '../src/core/policy-file';
import { Rng } from '../src/core/rng';

const moe = { experts: 4, topK: 2, shared: 1, expertHidden: 6, balance: 0.01 };
const specs: Record<string, NetSpec> = {
  'MLP with experts': { kind: 'mlp', vocab: 14, maxLen: 10, embed: 8, hidden: 12, layers: 3, window: 10, outDim: 14, moe },
  'transformer with experts': { kind: 'transformer', vocab: 14, maxLen: 10, embed: 8, hidden: 16, layers: 2, window: 10, outDim: 14, heads: 2, moe },
};
const shape = { promptLen: 6, maxNew: 4, vocab: 14, eos: 12, pad: 13 };

describe('a mixture-of-experts layer', () => {
  const rng = new Rng(1);
  const layer = new MoeLayer({ ...moe, experts: 5, topK: 2, shared: 2 }, 6, true, rng, glorot(rng));
  const N = 9;
  const xs = Float32Array.from({ length: N * 6 }, () => rng.normal());

  it('sends each token to exactly k routed experts (the k most probable, weighted by their probability) plus every shared one', () => {
    const x = tf.tensor2d(xs, [N, 6]);
    const g = layer.route(x).arraySync();
    const probs = tf.softmax(tf.matMul(x, layer.vars[0] as unknown as tf.Tensor2D)).arraySync() as number[][];
    g.forEach((row, i) => {
      const routed = row.slice(0, 5);
      const on = routed.flatMap((w, e) => (w > 0 ? [e] : []));
      expect(on).toHaveLength(2);
      const top = [...probs[i].keys()].sort((a, b) => probs[i][b] - probs[i][a]).slice(0, 2).sort();
      expect(on).toEqual(top);
      for (const e of on) expect(routed[e]).toBeCloseTo(probs[i][e], 6);
      expect(row.slice(5)).toEqual([1, 1]);
    });
    x.dispose();
  });

  it('computed densely and masked, it equals the weighted sum of the chosen experts computed one by one', () => {
    const x = tf.tensor2d(xs, [N, 6]);
    const y = layer.apply(x).arraySync();
    const g = layer.route(x).arraySync();
    const [, w1, b1, w2, b2] = layer.vars.map((v) => v.arraySync()) as [unknown, number[][], number[], number[][], number[][]];
    const h = 6; // expertHidden
    for (let i = 0; i < N; i++) {
      const xi = Array.from(xs.subarray(i * 6, i * 6 + 6));
      const want = new Array(6).fill(0);
      for (let e = 0; e < 7; e++) {
        if (g[i][e] === 0) continue;
        const a = Array.from({ length: h }, (_, j) => {
          const z = xi.reduce((s, xv, d) => s + xv * w1[d][e * h + j], b1[e * h + j]);
          return z / (1 + Math.exp(-1.702 * z));
        });
        for (let d = 0; d < 6; d++) want[d] += g[i][e] * (a.reduce((s, av, j) => s + av * w2[e * h + j][d], 0) + b2[e][d]);
      }
      want.forEach((v, d) => expect(y[i][d]).toBeCloseTo(v, 4));
    }
    x.dispose();
  });

  it('its active size counts the gate, k routed and the shared experts; its total every weight', () => {
    const perExpert = 6 * 6 + 6 + 6 * 6 + 6;
    expect(layer.activeParams).toBe(6 * 5 + (2 + 2) * perExpert);
    expect(layer.totalParams).toBe(6 * 5 + 7 * (6 * 6 + 6 + 6 * 6) + 7 * 6);
  });
});

describe.each(Object.keys(specs))('%s', (name) => {
  const spec = specs[name];
  const B = 4;
  const rng = new Rng(5);
  const prompts = Int32Array.from({ length: B * 6 }, () => rng.int(12));
  const comp = Int32Array.from({ length: B * 4 }, () => rng.int(14));
  const w = Float32Array.from({ length: B * 4 }, () => rng.next() * 2 - 1);
  const lossOf = (net: ReturnType<typeof createNet>) =>
    tf.tidy(() => tf.sum(tf.mul(tokenLogProbs(completionOutputs(net, prompts, comp, B, 6, 4), tf.tensor3d(oneHotTokens(comp, 14), [B, 4, 14])).logp, tf.tensor2d(w, [B, 4]))) as tf.Scalar);

  it('its gradients match central finite differences (routing held: the probe steps keep every top-k choice)', () => {
    const net = createNet(spec, new Rng(6));
    const pick = new Rng(7);
    for (const v of net.vars) v.assign(tf.tidy(() => tf.add(v, tf.mul(tf.randomNormal(v.shape, 0, 1, 'float32', pick.int(1e6)), 0.2))));
    const { value, grads } = tf.variableGrads(() => lossOf(net), net.vars);
    value.dispose();
    clearAux();
    /** The loss, and every top-k choice the pass made. */
    const probe = () => {
      for (const m of net.moeLayers) m.trace = [];
      const l = lossOf(net).dataSync()[0];
      const choices = net.moeLayers.map((m) => m.trace!.join(',')).join('|');
      for (const m of net.moeLayers) m.trace = null;
      return { l, choices };
    };
    const held = probe().choices;
    let maxG = 0;
    let checked = 0;
    let probes = 0;
    for (const v of net.vars) {
      const g = grads[v.name].dataSync();
      const base = v.dataSync().slice();
      for (let k = 0; k < 3; k++) {
        const i = pick.int(v.size);
        probes++;
        const at = (d: number) => {
          const x = base.slice();
          x[i] += d;
          v.assign(tf.tensor(x, v.shape));
          return probe();
        };
        // A step that flips a token's top-k choice measures the jump, not the slope: try smaller, else skip.
        for (const eps of [3e-3, 3e-4]) {
          const [up, down] = [at(eps), at(-eps)];
          if (up.choices !== held || down.choices !== held) continue;
          const fd = (up.l - down.l) / (2 * eps);
          const tol = (eps < 1e-3 ? 2e-2 : 5e-3) + 3e-2 * Math.abs(g[i]);
          expect(Math.abs(fd - g[i]), `${v.name}[${i}]: autodiff ${g[i]}, finite differences ${fd}`).toBeLessThan(tol);
          maxG = Math.max(maxG, Math.abs(g[i]));
          checked++;
          break;
        }
        v.assign(tf.tensor(base, v.shape));
      }
    }
    expect(checked).toBeGreaterThan(0.8 * probes);
    expect(maxG).toBeGreaterThan(1e-2);
    tf.dispose(Object.values(grads));
    net.dispose();
  });

  it('sampled log-probs (a KV cache for the transformer) equal teacher forcing; no tensors are left behind', async () => {
    const start = tf.memory().numTensors;
    const net = createNet(spec, new Rng(8));
    const ro = await sampleCompletions(net, shape, prompts, B, new Rng(9));
    const lp = tf.tidy(() => tokenLogProbs(completionOutputs(net, prompts, ro.tokens, B, 6, 4), tf.tensor3d(oneHotTokens(ro.tokens, 14), [B, 4, 14])).logp);
    const forced = await lp.data();
    for (let i = 0; i < B * 4; i++) if (ro.mask[i]) expect(forced[i]).toBeCloseTo(ro.logp[i], 4);
    lp.dispose();
    net.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it("the load-balancing loss joins the optimiser step's loss, as coef x E x sum f_e P_e over its layers", async () => {
    const net = createNet(spec, new Rng(10));
    const stats = net.moeLayers.map(() => newStats(4));
    net.moeLayers.forEach((m, j) => (m.collect = stats[j]));
    const plain = lossOf(net);
    const base = plain.dataSync()[0];
    plain.dispose();
    net.moeLayers.forEach((m) => (m.collect = null));
    const r = await optimiserStep(new Adam(0), net.vars, 0, () => ({ loss: lossOf(net) }));
    const aux = stats.reduce((a, s) => a + moe.balance * routingFigures(s, moe.topK).aux, 0);
    expect(aux).toBeGreaterThan(0);
    expect(r.loss).toBeCloseTo(base + aux, 4);
    expect(auxSink).toHaveLength(0);
    net.dispose();
  });

  it('reports its active and total weights, and FLOPs for the active experts only; the policy-file layout matches', () => {
    const net = createNet(spec, new Rng(11));
    const dense = createNet({ ...spec, moe: undefined }, new Rng(11));
    expect(net.paramCount).toBe(net.vars.reduce((a, v) => a + v.size, 0));
    const inactive = net.moeLayers.reduce((a, m) => a + m.totalParams - m.activeParams, 0);
    expect(net.activeParams).toBe(net.paramCount - inactive);
    expect(inactive).toBeGreaterThan(0);
    expect(net.moeLayers).toHaveLength(spec.kind === 'mlp' ? 2 : 2);
    if (spec.kind === 'transformer') expect(net.flopsPerToken).toBe(transformerFlops(spec));
    else expect(net.flopsPerToken).toBe(dense.flopsPerToken - 2 * 2 * 12 * 12 + net.moeLayers.reduce((a, m) => a + m.activeFlops, 0));
    expect(weightLayout(spec).map((l) => l.shape)).toEqual(net.vars.map((v) => v.shape));
    net.dispose();
    dense.dispose();
  });
});

describe('routing figures', () => {
  it('loads are shares of routed slots; entropy of the mean routing distribution with its maximum ln E; the Switch balance term', () => {
    const f = routingFigures({ load: [6, 2, 0, 0], prob: [2, 1, 0.5, 0.5], tokens: 4 }, 2);
    expect(f.load).toEqual([0.75, 0.25, 0, 0]);
    const mean = [0.5, 0.25, 0.125, 0.125];
    expect(f.entropy).toBeCloseTo(-mean.reduce((a, q) => a + q * Math.log(q), 0), 12);
    expect(f.maxEntropy).toBeCloseTo(Math.log(4), 12);
    expect(f.aux).toBeCloseTo(4 * (0.75 * 0.5 + 0.25 * 0.25), 12);
    // Perfectly balanced routing: the term is exactly 1.
    expect(routingFigures({ load: [2, 2], prob: [1, 1], tokens: 2 }, 2).aux).toBeCloseTo(1, 12);
  });
});

describe('mixtures of experts in runs', () => {
  it('the settings check: no experts for a GRU, top-k at most E, an MLP with experts has 2+ layers', async () => {
    const { decode } = await import('../src/core/config');
    const d = decode('v=1&net=gru&runs=grpo,grpo,grpo&r1.experts=4&r2.net=mlp&r2.experts=2&r2.topK=3&r3.net=mlp&r3.experts=4&r3.layers=1');
    expect(d.problems.map((p) => [p.key, p.used])).toEqual([['r1.experts', '0'], ['r2.topK', '2'], ['r3.layers', '2']]);
    expect(d.config.runs.map((r) => [r.experts, r.topK, r.layers])).toEqual([[0, 2, 0], [2, 2, 0], [4, 2, 2]]);
  });

  it('an eval point reports active and total weights, routing entropy and its maximum, the balance term and every expert load', async () => {
    const { Session } = await import('../src/core/session');
    const { decode } = await import('../src/core/config');
    const s = new Session(decode('v=1&task=sort&sortLen=3&blindSpot=none&steps=4&evalEvery=2&runs=grpo&r1.batch=32&r1.experts=3&r1.topK=1&r1.sharedExperts=1').config);
    await s.trainStep();
    const row = (await s.evaluate()) as Record<string, number>;
    expect(row['moe/total_params']).toBe(s.policy.paramCount);
    expect(row['moe/active_params']).toBe(s.policy.activeParams);
    expect(row['moe/active_params']).toBeLessThan(row['moe/total_params']);
    expect(row['moe/routing_entropy_max']).toBeCloseTo(Math.log(3), 12);
    expect(row['moe/routing_entropy']).toBeGreaterThan(0);
    expect(row['moe/routing_entropy']).toBeLessThanOrEqual(Math.log(3) + 1e-9);
    const loads = [0, 1, 2].map((e) => row[`moe/expert_load/${e}`]);
    expect(loads.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(row['moe/aux_loss']).toBeGreaterThan(0);
    expect(s.info().policyKind).toBe('mlp (3 experts, top-1 + 1 shared)');
    s.dispose();
  });
});
