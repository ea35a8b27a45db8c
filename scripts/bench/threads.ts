/**
 * `npm run bench -- --only threads` (issue 14's threads lever, measured in Node on this machine):
 * our matMul with its output rows split over two threads that share one memory.
 *
 * - kernel: the matMul shapes the nets' steps use, one thread against two (a helper thread runs
 *   the second half of the rows while this one runs the first), and whether the outputs are the
 *   same bits (each output is still summed over k in order by one thread, so they must be).
 * - steps: in a child process, tfjs-wasm on a shared memory (workers/shared-memory.ts turns its
 *   memory into a shared import) with our kernels built for it, whole training steps of each
 *   workload with our BatchMatMul split over two threads against one; and whether every metric
 *   equals that of the usual path (the unshared memory, one thread), to the bit.
 *
 * Four runs on this 2-core machine keep one thread each (nothing to split), so the figure that
 * matters is one run's. Not used by the app yet: the page would also need cross-origin isolation
 * (COOP/COEP headers) for SharedArrayBuffer, and the GRU's fused kernels split inside the module.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { compileKernel } from '../build-kernels';
import { shareModuleMemory } from '../../workers/shared-memory';
import type { FusedModule } from '../../workers/fused-kernels';
import { type Figures, fmtNum, log, median, round, type Row, table } from './common';

/** Flags for a build of our kernels that imports a shared memory (of tfjs-wasm's maximum: 65,536 pages). */
const SHARED_FLAGS = ['--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536', '--enable', 'threads'];

/** The helper thread: our module on the same memory, running gemm calls posted through a control block. */
const HELPER = `
const { parentPort, workerData } = require('node:worker_threads');
const { bytes, memory, ctl, SPIN_MS } = workerData;
const m = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
const c = new Int32Array(memory.buffer, ctl, 16);
parentPort.postMessage('ready');
let seen = 0;
for (;;) {
  // Spin up to SPIN_MS for the next job (waking from Atomics.wait costs more than a small product), then sleep.
  const until = performance.now() + SPIN_MS;
  while (Atomics.load(c, 0) === seen) {
    if (performance.now() > until) { Atomics.wait(c, 0, seen); break; }
  }
  seen = Atomics.load(c, 0);
  if (c[2] < 0) break;
  m.gemm(c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]);
  Atomics.store(c, 1, seen);
}
`;

/** Products with fewer multiply-adds than this stay on one thread (the hand-off costs a few microseconds). */
const SPLIT_MIN = 1 << 17;
/** How long the helper spins for its next job before it sleeps (waking it costs more than a small product). */
const SPIN_MS = 2;

export interface Pool {
  /** gemm over rows [0, M) with rows [h, M) on the helper (same arguments as the module's gemm). */
  gemm(a: number, rs: number, ks: number, w: number, out: number, M: number, K: number, N: number, acc: number): void;
  close(): Promise<void>;
}

/** One helper thread for `mod` (instantiated on `memory`); `ctl`: 64 free bytes of that memory. */
export async function startPool(bytes: Uint8Array, memory: WebAssembly.Memory, mod: FusedModule, ctl: number): Promise<Pool> {
  const worker = new Worker(HELPER, { eval: true, workerData: { bytes, memory, ctl, SPIN_MS } });
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  const c = new Int32Array(memory.buffer, ctl, 16);
  let seq = 0;
  return {
    gemm(a, rs, ks, w, out, M, K, N, acc) {
      const h = M >> 1;
      if (M * K * N < SPLIT_MIN || h < 4) return mod.gemm(a, rs, ks, w, out, M, K, N, acc);
      c[2] = 0;
      c[3] = a + h * rs * 4; c[4] = rs; c[5] = ks; c[6] = w; c[7] = out + h * N * 4; c[8] = M - h; c[9] = K; c[10] = N; c[11] = acc;
      Atomics.store(c, 0, ++seq);
      Atomics.notify(c, 0);
      mod.gemm(a, rs, ks, w, out, h, K, N, acc);
      while (Atomics.load(c, 1) !== seq);
    },
    async close() {
      c[2] = -1;
      Atomics.store(c, 0, ++seq);
      Atomics.notify(c, 0);
      await worker.terminate();
    },
  };
}

/** The module's exports with matmul and matmulTA split by the pool while `on.split` (everything else as it is). */
export function splitModule(mod: FusedModule, pool: Pool, on: { split: boolean }): FusedModule {
  return {
    ...mod,
    matmul: (a, w, out, M, K, N, acc) => (on.split ? pool.gemm(a, K, 1, w, out, M, K, N, acc) : mod.matmul(a, w, out, M, K, N, acc)),
    matmulTA: (a, b, out, M, K, N, acc) => (on.split ? pool.gemm(a, 1, K, b, out, K, M, N, acc) : mod.matmulTA(a, b, out, M, K, N, acc)),
  };
}

/** Our kernels built for a shared memory, and an instance of them on `memory`. */
async function sharedKernels(memory: WebAssembly.Memory): Promise<{ bytes: Uint8Array; mod: FusedModule }> {
  const bytes = await compileKernel('kernels', SHARED_FLAGS);
  return { bytes, mod: new WebAssembly.Instance(new WebAssembly.Module(bytes as BufferSource), { env: { memory } }).exports as unknown as FusedModule };
}

/** [rows, k, cols, transposed A] of the nets' matMuls (the transposed ones: weight gradients over batch x positions). */
const SHAPES: [number, number, number, boolean][] = [
  [256, 64, 64, false], [256, 64, 192, false], [256, 128, 128, false], [1024, 128, 128, false],
  [2304, 32, 32, false], [2304, 32, 128, false], [2304, 128, 32, false],
  [2304, 64, 64, true], [2304, 128, 128, true], [2304, 32, 32, true],
];

async function kernelPart(f: Figures, rows: Row[]): Promise<void> {
  const memory = new WebAssembly.Memory({ initial: 2048, maximum: 65536, shared: true });
  const { bytes, mod } = await sharedKernels(memory);
  const f32 = new Float32Array(memory.buffer);
  const MB = 1 << 20;
  for (let i = 0; i < 24 * MB / 4; i++) f32[i] = Math.sin(i * 0.37) * 0.5;
  const A = 0, W = 8 * MB, O1 = 16 * MB, O2 = 24 * MB, CTL = 32 * MB;
  const pool = await startPool(bytes, memory, mod, CTL);
  let allSame = true;
  try {
    for (const [M, K, N, ta] of SHAPES) {
      // The module's arguments: out [M, N] from A [M, K] (or a [K, M] read transposed).
      const args = (out: number): [number, number, number, number, number, number, number, number, number] => (ta ? [A, 1, M, W, out, M, K, N, 0] : [A, K, 1, W, out, M, K, N, 0]);
      mod.gemm(...args(O1));
      pool.gemm(...args(O2));
      const same = f32.subarray(O1 / 4, O1 / 4 + M * N).every((v, i) => Object.is(v, f32[O2 / 4 + i]));
      allSame &&= same;
      const flops = 2 * M * K * N;
      const n = Math.max(5, Math.round(1e8 / flops));
      const one: number[] = [], two: number[] = [];
      for (let r = 0; r < 9; r++) {
        let t0 = performance.now();
        for (let i = 0; i < n; i++) mod.gemm(...args(O1));
        one.push((performance.now() - t0) / n);
        t0 = performance.now();
        for (let i = 0; i < n; i++) pool.gemm(...args(O2));
        two.push((performance.now() - t0) / n);
      }
      const name = `${ta ? 'T' : ''}${M}x${K}x${N}`;
      const speedup = median(one) / median(two);
      f[`threads.matmul_${name}.us_1_thread`] = round(median(one) * 1000, 1);
      f[`threads.matmul_${name}.us_2_threads`] = round(median(two) * 1000, 1);
      f[`threads.matmul_${name}.speedup`] = round(speedup, 2);
      rows.push({ figure: `matMul ${ta ? '[' + M + ',' + K + ']^T' : '[' + M + ',' + K + ']'} x [${ta ? M : K},${N}]`, value: `x${fmtNum(speedup, 2)}`, target: `${fmtNum(median(one) * 1000, 0)} -> ${fmtNum(median(two) * 1000, 0)} us${same ? '' : ', NOT the same bits'}` });
    }
  } finally {
    await pool.close();
  }
  f['threads.matmul_same_bits'] = allSame;
  rows.push({ figure: 'matMul outputs the same bits on two threads', value: allSame ? 'yes' : 'no', target: 'yes', ok: allSame });
}

/** Workloads of the child's step part: [id, link]. */
const STEP_WORKLOADS: [string, string][] = [
  ['mlp.grpo', 'runs=grpo&r1.batch=256'], ['mlp.sft', 'runs=sft&r1.batch=256'], ['mlp.ppo', 'runs=ppo&r1.batch=256'],
  ['transformer.sft', 'net=transformer&runs=sft&r1.batch=256'], ['transformer.grpo', 'net=transformer&runs=grpo&r1.batch=256'],
  ['gru.sft', 'net=gru&embed=32&hidden=64&runs=sft&r1.batch=256'],
];
const STEPS = 25;
const BLOCK = 5;

/** The child: `mode` 'plain' (the usual path) or 'shared' (shared memory, 1 then 2 threads). Prints JSON. */
async function child(mode: string): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  let shared: WebAssembly.Memory | null = null;
  if (mode === 'shared') {
    // tfjs-wasm instantiates its module once: hand it the shared-memory version.
    const orig = WebAssembly.instantiate.bind(WebAssembly) as (b: BufferSource, i?: WebAssembly.Imports) => Promise<WebAssembly.WebAssemblyInstantiatedSource>;
    (WebAssembly as unknown as { instantiate: unknown }).instantiate = (src: BufferSource, imports: WebAssembly.Imports) => {
      if (!shared && (src instanceof Uint8Array || src instanceof ArrayBuffer)) {
        const s = shareModuleMemory(src instanceof ArrayBuffer ? new Uint8Array(src) : src);
        shared = s.memory;
        (imports.env as Record<string, unknown>).memory = s.memory;
        return orig(s.bytes as BufferSource, imports);
      }
      return orig(src, imports);
    };
  }
  const fused = await import('../../workers/fused-kernels');
  const { kernelPath } = await import('../../workers/wasm-kernels');
  const { initBackend } = await import('../backend');
  let pool: Pool | null = null;
  const on = { split: false };
  await initBackend(async () => {
    if (!shared) return;
    const mem = shared as WebAssembly.Memory;
    const { bytes, mod } = await sharedKernels(mem);
    const ctl = (tf.backend() as unknown as { wasm: { _malloc(n: number): number } }).wasm._malloc(64);
    pool = await startPool(bytes, mem, mod, ctl);
    fused.setFusedModule(splitModule(mod, pool, on));
  });
  const { Session } = await import('../../src/core/session');
  const { configOf } = await import('./common');
  const out: Record<string, unknown> = { kernels: kernelPath(), shared: (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer instanceof SharedArrayBuffer };
  for (const [id, link] of STEP_WORKLOADS) {
    // One session per thread count, in alternating blocks of BLOCK steps (this machine's speed
    // drifts); a block's first step is not timed (the helper may still be spinning from the last).
    const counts = shared ? [1, 2] : [1];
    const sessions = counts.map(() => new Session(configOf(link)));
    const ms: number[][] = counts.map(() => []);
    const metrics: unknown[][] = counts.map(() => []);
    for (let b = 0; b < STEPS / BLOCK; b++) {
      for (let k = 0; k < counts.length; k++) {
        on.split = counts[k] === 2;
        for (let j = 0; j < BLOCK; j++) {
          const t0 = performance.now();
          await sessions[k].trainStep();
          if (b > 0 && j > 0) ms[k].push(performance.now() - t0);
          if (j === BLOCK - 1) {
            const row = await sessions[k].evaluate();
            delete row['time/seconds'];
            metrics[k].push(row);
          }
        }
      }
    }
    counts.forEach((threads, k) => {
      sessions[k].dispose();
      out[`${id}.${threads}`] = { ms: median(ms[k]), metrics: JSON.stringify(metrics[k]) };
    });
  }
  await (pool as Pool | null)?.close();
  process.stdout.write('\n@@' + JSON.stringify(out) + '\n');
}

function runChild(mode: string): Record<string, { ms: number; metrics: string }> & { kernels: string; shared: boolean } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', mode], { encoding: 'utf8', timeout: 900_000, maxBuffer: 1 << 28 });
  const line = r.stdout.split('\n').find((l) => l.startsWith('@@'));
  if (!line) throw new Error(`the ${mode} child failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(line.slice(2));
}

async function stepPart(f: Figures, rows: Row[]): Promise<void> {
  log('threads: steps on the usual path (child process)');
  const plain = runChild('plain');
  log('threads: steps on a shared memory, 1 and 2 threads (child process)');
  const sh = runChild('shared');
  f['threads.tfjs_shared_memory'] = sh.shared;
  f['threads.kernels'] = sh.kernels;
  let allSame = true;
  for (const [id] of STEP_WORKLOADS) {
    const base = plain[`${id}.1`], one = sh[`${id}.1`], two = sh[`${id}.2`];
    const same = base.metrics === one.metrics && one.metrics === two.metrics;
    allSame &&= same;
    f[`threads.step.${id}.ms_1_thread`] = round(one.ms, 2);
    f[`threads.step.${id}.ms_2_threads`] = round(two.ms, 2);
    f[`threads.step.${id}.speedup`] = round(one.ms / two.ms, 2);
    rows.push({ figure: `step ${id}`, value: `x${fmtNum(one.ms / two.ms, 2)}`, target: `${fmtNum(one.ms, 1)} -> ${fmtNum(two.ms, 1)} ms (usual path ${fmtNum(base.ms, 1)})${same ? '' : ', numbers DIFFER'}` });
  }
  f['threads.step_same_numbers'] = allSame;
  rows.push({ figure: 'every metric equal: usual path, shared 1 thread, 2 threads', value: allSame ? 'yes' : 'no', target: 'yes', ok: allSame });
}

export async function threadsGroup(): Promise<{ figures: Figures; text: string }> {
  const f: Figures = {};
  const rows: Row[] = [];
  log('threads: matMul kernels, 1 and 2 threads');
  await kernelPart(f, rows);
  await stepPart(f, rows);
  return { figures: f, text: table('threads (Node, one run: our matMul with its rows split over 2 threads on a shared memory; not used by the app yet)', rows) };
}

if (process.argv[2] === '--child') await child(process.argv[3]);
