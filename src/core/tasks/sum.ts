/**
 * The sum of `terms` numbers of `digits` digits each: a task where showing the work can pay
 * (issue 10; the prototype is ../shared/reference/worked_answers.py).
 *
 * Prompt "3+5+7+2=" (operands zero-padded to `digits`). A completion is either a direct answer,
 * "17$", or a worked solution: the running partial sums, a marker, then the answer,
 * "8,15,17>17$". The verifier reads only what follows the last marker (the whole completion when
 * there is none): the work is never checked and never rewarded, so a worked solution earns
 * exactly what a direct one does. Working can only pay by making the answer right more often.
 *
 * Vocabulary: addition's 14 tokens (digits, '+', '=', eos '$', pad '_') plus ',' and the marker
 * '>'. Skills (subsets): 'hard' sums (at least 2 * 10^digits: the top column collects two or
 * more carries, the reference's sum >= 20) and 'easy' ones.
 */
import type { BlindSpot, Problem, Task, Verdict } from './task';
import { ADDITION_VOCAB, codedProblems, codeSplit, digitsOf, paddedDigits, positionalPartial, renderTokens, sameTokens, untilEos } from './addition';

export const SUM_VOCAB = [...ADDITION_VOCAB, ',', '>'];
const PLUS = 10;
const EQ = 11;
const EOS = 12;
const PAD = 13;
const COMMA = 14;
const MARK = 15;

export interface SumOptions {
  /** Numbers to add, 3..5. */
  terms: number;
  /** Digits per number, 1..2. */
  digits: number;
}

export interface SumTask extends Task {
  terms: number;
  digits: number;
  marker: number;
  /** The problem of adding `xs` (each 0 <= x < 10^digits). */
  problem(xs: number[]): Problem;
  /** The operands of a problem. */
  operands(p: Problem): number[];
  /** A correct worked solution of `p`: partial sums, marker, answer (no eos). */
  worked(p: Problem): number[];
  /** The answer part of a completion (after its last marker, up to eos) and its work part. */
  parts(completion: ArrayLike<number>): { work: number[]; answer: number[]; hasEos: boolean; worked: boolean };
}

export function createSum({ terms, digits }: SumOptions): SumTask {
  if (!Number.isInteger(terms) || terms < 3 || terms > 5) throw new RangeError(`sum: terms must be 3..5, got ${terms}`);
  if (!(digits === 1 || digits === 2)) throw new RangeError(`sum: digits must be 1 or 2, got ${digits}`);
  const base = 10 ** digits;
  const space = base ** terms;
  const hardFrom = 2 * base;
  // The longest worked solution: terms-1 partial sums of digits+1 digits, commas, marker, answer, eos.
  const longest = (terms - 1) * (digits + 1) + (terms - 2) + 1 + (digits + 1) + 1;

  const operands = (p: Problem): number[] =>
    Array.from({ length: terms }, (_, i) => p.prompt.slice(i * (digits + 1), i * (digits + 1) + digits).reduce((x, d) => 10 * x + d, 0));

  function problem(xs: number[]): Problem {
    const s = xs.reduce((a, b) => a + b, 0);
    const prompt: number[] = [];
    xs.forEach((x, i) => prompt.push(...paddedDigits(x, digits), i < terms - 1 ? PLUS : EQ));
    return { prompt, target: digitsOf(s), subsets: [s >= hardFrom ? 'hard' : 'easy'], key: xs.join('+') };
  }

  function worked(p: Problem): number[] {
    const xs = operands(p);
    const out: number[] = [];
    let s = xs[0];
    for (let i = 1; i < terms; i++) {
      s += xs[i];
      if (i > 1) out.push(COMMA);
      out.push(...digitsOf(s));
    }
    return [...out, MARK, ...digitsOf(s)];
  }

  function parts(completion: ArrayLike<number>) {
    const { body, hasEos } = untilEos(completion, EOS);
    const m = body.lastIndexOf(MARK);
    return { work: m < 0 ? [] : body.slice(0, m), answer: m < 0 ? body : body.slice(m + 1), hasEos, worked: m >= 0 };
  }

  const split = codeSplit(space, space <= 1000 ? 100 : 500, `sum/${terms}x${digits}`);
  const fromCode = (c: number) => problem(Array.from({ length: terms }, (_, i) => Math.floor(c / base ** (terms - 1 - i)) % base));
  const problems = codedProblems(split, fromCode);
  const isDigit = (t: number) => t >= 0 && t <= 9;

  const blindSpots: BlindSpot[] = [
    {
      id: 'dropped-carry',
      subset: 'hard',
      doc: 'drops a carry on hard sums: answers the sum minus 10',
      wrongAnswer: (p) => digitsOf(operands(p).reduce((a, b) => a + b, 0) - 10),
    },
  ];

  return {
    id: 'sum',
    title: `sum of ${terms} ${digits === 1 ? 'digits' : `${digits}-digit numbers`}`,
    terms,
    digits,
    marker: MARK,
    vocab: SUM_VOCAB,
    eos: EOS,
    pad: PAD,
    promptLen: terms * (digits + 1),
    // Room for the longest worked solution and a few tokens more: a completion that runs on past
    // it is cut off (clipped) without an answer.
    maxNew: longest + 4,
    uniqueAnswer: false,
    subsets: ['hard', 'easy'],
    blindSpots,
    problem,
    operands,
    worked,
    parts,
    ...problems,
    verify(p, completion): Verdict {
      const { work, answer, hasEos } = parts(completion);
      const correct = hasEos && sameTokens(answer, p.target);
      const wellFormed = hasEos && answer.length >= 1 && answer.length <= digits + 1 && answer.every(isDigit) && work.every((t) => isDigit(t) || t === COMMA);
      // Partial credit on the answer alone (the work earns nothing).
      return { correct, wellFormed, partial: correct ? 1 : positionalPartial(hasEos ? [...answer, EOS] : answer, p.target, EOS) };
    },
    nearMisses(p) {
      const s = operands(p).reduce((a, b) => a + b, 0);
      const max = terms * (base - 1);
      const out: number[] = [];
      for (const d of [-10, -1, 1, 10]) {
        let w = s + d;
        if (w < 0 || w > max) w = s - d;
        if (w >= 0 && w <= max && w !== s) out.push(w);
      }
      return out.map(digitsOf);
    },
    render(tokens) {
      return renderTokens(SUM_VOCAB, PAD, tokens);
    },
  };
}

/** A worked-answer task: one whose completions may show intermediate work before a marker. */
export function isWorkedTask(t: Task): t is SumTask {
  return (t as Partial<SumTask>).marker !== undefined;
}

/** The completion shows its work: a marker before its eos (false on tasks without work). */
export function showsWork(t: Task, completion: ArrayLike<number>): boolean {
  if (!isWorkedTask(t)) return false;
  const p = t.parts(completion);
  return p.worked && p.hasEos;
}
