/**
 * One run of the experiment on the page: one worker per seed (DESIGN.md section 4), their eval
 * rows, and the bounded, seed-aggregated history the plots read. A run fails alone: a crashed
 * worker or an error result (DivergenceError: NaN or Inf in the loss) stops this run with a plain
 * message; the other runs go on.
 */
import * as Comlink from 'comlink';
import { type ExperimentConfig, runSteps } from '../core/config';
import { type MetricRow, RowStore } from '../core/metrics';
import type { Policy } from '../core/policy-file';
import type { Inspection, SessionPolicies } from '../core/session';
import type { InitResult, Progress, RunResult } from '../../workers/trainer';
import type { WorkerApi } from '../../workers/trainer.worker';
import { aggregate, BoundedHistory, type Point } from './history';

export type RunStatus = 'starting' | 'waiting' | 'ready' | 'running' | 'done' | 'error';

/**
 * What a run needs before it can start, per seed: the policies its settings name (a file's, or the
 * final policy of the run that teaches it). `wait` says, while they are not there, what it waits for.
 */
export interface PolicySource {
  wait: string;
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
      const fail = (what: string) => {
        this.dead = true;
        reject(new Error(what));
      };
      this.worker.addEventListener('error', (e) => {
        e.preventDefault();
        fail(`its worker crashed${e.message ? ` (${e.message})` : ''}`);
      });
      this.worker.addEventListener('messageerror', () => fail('its worker sent a message that could not be read'));
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
  error = $state<string | null>(null);
  info = $state.raw<InitResult | null>(null);
  /** Seed-aggregated eval points for the plots (a new array per update). */
  points = $state.raw<Point[]>([]);
  /** The newest aggregated eval point. */
  latest = $state.raw<Point | null>(null);
  /** Bumped whenever a new batch is ready for the inspector. */
  version = $state(0);
  /** While status is 'waiting': what for (a teacher run to finish, a policy file to be loaded). */
  waiting = $state<string | null>(null);
  /** Waiting for something only the user can give (Load policy): Play cannot make it go on. */
  blocked = $state(false);
  /** Runs with generations: the seed-aggregated eval point at the end of each finished generation. */
  genPoints = $state.raw<Point[]>([]);
  /** Runs that pretrain before RL: the seed-aggregated eval point where pretraining ends (the base model). */
  base = $state.raw<Point | null>(null);

  private workers: SeedWorker[] = [];
  private seedRows: RowStore[] = [];
  private seedStep: number[] = [];
  private seedDone: boolean[] = [];
  private seedRunning: boolean[] = [];
  private aggregated = 0;
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

  constructor(private readonly makeWorker: () => Worker) {}

  /**
   * Seed k's final policy, once it has trained to the end: what a run that learns from this one
   * (`rK.teacher=rJ`) is handed. Rejects if this run stops first.
   */
  async finalPolicy(k: number): Promise<Policy> {
    const f = this.finished[k];
    if (!f) throw new Error('the run has no such seed');
    const gen = this.gen;
    await f.promise;
    if (gen !== this.gen) throw new Error('the run was reset');
    const p = await this.exportPolicy(k);
    if (!p) throw new Error('the run has no policy');
    return p;
  }

  /** Seed k's policy as it is now (Download policy), or null if its worker is gone. */
  async exportPolicy(k = 0): Promise<Policy | null> {
    await this.ready;
    const w = this.workers[k];
    if (!w || w.dead) return null;
    return w.call(w.api.exportPolicy());
  }

  /** Eval rows per seed, for export. */
  exportRows(): { seed: number; rows: MetricRow[] }[] {
    return this.seedRows.map((rows, k) => ({ seed: this.seed0 + k, rows: rows.rows() }));
  }

  /**
   * (Re)start the run from step 0 with this config: the same config gives the same run, step for
   * step. With a `source`, the run waits (status 'waiting') until the policies it names are there.
   */
  reset(config: ExperimentConfig, runIndex: number, source?: PolicySource): Promise<void> {
    const gen = ++this.gen;
    this.status = 'starting';
    this.error = null;
    this.waiting = null;
    this.blocked = source?.blocked ?? false;
    this.genPoints = [];
    this.genScanned = 0;
    this.genLastAdded = false;
    this.generations = config.runs[runIndex].generations;
    for (const f of this.finished) f.reject(new Error('the run was reset'));
    this.step = 0;
    this.steps = runSteps(config, config.runs[runIndex]);
    this.points = [];
    this.latest = null;
    this.base = null;
    this.info = null;
    this.history = new BoundedHistory();
    this.aggregated = 0;
    this.seed0 = config.seed;
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
    this.finished = this.workers.map(() => deferred<void>());
    this.ready = (async () => {
      try {
        let policies: { policies: SessionPolicies; transfer: ArrayBuffer[] }[] = this.workers.map(() => ({ policies: {}, transfer: [] }));
        if (source) {
          this.status = 'waiting';
          this.waiting = source.wait;
          policies = await Promise.all(this.workers.map((_, k) => source.policies(k)));
          if (gen !== this.gen) return;
          this.waiting = null;
          this.blocked = false;
          this.status = 'starting';
        }
        const inits = await Promise.all(
          this.workers.map(async (w, k) => {
            await w.call(w.api.setSpeed(this.speed));
            // Policies from another run's worker are handed on (transferred); a loaded file's are copied.
            return w.call(w.api.init(config, runIndex, k, Comlink.transfer(policies[k].policies, policies[k].transfer)));
          }),
        );
        if (gen !== this.gen) return;
        this.info = inits[0];
        inits.forEach((init, k) => this.seedRows[k].push(init.row));
        this.absorbed();
        this.status = 'ready';
        this.version++;
      } catch (e) {
        if (gen === this.gen) this.fail(e);
      }
    })();
    return this.ready;
  }

  private fail(e: unknown, seedIndex?: number): void {
    const msg = e instanceof Error ? e.message : String(e);
    const who = seedIndex !== undefined && this.workers.length > 1 ? `Seed ${this.seed0 + seedIndex}: ` : '';
    this.error = `${who}${msg}`;
    this.status = 'error';
    this.waiting = null;
    for (const f of this.finished) f.reject(new Error('it stopped'));
    for (const w of this.workers) if (!w.dead) w.api.stop().catch(() => {});
  }

  /** New rows and step of one seed. */
  private absorb(k: number, p: Progress | RunResult): void {
    this.seedStep[k] = p.step;
    for (const r of p.rows) this.seedRows[k].push(r);
    this.absorbed();
  }

  private absorbed(): void {
    this.step = Math.min(...this.seedStep);
    const ready = Math.min(...this.seedRows.map((r) => r.length));
    if (ready <= this.aggregated) return;
    for (; this.aggregated < ready; this.aggregated++) this.history.push(aggregate(this.seedRows.map((r) => r.row(this.aggregated))));
    this.points = this.history.snapshot();
    const last = this.points[this.points.length - 1];
    // The newest point itself, not its merged bucket, for the card's numbers.
    this.latest = { ...aggregate(this.seedRows.map((r) => r.row(ready - 1))), n: last?.n ?? 1 };
    this.updateGenPoints();
    this.updateBase(ready);
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

  /** Train every seed until the budget or pause(). */
  async play(): Promise<void> {
    await this.ready;
    const gen = this.gen;
    if (this.status === 'error' || this.status === 'done' || this.status === 'running') return;
    this.status = 'running';
    await Promise.all(this.workers.map((_, k) => this.drive(k, gen, Infinity)));
  }

  /** One update of every seed. */
  async stepOnce(): Promise<void> {
    await this.ready;
    const gen = this.gen;
    if (this.status !== 'ready') return;
    this.status = 'running';
    await Promise.all(this.workers.map((_, k) => this.drive(k, gen, 1)));
  }

  private async drive(k: number, gen: number, maxSteps: number): Promise<void> {
    if (this.seedDone[k] || this.seedRunning[k]) return;
    const w = this.workers[k];
    this.seedRunning[k] = true;
    const onProgress = Comlink.proxy((p: Progress) => {
      if (gen === this.gen) this.absorb(k, p);
    });
    try {
      const res = await w.call(w.api.run(maxSteps, onProgress));
      if (gen !== this.gen) return;
      this.absorb(k, res);
      if (res.status === 'error') this.fail(new Error(`${res.error?.name === 'DivergenceError' ? 'Stopped: ' : 'Stopped by an error: '}${res.error?.message}`), k);
      if (res.status === 'done') {
        this.seedDone[k] = true;
        this.updateGenPoints();
        this.finished[k]?.resolve();
      }
    } catch (e) {
      if (gen === this.gen) this.fail(new Error(`Stopped: ${e instanceof Error ? e.message : String(e)}.`), k);
    } finally {
      if (gen === this.gen) {
        this.seedRunning[k] = false;
        this.version++;
        if (this.status === 'running' && !this.running) this.status = this.seedDone.every(Boolean) ? 'done' : 'ready';
      }
    }
  }

  /** Pause every seed after its current update. */
  async pause(): Promise<void> {
    await Promise.all(this.workers.map((w) => (w.dead ? undefined : w.call(w.api.stop()).catch(() => {}))));
  }

  setSpeed(stepsPerSecond: number): void {
    this.speed = stepsPerSecond;
    for (const w of this.workers) if (!w.dead) w.api.setSpeed(stepsPerSecond).catch(() => {});
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
    for (const w of this.workers) w.terminate();
    this.workers = [];
  }
}
