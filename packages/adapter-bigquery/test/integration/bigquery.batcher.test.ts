import { ConfigurationError, SQLBatcher } from '@sqlbatcher/core';
import { type BigQueryTestServer, startBigQueryServer } from '@sqlbatcher/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BigQueryAdapter } from '../../src/index.js';

let server: BigQueryTestServer;

beforeAll(async () => {
  server = await startBigQueryServer({ datasets: ['ds'] });
});

afterAll(async () => {
  await server.close();
});

beforeEach(async () => {
  await server.db.exec(
    'DROP TABLE IF EXISTS ds.users; CREATE TABLE ds.users (id bigint PRIMARY KEY, name text, email text, created_at timestamptz)',
  );
  server.requests.length = 0;
});

function makeAdapter(extra: Record<string, unknown> = {}): BigQueryAdapter {
  return new BigQueryAdapter({
    projectId: server.projectId,
    apiEndpoint: server.url,
    authClient: server.authClient,
    retryOptions: { maxRetryDelay: 0.01 },
    ...extra,
  });
}

const seed = (i: number): string =>
  `INSERT INTO ds.users (id, name, email, created_at) VALUES (${i}, 'User ${i}', 'user${i}@example.com', CURRENT_TIMESTAMP())`;

async function count(): Promise<number> {
  const r = await server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM ds.users');
  return r.rows[0]!.n;
}

const queries = () => server.requests.filter((r) => r.api === 'jobs.query');

describe('SQLBatcher + BigQueryAdapter', () => {
  it('merges seed-shaped INSERTs into few large jobs, none over the limit, every row arriving', async () => {
    const adapter = makeAdapter();
    const statements = Array.from({ length: 30_000 }, (_, i) => seed(i));
    const batcher = new SQLBatcher({ adapter });
    await batcher.processStatements(statements);
    await batcher[Symbol.asyncDispose]();
    await adapter.close();
    expect(await count()).toBe(statements.length);
    const sent = queries();
    const bytes = sent.map((q) => Buffer.byteLength(q.query ?? ''));
    expect(Math.max(...bytes)).toBeLessThanOrEqual(adapter.capabilities.maxQuerySize);
    expect(sent.every((q) => (q.queryLength ?? 0) <= 1024 * 1024 && q.status === 200)).toBe(true);
    const minimum = Math.ceil(bytes.reduce((a, b) => a + b, 0) / adapter.capabilities.maxQuerySize);
    expect(sent.length).toBeLessThanOrEqual(Math.ceil(minimum * 1.03));
  });

  it('never sends text the server would reject: an oversized statement fails before anything is sent for it', async () => {
    const adapter = makeAdapter();
    const huge = `INSERT INTO ds.users (id, name) VALUES (1, '${'x'.repeat(1_100_000)}')`;
    const batcher = new SQLBatcher({ adapter });
    await expect(batcher.processStatements([huge])).rejects.toMatchObject({
      name: 'StatementTooLargeError',
      statementIndex: 0,
    });
    await adapter.close();
    expect(queries()).toHaveLength(0);
    // The same text sent straight to the server is refused by BigQuery's own limit.
    const direct = makeAdapter({ retryOptions: { autoRetry: false } });
    await expect(direct.execute(huge)).rejects.toMatchObject({ code: 'invalid', httpStatus: 400 });
    await direct.close();
  });

  it("transaction: 'batch' wraps each batch in BEGIN/COMMIT TRANSACTION in a session; a failing batch leaves nothing", async () => {
    const adapter = makeAdapter();
    const batcher = new SQLBatcher({ adapter, transaction: 'batch', retry: false });
    await batcher.processStatements([seed(1), seed(2)]);
    await batcher.flush();
    const failing = [seed(3), 'UPDATE ds.users SET name = NULL WHERE id = 1', seed(1)]; // duplicate key
    await expect(batcher.processStatements(failing)).rejects.toMatchObject({ name: 'BatchExecutionError' });
    await batcher[Symbol.asyncDispose]().catch(() => undefined);
    await adapter.close();
    const rows = await server.db.query<{ id: number; name: string | null }>(
      'SELECT id::int AS id, name FROM ds.users ORDER BY id',
    );
    expect(rows.rows).toEqual([
      { id: 1, name: 'User 1' },
      { id: 2, name: 'User 2' },
    ]);
    const texts = queries().map((q) => q.query);
    expect(texts).toContain('BEGIN TRANSACTION');
    expect(texts).toContain('COMMIT TRANSACTION');
    expect(texts.some((t) => /SAVEPOINT/i.test(t ?? ''))).toBe(false);
  });

  it('refuses savepoints up front (BigQuery has none)', () => {
    const adapter = makeAdapter();
    expect(() => new SQLBatcher({ adapter, transaction: 'all', savepoints: true })).toThrow(
      ConfigurationError,
    );
  });

  it("transaction: 'batch': a COMMIT refused by rate limits is rolled back and retried, not left open", async () => {
    const adapter = makeAdapter();
    const session = adapter.session.bind(adapter);
    let commits = 0;
    adapter.session = async () => {
      const s = await session();
      const commit = s.commit.bind(s);
      s.commit = async () => {
        // (more 429s than the client retries on its own)
        if (++commits === 1) server.failNext(4, 429);
        return commit();
      };
      return s;
    };
    const batcher = new SQLBatcher({
      adapter,
      transaction: 'batch',
      mergeInserts: false,
      maxBytes: 80,
      retry: { maxAttempts: 3, initialDelayMs: 1, jitter: false },
    });
    await batcher.processStatements([seed(1), seed(2), seed(3), seed(4)]);
    await batcher.close();
    await adapter.close();
    expect(batcher.report.rejected).toEqual([]);
    const r = await server.db.query<{ id: number }>('SELECT id::int AS id FROM ds.users ORDER BY id');
    expect(r.rows.map((x) => x.id)).toEqual([1, 2, 3, 4]);
    expect(server.sessionCount()).toBe(0);
  });

  it('does not resend a script answered with a rate limit (403) when its job may have run', async () => {
    const adapter = makeAdapter({ retryOptions: { autoRetry: false } });
    const batcher = new SQLBatcher({ adapter, retry: { maxAttempts: 3, initialDelayMs: 1, jitter: false } });
    server.failNext(1, 403, { afterExecution: true });
    const err = await batcher
      .processStatements([seed(1), 'UPDATE ds.users SET id = id + 10 WHERE true'])
      .catch((e: unknown) => e);
    await batcher[Symbol.asyncDispose]().catch(() => undefined);
    await adapter.close();
    expect(err).toMatchObject({ name: 'BatchExecutionError', inDoubt: true });
    expect(queries()).toHaveLength(1);
    const r = await server.db.query<{ id: number }>('SELECT id::int AS id FROM ds.users');
    expect(r.rows).toEqual([{ id: 11 }]);
  });

  describe('a script BigQuery refuses at compile time (syntax error) ran none of its statements', () => {
    // The batcher sends the four statements as one script; the third one has a syntax error that
    // BigQuery finds before it runs anything: the first two must not be counted as applied.
    const cases: [string, string][] = [
      [
        'an illegal escape (found by the parser)',
        "INSERT INTO ds.users (id, name) VALUES (3, 'bad \\q escape')",
      ],
      ['a misplaced comma (found by the compiler)', 'INSERT INTO ds.users (id, name) VALUES (3, )'],
    ];
    for (const [what, bad] of cases) {
      it(`${what}: 'isolate' commits every good statement and reports the bad one`, async () => {
        const adapter = makeAdapter({ retryOptions: { autoRetry: false } });
        const batcher = new SQLBatcher({ adapter, mergeInserts: false, onError: 'isolate', retry: false });
        await batcher.processStatements([seed(1), seed(2), bad, seed(4)]);
        const rejected = batcher.report.rejected.map((f) => f.index);
        await batcher[Symbol.asyncDispose]();
        await adapter.close();
        const r = await server.db.query<{ id: number }>('SELECT id::int AS id FROM ds.users ORDER BY id');
        expect(r.rows.map((x) => x.id)).toEqual([1, 2, 4]);
        expect(rejected).toEqual([2]);
        expect(queries()[0]!.query).toContain(bad);
      });

      it(`${what}: 'throw' says nothing of the script was applied`, async () => {
        const adapter = makeAdapter({ retryOptions: { autoRetry: false } });
        const batcher = new SQLBatcher({ adapter, mergeInserts: false, retry: false });
        const err = await batcher
          .processStatements([seed(1), seed(2), bad, seed(4)])
          .catch((e: unknown) => e);
        await batcher[Symbol.asyncDispose]().catch(() => undefined);
        await adapter.close();
        expect(err).toMatchObject({ name: 'BatchExecutionError', inDoubt: false, failedStatementIndex: 2 });
        expect((err as { cause?: { classification?: unknown } }).cause?.classification).toMatchObject({
          effect: 'none',
        });
        expect(await count()).toBe(0);
      });
    }
  });

  for (const [what, bad] of [
    ['first', 0],
    ['second', 1],
  ] as const) {
    it(`onError 'skip' with the default session: a bad ${what} statement of the first script is rejected and the run goes on`, async () => {
      await server.db.exec('DROP TABLE IF EXISTS ds.other; CREATE TABLE ds.other (id bigint)');
      const adapter = makeAdapter({ retryOptions: { autoRetry: false } });
      const batcher = new SQLBatcher({ adapter, onError: 'skip' });
      const statements = [seed(1), 'INSERT INTO ds.other (id) VALUES (2)'];
      statements.splice(bad, 0, 'INSERT INTO ds.nope (id) VALUES (0)');
      await batcher.processStatements(statements);
      await batcher[Symbol.asyncDispose]();
      await adapter.close();
      expect(batcher.report.rejected.map((r) => r.index)).toEqual([bad]);
      expect(await count()).toBe(1);
      const other = await server.db.query('SELECT id FROM ds.other');
      expect(other.rows).toHaveLength(1);
    });
  }

  it('a script refused by the API request rate limit (403 before any job) is resent whole', async () => {
    const adapter = makeAdapter({ retryOptions: { autoRetry: false } });
    const batcher = new SQLBatcher({ adapter, retry: { maxAttempts: 3, initialDelayMs: 1, jitter: false } });
    server.failNext(1, 403);
    await batcher.processStatements([seed(1), 'UPDATE ds.users SET id = id + 10 WHERE true']);
    await batcher[Symbol.asyncDispose]();
    await adapter.close();
    const scripts = queries().filter((q) => q.query?.startsWith('INSERT'));
    expect(scripts.map((q) => q.status)).toEqual([403, 200]);
    const r = await server.db.query<{ id: number }>('SELECT id::int AS id FROM ds.users');
    expect(r.rows).toEqual([{ id: 11 }]);
  });

  it('does not resend a batch whose answer was lost when the job may have run', async () => {
    const adapter = makeAdapter({ retryOptions: { autoRetry: false } });
    const batcher = new SQLBatcher({ adapter, retry: { maxAttempts: 3, initialDelayMs: 1, jitter: false } });
    server.failNext(1, 503, { afterExecution: true });
    const err = await batcher.processStatements([seed(1)]).catch((e: unknown) => e);
    await batcher[Symbol.asyncDispose]().catch(() => undefined);
    await adapter.close();
    expect(err).toMatchObject({ name: 'BatchExecutionError' });
    expect(queries()).toHaveLength(1);
    expect(await count()).toBe(1);
  });
});

describe("a failure inside the input's own BEGIN TRANSACTION (found in review)", () => {
  for (const [onError, begin, commit] of [
    ['throw', 'BEGIN TRANSACTION', 'COMMIT TRANSACTION'],
    ['skip', 'BEGIN TRANSACTION', 'COMMIT TRANSACTION'],
    ['isolate', 'BEGIN TRANSACTION', 'COMMIT TRANSACTION'],
    // (a bare BEGIN too, and one after a comment: found in review)
    ['skip', 'BEGIN', 'COMMIT'],
    ['isolate', '/* open */ BEGIN', 'COMMIT'],
  ] as const) {
    it(`${onError}, ${begin}: BigQuery rolled the whole transaction back; the run stops and says so`, async () => {
      await server.db.exec('DROP TABLE IF EXISTS ds.blk; CREATE TABLE ds.blk (id bigint NOT NULL)');
      const adapter = makeAdapter();
      const batcher = new SQLBatcher({ adapter, onError });
      const err = (await batcher
        .processStatements([
          'INSERT INTO ds.blk (id) VALUES (0)',
          begin,
          'INSERT INTO ds.blk (id) VALUES (1)',
          'UPDATE ds.blk SET id = 10 WHERE id = 0',
          'INSERT INTO ds.blk (id) VALUES (NULL)',
          'INSERT INTO ds.blk (id) VALUES (4)',
          commit,
          'INSERT INTO ds.blk (id) VALUES (6)',
        ])
        .catch((e: unknown) => e)) as { name?: string; blockUndoneFrom?: number } | undefined;
      await batcher.close().catch(() => undefined);
      await adapter.close();
      // (was, under skip / isolate: statements #2 and #3 reported applied, the run going on outside the block)
      expect(err?.name).toBe('BatchExecutionError');
      expect(err?.blockUndoneFrom).toBe(1);
      const rows = await server.db.query<{ id: string }>('SELECT id FROM ds.blk ORDER BY id');
      expect(rows.rows.map((r) => Number(r.id))).toEqual([0]);
      expect(batcher.report.rejected).toEqual([]);
    });
  }
});
