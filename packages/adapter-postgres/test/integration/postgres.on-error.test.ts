import { type BatchExecutionError, SQLBatcher, type SQLBatcherOptions } from '@sqlbatcher/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgreSQLAdapter } from '../../src/index.js';
import { openTestDb, PG_URL, type TestDb, usingPglite } from '../helpers.js';

let db: TestDb;
let tableNo = 0;

beforeAll(async () => {
  db = await openTestDb('onerror');
});
afterAll(async () => {
  await db?.dispose();
});

const N = 10_000;
/** Statements that violate NOT NULL or CHECK: rejected whatever else happened. */
const BAD = new Set([1234, 5000, 5001, 7777, 9999]);

function stream(table: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < N; i++) {
    if (!BAD.has(i)) out.push(`INSERT INTO ${table} (id, v) VALUES (${i}, 'row ${i}')`);
    else if (i % 2 === 0) out.push(`INSERT INTO ${table} (id, v) VALUES (${i}, NULL)`);
    else out.push(`INSERT INTO ${table} (id, v) VALUES (-${i}, 'negative')`);
  }
  return out;
}

async function newTable(): Promise<string> {
  const t = `oe_${tableNo++}`;
  await db.sql(`CREATE TABLE ${t} (id int PRIMARY KEY CHECK (id >= 0), v text NOT NULL)`);
  return t;
}

async function ids(table: string): Promise<number[]> {
  return (await db.sql<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`)).map((r) => r.id);
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const good = range(0, N).filter((i) => !BAD.has(i));

describe(`onError on a ${N}-statement stream with a bad statement in the middle`, () => {
  it("'throw' stops at the failing batch, keeps every batch before it and names the statement", async () => {
    const table = await newTable();
    const batcher = new SQLBatcher({
      adapter: db.adapter(),
      maxBytes: 20_000,
      mergeInserts: false,
      retry: false,
    });
    const err = (await batcher
      .processStatements(stream(table))
      .catch((e: unknown) => e)) as BatchExecutionError;
    expect(err).toMatchObject({ name: 'BatchExecutionError', inDoubt: false, engineCode: '23502' });
    expect(err.statementIndices).toContain(1234);
    // pg tells which statement of the request failed; PGlite gives no position for constraint errors.
    if (!usingPglite) expect(err.failedStatementIndex).toBe(1234);
    const first = err.statementIndices[0]!;
    expect(first).toBeGreaterThan(0);
    expect(await ids(table)).toEqual(range(0, first));
  });

  const cases: { label: string; options: Partial<SQLBatcherOptions>; copy?: boolean }[] = [
    { label: "'skip', transaction: 'batch'", options: { onError: 'skip', transaction: 'batch' } },
    { label: "'skip', transaction: 'none', merged", options: { onError: 'skip' } },
  ];
  for (const c of cases) {
    it(`${c.label} rejects exactly the failing batches and commits every other one`, async () => {
      const table = await newTable();
      const batcher = new SQLBatcher({ adapter: db.adapter(), maxBytes: 20_000, retry: false, ...c.options });
      expect(await batcher.processStatements(stream(table))).toBe(N);
      const rejected = batcher.report.rejected.map((r) => r.index);
      for (const b of BAD) expect(rejected).toContain(b);
      // Whole batches are rejected: more than the bad statements, far fewer than everything.
      expect(rejected.length).toBeGreaterThan(BAD.size);
      expect(rejected.length).toBeLessThan(N / 2);
      const rejectedSet = new Set(rejected);
      expect(await ids(table)).toEqual(good.filter((i) => !rejectedSet.has(i)));
      expect(batcher.report.inDoubt).toEqual([]);
    });
  }

  const isolateCases: { label: string; options: Partial<SQLBatcherOptions>; copy?: boolean }[] = [
    { label: "transaction: 'none', merged INSERTs", options: {} },
    { label: "transaction: 'batch'", options: { transaction: 'batch' } },
    {
      label: "transaction: 'all' with savepoints and COPY",
      options: { transaction: 'all', savepoints: true },
      copy: true,
    },
  ];
  for (const c of isolateCases) {
    it(`'isolate' (${c.label}) finds every bad statement and commits every good one`, async () => {
      const table = await newTable();
      const adapter = db.adapter({ copy: c.copy ?? false });
      const batcher = new SQLBatcher({
        adapter,
        maxBytes: 20_000,
        retry: false,
        onError: 'isolate',
        ...c.options,
      });
      expect(await batcher.processStatements(stream(table))).toBe(N);
      if (c.options.transaction === 'all') await batcher.commit();
      const rejected = batcher.report.rejected;
      expect(rejected.map((r) => r.index).sort((a, b) => a - b)).toEqual([...BAD]);
      for (const r of rejected) {
        expect((r.error as { code?: string }).code).toBe(r.index % 2 === 0 ? '23502' : '23514');
        expect(r.sql).toContain(r.index % 2 === 0 ? `(${r.index}, NULL)` : `(-${r.index}, 'negative')`);
      }
      expect(await ids(table)).toEqual(good);
      if (c.copy) expect(adapter.copyStats.copiedRows).toBeGreaterThan(N / 2);
    });
  }
  it("a COMMIT refused by a deferred constraint is reported rolled back, not in doubt ('all')", async () => {
    await db.sql(
      'CREATE TABLE oe_parent (id int PRIMARY KEY); CREATE TABLE oe_child (id int, p int REFERENCES oe_parent DEFERRABLE INITIALLY DEFERRED)',
    );
    const batcher = new SQLBatcher({ adapter: db.adapter(), transaction: 'all', retry: false });
    const err = (await batcher
      .processStatements([
        'INSERT INTO oe_parent (id) VALUES (1)',
        'INSERT INTO oe_child (id, p) VALUES (1, 2)',
      ])
      .catch((e: unknown) => e)) as BatchExecutionError;
    expect(err).toMatchObject({ name: 'BatchExecutionError', inDoubt: false });
    expect(err.message).toMatch(/^COMMIT failed; the transaction was rolled back: .*foreign key/);
    expect(await db.sql('SELECT id FROM oe_parent')).toEqual([]);
  });

  it('names the failing statement when an earlier input string holds two statements', async () => {
    await db.sql(
      'CREATE TABLE oe_multi (id int PRIMARY KEY, v int CHECK (v >= 0)); CREATE TABLE oe_multi_u (id int)',
    );
    const err = (await new SQLBatcher({ adapter: db.adapter(), retry: false })
      .processStatements([
        'INSERT INTO oe_multi (id, v) VALUES (1, 1); UPDATE oe_multi SET v = 2 WHERE id = 1',
        'INSERT INTO oe_multi (id, v) VALUES (2, -1)',
        'INSERT INTO oe_multi_u (id) VALUES (3)',
      ])
      .catch((e: unknown) => e)) as BatchExecutionError;
    expect(err).toMatchObject({ name: 'BatchExecutionError', statementIndices: [0, 1, 2] });
    // (PGlite reports no statement for a constraint error: see the first test)
    if (!usingPglite) expect(err.failedStatementIndex).toBe(1);
  });

  it('an INSERT with more rows than maxRowsPerInsert is sent whole: a bad row leaves none of it', async () => {
    await db.sql('CREATE TABLE oe_rowcap (id int PRIMARY KEY, v int CHECK (v >= 0), pad text)');
    const pad = 'x'.repeat(900);
    const rows = Array.from({ length: 1500 }, (_, i) => `(${i}, ${i === 1400 ? -1 : i}, '${pad}')`);
    const statement = `INSERT INTO oe_rowcap (id, v, pad) VALUES ${rows.join(', ')}`;
    // (unnest: false: merged INSERTs are capped at 1,000 rows; this one statement is 1.4 MB)
    for (const onError of ['throw', 'skip', 'isolate'] as const) {
      const batcher = new SQLBatcher({ adapter: db.adapter({ unnest: false }), onError, retry: false });
      const out = await batcher.processStatements([statement, 'SELECT 1']).catch((e: unknown) => e);
      if (onError === 'throw')
        expect(out).toMatchObject({ name: 'BatchExecutionError', statementIndices: [0] });
      else expect(batcher.report.rejected.map((r) => r.index)).toEqual([0]);
      expect(await db.sql('SELECT id FROM oe_rowcap')).toEqual([]);
    }
  });

  it("'isolate' stopped by the circuit breaker mid-bisection names as not sent only what was not", async () => {
    // (a failure the breaker counts: a serialization failure, transient, raised for v < 0; statement
    // errors such as a CHECK violation show the server up and do not count)
    await db.sql(`CREATE TABLE oe_breaker (id int PRIMARY KEY, v int);
      CREATE FUNCTION oe_breaker_busy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF NEW.v < 0 THEN RAISE EXCEPTION 'busy' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER oe_breaker_busy BEFORE INSERT ON oe_breaker FOR EACH ROW EXECUTE FUNCTION oe_breaker_busy()`);
    const statements = Array.from(
      { length: 8 },
      (_, i) => `INSERT INTO oe_breaker (id, v) VALUES (${i}, ${i >= 6 ? -1 : i})`,
    );
    const batcher = new SQLBatcher({
      adapter: db.adapter(),
      onError: 'isolate',
      retry: false,
      circuitBreaker: { failureThreshold: 2, resetTimeoutMs: 60_000 },
    });
    const err = (await batcher.processStatements(statements).catch((e: unknown) => e)) as {
      code?: string;
      notSentIndices?: number[];
    };
    // the bisection committed #0–#5 and rejected #6; the breaker opened before #7 was sent
    expect(await ids('oe_breaker')).toEqual([0, 1, 2, 3, 4, 5]);
    expect(batcher.report.rejected.map((r) => r.index)).toEqual([6]);
    expect(err.notSentIndices).toEqual([7]);
  });

  it("a merged INSERT refused for a set-returning function: 'isolate' re-runs its statements unmerged", async () => {
    await db.sql('CREATE TABLE oe_srf (a int)');
    const statements = [
      'INSERT INTO oe_srf (a) VALUES (1)',
      'INSERT INTO oe_srf (a) VALUES (generate_series(10, 12))',
      'INSERT INTO oe_srf (a) VALUES (2)',
    ];
    // one by one: 5 rows; merged: one INSERT that PostgreSQL refuses (SRFs are not allowed in VALUES)
    const thrown = await new SQLBatcher({ adapter: db.adapter(), retry: false })
      .processStatements(statements)
      .catch((e: unknown) => e as BatchExecutionError);
    expect(thrown).toMatchObject({ name: 'BatchExecutionError', statementIndices: [0, 1, 2] });
    expect((thrown as BatchExecutionError).cause).toMatchObject({ code: '0A000' });
    expect(await db.sql('SELECT a FROM oe_srf')).toEqual([]);
    const batcher = new SQLBatcher({ adapter: db.adapter(), onError: 'isolate', retry: false });
    await batcher.processStatements(statements);
    expect(batcher.report.rejected).toEqual([]);
    const rows = await db.sql<{ a: number }>('SELECT a FROM oe_srf ORDER BY a');
    expect(rows.map((r) => r.a)).toEqual([1, 2, 10, 11, 12]);
  });
});

describe('a serialization failure or deadlock on the connection a run pinned with SET', () => {
  for (const pinned of [false, true]) {
    it(`${pinned ? 'pinned' : 'not pinned'}: retried, then skipped; the connection is kept and the run goes on`, async () => {
      const t = `ser_${pinned}`;
      await db.sql(`CREATE TABLE ${t} (id int)`);
      await db.sql(
        `CREATE FUNCTION ${t}_f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not serialize' USING ERRCODE = '40001'; END $$`,
      );
      const statements = [
        ...(pinned ? ["SET application_name = 'sqlbatcher-ser'"] : []),
        `INSERT INTO ${t} (id) VALUES (1)`,
        `SELECT ${t}_f()`,
        `INSERT INTO ${t} (id) VALUES (2)`,
        ...(pinned ? ["INSERT INTO ser_app SELECT current_setting('application_name')"] : []),
      ];
      if (pinned) await db.sql('DROP TABLE IF EXISTS ser_app; CREATE TABLE ser_app (name text)');
      const batcher = new SQLBatcher({
        adapter: db.adapter(),
        onError: 'skip',
        batchMode: false,
        retry: { maxAttempts: 2, initialDelayMs: 1 },
      });
      await batcher.processStatements(statements);
      await batcher[Symbol.asyncDispose]();
      expect(batcher.report.retries).toBe(1);
      expect(batcher.report.rejected.map((r) => r.index)).toEqual([pinned ? 2 : 1]);
      const ids = (await db.sql<{ id: number }>(`SELECT id FROM ${t} ORDER BY id`)).map((r) => r.id);
      expect(ids).toEqual([1, 2]);
      // the SET still holds for the statements after the failure: the same connection ran them
      if (pinned) expect(await db.sql('SELECT name FROM ser_app')).toEqual([{ name: 'sqlbatcher-ser' }]);
    });
  }
});

describe('a serialization failure inside a transaction block the input began', () => {
  it("is not retried inside the input's block: rolled back to its savepoint and skipped, the block goes on", async () => {
    const t = 'ser_in_tx';
    await db.sql(`CREATE TABLE ${t} (id int)`);
    await db.sql(
      `CREATE FUNCTION ${t}_f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'could not serialize' USING ERRCODE = '40001'; END $$`,
    );
    const batcher = new SQLBatcher({
      adapter: db.adapter(),
      onError: 'skip',
      batchMode: false,
      retry: { maxAttempts: 2, initialDelayMs: 1 },
    });
    const err = (await batcher
      .processStatements([
        'BEGIN',
        `INSERT INTO ${t} (id) VALUES (1)`,
        `SELECT ${t}_f()`,
        `INSERT INTO ${t} (id) VALUES (2)`,
        'COMMIT',
      ])
      .catch((e: unknown) => e)) as { code?: string };
    await batcher[Symbol.asyncDispose]().catch(() => undefined);
    // (the failure is rolled back to the savepoint the request ran under and skipped, not retried: a
    // serialization failure belongs to the whole transaction; #3 and the COMMIT go on, as with psql's
    // ON_ERROR_ROLLBACK)
    expect(err).toBe(5);
    expect(batcher.report.retries).toBe(0);
    expect(batcher.report.rejected.map((r) => r.index)).toEqual([2]);
    expect(await db.sql(`SELECT id FROM ${t} ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }]);
  });
});

describe("a failed COMMIT of a transaction block the input began (the block's statements are undone)", () => {
  /** A table whose deferred constraint trigger raises 40001 at COMMIT for id 10. */
  async function table(t: string): Promise<void> {
    await db.sql(`CREATE TABLE ${t} (id int);
      CREATE FUNCTION ${t}_f() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001'; END $$;
      CREATE CONSTRAINT TRIGGER ${t}_at_commit AFTER INSERT ON ${t} DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW WHEN (NEW.id = 10) EXECUTE FUNCTION ${t}_f()`);
  }
  const statements = (t: string) => [
    `INSERT INTO ${t} (id) VALUES (1)`,
    'BEGIN',
    `INSERT INTO ${t} (id) VALUES (10)`,
    `INSERT INTO ${t} (id) VALUES (11)`,
    'COMMIT',
    `INSERT INTO ${t} (id) VALUES (30)`,
  ];

  for (const onError of ['throw', 'skip', 'isolate'] as const) {
    it(`is never retried as a bare COMMIT (onError '${onError}', retries on): the run stops and says so`, async () => {
      const t = `commit_lost_${onError}`;
      await table(t);
      // (the outcome used to depend on whether pg had read the server's status when the error came: repeat)
      for (let run = 0; run < 8; run++) {
        await db.sql(`TRUNCATE ${t}`);
        const batcher = new SQLBatcher({
          adapter: db.adapter(),
          onError,
          retry: { maxAttempts: 3, initialDelayMs: 1 },
        });
        const err = (await batcher.processStatements(statements(t)).catch((e: unknown) => e)) as
          | BatchExecutionError
          | undefined;
        await batcher[Symbol.asyncDispose]().catch(() => undefined);
        expect(err, `run ${run}`).toMatchObject({ code: 'BATCH_FAILED', statementIndices: [4], attempts: 1 });
        expect(err?.message).toContain(
          'the transaction block the input opened at #1 was aborted or rolled back with it',
        );
        expect(batcher.report.retries).toBe(0);
        expect(batcher.report.rejected).toEqual([]);
        // (#0 committed on its own; the block is gone; #5 was never run)
        expect(await db.sql(`SELECT id FROM ${t} ORDER BY id`)).toEqual([{ id: 1 }]);
      }
    });
  }

  it.runIf(!usingPglite)(
    'with a pg that does not report its transaction status (before 8.12): the COMMIT is not retried either',
    async () => {
      const t = 'commit_lost_oldpg';
      await table(t);
      const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${db.schema}` });
      await client.connect();
      Object.defineProperty(client, 'getTransactionStatus', { value: undefined });
      const adapter = new PostgreSQLAdapter({ client });
      const batcher = new SQLBatcher({ adapter, retry: { maxAttempts: 3, initialDelayMs: 1 } });
      const err = await batcher.processStatements(statements(t)).catch((e: unknown) => e);
      await batcher[Symbol.asyncDispose]().catch(() => undefined);
      await adapter.close();
      await client.end();
      expect(err).toMatchObject({ code: 'BATCH_FAILED', statementIndices: [4], attempts: 1 });
      expect((err as Error).message).toContain(
        'the transaction block the input opened at #1 was aborted or rolled back',
      );
      expect(batcher.report.retries).toBe(0);
      expect(await db.sql(`SELECT id FROM ${t} ORDER BY id`)).toEqual([{ id: 1 }]);
    },
  );
});

describe('a transaction block the input began and left open', () => {
  it.runIf(!usingPglite)(
    'with a pg that does not report its transaction status (before 8.12), the server is asked: rolled back too',
    async () => {
      const t = 'left_open_old';
      await db.sql(`CREATE TABLE ${t} (id int)`);
      const pool = db.pool!(1);
      pool.on('connect', (c) => Object.defineProperty(c, 'getTransactionStatus', { value: undefined }));
      const adapter = new PostgreSQLAdapter({ pool });
      const batcher = new SQLBatcher({ adapter, batchMode: false });
      await batcher.processStatements(['BEGIN', `INSERT INTO ${t} (id) VALUES (1)`]);
      await batcher[Symbol.asyncDispose]();
      // the next user of the pooled connection is outside any transaction block
      const c = await pool.connect();
      const outside = await c.query('SAVEPOINT p').then(
        () => false,
        (e: { code?: string }) => e.code === '25P01',
      );
      c.release();
      await adapter.close();
      expect(outside).toBe(true);
      expect(await db.sql(`SELECT id FROM ${t}`)).toEqual([]);
    },
  );

  it('is rolled back when the session is released: the pooled connection is clean for the next user', async () => {
    const t = 'left_open';
    await db.sql(`CREATE TABLE ${t} (id int)`);
    const adapter = db.adapter({ poolSize: 1 });
    const first = new SQLBatcher({ adapter, onError: 'skip', batchMode: false, retry: false });
    // (the division by zero aborted the block, which the input never commits: as one by one, it is
    // rolled back when the session ends)
    await first.processStatements(['BEGIN', `INSERT INTO ${t} (id) VALUES (1)`, 'SELECT 1/0']);
    await first[Symbol.asyncDispose]();
    const second = new SQLBatcher({ adapter });
    await second.processStatements([`INSERT INTO ${t} (id) VALUES (99)`]);
    await second[Symbol.asyncDispose]();
    expect(await db.sql(`SELECT id FROM ${t}`)).toEqual([{ id: 99 }]);
  });
});

describe('a statement the server cancelled for timeoutMs on the connection a run pinned with SET', () => {
  it.runIf(!usingPglite)(
    'is isolated like any failure: the connection is kept (it is fine), the run goes on',
    async () => {
      const t = 'timeout_pinned';
      await db.sql(`CREATE TABLE ${t} (id int PRIMARY KEY)`);
      for (const withSet of [false, true]) {
        await db.sql(`TRUNCATE ${t}`);
        const batcher = new SQLBatcher({
          adapter: db.adapter(),
          onError: 'isolate',
          timeoutMs: 300,
          retry: false,
        });
        const statements = [
          ...(withSet ? ["SET application_name = 'loader'"] : []),
          `INSERT INTO ${t} (id) VALUES (1)`,
          'SELECT pg_sleep(2)',
          `INSERT INTO ${t} (id) VALUES (2)`,
        ];
        await batcher.processStatements(statements);
        await batcher[Symbol.asyncDispose]();
        expect(
          batcher.report.rejected.map((r) => r.index),
          `withSet ${withSet}`,
        ).toEqual([withSet ? 2 : 1]);
        expect(await ids(t)).toEqual([1, 2]);
      }
    },
  );
});

describe('an error of the implicit COMMIT of a multi-statement request (a deferred constraint)', () => {
  it("is not blamed on the last statement when the error names a deferrable constraint; an immediate one's is", async () => {
    await db.sql(`CREATE TABLE dfk_parent (id int PRIMARY KEY);
      CREATE TABLE dfk_child (id int PRIMARY KEY, pid int REFERENCES dfk_parent DEFERRABLE INITIALLY DEFERRED);
      CREATE TABLE dfk_other (id int PRIMARY KEY)`);
    const batcher = new SQLBatcher({ adapter: db.adapter() });
    const err = (await batcher
      .processStatements([
        'INSERT INTO dfk_child (id, pid) VALUES (1, 999)',
        'INSERT INTO dfk_other (id) VALUES (1)',
        'UPDATE dfk_other SET id = id',
      ])
      .catch((e: unknown) => e)) as BatchExecutionError;
    await batcher[Symbol.asyncDispose]();
    expect(err).toMatchObject({ code: 'BATCH_FAILED', statementIndices: [0, 1, 2], engineCode: '23503' });
    // (the engine does not say which statement: none is named, rather than the UPDATE)
    expect(err.failedStatementIndex).toBeUndefined();
    expect(await db.sql('SELECT * FROM dfk_other')).toEqual([]);
    // An immediate foreign key checked by the last statement itself (it names the child table): named.
    await db.sql(`CREATE TABLE ifk_parent (id int PRIMARY KEY);
      CREATE TABLE ifk_child (id int PRIMARY KEY, pid int REFERENCES ifk_parent);
      INSERT INTO ifk_parent VALUES (1); INSERT INTO ifk_child VALUES (1, 1)`);
    const immediate = new SQLBatcher({ adapter: db.adapter() });
    const err2 = (await immediate
      .processStatements([
        'UPDATE ifk_parent SET id = id WHERE id = 1',
        'DELETE FROM ifk_parent WHERE id = 1',
      ])
      .catch((e: unknown) => e)) as BatchExecutionError;
    await immediate[Symbol.asyncDispose]();
    expect(err2).toMatchObject({ code: 'BATCH_FAILED', engineCode: '23503' });
    if (!usingPglite) expect(err2.failedStatementIndex).toBe(1);
  });
});

describe('a procedure that commits inside (CALL), among other statements', () => {
  it('runs as it does one by one: CALL and DO go in requests of their own', async () => {
    await db.sql(`CREATE TABLE proc_t (id int);
      CREATE PROCEDURE proc_commit(n int) LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO proc_t VALUES (n); COMMIT; INSERT INTO proc_t VALUES (n + 1); END $$`);
    const batcher = new SQLBatcher({ adapter: db.adapter() });
    await batcher.processStatements([
      'INSERT INTO proc_t (id) VALUES (1)',
      'CALL proc_commit(10)',
      'INSERT INTO proc_t (id) VALUES (2)',
      'DO $$ BEGIN INSERT INTO proc_t VALUES (20); COMMIT; END $$',
      'INSERT INTO proc_t (id) VALUES (3)',
    ]);
    await batcher[Symbol.asyncDispose]();
    expect(await ids('proc_t')).toEqual([1, 2, 3, 10, 11, 20]);
  });
});

describe("a failure inside the input's block after the input set a savepoint", () => {
  it('only aborts the block back to it: the input may ROLLBACK TO it and go on, as one by one', async () => {
    for (const onError of ['skip', 'isolate'] as const) {
      const t = `sp_recover_${onError}`;
      await db.sql(`CREATE TABLE ${t} (id int PRIMARY KEY)`);
      const batcher = new SQLBatcher({ adapter: db.adapter(), onError });
      await batcher.processStatements([
        'BEGIN',
        `INSERT INTO ${t} (id) VALUES (1)`,
        'SAVEPOINT s',
        `INSERT INTO ${t} (id) VALUES (1)`,
        'ROLLBACK TO SAVEPOINT s',
        `INSERT INTO ${t} (id) VALUES (2)`,
        'COMMIT',
      ]);
      await batcher[Symbol.asyncDispose]();
      expect(
        batcher.report.rejected.map((r) => r.index),
        onError,
      ).toEqual([3]);
      expect(await ids(t)).toEqual([1, 2]);
    }
  });

  it('names the BEGIN of the block a later failure lost, not an earlier block from a multi-statement string', async () => {
    const t = 'stale_begin';
    // (a deferred unique constraint: the duplicate fails at COMMIT)
    await db.sql(`CREATE TABLE ${t} (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)`);
    const batcher = new SQLBatcher({ adapter: db.adapter() });
    const err = await batcher
      .processStatements([
        `BEGIN; INSERT INTO ${t} (id) VALUES (1); COMMIT`,
        `INSERT INTO ${t} (id) VALUES (2)`,
        'BEGIN',
        `INSERT INTO ${t} (id) VALUES (1)`,
        'COMMIT',
      ])
      .catch((e: unknown) => e);
    await batcher[Symbol.asyncDispose]().catch(() => undefined);
    expect((err as Error).message).toContain('the transaction block the input opened at #2 was aborted');
    expect(await ids(t)).toEqual([1, 2]);
  });
});

describe("the input's block: what counts as lost", () => {
  it.runIf(!usingPglite)(
    'a COMMIT the server answers with ROLLBACK (the block was aborted earlier) stops the run, naming the BEGIN',
    async () => {
      const t = 'lost_rollback_tag';
      await db.sql(`CREATE TABLE ${t} (id int PRIMARY KEY)`);
      // (RELEASE a also drops b: no savepoint is left to roll back to when the duplicate aborts the block;
      // the duplicate's request holds a SAVEPOINT of the input's, so the batcher puts none around it)
      const batcher = new SQLBatcher({ adapter: db.adapter(), onError: 'skip', batchMode: false });
      const err = await batcher
        .processStatements([
          'BEGIN',
          'SAVEPOINT a',
          'SAVEPOINT b',
          'RELEASE SAVEPOINT a',
          `INSERT INTO ${t} (id) VALUES (1)`,
          `INSERT INTO ${t} (id) VALUES (1); SAVEPOINT c`,
          `INSERT INTO ${t} (id) VALUES (2)`,
          'COMMIT',
          `INSERT INTO ${t} (id) VALUES (3)`,
        ])
        .catch((e: unknown) => e);
      await batcher[Symbol.asyncDispose]().catch(() => undefined);
      expect(err).toMatchObject({ code: 'BATCH_FAILED', statementIndices: [7], blockUndoneFrom: 0 });
      expect((err as Error).message).toContain('the transaction block the input opened at #0 was aborted');
      expect(await ids(t)).toEqual([]);
    },
  );

  it('a COMMIT at the end of a multi-statement string that fails is a lost block; one that finished before a failure is not', async () => {
    await db.sql(`CREATE TABLE lost_str (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)`);
    const failing = new SQLBatcher({ adapter: db.adapter(), onError: 'skip', batchMode: false });
    const err = await failing
      .processStatements([
        'BEGIN',
        'SAVEPOINT a',
        'INSERT INTO lost_str (id) VALUES (1)',
        'INSERT INTO lost_str (id) VALUES (1)',
        'SELECT 1; COMMIT',
        'INSERT INTO lost_str (id) VALUES (2)',
      ])
      .catch((e: unknown) => e);
    await failing[Symbol.asyncDispose]().catch(() => undefined);
    expect((err as Error).message).toContain('the transaction block the input opened at #0 was aborted');
    expect(await ids('lost_str')).toEqual([]);
    // The block committed inside the string, then a statement after it failed: not a lost block. (pg
    // says how many statements of the string completed; PGlite does not, and a COMMIT followed by more
    // statements is then taken as possibly finished: in doubt too.)
    await db.sql('CREATE TABLE kept_str (id int PRIMARY KEY)');
    const after = new SQLBatcher({ adapter: db.adapter(), batchMode: false });
    const err2 = await after
      .processStatements([
        'BEGIN',
        'INSERT INTO kept_str (id) VALUES (1); COMMIT; INSERT INTO kept_str (id) VALUES (1)',
      ])
      .catch((e: unknown) => e);
    await after[Symbol.asyncDispose]().catch(() => undefined);
    // (in doubt: the string's COMMIT finished, its last statement failed; on PGlite, which cannot tell
    // whether it finished, the block it committed is in doubt with it)
    expect(err2).toMatchObject({ code: 'BATCH_IN_DOUBT', statementIndices: [1] });
    if (usingPglite) expect((err2 as Error).message).toContain('were applied with it or not at all');
    else expect((err2 as Error).message).not.toContain('transaction block');
    expect(await ids('kept_str')).toEqual([1]);
  });
});

describe("a connection lost inside the input's own block", () => {
  it.runIf(!usingPglite)(
    'a terminated backend (57P01) before the COMMIT: the block is rolled back, named, not in doubt',
    async () => {
      await db.sql('CREATE TABLE term_blk (a int)');
      const adapter = db.adapter();
      const b = new SQLBatcher({ adapter });
      const kill = setTimeout(() => {
        void db.sql(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%term_blk%pg_sleep(3)%' AND pid <> pg_backend_pid()",
        );
      }, 700);
      const err = await b
        .processStatements([
          'BEGIN',
          'INSERT INTO term_blk VALUES (1)',
          'SELECT count(*) FROM term_blk, pg_sleep(3)',
          'COMMIT',
        ])
        .catch((e: unknown) => e);
      clearTimeout(kill);
      await b[Symbol.asyncDispose]().catch(() => undefined);
      await adapter.close();
      expect(err).toMatchObject({ name: 'BatchExecutionError', inDoubt: false });
      expect((err as Error).message).toContain('the transaction block the input opened at #0');
      expect(await db.sql('SELECT count(*)::int AS n FROM term_blk')).toEqual([{ n: 0 }]);
    },
  );

  it('PGlite (no completed-statement count): a failed string with a COMMIT before its end puts the block in doubt with it', async () => {
    const { PGlite } = await import('@electric-sql/pglite');
    const pglite = new PGlite();
    await pglite.exec('CREATE TABLE t (a int CHECK (a > 0))');
    const b = new SQLBatcher({ adapter: new PostgreSQLAdapter({ pglite }) });
    const err = await b
      .processStatements([
        'BEGIN',
        'INSERT INTO t VALUES (1)',
        'INSERT INTO t VALUES (-2); COMMIT; INSERT INTO t VALUES (3)',
      ])
      .catch((e: unknown) => e);
    await b[Symbol.asyncDispose]().catch(() => undefined);
    expect(err).toMatchObject({ name: 'BatchExecutionError', inDoubt: true });
    expect((err as Error).message).toContain(
      'it held the COMMIT of the transaction block the input opened at #0: the statements from #0 on were applied with it or not at all',
    );
    await pglite.close();
  });
});

describe('transaction control inside an input string of several statements', () => {
  const rows = (t: string, from: number) =>
    Array.from({ length: 150 }, (_, i) => `INSERT INTO ${t} (id) VALUES (${from + i})`);
  for (const options of [{ unnest: false }, {}, { copy: true }]) {
    const label = JSON.stringify(options);
    it(`goes alone in its request, so the fast forms never wrap it (${label})`, async () => {
      const t = `txstr_${Object.entries(options)[0]?.join('_') ?? 'defaults'}`;
      await db.sql(`CREATE TABLE ${t} (id int PRIMARY KEY)`);
      // the input's ROLLBACK undoes the rows its string's BEGIN took in
      const a = new SQLBatcher({ adapter: db.adapter(options) });
      await a.processStatements([`UPDATE ${t} SET id = id; BEGIN`, ...rows(t, 0), 'ROLLBACK']);
      await a[Symbol.asyncDispose]();
      expect(await ids(t)).toEqual([]);
      // a COMMIT at the end of a string ends the block; the rows after it are loaded
      const b = new SQLBatcher({ adapter: db.adapter(options) });
      await b.processStatements(['BEGIN', ...rows(t, 0), 'SELECT 1; COMMIT', ...rows(t, 1000)]);
      await b[Symbol.asyncDispose]();
      expect((await ids(t)).length).toBe(300);
    });
  }

  it.runIf(!usingPglite)(
    'a failure after a COMMIT that finished in the same string is in doubt, not rejected',
    async () => {
      await db.sql('CREATE TABLE txstr_doubt (id int PRIMARY KEY, v int)');
      const b = new SQLBatcher({ adapter: db.adapter(), onError: 'skip', retry: false });
      // (the COMMIT pinned the session, which an outcome in doubt gives up: the run stops, in doubt)
      const err = await b
        .processStatements([
          'INSERT INTO txstr_doubt VALUES (1, 0)',
          'UPDATE txstr_doubt SET v = 1; COMMIT; INSERT INTO txstr_doubt VALUES (1, 9)',
        ])
        .catch((e: unknown) => e);
      await b[Symbol.asyncDispose]();
      expect(err).toMatchObject({ code: 'BATCH_IN_DOUBT', statementIndices: [1], inDoubt: true });
      expect(b.report.rejected).toEqual([]);
      expect(await db.sql('SELECT id, v FROM txstr_doubt')).toEqual([{ id: 1, v: 1 }]);
    },
  );

  it('a COMMIT the server answers with ROLLBACK inside a string is a lost block too', async () => {
    await db.sql('CREATE TABLE txstr_rb (id int PRIMARY KEY)');
    const b = new SQLBatcher({ adapter: db.adapter(), onError: 'skip', retry: false, batchMode: false });
    const err = await b
      .processStatements([
        'BEGIN',
        'INSERT INTO txstr_rb VALUES (1)',
        // (with a SAVEPOINT of the input's in its request, the batcher puts none around it: the block aborts)
        'UPDATE txstr_rb SET id = id / 0; SAVEPOINT s',
        'COMMIT; INSERT INTO txstr_rb VALUES (3)',
      ])
      .catch((e: unknown) => e);
    await b[Symbol.asyncDispose]().catch(() => undefined);
    // (in doubt, since #3's INSERT after the COMMIT ran on its own: the block is named without its BEGIN)
    expect(err).toMatchObject({ code: 'BATCH_IN_DOUBT', statementIndices: [3] });
    expect((err as Error).message).toMatch(
      /the transaction block (it ran in|the input opened at #0) was aborted/,
    );
    expect(await ids('txstr_rb')).toEqual([3]);
  });

  it("a run that stops inside the input's block says the block is rolled back", async () => {
    await db.sql('CREATE TABLE txstr_stop (id int PRIMARY KEY)');
    const b = new SQLBatcher({ adapter: db.adapter(), retry: false, batchMode: false });
    const err = await b
      .processStatements([
        'BEGIN',
        'INSERT INTO txstr_stop VALUES (1)',
        'UPDATE txstr_stop SET id = id / 0',
        'COMMIT',
      ])
      .catch((e: unknown) => e);
    await b[Symbol.asyncDispose]().catch(() => undefined);
    expect((err as Error).message).toContain(
      'the run stops inside the transaction block the input opened at #0, which is rolled back',
    );
    expect(await ids('txstr_stop')).toEqual([]);
  });
});

describe('review round 4: shared connections, aborted blocks', () => {
  it('a serialization failure inside the block with a savepoint set: skipped, ROLLBACK TO recovers, as one by one', async () => {
    await db.sql(`CREATE TABLE r4_sp (v int);
      CREATE FUNCTION r4_conflict() RETURNS int LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'c' USING ERRCODE = '40001'; END $$`);
    const b = new SQLBatcher({ adapter: db.adapter(), onError: 'skip' });
    await b.processStatements([
      'BEGIN',
      'INSERT INTO r4_sp VALUES (1)',
      'SAVEPOINT a',
      'SELECT r4_conflict()',
      'ROLLBACK TO SAVEPOINT a',
      'INSERT INTO r4_sp VALUES (2)',
      'COMMIT',
    ]);
    await b[Symbol.asyncDispose]();
    expect(b.report.rejected.map((r) => r.index)).toEqual([3]);
    expect((await db.sql<{ v: number }>('SELECT v FROM r4_sp ORDER BY v')).map((r) => r.v)).toEqual([1, 2]);
  });

  it.runIf(!usingPglite)(
    'a COMMIT of an aborted block followed by a failing statement in the same string is a lost block',
    async () => {
      await db.sql('CREATE TABLE r4_c (v int)');
      const b = new SQLBatcher({ adapter: db.adapter(), onError: 'skip', batchMode: false });
      const err = await b
        .processStatements([
          'BEGIN',
          'INSERT INTO r4_c VALUES (1)',
          "INSERT INTO r4_c VALUES ('bad'); SAVEPOINT s",
          "COMMIT; INSERT INTO r4_c VALUES ('bad2')",
        ])
        .catch((e: unknown) => e);
      await b[Symbol.asyncDispose]().catch(() => undefined);
      expect((err as Error).message).toContain('the transaction block the input opened at #0 was aborted');
      expect(await db.sql('SELECT v FROM r4_c')).toEqual([]);
    },
  );

  it('a string that commits the block and fails in a new one does not name the committed BEGIN', async () => {
    await db.sql('CREATE TABLE r4_d (v int)');
    const b = new SQLBatcher({ adapter: db.adapter() });
    const err = await b
      .processStatements([
        'BEGIN',
        'INSERT INTO r4_d VALUES (1)',
        "COMMIT; BEGIN; INSERT INTO r4_d VALUES ('bad'); COMMIT",
      ])
      .catch((e: unknown) => e);
    await b[Symbol.asyncDispose]().catch(() => undefined);
    // (PGlite does not say how many statements of the string completed: the COMMIT followed by more
    // statements may have finished, so the batch, and the block before it, are in doubt there)
    if (usingPglite) {
      expect(err).toMatchObject({ inDoubt: true });
      expect((err as Error).message).toContain('were applied with it or not at all');
    } else expect((err as Error).message).not.toContain('opened at #0');
    expect(await db.sql('SELECT v FROM r4_d')).toEqual([{ v: 1 }]);
  });

  it.runIf(!usingPglite)(
    "a shared pg.Client: the input's aborted block is rolled back at release (the client is usable after)",
    async () => {
      await db.sql(`CREATE TABLE r4_b (v int);
        CREATE FUNCTION r4_b_conflict() RETURNS int LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'c' USING ERRCODE = '40001'; END $$`);
      const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${db.schema}` });
      await client.connect();
      const adapter = new PostgreSQLAdapter({ client });
      const b = new SQLBatcher({ adapter, onError: 'skip' });
      await b.processStatements(['BEGIN', 'INSERT INTO r4_b VALUES (1)', 'SELECT r4_b_conflict()']);
      await b[Symbol.asyncDispose]();
      await adapter.close();
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      await client.end();
      expect(await db.sql('SELECT v FROM r4_b')).toEqual([]);
    },
  );

  it("PGlite shared with the caller: a transient failure does not roll back the caller's own block", async () => {
    // (its own PGlite whatever PG_URL says: the case is PGlite's one session)
    const { PGlite } = await import('@electric-sql/pglite');
    const pgl = new PGlite();
    await pgl.exec(`CREATE TABLE t (id int); CREATE SEQUENCE s;
      CREATE FUNCTION once() RETURNS int LANGUAGE plpgsql AS $$
      BEGIN IF nextval('s') = 1 THEN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END IF; RETURN 1; END $$`);
    await pgl.exec('BEGIN; INSERT INTO t VALUES (0)');
    const adapter = new PostgreSQLAdapter(pgl);
    const b = new SQLBatcher({ adapter, onError: 'skip' });
    await b.processStatements(['INSERT INTO t VALUES (1)', 'SELECT once()', 'INSERT INTO t VALUES (2)']);
    await b[Symbol.asyncDispose]();
    // the caller's block is still open (aborted by the 40001, as one by one in it): its COMMIT rolls back
    expect((pgl as unknown as { isInTransaction(): boolean }).isInTransaction()).toBe(true);
    await pgl.exec('COMMIT');
    expect((await pgl.query('SELECT id FROM t ORDER BY id')).rows).toEqual([]);
    await adapter.close();
    await pgl.close();
  });

  it.runIf(!usingPglite)(
    'a shared pg.Client whose request never answers (partition) after a timeout: the run still ends',
    async () => {
      const net = await import('node:net');
      let frozen = false;
      const sockets: import('node:net').Socket[] = [];
      const proxy = net.createServer((c) => {
        sockets.push(c);
        if (frozen) return; // (the cancel request goes nowhere either)
        const u = new URL(PG_URL!);
        const up = net.connect(Number(u.port || 5432), u.hostname);
        sockets.push(up);
        c.on('data', (d) => {
          if (!frozen) up.write(d);
        });
        up.on('data', (d) => {
          if (!frozen) c.write(d);
        });
        c.on('error', () => undefined);
        up.on('error', () => undefined);
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
      const port = (proxy.address() as import('node:net').AddressInfo).port;
      await db.sql('CREATE TABLE r4_part (id int)');
      const u = new URL(PG_URL!);
      const client = new pg.Client({
        host: '127.0.0.1',
        port,
        user: decodeURIComponent(u.username) || 'postgres',
        database: u.pathname.slice(1),
        options: `-c search_path=${db.schema}`,
      });
      client.on('error', () => undefined);
      await client.connect();
      const b = new SQLBatcher({
        adapter: new PostgreSQLAdapter({ client }),
        timeoutMs: 300,
        cancelGraceMs: 300,
        retry: false,
        maxBytes: 64,
      });
      const t0 = Date.now();
      setTimeout(() => {
        frozen = true;
      }, 200);
      const err = await b
        .processStatements([
          'BEGIN',
          'INSERT INTO r4_part VALUES (1)',
          'SELECT pg_sleep(0.4)',
          'INSERT INTO r4_part VALUES (2)',
          'COMMIT',
        ])
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(Date.now() - t0).toBeLessThan(5000);
      for (const sock of sockets) sock.destroy();
      proxy.close();
    },
    15_000,
  );
});

describe('merged ON CONFLICT … DO UPDATE whose keys PostgreSQL makes equal (found in review)', () => {
  const up = (table: string, k: string, v: string, col = 'k') =>
    `INSERT INTO ${table} (${col}, v) VALUES (${k}, '${v}') ON CONFLICT (${col}) DO UPDATE SET v = excluded.v`;

  it('a name key cut at 63 bytes, a numeric(5,-2) key rounded, a key a BEFORE INSERT trigger rewrites: as one by one', async () => {
    await db.sql(`CREATE TABLE up_name (k name PRIMARY KEY, v text);
      CREATE TABLE up_round (k numeric(5, -2) PRIMARY KEY, v text);
      CREATE TABLE up_trig (email text PRIMARY KEY, v text);
      CREATE FUNCTION up_norm() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.email := split_part(NEW.email, '+', 1); RETURN NEW; END $$;
      CREATE TRIGGER up_norm BEFORE INSERT ON up_trig FOR EACH ROW EXECUTE FUNCTION up_norm();
      CREATE TABLE up_int (k int PRIMARY KEY, v text);
      CREATE TABLE up_part (k int PRIMARY KEY, v text) PARTITION BY RANGE (k);
      CREATE TABLE up_part_1 PARTITION OF up_part FOR VALUES FROM (0) TO (1000);
      CREATE FUNCTION up_clamp() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.k := 0; RETURN NEW; END $$;
      CREATE TRIGGER up_clamp BEFORE INSERT ON up_part_1 FOR EACH ROW EXECUTE FUNCTION up_clamp();
      CREATE VIEW up_view AS SELECT email, v FROM up_trig;
      CREATE TABLE up_upd (k int PRIMARY KEY, v text);
      CREATE FUNCTION up_bump() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.k := NEW.k + 1; RETURN NEW; END $$;
      CREATE TRIGGER up_bump BEFORE UPDATE ON up_upd FOR EACH ROW EXECUTE FUNCTION up_bump();
      CREATE TABLE up_late (k int PRIMARY KEY, v text);
      CREATE FUNCTION up_mod() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.k := NEW.k % 10; RETURN NEW; END $$`);
    const stream = [
      up('up_view', "'view+a'", 'first', 'email'),
      up('up_view', "'view+b'", 'second', 'email'),
      up('up_name', `'${'a'.repeat(64)}'`, 'first'),
      up('up_name', `'${'a'.repeat(63)}b'`, 'second'),
      up('up_round', '1234', 'first'),
      up('up_round', '1201', 'second'),
      up('up_trig', "'joe+a'", 'first', 'email'),
      up('up_trig', "'joe+b'", 'second', 'email'),
    ];
    for (const transaction of ['none', 'batch', 'all'] as const) {
      await db.sql('TRUNCATE up_name, up_round, up_trig');
      const batcher = new SQLBatcher({ adapter: db.adapter(), transaction, retry: false });
      await batcher.processStatements(stream);
      expect(batcher.report.rejected, transaction).toEqual([]);
      expect(await db.sql('SELECT k::text AS k, v FROM up_name')).toEqual([
        { k: 'a'.repeat(63), v: 'second' },
      ]);
      expect(await db.sql('SELECT k::text AS k, v FROM up_round')).toEqual([{ k: '1200', v: 'second' }]);
      expect(await db.sql('SELECT email, v FROM up_trig ORDER BY email')).toEqual([
        { email: 'joe', v: 'second' },
        { email: 'view', v: 'second' },
      ]);
    }
    // A BEFORE UPDATE trigger that moves the key: one by one (1) becomes 2, then (2) becomes 3.
    await db.sql("INSERT INTO up_upd VALUES (1, 'old')");
    const upd = new SQLBatcher({ adapter: db.adapter(), retry: false });
    await upd.processStatements([up('up_upd', '1', 'a'), up('up_upd', '2', 'b')]);
    expect(await db.sql('SELECT k, v FROM up_upd')).toEqual([{ k: 3, v: 'b' }]);
    // A trigger created in the same request as the upserts (the catalog look-up cannot see it yet): the
    // server's "cannot affect row a second time" sends the statements again one by one.
    // (transaction 'all' without savepoints: the request gets one all the same, found in review)
    for (const transaction of ['none', 'batch', 'all'] as const) {
      await db.sql('DROP TRIGGER IF EXISTS up_mod ON up_late; TRUNCATE up_late');
      const late = new SQLBatcher({ adapter: db.adapter(), transaction, retry: false });
      await late.processStatements([
        'CREATE TRIGGER up_mod BEFORE INSERT ON up_late FOR EACH ROW EXECUTE FUNCTION up_mod()',
        up('up_late', '1', 'a'),
        up('up_late', '11', 'b'),
      ]);
      await late.close();
      expect(late.report.rejected, transaction).toEqual([]);
      expect(await db.sql('SELECT k, v FROM up_late')).toEqual([{ k: 1, v: 'b' }]);
    }
    // Inside the input's own block under skip: the savepoint took the request back, so it is sent again.
    await db.sql('DROP TRIGGER IF EXISTS up_mod ON up_late; TRUNCATE up_late');
    const inBlock = new SQLBatcher({ adapter: db.adapter(), onError: 'skip', retry: false });
    await inBlock.processStatements([
      'BEGIN',
      'CREATE TRIGGER up_mod BEFORE INSERT ON up_late FOR EACH ROW EXECUTE FUNCTION up_mod()',
      up('up_late', '1', 'a'),
      up('up_late', '11', 'b'),
      'COMMIT',
    ]);
    await inBlock.close();
    expect(inBlock.report.rejected).toEqual([]);
    expect(await db.sql('SELECT k, v FROM up_late')).toEqual([{ k: 1, v: 'b' }]);
    // An integer key is merged as before: one INSERT.
    const adapter = db.adapter();
    const asked = (table: string, col = 'k') =>
      adapter.canMergeUpserts({
        sql: up(table, '1', 'x', col),
        indices: [0, 1],
        insert: {
          table,
          columns: [col, 'v'],
          rows: ["(1, 'x')"],
          rowIndices: [0],
          tail: `ON CONFLICT (${col}) DO UPDATE SET v = excluded.v`,
        },
      });
    expect(await asked('up_int')).toBe(true);
    expect(await asked('up_name')).toBe(false);
    expect(await asked('up_round')).toBe(false);
    expect(await asked('up_trig', 'email')).toBe(false);
    expect(await asked('up_part')).toBe(false); // (a trigger on a partition)
    expect(await asked('up_view', 'email')).toBe(false); // (a view: its table's triggers not looked into)
    expect(await asked('up_upd')).toBe(false); // (a BEFORE UPDATE trigger)
    expect(await asked('no_such_table')).toBe(false);
    await adapter.close();
    const sent: string[] = [];
    const batcher = new SQLBatcher({
      adapter: db.adapter(),
      collector: { record: (r) => void sent.push(r.sql ?? '') },
    });
    await batcher.processStatements([up('up_int', '1', 'a'), up('up_int', '2', 'b')]);
    expect(batcher.report.requests).toBe(1);
    expect(await db.sql('SELECT k, v FROM up_int ORDER BY k')).toEqual([
      { k: 1, v: 'a' },
      { k: 2, v: 'b' },
    ]);
  });
});

describe("'isolate' / 'skip' inside a transaction block the input opened (found in review)", () => {
  it('finds the failing statement with its own error, and the block goes on (each request under a savepoint)', async () => {
    await db.sql('CREATE TABLE ob_t (id int PRIMARY KEY)');
    const ins = (id: number) => `INSERT INTO ob_t (id) VALUES (${id})`;
    const iso = new SQLBatcher({ adapter: db.adapter(), onError: 'isolate', retry: false });
    await iso.processStatements(['BEGIN', ins(1), ins(1), ins(2), 'COMMIT']);
    // (BEGIN pinned the session: released here, before this test's own queries on a shared PGlite)
    await iso.close();
    expect(iso.report.rejected.map((r) => [r.index, (r.error as { code?: string }).code])).toEqual([
      [2, '23505'],
    ]);
    expect(await ids('ob_t')).toEqual([1, 2]);
    // ROLLBACK at the end: nothing of the block stays, and only the duplicate is reported
    await db.sql('TRUNCATE ob_t');
    const back = new SQLBatcher({ adapter: db.adapter(), onError: 'isolate', retry: false });
    await back.processStatements(['BEGIN', ins(1), ins(1), 'ROLLBACK']);
    await back.close();
    expect(back.report.rejected.map((r) => [r.index, (r.error as { code?: string }).code])).toEqual([
      [2, '23505'],
    ]);
    expect(await ids('ob_t')).toEqual([]);
    // skip: the failed request is rolled back to its savepoint, the statements after it still apply
    // (maxBytes 40: the two duplicates share a request, the later statements have their own)
    const skip = new SQLBatcher({ adapter: db.adapter(), onError: 'skip', retry: false, maxBytes: 40 });
    await skip.processStatements(['BEGIN', ins(1), ins(1), 'SELECT 1', ins(3), 'COMMIT']);
    await skip.close();
    expect(skip.report.rejected.map((r) => r.index)).toEqual([1, 2]);
    expect(await ids('ob_t')).toEqual([3]);
    // (found in review: `CASE … END` or 'begin' in a string is no transaction control: savepoint kept)
    await db.sql('TRUNCATE ob_t');
    const words = new SQLBatcher({ adapter: db.adapter(), onError: 'skip', retry: false, batchMode: false });
    await words.processStatements([
      'BEGIN',
      ins(1),
      'UPDATE ob_t SET id = CASE WHEN id > 0 THEN id / 0 END',
      "UPDATE ob_t SET id = id / 0 WHERE 'begin' <> 'end'",
      ins(2),
      'COMMIT',
    ]);
    await words.close();
    expect(words.report.rejected.map((r) => r.index)).toEqual([2, 3]);
    expect(await ids('ob_t')).toEqual([1, 2]);
    // (SET TRANSACTION must not run in a subtransaction: it gets no savepoint)
    await db.sql('CREATE TABLE ob_iso (id int, level text)');
    const iso2 = new SQLBatcher({ adapter: db.adapter(), onError: 'skip', retry: false });
    await iso2.processStatements([
      'BEGIN',
      'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE',
      "INSERT INTO ob_iso VALUES (1, current_setting('transaction_isolation'))",
      'COMMIT',
    ]);
    await iso2.close();
    expect(iso2.report.rejected).toEqual([]);
    expect(await db.sql('SELECT level FROM ob_iso')).toEqual([{ level: 'serializable' }]);
    // A block the input itself left aborted, then rolled back to a savepoint of its own: the batcher's
    // savepoint before the statement between fails, and that statement alone is rejected (found in
    // review: the run stopped and the whole block was lost), as psql runs it.
    await db.sql('CREATE TABLE ob_own (id int PRIMARY KEY)');
    const own = new SQLBatcher({ adapter: db.adapter(), onError: 'skip', retry: false, batchMode: false });
    await own.processStatements([
      'BEGIN',
      'INSERT INTO ob_own VALUES (1)',
      'SAVEPOINT a',
      'RELEASE SAVEPOINT nosuch',
      'INSERT INTO ob_own VALUES (2)',
      'ROLLBACK TO SAVEPOINT a',
      'INSERT INTO ob_own VALUES (3)',
      'COMMIT',
      'INSERT INTO ob_own VALUES (4)',
    ]);
    await own.close();
    expect(own.report.rejected.map((r) => r.index)).toEqual([3, 4]);
    expect(await db.sql<{ id: number }>('SELECT id FROM ob_own ORDER BY id')).toEqual([
      { id: 1 },
      { id: 3 },
      { id: 4 },
    ]);
  });
});
