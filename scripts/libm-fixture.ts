/**
 * Writes test/fixtures/libm.json: what Node 20's Math (V8 11.3: ports of fdlibm) returns for the
 * inputs test/libm.test.ts generates, as the hex of each double's bits. Run it on Node 20 only
 * (`npx tsx scripts/libm-fixture.ts`); the file records the version it ran on.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LIBM_CASES, hexOf } from '../test/libm-cases';

const major = Number(process.versions.node.split('.')[0]);
if (major !== 20) throw new Error(`run this on Node 20 (its Math is fdlibm's); this is Node ${process.versions.node}`);
const math = { exp: Math.exp, log: Math.log, sin: Math.sin, cos: Math.cos, pow: Math.pow } as Record<string, (x: number, y?: number) => number>;
const out: Record<string, unknown> = {
  source: `Math.exp, Math.log, Math.sin, Math.cos, Math.pow of Node ${process.versions.node} (V8 ${process.versions.v8}: fdlibm), on the inputs of test/libm-cases.ts`,
};
for (const [fn, cases] of Object.entries(LIBM_CASES)) out[fn] = cases.map(([x, y]) => hexOf(fn === 'pow' ? math.pow(x, y!) : math[fn](x))).join('');
writeFileSync(join(import.meta.dirname, '..', 'test', 'fixtures', 'libm.json'), JSON.stringify(out, null, 1) + '\n');
console.log('wrote test/fixtures/libm.json');
