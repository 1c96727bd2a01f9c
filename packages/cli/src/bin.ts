#!/usr/bin/env node
import { main } from './main.js';

// Ctrl-C: stop reading, let the run end cleanly (roll back or keep per --transaction), report.
// A second Ctrl-C exits at once.
const controller = new AbortController();
let interrupts = 0;
process.on('SIGINT', () => {
  interrupts++;
  if (interrupts > 1) process.exit(130);
  process.stderr.write('\nsqlbatcher: stopping after the current batch (Ctrl-C again to exit now)\n');
  controller.abort();
});
process.on('SIGTERM', () => controller.abort());

main(process.argv.slice(2), { signal: controller.signal }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sqlbatcher: error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
