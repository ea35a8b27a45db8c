/**
 * The flawed teacher that distillation learns from, after the reference's ScriptedTeacher
 * (../shared/reference/tiny_rl.py): off its blind spot it answers right with probability
 * `accuracy` and otherwise makes one of the task's near misses (uniformly); on its blind spot it
 * is always wrong in the same systematic way (e.g. forgets the units carry: a+b-10).
 *
 * Everything is exact, not sampled: the answer distribution per problem, the next-token
 * distributions it implies (for soft distillation), the expected accuracy of a teacher sample,
 * and the ceiling: the accuracy of the teacher's most likely answer, which is the best a student
 * that copies the teacher can reach (Kim & Rush 2016: sequence-level KD learns the teacher's mode).
 */
import { remember } from './bounded';
import { sameTokens } from './tasks/addition';
import type { MetricRow } from './metrics';
import type { Rng } from './rng';
import type { BlindSpot, Problem, Task } from './tasks/task';

/**
 * What distillation needs from any teacher, scripted or learned (a policy from a file, another
 * run, or the previous generation): completions, token distributions along completions, and its
 * exact accuracies on a fixed set. Algorithms never ask which kind they have.
 */
export interface TeacherModel {
  /** 'scripted', or where a learned teacher came from (e.g. 'r1', 'file', 'generation 2'). */
  readonly source: string;
  /** FLOPs of a forward pass at one position (0 for the scripted teacher: it is a table). */
  readonly flopsPerToken: number;
  /** One completion per problem, flat [n * maxNew]: answer, eos, pads. */
  sampleBatch(rng: Rng, problems: Problem[]): Promise<Int32Array>;
  /**
   * Next-token distributions along `tokens` [n * maxNew] (teacher forcing), flat [n * maxNew * V];
   * every probability at least TEACHER_PROB_FLOOR (renormalised), so log p stays finite.
   */
  distributionsBatch(problems: Problem[], tokens: Int32Array): Promise<Float32Array>;
  /**
   * Exact accuracies on `problems`: `teacher/ceiling` (its most likely answer is right: the best a
   * copying student can do), `teacher/accuracy` (P(a sample is right)), and both per subset.
   */
  metrics(problems: Problem[]): Promise<MetricRow>;
  dispose(): void;
}

/**
 * Smallest probability `tokenDistributions` gives any token (then renormalised). The teacher's
 * true distributions are mostly zeros; the floor keeps log p_T, and so reverse KL(student ||
 * teacher), finite. At 1e-6 it moves no probability by more than V * 1e-6.
 */
export const TEACHER_PROB_FLOOR = 1e-6;

/** Distinct answers kept in the per-problem cache before it is cleared. */
const CACHE_LIMIT = 50_000;

export interface TeacherOptions {
  /** Probability of the right answer off the blind spot, in [0, 1]. */
  accuracy: number;
  /** A blind-spot id of the task, or 'none'. An id the task does not have counts as 'none'. */
  blindSpot: string;
}

/** One answer (tokens without eos) and its probability. */
export interface TeacherAnswer {
  tokens: number[];
  prob: number;
}

export class Teacher implements TeacherModel {
  readonly source = 'scripted';
  readonly flopsPerToken = 0;
  readonly accuracy: number;
  /** The blind spot in force, or null. */
  readonly blindSpot: BlindSpot | null;
  /** Each problem's answer distribution (for distributions and metrics). */
  private cache = new Map<string, TeacherAnswer[]>();
  /**
   * For sampling, each problem's answers in one array: their count k, their k probabilities, then
   * their completions (answer, eos, pads: maxNew tokens each). One object per problem: a run draws
   * thousands of new problems in its first steps, and every object kept is copied by the garbage
   * collector.
   */
  private samplers = new Map<string, number[]>();

  constructor(readonly task: Task, opts: TeacherOptions) {
    this.accuracy = Math.min(1, Math.max(0, Number.isFinite(opts.accuracy) ? opts.accuracy : 0));
    this.blindSpot = task.blindSpots.find((b) => b.id === opts.blindSpot) ?? null;
  }

  async sampleBatch(rng: Rng, problems: Problem[]): Promise<Int32Array> {
    const T = this.task.maxNew;
    const toks = new Int32Array(problems.length * T);
    problems.forEach((p, i) => this.sampleInto(rng, p, toks, i * T));
    return toks;
  }

  async distributionsBatch(problems: Problem[], tokens: Int32Array): Promise<Float32Array> {
    const T = this.task.maxNew;
    const V = this.task.vocab.length;
    const out = new Float32Array(problems.length * T * V);
    problems.forEach((p, i) => out.set(this.tokenDistributions(p, tokens.subarray(i * T, (i + 1) * T)), i * T * V));
    return out;
  }

  async metrics(problems: Problem[]): Promise<MetricRow> {
    const row: Record<string, number> = {
      'teacher/accuracy': this.sampledAccuracy(problems),
      'teacher/ceiling': this.ceiling(problems),
    };
    for (const [s, v] of Object.entries(this.accuracyBySubset(problems))) {
      row[`teacher/accuracy/${s}`] = v.sampled;
      row[`teacher/ceiling/${s}`] = v.ceiling;
    }
    return row as MetricRow;
  }

  dispose(): void {
    this.cache.clear();
    this.samplers.clear();
  }

  /** The problem lies on the teacher's blind spot. */
  onBlindSpot(p: Problem): boolean {
    return this.blindSpot !== null && p.subsets.includes(this.blindSpot.subset);
  }

  /**
   * The teacher's answers (tokens without eos) and their probabilities, summing to 1: on the blind
   * spot the systematic wrong answer with probability 1; otherwise the right answer with
   * probability `accuracy` and the near misses sharing the rest equally (duplicates merged,
   * zero-probability answers left out).
   */
  answerDistribution(p: Problem): TeacherAnswer[] {
    return this.dist(p).map((a) => ({ tokens: a.tokens.slice(), prob: a.prob }));
  }

  /** One teacher completion: answer tokens, eos, then pads up to `task.maxNew`. */
  sample(rng: Rng, p: Problem): number[] {
    const out = new Int32Array(this.task.maxNew);
    this.sampleInto(rng, p, out, 0);
    return Array.from(out);
  }

  /** sample() written into out[at..]: no arrays made per completion. */
  private sampleInto(rng: Rng, p: Problem, out: Int32Array, at: number): void {
    const table = this.sampler(p);
    const T = this.task.maxNew;
    const n = table[0];
    const from = 1 + n + rng.categorical(table, 1, n) * T;
    for (let j = 0; j < T; j++) out[at + j] = table[from + j];
  }

  /**
   * The teacher's next-token distribution after the completion tokens `prefix` (length V): the
   * answer distribution marginalised over the answers that start with `prefix`. After an eos all
   * mass is on pad. A prefix the teacher never produces gets a uniform distribution over every
   * token but pad (the teacher has no opinion there; this only matters for reverse KL on student
   * samples). `floor` > 0 floors every probability and renormalises.
   */
  nextTokenProbs(p: Problem, prefix: ArrayLike<number>, floor = 0): Float32Array {
    const out = new Float32Array(this.task.vocab.length);
    this.nextInto(this.dist(p), prefix, prefix.length, out, 0, floor);
    return out;
  }

  /**
   * Teacher-forced next-token distributions along `completion`: row t (of `task.maxNew`) is
   * `nextTokenProbs(p, completion[0..t), TEACHER_PROB_FLOOR)`. Shape [maxNew * V], row-major.
   */
  tokenDistributions(p: Problem, completion: ArrayLike<number>, floor = TEACHER_PROB_FLOOR): Float32Array {
    const T = this.task.maxNew;
    const V = this.task.vocab.length;
    const out = new Float32Array(T * V);
    const d = this.dist(p);
    for (let t = 0; t < T; t++) this.nextInto(d, completion, Math.min(t, completion.length), out, t * V, floor);
    return out;
  }

  /** Mean over problems of P(a teacher sample is correct), exact. NaN for no problems. */
  sampledAccuracy(problems: readonly Problem[]): number {
    return mean(problems.map((p) => this.pCorrect(p)));
  }

  /**
   * Mean over problems of [the teacher's most likely answer is correct], exact: the best a
   * student that copies the teacher can do. When answers tie for most likely, the problem counts
   * the share of the tied answers that are correct (a uniform tie-break). NaN for no problems.
   */
  ceiling(problems: readonly Problem[]): number {
    return mean(problems.map((p) => this.modeCorrect(p)));
  }

  /** `sampledAccuracy` and `ceiling` per subset of the task (subsets with no problem left out). */
  accuracyBySubset(problems: readonly Problem[]): Record<string, { sampled: number; ceiling: number }> {
    const out: Record<string, { sampled: number; ceiling: number }> = {};
    for (const s of this.task.subsets) {
      const ps = problems.filter((p) => p.subsets.includes(s));
      if (ps.length) out[s] = { sampled: this.sampledAccuracy(ps), ceiling: this.ceiling(ps) };
    }
    return out;
  }

  private isCorrect(p: Problem, tokens: number[]): boolean {
    return this.task.verify(p, [...tokens, this.task.eos]).correct;
  }

  private pCorrect(p: Problem): number {
    let s = 0;
    for (const a of this.dist(p)) if (this.isCorrect(p, a.tokens)) s += a.prob;
    return s;
  }

  private modeCorrect(p: Problem): number {
    const d = this.dist(p);
    const top = Math.max(...d.map((a) => a.prob));
    const tied = d.filter((a) => a.prob >= top - 1e-12);
    return tied.filter((a) => this.isCorrect(p, a.tokens)).length / tied.length;
  }

  private dist(p: Problem): TeacherAnswer[] {
    return this.cache.get(p.key) ?? remember(this.cache, p.key, CACHE_LIMIT, this.build(p));
  }

  private sampler(p: Problem): number[] {
    return this.samplers.get(p.key) ?? remember(this.samplers, p.key, CACHE_LIMIT, this.samplerOf(p));
  }

  /**
   * A problem's answers and their probabilities, in order: on the blind spot the systematic wrong
   * answer with 1; otherwise the right answer with `accuracy`, then each near miss's share of the
   * rest added to an equal answer already listed, or listed anew. Zero probabilities are kept (the
   * callers leave them out); the token arrays are the task's own (not copied).
   */
  private answers(p: Problem): { tokens: (readonly number[])[]; probs: number[] } {
    if (this.onBlindSpot(p)) return { tokens: [this.blindSpot!.wrongAnswer(p)], probs: [1] };
    const tokens: (readonly number[])[] = [p.target];
    const probs = [this.accuracy];
    const misses = this.task.nearMisses(p);
    for (const m of misses) {
      const prob = (1 - this.accuracy) / misses.length;
      let k = 0;
      while (k < tokens.length && !sameTokens(tokens[k], m)) k++;
      if (k < tokens.length) probs[k] += prob;
      else {
        tokens.push(m);
        probs.push(prob);
      }
    }
    return { tokens, probs };
  }

  /**
   * A problem's sampling table, from answers() (this runs for every new problem a batch draws: most
   * of a fresh run's first steps): [k, the k non-zero probabilities, their k completions].
   */
  private samplerOf(p: Problem): number[] {
    const { maxNew: T, eos, pad } = this.task;
    const { tokens, probs } = this.answers(p);
    const table = [0];
    for (const w of probs) if (w > 0) table.push(w);
    table[0] = table.length - 1;
    for (let i = 0; i < tokens.length; i++) {
      if (!(probs[i] > 0)) continue;
      const a = tokens[i], n = Math.min(a.length, T);
      for (let j = 0; j < n; j++) table.push(a[j]);
      for (let j = n; j < T; j++) table.push(j === n ? eos : pad);
    }
    return table;
  }

  /** The answer distribution of answerDistribution(), made anew: answers() with zero probabilities left out. */
  private build(p: Problem): TeacherAnswer[] {
    const { tokens, probs } = this.answers(p);
    const d: TeacherAnswer[] = [];
    for (let i = 0; i < tokens.length; i++) if (probs[i] > 0) d.push({ tokens: tokens[i].slice(), prob: probs[i] });
    return d;
  }

  /** Next-token distribution after completion[0..k) into out[off .. off+V). */
  private nextInto(d: TeacherAnswer[], completion: ArrayLike<number>, k: number, out: Float32Array, off: number, floor: number): void {
    const { eos, pad } = this.task;
    const V = this.task.vocab.length;
    let ended = false;
    for (let i = 0; i < k; i++) if (completion[i] === eos) ended = true;
    if (ended) {
      out[off + pad] = 1;
    } else {
      let mass = 0;
      for (const a of d) {
        if (k > a.tokens.length) continue;
        let match = true;
        for (let i = 0; i < k && match; i++) match = completion[i] === a.tokens[i];
        if (!match) continue;
        out[off + (k < a.tokens.length ? a.tokens[k] : eos)] += a.prob;
        mass += a.prob;
      }
      if (mass > 0) {
        for (let v = 0; v < V; v++) out[off + v] /= mass;
      } else {
        for (let v = 0; v < V; v++) out[off + v] = v === pad ? 0 : 1 / (V - 1);
      }
    }
    if (floor > 0) {
      let s = 0;
      for (let v = 0; v < V; v++) s += out[off + v] = Math.max(out[off + v], floor);
      for (let v = 0; v < V; v++) out[off + v] /= s;
    }
  }
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : NaN;
}
