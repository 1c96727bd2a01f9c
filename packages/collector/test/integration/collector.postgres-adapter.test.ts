/**
 * QueryCollector with @sqlbatcher/adapter-postgres. With PG_URL set (CI) it runs against that server;
 * otherwise against in-process PGlite through the adapter's `pglite` option (printed below). The
 * statistics are checked against the table and against a wrapper counting the adapter's requests.
 */
import { PGlite } from '@electric-sql/pglite';
import { PostgreSQLAdapter } from '@sqlbatcher/adapter-postgres';
import { type ExecuteOptions, SQLBatcher } from '@sqlbatcher/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueryCollector } from '../../src/index.js';

const PG_URL = process.env.PG_URL;
if (!PG_URL) console.info('[collector tests] PG_URL is not set: PostgreSQLAdapter runs on in-process PGlite');

const table = `sb_collector_${process.pid}_${Date.now().toString(36)}`;
let pglite: PGlite | undefined;
let adapter: PostgreSQLAdapter;

beforeAll(async () => {
  if (PG_URL) adapter = new PostgreSQLAdapter({ connectionString: PG_URL, maxSize: 2 });
  else {
    pglite = await PGlite.create();
    adapter = new PostgreSQLAdapter({ pglite });
  }
  await adapter.execute(`CREATE TABLE ${table} (id int PRIMARY KEY, name text, email text)`);
}, 60_000);
afterAll(async () => {
  await adapter?.execute(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
  await adapter?.close();
  await pglite?.close();
});

async function rows(): Promise<number> {
  const r = await adapter.execute(`SELECT count(*)::int AS n FROM ${table}`);
  return (r.rows?.[0] as { n: number } | undefined)?.n ?? -1;
}

describe('QueryCollector with PostgreSQLAdapter', () => {
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
