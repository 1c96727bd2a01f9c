/**
 * SnowflakeAdapter with the real snowflake-sdk against the testkit's Snowflake server.
 */
import { type BatchInfo, type ExecuteOptions, SQLBatcher } from '@sqlbatcher/core';
import { type SnowflakeTestServer, startSnowflakeServer } from '@sqlbatcher/testkit';
import snowflake from 'snowflake-sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SnowflakeAdapter, SnowflakeError } from '../../src/index.js';

snowflake.configure({ logLevel: 'OFF' });

const PASSWORD = 'p4ssw0rd-secret';

let server: SnowflakeTestServer;
const adapters: SnowflakeAdapter[] = [];

const open = (extra: Partial<ConstructorParameters<typeof SnowflakeAdapter>[0]> = {}): SnowflakeAdapter => {
  const adapter = new SnowflakeAdapter({
    accessUrl: server.url,
    account: 'testaccount',
    username: 'loader',
    password: PASSWORD,
    warehouse: 'WH',
    database: 'DB',
    schema: 'PUBLIC',
    ...extra,
  });
  adapters.push(adapter);
  return adapter;
};

/** Batch info as the batcher passes it, for statement positions in multi-statement failures. */
const batchOf = (statements: string[]): ExecuteOptions => {
  const sql = statements.join(';\n');
  const batch: BatchInfo = {
    id: 0,
    sql,
    bytes: Buffer.byteLength(sql),
    statements: statements.map((s, i) => ({ sql: s, indices: [i] })),
    inputCount: statements.length,
    rowCount: 0,
  };
  return { batch };
};

const count = async (table: string): Promise<number> => {
  const res = await server.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return res.rows[0]?.n ?? -1;
};

beforeAll(async () => {
  // PGlite's start-up (WASM) takes seconds on a busy CI machine
  server = await startSnowflakeServer({ credentials: { username: 'loader', password: PASSWORD } });
}, 60_000);

afterEach(async () => {
  await Promise.all(adapters.splice(0).map((a) => a.close()));
});

afterAll(async () => {
  await server?.close();
});

describe('SnowflakeAdapter with snowflake-sdk', () => {
  it('logs in and executes, reporting affected rows', async () => {
    const adapter = open();
    await adapter.execute('CREATE TABLE t_basic (id INT, name VARCHAR)');
    const res = await adapter.execute("INSERT INTO t_basic (id, name) VALUES (1, 'a'), (2, 'b')");
    expect(res.rowCount).toBe(2);
    const login = server.requests.find((r) => r.path === '/session/v1/login-request');
    expect(login?.status).toBe(200);
    const sel = await adapter.execute('SELECT id, name FROM t_basic ORDER BY id');
    expect(sel.rows).toEqual([
      { ID: 1, NAME: 'a' },
      { ID: 2, NAME: 'b' },
    ]);
  });

  it('works detached', async () => {
    const { execute } = open();
    const res = await execute('SELECT 41 + 1 AS answer');
    expect(res.rows).toEqual([{ ANSWER: 42 }]);
  });

  it('sends a batch as one multi-statement request and sums rows of every statement', async () => {
    const adapter = open();
    await adapter.execute('CREATE TABLE t_multi (id INT)');
    const before = server.queries().length;
    const res = await adapter.execute(
      'INSERT INTO t_multi VALUES (1); INSERT INTO t_multi VALUES (2), (3); UPDATE t_multi SET id = id + 10 WHERE id > 1',
    );
    expect(res.rowCount).toBe(1 + 2 + 2);
    const sent = server.queries().slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.statementCount).toBe(3);
    expect(sent[0]?.multiStatementCount).toBe(0);
    expect(await count('t_multi')).toBe(3);
  });

  it('surfaces engine errors with code and SQLSTATE, and classifies a failed single statement as rolled back', async () => {
    const adapter = open();
    const err = await adapter.execute('INSERT INTO no_such_table VALUES (1)').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnowflakeError);
    const e = err as SnowflakeError;
    expect(e.code).toBe('002003');
    expect(e.sqlState).toBe('42S02');
    expect(e.kind).toBe('sql');
    expect(adapter.classifyError(e)).toEqual({
      transient: false,
      effect: 'rolled-back',
      statementPosition: 0,
    });
  });

  it('names the failing statement of a multi-statement request; the ones before it stay committed', async () => {
    const adapter = open();
    await adapter.execute('CREATE TABLE t_partial (id INT)');
    const stmts = [
      'INSERT INTO t_partial VALUES (1)',
      'INSERT INTO t_partial VALUES (2)',
      'INSERT INTO missing VALUES (3)',
    ];
    const opts = batchOf(stmts);
    const err = (await adapter.execute(opts.batch!.sql, opts).catch((e: unknown) => e)) as SnowflakeError;
    expect(err).toBeInstanceOf(SnowflakeError);
    expect(err.statementPosition).toBe(2);
    expect(err.message).toContain('does not exist');
    // Statements 0 and 1 autocommitted: a retry would insert them twice.
    expect(adapter.classifyError(err)).toEqual({ transient: false, effect: 'partial', statementPosition: 2 });
    expect(await count('t_partial')).toBe(2);

    // without the batcher's statement list, the adapter splits the text itself (';' in a literal)
    const plain = (await adapter
      .execute("INSERT INTO t_partial VALUES (3); SELECT ';'; INSERT INTO missing VALUES (4)")
      .catch((e: unknown) => e)) as SnowflakeError;
    expect(plain.statementPosition).toBe(2);
    expect(plain.statementCount).toBe(3);
    expect(await count('t_partial')).toBe(3);
  });

  it('refuses several statements without MULTI_STATEMENT_COUNT (real SDK, Snowflake error 000008)', async () => {
    const conn = snowflake.createConnection({
      accessUrl: server.url,
      account: 'x',
      username: 'loader',
      password: PASSWORD,
    });
    await conn.connectAsync();
    const err = await new Promise<Error & { code?: string; sqlState?: string }>((resolve) => {
      conn.execute({ sqlText: 'SELECT 1; SELECT 2', complete: (e) => resolve(e as never) });
    });
    expect(err.code).toBe('000008');
    expect(err.sqlState).toBe('0A000');
    expect(err.message).toBe('Actual statement count 2 did not match the desired statement count 1.');
    await new Promise((r) => conn.destroy(r));
  });

  it('commits and rolls back on a session; a failed statement leaves the transaction open', async () => {
    const adapter = open();
    await adapter.execute('CREATE TABLE t_tx (id INT)');
    const s = await adapter.session();
    await s.begin();
    await s.execute('INSERT INTO t_tx VALUES (1)');
    await s.rollback();
    expect(await count('t_tx')).toBe(0);

    await s.begin();
    await s.execute('INSERT INTO t_tx VALUES (2)');
    await expect(s.execute('INSERT INTO missing_tx VALUES (0)')).rejects.toMatchObject({ code: '002003' });
    await s.execute('INSERT INTO t_tx VALUES (3)');
    await s.commit();
    await s.release();
    const rows = await server.db.query<{ id: number }>('SELECT id FROM t_tx ORDER BY id');
    expect(rows.rows.map((r) => r.id)).toEqual([2, 3]);
  });

  it('rolls back an open transaction when a session is released without commit', async () => {
    const adapter = open();
    await adapter.execute('CREATE TABLE t_release (id INT)');
    const s = await adapter.session();
    await s.begin();
    await s.execute('INSERT INTO t_release VALUES (1)');
    await s.release();
    expect(await count('t_release')).toBe(0);
    // the pooled connection is clean: the next session starts outside a transaction
    const s2 = await adapter.session();
    await s2.execute('INSERT INTO t_release VALUES (2)');
    await s2.release();
    expect(await count('t_release')).toBe(1);
  });

  it('declares no savepoints, and the server rejects SAVEPOINT like Snowflake', async () => {
    const adapter = open();
    expect(adapter.capabilities.savepoints).toBe(false);
    const s = await adapter.session();
    expect(s.savepoint).toBeUndefined();
    await s.begin();
    const err = (await s.execute('SAVEPOINT sp1').catch((e: unknown) => e)) as SnowflakeError;
    expect(err.code).toBe('001003');
    expect(err.sqlState).toBe('42000');
    expect(err.message).toContain("unexpected 'SAVEPOINT'");
    await s.rollback();
    await s.release();
  });

  it('declares the engine limits and the server enforces them', async () => {
    const adapter = open();
    expect(adapter.capabilities).toMatchObject({
      maxQuerySize: 1_000_000,
      multiStatement: true,
      atomicMultiStatement: false,
      transactions: true,
      savepoints: false,
      maxRowsPerInsert: 16_384,
      dialect: 'snowflake',
    });
    await adapter.execute('CREATE TABLE t_cap (id INT)');
    const rows = (n: number) => Array.from({ length: n }, (_, i) => `(${i})`).join(',');
    await expect(adapter.execute(`INSERT INTO t_cap VALUES ${rows(16_384)}`)).resolves.toMatchObject({
      rowCount: 16_384,
    });
    const tooMany = (await adapter
      .execute(`INSERT INTO t_cap VALUES ${rows(16_385)}`)
      .catch((e) => e)) as SnowflakeError;
    expect(tooMany.code).toBe('001795');
    expect(tooMany.message).toContain('expected at most 16,384, got 16,385');

    const big = `SELECT '${'x'.repeat(1_000_001)}'`;
    const tooBig = (await adapter.execute(big).catch((e) => e)) as SnowflakeError;
    expect(tooBig).toBeInstanceOf(SnowflakeError);
    expect(tooBig.kind).toBe('sql');
    expect(await count('t_cap')).toBe(16_384);
  });

  it('never puts the password into errors', async () => {
    const adapter = open({ password: 'wrong-password-value' });
    const err = (await adapter.execute('SELECT 1').catch((e: unknown) => e)) as SnowflakeError;
    expect(err).toBeInstanceOf(SnowflakeError);
    expect(err.kind).toBe('login');
    expect(err.code).toBe('390100');
    const dump = `${err.message} ${err.stack} ${JSON.stringify(err)} ${String((err.cause as Error)?.stack)}`;
    expect(dump).not.toContain('wrong-password-value');
    expect(adapter.classifyError(err).effect).toBe('none');
  });

  it('is safe when a response is lost after execution: the SDK retries with the same request id', async () => {
    const adapter = open();
    await adapter.execute('CREATE TABLE t_retry (id INT)');
    server.failNext(1, 503, { afterExecute: true });
    const res = await adapter.execute('INSERT INTO t_retry VALUES (1)');
    expect(res.rowCount).toBe(1);
    const sent = server.queries().filter((q) => q.sqlText === 'INSERT INTO t_retry VALUES (1)');
    expect(sent.map((q) => [q.injected ?? false, q.replayed ?? false])).toEqual([
      [true, false],
      [false, true],
    ]);
    expect(await count('t_retry')).toBe(1);
  }, 20_000);

  it('classifies an HTTP refusal as not executed', async () => {
    const adapter = open();
    await adapter.execute('CREATE TABLE t_refused (id INT)');
    // The SDK resends a request that failed without a SQL error once (same request id) before giving
    // up, so two refusals are needed for the failure to reach the adapter.
    server.failNext(2, 400);
    const err = (await adapter
      .execute('INSERT INTO t_refused VALUES (1)')
      .catch((e: unknown) => e)) as SnowflakeError;
    expect(err).toBeInstanceOf(SnowflakeError);
    expect(err.kind).toBe('http');
    expect(err.httpStatus).toBe(400);
    expect(adapter.classifyError(err)).toEqual({ transient: false, effect: 'none' });
    const sent = server.queries().filter((q) => q.requestId !== undefined && q.injected);
    expect(sent.slice(-2).map((q) => q.status)).toEqual([400, 400]);
    expect(await count('t_refused')).toBe(0);
  });

  it('classifies a refused connection at login as transient and not executed', async () => {
    const { createServer } = await import('node:net');
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const { port } = probe.address() as { port: number };
    await new Promise((r) => probe.close(r));
    const adapter = open({
      accessUrl: `http://127.0.0.1:${port}`,
      connectionOptions: { sfRetryMaxLoginRetries: 0 },
    });
    const err = (await adapter.execute('SELECT 1').catch((e: unknown) => e)) as SnowflakeError;
    expect(err).toBeInstanceOf(SnowflakeError);
    expect([err.kind, err.networkCode]).toEqual(['login', 'ECONNREFUSED']);
    expect(adapter.classifyError(err)).toEqual({ transient: true, effect: 'none' });
    expect(err.message).not.toContain(PASSWORD);
  });

  it('does not send a request whose signal is already aborted', async () => {
    const adapter = open();
    await adapter.execute('SELECT 1');
    const before = server.queries().length;
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    const err = (await adapter
      .execute('SELECT 2', { signal: ac.signal })
      .catch((e: unknown) => e)) as SnowflakeError;
    expect(err.kind).toBe('client');
    expect(adapter.classifyError(err).effect).toBe('none');
    expect(server.queries().length).toBe(before);
  });

  it('cancels an aborted request server-side and reports that it did not run', async () => {
    const adapter = open();
    await adapter.execute('CREATE TABLE t_abort (id INT)');
    server.slowNext(1, 5_000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('timeout')), 200);
    const err = (await adapter
      .execute('INSERT INTO t_abort VALUES (1)', { signal: ac.signal })
      .catch((e: unknown) => e)) as SnowflakeError;
    expect([err.kind, err.code, err.sqlState]).toEqual(['sql', '000604', '57014']);
    expect(adapter.classifyError(err)).toMatchObject({ effect: 'rolled-back' });
    expect(server.requests.some((r) => r.path === '/queries/v1/abort-request' && r.cancelled)).toBe(true);
    expect(await count('t_abort')).toBe(0);
  });

  it('follows a statement that outlasts the long poll (333333) and can cancel it by query id', async () => {
    // a second server on the same database that answers "in progress" after 100 ms
    const polling = await startSnowflakeServer({ db: server.db, inProgressAfterMs: 100 });
    try {
      const adapter = open({ accessUrl: polling.url });
      await adapter.execute('CREATE TABLE t_poll (id INT)');
      polling.slowNext(1, 400);
      const res = await adapter.execute('INSERT INTO t_poll VALUES (1); INSERT INTO t_poll VALUES (2)');
      expect(res.rowCount).toBe(2);
      expect(
        polling.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/result')).length,
      ).toBeGreaterThan(2);

      polling.slowNext(1, 5_000);
      const ac = new AbortController();
      setTimeout(() => ac.abort(new Error('timeout')), 300);
      const err = (await adapter
        .execute('INSERT INTO t_poll VALUES (3)', { signal: ac.signal })
        .catch((e: unknown) => e)) as SnowflakeError;
      expect(err.code).toBe('000604');
      const abort = polling.requests.find((r) => r.path.endsWith('/abort-request'));
      expect(abort?.path).not.toBe('/queries/v1/abort-request'); // the SDK knew the query id
      expect(abort?.cancelled).toBe(true);
      expect(await count('t_poll')).toBe(2);
      await adapter.close();
    } finally {
      await polling.close();
    }
  });

  it('rejects with ClosedError after close, detached too', async () => {
    const adapter = open();
    const { execute } = adapter;
    await execute('SELECT 1');
    const sessionsBefore = server.openSessions;
    await adapter.close();
    await expect(execute('SELECT 1')).rejects.toMatchObject({ name: 'ClosedError', code: 'CLOSED' });
    await expect(adapter.session()).rejects.toMatchObject({ name: 'ClosedError' });
    expect(server.openSessions).toBe(sessionsBefore - 1);
  });

  it('uses an existing connection, serialising requests and sessions on it', async () => {
    const conn = snowflake.createConnection({
      accessUrl: server.url,
      account: 'x',
      username: 'loader',
      password: PASSWORD,
    });
    await conn.connectAsync();
    const adapter = open({ connection: conn, password: undefined });
    expect(adapter.capabilities.maxConcurrency).toBe(1);
    await adapter.execute('CREATE TABLE t_ext (id INT)');
    const s = await adapter.session();
    await s.begin();
    await s.execute('INSERT INTO t_ext VALUES (1)');
    // waits for the session: it must not run inside the session's transaction
    const outside = adapter.execute('INSERT INTO t_ext VALUES (2)');
    await s.rollback();
    await s.release();
    await outside;
    expect(await count('t_ext')).toBe(1);
    await adapter.close();
    expect(conn.isUp()).toBe(true);
    await new Promise((r) => conn.destroy(r));
  });
});

// The README's usage example.
const seedStatements = (from: number, to: number): string[] =>
  Array.from(
    { length: to - from },
    (_, k) =>
      `INSERT INTO users (id, name, email, created_at) VALUES (${from + k}, 'User ${from + k}', 'user${from + k}@example.com', CURRENT_TIMESTAMP())`,
  );

it('runs the README example', async () => {
  await server.db.exec('CREATE TABLE users (id INT, name TEXT, email TEXT, created_at TIMESTAMP)');
  const queriesBefore = server.queries().length;
  const statements = seedStatements(0, 1000);
  const adapter = new SnowflakeAdapter({
    accessUrl: server.url, // endpoint and credentials are the test server's; the rest is the README's
    account: 'your_account',
    user: 'loader', // the test server checks credentials
    password: PASSWORD, // the README reads process.env.SNOWFLAKE_PASSWORD
    warehouse: 'your_warehouse',
    database: 'your_database',
    logLevel: 'OFF',
  });

  const batcher = new SQLBatcher({ adapter });
  try {
    await batcher.processStatements(statements);
  } finally {
    await batcher[Symbol.asyncDispose]();
    await adapter.close();
  }

  // and detached, as in the seed
  const again = new SnowflakeAdapter({
    accessUrl: server.url,
    account: 'a',
    user: 'loader',
    password: PASSWORD,
  });
  const detached = new SQLBatcher({ adapter: again });
  await detached.processStatements(seedStatements(1000, 1500), again.execute);
  await detached[Symbol.asyncDispose]();
  await again.close();

  const res = await server.db.query<{ n: number }>('SELECT count(DISTINCT id)::int AS n FROM users');
  expect(res.rows[0]?.n).toBe(1500);
  // merged: far fewer requests than statements
  expect(server.queries().length - queriesBefore).toBeLessThan(10);
});

describe("DDL inside the input's own transaction block (found in review)", () => {
  it('commits the block (Snowflake): a later failure does not report the block rolled back', async () => {
    const adapter = open();
    await adapter.execute('CREATE TABLE t_ddlblk (id INT NOT NULL)');
    const batcher = new SQLBatcher({ adapter });
    const err = (await batcher
      .processStatements([
        'INSERT INTO t_ddlblk VALUES (0)',
        'BEGIN',
        'INSERT INTO t_ddlblk VALUES (1)',
        'CREATE TABLE t_ddlblk_x (a INT)',
        'INSERT INTO t_ddlblk VALUES (NULL)',
        'INSERT INTO t_ddlblk VALUES (4)',
        'ROLLBACK',
      ])
      .catch((e: unknown) => e)) as { name?: string; blockUndoneFrom?: number; message?: string };
    await batcher.close().catch(() => undefined);
    // (was: blockUndoneFrom 1, "no statement from #1 on is applied", while #2 and #3 were committed)
    expect(err.name).toBe('BatchExecutionError');
    expect(err.blockUndoneFrom).toBeUndefined();
    expect(err.message).not.toContain('no statement from #1');
    const ids = await server.db.query<{ id: number }>('SELECT id FROM t_ddlblk ORDER BY id');
    expect(ids.rows.map((r) => r.id)).toEqual([0, 1]);
  });
});
