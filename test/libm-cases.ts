/**
 * The inputs test/libm.test.ts checks src/core/math/libm.ts on (and scripts/libm-fixture.ts
 * recorded Node 20's results for): seeded, so the fixture stores outputs only. Many of them are
 * inputs where a correctly rounded result (Chromium 156's Math) differs from fdlibm's.
 */
function xorshift(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

const N = 400;
const r = xorshift(20261202);
const many = (f: () => [number, number?]) => Array.from({ length: N }, f);

export const LIBM_CASES: Record<'exp' | 'log' | 'sin' | 'cos' | 'pow', [number, number?][]> = {
  exp: [[0], [-0], [1], [-1], [709.78], [-745.1], [1e-9], [0.5 * Math.LN2], [1.5 * Math.LN2], ...many(() => [-40 + 50 * r()]), ...many(() => [(r() - 0.5) * 3])],
  log: [[1], [2], [0.5], [1e-300], [5e-324], [1.7976931348623157e308], [1 + 2 ** -30], ...many(() => [3 * r() + 1e-9]), ...many(() => [1 + (r() - 0.5) * 1e-3])],
  // Box-Muller's angles (rng.ts): 2 pi v, v in [0, 1).
  sin: [[0], [-0], [1e-10], [Math.PI], [Math.PI / 2], ...many(() => [2 * Math.PI * r()])],
  cos: [[0], [-0], [1e-10], [Math.PI], [Math.PI / 2], ...many(() => [2 * Math.PI * r()])],
  // Adam's bias corrections (beta ** t) and general arguments.
  pow: [
    ...Array.from({ length: 300 }, (_, t): [number, number] => [0.9, t + 1]),
    ...Array.from({ length: 300 }, (_, t): [number, number] => [0.999, 1 + t * 17]),
    [2, 10], [10, 3], [-2, 3], [0, 0], [0.5, 0.5], [1e-300, 2], [2, -1074], [0.9, 1e6],
    ...many(() => [2 * r(), (r() - 0.5) * 100]),
  ],
};

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
/** The 16 hex digits of a double's bits (high word first). */
export function hexOf(x: number): string {
  f64[0] = x;
  return u32[1].toString(16).padStart(8, '0') + u32[0].toString(16).padStart(8, '0');
}
