/**
 * What this engine's WebAssembly offers (issue 14's levers), detected by validating tiny modules:
 * 128-bit SIMD (tfjs-wasm's SIMD build needs it), relaxed SIMD (fused multiply-add: Chromium has
 * it, Node 20 only with --experimental-wasm-relaxed-simd) and shared memory (threads: in a page,
 * only when cross-origin isolated). Pure: the WebAssembly global only, the same in a worker, a
 * page and Node. Self-contained (no outside names), so a benchmark can run its source in a page.
 */
export interface WasmFeatures {
  simd: boolean;
  relaxedSimd: boolean;
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
  let sharedMemory = false;
  try {
    sharedMemory = typeof SharedArrayBuffer === 'function' && new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
  } catch {
    /* no shared memory here */
  }
  return { simd: valid(simd), relaxedSimd: valid(relaxed), sharedMemory };
}
