/**
 * 1,000,000 seed-shaped single-row INSERTs through SQLBatcher + TrinoAdapter (the real trino-client)
 * against the Trino protocol test server. Checks, and fails the run (exit 1) otherwise:
 * - every row arrived (count through the adapter);
 * - no request exceeded the adapter's ceiling (UTF-8 bytes);
 * - the number of requests is within 3% of the minimum, ceil(bytes sent / ceiling);
 * - every request held exactly one statement (no `;` outside literals; the server would also reject it).
 *
 * Usage: pnpm bench [-- --rows 200000]
 */
import { SQLBatcher } from '@sqlbatcher/core';
import {
  BenchChecks,
  printKeyValues,
  scanTrinoText,
  startTrinoServer,
  writeBenchResult,
} from '@sqlbatcher/testkit';
import { TrinoAdapter } from '../src/index.js';

const rowsArg = process.argv.indexOf('--rows');
const ROWS = rowsArg !== -1 ? Number(process.argv[rowsArg + 1]) : 1_000_000;
if (!Number.isInteger(ROWS) || ROWS < 1) throw new Error('--rows must be a positive integer');

function* statements(): Generator<string> {
  for (let i = 1; i <= ROWS; i++) {
    yield `INSERT INTO users (id, name, email, created_at) VALUES (${i}, 'User ${i}', 'user${i}@example.com', current_timestamp)`;
  }
}

const checks = new BenchChecks();
const check = checks.check.bind(checks);

const server = await startTrinoServer({ recordBodies: false });
await server.ready();
// The in-process PGlite behind the test server dominates RSS; report the baseline after it booted.
const baselineRssMb = process.memoryUsage().rss / 1024 / 1024;
let peakHeapMb = 0;
const sampler = setInterval(() => {
  peakHeapMb = Math.max(peakHeapMb, process.memoryUsage().heapUsed / 1024 / 1024);
}, 50);
const adapter = new TrinoAdapter({ server: server.url, user: 'bench', catalog: 'memory', schema: 'bench' });
const ceiling = adapter.capabilities.maxQuerySize;

await adapter.execute(
  'CREATE TABLE users (id integer, name varchar, email varchar, created_at timestamp(3) with time zone)',
);

let requests = 0;
let bytesSent = 0;
let largest = 0;
let multiStatement = 0;
const { execute } = adapter;
const recordingExecute = (sql: string, options?: Parameters<typeof execute>[1]) => {
  const bytes = Buffer.byteLength(sql, 'utf8');
  requests++;
  bytesSent += bytes;
  largest = Math.max(largest, bytes);
  if (scanTrinoText(sql).semicolon !== -1) multiStatement++;
  return execute(sql, options);
};

const started = performance.now();
const batcher = new SQLBatcher({ adapter, retry: false });
const processed = await batcher.processStatements(statements(), recordingExecute);
await batcher[Symbol.asyncDispose]();
const rowsAffected = batcher.report.rowsAffected;
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
// With --expose-gc (the bench script passes it): what the run left behind, garbage collected.
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const retainedHeapMb = gc ? process.memoryUsage().heapUsed / 1024 / 1024 : undefined;

const counted = await adapter.execute('SELECT count(*) FROM users');
const rowCount = Number((counted.rows?.[0] as unknown[] | undefined)?.[0]);
const minimum = Math.ceil(bytesSent / ceiling);
const peakRssMb = process.resourceUsage().maxRSS / 1024;

check(processed === ROWS, `processed ${processed} statements, expected ${ROWS}`);
check(rowCount === ROWS, `table holds ${rowCount} rows, expected ${ROWS}`);
check(rowsAffected === ROWS, `Trino reported ${rowsAffected} rows inserted, expected ${ROWS}`);
check(largest <= ceiling, `largest request ${largest} bytes exceeds the ceiling ${ceiling}`);
check(requests <= minimum * 1.03, `${requests} requests, more than 3% above the minimum ${minimum}`);
check(multiStatement === 0, `${multiStatement} requests held more than one statement`);
check(
  server.requests.every((r) => r.status === 200),
  'some HTTP request to the test server did not answer 200',
);

const table: [string, string][] = [
  ['statements', ROWS.toLocaleString('en-US')],
  ['requests', `${requests} (minimum ${minimum})`],
  ['ceiling (bytes)', ceiling.toLocaleString('en-US')],
  ['largest request (bytes)', largest.toLocaleString('en-US')],
  ['average fill ratio', `${((bytesSent / requests / ceiling) * 100).toFixed(2)}%`],
  ['statements per request', '1'],
  ['elapsed', `${seconds.toFixed(2)} s`],
  ['rows/s', Math.round(ROWS / seconds).toLocaleString('en-US')],
  [
    'peak RSS (incl. PGlite server)',
    `${peakRssMb.toFixed(0)} MB (${baselineRssMb.toFixed(0)} MB after boot)`,
  ],
  ['peak JS heap', `${peakHeapMb.toFixed(0)} MB`],
  [
    'JS heap after the run, after GC',
    retainedHeapMb === undefined
      ? 'n/a (run with --expose-gc)'
      : `${retainedHeapMb.toFixed(0)} MB (mostly the PGlite table: it holds every row in memory)`,
  ],
];
writeBenchResult('trino', {
  title: `adapter-trino: seed-shaped INSERTs → Trino test server (real trino-client, PGlite), ${ROWS.toLocaleString('en-US')} statements`,
  chart: [],
  rows: [
    {
      method: 'batcher (merged INSERTs up to the ceiling)',
      rows: ROWS,
      seconds,
      requests,
      fillRatio: bytesSent / requests / ceiling,
      peakRssMb,
      note: `minimum possible ${minimum} requests; one statement per request; RSS includes the in-process test server`,
    },
  ],
});
printKeyValues(
  `Trino: SQLBatcher + TrinoAdapter (trino-client ${await trinoClientVersion()}) vs Trino test server`,
  table,
);

await adapter.close();
await server.close();

checks.finish();

async function trinoClientVersion(): Promise<string> {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  return (require('trino-client/package.json') as { version: string }).version;
}
