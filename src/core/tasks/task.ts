/**
 * The plug-in point for verifiable tasks. A task owns its vocabulary, draws problems, keeps a
 * fixed held-out set that training never sees, and checks answers with a program (the verifier).
 *
 * Token conventions shared by every task:
 * - `vocab[i]` is the printable form of token i; `eos` ends an answer, `pad` fills after it.
 * - Every prompt of one task configuration has the same length `promptLen` (tasks pad with
 *   leading zeros or fixed-width fields), so a batch of prompts is a rectangular [B, promptLen].
 * - A completion is at most `maxNew` tokens: the answer's tokens, then `eos`, then `pad`s.
 */
import type { Rng } from '../rng';

export interface Problem {
  /** Prompt token ids, length `task.promptLen`. */
  prompt: number[];
  /** One correct answer as token ids, without `eos` (used by the teacher and partial credit). */
  target: number[];
  /** Names of the subsets (skills) this problem belongs to, from `task.subsets`. */
  subsets: string[];
  /** A stable string that identifies the problem (used to keep train and held-out apart). */
  key: string;
}

export interface Verdict {
  /** The answer is right (exactly, or for search tasks: a valid solution). */
  correct: boolean;
  /** The answer is well formed (right shape, ends in eos) even if wrong. */
  wellFormed: boolean;
  /** Partial credit in [0, 1] (share of correct digits, or closeness for search tasks); 1 iff correct. */
  partial: number;
}

/** A systematic mistake the flawed teacher makes on every problem of one subset. */
export interface BlindSpot {
  /** Id used in configs and URLs, e.g. 'units-carry'. */
  id: string;
  /** The subset on which the teacher is always wrong. */
  subset: string;
  /** Human description, e.g. 'forgets the carry from the units: answers a+b-10'. */
  doc: string;
  /** The teacher's answer (tokens, no eos) on a problem of that subset. */
  wrongAnswer(p: Problem): number[];
}

export interface Task {
  id: string;
  /** One-line human description of this configuration, e.g. '2-digit addition'. */
  title: string;
  vocab: string[];
  eos: number;
  pad: number;
  promptLen: number;
  /** Maximum completion length, eos included. */
  maxNew: number;
  /** Subset (skill) names, in display order. */
  subsets: string[];
  /** Blind spots the teacher can be given on this task. */
  blindSpots: BlindSpot[];
  /** Draw n training problems (never from the held-out set); they may be frozen and shared, as the held-out ones are. */
  sample(rng: Rng, n: number): Problem[];
  /**
   * The fixed held-out set (the benchmark): same for every seed, never trained on unless a run
   * leaks it on purpose (the `leak` setting).
   */
  heldOut(): Problem[];
  /**
   * A second fixed set of the same size and distribution, disjoint from the benchmark, that no
   * run ever trains on: a contaminated benchmark is compared against it.
   */
  fresh(): Problem[];
  /** Only one completion is right for each problem (its target), so P(correct) is one sequence's probability. */
  uniqueAnswer: boolean;
  /** Check a completion (tokens as generated: may include eos and pads, may lack eos). */
  verify(p: Problem, completion: ArrayLike<number>): Verdict;
  /**
   * Plausible wrong answers near the right one (the teacher's random mistakes), as token ids
   * without eos; never equal to a correct answer, never empty.
   */
  nearMisses(p: Problem): number[][];
  /** Render tokens as text (eos as '$', pad dropped). */
  render(tokens: ArrayLike<number>): string;
}
