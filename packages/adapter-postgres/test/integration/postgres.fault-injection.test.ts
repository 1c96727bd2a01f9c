/**
 * Fault injection: a TCP proxy between pg and the server cuts the connection mid-batch, mid-COPY and
 * at COMMIT. With retries the table must hold every row exactly once, or the run must report exactly
 * which batches are in doubt. Needs a real server (PG_URL): PGlite runs in-process, without a socket.
 */
import { type BatchExecutionError, SQLBatcher, type SQLBatcherOptions } from '@sqlbatcher/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgreSQLAdapter } from '../../src/index.js';
import { openTestDb, PG_URL, type TestDb, usingPglite } from '../helpers.js';
import { FaultProxy } from '../support/fault-proxy.js';

if (usingPglite) {
  console.info('[adapter-postgres tests] fault-injection tests skipped: they need a TCP server (set PG_URL)');
}

const N = 3000;
const FAST_RETRY = { maxAttempts: 4, initialDelayMs: 5, jitter: false } as const;

describe.runIf(!usingPglite)('fault injection through a TCP proxy', () => {
  let db: TestDb;
  let proxy: FaultProxy;
  let pools: pg.Pool[] = [];
  let tableNo = 0;

  beforeAll(async () => {
    db = await openTestDb('fault');
    const url = new URL(PG_URL!);
    proxy = new FaultProxy(url.hostname, Number(url.port || 5432));
    await proxy.start();
  });
  afterAll(async () => {
    for (const p of pools) await p.end().catch(() => undefined);
    pools = [];
    await proxy?.stop();
    await db?.dispose();
  });

  /** How INSERTs travel: as their text (proxy matches `'row n'`), COPY data, or `unnest` arrays (`"row n"`). */
  type Form = 'text' | 'copy' | 'unnest';

  function adapter(form: Form): PostgreSQLAdapter {
    const url = new URL(PG_URL!);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const pool = db.pool!(2, url.toString());
    pools.push(pool);
    return new PostgreSQLAdapter({ pool, copy: form === 'copy', unnest: form === 'unnest' });
  }

  /** No primary key: a row applied twice would show up. */
  async function newTable(): Promise<string> {
    const t = `fi_${tableNo++}`;
    await db.sql(`CREATE TABLE ${t} (id int NOT NULL, v text)`);
    return t;
  }

  const stream = (table: string) =>
    Array.from({ length: N }, (_, i) => `INSERT INTO ${table} (id, v) VALUES (${i}, 'row ${i}')`);

  async function counts(table: string): Promise<Map<number, number>> {
    const rows = await db.sql<{ id: number; n: number }>(
      `SELECT id, count(*)::int AS n FROM ${table} GROUP BY id`,
    );
    return new Map(rows.map((r) => [r.id, r.n]));
  }

  /** Every row exactly once, except in-doubt ones, which are all there once or all absent per batch. */
  function expectExactlyOnce(c: Map<number, number>, inDoubt: readonly (readonly number[])[]): void {
    const doubtful = new Set(inDoubt.flat());
    for (let i = 0; i < N; i++) if (!doubtful.has(i)) expect(c.get(i), `row ${i}`).toBe(1);
    for (const batch of inDoubt) {
      const present = batch.filter((i) => c.get(i) === 1).length;
      expect([0, batch.length]).toContain(present);
      for (const i of batch) expect(c.get(i) ?? 0).toBeLessThanOrEqual(1);
    }
  }

  async function run(table: string, options: Partial<SQLBatcherOptions>, form: Form = 'text') {
    const a = adapter(form);
    const batcher = new SQLBatcher({ adapter: a, maxBytes: 16_000, retry: FAST_RETRY, ...options });
    try {
      const error = await batcher.processStatements(stream(table)).then(
        () => undefined,
        (e: unknown) => e as BatchExecutionError,
      );
      return { batcher, error, adapter: a };
    } finally {
      await batcher[Symbol.asyncDispose]().catch(() => undefined);
    }
  }

  it("a connection that stops answering mid-batch (frozen), transaction: 'batch', timeoutMs: the run settles, retried, every row exactly once", async () => {
    const table = await newTable();
    proxy.arm({ match: "'row 1500'", mode: 'freeze' });
    const started = Date.now();
    const { batcher, error } = await run(table, {
      transaction: 'batch',
      timeoutMs: 1000,
      cancelGraceMs: 300,
    });
    expect(error).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(batcher.report.retries).toBeGreaterThan(0);
    expectExactlyOnce(await counts(table), []);
  });

  it('a frozen connection with concurrency: 2 outside a transaction: in doubt, and close() of the pool the adapter made returns', async () => {
    const table = await newTable();
    proxy.arm({ match: "'row 1500'", mode: 'freeze' });
    const url = new URL(PG_URL!);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const a = new PostgreSQLAdapter({ connectionString: url.toString(), maxSize: 2, unnest: false });
    const batcher = new SQLBatcher({
      adapter: a,
      maxBytes: 16_000,
      retry: FAST_RETRY,
      concurrency: 2,
      timeoutMs: 1000,
      cancelGraceMs: 300,
      onError: 'skip',
    });
    await batcher.processStatements(stream(`${db.schema}.${table}`));
    await batcher[Symbol.asyncDispose]();
    expect(batcher.report.inDoubt.length).toBeGreaterThan(0);
    await a.close();
    expectExactlyOnce(
      await counts(table),
      batcher.report.inDoubt.map((d) => d.indices),
    );
  });

  it("a cut inside a transaction block the input opened (transaction: 'none'): the block is named rolled back; at its COMMIT, the block is in doubt", async () => {
    for (const where of ['mid', 'case-end', 'commit'] as const) {
      const table = await newTable();
      proxy.arm(
        where === 'mid'
          ? { match: "'blk 5'", mode: 'before' }
          : where === 'case-end'
            ? { match: "'case'", mode: 'before' }
            : { match: 'COMMIT', mode: 'after' },
      );
      const batcher = new SQLBatcher({ adapter: adapter('text'), maxBytes: 60, retry: FAST_RETRY });
      const input = [
        'BEGIN',
        ...Array.from(
          { length: 10 },
          (_, i) => `INSERT INTO ${table} (id, v) VALUES (${i + 1}, 'blk ${i + 1}')`,
        ),
        // (an END that closes a CASE, not the block)
        ...(where === 'case-end' ? [`UPDATE ${table} SET v = CASE WHEN id = 0 THEN 'case' END`] : []),
        'COMMIT',
      ];
      const error = (await batcher.processStatements(input).catch((e: unknown) => e)) as BatchExecutionError;
      await batcher[Symbol.asyncDispose]().catch(() => undefined);
      const ids = [...(await counts(table)).keys()];
      if (where !== 'commit') {
        expect(error).toMatchObject({ name: 'BatchExecutionError', inDoubt: false });
        expect(error.message).toContain('the transaction block the input opened at #0');
        expect(ids).toEqual([]);
      } else {
        expect(error).toMatchObject({ name: 'BatchExecutionError', inDoubt: true });
        expect(error.message).toContain(
          'it held the COMMIT of the transaction block the input opened at #0: the statements from #0 on were applied with it or not at all',
        );
        expect([0, 10]).toContain(ids.length);
      }
    }
  });

  it("mid-batch cut, transaction: 'batch': retried, every row exactly once", async () => {
    const table = await newTable();
    proxy.arm({ match: "'row 1500'", mode: 'before' });
    const { batcher, error } = await run(table, { transaction: 'batch' });
    expect(error).toBeUndefined();
    expect(proxy.armed).toBe(false);
    expect(batcher.report.retries).toBeGreaterThanOrEqual(1);
    expect(batcher.report.inDoubt).toEqual([]);
    expectExactlyOnce(await counts(table), []);
  });

  it("mid-COPY cut, transaction: 'batch', copy: true: retried, every row exactly once", async () => {
    const table = await newTable();
    // COPY data is tab-separated text: the row's value appears as `row 1500` after a tab.
    proxy.arm({ match: '\trow 1500\n', mode: 'before' });
    const { batcher, error, adapter: a } = await run(table, { transaction: 'batch' }, 'copy');
    expect(error).toBeUndefined();
    expect(proxy.armed).toBe(false);
    expect(a.copyStats.copiedRows).toBeGreaterThanOrEqual(N);
    expect(batcher.report.retries).toBeGreaterThanOrEqual(1);
    expectExactlyOnce(await counts(table), []);
  });

  it("mid-request cut in the unnest form, transaction: 'batch': retried, every row exactly once", async () => {
    const table = await newTable();
    // The values travel as array elements in the Bind message: `"row 1500"`.
    proxy.arm({ match: '"row 1500"', mode: 'before' });
    const { batcher, error, adapter: a } = await run(table, { transaction: 'batch' }, 'unnest');
    expect(error).toBeUndefined();
    expect(proxy.armed).toBe(false);
    expect(a.copyStats.unnestRows).toBeGreaterThanOrEqual(N);
    expect(batcher.report.retries).toBeGreaterThanOrEqual(1);
    expectExactlyOnce(await counts(table), []);
  });

  it("mid-request cut in the unnest form outside a transaction: 'throw' names the in-doubt batch", async () => {
    const table = await newTable();
    proxy.arm({ match: '"row 2000"', mode: 'before' });
    const { error, adapter: a } = await run(table, { retry: FAST_RETRY }, 'unnest');
    expect(error).toMatchObject({ name: 'BatchExecutionError', inDoubt: true });
    expect(a.copyStats.unnestStatements).toBeGreaterThanOrEqual(1);
    const indices = error!.statementIndices;
    expect(indices).toContain(2000);
    const c = await counts(table);
    for (let i = 0; i < indices[0]!; i++) expect(c.get(i)).toBe(1);
    const present = indices.filter((i) => c.get(i) === 1).length;
    expect([0, indices.length]).toContain(present);
    for (let i = indices[indices.length - 1]! + 1; i < N; i++) expect(c.get(i)).toBeUndefined();
  });

  for (const mode of ['after', 'before'] as const) {
    it(`cut at COMMIT (${mode === 'after' ? 'COMMIT delivered, reply lost' : 'COMMIT never delivered'}): the batch is reported in doubt, nothing else is`, async () => {
      const table = await newTable();
      proxy.arm({ match: 'COMMIT', mode, occurrence: 2 });
      const { batcher, error } = await run(table, { transaction: 'batch', onError: 'skip' });
      expect(error).toBeUndefined();
      expect(batcher.report.inDoubt).toHaveLength(1);
      const doubt = batcher.report.inDoubt[0]!;
      expect(doubt.indices.length).toBeGreaterThan(1);
      const c = await counts(table);
      expectExactlyOnce(c, [doubt.indices]);
      // What really happened: delivered COMMITs commit, undelivered ones do not.
      const present = doubt.indices.filter((i) => c.get(i) === 1).length;
      expect(present).toBe(mode === 'after' ? doubt.indices.length : 0);
    });
  }

  for (const onError of ['skip', 'isolate'] as const) {
    it(`cut at the BEGIN of transaction: 'all' (onError '${onError}'): retried on a fresh connection, nothing rejected`, async () => {
      const table = await newTable();
      proxy.arm({ match: 'BEGIN', mode: 'before' });
      const { batcher, error } = await run(table, { transaction: 'all', savepoints: true, onError });
      expect(error).toBeUndefined();
      expect(proxy.armed).toBe(false);
      expect(batcher.report.retries).toBeGreaterThanOrEqual(1);
      expect(batcher.report.rejected).toEqual([]);
      expect(batcher.report.inDoubt).toEqual([]);
      expectExactlyOnce(await counts(table), []);
    });
  }

  it("cut at the COMMIT of transaction: 'all' (delivered, reply lost): the error names every statement of the run, in doubt", async () => {
    const table = await newTable();
    proxy.arm({ match: 'COMMIT', mode: 'after' });
    const { batcher, error } = await run(table, { transaction: 'all' });
    expect(proxy.armed).toBe(false);
    expect(error).toMatchObject({ code: 'BATCH_IN_DOUBT', inDoubt: true });
    const all = Array.from({ length: N }, (_, i) => i);
    expect(error!.statementIndices).toEqual(all);
    expect(batcher.report.inDoubt.map((d) => d.indices)).toEqual([all]);
    // All or nothing, each row once (whether the server read the COMMIT before the cut is a race).
    expectExactlyOnce(await counts(table), [all]);
  });

  it("cut at ROLLBACK TO SAVEPOINT in transaction: 'all': the run's transaction is lost, nothing in doubt", async () => {
    const table = await newTable();
    const statements = stream(table);
    statements[1500] = `INSERT INTO ${table} (id, v) VALUES (1500, (1/0)::text)`;
    proxy.arm({ match: 'ROLLBACK TO', mode: 'before' });
    const a = adapter('text');
    const batcher = new SQLBatcher({
      adapter: a,
      maxBytes: 16_000,
      transaction: 'all',
      savepoints: true,
      onError: 'skip',
      retry: FAST_RETRY,
    });
    const error = (await batcher
      .processStatements(statements)
      .catch((e: unknown) => e)) as BatchExecutionError;
    await batcher[Symbol.asyncDispose]().catch(() => undefined);
    expect(proxy.armed).toBe(false);
    expect(error).toMatchObject({ code: 'BATCH_FAILED', inDoubt: false });
    expect(batcher.report.inDoubt).toEqual([]);
    expect((await counts(table)).size).toBe(0);
  });

  it("cut at the batcher's own SAVEPOINT / RELEASE inside the input's block (skip): the block is named rolled back (found in review)", async () => {
    for (const match of ['RELEASE SAVEPOINT', 'SAVEPOINT "sqlbatcher_sp_1"']) {
      const table = await newTable();
      proxy.arm({ match, mode: 'before', ...(match === 'RELEASE SAVEPOINT' ? { occurrence: 2 } : {}) });
      const a = adapter('text');
      const batcher = new SQLBatcher({ adapter: a, onError: 'skip', batchMode: false, retry: FAST_RETRY });
      const ins = (i: number) => `INSERT INTO ${table} (id, v) VALUES (${i}, 'row ${i}')`;
      const error = (await batcher
        .processStatements(['BEGIN', ins(1), ins(2), ins(3), 'COMMIT', ins(4)])
        .catch((e: unknown) => e)) as BatchExecutionError;
      await batcher[Symbol.asyncDispose]().catch(() => undefined);
      expect(proxy.armed, match).toBe(false);
      expect(error, match).toMatchObject({ code: 'BATCH_FAILED', inDoubt: false, blockUndoneFrom: 0 });
      expect(error.message).toContain('the transaction block the input opened at #0');
      expect(batcher.report.inDoubt).toEqual([]);
      expect((await counts(table)).size, match).toBe(0);
    }
  });

  it('a connection that stops answering at COMMIT or SAVEPOINT: timeoutMs ends the wait (found in review: the run hung)', async () => {
    const cases: [Partial<SQLBatcherOptions>, string, number][] = [
      [{ transaction: 'batch' }, 'COMMIT', 2],
      [{ transaction: 'batch' }, 'BEGIN', 2],
      [{ transaction: 'all' }, 'COMMIT', 1],
      [{ transaction: 'all', savepoints: true }, 'SAVEPOINT', 2],
      [{ transaction: 'all', savepoints: true }, 'RELEASE SAVEPOINT', 2],
    ];
    for (const [options, match, occurrence] of cases) {
      const table = await newTable();
      proxy.arm({ match, mode: 'freeze', occurrence });
      const a = adapter('text');
      const batcher = new SQLBatcher({
        adapter: a,
        batchMode: false,
        timeoutMs: 1000,
        cancelGraceMs: 300,
        retry: FAST_RETRY,
        ...options,
      });
      const ins = (i: number) => `INSERT INTO ${table} (id, v) VALUES (${i}, 'row ${i}')`;
      const outcome = await batcher.processStatements([0, 1, 2, 3, 4, 5].map(ins)).then(
        () => 'settled',
        () => 'settled',
      );
      await batcher[Symbol.asyncDispose]().catch(() => undefined);
      expect(outcome, `${JSON.stringify(options)} ${match}`).toBe('settled');
      // (each row at most once, whatever the outcome)
      for (const [, n] of await counts(table)) expect(n).toBe(1);
    }
  }, 60_000);

  it("mid-request cut outside a transaction, onError: 'skip': only that batch in doubt, the run goes on", async () => {
    const table = await newTable();
    proxy.arm({ match: "'row 1000'", mode: 'before' });
    const { batcher, error } = await run(table, { onError: 'skip' });
    expect(error).toBeUndefined();
    expect(proxy.armed).toBe(false);
    expect(batcher.report.inDoubt).toHaveLength(1);
    expect(batcher.report.inDoubt[0]!.indices).toContain(1000);
    expectExactlyOnce(
      await counts(table),
      batcher.report.inDoubt.map((d) => d.indices),
    );
  });

  it("mid-request cut outside a transaction: 'throw' names the in-doubt batch and stops there", async () => {
    const table = await newTable();
    proxy.arm({ match: "'row 2000'", mode: 'before' });
    const { error } = await run(table, { retry: FAST_RETRY });
    expect(error).toMatchObject({ name: 'BatchExecutionError', inDoubt: true });
    const indices = error!.statementIndices;
    expect(indices).toContain(2000);
    const c = await counts(table);
    // Before the failed batch: exactly once. The failed batch: all or nothing. After it: nothing.
    for (let i = 0; i < indices[0]!; i++) expect(c.get(i)).toBe(1);
    const present = indices.filter((i) => c.get(i) === 1).length;
    expect([0, indices.length]).toContain(present);
    for (let i = indices[indices.length - 1]! + 1; i < N; i++) expect(c.get(i)).toBeUndefined();
  });

  it("server terminates the batcher's connections mid-run (57P01): retried, every row exactly once or in doubt", async () => {
    const table = await newTable();
    const app = `sqlbatcher_kill_${process.pid}`;
    const pool = new pg.Pool({
      connectionString: PG_URL,
      max: 2,
      application_name: app,
      options: `-c search_path=${db.schema}`,
    });
    pool.on('error', () => undefined);
    pools.push(pool);
    const a = new PostgreSQLAdapter({ pool });
    let killed = 0;
    const killer = {
      name: 'killer',
      afterBatch: (info: { id: number }) => {
        if (info.id !== 1 && info.id !== 3) return;
        // Not awaited: the next request is usually in flight when the server ends its backend.
        setTimeout(() => {
          void db
            .sql<{ t: boolean }>(
              'SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE application_name = $1',
              [app],
            )
            .then((r) => {
              killed += r.filter((x) => x.t).length;
            });
        }, 2);
      },
    };
    const batcher = new SQLBatcher({
      adapter: a,
      maxBytes: 8_000,
      transaction: 'batch',
      onError: 'skip',
      retry: FAST_RETRY,
      plugins: [killer],
    });
    await batcher.processStatements(stream(table));
    await batcher[Symbol.asyncDispose]();
    expect(killed).toBeGreaterThanOrEqual(1);
    // The killed connection was in use or pinned: some request had to fail and be retried (or be in doubt).
    expect(batcher.report.retries + batcher.report.inDoubt.length).toBeGreaterThanOrEqual(1);
    expect(batcher.report.rejected).toEqual([]);
    expectExactlyOnce(
      await counts(table),
      batcher.report.inDoubt.map((d) => d.indices),
    );
  });

  it('server outage mid-run (all connections dropped, refused for 300 ms): retried, exactly once or in doubt', async () => {
    const table = await newTable();
    const cutsBefore = proxy.cuts;
    let outage: Promise<void> | undefined;
    const restarter = {
      name: 'restarter',
      afterBatch: (info: { id: number }) => {
        if (info.id === 2) outage = proxy.outage(300);
      },
    };
    const { batcher, error } = await run(table, {
      transaction: 'batch',
      onError: 'skip',
      maxBytes: 8_000,
      retry: { maxAttempts: 8, initialDelayMs: 50, factor: 2, jitter: false },
      plugins: [restarter],
    });
    await outage;
    expect(error).toBeUndefined();
    expect(proxy.cuts).toBe(cutsBefore + 1);
    expect(batcher.report.retries).toBeGreaterThanOrEqual(1);
    expect(batcher.report.rejected).toEqual([]);
    expectExactlyOnce(
      await counts(table),
      batcher.report.inDoubt.map((d) => d.indices),
    );
  });
});

describe.runIf(!usingPglite)(
  'a backend terminated right after startup (57P01 with its ReadyForQuery)',
  () => {
    it('fails that attempt (retried) instead of crashing the process with an unhandled error event', async () => {
      const db = await openTestDb('fault_startup');
      const url = new URL(PG_URL!);
      // FATAL 57P01 as the server sends it, appended to the chunk that carries the first ReadyForQuery.
      const fields = Buffer.from(
        'SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0',
        'latin1',
      );
      const fatal = Buffer.concat([Buffer.from('E', 'latin1'), Buffer.alloc(4), fields]);
      fatal.writeInt32BE(fields.length + 4, 1);
      let inject = 1;
      const net = await import('node:net');
      const server = net.createServer((client) => {
        const upstream = net.connect(Number(url.port || 5432), url.hostname);
        let armed = inject-- > 0;
        client.on('data', (c) => upstream.write(c));
        upstream.on('data', (c: Buffer) => {
          const z = c.indexOf(Buffer.from([0x5a, 0, 0, 0, 5])); // ReadyForQuery
          if (armed && z >= 0) {
            armed = false;
            client.write(Buffer.concat([c.subarray(0, z + 6), fatal]));
            setTimeout(() => {
              client.destroy();
              upstream.destroy();
            }, 50);
            return;
          }
          client.write(c);
        });
        const close = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on('close', close);
        upstream.on('close', close);
        client.on('error', () => undefined);
        upstream.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as import('node:net').AddressInfo).port;
      const proxied = new URL(PG_URL!);
      proxied.hostname = '127.0.0.1';
      proxied.port = String(port);
      const adapter = new PostgreSQLAdapter({ connectionString: proxied.toString() });
      await db.sql('CREATE TABLE started (id int)');
      const batcher = new SQLBatcher({ adapter, retry: FAST_RETRY });
      await batcher.processStatements([`INSERT INTO ${db.schema}.started VALUES (1)`]);
      await adapter.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      expect(inject).toBeLessThan(0);
      expect(await db.sql('SELECT count(*)::int AS n FROM started')).toEqual([{ n: 1 }]);
      await db.dispose();
    });
  },
);
