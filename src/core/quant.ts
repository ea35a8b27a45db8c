/**
 * Low precision, emulated in float32: each quantiser maps a weight matrix to the values its format
 * can hold (quantise, then dequantise), so a policy can be evaluated, or trained (quantisation-aware
 * training), as it would run in that format. Pure, no tfjs.
 *
 *   bf16     float32 with its mantissa rounded to 7 bits (round to nearest even): 2 bytes a weight.
 *   fp8      E4M3 (OCP FP8: 4 exponent bits, bias 7, 3 mantissa bits, largest 448, subnormals
 *            down to 2^-9), with one float32 scale per tensor mapping its largest |w| to 448, as
 *            FP8 training recipes do: 1 byte a weight.
 *   int8     symmetric, one scale per output channel (max |w| / 127): 1 byte a weight.
 *   int4     symmetric, groups of 32 weights along the input of one output channel, one fp16
 *            scale per group (max |w| / 7): half a byte a weight.
 *   ternary  {-1, 0, +1} times one scale per output channel, the channel's mean |w| (BitNet
 *            b1.58's absmean): log2(3) = 1.58 bits a weight.
 *
 * Only weight matrices are quantised; vectors (biases, layer-norm gains) stay float32, as they do
 * in the formats' usual recipes, and count 4 bytes each in the sizes. A matrix is [in, out] (x W):
 * an output channel is a column.
 */

export const QUANT_FORMATS = ['bf16', 'fp8', 'int8', 'int4', 'ternary'] as const;
export type QuantFormat = (typeof QUANT_FORMATS)[number];

/** Weights per int4 group. */
export const INT4_GROUP = 32;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> bfloat16 -> float32, round to nearest even (NaN stays NaN). */
export function bf16(x: number): number {
  f32[0] = x;
  const u = u32[0];
  if ((u & 0x7f800000) === 0x7f800000) return x; // Inf, NaN
  const rounded = (u + 0x7fff + ((u >>> 16) & 1)) >>> 0;
  u32[0] = rounded & 0xffff0000;
  return f32[0];
}

/** The nearest E4M3 value to x (saturating at +-448; ties to even mantissa). */
export function e4m3(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return Number.isNaN(x) ? x : x === 0 ? 0 : Math.sign(x) * 448;
  const s = Math.sign(x);
  const a = Math.min(Math.abs(x), 448);
  // Exponent of a (normal range 2^-6 .. 2^8); below 2^-6 the spacing is the subnormal 2^-9.
  const e = Math.max(-6, Math.floor(Math.log2(a)));
  const step = 2 ** (e - 3);
  let q = a / step;
  const fl = Math.floor(q);
  const frac = q - fl;
  q = frac > 0.5 || (frac === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  return s * Math.min(448, q * step);
}

/** Round half to even (what quantisers use). */
function rne(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/** fp16 rounding of a positive scale (int4 group scales are stored as fp16). */
function fp16(x: number): number {
  if (x === 0) return 0;
  const e = Math.max(-14, Math.floor(Math.log2(x)));
  const step = 2 ** (e - 10);
  return rne(x / step) * step;
}

/** Dequantised values of one weight matrix w [rows = in, cols = out] in `format`. */
export function quantiseMatrix(format: QuantFormat, w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  if (format === 'bf16') {
    for (let i = 0; i < w.length; i++) out[i] = bf16(w[i]);
    return out;
  }
  if (format === 'fp8') {
    let amax = 0;
    for (let i = 0; i < w.length; i++) amax = Math.max(amax, Math.abs(w[i]));
    if (amax === 0) return out;
    const scale = amax / 448;
    for (let i = 0; i < w.length; i++) out[i] = e4m3(w[i] / scale) * scale;
    return out;
  }
  for (let c = 0; c < cols; c++) {
    if (format === 'int8' || format === 'ternary') {
      let amax = 0;
      let asum = 0;
      for (let r = 0; r < rows; r++) {
        const a = Math.abs(w[r * cols + c]);
        amax = Math.max(amax, a);
        asum += a;
      }
      const scale = format === 'int8' ? amax / 127 : asum / rows;
      if (scale === 0) continue;
      const lim = format === 'int8' ? 127 : 1;
      for (let r = 0; r < rows; r++) out[r * cols + c] = Math.max(-lim, Math.min(lim, rne(w[r * cols + c] / scale))) * scale;
    } else {
      for (let g = 0; g < rows; g += INT4_GROUP) {
        const end = Math.min(rows, g + INT4_GROUP);
        let amax = 0;
        for (let r = g; r < end; r++) amax = Math.max(amax, Math.abs(w[r * cols + c]));
        const scale = fp16(amax / 7);
        if (scale === 0) continue;
        for (let r = g; r < end; r++) out[r * cols + c] = Math.max(-8, Math.min(7, rne(w[r * cols + c] / scale))) * scale;
      }
    }
  }
  return out;
}

/** Every tensor of a net (flat, in order, with its shape): matrices quantised, vectors kept. */
export function quantiseAll(format: QuantFormat, shapes: number[][], flat: Float32Array): Float32Array {
  const out = new Float32Array(flat.length);
  let off = 0;
  for (const shape of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const part = flat.subarray(off, off + n);
    if (shape.length === 2) out.set(quantiseMatrix(format, part, shape[0], shape[1]), off);
    else out.set(part, off);
    off += n;
  }
  return out;
}

/** Bytes to store tensors of these shapes in `format` (or 'fp32'), scales included; vectors at 4 bytes a value. */
export function modelBytes(format: QuantFormat | 'fp32', shapes: number[][]): number {
  let bytes = 0;
  for (const shape of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (shape.length !== 2 || format === 'fp32') {
      bytes += 4 * n;
      continue;
    }
    const [rows, cols] = shape;
    if (format === 'bf16') bytes += 2 * n;
    else if (format === 'fp8') bytes += n + 4;
    else if (format === 'int8') bytes += n + 4 * cols;
    else if (format === 'int4') bytes += n / 2 + 2 * cols * Math.ceil(rows / INT4_GROUP);
    else bytes += (n * Math.log2(3)) / 8 + 4 * cols;
  }
  return Math.ceil(bytes);
}

/** A run's list of formats ('int8,int4'), in the order QUANT_FORMATS gives them. */
export function formatsOf(text: string): QuantFormat[] {
  const want = new Set(text.split(',').map((s) => s.trim()));
  return QUANT_FORMATS.filter((f) => want.has(f));
}
