/**
 * The Snowflake test server spoken to over raw HTTP, the way snowflake-sdk does (the SDK itself is
 * exercised against this server by packages/adapter-snowflake's integration tests).
 */
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SnowflakeTestServer, startSnowflakeServer } from '../src/snowflake/index.js';

interface Body {
  success: boolean;
  code: string | null;
  message: string | null;
  data: {
    token?: string;
    rowset?: unknown[][];
    resultIds?: string;
    sqlState?: string;
    statementTypeId?: number;
    queryResultFormat?: string;
  } | null;
}

let server: SnowflakeTestServer;

beforeAll(async () => {
  // PGlite's start-up (WASM) takes seconds on a busy machine
  server = await startSnowflakeServer({ lockTimeoutMs: 300, maxStatementBytes: 2_000 });
}, 60_000);

afterAll(async () => {
  await server?.close();
});

async function post(
  path: string,
  json: unknown,
  token?: string,
  gzip = false,
  base = server.url,
): Promise<{ status: number; body: Body }> {
  const raw = Buffer.from(JSON.stringify(json));
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/snowflake',
      ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      ...(token ? { authorization: `Snowflake Token="${token}"` } : {}),
    },
    body: gzip ? gzipSync(raw) : raw,
  });
  return { status: res.status, body: (await res.json()) as Body };
}

async function login(base = server.url): Promise<string> {
  const { body } = await post(
    `/session/v1/login-request?requestId=${randomUUID()}&warehouse=WH`,
    { data: { ACCOUNT_NAME: 'a', LOGIN_NAME: 'u', PASSWORD: 'p' } },
    undefined,
    true,
    base,
  );
  expect(body.success).toBe(true);
  return body.data!.token!;
}

function query(
  token: string,
  sqlText: string,
  parameters?: Record<string, unknown>,
  requestId = randomUUID(),
  base = server.url,
): Promise<Body> {
  return post(
    `/queries/v1/query-request?requestId=${requestId}`,
    { sqlText, parameters },
    token,
    false,
    base,
  ).then((r) => r.body);
}

const ids = async (table: string) =>
  (await server.db.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`)).rows.map((r) => r.id);

describe('Snowflake test server', () => {
  it('logs in (gzip body) and answers JSON results with rowtype/rowset', async () => {
    const token = await login();
    const body = await query(token, "SELECT 1 AS one, 'x' AS s");
    expect(body.success).toBe(true);
    expect(body.data?.queryResultFormat).toBe('json');
    expect(body.data?.rowset).toEqual([['1', 'x']]);
  });

  it('refuses requests without a live session token (Snowflake 390111)', async () => {
    const body = await query('not-a-token', 'SELECT 1');
    expect(body.success).toBe(false);
    expect(body.code).toBe('390111');
  });

  it('applies MULTI_STATEMENT_COUNT like Snowflake', async () => {
    const token = await login();
    const one = await query(token, 'SELECT 1; SELECT 2');
    expect([one.code, one.data?.sqlState, one.message]).toEqual([
      '000008',
      '0A000',
      'Actual statement count 2 did not match the desired statement count 1.',
    ]);
    const two = await query(token, 'SELECT 1; SELECT 2; SELECT 3', { MULTI_STATEMENT_COUNT: 2 });
    expect(two.message).toBe('Actual statement count 3 did not match the desired statement count 2.');
    const any = await query(token, 'SELECT 1; SELECT 2; SELECT 3', { MULTI_STATEMENT_COUNT: 0 });
    expect(any.success).toBe(true);
    expect(any.data?.resultIds?.split(',')).toHaveLength(3);
    // the session parameter applies when the request sends none
    await query(token, 'ALTER SESSION SET MULTI_STATEMENT_COUNT = 0');
    expect((await query(token, 'SELECT 1; SELECT 2')).success).toBe(true);
    expect((await query(token, 'SELECT 1; SELECT 2', { MULTI_STATEMENT_COUNT: 1 })).code).toBe('000008');
    await query(token, 'ALTER SESSION UNSET MULTI_STATEMENT_COUNT');
    expect((await query(token, 'SELECT 1; SELECT 2')).code).toBe('000008');
  });

  it('runs a retried request id once and answers it from the stored result', async () => {
    const token = await login();
    await server.db.exec('CREATE TABLE s_dedupe (id INT)');
    const requestId = randomUUID();
    await query(token, 'INSERT INTO s_dedupe VALUES (1)', undefined, requestId);
    const again = await query(token, 'INSERT INTO s_dedupe VALUES (1)', undefined, requestId);
    expect(again.data?.rowset).toEqual([['1']]);
    expect(
      server
        .queries()
        .filter((q) => q.requestId === requestId)
        .map((q) => q.replayed ?? false),
    ).toEqual([false, true]);
    expect(await ids('s_dedupe')).toEqual([1]);
  });

  it('keeps a transaction open after a failed statement; ignores a nested BEGIN', async () => {
    const token = await login();
    await server.db.exec('CREATE TABLE s_tx (id INT)');
    await query(token, 'BEGIN');
    await query(token, 'INSERT INTO s_tx VALUES (1)');
    expect((await query(token, 'INSERT INTO s_tx_missing VALUES (2)')).code).toBe('002003');
    expect((await query(token, 'BEGIN TRANSACTION')).success).toBe(true);
    await query(token, 'INSERT INTO s_tx VALUES (3)');
    await query(token, 'COMMIT');
    expect(await ids('s_tx')).toEqual([1, 3]);
  });

  it('commits an open transaction before DDL, as Snowflake does', async () => {
    const token = await login();
    await server.db.exec('CREATE TABLE s_ddl (id INT)');
    await query(token, 'BEGIN');
    await query(token, 'INSERT INTO s_ddl VALUES (1)');
    await query(token, 'CREATE TABLE s_ddl_2 (x INT)');
    await query(token, 'INSERT INTO s_ddl VALUES (2)');
    await query(token, 'ROLLBACK');
    expect(await ids('s_ddl')).toEqual([1, 2]);
  });

  it("makes other sessions wait for an open transaction, then fails them with Snowflake's lock timeout", async () => {
    const a = await login();
    const b = await login();
    await server.db.exec('CREATE TABLE s_lock (id INT)');
    await query(a, 'BEGIN');
    await query(a, 'INSERT INTO s_lock VALUES (1)');
    const timedOut = await query(b, 'INSERT INTO s_lock VALUES (2)');
    expect([timedOut.code, timedOut.data?.sqlState]).toEqual(['000625', '57014']);
    const waiting = query(b, 'INSERT INTO s_lock VALUES (3)');
    await query(a, 'COMMIT');
    expect((await waiting).success).toBe(true);
    expect(await ids('s_lock')).toEqual([1, 3]);
  });

  it('rolls back an open transaction when the session is deleted', async () => {
    const token = await login();
    await server.db.exec('CREATE TABLE s_logout (id INT)');
    await query(token, 'BEGIN');
    await query(token, 'INSERT INTO s_logout VALUES (1)');
    const bye = await post(`/session?delete=true&requestId=${randomUUID()}`, {}, token);
    expect(bye.body.success).toBe(true);
    expect(await ids('s_logout')).toEqual([]);
    expect((await query(token, 'SELECT 1')).code).toBe('390111');
  });

  it('rejects SAVEPOINT, VALUES lists over 16,384 rows and text over maxStatementBytes', async () => {
    const token = await login();
    for (const sql of ['SAVEPOINT s1', 'ROLLBACK TO SAVEPOINT s1', 'RELEASE SAVEPOINT s1']) {
      const body = await query(token, sql);
      expect([body.code, body.data?.sqlState]).toEqual(['001003', '42000']);
    }
    await server.db.exec('CREATE TABLE s_rows (id INT)');
    // The list alone is ~65 KB: a second server on the same database, with the default 1 MB limit.
    const big = await startSnowflakeServer({ db: server.db });
    try {
      const bigToken = await login(big.url);
      const rows = Array.from({ length: 16_385 }, () => '(1)').join(',');
      const body = await query(
        bigToken,
        `INSERT INTO s_rows VALUES ${rows}`,
        undefined,
        randomUUID(),
        big.url,
      );
      expect([body.code, body.data?.sqlState]).toEqual(['001795', '42601']);
      expect(body.message).toContain('expected at most 16,384, got 16,385');
    } finally {
      await big.close();
    }
    const tooBig = await query(token, `SELECT '${'x'.repeat(2_000)}'`);
    expect(tooBig.success).toBe(false);
    expect(tooBig.message).toContain('exceeds the maximum of 2000 bytes');
    expect(await ids('s_rows')).toEqual([]);
  });

  it('answers injected HTTP failures, before or after executing the request', async () => {
    const token = await login();
    await server.db.exec('CREATE TABLE s_fail (id INT)');
    server.failNext(1, 503);
    const before = await post(
      `/queries/v1/query-request?requestId=${randomUUID()}`,
      { sqlText: 'INSERT INTO s_fail VALUES (1)' },
      token,
    );
    expect(before.status).toBe(503);
    expect(await ids('s_fail')).toEqual([]);
    server.failNext(1, 502, { afterExecute: true });
    const after = await post(
      `/queries/v1/query-request?requestId=${randomUUID()}`,
      { sqlText: 'INSERT INTO s_fail VALUES (2)' },
      token,
    );
    expect(after.status).toBe(502);
    expect(await ids('s_fail')).toEqual([2]);
  });
});
