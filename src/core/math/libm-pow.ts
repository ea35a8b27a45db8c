/**
 * `pow(x, y)`: Sun's fdlibm pow algorithm (e_pow.c, `__ieee754_pow`), written in TypeScript for this
 * project so that every JS engine gives Node 20's numbers. Node 20's V8 implements `Math.pow` (and
 * `**`) with a port of fdlibm's pow; Math.pow in Chromium 156 is correctly rounded and differs from
 * fdlibm in the last bit for ~10% of inputs (`0.9 ** 4` is 0.6561000000000001 in Node 20 and 0.6561
 * in Chromium 156). This function returns Node 20's `Math.pow(x, y)` bit for bit, in any engine.
 *
 * Method (fdlibm):
 *   1. log2|x| in extra precision as t1 + t2 (t1 with its low 32 bits zero): |x| = 2^n * (1 + f),
 *      s = (m - b) / (m + b) with b = 1 or 1.5, log2 m = 2/(3 ln2) * (3s + s^3 * L(s^2)) + log2 b.
 *   2. y * log2|x| = p_h + p_l, splitting y into y1 (low word zero) + (y - y1).
 *   3. x^y = 2^n' * 2^(y'), y' = p_h + p_l - n', |y'| <= 0.5, 2^y' = exp(y' ln2) from the P1..P5
 *      Remez polynomial, and the exponent n' added to the result's bits (scalbn when subnormal).
 * Special cases as in fdlibm and ES2019 Math.pow: y = +-0 -> 1; NaN -> NaN; (+-1) ** +-Infinity ->
 * NaN; y = +-1, 2, 0.5 shortcuts; x = +-0, +-Infinity, +-1; negative x with integer / non-integer y;
 * overflow to +-Infinity, underflow to +-0, subnormal x and results.
 *
 * Plain IEEE double arithmetic only (every engine does it alike); `Math.sqrt` and `Math.abs` are
 * exact. No allocation per call: the words of a double are read through one shared buffer.
 */

import { clearLow, f64, fromWords, HI, hi, i32, LO, setHigh } from './libm-words';

const DP_H1 = 5.84962487220764160156e-1; // 0x3FE2B803 40000000  log2(1.5) high
const DP_L1 = 1.35003920212974897128e-8; // 0x3E4CFDEB 43CFD006  log2(1.5) low
const TWO53 = 9007199254740992.0; // 0x43400000 00000000
const HUGE = 1.0e300;
const TINY = 1.0e-300;
const TWO_M54 = 5.55111512312578270212e-17; // 0x3C900000 00000000
// (3/2) * (log(x) - 2s - 2/3 s^3) polynomial
const L1 = 5.99999999999994648725e-1; // 0x3FE33333 33333303
const L2 = 4.28571428578550184252e-1; // 0x3FDB6DB6 DB6FABFF
const L3 = 3.33333329818377432918e-1; // 0x3FD55555 518F264D
const L4 = 2.72728123808534006489e-1; // 0x3FD17460 A91D4101
const L5 = 2.30660745775561754067e-1; // 0x3FCD864A 93C9DB65
const L6 = 2.06975017800338417784e-1; // 0x3FCA7E28 4A454EEF
// exp polynomial
const P1 = 1.66666666666666019037e-1; // 0x3FC55555 5555553E
const P2 = -2.77777777770155933842e-3; // 0xBF66C16C 16BEBD93
const P3 = 6.61375632143793436117e-5; // 0x3F11566A AF25DE2C
const P4 = -1.65339022054652515390e-6; // 0xBEBBBD41 C5D26BF1
const P5 = 4.13813679705723846039e-8; // 0x3E663769 72BEA4D0
const LG2 = 6.93147180559945286227e-1; // 0x3FE62E42 FEFA39EF
const LG2_H = 6.93147182464599609375e-1; // 0x3FE62E43 00000000
const LG2_L = -1.90465429995776804525e-9; // 0xBE205C61 0CA86C39
const OVT = 8.0085662595372944372e-17; // -(1024 - log2(ovfl + .5ulp))
const CP = 9.61796693925975554329e-1; // 0x3FEEC709 DC3A03FD = 2/(3 ln2)
const CP_H = 9.61796700954437255859e-1; // 0x3FEEC709 E0000000 = (float)cp
const CP_L = -7.02846165095275826516e-9; // 0xBE3E2FE0 145B01F5 = tail of cp_h
const IVLN2 = 1.44269504088896338700e0; // 0x3FF71547 652B82FE = 1/ln2
const IVLN2_H = 1.44269502162933349609e0; // 0x3FF71547 60000000 = 24-bit 1/ln2
const IVLN2_L = 1.92596299112661746887e-8; // 0x3E54AE0B F85DDF44 = tail of 1/ln2

/** z * 2^n rounded once (fdlibm scalbn), for finite nonzero z; used for subnormal results. */
function scalbn(z: number, n: number): number {
  const hz = hi(z);
  const k = ((hz >> 20) & 0x7ff) + n;
  if (k > 0x7fe) return z * HUGE * HUGE; // overflow (not reached from pow)
  if (k > 0) return setHigh(z, (hz & 0x800fffff) | (k << 20));
  if (k <= -54) return z * TINY * TINY; // underflow to +-0
  return setHigh(z, (hz & 0x800fffff) | ((k + 54) << 20)) * TWO_M54;
}

export function pow(x: number, y: number): number {
  f64[0] = x;
  const hx = i32[HI];
  const lx = i32[LO];
  f64[0] = y;
  const hy = i32[HI];
  const ly = i32[LO];
  let ix = hx & 0x7fffffff;
  const iy = hy & 0x7fffffff;

  // y = +-0: x ** 0 = 1 (even for NaN x)
  if ((iy | ly) === 0) return 1;

  // x or y NaN
  if (ix > 0x7ff00000 || (ix === 0x7ff00000 && lx !== 0) || iy > 0x7ff00000 || (iy === 0x7ff00000 && ly !== 0)) {
    return x + y;
  }

  // For x < 0: yisint = 0 if y is not an integer, 1 if an odd integer, 2 if an even integer.
  let yisint = 0;
  if (hx < 0) {
    if (iy >= 0x43400000) {
      yisint = 2; // |y| >= 2^53: even
    } else if (iy >= 0x3ff00000) {
      const e = (iy >> 20) - 0x3ff; // unbiased exponent of y
      if (e > 20) {
        const sh = 52 - e;
        const j = ly >>> sh;
        if (j << sh === ly) yisint = 2 - (j & 1);
      } else if (ly === 0) {
        const sh = 20 - e;
        const j = iy >> sh;
        if (j << sh === iy) yisint = 2 - (j & 1);
      }
    }
  }

  // special values of y
  if (ly === 0) {
    if (iy === 0x7ff00000) {
      // y = +-Infinity
      if (((ix - 0x3ff00000) | lx) === 0) return y - y; // (+-1) ** +-Infinity = NaN
      if (ix >= 0x3ff00000) return hy >= 0 ? y : 0; // |x| > 1
      return hy < 0 ? -y : 0; // |x| < 1
    }
    if (iy === 0x3ff00000) return hy < 0 ? 1 / x : x; // y = +-1
    if (hy === 0x40000000) return x * x; // y = 2
    if (hy === 0x3fe00000 && hx >= 0) return Math.sqrt(x); // y = 0.5, x >= +0
  }

  let ax = Math.abs(x);
  // special values of x: +-0, +-Infinity, +-1
  if (lx === 0 && (ix === 0x7ff00000 || ix === 0 || ix === 0x3ff00000)) {
    let z = ax;
    if (hy < 0) z = 1 / z;
    if (hx < 0) {
      if (((ix - 0x3ff00000) | yisint) === 0) z = NaN; // (-1) ** non-integer
      else if (yisint === 1) z = -z; // (x < 0) ** odd = -(|x| ** odd)
    }
    return z;
  }

  let n = (hx >> 31) + 1; // 0 for x < 0, 1 for x > 0
  if ((n | yisint) === 0) return NaN; // (x < 0) ** non-integer

  let s = 1; // sign of the result
  if ((n | (yisint - 1)) === 0) s = -1; // (x < 0) ** odd integer

  let t1: number;
  let t2: number;
  if (iy > 0x41e00000) {
    // |y| > 2^31
    if (iy > 0x43f00000) {
      // |y| > 2^64: certain overflow / underflow
      if (ix <= 0x3fefffff) return hy < 0 ? HUGE * HUGE : TINY * TINY;
      if (ix >= 0x3ff00000) return hy > 0 ? HUGE * HUGE : TINY * TINY;
    }
    // over/underflow if x is not close to one
    if (ix < 0x3fefffff) return hy < 0 ? s * HUGE * HUGE : s * TINY * TINY;
    if (ix > 0x3ff00000) return hy > 0 ? s * HUGE * HUGE : s * TINY * TINY;
    // |1 - x| <= 2^-20: log(x) = t - t^2/2 + t^3/3 - t^4/4
    const t = ax - 1; // t has 20 trailing zeros
    const w = t * t * (0.5 - t * (0.3333333333333333333333 - t * 0.25));
    const u = IVLN2_H * t; // IVLN2_H has 21 significant bits
    const v = t * IVLN2_L - w * IVLN2;
    t1 = clearLow(u + v);
    t2 = v - (t1 - u);
  } else {
    n = 0;
    if (ix < 0x00100000) {
      // subnormal x
      ax *= TWO53;
      n -= 53;
      ix = hi(ax);
    }
    n += (ix >> 20) - 0x3ff;
    const j = ix & 0x000fffff;
    // normalize the mantissa m = ax / 2^n into [sqrt(3)/2, sqrt(3)), and pick b = 1 or 1.5
    ix = j | 0x3ff00000;
    let k: number;
    if (j <= 0x3988e) {
      k = 0; // m < sqrt(3/2)
    } else if (j < 0xbb67a) {
      k = 1; // m < sqrt(3)
    } else {
      k = 0;
      n += 1;
      ix -= 0x00100000;
    }
    ax = setHigh(ax, ix);
    const bp = k === 0 ? 1.0 : 1.5;
    const dpH = k === 0 ? 0.0 : DP_H1;
    const dpL = k === 0 ? 0.0 : DP_L1;

    // ss = s_h + s_l = (m - b) / (m + b)
    let u = ax - bp;
    let v = 1 / (ax + bp);
    const ss = u * v;
    const sH = clearLow(ss);
    // t_h = m + b, high part
    let tH = fromWords(((ix >> 1) | 0x20000000) + 0x00080000 + (k << 18), 0);
    let tL = ax - (tH - bp);
    const sL = v * (u - sH * tH - sH * tL);
    // log(m)
    let s2 = ss * ss;
    let r = s2 * s2 * (L1 + s2 * (L2 + s2 * (L3 + s2 * (L4 + s2 * (L5 + s2 * L6)))));
    r += sL * (sH + ss);
    s2 = sH * sH;
    tH = clearLow(3.0 + s2 + r);
    tL = r - (tH - 3.0 - s2);
    // u + v = ss * (1 + ...)
    u = sH * tH;
    v = sL * tH + tL * ss;
    // 2/(3 log2) * (ss + ...)
    const pH = clearLow(u + v);
    const pL = v - (pH - u);
    const zH = CP_H * pH; // CP_H + CP_L = 2/(3 ln2)
    const zL = CP_L * pH + pL * CP + dpL;
    // log2(ax) = (ss + ...) * 2/(3 ln2) = n + dp_h + z_h + z_l
    const t = n;
    t1 = clearLow(zH + zL + dpH + t);
    t2 = zL - (t1 - t - dpH - zH);
  }

  // (y1 + y2) * (t1 + t2) with y1 = y with its low word cleared
  const y1 = clearLow(y);
  const pL = (y - y1) * t1 + y * t2;
  let pH = y1 * t1;
  let z = pL + pH;
  f64[0] = z;
  let j = i32[HI];
  const i = i32[LO];
  if (j >= 0x40900000) {
    // z >= 1024
    if (((j - 0x40900000) | i) !== 0) return s * HUGE * HUGE; // z > 1024: overflow
    if (pL + OVT > z - pH) return s * HUGE * HUGE;
  } else if ((j & 0x7fffffff) >= 0x4090cc00) {
    // z <= -1075
    if (((j - (0xc090cc00 | 0)) | i) !== 0) return s * TINY * TINY; // z < -1075: underflow
    if (pL <= z - pH) return s * TINY * TINY;
  }

  // 2^(p_h + p_l) = 2^n * 2^(p_h + p_l - n), n = nearest integer when |z| > 0.5
  const iz = j & 0x7fffffff;
  let k = (iz >> 20) - 0x3ff;
  n = 0;
  if (iz > 0x3fe00000) {
    n = (j + (0x00100000 >> (k + 1))) | 0;
    k = ((n & 0x7fffffff) >> 20) - 0x3ff; // new k for n
    const t = fromWords(n & ~(0x000fffff >> k), 0);
    n = ((n & 0x000fffff) | 0x00100000) >> (20 - k);
    if (j < 0) n = -n;
    pH -= t;
  }
  const t = clearLow(pL + pH);
  const u = t * LG2_H;
  const v = (pL - (t - pH)) * LG2 + t * LG2_L;
  z = u + v;
  const w = v - (z - u);
  const tt = z * z;
  const r1 = z - tt * (P1 + tt * (P2 + tt * (P3 + tt * (P4 + tt * P5))));
  const r = (z * r1) / (r1 - 2 - (w + z * w));
  z = 1 - (r - z);
  j = (hi(z) + (n << 20)) | 0;
  if (j >> 20 <= 0) z = scalbn(z, n); // subnormal result
  else z = setHigh(z, j);
  return s * z;
}
