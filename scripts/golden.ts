/**
 * Golden-vector evaluator: `npm run golden -- FILE`.
 *
 * Reads a file shaped like ../shared/golden/rl-math.json (see its README and `conventions`), takes
 * only the `inputs` sections, computes every `outputs` section with the project's own functions
 * (src/core/math, the ones the trainer calls) and prints conventions + inputs + outputs as JSON on
 * stdout. The printed numbers are the float64 ones; the GRPO losses and d loss / d logp, and the
 * PPO policy and value losses, are also computed through the trainer's tfjs versions
 * (tf-losses.ts, float32, gradient by tf.grad) and must agree with them.
 *
 * Exit codes: 0 ok; 2 missing or malformed file (message on stderr); 1 the tfjs and float64
 * paths disagree (the JSON is still printed; the disagreements go to stderr).
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from './backend';
import {
  gae, grpoLoss, grpoLossTf, groupNormalize, k3, maskedMean, ppoPolicyLoss, ppoPolicyLossTf, ppoTokenRewards,
  ppoTotalLoss, ppoValueLoss, ppoValueLossTf, sequenceMean, whiten,
} from '../src/core/math';

class InputError extends Error {}

type Json = Record<string, unknown>;

/** A [rows][cols] matrix flattened row-major. */
interface Mat { data: Float64Array; n: number; T: number }

function section(obj: Json, key: string): Json {
  const v = obj[key];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InputError(`${key}: expected an object`);
  return v as Json;
}

function num(obj: Json, key: string, where: string): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputError(`${where}.${key}: expected a finite number`);
  return v;
}

function vec(obj: Json, key: string, where: string, len?: number): Float64Array {
  const v = obj[key];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
    throw new InputError(`${where}.${key}: expected an array of finite numbers`);
  }
  if (len !== undefined && v.length !== len) throw new InputError(`${where}.${key}: expected ${len} values, got ${v.length}`);
  return Float64Array.from(v as number[]);
}

function mat(obj: Json, key: string, where: string, n?: number, T?: number): Mat {
  const v = obj[key];
  if (!Array.isArray(v) || v.length === 0) throw new InputError(`${where}.${key}: expected a non-empty array of rows`);
  const rows = v.length;
  const cols = Array.isArray(v[0]) ? v[0].length : -1;
  if (n !== undefined && rows !== n) throw new InputError(`${where}.${key}: expected ${n} rows, got ${rows}`);
  if (T !== undefined && cols !== T) throw new InputError(`${where}.${key}: expected rows of ${T}, got ${cols}`);
  if (cols < 1) throw new InputError(`${where}.${key}: expected non-empty rows`);
  const data = new Float64Array(rows * cols);
  v.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== cols) throw new InputError(`${where}.${key}[${i}]: expected ${cols} values`);
    row.forEach((x, t) => {
      if (typeof x !== 'number' || !Number.isFinite(x)) throw new InputError(`${where}.${key}[${i}][${t}]: expected a finite number`);
      data[i * cols + t] = x;
    });
  });
  return { data, n: rows, T: cols };
}

const rowsOf = (x: ArrayLike<number>, n: number, T: number): number[][] =>
  Array.from({ length: n }, (_, i) => Array.from({ length: T }, (_, t) => x[i * T + t]));

/** Float32 (tfjs) vs float64 agreement; failures are collected and reported together. */
const disagreements: string[] = [];
function agree(name: string, f32: ArrayLike<number>, f64: ArrayLike<number>) {
  for (let k = 0; k < f64.length; k++) {
    if (!(Math.abs(f32[k] - f64[k]) <= 1e-5 + 1e-4 * Math.abs(f64[k]))) {
      disagreements.push(`${name}[${k}]: tfjs ${f32[k]} vs float64 ${f64[k]}`);
      return;
    }
  }
}

async function evalGrpo(inputs: Json): Promise<Json> {
  const where = 'grpo.inputs';
  const G = num(inputs, 'G', where);
  const clipEps = num(inputs, 'clip_eps', where);
  const beta = num(inputs, 'beta', where);
  const advEps = num(inputs, 'adv_eps', where);
  const rewards = vec(inputs, 'rewards', where);
  const n = rewards.length;
  if (!Number.isInteger(G) || G < 1 || n % G !== 0) throw new InputError(`${where}: ${n} rewards do not split into groups of G = ${G}`);
  const mask = mat(inputs, 'mask', where, n);
  const T = mask.T;
  const logp = mat(inputs, 'logp', where, n, T).data;
  const oldLogp = mat(inputs, 'old_logp', where, n, T).data;
  const refLogp = mat(inputs, 'ref_logp', where, n, T).data;
  const maxLen = inputs.max_len === undefined ? T : num(inputs, 'max_len', where);
  const m = mask.data;
  const clip = { clipLow: clipEps, clipHigh: clipEps };

  const adv = groupNormalize(rewards, G, { std: 'sample', eps: advEps });
  const advDr = groupNormalize(rewards, G, { std: 'none' });
  const kl = k3(logp, refLogp);
  const main = grpoLoss(logp, oldLogp, refLogp, adv, m, n, T, { ...clip, beta, agg: 'sequence' });
  const beta0 = grpoLoss(logp, oldLogp, refLogp, adv, m, n, T, { ...clip, beta: 0, agg: 'sequence' });
  const dr = grpoLoss(logp, oldLogp, refLogp, advDr, m, n, T, { ...clip, beta, agg: 'constant', maxLen });

  // The same through the trainer's tfjs losses.
  const ts = tf.tidy(() => {
    const t2 = (x: Float64Array) => tf.tensor2d(Float32Array.from(x), [n, T]);
    const [lp, old, ref, mk] = [t2(logp), t2(oldLogp), t2(refLogp), t2(m)];
    const a = tf.tensor1d(Float32Array.from(adv));
    const aDr = tf.tensor1d(Float32Array.from(advDr));
    const lossOf = (x: tf.Tensor) => grpoLossTf(x, old, ref, a, mk, { ...clip, beta, agg: 'sequence' });
    const l = lossOf(lp);
    return [
      l.loss, l.clipfrac, tf.add(l.clipLowFrac, l.clipHighFrac), l.kl,
      grpoLossTf(lp, old, ref, a, mk, { ...clip, beta: 0, agg: 'sequence' }).loss,
      grpoLossTf(lp, old, ref, aDr, mk, { ...clip, beta, agg: 'constant', maxLen }).loss,
      tf.mul(tf.grad((x: tf.Tensor) => lossOf(x).loss)(lp), mk),
    ];
  });
  const [lossT, clipT, activeT, klT, beta0T, drT, gradT] = await Promise.all(ts.map((t) => t.data()));
  tf.dispose(ts);
  agree('grpo loss', lossT, [main.loss]);
  agree('grpo loss_beta0', beta0T, [beta0.loss]);
  agree('grpo loss_dr_grpo', drT, [dr.loss]);
  agree('grpo grad_loss_wrt_logp', gradT, main.grad);
  agree('grpo clipfrac', clipT, [main.clipfrac]);
  agree('grpo clipfrac_active', activeT, [main.clipfracActive]);
  agree('grpo k3 token mean', klT, [main.kl]);

  const ratio = logp.map((x, k) => Math.exp(x - oldLogp[k]));
  return {
    advantages: Array.from(adv),
    advantages_population_std: Array.from(groupNormalize(rewards, G, { std: 'population', eps: advEps })),
    advantages_dr_grpo: Array.from(advDr),
    ratio: rowsOf(ratio, n, T),
    k3_kl: rowsOf(kl, n, T),
    k3_kl_masked_token_mean: maskedMean(kl, m),
    k3_kl_seq_mean: sequenceMean(kl, m, n, T),
    loss: main.loss,
    loss_beta0: beta0.loss,
    loss_dr_grpo: dr.loss,
    clipfrac: main.clipfrac,
    clipfrac_active: main.clipfracActive,
    grad_loss_wrt_logp: rowsOf(main.grad, n, T),
  };
}

async function evalPpo(inputs: Json): Promise<Json> {
  const where = 'ppo.inputs';
  const finalReward = vec(inputs, 'final_reward', where);
  const B = finalReward.length;
  const mask = mat(inputs, 'mask', where, B);
  const T = mask.T;
  const m = mask.data;
  const [values, oldValues, logp, oldLogp, refLogp] = ['values', 'old_values', 'logp', 'old_logp', 'ref_logp']
    .map((k) => mat(inputs, k, where, B, T).data);
  const [gamma, lam, clipEps, clipVf, vfCoef, klCoef] = ['gamma', 'lam', 'clip_eps', 'clip_vf', 'vf_coef', 'kl_coef']
    .map((k) => num(inputs, k, where));
  const clip = { clipLow: clipEps, clipHigh: clipEps };

  async function variant(name: string, coef: number): Promise<Json> {
    const tokenRewards = ppoTokenRewards(finalReward, m, B, T, { oldLogp, refLogp, klCoef: coef });
    // GAE with the rollout-time critic (old_values), as PPO does.
    const { advantages, returns } = gae(tokenRewards, oldValues, m, B, T, gamma, lam);
    const whitened = whiten(advantages, m);
    const pg = ppoPolicyLoss(logp, oldLogp, advantages, m, clip);
    const pgW = ppoPolicyLoss(logp, oldLogp, whitened, m, clip);
    const vf = ppoValueLoss(values, oldValues, returns, m, { clipVf });

    const ts = tf.tidy(() => {
      const t2 = (x: Float64Array) => tf.tensor2d(Float32Array.from(x), [B, T]);
      const [lp, old, mk] = [t2(logp), t2(oldLogp), t2(m)];
      const p = ppoPolicyLossTf(lp, old, t2(advantages), mk, clip);
      const v = ppoValueLossTf(t2(values), t2(oldValues), t2(returns), mk, { clipVf });
      return [p.loss, ppoPolicyLossTf(lp, old, t2(whitened), mk, clip).loss, v.loss, p.clipfrac, v.vfClipfrac];
    });
    const [pgT, pgWT, vfT, clipT, vfClipT] = await Promise.all(ts.map((t) => t.data()));
    tf.dispose(ts);
    agree(`ppo ${name} pg_loss`, pgT, [pg.loss]);
    agree(`ppo ${name} pg_loss_whitened`, pgWT, [pgW.loss]);
    agree(`ppo ${name} vf_loss`, vfT, [vf.loss]);
    agree(`ppo ${name} clipfrac`, clipT, [pg.clipfrac]);
    agree(`ppo ${name} vf_clipfrac`, vfClipT, [vf.vfClipfrac]);

    return {
      token_rewards: rowsOf(tokenRewards, B, T),
      advantages: rowsOf(advantages, B, T),
      returns: rowsOf(returns, B, T),
      advantages_whitened: rowsOf(whitened, B, T),
      pg_loss: pg.loss,
      vf_loss: vf.loss,
      loss: ppoTotalLoss(pg.loss, vf.loss, vfCoef),
      pg_loss_whitened: pgW.loss,
      loss_whitened: ppoTotalLoss(pgW.loss, vf.loss, vfCoef),
      clipfrac: pg.clipfrac,
      vf_clipfrac: vf.vfClipfrac,
    };
  }

  const noKl = await variant('no_kl', 0);
  const klPenalty = await variant('kl_penalty', klCoef);
  const g = gae(ppoTokenRewards(finalReward, m, B, T), oldValues, m, B, T, 0.9, 0.8);
  return {
    no_kl: noKl,
    kl_penalty: klPenalty,
    'gae_gamma0.9_lam0.8': { advantages: rowsOf(g.advantages, B, T), returns: rowsOf(g.returns, B, T) },
  };
}

async function main() {
  const file = process.argv[2];
  let parsed: Json;
  try {
    if (!file) throw new InputError('usage: npm run golden -- FILE   (a file shaped like ../shared/golden/rl-math.json)');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new InputError(`cannot read ${file}: ${(e as Error).message}`);
    }
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new InputError(`${file} is not JSON: ${(e as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InputError(`${file}: expected a JSON object`);
    if (!('grpo' in parsed) && !('ppo' in parsed)) throw new InputError(`${file}: neither a grpo nor a ppo section`);

    await initBackend();
    const out: Json = { conventions: parsed.conventions ?? 'see ../shared/golden/rl-math.json' };
    for (const [key, evaluate] of [['grpo', evalGrpo], ['ppo', evalPpo]] as const) {
      if (!(key in parsed)) continue;
      const inputs = section(section(parsed, key), 'inputs');
      out[key] = { inputs, outputs: await evaluate(inputs) };
    }
    process.stdout.write(JSON.stringify(out, null, 1) + '\n');
  } catch (e) {
    if (e instanceof InputError) {
      process.stderr.write(`golden: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }
  if (disagreements.length) {
    process.stderr.write(`golden: the tfjs losses disagree with the float64 ones:\n  ${disagreements.join('\n  ')}\n`);
    process.exitCode = 1;
  }
}

await main();
