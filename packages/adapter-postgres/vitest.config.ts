import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The server-restart test runs alone, after everything else (vitest.restart.config.ts).
    exclude: ['**/node_modules/**', '**/dist/**', 'test/restart/**'],
    // Each test file starts its own PGlite when PG_URL is unset (a few seconds of CPU each).
    hookTimeout: 60_000,
    testTimeout: 60_000,
  },
});
