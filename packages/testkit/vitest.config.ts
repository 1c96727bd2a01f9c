import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Several tests push a million statements or records, or boot PGlite: a few seconds on an idle
    // machine, much longer on a loaded CI runner. The timeout is a guard against hangs, not a speed test.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
