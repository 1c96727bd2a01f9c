/**
 * Core throughput: lex + merge + batch N seed-shaped statements with a no-op execute.
 * Each mode runs in its own child process so peak RSS is measured per mode.
 *
 *   pnpm bench                 # 1,000,000 statements
 *   BENCH_STATEMENTS=200000 pnpm bench
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { GenericAdapter, SQLBatcher } from '../src/index.js';

const N = Number(process.env.BENCH_STATEMENTS ?? 1_000_000);

function statement(i: number): string {
  return `INSERT INTO users (id, name, email, created_at) VALUES (${i}, 'User ${i}', 'user${i}@example.com', NOW())`;
}

async function* asyncSource(n: number): AsyncGenerator<string> {
  for (let i = 0; i < n; i++) yield statement(i);
}

function* syncSource(n: number): Generator<string> {
  for (let i = 0; i < n; i++) yield statement(i);
}

interface Result {
  mode: string;
  statements: number;
  seconds: number;
  mb: number;
  requests: number;
  peakRssMb: number;
}

async function runMode(mode: string): Promise<Result> {
  let bytes = 0;
  let requests = 0;
  let peak = process.memoryUsage().rss;
  const adapter = new GenericAdapter({
    execute: () => {
      requests++;
      const rss = process.memoryUsage().rss;
      if (rss > peak) peak = rss;
      return undefined;
    },
    maxQuerySize: 1_000_000,
    capabilities: { multiStatement: true, dialect: 'postgres' },
  });
  let input: Iterable<string> | AsyncIterable<string>;
  if (mode === 'array') {
    const arr: string[] = new Array(N);
    for (let i = 0; i < N; i++) arr[i] = statement(i);
    input = arr;
  } else input = mode === 'async-iterable' ? asyncSource(N) : syncSource(N);
  // Input size is measured separately so it does not cost time in the loop.
  for (let i = 0; i < N; i++) bytes += statement(i).length;
  const batcher = new SQLBatcher({ adapter, maxBytes: 1_000_000 });
  const t0 = performance.now();
  await batcher.processStatements(input);
  const seconds = (performance.now() - t0) / 1000;
  const rss = process.memoryUsage().rss;
  if (rss > peak) peak = rss;
  return { mode, statements: N, seconds, mb: bytes / 1e6, requests, peakRssMb: peak / 1e6 };
}

const child = process.argv[2];
if (child) {
  const r = await runMode(child);
  process.stdout.write(JSON.stringify(r));
} else {
  const self = fileURLToPath(import.meta.url);
  const rows: Result[] = [];
  for (const mode of ['async-iterable', 'sync-iterable', 'array']) {
    const out = spawnSync(process.execPath, ['--import', 'tsx', self, mode], { encoding: 'utf8' });
    if (out.status !== 0) {
      process.stderr.write(out.stderr);
      process.exit(1);
    }
    rows.push(JSON.parse(out.stdout) as Result);
  }
  console.log(
    `\n@sqlbatcher/core — lex + merge + batch, ${N.toLocaleString('en-US')} seed-shaped statements, no-op execute`,
  );
  console.log(`node ${process.version}, ${process.platform}/${process.arch}\n`);
  console.log('| input | statements/s | MB/s | requests | seconds | peak RSS (MB) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.mode} | ${Math.round(r.statements / r.seconds).toLocaleString('en-US')} | ${(r.mb / r.seconds).toFixed(1)} | ${r.requests} | ${r.seconds.toFixed(2)} | ${r.peakRssMb.toFixed(0)} |`,
    );
  }
  const a = rows[0] as Result;
  console.log(
    `\ntargets: >= 1,000,000 statements/s (${a.statements / a.seconds >= 1e6 ? 'met' : 'NOT met'} for async-iterable), peak RSS < 200 MB with async-iterable input (${a.peakRssMb < 200 ? 'met' : 'NOT met'})`,
  );
}
