import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng';
import { Teacher, TEACHER_PROB_FLOOR } from '../src/core/teacher';
import { createTask, type TaskSpec } from '../src/core/tasks';
import { createAddition } from '../src/core/tasks/addition';
import type { Problem, Task } from '../src/core/tasks/task';

const CASES: { spec: TaskSpec; blindSpot: string }[] = [
  { spec: { task: 'add', digits: 1 }, blindSpot: 'units-carry' },
  { spec: { task: 'add', digits: 2 }, blindSpot: 'units-carry' },
  { spec: { task: 'add', digits: 2 }, blindSpot: 'new-digit' },
  { spec: { task: 'add', digits: 3 }, blindSpot: 'new-digit' },
  { spec: { task: 'sort', sortLength: 4 }, blindSpot: 'duplicates' },
  { spec: { task: 'countdown', countdownNumbers: 3 }, blindSpot: 'needs-mult' },
  { spec: { task: 'countdown', countdownNumbers: 4 }, blindSpot: 'needs-mult' },
];

const sum = (xs: ArrayLike<number>) => Array.from(xs).reduce((s, x) => s + x, 0);
const isCorrect = (task: Task, p: Problem, tokens: number[]) => task.verify(p, [...tokens, task.eos]).correct;

describe.each(CASES)('teacher on $spec.task with blind spot $blindSpot', ({ spec, blindSpot }) => {
  const task = createTask(spec);
  const held = task.heldOut();
  const teacher = new Teacher(task, { accuracy: 0.8, blindSpot });
  const offShare = held.filter((p) => !p.subsets.includes(blindSpot)).length / held.length;

  it('has answer distributions that sum to 1, always wrong on the blind spot', () => {
    expect(teacher.blindSpot?.id).toBe(blindSpot);
    for (const p of held) {
      const d = teacher.answerDistribution(p);
      expect(sum(d.map((a) => a.prob))).toBeCloseTo(1, 12);
      expect(new Set(d.map((a) => a.tokens.join(','))).size).toBe(d.length); // duplicates merged
      if (p.subsets.includes(blindSpot)) {
        expect(d.length).toBe(1);
        expect(isCorrect(task, p, d[0].tokens)).toBe(false);
      } else {
        expect(d[0]).toEqual({ tokens: p.target, prob: 0.8 });
        for (const a of d.slice(1)) expect(isCorrect(task, p, a.tokens)).toBe(false);
      }
    }
  });

  it('has exact accuracy and ceiling: accuracy x off-blind-spot share, and that share', () => {
    expect(offShare).toBeGreaterThan(0);
    expect(offShare).toBeLessThan(1);
    expect(teacher.sampledAccuracy(held)).toBeCloseTo(0.8 * offShare, 10);
    expect(teacher.ceiling(held)).toBeCloseTo(offShare, 10);
    const by = teacher.accuracyBySubset(held);
    expect(by[blindSpot]).toEqual({ sampled: 0, ceiling: 0 });
  });

  it('samples completions deterministically per seed, eos then pads', () => {
    const draw = (seed: number) => {
      const rng = new Rng(seed);
      return held.slice(0, 100).map((p) => teacher.sample(rng, p));
    };
    const a = draw(1);
    expect(draw(1)).toEqual(a);
    expect(draw(2)).not.toEqual(a);
    held.slice(0, 100).forEach((p, i) => {
      const c = a[i];
      expect(c.length).toBe(task.maxNew);
      const e = c.indexOf(task.eos);
      expect(e).toBeGreaterThan(0);
      expect(c.slice(e + 1).every((t) => t === task.pad)).toBe(true);
      const answers = teacher.answerDistribution(p).map((x) => x.tokens.join(','));
      expect(answers).toContain(c.slice(0, e).join(','));
    });
  });

  it('samples as a categorical draw over answerDistribution, in its order (the same random stream)', async () => {
    for (const accuracy of [0.8, 0, 1]) {
      const t = new Teacher(task, { accuracy, blindSpot });
      const a = new Rng(7), b = new Rng(7);
      const ps = [...held.slice(0, 150), ...task.sample(new Rng(3), 150)];
      const toks = await t.sampleBatch(a, ps);
      ps.forEach((p, i) => {
        const d = t.answerDistribution(p);
        const k = b.categorical(d.map((x) => x.prob));
        const want = [...d[k].tokens, task.eos, ...Array(task.maxNew).fill(task.pad)].slice(0, task.maxNew);
        expect(Array.from(toks.subarray(i * task.maxNew, (i + 1) * task.maxNew))).toEqual(want);
      });
      expect(a.next()).toBe(b.next()); // one draw per problem on both sides
    }
  });

  it('gives next-token distributions whose chain rule recovers each answer probability', () => {
    for (const p of held.slice(0, 50)) {
      for (const { tokens, prob } of teacher.answerDistribution(p)) {
        const seq = [...tokens, task.eos];
        let chain = 1;
        seq.forEach((t, k) => {
          const q = teacher.nextTokenProbs(p, seq.slice(0, k));
          expect(sum(q)).toBeCloseTo(1, 5);
          chain *= q[t];
        });
        expect(chain).toBeCloseTo(prob, 5);
        // Teacher-forced rows along the same completion: floored, normalised, pad after eos.
        const c = [...seq];
        while (c.length < task.maxNew) c.push(task.pad);
        const V = task.vocab.length;
        const rows = teacher.tokenDistributions(p, c);
        expect(rows.length).toBe(task.maxNew * V);
        for (let t = 0; t < task.maxNew; t++) {
          const row = rows.subarray(t * V, (t + 1) * V);
          expect(sum(row)).toBeCloseTo(1, 5);
          expect(Math.min(...row)).toBeGreaterThanOrEqual(TEACHER_PROB_FLOOR * 0.99);
          if (t > tokens.length) expect(row[task.pad]).toBeGreaterThan(0.999);
          else expect(row[c[t]]).toBeGreaterThan(0);
        }
      }
    }
  });
});

describe('teacher, 2-digit addition, p = 0.8, blind spot units-carry (the reference setting)', () => {
  const add = createTask({ task: 'add', digits: 2 });
  const held = add.heldOut();
  const teacher = new Teacher(add, { accuracy: 0.8, blindSpot: 'units-carry' });

  it('matches the reference numbers (0.42 sampled, 0.53 ceiling on its own 500)', () => {
    const off = held.filter((p) => p.subsets.includes('no-units-carry')).length / held.length;
    // A units carry happens for 45% of all pairs; a random 500 lands within a few points of that.
    expect(off).toBeGreaterThan(0.5);
    expect(off).toBeLessThan(0.6);
    expect(teacher.ceiling(held)).toBeCloseTo(off, 12);
    expect(teacher.sampledAccuracy(held)).toBeCloseTo(0.8 * off, 12);
    expect(teacher.sampledAccuracy(held)).toBeGreaterThan(0.4);
    expect(teacher.sampledAccuracy(held)).toBeLessThan(0.48);
    const by = teacher.accuracyBySubset(held);
    expect(by['units-carry']).toEqual({ sampled: 0, ceiling: 0 });
    expect(by['no-units-carry'].sampled).toBeCloseTo(0.8, 12);
    expect(by['no-units-carry'].ceiling).toBe(1);
    expect(Object.keys(by).sort()).toEqual(['new-digit', 'no-new-digit', 'no-units-carry', 'units-carry']);
  });

  it('marginalises next tokens exactly (checked against 20,000 samples)', () => {
    const task = createAddition({ digits: 2 });
    const t = new Teacher(task, { accuracy: 0.6, blindSpot: 'units-carry' });
    const p = task.problem(47, 45); // 92 with a units carry: on the blind spot, always 82
    expect(t.answerDistribution(p)).toEqual([{ tokens: [8, 2], prob: 1 }]);
    const q = task.problem(43, 45); // 88: near misses 78, 87, 89, 98
    const rng = new Rng(2024);
    const N = 20_000;
    const first = new Float64Array(task.vocab.length);
    const secondAfter8 = new Float64Array(task.vocab.length);
    let n8 = 0;
    for (let i = 0; i < N; i++) {
      const c = t.sample(rng, q);
      first[c[0]] += 1 / N;
      if (c[0] === 8) {
        secondAfter8[c[1]]++;
        n8++;
      }
    }
    const p0 = t.nextTokenProbs(q, []);
    // Exact: '8' = 0.6 + 0.1 + 0.1, '7' = 0.1, '9' = 0.1.
    expect(p0[8]).toBeCloseTo(0.8, 6);
    expect(p0[7]).toBeCloseTo(0.1, 6);
    expect(p0[9]).toBeCloseTo(0.1, 6);
    for (let v = 0; v < task.vocab.length; v++) expect(Math.abs(first[v] - p0[v])).toBeLessThan(0.02);
    const p1 = t.nextTokenProbs(q, [8]);
    expect(p1[8]).toBeCloseTo(0.75, 6);
    for (let v = 0; v < task.vocab.length; v++) expect(Math.abs(secondAfter8[v] / n8 - p1[v])).toBeLessThan(0.02);
    // After eos: pad. Off the teacher's support: uniform over all but pad.
    expect(t.nextTokenProbs(q, [8, 8, task.eos])[task.pad]).toBe(1);
    const off = t.nextTokenProbs(q, [3]);
    expect(off[task.pad]).toBe(0);
    expect(off[0]).toBeCloseTo(1 / 13, 6);
  });
});

describe('teacher edge cases', () => {
  const add = createAddition({ digits: 2 });

  it('breaks ties for the most likely answer evenly', () => {
    const p = add.problem(43, 45); // 4 near misses: at p = 0.2 all five answers tie at 0.2
    expect(new Teacher(add, { accuracy: 0.2, blindSpot: 'none' }).ceiling([p])).toBeCloseTo(0.2, 12);
    expect(new Teacher(add, { accuracy: 0.1, blindSpot: 'none' }).ceiling([p])).toBe(0);
    expect(new Teacher(add, { accuracy: 0.3, blindSpot: 'none' }).ceiling([p])).toBe(1);
  });

  it('is perfect at accuracy 1 without a blind spot, and ignores blind spots of other tasks', () => {
    const held = add.heldOut();
    const perfect = new Teacher(add, { accuracy: 1, blindSpot: 'none' });
    expect(perfect.blindSpot).toBeNull();
    expect(perfect.sampledAccuracy(held)).toBe(1);
    expect(perfect.answerDistribution(held[0])).toEqual([{ tokens: held[0].target, prob: 1 }]);
    const other = new Teacher(add, { accuracy: 1, blindSpot: 'duplicates' });
    expect(other.blindSpot).toBeNull();
    expect(other.ceiling(held)).toBe(1);
    expect(new Teacher(add, { accuracy: 0, blindSpot: 'none' }).sampledAccuracy(held)).toBe(0);
  });

  it('merges duplicate near misses, as the reference draws one of four deltas', () => {
    const p = add.problem(99, 96); // 195: -10 -> 185, -1 -> 194, +1 -> 196, +10 -> 205 mirrored to 185
    const d = new Teacher(add, { accuracy: 0.6, blindSpot: 'none' }).answerDistribution(p);
    expect(d.map((a) => add.render(a.tokens))).toEqual(['195', '185', '194', '196']);
    expect(d.map((a) => a.prob)).toEqual([0.6, 0.2, 0.1, 0.1].map((x) => expect.closeTo(x, 12)));
  });
});
