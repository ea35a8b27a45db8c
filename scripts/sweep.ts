/**
 * Sweeps: `npm run sweep -- [HASH] [--preset NAME] --grid 'r1.lr=0.001,0.003;r1.G=4,8' --seeds 1-5
 * [--jobs N] [--steps N] [--shard I/N] --out DIR`, and `npm run sweep -- --summarise DIR`.
 *
 * Every combination x seed runs as `npm run sim -- LINK --seed S --json` (N at a time, default all
 * cores but one) into DIR/<settings>__seed<S>.jsonl: a first line {"sweep": {...}} naming the link,
 * seed and combination, then the eval rows. A file appears only when its run has finished (it is
 * written as .partial and renamed), so running the same command again skips finished runs and redoes
 * unfinished ones. `--shard I/N` runs every N-th job from the I-th (a cluster array job runs one
 * shard per task); DIR/summary.csv (one row per combination: medians, min and max over seeds) is
 * written after every sweep, and `--summarise DIR` rewrites it from whatever files DIR holds.
 * Bad arguments exit 2, naming each bad key and value, before anything runs.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { encode, overlay } from '../src/core/config';
import { PRESETS, presetById } from '../src/core/presets';
import type { MetricRow } from '../src/core/metrics';
import { type Combination, comboHash, jobFileName, parseGrid, parseSeeds, shardOf, summaryCsv, sweepJobs } from '../src/core/sweep';
import { resolveConfig } from './sim';

const USAGE = `usage: npm run sweep -- [HASH] [--preset NAME] --grid GRID --seeds SEEDS [--jobs N] [--steps N] [--shard I/N] --out DIR
       npm run sweep -- --summarise DIR
  GRID      settings and values, e.g. 'r1.lr=0.001,0.003;r1.G=4,8' (every combination runs)
  SEEDS     e.g. 1-5 or 1,3,7
  --jobs N  runs at a time (default: all cores but one)
  --shard I/N  run only the I-th of N parts of the jobs (a cluster array job: one shard per task)
  --out DIR one JSONL file per run, and DIR/summary.csv
  --summarise DIR  write DIR/summary.csv from the files in DIR (e.g. after every shard has run)`;

function fail(lines: string[]): never {
  for (const l of lines) process.stderr.write(l + '\n');
  process.exit(2);
}

interface SweepArgs {
  hash: string;
  preset?: string;
  grid?: string;
  seeds?: string;
  jobs: number;
  steps?: string;
  shard?: [number, number];
  out?: string;
  summarise?: string;
}

function parseArgs(argv: string[]): SweepArgs {
  const errors: string[] = [];
  const a: SweepArgs = { hash: '', jobs: Math.max(1, availableParallelism() - 1) };
  const takes = ['--preset', '--grid', '--seeds', '--jobs', '--steps', '--shard', '--out', '--summarise'];
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--help' || k === '-h') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    }
    if (takes.includes(k)) {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) {
        errors.push(`${k}: needs a value`);
        continue;
      }
      if (k === '--preset') {
        if (!presetById(v)) errors.push(`--preset: unknown preset '${v}' (known: ${PRESETS.map((p) => p.id).join(', ')})`);
        else a.preset = v;
      } else if (k === '--jobs') {
        if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 64) errors.push(`--jobs ${v}: must be a whole number from 1 to 64`);
        else a.jobs = Number(v);
      } else if (k === '--steps') {
        if (!/^\d+$/.test(v) || Number(v) < 1) errors.push(`--steps ${v}: must be a whole number of at least 1`);
        else a.steps = v;
      } else if (k === '--shard') {
        const m = /^(\d+)\/(\d+)$/.exec(v);
        if (!m || Number(m[1]) < 1 || Number(m[1]) > Number(m[2])) errors.push(`--shard ${v}: must be I/N with 1 <= I <= N`);
        else a.shard = [Number(m[1]), Number(m[2])];
      } else if (k === '--grid') a.grid = v;
      else if (k === '--seeds') a.seeds = v;
      else if (k === '--out') a.out = v;
      else a.summarise = v;
    } else if (k.startsWith('--')) errors.push(`${k}: unknown flag`);
    else if (a.hash) errors.push(`${k}: only one HASH may be given`);
    else a.hash = k.replace(/^#/, '');
  }
  if (!a.summarise) {
    if (!a.grid) errors.push('--grid: required');
    if (!a.seeds) errors.push('--seeds: required');
    if (!a.out) errors.push('--out: required');
  }
  if (errors.length) fail([...errors, USAGE]);
  return a;
}

/** The runs a folder holds: meta line + rows per finished file. */
function readFolder(dir: string): { combination: Combination; seed: number; rows: MetricRow[] }[] {
  const out: { combination: Combination; seed: number; rows: MetricRow[] }[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.jsonl')).sort()) {
    const lines = readFileSync(join(dir, f), 'utf8').trim().split('\n');
    try {
      const meta = JSON.parse(lines[0]).sweep as { seed: number; combination: Combination };
      out.push({ combination: meta.combination, seed: meta.seed, rows: lines.slice(1).map((l) => JSON.parse(l) as MetricRow) });
    } catch {
      process.stderr.write(`# ${f}: not a sweep file; left out of the summary\n`);
    }
  }
  return out;
}

/** Write DIR/summary.csv from the files DIR holds; returns its number of combinations. */
export function summarise(dir: string): number {
  const runs = readFolder(dir);
  const keys: string[] = [];
  const groups = new Map<string, { combination: Combination; runs: MetricRow[][] }>();
  for (const r of runs) {
    for (const [k] of r.combination) if (!keys.includes(k)) keys.push(k);
    const id = comboHash(r.combination);
    const g = groups.get(id) ?? { combination: r.combination, runs: [] };
    g.runs.push(r.rows);
    groups.set(id, g);
  }
  writeFileSync(join(dir, 'summary.csv'), summaryCsv(keys, [...groups.values()]));
  return groups.size;
}

/** One run as `npm run sim`, its JSON lines after a meta line into `file` (.partial until it ends). */
function runJob(link: string, seed: number, combination: Combination, file: string): Promise<string | null> {
  const partial = file + '.partial';
  return new Promise((done) => {
    const out = createWriteStream(partial);
    out.write(JSON.stringify({ sweep: { link, seed, combination } }) + '\n');
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, 'sim.ts'), link, '--seed', String(seed), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stdout.pipe(out, { end: false });
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      out.end(() => {
        if (code === 0) {
          renameSync(partial, file);
          done(null);
        } else done(err.trim() || `exit ${code}`);
      });
    });
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.summarise) {
    if (!existsSync(args.summarise)) fail([`--summarise ${args.summarise}: no such folder`]);
    const n = summarise(args.summarise);
    process.stderr.write(`# ${join(args.summarise, 'summary.csv')}: ${n} combinations\n`);
    return;
  }
  const { config: base, problems } = resolveConfig({ hash: [args.hash, args.steps ? `steps=${args.steps}` : ''].filter(Boolean).join('&'), preset: args.preset, json: true, overrides: [] });
  if (problems.length) fail(problems.map((p) => `bad setting ${p.key}=${p.value}: ${p.message}`));
  const grid = parseGrid(args.grid!, base);
  if (!grid.ok) fail(grid.errors);
  const seeds = parseSeeds(args.seeds!);
  if (!seeds) fail([`--seeds ${args.seeds}: must be like 1-5 or 1,3,7`]);
  let jobs = sweepJobs(grid.axes, seeds);
  if (args.shard) jobs = shardOf(jobs, args.shard[0], args.shard[1]);
  const dir = args.out!;
  mkdirSync(dir, { recursive: true });
  // Unfinished runs of an earlier, interrupted sweep start again. Only this sweep's (or shard's) own:
  // other shards may be writing theirs into the same folder right now.
  for (const j of jobs) rmSync(join(dir, jobFileName(j) + '.partial'), { force: true });
  const todo = jobs.filter((j) => !existsSync(join(dir, jobFileName(j))));
  process.stderr.write(`# ${jobs.length} runs${args.shard ? ` (shard ${args.shard[0]}/${args.shard[1]})` : ''}, ${jobs.length - todo.length} already done, ${args.jobs} at a time\n`);
  const t0 = Date.now();
  let done = 0;
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const j = todo[next++];
      const link = encode(overlay(base, comboHash(j.combination)).config);
      const err = await runJob(link, j.seed, j.combination, join(dir, jobFileName(j)));
      done++;
      const s = (Date.now() - t0) / 1000;
      const eta = (s / done) * (todo.length - done);
      const what = `${comboHash(j.combination) || 'base'} seed ${j.seed}`;
      if (err) failures.push(`${what}: ${err}`);
      process.stderr.write(`# [${done}/${todo.length}] ${err ? 'FAILED' : 'done'} ${what} (${s.toFixed(1)} s elapsed, ETA ${eta.toFixed(0)} s)\n`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(args.jobs, Math.max(1, todo.length)) }, worker));
  const n = summarise(dir);
  process.stderr.write(`# ${join(dir, 'summary.csv')}: ${n} combinations\n`);
  if (failures.length) {
    for (const f of failures) process.stderr.write(`run failed: ${f}\n`);
    process.exitCode = 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
