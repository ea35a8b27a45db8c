/**
 * Masked reductions over token sequences. Sequence data is a row-major flat array [n * T]: row i
 * is completion o_i, column t its t-th generated token; `mask` is 1 on valid tokens and 0 on
 * padding (a contiguous prefix of each row). Sums are taken in float64 whatever the input type.
 *
 * The three ways of averaging a per-token quantity x_it that the GRPO family argues about:
 * - token mean      sum_it m_it x_it / sum_it m_it                     (DAPO, Yu et al. 2025, section 3.3)
 * - sequence mean   mean_i (1/|o_i|) sum_t m_it x_it                   (GRPO, Shao et al. 2024, eq. 3)
 * - constant length mean_i (1/maxLen) sum_t m_it x_it                  (Dr. GRPO, Liu et al. 2025, section 3.1)
 * Empty denominators are clamped to 1, so an all-padding batch or row contributes 0, not NaN.
 */

/** Throws unless `x` has `len` entries: the shape bugs here are silent otherwise. */
export function checkLength(name: string, x: ArrayLike<number>, len: number): void {
  if (x.length !== len) throw new RangeError(`${name}: expected ${len} values, got ${x.length}`);
}

/** Token-level masked mean: sum(m * x) / max(sum(m), 1). */
export function maskedMean(x: ArrayLike<number>, mask: ArrayLike<number>): number {
  checkLength('maskedMean x', x, mask.length);
  let s = 0;
  let c = 0;
  for (let k = 0; k < x.length; k++) {
    if (mask[k] === 0) continue;
    s += mask[k] * x[k];
    c += mask[k];
  }
  return s / Math.max(c, 1);
}

/** Masked population variance: maskedMean((x - maskedMean(x))^2). */
export function maskedVariance(x: ArrayLike<number>, mask: ArrayLike<number>): number {
  const mu = maskedMean(x, mask);
  let s = 0;
  let c = 0;
  for (let k = 0; k < x.length; k++) {
    if (mask[k] === 0) continue;
    s += mask[k] * (x[k] - mu) ** 2;
    c += mask[k];
  }
  return s / Math.max(c, 1);
}

/** Valid-token count |o_i| of each row: [n]. */
export function sequenceLengths(mask: ArrayLike<number>, n: number, T: number): Float64Array {
  checkLength('mask', mask, n * T);
  const len = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let t = 0; t < T; t++) len[i] += mask[i * T + t];
  return len;
}

/** Per-sequence mean (GRPO): mean over rows of sum_t(m * x) / max(|o_i|, 1). */
export function sequenceMean(x: ArrayLike<number>, mask: ArrayLike<number>, n: number, T: number): number {
  checkLength('sequenceMean x', x, n * T);
  const len = sequenceLengths(mask, n, T);
  let s = 0;
  for (let i = 0; i < n; i++) {
    let row = 0;
    for (let t = 0; t < T; t++) if (mask[i * T + t] !== 0) row += mask[i * T + t] * x[i * T + t];
    s += row / Math.max(len[i], 1);
  }
  return n ? s / n : 0;
}

/** Constant-length mean (Dr. GRPO): mean over rows of sum_t(m * x) / maxLen. */
export function constantLengthMean(x: ArrayLike<number>, mask: ArrayLike<number>, n: number, T: number, maxLen = T): number {
  checkLength('constantLengthMean x', x, n * T);
  checkLength('mask', mask, n * T);
  let s = 0;
  for (let k = 0; k < n * T; k++) if (mask[k] !== 0) s += mask[k] * x[k];
  return n ? s / (n * maxLen) : 0;
}
