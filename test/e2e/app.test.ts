/**
 * End to end: the built app (`vite build` + `vite preview`) in Debian's Chromium, driven by
 * playwright-core through accessible names and the cards' data-run / data-step attributes.
 * CI (.ci/run) installs /usr/bin/chromium; without it these tests fail, they do not skip.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ExperimentConfig, decode, encode, overlay } from '../../src/core/config';
import type { MetricRow } from '../../src/core/metrics';
import { presetById, presetConfig } from '../../src/core/presets';
import { runAll, runSession, withoutTime } from '../helpers';
import { Session } from '../../src/core/session';
import { serialisePolicy } from '../../src/core/policy-file';
import { CHROME_ARGS, deletePageStore, findBrowser, preview, vite } from '../../scripts/preview';


let outDir = '';
let profile = '';
let server: ChildProcess | null = null;
let base = '';
let ctx: BrowserContext;
let CHROMIUM = '';

/** The default preset with some settings changed (robust to the preset being tuned). */
function preset(settings = ''): ExperimentConfig {
  const d = overlay(presetConfig(presetById('first-steps')!), settings);
  if (d.problems.length) throw new Error(`bad test settings: ${JSON.stringify(d.problems)}`);
  return d.config;
}

beforeAll(async () => {
  CHROMIUM = findBrowser(); // or a message saying how to get one
  outDir = mkdtempSync(join(tmpdir(), 'grpo-e2e-dist-'));
  await vite(['build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn']);
  ({ base, server } = await preview(outDir));
  profile = mkdtempSync(join(tmpdir(), 'grpo-e2e-profile-'));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
    args: CHROME_ARGS,
  });
  // Every page reports Content-Security-Policy violations to the console, where they are collected.
  await ctx.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`));
  });
  ctx.on('page', (p) => p.on('console', (m) => m.text().startsWith('CSP violation') && cspViolations.push(m.text())));
}, 180_000);

/** CSP violations any page reported: every test fails on one. */
const cspViolations: string[] = [];
afterEach(() => {
  expect(cspViolations.splice(0)).toEqual([]);
});

afterAll(async () => {
  await ctx?.close();
  if (server?.pid) server.kill();
  for (const d of [outDir, profile]) if (d) rmSync(d, { recursive: true, force: true });
});

/**
 * A fresh page at `hash`; page errors fail the test. The runs this browser saved in earlier tests
 * are forgotten first (the page would restore them), unless `keep`.
 */
async function open(hash = '', keep = false): Promise<Page> {
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  (page as unknown as { errors: string[] }).errors = errors;
  if (!keep) await deletePageStore(page, base);
  await page.goto(`${base}${hash ? `#${hash}` : ''}`);
  return page;
}

/** Put made-up run records into the page's store (listed, not loadable: they have no bytes). */
async function putStates(page: Page, records: Record<string, unknown>[]): Promise<void> {
  await page.evaluate(
    (recs) =>
      new Promise<void>((ok, fail) => {
        const r = indexedDB.open('grpo-playground');
        r.onsuccess = () => {
          const tx = r.result.transaction('states', 'readwrite');
          for (const rec of recs) tx.objectStore('states').put(rec);
          tx.oncomplete = () => (r.result.close(), ok());
          tx.onerror = () => fail(tx.error);
        };
      }),
    records,
  );
}

const card = (page: Page, id: string) => page.locator(`[data-run="${id}"]`);
const stepOf = async (page: Page, id: string) => Number(await card(page, id).getAttribute('data-step'));
const ready = (page: Page, id = 'r1', timeout = 30_000) => card(page, id).and(page.locator('[data-status="ready"]')).waitFor({ timeout });

async function waitFor(pred: () => Promise<boolean>, timeout = 30_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeout;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function downloadText(page: Page, button: string): Promise<{ name: string; text: string; bytes: Buffer }> {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: button, exact: true }).first().click()]);
  const path = await dl.path();
  const bytes = readFileSync(path!);
  return { name: dl.suggestedFilename(), text: bytes.toString('utf8'), bytes };
}

type Exported = { hash: string; runs: { id: string; seeds: { seed: number; rows: MetricRow[] }[] }[] };
/** Wait until run `id` has finished its budget. */
const done = (page: Page, id = 'r1', timeout = 60_000) => card(page, id).and(page.locator('[data-status="done"]')).waitFor({ timeout });
/** Export JSON, parsed; `exported` gives r1's first seed's rows. */
const exportJson = async (page: Page) => JSON.parse((await downloadText(page, 'Export JSON')).text) as Exported;
const exported = async (page: Page) => (await exportJson(page)).runs[0].seeds[0].rows;

describe('the build', () => {
  it('keeps tfjs out of the main chunk, which stays small', () => {
    const html = readFileSync(join(outDir, 'index.html'), 'utf8');
    const main = /<script type="module"[^>]*src="\/?([^"]+)"/.exec(html)?.[1];
    expect(main).toBeTruthy();
    const js = readFileSync(join(outDir, main!));
    expect(js.toString('utf8').match(/.{0,80}(?:@tensorflow\/|tfjs-backend-wasm|tfjsflags).{0,80}/)?.[0]).toBeUndefined();
    expect(gzipSync(js).length).toBeLessThan(150 * 1024);
    // ...while the worker chunk has it (the check above looks for the right thing).
    const worker = readdirSync(join(outDir, 'assets')).find((f) => /^trainer\.worker.*\.js$/.test(f));
    expect(readFileSync(join(outDir, 'assets', worker!), 'utf8')).toMatch(/tfjs-backend-wasm-simd\.wasm/);
  });
});

describe('security', () => {
  it('the built page has a Content-Security-Policy (no inline script, no eval, wasm allowed); an inline script is blocked and reported', async () => {
    const html = readFileSync(join(outDir, 'index.html'), 'utf8');
    const policy = (/<meta http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(html)?.[1] ?? '').replaceAll('&#39;', "'");
    expect(policy).toMatch(/script-src 'self' 'wasm-unsafe-eval'(;|$)/);
    expect(policy).toMatch(/worker-src 'self'/);
    expect(policy).not.toMatch(/ 'unsafe-eval'|script-src[^;]*'unsafe-inline'/);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    const page = await open();
    await ready(page); // the workers compiled their WebAssembly under the policy
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.inlineRan = 1';
      document.head.append(s);
    });
    await waitFor(async () => cspViolations.length > 0, 5_000, 'the violation report');
    expect(await page.evaluate(() => (window as unknown as { inlineRan?: number }).inlineRan)).toBeUndefined();
    expect(cspViolations.splice(0)).toEqual([expect.stringMatching(/^CSP violation: script-src-elem blocked inline/)]);
    await page.close();
  });
});

describe('the app in Chromium', () => {
  it('loads the first-steps preset, ready to play, and writes its link', async () => {
    const page = await open();
    await ready(page);
    expect(await stepOf(page, 'r1')).toBe(0);
    expect(await page.getByRole('button', { name: 'Play' }).count()).toBe(1);
    for (const name of ['Step', 'Reset']) expect(await page.getByRole('button', { name, exact: true }).count()).toBe(1);
    expect(await page.getByRole('alert').count()).toBe(0);
    const hash = decodeURIComponent(new URL(page.url()).hash.slice(1));
    expect(hash).toBe(encode(preset()));
    // A pure RL run never meets the teacher: no teacher lines.
    await expect.poll(() => page.locator('[data-plot="held-out-accuracy-greedy"] [data-ref^="r1"], [data-plot="held-out-accuracy-greedy"] svg').count()).toBeGreaterThan(0);
    expect(await page.locator('[data-plot="held-out-accuracy-greedy"] [data-ref^="teacher ceiling"]').count()).toBe(0);
    expect((page as unknown as { errors: string[] }).errors).toEqual([]);
    await page.close();
  });

  it("a run that distils shows the teacher's ceiling and sampled accuracy as labelled lines", async () => {
    const page = await open(encode(preset('runs=sft&task=add&blindSpot=units-carry&steps=20&evalEvery=10')));
    await ready(page);
    const plot = page.locator('[data-plot="held-out-accuracy-greedy"]');
    await expect.poll(() => plot.locator('[data-ref^="teacher ceiling"]').count()).toBe(1);
    expect(await plot.locator('[data-ref^="teacher sampled"]').count()).toBe(1);
    expect(await plot.textContent()).toContain('teacher ceiling 0.57');
    await page.close();
  });

  it('Play grows the curves, Pause holds, Step makes one update', async () => {
    const page = await open();
    await ready(page);
    await page.keyboard.press('Space');
    await page.getByRole('button', { name: 'Pause' }).waitFor();
    const path = page.locator('[data-plot="held-out-accuracy-greedy"] path[data-series="r1"]');
    await waitFor(async () => Number(await path.getAttribute('data-n')) >= 3, 30_000, 'three eval points');
    await page.getByRole('button', { name: 'Pause' }).click();
    await ready(page);
    const held = await stepOf(page, 'r1');
    expect(held).toBeGreaterThanOrEqual(40);
    await page.waitForTimeout(700);
    expect(await stepOf(page, 'r1')).toBe(held);
    await page.getByRole('button', { name: 'Step', exact: true }).click();
    await waitFor(async () => (await stepOf(page, 'r1')) === held + 1, 10_000, 'one step');
    await ready(page);
    // Reward rises from its first point (the preset learns within seconds).
    const reward = page.locator('[data-plot="reward-training-samples"] path[data-series="r1"]');
    expect(Number(await reward.getAttribute('data-n'))).toBeGreaterThanOrEqual(2);
    await page.close();
  });

  it('Reset reproduces the same numbers, and they equal the engine run in Node', async () => {
    const config = preset('steps=60&evalEvery=20&r1.batch=64');
    const page = await open(encode(config));
    await ready(page);
    const play = async () => {
      await page.getByRole('button', { name: 'Play' }).click();
      await done(page);
      return exportJson(page);
    };
    const first = await play();
    await page.getByRole('button', { name: 'Reset', exact: true }).click();
    await ready(page);
    expect(await stepOf(page, 'r1')).toBe(0);
    const second = await play();
    const a = first.runs[0].seeds[0].rows;
    const b = second.runs[0].seeds[0].rows;
    expect(a.map((r) => r.step)).toEqual([0, 20, 40, 60]);
    expect(withoutTime(b)).toEqual(withoutTime(a));
    // The same link in Node (npm run sim's loop) gives the same numbers on the same backend.
    expect(withoutTime(await runSession(config))).toEqual(withoutTime(a));
    await page.close();
  });

  it("arith=fma: Chromium's fused multiply-adds give the numbers Node gives on that path, other numbers than portable's; the Settings offer it", async () => {
    const config = preset('steps=40&evalEvery=20&r1.batch=64&net=gru&arith=fma');
    const page = await open(encode(config));
    await ready(page);
    await page.getByRole('button', { name: 'Play' }).click();
    await done(page);
    const rows = await exported(page);
    // Chromium here fuses (x64 with FMA3, as Node here): no notice, and Node's numbers on the same path.
    expect(await card(page, 'r1').textContent()).not.toContain('does not have');
    expect(withoutTime(await runSession(config))).toEqual(withoutTime(rows));
    expect(withoutTime(await runSession({ ...config, arith: 'portable' }))).not.toEqual(withoutTime(rows));
    expect(await page.locator('#x-arith').inputValue()).toBe('fma');
    await page.close();
  });

  it('a link round-trips: opening it rebuilds the experiment; changes go back into it', async () => {
    const config = preset('seed=5&runs=grpo,rloo&r2.lr=0.002&r2.G=4&r2.batch=128');
    const hash = `${encode(config)}&x=samples`;
    const page = await open(hash);
    await ready(page, 'r2');
    expect(decodeURIComponent(new URL(page.url()).hash.slice(1))).toBe(hash);
    expect(await page.locator('#x-seed').inputValue()).toBe('5');
    expect(await page.getByLabel('x-axis').inputValue()).toBe('cost/samples');
    expect(await page.locator('[data-plot="reward-training-samples"] svg').textContent()).toContain('Samples');
    await page.getByRole('tab', { name: /r2 rloo/ }).click();
    expect(await page.locator('#r2-lr').inputValue()).toBe('0.002');
    expect(await page.locator('#r2-G').inputValue()).toBe('4');
    await page.locator('#x-seed').fill('7');
    await page.locator('#x-seed').press('Enter');
    await waitFor(async () => new URL(page.url()).hash.includes('seed=7'), 5_000, 'seed=7 in the link');
    const next = new URL(page.url()).hash.slice(1);
    const d = decode(next.replace(/&x=samples$/, ''));
    expect(d.problems).toEqual([]);
    expect(d.config).toEqual({ ...config, seed: 7 });
    const again = await open(next);
    await ready(again, 'r2');
    expect(await again.locator('#x-seed').inputValue()).toBe('7');
    expect(decodeURIComponent(new URL(again.url()).hash.slice(1))).toBe(decodeURIComponent(next));
    await page.close();
    await again.close();
  });

  it('a broken link opens anyway, with a notice listing each problem as text', async () => {
    const evil = encodeURIComponent('<img src=x onerror="window.__pwned=1">');
    const page = await open(`v=1&task=banana&r1.lr=abc&${evil}=1&steps=-3&present=2`);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const text = await alert.innerText();
    for (const s of ['task', 'banana', 'r1.lr', 'abc', 'steps', 'present', '<img src=x']) expect(text).toContain(s);
    expect(text).toContain('using');
    expect(await alert.locator('li').count()).toBe(5);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    await ready(page);
    await page.close();
  });

  it('two runs train at once, and changing one run resets that run only', async () => {
    const page = await open(encode(preset('runs=grpo,rloo&steps=100000')));
    await ready(page, 'r1');
    await ready(page, 'r2');
    await page.getByRole('button', { name: 'Play' }).click();
    await waitFor(async () => (await stepOf(page, 'r1')) > 5 && (await stepOf(page, 'r2')) > 5, 30_000, 'both runs training');
    expect(await card(page, 'r1').getAttribute('data-status')).toBe('running');
    expect(await card(page, 'r2').getAttribute('data-status')).toBe('running');
    // Change a setting of r2 while playing: r2 starts again, r1 goes on.
    await page.getByRole('tab', { name: /r2 rloo/ }).click();
    const r1Before = await stepOf(page, 'r1');
    const r2Before = await stepOf(page, 'r2');
    await page.locator('#r2-lr').fill('0.002');
    await page.locator('#r2-lr').press('Enter');
    await waitFor(async () => (await stepOf(page, 'r2')) < r2Before, 10_000, 'r2 to restart');
    expect(await stepOf(page, 'r1')).toBeGreaterThanOrEqual(r1Before);
    await waitFor(async () => (await stepOf(page, 'r2')) > 0, 20_000, 'r2 to train again');
    await page.getByRole('button', { name: 'Pause' }).click();
    await ready(page, 'r1');
    await ready(page, 'r2');
    await page.close();
  });

  it('a run whose worker crashes stops with a message on its card; the others go on', async () => {
    // The second worker script request fails: that run's worker dies before it starts.
    let workers = 0;
    const page = await ctx.newPage();
    await page.route(/trainer\.worker.*\.js$/, (route) => (++workers === 2 ? route.abort() : route.continue()));
    await page.goto(`${base}#${encode(preset('runs=grpo,rloo&steps=100000'))}`);
    await card(page, 'r2').and(page.locator('[data-status="error"]')).waitFor({ timeout: 30_000 });
    expect(await card(page, 'r2').innerText()).toMatch(/crashed/i);
    await ready(page, 'r1');
    await page.getByRole('button', { name: 'Play' }).click();
    await waitFor(async () => (await stepOf(page, 'r1')) > 5, 30_000, 'r1 to train');
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.close();
  });

  it('export downloads metrics as CSV and JSON, plots as SVG and PNG', async () => {
    const page = await open(encode(preset('steps=20&evalEvery=10&r1.batch=64')));
    await ready(page);
    await page.getByRole('button', { name: 'Play' }).click();
    await card(page, 'r1').and(page.locator('[data-status="done"]')).waitFor({ timeout: 30_000 });
    const csv = await downloadText(page, 'Export CSV');
    expect(csv.name).toMatch(/\.csv$/);
    const lines = csv.text.trim().split('\n');
    expect(lines[0].split(',').slice(0, 4)).toEqual(['run', 'pipeline', 'seed', 'step']);
    expect(lines).toHaveLength(4); // header + steps 0, 10, 20
    const json = JSON.parse((await downloadText(page, 'Export JSON')).text) as Exported;
    expect(json.runs[0].seeds[0].rows.map((r) => r.step)).toEqual([0, 10, 20]);
    const svg = await downloadText(page, 'Download Held-out accuracy (greedy) as SVG');
    expect(svg.name).toMatch(/\.svg$/);
    expect(svg.text).toContain('<svg');
    expect(svg.text).toContain('r1 grpo');
    const png = await downloadText(page, 'Download Held-out accuracy (greedy) as PNG');
    expect(png.name).toMatch(/\.png$/);
    expect(png.bytes.subarray(1, 4).toString('ascii')).toBe('PNG');
    await page.close();
  });

  it('presenter mode toggles with P and lives in the link; a classroom link hides controls', async () => {
    const page = await open();
    await ready(page);
    await page.keyboard.press('p');
    await waitFor(async () => new URL(page.url()).hash.includes('present=1'), 5_000, 'present=1');
    expect(await page.locator('.app').getAttribute('data-present')).toBe('1');
    // Presenter mode gives the plots the screen; Settings brings the builder back.
    await page.getByRole('button', { name: 'Settings' }).click();
    // Keys typed into a box are the box's.
    await page.locator('#x-seed').focus();
    await page.keyboard.press('p');
    expect(await page.locator('.app').getAttribute('data-present')).toBe('1');
    await page.close();
    const classroom = await open(`${encode(preset())}&present=1&hide=builder,inspector`);
    await ready(classroom);
    expect(await classroom.locator('.app').getAttribute('data-present')).toBe('1');
    expect(await classroom.getByRole('complementary', { name: 'Experiment builder' }).count()).toBe(0);
    expect(await classroom.getByRole('heading', { name: /Inspector/ }).count()).toBe(0);
    expect(await classroom.getByRole('alert').count()).toBe(0);
    await classroom.close();
  });
});

describe('the data flywheel in Chromium', () => {
  /** Sorting 3 digits: small and quick; two runs of SFT. */
  const SMALL = 'task=sort&sortLen=3&blindSpot=none&steps=30&evalEvery=10&runs=sft,sft&r1.batch=64&r2.batch=64';
  const hashOf = (page: Page) => decodeURIComponent(new URL(page.url()).hash.slice(1));

  it("r2.teacher=r1 waits for r1, then learns from its final policy; the page's numbers equal npm run sim's", async () => {
    const config = preset(`${SMALL}&r2.teacher=r1&r2.hidden=32&r2.steps=20`);
    const page = await open(encode(config));
    await ready(page);
    await card(page, 'r2').and(page.locator('[data-status="waiting"]')).waitFor();
    expect(await card(page, 'r2').textContent()).toContain('Waits for r1 to finish');
    await page.getByRole('button', { name: 'Play' }).click();
    await done(page, 'r2');
    expect(await card(page, 'r2').textContent()).toContain('teacher r1');
    expect(await card(page, 'r2').textContent()).toMatch(/step 20 \/ 20/);
    const json = JSON.parse((await downloadText(page, 'Export JSON')).text) as Exported;
    const engine = await runAll(config, 1);
    expect(withoutTime(json.runs[1].seeds[0].rows)).toEqual(withoutTime(engine[1][0]));
    expect(withoutTime(json.runs[0].seeds[0].rows)).toEqual(withoutTime(engine[0][0]));
    expect((page as unknown as { errors: string[] }).errors).toEqual([]);
    await page.close();
  });

  it('Download policy, Load policy as a teacher; a bad file or a missing one gets a notice and changes nothing', async () => {
    const page = await open(encode(preset(SMALL)));
    await ready(page);
    expect(await card(page, 'r1').getByRole('button', { name: 'Download policy' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Play' }).click();
    await done(page, 'r1');
    const dl = await downloadText(page, 'Download policy');
    expect(dl.name).toBe('policy-sort3-r1-seed1-step30.json');
    const policy = JSON.parse(dl.text);
    expect(policy).toMatchObject({ format: 'grpo-playground-policy', run: 1, seed: 1, step: 30 });
    expect(policy.link).toBe(encode(preset(SMALL)));
    const dir = mkdtempSync(join(tmpdir(), 'grpo-e2e-policy-'));
    const file = join(dir, 'teacher.json');
    writeFileSync(file, dl.text);
    // As r2's teacher.
    await page.getByRole('tab', { name: 'r2 sft' }).click();
    await page.setInputFiles('#load-policy-file', file);
    await expect.poll(() => hashOf(page)).toMatch(/r2\.teacher=file&r2\.teacherFile=teacher\.json~[0-9a-f]{8}/);
    await ready(page, 'r2');
    expect(await card(page, 'r2').textContent()).toContain('teacher teacher.json');
    expect(await page.locator('[data-file="teacher"]').textContent()).toContain('teacher.json');
    // A file that is not a policy: a notice, nothing changed.
    const before = hashOf(page);
    const bad = join(dir, 'notes.json');
    writeFileSync(bad, '{"not": "a policy"}');
    await page.setInputFiles('#load-policy-file', bad);
    await expect.poll(() => page.getByRole('alert').textContent()).toContain("'notes.json' was not loaded: it is not a policy file");
    expect(hashOf(page)).toBe(before);
    // The link names the file but cannot carry it: opened elsewhere, it says so and r2 waits.
    const other = await open(before);
    await expect.poll(() => other.getByRole('alert').textContent()).toContain("r2 learns from the policy file 'teacher.json'");
    await card(other, 'r2').and(other.locator('[data-status="waiting"]')).waitFor();
    // ...until the file is loaded there too.
    await other.getByRole('tab', { name: 'r2 sft' }).click();
    await other.setInputFiles('#load-policy-file', file);
    await ready(other, 'r2');
    expect(hashOf(other)).toBe(before);
    expect([...(page as unknown as { errors: string[] }).errors, ...(other as unknown as { errors: string[] }).errors]).toEqual([]);
    await Promise.all([page.close(), other.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('Use as teacher adds a smaller student of that run', async () => {
    const page = await open(encode(preset('task=sort&sortLen=3&blindSpot=none&steps=30&runs=sft')));
    await ready(page);
    await card(page, 'r1').getByRole('button', { name: 'Use as teacher' }).click();
    await card(page, 'r2').and(page.locator('[data-status="waiting"]')).waitFor();
    expect(hashOf(page)).toContain('runs=sft,sft&r2.teacher=r1&r2.hidden=64');
    await page.close();
  });

  it('generations are marked and plotted one point each; a leaky run shows benchmark and fresh accuracy as a pair', async () => {
    // r1 runs GRPO in every generation: the same stage label ('r1 → grpo') stands at several places.
    const hash = 'task=sort&sortLen=3&blindSpot=none&steps=30&evalEvery=5&runs=sft-grpo,sft&r1.batch=64&r2.batch=64&r1.distillSteps=5&r1.generations=3&r1.dataSize=300&r2.leak=0.5';
    const page = await open(encode(preset(hash)));
    await ready(page);
    await page.getByRole('button', { name: 'Play' }).click();
    await done(page, 'r1');
    await done(page, 'r2');
    const gens = page.locator('[data-section="generations"]');
    const genN = () => gens.locator('path[data-series="r1"]').first().getAttribute('data-n', { timeout: 1000 }).catch(() => null);
    // Below the fold, the generations plots kept what they drew when they appeared (nothing yet):
    // plots off screen are not redrawn while runs train. Printing, or scrolling to them, catches up.
    expect(await genN()).not.toBe('3');
    await page.evaluate(() => window.dispatchEvent(new Event('beforeprint')));
    await expect.poll(genN).toBe('3');
    await page.evaluate(() => window.dispatchEvent(new Event('afterprint')));
    await gens.scrollIntoViewIfNeeded();
    await expect.poll(genN).toBe('3');
    expect(await page.locator('[data-plot="held-out-accuracy-greedy"] [data-mark*="gen 2"]').count()).toBe(1);
    expect(await page.locator('[data-plot="held-out-accuracy-greedy"] [data-mark="r1 → grpo"]').count()).toBe(3);
    const pair = page.locator('[data-section="contamination"]');
    expect(await pair.locator('path[data-series]').count()).toBe(4);
    expect(await pair.textContent()).toContain('r2 sft (leak 0.5): fresh');
    // The plots followed to the end (an error in a keyed block would have frozen them).
    await page.locator('[data-plot="held-out-accuracy-greedy"]').scrollIntoViewIfNeeded();
    await expect.poll(() => page.locator('[data-plot="held-out-accuracy-greedy"] path[data-series="r1"]').getAttribute('data-n')).toBe('7');
    expect((page as unknown as { errors: string[] }).errors).toEqual([]);
    await page.close();
  });
});

describe('worked answers in Chromium', () => {
  it("a base model then GRPO on the sum task: what it writes is plotted, the base is on the card, the inspector splits work from answer; the page's numbers equal Node's", async () => {
    const config = preset('task=sum&blindSpot=none&hidden=32&steps=30&evalEvery=10&runs=pretrain-grpo&r1.distillSteps=20&r1.batch=64&r1.corpusWorked=0.5');
    const page = await open(encode(config));
    await ready(page);
    await page.getByRole('button', { name: 'Play' }).click();
    await card(page, 'r1').and(page.locator('[data-status="done"]')).waitFor({ timeout: 90_000 });
    const writing = page.locator('[data-section="writing"]');
    await expect.poll(() => writing.locator('path[data-series="r1"]').count()).toBe(4);
    expect(await writing.locator('path[data-series="r1"]').first().getAttribute('data-n')).toBe('4');
    const text = (await card(page, 'r1').textContent()) ?? '';
    expect(text).toMatch(/writes: worked \d\.\d\d · \d+\.\d tokens/);
    expect(text).toMatch(/base: acc\. \d\.\d\d, worked \d\.\d\d/);
    // The inspector's latest GRPO batch: every completion is labelled worked or direct with its length.
    const insp = page.locator('.inspector');
    await expect.poll(() => insp.locator('.badge').count()).toBeGreaterThan(0);
    expect(await insp.locator('.tok').count()).toBeGreaterThan(0);
    const json = JSON.parse((await downloadText(page, 'Export JSON')).text) as Exported;
    const rows = json.runs[0].seeds[0].rows;
    expect(rows.map((r) => r.step)).toEqual([0, 10, 20, 30]);
    expect(rows[3]).toHaveProperty('completions/worked_share');
    expect(withoutTime(rows)).toEqual(withoutTime(await runSession(config)));
    expect((page as unknown as { errors: string[] }).errors).toEqual([]);
    await page.close();
  });
});

describe('imported runs in Chromium', () => {
  const fixtures = join(import.meta.dirname, '../fixtures/imports');
  const hashOf = (page: Page) => decodeURIComponent(new URL(page.url()).hash.slice(1));
  const alertText = async (page: Page) => (await page.getByRole('alert').allTextContents()).join('\n');

  it("the page's own export comes back as a read-only run drawn exactly over the live one; a sweep and a TRL log sit beside it, matched on a metric; bad files get a notice; the link stays without them", async () => {
    const page = await open(encode(preset('steps=40&evalEvery=10&r1.batch=64')));
    await ready(page);
    await page.getByRole('button', { name: 'Play' }).click();
    await card(page, 'r1').and(page.locator('[data-status="done"]')).waitFor({ timeout: 60_000 });
    const hash = hashOf(page);
    // A sort task shows no work: no 'What the policy writes' section.
    expect(await page.locator('[data-section="writing"]').count()).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'grpo-e2e-import-'));
    const exported = join(dir, 'mine.json');
    writeFileSync(exported, (await downloadText(page, 'Export JSON')).text);

    await page.setInputFiles('#import-runs-file', exported);
    const list = page.locator('[data-section="imports"] li');
    await expect.poll(() => list.count()).toBe(1);
    expect(await list.first().textContent()).toContain('mine.json r1 grpo');
    const acc = page.locator('[data-plot="held-out-accuracy-greedy"]');
    const live = acc.locator('path[data-series="r1"]');
    const imported = acc.locator('path[data-series="i1"]');
    expect(await imported.getAttribute('data-n')).toBe('5');
    expect(await imported.getAttribute('d')).toBe(await live.getAttribute('d'));

    // A TRL log, then a whole sweep folder (two seeds of one combination and its summary).
    await page.setInputFiles('#import-runs-file', join(fixtures, 'trainer_state.json'));
    await expect.poll(() => list.count()).toBe(2);
    await page.setInputFiles('#import-runs-folder', join(fixtures, 'sweep'));
    await expect.poll(() => list.count()).toBe(3);
    expect(await list.nth(1).textContent()).toContain('trainer_state.json');
    expect(await list.nth(2).textContent()).toContain('r1.lr=0.01 r1 grpo');
    expect(await list.nth(2).textContent()).toContain('2 seeds');
    expect(await alertText(page)).toContain('summary.csv left out: the run files beside it carry the curves it summarises');
    // The TRL log's kl joins the diagnostics; its frac_reward_zero_std is matched against r1's.
    await page.locator('[data-plot="kl-to-reference"]').scrollIntoViewIfNeeded();
    await expect.poll(() => page.locator('[data-plot="kl-to-reference"] path[data-series="i2"]').getAttribute('data-n')).toBe('20');
    await page.getByLabel('Imported run', { exact: true }).selectOption('i2');
    await page.getByLabel('Imported metric').selectOption('frac_reward_zero_std');
    const matched = page.locator('[data-match] figure');
    await expect.poll(() => matched.locator('path[data-series]').count()).toBe(2);
    expect(await matched.locator('path[data-series="r1"]').getAttribute('data-n')).toBe('4');
    expect(await matched.locator('path[data-series="i2"]').getAttribute('data-n')).toBe('20');
    expect(await matched.textContent()).toContain('Fraction of each run');

    // Files dropped anywhere on the page import the same way: a CSV with a step column.
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['step,my/score\n0,0.25\n5,0.5\n10,0.75\n'], 'mine.csv', { type: 'text/csv' }));
      for (const type of ['dragenter', 'dragover', 'drop']) window.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await expect.poll(() => list.count()).toBe(4);
    expect(await list.nth(3).textContent()).toContain('mine.csv');
    expect(await page.locator('.drop').count()).toBe(0);
    await page.getByRole('button', { name: 'Remove i4 mine.csv' }).click();

    // A file that is not a run: a notice; what was shown stays.
    const bad = join(dir, 'notes.json');
    writeFileSync(bad, '{"not": "a log"}');
    await page.setInputFiles('#import-runs-file', bad);
    await expect.poll(() => alertText(page)).toContain("'notes.json' was not imported: it is JSON but neither TRL's trainer_state.json");
    expect(await list.count()).toBe(3);

    // Imports are not part of the link, and copying it says so.
    expect(hashOf(page)).toBe(hash);
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write']);
    await page.getByRole('button', { name: 'Copy link' }).click();
    await expect.poll(() => alertText(page)).toContain('The link holds the experiment only, not the 3 imported runs (i1, i2, i3)');
    await page.getByRole('button', { name: 'Remove i1 mine.json r1 grpo' }).click();
    await expect.poll(() => list.count()).toBe(2);
    expect(await acc.locator('path[data-series="i1"]').count()).toBe(0);
    expect((page as unknown as { errors: string[] }).errors).toEqual([]);
    await page.close();
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('architecture levers in Chromium', () => {
  it("a transformer with experts, evaluated at low precision: the card counts active weights, expert loads and accuracy by format are plotted, the inspector shows a token's attention per head; the page's numbers equal Node's", async () => {
    const settings = 'steps=20&evalEvery=10&net=transformer&r1.batch=64&r1.experts=4&r1.topK=1&r1.quantEval=int8,ternary';
    const page = await open(encode(preset(settings)));
    await ready(page);
    expect(await card(page, 'r1').textContent()).toMatch(/active of [\d.]+k weights/);
    await page.getByRole('button', { name: 'Play' }).click();
    await card(page, 'r1').and(page.locator('[data-status="done"]')).waitFor({ timeout: 120_000 });
    const moe = page.locator('[data-section="moe"]');
    await moe.scrollIntoViewIfNeeded();
    await expect.poll(() => moe.locator('[data-plot="r1-expert-load"] path[data-series]').count()).toBe(4);
    await expect.poll(() => moe.locator('[data-plot="routing-entropy-nats"] path[data-series="r1"]').getAttribute('data-n')).toBe('3');
    const precision = page.locator('[data-section="precision"]');
    expect(await precision.locator('path[data-series]').count()).toBe(3); // fp32, int8, ternary
    expect(await precision.textContent()).toMatch(/int8 \([\d.]+ KB\)/);
    // Hover the second token of the first completion: where the position that wrote it looked.
    await page.locator('.inspector td.comp').first().locator('.tok').nth(1).hover();
    const att = page.locator('.attention');
    await att.waitFor();
    expect(await att.locator('.att-row').count()).toBe(4); // 2 layers x 2 heads
    const weights = (await att.locator('.att-row').first().locator('.att-cell').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-w')))));
    expect(weights.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 2);
    const json = JSON.parse((await downloadText(page, 'Export JSON')).text) as Exported;
    const node = await runSession(preset(settings));
    expect(withoutTime(json.runs[0].seeds[0].rows)).toEqual(withoutTime(node));
    expect((page as unknown as { errors: string[] }).errors).toEqual([]);
    await page.close();
  });
});

describe('checkpoints in Chromium', () => {
  const accPath = (page: Page) => page.locator('[data-plot="held-out-accuracy-greedy"] path[data-series="r1"]').getAttribute('d');
  /** Play until r1 has made at least `n` updates (at 20 steps/s, so it is not over before we look). */
  async function playTo(page: Page, n: number): Promise<void> {
    await page.getByRole('button', { name: 'Play' }).click();
    await waitFor(async () => (await stepOf(page, 'r1')) >= n, 60_000, `step ${n}`);
  }
  const errorsOf = (page: Page) => (page as unknown as { errors: string[] }).errors;

  it('play, pause, reload: the same step and curves come back, paused; Play goes on to the numbers of an uninterrupted run; Reset discards it', async () => {
    const config = preset('steps=80&evalEvery=10&r1.batch=64');
    const page = await open(encode(config));
    await ready(page);
    await page.getByLabel('Speed').selectOption('20');
    await playTo(page, 23);
    await page.getByRole('button', { name: 'Pause' }).click();
    await ready(page);
    const step = await stepOf(page, 'r1');
    const path = await accPath(page);
    await page.reload();
    await ready(page);
    expect(await stepOf(page, 'r1')).toBe(step);
    expect(await card(page, 'r1').getAttribute('data-restored')).toBe(String(step));
    expect(await card(page, 'r1').innerText()).toMatch(new RegExp(`Restored at step ${step}`));
    expect(await accPath(page)).toBe(path);
    expect(await page.getByRole('button', { name: 'Play' }).count()).toBe(1); // paused
    await page.getByLabel('Speed').selectOption('0');
    await page.getByRole('button', { name: 'Play' }).click();
    await done(page);
    const rows = await exported(page);
    expect(withoutTime(rows)).toEqual(withoutTime(await runSession(config)));
    // The finished run comes back finished.
    await page.reload();
    await done(page);
    expect(withoutTime(await exported(page))).toEqual(withoutTime(rows));
    // Reset discards what was saved: a reload then starts at step 0.
    await page.getByRole('button', { name: 'Reset', exact: true }).click();
    await ready(page);
    expect(await stepOf(page, 'r1')).toBe(0);
    await page.reload();
    await ready(page);
    expect(await stepOf(page, 'r1')).toBe(0);
    expect(await card(page, 'r1').getAttribute('data-restored')).toBe('');
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it('reload while training (no pause): it resumes from its last eval point and ends equal to an uninterrupted run', async () => {
    const config = preset('steps=80&evalEvery=10&r1.batch=64&r1.seeds=2');
    const page = await open(encode(config));
    await ready(page);
    await page.getByLabel('Speed').selectOption('20');
    await playTo(page, 35);
    const before = await stepOf(page, 'r1');
    await page.reload();
    await ready(page);
    const restored = Number(await card(page, 'r1').getAttribute('data-restored'));
    // An eval point the workers had stored: the last one, or an earlier one when the reload beat a
    // write in flight (a machine under load lags by a few).
    expect(restored % 10).toBe(0);
    expect(restored).toBeGreaterThanOrEqual(10);
    expect(restored).toBeLessThanOrEqual(before + 10);
    await page.getByLabel('Speed').selectOption('0');
    await page.getByRole('button', { name: 'Play' }).click();
    await done(page);
    const json = JSON.parse((await downloadText(page, 'Export JSON')).text) as Exported;
    const node = await runAll(config, 2);
    for (const s of [0, 1]) expect(withoutTime(json.runs[0].seeds[s].rows)).toEqual(withoutTime(node[0][s]));
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it('a worker that dies is restarted from its checkpoint and ends equal to an uninterrupted run; a second death stops that run alone', async () => {
    const config = preset('runs=grpo,rloo&steps=80&evalEvery=10&r1.batch=64&r2.batch=64&r2.G=4');
    const page = await open(encode(config));
    await ready(page);
    await ready(page, 'r2');
    await page.getByLabel('Speed').selectOption('20');
    await playTo(page, 25);
    // An exception outside any step, in a worker (they are listed in the order the page started them: r1's, r2's).
    const kill = (i: number) => page.workers().at(i)!.evaluate(() => setTimeout(() => {
      throw new Error('killed by the test');
    }));
    const workersBefore = page.workers().length;
    // r2's worker dies twice: restarted once, then stopped with its message.
    await kill(1);
    await card(page, 'r2').locator('[data-note="restarted"]').waitFor({ timeout: 30_000 });
    await waitFor(async () => page.workers().length === workersBefore, 10_000, 'the new worker');
    await kill(-1);
    await card(page, 'r2').and(page.locator('[data-status="error"]')).waitFor({ timeout: 30_000 });
    expect(await card(page, 'r2').innerText()).toMatch(/Stopped: .*killed by the test.* again, after a restart\./);
    // r1's dies once: restarted from its last checkpoint, it ends as if nothing happened.
    await kill(0);
    await card(page, 'r1').locator('[data-note="restarted"]').waitFor({ timeout: 30_000 });
    expect(await card(page, 'r1').innerText()).toMatch(/Its worker crashed \(.*killed by the test\); it was restarted from step [1-9]0\./);
    await page.getByLabel('Speed').selectOption('0');
    await done(page);
    const json = JSON.parse((await downloadText(page, 'Export JSON')).text) as Exported;
    const node = await runAll(config, 1);
    expect(withoutTime(json.runs[0].seeds[0].rows)).toEqual(withoutTime(node[0][0]));
    // r2's rows up to where it stopped are those of an uninterrupted run too.
    const r2 = json.runs[1].seeds[0].rows;
    expect(r2.length).toBeGreaterThan(2);
    expect(withoutTime(r2)).toEqual(withoutTime(node[1][0].slice(0, r2.length)));
    expect(page.workers().length).toBe(workersBefore - 1); // r2's dead worker is gone
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it('a damaged checkpoint gets a notice and a fresh run; full or missing storage gets a notice and training goes on; a second tab does not write', async () => {
    const config = preset('steps=200&evalEvery=10&r1.batch=64');
    const page = await open(encode(config));
    await ready(page);
    await page.getByLabel('Speed').selectOption('20');
    await playTo(page, 15);
    await page.getByRole('button', { name: 'Pause' }).click();
    await ready(page);
    // A second tab with the same link shows the saved run, and does not write it.
    const other = await open(encode(config), true);
    await ready(other);
    expect(await stepOf(other, 'r1')).toBe(await stepOf(page, 'r1'));
    expect(await card(other, 'r1').innerText()).toMatch(/Another tab is training this run and saving it/);
    await other.close();
    // Damage the stored state: flip one byte.
    await page.evaluate(
      () =>
        new Promise<void>((ok, fail) => {
          const r = indexedDB.open('grpo-playground');
          r.onsuccess = () => {
            const tx = r.result.transaction('bytes', 'readwrite');
            const store = tx.objectStore('bytes');
            store.openCursor().onsuccess = (e) => {
              const c = (e.target as IDBRequest<IDBCursorWithValue | null>).result;
              if (!c) return;
              const v = c.value as Uint8Array;
              v[v.length - 5] ^= 0xff;
              c.update(v);
            };
            tx.oncomplete = () => (r.result.close(), ok());
            tx.onerror = () => fail(tx.error);
          };
        }),
    );
    await page.reload();
    await ready(page);
    expect(await stepOf(page, 'r1')).toBe(0);
    expect(await card(page, 'r1').innerText()).toMatch(/its saved checkpoint could not be used \(the checkpoint is damaged.*\); it starts again from step 0/);
    await page.close();

    // Full storage: the origin's quota set below one checkpoint (Chromium's own QuotaExceededError, in the worker that writes): a notice, and training goes on.
    // (A browser of its own: Chromium applies the override to an origin whose storage it has not opened yet.)
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROME_ARGS });
    const fresh = await browser.newContext();
    const full = await fresh.newPage();
    const cdp = await fresh.newCDPSession(full);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(base).origin, quotaSize: 64 * 1024 });
    await full.goto(`${base}#${encode(config)}`);
    await ready(full);
    await full.getByLabel('Speed').selectOption('20');
    await playTo(full, 25);
    await full.getByRole('alert').filter({ hasText: 'Saving runs:' }).waitFor();
    expect(await full.getByRole('alert').filter({ hasText: 'Saving runs:' }).innerText()).toMatch(/storage for the page is full: runs are not being saved \(training goes on\)/);
    const s1 = await stepOf(full, 'r1');
    await waitFor(async () => (await stepOf(full, 'r1')) > s1 + 5, 30_000, 'training to go on');
    await browser.close();

    // No storage at all (as in some private windows): a notice; training works.
    const none = await ctx.newPage();
    await none.addInitScript(() => {
      Object.defineProperty(globalThis, 'indexedDB', { value: undefined });
    });
    await none.goto(`${base}#${encode(config)}`);
    await ready(none);
    expect(await none.getByRole('alert').filter({ hasText: 'Saving runs:' }).innerText()).toMatch(/Runs cannot be saved in this browser/);
    await playTo(none, 5);
    await none.close();
  });

  it('a long run keeps a bounded window of rows in memory; export still has every row, read back from storage', async () => {
    const config = preset('task=add&digits=1&blindSpot=none&steps=560&evalEvery=1&r1.batch=8&r1.G=4');
    const page = await open(encode(config));
    await ready(page);
    await page.getByRole('button', { name: 'Play' }).click();
    await done(page, 'r1', 120_000);
    const held = Number(await card(page, 'r1').getAttribute('data-rows-held'));
    expect(held).toBeGreaterThanOrEqual(256);
    expect(held).toBeLessThanOrEqual(512);
    const rows = await exported(page);
    expect(rows).toHaveLength(561);
    expect(withoutTime(rows)).toEqual(withoutTime(await runSession(config)));
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });

  it('the Saved runs list shows saved experiments; Delete forgets one', async () => {
    const config = preset('steps=40&evalEvery=10&r1.batch=64');
    const page = await open(encode(config));
    await ready(page);
    await page.getByRole('button', { name: 'Step', exact: true }).click();
    await waitFor(async () => (await stepOf(page, 'r1')) === 1, 10_000, 'one step');
    await ready(page);
    await page.getByRole('button', { name: 'Pause' }).count(); // (not playing)
    await page.getByRole('button', { name: 'Play' }).click();
    await done(page);
    await page.getByRole('button', { name: 'Saved runs', exact: true }).click();
    const row = page.locator(`[data-saved-link="${encode(config)}"]`);
    await row.waitFor();
    expect(await row.innerText()).toMatch(/First steps|Custom experiment/);
    expect(await row.innerText()).toMatch(/\b40\b/);
    // Bounded: with 13 more experiments saved (made up, older than this one), the oldest go first, never the one open.
    await putStates(page, Array.from({ length: 13 }, (_, i) => {
      const link = `v=1&seed=${100 + i}`;
      return { key: `${link}\u00000`, identity: link, seed: 0, link, run: 0, title: `old ${i}`, step: i, rows: 0, size: 8, savedAt: Date.now() - (100 - i) * 60_000 };
    }));
    await page.getByRole('button', { name: 'Saved runs', exact: true }).click(); // close
    await page.getByRole('button', { name: 'Saved runs', exact: true }).click(); // open: the list is read again, and trimmed
    await expect.poll(() => page.locator('[data-saved-link]').count()).toBe(12);
    expect(await page.locator('[data-saved-link="v=1&seed=100"], [data-saved-link="v=1&seed=101"]').count()).toBe(0);
    await row.waitFor();
    await row.getByRole('button', { name: /Delete/ }).click();
    await row.waitFor({ state: 'detached' });
    await page.reload();
    await ready(page);
    expect(await stepOf(page, 'r1')).toBe(0);
    expect(errorsOf(page)).toEqual([]);
    await page.close();
  });
});

describe('hostile strings', () => {
  const HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>';
  /** Nothing of it became markup or ran. */
  const clean = (page: Page) => page.evaluate(() => ({ pwned: (window as unknown as { pwned?: number }).pwned ?? null, imgs: document.querySelectorAll('img[src="x"]').length, scripts: document.querySelectorAll('body script').length }));

  it('from a link, a policy file and a stored checkpoint, they reach the page as text', async () => {
    // A link: a hostile value and a hostile key.
    const page = await open(`${encode(preset('steps=20&evalEvery=10&r1.batch=64'))}&r1.quantEval=${encodeURIComponent(HOSTILE)}&${encodeURIComponent(HOSTILE)}=1`);
    await ready(page);
    const alert = page.getByRole('alert').first();
    await alert.waitFor();
    // Quoted as text (long values are clipped with an ellipsis).
    expect(await alert.innerText()).toContain(`r1.quantEval = ${HOSTILE.slice(0, 30)}`);
    expect(await clean(page)).toEqual({ pwned: null, imgs: 0, scripts: 0 });

    // A policy file whose task is named with markup: the mismatch notice quotes it as text.
    const s = new Session(preset('task=add&digits=1&blindSpot=none&runs=sft&steps=2&r1.batch=8')); // another task than the page's
    const policy = await s.exportPolicy();
    s.dispose();
    const dir = mkdtempSync(join(tmpdir(), 'grpo-e2e-hostile-'));
    const file = join(dir, 'hostile.json');
    writeFileSync(file, serialisePolicy({ ...policy, task: { ...policy.task, title: HOSTILE } }));
    await page.setInputFiles('#load-policy-file', file);
    await expect.poll(() => page.getByRole('alert').filter({ hasText: 'Policy files:' }).innerText()).toContain(`trained on ${HOSTILE}`);
    expect(await clean(page)).toEqual({ pwned: null, imgs: 0, scripts: 0 });
    await page.close();

    // A stored checkpoint whose title and link are markup: the Saved runs list shows them as text.
    const stored = await open(encode(preset('steps=20&evalEvery=10&r1.batch=64')));
    await ready(stored);
    await putStates(stored, [{ key: `${HOSTILE}\u00000`, identity: HOSTILE, seed: 0, link: HOSTILE, run: 0, title: HOSTILE, step: 7, rows: 0, size: 8, savedAt: Date.now() }]);
    await stored.getByRole('button', { name: 'Saved runs', exact: true }).click();
    const panel = stored.getByRole('dialog', { name: 'Saved runs' });
    await expect.poll(() => panel.innerText()).toContain(HOSTILE);
    expect(await clean(stored)).toEqual({ pwned: null, imgs: 0, scripts: 0 });
    expect((stored as unknown as { errors: string[] }).errors).toEqual([]);
    await stored.close();
  });
});

describe('every screen', () => {
  const SIZES: [number, number][] = [[390, 844], [768, 1024], [1280, 800]];
  /** Content wider than the viewport (sideways scrolling), and the training controls' boxes. */
  const layout = (page: Page) =>
    page.evaluate(() => ({
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      controls: ['Play', 'Step', 'Reset'].map((n) => {
        const b = [...document.querySelectorAll('[role="toolbar"] button')].find((e) => e.textContent?.includes(n))!.getBoundingClientRect();
        return b.left >= 0 && b.right <= window.innerWidth && b.top >= 0 && b.bottom <= window.innerHeight;
      }),
    }));

  for (const [w, h] of SIZES) {
    it(`${w}x${h}: no sideways scrolling on the default page and with four runs; Play, Step and Reset in view${w < 500 ? '; the core flow by touch' : ''}`, async () => {
      const phone = w < 500;
      const own = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROME_ARGS });
      const c = await own.newContext({ viewport: { width: w, height: h }, hasTouch: w < 1000, isMobile: phone, acceptDownloads: true });
      const page = await c.newPage();
      await page.goto(`${base}#${encode(preset('steps=40&evalEvery=10&r1.batch=64'))}`);
      await ready(page);
      expect(await layout(page)).toEqual({ overflow: 0, controls: [true, true, true] });
      // The builder folds away on narrow screens, behind Settings.
      const builder = page.getByRole('complementary', { name: 'Experiment builder' });
      if (w <= 1000) {
        expect(await builder.count()).toBe(0);
        await page.getByRole('button', { name: 'Settings', exact: true }).click();
        await builder.waitFor();
        expect((await layout(page)).overflow).toBe(0);
        await page.getByRole('button', { name: 'Settings', exact: true }).click();
      } else expect(await builder.count()).toBe(1);
      if (phone) {
        // By touch: load a preset from the gallery, Play, Pause, the inspector, export.
        await page.getByRole('button', { name: 'Load preset: No signal: when every answer in the group is wrong' }).tap();
        await ready(page);
        await page.getByRole('button', { name: 'Play' }).tap();
        await waitFor(async () => (await stepOf(page, 'r1')) >= 20, 60_000, 'training');
        await page.getByRole('button', { name: 'Pause' }).tap();
        await ready(page);
        expect(await layout(page)).toEqual({ overflow: 0, controls: [true, true, true] });
        await page.getByRole('button', { name: 'Refresh' }).tap();
        await page.locator('.inspector td.comp').first().waitFor();
        // The batch's table fits the inspector's panel (its advantage column once ran past the edge).
        const fits = await page.evaluate(() => {
          const panel = document.querySelector('.inspector')!.getBoundingClientRect();
          const table = document.querySelector('.inspector table')!.getBoundingClientRect();
          return { left: table.left >= panel.left, right: table.right <= panel.right };
        });
        expect(fits).toEqual({ left: true, right: true });
        await page.getByRole('button', { name: 'More' }).tap();
        const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export JSON' }).tap()]);
        const doc = JSON.parse(readFileSync((await dl.path())!, 'utf8')) as Exported;
        expect(doc.hash).toBe(encode(presetConfig(presetById('no-signal')!)));
        expect(doc.runs.map((r) => r.seeds[0].rows[0].step)).toEqual([0, 0, 0]);
        // Touch targets: 44 px at least.
        const small = await page.evaluate(() => [...document.querySelectorAll('header button, header select')].filter((e) => e.getBoundingClientRect().height > 0 && e.getBoundingClientRect().height < 44).length);
        expect(small).toBe(0);
      }
      // Four runs.
      await page.goto(`${base}#${encode(preset('runs=grpo,ppo,rloo,sft&steps=40&evalEvery=10'))}`);
      await page.reload();
      for (const id of ['r1', 'r2', 'r3', 'r4']) await ready(page, id);
      expect((await layout(page)).overflow).toBe(0);
      await own.close();
    });
  }
});

describe('languages, themes, zoom and the keyboard', () => {
  it('lang=zh shows the Chinese interface and the same experiment; the switch and the browser choose the language', async () => {
    const hash = encode(preset('steps=20&evalEvery=10&r1.batch=64'));
    const en = await open(hash);
    const zh = await open(`${hash}&lang=zh`, true);
    for (const p of [en, zh]) await ready(p);
    expect(await zh.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
    expect(await zh.getByRole('button', { name: '▶ 运行', exact: true }).count()).toBe(1);
    expect(await zh.getByRole('heading', { name: '诊断指标' }).count()).toBe(1);
    expect(await zh.locator('[data-plot="held-out-accuracy-greedy"] figcaption').textContent()).toMatch(/^留出集准确率（贪心解码）：r1 grpo：更新步数 0 时为 [\d.]+。$/);
    // The same experiment: one update in each gives the same curve, to the digit.
    for (const [p, step] of [[en, 'Step'], [zh, '单步']] as const) {
      await p.getByRole('button', { name: step, exact: true }).click();
      await waitFor(async () => (await stepOf(p, 'r1')) === 1, 30_000, 'one step');
    }
    const pathOf = (p: Page) => p.locator('[data-plot="reward-training-samples"] path[data-series="r1"]').getAttribute('d');
    expect(await pathOf(zh)).toBe(await pathOf(en));
    // No English words left in the header, the builder's headings, the card or the section headings.
    const english = await zh.evaluate(() =>
      [...document.querySelectorAll('header button, header label > span, .side h3, h2, [data-run] .status, [data-run] button')]
        .map((e) => (e as HTMLElement).innerText.trim())
        .filter((t) => /[A-Za-z]{4,}/.test(t.replace(/GRPO|Playground|JSON|CSV|English|grpo|FLOPs|token|MLP|Transformer|PPO|RLOO/g, ''))),
    );
    expect(english).toEqual([]);
    // The switch: English, kept in the link.
    await zh.locator('select[data-control="lang"]').selectOption('en');
    await zh.getByRole('button', { name: 'Step', exact: true }).waitFor();
    expect(zh.url()).toContain('lang=en');
    expect(await zh.evaluate(() => document.documentElement.lang)).toBe('en');
    await en.close();
    await zh.close();
    // A browser that asks for Chinese gets it without the key; a link's key wins over the browser.
    const own = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROME_ARGS });
    const c = await own.newContext({ locale: 'zh-CN', viewport: { width: 1280, height: 800 } });
    const p = await c.newPage();
    await p.goto(base);
    await p.getByRole('button', { name: '▶ 运行', exact: true }).waitFor();
    expect(p.url()).not.toContain('lang=');
    // The preset's title and story, in Chinese, with the figures of the English.
    expect(await p.locator('.story').innerText()).toMatch(/^第一步：GRPO 学会排序。/);
    await p.goto(`${base}#${hash}&lang=en`);
    await p.reload();
    await p.getByRole('button', { name: '▶ Play', exact: true }).waitFor();
    await own.close();
  });

  it('the dark theme follows the system and the switch; presenter mode stays high-contrast; exports use the theme shown, or light on request', async () => {
    const page = await open(encode(preset('steps=20&evalEvery=10&r1.batch=64')));
    await ready(page);
    const colours = () =>
      page.evaluate(() => ({
        dark: document.documentElement.classList.contains('dark'),
        bg: getComputedStyle(document.body).backgroundColor,
        fg: getComputedStyle(document.body).color,
        title: document.querySelector('[data-plot="held-out-accuracy-greedy"] svg > text')!.getAttribute('fill'),
        line: document.querySelector('[data-plot="held-out-accuracy-greedy"] path[data-series="r1"]')!.getAttribute('stroke'),
      }));
    expect(await colours()).toEqual({ dark: false, bg: 'rgb(243, 244, 247)', fg: 'rgb(20, 23, 28)', title: '#111111', line: '#0072B2' });
    await page.emulateMedia({ colorScheme: 'dark' });
    await waitFor(async () => (await colours()).dark, 5000, 'the dark theme');
    expect(await colours()).toEqual({ dark: true, bg: 'rgb(21, 24, 29)', fg: 'rgb(230, 232, 235)', title: '#f2f4f6', line: '#56B4E9' });
    // Exported as shown: a dark background, light lines.
    const svg = await downloadText(page, 'Download Held-out accuracy (greedy) as SVG');
    expect(svg.text).toContain('fill="#1f242b"');
    expect(svg.text).toContain('#56B4E9');
    // Light on request: the same plot in the light theme's colours.
    await page.getByRole('checkbox', { name: 'Light exports' }).check();
    const light = await downloadText(page, 'Download Held-out accuracy (greedy) as SVG');
    expect(light.text).toContain('fill="#ffffff"');
    expect(light.text.toLowerCase()).toContain('#0072b2');
    expect(light.text.toLowerCase()).not.toContain('#56b4e9');
    expect(light.text.toLowerCase()).not.toContain('#1f242b');
    // Presenter mode in the dark: white on black.
    await page.keyboard.press('p');
    await page.locator('[data-present="1"]').waitFor();
    expect(await page.evaluate(() => [getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color])).toEqual(['rgb(0, 0, 0)', 'rgb(255, 255, 255)']);
    await page.keyboard.press('p');
    // The switch overrides the system and is remembered.
    await page.locator('select[data-control="theme"]').selectOption('light');
    await waitFor(async () => !(await colours()).dark, 5000, 'the light theme');
    await page.reload();
    await ready(page);
    expect((await colours()).dark).toBe(false);
    await page.locator('select[data-control="theme"]').selectOption('auto');
    await waitFor(async () => (await colours()).dark, 5000, 'the system theme again');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.close();
  });

  it('drag across a plot zooms every plot to that x-range; double-click, Escape or Reset zoom shows all; each run has its own marker', async () => {
    const page = await open(encode(preset('runs=grpo,rloo&steps=60&evalEvery=5&r1.batch=64&r2.batch=64')));
    await ready(page);
    await page.getByRole('button', { name: 'Play' }).click();
    for (const id of ['r1', 'r2']) await card(page, id).and(page.locator('[data-status="done"]')).waitFor({ timeout: 60_000 });
    const zoomed = () => page.locator('figure[data-plot]').evaluateAll((fs) => fs.map((f) => f.getAttribute('data-zoomed')));
    expect(new Set(await zoomed())).toEqual(new Set([null]));
    // Markers: r1 circles, r2 squares, on the lines and in the legend.
    const acc = page.locator('[data-plot="held-out-accuracy-greedy"]');
    expect(await acc.locator('[data-marker="circle"]').count()).toBeGreaterThan(3);
    expect(await acc.locator('[data-marker="square"]').count()).toBeGreaterThan(3);
    // Drag over the middle third of the accuracy plot.
    const box = (await acc.locator('rect.zoomable').boundingBox())!;
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width / 3, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2, y, { steps: 5 });
    await page.mouse.move(box.x + (2 * box.width) / 3, y, { steps: 5 });
    await page.mouse.up();
    const all = await zoomed();
    const range = all.find((z) => z !== null)!.split(',').map(Number);
    expect(range[0]).toBeGreaterThan(10);
    expect(range[1]).toBeLessThan(50);
    // Every plot on the steps axis shares it (the reward, the subsets, the diagnostics).
    expect(all.filter((z) => z === null)).toEqual([]);
    const ticks = await page.locator('[data-plot="reward-training-samples"] svg > g > text[text-anchor="middle"]').allTextContents();
    for (const tk of ticks.map(Number)) expect(tk >= range[0] && tk <= range[1]).toBe(true);
    // Double-click resets every plot.
    await page.locator('[data-plot="reward-training-samples"] rect.zoomable').dblclick();
    expect(new Set(await zoomed())).toEqual(new Set([null]));
    // Zoom again; Escape resets; then again, and the Reset zoom button.
    for (const how of ['escape', 'button']) {
      await page.mouse.move(box.x + box.width / 4, y);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width / 2, y, { steps: 5 });
      await page.mouse.up();
      expect((await zoomed()).every((z) => z !== null)).toBe(true);
      if (how === 'escape') await page.keyboard.press('Escape');
      else await acc.getByRole('button', { name: 'Reset zoom' }).click();
      expect(new Set(await zoomed())).toEqual(new Set([null]));
    }
    // A range belongs to its x-axis: another axis shows everything.
    await page.mouse.move(box.x + box.width / 4, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2, y, { steps: 5 });
    await page.mouse.up();
    expect((await zoomed()).every((z) => z !== null)).toBe(true);
    await page.locator('header select').nth(1).selectOption('cost/samples');
    expect(new Set(await zoomed())).toEqual(new Set([null]));
    await page.close();
  });

  it('the whole app works from the keyboard, with a visible focus on every stop', async () => {
    // A budget it cannot finish between the two key presses (40 steps could: then it was done, not paused).
    const page = await open(encode(preset('steps=1000&evalEvery=10&r1.batch=64')));
    await ready(page);
    /** Tab to the element whose accessible text matches, checking each stop shows its focus. */
    const tabTo = async (match: RegExp, limit = 80): Promise<void> => {
      for (let i = 0; i < limit; i++) {
        await page.keyboard.press('Tab');
        const f = await page.evaluate(() => {
          const e = document.activeElement as HTMLElement;
          const cs = getComputedStyle(e);
          const label = e.getAttribute('aria-label') ?? (e.id ? document.querySelector(`label[for="${e.id}"]`)?.textContent : null) ?? e.innerText ?? '';
          return { label: `${e.tagName} ${label}`.trim(), visible: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 1, inView: e.getBoundingClientRect().width > 0 };
        });
        expect(f.visible, `focus ring on ${f.label}`).toBe(true);
        expect(f.inView, `${f.label} is shown`).toBe(true);
        if (match.test(f.label)) return;
      }
      throw new Error(`no tab stop matches ${match}`);
    };
    await tabTo(/^BUTTON ▶ Play$/);
    await page.keyboard.press('Enter');
    await waitFor(async () => (await stepOf(page, 'r1')) >= 10, 30_000, 'training');
    await page.keyboard.press('Enter'); // Pause (the same button, now Pause)
    await ready(page);
    const paused = await stepOf(page, 'r1');
    await tabTo(/^BUTTON Step$/);
    await page.keyboard.press('Enter');
    await waitFor(async () => (await stepOf(page, 'r1')) === paused + 1, 30_000, 'a step');
    // A setting: Tab into the builder's Steps, type, Enter: the run restarts with it.
    await tabTo(/^INPUT Steps$/, 120);
    await page.keyboard.press('Control+a');
    await page.keyboard.type('30');
    await page.keyboard.press('Enter');
    await waitFor(async () => (await card(page, 'r1').innerText()).includes('/ 30'), 10_000, 'the new budget');
    // The plots' Table toggles from the keyboard too.
    await tabTo(/^BUTTON .*Held-out accuracy \(greedy\) as a table$/, 200);
    await page.keyboard.press('Enter');
    await page.locator('[data-plot="held-out-accuracy-greedy"] table').waitFor();
    // Shortcuts: S steps, R resets.
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('s');
    await waitFor(async () => (await stepOf(page, 'r1')) === 1, 30_000, 'S');
    await page.keyboard.press('r');
    await waitFor(async () => (await stepOf(page, 'r1')) === 0, 30_000, 'R');
    await page.close();
  });
});

describe('accessibility', () => {
  const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  /** axe-core's serious and critical violations on the page as it is, and skipped heading levels (evaluated over the CDP: the page's CSP does not apply). */
  async function audit(page: Page): Promise<string[]> {
    await page.evaluate(AXE);
    return page.evaluate(async () => {
      const axe = (window as unknown as { axe: { run: (c: Document, o: object) => Promise<{ violations: { id: string; impact: string; nodes: { target: string[] }[] }[] }> } }).axe;
      const r = await axe.run(document, { resultTypes: ['violations'] });
      return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical' || v.id === 'heading-order').map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(' | ')}`);
    });
  }

  /** Four runs, one step made, the inspector showing the batch (from step 0: an earlier call's saved runs are forgotten). */
  async function fourRunsInspecting(page: Page): Promise<void> {
    await deletePageStore(page, base);
    await page.goto(`${base}#${encode(preset('runs=grpo,ppo,rloo,sft&steps=40&evalEvery=10&r1.batch=64&r2.batch=64&r3.batch=64&r4.batch=64'))}`);
    for (const id of ['r1', 'r2', 'r3', 'r4']) await ready(page, id);
    await page.getByRole('button', { name: 'Step', exact: true }).click();
    await waitFor(async () => (await stepOf(page, 'r1')) === 1, 30_000, 'one step');
    await ready(page);
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('.inspector td.comp').first().waitFor();
  }

  it('no serious or critical axe-core violations, no skipped heading level: the default page, four runs, the inspector with a batch, presenter mode, a broken-link notice', async () => {
    const page = await open();
    await ready(page);
    const found: Record<string, string[]> = {};
    found.default = await audit(page);
    await fourRunsInspecting(page);
    // Every plot has a text alternative: a caption with the latest values, and its data as a table.
    const acc = page.locator('[data-plot="held-out-accuracy-greedy"]');
    expect(await acc.locator('figcaption').textContent()).toMatch(/^Held-out accuracy \(greedy\): r1 grpo: [\d.]+ at updates 0; r2 ppo: .*; r4 sft: [\d.]+ at updates 0; teacher ceiling [\d.]+; teacher sampled [\d.]+\.$/);
    await acc.getByRole('button', { name: 'Held-out accuracy (greedy) as a table' }).click();
    expect(await acc.locator('table thead th').allTextContents()).toEqual(['Updates', 'r1 grpo', 'r2 ppo', 'r3 rloo', 'r4 sft']);
    expect(await acc.locator('table tbody tr').count()).toBe(1); // the step-0 point
    found.fourRunsInspector = await audit(page);
    await page.keyboard.press('p');
    await page.locator('[data-present="1"]').waitFor();
    found.presenter = await audit(page);
    await page.goto(`${base}#v=1&digits=9&bogus=1`); // (the page then writes the corrected link: no reload)
    await page.getByRole('alert').first().waitFor();
    found.brokenLink = await audit(page);
    // The dark theme: the four runs with the inspector, presenter mode, and the Chinese page.
    await page.emulateMedia({ colorScheme: 'dark' });
    await fourRunsInspecting(page);
    expect(await page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(true);
    found.dark = await audit(page);
    await page.keyboard.press('p');
    await page.locator('[data-present="1"]').waitFor();
    found.darkPresenter = await audit(page);
    await page.keyboard.press('p');
    await page.goto(`${base}#${encode(preset('steps=40&evalEvery=10&r1.batch=64'))}&lang=zh`);
    await page.reload();
    await ready(page);
    found.darkChinese = await audit(page);
    await page.emulateMedia({ colorScheme: 'light' });
    expect(found).toEqual({ default: [], fourRunsInspector: [], presenter: [], brokenLink: [], dark: [], darkPresenter: [], darkChinese: [] });
    await page.close();
  });
});
