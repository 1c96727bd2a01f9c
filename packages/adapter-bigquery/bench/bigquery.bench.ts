/**
 * 1,000,000 seed-shaped INSERT statements through SQLBatcher + BigQueryAdapter (real
 * @google-cloud/bigquery client) against the testkit BigQuery server. Checks that every row arrives,
 * that no request exceeds the adapter's ceiling nor BigQuery's 1,024K-character limit, and that the
 * number of requests is within 3% of the minimum (bytes sent / ceiling). Run: `pnpm bench`.
 */
import { SQLBatcher } from '@sqlbatcher/core';
import { BIGQUERY_MAX_QUERY_CHARACTERS, startBigQueryServer, writeBenchResult } from '@sqlbatcher/testkit';
import { BigQueryAdapter } from '../src/index.js';

const TOTAL = Number(process.env.BENCH_ROWS ?? 1_000_000);
/** Statements sent one per job, for comparison (extrapolated: a million jobs would take hours). */
const ONE_BY_ONE = Math.min(TOTAL, 2_000);

function* statements(): Generator<string> {
  for (let i = 0; i < TOTAL; i++) {
    yield `INSERT INTO ds.users (id, name, email, created_at) VALUES (${i}, 'User ${i}', 'user${i}@example.com', CURRENT_TIMESTAMP())`;
  }
}

let inputBytes = 0;
function* counted(): Generator<string> {
  for (const sql of statements()) {
    inputBytes += Buffer.byteLength(sql);
    yield sql;
  }
}

const server = await startBigQueryServer({ datasets: ['ds'], recordQueries: false });
await server.db.exec('CREATE TABLE ds.users (id bigint, name text, email text, created_at timestamptz)');
const adapter = new BigQueryAdapter({
  projectId: server.projectId,
  apiEndpoint: server.url,
  authClient: server.authClient,
});
const ceiling = adapter.capabilities.maxQuerySize;
const batcher = new SQLBatcher({ adapter });

const started = performance.now();
const processed = await batcher.processStatements(counted());
await batcher[Symbol.asyncDispose]();
const seconds = (performance.now() - started) / 1000;
await adapter.close();

const rows = (await server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM ds.users')).rows[0]!.n;
const allJobs = server.requests.filter((r) => r.api === 'jobs.query');
// The batcher runs in one BigQuery session, ended by `CALL BQ.ABORT_SESSION()` on close: not data.
const jobs = allJobs.filter((r) => (r.queryLength ?? 0) > 100);
const controlJobs = allJobs.length - jobs.length;
const sentBytes = jobs.reduce((sum, r) => sum + (r.queryBytes ?? 0), 0);
const largest = Math.max(...jobs.map((r) => r.queryBytes ?? 0));
const longest = Math.max(...jobs.map((r) => r.queryLength ?? 0));
const minimum = Math.ceil(sentBytes / ceiling);
const fill = sentBytes / jobs.length / ceiling;
const peakRssMb = process.resourceUsage().maxRSS / 1024;

// Baseline: the same statements, one per job (no merging, no batching).
await server.db.exec('TRUNCATE ds.users');
const single = new BigQueryAdapter({
  projectId: server.projectId,
  apiEndpoint: server.url,
  authClient: server.authClient,
});
const singleStarted = performance.now();
{
  const oneByOne = new SQLBatcher({ adapter: single, batchMode: false, mergeInserts: false });
  const first = statements();
  const sample = Array.from({ length: ONE_BY_ONE }, () => first.next().value as string);
  await oneByOne.processStatements(sample);
  await oneByOne[Symbol.asyncDispose]();
}
const singleSeconds = (performance.now() - singleStarted) / 1000;
await single.close();
const singleRows = (await server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM ds.users')).rows[0]!
  .n;
await server.close();

const checks: Record<string, boolean> = {
  'every row arrives': rows === TOTAL && processed === TOTAL,
  'no request over the ceiling': largest <= ceiling,
  'no query text over 1,024K characters': longest <= BIGQUERY_MAX_QUERY_CHARACTERS,
  'every request succeeded': allJobs.every((r) => r.status === 200),
  'requests within 3% of the minimum': jobs.length <= Math.ceil(minimum * 1.03),
};

console.log('BigQuery: SQLBatcher + BigQueryAdapter (@google-cloud/bigquery) → testkit server (PGlite)');
console.log(
  `  statements          ${TOTAL.toLocaleString('en-US')} (${(inputBytes / 1e6).toFixed(1)} MB of input)`,
);
console.log(`  rows in table       ${rows.toLocaleString('en-US')}`);
console.log(`  control requests    ${controlJobs} (ending the batcher's BigQuery session)`);
console.log(
  `  requests (jobs)     ${jobs.length} (minimum ${minimum} = ${sentBytes.toLocaleString('en-US')} B / ${ceiling.toLocaleString('en-US')} B)`,
);
console.log(
  `  largest request     ${largest.toLocaleString('en-US')} B, ${longest.toLocaleString('en-US')} characters`,
);
console.log(`  avg fill ratio      ${(fill * 100).toFixed(2)}%`);
console.log(
  `  time                ${seconds.toFixed(2)} s, ${Math.round(TOTAL / seconds).toLocaleString('en-US')} rows/s`,
);
console.log(`  peak RSS            ${peakRssMb.toFixed(0)} MB`);
console.log(
  `  one job per statement: ${ONE_BY_ONE.toLocaleString('en-US')} in ${singleSeconds.toFixed(2)} s, ${Math.round(ONE_BY_ONE / singleSeconds).toLocaleString('en-US')} rows/s`,
);
checks['one-by-one baseline rows arrive'] = singleRows === ONE_BY_ONE;
for (const [name, ok] of Object.entries(checks)) console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}`);
if (TOTAL === 1_000_000) {
  const file = writeBenchResult('bigquery', {
    title:
      '@sqlbatcher/adapter-bigquery: 1,000,000 seed-shaped INSERTs → BigQuery test server (real client, PGlite)',
    rows: [
      {
        method: 'one job per statement',
        rows: TOTAL,
        seconds: (singleSeconds * TOTAL) / ONE_BY_ONE,
        requests: TOTAL,
        note: `extrapolated from ${ONE_BY_ONE.toLocaleString('en-US')}`,
      },
      {
        method: 'merged INSERTs, 1,000,000-byte jobs',
        rows: TOTAL,
        seconds,
        requests: jobs.length,
        fillRatio: fill,
        peakRssMb,
      },
    ],
  });
  console.log(`  results written to ${file}`);
}
if (!Object.values(checks).every(Boolean)) process.exitCode = 1;
