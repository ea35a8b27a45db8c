/**
 * A whole experiment, headless: every run and seed trained to its end, runs that learn from
 * other runs (`r2.teacher=r1`) after the runs that teach them, seed for seed. What `npm run sim`
 * and the tests run; the page does the same with one worker per (run, seed) and the same order
 * (`runOrder`) and policy routing (`teacherSeed`).
 */
import { type ExperimentConfig, runOrder, teacherRunOf, teacherSeed } from './config';
import type { MetricRow } from './metrics';
import type { Policy } from './policy-file';
import { PolicyError, Session, type SessionPolicies } from './session';

export { teacherSeed };

/** Policy files by the reference a link names them by (`name~hash`). */
export type PolicyFiles = ReadonlyMap<string, Policy>;

/** The policies run `r`, seed `s` is handed: files by reference, other runs' final policies. */
export function policiesFor(config: ExperimentConfig, r: number, s: number, files: PolicyFiles, finals: ReadonlyMap<string, Policy>): SessionPolicies {
  const run = config.runs[r];
  const out: SessionPolicies = {};
  const t = teacherRunOf(run);
  if (t !== null) out.teacher = finals.get(`${t}/${teacherSeed(config, t, s)}`) ?? null;
  else if (run.teacher === 'file') out.teacher = files.get(run.teacherFile) ?? null;
  if (run.init === 'file') out.init = files.get(run.initFile) ?? null;
  return out;
}

export interface ExperimentHooks {
  /** A session was built (before its step-0 row). */
  onStart?(runIndex: number, seedIndex: number, session: Session): void;
  onRow(runIndex: number, seedIndex: number, row: MetricRow, session: Session): void;
  /** A run's seed could not start or stopped; runs it teaches stop too. */
  onError?(runIndex: number, seedIndex: number, error: Error): void;
  /** A run's seed reached the end of its budget. */
  onDone?(runIndex: number, seedIndex: number, session: Session): Promise<void> | void;
  /**
   * Continue a run's seed from a checkpoint: put its state into the session just built (before
   * onStart) and return true; then no step-0 row is emitted, only the rows after the checkpoint.
   */
  restore?(runIndex: number, seedIndex: number, session: Session): boolean;
  /** Asked before every update: true ends the whole experiment there (as a closed tab would). */
  shouldStop?(): boolean;
}

/**
 * Train every run and seed of `config` to its end, in dependency order, emitting eval rows where
 * the session says they are due (or until `shouldStop`). Returns the final policies of the runs
 * that teach others, keyed `run/seed` (0-based).
 */
export async function trainExperiment(config: ExperimentConfig, files: PolicyFiles, hooks: ExperimentHooks): Promise<Map<string, Policy>> {
  const finals = new Map<string, Policy>();
  const teaches = new Set(config.runs.map(teacherRunOf).filter((t): t is number => t !== null));
  for (const r of runOrder(config)) {
    const run = config.runs[r];
    const t = teacherRunOf(run);
    for (let s = 0; s < run.seeds; s++) {
      if (t !== null && !finals.has(`${t}/${teacherSeed(config, t, s)}`)) {
        hooks.onError?.(r, s, new PolicyError(`r${r + 1} learns from r${t + 1}, which stopped before it finished`));
        continue;
      }
      let session: Session;
      try {
        session = new Session(config, r, s, policiesFor(config, r, s, files, finals));
      } catch (e) {
        hooks.onError?.(r, s, e as Error);
        continue;
      }
      try {
        const restored = hooks.restore?.(r, s, session) ?? false;
        hooks.onStart?.(r, s, session);
        if (!restored) hooks.onRow(r, s, await session.evaluate(), session);
        while (!session.done) {
          if (hooks.shouldStop?.()) return finals;
          await session.trainStep();
          if (session.atEvalPoint) hooks.onRow(r, s, await session.evaluate(), session);
        }
        if (teaches.has(r)) finals.set(`${r}/${s}`, await session.exportPolicy());
        await hooks.onDone?.(r, s, session);
      } catch (e) {
        hooks.onError?.(r, s, e as Error);
      } finally {
        session.dispose();
      }
    }
  }
  return finals;
}
