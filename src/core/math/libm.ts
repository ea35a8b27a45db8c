/**
 * The transcendental functions the engine's numbers go through, the same in every JS engine.
 *
 * `Math.exp`, `Math.log`, `Math.pow` (and `**`), `Math.sin` and `Math.cos` are not specified to the
 * bit, and engines differ: Node 20's V8 computes them with a port of Sun's fdlibm, while Chromium
 * 156's V8 returns correctly rounded results, which differ from fdlibm's in the last bit for 3-10%
 * of inputs (`0.9 ** 4` is 0.6561000000000001 in Node 20 and 0.6561 in Chromium 156). A link would
 * then train differently in the page and in `npm run sim`, and differently again in each browser.
 * So the engine (src/core, workers/) calls these instead: fdlibm's algorithms written out in
 * TypeScript, plain IEEE double arithmetic (which every engine does alike), giving Node 20's
 * `Math` results bit for bit (checked on millions of inputs: test/libm.test.ts against results
 * recorded from Node 20, test/fixtures/libm.json). `Math.sqrt` is exact everywhere and stays.
 */
export { pow } from './libm-pow';
export { cos, sin } from './libm-trig';

import { f64, HI, i32, LO, twoTo, u32 } from './libm-words';

// exp: fdlibm e_exp.c (x = k ln2 + r, |r| <= 0.5 ln2; exp(r) from a degree-5 Remez polynomial).
const O_THRESHOLD = 7.09782712893383973096e2;
const U_THRESHOLD = -7.45133219101941108420e2;
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;
const INV_LN2 = 1.44269504088896338700e0;
const TWO_M1000 = 9.33263618503218878990e-302; // 2^-1000
const P1 = 1.66666666666666019037e-1;
const P2 = -2.77777777770155933842e-3;
const P3 = 6.61375632143793436117e-5;
const P4 = -1.65339022054652515390e-6;
const P5 = 4.13813679705723846039e-8;
const TWO_1023 = 8.98846567431158e307; // 2^1023

export function exp(x: number): number {
  if (x === 1) return Math.E; // as V8's port has it (fdlibm alone: 2.7182818284590455)
  f64[0] = x;
  let hx = u32[HI];
  const xsb = hx >>> 31;
  hx &= 0x7fffffff;
  if (hx >= 0x40862e42) {
    // |x| >= 709.78...
    if (hx >= 0x7ff00000) {
      if (((hx & 0xfffff) | u32[LO]) !== 0) return x + x; // NaN
      return xsb === 0 ? x : 0; // exp(+-inf) = inf, 0
    }
    if (x > O_THRESHOLD) return Infinity;
    if (x < U_THRESHOLD) return 0;
  }
  let hi = 0;
  let lo = 0;
  let k = 0;
  if (hx > 0x3fd62e42) {
    // |x| > 0.5 ln2
    if (hx < 0x3ff0a2b2) {
      // and |x| < 1.5 ln2
      hi = xsb === 0 ? x - LN2_HI : x + LN2_HI;
      lo = xsb === 0 ? LN2_LO : -LN2_LO;
      k = 1 - xsb - xsb;
    } else {
      k = Math.trunc(INV_LN2 * x + (xsb === 0 ? 0.5 : -0.5));
      hi = x - k * LN2_HI; // exact
      lo = k * LN2_LO;
    }
    x = hi - lo;
  } else if (hx < 0x3e300000) {
    // |x| < 2^-28
    return 1 + x;
  }
  const t = x * x;
  const twopk = k >= -1021 ? twoTo(k) : twoTo(k + 1000);
  const c = x - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
  if (k === 0) return 1 - ((x * c) / (c - 2) - x);
  const y = 1 - (lo - (x * c) / (2 - c) - hi);
  if (k >= -1021) return k === 1024 ? y * 2 * TWO_1023 : y * twopk;
  return y * twopk * TWO_M1000;
}

// log: fdlibm e_log.c (x = 2^k (1 + f), log(1 + f) = f - s (f - R(s^2)), s = f / (2 + f)).
const TWO54 = 1.80143985094819840000e16;
const LG1 = 6.666666666666735130e-1;
const LG2 = 3.999999999940941908e-1;
const LG3 = 2.857142874366239149e-1;
const LG4 = 2.222219843214978396e-1;
const LG5 = 1.818357216161805012e-1;
const LG6 = 1.531383769920937332e-1;
const LG7 = 1.479819860511658591e-1;

export function log(x: number): number {
  f64[0] = x;
  let hx = i32[HI];
  const lx = u32[LO];
  let k = 0;
  if (hx < 0x00100000) {
    // x < 2^-1022
    if (((hx & 0x7fffffff) | lx) === 0) return -Infinity; // log(+-0)
    if (hx < 0) return NaN; // log(negative)
    k -= 54;
    x *= TWO54; // subnormal: scale up
    f64[0] = x;
    hx = i32[HI];
  }
  if (hx >= 0x7ff00000) return x + x; // inf or NaN
  k += (hx >> 20) - 1023;
  hx &= 0x000fffff;
  const i = (hx + 0x95f64) & 0x100000;
  f64[0] = x;
  i32[HI] = hx | (i ^ 0x3ff00000); // normalise x or x/2
  x = f64[0];
  k += i >> 20;
  const f = x - 1;
  if ((0x000fffff & (2 + hx)) < 3) {
    // -2^-20 <= f < 2^-20
    if (f === 0) return k === 0 ? 0 : k * LN2_HI + k * LN2_LO;
    const R = f * f * (0.5 - 0.33333333333333333 * f);
    return k === 0 ? f - R : k * LN2_HI - (R - k * LN2_LO - f);
  }
  const s = f / (2 + f);
  const z = s * s;
  const w = z * z;
  const t1 = w * (LG2 + w * (LG4 + w * LG6));
  const t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
  const R = t2 + t1;
  if (((hx - 0x6147a) | (0x6b851 - hx)) > 0) {
    const hfsq = 0.5 * f * f;
    return k === 0 ? f - (hfsq - s * (hfsq + R)) : k * LN2_HI - (hfsq - (s * (hfsq + R) + k * LN2_LO) - f);
  }
  return k === 0 ? f - s * (f - R) : k * LN2_HI - (s * (f - R) - k * LN2_LO - f);
}
