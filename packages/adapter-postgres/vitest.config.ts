import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Each test file starts its own PGlite when PG_URL is unset (a few seconds of CPU each).
    hookTimeout: 60_000,
    testTimeout: 60_000,
  },
});
