/**
 * The arith=fma build (workers/kernels/kernels-fma.wasm.ts, made by scripts/build-kernels.ts): our
 * matMul's multiply-adds rewritten as relaxed SIMD's fused multiply-add, and nothing else. The
 * portable module stays plain SIMD.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fusedSource, nextDeclaration } from '../scripts/build-kernels';

const SRC = readFileSync(join(__dirname, '../workers/kernels/assembly/kernels.ts'), 'utf8');

function gemmPanelOf(src: string): string {
  const from = src.indexOf('function gemmPanel(');
  return src.slice(from, nextDeclaration(src, from + 1));
}

describe('fma build of the kernels', () => {
  it('fuses every multiply-add of gemmPanel and changes nothing outside it', () => {
    const { src, count } = fusedSource(SRC);
    const before = gemmPanelOf(SRC), after = gemmPanelOf(src);
    // 4x8 blocks (8), 4x4 blocks (4), single rows (1)
    expect(count).toBe(13);
    expect((before.match(/f32x4\.mul\(/g) ?? []).length).toBe(13);
    expect(after).not.toContain('f32x4.mul(');
    expect((after.match(/f32x4\.relaxed_madd\(/g) ?? []).length).toBe(13);
    expect(after).toContain('c00 = f32x4.relaxed_madd(x0, w0, c00)');
    expect(after).toContain('c = f32x4.relaxed_madd(v128.load32_splat(ap), v128.load(wp), c)');
    expect(src.replace(after, '')).toBe(SRC.replace(before, ''));
  });

  it('leaves the portable module plain SIMD (the same numbers on every engine)', () => {
    expect(SRC).not.toContain('relaxed_');
  });
});
