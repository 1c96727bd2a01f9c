/**
 * The unnest form (on by default): INSERTs of literal rows sent as `INSERT … SELECT … FROM ROWS FROM
 * (unnest($1::type[]), …)`. Each test runs the same statements one by one (or with `unnest: false`) and
 * compares: the form must be invisible except for speed. The generated cases are in the differential
 * test; these are the ones worth naming.
 */
import { type BatchExecutionError, SQLBatcher, type SQLBatcherOptions } from '@sqlbatcher/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgreSQLAdapter } from '../../src/index.js';
import { openTestDb, type TestDb, usingPglite } from '../helpers.js';

if (usingPglite) {
  console.info(
    '[adapter-postgres tests] unnest cancel test skipped: PGlite cannot cancel a running query (set PG_URL)',
  );
}

let db: TestDb;

beforeAll(async () => {
  db = await openTestDb('unnest');
  await db.sql(`
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE DOMAIN posint AS int CHECK (VALUE > 0);
    CREATE SEQUENCE n_seq;
    CREATE FUNCTION next_n() RETURNS int LANGUAGE sql AS 'SELECT nextval(''n_seq'')::int';
    CREATE FUNCTION slow_ok(int) RETURNS bool LANGUAGE sql AS 'SELECT true FROM pg_sleep(0.01)';`);
});
afterAll(async () => {
  await db?.dispose();
});

let tableNo = 0;
/** Two tables of the same shape: `a` loaded one statement at a time, `b` through the batcher. */
async function pair(columns: string): Promise<[string, string]> {
  const n = tableNo++;
  await db.sql(`CREATE TABLE u${n}_a (${columns}); CREATE TABLE u${n}_b (${columns})`);
  return [`u${n}_a`, `u${n}_b`];
}

async function rowsOf(table: string): Promise<string[]> {
  const rows = await db.sql<{ r: string }>(`SELECT to_jsonb(x)::text AS r FROM ${table} x ORDER BY 1`);
  return rows.map((r) => r.r);
}

async function load(
  statements: string[],
  options: Partial<SQLBatcherOptions> = {},
  adapterOptions: { unnest?: boolean; minFastRows?: number } = {},
): Promise<{ adapter: PostgreSQLAdapter; error: BatchExecutionError | undefined }> {
  // (the tests' statements are short: minFastRows 1 unless a test asks for the adapter's default)
  const adapter = db.adapter(
    'minFastRows' in adapterOptions ? adapterOptions : { minFastRows: 1, ...adapterOptions },
  );
  const batcher = new SQLBatcher({ adapter, ...options });
  const error = await batcher.processStatements(statements).then(
    () => undefined,
    (e: unknown) => e as BatchExecutionError,
  );
  await batcher[Symbol.asyncDispose]();
  return { adapter, error };
}

async function oneByOne(statements: string[]): Promise<void> {
  for (const s of statements) await db.sql(s);
}

describe('the unnest form', () => {
  it('loads what one-by-one INSERTs load, including values that are special in array literals', async () => {
    const [a, b] = await pair(
      'id int, t text, vc varchar(5), c char(3), n numeric(6,2), f float8, m mood, ts timestamptz, j jsonb, bo bool',
    );
    const texts = [
      "''",
      "' '",
      "'NULL'",
      "'null'",
      'NULL',
      `'"'`,
      "'\\'",
      "'{}'",
      "'{a,b}'",
      "','",
      `'a"b\\c'`,
      "E'\\n\\t'",
      "'😀 é'",
      "' padded '",
      "'it''s'",
      '$$dollar "quoted"$$',
      "'\uFEFFbom'",
    ];
    const statements = texts.map(
      (t, i) =>
        `INSERT INTO ${b} (id, t, vc, c, n, f, m, ts, j, bo) VALUES (${i}, ${t}, 'ab  ', 'x', ${i}.125, ${i % 2 ? '-2.5' : "'NaN'"}, 'ok', '2024-01-02 03:04:05+02', '{"k": [${i}]}', ${i % 2 ? 'TRUE' : "'no'"})`,
    );
    await oneByOne(statements.map((s) => s.replace(b, a)));
    const { adapter, error } = await load(statements);
    expect(error).toBeUndefined();
    expect(adapter.copyStats.unnestStatements).toBeGreaterThanOrEqual(1);
    expect(adapter.copyStats.unnestRows).toBe(texts.length);
    expect(await rowsOf(b)).toEqual(await rowsOf(a));
  });

  it('leaves columns whose literals an array element would read differently to the INSERT text', async () => {
    // interval with fields reads '5' as five minutes only with its modifier; domains; array columns;
    // box, whose array elements are separated by ';'
    const [a, b] = await pair('id int, iv interval minute, d posint, arr int[], bx box');
    const statements = Array.from(
      { length: 20 },
      (_, i) =>
        `INSERT INTO ${b} (id, iv, d, arr, bx) VALUES (${i}, '${i}', ${i + 1}, '{${i},2}', '((${i},2),(3,4))')`,
    );
    await oneByOne(statements.map((s) => s.replace(b, a)));
    const { adapter, error } = await load(statements);
    expect(error).toBeUndefined();
    expect(adapter.copyStats.unnestStatements).toBe(0);
    expect(adapter.copyStats.notEligible).toBeGreaterThanOrEqual(1);
    expect(await rowsOf(b)).toEqual(await rowsOf(a));
    expect(await db.sql(`SELECT iv::text AS iv FROM ${b} WHERE id = 5`)).toEqual([{ iv: '00:05:00' }]);
    // each of those columns alone keeps the statement out of the unnest form
    for (const [col, value] of [
      ['iv', "'1'"],
      ['d', '1'],
      ['arr', "'{1}'"],
      ['bx', "'((1,2),(3,4))'"],
    ] as const) {
      const one = await load([
        `INSERT INTO ${b} (id, ${col}) VALUES (100, ${value})`,
        `INSERT INTO ${b} (id, ${col}) VALUES (101, ${value})`,
      ]);
      expect(one.error).toBeUndefined();
      expect(one.adapter.copyStats.unnestStatements, col).toBe(0);
    }
    const ok = await load([`INSERT INTO ${b} (id) VALUES (102)`, `INSERT INTO ${b} (id) VALUES (103)`]);
    expect(ok.adapter.copyStats.unnestStatements).toBe(1);
  });

  it('takes INSERTs without a column list (pg_dump --inserts): the first columns, dropped ones skipped', async () => {
    const [a, b] = await pair('x int, gone text, y text, z text');
    await db.sql(`ALTER TABLE ${a} DROP COLUMN gone; ALTER TABLE ${b} DROP COLUMN gone`);
    const statements = Array.from(
      { length: 200 },
      (_, i) => `INSERT INTO ${b} VALUES (${i}, 'y${i}'${i < 100 ? `, 'z${i}'` : ''})`,
    );
    await oneByOne(statements.map((s) => s.replace(b, a)));
    for (const copy of [false, true]) {
      await db.sql(`TRUNCATE ${b}`);
      const adapter = db.adapter({ copy, minFastRows: 1 });
      const batcher = new SQLBatcher({ adapter });
      await batcher.processStatements(statements);
      await batcher[Symbol.asyncDispose]();
      // (three values, then two: z keeps its default NULL)
      expect(await rowsOf(b)).toEqual(await rowsOf(a));
      const sent = copy ? adapter.copyStats.copiedStatements : adapter.copyStats.unnestStatements;
      expect(sent).toBe(2);
    }
  });

  it('evaluates an argument-less expression once per row, in row order', async () => {
    const [, b] = await pair('id int, at timestamptz, u uuid, who text, tx timestamptz');
    const statements = Array.from(
      { length: 500 },
      (_, i) =>
        `INSERT INTO ${b} (id, at, u, who, tx) VALUES (${i}, clock_timestamp(), gen_random_uuid(), CURRENT_USER, now())`,
    );
    const { adapter, error } = await load(statements);
    expect(error).toBeUndefined();
    expect(adapter.copyStats.unnestRows).toBe(500);
    const rows = await db.sql<{ id: number; at: string; u: string; who: string; tx: string }>(
      `SELECT id, to_char(at, 'YYYYMMDDHH24MISSUS') AS at, u::text AS u, who, tx::text AS tx FROM ${b} ORDER BY id`,
    );
    // clock_timestamp() read row after row: never decreasing in row order, and not one value for all
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.at >= rows[i - 1]!.at).toBe(true);
    expect(new Set(rows.map((r) => r.at)).size).toBeGreaterThan(1);
    expect(new Set(rows.map((r) => r.u)).size).toBe(500);
    // now() is the transaction's start: one value for the statement, as in a multi-row VALUES
    expect(new Set(rows.map((r) => r.tx)).size).toBe(1);
    expect(new Set(rows.map((r) => r.who)).size).toBe(1);
  });

  it("keeps a user function's rows as text (it might return a set), evaluated in row order", async () => {
    const [, b] = await pair('id int, n int');
    const statements = Array.from(
      { length: 300 },
      (_, i) => `INSERT INTO ${b} (id, n) VALUES (${i}, next_n())`,
    );
    const { adapter, error } = await load(statements);
    expect(error).toBeUndefined();
    expect(adapter.copyStats.unnestStatements).toBe(0);
    expect(adapter.copyStats.notEligible).toBeGreaterThanOrEqual(1);
    const rows = await db.sql<{ id: number; n: number }>(`SELECT id, n FROM ${b} ORDER BY id`);
    expect(rows.map((r) => r.n - rows[0]!.n)).toEqual(rows.map((r) => r.id));
  });

  it('sends ON CONFLICT and RETURNING tails after the SELECT: same rows as one by one', async () => {
    const [a, b] = await pair('k text PRIMARY KEY, v int NOT NULL');
    const statements: string[] = [];
    for (let i = 0; i < 300; i++) {
      statements.push(
        `INSERT INTO ${b} (k, v) VALUES ('k${i % 50}', ${i}) ON CONFLICT (k) DO UPDATE SET v = ${b}.v * 2 + EXCLUDED.v`,
      );
      statements.push(`INSERT INTO ${b} (k, v) VALUES ('n${i % 70}', ${i}) ON CONFLICT DO NOTHING`);
      statements.push(`INSERT INTO ${b} (k, v) VALUES ('r${i}', ${i}) RETURNING k`);
    }
    await oneByOne(statements.map((s) => s.replaceAll(b, a)));
    // (one-row statements sharing their requests: minFastRows 1 sends them in the unnest form all the same)
    const { adapter, error } = await load(statements, {}, { minFastRows: 1 });
    expect(error).toBeUndefined();
    expect(adapter.copyStats.unnestStatements).toBeGreaterThanOrEqual(3);
    expect(await rowsOf(b)).toEqual(await rowsOf(a));
  });

  it('keeps small INSERTs that share a request in its text (minFastRows), sends long ones in the unnest form', async () => {
    const [a, b] = await pair('id int, t text');
    const statements: string[] = [];
    // requests of: one INSERT of 20 rows, then an UPDATE (a barrier), ... then one INSERT of 500 rows
    for (let g = 0; g < 5; g++) {
      for (let i = 0; i < 20; i++) statements.push(`INSERT INTO ${b} (id, t) VALUES (${g * 100 + i}, 'r')`);
      statements.push(`UPDATE ${b} SET t = 'u${g}' WHERE id = ${g * 100}`);
    }
    for (let i = 0; i < 500; i++) statements.push(`INSERT INTO ${b} (id, t) VALUES (${10_000 + i}, 'long')`);
    statements.push(`UPDATE ${b} SET t = 'last' WHERE id = 10000`);
    await oneByOne(statements.map((s) => s.replaceAll(b, a)));
    const requests: string[] = [];
    const { adapter, error } = await load(
      statements,
      { plugins: [{ name: 'spy', beforeBatch: (batch) => void requests.push(batch.sql) }] },
      { minFastRows: undefined },
    );
    expect(error).toBeUndefined();
    // every request held several statements (the UPDATEs share them), so only the long INSERT went fast
    expect(requests.length).toBeLessThan(statements.length / 10);
    expect(adapter.copyStats.unnestStatements).toBe(1);
    expect(adapter.copyStats.unnestRows).toBe(500);
    expect(await rowsOf(b)).toEqual(await rowsOf(a));
    // an INSERT of a few rows alone in its request is sent as text too (a fast form would add a
    // catalog read before it)
    const alone = await load(
      [`INSERT INTO ${b} (id, t) VALUES (1, 'x'), (2, 'y')`],
      {},
      { minFastRows: undefined },
    );
    expect(alone.error).toBeUndefined();
    expect(alone.adapter.copyStats.unnestStatements).toBe(0);
    await db.sql(`DELETE FROM ${b} WHERE t IN ('x', 'y')`);
    // with minFastRows 1 the short ones go that way too
    await db.sql(`DELETE FROM ${b}`);
    const all = await load(statements, {}, { minFastRows: 1 });
    expect(all.error).toBeUndefined();
    expect(all.adapter.copyStats.unnestStatements).toBe(6);
    expect(await rowsOf(b)).toEqual(await rowsOf(a));
  });

  it('a function of your own named like a built-in (pg_catalog later in the search path) is not taken', async () => {
    const [a, b] = await pair('id int, ts timestamptz');
    await db.sql(`CREATE FUNCTION ${db.schema}.now() RETURNS SETOF timestamptz LANGUAGE sql
      AS $$ VALUES ('2000-01-01'::timestamptz), ('2001-01-01') $$`);
    const path = `SET search_path TO ${db.schema}, pg_catalog`;
    const insert = (t: string) => `INSERT INTO ${t} (id, ts) VALUES (1, now()), (2, now())`;
    // one by one: a set-returning function in a multi-row VALUES is refused
    await db.sql(path);
    const alone = await db.sql(insert(a)).catch((e: { code?: string }) => e);
    await db.sql(`SET search_path TO ${db.schema}`);
    expect(alone).toMatchObject({ code: '0A000' });
    const { adapter, error } = await load([path, insert(b)], {}, { minFastRows: 1 });
    await db.sql(`SET search_path TO ${db.schema}`); // (PGlite: one session for all)
    expect(adapter.copyStats.unnestStatements).toBe(0);
    expect(error?.cause).toMatchObject({ code: '0A000' });
    expect(await rowsOf(b)).toEqual(await rowsOf(a));
    expect(await rowsOf(b)).toEqual([]);
  });

  it('fails as the INSERT text fails: same SQLSTATE and message, earlier batches kept', async () => {
    const results: { code?: string; message: string; kept: number; indices: readonly number[] }[] = [];
    for (const unnest of [true, false]) {
      const [, b] = await pair('id int, vc varchar(5)');
      const statements = Array.from(
        { length: 3000 },
        (_, i) => `INSERT INTO ${b} (id, vc) VALUES (${i}, '${i === 2500 ? 'too long' : 'ok'}')`,
      );
      const { adapter, error } = await load(statements, { maxBytes: 16_000 }, { unnest });
      expect(error).toMatchObject({ name: 'BatchExecutionError', inDoubt: false });
      if (unnest) expect(adapter.copyStats.unnestStatements).toBeGreaterThanOrEqual(1);
      const cause = error!.cause as { code?: string; message: string };
      const kept = Number((await db.sql<{ c: string }>(`SELECT count(*) AS c FROM ${b}`))[0]!.c);
      results.push({ code: cause.code, message: cause.message, kept, indices: error!.statementIndices });
    }
    expect(results[0]!.code).toBe('22001');
    expect(results[0]!.message).toBe(results[1]!.message);
    expect(results[0]!.indices).toContain(2500);
    // everything before the failing batch is committed, nothing after it
    expect(results[0]!.kept).toBe(results[0]!.indices[0]);
  });

  it("onError: 'isolate' finds the bad rows and commits every good one", async () => {
    const [, b] = await pair('id int, n posint');
    const bad = new Set([3, 777, 778, 1999]);
    const statements = Array.from(
      { length: 2000 },
      (_, i) => `INSERT INTO ${b} (id, n) VALUES (${i}, ${bad.has(i) ? -1 : 1})`,
    );
    // (a domain column: the text form; the same stream into an int column uses the unnest form below)
    const { error } = await load(statements, { onError: 'isolate', maxBytes: 8_000 });
    expect(error).toBeUndefined();
    const [, c] = await pair('id int, n int CHECK (n > 0)');
    const { adapter, error: error2 } = await load(
      statements.map((s) => s.replace(b, c)),
      { onError: 'isolate', maxBytes: 8_000 },
    );
    expect(error2).toBeUndefined();
    expect(adapter.copyStats.unnestStatements).toBeGreaterThanOrEqual(1);
    for (const t of [b, c]) {
      const ids = (await db.sql<{ id: number }>(`SELECT id FROM ${t} ORDER BY id`)).map((r) => r.id);
      expect(ids).toEqual(Array.from({ length: 2000 }, (_, i) => i).filter((i) => !bad.has(i)));
    }
  });

  it.runIf(!usingPglite)('a timeout cancels the running unnest INSERT on the server', async () => {
    // 2,000 rows × 10 ms per row (a slow CHECK)
    const [, b] = await pair('id int, n int CHECK (slow_ok(n))');
    const statements = Array.from({ length: 2000 }, (_, i) => `INSERT INTO ${b} (id, n) VALUES (${i}, ${i})`);
    // (this shape does go in the unnest form)
    const few = await load(statements.slice(0, 5));
    expect(few.adapter.copyStats.unnestRows).toBe(5);
    await db.sql(`DELETE FROM ${b}`);
    const started = Date.now();
    const { adapter, error } = await load(statements, { timeoutMs: 300, retry: false });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(error).toMatchObject({ name: 'BatchExecutionError', cause: { name: 'TimeoutError' } });
    expect(adapter.copyStats.unnestStatements).toBe(0);
    // The server acts on a cancel request asynchronously: give it a moment (the INSERT left alone would
    // run for 20 s, so a query still active after 5 s was not cancelled).
    let running: unknown[] = [];
    for (let waited = 0; waited <= 5_000; waited += 100) {
      running = await db.sql(
        "SELECT pid FROM pg_stat_activity WHERE query LIKE '%ROWS FROM%' AND query LIKE $1 AND state = 'active' AND pid <> pg_backend_pid()",
        [`%${b}%`],
      );
      if (running.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(running).toEqual([]);
    expect(await db.sql(`SELECT * FROM ${b}`)).toEqual([]);
  });
});
