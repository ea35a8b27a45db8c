/**
 * Headless runs: `npm run sim -- [HASH] [--preset NAME] [--seed N] [--steps N] [--eval-every N] [--json]
 * [--save-policy FILE] [--teacher-policy FILE] [--init-policy FILE] [--checkpoint DIR [--resume] [--stop-after N]]`
 *
 * HASH is what the app puts after '#'. With --json: one JSON object per line per eval point (with
 * a `run` field when the experiment has several runs, and `seed` when a run has several seeds).
 * The same arguments print byte-identical lines apart from `time/seconds`. Runs that learn from
 * other runs (`r2.teacher=r1`) train after them, seed for seed.
 * With --checkpoint DIR every run's seed writes its whole state to DIR/rK-sS.ckpt at each eval
 * point; --stop-after N ends the process after N updates (as a closed tab would), and the same
 * command with --resume continues each run from its checkpoint: the eval lines of the two parts
 * together are those of an uninterrupted run (apart from `time/seconds`).
 * Exit status 2 on a bad HASH, flag or policy file, naming each bad key and value (or what does
 * not match) on stderr.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError, decodeState, encodeState, type SessionState } from '../src/core/checkpoint';
import { initBackend, kernelPath } from './backend';
import { arithmetic } from '../src/core/nets/layers';
import { type ExperimentConfig, decode, encode, missingPolicyFiles, overlay, pipelineId, type Problem } from '../src/core/config';
import { trainExperiment } from '../src/core/experiment';
import { PRESETS, presetById, presetConfig } from '../src/core/presets';
import { type Policy, parsePolicy, policyMismatch, policyRef, refName, serialisePolicy } from '../src/core/policy-file';
import { taskOf } from '../src/core/session';
import { isWorkedTask } from '../src/core/tasks/sum';
import type { MetricRow } from '../src/core/metrics';

const USAGE = `usage: npm run sim -- [HASH] [--preset NAME] [--seed N] [--steps N] [--eval-every N] [--json]
                      [--save-policy FILE] [--teacher-policy FILE] [--init-policy FILE]
  HASH                 the part of an app link after '#', e.g. 'v=1&task=add&runs=sft-grpo'
  --preset NAME        start from a preset (${PRESETS.map((p) => p.id).join(', ')}); HASH settings override it
  --seed N             experiment seed
  --steps N            training budget per run
  --eval-every N       steps between evaluations
  --json               one JSON object per line per eval point
  --save-policy FILE   write run r1's (first seed's) final policy to FILE
  --teacher-policy FILE  that policy teaches every distillation stage of every run
  --init-policy FILE   every run starts from that policy
  --checkpoint DIR     write each run's state to DIR at every eval point
  --resume             continue each run from its checkpoint in DIR (with --checkpoint)
  --stop-after N       stop after N updates in all (e.g. to resume later)`;

function fail(lines: string[]): never {
  for (const l of lines) process.stderr.write(l + '\n');
  process.exit(2);
}

export interface SimArgs {
  hash: string;
  preset?: string;
  json: boolean;
  overrides: string[];
  savePolicy?: string;
  teacherPolicy?: string;
  initPolicy?: string;
  checkpoint?: string;
  resume?: boolean;
  stopAfter?: number;
}

/** Parse argv; every problem is collected and reported together. */
export function parseArgs(argv: string[]): SimArgs {
  const errors: string[] = [];
  const out: SimArgs = { hash: '', json: false, overrides: [] };
  const numeric: Record<string, string> = { '--seed': 'seed', '--steps': 'steps', '--eval-every': 'evalEvery' };
  const files: Record<string, 'savePolicy' | 'teacherPolicy' | 'initPolicy' | 'checkpoint'> = { '--save-policy': 'savePolicy', '--teacher-policy': 'teacherPolicy', '--init-policy': 'initPolicy', '--checkpoint': 'checkpoint' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') out.json = true;
    else if (a === '--resume') out.resume = true;
    else if (a === '--stop-after') {
      const v = argv[++i];
      if (v === undefined || !/^\d+$/.test(v)) errors.push(`--stop-after: needs a whole number of updates`);
      else out.stopAfter = Number(v);
    }
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    } else if (a in files) {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) errors.push(`${a}: needs a ${a === '--checkpoint' ? 'folder' : 'file'} name`);
      else {
        out[files[a]] = v;
        i++;
      }
    } else if (a === '--preset' || a in numeric) {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) {
        errors.push(`${a}: needs a value`);
        continue;
      }
      i++;
      if (a === '--preset') {
        if (!presetById(v)) errors.push(`--preset: unknown preset '${v}' (known: ${PRESETS.map((p) => p.id).join(', ')})`);
        else out.preset = v;
      } else out.overrides.push(`${numeric[a]}=${encodeURIComponent(v)}`);
    } else if (a.startsWith('--')) errors.push(`${a}: unknown flag`);
    else if (out.hash) errors.push(`${a}: only one HASH may be given`);
    else out.hash = a.replace(/^#/, '');
  }
  if (out.resume && !out.checkpoint) errors.push('--resume: needs --checkpoint DIR (where the checkpoints are)');
  if (errors.length) fail([...errors, USAGE]);
  return out;
}

export function resolveConfig(args: SimArgs): { config: ExperimentConfig; problems: Problem[] } {
  const hash = [args.hash, ...args.overrides].filter(Boolean).join('&');
  if (args.preset) return overlay(presetConfig(presetById(args.preset)!), hash);
  return decode(hash);
}

const fmt = (v: number | undefined, d = 3) => (v === undefined ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(d));

/** Read and check a policy file for this experiment; exit 2 naming what is wrong. */
function loadPolicy(flag: string, file: string, config: ExperimentConfig): Policy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    fail([`${flag} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`]);
  }
  const p = parsePolicy(text);
  if (!p.ok) fail([`${flag} ${file}: ${p.message}`]);
  const bad = policyMismatch(p.value, taskOf(config));
  if (bad) fail([`${flag} ${file}: ${bad}`]);
  return p.value;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { config, problems } = resolveConfig(args);
  if (problems.length) {
    fail(problems.map((p) => `bad setting ${p.key}=${p.value}: ${p.message}`));
  }
  // Policy files: named in the link by reference (name~hash), given here by path.
  const files = new Map<string, Policy>();
  if (args.teacherPolicy) {
    const p = loadPolicy('--teacher-policy', args.teacherPolicy, config);
    const ref = policyRef(args.teacherPolicy, p);
    files.set(ref, p);
    for (const r of config.runs) Object.assign(r, { teacher: 'file', teacherFile: ref });
  }
  if (args.initPolicy) {
    const p = loadPolicy('--init-policy', args.initPolicy, config);
    const ref = policyRef(args.initPolicy, p);
    files.set(ref, p);
    for (const r of config.runs) Object.assign(r, { init: 'file', initFile: ref });
  }
  const missing = missingPolicyFiles(config, (ref) => files.has(ref));
  if (missing.length) {
    fail(missing.map(({ run, as, ref }) => `r${run + 1} ${as === 'teacher' ? 'learns from' : 'starts from'} the policy file '${refName(ref)}' (${ref}): give it with ${as === 'teacher' ? '--teacher-policy' : '--init-policy'} FILE`));
  }
  const link = encode(config);
  const ckptFile = (r: number, s: number) => join(args.checkpoint!, `r${r + 1}-s${s}.ckpt`);
  const resumeFrom = args.resume ? readCheckpoints(args.checkpoint!, config, link, ckptFile) : new Map<string, SessionState>();
  if (args.checkpoint) mkdirSync(args.checkpoint, { recursive: true });
  const backend = await initBackend();
  if (!args.json) {
    process.stdout.write(`# experiment #${link}\n`);
    process.stdout.write(`# backend ${backend}, kernels ${kernelPath() === 'ours' ? "ours (fused GRU, SIMD matMul; the page's numbers)" : "tfjs's own"}\n`);
    const arith = arithmetic.use(config.arith);
    process.stdout.write(`# arithmetic ${arith}${arith === 'fma' ? ' (fused multiply-adds: the numbers of an engine with fma)' : config.arith === 'fma' ? ' (the link asks for fma, which this engine does not fuse: other numbers than with fma)' : ' (the same numbers in every engine)'}\n`);
  }
  let updates = 0;
  const multiRun = config.runs.length > 1;
  // Tasks whose answers may show work: what the policy writes (one sampled answer per held-out problem).
  const writes = isWorkedTask(taskOf(config));
  await trainExperiment(config, files, {
    onStart(r, s, session) {
      if (args.json) return;
      const run = config.runs[r];
      const info = session.info();
      process.stdout.write(
        `# run ${r + 1} ${pipelineId(run.stages)} seed ${session.seed}${session.step > 0 ? ` (resumed at step ${session.step})` : ''}: ${info.taskTitle}, policy ${info.policyKind}, ${info.policyActiveParams < info.policyParams ? `${info.policyActiveParams} active of ` : ''}${info.policyParams} weights ` +
          `(${info.policyFlopsPerToken} FLOPs/token forward)` + (info.criticParams ? `, critic ${info.criticParams} weights` : '') +
          (info.teacher !== 'scripted' && run.stages.some((a) => a === 'sft' || a === 'rsft' || a === 'kd') ? `, teacher ${info.teacher}` : '') +
          (info.init !== 'scratch' ? `, starts from ${info.init}` : '') + (info.generations > 1 ? `, ${info.generations} generations` : '') +
          `, held-out ${info.heldOut}\n`,
      );
      process.stdout.write(`step  gen  stage  reward  eval/acc  kl      entropy  samples   ${writes ? 'worked  length  ' : ''}seconds\n`);
    },
    restore(r, s, session) {
      const state = resumeFrom.get(`${r}/${s}`);
      if (!state) return false;
      session.restoreState(state);
      return true;
    },
    shouldStop: () => args.stopAfter !== undefined && updates++ >= args.stopAfter,
    onRow(r, s, row: MetricRow, session) {
      const run = config.runs[r];
      if (args.checkpoint) {
        // Written whole, then renamed: a process killed mid-write leaves the previous checkpoint.
        const f = ckptFile(r, s);
        writeFileSync(`${f}.partial`, encodeState(session.saveState()));
        renameSync(`${f}.partial`, f);
      }
      if (args.json) {
        const obj: Record<string, unknown> = {};
        if (multiRun) obj.run = r + 1;
        if (run.seeds > 1) obj.seed = session.seed;
        Object.assign(obj, row);
        process.stdout.write(JSON.stringify(obj) + '\n');
      } else {
        process.stdout.write(
          [fmt(row.step).padEnd(5), fmt(row.generation).padEnd(4), fmt(row.stage).padEnd(6), fmt(row.reward).padEnd(7), fmt(row['eval/accuracy']).padEnd(9),
            fmt(row.kl, 4).padEnd(7), fmt(row.entropy).padEnd(8), fmt(row['cost/samples']).padEnd(9),
            ...(writes ? [fmt(row['eval/sampled_worked_share']).padEnd(7), fmt(row['eval/sampled_length'], 2).padEnd(7)] : []), fmt(row['time/seconds'], 1)].join(' ') + '\n',
        );
      }
    },
    onError(r, s, e) {
      process.stderr.write(`run ${r + 1} (seed ${config.seed + s}) stopped: ${e.message}\n`);
      process.exitCode = 1;
    },
    async onDone(r, s, session) {
      if (args.savePolicy && r === 0 && s === 0) {
        writeFileSync(args.savePolicy, serialisePolicy(await session.exportPolicy()));
        if (!args.json) process.stdout.write(`# saved r1's policy to ${args.savePolicy}\n`);
      }
    },
  });
  if (args.stopAfter !== undefined && updates > args.stopAfter) {
    process.stderr.write(`# stopped after ${args.stopAfter} updates${args.checkpoint ? `; continue with the same command and --resume (checkpoints in ${args.checkpoint})` : ''}\n`);
  }
}

/**
 * The checkpoints in `dir` of this experiment's runs and seeds, keyed `run/seed`; exit 2 when the
 * folder holds none, holds another experiment's, or one cannot be read (naming the file and why).
 */
function readCheckpoints(dir: string, config: ExperimentConfig, link: string, file: (r: number, s: number) => string): Map<string, SessionState> {
  if (!existsSync(dir) || !readdirSync(dir).some((f) => f.endsWith('.ckpt'))) fail([`--resume: no checkpoints in ${dir}`]);
  const out = new Map<string, SessionState>();
  const errors: string[] = [];
  config.runs.forEach((run, r) => {
    for (let s = 0; s < run.seeds; s++) {
      const f = file(r, s);
      if (!existsSync(f)) continue;
      try {
        const state = decodeState(new Uint8Array(readFileSync(f)));
        if (state.link !== link) errors.push(`${f}: a checkpoint of another experiment (#${state.link}); resume with that link, or choose another folder`);
        else out.set(`${r}/${s}`, state);
      } catch (e) {
        errors.push(`${f}: ${e instanceof CheckpointError ? e.message : (e as Error).message}`);
      }
    }
  });
  if (errors.length) fail(errors.map((e) => `--resume: ${e}`));
  if (out.size === 0) fail([`--resume: ${dir} holds no checkpoint of this experiment's runs`]);
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
