/**
 * `npm run bench -- --only fma` (issue 14's fused multiply-add lever, the arith=fma path, measured
 * in Node on this machine): the committed modules, portable (plain SIMD) and kernels-fma (every
 * multiply-add of its matMul, gemmPanel's c + x * w, as relaxed SIMD's f32x4.relaxed_madd, which
 * V8 compiles to one fused instruction where the CPU has FMA), switched by the app's own
 * `useArith` (scripts/backend.ts has turned on Node 20's relaxed SIMD):
 * - kernel: matMul at the nets' shapes, plain against fused;
 * - steps: whole training steps of each workload, two sessions of the same link, one with
 *   arith=fma (each session sets its arithmetic per step), in alternating blocks of 5 steps (this
 *   machine's speed drifts); and whether their metrics are equal (they are not: a fused
 *   multiply-add rounds once where plain SIMD rounds twice, so the same link gives other numbers
 *   with arith=fma: why portable stays the default).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Session } from '../../src/core/session';
import { fusedModule, useArith } from '../../workers/fused-kernels';
import { fusedSource } from '../build-kernels';
import { configOf, ROOT, type Figures, fmtNum, GRU_NET, log, median, round, type Row, table, TRANSFORMER_NET, type WorkloadId, workloadHash } from './common';

/** The throughput group's workloads (its links: the reference's GRU, the default MLP, the transformer). */
const STEP_WORKLOADS: [string, WorkloadId, string][] = [
  ['gru.sft', 'sft', GRU_NET], ['gru.grpo', 'grpo', GRU_NET], ['gru.ppo', 'ppo', GRU_NET],
  ['mlp.sft', 'sft', ''], ['mlp.grpo', 'grpo', ''], ['mlp.ppo', 'ppo', ''],
  ['transformer.sft', 'sft', TRANSFORMER_NET], ['transformer.grpo', 'grpo', TRANSFORMER_NET],
];
const MATMULS: [number, number, number][] = [[256, 64, 64], [256, 64, 192], [1536, 64, 14], [256, 32, 128], [256, 128, 32]];
const BLOCKS = 8;
const BLOCK = 5;

/** matMul alone under each arithmetic, on scratch from tfjs-wasm's heap: median us per call, [portable, fma]. */
function matmulTimes(M: number, K: number, N: number, a: number, w: number, o: number): [number, number] {
  const mod = fusedModule()!;
  const us: number[][] = [[], []];
  const reps = Math.max(10, Math.round(2e7 / (M * K * N)));
  for (let r = 0; r < 24; r++) {
    for (let k = 0; k < 2; k++) {
      useArith(k ? 'fma' : 'portable');
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) mod.matmul(a, w, o, M, K, N, 0);
      if (r >= 4) us[k].push(((performance.now() - t0) / reps) * 1000);
    }
  }
  useArith('portable');
  return [median(us[0]), median(us[1])];
}

/** Whole steps of one link, portable against arith=fma, alternated: median ms per step, and whether the metrics are equal. */
async function stepTimes(hash: string): Promise<{ plain: number; fma: number; same: boolean }> {
  const sessions = [hash, `${hash}&arith=fma`].map((h) => new Session(configOf(h)));
  const ms: number[][] = [[], []];
  const rows: string[][] = [[], []];
  try {
    for (let b = 0; b < BLOCKS; b++) {
      for (let k = 0; k < 2; k++) {
        for (let j = 0; j < BLOCK; j++) {
          const t0 = performance.now();
          await sessions[k].trainStep();
          if (b > 0) ms[k].push(performance.now() - t0);
        }
        const row = await sessions[k].evaluate();
        delete row['time/seconds'];
        rows[k].push(JSON.stringify(row));
      }
    }
  } finally {
    sessions.forEach((s) => s.dispose());
  }
  return { plain: median(ms[0]), fma: median(ms[1]), same: rows[0].join() === rows[1].join() };
}

export async function fmaGroup(): Promise<{ figures: Figures; text: string }> {
  const f: Figures = {};
  const rows: Row[] = [];
  log('fma: our module with relaxed_madd in its matMul (arith=fma), against the portable build');
  const available = !!fusedModule() && useArith('fma') === 'fma';
  useArith('portable');
  f['fma.available'] = available;
  if (!available) {
    rows.push({ figure: 'fma', value: 'not measured', target: "our kernels are not installed, or this engine's multiply-adds do not fuse" });
    return { figures: f, text: table('fma (Node, relaxed SIMD: the arith=fma path)', rows) };
  }
  const { count } = fusedSource(readFileSync(join(ROOT, 'workers/kernels/assembly/kernels.ts'), 'utf8'));
  const got: Record<string, { plain: number; fma: number; same?: boolean }> = {};
  const wasm = (tf.backend() as unknown as { wasm: { _malloc(n: number): number; _free(p: number): void; HEAPF32: Float32Array } }).wasm;
  const base = wasm._malloc(8 << 20);
  // Operands a few cache lines off any large power of two apart (else they share cache sets).
  const a = (base + 63) & ~63, w = a + (2 << 20) + 64 * 5, o = a + (4 << 20) + 64 * 11;
  for (let i = 0; i < (6 << 20) / 4; i++) wasm.HEAPF32[a / 4 + i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  for (const [M, K, N] of MATMULS) {
    const [plain, fma] = matmulTimes(M, K, N, a, w, o);
    got[`matmul_${M}x${K}x${N}`] = { plain, fma };
  }
  wasm._free(base);
  for (const [id, wl, net] of STEP_WORKLOADS) {
    log(`fma: ${id}`);
    got[id] = await stepTimes(workloadHash(wl, net));
  }
  f['fma.multiply_adds_rewritten'] = count;
  for (const [M, K, N] of MATMULS) {
    const m = got[`matmul_${M}x${K}x${N}`];
    const gflops = (us: number) => (2 * M * K * N) / us / 1000;
    f[`fma.matmul_${M}x${K}x${N}.speedup`] = round(m.plain / m.fma, 2);
    f[`fma.matmul_${M}x${K}x${N}.gflops_plain`] = round(gflops(m.plain), 1);
    f[`fma.matmul_${M}x${K}x${N}.gflops_fma`] = round(gflops(m.fma), 1);
    rows.push({ figure: `matMul [${M},${K}] x [${K},${N}]`, value: `x${fmtNum(m.plain / m.fma, 2)}`, target: `${fmtNum(gflops(m.plain), 1)} -> ${fmtNum(gflops(m.fma), 1)} GFLOP/s` });
  }
  let anySame = false;
  for (const [id] of STEP_WORKLOADS) {
    const s = got[id];
    anySame ||= !!s.same;
    f[`fma.step.${id}.ms_plain`] = round(s.plain, 2);
    f[`fma.step.${id}.ms_fma`] = round(s.fma, 2);
    f[`fma.step.${id}.speedup`] = round(s.plain / s.fma, 3);
    f[`fma.step.${id}.same_numbers`] = !!s.same;
    rows.push({ figure: `step ${id}`, value: `x${fmtNum(s.plain / s.fma, 2)}`, target: `${fmtNum(s.plain, 1)} -> ${fmtNum(s.fma, 1)} ms; numbers ${s.same ? 'equal' : 'differ'}` });
  }
  rows.push({ figure: 'same link, same numbers with and without FMA', value: anySame ? 'for some' : 'no', target: '(why portable stays the default)' });
  return { figures: f, text: table(`fma (Node, relaxed SIMD: ${count} multiply-adds of our matMul fused; arith=fma)`, rows) };
}

