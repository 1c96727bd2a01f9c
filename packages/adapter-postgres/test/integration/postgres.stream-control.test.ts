/**
 * Statements in the input that control transactions or the session: the batcher must leave the same
 * rows as running them one at a time on one connection. Each case here once did not (a fuzzing review):
 * a BEGIN took the earlier statements of its request into its transaction and a ROLLBACK undid them; a
 * COMMIT committed part of a request the batcher then reported (and `isolate` re-ran) as not applied;
 * SET LOCAL applied to the rest of a request; BEGIN ISOLATION LEVEL after another statement of the same
 * request failed; with `concurrency: 2` a session change hidden in a multi-statement string, a DO block or
 * a temporary table did not pin the connection.
 */
import { SQLBatcher, type SQLBatcherOptions } from '@sqlbatcher/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDb, type TestDb, usingPglite } from '../helpers.js';

let db: TestDb;
let n = 0;

/** A second schema of this test file (dropped afterwards). */
let other: string;

beforeAll(async () => {
  db = await openTestDb('streamctl');
  other = `${db.schema}_other`;
  await db.sql(`CREATE SCHEMA ${other}`);
});
afterAll(async () => {
  await db?.sql(`DROP SCHEMA IF EXISTS ${other} CASCADE`);
  await db?.dispose();
});

if (usingPglite) {
  console.info(
    '[adapter-postgres tests] stream-control concurrency cases skipped: PGlite has one connection (set PG_URL); the ICU collation and client_encoding cases too (PGlite is built without ICU; its client encoding is fixed)',
  );
}

/** Run `make(table)` one by one into one table and through the batcher into another; return both tables' ids. */
async function compare(
  make: (t: string) => string[],
  options: Partial<SQLBatcherOptions> = {},
  columns = 'id int, v text CHECK (v <> $$bad$$)',
): Promise<{ a: number[]; b: number[]; rejected: number[]; error: unknown }> {
  const a = `sc${n}_a`;
  const b = `sc${n++}_b`;
  await db.sql(`CREATE TABLE ${a} (${columns}); CREATE TABLE ${b} (${columns})`);
  for (const s of make(a)) await db.sql(s).catch(() => undefined);
  // (a statement left a transaction open or a setting changed: back to a clean session)
  await db.sql('ROLLBACK').catch(() => undefined);
  await db.sql(`SET search_path TO ${db.schema}`);
  const adapter = db.adapter({ ...(options.concurrency ? { poolSize: 4 } : {}) });
  const batcher = new SQLBatcher({ adapter, retry: false, ...options });
  const error = await batcher.processStatements(make(b)).then(
    () => undefined,
    (e: unknown) => e,
  );
  const rejected = batcher.report.rejected.map((r) => r.index);
  await batcher[Symbol.asyncDispose]().catch(() => undefined);
  await adapter.close();
  await db.sql(`SET search_path TO ${db.schema}`);
  const ids = async (t: string) =>
    columns.startsWith('id ')
      ? (await db.sql<{ id: number }>(`SELECT id FROM ${t} ORDER BY id`)).map((r) => r.id)
      : [];
  return { a: await ids(a), b: await ids(b), rejected, error };
}

const ins = (t: string, id: number, v = 'x') => `INSERT INTO ${t} (id, v) VALUES (${id}, '${v}')`;

describe('settings the server applies while reading the request text', () => {
  it.runIf(!usingPglite)(
    'SET client_encoding and SET backslash_quote go alone: the statements after them are read with the new value',
    async () => {
      const enc = (t: string) => [
        `SET client_encoding = 'LATIN1'`,
        ...Array.from({ length: 8 }, (_, i) => `INSERT INTO ${t} (id, v) VALUES (${i}, 'é')`),
        'RESET client_encoding',
      ];
      const r = await compare(enc, { maxBytes: 120 });
      expect(r.error).toBeUndefined();
      const values = async (t: string) =>
        (await db.sql<{ v: string }>(`SELECT v FROM ${t} ORDER BY id`)).map((x) => x.v);
      const one = await values(`sc${n - 1}_a`);
      expect(one).toEqual(Array.from({ length: 8 }, () => 'Ã©'));
      expect(await values(`sc${n - 1}_b`)).toEqual(one);

      const bsq = (t: string) => [
        ins(t, 1),
        'SET backslash_quote = off',
        `INSERT INTO ${t} (id, v) VALUES (2, E'it\\'s')`,
        ins(t, 3),
        'RESET backslash_quote',
      ];
      const q = await compare(bsq, { onError: 'isolate' });
      expect(q.a).toEqual([1, 3]);
      expect(q.b).toEqual(q.a);
      expect(q.rejected).toEqual([2]);
    },
  );
});

describe('transaction control in the input', () => {
  it('a BEGIN does not take the earlier statements of its request into its transaction', async () => {
    const r = await compare((t) => [ins(t, 0), 'BEGIN', ins(t, 1), 'ROLLBACK', ins(t, 2)]);
    expect(r.error).toBeUndefined();
    expect(r.a).toEqual([0, 2]);
    expect(r.b).toEqual(r.a);
  });

  it('a stray ROLLBACK does not undo the statements before it', async () => {
    const r = await compare((t) => [ins(t, 0), ins(t, 1), 'ROLLBACK', ins(t, 2)]);
    expect(r.b).toEqual(r.a);
    expect(r.a).toEqual([0, 1, 2]);
  });

  it("a COMMIT then a failure: 'isolate' neither loses nor repeats the committed rows", async () => {
    const r = await compare((t) => ['BEGIN', ins(t, 1), 'COMMIT', ins(t, 2, 'bad'), ins(t, 3)], {
      onError: 'isolate',
    });
    expect(r.a).toEqual([1, 3]);
    expect(r.b).toEqual(r.a);
    expect(r.rejected).toEqual([3]);
  });

  it('BEGIN ISOLATION LEVEL after another statement works as one by one', async () => {
    const r = await compare((t) => [ins(t, 1), 'BEGIN ISOLATION LEVEL REPEATABLE READ', ins(t, 2), 'COMMIT']);
    expect(r.error).toBeUndefined();
    expect(r.b).toEqual([1, 2]);
  });

  it('SET LOCAL outside a transaction does nothing, as one by one', async () => {
    const r = await compare((t) => {
      return [
        `CREATE TABLE ${other}.${t} (id int, v text)`,
        `SET LOCAL search_path = ${other}`,
        ins(t, 1),
        ins(t, 2),
      ];
    });
    expect(r.a).toEqual([1, 2]);
    expect(r.b).toEqual(r.a);
  });
});

describe('session changes with concurrency 2', () => {
  // (the other schema is known once the suite has started)
  const pinners: [string, (schema: string) => string][] = [
    ['a SET inside a multi-statement string', (o) => `SELECT 1; SET search_path = ${o}`],
    [
      'a DO block that calls set_config',
      (o) => `DO $$ BEGIN PERFORM set_config('search_path', '${o}', false); END $$`,
    ],
  ];
  for (const [what, statement] of pinners) {
    it.runIf(!usingPglite)(`${what} pins the connection`, async () => {
      const r = await compare(
        (t) => [
          `CREATE TABLE IF NOT EXISTS ${other}.${t} (id int, v text)`,
          statement(other),
          ...Array.from({ length: 300 }, (_, i) => ins(t, i)),
        ],
        { concurrency: 2, maxBytes: 300 },
      );
      // (one by one and batched, every row went to the other schema: the test schema's tables stay empty)
      expect(r.a).toEqual([]);
      expect(r.b).toEqual([]);
      const pinned = await db.sql<{ c: string }>(`SELECT count(*) AS c FROM ${other}.sc${n - 1}_b`);
      expect(Number(pinned[0]!.c)).toBe(300);
    });
  }

  it.runIf(!usingPglite)('a temporary table pins the connection', async () => {
    const r = await compare(
      (t) => [
        `CREATE TEMP TABLE ${t} (id int, v text)`,
        ...Array.from({ length: 300 }, (_, i) => ins(t, i)),
        `INSERT INTO ${db.schema}.${t} (id, v) SELECT count(*), 'count' FROM pg_temp.${t}`,
        `DROP TABLE pg_temp.${t}`,
      ],
      { concurrency: 2, maxBytes: 300 },
    );
    expect(r.error).toBeUndefined();
    expect(r.a).toEqual([300]);
    expect(r.b).toEqual(r.a);
  });

  for (const [label, create, rows] of [
    ['SELECT … INTO TEMP', (t: string) => `SELECT 0 AS id, 'v'::text AS v INTO TEMP ${t}`, 301],
    ['CREATE TABLE pg_temp.…', (t: string) => `CREATE TABLE pg_temp.${t} (id int, v text)`, 300],
  ] as const) {
    it.runIf(!usingPglite)(`a temporary table made with ${label} pins the connection too`, async () => {
      const r = await compare(
        (t) => [
          create(t),
          ...Array.from({ length: 300 }, (_, i) => `INSERT INTO ${t} (id, v) VALUES (${i + 1}, 'v${i}')`),
          `INSERT INTO ${db.schema}.${t} (id, v) SELECT count(*), 'count' FROM ${t}`,
          `DROP TABLE ${t}`,
        ],
        { concurrency: 2, maxBytes: 300 },
      );
      expect(r.error).toBeUndefined();
      expect(r.a).toEqual([rows]);
      expect(r.b).toEqual(r.a);
    });
  }
});

describe('ON CONFLICT DO UPDATE: keys that meet only after the column type reads them', () => {
  const cases: [string, string, string[]][] = [
    ['integer', 'k int PRIMARY KEY, v text', ['1.5', '2']],
    ['numeric(3,1)', 'k numeric(3,1) PRIMARY KEY, v text', ['1.04', '1.0']],
    ['date', 'k date PRIMARY KEY, v text', ["'epoch'", "'1970-01-01'"]],
    ['boolean', 'k bool PRIMARY KEY, v text', ["'tr'", 'true']],
    ['interval', 'k interval PRIMARY KEY, v text', ["'1 hour'", "'60 minutes'"]],
    ['inet', 'k inet PRIMARY KEY, v text', ["'10.0.0.1'", "'10.0.0.1/32'"]],
    ['timestamp', 'k timestamp PRIMARY KEY, v text', ["'2024-01-01T10:00:00'", "'2024-01-01 10:00:00'"]],
    ['timestamp (24:00)', 'k timestamp PRIMARY KEY, v text', ["'2024-01-01 24:00:00'", "'2024-01-02'"]],
    ['date (with a time)', 'k date PRIMARY KEY, v text', ["'2024-01-02 10:00'", "'2024-01-02'"]],
    ['date (era)', 'k date PRIMARY KEY, v text', ["'2024-01-02'", "'2024-01-02 AD'"]],
    ['date (zone)', 'k date PRIMARY KEY, v text', ["'2024-01-02'", "'2024-01-02+05'"]],
    ['jsonb', 'k jsonb PRIMARY KEY, v text', [`'{"a": 1e1}'`, `'{"a": 10}'`]],
  ];
  for (const [type, columns, keys] of cases) {
    it(`${type}: ${keys.join(' and ')} are not merged into one statement`, async () => {
      const r = await compare(
        (t) =>
          keys.map(
            (k, i) =>
              `INSERT INTO ${t} (k, v) VALUES (${k}, 'v${i}') ON CONFLICT (k) DO UPDATE SET v = ${t}.v || EXCLUDED.v`,
          ),
        {},
        columns,
      );
      expect(r.error).toBeUndefined();
      const rows = async (t: string) =>
        (await db.sql<{ v: string }>(`SELECT v FROM ${t} ORDER BY v`)).map((x) => x.v);
      expect(await rows(`sc${n - 1}_b`)).toEqual(await rows(`sc${n - 1}_a`));
      expect(await rows(`sc${n - 1}_b`)).toEqual(['v0v1']);
    });
  }

  it.runIf(!usingPglite)(
    "a case- and accent-insensitive ICU collation: 'straße' and 'strasse', 'Æble' and 'aeble' are not merged",
    async () => {
      await db.sql(
        "CREATE COLLATION sc_ci (provider = icu, locale = 'und-u-ks-level1', deterministic = false)",
      );
      for (const keys of [
        ["'strasse'", "'straße'"],
        ["'Æble'", "'aeble'"],
      ]) {
        const r = await compare(
          (t) =>
            keys.map(
              (k, i) =>
                `INSERT INTO ${t} (k, v) VALUES (${k}, 'v${i}') ON CONFLICT (k) DO UPDATE SET v = ${t}.v || EXCLUDED.v`,
            ),
          {},
          'k text COLLATE sc_ci PRIMARY KEY, v text',
        );
        expect(r.error).toBeUndefined();
        expect((await db.sql<{ v: string }>(`SELECT v FROM sc${n - 1}_b`)).map((x) => x.v)).toEqual(['v0v1']);
      }
    },
  );

  it('known difference (core README): a self-referencing foreign key is checked once for a merged INSERT', async () => {
    await db.sql('CREATE TABLE sc_tree_a (id int PRIMARY KEY, parent int REFERENCES sc_tree_a (id))');
    await db.sql('CREATE TABLE sc_tree_b (id int PRIMARY KEY, parent int REFERENCES sc_tree_b (id))');
    const make = (t: string) => [
      `INSERT INTO ${t} (id, parent) VALUES (2, 1)`,
      `INSERT INTO ${t} (id, parent) VALUES (1, NULL)`,
    ];
    // one by one, the child before its parent fails
    const failed: number[] = [];
    for (const [i, s] of make('sc_tree_a').entries()) await db.sql(s).catch(() => failed.push(i));
    expect(failed).toEqual([0]);
    // merged into one INSERT, the key is checked at its end, when the parent is there
    const adapter = db.adapter();
    await new SQLBatcher({ adapter, retry: false }).processStatements(make('sc_tree_b'));
    await adapter.close();
    const ids = async (t: string) =>
      (await db.sql<{ id: number }>(`SELECT id FROM ${t} ORDER BY id`)).map((x) => x.id);
    expect(await ids('sc_tree_a')).toEqual([1]);
    expect(await ids('sc_tree_b')).toEqual([1, 2]);
  });

  it('an update that moves a row onto a later key is not merged', async () => {
    const r = await compare(
      (t) => [
        `INSERT INTO ${t} (k, v) VALUES (1, 'orig')`,
        `INSERT INTO ${t} (k, v) VALUES (1, 'x') ON CONFLICT (k) DO UPDATE SET k = ${t}.k + 100, v = EXCLUDED.v`,
        `INSERT INTO ${t} (k, v) VALUES (101, 'y') ON CONFLICT (k) DO UPDATE SET k = ${t}.k + 100, v = EXCLUDED.v`,
      ],
      {},
      'k int PRIMARY KEY, v text',
    );
    expect(r.error).toBeUndefined();
    const ks = async (t: string) => (await db.sql<{ k: number }>(`SELECT k FROM ${t}`)).map((x) => x.k);
    expect(await ks(`sc${n - 1}_b`)).toEqual([201]);
    expect(await ks(`sc${n - 1}_a`)).toEqual([201]);
  });
});
