/**
 * The clipped policy objectives of GRPO and PPO and the clipped value loss, in float64 over
 * row-major [n * T] arrays. These are the reference numbers: the trainer computes the same
 * quantities with tfjs ops for gradients (tf-losses.ts), and `npm run golden` checks both agree.
 *
 * Notation: rho_it = pi(o_it) / pi_old(o_it) = exp(logp - oldLogp); clip(rho) clamps it to
 * [1 - clipLow, 1 + clipHigh] (clipLow = clipHigh = epsilon in PPO/GRPO; DAPO's clip-higher
 * raises clipHigh, Yu et al. 2025 section 3.1).
 */
import { k3Token } from './kl';
import { checkLength, maskedMean, sequenceLengths } from './masked';
import { exp } from './libm';

/** How per-token terms become one number; see masked.ts for the three normalisers. */
export type LossAgg = 'sequence' | 'constant' | 'token';

export interface ClipOpts {
  /** The ratio is clipped below at 1 - clipLow. */
  clipLow: number;
  /** The ratio is clipped above at 1 + clipHigh. */
  clipHigh: number;
}

export interface GrpoLossOpts extends ClipOpts {
  /** Weight of the k3 KL penalty to the reference policy (ignored without refLogp). */
  beta: number;
  /** 'sequence' (GRPO), 'constant' (Dr. GRPO) or 'token' (DAPO). */
  agg: LossAgg;
  /** Normaliser of 'constant' aggregation; defaults to T. */
  maxLen?: number;
}

/** Clip diagnostics, each a masked token mean of an indicator. */
export interface ClipStats {
  /** Share of tokens whose ratio is outside the clip range: rho < 1 - clipLow or rho > 1 + clipHigh. */
  clipfrac: number;
  /** clip_ratio/low_mean (TRL): rho < 1 - clipLow and A < 0, the gradient is cut. */
  clipLowFrac: number;
  /** clip_ratio/high_mean (TRL): rho > 1 + clipHigh and A > 0, the gradient is cut. */
  clipHighFrac: number;
  /** clipLowFrac + clipHighFrac: all tokens whose gradient the clip cuts. */
  clipfracActive: number;
}

export interface GrpoLossResult extends ClipStats {
  /** The negated objective, to be minimised. */
  loss: number;
  /** d loss / d logp, [n * T], 0 on padding. */
  grad: Float64Array;
  /** Masked token mean of k3 (0 without refLogp). */
  kl: number;
}

/** One token's clipped surrogate min(rho A, clip(rho) A), its d/d logp, and the clip flags. */
function clippedSurrogate(logp: number, oldLogp: number, A: number, o: ClipOpts) {
  const rho = exp(logp - oldLogp);
  const clipped = Math.min(Math.max(rho, 1 - o.clipLow), 1 + o.clipHigh);
  const surr = Math.min(rho * A, clipped * A);
  const outside = rho - 1 > o.clipHigh || 1 - rho > o.clipLow;
  const low = rho < 1 - o.clipLow && A < 0;
  const high = rho > 1 + o.clipHigh && A > 0;
  // d(rho A)/d logp = rho A; where the clipped branch is the smaller one it is constant in logp.
  const dSurr = low || high ? 0 : rho * A;
  return { rho, surr, dSurr, outside, low, high };
}

/**
 * GRPO loss (Shao et al. 2024, DeepSeekMath eq. 3), negated for minimisation:
 *     L = -agg_it [ min(rho_it A_i, clip(rho_it) A_i) - beta * k3_it ]
 * with one advantage A_i per completion ([n]), k3 from kl.ts, and agg the mask-weighted average
 * 'sequence' (1/|o_i| then mean over i; GRPO), 'constant' (1/maxLen then mean over i; Dr. GRPO,
 * Liu et al. 2025) or 'token' (sum over valid tokens / their count; DAPO, Yu et al. 2025).
 * Also returns the analytic gradient with respect to logp (rho A unless the clip is active, minus
 * beta * (1 - exp(ref - logp)), times -weight) and the clip diagnostics.
 */
export function grpoLoss(
  logp: ArrayLike<number>, oldLogp: ArrayLike<number>, refLogp: ArrayLike<number> | null,
  adv: ArrayLike<number>, mask: ArrayLike<number>, n: number, T: number, opts: GrpoLossOpts,
): GrpoLossResult {
  checkLength('logp', logp, n * T);
  checkLength('oldLogp', oldLogp, n * T);
  if (refLogp) checkLength('refLogp', refLogp, n * T);
  checkLength('adv', adv, n);
  const len = sequenceLengths(mask, n, T);
  const total = len.reduce((s, l) => s + l, 0);
  const maxLen = opts.maxLen ?? T;
  const beta = refLogp ? opts.beta : 0;
  // The weight of token (i, t) in the average, times its mask value.
  const rowWeight = (i: number) =>
    opts.agg === 'sequence' ? 1 / (n * Math.max(len[i], 1)) : opts.agg === 'constant' ? 1 / (n * maxLen) : 1 / Math.max(total, 1);

  const grad = new Float64Array(n * T);
  let loss = 0;
  let outside = 0, low = 0, high = 0, kl = 0;
  for (let i = 0; i < n; i++) {
    const w = rowWeight(i);
    for (let t = 0; t < T; t++) {
      const k = i * T + t;
      const m = mask[k];
      if (m === 0) continue;
      const s = clippedSurrogate(logp[k], oldLogp[k], adv[i], opts);
      const klTok = refLogp ? k3Token(logp[k], refLogp[k]) : 0;
      const dKl = refLogp ? 1 - exp(refLogp[k] - logp[k]) : 0; // d k3 / d logp
      loss -= w * m * (s.surr - beta * klTok);
      grad[k] = -w * m * (s.dSurr - beta * dKl);
      outside += m * +s.outside;
      low += m * +s.low;
      high += m * +s.high;
      kl += m * klTok;
    }
  }
  const c = Math.max(total, 1);
  return {
    loss, grad, kl: kl / c,
    clipfrac: outside / c, clipLowFrac: low / c, clipHighFrac: high / c, clipfracActive: (low + high) / c,
  };
}

export interface PpoPolicyLossResult extends ClipStats {
  /** Masked token mean of max(-A rho, -A clip(rho)). */
  loss: number;
}

/**
 * PPO clipped policy loss (Schulman et al. 2017, eq. 7), per token with per-token advantages
 * adv [n * T], negated and averaged over valid tokens:
 *     L = maskedMean( max(-A rho, -A clip(rho)) ).
 */
export function ppoPolicyLoss(
  logp: ArrayLike<number>, oldLogp: ArrayLike<number>, adv: ArrayLike<number>, mask: ArrayLike<number>, opts: ClipOpts,
): PpoPolicyLossResult {
  const N = mask.length;
  checkLength('logp', logp, N);
  checkLength('oldLogp', oldLogp, N);
  checkLength('adv', adv, N);
  const perTok = new Float64Array(N);
  const outside = new Float64Array(N), low = new Float64Array(N), high = new Float64Array(N);
  for (let k = 0; k < N; k++) {
    if (mask[k] === 0) continue;
    const s = clippedSurrogate(logp[k], oldLogp[k], adv[k], opts);
    perTok[k] = -s.surr; // max(-x, -y) = -min(x, y)
    outside[k] = +s.outside;
    low[k] = +s.low;
    high[k] = +s.high;
  }
  const clipLowFrac = maskedMean(low, mask);
  const clipHighFrac = maskedMean(high, mask);
  return {
    loss: maskedMean(perTok, mask),
    clipfrac: maskedMean(outside, mask), clipLowFrac, clipHighFrac, clipfracActive: clipLowFrac + clipHighFrac,
  };
}

/**
 * Clipped value loss (PPO as in OpenAI baselines / TRL; the value term of Schulman et al. 2017
 * eq. 9), all [n * T]:
 *     V_clip = V_old + clip(V - V_old, -clipVf, clipVf)
 *     L_V = 0.5 * maskedMean( max((V - R)^2, (V_clip - R)^2) )
 * vfClipfrac is the masked share of tokens where the clipped error is the larger one.
 */
export function ppoValueLoss(
  values: ArrayLike<number>, oldValues: ArrayLike<number>, returns: ArrayLike<number>, mask: ArrayLike<number>,
  opts: { clipVf: number },
): { loss: number; vfClipfrac: number } {
  const N = mask.length;
  checkLength('values', values, N);
  checkLength('oldValues', oldValues, N);
  checkLength('returns', returns, N);
  const perTok = new Float64Array(N);
  const clipped = new Float64Array(N);
  for (let k = 0; k < N; k++) {
    if (mask[k] === 0) continue;
    const vClip = oldValues[k] + Math.min(Math.max(values[k] - oldValues[k], -opts.clipVf), opts.clipVf);
    const e1 = (values[k] - returns[k]) ** 2;
    const e2 = (vClip - returns[k]) ** 2;
    perTok[k] = Math.max(e1, e2);
    clipped[k] = +(e2 > e1);
  }
  return { loss: 0.5 * maskedMean(perTok, mask), vfClipfrac: maskedMean(clipped, mask) };
}

/** PPO total loss (Schulman et al. 2017, eq. 9 without the entropy bonus): pg + vfCoef * vf. */
export function ppoTotalLoss(pgLoss: number, vfLoss: number, vfCoef: number): number {
  return pgLoss + vfCoef * vfLoss;
}
