/**
 * Core throughput: lex + merge + batch N seed-shaped statements with a no-op execute.
 * Each mode runs in its own child process so peak RSS is measured per mode.
 *
 *   pnpm bench                 # 1,000,000 statements
 *   BENCH_STATEMENTS=200000 pnpm bench
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GenericAdapter, SQLBatcher } from '../src/index.js';

const N = Number(process.env.BENCH_STATEMENTS ?? 1_000_000);

function statement(i: number): string {
  return `INSERT INTO users (id, name, email, created_at) VALUES (${i}, 'User ${i}', 'user${i}@example.com', NOW())`;
}

async function* asyncSource(n: number): AsyncGenerator<string> {
  for (let i = 0; i < n; i++) yield statement(i);
}

/** What a file reader gives the batcher: arrays of statements per chunk (see splitStatementChunks). */
async function* asyncChunks(n: number, size = 1000): AsyncGenerator<string[]> {
  for (let i = 0; i < n; i += size) {
    const chunk: string[] = [];
    for (let k = i; k < Math.min(n, i + size); k++) chunk.push(statement(k));
    yield chunk;
  }
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
  let input: Iterable<string> | AsyncIterable<string | string[]>;
  if (mode === 'array') {
    const arr: string[] = new Array(N);
    for (let i = 0; i < N; i++) arr[i] = statement(i);
    input = arr;
  } else if (mode === 'async-iterable') input = asyncSource(N);
  else if (mode === 'async-chunks') input = asyncChunks(N);
  else input = syncSource(N);
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
  for (const mode of ['async-iterable', 'async-chunks', 'sync-iterable', 'array']) {
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
  const rate = (r: Result) => r.statements / r.seconds;
  const [perItem, chunks] = rows as [Result, Result];
  console.log(
    `\ntargets: >= 1,000,000 statements/s — async chunks ${rate(chunks) >= 1e6 ? 'met' : 'NOT met'} (${Math.round(rate(chunks)).toLocaleString('en-US')}/s), one async step per statement ${rate(perItem) >= 1e6 ? 'met' : 'NOT met'} (${Math.round(rate(perItem)).toLocaleString('en-US')}/s);` +
      ` peak RSS < 200 MB with async input: ${Math.max(perItem.peakRssMb, chunks.peakRssMb) < 200 ? 'met' : 'NOT met'}`,
  );
  const out = join(dirname(self), '..', '..', '..', 'bench', 'results', 'core.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        title: `@sqlbatcher/core: lex + merge + batch ${N.toLocaleString('en-US')} statements, no-op execute (statements/s)`,
        machine: `${cpus().length} × ${cpus()[0]?.model.trim()}, node ${process.version}`,
        date: new Date().toISOString(),
        chart: [],
        rows: rows.map((r) => ({
          method: `input: ${r.mode}`,
          rows: r.statements,
          seconds: r.seconds,
          requests: r.requests,
          peakRssMb: r.peakRssMb,
        })),
      },
      null,
      2,
    )}\n`,
  );
}
