/**
 * One run of the experiment on the page: one worker per seed (DESIGN.md section 4), their eval
 * rows, and the bounded, seed-aggregated history the plots read. A run fails alone: an error
 * result (DivergenceError: NaN or Inf in the loss) stops this run with a plain message; a worker
 * that crashes is restarted once from its seed's last checkpoint (a second crash stops the run);
 * the other runs go on.
 *
 * Checkpoints (issue 12): every seed's worker saves its state at each eval point and on a pause,
 * and writes it with its new rows to IndexedDB itself (`store.ts`, trainer.worker.ts), where this
 * tab holds the run's lock; otherwise the checkpoints come here with the reports and the latest is
 * kept in memory, for a restart. A run reset with `restore` continues from what is stored.
 */
import * as Comlink from 'comlink';
import { type ExperimentConfig, runIdentity, runSteps } from '../core/config';
import { type MetricRow, RowStore } from '../core/metrics';
import type { Policy } from '../core/policy-file';
import type { Inspection, SessionPolicies } from '../core/session';
import type { InitResult, Progress, RunResult } from '../../workers/trainer';
import type { WorkerApi } from '../../workers/trainer.worker';
import { aggregate, BoundedHistory, type Point } from './history';
import { capitalised, type Msg, msg, type Text, TextError, textOf, tx } from './i18n/index.svelte';
import { type CheckpointStore, recordKey, StoreError } from './store';
import type { PersistInfo } from '../../workers/trainer.worker';

/** Eval rows a seed keeps in memory once they are stored (at least; at most twice as many). */
export const ROW_WINDOW = 256;

/** Where a run's checkpoints are stored (absent: the page keeps only the latest in memory). */
export interface Persist {
  store: CheckpointStore;
  /** The experiment's link and title now (the list of saved experiments shows them). */
  link(): string;
  title(): string;
  /** Hold the right to write this run's records (one tab at a time); null if another tab holds it. */
  lock(identity: string): Promise<(() => void) | null>;
  /** A storage failure (full, unavailable): shown once; training goes on without saving. */
  onError(e: StoreError): void;
}

/**
 * While runs train, what the page shows of them catches up on a clock, every run in the same
 * frame: the cards every UI_TICK_MS, the plots every PLOT_EVERY_MS. A worker reports every 100 ms
 * and every plot draws every run, so four runs on two cores painted the page some 25 times a
 * second and redrew every plot at each run's eval point (40-70 ms of script, as much again of
 * paint): frame p95 33 ms. A run that is not training shows everything at once.
 */
const UI_TICK_MS = 250;
const PLOT_EVERY_MS = 750;

interface Publisher {
  /** Show what has come in (the plots too if `plots`); true if nothing is left to show. */
  publish(plots: boolean): boolean;
}

const uiClock = {
  due: new Set<Publisher>(),
  timer: null as ReturnType<typeof setTimeout> | null,
  lastPlots: -Infinity,
  schedule(run: Publisher): void {
    this.due.add(run);
    if (this.timer === null) this.timer = setTimeout(() => this.tick(), UI_TICK_MS);
  },
  tick(): void {
    this.timer = null;
    const now = performance.now();
    const plots = now - this.lastPlots >= PLOT_EVERY_MS - UI_TICK_MS / 2;
    if (plots) this.lastPlots = now;
    const runs = [...this.due];
    this.due.clear();
    for (const r of runs) if (!r.publish(plots)) this.due.add(r);
    if (this.due.size) this.timer = setTimeout(() => this.tick(), UI_TICK_MS);
  },
};

export type RunStatus = 'starting' | 'waiting' | 'ready' | 'running' | 'done' | 'error';

/**
 * What a run needs before it can start, per seed: the policies its settings name (a file's, or the
 * final policy of the run that teaches it). `wait` says, while they are not there, what it waits for.
 */
export interface PolicySource {
  wait: Text;
  /** It waits for something only the user can give (a policy file to load). */
  blocked: boolean;
  /** The policies of seed k, and the buffers that may be transferred into its worker (not kept by the page). */
  policies(seedIndex: number): Promise<{ policies: SessionPolicies; transfer: ArrayBuffer[] }>;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: Error): void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((a, b) => ((resolve = a), (reject = b)));
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** One worker and its Comlink proxy; every call fails fast once the worker has crashed. */
class SeedWorker {
  readonly worker: Worker;
  readonly api: Comlink.Remote<WorkerApi>;
  dead = false;
  private readonly crashed: Promise<never>;

  constructor(make: () => Worker) {
    this.worker = make();
    this.api = Comlink.wrap<WorkerApi>(this.worker);
    this.crashed = new Promise<never>((_, reject) => {
      const fail = (what: Msg) => {
        this.dead = true;
        reject(new TextError(what));
      };
      this.worker.addEventListener('error', (e) => {
        e.preventDefault();
        fail(e.message ? msg('run.crashedWith', { error: e.message }) : msg('run.crashed'));
      });
      this.worker.addEventListener('messageerror', () => fail(msg('run.unreadable')));
    });
    this.crashed.catch(() => {});
  }

  call<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.crashed]);
  }

  terminate(): void {
    this.dead = true;
    this.api[Comlink.releaseProxy]();
    this.worker.terminate();
  }
}

export class RunController {
  status = $state<RunStatus>('starting');
  /** The step every seed has reached. */
  step = $state(0);
  /** Budget of the run: its own, or the experiment's. */
  steps = $state(0);
  /** Why it stopped (shown in the page's language: `error`). */
  errorText = $state.raw<Text | null>(null);
  get error(): string | null {
    return this.errorText === null ? null : tx(this.errorText);
  }
  info = $state.raw<InitResult | null>(null);
  /** Seed-aggregated eval points for the plots (a new array per update). */
  points = $state.raw<Point[]>([]);
  /** The newest aggregated eval point. */
  latest = $state.raw<Point | null>(null);
  /** Bumped whenever a new batch is ready for the inspector. */
  version = $state(0);
  /** While status is 'waiting': what for (a teacher run to finish, a policy file to be loaded). */
  waitText = $state.raw<Text | null>(null);
  get waiting(): string | null {
    return this.waitText === null ? null : tx(this.waitText);
  }
  /** Waiting for something only the user can give (Load policy): Play cannot make it go on. */
  blocked = $state(false);
  /** Runs with generations: the seed-aggregated eval point at the end of each finished generation. */
  genPoints = $state.raw<Point[]>([]);
  /** Runs that pretrain before RL: the seed-aggregated eval point where pretraining ends (the base model). */
  base = $state.raw<Point | null>(null);
  /** What happened to the run beyond training: restored from a checkpoint, a worker restarted, not saved. */
  noteTexts = $state.raw<Text[]>([]);
  get notes(): string[] {
    return this.noteTexts.map(tx);
  }
  /** What each note is about (for styling and tests, whatever the language). */
  get noteKinds(): string[] {
    return this.noteTexts.map((n) => noteKind(n));
  }
  /** The step it was restored at (null: it started from step 0). */
  restoredAt = $state<number | null>(null);
  /** Eval rows held in memory over its seeds (stored ones beyond a window are let go of). */
  rowsHeld = $state(0);

  private workers: SeedWorker[] = [];
  private seedRows: RowStore[] = [];
  private seedStep: number[] = [];
  private seedDone: boolean[] = [];
  private seedRunning: boolean[] = [];
  private aggregated = 0;
  /** Eval rows the card's numbers (`latest`) and the plots' points have shown (publish). */
  private shown = 0;
  private published = 0;
  private history = new BoundedHistory();
  private gen = 0;
  private ready: Promise<void> = Promise.resolve();
  private speed = 0;
  private seed0 = 1;
  private generations = 1;
  /** Rows whose generation end is decided (updateGenPoints), and whether the last one was added. */
  private genScanned = 0;
  private genLastAdded = false;
  /** Per seed: settles when that seed has trained to the end of its budget (or the run stopped). */
  private finished: Deferred<void>[] = [];
  /** Per seed: the latest checkpoint the page holds (for a restart after a crash), the rows its worker has stored, its restarts. */
  private latestCheckpoint: ({ step: number; rows: number; bytes: Uint8Array } | null)[] = [];
  private storedRows: number[] = [];
  private restarts: number[] = [];
  /** What the last reset was given, for a restart. */
  private started: { config: ExperimentConfig; runIndex: number; source?: PolicySource } | null = null;
  private identity = '';
  /** Releases this run's write lock; null when this tab may not write it (or has no store). */
  private unlock: (() => void) | null = null;
  private canWrite = false;
  /** Paused by the user (a restarted worker then waits for Play). */
  private halted = false;

  constructor(
    private readonly makeWorker: () => Worker,
    private readonly persist: () => Persist | null = () => null,
  ) {}

  /**
   * Seed k's final policy, once it has trained to the end: what a run that learns from this one
   * (`rK.teacher=rJ`) is handed. Rejects if this run stops first.
   */
  async finalPolicy(k: number): Promise<Policy> {
    const f = this.finished[k];
    if (!f) throw new TextError(msg('run.noSeed'));
    const gen = this.gen;
    await f.promise;
    if (gen !== this.gen) throw new TextError(msg('run.wasReset'));
    const p = await this.exportPolicy(k);
    if (!p) throw new TextError(msg('run.noPolicy'));
    return p;
  }

  /** Seed k's policy as it is now (Download policy), or null if its worker is gone. */
  async exportPolicy(k = 0): Promise<Policy | null> {
    await this.ready;
    const w = this.workers[k];
    if (!w || w.dead) return null;
    return w.call(w.api.exportPolicy());
  }

  /** Eval rows per seed, for export: every row, those let go of from memory read back from the store. */
  async exportRows(): Promise<{ seed: number; rows: MetricRow[] }[]> {
    const persist = this.persist();
    return Promise.all(
      this.seedRows.map(async (rows, k) => {
        let early: MetricRow[] = [];
        if (rows.first > 0) {
          const saved = persist ? await persist.store.load(this.identity, k) : null;
          early = (saved?.rows ?? []).slice(0, rows.first);
          if (early.length < rows.first) throw new TextError(msg('run.rowsLost', { n: rows.first, seed: this.seed0 + k }));
        }
        return { seed: this.seed0 + k, rows: [...early, ...rows.rows()] };
      }),
    );
  }

  /**
   * (Re)start the run with this config: the same config gives the same run, step for step. With a
   * `source`, the run waits (status 'waiting') until the policies it names are there. `restore`:
   * continue from the stored checkpoints of its seeds where there are some (paused, its rows and
   * plots as they were); otherwise (Reset) what is stored for it is discarded and it starts at step 0.
   */
  reset(config: ExperimentConfig, runIndex: number, source?: PolicySource, restore = true): Promise<void> {
    const gen = ++this.gen;
    this.status = 'starting';
    this.errorText = null;
    this.waitText = null;
    this.blocked = source?.blocked ?? false;
    this.genPoints = [];
    this.genScanned = 0;
    this.genLastAdded = false;
    this.generations = config.runs[runIndex].generations;
    for (const f of this.finished) f.reject(new TextError(msg('run.wasReset')));
    this.step = 0;
    this.steps = runSteps(config, config.runs[runIndex]);
    uiClock.due.delete(this);
    this.shown = 0;
    this.published = 0;
    this.points = [];
    this.latest = null;
    this.base = null;
    this.info = null;
    this.noteTexts = [];
    this.restoredAt = null;
    this.history = new BoundedHistory();
    this.aggregated = 0;
    this.seed0 = config.seed;
    this.started = { config, runIndex, source };
    const identity = runIdentity(config, runIndex);
    const seeds = config.runs[runIndex].seeds;
    this.workers = this.workers.filter((w) => {
      if (w.dead) w.terminate();
      return !w.dead;
    });
    while (this.workers.length > seeds) this.workers.pop()!.terminate();
    while (this.workers.length < seeds) this.workers.push(new SeedWorker(this.makeWorker));
    this.seedRows = this.workers.map(() => new RowStore());
    this.seedStep = this.workers.map(() => 0);
    this.seedDone = this.workers.map(() => false);
    this.seedRunning = this.workers.map(() => false);
    this.onTrainingChange();
    this.finished = this.workers.map(() => deferred<void>());
    this.latestCheckpoint = this.workers.map(() => null);
    this.storedRows = this.workers.map(() => 0);
    this.restarts = this.workers.map(() => 0);
    const persist = this.persist();
    if (identity !== this.identity || !persist) {
      this.unlock?.();
      this.unlock = null;
      this.canWrite = false;
    }
    this.identity = identity;
    this.ready = (async () => {
      try {
        // One tab writes a run's records: the first to hold its lock (others train without saving).
        if (persist && !this.unlock) {
          this.unlock = await persist.lock(identity);
          this.canWrite = this.unlock !== null;
          if (gen !== this.gen) return;
        }
        let saved: ({ bytes: Uint8Array; rows: MetricRow[]; count: number } | null)[] = this.workers.map(() => null);
        if (persist) {
          const keys = this.workers.map((_, k) => recordKey(identity, k));
          try {
            if (!restore) {
              if (this.canWrite) await persist.store.discard(keys);
            } else {
              saved = await Promise.all(keys.map(async (_, k) => {
                const r = await persist.store.load(identity, k);
                return r && r.rows.length === r.state.rows ? { bytes: r.state.bytes, rows: r.rows, count: r.state.rows } : null;
              }));
            }
          } catch (e) {
            persist.onError(e instanceof StoreError ? e : new StoreError('failed', String(e)));
          }
          if (gen !== this.gen) return;
        }
        let policies: { policies: SessionPolicies; transfer: ArrayBuffer[] }[] = this.workers.map(() => ({ policies: {}, transfer: [] }));
        if (source) {
          this.status = 'waiting';
          this.waitText = source.wait;
          policies = await Promise.all(this.workers.map((_, k) => source.policies(k)));
          if (gen !== this.gen) return;
          this.waitText = null;
          this.blocked = false;
          this.status = 'starting';
        }
        const inits = await Promise.all(
          this.workers.map(async (w, k) => {
            await w.call(w.api.setSpeed(this.speed));
            await w.call(w.api.setShare(this.share.workers, this.share.cores));
            await w.call(w.api.setCheckpointing(true));
            const ck = saved[k] ? { bytes: saved[k].bytes, rows: saved[k].count } : null;
            // Policies from another run's worker are handed on (transferred); a loaded file's are copied.
            return w.call(w.api.init(config, runIndex, k, Comlink.transfer(policies[k].policies, policies[k].transfer), ck));
          }),
        );
        if (gen !== this.gen) return;
        this.info = inits[0];
        const notes: Text[] = [];
        const bad: string[] = [];
        inits.forEach((init, k) => {
          const who = (m: Msg): Msg => (this.workers.length > 1 ? msg('run.seed', { seed: this.seed0 + k, text: m }) : m);
          const s = saved[k];
          if (init.restored !== null && s) {
            for (const r of s.rows) this.seedRows[k].push(r);
            this.seedStep[k] = init.restored;
            this.storedRows[k] = s.rows.length;
            this.latestCheckpoint[k] = { step: init.restored, rows: s.count, bytes: s.bytes };
            if (init.restored >= init.steps) this.seedDone[k] = true;
          } else {
            if (init.restoreError) {
              notes.push(who(msg('run.badCheckpoint', { error: init.restoreError })));
              bad.push(recordKey(identity, k));
            }
            this.seedRows[k].push(init.row!);
          }
        });
        if (bad.length && persist && this.canWrite) await persist.store.discard(bad).catch(() => {});
        // From now on each worker stores its own checkpoints (a fresh run's step-0 row with the first).
        await Promise.all(this.workers.map((w, k) => w.call(w.api.setPersist(this.persistInfo(k), this.storedRows[k], inits[k].restored === null ? [inits[k].row!] : []))));
        if (gen !== this.gen) return;
        const restoredSteps = inits.flatMap((x) => (x.restored === null ? [] : [x.restored]));
        if (restoredSteps.length) {
          this.restoredAt = Math.min(...restoredSteps);
          notes.unshift(msg('run.restored', { step: this.restoredAt }));
        }
        if (persist && !this.canWrite) notes.push(msg('run.otherTab'));
        if (config.arith === 'fma' && inits[0].info.arith !== 'fma') notes.push(msg('run.noFma'));
        this.noteTexts = notes;
        this.absorbed();
        for (let k = 0; k < this.seedDone.length; k++) if (this.seedDone[k]) this.finished[k].resolve();
        this.status = this.seedDone.every(Boolean) ? 'done' : 'ready';
        this.updateGenPoints();
        this.version++;
      } catch (e) {
        if (gen === this.gen) this.fail(e);
      }
    })();
    return this.ready;
  }

  /** Seed k's rows from index i on (held in memory). */
  private rowsFrom(k: number, i: number): MetricRow[] {
    const out: MetricRow[] = [];
    for (let j = Math.max(i, this.seedRows[k].first); j < this.seedRows[k].length; j++) out.push(this.seedRows[k].row(j));
    return out;
  }

  /** Let go of seed k's rows that are stored (export reads them back), keeping a window of the newest. */
  private forgetStored(k: number): void {
    const kept = this.seedRows[k];
    if (kept.length - kept.first > ROW_WINDOW * 2) kept.forget(Math.min(this.storedRows[k], this.aggregated, this.generations > 1 ? this.genScanned : Infinity, kept.length - ROW_WINDOW));
  }

  /** Where seed k's worker stores its checkpoints (null: it sends them to the page). */
  private persistInfo(k: number): PersistInfo | null {
    const persist = this.persist();
    if (!persist || !this.canWrite || !this.started) return null;
    return { identity: this.identity, seed: k, link: persist.link(), run: this.started.runIndex, title: persist.title() };
  }

  /** The experiment's link, title or this run's place in it changed: the workers' later saves list under them. */
  relabel(runIndex: number): void {
    const persist = this.persist();
    if (!persist || !this.started) return;
    this.started = { ...this.started, runIndex };
    for (const w of this.workers) if (!w.dead) w.api.relabel(persist.link(), persist.title(), runIndex).catch(() => {});
  }

  private fail(e: unknown, seedIndex?: number): void {
    const what = textOf(e);
    this.errorText = seedIndex !== undefined && this.workers.length > 1 ? msg('run.seed', { seed: this.seed0 + seedIndex, text: what }) : what;
    this.status = 'error';
    this.waitText = null;
    for (const f of this.finished) f.reject(new Error('it stopped'));
    for (const w of this.workers) if (!w.dead) w.api.stop().catch(() => {});
  }

  /** New rows and step of one seed, and its checkpoint if the report has one. */
  private absorb(k: number, p: Progress | RunResult): void {
    this.seedStep[k] = p.step;
    for (const r of p.rows) this.seedRows[k].push(r);
    this.absorbed();
    // The worker stores its checkpoints itself; one that cannot sends them here (kept for a restart).
    if (p.checkpoint) this.latestCheckpoint[k] = p.checkpoint;
    if (p.stored !== undefined && p.stored > this.storedRows[k]) {
      this.storedRows[k] = p.stored;
      this.forgetStored(k);
    }
    if (p.storeError) this.persist()?.onError(new StoreError(p.storeError.kind, p.storeError.message));
  }

  private absorbed(): void {
    const ready = Math.min(...this.seedRows.map((r) => r.length));
    for (; this.aggregated < ready; this.aggregated++) this.history.push(aggregate(this.seedRows.map((r) => r.row(this.aggregated))));
    if (this.running) uiClock.schedule(this);
    else this.publish(true);
  }

  /** The card (and with `plots` the plots) catch up with the seeds' reports (uiClock; at once when not training). */
  publish(plots: boolean): boolean {
    this.step = Math.min(...this.seedStep);
    this.rowsHeld = this.seedRows.reduce((s, r) => s + r.length - r.first, 0);
    const ready = this.aggregated;
    if (ready > this.shown) {
      this.shown = ready;
      // The newest point itself, not its merged bucket, for the card's numbers.
      this.latest = { ...aggregate(this.seedRows.map((r) => r.row(ready - 1))), n: this.history.newestWeight };
    }
    if (!plots) return this.published === ready;
    if (this.published !== ready) {
      this.published = ready;
      this.points = this.history.snapshot();
      this.updateGenPoints();
      this.updateBase(ready);
    }
    return true;
  }

  /** The base model's eval point: the row at the end of the first generation's pretraining stage, once every seed has it. */
  private updateBase(ready: number): void {
    if (this.base) return;
    const pre = this.info?.info.stages.find((s) => s.algo === 'pretrain' && s.generation === 1);
    if (!pre || pre.to === 0) return;
    for (let i = ready - 1; i >= 0; i--) {
      const step = this.seedRows[0].value(i, 'step');
      if (step === undefined || step < pre.to) return;
      if (step === pre.to) {
        this.base = aggregate(this.seedRows.map((r) => r.row(i)));
        return;
      }
    }
  }

  /**
   * The eval point at the end of each finished generation (the session evaluates there): row i
   * ends generation g when row i+1 belongs to a later one, or when every seed is done. Each row
   * is decided once (`genScanned`), so a long run costs nothing per report.
   */
  private updateGenPoints(): void {
    if (this.generations < 2) return;
    const n = Math.min(...this.seedRows.map((r) => r.length));
    const genOf = (i: number) => this.seedRows[0].value(i, 'generation') ?? 1;
    const found: Point[] = [];
    for (; this.genScanned + 1 < n; this.genScanned++) {
      const i = this.genScanned;
      if (genOf(i + 1) > genOf(i)) found.push(aggregate(this.seedRows.map((r) => r.row(i))));
    }
    const done = this.seedDone.length > 0 && this.seedDone.every(Boolean);
    if (done && n > 0 && !this.genLastAdded) {
      found.push(aggregate(this.seedRows.map((r) => r.row(n - 1))));
      this.genLastAdded = true;
    }
    if (found.length) this.genPoints = [...this.genPoints, ...found];
  }

  get running(): boolean {
    return this.seedRunning.some(Boolean);
  }

  /** How many of its seeds' workers are training now. */
  get trainingWorkers(): number {
    return this.seedRunning.filter(Boolean).length;
  }

  /** Called when a seed starts or stops training (the page shares the cores among those that train). */
  onTrainingChange: () => void = () => {};

  /** Train every seed until the budget or pause(). */
  async play(): Promise<void> {
    await this.ready;
    const gen = this.gen;
    if (this.status === 'error' || this.status === 'done' || this.status === 'running') return;
    this.halted = false;
    this.status = 'running';
    await Promise.all(this.workers.map((_, k) => this.drive(k, gen, Infinity)));
  }

  /** One update of every seed. */
  async stepOnce(): Promise<void> {
    await this.ready;
    const gen = this.gen;
    if (this.status !== 'ready') return;
    this.halted = false;
    this.status = 'running';
    await Promise.all(this.workers.map((_, k) => this.drive(k, gen, 1)));
  }

  private async drive(k: number, gen: number, maxSteps: number): Promise<void> {
    if (this.seedDone[k] || this.seedRunning[k]) return;
    const w = this.workers[k];
    this.seedRunning[k] = true;
    this.onTrainingChange();
    let restart: Text | null = null;
    const onProgress = Comlink.proxy((p: Progress) => {
      if (gen === this.gen) this.absorb(k, p);
    });
    try {
      const res = await w.call(w.api.run(maxSteps, onProgress));
      if (gen !== this.gen) return;
      this.absorb(k, res);
      if (res.status === 'error') this.fail(stoppedBy(res.error), k);
      if (res.status === 'done') {
        this.seedDone[k] = true;
        this.updateGenPoints();
        this.finished[k]?.resolve();
      }
    } catch (e) {
      if (gen !== this.gen) return;
      const why = textOf(e);
      if (!w.dead || this.restarts[k] > 0) {
        this.fail(msg(w.dead ? 'run.stoppedAgain' : 'run.stopped', { error: why }), k);
        if (w.dead) w.terminate(); // a worker that threw may linger: free it
      } else restart = why;
    } finally {
      if (gen === this.gen) {
        this.seedRunning[k] = false;
        if (!this.running) this.publish(true);
        this.onTrainingChange();
        this.version++;
        if (this.status === 'running' && !this.running && !restart) this.status = this.seedDone.every(Boolean) ? 'done' : 'ready';
      }
    }
    if (restart !== null && gen === this.gen) {
      // A crashed worker: once, a new one from the seed's last checkpoint; the run goes on.
      this.restarts[k]++;
      if (await this.restartSeed(k, gen, restart)) {
        if (!this.halted) await this.drive(k, gen, maxSteps);
        else if (this.status === 'running' && !this.running) this.status = 'ready';
      }
    }
  }

  /** Replace seed k's dead worker by a new one restored from its latest checkpoint (or from step 0 without one). */
  private async restartSeed(k: number, gen: number, why: Text): Promise<boolean> {
    const who = (m: Msg): Msg => (this.workers.length > 1 ? msg('run.seed', { seed: this.seed0 + k, text: m }) : m);
    const { config, runIndex, source } = this.started!;
    try {
      // Its latest checkpoint: the one its worker stored, or one sent here (storage off or failing), whichever is later.
      let ck = this.latestCheckpoint[k];
      const persist = this.persist();
      if (persist && this.canWrite) {
        const saved = await persist.store.load(this.identity, k).catch(() => null);
        if (saved && saved.state.step >= (ck?.step ?? -1)) ck = { step: saved.state.step, rows: saved.state.rows, bytes: saved.state.bytes };
      }
      this.workers[k].terminate();
      const w = (this.workers[k] = new SeedWorker(this.makeWorker));
      await w.call(w.api.setSpeed(this.speed));
      await w.call(w.api.setShare(this.share.workers, this.share.cores));
      await w.call(w.api.setCheckpointing(true));
      const policies = source ? await source.policies(k) : { policies: {}, transfer: [] };
      const init = await w.call(w.api.init(config, runIndex, k, Comlink.transfer(policies.policies, policies.transfer), ck && { bytes: ck.bytes, rows: ck.rows }));
      if (gen !== this.gen) return false;
      if (init.restored === null) {
        // No checkpoint yet (or one that failed): the seed starts again; its rows so far are made again, the same.
        this.seedRows[k] = new RowStore();
        this.seedRows[k].push(init.row!);
        this.storedRows[k] = 0;
        this.latestCheckpoint[k] = null;
      } else {
        this.seedRows[k].truncate(ck!.rows);
        this.storedRows[k] = Math.min(this.storedRows[k], ck!.rows);
      }
      await w.call(w.api.setPersist(this.persistInfo(k), this.storedRows[k], init.restored === null ? [init.row!] : this.seedRows[k].length > this.storedRows[k] ? this.rowsFrom(k, this.storedRows[k]) : []));
      if (gen !== this.gen) return false;
      this.seedStep[k] = init.restored ?? 0;
      this.noteTexts = [...this.noteTexts, who(msg('run.restarted', { why: this.workers.length > 1 ? why : capitalised(why), step: init.restored ?? 0 }))];
      this.absorbed();
      return true;
    } catch (e) {
      if (gen === this.gen) this.fail(msg('run.restartFailed', { why, error: textOf(e) }), k);
      return false;
    }
  }

  /** Pause every seed after its current update. */
  async pause(): Promise<void> {
    this.halted = true;
    await Promise.all(this.workers.map((w) => (w.dead ? undefined : w.call(w.api.stop()).catch(() => {}))));
  }

  private share = { workers: 1, cores: 1 };

  setSpeed(stepsPerSecond: number): void {
    this.speed = stepsPerSecond;
    for (const w of this.workers) if (!w.dead) w.api.setSpeed(stepsPerSecond).catch(() => {});
  }

  /** How many training workers the page has in all, on how many cores (workers/trainer.ts setShare). */
  setShare(workers: number, cores: number): void {
    this.share = { workers, cores };
    for (const w of this.workers) if (!w.dead) w.api.setShare(workers, cores).catch(() => {});
  }

  /** The latest RL batch of the first seed. */
  async inspect(maxRows = 32): Promise<Inspection | null> {
    await this.ready;
    const w = this.workers[0];
    if (!w || w.dead || this.status === 'error') return null;
    try {
      return await w.call(w.api.inspect(maxRows));
    } catch {
      return null;
    }
  }

  dispose(): void {
    this.gen++;
    uiClock.due.delete(this);
    for (const w of this.workers) w.terminate();
    this.workers = [];
    this.unlock?.();
    this.unlock = null;
  }
}

/** A note's kind: 'restored', 'restarted' or 'other' (a seed's note is of its inner message's kind). */
function noteKind(n: Text): string {
  if (typeof n !== 'object') return 'other';
  if (n.key === 'run.seed' && n.params?.text !== undefined && typeof n.params.text !== 'number') return noteKind(n.params.text);
  return n.key === 'run.restored' ? 'restored' : n.key === 'run.restarted' ? 'restarted' : 'other';
}

/** A run's error as its card says it: divergence in plain words, any other error with its own. */
function stoppedBy(error: { name?: string; message?: string } | undefined): Msg {
  const m = error?.message ?? '';
  const diverged = error?.name === 'DivergenceError' ? /^training diverged: (.*) is not a finite number\./.exec(m) : null;
  if (diverged) return msg('run.diverged', { what: diverged[1] });
  return error?.name === 'DivergenceError' ? msg('run.stopped', { error: m }) : msg('run.stoppedByError', { error: m });
}
