/**
 * The page's checkpoints, in the browser's IndexedDB (issue 12). Per run and seed: a record of
 * its latest state, that state's bytes (`src/core/checkpoint.ts`, a store of their own, so that
 * listing never reads them) and its eval rows, one record per row, all written in one
 * transaction (a reload finds a state and exactly the rows made up to it).
 *
 * Records are keyed by what a run's numbers depend on (`runIdentity`: the shared settings, the
 * run's own and those of the run that teaches it) and the seed, so a run whose settings did not
 * change keeps its checkpoint when another run of the experiment changes; a changed setting is a
 * new key. Each record also names the link it was last saved under: the list of saved experiments
 * groups by it, and storage is bounded by dropping the oldest experiments first.
 *
 * Every method rejects with a StoreError whose `kind` says what happened ('quota', 'unavailable',
 * 'failed'); the page shows a notice and training goes on without saving.
 */
import type { MetricRow } from '../core/metrics';

const DB_NAME = 'grpo-playground';
const DB_VERSION = 2;

/** Saved experiments kept at most; the oldest are dropped first (never the one open). */
export const MAX_EXPERIMENTS = 12;
/** Bytes of saved state kept at most (rows counted at ~8 bytes a value). */
export const MAX_BYTES = 400 * 1024 * 1024;

export interface SavedState {
  /** `${identity}\u0000${seedIndex}` */
  key: string;
  identity: string;
  seed: number;
  /** The link and run index it was last saved under, and a title for the list. */
  link: string;
  run: number;
  title: string;
  step: number;
  /** Eval rows made up to this state. */
  rows: number;
  bytes: Uint8Array;
  /** Approximate bytes of the state and its rows. */
  size: number;
  savedAt: number;
}

export interface SavedExperiment {
  link: string;
  title: string;
  savedAt: number;
  size: number;
  /** Runs' seeds saved, and the furthest step. */
  records: number;
  step: number;
}

export class StoreError extends Error {
  constructor(readonly kind: 'quota' | 'unavailable' | 'failed', message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

export const recordKey = (identity: string, seed: number) => `${identity}\u0000${seed}`;

function errorOf(e: unknown): StoreError {
  if (e instanceof StoreError) return e;
  const name = (e as DOMException | null)?.name ?? '';
  if (name === 'QuotaExceededError') return new StoreError('quota', 'the browser\'s storage for this page is full');
  return new StoreError('failed', `the browser's storage failed (${(e as Error)?.message || name || String(e)})`);
}

function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new DOMException('aborted', 'AbortError'));
  });
}

export class CheckpointStore {
  private constructor(private readonly db: IDBDatabase) {}

  /** Open the database; rejects with kind 'unavailable' where the browser gives the page none (some private windows). */
  static async open(): Promise<CheckpointStore> {
    if (typeof indexedDB === 'undefined') throw new StoreError('unavailable', 'this browser gives the page no storage');
    try {
      const r = indexedDB.open(DB_NAME, DB_VERSION);
      r.onupgradeneeded = () => {
        const db = r.result;
        // Version 1 kept the bytes inside the state records: start over (its records are dropped).
        for (const name of [...db.objectStoreNames]) db.deleteObjectStore(name);
        // States: what a record is (the list reads these alone); bytes: its checkpoint, by the same key.
        db.createObjectStore('states', { keyPath: 'key' }).createIndex('link', 'link');
        db.createObjectStore('bytes');
        // Rows: key [record key, row index].
        db.createObjectStore('rows');
      };
      const db = await req(r);
      // Another page deleting or upgrading the database: let it (this page stops saving).
      db.onversionchange = () => db.close();
      return new CheckpointStore(db);
    } catch (e) {
      throw new StoreError('unavailable', `this browser does not let the page store data (${(e as Error)?.message || 'no IndexedDB'})`);
    }
  }

  private async run<T>(stores: string[], mode: IDBTransactionMode, body: (tx: IDBTransaction) => Promise<T> | T): Promise<T> {
    let tx: IDBTransaction | null = null;
    let finished: Promise<void> | null = null;
    try {
      tx = this.db.transaction(stores, mode);
      finished = done(tx);
      finished.catch(() => {}); // awaited below; a body that throws first must not leave it unhandled
      const out = await body(tx);
      await finished;
      return out;
    } catch (e) {
      try {
        tx?.abort();
      } catch {
        // already finished or aborted
      }
      throw errorOf(e);
    }
  }

  /**
   * Save a run's seed: its state, and `rows` (its eval rows from index `from` on; earlier ones are
   * stored already). Rows past the state's count (a run restarted shorter) are deleted.
   */
  async save(s: Omit<SavedState, 'key' | 'size' | 'savedAt'>, from: number, rows: MetricRow[]): Promise<void> {
    const key = recordKey(s.identity, s.seed);
    const size = s.bytes.length + s.rows * 8 * Object.keys(rows[0] ?? {}).length;
    const { bytes, ...meta } = s;
    await this.run(['states', 'bytes', 'rows'], 'readwrite', (tx) => {
      const rs = tx.objectStore('rows');
      rows.forEach((r, i) => rs.put(r, [key, from + i]));
      rs.delete(IDBKeyRange.bound([key, s.rows], [key, Infinity]));
      tx.objectStore('bytes').put(bytes, key);
      tx.objectStore('states').put({ ...meta, key, size, savedAt: Date.now() });
    });
  }

  /** A run's seed's saved state and its rows, or null. */
  async load(identity: string, seed: number): Promise<{ state: SavedState; rows: MetricRow[] } | null> {
    const key = recordKey(identity, seed);
    return this.run(['states', 'bytes', 'rows'], 'readonly', async (tx) => {
      const meta = (await req(tx.objectStore('states').get(key))) as Omit<SavedState, 'bytes'> | undefined;
      const bytes = (await req(tx.objectStore('bytes').get(key))) as Uint8Array | undefined;
      if (!meta || !bytes) return null;
      const rows = (await req(tx.objectStore('rows').getAll(IDBKeyRange.bound([key, 0], [key, meta.rows], false, true)))) as MetricRow[];
      return { state: { ...meta, bytes }, rows };
    });
  }

  /** Forget a run's seeds (Reset, or a checkpoint that could not be used). */
  async discard(keys: string[]): Promise<void> {
    await this.run(['states', 'bytes', 'rows'], 'readwrite', (tx) => {
      for (const key of keys) {
        tx.objectStore('states').delete(key);
        tx.objectStore('bytes').delete(key);
        tx.objectStore('rows').delete(IDBKeyRange.bound([key, 0], [key, Infinity]));
      }
    });
  }

  /** Saved experiments, newest first (grouped by the link their runs were last saved under). */
  async list(): Promise<SavedExperiment[]> {
    // The state records alone: the checkpoints' bytes (up to MAX_BYTES) are never read for the list.
    const all = await this.run(['states'], 'readonly', (tx) => req(tx.objectStore('states').getAll())) as Omit<SavedState, 'bytes'>[];
    const by = new Map<string, SavedExperiment>();
    for (const s of all) {
      const e = by.get(s.link) ?? { link: s.link, title: s.title, savedAt: 0, size: 0, records: 0, step: 0 };
      e.savedAt = Math.max(e.savedAt, s.savedAt);
      e.size += s.size;
      e.records += 1;
      e.step = Math.max(e.step, s.step);
      by.set(s.link, e);
    }
    return [...by.values()].sort((a, b) => b.savedAt - a.savedAt);
  }

  /** Delete every run saved under `link`. */
  async deleteExperiment(link: string): Promise<void> {
    const keys = await this.run(['states'], 'readonly', (tx) => req(tx.objectStore('states').index('link').getAllKeys(link))) as string[];
    await this.discard(keys);
  }

  /**
   * Keep at most MAX_EXPERIMENTS experiments and MAX_BYTES: drop the oldest first, never `keep`
   * (the one open). Returns the links dropped.
   */
  async prune(keep: string): Promise<string[]> {
    const list = await this.list();
    let total = list.reduce((s, e) => s + e.size, 0);
    let count = list.length;
    const dropped: string[] = [];
    for (const e of [...list].reverse()) {
      if (count <= MAX_EXPERIMENTS && total <= MAX_BYTES) break;
      if (e.link === keep) continue;
      await this.deleteExperiment(e.link);
      dropped.push(e.link);
      total -= e.size;
      count--;
    }
    return dropped;
  }
}
