/**
 * `pnpm bench`: 1,000,000 seed-shaped statements into a local PostgreSQL table, each scenario in its own
 * process (so peak RSS is per scenario), ratios computed within the same run.
 *
 *   PG_URL (default postgres://postgres@127.0.0.1:5432/test)   BENCH_ROWS (default 1000000)
 *   BENCH_SAMPLE (one-by-one sample, default 20000)   BENCH_MAXBYTES (the batcher's maxBytes, default its own)
 *   BENCH_ROUNDS (rounds of the fast scenarios, default 3; each is reported by its median round)
 */
import { spawnSync } from 'node:child_process';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { type QueryRecord, SQLBatcher, type SQLBatcherOptions } from '@sqlbatcher/core';
import { writeBenchResult } from '@sqlbatcher/testkit';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { PostgreSQLAdapter, type PostgreSQLAdapterOptions } from '../src/index.js';

const PG_URL = process.env.PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const SAMPLE = Math.min(ROWS, Number(process.env.BENCH_SAMPLE ?? 20_000));
const TABLE = 'sqlbatcher_bench_users';
const CREATED = '2024-01-01 00:00:00+00';

interface Result {
  scenario: string;
  rows: number;
  seconds: number;
  /** Seconds for ROWS rows (extrapolated for the one-by-one sample). */
  fullSeconds: number;
  batches: number;
  avgBytes: number;
  ceiling: number;
  peakRssMb: number;
  verified: number;
  /** CPU seconds the benchmark process used in the timed section (lexing, merging, COPY encoding, pg). */
  clientCpu: number;
  /** Seconds the benchmark process spent in garbage collection in the timed section. */
  gcSeconds: number;
}

/** Total GC pause time (ms) observed from `start()` until `stop()`. */
function gcTimer(): { stop(): number } {
  let ms = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) ms += e.duration;
  });
  obs.observe({ entryTypes: ['gc'] });
  return {
    stop() {
      // (entries are delivered asynchronously: take what has been buffered)
      for (const e of obs.takeRecords()) ms += e.duration;
      obs.disconnect();
      return ms / 1000;
    },
  };
}

/** The seed's statement: `NOW()` makes it a non-literal row (no COPY). */
function* seedStatements(n: number): Generator<string> {
  for (let i = 0; i < n; i++) {
    yield `INSERT INTO ${TABLE} (id, name, email, created_at) VALUES (${i}, 'User ${i}', 'user${i}@example.com', NOW())`;
  }
}
/** Dump-like: the same rows with literal timestamps. */
function* dumpStatements(n: number): Generator<string> {
  for (let i = 0; i < n; i++) {
    yield `INSERT INTO ${TABLE} (id, name, email, created_at) VALUES (${i}, 'User ${i}', 'user${i}@example.com', '${CREATED}')`;
  }
}

async function prepare(client: pg.Client): Promise<void> {
  await client.query(
    `DROP TABLE IF EXISTS ${TABLE}; CREATE TABLE ${TABLE} (id int, name text, email text, created_at timestamptz)`,
  );
}

async function count(client: pg.Client): Promise<number> {
  return Number((await client.query(`SELECT count(*) AS c FROM ${TABLE}`)).rows[0].c);
}

function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

async function viaBatcher(
  scenario: string,
  statements: Iterable<string>,
  options: Partial<SQLBatcherOptions>,
  copy: boolean,
  adapterOptions: Partial<PostgreSQLAdapterOptions> = {},
): Promise<Result> {
  const adapter = new PostgreSQLAdapter({
    connectionString: PG_URL,
    maxSize: 4,
    copy,
    ...adapterOptions,
  });
  let bytes = 0;
  const collector = {
    record(r: QueryRecord) {
      bytes += r.bytes;
    },
  };
  const mb = process.env.BENCH_MAXBYTES ? { maxBytes: Number(process.env.BENCH_MAXBYTES) } : {};
  const batcher = new SQLBatcher({ adapter, collector, ...options, ...mb });
  const gc = gcTimer();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await batcher.processStatements(statements);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const gcSeconds = gc.stop();
  const batches = batcher.report.requests;
  await batcher[Symbol.asyncDispose]();
  await adapter.close();
  return {
    scenario,
    rows: ROWS,
    seconds,
    fullSeconds: seconds,
    batches,
    avgBytes: bytes / Math.max(batches, 1),
    ceiling: adapter.capabilities.maxQuerySize,
    peakRssMb: 0,
    verified: 0,
    clientCpu: (cpu.user + cpu.system) / 1e6,
    gcSeconds,
  };
}

async function scenario(name: string, client: pg.Client): Promise<Result> {
  switch (name) {
    case 'one-by-one': {
      const adapter = new PostgreSQLAdapter({ connectionString: PG_URL, maxSize: 1 });
      const t0 = performance.now();
      for (const sql of seedStatements(SAMPLE)) await adapter.execute(sql);
      const seconds = (performance.now() - t0) / 1000;
      await adapter.close();
      return {
        scenario: `one-by-one (${SAMPLE.toLocaleString('en')} sampled)`,
        rows: SAMPLE,
        seconds,
        fullSeconds: (seconds * ROWS) / SAMPLE,
        batches: SAMPLE,
        avgBytes: Buffer.byteLength(seedStatements(1).next().value as string),
        ceiling: 0,
        peakRssMb: 0,
        verified: 0,
        clientCpu: Number.NaN,
        gcSeconds: Number.NaN,
      };
    }
    case 'batcher':
      return viaBatcher('batcher, defaults (multi-row INSERT)', seedStatements(ROWS), {}, false);
    case 'joined':
      return viaBatcher(
        "batcher, mergeInserts: false (';'-joined INSERTs)",
        seedStatements(ROWS),
        { mergeInserts: false },
        false,
      );
    case 'batcher-copy-c2':
      return viaBatcher(
        'batcher, copy: true, concurrency: 2',
        dumpStatements(ROWS),
        { concurrency: 2 },
        true,
      );
    case 'batcher-text':
      return viaBatcher(
        'batcher, unnest: false (VALUES text, 1,000-row INSERTs)',
        seedStatements(ROWS),
        {},
        false,
        { unnest: false },
      );
    case 'batcher-copy-s32':
      return viaBatcher('batcher, copy: true, node --max-semi-space-size=32', dumpStatements(ROWS), {}, true);
    case 'batcher-c2':
      return viaBatcher('batcher, concurrency: 2', seedStatements(ROWS), { concurrency: 2 }, false);
    case 'batcher-copy':
      return viaBatcher('batcher, copy: true (dump-like rows)', dumpStatements(ROWS), {}, true);
    case 'batcher-copy-8mb':
      // (fewer, larger COPYs: one catalog read and one COPY command per 8 MB instead of per 1 MB)
      return viaBatcher(
        'batcher, copy: true, maxBytes: 8 MB',
        dumpStatements(ROWS),
        { maxBytes: 8_000_000 },
        true,
      );
    case 'copy': {
      const gc = gcTimer();
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const stream = client.query(copyFrom(`COPY ${TABLE} (id, name, email, created_at) FROM STDIN`));
      const CHUNK = 10_000;
      function* lines(): Generator<string> {
        for (let i = 0; i < ROWS; i += CHUNK) {
          let s = '';
          for (let j = i; j < Math.min(i + CHUNK, ROWS); j++)
            s += `${j}\tUser ${j}\tuser${j}@example.com\t${CREATED}\n`;
          yield s;
        }
      }
      await pipeline(Readable.from(lines()), stream);
      const seconds = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const gcSeconds = gc.stop();
      return {
        scenario: 'hand-written COPY (pg-copy-streams)',
        rows: ROWS,
        seconds,
        fullSeconds: seconds,
        batches: 1,
        avgBytes: 0,
        ceiling: 0,
        peakRssMb: 0,
        verified: 0,
        clientCpu: (cpu.user + cpu.system) / 1e6,
        gcSeconds,
      };
    }
    default:
      throw new Error(`unknown scenario ${name}`);
  }
}

const SCENARIOS = [
  'one-by-one',
  'joined',
  'batcher-text',
  'batcher',
  'copy',
  'batcher-copy',
  'batcher-copy-8mb',
  'batcher-copy-s32',
  'batcher-c2',
  'batcher-copy-c2',
];

/** Node flags of a scenario's process beyond the parent's (GC tuning a user can apply too). */
const NODE_FLAGS: Record<string, string[]> = { 'batcher-copy-s32': ['--max-semi-space-size=32'] };

/** Scenarios run once (the others run in {@link ROUNDS} rounds). */
const SLOW = new Set(['one-by-one', 'joined']);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
if (!(Number.isInteger(ROUNDS) && ROUNDS >= 1)) throw new Error('BENCH_ROUNDS must be an integer >= 1');

/** The median of `xs` (the mean of the middle two for an even count). */
function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function child(name: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await prepare(client);
  const r = await scenario(name, client);
  r.verified = await count(client);
  r.peakRssMb = peakRssMb();
  await client.query(`DROP TABLE ${TABLE}`);
  await client.end();
  console.log(`RESULT ${JSON.stringify(r)}`);
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main(): Promise<void> {
  const only = process.argv[2];
  if (only) return child(only);
  const self = fileURLToPath(import.meta.url);
  const runs = new Map<string, Result[]>();
  const runOne = (name: string): void => {
    const out = spawnSync(process.execPath, [...process.execArgv, ...(NODE_FLAGS[name] ?? []), self, name], {
      encoding: 'utf8',
      env: process.env,
      maxBuffer: 1 << 24,
    });
    const line = out.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (out.status !== 0 || !line) {
      process.stderr.write(out.stderr);
      throw new Error(`scenario ${name} failed (exit ${out.status})`);
    }
    const r = JSON.parse(line.slice(7)) as Result;
    runs.set(name, [...(runs.get(name) ?? []), r]);
    process.stderr.write(`  ${r.scenario}: ${fmt(r.seconds, 2)} s\n`);
  };
  // The slow baselines once; the fast scenarios in ROUNDS interleaved rounds (this shared machine's
  // speed drifts within a minute), each reported by its median run.
  for (const name of SCENARIOS) if (SLOW.has(name)) runOne(name);
  for (let round = 0; round < ROUNDS; round++)
    for (const name of SCENARIOS) if (!SLOW.has(name)) runOne(name);
  const results = new Map<string, Result>();
  for (const name of SCENARIOS) {
    const all = [...runs.get(name)!].sort((a, b) => a.fullSeconds - b.fullSeconds);
    // (the run shown: the middle one; for an even count the slower of the two middle ones)
    results.set(name, all[all.length >> 1]!);
  }
  const spread = (name: string): string =>
    runs.get(name)!.length > 1
      ? runs
          .get(name)!
          .map((r) => fmt(r.fullSeconds, 2))
          .join(' / ')
      : '-';
  const rowsTable = [...results.entries()].map(([name, r]) => ({
    scenario: r.scenario,
    'time (s)': fmt(r.fullSeconds, 2) + (r.rows < ROWS ? ' (extrap.)' : ''),
    'each round (s)': spread(name),
    'rows/s': fmt(r.rows / r.seconds),
    batches: fmt(r.batches),
    'avg bytes/batch / ceiling': r.ceiling ? `${fmt(r.avgBytes)} / ${fmt(r.ceiling)}` : '-',
    'rows verified': fmt(r.verified),
    'client CPU (s)':
      typeof r.clientCpu === 'number' && Number.isFinite(r.clientCpu) ? fmt(r.clientCpu, 2) : '-',
    'client GC (s)': Number.isFinite(r.gcSeconds) ? fmt(r.gcSeconds, 2) : '-',
    'peak RSS (MB)': fmt(r.peakRssMb),
  }));
  console.log(`\n${fmt(ROWS)} seed-shaped statements into PostgreSQL (${new URL(PG_URL).host})\n`);
  console.table(rowsTable);
  // A ratio is taken within each round (both sides measured minutes apart at most) and its median over
  // the rounds reported; a baseline run once is used in every round.
  const ratio = (num: string, den: string): number => {
    const a = runs.get(num)!.map((r) => r.fullSeconds);
    const b = runs.get(den)!.map((r) => r.fullSeconds);
    const n = Math.max(a.length, b.length);
    return median(
      Array.from({ length: n }, (_, i) => a[Math.min(i, a.length - 1)]! / b[Math.min(i, b.length - 1)]!),
    );
  };
  const ratios: [string, number][] = [
    ['batcher vs one-by-one (speed-up, target ≥ 100×)', ratio('one-by-one', 'batcher')],
    ['batcher vs hand-written COPY (time ratio, target ≤ 3×)', ratio('batcher', 'copy')],
    ['batcher copy: true vs hand-written COPY (time ratio, target ≤ 1.5×)', ratio('batcher-copy', 'copy')],
    [
      'batcher copy: true, maxBytes: 8 MB vs hand-written COPY (time ratio)',
      ratio('batcher-copy-8mb', 'copy'),
    ],
    [
      'batcher copy: true, --max-semi-space-size=32 vs hand-written COPY (time ratio)',
      ratio('batcher-copy-s32', 'copy'),
    ],
    ['defaults vs unnest: false (speed-up of the unnest form)', ratio('batcher-text', 'batcher')],
    ['concurrency: 2 vs 1 (speed-up)', ratio('batcher', 'batcher-c2')],
    [
      'batcher copy: true, concurrency: 2 vs hand-written COPY (time ratio)',
      ratio('batcher-copy-c2', 'copy'),
    ],
  ];
  console.table(ratios.map(([what, v]) => ({ ratio: what, value: `${fmt(v, 2)}×` })));
  const chartLabels: Record<string, string> = {
    'one-by-one': 'one-by-one',
    joined: "';'-joined",
    'batcher-text': 'merged, VALUES text (unnest: false)',
    batcher: 'merged (defaults: unnest form)',
    'batcher-c2': 'merged + concurrency 2',
    'batcher-copy': 'COPY fast path',
    'batcher-copy-8mb': 'COPY fast path, maxBytes 8 MB',
    'batcher-copy-s32': 'COPY fast path, --max-semi-space-size=32',
    'batcher-copy-c2': 'COPY fast path + concurrency 2',
    copy: 'hand-written COPY',
  };
  const file = writeBenchResult('postgres', {
    ratios: ratios.map(([what, value]) => ({
      what,
      value,
      note: ROUNDS > 1 ? `median over ${ROUNDS} rounds of the ratio within each round` : 'one round',
    })),
    title: `adapter-postgres: ${fmt(ROWS)} seed-shaped statements into PostgreSQL (rows/s; ratios in the same run)`,
    chart: Object.values(chartLabels),
    rows: [...results.entries()].map(([key, r]) => ({
      method: chartLabels[key] ?? r.scenario,
      rows: r.rows,
      seconds: r.seconds,
      requests: r.batches,
      ...(r.ceiling ? { fillRatio: r.avgBytes / r.ceiling } : {}),
      peakRssMb: r.peakRssMb,
      note:
        r.rows < ROWS
          ? `sampled ${fmt(r.rows)}, full run extrapolated to ${fmt(r.fullSeconds, 0)} s`
          : `${runs.get(key)!.length > 1 ? `median of ${runs.get(key)!.length} rounds (${spread(key)} s); ` : ''}client CPU ${fmt(r.clientCpu, 2)} s, of which GC ${fmt(r.gcSeconds, 2)} s`,
    })),
  });
  console.log(`results written to ${file}`);
}

await main();
