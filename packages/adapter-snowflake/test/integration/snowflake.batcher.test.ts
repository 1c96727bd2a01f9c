/**
 * SQLBatcher + SnowflakeAdapter + real snowflake-sdk against the testkit's Snowflake server: the engine
 * limits the adapter declares are the ones the batcher respects.
 */
import { SQLBatcher } from '@sqlbatcher/core';
import { type SnowflakeTestServer, startSnowflakeServer } from '@sqlbatcher/testkit';
import snowflake from 'snowflake-sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SnowflakeAdapter } from '../../src/index.js';

snowflake.configure({ logLevel: 'OFF' });

let server: SnowflakeTestServer;
let adapter: SnowflakeAdapter;

const ids = async (table: string): Promise<number[]> =>
  (await server.db.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`)).rows.map((r) => r.id);

const queriesSince = (start: number) => server.queries().slice(start);

beforeAll(async () => {
  server = await startSnowflakeServer();
}, 60_000);

afterEach(async () => {
  await adapter?.close();
});

afterAll(async () => {
  await server?.close();
});

const open = (): SnowflakeAdapter => {
  adapter = new SnowflakeAdapter({ accessUrl: server.url, account: 'acme', username: 'u', password: 'p' });
  return adapter;
};

/** Make the test server refuse the run's first COMMIT with HTTP `status` (`times` answers in a row). */
function refuseFirstCommit(a: SnowflakeAdapter, status: number, times: number): void {
  const session = a.session.bind(a);
  let commits = 0;
  a.session = async () => {
    const s = await session();
    const commit = s.commit.bind(s);
    s.commit = async () => {
      if (++commits === 1) server.failNext(times, status);
      return commit();
    };
    return s;
  };
}

describe('SQLBatcher with SnowflakeAdapter', () => {
  it("transaction: 'batch': a COMMIT the server refused leaves nothing open; no row twice, none applied when rejected", async () => {
    for (const onError of ['skip', 'throw'] as const) {
      const a = open();
      const table = `b_commit_${onError}`;
      await server.db.exec(`CREATE TABLE ${table} (id INT)`);
      refuseFirstCommit(a, 400, 2);
      const batcher = new SQLBatcher({
        adapter: a,
        transaction: 'batch',
        onError,
        mergeInserts: false,
        maxBytes: 70,
      });
      const statements = [1, 2, 3, 4, 5, 6].map((i) => `INSERT INTO ${table} (id) VALUES (${i})`);
      const err = await batcher.processStatements(statements).catch((e: unknown) => e);
      await batcher.close().catch(() => undefined);
      // the next job on the same adapter must not commit the refused batch's rows with its own
      const next = new SQLBatcher({ adapter: a, transaction: 'batch' });
      await next.processStatements([`INSERT INTO ${table} (id) VALUES (100)`]);
      await next.close();
      const rejected = batcher.report.rejected.map((r) => r.index);
      if (onError === 'skip') {
        expect(rejected.length).toBeGreaterThan(0);
        const kept = statements.map((_, i) => i + 1).filter((id) => !rejected.includes(id - 1));
        expect(await ids(table)).toEqual([...kept, 100]);
      } else {
        expect(err).toMatchObject({ name: 'BatchExecutionError', inDoubt: false });
        expect(await ids(table)).toEqual([100]);
      }
      await a.close();
    }
  });

  it('never puts more than 16,384 rows in one VALUES list (capabilities.maxRowsPerInsert)', async () => {
    open();
    await server.db.exec('CREATE TABLE b_rows (id INT)');
    const n = 40_000;
    const statements = Array.from({ length: n }, (_, i) => `INSERT INTO b_rows (id) VALUES (${i})`);
    const start = server.queries().length;
    const batcher = new SQLBatcher({ adapter });
    await batcher.processStatements(statements);
    await batcher[Symbol.asyncDispose]();
    const sent = queriesSince(start);
    // ~25 bytes per row: the 1 MB ceiling alone would allow ~40,000 rows per statement
    expect(sent.every((q) => q.status === 200 && q.errorCode === undefined)).toBe(true);
    expect(Math.max(...sent.map((q) => q.maxValuesRows ?? 0))).toBe(16_384);
    expect(batcher.report.rowsAffected).toBe(n);
    expect(await ids('b_rows')).toEqual(statements.map((_, i) => i));
  });

  it('never sends a request over the 1 MB ceiling; every row arrives', async () => {
    open();
    await server.db.exec('CREATE TABLE b_size (id INT, name TEXT, email TEXT)');
    const statements: string[] = [];
    let bytes = 0;
    for (let i = 0; bytes < 3_500_000; i++) {
      const sql = `INSERT INTO b_size (id, name, email) VALUES (${i}, 'Zoë ${'ü'.repeat(i % 50)} ${i}', 'user${i}@example.com')`;
      statements.push(sql);
      bytes += Buffer.byteLength(sql);
    }
    const start = server.queries().length;
    const batcher = new SQLBatcher({ adapter });
    await batcher.processStatements(statements);
    await batcher[Symbol.asyncDispose]();
    const sent = queriesSince(start);
    expect(sent.length).toBeGreaterThan(2);
    expect(Math.max(...sent.map((q) => q.bytes ?? 0))).toBeLessThanOrEqual(1_000_000);
    expect(sent.every((q) => q.errorCode === undefined)).toBe(true);
    expect((await ids('b_size')).length).toBe(statements.length);
  });

  it("refuses savepoints (Snowflake has none) and rolls back a whole failed batch with transaction: 'batch'", async () => {
    open();
    expect(() => new SQLBatcher({ adapter, transaction: 'all', savepoints: true })).toThrow(/savepoint/i);

    await server.db.exec('CREATE TABLE b_tx (id INT)');
    await server.db.exec('CREATE TABLE b_tx_other (id INT)');
    // Two requests: [0, 1] and [2, 3]; statement 3 fails, so statement 2 (same request) is rolled back
    // with it, while the first request stays committed.
    const statements = [
      'INSERT INTO b_tx VALUES (1)',
      'INSERT INTO b_tx_other VALUES (1)',
      'INSERT INTO b_tx VALUES (2)',
      'INSERT INTO b_tx_missing VALUES (3)',
    ];
    const batcher = new SQLBatcher({ adapter, transaction: 'batch', onError: 'skip', maxBytes: 70 });
    await batcher.processStatements(statements);
    await batcher[Symbol.asyncDispose]();
    expect(batcher.report.rejected.map((r) => r.index).sort()).toEqual([2, 3]);
    expect(await ids('b_tx')).toEqual([1]);
    expect(await ids('b_tx_other')).toEqual([1]);
    const sqls = server.queries().map((q) => q.sqlText);
    expect(sqls).toContain('BEGIN');
    expect(sqls).toContain('ROLLBACK');
  });

  it("refuses DDL inside transaction: 'batch' before sending it (Snowflake would commit the transaction)", async () => {
    open();
    await server.db.exec('CREATE TABLE b_ddl (id INT)');
    const start = server.queries().length;
    const batcher = new SQLBatcher({ adapter, transaction: 'batch' });
    const err = (await batcher
      .processStatements(['INSERT INTO b_ddl VALUES (1)', 'CREATE TABLE b_ddl_new (x INT)'])
      .catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(String((err as { cause?: { message?: string } }).cause?.message ?? err.message)).toMatch(
      /commit the open transaction/,
    );
    const sent = queriesSince(start).map((q) => q.sqlText ?? '');
    expect(sent.some((sql) => sql.includes('CREATE TABLE b_ddl_new'))).toBe(false);
    expect(await ids('b_ddl')).toEqual([]);
  });

  it('refuses DDL that is not the first statement of an input string too', async () => {
    open();
    await server.db.exec('CREATE TABLE b_ddl2 (id INT)');
    const start = server.queries().length;
    const batcher = new SQLBatcher({ adapter, transaction: 'all' });
    const err = await batcher
      .processStatements([
        'INSERT INTO b_ddl2 VALUES (1)',
        'INSERT INTO b_ddl2 VALUES (2); CREATE TABLE b_ddl2_new (x INT)',
      ])
      .catch((e: unknown) => e);
    expect(String((err as { cause?: { message?: string } }).cause?.message)).toMatch(
      /commit the open transaction/,
    );
    expect(queriesSince(start).some((q) => (q.sqlText ?? '').includes('CREATE TABLE b_ddl2_new'))).toBe(
      false,
    );
    expect(await ids('b_ddl2')).toEqual([]);
  });

  it('close() during a request waits for it: what it reports matches what the server holds', async () => {
    const a = open();
    await server.db.exec('CREATE TABLE b_close (id INT)');
    let n = 0;
    let closing: Promise<void> | undefined;
    const batcher = new SQLBatcher({
      adapter: a,
      mergeInserts: false,
      maxBytes: 70,
      retry: false,
      plugins: [
        {
          name: 'close-mid-request',
          beforeBatch: () => {
            // the second request is held 2 s by the server; close() comes 0.5 s into it
            if (++n === 2) {
              server.slowNext(1, 2000);
              setTimeout(() => {
                closing = a.close();
              }, 500);
            }
          },
        },
      ],
    });
    const err = (await batcher
      .processStatements([1, 2, 3, 4, 5, 6].map((i) => `INSERT INTO b_close (id) VALUES (${i})`))
      .catch((e: unknown) => e)) as { statementIndices?: number[]; inDoubt?: boolean };
    await closing;
    const present = await ids('b_close');
    // the failure names only statements that are not in the table (or says it is in doubt)
    expect(err).toBeDefined();
    if (!err.inDoubt) for (const i of err.statementIndices ?? []) expect(present).not.toContain(i + 1);
    expect(present).toEqual(
      present.length === 0 ? [] : Array.from({ length: present.length }, (_, i) => i + 1),
    );
  });

  it("rolls back every request of the run with transaction: 'all' when one fails", async () => {
    open();
    await server.db.exec('CREATE TABLE b_all (id INT)');
    const statements = [
      ...Array.from({ length: 50 }, (_, i) => `INSERT INTO b_all VALUES (${i})`),
      'UPDATE b_all_missing SET id = 0',
    ];
    const start = server.queries().length;
    const batcher = new SQLBatcher({ adapter, transaction: 'all', maxBytes: 60 });
    const err = (await batcher.processStatements(statements).catch((e: unknown) => e)) as { name: string };
    expect(err.name).toBe('BatchExecutionError');
    const sqls = queriesSince(start).map((q) => q.sqlText);
    expect(sqls.filter((q) => q === 'BEGIN')).toHaveLength(1);
    expect(sqls.at(-1)).toBe('ROLLBACK');
    expect(sqls.length).toBeGreaterThan(4);
    expect(await ids('b_all')).toEqual([]);
  });

  it('runs concurrent requests on one connection and delivers every row once', async () => {
    open();
    await server.db.exec('CREATE TABLE b_conc (id INT, pad TEXT)');
    const n = 3_000;
    const statements = Array.from(
      { length: n },
      (_, i) => `INSERT INTO b_conc VALUES (${i}, '${'p'.repeat(100)}')`,
    );
    const batcher = new SQLBatcher({ adapter, concurrency: 4, maxBytes: 20_000 });
    await batcher.processStatements(statements);
    await batcher[Symbol.asyncDispose]();
    expect(batcher.report.requests).toBeGreaterThan(10);
    expect(await ids('b_conc')).toEqual(statements.map((_, i) => i));
  });

  it('retries a request that timed out and was cancelled before it ran; every row arrives once', async () => {
    open();
    await server.db.exec('CREATE TABLE b_timeout (id INT)');
    server.slowNext(1, 5_000);
    const statements = Array.from({ length: 100 }, (_, i) => `INSERT INTO b_timeout VALUES (${i})`);
    const batcher = new SQLBatcher({ adapter, timeoutMs: 300, retry: { maxAttempts: 3, initialDelayMs: 1 } });
    await batcher.processStatements(statements);
    await batcher[Symbol.asyncDispose]();
    expect(batcher.report.retries).toBe(1);
    expect(await ids('b_timeout')).toEqual(statements.map((_, i) => i));
  });

  it('reports a failed multi-statement request outside a transaction as partly applied, never re-sent whole', async () => {
    open();
    await server.db.exec('CREATE TABLE b_doubt (id INT)');
    const statements = [
      'INSERT INTO b_doubt VALUES (1)',
      'UPDATE b_doubt SET id = 10 WHERE id = 1',
      'INSERT INTO b_doubt_missing VALUES (2)',
    ];
    const batcher = new SQLBatcher({ adapter, retry: { maxAttempts: 3, initialDelayMs: 1 } });
    const start = server.queries().length;
    const err = (await batcher.processStatements(statements).catch((e: unknown) => e)) as {
      name: string;
      inDoubt: boolean;
      message: string;
      failedStatementIndex: number;
    };
    expect(err.name).toBe('BatchExecutionError');
    // Snowflake says which statement failed: the ones before it ran, the ones after it did not.
    expect(err.inDoubt).toBe(false);
    expect(err.failedStatementIndex).toBe(2);
    expect(err.message).toMatch(/statements #0…#1 before it were applied/);
    // not retried: a second attempt would run the INSERT again
    expect(queriesSince(start)).toHaveLength(1);
    expect(await ids('b_doubt')).toEqual([10]);
  });
  it("onError 'isolate' keeps what ran, rejects only the bad statements and resends only what never ran", async () => {
    open();
    await server.db.exec('CREATE TABLE b_iso (id INT PRIMARY KEY, v TEXT)');
    // Barriers split the stream into several statements per request; ids 3 and 21 come twice.
    const statements: string[] = [];
    for (let i = 0; i < 30; i++) {
      statements.push(`INSERT INTO b_iso (id, v) VALUES (${i === 12 ? 3 : i === 25 ? 21 : i}, 'v${i}')`);
      if (i % 6 === 5) statements.push(`UPDATE b_iso SET v = v || '+' WHERE id = ${i}`);
    }
    const batcher = new SQLBatcher({ adapter, onError: 'isolate' });
    await batcher.processStatements(statements);
    expect(batcher.report.rejected.map((r) => r.sql)).toEqual([
      "INSERT INTO b_iso (id, v) VALUES (3, 'v12')",
      "INSERT INTO b_iso (id, v) VALUES (21, 'v25')",
    ]);
    expect(batcher.report.inDoubt).toEqual([]);
    expect(await ids('b_iso')).toEqual(
      Array.from({ length: 30 }, (_, i) => i).filter((i) => i !== 12 && i !== 25),
    );
    const plus = await server.db.query<{ v: string }>("SELECT v FROM b_iso WHERE v LIKE '%+%' ORDER BY id");
    // every UPDATE ran exactly once although requests were resumed after failures
    expect(plus.rows.map((r) => r.v)).toEqual(['v5+', 'v11+', 'v17+', 'v23+', 'v29+']);
  });
});

describe('a transaction the input opened and left open (found in review)', () => {
  it('is rolled back when the session is released: the next run on the connection commits its own rows', async () => {
    const a = open();
    await a.execute('CREATE TABLE t_left_open (id INT)');
    {
      await using b1 = new SQLBatcher({ adapter: a });
      await b1.processStatements(['BEGIN', 'INSERT INTO t_left_open VALUES (1)']);
    }
    {
      await using b2 = new SQLBatcher({ adapter: a });
      await b2.processStatements([
        'INSERT INTO t_left_open VALUES (2)',
        'INSERT INTO t_left_open VALUES (3)',
      ]);
    }
    // (seen from outside the adapter's connections: committed)
    expect(await ids('t_left_open')).toEqual([2, 3]);
    await a.close();
    expect(await ids('t_left_open')).toEqual([2, 3]);
  });
  it("on the caller's own connection too, also after a SET (the session is then released as broken)", async () => {
    const conn = snowflake.createConnection({
      accessUrl: server.url,
      account: 'acme',
      username: 'u',
      password: 'p',
    });
    await conn.connectAsync();
    const a = new SnowflakeAdapter({ connection: conn });
    await a.execute('CREATE TABLE t_left_open_ext (id INT)');
    {
      await using b1 = new SQLBatcher({ adapter: a });
      await b1.processStatements([
        'ALTER SESSION SET MULTI_STATEMENT_COUNT = 0',
        'BEGIN',
        'INSERT INTO t_left_open_ext VALUES (1)',
      ]);
    }
    {
      await using b2 = new SQLBatcher({ adapter: a });
      await b2.processStatements([
        'INSERT INTO t_left_open_ext VALUES (2)',
        'INSERT INTO t_left_open_ext VALUES (3)',
      ]);
    }
    // (was [1, 2, 3]: the abandoned transaction's row was committed by the next run)
    expect(await ids('t_left_open_ext')).toEqual([2, 3]);
    await a.close();
    await new Promise<void>((r) => conn.destroy(() => r()));
  });
});
