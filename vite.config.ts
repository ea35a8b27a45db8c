import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import type { Plugin } from 'vite';

/**
 * The built app's Content-Security-Policy (a meta tag; `vite dev` goes without, its HMR needs a
 * websocket and inline modules). Scripts only from the page's origin, no inline script and no
 * eval; WebAssembly compiled by tfjs in the workers ('wasm-unsafe-eval'); workers from the origin;
 * images from the origin and the data:/blob: URLs of the PNG export. Inline styles are allowed
 * (Svelte sets style attributes). Static hosts that can send headers should send the same policy
 * as a header (README). The end-to-end tests fail on any violation the page reports.
 */
export const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

function csp(): Plugin {
  return {
    name: 'content-security-policy',
    apply: 'build',
    transformIndexHtml: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: CSP }, injectTo: 'head-prepend' }],
  };
}

export default defineConfig({
  plugins: [svelte(), csp()],
  worker: { format: 'es' },
  build: { target: 'es2022' },
  test: {
    // `npm run test:long` (LONG=1) runs the full-budget lesson checks in test/long/ only.
    include: process.env.LONG ? ['test/long/**/*.test.ts'] : ['test/**/*.test.ts'],
    exclude: process.env.LONG ? ['node_modules/**'] : ['node_modules/**', 'test/long/**'],
    environment: 'node',
    testTimeout: 600_000,
    hookTimeout: 600_000,
    setupFiles: ['test/setup.ts'],
    pool: 'forks',
    // Every heavy test is one single-threaded training loop (tfjs wasm, no threads): vitest's
    // default of cpus - 1 workers leaves one of a 2-core machine's cores idle. One per core, at least 2.
    maxWorkers: Math.max(2, availableParallelism()),
  },
});
