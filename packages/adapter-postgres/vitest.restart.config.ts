import { defineConfig } from 'vitest/config';

// The server-restart test alone, after the main suite: it restarts the server the others use.
export default defineConfig({
  test: {
    include: ['test/restart/**/*.test.ts'],
    hookTimeout: 120_000,
    testTimeout: 120_000,
  },
});
