/**
 * Serving the built app to Debian's Chromium, shared by the end-to-end tests (test/e2e) and the
 * browser benchmarks (scripts/bench/browser.ts): build with vite, preview it on a free loopback
 * port, and the Chromium flags this closed network needs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
export const CHROMIUM = '/usr/bin/chromium';
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
