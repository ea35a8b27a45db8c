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
    testTimeout: 120_000,
    hookTimeout: 120_000,
    setupFiles: ['test/setup.ts'],
    pool: 'forks',
  },
});
