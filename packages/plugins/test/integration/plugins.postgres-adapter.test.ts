/**
 * The plugins with @sqlbatcher/adapter-postgres, in `transaction: 'batch'` mode. With PG_URL set (CI)
 * against that server; otherwise against in-process PGlite through the adapter's `pglite` option.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PostgreSQLAdapter } from '@sqlbatcher/adapter-postgres';
import { type Plugin, SQLBatcher } from '@sqlbatcher/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterWriter, MetricsCollector, type QueryLogEntry, QueryLogger } from '../../src/index.js';

const PG_URL = process.env.PG_URL;
if (!PG_URL) console.info('[plugins tests] PG_URL is not set: PostgreSQLAdapter runs on in-process PGlite');

const table = `sb_plugins_${process.pid}_${Date.now().toString(36)}`;
let pglite: PGlite | undefined;
let adapter: PostgreSQLAdapter;
let dir: string;

beforeAll(async () => {
  if (PG_URL) adapter = new PostgreSQLAdapter({ connectionString: PG_URL, maxSize: 2 });
  else {
    pglite = await PGlite.create();
    adapter = new PostgreSQLAdapter({ pglite });
  }
  await adapter.execute(`CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL)`);
  dir = await mkdtemp(join(tmpdir(), 'sqlbatcher-pg-'));
}, 60_000);
afterAll(async () => {
  await adapter?.execute(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
  await adapter?.close();
  await pglite?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('plugins with PostgreSQLAdapter', () => {
  it('hook order, metrics, logging and dead letters agree with the table', async () => {
    const calls: string[] = [];
    const order: Plugin = {
      name: 'order',
      init: () => void calls.push('init'),
      beforeBatch: () => void calls.push('before'),
      afterBatch: (_b, o) => void calls.push(o.success ? 'after:ok' : 'after:failed'),
      onError: () => void calls.push('onError'),
      onRejected: (r) => void calls.push(`rejected:${r.map((x) => x.index).join(',')}`),
      cleanup: () => void calls.push('cleanup'),
    };
    const metrics = new MetricsCollector();
    const entries: QueryLogEntry[] = [];
    const path = join(dir, 'rejected.sql');
    const dlq = new DeadLetterWriter({ path });
    const statements = Array.from(
      { length: 600 },
      (_, i) => `INSERT INTO ${table} (id, name) VALUES (${i}, 'n${i}')`,
    );
    statements[123] = `INSERT INTO ${table} (id, name) VALUES (123, NULL)`; // NOT NULL violation
    {
      await using batcher = new SQLBatcher({
        adapter,
        transaction: 'batch',
        onError: 'isolate',
        maxBytes: 8_000,
        plugins: [order, metrics, new QueryLogger({ sink: (e) => void entries.push(e) }), dlq],
      });
      await batcher.processStatements(statements);
    }
    const n = (await adapter.execute(`SELECT count(*)::int AS n FROM ${table}`)).rows?.[0] as { n: number };
    expect(n.n).toBe(599);

    expect(calls[0]).toBe('init');
    expect(calls.at(-1)).toBe('cleanup');
    const firstFailure = calls.indexOf('after:failed');
    expect(calls.slice(firstFailure - 1, firstFailure + 2)).toEqual(['before', 'after:failed', 'onError']);
    expect(calls).toContain('rejected:123');

    const m = metrics.getMetrics();
    expect(m.totals.rejectedStatements).toBe(1);
    expect(m.totals.failedRequests).toBe(calls.filter((c) => c === 'after:failed').length);
    expect(m.byTable[table]?.failedStatements).toBeGreaterThan(0);
    expect(m.byKind.INSERT?.requests).toBe(m.totals.requests);
    expect(entries.filter((e) => e.event === 'batch')).toHaveLength(m.totals.requests);
    expect(entries.find((e) => e.event === 'rejected')).toMatchObject({
      statementIndex: 123,
      error: { code: '23502' },
    });

    const text = await readFile(path, 'utf8');
    expect(text).toContain('-- statement #123 failed: ');
    expect(text).toContain(`INSERT INTO ${table} (id, name) VALUES (123, NULL);`);
    // Fix the cause, then run the file as it is.
    await adapter.execute(`ALTER TABLE ${table} ALTER COLUMN name DROP NOT NULL`);
    await adapter.execute(text);
    const fixed = (await adapter.execute(`SELECT count(*)::int AS n FROM ${table}`)).rows?.[0] as {
      n: number;
    };
    expect(fixed.n).toBe(600);
  }, 60_000);
});
