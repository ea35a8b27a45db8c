/**
 * The pretraining corpus: the toy version of the web text a base model has read (issue 10). Most
 * of it answers directly, and some of those answers are wrong on hard items, as web text is; a
 * minority shows correct worked solutions. A base model trained on it "knows" how to work a
 * problem step by step, sometimes: the latent habit that RL can find (DeepSeek-R1-Zero).
 *
 * Hard items are the subset of the task's first blind spot (sum: 'hard', sums >= 2 * 10^digits);
 * a wrong direct answer there is that blind spot's mistake (sum: 10 too low, a dropped carry)
 * 70% of the time, else one of the task's near misses (as ../shared/reference/worked_answers.py).
 */
import type { Rng } from './rng';
import type { Problem, Task } from './tasks/task';
import { isWorkedTask } from './tasks/sum';

export interface CorpusMix {
  /** Share of worked solutions (always correct), in [0, 1]; tasks without work answer directly. */
  worked: number;
  /** Probability that a direct answer on a hard item is wrong, in [0, 1]. */
  error: number;
}

/** What one corpus completion is. */
export type CorpusKind = 'worked' | 'direct' | 'wrong';

/**
 * One corpus completion per problem, flat [n * task.maxNew]: the answer (or the work, marker and
 * answer), eos, pads. `kinds` (if given) receives what each one is.
 */
export function corpusCompletions(task: Task, problems: Problem[], rng: Rng, mix: CorpusMix, kinds?: CorpusKind[]): Int32Array {
  const T = task.maxNew;
  const out = new Int32Array(problems.length * T).fill(task.pad);
  const spot = task.blindSpots[0];
  problems.forEach((p, i) => {
    let toks: number[];
    let kind: CorpusKind;
    if (isWorkedTask(task) && rng.next() < mix.worked) {
      toks = task.worked(p);
      kind = 'worked';
    } else if (spot && p.subsets.includes(spot.subset) && rng.next() < mix.error) {
      const misses = task.nearMisses(p);
      toks = rng.next() < 0.7 || misses.length === 0 ? spot.wrongAnswer(p) : misses[rng.int(misses.length)];
      kind = 'wrong';
    } else {
      toks = p.target;
      kind = 'direct';
    }
    out.set(toks.slice(0, T - 1), i * T);
    out[i * T + Math.min(toks.length, T - 1)] = task.eos;
    kinds?.push(kind);
  });
  return out;
}
