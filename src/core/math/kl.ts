/**
 * KL estimators between the policy and the frozen reference policy, per token.
 *
 * k3 (Schulman 2020, "Approximating KL Divergence"; the estimator of DeepSeekMath, Shao et al. 2024,
 * eq. 4): with d = log pi_ref - log pi,
 *     k3 = exp(d) - d - 1  =  pi_ref/pi - log(pi_ref/pi) - 1  >= 0,
 * an unbiased estimate of KL(pi || pi_ref) for tokens sampled from pi, and never negative
 * (e^d >= 1 + d), unlike the plain log-ratio k1.
 */
import { checkLength } from './masked';
import { exp } from './libm';

/** k3 of one token. */
export function k3Token(logp: number, refLogp: number): number {
  const d = refLogp - logp;
  return exp(d) - d - 1;
}

/** k3 per token, elementwise over any shape (padding is not masked here: mask when reducing). */
export function k3(logp: ArrayLike<number>, refLogp: ArrayLike<number>): Float64Array {
  checkLength('k3 refLogp', refLogp, logp.length);
  const out = new Float64Array(logp.length);
  for (let k = 0; k < logp.length; k++) out[k] = k3Token(logp[k], refLogp[k]);
  return out;
}
