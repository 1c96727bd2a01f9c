import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Each test file boots an in-process PGlite behind its Trino test server: about 2 s on an idle
    // machine, much longer on a loaded CI runner.
    hookTimeout: 60_000,
    testTimeout: 30_000,
  },
});
