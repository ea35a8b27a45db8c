/**
 * What this engine's WebAssembly offers (issue 14's levers), detected by validating tiny modules:
 * 128-bit SIMD (tfjs-wasm's SIMD build needs it), relaxed SIMD (fused multiply-add: Chromium has
 * it, Node 20 only with --experimental-wasm-relaxed-simd; scripts/backend.ts turns it on), whether
 * its multiply-add fuses, and shared memory (threads: in a page,
 * only when cross-origin isolated). Pure: the WebAssembly global only, the same in a worker, a
 * page and Node. Self-contained (no outside names), so a benchmark can run its source in a page.
 */
export interface WasmFeatures {
  simd: boolean;
  relaxedSimd: boolean;
  /**
   * Whether relaxed SIMD's f32x4.relaxed_madd rounds once (a fused multiply-add): the engine may
   * also compute it as a multiply then an add (x64 without FMA3), the plain path's numbers.
   */
  fusedMadd: boolean;
  sharedMemory: boolean;
}

export function wasmFeatures(): WasmFeatures {
  const valid = (bytes: number[]) => {
    try {
      return WebAssembly.validate(new Uint8Array(bytes));
    } catch {
      return false;
    }
  };
  // (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt))
  const simd = [0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11];
  // (module (func (result v128) i32.const 1 i8x16.splat i32.const 2 i8x16.splat i8x16.relaxed_swizzle))
  const relaxed = [0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 1, 253, 15, 65, 2, 253, 15, 253, 128, 2, 11];
  // (module (func (export "f") (result f32) a splat, a splat, c splat, f32x4.relaxed_madd, lane 0)):
  // a = 1 + 2^-12, c = -(1 + 2^-11): a * a + c is 2^-24 rounded once, 0 when a * a is rounded first.
  const madd = [0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 125, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 31, 1, 29, 0,
    67, 0, 8, 128, 63, 253, 19, 67, 0, 8, 128, 63, 253, 19, 67, 0, 16, 128, 191, 253, 19, 253, 133, 2, 253, 31, 0, 11];
  let fusedMadd = false;
  if (valid(relaxed)) {
    try {
      const f = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(madd))).exports.f as () => number;
      fusedMadd = f() === 2 ** -24;
    } catch {
      /* not fused */
    }
  }
  let sharedMemory = false;
  try {
    sharedMemory = typeof SharedArrayBuffer === 'function' && new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
  } catch {
    /* no shared memory here */
  }
  return { simd: valid(simd), relaxedSimd: valid(relaxed), fusedMadd, sharedMemory };
}
