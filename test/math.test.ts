// RL math (src/core/math) against the golden vectors of an independent PyTorch implementation
// (test/fixtures/README.md), directly and through `scripts/golden.ts`, plus properties.
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../src/core/rng';
import {
  constantLengthMean, explainedVariance, fracRewardZeroStd, gae, groupAllEqual, groupNormalize, grpoLoss, grpoLossTf,
  k3, maskedMean, ppoPolicyLoss, ppoPolicyLossTf, ppoTokenRewards, ppoTotalLoss, ppoValueLoss, ppoValueLossTf,
  rlooAdvantages, sequenceMean, whiten, type LossAgg,
} from '../src/core/math';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FIXTURE = join(ROOT, 'test/fixtures/rl-math.json');
type Json = Record<string, any>;
const golden: Json = JSON.parse(readFileSync(FIXTURE, 'utf8'));
const TOL = 1e-6;

const flat = (rows: number[][]) => Float64Array.from(rows.flat());
const rowsOf = (x: ArrayLike<number>, n: number, T: number) =>
  Array.from({ length: n }, (_, i) => Array.from({ length: T }, (_, t) => x[i * T + t]));

/** Every path where `actual` differs from `expected` (structure, strings, numbers beyond tol). */
function mismatches(actual: unknown, expected: unknown, tol = TOL, path = ''): string[] {
  if (typeof expected === 'number') {
    return typeof actual === 'number' && Math.abs(actual - expected) <= tol ? [] : [`${path}: ${actual} != ${expected}`];
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return [`${path}: shape differs`];
    return expected.flatMap((e, i) => mismatches(actual[i], e, tol, `${path}[${i}]`));
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null) return [`${path}: not an object`];
    const a = actual as Json, e = expected as Json;
    const keys = new Set([...Object.keys(a), ...Object.keys(e)]);
    return [...keys].flatMap((k) => (k in a && k in e ? mismatches(a[k], e[k], tol, `${path}.${k}`) : [`${path}.${k}: missing on one side`]));
  }
  return actual === expected ? [] : [`${path}: ${String(actual)} != ${String(expected)}`];
}

function grpoInputs(inp: Json) {
  const rewards = Float64Array.from(inp.rewards as number[]);
  const n = rewards.length;
  const T = inp.mask[0].length;
  return {
    G: inp.G as number, n, T, rewards, clipEps: inp.clip_eps as number, beta: inp.beta as number,
    advEps: inp.adv_eps as number, maxLen: (inp.max_len ?? T) as number,
    mask: flat(inp.mask), logp: flat(inp.logp), oldLogp: flat(inp.old_logp), refLogp: flat(inp.ref_logp),
  };
}

/** The GRPO outputs section, computed by calling the math functions directly. */
function grpoOutputs(inp: Json) {
  const g = grpoInputs(inp);
  const clip = { clipLow: g.clipEps, clipHigh: g.clipEps };
  const adv = groupNormalize(g.rewards, g.G, { std: 'sample', scale: 'group', eps: g.advEps });
  const advDr = groupNormalize(g.rewards, g.G, { std: 'none' });
  const kl = k3(g.logp, g.refLogp);
  const main = grpoLoss(g.logp, g.oldLogp, g.refLogp, adv, g.mask, g.n, g.T, { ...clip, beta: g.beta, agg: 'sequence' });
  return {
    advantages: Array.from(adv),
    advantages_population_std: Array.from(groupNormalize(g.rewards, g.G, { std: 'population', eps: g.advEps })),
    advantages_dr_grpo: Array.from(advDr),
    ratio: rowsOf(g.logp.map((x, k) => Math.exp(x - g.oldLogp[k])), g.n, g.T),
    k3_kl: rowsOf(kl, g.n, g.T),
    k3_kl_masked_token_mean: maskedMean(kl, g.mask),
    k3_kl_seq_mean: sequenceMean(kl, g.mask, g.n, g.T),
    loss: main.loss,
    loss_beta0: grpoLoss(g.logp, g.oldLogp, g.refLogp, adv, g.mask, g.n, g.T, { ...clip, beta: 0, agg: 'sequence' }).loss,
    loss_dr_grpo: grpoLoss(g.logp, g.oldLogp, g.refLogp, advDr, g.mask, g.n, g.T, { ...clip, beta: g.beta, agg: 'constant', maxLen: g.maxLen }).loss,
    clipfrac: main.clipfrac,
    clipfrac_active: main.clipfracActive,
    grad_loss_wrt_logp: rowsOf(main.grad, g.n, g.T),
  };
}

function ppoInputs(inp: Json) {
  const finalReward = Float64Array.from(inp.final_reward as number[]);
  return {
    B: finalReward.length, T: inp.mask[0].length as number, finalReward,
    mask: flat(inp.mask), values: flat(inp.values), oldValues: flat(inp.old_values),
    logp: flat(inp.logp), oldLogp: flat(inp.old_logp), refLogp: flat(inp.ref_logp),
    gamma: inp.gamma as number, lam: inp.lam as number, clipEps: inp.clip_eps as number,
    clipVf: inp.clip_vf as number, vfCoef: inp.vf_coef as number, klCoef: inp.kl_coef as number,
  };
}

/** The PPO outputs section, computed by calling the math functions directly. */
function ppoOutputs(inp: Json) {
  const p = ppoInputs(inp);
  const clip = { clipLow: p.clipEps, clipHigh: p.clipEps };
  const variant = (klCoef: number) => {
    const tokenRewards = ppoTokenRewards(p.finalReward, p.mask, p.B, p.T, { oldLogp: p.oldLogp, refLogp: p.refLogp, klCoef });
    const { advantages, returns } = gae(tokenRewards, p.oldValues, p.mask, p.B, p.T, p.gamma, p.lam);
    const whitened = whiten(advantages, p.mask);
    const pg = ppoPolicyLoss(p.logp, p.oldLogp, advantages, p.mask, clip);
    const pgW = ppoPolicyLoss(p.logp, p.oldLogp, whitened, p.mask, clip);
    const vf = ppoValueLoss(p.values, p.oldValues, returns, p.mask, { clipVf: p.clipVf });
    return {
      token_rewards: rowsOf(tokenRewards, p.B, p.T),
      advantages: rowsOf(advantages, p.B, p.T),
      returns: rowsOf(returns, p.B, p.T),
      advantages_whitened: rowsOf(whitened, p.B, p.T),
      pg_loss: pg.loss,
      vf_loss: vf.loss,
      loss: ppoTotalLoss(pg.loss, vf.loss, p.vfCoef),
      pg_loss_whitened: pgW.loss,
      loss_whitened: ppoTotalLoss(pgW.loss, vf.loss, p.vfCoef),
      clipfrac: pg.clipfrac,
      vf_clipfrac: vf.vfClipfrac,
    };
  };
  const g = gae(ppoTokenRewards(p.finalReward, p.mask, p.B, p.T), p.oldValues, p.mask, p.B, p.T, 0.9, 0.8);
  return {
    no_kl: variant(0),
    kl_penalty: variant(p.klCoef),
    'gae_gamma0.9_lam0.8': { advantages: rowsOf(g.advantages, p.B, p.T), returns: rowsOf(g.returns, p.B, p.T) },
  };
}

function runGolden(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'scripts/golden.ts', file], { cwd: ROOT, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      // npx may warn about npm config; keep only the evaluator's own messages.
      resolve({ code, stdout, stderr: stderr.split('\n').filter((l) => l && !l.startsWith('npm warn')).join('\n') });
    });
  });
}

/** Contiguous-prefix masks with lengths in [1, T]. */
function randomMask(rng: Rng, n: number, T: number): number[][] {
  return Array.from({ length: n }, () => {
    const len = 1 + rng.int(T);
    return Array.from({ length: T }, (_, t) => (t < len ? 1 : 0));
  });
}
const randomRows = (rng: Rng, n: number, T: number, f: () => number) =>
  Array.from({ length: n }, () => Array.from({ length: T }, f));

/** A golden-shaped input file with other sizes and random values: G = 3, T = 5; B = 5, T = 6. */
function perturbedInput(seed: number): Json {
  const rng = new Rng(seed);
  const logpLike = () => -Math.abs(rng.normal()) - 0.01;
  const n = 9, T = 5, B = 5, Tp = 6;
  const logp = randomRows(rng, n, T, logpLike);
  const rewards = Array.from({ length: n }, (_, i) => (i < 3 ? 0.5 : rng.int(2) + 0.1 * rng.int(3))); // group 0 all equal
  const plogp = randomRows(rng, B, Tp, logpLike);
  return {
    conventions: golden.conventions,
    grpo: {
      inputs: {
        G: 3, clip_eps: 0.2, beta: 0.05, adv_eps: 1e-4, max_len: T, rewards, mask: randomMask(rng, n, T), logp,
        old_logp: logp.map((r) => r.map((x) => x + 0.3 * rng.normal())),
        ref_logp: logp.map((r) => r.map((x) => x + 0.5 * rng.normal())),
      },
    },
    ppo: {
      inputs: {
        final_reward: Array.from({ length: B }, () => rng.int(2)), mask: randomMask(rng, B, Tp),
        values: randomRows(rng, B, Tp, () => rng.next()), old_values: randomRows(rng, B, Tp, () => rng.next()),
        logp: plogp, old_logp: plogp.map((r) => r.map((x) => x + 0.3 * rng.normal())),
        ref_logp: plogp.map((r) => r.map((x) => x + 0.3 * rng.normal())),
        gamma: 0.99, lam: 0.9, clip_eps: 0.1, clip_vf: 0.1, vf_coef: 0.25, kl_coef: 0.05,
      },
    },
  };
}

/** The shape of a JSON value: numbers -> 'n', arrays -> their elements' shapes. */
function shapeOf(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(shapeOf);
  if (typeof x === 'number') return Number.isFinite(x) ? 'n' : `not finite: ${x}`;
  if (typeof x === 'object' && x !== null) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, shapeOf(v)]));
  return typeof x;
}

describe('golden vectors, direct calls', () => {
  it('GRPO: every output to 1e-6', () => {
    expect(mismatches(grpoOutputs(golden.grpo.inputs), golden.grpo.outputs)).toEqual([]);
  });

  it('PPO: every output to 1e-6', () => {
    expect(mismatches(ppoOutputs(golden.ppo.inputs), golden.ppo.outputs)).toEqual([]);
  });

  it('the tfjs losses and tf.grad agree with the golden numbers (float32)', async () => {
    const g = grpoInputs(golden.grpo.inputs);
    const o = golden.grpo.outputs;
    const clip = { clipLow: g.clipEps, clipHigh: g.clipEps };
    const t2 = (x: Float64Array, n: number, T: number) => tf.tensor2d(Float32Array.from(x), [n, T]);
    const ts = tf.tidy(() => {
      const [lp, old, ref, mk] = [g.logp, g.oldLogp, g.refLogp, g.mask].map((x) => t2(x, g.n, g.T));
      const adv = tf.tensor1d(o.advantages);
      const lossOf = (x: tf.Tensor) => grpoLossTf(x, old, ref, adv, mk, { ...clip, beta: g.beta, agg: 'sequence' });
      const l = lossOf(lp);
      return [
        l.loss, l.clipfrac, tf.add(l.clipLowFrac, l.clipHighFrac), l.kl,
        grpoLossTf(lp, old, ref, adv, mk, { ...clip, beta: 0, agg: 'sequence' }).loss,
        grpoLossTf(lp, old, ref, tf.tensor1d(o.advantages_dr_grpo), mk, { ...clip, beta: g.beta, agg: 'constant', maxLen: g.maxLen }).loss,
        tf.mul(tf.grad((x: tf.Tensor) => lossOf(x).loss)(lp), mk),
      ];
    });
    const [loss, clipfrac, active, kl, beta0, dr, grad] = (await Promise.all(ts.map((t) => t.data()))).map((d) => Array.from(d));
    tf.dispose(ts);
    const tf32 = 1e-6; // float32 rounding on O(1) numbers
    expect(mismatches(
      { loss: loss[0], loss_beta0: beta0[0], loss_dr_grpo: dr[0], clipfrac: clipfrac[0], clipfrac_active: active[0], kl: kl[0], grad: rowsOf(grad, g.n, g.T) },
      { loss: o.loss, loss_beta0: o.loss_beta0, loss_dr_grpo: o.loss_dr_grpo, clipfrac: o.clipfrac, clipfrac_active: o.clipfrac_active, kl: o.k3_kl_masked_token_mean, grad: o.grad_loss_wrt_logp },
      tf32,
    )).toEqual([]);

    const p = ppoInputs(golden.ppo.inputs);
    for (const key of ['no_kl', 'kl_penalty'] as const) {
      const e = golden.ppo.outputs[key];
      const pts = tf.tidy(() => {
        const [lp, old, mk, v, oldV] = [p.logp, p.oldLogp, p.mask, p.values, p.oldValues].map((x) => t2(x, p.B, p.T));
        const pg = ppoPolicyLossTf(lp, old, t2(flat(e.advantages), p.B, p.T), mk, { clipLow: p.clipEps, clipHigh: p.clipEps });
        const pgW = ppoPolicyLossTf(lp, old, t2(flat(e.advantages_whitened), p.B, p.T), mk, { clipLow: p.clipEps, clipHigh: p.clipEps });
        const vf = ppoValueLossTf(v, oldV, t2(flat(e.returns), p.B, p.T), mk, { clipVf: p.clipVf });
        return [pg.loss, pgW.loss, vf.loss, pg.clipfrac, vf.vfClipfrac];
      });
      const got = (await Promise.all(pts.map((t) => t.data()))).map((d) => d[0]);
      tf.dispose(pts);
      expect(mismatches(got, [e.pg_loss, e.pg_loss_whitened, e.vf_loss, e.clipfrac, e.vf_clipfrac], tf32)).toEqual([]);
    }
  });
});

describe('golden CLI (scripts/golden.ts)', () => {
  it('reproduces the fixture, conventions and inputs included', async () => {
    const r = await runGolden(FIXTURE);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(mismatches(JSON.parse(r.stdout), golden)).toEqual([]);
  });

  it('runs on other sizes and values, shape-consistent and equal to direct calls', async () => {
    const input = perturbedInput(11);
    const file = join(mkdtempSync(join(tmpdir(), 'golden-')), 'perturbed.json');
    writeFileSync(file, JSON.stringify(input));
    const r = await runGolden(file);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(mismatches(out.grpo.inputs, input.grpo.inputs, 0)).toEqual([]);
    expect(mismatches(out.ppo.inputs, input.ppo.inputs, 0)).toEqual([]);
    // Same keys as the fixture; [n] and [n][T] entries shaped like this file's inputs.
    const [n, T] = [9, 5];
    const vecN = Array(n).fill('n');
    const matNT = Array(n).fill(Array(T).fill('n'));
    expect(shapeOf(out.grpo.outputs)).toEqual({
      advantages: vecN, advantages_population_std: vecN, advantages_dr_grpo: vecN, ratio: matNT, k3_kl: matNT,
      k3_kl_masked_token_mean: 'n', k3_kl_seq_mean: 'n', loss: 'n', loss_beta0: 'n', loss_dr_grpo: 'n',
      clipfrac: 'n', clipfrac_active: 'n', grad_loss_wrt_logp: matNT,
    });
    const matBT = Array(5).fill(Array(6).fill('n'));
    const ppoShape = {
      token_rewards: matBT, advantages: matBT, returns: matBT, advantages_whitened: matBT, pg_loss: 'n', vf_loss: 'n',
      loss: 'n', pg_loss_whitened: 'n', loss_whitened: 'n', clipfrac: 'n', vf_clipfrac: 'n',
    };
    expect(shapeOf(out.ppo.outputs)).toEqual({
      no_kl: ppoShape, kl_penalty: ppoShape, 'gae_gamma0.9_lam0.8': { advantages: matBT, returns: matBT },
    });
    expect(mismatches(out.grpo.outputs, grpoOutputs(input.grpo.inputs), 1e-12)).toEqual([]);
    expect(mismatches(out.ppo.outputs, ppoOutputs(input.ppo.inputs), 1e-12)).toEqual([]);
    expect(out.grpo.outputs.advantages.slice(0, 3)).toEqual([0, 0, 0]); // the all-equal group
  });

  it('exits 2 with a message on a missing or malformed file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'golden-'));
    const missing = await runGolden(join(dir, 'nope.json'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read/);

    const bad = perturbedInput(3);
    bad.grpo.inputs.rewards.pop(); // 8 rewards, G = 3
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify(bad));
    const r = await runGolden(file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/groups of G = 3/);
    expect(r.stdout).toBe('');
  });
});

describe('advantages', () => {
  it('a group whose rewards are all equal gets exactly 0, in every variant', () => {
    const r = [0.1, 0.1, 0.1, 1, 0, 1, 0.3, 0.3, 0.3];
    for (const std of ['sample', 'population', 'none'] as const) {
      for (const scale of ['group', 'batch'] as const) {
        const a = groupNormalize(r, 3, { std, scale });
        expect(Array.from(a.subarray(0, 3))).toEqual([0, 0, 0]);
        expect(Array.from(a.subarray(6, 9))).toEqual([0, 0, 0]);
        expect(a[3]).toBeGreaterThan(0);
      }
    }
    expect(groupAllEqual(r, 3)).toEqual([true, false, true]);
    expect(fracRewardZeroStd(r, 3)).toBeCloseTo(2 / 3, 15);
    expect(Array.from(rlooAdvantages(r, 3).subarray(0, 3)).every((x) => Math.abs(x) < 1e-15)).toBe(true);
  });

  it('batch scale divides the group-centred rewards by the std of the whole batch', () => {
    const r = [1, 0, 0, 0, 1, 1];
    const batchSampleStd = Math.sqrt((3 * 0.25 + 3 * 0.25) / 5); // mean 0.5
    const a = groupNormalize(r, 3, { std: 'sample', scale: 'batch', eps: 0 });
    expect(a[0]).toBeCloseTo((1 - 1 / 3) / batchSampleStd, 12);
    expect(a[3]).toBeCloseTo((0 - 2 / 3) / batchSampleStd, 12);
    const pop = groupNormalize(r, 3, { std: 'population', scale: 'batch', eps: 0 });
    expect(pop[0]).toBeCloseTo((1 - 1 / 3) / 0.5, 12);
  });

  it('RLOO: the baseline is the mean of the other samples, = G/(G-1) x the Dr. GRPO advantage', () => {
    const r = [1, 0, 0, 0.5];
    expect(Array.from(rlooAdvantages(r, 4))).toEqual([1 - 0.5 / 3, -1.5 / 3, -1.5 / 3, 0.5 - 1 / 3]);
    const rng = new Rng(5);
    const rr = Array.from({ length: 12 }, () => rng.next());
    const dr = groupNormalize(rr, 6, { std: 'none' });
    rlooAdvantages(rr, 6).forEach((a, i) => expect(a).toBeCloseTo((6 / 5) * dr[i], 12));
  });

  it('rejects rewards that do not split into groups', () => {
    expect(() => groupNormalize([1, 2, 3], 2)).toThrow(RangeError);
    expect(() => rlooAdvantages([1, 2, 3], 2)).toThrow(RangeError);
  });
});

describe('KL and masked means', () => {
  it('k3 >= 0, and 0 exactly when the policies agree', () => {
    const rng = new Rng(9);
    const a = Array.from({ length: 1000 }, () => 3 * rng.normal());
    const b = Array.from({ length: 1000 }, () => 3 * rng.normal());
    expect(Math.min(...k3(a, b))).toBeGreaterThanOrEqual(0);
    expect(Array.from(k3(a, a)).every((x) => x === 0)).toBe(true);
  });

  it('token, sequence and constant-length means weigh tokens differently', () => {
    // Row 0 has 1 valid token (value 4), row 1 has 3 (values 1, 1, 1); T = 4.
    const x = [4, 9, 9, 9, 1, 1, 1, 9];
    const m = [1, 0, 0, 0, 1, 1, 1, 0];
    expect(maskedMean(x, m)).toBeCloseTo(7 / 4, 15);
    expect(sequenceMean(x, m, 2, 4)).toBeCloseTo((4 + 1) / 2, 15);
    expect(constantLengthMean(x, m, 2, 4)).toBeCloseTo((4 / 4 + 3 / 4) / 2, 15);
    expect(maskedMean(x, [0, 0, 0, 0, 0, 0, 0, 0])).toBe(0);
  });
});

describe('GRPO loss', () => {
  function randomBatch(seed: number, n: number, T: number) {
    const rng = new Rng(seed);
    const mask = Float64Array.from(randomMask(rng, n, T).flat());
    const logp = Float64Array.from({ length: n * T }, () => -Math.abs(rng.normal()) - 0.01);
    const oldLogp = logp.map((x) => x + 0.3 * rng.normal());
    const refLogp = logp.map((x) => x + 0.5 * rng.normal());
    const adv = Float64Array.from({ length: n }, () => rng.normal());
    return { mask, logp, oldLogp, refLogp, adv };
  }
  const opts = (agg: LossAgg) => ({ clipLow: 0.2, clipHigh: 0.28, beta: 0.1, agg, maxLen: 6 });

  it('analytic d loss / d logp matches central differences, for every aggregation', () => {
    const [n, T] = [6, 5];
    const b = randomBatch(21, n, T);
    for (const agg of ['sequence', 'constant', 'token'] as const) {
      const { grad } = grpoLoss(b.logp, b.oldLogp, b.refLogp, b.adv, b.mask, n, T, opts(agg));
      const h = 1e-6;
      for (let k = 0; k < n * T; k++) {
        const up = b.logp.slice(), dn = b.logp.slice();
        up[k] += h;
        dn[k] -= h;
        const fd = (grpoLoss(up, b.oldLogp, b.refLogp, b.adv, b.mask, n, T, opts(agg)).loss
          - grpoLoss(dn, b.oldLogp, b.refLogp, b.adv, b.mask, n, T, opts(agg)).loss) / (2 * h);
        expect(Math.abs(grad[k] - fd)).toBeLessThan(1e-7);
      }
    }
  });

  it('the tfjs loss and tf.grad agree with float64 for every aggregation and asymmetric clipping', async () => {
    const [n, T] = [8, 6];
    const b = randomBatch(22, n, T);
    for (const agg of ['sequence', 'constant', 'token'] as const) {
      const ref = grpoLoss(b.logp, b.oldLogp, b.refLogp, b.adv, b.mask, n, T, opts(agg));
      expect(ref.clipLowFrac + ref.clipHighFrac).toBeGreaterThan(0); // the clip is exercised
      const ts = tf.tidy(() => {
        const [lp, old, rf, mk] = [b.logp, b.oldLogp, b.refLogp, b.mask].map((x) => tf.tensor2d(Float32Array.from(x), [n, T]));
        const adv = tf.tensor1d(Float32Array.from(b.adv));
        const lossOf = (x: tf.Tensor) => grpoLossTf(x, old, rf, adv, mk, opts(agg));
        const l = lossOf(lp);
        return [l.loss, l.clipfrac, l.clipLowFrac, l.clipHighFrac, l.kl, tf.grad((x: tf.Tensor) => lossOf(x).loss)(lp)];
      });
      const [loss, clipfrac, low, high, kl, grad] = (await Promise.all(ts.map((t) => t.data()))).map((d) => Array.from(d));
      tf.dispose(ts);
      expect(mismatches(
        [loss[0], clipfrac[0], low[0], high[0], kl[0], ...grad],
        [ref.loss, ref.clipfrac, ref.clipLowFrac, ref.clipHighFrac, ref.kl, ...ref.grad.map((g, k) => (b.mask[k] ? g : 0))],
        1e-5,
      )).toEqual([]);
    }
  });

  it('without a reference policy the KL term is dropped', () => {
    const b = randomBatch(23, 4, 3);
    const withRef = grpoLoss(b.logp, b.oldLogp, b.refLogp, b.adv, b.mask, 4, 3, { ...opts('token'), beta: 0 });
    const noRef = grpoLoss(b.logp, b.oldLogp, null, b.adv, b.mask, 4, 3, opts('token'));
    expect(noRef.loss).toBeCloseTo(withRef.loss, 15);
    expect(noRef.kl).toBe(0);
  });

  it('the tfjs losses leave no tensors behind inside a tidy', () => {
    const b = randomBatch(24, 4, 3);
    const run = () => tf.tidy(() => {
      const [lp, old, rf, mk] = [b.logp, b.oldLogp, b.refLogp, b.mask].map((x) => tf.tensor2d(Float32Array.from(x), [4, 3]));
      const g = tf.grad((x: tf.Tensor) => grpoLossTf(x, old, rf, tf.tensor1d(Float32Array.from(b.adv)), mk, opts('sequence')).loss)(lp);
      ppoPolicyLossTf(lp, old, mk, mk, { clipLow: 0.2, clipHigh: 0.2 });
      ppoValueLossTf(lp, old, rf, mk, { clipVf: 0.2 });
      return g;
    }).dispose();
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) run();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('PPO pieces', () => {
  it('token rewards: the reward on the last valid token, the KL penalty on every valid one', () => {
    const mask = [1, 1, 0, 1, 1, 1];
    expect(Array.from(ppoTokenRewards([2, 3], mask, 2, 3))).toEqual([0, 2, 0, 0, 0, 3]);
    const kl = ppoTokenRewards([2, 3], mask, 2, 3, { oldLogp: [-1, -1, -1, -1, -1, -1], refLogp: [-2, -2, -2, -2, -2, -2], klCoef: 0.5 });
    expect(Array.from(kl)).toEqual([-0.5, 1.5, 0, -0.5, -0.5, 2.5]);
  });

  it('GAE with gamma = lambda = 1: returns are the sums of future rewards, whatever the values', () => {
    const rng = new Rng(31);
    const [n, T] = [7, 6];
    const mask = Float64Array.from(randomMask(rng, n, T).flat());
    const rewards = Float64Array.from({ length: n * T }, (_, k) => (mask[k] ? rng.normal() : 0));
    const values = Float64Array.from({ length: n * T }, () => rng.normal());
    const { advantages, returns } = gae(rewards, values, mask, n, T, 1, 1);
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < T; t++) {
        const k = i * T + t;
        let future = 0;
        for (let s = t; s < T; s++) future += rewards[i * T + s] * mask[i * T + s];
        expect(returns[k]).toBeCloseTo(mask[k] ? future : 0, 12);
        if (!mask[k]) expect(advantages[k] === 0).toBe(true); // -0 allowed, as in torch
      }
    }
  });

  it('GAE with lambda = 0 is the one-step TD error', () => {
    const { advantages } = gae([0, 1], [0.5, 0.25], [1, 1], 1, 2, 0.9, 0);
    expect(advantages[0]).toBeCloseTo(0 + 0.9 * 0.25 - 0.5, 15);
    expect(advantages[1]).toBeCloseTo(1 - 0.25, 15);
  });

  it('whitening gives masked mean 0 and masked variance 1, and 0 on padding', () => {
    const rng = new Rng(41);
    const mask = Float64Array.from(randomMask(rng, 6, 5).flat());
    const x = Float64Array.from({ length: 30 }, () => 3 + 2 * rng.normal());
    const w = whiten(x, mask);
    expect(Math.abs(maskedMean(w, mask))).toBeLessThan(1e-12);
    expect(maskedMean(w.map((v) => v * v), mask)).toBeCloseTo(1, 6);
    w.forEach((v, k) => { if (!mask[k]) expect(v).toBe(0); });
  });

  it('explained variance: 1 for a perfect critic, 0 for a constant one, NaN for constant returns', () => {
    const mask = [1, 1, 1, 0];
    const returns = [1, 2, 4, 100];
    expect(explainedVariance(returns, returns, mask)).toBe(1);
    expect(explainedVariance([5, 5, 5, 5], returns, mask)).toBeCloseTo(0, 12);
    expect(explainedVariance([0, 1, 2, 3], [2, 2, 2, 7], mask)).toBeNaN();
  });

  it('value loss clips the value update around the old values', () => {
    // V moved from 0 to 1 with clipVf 0.2, target 1: the clipped error (0.2 - 1)^2 = 0.64 wins.
    const r = ppoValueLoss([1], [0], [1], [1], { clipVf: 0.2 });
    expect(r.loss).toBeCloseTo(0.5 * 0.64, 15);
    expect(r.vfClipfrac).toBe(1);
    const within = ppoValueLoss([0.1], [0], [1], [1], { clipVf: 0.2 });
    expect(within.loss).toBeCloseTo(0.5 * 0.81, 15);
    expect(within.vfClipfrac).toBe(0);
  });
});
