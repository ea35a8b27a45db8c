/**
 * Sorting a list of `length` digits: prompt "3142=", answer "1234$" (ascending, duplicates kept).
 * Its own compact vocabulary: ids 0-9 digits, 10 '=', 11 eos '$', 12 pad '_'.
 *
 * Skill (subset): lists with a repeated digit ('duplicates'), where the answer is not just the
 * set of the digits in order; the flawed teacher drops the repeats there.
 */
import type { BlindSpot, Problem, Verdict, Task } from './task';
import { codedProblems, codeSplit, paddedDigits, positionalPartial, renderTokens, sameTokens, untilEos } from './addition';

export const SORT_VOCAB = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '=', '$', '_'];
const EQ = 10;
const EOS = 11;
const PAD = 12;

export interface SortOptions {
  /** Digits per list, 2..6. */
  length: number;
}

export interface SortTask extends Task {
  length: number;
  /** The problem of sorting `digits` (length `length`, each 0-9). */
  problem(digits: number[]): Problem;
}

export function createSort({ length }: SortOptions): SortTask {
  if (!Number.isInteger(length) || length < 2 || length > 6) throw new RangeError(`sort: length must be 2..6, got ${length}`);
  const space = 10 ** length;
  // 500 held out, or 20% when there are fewer than 2,500 lists (length 2: 20 of 100; 3: 200 of 1,000).
  const nHeld = Math.min(500, Math.floor(space / 5));

  function problem(digits: number[]): Problem {
    const hasDup = new Set(digits).size < digits.length;
    return {
      prompt: [...digits, EQ],
      target: [...digits].sort((a, b) => a - b),
      subsets: [hasDup ? 'duplicates' : 'no-duplicates'],
      key: digits.join(''),
    };
  }

  const split = codeSplit(space, nHeld, `sort/${length}`);
  const fromCode = (c: number) => problem(paddedDigits(c, length));
  const problems = codedProblems(split, fromCode);

  const blindSpots: BlindSpot[] = [
    {
      id: 'duplicates',
      subset: 'duplicates',
      doc: 'drops repeated digits: answers the sorted set',
      wrongAnswer: (p) => p.target.filter((d, i) => i === 0 || d !== p.target[i - 1]),
    },
  ];

  return {
    id: 'sort',
    title: `sorting ${length} digits`,
    length,
    vocab: SORT_VOCAB,
    eos: EOS,
    pad: PAD,
    promptLen: length + 1,
    maxNew: length + 1,
    uniqueAnswer: true,
    subsets: ['duplicates', 'no-duplicates'],
    blindSpots,
    problem,
    ...problems,
    verify(p, completion): Verdict {
      const { body, hasEos } = untilEos(completion, EOS);
      return {
        correct: hasEos && sameTokens(body, p.target),
        // Right shape: as many digits as the list, then eos.
        wellFormed: hasEos && body.length === length && body.every((t) => t >= 0 && t <= 9),
        partial: positionalPartial(completion, p.target, EOS),
      };
    },
    nearMisses(p) {
      const t = p.target;
      const out: number[][] = [];
      const add = (c: number[]) => {
        if (!sameTokens(c, t) && !out.some((o) => sameTokens(o, c))) out.push(c);
      };
      // Two neighbours out of order.
      for (let i = 0; i + 1 < t.length; i++) {
        if (t[i] === t[i + 1]) continue;
        const c = t.slice();
        [c[i], c[i + 1]] = [c[i + 1], c[i]];
        add(c);
      }
      // One digit off by one.
      for (let i = 0; i < t.length; i++) {
        for (const d of [-1, 1]) {
          const v = t[i] + d;
          if (v < 0 || v > 9) continue;
          const c = t.slice();
          c[i] = v;
          add(c);
        }
      }
      return out;
    },
    render(tokens) {
      return renderTokens(SORT_VOCAB, PAD, tokens);
    },
  };
}
