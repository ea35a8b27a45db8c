/**
 * The trainer behind one worker: one Session (one run, one seed) driven exactly as
 * `npm run sim` drives it (evaluate at step 0, then after every `evalEvery`-th update and at the
 * end), so the app's numbers equal the CLI's for the same link on the same backend.
 *
 * A plain object, unit-testable in Node (test/trainer.test.ts); trainer.worker.ts picks the tfjs
 * backend and Comlink-exposes it. Commands in, progress out: `run(maxSteps, onProgress)` trains
 * until the budget, `maxSteps` more updates or `stop()`, yielding to the event loop every few
 * milliseconds so that `stop()` arrives, and reports at most ~10 times a second (never once per
 * update) with the eval rows made since the last report.
 */
import type { ExperimentConfig } from '../src/core/config';
import type { MetricRow } from '../src/core/metrics';
import type { Policy } from '../src/core/policy-file';
import { CheckpointError, decodeState, encodeState, type SessionState } from '../src/core/checkpoint';
import { type Inspection, Session, type SessionInfo, type SessionPolicies } from '../src/core/session';

/** What a report carries: the state now, plus the eval rows since the previous report. */
export interface Progress {
  /** Updates made so far, and the cumulative cost (as the `cost/*` metrics). */
  step: number;
  samples: number;
  tokens: number;
  flops: number;
  rows: MetricRow[];
  /**
   * With checkpoints on: the run's state (`src/core/checkpoint.ts` bytes) at its latest eval point
   * since the previous report, or where a pause (or a Step) stopped it; `rows` is how many eval rows the run
   * had made by then (all of this report's included).
   */
  checkpoint?: { step: number; rows: number; bytes: Uint8Array };
  /** Where the worker stores its own checkpoints (trainer.worker.ts): the rows stored so far. */
  stored?: number;
  /** ...or why storing failed (the checkpoints then come with the reports instead). */
  storeError?: { kind: 'quota' | 'unavailable' | 'failed'; message: string };
}

export type RunStatus = 'done' | 'stopped' | 'budget' | 'error';

export interface RunResult extends Progress {
  status: RunStatus;
  /** Set when status is 'error': the error's name (e.g. DivergenceError) and its message. */
  error?: { name: string; message: string };
}

export interface InitResult {
  info: SessionInfo;
  /** The teacher's exact held-out accuracies (sampled, ceiling, per subset): reference lines. */
  teacher: MetricRow;
  subsets: string[];
  /** The eval row at step 0 (null when the run was restored from a checkpoint: its rows are the page's). */
  row: MetricRow | null;
  steps: number;
  /** The step the run was restored at, or null if it starts from step 0. */
  restored: number | null;
  /** Why the checkpoint it was given could not be used (the run then starts from step 0). */
  restoreError?: string;
}

/** The engine surface the trainer needs (tests may wrap a Session to inject faults). */
export type SessionLike = Pick<Session, 'trainStep' | 'evaluate' | 'info' | 'inspect' | 'teacherMetrics' | 'exportPolicy' | 'dispose' | 'done' | 'step' | 'cost' | 'task' | 'atEvalPoint' | 'saveState' | 'restoreState'>;

export interface TrainerOptions {
  createSession?: (exp: ExperimentConfig, runIndex: number, seedIndex: number, policies: SessionPolicies) => SessionLike;
  /** Minimum milliseconds between progress reports (default 100: ~10 a second). */
  reportEveryMs?: number;
  /** Yield to the event loop after this many milliseconds of training (default 25). */
  yieldEveryMs?: number;
}

const now = () => performance.now();

/** A macrotask yield, so queued messages (stop, inspect) are handled between updates. */
function makeYielder(): { yieldNow(): Promise<void>; close(): void } {
  if (typeof MessageChannel === 'undefined') return { yieldNow: () => new Promise((r) => setTimeout(r, 0)), close() {} };
  // MessageChannel: unlike setTimeout(0) it is not clamped to 4 ms when nested.
  const ch = new MessageChannel();
  const waiting: (() => void)[] = [];
  ch.port1.onmessage = () => waiting.shift()?.();
  // Node: an open port would keep the process alive.
  (ch.port1 as unknown as { unref?: () => void }).unref?.();
  return {
    yieldNow: () =>
      new Promise<void>((r) => {
        waiting.push(r);
        ch.port2.postMessage(0);
      }),
    close() {
      ch.port1.close();
      ch.port2.close();
    },
  };
}

export function createTrainer(options: TrainerOptions = {}) {
  const makeSession = options.createSession ?? ((e, r, s, p) => new Session(e, r, s, p));
  const reportEveryMs = options.reportEveryMs ?? 100;
  const yieldEveryMs = options.yieldEveryMs ?? 25;
  let session: SessionLike | null = null;
  let stopRequested = false;
  let running = false;
  let failed: { name: string; message: string } | null = null;
  /** Steps per second; 0: as fast as possible. */
  let speed = 0;
  /** The share of its time this worker trains (setShare): below 1 it rests in between. */
  let duty = 1;
  /** Save the state at every eval point (and on a pause) for the page to store. */
  let checkpointing = false;
  /** The latest saved state not yet reported, and the rows made up to it. */
  let pending: { state: SessionState; rows: number } | null = null;
  /** Eval rows the run has made (the step-0 row included, or those of the checkpoint it resumed). */
  let rowCount = 0;
  const yielder = makeYielder();

  function state(rows: MetricRow[]): Progress {
    const c = session!.cost;
    const p: Progress = { step: session!.step, samples: c.samples, tokens: c.tokens, flops: c.flops, rows };
    if (pending) {
      // Encoded only when reported: of several eval points between two reports, the latest is kept.
      p.checkpoint = { step: pending.state.step, rows: pending.rows, bytes: encodeState(pending.state) };
      pending = null;
    }
    return p;
  }

  /** One update, plus its eval row when it lands on an eval point (as the CLI does), and then its state. */
  async function oneStep(rows: MetricRow[]): Promise<void> {
    const s = session!;
    await s.trainStep();
    if (s.atEvalPoint) {
      rows.push(await s.evaluate());
      rowCount++;
      if (checkpointing) pending = { state: s.saveState(), rows: rowCount };
    }
  }

  function errorOf(e: unknown): { name: string; message: string } {
    if (e instanceof Error) return { name: e.name, message: e.message };
    return { name: 'Error', message: String(e) };
  }

  /**
   * Train until the budget is spent, `maxSteps` more updates are made, or stop() is called.
   * Never throws for a training failure: a DivergenceError (NaN/Inf loss) or any other error
   * ends the run with status 'error', and later calls return it again.
   */
  async function run(maxSteps: number, onProgress?: (p: Progress) => void): Promise<RunResult> {
    if (!session) throw new Error('init() first');
    if (failed) return { ...state([]), status: 'error', error: failed };
    if (running) throw new Error('already running');
    running = true;
    stopRequested = false;
    const rows: MetricRow[] = [];
    let lastReport = now();
    let lastYield = now();
    let made = 0;
    try {
      while (!session.done && made < maxSteps && !stopRequested) {
        const started = now();
        await oneStep(rows);
        made++;
        if (speed > 0) {
          // Paced for watching: each update takes at least 1/speed seconds.
          const due = started + 1000 / speed;
          while (now() < due && !stopRequested) await new Promise((r) => setTimeout(r, Math.min(50, due - now())));
          lastYield = now();
        } else if (now() - lastYield >= yieldEveryMs) {
          // Sharing the cores (setShare): rest in proportion to the work just done.
          const rest = duty < 1 ? ((now() - lastYield) * (1 - duty)) / duty : 0;
          if (rest >= 1) await new Promise((r) => setTimeout(r, rest));
          else await yielder.yieldNow();
          lastYield = now();
        }
        if (onProgress && now() - lastReport >= reportEveryMs && !session.done && made < maxSteps && !stopRequested) {
          onProgress(state(rows.splice(0)));
          lastReport = now();
        }
      }
      const status: RunStatus = session.done ? 'done' : stopRequested ? 'stopped' : 'budget';
      // Paused (or Step) between eval points: its state there (with the step metrics not yet averaged).
      if (checkpointing && status !== 'done' && made > 0 && !session.atEvalPoint) pending = { state: session.saveState(), rows: rowCount };
      return { ...state(rows), status };
    } catch (e) {
      failed = errorOf(e);
      return { ...state(rows), status: 'error', error: failed };
    } finally {
      running = false;
      stopRequested = false;
    }
  }

  return {
    /**
     * (Re)start: a fresh Session for this run and seed, with the policies its settings name (a
     * teacher, a starting point); returns its description and step-0 row. With `checkpoint` (the
     * bytes of a saved state), the run continues from there instead, making no row; a checkpoint
     * that cannot be used is reported in `restoreError` and the run starts from step 0. Rejects
     * with the session's message (e.g. a PolicyError) if it cannot be built.
     */
    async init(config: ExperimentConfig, runIndex: number, seedIndex: number, policies: SessionPolicies = {}, checkpoint: { bytes: Uint8Array; rows: number } | null = null): Promise<InitResult> {
      stopRequested = true; // a run in flight ends after its current update
      while (running) await yielder.yieldNow();
      stopRequested = false;
      session?.dispose();
      session = null;
      failed = null;
      pending = null;
      session = makeSession(config, runIndex, seedIndex, policies);
      let restoreError: string | undefined;
      if (checkpoint) {
        try {
          session.restoreState(decodeState(checkpoint.bytes));
        } catch (e) {
          restoreError = e instanceof CheckpointError ? e.message : `the checkpoint could not be used (${e instanceof Error ? e.message : String(e)})`;
          // Half restored: start again from scratch.
          session.dispose();
          session = makeSession(config, runIndex, seedIndex, policies);
        }
      }
      const restored = checkpoint && !restoreError ? session.step : null;
      const row = restored === null ? await session.evaluate() : null;
      rowCount = restored === null ? 1 : checkpoint!.rows;
      const info = session.info();
      return { info, teacher: await session.teacherMetrics(), subsets: [...session.task.subsets], row, steps: info.steps, restored, ...(restoreError ? { restoreError } : {}) };
    },

    /** Save the run's state at every eval point and on a pause, reported with the progress. */
    setCheckpointing(on: boolean): void {
      checkpointing = on;
      if (!on) pending = null;
    },

    /** The run's policy as it is now (for Download policy, or to teach another run). */
    async exportPolicy(): Promise<Policy | null> {
      if (!session) return null;
      return session.exportPolicy();
    },

    run,

    /** Steps per second (0: as fast as possible); takes effect at once, also mid-run. */
    setSpeed(stepsPerSecond: number): void {
      speed = Math.max(0, stepsPerSecond);
    },

    /**
     * The page trains `workers` workers on `cores` cores. With more workers than cores, each trains
     * cores / workers of its time and rests in between: together they still ask for every core, and
     * the page's own thread gets one when a frame is due. (Four runs on two cores, once our kernels
     * made steps fast, dropped frames: p95 50-67 ms; 33 ms with this, at 9 steps/s per run. Resting
     * 2 ms in 25 did not help; 12 ms did.) Timing only: the numbers are the same.
     */
    setShare(workers: number, cores: number): void {
      duty = workers > cores && cores > 0 ? cores / workers : 1;
    },

    /** One update (and its eval row if it lands on an eval point). */
    async step(): Promise<RunResult> {
      return run(1);
    },

    /** Ask a running loop to end after the current update. */
    stop(): void {
      if (running) stopRequested = true;
    },

    /** The latest RL batch for the inspector (null before the first RL step). */
    async inspect(maxRows = 32): Promise<Inspection | null> {
      if (!session || failed) return null;
      return session.inspect(maxRows);
    },

    /** End any run in flight, then free the session's tensors. */
    async dispose(): Promise<void> {
      stopRequested = true;
      while (running) await yielder.yieldNow();
      session?.dispose();
      session = null;
      yielder.close();
    },
  };
}

export type TrainerApi = ReturnType<typeof createTrainer>;
