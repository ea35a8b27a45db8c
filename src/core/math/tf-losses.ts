/**
 * The same losses as losses.ts, written with tfjs ops so the trainer can differentiate them.
 * Inputs are tensors of shape [n, T] (mask: 1 valid, 0 padding), except the GRPO advantages,
 * one per completion: [n]. Only elementwise ops and reductions (no gather, no matMul), which all
 * have gradients on the wasm backend. `npm run golden` checks these against the float64 versions.
 *
 * Gradients at ties: tf.minimum / tf.maximum send the gradient of a tie to their first argument,
 * so the unclipped term goes first; inside the clip range both terms are equal and the gradient
 * is rho * A, as in the float64 analytic gradient.
 */
import * as tf from '@tensorflow/tfjs';
import type { ClipOpts, GrpoLossOpts } from './losses';

/** sum(x * mask) / max(sum(mask), 1), a scalar. */
export function maskedMeanTf(x: tf.Tensor, mask: tf.Tensor): tf.Scalar {
  return tf.div(tf.sum(tf.mul(x, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
}

/** k3 per token: exp(ref - logp) - (ref - logp) - 1 (see kl.ts). */
export function k3Tf(logp: tf.Tensor, refLogp: tf.Tensor): tf.Tensor {
  const d = tf.sub(refLogp, logp);
  return tf.sub(tf.sub(tf.exp(d), d), 1);
}

/** Clipped surrogate min(rho A, clip(rho) A) per token and the clip indicators (float 0/1). */
function clippedSurrogateTf(logp: tf.Tensor, oldLogp: tf.Tensor, adv: tf.Tensor, o: ClipOpts) {
  const rho = tf.exp(tf.sub(logp, oldLogp)); // [n, T]
  const clipped = tf.clipByValue(rho, 1 - o.clipLow, 1 + o.clipHigh);
  const surr = tf.minimum(tf.mul(rho, adv), tf.mul(clipped, adv));
  const above = tf.greater(tf.sub(rho, 1), o.clipHigh);
  const below = tf.greater(tf.sub(1, rho), o.clipLow);
  const outside = tf.cast(tf.logicalOr(above, below), 'float32');
  const low = tf.cast(tf.logicalAnd(tf.less(rho, 1 - o.clipLow), tf.less(adv, 0)), 'float32');
  const high = tf.cast(tf.logicalAnd(tf.greater(rho, 1 + o.clipHigh), tf.greater(adv, 0)), 'float32');
  return { surr, outside, low, high };
}

export interface TfClipStats {
  /** Masked share of tokens with rho outside [1 - clipLow, 1 + clipHigh]. */
  clipfrac: tf.Scalar;
  /** clip_ratio/low_mean: rho < 1 - clipLow and A < 0. */
  clipLowFrac: tf.Scalar;
  /** clip_ratio/high_mean: rho > 1 + clipHigh and A > 0. */
  clipHighFrac: tf.Scalar;
}

/**
 * GRPO loss (DeepSeekMath eq. 3, negated), see grpoLoss in losses.ts:
 *     L = -agg_it [ min(rho A_i, clip(rho) A_i) - beta k3_it ]
 * logp carries the gradient; oldLogp, refLogp ([n, T], refLogp null = no KL term) and adv ([n])
 * are constants. Returns the scalar loss, the clip diagnostics and kl, the masked token mean of
 * k3 (0 without refLogp). Call inside a tidy / variableGrads.
 */
export function grpoLossTf(
  logp: tf.Tensor, oldLogp: tf.Tensor, refLogp: tf.Tensor | null, adv: tf.Tensor, mask: tf.Tensor, opts: GrpoLossOpts,
): TfClipStats & { loss: tf.Scalar; kl: tf.Scalar } {
  const [n, T] = logp.shape;
  const A = tf.reshape(adv, [n, 1]); // [n, 1], broadcast over tokens
  const s = clippedSurrogateTf(logp, oldLogp, A, opts);
  const klTok = refLogp ? k3Tf(logp, refLogp) : null; // [n, T]
  const perTok = klTok && opts.beta !== 0 ? tf.sub(s.surr, tf.mul(klTok, opts.beta)) : s.surr;
  const masked = tf.mul(perTok, mask);
  let objective: tf.Scalar;
  if (opts.agg === 'token') {
    objective = tf.div(tf.sum(masked), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  } else {
    const denom = opts.agg === 'sequence' ? tf.maximum(tf.sum(mask, 1), 1) : tf.scalar(opts.maxLen ?? T); // [n] or []
    objective = tf.mean(tf.div(tf.sum(masked, 1), denom)) as tf.Scalar;
  }
  return {
    loss: tf.neg(objective),
    kl: klTok ? maskedMeanTf(klTok, mask) : tf.scalar(0),
    clipfrac: maskedMeanTf(s.outside, mask),
    clipLowFrac: maskedMeanTf(s.low, mask),
    clipHighFrac: maskedMeanTf(s.high, mask),
  };
}

/**
 * PPO clipped policy loss (Schulman et al. 2017, eq. 7), see ppoPolicyLoss in losses.ts:
 *     L = maskedMean( max(-A rho, -A clip(rho)) )
 * with per-token advantages adv [n, T].
 */
export function ppoPolicyLossTf(
  logp: tf.Tensor, oldLogp: tf.Tensor, adv: tf.Tensor, mask: tf.Tensor, opts: ClipOpts,
): TfClipStats & { loss: tf.Scalar } {
  const s = clippedSurrogateTf(logp, oldLogp, adv, opts);
  return {
    loss: maskedMeanTf(tf.neg(s.surr), mask),
    clipfrac: maskedMeanTf(s.outside, mask),
    clipLowFrac: maskedMeanTf(s.low, mask),
    clipHighFrac: maskedMeanTf(s.high, mask),
  };
}

/**
 * Clipped value loss, see ppoValueLoss in losses.ts:
 *     L_V = 0.5 * maskedMean( max((V - R)^2, (V_old + clip(V - V_old, +-clipVf) - R)^2) )
 * values carries the gradient; oldValues and returns are constants. All [n, T].
 */
export function ppoValueLossTf(
  values: tf.Tensor, oldValues: tf.Tensor, returns: tf.Tensor, mask: tf.Tensor, opts: { clipVf: number },
): { loss: tf.Scalar; vfClipfrac: tf.Scalar } {
  const vClip = tf.add(oldValues, tf.clipByValue(tf.sub(values, oldValues), -opts.clipVf, opts.clipVf));
  const e1 = tf.square(tf.sub(values, returns));
  const e2 = tf.square(tf.sub(vClip, returns));
  return {
    loss: tf.mul(maskedMeanTf(tf.maximum(e1, e2), mask), 0.5) as tf.Scalar,
    vfClipfrac: maskedMeanTf(tf.cast(tf.greater(e2, e1), 'float32'), mask),
  };
}
