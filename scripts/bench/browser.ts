/**
 * The Chromium groups of `npm run bench:browser`: the app as it ships (`vite build` with
 * NODE_ENV=production, `vite preview`), in Debian's Chromium driven by playwright-core, as
 * test/e2e/app.test.ts does it.
 * - browser: the reference's workloads in the app's own worker (workers/trainer.worker.ts, loaded
 *   by a separate bench page built next to the app; the app's build is untouched), side by side
 *   with the same workloads in Node.
 * - lesson: wall seconds from pressing Play until the r1-recipe preset passes the teacher's
 *   ceiling and reaches 0.9 held-out accuracy, and first-steps reaches 0.5.
 * - page: requestAnimationFrame intervals while four runs train, first render of the default
 *   page, gzipped JavaScript the main thread loads.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { CHROME_ARGS, deletePageStore, findBrowser, preview, vite } from '../preview';
import { encode } from '../../src/core/config';
import { wasmFeatures } from '../../src/core/platform';
import { presetById, presetConfig } from '../../src/core/presets';
import { taskOf, teacherOf } from '../../src/core/session';
import {
  configOf, type Figures, fmtNum, GRU_NET, log, median, quantile, ROOT, round, type Row, table, WARMUP, WORKLOADS, workloadHash,
} from './common';

const BENCH_PAGE = 'scripts/bench-page/index.html';

export interface Chrome {
  base: string;
  outDir: string;
  ctx: BrowserContext;
  /** A fresh profile (cold cache), for first-render timing; close it after use. */
  coldContext(): Promise<{ ctx: BrowserContext; close(): Promise<void> }>;
  close(): Promise<void>;
}

/** The bench page, built into the app's output folder with its own inline config (no app plugins). */
async function buildBenchPage(outDir: string): Promise<void> {
  const { build } = await import('vite');
  await build({
    configFile: false,
    root: ROOT,
    logLevel: 'warn',
    mode: 'production',
    publicDir: false,
    worker: { format: 'es' },
    build: { target: 'es2022', outDir, emptyOutDir: false, rollupOptions: { input: join(ROOT, BENCH_PAGE) } },
  });
}

export async function startBrowser(): Promise<Chrome> {
  const outDir = mkdtempSync(join(tmpdir(), 'grpo-bench-dist-'));
  log('building the app (vite build, NODE_ENV=production) and the bench page');
  await vite(['build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn']);
  await buildBenchPage(outDir);
  const { base, server } = await preview(outDir);
  const dirs: string[] = [outDir];
  const launch = async () => {
    const profile = mkdtempSync(join(tmpdir(), 'grpo-bench-profile-'));
    dirs.push(profile);
    const c = await chromium.launchPersistentContext(profile, { executablePath: findBrowser(), headless: true, viewport: { width: 1280, height: 800 }, args: CHROME_ARGS });
    // tsx compiles this file with esbuild's keepNames: functions passed to page.evaluate call __name.
    await c.addInitScript({ content: 'globalThis.__name ??= (f) => f;' });
    return c;
  };
  const ctx = await launch();
  return {
    base,
    outDir,
    ctx,
    async coldContext() {
      const c = await launch();
      return { ctx: c, close: () => c.close() };
    },
    async close() {
      await ctx.close().catch(() => {});
      if (server.pid) server.kill();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// browser: the workloads in the app's worker, against Node
// ---------------------------------------------------------------------------------------------
interface WorkerBench {
  backend: { name: string; simd: boolean };
  steps: number;
  tokens: number;
  seconds: number;
}

export async function browserGroup(c: Chrome, o: { steps: number; repeat: number }): Promise<{ figures: Figures; text: string }> {
  const { measureSession } = await import('./node');
  const page = await c.ctx.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${c.base}${BENCH_PAGE}`);
  await page.waitForFunction(() => document.body.dataset.ready === '1');
  const got: Record<string, number[]> = {};
  const push = (k: string, v: number) => (got[k] ??= []).push(v);
  let backend = '';
  for (let rep = 0; rep < o.repeat; rep++) {
    for (const w of WORKLOADS) {
      for (const [net, key] of [[GRU_NET, ''], ['', '_default']] as const) {
        const hash = workloadHash(w.id, net);
        log(`${w.id}${key}: Node then Chromium worker (${rep + 1}/${o.repeat})`);
        push(`node${key}.${w.id}`, (await measureSession(hash, o.steps)).tokensPerS);
        const r = (await page.evaluate(
          ([h, warm, n]) => (window as unknown as { benchWorkload: (h: string, w: number, n: number) => Promise<unknown> }).benchWorkload(h as string, warm as number, n as number),
          [hash, WARMUP, o.steps] as const,
        )) as WorkerBench;
        backend = `${r.backend.name}${r.backend.simd ? '+simd' : ''}`;
        push(`browser${key}.${w.id}`, r.tokens / r.seconds);
      }
    }
  }
  await page.close();
  if (errors.length) throw new Error(`bench page errors: ${errors.join('; ')}`);
  const f: Figures = { 'browser.backend': backend };
  const rows: Row[] = [];
  for (const w of WORKLOADS) {
    for (const key of ['', '_default']) {
      const b = median(got[`browser${key}.${w.id}`]);
      const n = median(got[`node${key}.${w.id}`]);
      f[`browser${key}.${w.id}.tokens_per_s`] = round(b, 0);
      f[`browser${key}.${w.id}.node_tokens_per_s`] = round(n, 0);
      f[`browser${key}.${w.id}.ratio_to_node`] = round(b / n, 3);
      const label = key ? 'default policy' : 'GRU';
      rows.push({ figure: `browser${key}.${w.id}.tokens_per_s (${label})`, value: fmtNum(b), target: `Node ${fmtNum(n)}` });
      rows.push({ figure: `browser${key}.${w.id}.ratio_to_node`, value: fmtNum(b / n, 2), target: '>= 0.85', ok: b / n >= 0.85 });
    }
  }
  return { figures: f, text: table(`browser (Chromium worker, ${backend}, vs Node in the same run; median of ${o.repeat} x ${o.steps} steps after ${WARMUP} warm-up)`, rows) };
}

// ---------------------------------------------------------------------------------------------
// lesson: time to the lesson, in the real app page
// ---------------------------------------------------------------------------------------------
/** Installs a recorder of a run card's held-out accuracy (the number the card shows). */
function recordAccuracy(page: Page, runId = 'r1'): Promise<void> {
  return page.evaluate((id) => {
    const card = document.querySelector(`[data-run="${id}"]`)!;
    const w = window as unknown as { __acc: { t: number; step: number; acc: number }[] };
    w.__acc = [];
    const read = () => {
      const dd = card.querySelectorAll('dl > div > dd')[1];
      return { t: performance.now(), step: Number(card.getAttribute('data-step')), acc: Number(dd?.textContent) };
    };
    new MutationObserver(() => {
      const r = read();
      const last = w.__acc[w.__acc.length - 1];
      if (Number.isFinite(r.acc) && (!last || last.acc !== r.acc)) w.__acc.push(r);
    }).observe(card, { subtree: true, childList: true, characterData: true, attributes: true });
  }, runId);
}

async function pressPlay(page: Page): Promise<number> {
  return page.evaluate(() => {
    const t = performance.now();
    (document.querySelector('button[title^="Play"]') as HTMLButtonElement).click();
    return t;
  });
}

interface LessonResult {
  /** Seconds from Play to the first eval showing accuracy above each threshold (null: not reached). */
  seconds: (number | null)[];
  steps: (number | null)[];
  maxAcc: number;
  finalStep: number;
}

async function timeLesson(c: Chrome, presetId: string, thresholds: { value: number; strict: boolean }[], timeoutS: number, runId = 'r1'): Promise<LessonResult> {
  const page = await c.ctx.newPage();
  // Nothing saved by an earlier lesson may be restored (runs of the same settings share checkpoints).
  await deletePageStore(page, c.base);
  await page.goto(`${c.base}#${encode(presetConfig(presetById(presetId)!))}`);
  // A run that learns from another waits for it: ready or waiting, it is on the page.
  await page.locator(`[data-run="${runId}"][data-status="ready"], [data-run="${runId}"][data-status="waiting"]`).waitFor({ timeout: 60_000 });
  await recordAccuracy(page, runId);
  const t0 = await pressPlay(page);
  const end = Date.now() + timeoutS * 1000;
  type Rec = { t: number; step: number; acc: number };
  let recs: Rec[] = [];
  const hit = (r: Rec, th: { value: number; strict: boolean }) => (th.strict ? r.acc > th.value : r.acc >= th.value);
  for (;;) {
    recs = await page.evaluate(() => (window as unknown as { __acc: Rec[] }).__acc);
    const status = await page.locator(`[data-run="${runId}"]`).getAttribute('data-status');
    if (thresholds.every((th) => recs.some((r) => hit(r, th))) || status === 'done' || status === 'error' || Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const finalStep = Number(await page.locator(`[data-run="${runId}"]`).getAttribute('data-step'));
  await page.close();
  return {
    seconds: thresholds.map((th) => {
      const r = recs.find((x) => hit(x, th));
      return r ? (r.t - t0) / 1000 : null;
    }),
    steps: thresholds.map((th) => recs.find((x) => hit(x, th))?.step ?? null),
    maxAcc: Math.max(0, ...recs.map((r) => r.acc)),
    finalStep,
  };
}

/**
 * Each lesson preset's milestone: the moment its story's point shows on its card (held-out
 * accuracy of one run, greedy, at an eval point). `ceiling`: the teacher's ceiling (the accuracy of
 * its most likely answer), passed (strict) or reached within 0.02 (the distillation lessons).
 */
const MILESTONES: { preset: string; run: string; name: string; at: number | 'ceiling' | 'near-ceiling'; what: string }[] = [
  { preset: 'first-steps', run: 'r1', name: 'milestone', at: 0.5, what: 'r1 accuracy >= 0.5' },
  { preset: 'distill-ceiling', run: 'r1', name: 'ceiling', at: 'near-ceiling', what: "r1 within 0.02 of the teacher's ceiling" },
  { preset: 'r1-recipe', run: 'r1', name: 'ceiling', at: 'ceiling', what: "r1 past the teacher's ceiling" },
  { preset: 'grpo-vs-ppo', run: 'r2', name: 'ceiling', at: 'ceiling', what: "PPO (r2) past the teacher's ceiling" },
  { preset: 'no-signal', run: 'r2', name: 'signal', at: 0.05, what: 'dynamic sampling (r2) accuracy >= 0.05' },
  { preset: 'clean-data-trap', run: 'r2', name: 'ceiling', at: 'ceiling', what: "the R1 recipe (r2) past the ceiling the filtered run stays under" },
  { preset: 'r1-zero', run: 'r1', name: '0_9', at: 0.9, what: 'r1 accuracy >= 0.9' },
  { preset: 'dr-grpo', run: 'r2', name: '0_9', at: 0.9, what: 'Dr. GRPO (r2) accuracy >= 0.9' },
  { preset: 'distil-the-rl-model', run: 'r2', name: 'ceiling', at: 'ceiling', what: "the small student (r2) past the teacher's ceiling" },
  { preset: 'collapse', run: 'r3', name: 'ceiling', at: 'ceiling', what: "the flywheel (r3) past the teacher's ceiling" },
  { preset: 'contamination', run: 'r2', name: '0_9', at: 0.9, what: 'the leaky run (r2) benchmark accuracy >= 0.9' },
  { preset: 'transformer', run: 'r2', name: 'ceiling', at: 'near-ceiling', what: "the transformer (r2) within 0.02 of the teacher's ceiling" },
  { preset: 'moe-active-params', run: 'r1', name: '0_9', at: 0.9, what: 'r1 accuracy >= 0.9' },
  { preset: 'low-precision', run: 'r1', name: 'ceiling', at: 'ceiling', what: "r1 past the teacher's ceiling" },
];

export async function lessonGroup(c: Chrome, o: { timeoutS: number; only?: string[] }): Promise<{ figures: Figures; text: string }> {
  const f: Figures = {};
  const rows: Row[] = [];
  const s = (x: number | null) => (x === null ? `not within ${o.timeoutS} s` : `${fmtNum(x, 1)} s`);
  for (const m of MILESTONES.filter((x) => !o.only || o.only.includes(x.preset))) {
    const cfg = presetConfig(presetById(m.preset)!);
    const task = taskOf(cfg);
    const ceiling = teacherOf(cfg, task).ceiling(task.heldOut());
    const th = m.at === 'ceiling' ? { value: ceiling, strict: true } : m.at === 'near-ceiling' ? { value: ceiling - 0.02, strict: false } : { value: m.at, strict: false };
    log(`lesson ${m.preset}: until ${m.what} (${th.strict ? '>' : '>='} ${th.value.toFixed(3)})`);
    // r1-recipe also times 0.9 (its story's second point).
    const extra = m.preset === 'r1-recipe' ? [{ value: 0.9, strict: false }] : [];
    const r = await timeLesson(c, m.preset, [th, ...extra], o.timeoutS, m.run);
    const key = `lesson.${m.preset.replace(/-/g, '_')}`;
    f[`${key}.seconds_to_${m.name}`] = round(r.seconds[0], 2);
    f[`${key}.step_at_${m.name}`] = r.steps[0];
    f[`${key}.milestone`] = `${m.what} (${th.value.toFixed(3)})`;
    f[`${key}.max_accuracy`] = round(r.maxAcc);
    rows.push({ figure: `${key}.seconds_to_${m.name}`, value: s(r.seconds[0]), target: '<= 30 s', ok: r.seconds[0] !== null && r.seconds[0] <= 30 });
    rows.push({ figure: `  ${m.what}`, value: r.steps[0] === null ? `best ${fmtNum(r.maxAcc, 3)}` : `step ${r.steps[0]}`, target: `${th.strict ? '>' : '>='} ${th.value.toFixed(3)}` });
    if (extra.length) {
      f[`${key}.seconds_to_0_9`] = round(r.seconds[1], 2);
      f[`${key}.step_at_0_9`] = r.steps[1];
      rows.push({ figure: `${key}.seconds_to_0_9`, value: s(r.seconds[1]), target: '<= 30 s', ok: r.seconds[1] !== null && r.seconds[1] <= 30 });
    }
  }
  return { figures: f, text: table('lesson (headless Chromium, the app page, seconds from Play to the eval point showing the milestone, as the card shows it)', rows) };
}

// ---------------------------------------------------------------------------------------------
// platform: what the browser offers the levers of issue 14 (measured, never guessed)
// ---------------------------------------------------------------------------------------------
export async function platformGroup(c: Chrome): Promise<{ figures: Figures; text: string }> {
  const page = await c.ctx.newPage();
  await page.goto(c.base);
  // The same detection as src/core/platform.ts, run in the page (its source is passed as text).
  const got = await page.evaluate(async (src) => {
    const features = (0, eval)(`(${src})`)() as { simd: boolean; relaxedSimd: boolean; sharedMemory: boolean };
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    let adapter = false;
    try {
      adapter = !!(gpu && (await gpu.requestAdapter()));
    } catch {
      adapter = false;
    }
    return { ...features, isolated: self.crossOriginIsolated === true, cores: navigator.hardwareConcurrency, webgpuApi: !!gpu, webgpuAdapter: adapter };
  }, wasmFeatures.toString());
  await page.close();
  const node = wasmFeatures();
  const f: Figures = {
    'platform.chromium.simd': got.simd,
    'platform.chromium.relaxed_simd': got.relaxedSimd,
    'platform.chromium.shared_memory': got.sharedMemory,
    'platform.chromium.cross_origin_isolated': got.isolated,
    'platform.chromium.cores': got.cores,
    'platform.chromium.webgpu_api': got.webgpuApi,
    'platform.chromium.webgpu_adapter': got.webgpuAdapter,
    'platform.node.simd': node.simd,
    'platform.node.relaxed_simd': node.relaxedSimd,
    'platform.node.shared_memory': node.sharedMemory,
  };
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  return {
    figures: f,
    text: table('platform (what the levers of issue 14 could use here)', [
      { figure: 'wasm SIMD: Chromium / Node', value: `${yes(got.simd)} / ${yes(node.simd)}` },
      { figure: 'relaxed SIMD (FMA): Chromium / Node', value: `${yes(got.relaxedSimd)} / ${yes(node.relaxedSimd)}`, target: 'Node 20: --experimental-wasm-relaxed-simd' },
      { figure: 'shared memory (threads): Chromium / Node', value: `${yes(got.sharedMemory)} / ${yes(node.sharedMemory)}`, target: `page cross-origin isolated: ${yes(got.isolated)}` },
      { figure: 'cores (navigator.hardwareConcurrency)', value: String(got.cores) },
      { figure: 'WebGPU: API / adapter', value: `${yes(got.webgpuApi)} / ${yes(got.webgpuAdapter)}`, target: got.webgpuAdapter ? '' : 'no adapter: unmeasured' },
    ]),
  };
}

// ---------------------------------------------------------------------------------------------
// page: smoothness, first render, main-thread JavaScript
// ---------------------------------------------------------------------------------------------
/** requestAnimationFrame timestamps for `ms` milliseconds; the intervals between them. */
function frameIntervals(page: Page, ms: number): Promise<number[]> {
  return page.evaluate(
    (dur) =>
      new Promise<number[]>((done) => {
        const ts: number[] = [];
        const tick = (t: number) => {
          ts.push(t);
          if (t - ts[0] < dur) requestAnimationFrame(tick);
          else done(ts.slice(1).map((x, i) => x - ts[i]));
        };
        requestAnimationFrame(tick);
      }),
    ms,
  );
}

/** JavaScript files the window loaded (the worker's chunks load in the worker, not here). */
async function mainThreadScripts(page: Page): Promise<string[]> {
  const urls = await page.evaluate(() =>
    performance.getEntriesByType('resource').map((e) => ({ name: e.name, type: (e as PerformanceResourceTiming).initiatorType })),
  );
  return urls.filter((u) => /\.js(\?|$)/.test(u.name) && u.type !== 'other').map((u) => new URL(u.name).pathname);
}

export async function pageGroup(c: Chrome, o: { frameSeconds: number }): Promise<{ figures: Figures; text: string }> {
  const f: Figures = {};
  // First render of the default page, cold cache, three times.
  const fcp: number[] = [];
  const cards: number[] = [];
  const readyMs: number[] = [];
  let scripts: string[] = [];
  for (let i = 0; i < 3; i++) {
    const cold = await c.coldContext();
    const page = await cold.ctx.newPage();
    await page.addInitScript(() => {
      const w = window as unknown as { __cards?: number };
      new MutationObserver((_, obs) => {
        if (document.querySelector('[data-run="r1"]')) {
          w.__cards = performance.now();
          obs.disconnect();
        }
      }).observe(document, { subtree: true, childList: true });
    });
    await page.goto(c.base);
    await page.locator('[data-run="r1"][data-status="ready"]').waitFor({ timeout: 60_000 });
    const ready = await page.evaluate(() => performance.now());
    const t = await page.evaluate(() => ({
      fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
      cards: (window as unknown as { __cards?: number }).__cards ?? NaN,
    }));
    fcp.push(t.fcp);
    cards.push(t.cards);
    readyMs.push(ready);
    if (i === 0) scripts = await mainThreadScripts(page);
    await cold.close();
  }
  const firstRender = median(fcp);
  f['page.first_render_ms'] = round(firstRender, 0);
  f['page.first_cards_ms'] = round(median(cards), 0);
  f['page.ready_ms'] = round(median(readyMs), 0);
  // JavaScript the main thread loads, gzipped as the e2e test measures it.
  const html = readFileSync(join(c.outDir, 'index.html'), 'utf8');
  const declared = [...html.matchAll(/<(?:script[^>]*src|link[^>]*rel="modulepreload"[^>]*href)="\/?([^"]+\.js)"/g)].map((m) => '/' + m[1]);
  const files = [...new Set([...declared, ...scripts])];
  let gz = 0;
  let raw = 0;
  for (const p of files) {
    const b = readFileSync(join(c.outDir, p.replace(/^\//, '')));
    raw += b.length;
    gz += gzipSync(b).length;
  }
  f['page.main_js_files'] = files.join(',');
  f['page.main_js_kb'] = round(raw / 1024, 1);
  f['page.main_js_gzip_kb'] = round(gz / 1024, 1);
  // Frames while four runs train (and, for scale, while nothing trains).
  const page = await c.ctx.newPage();
  await page.goto(`${c.base}#${encode(configOf('v=1&steps=1000000&runs=grpo,ppo,rloo,sft'))}`);
  for (const id of ['r1', 'r2', 'r3', 'r4']) await page.locator(`[data-run="${id}"][data-status="ready"]`).waitFor({ timeout: 60_000 });
  const idle = await frameIntervals(page, 3000);
  await pressPlay(page);
  await page.waitForFunction(() => [...document.querySelectorAll('[data-run]')].every((e) => Number(e.getAttribute('data-step')) > 0), null, { timeout: 60_000 });
  await page.waitForTimeout(1000);
  const steps0 = await page.evaluate(() => [...document.querySelectorAll('[data-run]')].map((e) => Number(e.getAttribute('data-step'))));
  log(`recording frames for ${o.frameSeconds} s while four runs train`);
  const busy = await frameIntervals(page, o.frameSeconds * 1000);
  const steps1 = await page.evaluate(() => [...document.querySelectorAll('[data-run]')].map((e) => Number(e.getAttribute('data-step'))));
  await page.close();
  const p95 = quantile(busy, 0.95);
  const max = Math.max(...busy);
  f['page.frame_p95_ms'] = round(p95, 1);
  f['page.frame_max_ms'] = round(max, 1);
  f['page.frame_median_ms'] = round(median(busy), 1);
  f['page.frames_over_100ms'] = busy.filter((x) => x > 100).length;
  f['page.frames'] = busy.length;
  f['page.idle_frame_p95_ms'] = round(quantile(idle, 0.95), 1);
  f['page.steps_per_s_per_run_while_recording'] = round(median(steps1.map((s, i) => (s - steps0[i]) / o.frameSeconds)), 1);
  return {
    figures: f,
    text: table('page (headless Chromium, the built app from vite preview)', [
      { figure: 'page.frame_p95_ms (4 runs training)', value: fmtNum(p95, 1), target: '<= 33 ms', ok: p95 <= 33 },
      { figure: 'page.frame_max_ms', value: fmtNum(max, 1), target: '<= 100 ms', ok: max <= 100 },
      { figure: 'page.frame_median_ms / frames', value: `${fmtNum(median(busy), 1)} / ${busy.length}` },
      { figure: 'page.idle_frame_p95_ms (nothing training)', value: fmtNum(quantile(idle, 0.95), 1) },
      { figure: 'page.steps_per_s_per_run (median, while recording)', value: fmtNum(f['page.steps_per_s_per_run_while_recording'] as number, 1) },
      { figure: 'page.first_render_ms (first contentful paint, cold)', value: fmtNum(firstRender, 0), target: '<= 1000 ms', ok: firstRender <= 1000 },
      { figure: 'page.first_cards_ms (run cards in the DOM)', value: fmtNum(median(cards), 0) },
      { figure: 'page.ready_ms (workers initialised)', value: fmtNum(median(readyMs), 0) },
      { figure: 'page.main_js_gzip_kb', value: fmtNum(gz / 1024, 1), target: '<= 150 KB', ok: gz / 1024 <= 150 },
    ]) + `main-thread JavaScript: ${files.join(', ')}\n`,
  };
}
