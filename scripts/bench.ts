/**
 * The benchmark: `npm run bench` (Node groups) and `npm run bench:browser` (the built app in
 * headless Chromium). Human-readable tables on stdout (progress on stderr); with --json, one flat
 * JSON object whose keys name each figure. Speed lives here, never in `npm test`.
 *
 * Groups: throughput, efficiency, memory, sweep, checkpoint, threads, fma, profile (Node); browser, lesson, page, platform (Chromium).
 */
import { initBackend, kernelPath, useOwnKernels } from './backend';
import { type Figures, log } from './bench/common';
import { presetById } from '../src/core/presets';

const NODE_GROUPS = ['throughput', 'efficiency', 'memory', 'sweep', 'checkpoint', 'threads', 'fma'];
const BROWSER_GROUPS = ['browser', 'lesson', 'page', 'platform'];
const ALL_GROUPS = [...NODE_GROUPS, 'profile', ...BROWSER_GROUPS];

const USAGE = `usage: npm run bench -- [--only GROUP[,GROUP]] [--json] [options]
       npm run bench:browser -- [--only GROUP[,GROUP]] [--json] [options]
  groups: throughput, efficiency, memory, sweep, checkpoint, threads, fma, profile (Node; 'npm run bench' runs all but profile)
          browser, lesson, page, platform (Chromium; 'npm run bench:browser' runs all four)
  --only GROUPS         run just these groups (comma-separated; any of the above)
  --json                print one flat JSON object of figures instead of tables
  --steps N             timed steps per workload after 5 warm-up steps (default 40, as tiny_rl.py --bench --steps 45)
  --repeat N            throughput repeats, interleaved with the reference; medians reported (default 3)
  --no-reference        do not run ../shared/reference/tiny_rl.py
  --stock-kernels       Node groups on tfjs's own kernels (not our fused GRU and SIMD matMul): the 'before' figures
  --accuracy-steps N    r1-recipe steps for the GRU vs default-policy accuracy check (default 600; 0 skips)
  --memory-steps N      steps per run in the memory group (default 1000; the issue's full figure: 20000)
  --memory-batch N      samples per step in the memory group (default 64)
  --lesson-timeout S    seconds to wait for each lesson milestone (default 60; the target is 30)
  --lessons IDS         the lesson group's presets (comma-separated ids; default: every lesson preset)
  --frame-seconds S     seconds of frames recorded while four runs train (default 10)`;

interface Args {
  groups: string[];
  json: boolean;
  steps: number;
  repeat: number;
  reference: boolean;
  accuracySteps: number;
  memorySteps: number;
  memoryBatch: number;
  lessonTimeout: number;
  lessons?: string[];
  frameSeconds: number;
  stockKernels?: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { groups: NODE_GROUPS, json: false, steps: 40, repeat: 3, reference: true, accuracySteps: 600, memorySteps: 1000, memoryBatch: 64, lessonTimeout: 60, frameSeconds: 10 };
  const num: Record<string, keyof Args> = {
    '--steps': 'steps', '--repeat': 'repeat', '--accuracy-steps': 'accuracySteps', '--memory-steps': 'memorySteps',
    '--memory-batch': 'memoryBatch', '--lesson-timeout': 'lessonTimeout', '--frame-seconds': 'frameSeconds',
  };
  const errors: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--json') a.json = true;
    else if (k === '--browser') a.groups = BROWSER_GROUPS;
    else if (k === '--no-reference') a.reference = false;
    else if (k === '--stock-kernels') a.stockKernels = true;
    else if (k === '--help' || k === '-h') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    } else if (k === '--lessons') {
      const v = argv[++i] ?? '';
      a.lessons = v.split(',').filter(Boolean);
      for (const id of a.lessons) if (!presetById(id)) errors.push(`--lessons: unknown preset '${id}'`);
    } else if (k === '--only' || k in num) {
      const v = argv[++i];
      if (v === undefined) {
        errors.push(`${k}: needs a value`);
        continue;
      }
      if (k === '--only') {
        const gs = v.split(',').filter(Boolean);
        for (const g of gs) if (!ALL_GROUPS.includes(g)) errors.push(`--only: unknown group '${g}' (known: ${ALL_GROUPS.join(', ')})`);
        a.groups = gs;
      } else {
        const x = Number(v);
        if (!Number.isFinite(x) || x < 0) errors.push(`${k}: not a non-negative number: ${v}`);
        else (a as unknown as Record<string, number>)[num[k]] = x;
      }
    } else errors.push(`${k}: unknown argument`);
  }
  if (a.steps < 1 || a.repeat < 1 || a.memorySteps < 1) errors.push('--steps, --repeat and --memory-steps must be at least 1');
  if (errors.length) {
    for (const e of errors) process.stderr.write(e + '\n');
    process.stderr.write(USAGE + '\n');
    process.exit(2);
  }
  return a;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const figures: Figures = {};
  const texts: string[] = [];
  const needsNodeBackend = args.groups.some((g) => g !== 'lesson' && g !== 'page');
  if (needsNodeBackend) {
    figures['node.backend'] = await initBackend();
    if (args.stockKernels) useOwnKernels(false);
    figures['node.kernels'] = kernelPath();
  }
  figures['machine.cpus'] = (await import('node:os')).cpus().length;
  figures['machine.loadavg_1m_at_start'] = Math.round((await import('node:os')).loadavg()[0] * 100) / 100;
  const started = performance.now();
  const node = await import('./bench/node');
  const browser = args.groups.some((g) => BROWSER_GROUPS.includes(g)) ? await import('./bench/browser') : null;
  let chrome: Awaited<ReturnType<NonNullable<typeof browser>['startBrowser']>> | null = null;
  try {
    for (const g of ALL_GROUPS.filter((x) => args.groups.includes(x))) {
      log(`group ${g}`);
      let r: { figures: Figures; text: string };
      if (g === 'throughput') r = await node.throughput({ steps: args.steps, repeat: args.repeat, reference: args.reference, accuracySteps: args.accuracySteps });
      else if (g === 'memory') r = await node.memory({ steps: args.memorySteps, batch: args.memoryBatch });
      else if (g === 'profile') r = await node.profile();
      else if (g === 'efficiency') r = await (await import('./bench/efficiency')).efficiencyGroup({ steps: Math.max(5, Math.min(args.steps, 20)) });
      else if (g === 'sweep') r = await (await import('./bench/sweep')).sweepGroup();
      else if (g === 'checkpoint') r = await (await import('./bench/checkpoint')).checkpointGroup();
      else if (g === 'threads') r = await (await import('./bench/threads')).threadsGroup();
      else if (g === 'fma') r = await (await import('./bench/fma')).fmaGroup();
      else {
        chrome ??= await browser!.startBrowser();
        if (g === 'browser') r = await browser!.browserGroup(chrome, { steps: args.steps, repeat: args.repeat });
        else if (g === 'lesson') r = await browser!.lessonGroup(chrome, { timeoutS: args.lessonTimeout, only: args.lessons });
        else if (g === 'platform') r = await browser!.platformGroup(chrome);
        else r = await browser!.pageGroup(chrome, { frameSeconds: args.frameSeconds });
      }
      Object.assign(figures, r.figures);
      texts.push(r.text);
      if (!args.json) process.stdout.write(r.text + '\n');
    }
  } finally {
    await chrome?.close();
  }
  figures['bench.seconds'] = Math.round((performance.now() - started) / 100) / 10;
  figures['machine.loadavg_1m_at_end'] = Math.round((await import('node:os')).loadavg()[0] * 100) / 100;
  if (args.json) process.stdout.write(JSON.stringify(figures) + '\n');
  else process.stdout.write(`machine: ${figures['machine.cpus']} CPUs, load ${figures['machine.loadavg_1m_at_start']} -> ${figures['machine.loadavg_1m_at_end']} (1-min avg); ${figures['bench.seconds']} s\n`);
}

await main();
