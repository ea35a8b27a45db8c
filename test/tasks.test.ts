import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng';
import { createAddition } from '../src/core/tasks/addition';
import { createCountdown, parseExpression } from '../src/core/tasks/countdown';
import { createTask, TASKS, type TaskSpec } from '../src/core/tasks';
import { createSort } from '../src/core/tasks/sort';
import { createSum, type SumTask } from '../src/core/tasks/sum';
import type { Problem, Task } from '../src/core/tasks/task';

const SPECS: { spec: TaskSpec; held: number; promptLen: number; maxNew: number; vocab: number }[] = [
  { spec: { task: 'add', digits: 1 }, held: 20, promptLen: 4, maxNew: 3, vocab: 14 },
  { spec: { task: 'add', digits: 2 }, held: 500, promptLen: 6, maxNew: 4, vocab: 14 },
  { spec: { task: 'add', digits: 3 }, held: 500, promptLen: 8, maxNew: 5, vocab: 14 },
  { spec: { task: 'sort', sortLength: 2 }, held: 20, promptLen: 3, maxNew: 3, vocab: 13 },
  { spec: { task: 'sort', sortLength: 3 }, held: 200, promptLen: 4, maxNew: 4, vocab: 13 },
  { spec: { task: 'sort', sortLength: 4 }, held: 500, promptLen: 5, maxNew: 5, vocab: 13 },
  { spec: { task: 'sort', sortLength: 6 }, held: 500, promptLen: 7, maxNew: 7, vocab: 13 },
  { spec: { task: 'countdown', countdownNumbers: 3 }, held: 500, promptLen: 7, maxNew: 8, vocab: 19 },
  { spec: { task: 'countdown', countdownNumbers: 4 }, held: 500, promptLen: 9, maxNew: 12, vocab: 19 },
  // Sum: the longest worked solution ("8,15,17>17$": 12 tokens for four digits) plus 4 tokens of room.
  { spec: { task: 'sum', terms: 3, termDigits: 1 }, held: 100, promptLen: 6, maxNew: 13, vocab: 16 },
  { spec: { task: 'sum', terms: 4, termDigits: 1 }, held: 500, promptLen: 8, maxNew: 16, vocab: 16 },
  { spec: { task: 'sum', terms: 5, termDigits: 2 }, held: 500, promptLen: 15, maxNew: 24, vocab: 16 },
];

/** A completion as the policy emits it: tokens, eos, pads up to maxNew. */
function completion(task: Task, answer: readonly number[]): number[] {
  const c = [...answer, task.eos];
  while (c.length < task.maxNew) c.push(task.pad);
  return c;
}

/** Tokens of a text in a task's vocabulary ('$' is eos). */
function toks(task: Task, text: string): number[] {
  return Array.from(text, (ch) => {
    const i = task.vocab.indexOf(ch);
    if (i < 0) throw new Error(`no token ${ch}`);
    return i;
  });
}

describe.each(SPECS)('task $spec.task $spec.digits$spec.sortLength$spec.countdownNumbers$spec.terms', ({ spec, held, promptLen, maxNew, vocab }) => {
  const task = createTask(spec);
  const heldOut = task.heldOut();

  it('has the documented shape', () => {
    expect(task.vocab.length).toBe(vocab);
    expect(task.promptLen).toBe(promptLen);
    expect(task.maxNew).toBe(maxNew);
    expect(task.vocab[task.eos]).toBe('$');
    expect(task.vocab[task.pad]).toBe('_');
    expect(heldOut.length).toBe(held);
    expect(new Set(heldOut.map((p) => p.key)).size).toBe(held);
    for (const p of heldOut) {
      expect(p.prompt.length).toBe(promptLen);
      expect(p.target.length + 1).toBeLessThanOrEqual(maxNew);
      expect(p.subsets.every((s) => task.subsets.includes(s))).toBe(true);
    }
    // Every subset is represented in the held-out set.
    for (const s of task.subsets) expect(heldOut.some((p) => p.subsets.includes(s))).toBe(true);
  });

  it('accepts the canonical answer of every held-out problem and rejects its near misses', () => {
    for (const p of heldOut) {
      expect(task.verify(p, completion(task, p.target))).toEqual({ correct: true, wellFormed: true, partial: 1 });
      // Tokens after eos are ignored; a missing eos is wrong.
      expect(task.verify(p, [...p.target, task.eos, 0, 1, 2]).correct).toBe(true);
      expect(task.verify(p, p.target).correct).toBe(false);
      const misses = task.nearMisses(p);
      expect(misses.length).toBeGreaterThan(0);
      for (const m of misses) {
        expect(m.length).toBeGreaterThan(0);
        expect(m.length + 1).toBeLessThanOrEqual(task.maxNew);
        const v = task.verify(p, completion(task, m));
        expect(v.correct).toBe(false);
        expect(v.partial).toBeLessThan(1);
        expect(v.partial).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it('gives garbage no credit', () => {
    const p = heldOut[0];
    const garbage = new Array(task.maxNew).fill(task.pad);
    expect(task.verify(p, garbage)).toEqual({ correct: false, wellFormed: false, partial: 0 });
    expect(task.verify(p, [])).toEqual({ correct: false, wellFormed: false, partial: 0 });
  });

  it("blind spots' answers are always wrong on their subset", () => {
    for (const b of task.blindSpots) {
      expect(task.subsets).toContain(b.subset);
      const on = heldOut.filter((p) => p.subsets.includes(b.subset));
      for (const p of on) expect(task.verify(p, completion(task, b.wrongAnswer(p))).correct).toBe(false);
    }
  });

  it('keeps the held-out set out of training', () => {
    const keys = new Set(heldOut.map((p) => p.key));
    const train = task.sample(new Rng(7), 10_000);
    expect(train.length).toBe(10_000);
    expect(train.filter((p) => keys.has(p.key))).toEqual([]);
    // Training problems are valid problems too.
    for (const p of train.slice(0, 200)) expect(task.verify(p, completion(task, p.target)).correct).toBe(true);
  });

  it('has the same held-out set for every call and instance, whatever the seed', () => {
    expect(task.heldOut()).toEqual(heldOut);
    const fresh =
      spec.task === 'add' ? createAddition({ digits: spec.digits as 1 | 2 | 3 })
      : spec.task === 'sort' ? createSort({ length: spec.sortLength! })
      : spec.task === 'sum' ? createSum({ terms: spec.terms!, digits: spec.termDigits! })
      : createCountdown({ numbers: spec.countdownNumbers as 3 | 4 });
    expect(fresh).not.toBe(task);
    expect(fresh.heldOut()).toEqual(heldOut);
    expect(createTask(spec)).toBe(task);
  });

  it('samples deterministically per seed', () => {
    const keys = (seed: number) => task.sample(new Rng(seed), 50).map((p) => p.key);
    expect(keys(3)).toEqual(keys(3));
    expect(keys(3)).not.toEqual(keys(4));
  });
});

describe('createTask', () => {
  it('lists the tasks and rejects bad sizes', () => {
    expect(TASKS.map((t) => t.id)).toEqual(['add', 'sort', 'countdown', 'sum']);
    expect(() => createTask({ task: 'sum', terms: 6 })).toThrow(RangeError);
    expect(() => createTask({ task: 'sum', termDigits: 3 })).toThrow(RangeError);
    expect(() => createTask({ task: 'add', digits: 4 })).toThrow(RangeError);
    expect(() => createTask({ task: 'sort', sortLength: 7 })).toThrow(RangeError);
    expect(() => createTask({ task: 'countdown', countdownNumbers: 5 })).toThrow(RangeError);
    // Irrelevant fields do not make a new task.
    expect(createTask({ task: 'add', digits: 2, sortLength: 3 })).toBe(createTask({ task: 'add', digits: 2, sortLength: 5 }));
  });
});

describe('addition', () => {
  const add = createAddition({ digits: 2 });

  it("uses the reference's 14-token vocabulary and prompt", () => {
    expect(add.vocab).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '+', '=', '$', '_']);
    expect([add.eos, add.pad]).toEqual([12, 13]);
    const p = add.problem(7, 35);
    expect(p.prompt).toEqual([0, 7, 10, 3, 5, 11]);
    expect(add.render(p.prompt)).toBe('07+35=');
    expect(p.target).toEqual([4, 2]);
    expect(add.render([4, 2, 12, 13])).toBe('42$');
  });

  it('puts problems in the right subsets', () => {
    expect(add.problem(27, 35).subsets).toEqual(['units-carry', 'no-new-digit']);
    expect(add.problem(63, 52).subsets).toEqual(['no-units-carry', 'new-digit']);
    expect(add.problem(99, 1).subsets).toEqual(['units-carry', 'new-digit']);
    expect(add.problem(12, 34).subsets).toEqual(['no-units-carry', 'no-new-digit']);
    const one = createAddition({ digits: 1 });
    expect(one.problem(5, 7).subsets).toEqual(['units-carry', 'new-digit']);
    expect(one.problem(5, 4).subsets).toEqual(['no-units-carry', 'no-new-digit']);
  });

  it('verifies digits, eos, shape and partial credit', () => {
    const p = add.problem(27, 35); // 62
    const v = (text: string) => add.verify(p, toks(add, text));
    expect(v('62$_')).toEqual({ correct: true, wellFormed: true, partial: 1 });
    expect(v('62$9')).toEqual({ correct: true, wellFormed: true, partial: 1 });
    expect(v('63$_')).toEqual({ correct: false, wellFormed: true, partial: 2 / 3 });
    expect(v('062$')).toEqual({ correct: false, wellFormed: true, partial: 0 });
    expect(v('6$__')).toEqual({ correct: false, wellFormed: true, partial: 1 / 3 });
    expect(v('6212')).toEqual({ correct: false, wellFormed: false, partial: 2 / 4 });
    expect(v('$___')).toEqual({ correct: false, wellFormed: false, partial: 0 });
    expect(v('+=+$')).toEqual({ correct: false, wellFormed: false, partial: 0 });
    expect(v('6+$_').wellFormed).toBe(false);
  });

  it("makes the reference teacher's near misses and blind-spot answers", () => {
    const nm = (a: number, b: number) => add.nearMisses(add.problem(a, b)).map((m) => Number(add.render(m))).sort((x, y) => x - y);
    expect(nm(27, 35)).toEqual([52, 61, 63, 72]);
    expect(nm(99, 99)).toEqual([188, 188, 197, 197]); // +1 and +10 leave 0..198: mirrored (repeats kept)
    expect(nm(99, 96)).toEqual([185, 185, 194, 196]);
    expect(nm(0, 0)).toEqual([1, 1, 10, 10]);
    const one = createAddition({ digits: 1 });
    expect(one.nearMisses(one.problem(4, 5)).map((m) => one.render(m))).toEqual(['8', '10']); // 9+10 and 9-10 both leave 0..18
    const [units, newDigit] = add.blindSpots;
    expect(units.id).toBe('units-carry');
    expect(add.render(units.wrongAnswer(add.problem(27, 35)))).toBe('52');
    expect(newDigit.id).toBe('new-digit');
    expect(add.render(newDigit.wrongAnswer(add.problem(63, 52)))).toBe('15');
    const three = createAddition({ digits: 3 });
    expect(three.render(three.blindSpots[1].wrongAnswer(three.problem(999, 1)))).toBe('0');
  });
});

describe('sort', () => {
  const sort = createSort({ length: 4 });

  it('sorts, keeps duplicates, and knows the duplicates subset', () => {
    const p = sort.problem([3, 1, 4, 2]);
    expect(sort.render(p.prompt)).toBe('3142=');
    expect(sort.render(p.target)).toBe('1234');
    expect(p.subsets).toEqual(['no-duplicates']);
    const d = sort.problem([3, 3, 1, 2]);
    expect(sort.render(d.target)).toBe('1233');
    expect(d.subsets).toEqual(['duplicates']);
    expect(sort.render(sort.blindSpots[0].wrongAnswer(d))).toBe('123');
    expect(sort.verify(d, toks(sort, '123$_')).wellFormed).toBe(false);
    expect(sort.verify(d, toks(sort, '1223$'))).toEqual({ correct: false, wellFormed: true, partial: 4 / 5 });
  });

  it('makes adjacent swaps and off-by-one digits as near misses', () => {
    const nm = sort.nearMisses(sort.problem([3, 1, 4, 2])).map((m) => sort.render(m));
    for (const s of ['2134', '1324', '1243', '0234', '1235', '1224']) expect(nm).toContain(s);
    expect(nm).not.toContain('1234');
    const dup = sort.nearMisses(sort.problem([9, 9, 9, 9])).map((m) => sort.render(m));
    expect(dup.sort()).toEqual(['8999', '9899', '9989', '9998']);
  });
});

describe('countdown', () => {
  const cd = createCountdown({ numbers: 3 });
  const T = (text: string) => toks(cd, text);
  const value = (text: string) => parseExpression(T(text))?.value ?? null;

  it('parses with precedence, left associativity and parentheses', () => {
    expect(value('2+3*4')).toBe(14);
    expect(value('(2+3)*4')).toBe(20);
    expect(value('8-3-2')).toBe(3);
    expect(value('8-(3-2)')).toBe(7);
    expect(value('2*3*4')).toBe(24);
    expect(value('2*(3-4*5)')).toBe(-34);
    expect(value('((7))')).toBe(7);
    expect(parseExpression(T('(2+3)*4'))!.numbers).toEqual([2, 3, 4]);
  });

  it('rejects garbage without throwing', () => {
    for (const bad of ['', '2+', '+2', '(2+3', '2+3)', '23+4', '2++3', '()', '2(3)', '2*', '>', '2=3'])
      expect(parseExpression(T(bad))).toBeNull();
    expect(parseExpression([2, 99, 3])).toBeNull();
    expect(parseExpression([2, -1, 3])).toBeNull();
    expect(parseExpression([2, 10, Number.NaN])).toBeNull();
    const rng = new Rng(5);
    for (let i = 0; i < 5000; i++) {
      const seq = Array.from({ length: rng.int(14) }, () => rng.int(cd.vocab.length));
      expect(() => cd.verify(cd.heldOut()[i % 500], seq)).not.toThrow();
    }
  });

  it('accepts any valid solution and rejects reused, missing or extra numbers', () => {
    const p = cd.problem([3, 5, 2], 16)!;
    expect(cd.render(p.prompt)).toBe('352>16=');
    expect(cd.render(p.target)).toHaveLength(7); // "(3+5)*2" or an equally short form
    const v = (text: string) => cd.verify(p, T(text));
    expect(v('(3+5)*2$')).toEqual({ correct: true, wellFormed: true, partial: 1 });
    expect(v('2*(5+3)$').correct).toBe(true);
    expect(v('(3+5)*2')).toEqual({ correct: false, wellFormed: false, partial: 0 }); // no eos
    expect(v('3+5+2$')).toEqual({ correct: false, wellFormed: true, partial: (1 - 6 / 16) * 0.9 });
    expect(v('3*5*2$').partial).toBeCloseTo((1 - 14 / 16) * 0.9, 12); // 30
    expect(v('5-3-2$')).toEqual({ correct: false, wellFormed: true, partial: 0.9 * (1 - 16 / 16) }); // 0: as far as can be
    expect(v('(5+3)*2*1$')).toEqual({ correct: false, wellFormed: true, partial: 0 }); // extra number
    expect(v('8*2$')).toEqual({ correct: false, wellFormed: true, partial: 0 }); // 16, but not the numbers
    expect(v('(3+3)*2$').correct).toBe(false); // reuses 3, drops 5
    expect(v('(3+5)*$').wellFormed).toBe(false);
  });

  it('decides subsets by exhaustive search', () => {
    const subsets = (nums: number[], target: number) => cd.problem(nums, target)!.subsets;
    expect(subsets([3, 5, 2], 10)).toEqual(['add-sub-only', 'no-parens']);
    expect(subsets([3, 5, 2], 16)).toEqual(['needs-mult', 'needs-parens']);
    expect(subsets([3, 5, 2], 17)).toEqual(['needs-mult', 'no-parens']); // 3*5+2
    expect(subsets([3, 5, 2], 6)).toEqual(['add-sub-only', 'no-parens']); // 5-2+3
    expect(cd.problem([3, 5, 2], 99)).toBeNull(); // unreachable
    expect(cd.problem([3, 5, 2], 0)).toBeNull(); // out of range
    // The canonical answer is a shortest one: 3 numbers without parentheses need 5 tokens.
    expect(cd.problem([3, 5, 2], 10)!.target).toHaveLength(5);
    expect(cd.render(cd.blindSpots[0].wrongAnswer(cd.problem([3, 5, 2], 16)!))).toBe('3+5+2');
  });

  it('agrees with an independent brute force on the held-out subsets', () => {
    // Independent check: evaluate every order, bracketing and operator choice of 3 numbers.
    const ops = [(a: number, b: number) => a + b, (a: number, b: number) => a - b, (a: number, b: number) => a * b];
    const perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    for (const p of cd.heldOut()) {
      const { nums, target } = cd.parts(p);
      let addSub = false;
      let any = false;
      for (const [i, j, k] of perms) {
        const [a, b, c] = [nums[i], nums[j], nums[k]];
        ops.forEach((f, fi) => ops.forEach((g, gi) => {
          for (const v of [g(f(a, b), c), f(a, g(b, c))]) {
            if (v !== target) continue;
            any = true;
            if (fi < 2 && gi < 2) addSub = true;
          }
        }));
      }
      expect(any).toBe(true);
      expect(p.subsets[0]).toBe(addSub ? 'add-sub-only' : 'needs-mult');
      expect(target).toBeGreaterThanOrEqual(1);
      expect(target).toBeLessThanOrEqual(99);
    }
  });
});

describe('sum (worked answers)', () => {
  const task = createTask({ task: 'sum', terms: 4, termDigits: 1 }) as SumTask;
  const p = task.problem([3, 5, 7, 2]);
  const c = (text: string) => completion(task, toks(task, text));

  it('writes prompts, direct and worked answers as the reference does', () => {
    expect(task.render(p.prompt)).toBe('3+5+7+2=');
    expect(task.render(p.target)).toBe('17');
    expect(task.render(task.worked(p))).toBe('8,15,17>17');
    expect(task.render(task.worked(task.problem([9, 9, 9, 9])))).toBe('18,27,36>36');
    expect(p.subsets).toEqual(['easy']);
    expect(task.problem([9, 9, 1, 1]).subsets).toEqual(['hard']);
    const two = createTask({ task: 'sum', terms: 3, termDigits: 2 }) as SumTask;
    const q = two.problem([7, 45, 99]);
    expect(two.render(q.prompt)).toBe('07+45+99=');
    expect(two.render(two.worked(q))).toBe('52,151>151');
    expect(q.subsets).toEqual(['easy']);
    expect(two.problem([99, 99, 2]).subsets).toEqual(['hard']);
  });

  it('accepts right direct and worked answers, rejects wrong ones, and ignores the work', () => {
    for (const text of ['17', '8,15,17>17', '1,2,3>17', '>17', '99,99,99>17']) {
      expect(task.verify(p, c(text)), text).toEqual({ correct: true, wellFormed: true, partial: 1 });
    }
    for (const text of ['16', '18', '7', '017', '8,15,17>16', '8,15,17', '17>', '8,15,17>17>1']) {
      expect(task.verify(p, c(text)).correct, text).toBe(false);
    }
    // Only the answer after the last marker counts; work that is not digits and commas is not well formed.
    expect(task.verify(p, c('9>9>17'))).toMatchObject({ correct: true, wellFormed: false });
    // No eos (cut off by the budget): never right, never well formed.
    const clipped = toks(task, '8,15,17>17'.padEnd(task.maxNew, '1'));
    expect(task.verify(p, clipped)).toMatchObject({ correct: false, wellFormed: false });
    // The format: digits (and commas in the work) only.
    expect(task.verify(p, c('8,15+17>16')).wellFormed).toBe(false);
    expect(task.verify(p, c('8,15,17>16')).wellFormed).toBe(true);
    expect(task.verify(p, c('8,15,17>1=')).wellFormed).toBe(false);
    // Partial credit reads the answer alone: long work earns nothing.
    expect(task.verify(p, c('8,15,17>16')).partial).toBeCloseTo(task.verify(p, c('16')).partial);
  });

  it('splits a completion into work and answer at the last marker', () => {
    expect(task.parts(c('8,15,17>17'))).toEqual({ work: toks(task, '8,15,17'), answer: toks(task, '17'), hasEos: true, worked: true });
    expect(task.parts(c('17'))).toEqual({ work: [], answer: toks(task, '17'), hasEos: true, worked: false });
  });
});

describe('partial credit', () => {
  it('is 1 only for the correct answer on every task', () => {
    const rng = new Rng(11);
    for (const { spec } of SPECS) {
      const task = createTask(spec);
      const problems: Problem[] = task.sample(rng, 300);
      for (const p of problems) {
        const seq = Array.from({ length: task.maxNew }, () => rng.int(task.vocab.length));
        const v = task.verify(p, seq);
        expect(v.partial === 1).toBe(v.correct);
        expect(v.partial).toBeGreaterThanOrEqual(0);
        expect(v.partial).toBeLessThanOrEqual(1);
      }
    }
  });
});
