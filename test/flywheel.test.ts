/**
 * The data flywheel's engine (issue 9): policy files, learned teachers, runs that learn from runs,
 * generations, the benchmark leak and the fresh set.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { crossCheck, decode, defaultConfig, defaultRun, runOrder, dependentsOf } from '../src/core/config';
import { evaluatePolicy } from '../src/core/evaluate';
import { teacherSeed } from '../src/core/config';
import { LearnedTeacher } from '../src/core/learned-teacher';
import { netFromPolicy, policyOf } from '../src/core/nets/from-policy';
import { createNet } from '../src/core/nets/net';
import { sampleCompletions } from '../src/core/nets/policy';
import { type Policy, parsePolicy, policyHash, policyMismatch, policyRef, serialisePolicy, weightLayout } from '../src/core/policy-file';
import { Rng } from '../src/core/rng';
import { PolicyError, Session } from '../src/core/session';
import { createTask } from '../src/core/tasks';
import { createTrainer } from '../workers/trainer';
import { configOf, runAll, runSession, withoutTime } from './helpers';

const origin = { link: 'v=1', run: 1, seed: 1, generation: 1, step: 0 };

/** A briefly trained policy (SFT on 2-digit addition): mid-range accuracy, so the checks are not trivial. */
async function trainedPolicy(steps = 60, task = ''): Promise<Policy> {
  let kept: Policy | null = null;
  await runSession(configOf(`${task}runs=sft&steps=${steps}&evalEvery=${steps}&r1.batch=128`), 0, 0, {}, (p) => (kept = p));
  return kept!;
}
const SORT3 = 'task=sort&sortLen=3&blindSpot=none&';

describe('policy files', () => {
  it("the file format's weight layout is what the nets build, for every kind and depth", async () => {
    for (const spec of [
      { kind: 'mlp' as const, vocab: 14, maxLen: 10, embed: 32, hidden: 16, layers: 1, window: 4, outDim: 14 },
      { kind: 'mlp' as const, vocab: 13, maxLen: 8, embed: 32, hidden: 24, layers: 3, window: 10, outDim: 13 },
      { kind: 'gru' as const, vocab: 14, maxLen: 10, embed: 8, hidden: 12, layers: 2, window: 10, outDim: 1 },
      { kind: 'transformer' as const, vocab: 14, maxLen: 10, embed: 10, hidden: 12, layers: 2, window: 10, outDim: 14, heads: 3 },
    ]) {
      const net = createNet(spec, new Rng(1));
      const p = await policyOf(net, createTask({ task: 'add', digits: 2 }), origin);
      expect(p.weights.map((w) => [w.name, w.shape])).toEqual(weightLayout(spec).map((w) => [w.name, w.shape]));
      expect(p.params).toBe(net.paramCount);
      net.dispose();
    }
  });

  it('save, write, read and load: the same greedy answers and the same metrics', async () => {
    const p = await trainedPolicy();
    const text = serialisePolicy(p);
    const back = parsePolicy(text);
    expect(back.ok).toBe(true);
    if (!back.ok) return;
    expect(policyHash(back.value)).toBe(policyHash(p));
    expect(back.value.weights.map((w) => Array.from(w.data))).toEqual(p.weights.map((w) => Array.from(w.data)));
    const task = createTask({ task: 'add', digits: 2 });
    const shape = { promptLen: task.promptLen, maxNew: task.maxNew, vocab: task.vocab.length, eos: task.eos, pad: task.pad };
    const a = netFromPolicy(p);
    const b = netFromPolicy(back.value);
    const held = task.heldOut();
    const prompts = new Int32Array(held.flatMap((x) => x.prompt));
    const ga = await sampleCompletions(a, shape, prompts, held.length, null);
    const gb = await sampleCompletions(b, shape, prompts, held.length, null);
    expect(Array.from(gb.tokens)).toEqual(Array.from(ga.tokens));
    const ma = await evaluatePolicy(a, task, shape, held);
    expect(await evaluatePolicy(b, task, shape, held)).toEqual(ma);
    expect(ma['eval/accuracy']).toBeGreaterThan(0.02);
    tf.dispose([...a.vars, ...b.vars]);
    // A run started from the file evaluates at step 0 exactly as the policy did.
    const rows = await runSession(configOf(`runs=grpo&steps=1&evalEvery=1&r1.init=file&r1.initFile=${policyRef('p.json', p)}`), 0, 0, { init: back.value });
    expect(rows[0]['eval/accuracy']).toBe(ma['eval/accuracy']);
  });

  it('a file that is not a policy, or is broken, gets a message naming what is wrong', async () => {
    const p = await trainedPolicy(2);
    const good = JSON.parse(serialisePolicy(p));
    const bad = (f: (j: Record<string, unknown>) => void) => {
      const j = structuredClone(good);
      f(j);
      return JSON.stringify(j);
    };
    const cases: [string, RegExp][] = [
      ['not json {', /not a policy file \(not JSON\)/],
      ['{"hello": 1}', /not a policy file/],
      [bad((j) => (j.version = 99)), /version 99/],
      [bad((j) => ((j.net as Record<string, unknown>).kind = 'lstm')), /network kind 'lstm'/],
      [bad((j) => ((j.net as Record<string, unknown>).hidden = 64)), /weight mlp_w.0 is not|weight 0/],
      [bad((j) => (j.weights as unknown[]).pop()), /weight tensors/],
      [bad((j) => ((j.weights as { data: string }[])[1].data = 'AAAA')), /values of its weight/],
      [bad((j) => ((j.weights as { data: string }[])[0].data = '%%%')), /values of its weight/],
    ];
    for (const [text, msg] of cases) {
      const r = parsePolicy(text);
      expect(r.ok, text.slice(0, 40)).toBe(false);
      if (!r.ok) expect(r.message).toMatch(msg);
    }
    const nan = structuredClone(good);
    const w = new Float32Array([NaN, 1, 2, 3]);
    nan.weights[nan.weights.length - 1].data = Buffer.from(new Uint8Array(w.buffer)).toString('base64');
    nan.weights[nan.weights.length - 1].shape = [4];
    expect(parsePolicy(JSON.stringify(nan)).ok).toBe(false);
    // Another task, or another size of the same task.
    expect(policyMismatch(p, createTask({ task: 'sort', sortLength: 3 }))).toMatch(/trained on 2-digit addition \(add\/2\); this experiment is sorting 3 digits \(sort\/3\)/);
    expect(policyMismatch(p, createTask({ task: 'add', digits: 3 }))).toMatch(/add\/3/);
    expect(policyMismatch(p, createTask({ task: 'add', digits: 2 }))).toBeNull();
    // The session refuses it with that message.
    expect(() => new Session(configOf('task=sort&sortLen=3&blindSpot=none&runs=sft&r1.teacher=file&r1.teacherFile=x~01234567'), 0, 0, { teacher: p })).toThrow(PolicyError);
    expect(() => new Session(configOf('runs=sft&r1.teacher=file&r1.teacherFile=x~01234567'), 0, 0, {})).toThrow(/policy file 'x', which is not loaded/);
  });
});

describe('a learned teacher', () => {
  it('its exact sampled accuracy matches a Monte-Carlo estimate; its ceiling is its greedy accuracy', async () => {
    const p = await trainedPolicy(150);
    const task = createTask({ task: 'add', digits: 2 });
    const shape = { promptLen: task.promptLen, maxNew: task.maxNew, vocab: task.vocab.length, eos: task.eos, pad: task.pad };
    const held = task.heldOut();
    for (const temperature of [1, 0.7]) {
      const t = new LearnedTeacher(netFromPolicy(p), task, shape, temperature, 'test');
      const m = await t.metrics(held);
      const exact = m['teacher/accuracy']!;
      expect(exact).toBeGreaterThan(0.05);
      expect(exact).toBeLessThan(0.95);
      // 30 samples per held-out problem.
      const K = 30;
      const many = held.flatMap((x) => Array.from({ length: K }, () => x));
      const toks = await t.sampleBatch(new Rng(7), many);
      let right = 0;
      many.forEach((x, i) => (right += task.verify(x, toks.subarray(i * shape.maxNew, (i + 1) * shape.maxNew)).correct ? 1 : 0));
      const mc = right / many.length;
      const se = Math.sqrt((exact * (1 - exact)) / many.length);
      expect(Math.abs(mc - exact), `T=${temperature}: exact ${exact}, Monte-Carlo ${mc}`).toBeLessThan(4 * se);
      const greedy = await evaluatePolicy(t.net, task, shape, held);
      expect(m['teacher/ceiling']).toBe(greedy['eval/accuracy']);
      expect(m['teacher/ceiling/units-carry']).toBe(greedy['eval/accuracy/units-carry']);
      expect(m).toHaveProperty('teacher/accuracy/units-carry');
      // Its distributions are probabilities, floored.
      const d = await t.distributionsBatch(held.slice(0, 3), toks.slice(0, 3 * shape.maxNew));
      for (let r = 0; r < 3 * shape.maxNew; r++) {
        const row = d.subarray(r * shape.vocab, (r + 1) * shape.vocab);
        expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
        expect(Math.min(...row)).toBeGreaterThan(0);
      }
      t.dispose();
    }
  });

  it('soft distillation (kd, both directions), SFT and rejection-sampled SFT learn from a learned teacher (a policy file)', async () => {
    const p = await trainedPolicy(40, SORT3);
    const ref = policyRef('t.json', p);
    for (const runs of ['kd', 'sft', 'rsft', 'kd&r1.kdDir=reverse']) {
      const rows = await runSession(configOf(`${SORT3}runs=${runs}&steps=50&evalEvery=50&r1.teacher=file&r1.teacherFile=${ref}&r1.batch=128`), 0, 0, { teacher: p });
      const t = rows[0]['teacher/ceiling']!;
      expect(t).toBeGreaterThan(0.5);
      expect(rows[1]['eval/accuracy'], runs).toBeGreaterThan(0.3);
      expect(rows[1]['teacher/ceiling']).toBe(t);
    }
  });
});

describe('runs that learn from runs', () => {
  it('crossCheck refuses self-teaching, missing runs, circles and empty file references', () => {
    const c = defaultConfig();
    c.runs = [defaultRun(['sft']), defaultRun(['sft']), defaultRun(['sft'])];
    c.runs[0].teacher = 'r1';
    c.runs[1].teacher = 'r4';
    c.runs[2].teacher = 'file';
    const probs = crossCheck(c);
    expect(probs.map((p) => p.key)).toEqual(['r1.teacher', 'r2.teacher', 'r3.teacher']);
    expect(c.runs.map((r) => r.teacher)).toEqual(['scripted', 'scripted', 'scripted']);
    const d = decode('runs=sft,sft,sft&r1.teacher=r2&r2.teacher=r3&r3.teacher=r1');
    expect(d.problems.map((p) => p.message)).toEqual(['runs would wait for each other in a circle']);
    expect(d.config.runs.map((r) => r.teacher)).toEqual(['r2', 'r3', 'scripted']);
    expect(runOrder(d.config)).toEqual([2, 1, 0]);
    expect(dependentsOf(d.config, 2)).toEqual([1, 0]);
    const e = decode('runs=sft,sft,grpo,sft&r1.teacher=r3&r4.teacher=r1');
    expect(e.problems).toEqual([]);
    expect(runOrder(e.config)).toEqual([2, 0, 1, 3]);
    expect(teacherSeed(decode('runs=grpo,sft&r1.seeds=2&r2.seeds=3&r2.teacher=r1').config, 0, 2)).toBe(1);
  });

  it('r2.teacher=r1 is deterministic, and the workers (trainer objects) give what npm run sim gives', async () => {
    const hash = 'runs=sft,sft&steps=40&evalEvery=20&r1.batch=64&r2.batch=64&r2.teacher=r1&r2.hidden=32&r2.steps=20&r2.teacherTemp=0.8';
    const cfg = configOf(hash);
    const [a, b] = [await runAll(cfg, 1), await runAll(cfg, 1)];
    expect(withoutTime(b[1][0])).toEqual(withoutTime(a[1][0]));
    expect(a[1][0].map((r) => r.step)).toEqual([0, 20]);
    // The teacher of r2 is r1's final policy: its ceiling is r1's final accuracy.
    expect(a[1][0][0]['teacher/ceiling']).toBe(a[0][0].at(-1)!['eval/accuracy']);
    // As the page does it: one trainer per run, the teacher's policy handed over after it finishes.
    const t1 = createTrainer({ reportEveryMs: 0 });
    await t1.init(cfg, 0, 0);
    await t1.run(Infinity);
    const policy = (await t1.exportPolicy())!;
    await t1.dispose();
    const t2 = createTrainer({ reportEveryMs: 0 });
    const init = await t2.init(cfg, 1, 0, { teacher: structuredClone(policy) });
    const res = await t2.run(Infinity);
    await t2.dispose();
    expect(init.info.teacher).toBe('r1');
    expect(init.info.policyParams).toBeLessThan(10_000);
    expect(withoutTime([init.row!, ...res.rows])).toEqual(withoutTime(a[1][0]));
  });
});

describe('generations', () => {
  it('each generation a fresh student of its parent: eval rows at each generation end, teacher lines per generation', async () => {
    const rows = (await runAll(configOf('runs=sft&r1.generations=3&r1.dataSize=500&steps=90&evalEvery=20&r1.batch=64'), 1))[0][0];
    expect(rows.map((r) => [r.step, r.generation])).toEqual([[0, 1], [20, 1], [30, 1], [40, 2], [60, 2], [80, 3], [90, 3]]);
    // The finite data set is drawn once per generation.
    expect(rows.map((r) => r['cost/samples'])).toEqual([0, 500, 500, 1000, 1000, 1500, 1500]);
    // Generation 1 learns from the scripted teacher; generation 2 from generation 1's final policy.
    expect(rows[1]['teacher/ceiling']).toBeCloseTo(0.57, 2);
    expect(rows[3]['teacher/ceiling']).toBe(rows[2]['eval/accuracy']);
    expect(rows[5]['teacher/ceiling']).toBe(rows[4]['eval/accuracy']);
  });

  it('no tensor leaks across generations, learned teachers and RL between them', async () => {
    const s = new Session(configOf('task=sort&sortLen=3&blindSpot=none&runs=sft-grpo&r1.generations=4&r1.distillSteps=4&steps=400&r1.batch=32&r1.dataSize=64'));
    try {
      for (let i = 0; i < 150; i++) await s.trainStep(); // into generation 2: a learned teacher
      await s.evaluate();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 200; i++) await s.trainStep();
      await s.evaluate();
      expect(s.generation).toBeGreaterThan(2);
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      s.dispose();
    }
  });
});

describe('contamination', () => {
  it('the fresh set is disjoint from the benchmark and never drawn for training', () => {
    for (const task of [createTask({ task: 'add', digits: 2 }), createTask({ task: 'add', digits: 3 }), createTask({ task: 'sort', sortLength: 3 }), createTask({ task: 'countdown', countdownNumbers: 3 })]) {
      const bench = new Set(task.heldOut().map((p) => p.key));
      const fresh = task.fresh().map((p) => p.key);
      expect(fresh.length).toBe(bench.size);
      expect(new Set(fresh).size).toBe(fresh.length);
      for (const k of fresh) expect(bench.has(k)).toBe(false);
      const f = new Set(fresh);
      for (const p of task.sample(new Rng(3), 3000)) expect(f.has(p.key) || bench.has(p.key), p.key).toBe(false);
    }
  });

  it('leak mixes copies of benchmark problems into what a run trains on, and both sets are evaluated', async () => {
    const s = new Session(configOf('runs=grpo,grpo&r2.leak=0.5&steps=1'), 1);
    const bench = new Set(s.task.heldOut().map((p) => p.key));
    const drawn = (s as unknown as { ctx: { problems(n: number): { key: string }[] } }).ctx.problems(4000);
    const share = drawn.filter((p) => bench.has(p.key)).length / drawn.length;
    expect(share).toBeGreaterThan(0.46);
    expect(share).toBeLessThan(0.54);
    const row = await s.evaluate();
    s.dispose();
    expect(row).toHaveProperty('eval/accuracy_fresh');
    expect(row).toHaveProperty('eval/accuracy_fresh/units-carry');
    // The clean run of the same experiment reports the fresh set too; without any leak, nobody does.
    const clean = new Session(configOf('runs=grpo,grpo&r2.leak=0.5&steps=1'), 0);
    const drawnClean = (clean as unknown as { ctx: { problems(n: number): { key: string }[] } }).ctx.problems(2000);
    expect(drawnClean.some((p) => bench.has(p.key))).toBe(false);
    expect(await clean.evaluate()).toHaveProperty('eval/accuracy_fresh');
    clean.dispose();
    const none = new Session(configOf('runs=grpo&steps=1'));
    expect(await none.evaluate()).not.toHaveProperty('eval/accuracy_fresh');
    none.dispose();
  });
});
