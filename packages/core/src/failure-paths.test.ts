import type { PGlite } from '@electric-sql/pglite';
import { beforeAll, describe, expect, it } from 'vitest';
import { pgliteAdapter, pgliteClassify, recordingAdapter, sharedPGlite } from '../test/helpers.js';
import type { AdapterSession } from './execute/adapter.js';
import { GenericAdapter } from './execute/generic-adapter.js';
import { SQLBatcher } from './sql-batcher.js';

let db: PGlite;
beforeAll(async () => {
  db = await sharedPGlite();
});

async function fresh(table: string, pk = true) {
  await db.exec(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int${pk ? ' PRIMARY KEY' : ''})`);
}
const ids = async (table: string) =>
  (await db.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`)).rows.map((r) => r.id);
const ins = (table: string, id: number) => `INSERT INTO ${table} (id) VALUES (${id})`;

/** maxBytes small enough that every INSERT is its own batch. */
const ONE_PER_BATCH = 32;

describe('one run at a time', () => {
  async function* slow(table: string, n: number) {
    for (let i = 0; i < n; i++) {
      await new Promise((r) => setTimeout(r, 2));
      yield ins(table, i);
    }
  }

  it('a second processStatements while one runs is refused; the first finishes whole', async () => {
    await fresh('one_run');
    const batcher = new SQLBatcher({ adapter: pgliteAdapter(db), transaction: 'all', maxBytes: 200 });
    const first = batcher.processStatements(slow('one_run', 60));
    await new Promise((r) => setTimeout(r, 20));
    await expect(batcher.processStatements([ins('one_run', 1000)])).rejects.toMatchObject({
      code: 'RUN_IN_PROGRESS',
    });
    await expect(batcher.commit()).rejects.toMatchObject({ code: 'RUN_IN_PROGRESS' });
    expect(await first).toBe(60);
    expect(await ids('one_run')).toEqual(Array.from({ length: 60 }, (_, i) => i));
    await batcher.close();
  });

  it("close() during a transaction: 'all' run stops it; nothing of it is committed", async () => {
    await fresh('close_run');
    const batcher = new SQLBatcher({ adapter: pgliteAdapter(db), transaction: 'all', maxBytes: 200 });
    const run = batcher.processStatements(slow('close_run', 200)).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 60));
    await batcher.close();
    expect(await run).toMatchObject({ code: 'CLOSED' });
    expect(await ids('close_run')).toEqual([]);
    await expect(batcher.processStatements([ins('close_run', 1)])).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('close() while the input waits for data', () => {
  it('ends an input stream that has no data yet: the run stops at once, the rows sent before it stay', async () => {
    const { PassThrough } = await import('node:stream');
    const { createInterface } = await import('node:readline');
    await fresh('close_idle');
    const input = new PassThrough();
    const lines = createInterface({ input });
    const batcher = new SQLBatcher({ adapter: pgliteAdapter(db), maxBytes: ONE_PER_BATCH });
    const run = batcher.processStatements(lines).catch((e: unknown) => e);
    // (readline drops lines emitted before its iterator listens: let the run start reading first)
    await new Promise((r) => setTimeout(r, 20));
    input.write(`${ins('close_idle', 1)}\n${ins('close_idle', 2)}\n`);
    await new Promise((r) => setTimeout(r, 50));
    // (the stream stays open and silent: without close() ending it the run would wait for ever)
    const closing = batcher.close();
    const outcome = await Promise.race([
      closing.then(() => 'closed'),
      new Promise((r) => setTimeout(() => r('still waiting'), 2000)),
    ]);
    expect(outcome).toBe('closed');
    expect(await run).toMatchObject({ code: 'CLOSED' });
    expect(await ids('close_idle')).toEqual([1, 2]);
  });

  it("rolls back an owned transaction: 'all' run whose input waits", async () => {
    const { PassThrough } = await import('node:stream');
    await fresh('close_idle_tx');
    const input = new PassThrough({ objectMode: true });
    const batcher = new SQLBatcher({
      adapter: pgliteAdapter(db),
      transaction: 'all',
      maxBytes: ONE_PER_BATCH,
    });
    const run = batcher.processStatements(input as AsyncIterable<string>).catch((e: unknown) => e);
    input.write(ins('close_idle_tx', 1));
    input.write(ins('close_idle_tx', 2));
    input.write(ins('close_idle_tx', 3));
    await new Promise((r) => setTimeout(r, 50));
    await batcher.close();
    expect(await run).toMatchObject({ code: 'CLOSED' });
    expect(await ids('close_idle_tx')).toEqual([]);
  });
});

describe('processBatch during a run', () => {
  it('is refused without taking the results of the run going on', async () => {
    let n = 0;
    const { adapter } = recordingAdapter({}, 1_000_000, () => ({ rowCount: 1, rows: [{ request: ++n }] }));
    const batcher = new SQLBatcher({ adapter, batchMode: false });
    async function* slow() {
      for (let i = 0; i < 4; i++) {
        yield `UPDATE t SET a = ${i}`;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const first = batcher.processBatch(slow());
    await new Promise((r) => setTimeout(r, 8));
    await expect(batcher.processBatch(['UPDATE t SET a = 99'])).rejects.toMatchObject({
      code: 'RUN_IN_PROGRESS',
    });
    const results = (await first) as { rows: { request: number }[] }[];
    expect(results.map((r) => r.rows[0]?.request)).toEqual([1, 2, 3, 4]);
  });
});

describe('rollback() during a run', () => {
  it("is refused with RUN_IN_PROGRESS; the run's transaction stays whole", async () => {
    await fresh('rb_run');
    const batcher = new SQLBatcher({
      adapter: pgliteAdapter(db),
      transaction: 'all',
      maxBytes: ONE_PER_BATCH,
    });
    let refused: unknown;
    async function* source() {
      for (let i = 0; i < 6; i++) {
        if (i === 3) refused = await batcher.rollback().catch((e: unknown) => e);
        yield ins('rb_run', i);
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    expect(await batcher.processStatements(source())).toBe(6);
    expect(refused).toMatchObject({ code: 'RUN_IN_PROGRESS' });
    // One transaction, committed whole: before, rows 0-2 were rolled back and 3-5 committed on their own.
    expect(await ids('rb_run')).toEqual([0, 1, 2, 3, 4, 5]);
    await batcher.close();
  });
});

describe('a run stopped by a failing batch', () => {
  it('report.statements counts what was read: no statement from that index on was executed', async () => {
    await fresh('unread');
    const stream = function* () {
      for (let i = 0; i < 1000; i++) yield i === 300 ? ins('unread', 1) : ins('unread', i);
    };
    const batcher = new SQLBatcher({ adapter: pgliteAdapter(db), maxBytes: 2000 });
    const err = (await batcher.processStatements(stream()).catch((e: unknown) => e)) as {
      statementIndices: number[];
      notSentIndices?: number[];
    };
    // (how far the input was read depends on timing: the run reads ahead while a request is in flight)
    const read = batcher.report.statements;
    const listed = new Set([...err.statementIndices, ...(err.notSentIndices ?? [])]);
    const got = await ids('unread');
    // every statement from the first of the failed batch on is either listed or never read, and none ran
    const first = Math.min(...err.statementIndices);
    for (let i = first; i < 1000; i++) {
      expect(listed.has(i) || i >= read, `#${i}`).toBe(true);
      if (i !== 1) expect(got.includes(i), `#${i} ran`).toBe(false);
    }
    expect(got).toEqual(Array.from({ length: first }, (_, i) => i));
  });
});

describe('plugin failures in the middle of a run', () => {
  it('R1 processStatements: beforeBatch throwing on batch #1 must not let later statements run (no gap)', async () => {
    await fresh('r1');
    const batcher = new SQLBatcher({
      adapter: pgliteAdapter(db),
      maxBytes: ONE_PER_BATCH,
      plugins: [
        {
          name: 'flaky',
          beforeBatch: (info) => {
            if (info.sql.includes('(2)')) throw new Error('boom');
          },
        },
      ],
    });
    const err = await batcher
      .processStatements([ins('r1', 1), ins('r1', 2), ins('r1', 3), ins('r1', 4)])
      .catch((e: unknown) => e);
    expect((err as Error).name).toBe('PluginError');
    // One-by-one semantics: execution stops at the failed batch; 3 and 4 must not run while 2 did not.
    const got = await ids('r1');
    // (observed: [1, 4] — #1 never ran, #2 reported not sent, #3 executed after the gap)
    expect(got.includes(2) || !got.some((i) => i > 2)).toBe(true);
  });

  it('R2 processStatements: an onError hook that throws must not turn "stop" into "skip the failed batch and run the rest"', async () => {
    await fresh('r2');
    const batcher = new SQLBatcher({
      adapter: pgliteAdapter(db),
      maxBytes: ONE_PER_BATCH,
      plugins: [
        {
          name: 'logger',
          onError: () => {
            throw new Error('logger down');
          },
        },
      ],
    });
    const err = await batcher
      .processStatements([ins('r2', 1), ins('r2', 1), ins('r2', 3), ins('r2', 4)])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    // Without the plugin the run stops at the duplicate: only [1]. Here 4 must not be executed either.
    expect(await ids('r2')).toEqual([1]);
  });

  it("R3 transaction 'all' + savepoints + throw: an onError hook that throws must not make dispose COMMIT", async () => {
    await fresh('r3');
    {
      await using batcher = new SQLBatcher({
        adapter: pgliteAdapter(db),
        transaction: 'all',
        savepoints: true,
        maxBytes: ONE_PER_BATCH,
        plugins: [
          {
            name: 'logger',
            onError: () => {
              throw new Error('logger down');
            },
          },
        ],
      });
      await batcher.addStatement(ins('r3', 1));
      await batcher.addStatement(ins('r3', 1)); // sends #0
      await batcher.addStatement(ins('r3', 3)).catch(() => undefined); // sends #1: duplicate -> failure
      await batcher.addStatement(ins('r3', 4)).catch(() => undefined);
    }
    // Same as without the plugin (see savepoint-throw.test.ts): dispose after a failure rolls back.
    expect(await ids('r3')).toEqual([]);
  });

  it('R4 addStatement: a batch whose beforeBatch throws is neither executed nor reported (statements lost)', async () => {
    await fresh('r4');
    let calls = 0;
    const batcher = new SQLBatcher({
      adapter: pgliteAdapter(db),
      maxBytes: ONE_PER_BATCH,
      plugins: [
        {
          name: 'flaky-once',
          beforeBatch: () => {
            if (calls++ === 0) throw new Error('transient plugin failure');
          },
        },
      ],
    });
    await batcher.addStatement(ins('r4', 1));
    const err = (await batcher.addStatement(ins('r4', 2)).catch((e: unknown) => e)) as {
      statementIndices?: readonly number[];
      notSentIndices?: number[];
    };
    await batcher.flush();
    await batcher.close();
    const got = await ids('r4');
    // Either statement #0 ran, or the error names it as not executed. Never: lost without a trace
    // while #1 (added after it) is executed.
    const reported = [...(err.statementIndices ?? []), ...(err.notSentIndices ?? [])].includes(0);
    expect(got.includes(1) || (reported && !got.includes(2))).toBe(true);
  });
});

describe("transaction 'all' owned by the caller", () => {
  it('R5 processStatements input error inside an open transaction: statements before it are not silently dropped', async () => {
    await fresh('r5');
    const batcher = new SQLBatcher({
      adapter: pgliteAdapter(db),
      transaction: 'all',
      maxBytes: ONE_PER_BATCH,
    });
    await batcher.addStatement(ins('r5', 0));
    await batcher.flush(); // transaction open
    const err = await batcher
      .processStatements([ins('r5', 1), ins('r5', 2), ins('r5', 3), 'INSERT INTO r5 (id) VALUES (\0)'])
      .catch((e: unknown) => e);
    expect((err as Error).name).toBe('InvalidStatementError');
    const commitErr = await batcher.commit().catch((e: unknown) => e);
    await batcher.close().catch(() => undefined);
    const got = await ids('r5');
    // Acceptable: commit refused (nothing of the broken call committed), or every statement before the
    // bad one committed (as in transaction 'none'). Not: 1 and 2 committed, 3 silently dropped.
    if (commitErr === undefined) expect(got).toEqual([0, 1, 2, 3]);
    else expect(got).toEqual([]);
  });

  for (const via of ['flush', 'commit'] as const) {
    it(`a failure while sending from ${via}() marks the transaction failed: close() rolls back`, async () => {
      await fresh('tx_flush');
      let n = 0;
      const flaky = {
        name: 'flaky',
        beforeBatch: () => {
          if (++n === 2) throw new Error('sink unavailable');
        },
      };
      const batcher = new SQLBatcher({
        adapter: pgliteAdapter(db),
        transaction: 'all',
        maxBytes: ONE_PER_BATCH,
        plugins: [flaky],
      });
      await batcher.addStatement(ins('tx_flush', 1));
      expect(await batcher.addStatement(ins('tx_flush', 2))).toBe(true); // #0 sent inside BEGIN
      const err = await batcher[via]().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PLUGIN_FAILED', notSentIndices: [1] });
      await expect(batcher.commit()).rejects.toMatchObject({ code: 'TRANSACTION_FAILED' });
      await batcher.close();
      // #1 was never sent: committing #0 alone would silently lose it.
      expect(await ids('tx_flush')).toEqual([]);
    });
  }

  it('R6 owned transaction: a pipelined batch failure is not swallowed by a later input error', async () => {
    await fresh('r6');
    const batcher = new SQLBatcher({
      adapter: pgliteAdapter(db),
      transaction: 'all',
      maxBytes: ONE_PER_BATCH,
    });
    const err = await batcher
      .processStatements([ins('r6', 1), ins('r6', 1), ins('r6', 2), 'INSERT INTO r6 (id) VALUES (\0)'])
      .catch((e: unknown) => e);
    expect(await ids('r6')).toEqual([]);
    // transaction 'none' reports the database failure in this situation; 'all' should too.
    expect((err as Error).name).toBe('BatchExecutionError');
  });
});

describe('concurrency', () => {
  it('R7 processBatch returns results in request order with concurrency > 1', async () => {
    let n = 0;
    const { adapter } = recordingAdapter({ maxConcurrency: 4 }, 1_000_000, async (sql) => {
      const k = n++;
      await new Promise((r) => setTimeout(r, k === 0 ? 30 : 1));
      return { rowCount: 1, raw: sql };
    });
    const batcher = new SQLBatcher({ adapter, concurrency: 2, maxBytes: ONE_PER_BATCH });
    const results = await batcher.processBatch([ins('x', 1), ins('x', 2)]);
    const order = results.map((r) => JSON.stringify(r).match(/VALUES \((\d)\)/)?.[1]);
    expect(order).toEqual(['1', '2']);
  });
});

describe("transaction 'batch'", () => {
  it('R8 a session.release() failure after a successful COMMIT is not reported as rolled back', async () => {
    await fresh('r8');
    const base = pgliteAdapter(db);
    let releases = 0;
    const adapter = new GenericAdapter({
      name: 'pglite-release-fails',
      execute: base.execute,
      session: async () => {
        const s = (await base.session?.()) as AdapterSession;
        return {
          ...s,
          release: async () => {
            if (releases++ === 0) throw new Error('pool: release failed');
          },
        };
      },
      classifyError: pgliteClassify,
      dialect: 'postgres',
      capabilities: { ...base.capabilities, maxConcurrency: 2 },
    });
    const batcher = new SQLBatcher({ adapter, transaction: 'batch', concurrency: 2, onError: 'skip' });
    await batcher.processStatements([ins('r8', 1)]);
    expect(await ids('r8')).toEqual([1]);
    // It was committed: it must not be listed as rejected (rolled back).
    expect(batcher.report.rejected).toEqual([]);
  });
});

describe('session pinning', () => {
  it('R9 SET state survives across calls: processStatements does not drop the pinned session', async () => {
    const log: { session: number; sql: string }[] = [];
    let sessions = 0;
    const adapter = new GenericAdapter({
      name: 'sessions',
      execute: (sql) => {
        log.push({ session: -1, sql });
        return { rowCount: 0 };
      },
      session: async () => {
        const id = sessions++;
        return {
          execute: async (sql: string) => {
            log.push({ session: id, sql });
            return { rowCount: 0 };
          },
          begin: async () => undefined,
          commit: async () => undefined,
          rollback: async () => undefined,
          release: async () => undefined,
        } as AdapterSession;
      },
      capabilities: { multiStatement: true, transactions: true },
    });
    const batcher = new SQLBatcher({ adapter, batchMode: false });
    await batcher.addStatement('SET search_path TO s1');
    await batcher.flush(); // keeps the session (see flush)
    await batcher.processStatements([ins('t', 1)]);
    await batcher.addStatement(ins('t', 2));
    await batcher.flush();
    await batcher.close();
    const set = log.find((l) => l.sql.startsWith('SET'))?.session;
    expect(log.map((l) => l.session)).toEqual([set, set, set]);
  });
});

/** Every failure transient (as an overloaded engine's would be), for the breaker to count it. */
const transientFailures = () => ({ transient: true, effect: 'rolled-back' as const });

describe('circuit breaker', () => {
  it('counts only failures that may mean the engine is down: isolating bad rows never opens it', async () => {
    await fresh('r12');
    const stmts = Array.from({ length: 32 }, (_, i) => ins('r12', i));
    stmts[1] = ins('r12', 0); // a duplicate: five failed requests in a row while bisecting
    const batcher = new SQLBatcher({ adapter: pgliteAdapter(db), onError: 'isolate', circuitBreaker: {} });
    await batcher.processStatements(stmts);
    expect(batcher.report.rejected.map((r) => r.index)).toEqual([1]);
    expect((await ids('r12')).length).toBe(31);
    // (the same failures, transient, do open it)
    await fresh('r13');
    const flaky = new SQLBatcher({
      adapter: pgliteAdapter(db, { classify: transientFailures }),
      onError: 'isolate',
      retry: { maxAttempts: 1 },
      circuitBreaker: {},
    });
    const err = await flaky
      .processStatements(stmts.map((s) => s.replace('r12', 'r13')))
      .catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('CIRCUIT_OPEN');
  });

  it("R10 transaction 'all' + savepoints + skip: dispose does not commit after the run stopped on an open circuit", async () => {
    await fresh('r10');
    {
      await using batcher = new SQLBatcher({
        adapter: pgliteAdapter(db, { classify: transientFailures }),
        retry: { maxAttempts: 1 },
        transaction: 'all',
        savepoints: true,
        onError: 'skip',
        circuitBreaker: { failureThreshold: 1 },
        maxBytes: ONE_PER_BATCH,
      });
      await batcher.addStatement(ins('r10', 1));
      await batcher.addStatement(ins('r10', 1)); // sends #0
      await batcher.addStatement(ins('r10', 3)); // sends #1: duplicate, skipped, circuit opens
      const err = await batcher.addStatement(ins('r10', 4)).catch((e: unknown) => e); // #2 refused
      expect((err as { code: string }).code).toBe('CIRCUIT_OPEN');
    }
    // The run stopped with statements #2 and #3 never sent: dispose must not commit the rest on its own.
    expect(await ids('r10')).toEqual([]);
  });

  it('R11 onError isolate: a circuit opening during bisection reports every statement it did not execute', async () => {
    await fresh('r11');
    const batcher = new SQLBatcher({
      adapter: pgliteAdapter(db, { classify: transientFailures }),
      retry: { maxAttempts: 1 },
      onError: 'isolate',
      circuitBreaker: { failureThreshold: 2 },
    });
    const err = (await batcher
      .processStatements([ins('r11', 1), ins('r11', 1), ins('r11', 3), ins('r11', 4)])
      .catch((e: unknown) => e)) as { code?: string; statementIndices?: number[]; notSentIndices?: number[] };
    expect(err.code).toBe('CIRCUIT_OPEN');
    const executed = await ids('r11');
    expect(executed).toEqual([]);
    const reported = new Set([...(err.statementIndices ?? []), ...(err.notSentIndices ?? [])]);
    // #0, #2, #3 were never executed (and #1 is not in report.rejected): the error must name them.
    expect([...reported].sort()).toEqual(expect.arrayContaining([0, 2, 3]));
  });
});

/** A non-atomic multi-statement engine: runs statements one by one, reports where it stopped. */
function nonAtomicAdapter(log: string[] = []) {
  class StopAt extends Error {
    constructor(
      readonly position: number,
      cause: unknown,
    ) {
      super(`failed at statement ${position}: ${(cause as Error).message}`);
    }
  }
  return new GenericAdapter({
    name: 'non-atomic',
    execute: async (_sql, options) => {
      const st = options?.batch?.statements ?? [];
      for (let i = 0; i < st.length; i++) {
        log.push(st[i]?.sql as string);
        try {
          await db.exec(st[i]?.sql as string);
        } catch (e) {
          throw new StopAt(i, e);
        }
      }
      return { rowCount: 0 };
    },
    classifyError: (e) =>
      e instanceof StopAt
        ? { transient: false, effect: 'partial', statementPosition: e.position }
        : { transient: false, effect: 'unknown' },
    dialect: 'postgres',
    capabilities: { multiStatement: true, atomicMultiStatement: false },
  });
}

describe("partial effect (non-atomic multi-statement), transaction 'none'", () => {
  it('P1 skip: statements before the failed one are kept, the failed one rejected, the rest sent once', async () => {
    await fresh('p1a');
    await fresh('p1b');
    const log: string[] = [];
    const batcher = new SQLBatcher({ adapter: nonAtomicAdapter(log), onError: 'skip' });
    await batcher.processStatements([
      ins('p1a', 1),
      ins('p1b', 1),
      ins('p1a', 1),
      ins('p1b', 2),
      ins('p1a', 3),
    ]);
    expect(await ids('p1a')).toEqual([1, 3]);
    expect(await ids('p1b')).toEqual([1, 2]);
    expect(batcher.report.rejected.map((r) => r.index)).toEqual([2]);
    expect(log.filter((l) => l === ins('p1a', 1)).length).toBe(2);
  });

  it('P2 isolate: a failed merged INSERT is bisected, then the rest is sent once', async () => {
    await fresh('p2a');
    await fresh('p2b');
    const batcher = new SQLBatcher({ adapter: nonAtomicAdapter(), onError: 'isolate' });
    await batcher.processStatements([
      ins('p2b', 1),
      ins('p2a', 1),
      ins('p2a', 2),
      ins('p2a', 1),
      ins('p2b', 2),
    ]);
    expect(await ids('p2a')).toEqual([1, 2]);
    expect(await ids('p2b')).toEqual([1, 2]);
    expect(batcher.report.rejected.map((r) => r.index)).toEqual([3]);
  });

  it('P3 throw: stops; the statements after the failed one are not executed', async () => {
    await fresh('p3');
    const batcher = new SQLBatcher({ adapter: nonAtomicAdapter(), maxBytes: ONE_PER_BATCH * 2 + 2 });
    const err = await batcher
      .processStatements([ins('p3', 1), 'SELECT 1', ins('p3', 1), 'SELECT 2', ins('p3', 5), ins('p3', 6)])
      .catch((e: unknown) => e);
    expect((err as Error).name).toBe('BatchExecutionError');
    expect(await ids('p3')).toEqual([1]);
  });
});

describe('ordering and barriers (expected to pass)', () => {
  it('G1 concurrency 2 + pipelining: a barrier waits for the INSERTs before it and blocks the ones after', async () => {
    const events: string[] = [];
    const { adapter } = recordingAdapter({ maxConcurrency: 4 }, 1_000_000, async (sql) => {
      events.push(`start ${sql}`);
      await new Promise((r) => setTimeout(r, sql.startsWith('INSERT INTO a') ? 20 : 1));
      events.push(`end ${sql}`);
      return { rowCount: 1 };
    });
    const batcher = new SQLBatcher({ adapter, concurrency: 2, maxBytes: ONE_PER_BATCH });
    await batcher.processStatements([
      ins('a', 1),
      ins('a', 2),
      'UPDATE a SET id = 0',
      ins('b', 1),
      ins('b', 2),
    ]);
    const at = (e: string) => events.indexOf(e);
    expect(at('start UPDATE a SET id = 0')).toBeGreaterThan(at(`end ${ins('a', 1)}`));
    expect(at('start UPDATE a SET id = 0')).toBeGreaterThan(at(`end ${ins('a', 2)}`));
    expect(at(`start ${ins('b', 1)}`)).toBeGreaterThan(at('end UPDATE a SET id = 0'));
  });

  it("G2 transaction 'all' + savepoints + isolate: only the bad row is rejected, the rest committed", async () => {
    await fresh('g2');
    const batcher = new SQLBatcher({
      adapter: pgliteAdapter(db),
      transaction: 'all',
      savepoints: true,
      onError: 'isolate',
    });
    await batcher.processStatements([
      ins('g2', 1),
      ins('g2', 2),
      ins('g2', 1),
      ins('g2', 4),
      'SELECT 1',
      ins('g2', 5),
    ]);
    expect(await ids('g2')).toEqual([1, 2, 4, 5]);
    expect(batcher.report.rejected.map((r) => r.index)).toEqual([2]);
  });

  it("G3 transaction 'batch' + skip, pipelined: a failed batch is rolled back whole, the others committed", async () => {
    await fresh('g3');
    const batcher = new SQLBatcher({
      adapter: pgliteAdapter(db),
      transaction: 'batch',
      onError: 'skip',
      maxBytes: 80,
    });
    await batcher.processStatements([
      ins('g3', 1),
      ins('g3', 2),
      'SELECT 1',
      ins('g3', 3),
      ins('g3', 1),
      'SELECT 2',
      ins('g3', 6),
    ]);
    // The first request holds #0…#4 (the duplicate is inside it): skipped whole; #5, #6 committed.
    const rejected = batcher.report.rejected.map((r) => r.index).sort();
    const got = await ids('g3');
    expect(got).toEqual(rejected.includes(0) ? [6] : [1, 2, 6]);
    expect(rejected).toContain(4);
  });
});

describe('concurrent calls', () => {
  it("R12 addStatement called without awaiting (Promise.all) in transaction 'all' + savepoints: no batch reported failed yet committed", async () => {
    await fresh('r12');
    const batcher = new SQLBatcher({
      adapter: pgliteAdapter(db),
      transaction: 'all',
      savepoints: true,
      onError: 'skip',
      maxBytes: ONE_PER_BATCH,
    });
    await Promise.all([1, 2, 3, 4, 5, 6].map((i) => batcher.addStatement(ins('r12', i))));
    await batcher.commit().catch(() => undefined);
    await batcher.close().catch(() => undefined);
    const got = await ids('r12');
    const rejected = batcher.report.rejected.map((r) => r.index);
    // Whatever the order, a statement is either committed or rejected, never both, never neither.
    for (let i = 0; i < 6; i++) expect(got.includes(i + 1) !== rejected.includes(i)).toBe(true);
  });
});

describe('failures surfacing through the in-flight bookkeeping', () => {
  it('R13 a collector that throws after batch #0 succeeded: later batches are not dropped while the ones after them run', async () => {
    await fresh('r13');
    let first = true;
    const batcher = new SQLBatcher({
      adapter: pgliteAdapter(db),
      maxBytes: ONE_PER_BATCH,
      collector: {
        record: () => {
          if (first) {
            first = false;
            throw new TypeError('collector bug');
          }
        },
      },
    });
    const err = await batcher
      .processStatements([ins('r13', 1), ins('r13', 2), ins('r13', 3), ins('r13', 4)])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    const got = await ids('r13');
    // No gap: whatever ran is a prefix of the input.
    expect(got).toEqual([1, 2, 3, 4].slice(0, got.length));
  });

  it('R14 concurrency 2, onError throw: when two requests in flight fail, the second failure is reported too', async () => {
    const adapter = new GenericAdapter({
      name: 'fails',
      execute: async (sql) => {
        await new Promise((r) => setTimeout(r, 5));
        if (sql.includes('666') || sql.includes('777')) throw new Error(`bad row in ${sql}`);
        return { rowCount: 1 };
      },
      classifyError: () => ({ transient: false, effect: 'rolled-back' }),
      capabilities: { multiStatement: true, atomicMultiStatement: true, maxConcurrency: 2 },
    });
    const batcher = new SQLBatcher({ adapter, concurrency: 2, maxBytes: ONE_PER_BATCH });
    const err = (await batcher
      .processStatements([ins('t', 666), ins('t', 777), ins('t', 3), ins('t', 4)])
      .catch((e: unknown) => e)) as {
      statementIndices?: number[];
      notSentIndices?: number[];
      message: string;
    };
    const mentioned = new Set([...(err.statementIndices ?? []), ...(err.notSentIndices ?? [])]);
    // #1 failed on the database too: it must be named somewhere (the error, or report.inDoubt/rejected).
    const elsewhere = batcher.report.inDoubt
      .flatMap((d) => d.indices)
      .concat(batcher.report.rejected.map((r) => r.index));
    expect(mentioned.has(1) || elsewhere.includes(1)).toBe(true);
  });
});

describe('odd but legal configurations', () => {
  it('a plugin that filters out every statement is not "empty input"', async () => {
    const { adapter, sent } = recordingAdapter();
    const batcher = new SQLBatcher({
      adapter,
      plugins: [{ name: 'drop-all', transformStatement: () => null }],
    });
    await expect(batcher.processStatements(['INSERT INTO t (a) VALUES (1)'])).resolves.toBe(0);
    expect(sent).toHaveLength(0);
  });

  it('an adapter declaring savepoints without savepoint methods is refused before anything runs', async () => {
    const log: string[] = [];
    const adapter = new GenericAdapter({
      execute: () => undefined,
      capabilities: { transactions: true, savepoints: true, multiStatement: true },
      session: async (): Promise<AdapterSession> => ({
        execute: async (sql) => {
          log.push(sql);
          return {};
        },
        begin: async () => void log.push('BEGIN'),
        commit: async () => void log.push('COMMIT'),
        rollback: async () => void log.push('ROLLBACK'),
        release: async () => undefined,
      }),
    });
    const batcher = new SQLBatcher({ adapter, transaction: 'all', savepoints: true });
    const err = await batcher.processStatements(['INSERT INTO t (a) VALUES (1)']).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('CONFIGURATION');
    expect(log.filter((l) => l.startsWith('INSERT'))).toEqual([]);
  });
});

describe("onError 'skip' of a very large batch", () => {
  it('rejects its 1,500,000 statements (no call-stack overflow)', async () => {
    const adapter = new GenericAdapter({
      dialect: 'postgres',
      execute: () => {
        throw new Error('refused');
      },
      classifyError: () => ({ transient: false, effect: 'rolled-back' }),
    });
    const n = 1_500_000;
    const statements = Array.from({ length: n }, (_, i) => `INSERT INTO t (id) VALUES (${i % 10})`);
    const batcher = new SQLBatcher({ adapter, onError: 'skip', maxBytes: 16_000_000, retry: false });
    await batcher.processStatements(statements);
    // (requests of ~250,000 statements: more than a spread into push() takes)
    expect(batcher.report.requests).toBeLessThanOrEqual(7);
    expect(batcher.report.rejected).toHaveLength(n);
    expect(batcher.report.rejected[n - 1]!.index).toBe(n - 1);
  });
});

describe('a pipelined request fails, then the input fails too', () => {
  it('the thrown error names the statements read after that request and never sent', async () => {
    const sent: string[] = [];
    const adapter = new GenericAdapter({
      dialect: 'postgres',
      capabilities: { multiStatement: true },
      execute: async (sql) => {
        sent.push(sql);
        await new Promise((r) => setTimeout(r, 20));
        throw new Error('duplicate key');
      },
      classifyError: () => ({ transient: false, effect: 'rolled-back' }),
    });
    // The first request is sent and fails while the next statements are read into the open batch;
    // then a statement with a NUL byte ends the input.
    const statements = [
      ...Array.from({ length: 12 }, (_, i) => `INSERT INTO a (id) VALUES (${i})`),
      ...Array.from({ length: 4 }, (_, i) => `INSERT INTO b (id) VALUES (${i})`),
      'INSERT INTO b (id) VALUES (\0)',
    ];
    const batcher = new SQLBatcher({ adapter, maxBytes: 300, mergeInserts: false, retry: false });
    const err = (await batcher.processStatements(statements).catch((e: unknown) => e)) as {
      code: string;
      statementIndices: number[];
      notSentIndices?: number[];
    };
    // (the first request: statements 0–8, in flight when the NUL byte was read)
    expect(err.statementIndices).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(err.notSentIndices).toEqual([9, 10, 11, 12, 13, 14, 15]);
    const sentIndices = new Set(err.statementIndices);
    const notSent = new Set(err.notSentIndices ?? []);
    // every statement read before the bad one either was in the failed request or is named not sent
    for (let i = 0; i < statements.length - 1; i++) {
      expect(sentIndices.has(i) || notSent.has(i), `statement ${i}`).toBe(true);
    }
    expect(sent.some((s) => s.includes('INSERT INTO b'))).toBe(false);
  });
});

describe('a beforeBatch hook throws for a pipelined batch', () => {
  for (const transaction of ['none', 'batch'] as const) {
    it(`transaction '${transaction}': the error names that batch's statements as not sent`, async () => {
      const executed: number[] = [];
      const adapter = new GenericAdapter({
        dialect: 'postgres',
        capabilities: { multiStatement: true, transactions: true },
        execute: async (sql) => {
          for (const m of sql.matchAll(/VALUES \((\d+)\)/g)) executed.push(Number(m[1]));
          return { rowCount: 1 };
        },
        session: async () => ({
          execute: async (sql: string) => {
            for (const m of sql.matchAll(/VALUES \((\d+)\)/g)) executed.push(Number(m[1]));
            return { rowCount: 1 };
          },
          begin: async () => undefined,
          commit: async () => undefined,
          rollback: async () => undefined,
          release: async () => undefined,
        }),
      });
      const plugin = {
        name: 'gate',
        beforeBatch: (info: { id: number }) => {
          if (info.id === 1) throw new Error('quota service down');
        },
      };
      const statements = Array.from({ length: 60 }, (_, i) => `INSERT INTO t (id) VALUES (${i})`);
      const batcher = new SQLBatcher({
        adapter,
        transaction,
        maxBytes: 300,
        mergeInserts: false,
        plugins: [plugin],
      });
      const err = (await batcher.processStatements(statements).catch((e: unknown) => e)) as {
        code: string;
        notSentIndices?: number[];
      };
      expect(err.code).toBe('PLUGIN_FAILED');
      const done = new Set(executed);
      const named = new Set(err.notSentIndices ?? []);
      for (let i = 0; i < batcher.report.statements; i++) {
        expect(done.has(i) || named.has(i), `statement ${i}`).toBe(true);
      }
      expect(named.size).toBeGreaterThan(0);
    });
  }
});

describe('a hook throws after a batch reached the database: the batch is accounted for', () => {
  it("(a) isolate, transaction 'batch': an afterBatch failure after a half committed does not call it not sent", async () => {
    const db = await sharedPGlite();
    await db.exec('DROP TABLE IF EXISTS hk_a; CREATE TABLE hk_a (id int PRIMARY KEY)');
    let successes = 0;
    const plugin = {
      name: 'flaky-after',
      afterBatch: (_info: unknown, outcome: { success: boolean }) => {
        if (outcome.success && ++successes === 1) throw new Error('metrics sink down');
      },
    };
    const statements = Array.from(
      { length: 20 },
      (_, i) => `INSERT INTO hk_a (id) VALUES (${i === 15 ? 14 : i})`,
    );
    const batcher = new SQLBatcher({
      adapter: pgliteAdapter(db),
      transaction: 'batch',
      onError: 'isolate',
      plugins: [plugin],
      retry: false,
    });
    const err = (await batcher.processStatements(statements).catch((e: unknown) => e)) as {
      code: string;
      notSentIndices?: number[];
    };
    expect(err.code).toBe('PLUGIN_FAILED');
    const committed = (await db.query<{ id: number }>('SELECT id FROM hk_a ORDER BY id')).rows.map(
      (r) => r.id,
    );
    expect(committed.length).toBeGreaterThan(0);
    for (const i of committed) expect(err.notSentIndices ?? [], `#${i} committed`).not.toContain(i);
  });

  const lostAnswer = () =>
    Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });

  it('(b) an in-doubt batch whose afterBatch hook throws is still reported in doubt', async () => {
    let calls = 0;
    const adapter = new GenericAdapter({
      dialect: 'postgres',
      capabilities: { multiStatement: true },
      execute: () => {
        calls++;
        if (calls === 2) throw lostAnswer();
        return { rowCount: 1 };
      },
      classifyError: (e) =>
        (e as { code?: string }).code === 'ECONNRESET'
          ? { transient: true, effect: 'unknown' }
          : { transient: false, effect: 'rolled-back' },
    });
    const plugin = {
      name: 'flaky-after',
      afterBatch: (_info: unknown, outcome: { success: boolean }) => {
        if (!outcome.success) throw new Error('alerting down');
      },
    };
    const statements = Array.from({ length: 60 }, (_, i) => `INSERT INTO t (id) VALUES (${i})`);
    const batcher = new SQLBatcher({
      adapter,
      onError: 'skip',
      maxBytes: 300,
      mergeInserts: false,
      plugins: [plugin],
    });
    const err = (await batcher.processStatements(statements).catch((e: unknown) => e)) as {
      code: string;
      notSentIndices?: number[];
    };
    expect(err.code).toBe('PLUGIN_FAILED');
    expect(batcher.report.inDoubt).toHaveLength(1);
    const doubt = batcher.report.inDoubt[0]!.indices;
    expect(doubt.length).toBeGreaterThan(0);
    for (const i of doubt) expect(err.notSentIndices ?? []).not.toContain(i);
  });

  it('(c) isolate: a sub-batch in doubt whose onError hook throws is reported in doubt, not "not sent"', async () => {
    let calls = 0;
    const adapter = new GenericAdapter({
      dialect: 'postgres',
      capabilities: { multiStatement: true, atomicMultiStatement: true },
      execute: () => {
        calls++;
        if (calls === 1) throw new Error('bad value'); // the whole batch: isolate bisects it
        if (calls === 2) throw lostAnswer(); // the first half: its answer is lost
        return { rowCount: 1 };
      },
      classifyError: (e) =>
        (e as { code?: string }).code === 'ECONNRESET'
          ? { transient: false, effect: 'unknown' }
          : { transient: false, effect: 'rolled-back' },
    });
    const plugin = {
      name: 'flaky-onerror',
      onError: (e: { inDoubt?: boolean }) => {
        if (e.inDoubt) throw new Error('pager down');
      },
    };
    const statements = Array.from({ length: 8 }, (_, i) => `INSERT INTO t (id) VALUES (${i})`);
    const batcher = new SQLBatcher({ adapter, onError: 'isolate', mergeInserts: false, plugins: [plugin] });
    const err = (await batcher.processStatements(statements).catch((e: unknown) => e)) as {
      code: string;
      notSentIndices?: number[];
      batchError?: { inDoubt?: boolean; statementIndices?: number[] };
    };
    expect(err.code).toBe('PLUGIN_FAILED');
    expect(err.batchError?.inDoubt).toBe(true);
    const doubt = err.batchError?.statementIndices ?? [];
    expect(doubt.length).toBeGreaterThan(0);
    expect(batcher.report.inDoubt.map((d) => d.indices)).toEqual([doubt]);
    for (const i of doubt) expect(err.notSentIndices ?? []).not.toContain(i);
    // the other half was never sent: named
    expect(err.notSentIndices).toEqual(statements.map((_, i) => i).filter((i) => !doubt.includes(i)));
  });
});

describe("transaction 'all': the statements a failed COMMIT names", () => {
  const failingCommit = () =>
    new GenericAdapter({
      dialect: 'postgres',
      capabilities: { multiStatement: true, transactions: true },
      execute: async () => ({ rowCount: 1 }),
      session: async () => ({
        execute: async () => ({ rowCount: 1 }),
        begin: async () => undefined,
        commit: async () => {
          throw new Error('deferred constraint violated');
        },
        rollback: async () => undefined,
        release: async () => undefined,
      }),
      classifyError: () => ({ transient: false, effect: 'rolled-back' }),
    });

  it('are those of this transaction only, also far into a long-lived batcher (indices past 2^31)', async () => {
    const batcher = new SQLBatcher({ adapter: failingCommit(), transaction: 'all', batchMode: false });
    // (as after 2^31 statements: the input index is the batcher's running count)
    (batcher as unknown as { nextIndex: number }).nextIndex = 2 ** 31 - 2;
    const statements = Array.from({ length: 4 }, (_, i) => `INSERT INTO t (id) VALUES (${i})`);
    const err = (await batcher.processStatements(statements).catch((e: unknown) => e)) as {
      code: string;
      statementIndices: number[];
    };
    expect(err.code).toBe('BATCH_FAILED');
    expect(err.statementIndices).toEqual([2 ** 31 - 2, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1]);
  });
});
