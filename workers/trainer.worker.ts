/**
 * The worker: picks the tfjs backend (wasm with SIMD, single thread; DESIGN.md section 3), then
 * Comlink-exposes one trainer. One worker per (run, seed), so runs train in parallel and a crashed
 * run takes only itself down.
 */
import * as Comlink from 'comlink';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { installWasmKernels } from './wasm-kernels';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { createTrainer } from './trainer';

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmUrl,
  'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
});
// Threads gave nothing on 2 cores and break the minified build.
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);

const backendReady = (async () => {
  if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend failed to initialise');
  await tf.ready();
  installWasmKernels();
  return tf.getBackend();
})();

const trainer = createTrainer();

/** The trainer, with init waiting for the backend; plus which backend (and SIMD) is in use. */
const api = {
  ...trainer,
  async init(...args: Parameters<typeof trainer.init>) {
    await backendReady;
    return trainer.init(...args);
  },
  step: () => trainer.step(),
  /** The policy, its weight buffers transferred (not copied) to the page. */
  async exportPolicy() {
    const p = await trainer.exportPolicy();
    return p ? Comlink.transfer(p, p.weights.map((w) => w.data.buffer as ArrayBuffer)) : null;
  },
  async backend(): Promise<{ name: string; simd: boolean }> {
    const name = await backendReady;
    return { name, simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) };
  },
};

export type WorkerApi = typeof api;

Comlink.expose(api);
