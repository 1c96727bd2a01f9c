import { SQLBatcher } from '@sqlbatcher/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOG_SQL, CATALOG_STATEMENT } from '../../src/copy/plan.js';
import { PostgreSQLAdapter } from '../../src/index.js';
import { openTestDb, PG_URL, type TestDb, usingPglite } from '../helpers.js';

let db: TestDb;

const COLUMNS = `id int PRIMARY KEY, n numeric(12,3), f float8, b bool, d date, ts timestamptz, t text, j jsonb, v varchar(12), r real`;

beforeAll(async () => {
  db = await openTestDb('copy');
  await db.sql(`SET TIME ZONE 'UTC'`);
});
afterAll(async () => {
  await db?.dispose();
});

/** Tricky but valid rows: every literal form the fast path understands, and some it must refuse. */
function statements(table: string): string[] {
  const texts = [
    'plain',
    "it''s",
    'tab\there',
    'back\\slash',
    '\\N',
    'ünïcødé 😀',
    '\\.',
    '',
    'line\r\nbreak',
  ];
  const out: string[] = [];
  let id = 0;
  for (const t of texts) {
    id++;
    out.push(
      `INSERT INTO ${table} (id, n, f, b, d, ts, t, j, v, r) VALUES (${id}, ${id}.125, -${id}.5e2, ${id % 2 === 0 ? 'TRUE' : 'false'}, DATE '2024-01-0${(id % 9) + 1}', '2024-05-06 07:08:09+02', '${t}', '{"k": ${id}}'::jsonb, 'v${id}', ${id})`,
    );
  }
  // E-strings and dollar quotes.
  out.push(`INSERT INTO ${table} (id, t, j) VALUES (100, E'e\\tstr\\n\\\\ \\u00e9 \\'q\\'', '[1, 2]')`);
  out.push(`INSERT INTO ${table} (id, t) VALUES (101, $$dollar 'quoted' \\ text$$), (102, $x$a$$b$x$)`);
  // Not literal: runs as INSERT in the same batch, in order.
  out.push(`INSERT INTO ${table} (id, t, d) VALUES (103, upper('fn'), current_date - 1)`);
  // Number into text / 1.5 into int: INSERT semantics (no COPY).
  out.push(`INSERT INTO ${table} (id, t, n) VALUES (104.0, 007, 1.0005)`);
  out.push(`UPDATE ${table} SET v = 'updated' WHERE id = 2`);
  out.push(`INSERT INTO ${table} (id, "t", N) VALUES (105, NULL, NULL), (106, 'x', -0)`);
  out.push(`DELETE FROM ${table} WHERE id = 3`);
  return out;
}

async function contents(table: string): Promise<unknown[]> {
  return db.sql(
    `SELECT id, n::text, f::text, b, d::text, ts::text, t, j::text, v, r::text FROM ${table} ORDER BY id`,
  );
}

describe('COPY fast path', () => {
  it('loads the same rows as INSERT, in order with the other statements of the batch', async () => {
    await db.sql(`CREATE TABLE via_insert (${COLUMNS}); CREATE TABLE via_copy (${COLUMNS})`);
    const plain = db.adapter();
    // (minFastRows 1: the short INSERTs that share their requests go through COPY too)
    const copying = db.adapter({ copy: true, minFastRows: 1 });
    await new SQLBatcher({ adapter: plain }).processStatements(statements('via_insert'));
    await new SQLBatcher({ adapter: copying }).processStatements(statements('via_copy'));
    const expected = await contents('via_insert');
    expect(expected.length).toBe(15);
    expect(await contents('via_copy')).toEqual(expected);
    expect(copying.copyStats.copiedStatements).toBeGreaterThan(0);
    expect(copying.copyStats.copiedRows).toBeGreaterThanOrEqual(11);
    expect(copying.copyStats.notEligible).toBeGreaterThan(0);
    expect(plain.copyStats.copiedStatements).toBe(0);
  });

  it('keeps a mixed batch atomic outside a transaction', async () => {
    await db.sql('CREATE TABLE atomic_t (id int PRIMARY KEY, t text)');
    const adapter = db.adapter({ copy: true, minFastRows: 1 });
    const batcher = new SQLBatcher({ adapter, retry: false });
    const err = await batcher
      .processStatements([
        "INSERT INTO atomic_t (id, t) VALUES (1, 'a')",
        "INSERT INTO atomic_t (id, t) VALUES (2, 'b')",
        "UPDATE atomic_t SET t = 'z' WHERE id = 1",
        'INSERT INTO atomic_t (id, t) VALUES (1, now()::text)',
      ])
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'BatchExecutionError', failedStatementIndex: 3, inDoubt: false });
    expect(adapter.copyStats.copiedStatements).toBe(1);
    expect(await db.sql('SELECT * FROM atomic_t')).toEqual([]);
  });

  it('falls back to INSERT when the server rejects the COPY, reporting the INSERT error', async () => {
    await db.sql('CREATE TABLE fb (id int PRIMARY KEY, t text)');
    await db.sql("INSERT INTO fb VALUES (5, 'existing')");
    const adapter = db.adapter({ copy: true, minFastRows: 1 });
    const batcher = new SQLBatcher({
      adapter,
      transaction: 'all',
      savepoints: true,
      onError: 'isolate',
      retry: false,
    });
    await batcher.processStatements([
      "INSERT INTO fb (id, t) VALUES (1, 'a')",
      "INSERT INTO fb (id, t) VALUES (5, 'dup')",
      "INSERT INTO fb (id, t) VALUES (6, 'b')",
    ]);
    await batcher.commit();
    expect(adapter.copyStats.fallbacks).toBeGreaterThan(0);
    expect(batcher.report.rejected.map((r) => r.index)).toEqual([1]);
    expect(batcher.report.rejected[0]?.error).toMatchObject({ code: '23505' });
    const rows = await db.sql<{ id: number }>('SELECT id FROM fb ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual([1, 5, 6]);
  });

  it('leaves tables with rules, identity ALWAYS columns and ON CONFLICT to INSERT', async () => {
    await db.sql(`CREATE TABLE ruled (id int, t text); CREATE TABLE ruled_log (id int);
      CREATE RULE log_it AS ON INSERT TO ruled DO ALSO INSERT INTO ruled_log VALUES (NEW.id);
      CREATE TABLE ident (id int GENERATED ALWAYS AS IDENTITY, t text);
      CREATE TABLE conflict_t (id int PRIMARY KEY, t text)`);
    const adapter = db.adapter({ copy: true, minFastRows: 1 });
    await new SQLBatcher({ adapter }).processStatements([
      "INSERT INTO ruled (id, t) VALUES (1, 'a'), (2, 'b')",
      "INSERT INTO conflict_t (id, t) VALUES (1, 'a') ON CONFLICT DO NOTHING",
    ]);
    expect((await db.sql('SELECT count(*)::int AS c FROM ruled_log'))[0]).toEqual({ c: 2 });
    const err = await new SQLBatcher({ adapter, retry: false })
      .processStatements(["INSERT INTO ident (id, t) VALUES (7, 'x')"])
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'BatchExecutionError', engineCode: '428C9' });
    expect(adapter.copyStats.copiedStatements).toBe(0);
  });

  it('fires row triggers like INSERT does', async () => {
    await db.sql(`CREATE TABLE trig (id int, t text, n int);
      CREATE FUNCTION trig_upper() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.t := upper(NEW.t); NEW.n := NEW.id * 10; RETURN NEW; END $$;
      CREATE TRIGGER trig_bi BEFORE INSERT ON trig FOR EACH ROW EXECUTE FUNCTION trig_upper()`);
    const adapter = db.adapter({ copy: true, minFastRows: 1 });
    await new SQLBatcher({ adapter }).processStatements([
      "INSERT INTO trig (id, t) VALUES (1, 'a')",
      "INSERT INTO trig (id, t) VALUES (2, 'b')",
    ]);
    expect(adapter.copyStats.copiedRows).toBe(2);
    expect(await db.sql('SELECT id, t, n FROM trig ORDER BY id')).toEqual([
      { id: 1, t: 'A', n: 10 },
      { id: 2, t: 'B', n: 20 },
    ]);
  });

  it('leaves a partitioned table with AFTER ROW triggers to INSERT: they fire in row order (found in review)', async () => {
    await db.sql(`CREATE TABLE ptrig (k int, v int) PARTITION BY LIST (k);
      CREATE TABLE ptrig_1 PARTITION OF ptrig FOR VALUES IN (1);
      CREATE TABLE ptrig_2 PARTITION OF ptrig FOR VALUES IN (2);
      CREATE TABLE ptrig_log (seq serial, v int);
      CREATE FUNCTION ptrig_log() RETURNS trigger LANGUAGE plpgsql
        AS $$ BEGIN INSERT INTO ptrig_log (v) VALUES (NEW.v); RETURN NULL; END $$;
      CREATE TRIGGER ptrig_after AFTER INSERT ON ptrig FOR EACH ROW EXECUTE FUNCTION ptrig_log()`);
    const adapter = db.adapter({ copy: true, minFastRows: 1 });
    const stmts = Array.from(
      { length: 20 },
      (_, i) => `INSERT INTO ptrig (k, v) VALUES (${(i % 2) + 1}, ${i})`,
    );
    await new SQLBatcher({ adapter }).processStatements(stmts);
    // (COPY buffers rows per partition: the log read 0,2,4,…,1,3,5,…)
    expect(adapter.copyStats.copiedRows).toBe(0);
    const log = await db.sql<{ v: number }>('SELECT v FROM ptrig_log ORDER BY seq');
    expect(log.map((r) => r.v)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // A partitioned table without such triggers still takes COPY.
    await db.sql(`CREATE TABLE pplain (k int, v int) PARTITION BY LIST (k);
      CREATE TABLE pplain_1 PARTITION OF pplain FOR VALUES IN (1);
      CREATE TABLE pplain_2 PARTITION OF pplain FOR VALUES IN (2)`);
    const plain = db.adapter({ copy: true, minFastRows: 1 });
    await new SQLBatcher({ adapter: plain }).processStatements(
      stmts.map((st) => st.replace('ptrig', 'pplain')),
    );
    expect(plain.copyStats.copiedRows).toBe(20);
  });

  it('uses COPY data encoded ahead only while the catalog is unchanged (a rule added mid-stream wins)', async () => {
    await db.sql('CREATE TABLE ahead (id int, t text)');
    const adapter = db.adapter({ copy: true, minFastRows: 1 });
    const stmts: string[] = [];
    for (let i = 0; i < 600; i++) stmts.push(`INSERT INTO ahead (id, t) VALUES (${i}, 'r${i}')`);
    // From here on INSERT does nothing; COPY would ignore the rule and store the rows.
    stmts.push('CREATE RULE ahead_nothing AS ON INSERT TO ahead DO INSTEAD NOTHING');
    for (let i = 600; i < 1200; i++) stmts.push(`INSERT INTO ahead (id, t) VALUES (${i}, 'r${i}')`);
    // Encode every batch ahead, as the batcher does while a request is in flight (deterministic here).
    const batcher = new SQLBatcher({
      adapter,
      maxBytes: 2_000,
      plugins: [{ name: 'ahead', beforeBatch: (info) => adapter.prepare(info.statements) }],
    });
    await batcher.processStatements(stmts);
    expect(await db.sql('SELECT count(*)::int AS n, max(id) AS max FROM ahead')).toEqual([
      { n: 600, max: 599 },
    ]);
    // Early encodings were used (all but the first batch before the rule, and after it once the new
    // catalog was seen, as "not eligible"); the first batch after the rule was encoded again.
    expect(adapter.copyStats.copiedStatements).toBeGreaterThan(3);
    expect(adapter.copyStats.notEligible).toBeGreaterThan(3);
    expect(adapter.copyStats.encodedAhead).toBe(
      adapter.copyStats.copiedStatements + adapter.copyStats.notEligible - 2,
    );
  });

  it('documents the rounding difference: INSERT rounds 1.5 into an integer, COPY rejects it', async () => {
    await db.sql('CREATE TABLE rnd (id int, n int)');
    // The server itself: INSERT casts the numeric 1.5 (rounds); COPY uses the integer input function,
    // which rejects the text '1.5' (the same function as an untyped literal cast).
    await db.sql('INSERT INTO rnd VALUES (1, 1.5)');
    await expect(db.sql("SELECT '1.5'::int")).rejects.toMatchObject({ code: '22P02' });
    expect(await db.sql('SELECT n FROM rnd')).toEqual([{ n: 2 }]);
    // So the fast path never sends a non-integer number to an integer column: the row runs as INSERT.
    const adapter = db.adapter({ copy: true, minFastRows: 1 });
    await new SQLBatcher({ adapter }).processStatements(['INSERT INTO rnd (id, n) VALUES (2, 2.5)']);
    expect(adapter.copyStats).toMatchObject({ copiedRows: 0, notEligible: 1 });
    expect(await db.sql('SELECT n FROM rnd WHERE id = 2')).toEqual([{ n: 3 }]);
  });
});

if (usingPglite) {
  console.log(
    'postgres.copy: the named catalog statement is pg-only; its tests are skipped on PGlite (set PG_URL)',
  );
}

describe.runIf(!usingPglite)('the catalog read before a fast form (pg)', () => {
  /** One fast-form batch: 150 single-row INSERTs into `table`, ids from `from`. */
  const rows = (table: string, from: number) =>
    Array.from({ length: 150 }, (_, i) => `INSERT INTO ${table} (id, t) VALUES (${from + i}, 'r${i}')`);

  /** Three fast-form requests into `table` with `between` run as its own request after each of the first two. */
  async function load(batcher: SQLBatcher, table: string, between: string): Promise<void> {
    for (let b = 0; b < 3; b++) {
      await batcher.processStatements(rows(table, b * 150));
      if (b < 2) await batcher.processStatements([between]);
    }
  }

  /** A batcher over one pg.Client on the test schema (every request on that connection). */
  async function onOneClient(
    run: (batcher: SQLBatcher, client: pg.Client) => Promise<void>,
    options: { copy?: boolean; transaction?: 'none' | 'all' } = {},
  ) {
    const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${db.schema}` });
    await client.connect();
    const adapter = new PostgreSQLAdapter({ client, copy: options.copy ?? true });
    const batcher = new SQLBatcher({ adapter, transaction: options.transaction ?? 'none' });
    try {
      await run(batcher, client);
    } finally {
      await batcher[Symbol.asyncDispose]();
      await adapter.close();
      await client.end();
    }
  }

  it('is planned once per connection: kept as a named statement', async () => {
    await db.sql('CREATE TABLE cat_named (id int, t text)');
    await onOneClient(async (batcher, client) => {
      await load(batcher, 'cat_named', 'SELECT 1');
      const names = await client.query('SELECT name FROM pg_prepared_statements');
      expect(names.rows.map((r) => r.name)).toContain(CATALOG_STATEMENT);
    });
    expect((await db.sql('SELECT count(*)::int AS n FROM cat_named'))[0]).toEqual({ n: 450 });
  });

  it('keeps its generic plan (the server does not plan it again at every request)', async () => {
    await db.sql('CREATE TABLE cat_generic (id int, t text)');
    await onOneClient(async (batcher, client) => {
      // PostgreSQL plans a prepared statement's first five executions for their parameters, then keeps
      // the generic plan unless the custom plans look cheaper (which they did while the planner could
      // see the table name: 1.1 ms of server CPU per request).
      for (let b = 0; b < 9; b++) await batcher.processStatements(rows('cat_generic', b * 150));
      const plans = await client.query(
        'SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements WHERE name = $1',
        [CATALOG_STATEMENT],
      );
      expect(plans.rows).toEqual([{ generic: 4, custom: 5 }]);
    });
    expect((await db.sql('SELECT count(*)::int AS n FROM cat_generic'))[0]).toEqual({ n: 1350 });
  });

  for (const copy of [true, false]) {
    it(`survives DEALLOCATE ALL in the input (${copy ? 'COPY' : 'unnest form'}): the statement runs unnamed`, async () => {
      const table = `cat_dealloc_${copy ? 'copy' : 'unnest'}`;
      await db.sql(`CREATE TABLE ${table} (id int, t text)`);
      await onOneClient(
        async (batcher) => {
          await load(batcher, table, 'DEALLOCATE ALL');
        },
        { copy },
      );
      const rows = await db.sql<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`);
      expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 450 }, (_, i) => i));
    });
  }

  it('runs unnamed when the backend already has the name (as a transaction-mode pooler can leave it)', async () => {
    await db.sql('CREATE TABLE cat_dup (id int, t text)');
    await onOneClient(async (batcher, client) => {
      // (another client's Parse on this backend)
      await client.query(`PREPARE ${CATALOG_STATEMENT} (text) AS ${CATALOG_SQL.replace('$1', '$1::text')}`);
      await load(batcher, 'cat_dup', 'SELECT 1');
    });
    expect((await db.sql('SELECT count(*)::int AS n FROM cat_dup'))[0]).toEqual({ n: 450 });
  });

  it('is never named inside a transaction block (a missing name would abort the transaction)', async () => {
    await db.sql('CREATE TABLE cat_tx (id int, t text)');
    await onOneClient(
      async (batcher) => {
        await load(batcher, 'cat_tx', 'DEALLOCATE ALL');
        await batcher.commit();
      },
      { transaction: 'all' },
    );
    expect((await db.sql('SELECT count(*)::int AS n FROM cat_tx'))[0]).toEqual({ n: 450 });
  });
});
