/**
 * Node: select the tfjs wasm backend (SIMD, single thread), loading the .wasm files from the
 * npm package's dist/ folder, with relaxed SIMD on. Used by the CLI, the benchmarks and the test setup.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { installWasmKernels } from '../workers/wasm-kernels';
export { kernelPath, useOwnKernels } from '../workers/wasm-kernels';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { wasmFeatures } from '../src/core/platform';
import { dirname, join } from 'node:path';

let ready: Promise<string> | null = null;

/**
 * Select the backend (once per process). `beforeKernels` runs after tfjs-wasm has started and before
 * our kernels are installed (the threads bench hands in its own build of them there).
 */
export function initBackend(beforeKernels?: () => Promise<void>): Promise<string> {
  if (!ready) {
    // Node 20 has relaxed SIMD (the arith=fma path) behind a flag; later Nodes have it on. Setting
    // it here, before any module is compiled, gives the CLI, the benchmarks and the tests the
    // engine a browser has.
    if (!wasmFeatures().relaxedSimd) setFlagsFromString('--experimental-wasm-relaxed-simd');
    ready = (async () => {
      const require = createRequire(import.meta.url);
      const dist = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';
      setWasmPaths(dist);
      tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
      const ok = await tf.setBackend('wasm');
      if (!ok) throw new Error('tfjs wasm backend failed to initialise');
      await tf.ready();
      if (beforeKernels) await beforeKernels();
      installWasmKernels();
      return tf.getBackend();
    })();
  }
  return ready;
}
