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
import { createTrainer, type Progress } from './trainer';
import type { MetricRow } from '../src/core/metrics';
import { CheckpointStore, StoreError } from '../src/ui/store';

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

/**
 * Where this run's seed stores its checkpoints: the worker writes them to IndexedDB itself, with
 * the rows made up to them (one transaction), so a save never costs the page a frame. The page says
 * where (`setPersist`); when storing fails, the checkpoints go to the page with the reports instead.
 */
export interface PersistInfo {
  identity: string;
  seed: number;
  link: string;
  run: number;
  title: string;
}
const persist = {
  info: null as PersistInfo | null,
  store: null as Promise<CheckpointStore> | null,
  /** Rows written (durably), rows planned (writes queued), rows made since the planned ones. */
  stored: 0,
  planned: 0,
  unstored: [] as MetricRow[],
  error: null as StoreError | null,
  queue: Promise.resolve(),
};

/** A report on its way to the page: its checkpoint stored here (queued), or moved along with it. */
function route<P extends Progress>(p: P): P {
  if (persist.info && !persist.error) {
    persist.unstored.push(...p.rows);
    const ck = p.checkpoint;
    if (ck) {
      const info = { ...persist.info };
      const from = persist.planned;
      const rows = persist.unstored.splice(0, ck.rows - from);
      persist.planned = ck.rows;
      persist.queue = persist.queue.then(async () => {
        if (persist.error) return;
        try {
          await (await persist.store!).save({ ...info, step: ck.step, rows: ck.rows, bytes: ck.bytes }, from, rows);
          persist.stored = ck.rows;
        } catch (e) {
          persist.error = e instanceof StoreError ? e : new StoreError('failed', String(e));
        }
      });
      delete p.checkpoint;
    }
  }
  p.stored = persist.stored;
  if (persist.error) p.storeError = { kind: persist.error.kind, message: persist.error.message };
  return p.checkpoint ? Comlink.transfer(p, [p.checkpoint.bytes.buffer as ArrayBuffer]) : p;
}

/** The trainer, with init waiting for the backend; plus which backend (and SIMD) is in use. */
const api = {
  ...trainer,
  async init(...args: Parameters<typeof trainer.init>) {
    await backendReady;
    await persist.queue; // writes of the run before finish first
    persist.info = null;
    return trainer.init(...args);
  },
  /**
   * Store this seed's checkpoints here (null: send them to the page). `stored`: its rows already
   * in the store (those of the checkpoint it was restored from); `unstored`: rows made since that
   * the store has not got yet (a fresh run's step-0 row).
   */
  async setPersist(info: PersistInfo | null, stored = 0, unstored: MetricRow[] = []) {
    await persist.queue;
    Object.assign(persist, { info, stored, planned: stored, unstored: [...unstored], error: null });
    if (info && !persist.store) {
      persist.store = CheckpointStore.open();
      persist.store.catch((e) => (persist.error = e instanceof StoreError ? e : new StoreError('unavailable', String(e))));
    }
  },
  /** The experiment's link and title changed (another run's settings): later saves list under them. */
  relabel(link: string, title: string, run: number) {
    if (persist.info) persist.info = { ...persist.info, link, title, run };
  },
  /** Progress and the result carry the rows; their checkpoint is stored here, or moved to the page. */
  async run(maxSteps: number, onProgress?: (p: Progress) => void) {
    const res = await trainer.run(maxSteps, onProgress && ((p) => onProgress(route(p))));
    const out = route(res);
    await persist.queue; // the result says what is stored
    out.stored = persist.stored;
    if (persist.error) out.storeError = { kind: persist.error.kind, message: persist.error.message };
    return out;
  },
  step() {
    return api.run(1);
  },
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
