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
// SIGTERM: the same; a second one exits at once (143).
let terms = 0;
process.on('SIGTERM', () => {
  terms++;
  if (terms > 1) process.exit(143);
  controller.abort();
});

// A reader that closes our stdout (`sqlbatcher generate | head`) makes writes fail with EPIPE: the
// writers stop on their own error; this keeps a late one from crashing the process with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

main(process.argv.slice(2), { signal: controller.signal }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sqlbatcher: error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
