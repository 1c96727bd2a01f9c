#!/usr/bin/env node
// Entry point of the README's two commands on a fresh machine with only Node.js and npm:
//   npm run demo   -> install, build, generate a 1,000,000-row dump, load it into embedded PGlite
//   npm test       -> install, build, run every package's tests
// pnpm comes from the npm registry through npx when it is not installed (corepack cannot fetch it here).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.env.TURBO_TELEMETRY_DISABLED ??= '1';
const task = process.argv[2];

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    cwd: root,
    stdio: 'inherit',
    shell: process.platform === 'win32',
    ...opts,
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function hasPnpm() {
  return (
    spawnSync('pnpm', ['--version'], { stdio: 'ignore', shell: process.platform === 'win32' }).status === 0
  );
}

const pnpm = hasPnpm() ? ['pnpm'] : ['npx', '-y', 'pnpm@10'];
const p = (...args) => run(pnpm[0], [...pnpm.slice(1), ...args]);

if (!existsSync(join(root, 'node_modules', '.modules.yaml')) || process.env.SQLBATCHER_REINSTALL) {
  p('install', '--frozen-lockfile');
}
p('exec', 'turbo', 'run', 'build', '--output-logs=errors-only');

if (task === 'test') {
  p('exec', 'turbo', 'run', 'test', '--concurrency=1', ...process.argv.slice(3));
} else if (task === 'demo') {
  const rows = process.env.DEMO_ROWS ?? '1000000';
  const dump = join(root, '.sqlbatcher', `users-${rows}.sql`);
  const cli = join(root, 'packages', 'cli', 'dist', 'bin.js');
  if (!existsSync(dump)) run(process.execPath, [cli, 'generate', '--rows', rows, '--out', dump]);
  run(process.execPath, [cli, 'load', dump, '--url', 'pglite://.sqlbatcher/demo-db', '--report', 'text']);
} else if (task === 'bench') {
  p('exec', 'turbo', 'run', 'bench', '--concurrency=1');
  run(process.execPath, [join(root, 'scripts', 'bench-report.mjs')]);
} else if (task !== 'build') {
  console.error(`unknown task ${task}; use demo, test, bench or build`);
  process.exit(2);
}
