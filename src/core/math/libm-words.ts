/**
 * One double seen as two 32-bit words, for src/core/math/libm*.ts (fdlibm reads and builds doubles
 * by their words). HI and LO index the high and low words: HI = 1 on little-endian platforms,
 * found once at load so that big-endian ones work too. One shared buffer: no allocation per call.
 */
export const f64 = new Float64Array(1);
export const u32 = new Uint32Array(f64.buffer);
export const i32 = new Int32Array(f64.buffer);
f64[0] = 1;
export const HI = i32[1] === 0x3ff00000 ? 1 : 0;
export const LO = 1 - HI;

/** High 32-bit word of x, signed (sign bit, exponent, top 20 mantissa bits). */
export function hi(x: number): number {
  f64[0] = x;
  return i32[HI];
}

/** Low 32-bit word of x, unsigned. */
export function lo(x: number): number {
  f64[0] = x;
  return u32[LO];
}

/** The double whose high and low 32-bit words are `h` and `l`. */
export function fromWords(h: number, l: number): number {
  i32[HI] = h;
  u32[LO] = l >>> 0;
  return f64[0];
}

/** x with its low word set to 0. */
export function clearLow(x: number): number {
  f64[0] = x;
  i32[LO] = 0;
  return f64[0];
}

/** x with its high word replaced by h. */
export function setHigh(x: number, h: number): number {
  f64[0] = x;
  i32[HI] = h;
  return f64[0];
}

/** 2^k for -1022 <= k <= 1023 (exact; fdlibm's scalbn(1, k)). */
export function twoTo(k: number): number {
  return fromWords((0x3ff + k) << 20, 0);
}
