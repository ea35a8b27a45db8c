/**
 * Countdown, in the spirit of TinyZero's countdown task (Pan et al. 2025, after the TV game):
 * reach a target with + - * and parentheses, using each given number exactly once.
 *
 * Prompt: the numbers (single digits 1-9), '>', the target zero-padded to a fixed width, '=':
 * "352>16=" means numbers 3, 5, 2 and target 16 (2 target digits for 3 numbers, targets 1..99;
 * 3 digits for 4 numbers, targets 1..999). Any valid expression is correct, e.g. "(3+5)*2$" or
 * "2*(5+3)$"; the verifier parses it with a small recursive-descent parser (never eval).
 *
 * Problems are generated solvable: draw the numbers, pick a random expression over them, keep its
 * value as the target if it is in range. The stored `target` tokens are a canonical solution: the
 * shortest expression over all expressions of the numbers (ties: the first in code-unit order),
 * found by exhaustive search. Every expression of 3 numbers fits in 7 tokens and of 4 numbers in
 * 11 (4 digits, 3 operators, at most 2 pairs of parentheses), so maxNew = 8 and 12.
 *
 * Skills (subsets): 'needs-mult' (no solution with + and - only) vs 'add-sub-only', and
 * 'needs-parens' (every solution needs parentheses) vs 'no-parens'. Both decided by the search.
 */
import { Rng, hashString } from '../rng';
import type { BlindSpot, Problem, Task, Verdict } from './task';
import { frozen, paddedDigits, renderTokens, untilEos } from './addition';

/** ids 0-9 digits, 10 '+', 11 '-', 12 '*', 13 '(', 14 ')', 15 '>', 16 '=', 17 eos '$', 18 pad '_'. */
export const COUNTDOWN_VOCAB = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '+', '-', '*', '(', ')', '>', '=', '$', '_'];
const PLUS = 10;
const MINUS = 11;
const TIMES = 12;
const LPAREN = 13;
const RPAREN = 14;
const GT = 15;
const EQ = 16;
const EOS = 17;
const PAD = 18;

const HELD_OUT = 500;

// ---------------------------------------------------------------------------------------------
// The verifier's parser
// ---------------------------------------------------------------------------------------------

/**
 * Parse and evaluate an expression over single-digit numbers with + - * and parentheses:
 *   expr   := term (('+' | '-') term)*      (left-associative)
 *   term   := factor ('*' factor)*
 *   factor := digit | '(' expr ')'
 * Returns the value and the numbers used (in order), or null if the tokens are not exactly one
 * expression (two adjacent digits such as "12" are not a number here). Never throws: recursion
 * depth is bounded by the number of tokens, and any token id outside the grammar is an error.
 */
export function parseExpression(tokens: ArrayLike<number>): { value: number; numbers: number[] } | null {
  let pos = 0;
  const numbers: number[] = [];
  const peek = () => (pos < tokens.length ? tokens[pos] : -1);

  function factor(): number | null {
    const t = peek();
    if (Number.isInteger(t) && t >= 0 && t <= 9) {
      pos++;
      numbers.push(t);
      return t;
    }
    if (t === LPAREN) {
      pos++;
      const v = expr();
      if (v === null || peek() !== RPAREN) return null;
      pos++;
      return v;
    }
    return null;
  }

  function term(): number | null {
    let v = factor();
    while (v !== null && peek() === TIMES) {
      pos++;
      const r = factor();
      v = r === null ? null : v * r;
    }
    return v;
  }

  function expr(): number | null {
    let v = term();
    while (v !== null && (peek() === PLUS || peek() === MINUS)) {
      const op = tokens[pos++];
      const r = term();
      v = r === null ? null : op === PLUS ? v + r : v - r;
    }
    return v;
  }

  const value = expr();
  if (value === null || pos !== tokens.length) return null;
  return { value, numbers };
}

/** Same numbers, each used exactly once (as multisets). */
function sameMultiset(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  return x.every((v, i) => v === y[i]);
}

// ---------------------------------------------------------------------------------------------
// Exhaustive search over all expressions of a multiset of numbers
// ---------------------------------------------------------------------------------------------

/** An expression as text (one character per token) with what the search needs to know. */
interface Expr {
  value: number;
  text: string;
  /** Top operator: 0 a number, 1 '+' or '-', 2 '*' (decides where parentheses are needed). */
  top: 0 | 1 | 2;
  addSubOnly: boolean;
  hasParens: boolean;
}

/** What the search knows about one reachable value. */
interface Reach {
  /** The shortest expression (ties: first in code-unit order). */
  best: string;
  /** Some expression with + and - only reaches it. */
  addSub: boolean;
  /** Some expression without parentheses reaches it. */
  noParens: boolean;
}

/** `l op r` with the fewest parentheses that keep its meaning ('*' binds tighter; '-' is not associative). */
function combine(op: '+' | '-' | '*', l: Expr, r: Expr): Expr {
  const wrapL = op === '*' && l.top === 1;
  const wrapR = r.top === 1 && (op === '*' || op === '-');
  return {
    value: op === '+' ? l.value + r.value : op === '-' ? l.value - r.value : l.value * r.value,
    text: (wrapL ? `(${l.text})` : l.text) + op + (wrapR ? `(${r.text})` : r.text),
    top: op === '*' ? 2 : 1,
    addSubOnly: op !== '*' && l.addSubOnly && r.addSubOnly,
    hasParens: wrapL || wrapR || l.hasParens || r.hasParens,
  };
}

/** Every expression tree over `nums` (each used once; any order, any bracketing, any operators). */
function allExpressions(nums: readonly number[]): Expr[] {
  const memo = new Map<number, Expr[]>();
  const go = (mask: number): Expr[] => {
    const hit = memo.get(mask);
    if (hit) return hit;
    const out: Expr[] = [];
    if ((mask & (mask - 1)) === 0) {
      const v = nums[31 - Math.clz32(mask)];
      out.push({ value: v, text: String(v), top: 0, addSubOnly: true, hasParens: false });
    } else {
      // Every split of the numbers into a non-empty left part and right part.
      for (let left = (mask - 1) & mask; left > 0; left = (left - 1) & mask) {
        const ls = go(left);
        const rs = go(mask ^ left);
        for (const l of ls) for (const r of rs) for (const op of ['+', '-', '*'] as const) out.push(combine(op, l, r));
      }
    }
    memo.set(mask, out);
    return out;
  };
  return go((1 << nums.length) - 1);
}

interface Search {
  /** The value of every expression (sampling one uniformly gives the random expression tree). */
  values: Int32Array;
  reach: Map<number, Reach>;
}

function search(sortedNums: readonly number[]): Search {
  const exprs = allExpressions(sortedNums);
  const reach = new Map<number, Reach>();
  for (const e of exprs) {
    const r = reach.get(e.value);
    if (!r) {
      reach.set(e.value, { best: e.text, addSub: e.addSubOnly, noParens: !e.hasParens });
      continue;
    }
    if (e.text.length < r.best.length || (e.text.length === r.best.length && e.text < r.best)) r.best = e.text;
    r.addSub ||= e.addSubOnly;
    r.noParens ||= !e.hasParens;
  }
  return { values: Int32Array.from(exprs, (e) => e.value), reach };
}

// ---------------------------------------------------------------------------------------------
// The task
// ---------------------------------------------------------------------------------------------

export interface CountdownOptions {
  numbers: 3 | 4;
}

export interface CountdownTask extends Task {
  numbers: number;
  /** Largest target (99 or 999). */
  maxTarget: number;
  /** The problem "reach `target` with `nums`", or null if no expression reaches it. */
  problem(nums: number[], target: number): Problem | null;
  /** The numbers and the target of a problem (read from its prompt). */
  parts(p: Problem): { nums: number[]; target: number };
}

const toTokens = (text: string) => Array.from(text, (ch) => COUNTDOWN_VOCAB.indexOf(ch));
const toText = (tokens: readonly number[]) => tokens.map((t) => COUNTDOWN_VOCAB[t]).join('');

export function createCountdown({ numbers: n }: CountdownOptions): CountdownTask {
  if (n !== 3 && n !== 4) throw new RangeError(`countdown: numbers must be 3 or 4, got ${n}`);
  const width = n === 3 ? 2 : 3;
  const maxTarget = 10 ** width - 1;
  const maxNew = n === 3 ? 8 : 12;
  const searches = new Map<string, Search>();

  function searchOf(nums: readonly number[]): Search {
    const sorted = [...nums].sort((a, b) => a - b);
    const k = sorted.join('');
    let s = searches.get(k);
    if (!s) {
      s = search(sorted);
      searches.set(k, s);
    }
    return s;
  }

  function parts(p: Problem): { nums: number[]; target: number } {
    const nums = p.prompt.slice(0, n);
    const target = p.prompt.slice(n + 1, n + 1 + width).reduce((x, d) => 10 * x + d, 0);
    return { nums, target };
  }

  function problem(nums: number[], target: number): Problem | null {
    if (nums.length !== n || !nums.every((v) => Number.isInteger(v) && v >= 1 && v <= 9)) return null;
    if (!Number.isInteger(target) || target < 1 || target > maxTarget) return null;
    const r = searchOf(nums).reach.get(target);
    if (!r || r.best.length + 1 > maxNew) return null;
    return {
      prompt: [...nums, GT, ...paddedDigits(target, width), EQ],
      target: toTokens(r.best),
      subsets: [r.addSub ? 'add-sub-only' : 'needs-mult', r.noParens ? 'no-parens' : 'needs-parens'],
      key: `${nums.join('')}>${target}`,
    };
  }

  /** Draw numbers, pick a random expression over them, keep its value if it is a valid target. */
  function draw(rng: Rng): Problem {
    for (;;) {
      const nums = Array.from({ length: n }, () => rng.range(1, 9));
      const s = searchOf(nums);
      const p = problem(nums, s.values[rng.int(s.values.length)]);
      if (p) return p;
    }
  }

  // The benchmark, then a fresh set of the same size (disjoint; what a leaked benchmark is compared against).
  const fixed = new Rng(hashString(`held-out/countdown/${n}`));
  const heldKeys = new Set<string>();
  const heldOut: Problem[] = [];
  const fresh: Problem[] = [];
  while (fresh.length < HELD_OUT) {
    const p = draw(fixed);
    if (heldKeys.has(p.key)) continue;
    heldKeys.add(p.key);
    (heldOut.length < HELD_OUT ? heldOut : fresh).push(frozen(p));
  }

  const blindSpots: BlindSpot[] = [
    {
      id: 'needs-mult',
      subset: 'needs-mult',
      doc: 'never multiplies: joins the numbers with +',
      // On 'needs-mult' no + / - expression reaches the target, so this sum is always wrong.
      wrongAnswer: (p) => toTokens(parts(p).nums.join('+')),
    },
  ];

  function verify(p: Problem, completion: ArrayLike<number>): Verdict {
    const { nums, target } = parts(p);
    const { body, hasEos } = untilEos(completion, EOS);
    const parsed = hasEos ? parseExpression(body) : null;
    if (!parsed) return { correct: false, wellFormed: false, partial: 0 };
    if (!sameMultiset(parsed.numbers, nums)) return { correct: false, wellFormed: true, partial: 0 };
    if (parsed.value === target) return { correct: true, wellFormed: true, partial: 1 };
    // Closeness, kept below 0.9 so that only a valid solution earns 1.
    return { correct: false, wellFormed: true, partial: Math.max(0, 1 - Math.abs(parsed.value - target) / target) * 0.9 };
  }

  function nearMisses(p: Problem): number[][] {
    const { nums, target } = parts(p);
    const out: string[] = [];
    const add = (tokens: number[]) => {
      const text = toText(tokens);
      const parsed = parseExpression(tokens);
      if (parsed && parsed.value !== target && tokens.length + 1 <= maxNew && !out.includes(text)) out.push(text);
    };
    // One operator of the canonical solution replaced by another.
    p.target.forEach((t, i) => {
      if (t !== PLUS && t !== MINUS && t !== TIMES) return;
      for (const op of [PLUS, MINUS, TIMES]) {
        if (op === t) continue;
        const c = p.target.slice();
        c[i] = op;
        add(c);
      }
    });
    // Another expression of the same numbers: the shortest ones for the nearest values below and above.
    const values = [...searchOf(nums).reach.keys()];
    const below = values.filter((v) => v < target).sort((a, b) => b - a)[0];
    const above = values.filter((v) => v > target).sort((a, b) => a - b)[0];
    for (const v of [below, above]) if (v !== undefined) add(toTokens(searchOf(nums).reach.get(v)!.best));
    return out.map(toTokens);
  }

  return {
    id: 'countdown',
    title: `countdown with ${n} numbers`,
    numbers: n,
    maxTarget,
    vocab: COUNTDOWN_VOCAB,
    eos: EOS,
    pad: PAD,
    promptLen: n + 1 + width + 1,
    maxNew,
    subsets: ['needs-mult', 'add-sub-only', 'needs-parens', 'no-parens'],
    blindSpots,
    problem,
    parts,
    sample(rng, count) {
      return Array.from({ length: count }, () => {
        for (;;) {
          const p = draw(rng);
          if (!heldKeys.has(p.key)) return p;
        }
      });
    },
    heldOut() {
      return heldOut.slice();
    },
    fresh() {
      return fresh.slice();
    },
    uniqueAnswer: false,
    verify,
    nearMisses,
    render(tokens) {
      return renderTokens(COUNTDOWN_VOCAB, PAD, tokens);
    },
  };
}
