/**
 * Headless runs: `npm run sim -- [HASH] [--preset NAME] [--seed N] [--steps N] [--eval-every N] [--json]`
 *
 * HASH is what the app puts after '#'. With --json: one JSON object per line per eval point (with
 * a `run` field when the experiment has several runs, and `seed` when a run has several seeds).
 * The same arguments print byte-identical lines apart from `time/seconds`.
 * Exit status 2 on a bad HASH or flag, naming each bad key and value on stderr.
 */
import { initBackend } from './backend';
import { type ExperimentConfig, decode, encode, overlay, pipelineId, type Problem } from '../src/core/config';
import { PRESETS, presetById, presetConfig } from '../src/core/presets';
import { Session } from '../src/core/session';
import type { MetricRow } from '../src/core/metrics';

const USAGE = `usage: npm run sim -- [HASH] [--preset NAME] [--seed N] [--steps N] [--eval-every N] [--json]
  HASH           the part of an app link after '#', e.g. 'v=1&task=add&runs=sft-grpo'
  --preset NAME  start from a preset (${PRESETS.map((p) => p.id).join(', ')}); HASH settings override it
  --seed N       experiment seed
  --steps N      training budget per run
  --eval-every N steps between evaluations
  --json         one JSON object per line per eval point`;

function fail(lines: string[]): never {
  for (const l of lines) process.stderr.write(l + '\n');
  process.exit(2);
}

export interface SimArgs {
  hash: string;
  preset?: string;
  json: boolean;
  overrides: string[];
}

/** Parse argv; every problem is collected and reported together. */
export function parseArgs(argv: string[]): SimArgs {
  const errors: string[] = [];
  const out: SimArgs = { hash: '', json: false, overrides: [] };
  const numeric: Record<string, string> = { '--seed': 'seed', '--steps': 'steps', '--eval-every': 'evalEvery' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') out.json = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
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
  if (errors.length) fail([...errors, USAGE]);
  return out;
}

export function resolveConfig(args: SimArgs): { config: ExperimentConfig; problems: Problem[] } {
  const hash = [args.hash, ...args.overrides].filter(Boolean).join('&');
  if (args.preset) return overlay(presetConfig(presetById(args.preset)!), hash);
  return decode(hash);
}

const fmt = (v: number | undefined, d = 3) => (v === undefined ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(d));

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { config, problems } = resolveConfig(args);
  if (problems.length) {
    fail(problems.map((p) => `bad setting ${p.key}=${p.value}: ${p.message}`));
  }
  await initBackend();
  if (!args.json) process.stdout.write(`# experiment #${encode(config)}\n`);
  const multiRun = config.runs.length > 1;
  for (let r = 0; r < config.runs.length; r++) {
    const run = config.runs[r];
    for (let s = 0; s < run.seeds; s++) {
      const session = new Session(config, r, s);
      const info = session.info();
      if (!args.json) {
        process.stdout.write(
          `# run ${r + 1} ${pipelineId(run.stages)} seed ${session.seed}: ${info.taskTitle}, policy ${info.policyParams} weights ` +
            `(${info.policyFlopsPerToken} FLOPs/token forward)` + (info.criticParams ? `, critic ${info.criticParams} weights` : '') +
            `, held-out ${info.heldOut}\n`,
        );
        process.stdout.write('step  stage  reward  eval/acc  kl      entropy  samples   seconds\n');
      }
      const emit = (row: MetricRow) => {
        if (args.json) {
          const obj: Record<string, unknown> = {};
          if (multiRun) obj.run = r + 1;
          if (run.seeds > 1) obj.seed = session.seed;
          Object.assign(obj, row);
          process.stdout.write(JSON.stringify(obj) + '\n');
        } else {
          process.stdout.write(
            [fmt(row.step).padEnd(5), fmt(row.stage).padEnd(6), fmt(row.reward).padEnd(7), fmt(row['eval/accuracy']).padEnd(9),
              fmt(row.kl, 4).padEnd(7), fmt(row.entropy).padEnd(8), fmt(row['cost/samples']).padEnd(9), fmt(row['time/seconds'], 1)].join(' ') + '\n',
          );
        }
      };
      try {
        emit(await session.evaluate());
        while (!session.done) {
          await session.trainStep();
          if (session.step % config.evalEvery === 0 || session.done) emit(await session.evaluate());
        }
      } catch (e) {
        process.stderr.write(`run ${r + 1} stopped at step ${session.step}: ${(e as Error).message}\n`);
        process.exitCode = 1;
      } finally {
        session.dispose();
      }
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
}
