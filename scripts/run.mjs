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

const cli = join(root, 'packages', 'cli', 'dist', 'bin.js');
const installed = existsSync(join(root, 'node_modules', '.modules.yaml'));

if (task === 'cli') {
  // `npm run -s sqlbatcher -- <args>`: the CLI of this clone, installed and built on first use (their
  // output goes to stderr, so the CLI's own stdout, a dry run's SQL or a JSON report, stays clean).
  if (!installed || !existsSync(cli)) {
    const quiet = { stdio: ['inherit', process.stderr, 'inherit'] };
    if (!installed) run(pnpm[0], [...pnpm.slice(1), 'install', '--frozen-lockfile'], quiet);
    run(pnpm[0], [...pnpm.slice(1), 'exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], quiet);
  }
  // (npm runs scripts in the package's root; relative paths are the user's: npm's INIT_CWD)
  const cwd = process.env.INIT_CWD ?? process.cwd();
  const r = spawnSync(process.execPath, [cli, ...process.argv.slice(3)], { cwd, stdio: 'inherit' });
  process.exit(r.status ?? (r.signal ? 128 : 1));
}

if (!installed || process.env.SQLBATCHER_REINSTALL) {
  p('install', '--frozen-lockfile');
}
p('exec', 'turbo', 'run', 'build', '--output-logs=errors-only');

if (task === 'test') {
  p('exec', 'turbo', 'run', 'test', '--concurrency=1', ...process.argv.slice(3));
} else if (task === 'demo') {
  const rows = process.env.DEMO_ROWS ?? '1000000';
  const dump = join(root, '.sqlbatcher', `users-${rows}.sql`);
  if (!existsSync(dump)) run(process.execPath, [cli, 'generate', '--rows', rows, '--out', dump]);
  run(process.execPath, [cli, 'load', dump, '--url', 'pglite://.sqlbatcher/demo-db', '--report', 'text']);
} else if (task === 'bench') {
  p('exec', 'turbo', 'run', 'bench', '--concurrency=1');
  run(process.execPath, [join(root, 'scripts', 'bench-report.mjs')]);
} else if (task !== 'build') {
  console.error(`unknown task ${task}; use demo, test, bench, build or cli`);
  process.exit(2);
}
