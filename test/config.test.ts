import { describe, expect, it } from 'vitest';
import {
  ALGOS, CONFIG_MESSAGES, EXPERIMENT_FIELDS, MAX_RUNS, RUN_FIELDS, type ExperimentConfig, type Field, type Msg, crossCheck, decode,
  defaultConfig, defaultRun, encode, fillTemplate, overlay, parseValue, runField, validate,
} from '../src/core/config';
import { CHECKPOINT_MESSAGES, CheckpointError, decodeCheckpoint } from '../src/core/checkpoint';
import { IMPORT_MESSAGES, importable, parseImport } from '../src/core/imports';
import { parsePolicy, POLICY_MESSAGES } from '../src/core/policy-file';
import { Rng } from '../src/core/rng';
import { en } from '../src/ui/i18n/en';
import { i18n } from '../src/ui/i18n/index.svelte';
import { coreMessage, problemText } from '../src/ui/i18n/problems';
import { zh } from '../src/ui/i18n/zh';
import { readHash } from '../src/ui/url';

/** A random valid config: every field drawn from its range. */
function randomConfig(rng: Rng): ExperimentConfig {
  const draw = (f: Field) => {
    switch (f.type) {
      case 'bool': return rng.next() < 0.5;
      case 'enum': return rng.pick(f.options!);
      case 'int': return rng.range(f.min!, Math.min(f.max!, f.min! + 1000));
      case 'float': {
        const x = f.min! + rng.next() * (f.max! - f.min!);
        return rng.next() < 0.3 ? f.default : Number(x.toPrecision(4));
      }
      case 'text':
        if (f.key === 'quantEval') return rng.pick(['bf16', 'int8,int4', 'bf16,fp8,int8,int4,ternary', '']);
        return `policy-${rng.int(1000)}.json~${rng.nextUint32().toString(16).padStart(8, '0')}`;
    }
  };
  const c = defaultConfig();
  for (const f of EXPERIMENT_FIELDS as readonly Field[]) if (rng.next() < 0.5) (c as unknown as Record<string, unknown>)[f.key] = draw(f);
  const nRuns = rng.range(1, MAX_RUNS);
  c.runs = Array.from({ length: nRuns }, () => {
    const stages = Array.from({ length: rng.range(1, 3) }, () => rng.pick(ALGOS));
    const r = defaultRun(stages);
    for (const f of RUN_FIELDS as readonly Field[]) if (rng.next() < 0.3) (r as unknown as Record<string, unknown>)[f.key] = draw(f);
    return r;
  });
  crossCheck(c); // make combinations consistent (blind spot of the task, batch a multiple of G)
  return c;
}

describe('config URL codec', () => {
  it('defaults encode to just the version', () => {
    expect(encode(defaultConfig())).toBe('v=1');
    expect(decode('v=1')).toEqual({ config: defaultConfig(), problems: [] });
    expect(decode('')).toEqual({ config: defaultConfig(), problems: [] });
  });

  it('decode(encode(c)) is c for 500 random valid configs', () => {
    const rng = new Rng(42);
    for (let i = 0; i < 500; i++) {
      const c = randomConfig(rng);
      expect(validate(c)).toEqual([]);
      const h = encode(c);
      const d = decode(h);
      expect(d.problems).toEqual([]);
      expect(d.config).toEqual(c);
      expect(encode(d.config)).toBe(h); // stable
    }
  });

  it('writes only non-default values, in schema order, version first', () => {
    const c = defaultConfig();
    c.task = 'sort';
    c.blindSpot = 'duplicates';
    c.seed = 7;
    c.runs = [defaultRun(['sft', 'grpo']), defaultRun(['ppo'])];
    c.runs[1].lr = 0.003;
    expect(encode(c)).toBe('v=1&seed=7&task=sort&blindSpot=duplicates&runs=sft-grpo,ppo&r2.lr=0.003');
  });

  it('reports junk and uses defaults, never throwing', () => {
    const { config, problems } = decode('#v=1&seed=abc&lr=5&digits=9&runs=grpo,nope&r1.G=1.5&r7.lr=0.1&task=add&task=sort&r2.beta=NaN&%E0%A4%A=1');
    expect(config.seed).toBe(1);
    expect(config.digits).toBe(2);
    expect(config.task).toBe('add');
    expect(config.runs.map((r) => r.stages)).toEqual([['grpo'], ['grpo']]);
    expect(config.runs[0].G).toBe(8);
    expect(config.runs[1].beta).toBe(0.04);
    const keys = problems.map((p) => p.key);
    expect(keys).toEqual(expect.arrayContaining(['seed', 'lr', 'digits', 'runs', 'r1.G', 'r7.lr', 'task', 'r2.beta']));
    for (const p of problems) expect(p.message.length).toBeGreaterThan(0);
    expect(problems.find((p) => p.key === 'digits')!.used).toBe('2');
    expect(problems.find((p) => p.key === 'digits')!.message).toMatch(/range/);
  });

  it('survives random garbage', () => {
    const rng = new Rng(3);
    const alphabet = 'abcdefgr1234567890.=&%#+-,eE_ \u00e9<>"\'';
    for (let i = 0; i < 2000; i++) {
      const s = Array.from({ length: rng.range(0, 80) }, () => alphabet[rng.int(alphabet.length)]).join('');
      const d = decode(s);
      expect(validate(d.config)).toEqual([]);
    }
  });

  it('rejects Infinity, hex and empty numbers; enforces ranges and integers', () => {
    for (const bad of ['Infinity', '0x10', '', ' ', '1e999', '-1']) {
      const d = decode(`seed=${encodeURIComponent(bad)}`);
      expect(d.problems.length, bad).toBe(1);
      expect(d.config.seed).toBe(1);
    }
    expect(decode('r1.lr=2').problems[0].message).toMatch(/range/);
    expect(decode('evalEvery=2.5').problems[0].message).toMatch(/whole/);
    expect(decode('r1.dynamicSampling=yes').problems[0].message).toMatch(/1 or 0/);
  });

  it('cross-checks combinations', () => {
    const d = decode('task=sort');
    expect(d.config.blindSpot).toBe('duplicates');
    expect(d.problems.map((p) => p.key)).toEqual(['blindSpot']);
    const b = decode('r1.batch=100&r1.G=8');
    expect(b.config.runs[0].batch % 8).toBe(0);
  });

  it('unsupported version is reported, not fatal', () => {
    const d = decode('v=9&seed=3');
    expect(d.config.seed).toBe(3);
    expect(d.problems.map((p) => p.key)).toEqual(['v']);
  });

  it('overlay: hash settings win over the base', () => {
    const base = decode('seed=5&steps=100&runs=sft-grpo&r1.lr=0.002').config;
    const d = overlay(base, 'steps=50&r1.G=4');
    expect(d.problems).toEqual([]);
    expect(d.config.seed).toBe(5);
    expect(d.config.steps).toBe(50);
    expect(d.config.runs[0].lr).toBe(0.002);
    expect(d.config.runs[0].G).toBe(4);
    const e = overlay(base, 'runs=ppo');
    expect(e.config.runs).toEqual([defaultRun(['ppo'])]);
  });
});

// ---------------------------------------------------------------------------------------------
// Problem messages: a code and its values beside the English, so the page can show them in Chinese
// ---------------------------------------------------------------------------------------------
const CORE_TABLES: Record<string, Record<string, string>> = {
  config: CONFIG_MESSAGES,
  policy: POLICY_MESSAGES,
  imports: IMPORT_MESSAGES,
  checkpoint: CHECKPOINT_MESSAGES,
};
const ALL_TEMPLATES: Record<string, string> = Object.assign({}, ...Object.values(CORE_TABLES));
const placeholders = (s: string) => [...new Set([...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))].sort();

/** Run `f` with the page in Chinese, then back in English whatever happens. */
function inChinese<T>(f: () => T): T {
  i18n.lang = 'zh';
  try {
    return f();
  } finally {
    i18n.lang = 'en';
  }
}

/** A message's English is its code's template filled with its values (the two cannot drift). */
function madeFromItsTemplate(m: Msg): void {
  expect(m.code, m.message).toBeDefined();
  expect(ALL_TEMPLATES[m.code!], `template of ${m.code}`).toBeDefined();
  expect(fillTemplate(ALL_TEMPLATES[m.code!], m.params), m.code).toBe(m.message);
  for (const name of placeholders(ALL_TEMPLATES[m.code!])) expect(m.params ?? {}, `{${name}} of ${m.code}`).toHaveProperty(name);
}

describe('problem messages: codes, values and languages', () => {
  it('every message code the core can emit has a Chinese template with the same placeholders', () => {
    const seen = new Set<string>();
    for (const [table, templates] of Object.entries(CORE_TABLES)) {
      for (const [code, english] of Object.entries(templates)) {
        expect(seen.has(code), `code ${code} (${table}) is in two tables`).toBe(false);
        seen.add(code);
        const key = `problem.${code}` as keyof typeof en;
        expect(en[key], `en ${key} is the core's template`).toBe(english);
        expect(zh[key], `zh ${key}`).toBeDefined();
        expect(/[\u4e00-\u9fff]/.test(zh[key]), `zh ${key} is Chinese`).toBe(true);
        expect(placeholders(zh[key]), `placeholders of ${key}`).toEqual(placeholders(english));
      }
    }
    // And no Chinese template for a code the core does not have.
    const stale = Object.keys(zh).filter((k) => k.startsWith('problem.') && !seen.has(k.slice('problem.'.length)));
    expect(stale).toEqual([]);
  });

  it("a bad link's problems render in Chinese with their values filled", () => {
    const { problems } = decode('#v=1&digits=9&foo=1&r1.lr=x');
    const byKey = Object.fromEntries(problems.map((p) => [p.key, p]));
    expect(Object.keys(byKey).sort()).toEqual(['digits', 'foo', 'r1.lr']);
    for (const p of problems) madeFromItsTemplate(p);
    expect(byKey.digits).toMatchObject({ code: 'value.outOfRange', params: { min: '1', max: '3' }, used: '2' });
    const english = problems.map(problemText);
    expect(english).toEqual(problems.map((p) => p.message));
    const chinese = inChinese(() => problems.map(problemText));
    expect(chinese).toEqual(['超出范围 [1, 3]', '未知设置；已忽略', '不是数字']);
    expect(i18n.lang).toBe('en');
    expect(problems.map(problemText)).toEqual(english);

    // Values that are words and lists: an unknown algorithm, a link to a run that is not there, a view key.
    const more = [...decode('runs=grpo,nope&r3.lr=0.1&r1.teacher=r1').problems, ...readHash('#x=nope&hide=zzz&preset=bogus', defaultConfig).problems];
    for (const p of more) madeFromItsTemplate(p);
    const zhMore = inChinese(() => more.map(problemText));
    expect(zhMore).toEqual([
      `未知算法 'nope'（已知：${ALGOS.join(', ')}）`,
      '不存在运行 3（共 2 个运行）；已忽略',
      '运行不能向自己学习',
      '必须是以下之一：steps, samples, tokens, flops, seconds',
      '既不是页面的某个部分，也不是某项设置；已忽略',
      expect.stringMatching(/^不是预设（现有预设：[\w-]+(, [\w-]+)*）；已忽略$/),
    ]);
    for (const t of zhMore) expect(t, t).not.toMatch(/\{\w+\}/);
  });

  it('English problem messages are the same words as before', () => {
    const first = (hash: string) => decode(hash).problems[0].message;
    expect(first('digits=9')).toBe('out of range [1, 3]');
    expect(first('r1.lr=2')).toBe('out of range [0.000001, 1]');
    expect(first('seed=abc')).toBe('not a number');
    expect(first('seed=1e999')).toBe('not a finite number');
    expect(first('evalEvery=2.5')).toBe('must be a whole number');
    expect(first('r1.dynamicSampling=yes')).toBe('must be 1 or 0');
    expect(first('net=rnn')).toBe('must be one of gru, mlp, transformer');
    expect(first('r1.teacherFile=x')).toBe('must be a policy file reference: name~hash (8 hex digits)');
    expect(first('r1.quantEval=fp4')).toBe('must be formats separated by commas, of bf16, fp8, int8, int4, ternary');
    expect(first('runs=sft-sft-sft-grpo')).toBe('a run has 1 to 3 stages');
    expect(first('runs=nope')).toBe(`unknown algorithm 'nope' (known: ${ALGOS.join(', ')})`);
    expect(first('seed=1&seed=2')).toBe('appears more than once; the first is used');
    expect(first('v=9')).toBe('unsupported version (this app reads v=1); reading it as v=1');
    expect(first('runs=grpo,grpo,grpo,grpo,grpo')).toBe('1 to 4 runs');
    expect(first('foo=1')).toBe('unknown setting; ignored');
    expect(first('r1.foo=1')).toBe('unknown run setting; ignored');
    expect(first('r2.lr=0.1')).toBe('there is no run 2 (runs: 1); ignored');
    expect(first('task=sort&blindSpot=units-carry')).toBe("not a blind spot of task 'sort' (it has: none, duplicates)");
    expect(first('r1.batch=100')).toBe('must be a multiple of the group size G=8');
    expect(first('net=gru&r1.experts=4')).toBe('the GRU policy has no MLP block to make a mixture of experts');
    expect(first('r1.experts=1&r1.topK=2')).toBe('cannot route to more experts than there are (1)');
    expect(first('layers=1&r1.experts=4')).toBe('an MLP policy with experts needs at least 2 layers (the experts replace the layers after the first)');
    expect(first('steps=3&r1.generations=5')).toBe('each generation needs at least one update (the run has 3)');
    expect(first('r1.teacher=file')).toBe('names no policy file (r1.teacherFile is empty)');
    expect(first('r1.teacher=r1')).toBe('a run cannot learn from itself');
    expect(first('r1.teacher=r3')).toBe('there is no run r3 (runs: 1)');
    expect(first('runs=sft,sft&r1.teacher=r2&r2.teacher=r1')).toBe('runs would wait for each other in a circle');
    const hash = readHash('#present=2&hide=zzz', defaultConfig).problems.map((p) => p.message);
    expect(hash).toEqual(['must be 1 or 0', 'not a part of the page or a setting; ignored']);
    // validate() and parseValue() say the same words, and carry the same codes.
    const v = validate({ ...defaultConfig(), seed: 'x' as unknown as number, net: 'rnn' as 'mlp', runs: [{ ...defaultRun(), whiten: 1 as unknown as boolean }] });
    expect(v.map((p) => [p.key, p.message, p.code])).toEqual([
      ['seed', 'not a finite number', 'value.notFinite'],
      ['net', 'must be one of gru, mlp, transformer', 'value.oneOf'],
      ['r1.whiten', 'must be true or false', 'value.trueOrFalse'],
    ]);
    expect(validate({ ...defaultConfig(), runs: [] })[0].message).toBe('1 to 4 runs');
    const pv = parseValue(runField('lr')!, '7');
    expect(pv).toEqual({ ok: false, message: 'out of range [0.000001, 1]', code: 'value.outOfRange', params: { min: '0.000001', max: '1' } });
  });

  it('every problem message of random junk links is made from its code', () => {
    const rng = new Rng(11);
    const keys = ['seed', 'digits', 'task', 'net', 'blindSpot', 'runs', 'r1.lr', 'r2.G', 'r1.teacher', 'r1.experts', 'r1.topK', 'r1.quantEval', 'x', 'hide', 'present', 'v', 'zz'];
    const values = ['1', '0', '-3', '2.5', 'abc', 'sort', 'gru', 'ppo,sft-grpo', 'r2', 'file', '99', 'int3', 'nope', ''];
    let n = 0;
    for (let i = 0; i < 300; i++) {
      const hash = Array.from({ length: rng.range(1, 6) }, () => `${rng.pick(keys)}=${rng.pick(values)}`).join('&');
      for (const p of readHash(hash, defaultConfig).problems) {
        madeFromItsTemplate(p);
        n++;
      }
    }
    expect(n).toBeGreaterThan(100);
  });

  it("other core messages (policy file, import, checkpoint refusals) carry codes; coreMessage shows them in the page's language", () => {
    const policy = parsePolicy('not json');
    const notJson = parseImport('a.json', '{oops');
    const empty = parseImport('a.csv', '   ');
    let refusal: CheckpointError | null = null;
    try {
      decodeCheckpoint(new Uint8Array(4));
    } catch (e) {
      refusal = e as CheckpointError;
    }
    expect(refusal).toBeInstanceOf(CheckpointError);
    const results: Msg[] = [policy, notJson, empty, refusal!].map((r) => {
      expect('ok' in r ? r.ok : false).toBe(false);
      return r as Msg;
    });
    for (const r of results) madeFromItsTemplate(r);
    expect(results.map(coreMessage)).toEqual(['it is not a policy file (not JSON)', 'it is not valid JSON', 'it is empty', 'not a checkpoint']);
    expect(inChinese(() => results.map(coreMessage))).toEqual(['这不是策略文件（不是 JSON）', '不是有效的 JSON', '文件为空', '不是检查点']);

    // Notes on what a file left out: one for one with the English notes.
    const r = parseImport('log.csv', 'Step,loss,note\n1,0.5,a\n,0.4,b\n2,0.3,c\n');
    if (!r.ok) throw new Error(r.message);
    expect(r.noteMsgs.map((m) => m.message)).toEqual(r.notes);
    for (const m of r.noteMsgs) madeFromItsTemplate(m);
    expect(inChinese(() => r.noteMsgs.map(coreMessage))).toEqual(['有 1 行没有 Step，已略去', '列 note 不含数字，无法绘图']);
    const picked = importable([{ name: 'a.jsonl' }, { name: 'summary.csv' }, { name: 'b.jsonl.partial' }, { name: 'c.partial' }, { name: 'x.txt' }]);
    expect(picked.skippedMsgs.map((m) => m.message)).toEqual(picked.skipped);
    expect(picked.skipped[0]).toBe('2 unfinished sweep runs (.partial) left out');
    expect(inChinese(() => picked.skippedMsgs.map(coreMessage))[0]).toBe('已略去 2 个未完成的扫参运行（.partial）');

    // A message without a code, or with one the catalogue does not know, stays as it is.
    expect(inChinese(() => coreMessage({ message: 'as it is', code: 'no.such.code' }))).toBe('as it is');
    expect(inChinese(() => coreMessage(new Error('plain words')))).toBe('plain words');
  });
});
