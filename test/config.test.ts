import { describe, expect, it } from 'vitest';
import {
  ALGOS, EXPERIMENT_FIELDS, MAX_RUNS, RUN_FIELDS, type ExperimentConfig, type Field, crossCheck, decode, defaultConfig,
  defaultRun, encode, overlay, validate,
} from '../src/core/config';
import { Rng } from '../src/core/rng';

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
