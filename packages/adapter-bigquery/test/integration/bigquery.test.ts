import { inspect } from 'node:util';
import { BigQuery } from '@google-cloud/bigquery';
import type { BatchInfo, ExecuteOptions } from '@sqlbatcher/core';
import { ClosedError, SQLBatcher } from '@sqlbatcher/core';
import { type BigQueryTestServer, startBigQueryServer } from '@sqlbatcher/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BigQueryAdapter, BigQueryError } from '../../src/index.js';

let server: BigQueryTestServer;

beforeAll(async () => {
  server = await startBigQueryServer({ datasets: ['ds'] });
});

afterAll(async () => {
  await server.close();
});

beforeEach(async () => {
  server.clearFaults();
  await server.db.exec(
    'DROP TABLE IF EXISTS ds.users; CREATE TABLE ds.users (id bigint PRIMARY KEY, name text, email text, created_at timestamptz)',
  );
  server.requests.length = 0;
});

const adapters: BigQueryAdapter[] = [];
afterEach(async () => {
  await Promise.all(adapters.splice(0).map((a) => a.close()));
});

function makeAdapter(
  extra: Partial<ConstructorParameters<typeof BigQueryAdapter>[0] & object> = {},
): BigQueryAdapter {
  const adapter = new BigQueryAdapter({
    projectId: server.projectId,
    apiEndpoint: server.url,
    authClient: server.authClient,
    retryOptions: { maxRetryDelay: 0.01 },
    ...extra,
  });
  adapters.push(adapter);
  return adapter;
}

async function ids(): Promise<number[]> {
  const r = await server.db.query<{ id: number }>('SELECT id::int AS id FROM ds.users ORDER BY id');
  return r.rows.map((row) => row.id);
}

/** Batch info as the batcher passes it: the statements of the request, joined by `;\n`. */
function batchOf(statements: string[]): { sql: string; options: ExecuteOptions } {
  const sql = statements.join(';\n');
  const batch: BatchInfo = {
    id: 0,
    sql,
    bytes: Buffer.byteLength(sql),
    statements: statements.map((s, i) => ({ sql: s, indices: [i] })),
    inputCount: statements.length,
    rowCount: 0,
  };
  return { sql, options: { batch } };
}

const insert = (id: number): string =>
  `INSERT INTO ds.users (id, name, email, created_at) VALUES (${id}, 'User ${id}', 'user${id}@example.com', CURRENT_TIMESTAMP())`;

describe('BigQueryAdapter with @google-cloud/bigquery against the test server', () => {
  it('declares honest capabilities', () => {
    const adapter = makeAdapter();
    expect(adapter.capabilities).toMatchObject({
      maxQuerySize: 1_000_000,
      multiStatement: true,
      atomicMultiStatement: false,
      transactions: true,
      savepoints: false,
      dialect: 'bigquery',
    });
    expect(() => makeAdapter({ maxQuerySize: 1_048_577 })).toThrow(/maxQuerySize/);
  });

  it('executes an INSERT through jobs.query and reports numDmlAffectedRows', async () => {
    const adapter = makeAdapter();
    const result = await adapter.execute(
      "INSERT INTO `test-project.ds.users` (id, name, email, created_at) VALUES (1, 'Ada', \"ada@example.com\", CURRENT_TIMESTAMP()), (2, 'It\\'s', 'b@example.com', CURRENT_TIMESTAMP())",
    );
    expect(result.rowCount).toBe(2);
    expect(await ids()).toEqual([1, 2]);
    const names = await server.db.query<{ name: string }>('SELECT name FROM ds.users ORDER BY id');
    expect(names.rows.map((r) => r.name)).toEqual(['Ada', "It's"]);
    expect(server.requests.map((r) => r.api)).toEqual(['jobs.query']);
  });

  it('works detached and returns SELECT rows', async () => {
    const { execute } = makeAdapter();
    await execute(insert(7));
    const result = await execute('SELECT id, name FROM ds.users');
    expect(result.rows).toEqual([{ id: 7, name: 'User 7' }]);
  });

  it('runs a multi-statement script and sums affected rows over its child jobs', async () => {
    const adapter = makeAdapter();
    const { sql, options } = batchOf([
      insert(1),
      'INSERT INTO ds.users (id, name) VALUES (2, \'b\'), (3, "c")',
      "UPDATE ds.users SET name = 'z' WHERE id >= 2",
    ]);
    const result = await adapter.execute(sql, options);
    expect(result.rowCount).toBe(5);
    expect(await ids()).toEqual([1, 2, 3]);
    expect(server.requests.map((r) => r.api)).toEqual(['jobs.query', 'jobs.list']);
  });

  it('a failing script keeps the statements before the failure (BigQuery scripts are not atomic)', async () => {
    const adapter = makeAdapter();
    const { sql, options } = batchOf([
      insert(1),
      insert(2),
      'INSERT INTO ds.missing (id) VALUES (3)',
      insert(4),
    ]);
    const err = await adapter.execute(sql, options).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BigQueryError);
    const e = err as BigQueryError;
    expect(e.httpStatus).toBe(404);
    expect(e.code).toBe('notFound');
    expect(e.message).toContain('Not found: Table test-project:ds.missing');
    expect(adapter.classifyError(e)).toEqual({ transient: false, effect: 'partial', statementPosition: 2 });
    expect(await ids()).toEqual([1, 2]);
  });

  it('names the failing statement by the location BigQuery gives last, not by "at [L:C]" in quoted data', async () => {
    const adapter = makeAdapter();
    const { sql, options } = batchOf([
      insert(1),
      insert(2),
      "INSERT INTO ds.users (id, name) VALUES (CAST('at [1:1]' AS INT64), 'x')",
      insert(4),
    ]);
    const err = (await adapter.execute(sql, options).catch((e: unknown) => e)) as BigQueryError;
    // (the message quotes the bad value before BigQuery's own location of the failing statement)
    expect(err.message).toMatch(/at \[1:1\].* at \[3:1\]/s);
    expect(adapter.classifyError(err)).toEqual({ transient: false, effect: 'partial', statementPosition: 2 });
    expect(await ids()).toEqual([1, 2]);
  });

  it('maps a syntax error, never retries it, and keeps credentials out of the error', async () => {
    const adapter = makeAdapter();
    const { sql, options } = batchOf(['SELEC 1']);
    const err = (await adapter.execute(sql, options).catch((e: unknown) => e)) as BigQueryError;
    expect(err.name).toBe('BigQueryError');
    expect(err.code).toBe('invalidQuery');
    expect(err.httpStatus).toBe(400);
    expect(err.message).toMatch(/Syntax error: .* at \[1:1\]/);
    expect(adapter.classifyError(err)).toEqual({
      transient: false,
      effect: 'none',
      statementPosition: 0,
    });
    expect(server.requests.filter((r) => r.api === 'jobs.query')).toHaveLength(1);
    const shown = `${inspect(err, { depth: 10 })} ${JSON.stringify(err)} ${err.stack}`;
    expect(shown).not.toMatch(/sqlbatcher-testkit-token|authorization/i);
  });

  it('rejects SAVEPOINT like BigQuery does (no savepoints)', async () => {
    const adapter = makeAdapter();
    const session = await adapter.session();
    await session.begin();
    const err = (await session.execute('SAVEPOINT sp1').catch((e: unknown) => e)) as BigQueryError;
    expect(err.message).toContain('Syntax error: Unexpected identifier "SAVEPOINT" at [1:1]');
    expect(session.savepoint).toBeUndefined();
    await session.release();
  });

  it('commits a transaction run in a BigQuery session', async () => {
    const adapter = makeAdapter();
    const session = await adapter.session();
    await session.begin();
    const r = await session.execute(`${insert(1)};\n${insert(2)}`);
    expect(r.rowCount).toBe(2);
    await session.commit();
    await session.release();
    expect(await ids()).toEqual([1, 2]);
    const queries = server.requests.filter((q) => q.api === 'jobs.query');
    expect(queries.map((q) => q.query)).toEqual([
      'BEGIN TRANSACTION',
      `${insert(1)};\n${insert(2)}`,
      'COMMIT TRANSACTION',
      'CALL BQ.ABORT_SESSION()',
    ]);
    const sessionId = queries[1]!.sessionId;
    expect(sessionId).toBeTruthy();
    expect(queries.slice(1).every((q) => q.sessionId === sessionId)).toBe(true);
    expect(server.sessionCount()).toBe(0);
  });

  it('rolls a session transaction back', async () => {
    const adapter = makeAdapter();
    const session = await adapter.session();
    await session.begin();
    await session.execute(insert(1));
    await session.rollback();
    await session.release();
    expect(await ids()).toEqual([]);
  });

  it('a statement failing inside a transaction rolls the whole transaction back', async () => {
    const adapter = makeAdapter();
    await adapter.execute(insert(1));
    const session = await adapter.session();
    await session.begin();
    await session.execute(insert(2));
    const err = await session.execute(insert(1)).catch((e: unknown) => e); // duplicate key
    expect(adapter.classifyError(err)).toMatchObject({ transient: false, effect: 'rolled-back' });
    await session.rollback(); // already rolled back by BigQuery: no request, no error
    await session.release();
    expect(await ids()).toEqual([1]);
  });

  it('rejects query text over 1,024K characters with the API error, refused before any job ran', async () => {
    const adapter = makeAdapter({ retryOptions: { autoRetry: false } });
    const sql = `SELECT '${'x'.repeat(1024 * 1024)}'`;
    const err = (await adapter.execute(sql).catch((e: unknown) => e)) as BigQueryError;
    expect(err.httpStatus).toBe(400);
    expect(err.code).toBe('invalid');
    expect(err.message).toContain(
      'The query is too large. The maximum standard SQL query length is 1024.00K characters, including comments and white space characters.',
    );
    expect(adapter.classifyError(err)).toEqual({ transient: false, effect: 'none' });
  });

  it('the client retries a 503 itself; the retried request carries the same requestId', async () => {
    const adapter = makeAdapter();
    server.failNext(1, 503);
    const r = await adapter.execute(insert(1));
    expect(r.rowCount).toBe(1);
    const attempts = server.requests.filter((q) => q.api === 'jobs.query');
    expect(attempts.map((q) => q.status)).toEqual([503, 200]);
    expect(attempts[0]!.requestId).toBe(attempts[1]!.requestId);
    expect(await ids()).toEqual([1]);
  });

  it('a lost response is retried without running the job twice (requestId deduplication)', async () => {
    const adapter = makeAdapter();
    await server.db.exec('ALTER TABLE ds.users DROP CONSTRAINT users_pkey');
    server.failNext(1, 503, { afterExecution: true });
    const r = await adapter.execute(insert(1));
    expect(r.rowCount).toBe(1);
    expect(await ids()).toEqual([1]);
  });

  it('classifies rate limits as not executed and 5xx as in doubt once the client gives up', async () => {
    const adapter = makeAdapter({ retryOptions: { autoRetry: false } });
    server.failNext(1, 429);
    const limited = await adapter.execute(insert(1)).catch((e: unknown) => e);
    expect(adapter.classifyError(limited)).toEqual({ transient: true, effect: 'none' });
    server.failNext(1, 503);
    const unavailable = (await adapter.execute(insert(1)).catch((e: unknown) => e)) as BigQueryError;
    expect(unavailable.code).toBe('backendError');
    expect(adapter.classifyError(unavailable)).toEqual({ transient: true, effect: 'unknown' });
    expect(await ids()).toEqual([]);
  });

  it('uses jobs.insert + getQueryResults when jobTimeoutMs is set', async () => {
    const adapter = makeAdapter({ jobTimeoutMs: 60_000, labels: { team: 'data' } });
    const r = await adapter.execute(insert(5));
    expect(r.rowCount).toBe(1);
    expect(server.requests.map((q) => q.api)).toEqual(['jobs.insert', 'jobs.getQueryResults']);
    expect(await ids()).toEqual([5]);
  });

  it('resolves unqualified names in datasetId', async () => {
    const adapter = makeAdapter({ datasetId: 'ds' });
    await adapter.execute("INSERT INTO users (id, name) VALUES (9, 'n')");
    expect(await ids()).toEqual([9]);
  });

  it('rejects with ClosedError after close()', async () => {
    const adapter = makeAdapter();
    await adapter.close();
    await expect(adapter.execute('SELECT 1')).rejects.toBeInstanceOf(ClosedError);
    expect(adapter.classifyError(new ClosedError('x'))).toEqual({ transient: false, effect: 'none' });
  });
});

describe('README examples', () => {
  it('usage: await using adapter + batcher merges the two INSERTs into one job', async () => {
    {
      await using adapter = new BigQueryAdapter({
        projectId: server.projectId,
        location: 'US',
        apiEndpoint: server.url,
        authClient: server.authClient,
      });
      await using batcher = new SQLBatcher({ adapter });
      await batcher.processStatements([
        "INSERT INTO ds.users (id, name, email, created_at) VALUES (1, 'User 1', 'user1@example.com', CURRENT_TIMESTAMP())",
        "INSERT INTO ds.users (id, name, email, created_at) VALUES (2, 'User 2', 'user2@example.com', CURRENT_TIMESTAMP())",
      ]);
    }
    expect(await ids()).toEqual([1, 2]);
    const jobs = server.requests.filter((r) => r.api === 'jobs.query').map((r) => r.query ?? '');
    // The batcher pins a session (one connection) for its run; the adapter ends it on close.
    expect(jobs.filter((q) => q.startsWith('INSERT'))).toHaveLength(1);
    expect(jobs.filter((q) => !q.startsWith('INSERT'))).toEqual(['CALL BQ.ABORT_SESSION()']);
  });

  it('testing: DDL with BigQuery types, then rowCount of a multi-row INSERT', async () => {
    await server.db.exec('DROP TABLE ds.users');
    const adapter = makeAdapter();
    await adapter.execute('CREATE TABLE ds.users (id INT64, name STRING)');
    const { rowCount } = await adapter.execute(
      "INSERT INTO ds.users (id, name) VALUES (1, 'Ada'), (2, 'Grace')",
    );
    expect(rowCount).toBe(2);
  });

  it('accepts an existing BigQuery client', async () => {
    const bigquery = new BigQuery({
      projectId: server.projectId,
      apiEndpoint: server.url,
      authClient: server.authClient as never,
    });
    const adapter = new BigQueryAdapter(bigquery);
    adapters.push(adapter);
    expect((await adapter.execute(insert(3))).rowCount).toBe(1);
    expect(await ids()).toEqual([3]);
  });
});

describe("jobMode: 'insert' (adapter-chosen job ids)", () => {
  it('creates the job with jobs.insert under a sqlbatcher_ id and reads its result', async () => {
    const adapter = makeAdapter({ jobMode: 'insert' });
    const r = await adapter.execute(insert(1));
    expect(r.rowCount).toBe(1);
    expect(server.requests.map((q) => q.api)).toEqual(['jobs.insert', 'jobs.getQueryResults']);
    expect(server.requests[1]!.path).toMatch(/\/queries\/sqlbatcher_[0-9a-f]{32}$/);
  });

  it('a 5xx before the job was created is verified as not executed: transient, no effect', async () => {
    const adapter = makeAdapter({ jobMode: 'insert', retryOptions: { autoRetry: false } });
    server.failNext(1, 503);
    const err = await adapter.execute(insert(1)).catch((e: unknown) => e);
    expect(adapter.classifyError(err)).toEqual({ transient: true, effect: 'none' });
    expect(server.requests.map((q) => [q.api, q.status])).toEqual([
      ['jobs.insert', 503],
      ['jobs.get', 404],
    ]);
    expect(await ids()).toEqual([]);
  });

  it('a 5xx after the job was created: the adapter finds the job and returns its result', async () => {
    const adapter = makeAdapter({ jobMode: 'insert', retryOptions: { autoRetry: false } });
    server.failNext(1, 503, { afterExecution: true });
    const r = await adapter.execute(insert(1));
    expect(r.rowCount).toBe(1);
    expect(server.requests.map((q) => [q.api, q.status])).toEqual([
      ['jobs.insert', 503],
      ['jobs.get', 200],
      ['jobs.getQueryResults', 200],
    ]);
    expect(await ids()).toEqual([1]);
  });

  it('a refusal (403 quota) that came after the script ran: the job is found, not sent again (found in review)', async () => {
    const adapter = makeAdapter({ jobMode: 'insert', retryOptions: { autoRetry: false } });
    const batcher = new SQLBatcher({ adapter, retry: { maxAttempts: 3, initialDelayMs: 1, jitter: false } });
    server.failNext(1, 403, { afterExecution: true, api: 'jobs.insert' });
    await batcher.processStatements([insert(1), 'UPDATE ds.users SET id = id + 10 WHERE true']);
    // (the refused request's job is looked up and found: its work is not done a second time)
    expect(server.requests.slice(0, 2).map((q) => [q.api, q.status])).toEqual([
      ['jobs.insert', 403],
      ['jobs.get', 200],
    ]);
    expect(await ids()).toEqual([11]);
  });

  it('a refusal before the job was created: looked up, absent, refused with no effect', async () => {
    const adapter = makeAdapter({ jobMode: 'insert', retryOptions: { autoRetry: false } });
    server.failNext(1, 403, { api: 'jobs.insert' });
    const err = await adapter.execute(insert(1)).catch((e: unknown) => e);
    expect(adapter.classifyError(err).effect).toBe('none');
    expect(server.requests.map((q) => [q.api, q.status])).toEqual([
      ['jobs.insert', 403],
      ['jobs.get', 404],
    ]);
    expect(await ids()).toEqual([]);
  });

  it('a lost getQueryResults answer: the adapter asks jobs.get for the outcome and reads the results again', async () => {
    const adapter = makeAdapter({ jobMode: 'insert', retryOptions: { autoRetry: false } });
    server.failNext(1, 503, { api: 'jobs.getQueryResults' });
    const r = await adapter.execute(insert(1));
    expect(r.rowCount).toBe(1);
    const calls = server.requests.map((q) => [q.api, q.status]);
    expect(calls[0]).toEqual(['jobs.insert', 200]);
    expect(calls[1]).toEqual(['jobs.getQueryResults', 503]);
    expect(calls.slice(2).every(([api]) => api === 'jobs.get' || api === 'jobs.getQueryResults')).toBe(true);
    expect(calls.at(-1)).toEqual(['jobs.getQueryResults', 200]);
    expect(await ids()).toEqual([1]);
  });

  it('results that stay unreadable: a DML job that succeeded is answered from its statistics', async () => {
    const adapter = makeAdapter({ jobMode: 'insert', retryOptions: { autoRetry: false } });
    server.failNext(10, 503, { api: 'jobs.getQueryResults' });
    const r = await adapter.execute(insert(1));
    expect(r.rowCount).toBe(1);
    expect(server.requests.filter((q) => q.api === 'jobs.get').map((q) => q.status)).toContain(200);
    expect(await ids()).toEqual([1]);
  });

  it('a lost answer of a job that failed reports the job error: the batcher rejects it, not in doubt', async () => {
    const adapter = makeAdapter({ jobMode: 'insert', retryOptions: { autoRetry: false } });
    await adapter.execute(insert(1));
    server.failNext(1, 503, { api: 'jobs.getQueryResults' });
    const batcher = new SQLBatcher({ adapter, onError: 'skip', retry: false });
    await batcher.processStatements([insert(1)]);
    await batcher[Symbol.asyncDispose]();
    expect(server.requests.some((q) => q.api === 'jobs.getQueryResults' && q.status === 503)).toBe(true);
    expect(batcher.report.inDoubt).toEqual([]);
    expect(batcher.report.rejected.map((r) => r.index)).toEqual([0]);
    expect(String((batcher.report.rejected[0]!.error as Error).message)).toMatch(
      /duplicate|already|violates/i,
    );
    expect(await ids()).toEqual([1]);
  });

  it('polling a lost job stops when the caller aborts: in doubt, not waited for', async () => {
    const adapter = makeAdapter({ jobMode: 'insert', retryOptions: { autoRetry: false } });
    server.delayNext(3_000);
    server.failNext(1, 503, { api: 'jobs.getQueryResults' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const started = Date.now();
    const err = await adapter.execute(insert(1), { signal: ac.signal }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(adapter.classifyError(err)).toMatchObject({ effect: 'unknown' });
    expect(server.requests.some((q) => q.api === 'jobs.get')).toBe(true);
    await adapter.close();
  });

  it('jobs.get unreachable as well: the failure stays in doubt', async () => {
    const adapter = makeAdapter({ jobMode: 'insert', retryOptions: { autoRetry: false } });
    server.failNext(1, 503, { api: 'jobs.getQueryResults' });
    server.failNext(10, 503, { api: 'jobs.get' });
    const err = await adapter.execute(insert(1)).catch((e: unknown) => e);
    expect(adapter.classifyError(err)).toMatchObject({ effect: 'unknown' });
  });

  it("the client's own retry of a lost insert meets 409 for the adapter's job id and waits for that job", async () => {
    const adapter = makeAdapter({ jobMode: 'insert' });
    await server.db.exec('ALTER TABLE ds.users DROP CONSTRAINT users_pkey');
    server.failNext(1, 503, { afterExecution: true });
    const r = await adapter.execute(insert(1));
    expect(r.rowCount).toBe(1);
    expect(server.requests.filter((q) => q.api === 'jobs.insert').map((q) => q.status)).toEqual([503, 409]);
    expect(await ids()).toEqual([1]);
  });

  it('runs session transactions', async () => {
    const adapter = makeAdapter({ jobMode: 'insert' });
    const session = await adapter.session();
    await session.begin();
    await session.execute(insert(1));
    await session.execute(insert(2));
    await session.rollback();
    await session.begin();
    await session.execute(insert(3));
    await session.commit();
    await session.release();
    expect(await ids()).toEqual([3]);
    expect(server.sessionCount()).toBe(0);
  });
});

describe('the request that opens a session fails', () => {
  const jobRequests = () =>
    server.requests.filter(
      (q) => (q.api === 'jobs.insert' || q.api === 'jobs.query') && q.query !== undefined,
    );

  it("jobMode 'insert': the adapter learns the session from the failed job and keeps using it", async () => {
    const adapter = makeAdapter({ jobMode: 'insert', retryOptions: { autoRetry: false } });
    const session = await adapter.session();
    await expect(session.execute('INSERT INTO ds.nope (id) VALUES (1)')).rejects.toMatchObject({
      name: 'BigQueryError',
    });
    await session.execute(insert(1));
    const sent = jobRequests();
    expect(sent[1]!.sessionId).toBeTruthy();
    await session.release();
    await adapter.close();
    // One session was created, and it was ended: none left behind.
    expect(server.sessionCount()).toBe(0);
    expect(await ids()).toEqual([1]);
  });

  it("jobMode 'query': a script that failed part-way leaves state in a session the adapter cannot reach: the next request is refused, not run in another session", async () => {
    const adapter = makeAdapter({ retryOptions: { autoRetry: false } });
    const session = await adapter.session();
    const script = ['CREATE TEMP TABLE staged (id INT64)', 'INSERT INTO ds.nope (id) VALUES (1)'].join(';\n');
    const batch = {
      statements: [
        { sql: 'CREATE TEMP TABLE staged (id INT64)' },
        { sql: 'INSERT INTO ds.nope (id) VALUES (1)' },
      ],
    };
    const err = await session
      .execute(script, { batch } as unknown as ExecuteOptions)
      .catch((e: unknown) => e);
    expect(adapter.classifyError(err)).toMatchObject({ effect: 'partial', statementPosition: 1 });
    const before = server.requests.length;
    await expect(session.execute('INSERT INTO ds.users (id) SELECT id FROM staged')).rejects.toMatchObject({
      code: 'SESSION_LOST',
    });
    expect(adapter.classifyError(await session.execute('SELECT 1').catch((e: unknown) => e))).toEqual({
      transient: false,
      effect: 'none',
    });
    expect(server.requests.length).toBe(before);
    await session.release();
    await adapter.close();
  });

  it("jobMode 'query': a one-statement failure left nothing in the session: the next request opens another", async () => {
    const adapter = makeAdapter({ retryOptions: { autoRetry: false } });
    const sessionsBefore = server.sessionCount();
    const session = await adapter.session();
    await expect(session.execute('INSERT INTO ds.nope (id) VALUES (1)')).rejects.toMatchObject({
      name: 'BigQueryError',
    });
    await session.execute(insert(1));
    // The second request opened a session of its own (it names none)…
    expect(jobRequests().map((q) => q.sessionId)).toEqual([undefined, undefined]);
    await session.release();
    await adapter.close();
    expect(await ids()).toEqual([1]);
    // …and the empty one BigQuery created for the failed request is left to expire.
    expect(server.sessionCount()).toBe(sessionsBefore + 1);
  });

  it("jobMode 'query': plain INSERTs applied before the failing statement leave no session state: the session goes on", async () => {
    const adapter = makeAdapter({ retryOptions: { autoRetry: false } });
    const session = await adapter.session();
    const statements = [insert(1), 'INSERT INTO ds.nope (id) VALUES (1)'];
    const batch = { statements: statements.map((sql) => ({ sql })) };
    const err = await session
      .execute(statements.join(';\n'), { batch } as unknown as ExecuteOptions)
      .catch((e: unknown) => e);
    expect(adapter.classifyError(err)).toMatchObject({ effect: 'partial', statementPosition: 1 });
    await session.execute(insert(2));
    await session.release();
    await adapter.close();
    expect(await ids()).toEqual([1, 2]);
  });
});

describe('a rate limit on the request that reads a job (the job exists and may have run)', () => {
  for (const jobMode of ['query', 'insert'] as const) {
    it(`jobMode '${jobMode}': the script is not resent`, async () => {
      // (a server that answers jobs.query before the job is done, so the client polls getQueryResults)
      const slow = await startBigQueryServer({ db: server.db, jobWaitMs: 20 });
      try {
        const adapter = makeAdapter({ apiEndpoint: slow.url, jobMode, retryOptions: { autoRetry: false } });
        const batcher = new SQLBatcher({
          adapter,
          mergeInserts: false,
          retry: { maxAttempts: 3, initialDelayMs: 1, jitter: false },
        });
        slow.delayNext(300);
        slow.failNext(1, 403, { api: 'jobs.getQueryResults' });
        const err = await batcher.processStatements([insert(1), insert(2)]).catch((e: unknown) => e);
        await batcher[Symbol.asyncDispose]().catch(() => undefined);
        await adapter.close();
        await new Promise((r) => setTimeout(r, 400));
        expect(slow.requests.some((q) => q.api === 'jobs.getQueryResults' && q.status === 403)).toBe(true);
        if (jobMode === 'insert') {
          // the adapter asked jobs.get for the outcome and found the job done
          expect(err).toBe(2);
        } else {
          expect(err).toMatchObject({ name: 'BatchExecutionError', inDoubt: true });
        }
        expect(slow.requests.filter((q) => q.query?.startsWith('INSERT'))).toHaveLength(1);
        expect(await ids()).toEqual([1, 2]);
      } finally {
        await slow.close();
      }
    });
  }
});

describe('long-running jobs', () => {
  it('jobs.query answers jobComplete: false and the client polls getQueryResults until the job is done', async () => {
    const slow = await startBigQueryServer({ db: server.db, jobWaitMs: 50 });
    try {
      const adapter = makeAdapter({ apiEndpoint: slow.url });
      slow.delayNext(400);
      const r = await adapter.execute(insert(1));
      expect(r.rowCount).toBe(1);
      const apis = slow.requests.map((q) => q.api);
      expect(apis[0]).toBe('jobs.query');
      expect(apis.slice(1).length).toBeGreaterThanOrEqual(1);
      expect(apis.slice(1).every((a) => a === 'jobs.getQueryResults')).toBe(true);
      expect(await ids()).toEqual([1]);
    } finally {
      await slow.close();
    }
  });
});

describe('credentials', () => {
  it('a password in apiEndpoint never appears in the error or the collector record', async () => {
    const adapter = makeAdapter({ apiEndpoint: 'http://proxyuser:hunter2-proxy@127.0.0.1:1' });
    const records: unknown[] = [];
    const batcher = new SQLBatcher({ adapter, collector: { record: (r) => void records.push(r) } });
    const err = await batcher.processStatements([insert(1)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const shown = `${inspect(err, { depth: 10 })} ${JSON.stringify(err)} ${(err as Error).stack} ${JSON.stringify(records)}`;
    expect(records.length).toBeGreaterThan(0);
    expect(shown).toContain('127.0.0.1:1');
    expect(shown).not.toContain('hunter2');
  });

  it('a private key never appears in the error of a failed request', async () => {
    const adapter = makeAdapter({
      authClient: undefined,
      credentials: {
        client_email: 'svc@p.iam.gserviceaccount.com',
        private_key: '-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n',
      },
      retryOptions: { autoRetry: false },
    });
    const err = (await adapter.execute('SELECT 1').catch((e: unknown) => e)) as BigQueryError;
    expect(err.name).toBe('BigQueryError');
    const shown = `${inspect(err, { depth: 10 })} ${JSON.stringify(err)} ${err.stack} ${String(err.cause)}`;
    expect(shown).not.toContain('SECRETKEYMATERIAL');
    expect(adapter.classifyError(err)).toMatchObject({ transient: false });
    expect(server.requests).toHaveLength(0);
  });
});
