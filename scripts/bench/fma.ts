/**
 * `npm run bench -- --only fma` (issue 14's fused multiply-add lever, the arith=fma path, measured
 * in Node on this machine): the committed modules, portable (plain SIMD) and kernels-fma (every
 * multiply-add of its matMul, gemmPanel's c + x * w, as relaxed SIMD's f32x4.relaxed_madd, which
 * V8 compiles to one fused instruction where the CPU has FMA).
 *
 * In a child process (Node 20 needs --experimental-wasm-relaxed-simd), both builds on tfjs-wasm's
 * memory:
 * - kernel: matMul at the nets' shapes, plain against fused;
 * - steps: whole training steps of each workload, two sessions of the same link, one on each build,
 *   in alternating blocks of 5 steps (this machine's speed drifts); and whether their metrics are
 *   equal (they are not: a fused multiply-add rounds once where plain SIMD rounds twice, so the
 *   same link gives other numbers with arith=fma: why portable stays the default).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileKernel, fusedSource } from '../build-kernels';
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

/** The child (run with --experimental-wasm-relaxed-simd): prints one JSON line. */
async function child(): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  const fused = await import('../../workers/fused-kernels');
  const { initBackend } = await import('../backend');
  const { count } = fusedSource(readFileSync(join(ROOT, 'workers/kernels/assembly/kernels.ts'), 'utf8'));
  // The committed modules' builds: plain SIMD, and the arith=fma path's.
  const builds = { plain: await compileKernel('kernels'), fma: await compileKernel('kernels-fma') };
  type Mod = Record<string, (...a: number[]) => unknown>;
  const mods: Mod[] = [];
  const cur = { k: 0 };
  await initBackend(async () => {
    const memory = (tf.backend() as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } }).wasm.asm.memory;
    for (const b of [builds.plain, builds.fma]) mods.push(new WebAssembly.Instance(new WebAssembly.Module(b as BufferSource), { env: { memory } }).exports as unknown as Mod);
    // Every kernel calls the module through this: the build of the session being stepped.
    fused.setFusedModule(new Proxy({}, { get: (_, name) => mods[cur.k][name as string] }) as unknown as Parameters<typeof fused.setFusedModule>[0]);
  });
  const out: Record<string, unknown> = { rewritten: count };
  // matMul alone, on scratch from tfjs-wasm's heap.
  const wasm = (tf.backend() as unknown as { wasm: { _malloc(n: number): number; _free(p: number): void; HEAPF32: Float32Array } }).wasm;
  const base = wasm._malloc(8 << 20);
  // Operands a few cache lines off any large power of two apart (else they share cache sets).
  const a = (base + 63) & ~63, w = a + (2 << 20) + 64 * 5, o = a + (4 << 20) + 64 * 11;
  for (let i = 0; i < (6 << 20) / 4; i++) wasm.HEAPF32[a / 4 + i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
  for (const [M, K, N] of MATMULS) {
    const us: number[][] = [[], []];
    const reps = Math.max(10, Math.round(2e7 / (M * K * N)));
    for (let round = 0; round < 24; round++) {
      for (let k = 0; k < 2; k++) {
        const t0 = performance.now();
        for (let i = 0; i < reps; i++) mods[k].matmul(a, w, o, M, K, N, 0);
        if (round >= 4) us[k].push(((performance.now() - t0) / reps) * 1000);
      }
    }
    out[`matmul_${M}x${K}x${N}`] = { plain: median(us[0]), fma: median(us[1]) };
  }
  wasm._free(base);
  const { Session } = await import('../../src/core/session');
  for (const [id, w, net] of STEP_WORKLOADS) {
    const sessions = [0, 1].map(() => new Session(configOf(workloadHash(w, net))));
    const ms: number[][] = [[], []];
    const rows: string[][] = [[], []];
    for (let b = 0; b < BLOCKS; b++) {
      for (let k = 0; k < 2; k++) {
        cur.k = k;
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
    sessions.forEach((s) => s.dispose());
    out[id] = { plain: median(ms[0]), fma: median(ms[1]), same: rows[0].join() === rows[1].join() };
  }
  process.stdout.write('\n@@' + JSON.stringify(out) + '\n');
}

export async function fmaGroup(): Promise<{ figures: Figures; text: string }> {
  const f: Figures = {};
  const rows: Row[] = [];
  log('fma: our module built with relaxed_madd in its matMul, against the plain build (child process)');
  const r = spawnSync(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', fileURLToPath(import.meta.url), '--child'], { encoding: 'utf8', timeout: 900_000, maxBuffer: 1 << 28 });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('@@'));
  if (!line) {
    const why = (r.stderr || String(r.error)).trim().split('\n').slice(-3).join(' ');
    f['fma.available'] = false;
    rows.push({ figure: 'fma', value: 'not measured', target: why.slice(0, 200) });
    return { figures: f, text: table('fma (Node, relaxed SIMD: the arith=fma path)', rows) };
  }
  const got = JSON.parse(line.slice(2)) as Record<string, { plain: number; fma: number; same?: boolean }> & { rewritten: number };
  f['fma.available'] = true;
  f['fma.multiply_adds_rewritten'] = got.rewritten;
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
  return { figures: f, text: table(`fma (Node, relaxed SIMD: ${got.rewritten} multiply-adds of our matMul fused; arith=fma)`, rows) };
}

if (process.argv[2] === '--child') await child();
