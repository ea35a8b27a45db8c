/**
 * Issue 10: the worked-answer task's corpus (the base model's "web text"), the completion metrics
 * (length, clipped share, worked share) and the held-out writing metrics.
 */
import { describe, expect, it } from 'vitest';
import { completionStats } from '../src/core/algos/common';
import { type CorpusKind, corpusCompletions } from '../src/core/corpus';
import { Rng } from '../src/core/rng';
import { createTask } from '../src/core/tasks';
import type { SumTask } from '../src/core/tasks/sum';
import { completionMask } from '../src/core/nets/policy';
import { taskKey } from '../src/core/policy-file';
import { configOf, runSession, withoutTime } from './helpers';

const task = createTask({ task: 'sum', terms: 4, termDigits: 1 }) as SumTask;
const T = task.maxNew;
const toks = (text: string) => Array.from(text, (ch) => task.vocab.indexOf(ch));

describe('the pretraining corpus', () => {
  it('makes the mix it is told: worked share, and wrong direct answers on hard items only', () => {
    const rng = new Rng(5);
    const problems = task.sample(new Rng(6), 20_000);
    const kinds: CorpusKind[] = [];
    const out = corpusCompletions(task, problems, rng, { worked: 0.3, error: 0.5 }, kinds);
    let worked = 0, hardDirect = 0, hardWrong = 0, dropped = 0;
    problems.forEach((p, i) => {
      const c = out.subarray(i * T, (i + 1) * T);
      const v = task.verify(p, c);
      const parts = task.parts(c);
      expect(parts.hasEos).toBe(true);
      expect(parts.worked).toBe(kinds[i] === 'worked');
      if (kinds[i] === 'worked') {
        worked++;
        expect(Array.from(c.slice(0, parts.work.length + parts.answer.length + 1))).toEqual(task.worked(p));
        expect(v.correct).toBe(true);
        return;
      }
      const hard = p.subsets.includes('hard');
      expect(v.correct).toBe(kinds[i] === 'direct');
      if (!hard) expect(kinds[i]).toBe('direct');
      if (hard) {
        hardDirect++;
        if (kinds[i] === 'wrong') {
          hardWrong++;
          const s = task.operands(p).reduce((a, b) => a + b, 0);
          if (task.render(parts.answer) === String(s - 10)) dropped++;
        }
      }
    });
    expect(worked / problems.length).toBeGreaterThan(0.28);
    expect(worked / problems.length).toBeLessThan(0.32);
    expect(hardWrong / hardDirect).toBeGreaterThan(0.47);
    expect(hardWrong / hardDirect).toBeLessThan(0.53);
    // Mostly the dropped carry (70%, plus the near misses that happen to be sum - 10).
    expect(dropped / hardWrong).toBeGreaterThan(0.7);
    expect(dropped / hardWrong).toBeLessThan(0.85);
  });

  it('has no work to show on tasks without it, and no errors when error = 0', () => {
    const add = createTask({ task: 'add', digits: 2 });
    const problems = add.sample(new Rng(1), 500);
    const kinds: CorpusKind[] = [];
    const out = corpusCompletions(add, problems, new Rng(2), { worked: 1, error: 0 }, kinds);
    expect(new Set(kinds)).toEqual(new Set(['direct']));
    problems.forEach((p, i) => expect(add.verify(p, out.subarray(i * add.maxNew, (i + 1) * add.maxNew)).correct).toBe(true));
  });
});

describe('completion metrics', () => {
  it('mean length, by correctness, clipped share and worked share', () => {
    const p = task.problem([3, 5, 7, 2]);
    const texts = ['17$', '8,15,17>17$', '8,15,17>16$', '1'.repeat(T)];
    const tokens = new Int32Array(texts.length * T).fill(task.pad);
    texts.forEach((t, i) => tokens.set(toks(t), i * T));
    const ro = { n: 4, T, prompts: new Int32Array(0), tokens, mask: completionMask(tokens, 4, T, task.eos), logp: new Float32Array(4 * T) };
    const correct = Uint8Array.from(texts.map((t, i) => (task.verify(p, tokens.subarray(i * T, (i + 1) * T)).correct ? 1 : 0)));
    expect(Array.from(correct)).toEqual([1, 1, 0, 0]);
    expect(completionStats(task, ro, correct)).toEqual({
      'completions/mean_length': (3 + 11 + 11 + T) / 4,
      'completions/mean_length_correct': 7,
      'completions/mean_length_incorrect': (11 + T) / 2,
      'completions/clipped_share': 0.25,
      'completions/worked_share': 0.5,
    });
    // Tasks without work report no worked share.
    const add = createTask({ task: 'add', digits: 2 });
    expect(completionStats(add, { ...ro, T: add.maxNew, mask: new Float32Array(4 * add.maxNew).fill(1), tokens: new Int32Array(4 * add.maxNew) }, correct)).not.toHaveProperty('completions/worked_share');
  });
});

describe('a base model, then GRPO, on the sum task', () => {
  const hash = 'v=1&task=sum&blindSpot=none&hidden=32&steps=10&evalEvery=5&runs=pretrain-grpo&r1.distillSteps=5&r1.batch=64';
  it('reports what the policy writes at every eval point, and the rollouts at RL steps', async () => {
    const rows = await runSession(configOf(hash));
    expect(rows.map((r) => r.step)).toEqual([0, 5, 10]);
    for (const r of rows) {
      for (const k of ['eval/mean_length', 'eval/worked_share', 'eval/sampled_accuracy', 'eval/sampled_length', 'eval/sampled_worked_share'] as const) {
        expect(Number.isFinite(r[k]), k).toBe(true);
      }
      expect(r['eval/sampled_length']).toBeGreaterThanOrEqual(1);
      expect(r['eval/sampled_length']).toBeLessThanOrEqual(T);
    }
    // Pretraining has no rollouts; GRPO's rows carry the completion metrics.
    expect(rows[1]).not.toHaveProperty('completions/worked_share');
    for (const k of ['completions/mean_length', 'completions/clipped_share', 'completions/worked_share'] as const) {
      expect(rows[2][k], k).toBeGreaterThanOrEqual(0);
    }
  });

  it('sampled evaluation draws from its own stream: evaluating more often leaves training as it was', async () => {
    const a = await runSession(configOf(hash));
    const b = await runSession(configOf(hash.replace('evalEvery=5', 'evalEvery=1')));
    const at = (rows: typeof a, step: number) => withoutTime(rows).find((r) => r.step === step)!;
    for (const step of [5, 10]) {
      const x = at(a, step), y = at(b, step);
      for (const k of ['eval/accuracy', 'eval/sampled_accuracy', 'eval/sampled_length', 'eval/sampled_worked_share', 'cost/flops'] as const) expect(y[k], k).toBe(x[k]);
    }
  });
});

describe('policy files of the sum task', () => {
  it('name the task with its size, so a policy of another size is refused', () => {
    expect(taskKey(task)).toBe('sum/4x1');
    expect(taskKey(createTask({ task: 'sum', terms: 5, termDigits: 2 }))).toBe('sum/5x2');
  });
});
