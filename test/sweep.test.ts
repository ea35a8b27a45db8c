/** Sweeps (issue 15): grid expansion, sharding, the summary's arithmetic, and the CLI (bad grids, resume, shards). */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { presetById, presetConfig } from '../src/core/presets';
import { expandGrid, jobFileName, parseGrid, parseSeeds, runFigures, shardOf, summaryCsv, sweepJobs } from '../src/core/sweep';
import type { MetricRow } from '../src/core/metrics';

const base = presetConfig(presetById('first-steps')!);

describe('grids', () => {
  it('expands every combination once, the last key fastest', () => {
    const g = parseGrid('r1.lr=0.001,0.003; r1.G=4,8 ;seed=3', base);
    expect(g.ok).toBe(true);
    if (!g.ok) return;
    const combos = expandGrid(g.axes);
    expect(combos.map((c) => c.map(([k, v]) => `${k}=${v}`).join('&'))).toEqual([
      'r1.lr=0.001&r1.G=4&seed=3', 'r1.lr=0.001&r1.G=8&seed=3', 'r1.lr=0.003&r1.G=4&seed=3', 'r1.lr=0.003&r1.G=8&seed=3',
    ]);
    const jobs = sweepJobs(g.axes, [1, 2, 3]);
    expect(jobs).toHaveLength(12);
    expect(new Set(jobs.map(jobFileName)).size).toBe(12);
    expect(jobFileName(jobs[0])).toBe('r1.lr=0.001_r1.G=4_seed=3__seed1.jsonl');
  });

  it('names each bad key and value', () => {
    const bad = (text: string) => {
      const g = parseGrid(text, base);
      return g.ok ? [] : g.errors;
    };
    expect(bad('')).toEqual([expect.stringContaining('empty')]);
    expect(bad('r1.nope=1')).toEqual(["--grid: unknown setting 'r1.nope'"]);
    expect(bad('r1.lr=0.001,fast')).toEqual(['--grid: r1.lr=fast: not a number']);
    expect(bad('r1.G=')).toEqual(["--grid: 'r1.G' has no values"]);
    expect(bad('r3.lr=0.1')).toEqual(["--grid: 'r3.lr': there is no run 3 (runs: 1)"]);
    expect(bad('r1.G=4;r1.G=8')).toEqual(["--grid: 'r1.G' appears more than once"]);
    // A combination the settings check would change: 256 samples in groups of 7.
    expect(bad('r1.G=8,7')).toEqual([expect.stringMatching(/r1\.G=7.*multiple of the group size/)]);
  });

  it('seeds as ranges and lists', () => {
    expect(parseSeeds('1-5')).toEqual([1, 2, 3, 4, 5]);
    expect(parseSeeds('1,3,7')).toEqual([1, 3, 7]);
    expect(parseSeeds('2')).toEqual([2]);
    for (const s of ['', '5-1', 'a', '1-', '1,,2']) expect(parseSeeds(s)).toBeNull();
  });

  it('shards hold every job exactly once', () => {
    const jobs = Array.from({ length: 23 }, (_, i) => i);
    for (let n = 1; n <= 6; n++) {
      const all = Array.from({ length: n }, (_, i) => shardOf(jobs, i + 1, n)).flat().sort((a, b) => a - b);
      expect(all).toEqual(jobs);
      for (let i = 1; i <= n; i++) expect(Math.abs(shardOf(jobs, i, n).length - 23 / n)).toBeLessThan(1);
    }
  });
});

describe('the summary', () => {
  const rows = (accs: number[], ceiling?: number): MetricRow[] => accs.map((a, i) => ({ step: i * 10, 'eval/accuracy': a, reward: a / 2, ...(ceiling === undefined ? {} : { 'teacher/ceiling': ceiling }) }));
  it('gives the median, min and max over seeds of final figures and milestones', () => {
    expect(runFigures(rows([0, 0.6, 0.95], 0.55))).toMatchObject({ 'final/eval/accuracy': 0.95, 'steps_to/accuracy_0.5': 10, 'steps_to/accuracy_0.9': 20, 'steps_to/teacher_ceiling': 10 });
    const csv = summaryCsv(['r1.lr'], [
      { combination: [['r1.lr', '0.001']], runs: [rows([0, 0.2, 0.6]), rows([0, 0.5, 0.9]), rows([0, 0.1, 0.3])] },
      { combination: [['r1.lr', '0.003']], runs: [rows([0, 0.95, 0.97]), rows([0, 0.4, 0.8])] },
    ]).trim().split('\n').map((l) => l.split(','));
    const col = (name: string) => csv[0].indexOf(name);
    expect(csv[1][col('seeds')]).toBe('3');
    expect(csv[1][col('final/eval/accuracy/median')]).toBe('0.6');
    expect(csv[1][col('final/eval/accuracy/min')]).toBe('0.3');
    expect(csv[1][col('final/eval/accuracy/max')]).toBe('0.9');
    // Milestones: over the seeds that reached them (steps 10 and 20 reached 0.5; one seed never did).
    expect(csv[1][col('steps_to/accuracy_0.5/median')]).toBe('15');
    expect(csv[1][col('steps_to/accuracy_0.9/median')]).toBe('20');
    expect(csv[2][col('final/eval/accuracy/median')]).toBe('0.885');
    expect(csv[2][col('final/reward/median')]).toBe('0.4425');
    expect(csv[2][col('steps_to/teacher_ceiling/median')]).toBe('');
  });
});

function sweep(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', 'scripts/sweep.ts', ...args], { cwd: process.cwd(), timeout: 300_000 }, (err, _stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr });
    });
  });
}

const FIRST = ['--preset', 'first-steps', '--steps', '20', 'evalEvery=10'];

describe('npm run sweep', () => {
  it('bad grids, seeds and flags exit 2 before anything runs', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sweep-')), 'out');
    const r = await sweep([...FIRST, '--grid', 'r1.lr=0.001,fast;r1.nope=1', '--seeds', '1-2', '--out', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('r1.lr=fast: not a number');
    expect(r.stderr).toContain("unknown setting 'r1.nope'");
    expect(existsSync(dir)).toBe(false);
    const s = await sweep([...FIRST, '--grid', 'r1.lr=0.001', '--seeds', '3-1', '--out', dir]);
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('--seeds 3-1');
    expect((await sweep(['--grid', 'r1.lr=0.001', '--out', dir, '--shard', '3/2'])).code).toBe(2);
  });

  it('a sweep killed mid-way resumes: finished runs are kept, the rest run; the summary matches the files', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sweep-')), 'out');
    const args = [...FIRST, '--grid', 'r1.lr=0.001,0.002,0.003', '--seeds', '1', '--jobs', '1', '--out', dir];
    const child: ChildProcess = spawn('npx', ['tsx', 'scripts/sweep.ts', ...args], { cwd: process.cwd(), stdio: 'ignore', detached: true });
    const finished = () => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.jsonl')) : []);
    const end = Date.now() + 120_000;
    while (finished().length < 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    process.kill(-child.pid!, 'SIGKILL');
    const kept = finished();
    expect(kept.length).toBeGreaterThanOrEqual(1);
    expect(kept.length).toBeLessThan(3);
    const mtimes = kept.map((f) => statSync(join(dir, f)).mtimeMs);
    const again = await sweep(args);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`3 runs, ${kept.length} already done`);
    expect(finished()).toHaveLength(3);
    expect(readdirSync(dir).some((f) => f.endsWith('.partial'))).toBe(false);
    expect(kept.map((f) => statSync(join(dir, f)).mtimeMs)).toEqual(mtimes);
    // Each file: a meta line, then the eval rows of a 20-step run (steps 0, 10, 20).
    const csv = readFileSync(join(dir, 'summary.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
    expect(csv).toHaveLength(4);
    for (const f of finished()) {
      const lines = readFileSync(join(dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines[0].sweep.seed).toBe(1);
      expect(lines.slice(1).map((r) => r.step)).toEqual([0, 10, 20]);
      const lr = lines[0].sweep.combination[0][1];
      const row = csv.find((r) => r[0] === lr)!;
      expect(Number(row[csv[0].indexOf('final/eval/accuracy/median')] || 0)).toBeCloseTo(lines[3]['eval/accuracy'], 6);
    }
  });

  it('shards of one sweep fill one folder; --summarise merges them', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sweep-')), 'out');
    const args = [...FIRST, '--grid', 'r1.lr=0.001,0.003', '--seeds', '1-2', '--jobs', '2', '--out', dir];
    expect((await sweep([...args, '--shard', '1/2'])).code).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith('.jsonl'))).toHaveLength(2);
    expect((await sweep([...args, '--shard', '2/2'])).code).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith('.jsonl'))).toHaveLength(4);
    expect((await sweep(['--summarise', dir])).code).toBe(0);
    const csv = readFileSync(join(dir, 'summary.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(3);
    expect(csv.slice(1).map((l) => l.split(',').slice(0, 2).join(','))).toEqual(['0.001,2', '0.003,2']);
  });
});
