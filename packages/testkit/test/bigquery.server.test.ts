import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type BigQueryTestServer, startBigQueryServer } from '../src/bigquery/index.js';

let server: BigQueryTestServer;

// PGlite start-up takes seconds, more on a loaded CI machine than vitest's default hook timeout.
beforeAll(async () => {
  server = await startBigQueryServer({ datasets: ['ds'] });
}, 60_000);

afterAll(async () => {
  await server.close();
});

beforeEach(async () => {
  await server.db.exec('DROP TABLE IF EXISTS ds.t; CREATE TABLE ds.t (id bigint, v text)');
  server.requests.length = 0;
});

interface Answer {
  status: number;
  body: Record<string, unknown> & {
    error?: { code: number; message: string; status: string; errors: { reason: string; message: string }[] };
  };
}

async function call(
  path: string,
  body?: unknown,
  method = body === undefined ? 'GET' : 'POST',
): Promise<Answer> {
  const res = await fetch(`${server.url}/bigquery/v2/projects/test-project${path}`, {
    method,
    headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

const query = (sql: string, extra: Record<string, unknown> = {}): Promise<Answer> =>
  call('/queries', { query: sql, useLegacySql: false, ...extra });

async function ids(): Promise<number[]> {
  const r = await server.db.query<{ id: number }>('SELECT id::int AS id FROM ds.t ORDER BY id');
  return r.rows.map((row) => row.id);
}

describe('BigQuery test server', () => {
  it('requires a bearer token', async () => {
    const res = await fetch(`${server.url}/bigquery/v2/projects/p/queries`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(401);
    expect(((await res.json()) as Answer['body']).error?.status).toBe('UNAUTHENTICATED');
  });

  it('answers jobs.query with numDmlAffectedRows for DML and typed rows for SELECT', async () => {
    const dml = await query("INSERT INTO ds.t (id, v) VALUES (1, 'a'), (2, 'b')");
    expect(dml.status).toBe(200);
    expect(dml.body).toMatchObject({ jobComplete: true, numDmlAffectedRows: '2' });
    const sel = await query('SELECT id, v FROM ds.t ORDER BY id');
    expect(sel.body).toMatchObject({
      totalRows: '2',
      schema: {
        fields: [
          { name: 'id', type: 'INTEGER' },
          { name: 'v', type: 'STRING' },
        ],
      },
      rows: [{ f: [{ v: '1' }, { v: 'a' }] }, { f: [{ v: '2' }, { v: 'b' }] }],
    });
  });

  it('runs scripts statement by statement: a failure keeps what ran before it', async () => {
    const r = await query(
      'INSERT INTO ds.t (id) VALUES (1);\nINSERT INTO ds.t (id) VALUES (2);\nSELECT * FROM ds.nope',
    );
    expect(r.status).toBe(404);
    expect(r.body.error).toMatchObject({
      code: 404,
      status: 'NOT_FOUND',
      message: 'Not found: Table test-project:ds.nope was not found in location US at [3:1]',
      errors: [{ reason: 'notFound' }],
    });
    expect(await ids()).toEqual([1, 2]);
  });

  it('lists a script’s child jobs with their affected rows', async () => {
    const r = await query('INSERT INTO ds.t (id) VALUES (1); INSERT INTO ds.t (id) VALUES (2), (3)');
    expect(r.body.numDmlAffectedRows).toBeUndefined();
    const jobId = (r.body.jobReference as { jobId: string }).jobId;
    const list = await call(`/jobs?parentJobId=${jobId}`);
    const counts = (list.body.jobs as { statistics: { query: { numDmlAffectedRows: string } } }[]).map(
      (j) => j.statistics.query.numDmlAffectedRows,
    );
    expect(counts.sort()).toEqual(['1', '2']);
  });

  it('makes a script transaction atomic, and rolls it back on error or when the script ends inside it', async () => {
    const failed = await query(
      'BEGIN TRANSACTION; INSERT INTO ds.t (id) VALUES (1); INSERT INTO ds.nope (id) VALUES (2); COMMIT TRANSACTION',
    );
    expect(failed.status).toBe(404);
    expect(await ids()).toEqual([]);
    await query('BEGIN TRANSACTION; INSERT INTO ds.t (id) VALUES (3)');
    expect(await ids()).toEqual([]);
    const ok = await query('BEGIN TRANSACTION; INSERT INTO ds.t (id) VALUES (4); COMMIT TRANSACTION');
    expect(ok.status).toBe(200);
    expect(await ids()).toEqual([4]);
  });

  it('refuses transaction control outside scripts and sessions, nesting, and SAVEPOINT', async () => {
    const alone = await query('BEGIN TRANSACTION');
    expect(alone.body.error?.message).toContain(
      'Transaction control statements are supported only in scripts or sessions',
    );
    const nested = await query('BEGIN TRANSACTION; BEGIN TRANSACTION; COMMIT TRANSACTION');
    expect(nested.body.error?.message).toContain('Nested transactions are not supported');
    const sp = await query('BEGIN TRANSACTION; SAVEPOINT a; COMMIT TRANSACTION');
    expect(sp.status).toBe(400);
    expect(sp.body.error).toMatchObject({
      message: 'Syntax error: Unexpected identifier "SAVEPOINT" at [1:20]',
      errors: [{ reason: 'invalidQuery' }],
    });
  });

  it('keeps a transaction open across the queries of a session', async () => {
    const begin = await query('BEGIN TRANSACTION', { createSession: true });
    const sessionId = (begin.body.sessionInfo as { sessionId: string }).sessionId;
    expect(sessionId).toBeTruthy();
    const props = { connectionProperties: [{ key: 'session_id', value: sessionId }] };
    expect((await query('INSERT INTO ds.t (id) VALUES (1)', props)).body.numDmlAffectedRows).toBe('1');
    expect((await query('ROLLBACK TRANSACTION', props)).status).toBe(200);
    expect(await ids()).toEqual([]);
    await query('BEGIN TRANSACTION', props);
    await query('INSERT INTO ds.t (id) VALUES (2)', props);
    await query('COMMIT TRANSACTION', props);
    expect(await ids()).toEqual([2]);
    expect((await query('CALL BQ.ABORT_SESSION()', props)).status).toBe(200);
    const gone = await query('SELECT 1', props);
    expect(gone.status).toBe(400);
    const unknown = await query('SELECT 1', { connectionProperties: [{ key: 'session_id', value: 'nope' }] });
    expect(unknown.status).toBe(400);
  });

  it('rejects query text over 1,024K characters with the API error shape', async () => {
    const fits = await query(`SELECT '${'é'.repeat(1024 * 1024 - 9)}'`);
    expect(fits.status).toBe(200);
    const r = await query(`SELECT '${'x'.repeat(1024 * 1024 - 9)}'`.concat(' '));
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual({
      code: 400,
      message:
        'The query is too large. The maximum standard SQL query length is 1024.00K characters, including comments and white space characters.',
      errors: [
        {
          message:
            'The query is too large. The maximum standard SQL query length is 1024.00K characters, including comments and white space characters.',
          domain: 'global',
          reason: 'invalid',
        },
      ],
      status: 'INVALID_ARGUMENT',
    });
  });

  it('injects 503 backendError and 429 rateLimitExceeded without running anything', async () => {
    server.failNext(2, 503);
    server.failNext(1, 429);
    for (const status of [503, 503, 429]) {
      const r = await query('INSERT INTO ds.t (id) VALUES (1)');
      expect(r.status).toBe(status);
      expect(r.body.error?.errors[0]?.reason).toBe(status === 503 ? 'backendError' : 'rateLimitExceeded');
    }
    expect(await ids()).toEqual([]);
    expect((await query('INSERT INTO ds.t (id) VALUES (1)')).status).toBe(200);
  });

  it('a rule for one API fails only that API and does not hold up the rules behind it', async () => {
    server.failNext(1, 503, { api: 'jobs.getQueryResults' });
    server.failNext(1, 429);
    const first = await query('INSERT INTO ds.t (id) VALUES (1)');
    expect(first.status).toBe(429);
    expect((await query('INSERT INTO ds.t (id) VALUES (2)')).status).toBe(200);
    const job = { jobReference: { jobId: 'api-rule' }, configuration: { query: { query: 'SELECT 1' } } };
    expect((await call('/jobs', job)).status).toBe(200);
    expect((await call('/queries/api-rule?timeoutMs=5000')).status).toBe(503);
    expect((await call('/queries/api-rule?timeoutMs=5000')).status).toBe(200);
    server.clearFaults();
  });

  it('refuses a whole script on a syntax error, before running any of it', async () => {
    for (const bad of ['INSERT INTO ds.t (id) VALUES (2,)', "SELECT 'bad \\q'", 'SAVEPOINT s']) {
      const r = await query(`INSERT INTO ds.t (id) VALUES (1);\n${bad}`);
      expect(r.status).toBe(400);
      expect(r.body.error?.message).toMatch(/^Syntax error: .* at \[2:\d+\]$/);
      expect(await ids()).toEqual([]);
    }
  });

  it('an error PostgreSQL finds while analysing a statement stops the script there (not a syntax error)', async () => {
    const r = await query('INSERT INTO ds.t (id) VALUES (1);\nINSERT INTO ds.t (id) VALUES (2, 3)');
    expect(r.status).toBe(400);
    expect(r.body.error?.message).toMatch(/^Query error: .* at \[2:1\]$/);
    expect(await ids()).toEqual([1]);
  });

  it('runs a request once per requestId even when its answer was lost', async () => {
    server.failNext(1, 503, { afterExecution: true });
    const first = await query('INSERT INTO ds.t (id) VALUES (1)', { requestId: 'r-1' });
    expect(first.status).toBe(503);
    const retry = await query('INSERT INTO ds.t (id) VALUES (1)', { requestId: 'r-1' });
    expect(retry.body.numDmlAffectedRows).toBe('1');
    expect(await ids()).toEqual([1]);
  });

  it('supports jobs.insert, jobs.get and getQueryResults, and refuses a duplicate job id', async () => {
    const job = {
      jobReference: { jobId: 'j1' },
      configuration: { query: { query: 'INSERT INTO ds.t (id) VALUES (5)' } },
    };
    expect((await call('/jobs', job)).status).toBe(200);
    const results = await call('/queries/j1?timeoutMs=5000');
    expect(results.body).toMatchObject({ jobComplete: true, numDmlAffectedRows: '1' });
    const meta = await call('/jobs/j1');
    expect(meta.body).toMatchObject({
      status: { state: 'DONE' },
      statistics: { query: { statementType: 'INSERT' } },
    });
    const dup = await call('/jobs', job);
    expect(dup.status).toBe(409);
    expect(dup.body.error?.errors[0]?.reason).toBe('duplicate');
  });
});

describe('BigQuery test server: long jobs', () => {
  it('answers jobComplete: false after timeoutMs, then getQueryResults waits for the job', async () => {
    server.delayNext(300);
    const first = await query('INSERT INTO ds.t (id) VALUES (1)', { timeoutMs: 20 });
    expect(first.body).toMatchObject({ jobComplete: false });
    expect(first.body.numDmlAffectedRows).toBeUndefined();
    const jobId = (first.body.jobReference as { jobId: string }).jobId;
    const done = await call(`/queries/${jobId}?timeoutMs=5000`);
    expect(done.body).toMatchObject({ jobComplete: true, numDmlAffectedRows: '1' });
    expect(await ids()).toEqual([1]);
  });
});
