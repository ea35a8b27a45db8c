/**
 * The bench page's script: the app's own worker (workers/trainer.worker.ts, built as the app
 * builds it) runs a workload through Comlink; the page times whole steps from outside, as the
 * app's main thread sees them. scripts/bench/browser.ts calls `window.benchWorkload`.
 */
import * as Comlink from 'comlink';
import { decode } from '../../src/core/config';
import type { WorkerApi } from '../../workers/trainer.worker';

export interface WorkerBench {
  backend: { name: string; simd: boolean };
  steps: number;
  tokens: number;
  seconds: number;
}

async function benchWorkload(hash: string, warmup: number, steps: number): Promise<WorkerBench> {
  const { config, problems } = decode(hash);
  if (problems.length) throw new Error(`bad link: ${JSON.stringify(problems)}`);
  const worker = new Worker(new URL('../../workers/trainer.worker.ts', import.meta.url), { type: 'module' });
  const api = Comlink.wrap<WorkerApi>(worker);
  try {
    const backend = await api.backend();
    await api.init(config, 0, 0);
    const warm = await api.run(warmup);
    const t0 = performance.now();
    const res = await api.run(steps);
    const seconds = (performance.now() - t0) / 1000;
    if (res.status === 'error') throw new Error(res.error?.message);
    return { backend, steps: res.step - warm.step, tokens: res.tokens - warm.tokens, seconds };
  } finally {
    api[Comlink.releaseProxy]();
    worker.terminate();
  }
}

(window as unknown as { benchWorkload: typeof benchWorkload }).benchWorkload = benchWorkload;
document.body.dataset.ready = '1';
