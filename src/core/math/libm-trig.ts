/**
 * sin and cos with Node 20's numbers in every JS engine.
 *
 * Sun's fdlibm sin/cos algorithm (s_sin.c, s_cos.c, the kernels k_sin.c / k_cos.c on [-pi/4, pi/4],
 * the argument reduction e_rem_pio2.c and, for huge arguments, k_rem_pio2.c), written out in
 * TypeScript for this project. Node 20's V8 computes `Math.sin` / `Math.cos` with a C++ port of
 * exactly this code; Math.sin/cos in Chromium 156 are correctly rounded and differ from fdlibm in
 * the last bit for a few percent of inputs, so a seeded Box-Muller draw would differ between the
 * page and Node. Everything below is plain IEEE double arithmetic (no fused multiply-add, each
 * operation rounded on its own), which every JS engine does alike, so these return Node 20's
 * `Math.sin` / `Math.cos` bit for bit, for every double (the huge-argument path included).
 *
 * Method: x = n*(pi/2) + (y0 + y1) with |y0 + y1| <= ~pi/4 (y1 the tail of y0), then by n mod 4
 *   n:     0     1     2     3
 *   sin:   S     C    -S    -C
 *   cos:   C    -S    -C     S      (S, C: the kernels at y0 + y1)
 * NaN and +-Infinity give NaN.
 */

import { fromWords, hi, lo, twoTo } from './libm-words';

// ---------------------------------------------------------------------------------------------
// Kernels on [-pi/4, pi/4]: x the head, y the tail of the reduced argument.

// sin(x) ~ x + S1 x^3 + ... + S6 x^13 (Remez, |error| <= 2^-58 relative).
const S1 = -1.66666666666666324348e-1; // 0xBFC55555 55555549
const S2 = 8.33333333332248946124e-3; // 0x3F811111 1110F8A6
const S3 = -1.98412698298579493134e-4; // 0xBF2A01A0 19C161D5
const S4 = 2.75573137070700676789e-6; // 0x3EC71DE3 57B1FE7D
const S5 = -2.50507602534068634195e-8; // 0xBE5AE5E6 8A2B9CEB
const S6 = 1.58969099521155010221e-10; // 0x3DE5D93A 5ACFD57C

// cos(x) ~ 1 - x^2/2 + C1 x^4 + ... + C6 x^14 (Remez, |error| <= 2^-58).
const C1 = 4.16666666666666019037e-2; // 0x3FA55555 5555554C
const C2 = -1.38888888888741095749e-3; // 0xBF56C16C 16C15177
const C3 = 2.48015872894767294178e-5; // 0x3EFA01A0 19CB1590
const C4 = -2.75573143513906633035e-7; // 0xBE927E4F 809C52AD
const C5 = 2.08757232129817482790e-9; // 0x3E21EE9E BDB4B1C4
const C6 = -1.1359647557788194826e-11; // 0xBDA8FAE9 BE8838D4

/** fdlibm __kernel_sin(x, y, iy): iy = 0 means the tail y is zero. */
function kernelSin(x: number, y: number, iy: number): number {
  const ix = hi(x) & 0x7fffffff;
  if (ix < 0x3e400000) return x; // |x| < 2^-27: sin(x) rounds to x
  const z = x * x;
  const v = z * x;
  const r = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
  if (iy === 0) return x + v * (S1 + z * r);
  return x - ((z * (0.5 * y - v * r) - y) - v * S1);
}

/** fdlibm __kernel_cos(x, y). */
function kernelCos(x: number, y: number): number {
  const ix = hi(x) & 0x7fffffff;
  if (ix < 0x3e400000) return 1; // |x| < 2^-27: cos(x) rounds to 1
  const z = x * x;
  const r = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
  if (ix < 0x3fd33333) return 1 - (0.5 * z - (z * r - x * y)); // |x| < 0.3
  // qx = |x|/4 with the low word cleared (0.28125 for |x| > 0.78125): 1 - qx and x*x/2 - qx exact.
  const qx = ix > 0x3fe90000 ? 0.28125 : fromWords(ix - 0x00200000, 0);
  const hz = 0.5 * z - qx;
  const a = 1 - qx;
  return a - (hz - (z * r - x * y));
}

// ---------------------------------------------------------------------------------------------
// Argument reduction: x - n*pi/2 into red[0] (head) + red[1] (tail), n returned.

const red = new Float64Array(2);

const INV_PIO2 = 6.36619772367581382433e-1; // 0x3FE45F30 6DC9C883, 53 bits of 2/pi
const PIO2_1 = 1.57079632673412561417e0; // 0x3FF921FB 54400000, first 33 bits of pi/2
const PIO2_1T = 6.07710050650619224932e-11; // 0x3DD0B461 1A626331, pi/2 - PIO2_1
const PIO2_2 = 6.0771005063039659766e-11; // 0x3DD0B461 1A600000, second 33 bits
const PIO2_2T = 2.02226624879595063154e-21; // 0x3BA3198A 2E037073, pi/2 - (PIO2_1 + PIO2_2)
const PIO2_3 = 2.0222662487111664558e-21; // 0x3BA3198A 2E000000, third 33 bits
const PIO2_3T = 8.47842766036889956997e-32; // 0x397B839A 252049C1, pi/2 - (PIO2_1+PIO2_2+PIO2_3)
const TWO24 = 1.6777216e7; // 2^24
const TWON24 = 5.9604644775390625e-8; // 2^-24

// High words of n*pi/2 for n = 1..32: an argument with the same high word may cancel badly.
const NPIO2_HW = new Int32Array([
  0x3ff921fb, 0x400921fb, 0x4012d97c, 0x401921fb, 0x401f6a7a, 0x4022d97c, 0x4025fdbb, 0x402921fb,
  0x402c463a, 0x402f6a7a, 0x4031475c, 0x4032d97c, 0x40346b9c, 0x4035fdbb, 0x40378fdb, 0x403921fb,
  0x403ab41b, 0x403c463a, 0x403dd85a, 0x403f6a7a, 0x40407e4c, 0x4041475c, 0x4042106c, 0x4042d97c,
  0x4043a28c, 0x40446b9c, 0x404534ac, 0x4045fdbb, 0x4046c6cb, 0x40478fdb, 0x404858eb, 0x404921fb,
]);

/**
 * fdlibm __ieee754_rem_pio2 for finite |x| > pi/4 (the callers handle the rest): writes the
 * reduced argument to red[0] + red[1] and returns n (any integer; callers use n & 3).
 */
function remPio2(x: number): number {
  const hx = hi(x);
  const ix = hx & 0x7fffffff;
  if (ix < 0x4002d97c) {
    // |x| < 3pi/4: n = +-1
    if (hx > 0) {
      let z = x - PIO2_1;
      if (ix !== 0x3ff921fb) {
        // 33 + 53 bits of pi/2 are enough
        red[0] = z - PIO2_1T;
        red[1] = (z - red[0]) - PIO2_1T;
      } else {
        // near pi/2: 33 + 33 + 53 bits
        z -= PIO2_2;
        red[0] = z - PIO2_2T;
        red[1] = (z - red[0]) - PIO2_2T;
      }
      return 1;
    }
    let z = x + PIO2_1;
    if (ix !== 0x3ff921fb) {
      red[0] = z + PIO2_1T;
      red[1] = (z - red[0]) + PIO2_1T;
    } else {
      z += PIO2_2;
      red[0] = z + PIO2_2T;
      red[1] = (z - red[0]) + PIO2_2T;
    }
    return -1;
  }
  if (ix <= 0x413921fb) {
    // |x| ~<= 2^19 * (pi/2): medium size, up to three rounds of pi/2 pieces
    let t = Math.abs(x);
    const n = (t * INV_PIO2 + 0.5) | 0;
    const fn = n;
    let r = t - fn * PIO2_1;
    let w = fn * PIO2_1T; // first round: good to 85 bits
    let y0: number;
    if (n < 32 && ix !== NPIO2_HW[n - 1]) {
      y0 = r - w; // no cancellation possible
    } else {
      const j = ix >> 20;
      y0 = r - w;
      let i = j - ((hi(y0) >>> 20) & 0x7ff);
      if (i > 16) {
        // second round: good to 118 bits
        t = r;
        w = fn * PIO2_2;
        r = t - w;
        w = fn * PIO2_2T - ((t - r) - w);
        y0 = r - w;
        i = j - ((hi(y0) >>> 20) & 0x7ff);
        if (i > 49) {
          // third round: 151 bits, covers every double in this range
          t = r;
          w = fn * PIO2_3;
          r = t - w;
          w = fn * PIO2_3T - ((t - r) - w);
          y0 = r - w;
        }
      }
    }
    const y1 = (r - y0) - w;
    if (hx < 0) {
      red[0] = -y0;
      red[1] = -y1;
      return -n;
    }
    red[0] = y0;
    red[1] = y1;
    return n;
  }
  // Large |x|: split |x| * 2^-e0 into three 24-bit pieces, multiply by 2/pi in pieces.
  const e0 = (ix >> 20) - 1046; // ilogb(x) - 23
  let z = fromWords(ix - (e0 << 20), lo(x));
  tx[0] = (z | 0);
  z = (z - tx[0]) * TWO24;
  tx[1] = (z | 0);
  z = (z - tx[1]) * TWO24;
  tx[2] = z;
  let nx = 3;
  while (tx[nx - 1] === 0) nx--; // skip zero terms
  const n = kernelRemPio2(e0, nx);
  if (hx < 0) {
    red[0] = -red[0];
    red[1] = -red[1];
    return -n;
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// fdlibm __kernel_rem_pio2, as V8 calls it (precision argument 2: jk = 4 initial terms).

// 2/pi in 24-bit pieces: TWO_OVER_PI[i] * 2^(-24(i+1)), 66 pieces (1584 bits).
const TWO_OVER_PI = new Int32Array([
  0xa2f983, 0x6e4e44, 0x1529fc, 0x2757d1, 0xf534dd, 0xc0db62, 0x95993c, 0x439041, 0xfe5163,
  0xabdebb, 0xc561b7, 0x246e3a, 0x424dd2, 0xe00649, 0x2eea09, 0xd1921c, 0xfe1deb, 0x1cb129,
  0xa73ee8, 0x8235f5, 0x2ebb44, 0x84e99c, 0x7026b4, 0x5f7e41, 0x3991d6, 0x398353, 0x39f49c,
  0x845f8b, 0xbdf928, 0x3b1ff8, 0x97ffde, 0x05980f, 0xef2f11, 0x8b5a0a, 0x6d1f6d, 0x367ecf,
  0x27cb09, 0xb74f46, 0x3f669e, 0x5fea2d, 0x7527ba, 0xc7ebe5, 0xf17b3d, 0x0739f7, 0x8a5292,
  0xea6bfb, 0x5fb11f, 0x8d5d08, 0x560330, 0x46fc7b, 0x6babf0, 0xcfbc20, 0x9af436, 0x1da9e3,
  0x91615e, 0xe61b08, 0x659985, 0x5f14a0, 0x68408d, 0xffd880, 0x4d7327, 0x310606, 0x1556ca,
  0x73a8c9, 0x60e27b, 0xc08c6b,
]);

// pi/2 in 24-bit pieces (each exactly representable).
const PIO2_PIECES = new Float64Array([
  1.57079625129699707031e0, // 0x3FF921FB 40000000
  7.54978941586159635335e-8, // 0x3E74442D 00000000
  5.39030252995776476554e-15, // 0x3CF84698 80000000
  3.28200341580791294123e-22, // 0x3B78CC51 60000000
  1.27065575308067607349e-29, // 0x39F01B83 80000000
  1.22933308981111328932e-36, // 0x387A2520 40000000
  2.73370053816464559624e-44, // 0x36E38222 80000000
  2.16741683877804819444e-51, // 0x3569F31D 00000000
]);

const JK = 4; // initial number of 2/pi pieces beyond the first (V8 passes prec = 2)
const JP = JK;
const tx = new Float64Array(3);
const iq = new Int32Array(20);
const fpi = new Float64Array(20); // 2/pi pieces as doubles
const q = new Float64Array(20);
const fq = new Float64Array(20);

/** Reduces tx[0..nx) * 2^e0 mod pi/2 into red[0] + red[1]; returns n & 7. */
function kernelRemPio2(e0: number, nx: number): number {
  const jx = nx - 1;
  let jv = ((e0 - 3) / 24) | 0; // C division truncates
  if (jv < 0) jv = 0;
  let q0 = e0 - 24 * (jv + 1);

  // fpi[0 .. jx+jk] = TWO_OVER_PI[jv-jx .. jv+jk] (zero before the table's start)
  let j = jv - jx;
  const m = jx + JK;
  for (let i = 0; i <= m; i++, j++) fpi[i] = j < 0 ? 0 : TWO_OVER_PI[j];

  // q[0 .. jk]
  for (let i = 0; i <= JK; i++) {
    let fw = 0;
    for (let k = 0; k <= jx; k++) fw += tx[k] * fpi[jx + i - k];
    q[i] = fw;
  }

  let jz = JK;
  let z: number;
  let n: number;
  let ih: number;
  for (;;) {
    // distill q[] into iq[] in reverse
    z = q[jz];
    for (let i = 0, k = jz; k > 0; i++, k--) {
      const fw = (TWON24 * z) | 0;
      iq[i] = (z - TWO24 * fw) | 0;
      z = q[k - 1] + fw;
    }

    // n
    z *= twoTo(q0);
    z -= 8 * Math.floor(z * 0.125); // drop the integer part >= 8
    n = z | 0;
    z -= n;
    ih = 0;
    if (q0 > 0) {
      // iq[jz-1] holds the low bits of n
      const i = iq[jz - 1] >> (24 - q0);
      n += i;
      iq[jz - 1] -= i << (24 - q0);
      ih = iq[jz - 1] >> (23 - q0);
    } else if (q0 === 0) {
      ih = iq[jz - 1] >> 23;
    } else if (z >= 0.5) {
      ih = 2;
    }

    if (ih > 0) {
      // fraction >= 0.5: take 1 - fraction, n + 1
      n += 1;
      let carry = 0;
      for (let i = 0; i < jz; i++) {
        const v = iq[i];
        if (carry === 0) {
          if (v !== 0) {
            carry = 1;
            iq[i] = 0x1000000 - v;
          }
        } else {
          iq[i] = 0xffffff - v;
        }
      }
      if (q0 === 1) iq[jz - 1] &= 0x7fffff;
      else if (q0 === 2) iq[jz - 1] &= 0x3fffff;
      if (ih === 2) {
        z = 1 - z;
        if (carry !== 0) z -= twoTo(q0);
      }
    }

    // recompute with more pieces of 2/pi if the fraction came out all zero
    if (z === 0) {
      let any = 0;
      for (let i = jz - 1; i >= JK; i--) any |= iq[i];
      if (any === 0) {
        let k = 1;
        while (JK >= k && iq[JK - k] === 0) k++; // k = number of terms needed
        for (let i = jz + 1; i <= jz + k; i++) {
          fpi[jx + i] = TWO_OVER_PI[jv + i];
          let fw = 0;
          for (let jj = 0; jj <= jx; jj++) fw += tx[jj] * fpi[jx + i - jj];
          q[i] = fw;
        }
        jz += k;
        continue;
      }
    }
    break;
  }

  // chop off zero terms, or split z into 24-bit pieces
  if (z === 0) {
    jz -= 1;
    q0 -= 24;
    while (iq[jz] === 0) {
      jz--;
      q0 -= 24;
    }
  } else {
    z *= twoTo(-q0);
    if (z >= TWO24) {
      const fw = (TWON24 * z) | 0;
      iq[jz] = (z - TWO24 * fw) | 0;
      jz += 1;
      q0 += 24;
      iq[jz] = fw;
    } else {
      iq[jz] = z | 0;
    }
  }

  // integer pieces to doubles
  let fw = twoTo(q0);
  for (let i = jz; i >= 0; i--) {
    q[i] = fw * iq[i];
    fw *= TWON24;
  }

  // fq = PIO2_PIECES[0 .. jp] * q[jz .. 0]
  for (let i = jz; i >= 0; i--) {
    fw = 0;
    for (let k = 0; k <= JP && k <= jz - i; k++) fw += PIO2_PIECES[k] * q[i + k];
    fq[jz - i] = fw;
  }

  // compress fq[] into head + tail
  fw = 0;
  for (let i = jz; i >= 0; i--) fw += fq[i];
  red[0] = ih === 0 ? fw : -fw;
  fw = fq[0] - fw;
  for (let i = 1; i <= jz; i++) fw += fq[i];
  red[1] = ih === 0 ? fw : -fw;
  return n & 7;
}

// ---------------------------------------------------------------------------------------------

/** sin(x), bit for bit as fdlibm (and Node 20's Math.sin). */
export function sin(x: number): number {
  const ix = hi(x) & 0x7fffffff;
  if (ix <= 0x3fe921fb) return kernelSin(x, 0, 0); // |x| ~<= pi/4
  if (ix >= 0x7ff00000) return NaN; // NaN, +-Infinity
  const n = remPio2(x);
  switch (n & 3) {
    case 0:
      return kernelSin(red[0], red[1], 1);
    case 1:
      return kernelCos(red[0], red[1]);
    case 2:
      return -kernelSin(red[0], red[1], 1);
    default:
      return -kernelCos(red[0], red[1]);
  }
}

/** cos(x), bit for bit as fdlibm (and Node 20's Math.cos). */
export function cos(x: number): number {
  const ix = hi(x) & 0x7fffffff;
  if (ix <= 0x3fe921fb) return kernelCos(x, 0); // |x| ~<= pi/4
  if (ix >= 0x7ff00000) return NaN; // NaN, +-Infinity
  const n = remPio2(x);
  switch (n & 3) {
    case 0:
      return kernelCos(red[0], red[1]);
    case 1:
      return -kernelSin(red[0], red[1], 1);
    case 2:
      return -kernelCos(red[0], red[1]);
    default:
      return kernelSin(red[0], red[1], 1);
  }
}
