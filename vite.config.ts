import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';

export default defineConfig({
  plugins: [svelte()],
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
