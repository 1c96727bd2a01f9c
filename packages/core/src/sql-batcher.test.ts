import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pgliteAdapter, recordingAdapter } from '../test/helpers.js';
import { excerpt } from './errors.js';
import {
  type Adapter,
  BatchExecutionError,
  type BatchStatement,
  backoffDelay,
  CircuitBreaker,
  CircuitOpenError,
  ClosedError,
  ConfigurationError,
  GenericAdapter,
  InvalidStatementError,
  PluginError,
  type QueryRecord,
  type RejectedStatement,
  retryPolicy,
  SQLBatcher,
  StatementTooLargeError,
  splitStatementChunks,
  TimeoutError,
} from './index.js';

const ins = (i: number, table = 't') => `INSERT INTO ${table} (id, s) VALUES (${i}, 's${i}')`;
const fast = { initialDelayMs: 1, maxDelayMs: 2 };

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

// ------------------------------------------------------------------ retry

describe('retry', () => {
  function flaky(
    failures: number,
    classification: { transient: boolean; effect: 'none' | 'rolled-back' | 'unknown' },
  ) {
    let calls = 0;
    const adapter = new GenericAdapter({
      execute: () => {
        calls++;
        if (calls <= failures) throw new Error(`boom ${calls}`);
        return { rowCount: 1 };
      },
      classifyError: () => classification,
      capabilities: { multiStatement: true, atomicMultiStatement: true },
    });
    return { adapter, calls: () => calls };
  }

  it('retries a transient failure that had no effect, up to maxAttempts', async () => {
    const f = flaky(2, { transient: true, effect: 'none' });
    const b = new SQLBatcher({ adapter: f.adapter, retry: { ...fast, maxAttempts: 3 } });
    await b.processStatements([ins(1)]);
    expect(f.calls()).toBe(3);
    expect(b.report.retries).toBe(2);
    expect(b.report.requests).toBe(1);
  });

  it('gives up after maxAttempts', async () => {
    const f = flaky(10, { transient: true, effect: 'rolled-back' });
    const b = new SQLBatcher({ adapter: f.adapter, retry: { ...fast, maxAttempts: 4 } });
    const err = (await caught(b.processStatements([ins(1), ins(2)]))) as BatchExecutionError;
    expect(err).toBeInstanceOf(BatchExecutionError);
    expect(err.attempts).toBe(4);
    expect(err.statementIndices).toEqual([0, 1]);
    expect(f.calls()).toBe(4);
  });

  it('never retries when the effect is unknown', async () => {
    const f = flaky(1, { transient: true, effect: 'unknown' });
    const b = new SQLBatcher({ adapter: f.adapter, retry: { ...fast, maxAttempts: 5 } });
    const err = (await caught(b.processStatements([ins(1)]))) as BatchExecutionError;
    expect(err.inDoubt).toBe(true);
    expect(err.code).toBe('BATCH_IN_DOUBT');
    expect(f.calls()).toBe(1);
  });

  it('never retries a non-transient failure, nor with retry: false, nor without classifyError', async () => {
    const f = flaky(1, { transient: false, effect: 'none' });
    await caught(new SQLBatcher({ adapter: f.adapter, retry: fast }).processStatements([ins(1)]));
    expect(f.calls()).toBe(1);
    const g = flaky(1, { transient: true, effect: 'none' });
    await caught(new SQLBatcher({ adapter: g.adapter, retry: false }).processStatements([ins(1)]));
    expect(g.calls()).toBe(1);
    let calls = 0;
    const h = new GenericAdapter({
      execute: () => {
        calls++;
        throw new Error('x');
      },
    });
    await caught(new SQLBatcher({ adapter: h, retry: fast }).processStatements([ins(1)]));
    expect(calls).toBe(1);
  });

  it('a rolled-back multi-statement request is in doubt on an engine that is not atomic', async () => {
    let calls = 0;
    const adapter = new GenericAdapter({
      execute: () => {
        calls++;
        throw new Error('x');
      },
      classifyError: () => ({ transient: true, effect: 'rolled-back' }),
      capabilities: { multiStatement: true, atomicMultiStatement: false },
    });
    const err = (await caught(
      new SQLBatcher({ adapter, retry: fast }).processStatements([ins(1), 'DELETE FROM t', ins(2)]),
    )) as BatchExecutionError;
    expect(err.inDoubt).toBe(true);
    expect(calls).toBe(1);
  });

  it("a failure that took the input's transaction block with it is not retried and stops the run, naming the BEGIN", async () => {
    for (const onError of ['throw', 'skip', 'isolate'] as const) {
      const sent: string[] = [];
      const adapter = new GenericAdapter({
        execute: (sql: string) => {
          sent.push(sql);
          if (sql === 'COMMIT') throw new Error('could not serialize access');
          return { rowCount: 0 };
        },
        classifyError: () => ({ transient: true, effect: 'rolled-back', transactionLost: true }),
        capabilities: { multiStatement: true },
      });
      const b = new SQLBatcher({ adapter, onError, retry: fast });
      const err = (await caught(
        b.processStatements([ins(1), 'BEGIN', ins(2), 'COMMIT', ins(3)]),
      )) as BatchExecutionError;
      expect(err, onError).toMatchObject({ code: 'BATCH_FAILED', statementIndices: [3], attempts: 1 });
      expect(err.message).toContain(
        'the transaction block the input opened at #1 was aborted or rolled back with it: no statement from #1 on is applied',
      );
      expect(sent.filter((s) => s === 'COMMIT')).toHaveLength(1);
      expect(b.report.retries).toBe(0);
      expect(b.report.rejected).toEqual([]);
    }
  });

  it('names the BEGIN of the lost block: a block committed inside an input string (comments before its COMMIT) is not it', async () => {
    let commits = 0;
    const adapter = new GenericAdapter({
      execute: (sql: string) => {
        if (sql === 'COMMIT' && ++commits === 1) throw new Error('could not serialize access');
        return { rowCount: 0 };
      },
      classifyError: () => ({ transient: true, effect: 'rolled-back', transactionLost: true }),
      capabilities: { multiStatement: true },
      dialect: 'postgres',
    });
    const b = new SQLBatcher({ adapter, retry: fast });
    const err = (await caught(
      b.processStatements([`BEGIN; ${ins(1)}; -- done\nCOMMIT`, ins(2), 'BEGIN', ins(3), 'COMMIT']),
    )) as BatchExecutionError;
    expect(err.message).toContain('the transaction block the input opened at #2 was aborted');
  });

  it('isRetryable can veto a retry', async () => {
    const f = flaky(1, { transient: true, effect: 'none' });
    const b = new SQLBatcher({ adapter: f.adapter, retry: { ...fast, isRetryable: () => false } });
    await caught(b.processStatements([ins(1)]));
    expect(f.calls()).toBe(1);
  });

  it('backoffDelay: exponential, capped, full jitter within [0, cap]', () => {
    const p = retryPolicy({ initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: false });
    expect([1, 2, 3, 4, 5, 10].map((r) => backoffDelay(p, r))).toEqual([100, 200, 400, 800, 1000, 1000]);
    const j = retryPolicy({ initialDelayMs: 100, maxDelayMs: 1000, factor: 2 });
    expect(backoffDelay(j, 3, () => 0.5)).toBe(200);
    expect(backoffDelay(j, 30, () => 0.999999)).toBeLessThanOrEqual(1000);
    expect(backoffDelay(j, 30, () => 0)).toBe(0);
    for (let r = 1; r < 40; r++) {
      const d = backoffDelay(j, r, Math.random);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(1000);
    }
    expect(() => retryPolicy({ maxAttempts: 0 })).toThrow(RangeError);
  });
});

// ------------------------------------------------------------------ circuit breaker

describe('circuit breaker', () => {
  it('opens after N consecutive failures, fails fast, probes after the reset time, closes on success', async () => {
    let now = 1_000;
    let fail = true;
    let calls = 0;
    const adapter = new GenericAdapter({
      execute: () => {
        calls++;
        if (fail) throw new Error('down');
        return { rowCount: 1 };
      },
      classifyError: () => ({ transient: false, effect: 'none' }),
    });
    const b = new SQLBatcher({
      adapter,
      retry: false,
      circuitBreaker: { failureThreshold: 3, resetTimeoutMs: 10_000, now: () => now },
    });
    for (let i = 0; i < 3; i++) {
      expect(await caught(b.processStatements([ins(i)]))).toBeInstanceOf(BatchExecutionError);
    }
    expect(calls).toBe(3);
    // open: nothing is sent
    const open = await caught(b.processStatements([ins(10)]));
    expect(open).toBeInstanceOf(CircuitOpenError);
    expect((open as CircuitOpenError).statementIndices).toEqual([3]);
    expect(calls).toBe(3);
    // after the reset time one probe goes through; it fails → open again
    now += 10_000;
    expect(await caught(b.processStatements([ins(11)]))).toBeInstanceOf(BatchExecutionError);
    expect(calls).toBe(4);
    expect(await caught(b.processStatements([ins(12)]))).toBeInstanceOf(CircuitOpenError);
    expect(calls).toBe(4);
    // next probe succeeds → closed
    now += 10_000;
    fail = false;
    await b.processStatements([ins(13)]);
    await b.processStatements([ins(14)]);
    expect(calls).toBe(6);
  });

  it('opening between retries fails the batch with the database error: recorded, hooks run, counts right', async () => {
    let calls = 0;
    const dbError = Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    const adapter = new GenericAdapter({
      execute: () => {
        calls++;
        throw dbError;
      },
      classifyError: () => ({ transient: true, effect: 'none' }),
    });
    const records: QueryRecord[] = [];
    const hooks: string[] = [];
    const b = new SQLBatcher({
      adapter,
      collector: { record: (r) => void records.push(r) },
      retry: { maxAttempts: 5, initialDelayMs: 1, jitter: false },
      circuitBreaker: { failureThreshold: 2 },
      plugins: [
        {
          name: 'hooks',
          beforeBatch: () => void hooks.push('before'),
          afterBatch: (_b, o) => void hooks.push(`after:${o.success}:${o.retries}`),
          onError: () => void hooks.push('onError'),
        },
      ],
    });
    const err = await caught(b.processStatements([ins(1)]));
    // Two attempts reached the database; the breaker opened before the third.
    expect(calls).toBe(2);
    expect(err).toBeInstanceOf(BatchExecutionError);
    expect(err).toMatchObject({ statementIndices: [0], cause: dbError });
    expect((err as Error).message).toMatch(/circuit breaker opened/);
    expect(hooks).toEqual(['before', 'after:false:1', 'onError']);
    expect(records.map((r) => [r.success, r.retries, r.error?.code])).toEqual([[false, 1, 'ECONNREFUSED']]);
    expect(b.report).toMatchObject({ requests: 1, retries: 1 });
    // Open now: a run it refuses sends nothing and is not counted as a request.
    expect(await caught(b.processStatements([ins(2)]))).toBeInstanceOf(CircuitOpenError);
    expect(calls).toBe(2);
    expect(b.report).toMatchObject({ requests: 1, retries: 1 });
  });

  it('does not sleep a backoff the open breaker would refuse anyway: the batch fails at once', async () => {
    let calls = 0;
    const adapter = new GenericAdapter({
      execute: () => {
        calls++;
        throw new Error('overloaded');
      },
      classifyError: () => ({ transient: true, effect: 'none' }),
    });
    const b = new SQLBatcher({
      adapter,
      // A backoff far beyond the test's timeout: waiting it out would fail the test.
      retry: { maxAttempts: 3, initialDelayMs: 600_000, maxDelayMs: 600_000, jitter: false },
      circuitBreaker: { failureThreshold: 1, resetTimeoutMs: 3_600_000 },
    });
    const err = await caught(b.processStatements([ins(1)]));
    expect(calls).toBe(1);
    expect(err).toBeInstanceOf(BatchExecutionError);
    expect((err as Error).message).toMatch(/circuit breaker opened/);
    expect(b.report).toMatchObject({ requests: 1, retries: 0 });
  });

  it('waits the backoff when another request in flight may close the breaker meanwhile', async () => {
    let failedOnce = false;
    const sent: string[] = [];
    const adapter = new GenericAdapter({
      dialect: 'postgres',
      capabilities: { maxConcurrency: 2 },
      execute: async (sql) => {
        sent.push(sql);
        if (sql.includes('(1)') && !failedOnce) {
          failedOnce = true;
          throw new Error('overloaded'); // opens the breaker (threshold 1)
        }
        // in flight when statement 1 fails; its success closes the breaker during the backoff
        if (sql.includes('(2)')) await new Promise((r) => setTimeout(r, 50));
        return { rowCount: 1 };
      },
      classifyError: () => ({ transient: true, effect: 'none' }),
    });
    const b = new SQLBatcher({
      adapter,
      concurrency: 2,
      batchMode: false,
      retry: { maxAttempts: 3, initialDelayMs: 200, maxDelayMs: 200, jitter: false },
      circuitBreaker: { failureThreshold: 1, resetTimeoutMs: 10_000 },
    });
    const n = await b.processStatements(['INSERT INTO t (id) VALUES (2)', 'INSERT INTO t (id) VALUES (1)']);
    expect(n).toBe(2);
    expect(sent).toHaveLength(3);
    expect(b.report).toMatchObject({ requests: 2, retries: 1 });
  });

  it("opening between retries stops an onError: 'skip' run instead of rejecting and going on", async () => {
    const adapter = new GenericAdapter({
      execute: () => {
        throw new Error('overloaded');
      },
      classifyError: () => ({ transient: true, effect: 'none' }),
    });
    const b = new SQLBatcher({
      adapter,
      onError: 'skip',
      batchMode: false,
      retry: { maxAttempts: 3, initialDelayMs: 1, jitter: false },
      circuitBreaker: { failureThreshold: 2 },
    });
    const err = await caught(b.processStatements([ins(1), ins(2)]));
    expect(err).toBeInstanceOf(BatchExecutionError);
    expect(err).toMatchObject({ statementIndices: [0], notSentIndices: [1] });
    expect(b.report.rejected).toEqual([]);
  });

  it('state machine with an injected clock; one probe at a time', () => {
    let now = 0;
    const cb = new CircuitBreaker({ failureThreshold: 2, resetTimeoutMs: 100, now: () => now });
    cb.failure();
    expect(cb.state).toBe('closed');
    cb.success();
    cb.failure();
    expect(cb.state).toBe('closed');
    cb.failure();
    expect(cb.state).toBe('open');
    expect(() => cb.check([1])).toThrow(CircuitOpenError);
    now = 99;
    expect(() => cb.check()).toThrow(CircuitOpenError);
    now = 100;
    expect(cb.state).toBe('half-open');
    cb.check(); // the probe
    expect(() => cb.check()).toThrow(CircuitOpenError); // a second request waits for the probe
    cb.success();
    expect(cb.state).toBe('closed');
    cb.check();
  });
});

// ------------------------------------------------------------------ timeout

describe('merged upserts the adapter says may not go as one (canMergeUpserts)', () => {
  const up = (k: number, v = 'x') =>
    `INSERT INTO t (k, v) VALUES (${k}, '${v}') ON CONFLICT (k) DO UPDATE SET v = excluded.v`;
  const run = async (answer: boolean | 'throw', maxQuerySize = 1_000_000, stmts = [up(1), up(2), up(3)]) => {
    const sent: string[] = [];
    const asked: string[] = [];
    const adapter = new GenericAdapter({
      execute: (sql) => {
        sent.push(sql);
        return { rowCount: 0 };
      },
      maxQuerySize,
      capabilities: { multiStatement: true, atomicMultiStatement: true },
      canMergeUpserts: (st) => {
        asked.push(st.sql);
        if (answer === 'throw') throw new Error('catalog unreachable');
        return answer;
      },
    });
    const b = new SQLBatcher({ adapter });
    await b.processStatements(stmts);
    return { sent, asked, report: b.report };
  };

  it('sends a merged upsert as one INSERT when the adapter says yes', async () => {
    const { sent, asked } = await run(true);
    expect(sent).toEqual([
      "INSERT INTO t (k, v) VALUES (1, 'x'),(2, 'x'),(3, 'x') ON CONFLICT (k) DO UPDATE SET v = excluded.v",
    ]);
    expect(asked).toEqual(sent);
  });

  it('sends its input statements, in order, in one request when it says no or fails to answer', async () => {
    for (const answer of [false, 'throw'] as const) {
      const { sent } = await run(answer);
      expect(sent).toEqual([[up(1), up(2), up(3)].join(';\n')]);
    }
  });

  it('splits the request when the statements do not fit the engine limit together', async () => {
    const stmts = [up(1, 'a'.repeat(40)), up(2, 'b'.repeat(40)), up(3, 'c'.repeat(40))];
    const { sent, report } = await run(false, 250, stmts);
    expect(sent).toEqual([`${stmts[0]};\n${stmts[1]}`, stmts[2]]);
    expect(report.statements).toBe(3);
  });

  it('names a part never sent when a beforeBatch hook throws on it', async () => {
    const adapter = new GenericAdapter({
      execute: () => ({ rowCount: 0 }),
      maxQuerySize: 250,
      capabilities: { multiStatement: true, atomicMultiStatement: true },
      canMergeUpserts: () => false,
    });
    let calls = 0;
    const b = new SQLBatcher({
      adapter,
      plugins: [
        {
          name: 'second-fails',
          beforeBatch: () => {
            if (++calls === 2) throw new Error('hook failed');
          },
        },
      ],
    });
    const stmts = [up(1, 'a'.repeat(40)), up(2, 'b'.repeat(40)), up(3, 'c'.repeat(40))];
    const err = (await caught(b.processStatements(stmts))) as { notSentIndices?: number[] };
    expect(err.notSentIndices).toEqual([2]);
  });

  it('isolating a failed batch asks again for the merged upserts it rebuilds', async () => {
    const sent: string[] = [];
    const adapter = new GenericAdapter({
      execute: (sql) => {
        sent.push(sql);
        if (sql.includes("'bad'")) throw new Error('null value in column "v"');
        return { rowCount: 0 };
      },
      classifyError: () => ({ transient: false, effect: 'rolled-back' }),
      capabilities: { multiStatement: true, atomicMultiStatement: true },
      canMergeUpserts: () => false,
    });
    const b = new SQLBatcher({ adapter, onError: 'isolate', retry: false });
    await b.processStatements([up(1), up(11), up(2, 'bad'), up(3)]);
    expect(b.report.rejected.map((r) => r.index)).toEqual([2]);
    // (no request holds one INSERT with the rows of two statements)
    for (const sql of sent) expect(sql, sql).not.toMatch(/\),\(/);
  });

  it('a failure the adapter marks mergedRowsConflict sends the batch again unmerged, unless it holds a SELECT', async () => {
    const attempt = async (extra: string[]) => {
      const sent: string[] = [];
      const adapter = new GenericAdapter({
        execute: (sql) => {
          sent.push(sql);
          if (/\),\(/.test(sql))
            throw Object.assign(new Error('cannot affect row a second time'), { code: '21000' });
          return { rowCount: 0 };
        },
        classifyError: () => ({ transient: false, effect: 'rolled-back', mergedRowsConflict: true }),
        capabilities: { multiStatement: true, atomicMultiStatement: true },
        canMergeUpserts: () => true,
      });
      const b = new SQLBatcher({ adapter, retry: false });
      const err = await b.processStatements([...extra, up(1), up(11)]).catch((e: unknown) => e);
      return { sent, err };
    };
    const ddl = await attempt(['CREATE TABLE x (a int)']);
    expect(ddl.err).toBe(3);
    // (first merged, refused; then the same statements one by one, in one request)
    expect(ddl.sent).toHaveLength(2);
    expect(ddl.sent[0]).toContain("(1, 'x'),(11, 'x')");
    expect(ddl.sent[1]).toBe(['CREATE TABLE x (a int)', up(1), up(11)].join(';\n'));
    // (a SELECT may have taken a lock or set a sequence, which the rollback did not undo: not sent again)
    const select = await attempt(['SELECT pg_advisory_lock(42)']);
    expect(select.err).toMatchObject({ code: 'BATCH_FAILED' });
    expect(select.sent).toHaveLength(1);
  });

  it('does not ask about single-statement upserts or other INSERTs', async () => {
    const { asked } = await run(false, 1_000_000, [
      up(1),
      'DELETE FROM t',
      'INSERT INTO t (k) VALUES (1), (2)',
    ]);
    expect(asked).toEqual([]);
  });
});

describe('excerpts in errors', () => {
  it('mask a password given in the statement', async () => {
    const { adapter } = recordingAdapter({ multiStatement: true }, 60);
    const big = "CREATE ROLE app LOGIN PASSWORD 'hunter2-secret' CONNECTION LIMIT 5 VALID UNTIL '2030-01-01'";
    const err = await caught(new SQLBatcher({ adapter }).processStatements([big]));
    expect(err).toBeInstanceOf(StatementTooLargeError);
    expect((err as Error).message).not.toContain('hunter2');
    expect((err as Error).message).toContain("PASSWORD '***'");
    for (const sql of [
      "ALTER USER u WITH PASSWORD 'it''s-secret'",
      "ALTER USER u IDENTIFIED BY 's3cret'",
      "SET PASSWORD = 's3cret'",
      'CREATE USER u PASSWORD $$s3cret$$',
      // (found in review: each of these came through unmasked)
      "ALTER ROLE app PASSWORD E's3cret-1'",
      "ALTER ROLE app PASSWORD /* rotated */ 's3cret'",
      "ALTER ROLE app PASSWORD U&'s3cret'",
      'ALTER ROLE app PASSWORD $pw$s3cret$pw$',
      "CREATE USER u IDENTIFIED WITH mysql_native_password BY 's3cret'",
      "COPY INTO t FROM 's3://b/' CREDENTIALS=(AWS_KEY_ID='k' AWS_SECRET_KEY='s3cret')",
      `ALTER ROLE app PASSWORD '${'x'.repeat(10_000)}s3cret'`,
      "ALTER ROLE x PASSWORD\f's3cret'",
      "ALTER ROLE x PASSWORD /* a /* nested */ comment */ 's3cret'",
      // (found in review: Snowflake's secret parameters)
      "CREATE SECRET my_s TYPE = GENERIC_STRING SECRET_STRING = 's3cret-1'",
      "CREATE SECURITY INTEGRATION i TYPE = API_AUTHENTICATION OAUTH_CLIENT_SECRET = 's3cret-2'",
      "CREATE SECRET o TYPE = OAUTH2 OAUTH_REFRESH_TOKEN = 's3cret-3'",
      // (a named argument)
      "SELECT open_link(host := 'db1', password := 's3cret')",
    ]) {
      expect(excerpt(sql), sql).not.toMatch(/secret|s3cret/);
    }
    // (found in review: a key ending a string, its value after it; the TO form of SET)
    for (const sql of [
      "SELECT set_config('app.secret', 's3cret', false)",
      `SELECT '{"db.password": "s3cret"}'::jsonb`,
      "SET app.password TO 's3cret'",
      "SELECT json_build_object('password', 's3cret')",
      "SELECT set_config('app.password' /*c*/, 's3cret', false)",
    ]) {
      expect(excerpt(sql), sql).not.toContain('s3cret');
    }
    // a string continued on the next line is one string: all of it is the secret
    expect(excerpt("ALTER ROLE x PASSWORD 'hun'\n'ter2'")).toBe("ALTER ROLE x PASSWORD '***'");
  });

  it('mask it in the message and the sql of a BatchExecutionError too', async () => {
    const adapter = new GenericAdapter({
      dialect: 'postgres',
      capabilities: { multiStatement: true },
      classifyError: () => ({ transient: false, effect: 'rolled-back', statementPosition: 0 }),
      execute: async () => {
        throw Object.assign(new Error('role "app" does not exist'), { code: '42704' });
      },
    });
    const err = (await caught(
      new SQLBatcher({ adapter }).processStatements(["ALTER ROLE app PASSWORD E's3cret-1'"]),
    )) as BatchExecutionError;
    expect(err).toBeInstanceOf(BatchExecutionError);
    expect(err.message).toContain('ALTER ROLE app PASSWORD');
    expect(`${err.message} ${err.sql}`).not.toContain('s3cret');
  });
});

describe('close() during a retry backoff', () => {
  it('also when it comes while the attempt still runs: no backoff, no retry after it', async () => {
    let calls = 0;
    const adapter = new GenericAdapter({
      execute: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 300));
        throw new Error('connection refused');
      },
      classifyError: () => ({ transient: true, effect: 'none' }),
    });
    const b = new SQLBatcher({ adapter, retry: { maxAttempts: 5, initialDelayMs: 10_000, jitter: false } });
    const run = b.processStatements([ins(1)]).catch((e: unknown) => e);
    while (calls === 0) await new Promise((r) => setTimeout(r, 5));
    const t0 = Date.now();
    await b.close().catch(() => undefined);
    await run;
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(calls).toBe(1);
  });

  it('ends the backoff: the batch is not retried, the run stops at once', async () => {
    let calls = 0;
    const adapter = new GenericAdapter({
      execute: () => {
        calls++;
        throw new Error('connection refused');
      },
      classifyError: () => ({ transient: true, effect: 'none' }),
    });
    const b = new SQLBatcher({
      adapter,
      retry: { maxAttempts: 5, initialDelayMs: 10_000, jitter: false },
    });
    const run = b.processStatements([ins(1)]).catch((e: unknown) => e);
    while (calls === 0) await new Promise((r) => setTimeout(r, 5));
    const t0 = Date.now();
    await b.close().catch(() => undefined);
    const err = await run;
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(calls).toBe(1);
    expect(err).toBeInstanceOf(BatchExecutionError);
    expect((err as BatchExecutionError).statementIndices).toEqual([0]);
  });
});

describe('timeout', () => {
  it('aborts the signal and fails with TimeoutError; an adapter that honours abort settles at once', async () => {
    let signal: AbortSignal | undefined;
    const adapter = new GenericAdapter({
      execute: (_sql, opts) =>
        new Promise((_resolve, reject) => {
          signal = opts?.signal;
          opts?.signal?.addEventListener('abort', () => reject(new Error('cancelled by server')));
        }),
      classifyError: () => ({ transient: false, effect: 'none' }),
    });
    const b = new SQLBatcher({ adapter, timeoutMs: 30, cancelGraceMs: 5_000, retry: false });
    const t0 = Date.now();
    const err = (await caught(b.processStatements([ins(1)]))) as BatchExecutionError;
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(err).toBeInstanceOf(BatchExecutionError);
    expect(err.cause).toBeInstanceOf(TimeoutError);
    expect((err.cause as TimeoutError).cause).toBeInstanceOf(Error);
    expect(signal?.aborted).toBe(true);
    // the adapter said the cancelled attempt had no effect: not in doubt
    expect(err.inDoubt).toBe(false);
  });

  it('leaves no timer behind once a cancelled request has settled', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const adapter = new GenericAdapter({
      execute: (_sql, opts) =>
        new Promise((_resolve, reject) => {
          opts?.signal?.addEventListener('abort', () => reject(new Error('cancelled')));
        }),
      classifyError: () => ({ transient: false, effect: 'none' }),
    });
    await caught(
      new SQLBatcher({ adapter, timeoutMs: 10, cancelGraceMs: 60_000, retry: false }).processStatements([
        ins(1),
      ]),
    );
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('an adapter that ignores abort: TimeoutError after the grace period, in doubt, not retried', async () => {
    let calls = 0;
    const adapter = new GenericAdapter({
      execute: () => {
        calls++;
        return new Promise(() => undefined);
      },
      classifyError: () => ({ transient: true, effect: 'none' }),
    });
    const b = new SQLBatcher({
      adapter,
      timeoutMs: 20,
      cancelGraceMs: 30,
      retry: { ...fast, maxAttempts: 3 },
    });
    const err = (await caught(b.processStatements([ins(1)]))) as BatchExecutionError;
    expect(err.cause).toBeInstanceOf(TimeoutError);
    expect(err.inDoubt).toBe(true);
    expect(calls).toBe(1);
  });

  it('a request that finishes in time is not affected', async () => {
    const { adapter, sent } = recordingAdapter();
    await new SQLBatcher({ adapter, timeoutMs: 1_000 }).processStatements([ins(1)]);
    expect(sent).toHaveLength(1);
  });
});

// ------------------------------------------------------------------ dry run

describe('no adapter', () => {
  it('fails the first batch as not applied (not in doubt), naming the missing adapter', async () => {
    const b = new SQLBatcher({ maxBytes: 60 });
    const statements = Array.from({ length: 10 }, (_, i) => `INSERT INTO t (a) VALUES (${i})`);
    const err = (await b.processStatements(statements).catch((e: unknown) => e)) as BatchExecutionError;
    expect(err).toMatchObject({ name: 'BatchExecutionError', inDoubt: false });
    expect(err.code).not.toBe('BATCH_IN_DOUBT');
    expect(err.cause).toMatchObject({
      name: 'ConfigurationError',
      message: expect.stringContaining('no adapter'),
    });
    // nothing to send is not an error; an execute function for the call is enough
    const c = new SQLBatcher({});
    expect(await c.flush()).toBe(0);
    const seen: string[] = [];
    await c.processStatements(['INSERT INTO t (a) VALUES (1)'], async (sql) => {
      seen.push(sql);
      return { rowCount: 1 };
    });
    expect(seen).toEqual(['INSERT INTO t (a) VALUES (1)']);
  });
});

describe('dry run', () => {
  it('executes nothing; the collector and the callback get the exact SQL', async () => {
    const { adapter, sent } = recordingAdapter({ multiStatement: true, dialect: 'postgres' });
    const seen: string[] = [];
    const records: QueryRecord[] = [];
    const b = new SQLBatcher({
      adapter,
      dryRun: (sql) => void seen.push(sql),
      collector: { record: (r) => void records.push(r) },
    });
    await b.processStatements([ins(1), ins(2), 'DELETE FROM t WHERE id = 1', ins(3)]);
    expect(sent).toHaveLength(0);
    expect(seen).toEqual([
      "INSERT INTO t (id, s) VALUES (1, 's1'),(2, 's2');\nDELETE FROM t WHERE id = 1;\nINSERT INTO t (id, s) VALUES (3, 's3')",
    ]);
    expect(records.map((r) => [r.sql, r.dryRun, r.batchSize, r.bytes])).toEqual([
      [seen[0], true, 4, Buffer.byteLength(seen[0] as string)],
    ]);
  });

  it('works without an adapter', async () => {
    const seen: string[] = [];
    await new SQLBatcher({ dryRun: (sql) => void seen.push(sql) }).processStatements([ins(1)]);
    expect(seen).toEqual([ins(1)]);
  });
});

// ------------------------------------------------------------------ dispose

describe('dispose', () => {
  it('await using flushes what is buffered and runs plugin cleanup', async () => {
    const { adapter, sent } = recordingAdapter({ multiStatement: true });
    let cleaned = 0;
    {
      await using b = new SQLBatcher({ adapter, plugins: [{ name: 'p', cleanup: () => void cleaned++ }] });
      expect(await b.addStatement(ins(1))).toBe(false);
      expect(await b.addStatement(ins(2))).toBe(false);
      expect(sent).toHaveLength(0);
    }
    expect(sent.map((s) => s.sql)).toEqual(["INSERT INTO t (id, s) VALUES (1, 's1'),(2, 's2')"]);
    expect(cleaned).toBe(1);
  });

  it('a failed batch is not re-executed by a later flush or by dispose; cleanup still runs', async () => {
    const calls: string[] = [];
    let fail = true;
    const adapter = new GenericAdapter({
      execute: (sql) => {
        calls.push(sql);
        if (fail) throw new Error('rejected');
        return { rowCount: 1 };
      },
      classifyError: () => ({ transient: false, effect: 'none' }),
    });
    let cleaned = 0;
    const b = new SQLBatcher({ adapter, plugins: [{ name: 'p', cleanup: () => void cleaned++ }] });
    await b.addStatement(ins(1));
    expect(await caught(b.flush())).toBeInstanceOf(BatchExecutionError);
    expect(calls).toHaveLength(1);
    fail = false;
    expect(await b.flush()).toBe(0);
    await b[Symbol.asyncDispose]();
    expect(calls).toHaveLength(1);
    expect(cleaned).toBe(1);
    expect(await caught(b.addStatement(ins(2)))).toBeInstanceOf(ClosedError);
  });

  it('after a failed batch, the statement that triggered it is not run later by dispose (reported as not sent)', async () => {
    const calls: string[] = [];
    const adapter = new GenericAdapter({
      execute: (sql) => {
        calls.push(sql);
        throw new Error('rejected');
      },
      classifyError: () => ({ transient: false, effect: 'none' }),
      capabilities: { multiStatement: true },
    });
    const b = new SQLBatcher({ adapter, maxBytes: 15 }); // one statement per batch
    expect(await b.addStatement('DELETE FROM a')).toBe(false);
    const err = (await caught(b.addStatement('DELETE FROM b'))) as BatchExecutionError & {
      notSentIndices?: number[];
    };
    expect(err).toBeInstanceOf(BatchExecutionError);
    expect(err.statementIndices).toEqual([0]);
    expect(err.notSentIndices).toEqual([1]);
    await b[Symbol.asyncDispose]();
    expect(calls).toEqual(['DELETE FROM a']);
  });

  it('cleanup runs for every plugin even when dispose fails', async () => {
    const adapter = new GenericAdapter({
      execute: () => {
        throw new Error('down');
      },
    });
    const cleaned: string[] = [];
    const b = new SQLBatcher({
      adapter,
      plugins: [
        { name: 'a', cleanup: () => void cleaned.push('a') },
        {
          name: 'b',
          cleanup: () => {
            cleaned.push('b');
            throw new Error('cleanup failed');
          },
        },
        { name: 'c', cleanup: () => void cleaned.push('c') },
      ],
    });
    await b.addStatement(ins(1));
    expect(await caught(b[Symbol.asyncDispose]())).toBeInstanceOf(BatchExecutionError);
    expect(cleaned).toEqual(['a', 'b', 'c']);
  });
});

// ------------------------------------------------------------------ addStatement at the limit

describe('addStatement at the limit', () => {
  it('returns true exactly when a batch was sent; the statement that triggered it is kept', async () => {
    const { adapter, sent } = recordingAdapter({ multiStatement: true }, 10_000);
    const one = Buffer.byteLength(ins(1));
    // room for two statements (joined by ";\n"), not three
    const b = new SQLBatcher({ adapter, maxBytes: 2 * one + 2 + 5, mergeInserts: false });
    expect(await b.addStatement(ins(1))).toBe(false);
    expect(await b.addStatement(ins(2))).toBe(false);
    expect(await b.addStatement(ins(3))).toBe(true);
    expect(sent.map((s) => s.batch?.statements.map((x) => x.indices[0]))).toEqual([[0, 1]]);
    expect(await b.addStatement(ins(4))).toBe(false);
    expect(await b.flush()).toBe(2);
    expect(sent.map((s) => s.batch?.statements.map((x) => x.indices[0]))).toEqual([
      [0, 1],
      [2, 3],
    ]);
  });

  it('setBatchSize changes the soft target, capped by the ceiling', async () => {
    const { adapter, sent } = recordingAdapter({ multiStatement: true }, 200);
    const b = new SQLBatcher({ adapter, mergeInserts: false });
    expect(b.maxBytes).toBe(200);
    b.setBatchSize(10_000);
    expect(b.maxBytes).toBe(200);
    b.setBatchSize(50);
    expect(b.maxBytes).toBe(50);
    expect(() => b.setBatchSize(0)).toThrow(ConfigurationError);
    expect(() => b.setBatchSize(Number.NaN)).toThrow(ConfigurationError);
    await b.processStatements([ins(1), ins(2)]);
    expect(sent).toHaveLength(2); // 37 + 2 + 37 bytes do not fit 50
  });

  it('single-statement engines send each statement as it is added', async () => {
    const { adapter, sent } = recordingAdapter({ multiStatement: false });
    const b = new SQLBatcher({ adapter });
    expect(await b.addStatement('DELETE FROM t')).toBe(true);
    expect(await b.addStatement(ins(1))).toBe(false);
    expect(await b.addStatement('DELETE FROM u')).toBe(true);
    expect(sent.map((s) => s.sql)).toEqual(['DELETE FROM t', ins(1), 'DELETE FROM u']);
  });
});

// ------------------------------------------------------------------ bad input

describe('sessions', () => {
  it('pins for SELECT … INTO TEMP and pg_temp names, not for those words inside a string or comment', async () => {
    const pinsFor = async (first: string) => {
      let sessions = 0;
      const adapter = new GenericAdapter({
        execute: () => ({ rowCount: 0 }),
        dialect: 'postgres',
        capabilities: { multiStatement: true, transactions: true },
        session: async () => {
          sessions++;
          return {
            execute: async () => ({ rowCount: 0 }),
            begin: async () => undefined,
            commit: async () => undefined,
            rollback: async () => undefined,
            release: async () => undefined,
          };
        },
      });
      const b = new SQLBatcher({ adapter, concurrency: 4 });
      await b.processStatements([first, ins(1)]);
      await b[Symbol.asyncDispose]();
      return sessions > 0;
    };
    expect(await pinsFor('SELECT 1 AS a INTO TEMP tmp')).toBe(true);
    expect(await pinsFor('CREATE TABLE pg_temp.tmp (a int)')).toBe(true);
    expect(await pinsFor('CREATE TABLE "pg_temp".tmp (a int)')).toBe(true);
    expect(await pinsFor("UPDATE t SET note = 'moved into temp' WHERE false")).toBe(false);
    expect(await pinsFor("SELECT 'see pg_temp.x' /* into temp */")).toBe(false);
    expect(await pinsFor('SELECT 1')).toBe(false);
    expect(await pinsFor('SELECT 1 AS a INTO/**/TEMP tt')).toBe(true);
    // (found in review: each of these changed the session of one pool connection only)
    for (const pinning of [
      `SELECT "set_config"('work_mem', '7MB', false)`,
      `SELECT pg_catalog."set_config"('work_mem', '7MB', false)`,
      `SELECT set_config/**/('work_mem', '7MB', false)`,
      'SELECT setseed(0.5)',
      "UPDATE pg_settings SET setting = '7MB' WHERE name = 'work_mem'",
      "UPDATE pg_catalog . pg_settings SET setting = '7MB' WHERE name = 'work_mem'",
      'SELECT my_function_that_sets_config()',
      'CALL my_procedure()',
      'EXPLAIN ANALYZE CREATE TEMP TABLE tmp AS SELECT 0 AS id',
      'CREATE/**/TEMP TABLE tmp (id int)',
      '/* c */ CREATE TEMP TABLE tmp (id int)',
      'CREATE TABLE U&"pg\\005ftemp".tmp (id int)',
      "ALTER ROLE postgres IN DATABASE test SET work_mem = '7MB'",
      'ALTER DATABASE test RESET work_mem',
      // (found in review: a call under WITH or in parentheses)
      'WITH s AS (SELECT my_function_that_sets_config()) SELECT * FROM s',
      '(SELECT my_function_that_sets_config())',
      'INSERT INTO log SELECT my_function_that_sets_config()',
      'CREATE TABLE x AS SELECT my_function_that_sets_config()',
    ]) {
      expect(await pinsFor(pinning), pinning).toBe(true);
    }
    for (const free of [
      'CREATE TABLE t2 (a timestamptz DEFAULT now(), b text)',
      "UPDATE t SET note = 'set_config(x)' WHERE false",
      'UPDATE t SET n = n + 1 /* setseed( */',
      'EXPLAIN SELECT 1',
      'ALTER TABLE t ADD COLUMN settled int',
      'SELECT 1 FROM t WHERE a = 1',
    ]) {
      expect(await pinsFor(free), free).toBe(false);
    }
  });
});

describe('bad input', () => {
  it('SQL text with an unterminated quote: the statements before it run, the index counts across calls', async () => {
    const sent: string[] = [];
    const adapter = new GenericAdapter({
      execute: (sql: string) => {
        sent.push(sql);
        return { rowCount: 0 };
      },
      dialect: 'postgres',
      capabilities: { multiStatement: true },
    });
    const b = new SQLBatcher({ adapter });
    await b.processStatements(['SELECT 1', 'SELECT 2', 'SELECT 3']);
    const err = (await caught(b.processStatements("SELECT 4; SELECT 5; SELECT 'x"))) as InvalidStatementError;
    expect(err).toBeInstanceOf(InvalidStatementError);
    expect(err.statementIndex).toBe(5);
    expect(err.message).toMatch(/^statement #5: /);
    expect(sent.join(';')).toContain('SELECT 5');
  });

  it('unterminated quote at the end of a text stream: statements before it are executed', async () => {
    const { adapter, sent } = recordingAdapter({ multiStatement: true, dialect: 'postgres' });
    const b = new SQLBatcher({ adapter });
    const err = await caught(
      b.processStatements(`${ins(1)}; ${ins(2)}; INSERT INTO t (id, s) VALUES (3, 'oops`),
    );
    expect(err).toBeInstanceOf(InvalidStatementError);
    expect((err as InvalidStatementError).statementIndex).toBe(2);
    expect((err as Error).message).toContain("'oops");
    // the statements before the bad one were accepted, so they ran (as from a stream)
    expect(sent.flatMap((s) => s.batch?.statements.flatMap((x) => x.indices) ?? [])).toEqual([0, 1]);
  });

  it('unterminated quote at the end of a streamed file: statements before it are executed', async () => {
    const { adapter, sent } = recordingAdapter({ multiStatement: true, dialect: 'postgres' }, 1_000_000);
    const b = new SQLBatcher({ adapter, maxBytes: 100 });
    const text = `${[1, 2, 3, 4, 5].map((i) => ins(i)).join(';\n')};\nDELETE FROM t;\nINSERT INTO t (id, s) VALUES (6, 'never closed`;
    const bytes = new TextEncoder().encode(text);
    const chunks = [bytes.subarray(0, 50), bytes.subarray(50, 120), bytes.subarray(120)];
    const err = await caught(b.processStatements(splitStatementChunks(chunks)));
    expect(err).toBeInstanceOf(InvalidStatementError);
    expect((err as InvalidStatementError).statementIndex).toBe(6);
    expect((err as InvalidStatementError).excerpt).toContain("'never closed");
    expect(sent.flatMap((s) => s.batch?.statements.flatMap((x) => x.indices) ?? [])).toEqual([
      0, 1, 2, 3, 4, 5,
    ]);
  });

  it('a refused psql meta-command in the middle of a streamed chunk: the statements before it are executed', async () => {
    const { adapter, sent } = recordingAdapter({ multiStatement: true, dialect: 'postgres' });
    const text = `${ins(1)};\n${ins(2)};\n\\connect other\n${ins(3)};\n`;
    const err = await caught(new SQLBatcher({ adapter }).processStatements(splitStatementChunks([text])));
    expect(err).toBeInstanceOf(InvalidStatementError);
    expect((err as InvalidStatementError).statementIndex).toBe(2);
    expect(sent.flatMap((s) => s.batch?.statements.flatMap((x) => x.indices) ?? [])).toEqual([0, 1]);
  });

  it('unterminated quote mid-stream: every statement before it is executed, none after, none lost', async () => {
    const { adapter, sent } = recordingAdapter({ multiStatement: true, dialect: 'postgres' });
    const b = new SQLBatcher({ adapter });
    const err = await caught(b.processStatements([ins(1), 'DELETE FROM t', ins(2), "SELECT 'open", ins(9)]));
    expect(err).toBeInstanceOf(InvalidStatementError);
    expect((err as InvalidStatementError).statementIndex).toBe(3);
    expect((err as InvalidStatementError).code).toBe('UNTERMINATED');
    expect(sent.flatMap((s) => s.batch?.statements.flatMap((x) => x.indices) ?? [])).toEqual([0, 1, 2]);
  });

  it('a failing input source: statements read before the failure are executed, the error is rethrown', async () => {
    const { adapter, sent } = recordingAdapter({ multiStatement: true });
    async function* source() {
      yield ins(1);
      yield ins(2);
      throw new Error('disk read failed');
    }
    const err = await caught(new SQLBatcher({ adapter }).processStatements(source()));
    expect((err as Error).message).toBe('disk read failed');
    expect(sent.flatMap((s) => s.batch?.statements.flatMap((x) => x.indices) ?? [])).toEqual([0, 1]);
  });

  it('a database failure of the statements before a bad one is reported, not swallowed', async () => {
    const adapter = new GenericAdapter({
      execute: () => {
        throw new Error('relation "t" does not exist');
      },
      classifyError: () => ({ transient: false, effect: 'rolled-back' }),
      capabilities: { multiStatement: true, atomicMultiStatement: true },
    });
    const err = await caught(new SQLBatcher({ adapter }).processStatements([ins(1), ins(2), "SELECT 'open"]));
    expect(err).toBeInstanceOf(BatchExecutionError);
    expect((err as BatchExecutionError).statementIndices).toEqual([0, 1]);
    expect((err as Error).message).toMatch(/does not exist/);
    expect((err as Error).message).toMatch(/unterminated/);
  });

  it('NUL byte', async () => {
    const { adapter, sent } = recordingAdapter();
    const err = await caught(new SQLBatcher({ adapter }).processStatements([ins(1), "SELECT 'a\0b'"]));
    expect(err).toBeInstanceOf(InvalidStatementError);
    expect((err as InvalidStatementError).code).toBe('NUL_BYTE');
    expect((err as InvalidStatementError).statementIndex).toBe(1);
    expect(sent.map((s) => s.sql)).toEqual([ins(1)]);
  });

  it('NUL byte in an INSERT of a long run (read as bytes): refused by index, the rows before it sent', async () => {
    const { adapter, sent } = recordingAdapter({ multiStatement: true });
    const stmts = Array.from({ length: 1000 }, (_, i) => ins(i));
    stmts[700] = "INSERT INTO t (id, s) VALUES (700, 'a\0b')";
    const err = await caught(new SQLBatcher({ adapter, maxBytes: 1 << 20 }).processStatements(stmts));
    expect(err).toBeInstanceOf(InvalidStatementError);
    expect((err as InvalidStatementError).code).toBe('NUL_BYTE');
    expect((err as InvalidStatementError).statementIndex).toBe(700);
    const rows = sent.map((s) => s.sql).join('\n');
    expect(rows).toContain('(699, ');
    expect(rows).not.toContain('(700, ');
    expect(rows.match(/\(\d+, /g)?.length).toBe(700);
  });

  it('oversized statement: StatementTooLargeError naming its index, nothing of it sent, earlier statements kept', async () => {
    const { adapter, sent } = recordingAdapter({ multiStatement: true }, 100);
    const big = `INSERT INTO t (id, s) VALUES (1, 'a'), (2, '${'é'.repeat(60)}')`;
    const err = await caught(
      new SQLBatcher({ adapter }).processStatements([ins(1), 'DELETE FROM t', big, ins(4)]),
    );
    expect(err).toBeInstanceOf(StatementTooLargeError);
    const e = err as StatementTooLargeError;
    expect(e.statementIndex).toBe(2);
    expect(e.limit).toBe(100);
    expect(e.bytes).toBeGreaterThan(100);
    expect(sent.map((s) => s.sql)).toEqual([`${ins(1)};\nDELETE FROM t`]);
    expect(sent.some((s) => s.sql.includes("'a'"))).toBe(false);
  });

  it('a multi-row INSERT over the ceiling whose every row fits is refused whole, not split over requests (invariant 4)', async () => {
    const rows = Array.from({ length: 8 }, (_, i) => `(${i}, 'value-${i}')`).join(', ');
    const big = `INSERT INTO t (id, s) VALUES ${rows}`;
    for (const maxRowsPerInsert of [undefined, 4]) {
      const { adapter, sent } = recordingAdapter(
        { multiStatement: true, ...(maxRowsPerInsert ? { maxRowsPerInsert } : {}) },
        120,
      );
      const err = await caught(new SQLBatcher({ adapter }).processStatements([ins(1), big, ins(4)]));
      expect(err).toBeInstanceOf(StatementTooLargeError);
      expect((err as StatementTooLargeError).statementIndex).toBe(1);
      expect((err as StatementTooLargeError).message).toContain('INSERT INTO t (id, s) VALUES (0');
      expect(sent.map((s) => s.sql)).toEqual([ins(1)]);
    }
    // (its rows joined without the spaces between them fit: sent whole, in one INSERT)
    const { adapter, sent } = recordingAdapter({ multiStatement: true }, 200);
    const fits = `INSERT INTO t (id, s) VALUES ${Array.from({ length: 8 }, (_, i) => `(${i}, 'v${i}')`).join(`,${' '.repeat(20)}`)}`;
    expect(fits.length).toBeGreaterThan(200);
    await new SQLBatcher({ adapter }).processStatements([fits]);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.batch?.statements).toHaveLength(1);
  });

  it('empty and comment-only input is a clear error', async () => {
    const { adapter, sent } = recordingAdapter();
    for (const input of [[], [''], ['  -- nothing', '/* */ ;'], '', '-- only\n/* comments */;']) {
      const err = await caught(new SQLBatcher({ adapter }).processStatements(input));
      expect(err).toBeInstanceOf(InvalidStatementError);
      expect((err as InvalidStatementError).code).toBe('EMPTY_INPUT');
    }
    expect(sent).toHaveLength(0);
  });

  it('closed adapter: a clear error naming the statements', async () => {
    const { adapter, sent } = recordingAdapter({ multiStatement: true });
    await adapter.close();
    const err = (await caught(
      new SQLBatcher({ adapter }).processStatements([ins(1), ins(2)]),
    )) as BatchExecutionError;
    expect(err).toBeInstanceOf(BatchExecutionError);
    expect(err.statementIndices).toEqual([0, 1]);
    expect(err.cause).toBeInstanceOf(ClosedError);
    expect(err.message).toMatch(/closed/);
    expect(sent).toHaveLength(0);
  });

  it("transaction control statements conflict with transaction: 'batch', even inside a multi-statement string", async () => {
    const db = await sharedDb();
    for (const bad of ['COMMIT', 'begin', 'ROLLBACK', 'SELECT 1; COMMIT', '/* x */ SELECT 1;\nEND']) {
      const b = new SQLBatcher({ adapter: pgliteAdapter(db), transaction: 'batch' });
      const err = await caught(b.processStatements([ins(1, 'tb'), bad]));
      expect(err, bad).toBeInstanceOf(InvalidStatementError);
      expect((err as InvalidStatementError).code).toBe('TRANSACTION_CONFLICT');
      expect((err as InvalidStatementError).statementIndex).toBe(1);
    }
  }, 60_000);

  it('configuration errors', () => {
    const { adapter } = recordingAdapter();
    expect(() => new SQLBatcher({ adapter, transaction: 'batch' })).toThrow(ConfigurationError);
    expect(() => new SQLBatcher({ adapter, concurrency: 0 })).toThrow(ConfigurationError);
    expect(() => new SQLBatcher({ adapter, maxBytes: 0 })).toThrow(ConfigurationError);
    // honest capabilities: no savepoints on an adapter that has none
    const tx = new GenericAdapter({
      execute: () => undefined,
      session: async () => ({
        execute: async () => ({}),
        begin: async () => undefined,
        commit: async () => undefined,
        rollback: async () => undefined,
        release: async () => undefined,
      }),
      capabilities: { transactions: true, savepoints: false },
    });
    expect(() => new SQLBatcher({ adapter: tx, transaction: 'all', savepoints: true })).toThrow(/savepoints/);
    expect(() => new SQLBatcher({ adapter: tx, transaction: 'all', onError: 'isolate' })).toThrow(
      ConfigurationError,
    );
  });
});

// ------------------------------------------------------------------ PGlite-backed behaviour

let pgShared: Promise<PGlite> | undefined;
function sharedDb(): Promise<PGlite> {
  pgShared ??= PGlite.create().then(async (db) => {
    await db.exec('CREATE TABLE t (id int PRIMARY KEY, s text); CREATE TABLE tb (id int, s text);');
    return db;
  });
  return pgShared;
}

describe('with PGlite', () => {
  let db: PGlite;
  beforeAll(async () => {
    db = await sharedDb();
  }, 60_000);
  beforeEach(async () => {
    await db.exec('TRUNCATE t, tb');
  });
  afterAll(async () => {
    await (await pgShared)?.close();
  });
  const ids = async () =>
    (await db.query<{ id: number }>('SELECT id FROM t ORDER BY id')).rows.map((r) => r.id);

  it("onError: 'skip' drops the failed batch (rolled back), reports its statements, continues", async () => {
    await db.exec("INSERT INTO t VALUES (5, 'x')");
    const rejected: RejectedStatement[] = [];
    const b = new SQLBatcher({
      adapter: pgliteAdapter(db),
      onError: 'skip',
      maxBytes: 60, // three rows per merged INSERT
      plugins: [{ name: 'r', onRejected: (r) => void rejected.push(...r) }],
    });
    const stmts = [1, 2, 3, 4, 5, 6, 7, 8].map((i) => ins(i));
    await b.processStatements(stmts);
    // the batch holding the duplicate 5 (rows 4, 5, 6) is rolled back as a whole; the others are applied
    expect(b.report.rejected.map((r) => r.index)).toEqual([3, 4, 5]);
    expect(rejected.map((r) => r.index)).toEqual([3, 4, 5]);
    expect(rejected[0]?.sql).toBe(ins(4));
    expect(await ids()).toEqual([1, 2, 3, 5, 7, 8]);
  });

  it("onError: 'isolate' finds every bad statement and commits every good one", async () => {
    await db.exec("INSERT INTO t VALUES (3, 'x'), (8, 'x')");
    const b = new SQLBatcher({ adapter: pgliteAdapter(db), onError: 'isolate' });
    const stmts = [
      ...[1, 2, 3, 4].map((i) => ins(i)),
      "INSERT INTO t (id, s) VALUES (20, 'a'), (21, 'b')",
      "UPDATE t SET s = s || '!' WHERE id = 1",
      ...[5, 6, 7, 8, 9].map((i) => ins(i)),
      'SELECT 1/0',
      "INSERT INTO t (id, s) VALUES (30, 'a'), (30, 'dup in one statement')",
      ins(10),
    ];
    await b.processStatements(stmts);
    expect(b.report.rejected.map((r) => r.index).sort((x, y) => x - y)).toEqual([2, 9, 11, 12]);
    expect(b.report.rejected.find((r) => r.index === 2)?.sql).toBe(ins(3));
    expect(await ids()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 21]);
    expect((await db.query<{ s: string }>('SELECT s FROM t WHERE id = 1')).rows[0]?.s).toBe('s1!');
  });

  it("transaction: 'batch' — a failed batch leaves nothing behind", async () => {
    // two rows per batch: [1, 2] commits, [1, 3] fails and leaves nothing behind
    const b = new SQLBatcher({ adapter: pgliteAdapter(db), transaction: 'batch', maxBytes: 50 });
    const err = await caught(b.processStatements([ins(1), ins(2), ins(1), ins(3)]));
    expect(err).toBeInstanceOf(BatchExecutionError);
    expect((err as BatchExecutionError).statementIndices).toEqual([2, 3]);
    expect(await ids()).toEqual([1, 2]);
  });

  it('an attempt that ran and then lost its connection is retried only where it was rolled back', async () => {
    // execute runs the SQL, then reports a lost connection (effect unknown, transient)
    const flakyOnce = (tx: 'none' | 'batch') => {
      let failed = false;
      const inner = pgliteAdapter(db);
      const lose = async <T>(run: () => Promise<T>): Promise<T> => {
        const r = await run();
        if (!failed) {
          failed = true;
          throw new Error('connection reset');
        }
        return r;
      };
      return new GenericAdapter({
        execute: (sql) => lose(() => inner.execute(sql)),
        session: async () => {
          const s = await (inner.session as () => Promise<import('./index.js').AdapterSession>)();
          return { ...s, execute: (sql: string) => lose(() => s.execute(sql)) };
        },
        classifyError: () => ({ transient: true, effect: 'unknown' }),
        dialect: 'postgres',
        capabilities: { multiStatement: true, atomicMultiStatement: true, transactions: tx === 'batch' },
      });
    };
    // inside BEGIN … ROLLBACK the lost attempt left nothing: retried, each row once
    const b1 = new SQLBatcher({ adapter: flakyOnce('batch'), transaction: 'batch', retry: fast });
    await b1.processStatements([ins(1, 'tb'), ins(2, 'tb')]);
    expect(b1.report.retries).toBe(1);
    expect((await db.query('SELECT id FROM tb ORDER BY id')).rows).toEqual([{ id: 1 }, { id: 2 }]);
    // without a transaction the effect is unknown: never retried, reported in doubt
    await db.exec('TRUNCATE tb');
    const b2 = new SQLBatcher({ adapter: flakyOnce('none'), retry: fast });
    const err = (await caught(b2.processStatements([ins(1, 'tb'), ins(2, 'tb')]))) as BatchExecutionError;
    expect(err.inDoubt).toBe(true);
    expect((await db.query('SELECT id FROM tb ORDER BY id')).rows).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('statements PostgreSQL refuses in a transaction block are sent alone', async () => {
    const log: string[] = [];
    const b = new SQLBatcher({ adapter: pgliteAdapter(db, { log }) });
    await b.processStatements([ins(1), 'VACUUM t', ins(2), 'CREATE INDEX CONCURRENTLY t_s ON t (s)', ins(3)]);
    expect(log).toContain('VACUUM t');
    expect(log).toContain('CREATE INDEX CONCURRENTLY t_s ON t (s)');
    expect(await ids()).toEqual([1, 2, 3]);
    await db.exec('DROP INDEX t_s');
  });

  it("transaction: 'all' commits everything at the end, or nothing", async () => {
    const ok = new SQLBatcher({ adapter: pgliteAdapter(db), transaction: 'all', maxBytes: 60 });
    await ok.processStatements([ins(1), 'DELETE FROM tb', ins(2), ins(3)]);
    expect(await ids()).toEqual([1, 2, 3]);

    const bad = new SQLBatcher({ adapter: pgliteAdapter(db), transaction: 'all', maxBytes: 60 });
    const err = await caught(bad.processStatements([ins(4), ins(5), ins(1), ins(6)]));
    expect(err).toBeInstanceOf(BatchExecutionError);
    expect(await ids()).toEqual([1, 2, 3]);
    // the batcher is usable again: the failed transaction was rolled back
    await bad.processStatements([ins(7)]);
    expect(await ids()).toEqual([1, 2, 3, 7]);
  });

  it("transaction: 'all' with savepoints and onError 'isolate': one transaction, bad statements rolled back to their savepoint", async () => {
    const b = new SQLBatcher({
      adapter: pgliteAdapter(db),
      transaction: 'all',
      savepoints: true,
      onError: 'isolate',
      maxBytes: 100,
    });
    await b.processStatements([ins(1), ins(2), ins(1), ins(3), ins(4), ins(2), ins(5)]);
    expect(b.report.rejected.map((r) => r.index).sort()).toEqual([2, 5]);
    expect(await ids()).toEqual([1, 2, 3, 4, 5]);
  });
});

// ------------------------------------------------------------------ COMMIT failures

describe('COMMIT failures', () => {
  function sessionAdapter(commitError: Error | undefined, effect: 'unknown' | 'rolled-back') {
    const log: string[] = [];
    const session = async () => ({
      execute: async (sql: string) => {
        log.push(sql);
        return { rowCount: 1 };
      },
      begin: async () => void log.push('BEGIN'),
      commit: async () => {
        log.push('COMMIT');
        if (commitError) throw commitError;
      },
      rollback: async () => void log.push('ROLLBACK'),
      release: async (broken?: boolean) => void log.push(`release${broken ? ' broken' : ''}`),
    });
    const adapter = new GenericAdapter({
      execute: async () => ({}),
      session,
      classifyError: () => ({ transient: true, effect }),
      capabilities: { multiStatement: true, transactions: true },
    });
    return { adapter, log };
  }

  it("transaction: 'batch': a COMMIT that may have happened is in doubt and never retried", async () => {
    const { adapter, log } = sessionAdapter(new Error('connection lost during COMMIT'), 'unknown');
    const b = new SQLBatcher({ adapter, transaction: 'batch', retry: fast });
    const err = (await caught(b.processStatements([ins(1)]))) as BatchExecutionError;
    expect(err).toBeInstanceOf(BatchExecutionError);
    expect(err.inDoubt).toBe(true);
    expect(log.filter((l) => l === 'COMMIT')).toHaveLength(1);
  });

  it("transaction: 'batch': a COMMIT the engine rolled back (serialization failure) is retried", async () => {
    let fails = 1;
    const { adapter, log } = sessionAdapter(undefined, 'rolled-back');
    const s0 = adapter.session as () => Promise<import('./index.js').AdapterSession>;
    const flaky = new GenericAdapter({
      execute: adapter.execute,
      session: async () => {
        const s = await s0();
        return {
          ...s,
          commit: async () => {
            await s.commit();
            if (fails-- > 0) throw new Error('could not serialize access');
          },
        };
      },
      classifyError: () => ({ transient: true, effect: 'rolled-back' }),
      capabilities: { multiStatement: true, transactions: true },
    });
    const b = new SQLBatcher({ adapter: flaky, transaction: 'batch', retry: fast });
    await b.processStatements([ins(1)]);
    expect(b.report.retries).toBe(1);
    expect(log.filter((l) => l === 'COMMIT')).toHaveLength(2);
  });

  it("transaction: 'all': a failed final COMMIT is reported in doubt", async () => {
    const { adapter } = sessionAdapter(new Error('connection lost during COMMIT'), 'unknown');
    const b = new SQLBatcher({ adapter, transaction: 'all' });
    const err = (await caught(b.processStatements([ins(1), ins(2)]))) as BatchExecutionError;
    expect(err).toBeInstanceOf(BatchExecutionError);
    expect(err.inDoubt).toBe(true);
    expect(err.message).toMatch(/COMMIT/);
  });
});

// ------------------------------------------------------------------ plugins

describe('plugins', () => {
  it('a transformStatement that returns neither a string nor null is named in a PluginError (found in review)', async () => {
    for (const async of [false, true]) {
      const { adapter } = recordingAdapter();
      const give = (v: unknown) => (async ? Promise.resolve(v) : v);
      const b = new SQLBatcher({
        adapter,
        plugins: [
          {
            name: 'first',
            transformStatement: (sql: string, i: number) => give(i === 1 ? undefined : sql) as string,
          },
          { name: 'second', transformStatement: (sql: string) => sql.replace('t', 'u') },
        ],
      });
      const err = (await caught(b.processStatements([ins(0), ins(1)]))) as PluginError;
      expect(err, String(async)).toBeInstanceOf(PluginError);
      expect(err.message).toContain('"first"');
      expect(err.message).toContain('transformStatement');
      // (the statement it was given, by its input index: found in review, it named none)
      expect(err.message).toContain('(statement #1)');
      expect(err.statementIndices).toEqual([1]);
    }
    // a hook that throws names it too
    const { adapter } = recordingAdapter();
    const thrower = new SQLBatcher({
      adapter,
      plugins: [
        {
          name: 'thrower',
          transformStatement: (sql: string, i: number) => {
            if (i === 2) throw new Error('boom');
            return sql;
          },
        },
      ],
    });
    const err = (await caught(thrower.processStatements([ins(0), ins(1), ins(2)]))) as PluginError;
    expect(err.statementIndices).toEqual([2]);
    expect(err.message).toContain('(statement #2): boom');
  });

  it("a BigQuery or Snowflake BEGIN … END script block is not taken for the input's transaction (found in review)", async () => {
    for (const dialect of ['bigquery', 'snowflake'] as const) {
      const b = new SQLBatcher({
        adapter: new GenericAdapter({
          dialect,
          execute: (sql) => {
            if (sql.includes('bad')) throw new Error('boom');
          },
        }),
      });
      await b.processStatements(['BEGIN\n  SELECT 1;\nEND']);
      const err = (await caught(b.processStatements(['SELECT bad']))) as { blockUndoneFrom?: number };
      expect(err.blockUndoneFrom, dialect).toBeUndefined();
    }
  });

  it('a pass-through transformStatement, sync or async, keeps EMPTY_INPUT for empty input (found in review)', async () => {
    for (const transformStatement of [(sql: string) => sql, async (sql: string) => sql]) {
      const { adapter } = recordingAdapter();
      const b = new SQLBatcher({ adapter, plugins: [{ name: 'same', transformStatement }] });
      const err = (await caught(b.processStatements(['', '-- only a comment']))) as { code?: string };
      expect(err.code).toBe('EMPTY_INPUT');
    }
  });

  it('after SQL text with a refused statement, the next call goes on after its index (found in review)', async () => {
    const { adapter } = recordingAdapter();
    const b = new SQLBatcher({ adapter });
    const bad = (await caught(
      b.processStatements(
        "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); INSERT INTO t VALUES (3, 'c);",
      ),
    )) as { statementIndices?: number[] };
    expect(bad.statementIndices).toEqual([2]);
    const failing = new SQLBatcher({
      adapter: new GenericAdapter({
        execute: () => {
          throw new Error('boom');
        },
      }),
    });
    await caught(failing.processStatements("SELECT 1; SELECT 'x"));
    const next = (await caught(failing.processStatements(['SELECT 2']))) as { statementIndices?: number[] };
    expect(next.statementIndices).toEqual([2]);
  });

  it('a transformStatement that leaves every statement empty or comment-only drops them as null does, not EMPTY_INPUT', async () => {
    const { adapter, sent } = recordingAdapter();
    const b = new SQLBatcher({
      adapter,
      plugins: [
        { name: 'blank', transformStatement: (_sql: string, i: number) => (i === 0 ? '' : '-- gone') },
      ],
    });
    await b.processStatements([ins(0), ins(1)]);
    expect(sent).toEqual([]);
    expect(b.report.statements).toBe(0);
    // (without a plugin, such input is an error)
    const plain = new SQLBatcher({ adapter });
    expect(((await caught(plain.processStatements(['', '-- gone']))) as { code?: string }).code).toBe(
      'EMPTY_INPUT',
    );
  });

  it('hook order: beforeBatch → execute → afterBatch → onError; transformStatement may rewrite or drop', async () => {
    const log: string[] = [];
    let fail = false;
    const adapter = new GenericAdapter({
      execute: (sql) => {
        log.push(`execute ${sql}`);
        if (fail) throw new Error('boom');
        return { rowCount: 1 };
      },
    });
    const plugin = {
      name: 'p',
      init: () => void log.push('init'),
      transformStatement: (sql: string, i: number) => (i === 1 ? null : sql.replace('x', 'y')),
      beforeBatch: () => void log.push('before'),
      afterBatch: (_b: unknown, o: { success: boolean }) => void log.push(`after ${o.success}`),
      onError: () => void log.push('onError'),
      cleanup: () => void log.push('cleanup'),
    };
    const b = new SQLBatcher({ adapter, plugins: [plugin] });
    await b.processStatements(['DELETE FROM x', 'DELETE FROM dropped']);
    fail = true;
    await caught(b.processStatements(['DELETE FROM x']));
    await b.close();
    expect(log).toEqual([
      'init',
      'before',
      'execute DELETE FROM y',
      'after true',
      'before',
      'execute DELETE FROM y',
      'after false',
      'onError',
      'cleanup',
    ]);
  });

  it('an error in a hook fails the run as a PluginError naming plugin and hook', async () => {
    const { adapter } = recordingAdapter();
    const b = new SQLBatcher({
      adapter,
      plugins: [
        {
          name: 'bad',
          beforeBatch: () => {
            throw new Error('nope');
          },
        },
      ],
    });
    const err = await caught(b.processStatements([ins(1)]));
    expect((err as { code?: string }).code).toBe('PLUGIN_FAILED');
    expect((err as Error).message).toMatch(/"bad".*beforeBatch.*nope/);
  });
});

// ------------------------------------------------------------------ concurrency

describe('pipelining', () => {
  it('a synchronous input lets the event loop run while a request is in flight (the driver can finish it)', async () => {
    let pulled = 0;
    const dispatchedAt: number[] = [];
    const completedAt: number[] = [];
    const adapter = new GenericAdapter({
      // Completes on a macrotask, like a reply read from a socket: only an event-loop turn finishes it.
      execute: (sql) => {
        dispatchedAt.push(pulled);
        return new Promise((resolve) =>
          setImmediate(() => {
            completedAt.push(pulled);
            resolve({ rowCount: sql.length });
          }),
        );
      },
      capabilities: { multiStatement: true },
      maxQuerySize: 100_000,
    });
    function* input(): Generator<string> {
      for (let i = 0; i < 30_000; i++) {
        pulled = i;
        yield ins(i);
      }
    }
    const b = new SQLBatcher({ adapter, maxBytes: 50_000 });
    await b.processStatements(input());
    expect(dispatchedAt.length).toBeGreaterThan(3);
    // Each request finished while the next batch was still being read from the input, not only when
    // that batch was ready to go.
    for (let k = 0; k + 1 < dispatchedAt.length; k++) {
      expect(completedAt[k]).toBeLessThan(dispatchedAt[k + 1] as number);
    }
  });
});

describe('adapter.prepare', () => {
  function preparingAdapter(throwInPrepare: boolean) {
    const events: string[] = [];
    const adapter: Adapter = {
      name: 'preparing',
      capabilities: {
        ...new GenericAdapter({ execute: () => undefined }).capabilities,
        multiStatement: true,
      },
      execute: (_sql, options) => {
        events.push(`execute ${options?.batch?.statements[0]?.sql.slice(0, 40)}`);
        return new Promise((resolve) => setImmediate(() => resolve({ rowCount: 0 })));
      },
      prepare(statements) {
        events.push(`prepare ${statements[0]?.sql.slice(0, 40)}`);
        if (throwInPrepare) throw new Error('prepare failed');
      },
      close: async () => undefined,
    };
    return { adapter, events };
  }
  const input = () => Array.from({ length: 3000 }, (_, i) => ins(i));

  it('is offered each batch that waits for a request in flight, before that batch is executed', async () => {
    const { adapter, events } = preparingAdapter(false);
    await new SQLBatcher({ adapter, maxBytes: 5_000 }).processStatements(input());
    const executes = events.filter((e) => e.startsWith('execute'));
    expect(executes.length).toBeGreaterThan(3);
    // the first batch has nothing in flight before it: executed at once, never prepared
    expect(events[0]).toBe(executes[0]);
    for (const e of events.filter((x) => x.startsWith('prepare'))) {
      const batch = e.slice('prepare '.length);
      expect(events.indexOf(e)).toBeLessThan(events.indexOf(`execute ${batch}`));
    }
    expect(events.filter((e) => e.startsWith('prepare')).length).toBeGreaterThan(0);
  });

  it('a throwing prepare is ignored; a dry run never calls it', async () => {
    const { adapter, events } = preparingAdapter(true);
    const b = new SQLBatcher({ adapter, maxBytes: 5_000 });
    await b.processStatements(input());
    expect(b.report.statements).toBe(3000);
    expect(events.some((e) => e.startsWith('prepare'))).toBe(true);
    const dry = preparingAdapter(false);
    await new SQLBatcher({ adapter: dry.adapter, maxBytes: 20_000, dryRun: true }).processStatements(input());
    expect(dry.events.filter((e) => e.startsWith('prepare'))).toEqual([]);
    // nor does a run through a custom execute function (the adapter's work would be unused)
    const custom = preparingAdapter(false);
    await new SQLBatcher({ adapter: custom.adapter, maxBytes: 5_000 }).processStatements(
      input(),
      () => new Promise((resolve) => setImmediate(() => resolve({ rowCount: 0 }))),
    );
    expect(custom.events).toEqual([]);
  });
});

describe('concurrency', () => {
  it('an adapter that never answers canRunConcurrently: after timeoutMs the batch runs alone', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let ran = 0;
    const adapter = new GenericAdapter({
      execute: async (sql) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        ran += sql.match(/\(\d+\)/g)?.length ?? 0; // rows
        return { rowCount: 1 };
      },
      capabilities: { multiStatement: true, maxConcurrency: 4 },
      maxQuerySize: 10_000,
      canRunConcurrently: () => new Promise<boolean>(() => undefined),
    });
    const stmts = Array.from({ length: 8 }, (_, i) => `INSERT INTO t VALUES (${i})`);
    const b = new SQLBatcher({ adapter, concurrency: 3, maxBytes: 30, timeoutMs: 20 });
    await b.processStatements(stmts);
    expect(ran).toBe(8);
    expect(maxInFlight).toBe(1);
  }, 10_000);

  it('asks canRunConcurrently only once a barrier in flight has finished, and not for a custom execute', async () => {
    let ddlRunning = false;
    let inFlight = 0;
    let maxInFlight = 0;
    const askedDuringDdl: string[] = [];
    const execute = async (sql: string) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const ddl = !sql.startsWith('INSERT');
      if (ddl) ddlRunning = true;
      await new Promise((r) => setTimeout(r, ddl ? 30 : 5));
      if (ddl) ddlRunning = false;
      inFlight--;
      return { rowCount: 1 };
    };
    const adapter = new GenericAdapter({
      execute,
      capabilities: { multiStatement: true, maxConcurrency: 4 },
      maxQuerySize: 10_000,
      canRunConcurrently: (st) => {
        if (ddlRunning) askedDuringDdl.push(st[0]?.sql ?? '');
        return true;
      },
    });
    const stmts: string[] = [];
    for (let r = 0; r < 4; r++) {
      stmts.push(`ALTER TABLE c ADD COLUMN x${r} int`);
      for (let i = 0; i < 6; i++) stmts.push(`INSERT INTO c VALUES (${r * 10 + i})`);
    }
    await new SQLBatcher({ adapter, concurrency: 3, maxBytes: 30 }).processStatements(stmts);
    expect(askedDuringDdl).toEqual([]);
    expect(maxInFlight).toBeGreaterThan(1);
    // A custom execute: the adapter sees none of the requests, so its answers are not trusted.
    maxInFlight = 0;
    await new SQLBatcher({ adapter, concurrency: 3, maxBytes: 30 }).processStatements(stmts, execute);
    expect(maxInFlight).toBe(1);
  });

  it('a batch the adapter says must not run beside others runs alone (canRunConcurrently)', async () => {
    // Tables named `fk_…` stand for tables whose rows depend on each other's order.
    const run = async (
      canRunConcurrently?: (st: readonly BatchStatement[]) => Promise<boolean> | boolean,
    ) => {
      let inFlight = 0;
      const started: { table: string; alongside: number }[] = [];
      const asked: string[] = [];
      const adapter = new GenericAdapter({
        execute: async (sql) => {
          inFlight++;
          started.push({ table: /INTO (\w+)/.exec(sql)?.[1] ?? '?', alongside: inFlight - 1 });
          await new Promise((r) => setTimeout(r, 10));
          inFlight--;
          return { rowCount: 1 };
        },
        capabilities: { multiStatement: true, maxConcurrency: 4 },
        maxQuerySize: 10_000,
        ...(canRunConcurrently
          ? {
              canRunConcurrently: (st: readonly BatchStatement[]) => {
                asked.push(st.map((s) => /INTO (\w+)/.exec(s.sql)?.[1]).join(','));
                return canRunConcurrently(st);
              },
            }
          : {}),
      });
      const stmts: string[] = [];
      for (let i = 0; i < 6; i++) stmts.push(`INSERT INTO plain VALUES (${i})`);
      for (let i = 0; i < 6; i++) stmts.push(`INSERT INTO fk_child VALUES (${i})`);
      for (let i = 0; i < 6; i++) stmts.push(`INSERT INTO plain VALUES (${i})`);
      const b = new SQLBatcher({ adapter, concurrency: 3, maxBytes: 30 }); // one INSERT per request
      await b.processStatements(stmts);
      return { started, asked };
    };
    const isFk = (st: readonly BatchStatement[]) => st.some((s) => s.sql.includes('fk_'));
    // without the method: everything may overlap
    const free = await run();
    expect(free.started.some((s) => s.table === 'fk_child' && s.alongside > 0)).toBe(true);
    // a sync and an async answer; a throw counts as "no"
    for (const answer of [
      (st: readonly BatchStatement[]) => !isFk(st),
      async (st: readonly BatchStatement[]) => !isFk(st),
      (st: readonly BatchStatement[]) => {
        if (isFk(st)) throw new Error('catalog unreachable');
        return true;
      },
    ]) {
      const { started, asked } = await run(answer);
      expect(asked).toHaveLength(18);
      const fk = started.filter((s) => s.table === 'fk_child');
      expect(fk).toHaveLength(6);
      // each fk batch started with nothing else in flight, and nothing started beside it
      for (const s of fk) expect(s.alongside).toBe(0);
      const at = started.findIndex((s) => s.table === 'fk_child');
      expect(started[at + 1]?.alongside).toBe(0);
      // the other batches still overlapped
      expect(started.some((s) => s.table === 'plain' && s.alongside > 0)).toBe(true);
    }
  });

  it('at most `concurrency` requests in flight; a non-INSERT waits for all of them', async () => {
    let inFlight = 0;
    let max = 0;
    const events: string[] = [];
    const adapter = new GenericAdapter({
      execute: async (sql) => {
        inFlight++;
        max = Math.max(max, inFlight);
        events.push(`start ${sql.slice(0, 12)} @${inFlight}`);
        await new Promise((r) => setTimeout(r, 15));
        inFlight--;
        events.push(`end ${sql.slice(0, 12)}`);
        return { rowCount: 1 };
      },
      capabilities: { multiStatement: true },
      maxQuerySize: 10_000,
    });
    const b = new SQLBatcher({ adapter, concurrency: 2, maxBytes: 40 });
    const stmts = [...[1, 2, 3, 4, 5].map((i) => ins(i)), 'DELETE FROM t', ...[6, 7, 8].map((i) => ins(i))];
    await b.processStatements(stmts);
    expect(max).toBe(2);
    // DELETE starts only when every earlier INSERT has ended, and alone
    const del = events.findIndex((e) => e.startsWith('start DELETE'));
    expect(events[del]).toBe('start DELETE FROM  @1');
    const before = events.slice(0, del);
    expect(before.filter((e) => e.startsWith('start')).length).toBe(5);
    expect(before.filter((e) => e.startsWith('end')).length).toBe(5);
    const after = events.slice(del + 1);
    expect(after[0]).toBe('end DELETE FROM ');
  });

  it('a lost connection that held session state (SET) is not silently replaced by a fresh one', async () => {
    // each session has its own search_path; the first INSERT attempt fails transiently
    const ran: string[] = [];
    let sessions = 0;
    let failOnce = true;
    const session = async () => {
      const id = ++sessions;
      let searchPath = 'public';
      let broken = false;
      return {
        execute: async (sql: string) => {
          if (broken) throw new Error('connection is broken');
          if (sql.startsWith('SET search_path')) searchPath = sql.split(' ').pop() as string;
          else if (failOnce) {
            failOnce = false;
            broken = true;
            throw new Error('connection reset');
          } else ran.push(`${searchPath}: ${sql.slice(0, 14)} (session ${id})`);
          return { rowCount: 1 };
        },
        begin: async () => undefined,
        commit: async () => undefined,
        rollback: async () => {
          if (broken) throw new Error('connection is broken');
        },
        release: async () => undefined,
      };
    };
    for (const [onError, tx] of [
      ['throw', 'none'],
      ['skip', 'none'],
      ['isolate', 'none'],
      ['skip', 'batch'],
      ['isolate', 'batch'],
    ] as const) {
      ran.length = 0;
      failOnce = true;
      const adapter = new GenericAdapter({
        execute: async () => ({}),
        session,
        classifyError: () => ({ transient: true, effect: 'unknown' }),
        capabilities: { multiStatement: false, transactions: true },
      });
      const b = new SQLBatcher({
        adapter,
        retry: fast,
        onError,
        maxBytes: 40,
        transaction: tx,
        concurrency: 2,
      });
      const err = await caught(b.processStatements(['SET search_path TO s2', ins(1), ins(2)]));
      expect(err, `${onError} ${tx}`).toBeInstanceOf(BatchExecutionError);
      expect((err as Error).message).toMatch(/session state/);
      // nothing ran in the wrong schema
      expect(ran.filter((r) => !r.startsWith('s2'))).toEqual([]);
    }
  });

  it('flush() keeps the session that holds SET … state for the statements added after it', async () => {
    const ran: string[] = [];
    let sessions = 0;
    let released = 0;
    const session = async () => {
      const id = ++sessions;
      let searchPath = 'public';
      return {
        execute: async (sql: string) => {
          if (sql.startsWith('SET search_path')) searchPath = sql.split(' ').pop() as string;
          else ran.push(`${searchPath} ${id}`);
          return { rowCount: 1 };
        },
        begin: async () => undefined,
        commit: async () => undefined,
        rollback: async () => undefined,
        release: async () => void released++,
      };
    };
    const adapter = new GenericAdapter({
      execute: async () => ({}),
      session,
      capabilities: { multiStatement: false, transactions: true },
    });
    const b = new SQLBatcher({ adapter });
    await b.addStatement('SET search_path TO s2');
    await b.addStatement(ins(1));
    await b.flush();
    await b.addStatement(ins(2));
    await b.flush();
    expect(ran).toEqual(['s2 1', 's2 1']);
    await b.close();
    expect(released).toBe(1);
  });

  it("never more in flight than the adapter's maxConcurrency", async () => {
    let inFlight = 0;
    let max = 0;
    const adapter = new GenericAdapter({
      execute: async () => {
        inFlight++;
        max = Math.max(max, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        return { rowCount: 1 };
      },
      capabilities: { multiStatement: true, maxConcurrency: 1 },
    });
    await new SQLBatcher({ adapter, concurrency: 3, maxBytes: 40 }).processStatements(
      [1, 2, 3, 4, 5, 6].map((i) => ins(i)),
    );
    expect(max).toBe(1);
  });

  it('session statements (SET, BEGIN, set_config) pin every later request to one session, even with concurrency', async () => {
    const where: string[] = [];
    const session = async () => ({
      execute: async (sql: string) => {
        where.push(`session: ${sql.slice(0, 14)}`);
        return { rowCount: 0 };
      },
      begin: async () => undefined,
      commit: async () => undefined,
      rollback: async () => undefined,
      release: async () => undefined,
    });
    const adapter = new GenericAdapter({
      execute: async (sql) => {
        where.push(`pool: ${sql.slice(0, 14)}`);
        return { rowCount: 0 };
      },
      session,
      capabilities: { multiStatement: false, transactions: true },
    });
    const b = new SQLBatcher({ adapter, concurrency: 2, maxBytes: 40 }); // one INSERT per request
    await b.processStatements([
      ins(1),
      ins(2),
      "SELECT pg_catalog.set_config('search_path', '', false)",
      ins(3),
      ins(4),
    ]);
    // the first INSERT went out in parallel before the SET was read; the SET and everything after it
    // share one session
    expect(where[0]).toBe('pool: INSERT INTO t ');
    expect(where.slice(2)).toEqual([
      'session: SELECT pg_cata',
      'session: INSERT INTO t ',
      'session: INSERT INTO t ',
    ]);
  });
});
