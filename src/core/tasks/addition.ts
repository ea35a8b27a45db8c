/**
 * Addition of two `digits`-digit numbers: minGPT's `adder` and the reference's task
 * (../shared/reference/tiny_rl.py). For digits = 2 the prompt is "aa+bb=" (6 tokens, both
 * operands zero-padded) and the answer is the decimal digits of a+b, most significant first, no
 * leading zeros, then eos: "27+35=" -> "62$". The 14-token vocabulary is the reference's, in its
 * order, so a policy here has the same 14 logits as the reference network.
 *
 * Skills (subsets): a carry out of the units column ('units-carry', 27+35), and a carry into a new
 * leading digit ('new-digit', 63+52 = 115). For digits = 1 the two coincide.
 *
 * This file also holds the helpers every fixed-answer task shares (sort.ts reuses them): reading a
 * completion up to its eos, positional partial credit, rendering, and the fixed train/held-out split.
 */
import { Rng, hashString } from '../rng';
import { remember } from '../bounded';
import type { BlindSpot, Problem, Task, Verdict } from './task';

// ---------------------------------------------------------------------------------------------
// Shared helpers of tasks whose answer is one fixed token sequence
// ---------------------------------------------------------------------------------------------

/** The answer part of a completion: the tokens before the first eos, and whether there is one. */
export function untilEos(completion: ArrayLike<number>, eos: number): { body: number[]; hasEos: boolean } {
  const body: number[] = [];
  for (let i = 0; i < completion.length; i++) {
    if (completion[i] === eos) return { body, hasEos: true };
    body.push(completion[i]);
  }
  return { body, hasEos: false };
}

export function sameTokens(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Positional partial credit: the share of positions where the completion (up to and including
 * its first eos, or all of it if it has none) matches target + eos, over the longer of the two.
 * 1 iff the completion is exactly target + eos; 0 for garbage.
 */
export function positionalPartial(completion: ArrayLike<number>, target: readonly number[], eos: number): number {
  const want = target.length + 1;
  let len = completion.length;
  for (let i = 0; i < completion.length; i++) {
    if (completion[i] === eos) {
      len = i + 1;
      break;
    }
  }
  let hits = 0;
  for (let i = 0; i < Math.min(len, want); i++) {
    if (completion[i] === (i < target.length ? target[i] : eos)) hits++;
  }
  return hits / Math.max(len, want);
}

/** Tokens as text: eos as the vocabulary's '$', pad dropped, unknown ids as '?'. */
export function renderTokens(vocab: readonly string[], pad: number, tokens: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === pad) continue;
    s += Number.isInteger(t) && t >= 0 && t < vocab.length ? vocab[t] : '?';
  }
  return s;
}

/** Decimal digits of a non-negative integer, most significant first, no leading zeros. */
export function digitsOf(n: number): number[] {
  if (!(Number.isSafeInteger(n) && n >= 0)) return String(n).split('').map(Number);
  const out: number[] = [];
  do {
    out.push(n % 10);
    n = Math.floor(n / 10);
  } while (n > 0);
  return out.reverse();
}

/** `n` as exactly `width` digits, zero-padded on the left (all its digits if it has more). */
export function paddedDigits(n: number, width: number): number[] {
  const d = digitsOf(n);
  if (d.length >= width) return d;
  const out = new Array<number>(width - d.length).fill(0);
  for (const x of d) out.push(x);
  return out;
}

/**
 * A fixed split of the problem codes 0..space-1 into `nHeld` held-out codes (the benchmark),
 * `nHeld` fresh codes (a second set from the same distribution that no run ever trains on: what
 * a contaminated benchmark is compared against) and the rest, for training. Both fixed sets come
 * from an Rng seeded by `label` alone, so they are the same for every experiment seed. Small
 * spaces keep the training codes as an explicit list (sampling is one draw); large ones sample by
 * rejection against the two fixed sets.
 */
export interface CodeSplit {
  /** Number of codes: 0 .. space-1. */
  space: number;
  held: number[];
  fresh: number[];
  isHeld(code: number): boolean;
  /** A uniformly random training code (in neither fixed set). */
  drawTrain(rng: Rng): number;
}

const EXPLICIT_SPLIT_MAX = 20_000;

/** A uniform integer in [0, n) for any safe n (one 32-bit draw when n <= 2^32, as before). */
export function bigInt(rng: Rng, n: number): number {
  if (n <= 2 ** 32) return rng.int(n);
  for (;;) {
    const v = rng.nextUint32() * 2 ** 21 + (rng.nextUint32() >>> 11);
    if (v < Math.floor(2 ** 53 / n) * n) return v % n;
  }
}

export function codeSplit(space: number, nHeld: number, label: string): CodeSplit {
  const fixed = new Rng(hashString(`held-out/${label}`));
  if (space <= EXPLICIT_SPLIT_MAX) {
    const perm = fixed.permutation(space);
    const held = perm.slice(0, nHeld);
    const fresh = perm.slice(nHeld, 2 * nHeld);
    const heldSet = new Set(held);
    const train = Int32Array.from(perm.slice(2 * nHeld)).sort();
    return { space, held, fresh, isHeld: (c) => heldSet.has(c), drawTrain: (rng) => train[rng.int(train.length)] };
  }
  const heldSet = new Set<number>();
  const taken = new Set<number>();
  const held: number[] = [];
  const fresh: number[] = [];
  while (fresh.length < nHeld) {
    const c = bigInt(fixed, space);
    if (taken.has(c)) continue;
    taken.add(c);
    if (held.length < nHeld) {
      heldSet.add(c);
      held.push(c);
    } else fresh.push(c);
  }
  return {
    space,
    held,
    fresh,
    isHeld: (c) => heldSet.has(c),
    drawTrain(rng) {
      for (;;) {
        const c = bigInt(rng, space);
        if (!taken.has(c)) return c;
      }
    },
  };
}

/** Training problems kept built (frozen, by code) before the cache is cleared. */
const PROBLEM_CACHE_LIMIT = 50_000;

/**
 * A task's `sample`, `heldOut` and `fresh` over an integer coding of its problems: training draws
 * never hit the fixed codes; the fixed problems are built once, frozen, and shared. Training
 * problems are frozen and shared too, built once per code (a batch of 2-digit additions draws
 * from 9,000 codes: building each anew cost ~1 us, a third of a millisecond per batch of 256).
 */
export function codedProblems(split: CodeSplit, fromCode: (c: number) => Problem): Pick<Task, 'sample' | 'heldOut' | 'fresh'> {
  const heldOut = split.held.map((c) => frozen(fromCode(c)));
  const fresh = split.fresh.map((c) => frozen(fromCode(c)));
  // By code: an array where the codes are few (a lookup instead of a hash probe: the step's other
  // work has just evicted these from the cache), else a map, cleared when full.
  const dense = split.space <= PROBLEM_CACHE_LIMIT ? new Array<Problem | undefined>(split.space).fill(undefined) : null;
  const built = new Map<number, Problem>();
  const train = (c: number): Problem => {
    let p = dense ? dense[c] : built.get(c);
    if (!p) {
      p = frozen(fromCode(c));
      if (dense) dense[c] = p;
      else remember(built, c, PROBLEM_CACHE_LIMIT, p);
    }
    return p;
  };
  return {
    sample: (rng, n) => Array.from({ length: n }, () => train(split.drawTrain(rng))),
    heldOut: () => heldOut.slice(),
    fresh: () => fresh.slice(),
  };
}

/** Freeze a problem and its arrays (held-out problems are shared by every caller). */
export function frozen(p: Problem): Problem {
  Object.freeze(p.prompt);
  Object.freeze(p.target);
  Object.freeze(p.subsets);
  return Object.freeze(p);
}

// ---------------------------------------------------------------------------------------------
// Addition
// ---------------------------------------------------------------------------------------------

/** The reference's vocabulary: ids 0-9 digits, 10 '+', 11 '=', 12 eos '$', 13 pad '_'. */
export const ADDITION_VOCAB = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '+', '=', '$', '_'];
const PLUS = 10;
const EQ = 11;
const EOS = 12;
const PAD = 13;

/** Held-out sizes per digit count: 20 of 100, 500 of 10,000 (as the reference), 500 of 10^6. */
const HELD_OUT: Record<1 | 2 | 3, number> = { 1: 20, 2: 500, 3: 500 };

export interface AdditionOptions {
  digits: 1 | 2 | 3;
}

/** The addition task, plus a constructor of any problem (for tests and demos). */
export interface AdditionTask extends Task {
  digits: number;
  /** The problem a + b (0 <= a, b < 10^digits). */
  problem(a: number, b: number): Problem;
}

export function createAddition({ digits }: AdditionOptions): AdditionTask {
  if (!(digits === 1 || digits === 2 || digits === 3)) throw new RangeError(`addition: digits must be 1, 2 or 3, got ${digits}`);
  const base = 10 ** digits;
  const maxSum = 2 * (base - 1);

  function operands(p: Problem): [number, number] {
    let a = 0, b = 0;
    for (let i = 0; i < digits; i++) {
      a = 10 * a + p.prompt[i];
      b = 10 * b + p.prompt[digits + 1 + i];
    }
    return [a, b];
  }

  function problem(a: number, b: number): Problem {
    const unitsCarry = (a % 10) + (b % 10) >= 10;
    const newDigit = a + b >= base;
    // "aa+bb=", both operands zero-padded (built digit by digit: this runs for every training draw)
    const prompt = new Array<number>(2 * digits + 2).fill(0);
    for (let i = digits - 1, x = a; i >= 0; i--, x = Math.floor(x / 10)) prompt[i] = x % 10;
    prompt[digits] = PLUS;
    for (let i = 2 * digits, x = b; i > digits; i--, x = Math.floor(x / 10)) prompt[i] = x % 10;
    prompt[2 * digits + 1] = EQ;
    return {
      prompt,
      target: digitsOf(a + b),
      subsets: [unitsCarry ? 'units-carry' : 'no-units-carry', newDigit ? 'new-digit' : 'no-new-digit'],
      key: `${a}+${b}`,
    };
  }

  const split = codeSplit(base * base, HELD_OUT[digits], `add/${digits}`);
  const fromCode = (c: number) => problem(Math.floor(c / base), c % base);
  const problems = codedProblems(split, fromCode);

  const blindSpots: BlindSpot[] = [
    {
      id: 'units-carry',
      subset: 'units-carry',
      doc: 'forgets the carry from the units: answers a+b-10',
      wrongAnswer: (p) => {
        const [a, b] = operands(p);
        return digitsOf(a + b - 10);
      },
    },
    {
      id: 'new-digit',
      subset: 'new-digit',
      doc: `drops the carry into a new leading digit: answers a+b-${base}`,
      wrongAnswer: (p) => {
        const [a, b] = operands(p);
        return digitsOf(a + b - base);
      },
    },
  ];

  return {
    id: 'add',
    title: `${digits}-digit addition`,
    digits,
    vocab: ADDITION_VOCAB,
    eos: EOS,
    pad: PAD,
    promptLen: 2 * digits + 2,
    maxNew: digits + 2, // the largest sum has digits+1 digits, then eos
    uniqueAnswer: true,
    subsets: ['units-carry', 'no-units-carry', 'new-digit', 'no-new-digit'],
    blindSpots,
    problem,
    ...problems,
    verify(p, completion): Verdict {
      const { body, hasEos } = untilEos(completion, EOS);
      const correct = hasEos && sameTokens(body, p.target);
      const wellFormed = hasEos && body.length >= 1 && body.length <= digits + 1 && body.every((t) => t >= 0 && t <= 9);
      return { correct, wellFormed, partial: positionalPartial(completion, p.target, EOS) };
    },
    nearMisses(p) {
      // The reference teacher's mistakes: sum -10, -1, +1, +10, mirrored when out of range.
      // A mirrored delta can repeat another one (198: +1 -> 197 = -1); the repeat is kept, so a
      // teacher drawing one entry uniformly makes each mistake as often as the reference's does.
      const [a, b] = operands(p);
      const s = a + b;
      const out: number[] = [];
      for (const d of [-10, -1, 1, 10]) {
        let w = s + d;
        if (w < 0 || w > maxSum) w = s - d;
        if (w >= 0 && w <= maxSum) out.push(w);
      }
      return out.map(digitsOf);
    },
    render(tokens) {
      return renderTokens(ADDITION_VOCAB, PAD, tokens);
    },
  };
}
