/**
 * QueryCollector against real runs of the batcher: GenericAdapter over in-process PGlite, and
 * @sqlbatcher/adapter-postgres (against the server at PG_URL when set, as in CI, else on the same
 * PGlite). Every statistic is checked against what the database saw (row counts in the table) and
 * against the requests counted by a wrapper around the execute function. One PGlite per file: it
 * takes seconds to start.
 */
import { PGlite } from '@electric-sql/pglite';
import { PostgreSQLAdapter } from '@sqlbatcher/adapter-postgres';
import { type ExecuteOptions, GenericAdapter, SQLBatcher, splitStatements } from '@sqlbatcher/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { formatStatsTable, QueryCollector, suggestMaxBytes, toPrometheus } from '../../src/index.js';

let db: PGlite;
/** SQL text of every request that reached PGlite. */
let sent: string[] = [];

beforeAll(async () => {
  db = await PGlite.create();
}, 60_000);
afterAll(async () => {
  await db?.close();
});
beforeEach(async () => {
  sent = [];
  await db.exec('DROP TABLE IF EXISTS users; CREATE TABLE users (id int PRIMARY KEY, name text, email text)');
});

function adapter(): GenericAdapter {
  return new GenericAdapter({
    name: 'pglite',
    dialect: 'postgres',
    capabilities: { multiStatement: true, atomicMultiStatement: true, maxConcurrency: 1 },
    execute: async (sql: string) => {
      sent.push(sql);
      const results = await db.exec(sql);
      // PGlite's exec reports affectedRows cumulatively over the statements: the last one is the total.
      return { rowCount: results.at(-1)?.affectedRows ?? 0 };
    },
  });
}

function users(from: number, to: number): string[] {
  const out: string[] = [];
  for (let i = from; i < to; i++) {
    out.push(`INSERT INTO users (id, name, email) VALUES (${i}, 'User ${i}', 'user${i}@example.com')`);
  }
  return out;
}

async function countRows(): Promise<number> {
  const r = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
  return r.rows[0]?.n ?? -1;
}

describe('QueryCollector on a real batcher run (PGlite)', () => {
  it('counts exactly the requests the database received and the rows it stored', async () => {
    const a = adapter();
    const batcher = new SQLBatcher({ adapter: a, maxBytes: 20_000 });
    const collector = new QueryCollector();
    const statements = [
      ...users(0, 2000),
      "UPDATE users SET name = 'renamed' WHERE id < 10",
      ...users(2000, 3000),
    ];
    const n = await batcher.processStatements(statements, a.execute, collector);
    await batcher.close();

    expect(n).toBe(3001);
    const stats = collector.getStats();
    expect(await countRows()).toBe(3000);
    expect(stats.count).toBe(sent.length);
    expect(sent.length).toBeGreaterThan(5);
    expect(collector.getQueries().map((q) => q.sql)).toEqual(sent);
    expect(stats.totalBytes).toBe(sent.reduce((s, q) => s + Buffer.byteLength(q), 0));
    expect(stats.largestQueryBytes).toBeLessThanOrEqual(20_000);
    expect(stats.statementsIn).toBe(3001);
    // Statements after merging: what the database was actually sent, counted from the requests.
    expect(stats.statementsOut).toBe(sent.reduce((n, q) => n + splitStatements(q).length, 0));
    expect(stats.statementsOut).toBeLessThan(10);
    expect(stats.avgBatchSize).toBeCloseTo(3001 / sent.length);
    expect(stats.rowsSent).toBe(3000);
    expect(stats.rowsAffected).toBe(3000 + 10);
    expect(stats.successRate).toBe(1);
    expect(stats.failureCount).toBe(0);
    expect(stats.totalTimeMs).toBeGreaterThan(0);
    expect(stats.p50QueryTimeMs).toBeLessThanOrEqual(stats.p99QueryTimeMs);
    expect(formatStatsTable(stats)).toMatch(new RegExp(`^Total Queries: +${sent.length}$`, 'm'));
    expect(toPrometheus(collector)).toContain(`sqlbatcher_requests_total{status="success"} ${sent.length}\n`);
  }, 60_000);

  it('records the failed request with the engine error code and message', async () => {
    const a = adapter();
    const batcher = new SQLBatcher({ adapter: a, maxBytes: 5_000 });
    const collector = new QueryCollector();
    const statements = [...users(0, 100), "INSERT INTO users (id, name, email) VALUES (5, 'dup', 'd')"];
    await expect(batcher.processStatements(statements, a.execute, collector)).rejects.toMatchObject({
      name: 'BatchExecutionError',
    });
    await batcher.close();
    const stats = collector.getStats();
    expect(stats.count).toBe(sent.length);
    expect(stats.failureCount).toBe(1);
    expect(stats.errorsByCode).toEqual({ '23505': 1 });
    const [failed] = collector.getFailedQueries();
    expect(failed?.error?.message).toMatch(/duplicate key/);
    expect(failed?.sql).toBe(sent.at(-1));
    // The failed request was rolled back as a whole: stored rows are those of the successful requests.
    const succeededRows = collector
      .getQueries()
      .filter((q) => q.success)
      .reduce((s, q) => s + q.rowsSent, 0);
    expect(await countRows()).toBe(succeededRows);
  }, 60_000);

  it("under onError 'isolate', successful records account for every stored row", async () => {
    const a = new GenericAdapter({
      name: 'pglite',
      dialect: 'postgres',
      capabilities: { multiStatement: true, atomicMultiStatement: true, maxConcurrency: 1 },
      // A failed PGlite request ran in one implicit transaction and left nothing behind.
      classifyError: () => ({ transient: false, effect: 'rolled-back' }),
      execute: async (sql: string) => {
        sent.push(sql);
        const results = await db.exec(sql);
        return { rowCount: results.at(-1)?.affectedRows ?? 0 };
      },
    });
    await db.exec("INSERT INTO users VALUES (17, 'old', 'x'), (600, 'old', 'x'), (1234, 'old', 'x')");
    const batcher = new SQLBatcher({ adapter: a, maxBytes: 8_000, onError: 'isolate' });
    const collector = new QueryCollector();
    await batcher.processStatements(users(0, 1500), a.execute, collector);
    await batcher.close();

    const stats = collector.getStats();
    const queries = collector.getQueries();
    expect(stats.count).toBe(sent.length);
    expect(queries.map((q) => q.sql)).toEqual(sent);
    expect(stats.statementsIn).toBe(1500);
    expect(stats.failureCount).toBeGreaterThanOrEqual(3);
    expect(stats.errorsByCode['23505']).toBe(stats.failureCount);
    const storedBySuccess = queries.filter((q) => q.success).reduce((s, q) => s + q.rowsSent, 0);
    expect(storedBySuccess).toBe(1500 - 3);
    expect(stats.rowsAffected).toBe(1500 - 3);
    expect(await countRows()).toBe(1500);
  }, 60_000);

  it('counts what a request that failed part-way applied (non-atomic engine)', async () => {
    // Like Snowflake: statement by statement, each applied; the first failure stops the request and
    // says where, with the rows affected so far.
    const a = new GenericAdapter({
      name: 'stepwise',
      dialect: 'postgres',
      capabilities: { multiStatement: true, atomicMultiStatement: false },
      execute: async (sql: string, opts?: ExecuteOptions) => {
        sent.push(sql);
        let rows = 0;
        const statements = opts?.batch?.statements ?? [];
        for (let i = 0; i < statements.length; i++) {
          try {
            rows += (await db.exec(statements[i]?.sql as string)).at(-1)?.affectedRows ?? 0;
          } catch (err) {
            throw Object.assign(err as Error, { position: i, rows });
          }
        }
        return { rowCount: rows };
      },
      classifyError: (err) => {
        const e = err as { position: number; rows: number };
        return { transient: false, effect: 'partial', statementPosition: e.position, rowsAffected: e.rows };
      },
    });
    const collector = new QueryCollector();
    const batcher = new SQLBatcher({ adapter: a, onError: 'skip', mergeInserts: false, collector });
    // #5 repeats id 0: the first request applies #0–#4 and stops; #6–#9 are sent again.
    const statements = users(0, 10).map((s, i) => (i === 5 ? s.replace('VALUES (5,', 'VALUES (0,') : s));
    await batcher.processStatements(statements);
    await batcher.close();
    expect(await countRows()).toBe(9);
    const stats = collector.getStats();
    expect([stats.count, stats.successCount, stats.statementsIn]).toEqual([2, 1, 10]);
    expect(stats.rowsAffected).toBe(9);
    const [failed, resent] = collector.getQueries();
    expect(failed).toMatchObject({ success: false, rows: 5, appliedStatements: 5, notExecutedStatements: 4 });
    expect(resent).toMatchObject({ success: true, rows: 4, batchSize: 4 });
    expect(resent?.appliedStatements).toBeUndefined();
  });

  it('collects a dry run whose script, run later, gives the same table', async () => {
    const a = adapter();
    const batcher = new SQLBatcher({ adapter: a, maxBytes: 10_000, dryRun: true });
    const collector = new QueryCollector({ dryRun: true });
    await batcher.processStatements(users(0, 500), undefined, collector);
    await batcher.close();
    expect(sent).toEqual([]);
    expect(await countRows()).toBe(0);
    const stats = collector.getStats();
    expect(stats.dryRunCount).toBe(stats.count);
    expect(stats.rowsSent).toBe(500);
    await db.exec(collector.toScript());
    expect(await countRows()).toBe(500);
  }, 60_000);

  it('sees the column factor the batcher applied with autoAdjustForColumns', async () => {
    const a = adapter();
    const batcher = new SQLBatcher({
      adapter: a,
      maxBytes: 10_000,
      autoAdjustForColumns: true,
      referenceColumnCount: 10,
    });
    const collector = new QueryCollector({ referenceColumnCount: 10 });
    await batcher.processStatements(users(0, 2000), a.execute, collector);
    await batcher.close();
    const stats = collector.getStats();
    expect(await countRows()).toBe(2000);
    expect(stats.avgColumns).toBe(3);
    // 10 / 3 columns, clamped to 2: requests grow past maxBytes up to twice it.
    expect(stats.columnAdjustmentFactor).toBe(2);
    expect(stats.largestQueryBytes).toBeGreaterThan(10_000);
    expect(stats.largestQueryBytes).toBeLessThanOrEqual(20_000);
  }, 60_000);

  it("runs the seed's optimize_batch_size loop: stats feed setBatchSize", async () => {
    const a = adapter();
    let maxBytes = 40_000;
    const batcher = new SQLBatcher({ adapter: a, maxBytes });
    const collector = new QueryCollector();
    // A target no request can meet, so every round shrinks the limit; each round's requests obey it.
    for (let chunk = 0; chunk < 4; chunk++) {
      const before = collector.getQueries().length;
      await batcher.processStatements(users(chunk * 500, (chunk + 1) * 500), a.execute, collector);
      const round = collector.getQueries().slice(before);
      expect(Math.max(...round.map((q) => q.bytes))).toBeLessThanOrEqual(maxBytes);
      const next = suggestMaxBytes(collector.getStats(), { currentMaxBytes: maxBytes, targetQueryTimeMs: 0 });
      expect(next).toBeLessThan(maxBytes);
      batcher.setBatchSize(next);
      maxBytes = next;
    }
    await batcher.close();
    expect(await countRows()).toBe(2000);
    expect(collector.getStats().rowsSent).toBe(2000);
  }, 60_000);
});

const PG_URL = process.env.PG_URL;
if (!PG_URL) console.info('[collector tests] PG_URL is not set: PostgreSQLAdapter runs on in-process PGlite');

describe('QueryCollector with PostgreSQLAdapter', () => {
  const table = `sb_collector_${process.pid}_${Date.now().toString(36)}`;
  let adapter: PostgreSQLAdapter;
  beforeAll(async () => {
    adapter = PG_URL
      ? new PostgreSQLAdapter({ connectionString: PG_URL, maxSize: 2 })
      : new PostgreSQLAdapter({ pglite: db });
    await adapter.execute(`CREATE TABLE ${table} (id int PRIMARY KEY, name text, email text)`);
  }, 60_000);
  afterAll(async () => {
    await adapter?.execute(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await adapter?.close();
  });
  const rows = async (): Promise<number> => {
    const r = await adapter.execute(`SELECT count(*)::int AS n FROM ${table}`);
    return (r.rows?.[0] as { n: number } | undefined)?.n ?? -1;
  };

  it('matches the requests sent and the rows stored, failures included', async () => {
    const sent: string[] = [];
    const counting = (sql: string, options?: ExecuteOptions) => {
      sent.push(sql);
      return adapter.execute(sql, options);
    };
    const statements = Array.from(
      { length: 4000 },
      (_, i) => `INSERT INTO ${table} (id, name, email) VALUES (${i}, 'User ${i}', 'user${i}@example.com')`,
    );
    statements.splice(2500, 0, `INSERT INTO ${table} (id, name, email) VALUES (10, 'dup', 'dup')`);
    const batcher = new SQLBatcher({ adapter, maxBytes: 30_000, onError: 'isolate' });
    const collector = new QueryCollector();
    await batcher.processStatements(statements, counting, collector);
    await batcher.close();

    const stats = collector.getStats();
    expect(stats.count).toBe(sent.length);
    expect(collector.getQueries().map((q) => q.sql)).toEqual(sent);
    expect(stats.statementsIn).toBe(4001);
    expect(await rows()).toBe(4000);
    const storedBySuccess = collector
      .getQueries()
      .filter((q) => q.success)
      .reduce((s, q) => s + q.rowsSent, 0);
    expect(storedBySuccess).toBe(4000);
    expect(stats.rowsAffected).toBe(4000);
    expect(stats.errorsByCode['23505']).toBe(stats.failureCount);
    expect(stats.failureCount).toBeGreaterThan(0);
    expect(stats.largestQueryBytes).toBeLessThanOrEqual(30_000);
  }, 60_000);
});
