/**
 * 1,000,000 seed-shaped single-row INSERTs through SQLBatcher + SnowflakeAdapter (the real snowflake-sdk)
 * against the Snowflake protocol test server. Checks, and fails the run (exit 1) otherwise:
 * - every row arrived, each id exactly once;
 * - no request exceeded the adapter's ceiling (UTF-8 bytes), and the server accepted every request;
 * - no VALUES list held more than 16,384 rows (counted by the server);
 * - the number of requests is within 3% of the minimum, ceil(bytes sent / ceiling).
 *
 * Usage: pnpm bench [-- --rows 200000]
 */
import { createRequire } from 'node:module';
import { SQLBatcher } from '@sqlbatcher/core';
import { BenchChecks, printKeyValues, startSnowflakeServer, writeBenchResult } from '@sqlbatcher/testkit';
import snowflake from 'snowflake-sdk';
import { SnowflakeAdapter } from '../src/index.js';

const rowsArg = process.argv.indexOf('--rows');
const ROWS = rowsArg !== -1 ? Number(process.argv[rowsArg + 1]) : 1_000_000;
if (!Number.isInteger(ROWS) || ROWS < 1) throw new Error('--rows must be a positive integer');

snowflake.configure({ logLevel: 'OFF' });

function* statements(): Generator<string> {
  for (let i = 1; i <= ROWS; i++) {
    yield `INSERT INTO users (id, name, email, created_at) VALUES (${i}, 'User ${i}', 'user${i}@example.com', CURRENT_TIMESTAMP())`;
  }
}

const checks = new BenchChecks();
const check = checks.check.bind(checks);

const server = await startSnowflakeServer();
// The in-process PGlite behind the test server dominates RSS; report the baseline after it booted.
const baselineRssMb = process.memoryUsage().rss / 1024 / 1024;
let peakHeapMb = 0;
const sampler = setInterval(() => {
  peakHeapMb = Math.max(peakHeapMb, process.memoryUsage().heapUsed / 1024 / 1024);
}, 50);
const adapter = new SnowflakeAdapter({
  accessUrl: server.url,
  account: 'bench',
  username: 'bench',
  password: 'bench',
  warehouse: 'BENCH_WH',
  database: 'BENCH',
  schema: 'PUBLIC',
});
const ceiling = adapter.capabilities.maxQuerySize;

await adapter.execute('CREATE TABLE users (id INTEGER, name VARCHAR, email VARCHAR, created_at TIMESTAMP)');

let requests = 0;
let bytesSent = 0;
let largest = 0;
const { execute } = adapter;
const recordingExecute = (sql: string, options?: Parameters<typeof execute>[1]) => {
  const bytes = Buffer.byteLength(sql, 'utf8');
  requests++;
  bytesSent += bytes;
  largest = Math.max(largest, bytes);
  return execute(sql, options);
};

const firstQuery = server.queries().length;
const started = performance.now();
const batcher = new SQLBatcher({ adapter, retry: false });
const processed = await batcher.processStatements(statements(), recordingExecute);
await batcher[Symbol.asyncDispose]();
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);

const sent = server.queries().slice(firstQuery);
const counted = await adapter.execute(
  'SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi FROM users',
);
const stats = (counted.rows?.[0] ?? {}) as { N?: number; D?: number; LO?: number; HI?: number };
const minimum = Math.ceil(bytesSent / ceiling);
const maxValuesRows = Math.max(...sent.map((q) => q.maxValuesRows ?? 0));
const peakRssMb = process.resourceUsage().maxRSS / 1024;

check(processed === ROWS, `processed ${processed} statements, expected ${ROWS}`);
check(stats.N === ROWS, `table holds ${stats.N} rows, expected ${ROWS}`);
check(stats.D === ROWS && stats.LO === 1 && stats.HI === ROWS, `ids are not exactly 1..${ROWS}`);
check(batcher.report.rowsAffected === ROWS, `adapter reported ${batcher.report.rowsAffected} rows affected`);
check(largest <= ceiling, `largest request ${largest} bytes exceeds the ceiling ${ceiling}`);
check(
  sent.every((q) => q.status === 200 && q.errorCode === undefined),
  'the server rejected a request',
);
check(maxValuesRows <= 16_384, `a VALUES list held ${maxValuesRows} rows (Snowflake allows 16,384)`);
check(sent.length === requests, `server saw ${sent.length} query requests, batcher sent ${requests}`);
check(requests <= minimum * 1.03, `${requests} requests, more than 3% above the minimum ${minimum}`);

const table: [string, string][] = [
  ['statements', ROWS.toLocaleString('en-US')],
  ['requests', `${requests} (minimum ${minimum})`],
  ['ceiling (bytes)', ceiling.toLocaleString('en-US')],
  ['largest request (bytes)', largest.toLocaleString('en-US')],
  ['average fill ratio', `${((bytesSent / requests / ceiling) * 100).toFixed(2)}%`],
  ['largest VALUES list (rows)', maxValuesRows.toLocaleString('en-US')],
  ['elapsed', `${seconds.toFixed(2)} s`],
  ['rows/s', Math.round(ROWS / seconds).toLocaleString('en-US')],
  [
    'peak RSS (incl. PGlite server)',
    `${peakRssMb.toFixed(0)} MB (${baselineRssMb.toFixed(0)} MB after boot)`,
  ],
  ['peak JS heap', `${peakHeapMb.toFixed(0)} MB`],
];
writeBenchResult('snowflake', {
  title: `adapter-snowflake: seed-shaped INSERTs → Snowflake test server (real snowflake-sdk, PGlite), ${ROWS.toLocaleString('en-US')} statements`,
  chart: [],
  rows: [
    {
      method: 'batcher (merged INSERTs up to the ceiling)',
      rows: ROWS,
      seconds,
      requests,
      fillRatio: bytesSent / requests / ceiling,
      peakRssMb,
      note: `minimum possible ${minimum} requests; largest VALUES list ${maxValuesRows} rows; RSS includes the in-process test server`,
    },
  ],
});
const sdkVersion = (createRequire(import.meta.url)('snowflake-sdk/package.json') as { version: string })
  .version;
printKeyValues(
  `Snowflake: SQLBatcher + SnowflakeAdapter (snowflake-sdk ${sdkVersion}) vs Snowflake test server`,
  table,
);

await adapter.close();
await server.close();

checks.finish();
