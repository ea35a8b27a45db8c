import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

// The engine (src/core, workers/) must give a link's numbers in every JS engine: randomness only
// through the seeded Rng, transcendental functions only through src/core/math/libm.ts (engines'
// Math.exp/log/pow/sin/cos differ in the last bit: Node 20's fdlibm against Chromium 156's
// correctly rounded results).
const ROOT = join(import.meta.dirname, '..');
function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}
const files = [...tsFiles(join(ROOT, 'src', 'core')), ...tsFiles(join(ROOT, 'workers'))].filter((f) => !/src\/core\/math\/libm[^/]*\.ts$/.test(f));
/** Uses that cannot change a number: floor(log2 x) for quantisation scales (differs only within an ulp below a power of two, never seen), log2(3) for a size. */
const ALLOWED = new Set(['src/core/quant.ts: Math.log2(']);

describe("engine code uses the engine's own math", () => {
  it('no Math.random, and no Math.exp/log/pow/trig outside src/core/math/libm.ts', () => {
    const found: string[] = [];
    for (const f of files) {
      const text = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      for (const m of text.matchAll(/Math\.(random|exp|expm1|log|log1p|log2|log10|pow|sin|cos|tan|asin|acos|atan|atan2|sinh|cosh|tanh|asinh|acosh|atanh|cbrt|hypot)\(/g)) {
        const use = `${relative(ROOT, f)}: ${m[0]}`;
        if (!ALLOWED.has(use)) found.push(use);
      }
    }
    expect(found).toEqual([]);
    expect(files.length).toBeGreaterThan(30);
  });
});
