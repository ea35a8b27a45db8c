/**
 * Serving the built app to a Chromium-family browser, shared by the end-to-end tests (test/e2e)
 * and the browser benchmarks (scripts/bench/browser.ts): find the browser, build with vite,
 * preview it on a free loopback port, and the Chromium flags this closed network needs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');

/** The environment variable that names the browser to drive (any Chromium or Chrome). */
export const BROWSER_ENV = 'CHROMIUM_PATH';

/** Where Chromium and Chrome usually live, per platform (Debian's Chromium first: CI installs it). */
export function browserCandidates(platform: NodeJS.Platform, env: NodeJS.ProcessEnv): string[] {
  if (platform === 'darwin') {
    return ['/Applications/Google Chrome.app/Contents/MacOS/Google Chrome', '/Applications/Chromium.app/Contents/MacOS/Chromium', `${env.HOME ?? ''}/Applications/Google Chrome.app/Contents/MacOS/Google Chrome`, '/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge'];
  }
  if (platform === 'win32') {
    const roots = [env.PROGRAMFILES, env['PROGRAMFILES(X86)'], env.LOCALAPPDATA].filter((x): x is string => Boolean(x));
    return roots.flatMap((r) => [`${r}\\Google\\Chrome\\Application\\chrome.exe`, `${r}\\Chromium\\Application\\chrome.exe`, `${r}\\Microsoft\\Edge\\Application\\msedge.exe`]);
  }
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable', '/snap/bin/chromium', '/usr/bin/microsoft-edge'];
}

/**
 * The browser to drive: $CHROMIUM_PATH if set (it must exist), else the first usual install found.
 * Otherwise an Error whose message says how to get one on this platform.
 */
export function findBrowser(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env, exists: (p: string) => boolean = existsSync): string {
  const given = env[BROWSER_ENV];
  if (given) {
    if (exists(given)) return given;
    throw new Error(`${BROWSER_ENV}=${given}: no such file. Point it at a Chromium or Chrome executable, or unset it to use an installed one.`);
  }
  const tried = browserCandidates(platform, env);
  const found = tried.find((p) => exists(p));
  if (found) return found;
  const get =
    platform === 'darwin'
      ? 'install Google Chrome (https://www.google.com/chrome/) or Chromium (brew install --cask chromium)'
      : platform === 'win32'
        ? 'install Google Chrome (https://www.google.com/chrome/)'
        : 'install Chromium (Debian/Ubuntu: sudo apt-get install -y chromium; .ci/run does this)';
  return fail(`No Chromium or Chrome found for the end-to-end tests and browser benchmarks (looked in: ${tried.join(', ')}). ${get[0].toUpperCase()}${get.slice(1)}, or set ${BROWSER_ENV} to a Chromium-family browser's executable. playwright-core downloads no browser.`);
}

function fail(message: string): never {
  throw new Error(message);
}
const VITE = join(ROOT, 'node_modules/vite/bin/vite.js');
/** Without the background-networking flags Chromium keeps dialing out, and this network refuses. */
export const CHROME_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
    s.on('error', fail);
  });
}

/** Run the vite CLI (`build`, ...) to completion. Builds what ships: NODE_ENV=production (vitest sets it to test, which would make Svelte compile in dev mode). */
export function vite(args: string[]): Promise<void> {
  return new Promise((ok, fail) => {
    const p = spawn(process.execPath, [VITE, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`vite ${args[0]} failed (${code}): ${err}`))));
  });
}

export async function waitForServer(url: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error(`vite preview did not answer at ${url}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `vite preview` of a built folder on a free loopback port; resolves once it answers. */
export async function preview(outDir: string): Promise<{ base: string; server: ChildProcess }> {
  const port = await freePort();
  const server = spawn(process.execPath, [VITE, 'preview', '--outDir', outDir, '--port', String(port), '--strictPort', '--host', '127.0.0.1'], { cwd: ROOT, stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}/`;
  await waitForServer(base);
  return { base, server };
}

/**
 * Delete the app's IndexedDB (its saved runs) in a page of `base`'s origin, from a static file of
 * that origin (the app is not running there, so nothing holds the database open).
 */
export async function deletePageStore(page: { goto(url: string): Promise<unknown>; evaluate<R>(f: () => Promise<R>): Promise<R> }, base: string): Promise<void> {
  await page.goto(`${base}favicon.svg`);
  await page.evaluate(
    () =>
      new Promise<void>((ok, fail) => {
        const r = indexedDB.deleteDatabase('grpo-playground');
        r.onsuccess = () => ok();
        r.onerror = () => fail(r.error);
      }),
  );
}
