/**
 * Differential proof of invariant 1: any generated statement stream leaves the database in the same
 * state whether executed one statement at a time or through the batcher on this adapter, under every
 * combination of mergeInserts, transaction mode, savepoints, COPY, the unnest form, concurrency and
 * batch size.
 *
 * Seeded and reproducible: FC_SEED=<n> replays a run; DIFF_RUNS=<n> sets the number of streams
 * (default 200; CI can run thousands with a larger value: 1,500 take ~45 s on PostgreSQL).
 * A failure prints the shrunk (minimal) stream and the batcher options.
 */
import { SQLBatcher, type SQLBatcherOptions } from '@sqlbatcher/core';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgreSQLAdapter } from '../../src/index.js';
import { openTestDb, PG_URL, type TestDb, usingPglite } from '../helpers.js';

const RUNS = Number(process.env.DIFF_RUNS ?? 200);
const SEED = process.env.FC_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.FC_SEED);

const DDL = `
CREATE TABLE parent (id int PRIMARY KEY, "Name" text);
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent (id) ON DELETE SET NULL,
  note text, amount numeric(10,2), flag bool, created date);
CREATE TABLE "MixedCase" ("Key" int PRIMARY KEY, val text);
CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL DEFAULT 0);
CREATE TABLE typed (id int PRIMARY KEY, i int, f float8, t text, j jsonb, ts timestamptz, b bool, c char(3),
  vc varchar(5), n numeric(6,1));
CREATE SEQUENCE seq;
CREATE FUNCTION seq_next() RETURNS int LANGUAGE sql AS 'SELECT nextval(''seq'')::int';
CREATE FUNCTION noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
CREATE TABLE nc (a text, b text, c text DEFAULT 'c');
CREATE TABLE seqd (id int PRIMARY KEY, s int, label text, u text, p float8);
CREATE TRIGGER seqd_noop BEFORE INSERT ON seqd FOR EACH ROW EXECUTE FUNCTION noop();
INSERT INTO parent VALUES (1, 'p1'), (2, 'p2'), (3, 'p3'), (4, 'p4'), (5, 'p5');`;

const TABLES = ['parent', 'child', '"MixedCase"', 'kv', 'typed', 'seqd', 'nc'];

// ------------------------------------------------------------------ generators

const piece = fc.constantFrom(
  'a',
  'Z',
  ' ',
  "'",
  "''",
  '\\',
  '\\\\',
  '\t',
  '\n',
  '\r\n',
  'é',
  '😀',
  '$',
  '"',
  ';',
  '--',
  '/*',
  '*/',
  'x',
  '0',
  'ß',
  // array-literal syntax, for the unnest form
  '{',
  '}',
  ',',
  'NULL',
);
const text = fc.array(piece, { maxLength: 8 }).map((a) => a.join(''));

/** A text value written as one of PostgreSQL's string literal forms. */
const textLiteral = fc.oneof(
  text.map((s) => `'${s.replace(/'/g, "''")}'`),
  text.map(
    (s) => `E'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\t/g, '\\t')}'`,
  ),
  text.filter((s) => !s.includes('$q$') && !s.endsWith('$')).map((s) => `$q$${s}$q$`),
  fc.constant('NULL'),
  fc.constantFrom("upper('abc')", "'a' || 'b'", "repeat('z', 3)"),
);
const amount = fc.oneof(
  fc.integer({ min: -99999, max: 99999 }).map(String),
  fc
    .tuple(fc.integer({ min: -9999, max: 9999 }), fc.integer({ min: 0, max: 999 }))
    .map(([a, b]) => `${a}.${b}`),
  fc.constantFrom('NULL', "'12.345'", '1.005', '-0.5', '(2 * 3)'),
);
const flag = fc.constantFrom('TRUE', 'false', 'NULL', "'t'", "'no'");
const date = fc.oneof(
  fc
    .date({ min: new Date('1990-01-01'), max: new Date('2030-12-31'), noInvalidDate: true })
    .map((d) => d.toISOString().slice(0, 10))
    .chain((d) => fc.constantFrom(`DATE '${d}'`, `'${d}'`, `'${d}'::date`)),
  fc.constant('NULL'),
);
const parentRef = fc.constantFrom('1', '2', '3', '4', 'NULL');
const key = fc.constantFrom("'a'", "'b'", "'c'", "'ä'", "'A'");

type Op = (id: number) => string;

/**
 * Per column of `typed`: literal forms INSERT accepts, including the ones where COPY's text input would
 * differ (numbers into text, 1.5 into int, -0 into float8, casts with default modifiers): the COPY fast
 * path must leave those to INSERT.
 */
const typedValues = {
  i: ['1', '-7', '2.5', '-0', "'12'", "'7'::int", '1e3', "' 42 '", 'NULL'],
  f: [
    '1',
    '-0',
    '-0.0',
    '0.1',
    '1e-3',
    '-2.5e2',
    "'-0'",
    "'NaN'",
    "'Infinity'",
    "'1.5'::float8",
    '007',
    'NULL',
  ],
  t: [
    "'x'",
    '007',
    '1.50',
    '1e3',
    '-0',
    'TRUE',
    "DATE '2024-01-02'",
    "'5'::int",
    "'y'::text",
    "'ab'::varchar",
    "E'a\\tb'",
    'NULL',
  ],
  j: [`'{"a": 1}'`, "'[1, 2]'", `'"s"'`, "'null'", `'{"b": [true]}'::jsonb`, `' { "z" : 1 } '`, 'NULL'],
  ts: [
    "'2024-01-01 00:00:00+02'",
    "TIMESTAMPTZ '2024-03-04 05:06:07.891+00'",
    "TIMESTAMP '2024-01-01 10:00'",
    "DATE '2024-01-01'",
    "'epoch'",
    "'infinity'",
    'NULL',
  ],
  b: ['TRUE', 'false', "'t'", "'no'", "'on'", "' yes '", 'NULL'],
  c: ["'ab'", "'abc'", "'ab  '", "'x'::char", "'xy'::text", 'NULL'],
  vc: ["'abc'", "'ab'::varchar", '12', "'abcde'", "'abcde   '", 'NULL'],
  n: ['1', '1.25', '-1.35', "'2.45'", '12345.04', "'3'::numeric", '1e2', 'NULL'],
} as const;
const typedRow = fc.record(
  Object.fromEntries(Object.entries(typedValues).map(([k, v]) => [k, fc.constantFrom(...v)])) as {
    [K in keyof typeof typedValues]: fc.Arbitrary<(typeof typedValues)[K][number]>;
  },
);
const typedInsert = (id: number, r: Record<keyof typeof typedValues, string>) =>
  `INSERT INTO typed (id, i, f, t, j, ts, b, c, vc, n) VALUES (${id}, ${r.i}, ${r.f}, ${r.t}, ${r.j}, ${r.ts}, ${r.b}, ${r.c}, ${r.vc}, ${r.n})`;

const childRow = fc.tuple(parentRef, textLiteral, amount, flag, date);
const ops: fc.Arbitrary<Op>[] = [
  // single-row INSERTs (the common case, merged by the batcher)
  textLiteral.map((t) => (id: number) => `INSERT INTO parent (id, "Name") VALUES (${1000 + id}, ${t})`),
  childRow.map(
    ([p, n, a, f, d]) =>
      (id: number) =>
        `INSERT INTO child (id, parent_id, note, amount, flag, created) VALUES (${id}, ${p}, ${n}, ${a}, ${f}, ${d})`,
  ),
  childRow.map(
    ([p, n, a]) =>
      (id: number) =>
        `insert into CHILD (ID, Parent_Id, NOTE, amount) values (${id}, ${p}, ${n}, ${a})`,
  ),
  // multi-row INSERT
  fc
    .array(childRow, { minLength: 2, maxLength: 4 })
    .map(
      (rows) => (id: number) =>
        `INSERT INTO child (id, parent_id, note, amount, flag, created) VALUES ${rows
          .map(([p, n, a, f, d], i) => `(${100000 + id * 10 + i}, ${p}, ${n}, ${a}, ${f}, ${d})`)
          .join(', ')}`,
    ),
  // every column type with literal forms where COPY and INSERT could disagree
  typedRow.map((r) => (id: number) => typedInsert(id, r)),
  fc
    .array(typedRow, { minLength: 2, maxLength: 5 })
    .map(
      (rows) => (id: number) =>
        `INSERT INTO typed (id, i, f, t, j, ts, b, c, vc, n) VALUES ${rows
          .map((r, k) => typedInsert(100000 + id * 10 + k, r).slice(typedInsert(0, r).indexOf('VALUES') + 7))
          .join(', ')}`,
    ),
  // the same argument-less expressions in every row: built-in ones stay in the unnest form's SELECT
  // list; a user function (a volatile one with a side effect, evaluated once per row in row order;
  // seqd has a trigger: no concurrency, so the order is the input's) keeps the statement as text
  fc.tuple(textLiteral, fc.boolean()).map(
    ([t, user]) =>
      (id: number) =>
        `INSERT INTO seqd (id, s, label, u, p) VALUES (${id}, ${user ? 'seq_next()' : id * 3}, ${t}, CURRENT_USER, pi())`,
  ),
  // quoted / mixed-case identifiers
  textLiteral.map((t) => (id: number) => `INSERT INTO "MixedCase" ("Key", val) VALUES (${id}, ${t})`),
  textLiteral.map((t) => (id: number) => `INSERT INTO "MixedCase" ("Key", VAL) VALUES (${id}, ${t})`),
  // no column list (pg_dump --inserts): the table's first columns, whatever DDL added or dropped
  fc.tuple(textLiteral, textLiteral).map(
    ([t, u]) =>
      (id: number) =>
        `INSERT INTO nc VALUES ('${id}', ${t}, ${u})`,
  ),
  // ON CONFLICT and RETURNING
  fc.tuple(key, fc.integer({ min: -5, max: 5 })).map(
    ([k, v]) =>
      () =>
        `INSERT INTO kv (k, v) VALUES (${k}, ${v}) ON CONFLICT (k) DO UPDATE SET v = kv.v * 2 + EXCLUDED.v`,
  ),
  fc.tuple(key, fc.integer({ min: -5, max: 5 })).map(
    ([k, v]) =>
      () =>
        `INSERT INTO kv (k, v) VALUES (${k}, ${v}) ON CONFLICT DO NOTHING`,
  ),
  textLiteral.map(
    (t) => (id: number) => `INSERT INTO parent (id, "Name") VALUES (${1000 + id}, ${t}) RETURNING id`,
  ),
  // UPDATE, DELETE
  fc.tuple(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 0, max: 3 }), textLiteral).map(
    ([m, r, t]) =>
      () =>
        `UPDATE child SET note = ${t}, amount = amount + 1 WHERE id % ${m} = ${r % m}`,
  ),
  fc.tuple(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 0, max: 4 })).map(
    ([m, r]) =>
      () =>
        `DELETE FROM child WHERE id % ${m} = ${r % m}`,
  ),
  fc.constantFrom(
    () => 'DELETE FROM parent WHERE id > 1000 AND id % 3 = 0',
    () => `UPDATE kv SET v = v + 1 WHERE k <> 'a'`,
    () => `UPDATE "MixedCase" SET val = val || '!' WHERE "Key" % 2 = 0`,
    () => 'DELETE FROM kv WHERE v > 3',
  ),
  // DDL
  fc.constantFrom(
    () => `ALTER TABLE kv ADD COLUMN IF NOT EXISTS extra text DEFAULT 'd'`,
    () => 'CREATE INDEX IF NOT EXISTS child_note_idx ON child (note)',
    () => 'ALTER TABLE "MixedCase" ADD COLUMN IF NOT EXISTS n2 int DEFAULT 7',
    // (nc's columns become a, c, b, with a dropped column among them)
    () => 'ALTER TABLE nc DROP COLUMN b, ADD COLUMN b text',
    () => 'TRUNCATE "MixedCase"',
  ),
];

/** Several INSERTs in a row, so merging and COPY have runs to work on. */
const run = fc
  .tuple(fc.oneof(...ops.slice(0, 2), ops[4]!, ops[6]!, ops[7]!, ops[9]!), fc.integer({ min: 2, max: 12 }))
  .map(([op, n]) => Array.from({ length: n }, () => op));
/**
 * Parents and the children that reference them, alternating: with small batches and `concurrency: 2`
 * a child's batch must not run beside the batch inserting its parent (each child's statement directly
 * follows its parent's, so the parent's id is the child's minus one).
 */
const family = fc
  .tuple(fc.integer({ min: 1, max: 6 }), textLiteral)
  .map(([n, t]) =>
    Array.from({ length: n }, (): Op[] => [
      (id: number) => `INSERT INTO parent (id, "Name") VALUES (${2_000_000 + id}, ${t})`,
      (id: number) => `INSERT INTO child (id, parent_id, note) VALUES (${id}, ${2_000_000 + id - 1}, ${t})`,
    ]).flat(),
  );
const stream = fc
  .array(
    fc.oneof(
      { weight: 3, arbitrary: fc.oneof(...ops).map((o) => [o]) },
      { weight: 1, arbitrary: run },
      { weight: 1, arbitrary: family },
    ),
    {
      minLength: 1,
      maxLength: 14,
    },
  )
  .map((groups) => groups.flat().map((op, i) => op(i + 1)));

interface Config {
  mergeInserts: boolean;
  transaction: 'none' | 'batch' | 'all';
  savepoints: boolean;
  copy: boolean;
  unnest: boolean;
  /** The adapter's `minFastRows`: 1 sends even a one-row INSERT of a mixed request in a fast form. */
  minFastRows: number;
  maxBytes: number;
  concurrency: number;
  batchMode: boolean;
}
const config: fc.Arbitrary<Config> = fc
  .record({
    mergeInserts: fc.boolean(),
    transaction: fc.constantFrom('none', 'batch', 'all'),
    savepoints: fc.boolean(),
    copy: fc.boolean(),
    unnest: fc.constantFrom(true, true, false),
    minFastRows: fc.constantFrom(1, 1, 100),
    maxBytes: fc.constantFrom(150, 400, 1200, 1_000_000),
    concurrency: usingPglite ? fc.constant(1) : fc.constantFrom(1, 1, 2),
    batchMode: fc.constantFrom(true, true, true, false),
  })
  .map((c) => ({ ...c, savepoints: c.transaction === 'all' && c.savepoints }));

// ------------------------------------------------------------------ harness

let db: TestDb;
let schemaA: string;
let schemaB: string;
let clientA: pg.Client | undefined;
let poolB: pg.Pool | undefined;

beforeAll(async () => {
  db = await openTestDb('diff');
  schemaA = `${db.schema}_a`;
  schemaB = `${db.schema}_b`;
  if (!usingPglite) await db.sql('SET synchronous_commit = off');
  if (!usingPglite) {
    clientA = new pg.Client({
      connectionString: PG_URL,
      options: `-c search_path=${schemaA} -c synchronous_commit=off`,
    });
    await clientA.connect();
    poolB = new pg.Pool({
      connectionString: PG_URL,
      max: 3,
      options: `-c search_path=${schemaB} -c synchronous_commit=off`,
    });
    poolB.on('error', () => undefined);
  }
});

afterAll(async () => {
  await clientA?.end();
  await poolB?.end();
  if (db && !usingPglite)
    await db.sql(`DROP SCHEMA IF EXISTS ${schemaA} CASCADE; DROP SCHEMA IF EXISTS ${schemaB} CASCADE`);
  await db?.dispose();
});

let dirtySchema = true;

/** Fresh tables: recreated after a stream with DDL, else emptied (much cheaper). */
async function reset(): Promise<void> {
  const ddl = (s: string) =>
    `DROP SCHEMA IF EXISTS ${s} CASCADE; CREATE SCHEMA ${s}; SET search_path TO ${s}; ${DDL}`;
  const empty = (s: string) =>
    `SET search_path TO ${s}; DELETE FROM child; DELETE FROM parent; DELETE FROM "MixedCase"; DELETE FROM kv; DELETE FROM typed; DELETE FROM seqd; DELETE FROM nc; ALTER SEQUENCE seq RESTART; ${DDL.slice(DDL.indexOf('INSERT INTO parent'))}`;
  await db.sql(dirtySchema ? `${ddl(schemaA)} ${ddl(schemaB)}` : `${empty(schemaA)} ${empty(schemaB)}`);
}

async function oneByOne(statements: string[]): Promise<void> {
  if (db.pglite) {
    await db.pglite.exec(`SET search_path TO ${schemaA}`);
    for (const s of statements) await db.pglite.query(s);
  } else {
    for (const s of statements) await clientA!.query(s);
  }
}

/** Statements the adapter sent through each fast path, over all streams (the paths are really taken). */
const sent = { copy: 0, unnest: 0 };

async function batched(statements: string[], c: Config): Promise<void> {
  if (db.pglite) await db.pglite.exec(`SET search_path TO ${schemaB}`);
  const adapter = db.pglite
    ? new PostgreSQLAdapter({ pglite: db.pglite, copy: c.copy, unnest: c.unnest, minFastRows: c.minFastRows })
    : new PostgreSQLAdapter({ pool: poolB!, copy: c.copy, unnest: c.unnest, minFastRows: c.minFastRows });
  const options: SQLBatcherOptions = {
    adapter,
    mergeInserts: c.mergeInserts,
    transaction: c.transaction,
    savepoints: c.savepoints,
    maxBytes: c.maxBytes,
    concurrency: c.transaction === 'none' ? c.concurrency : 1,
    batchMode: c.batchMode,
  };
  const batcher = new SQLBatcher(options);
  try {
    await batcher.processStatements(statements);
    if (c.transaction === 'all') await batcher.commit();
  } finally {
    await batcher[Symbol.asyncDispose]();
    await adapter.close();
    sent.copy += adapter.copyStats.copiedStatements;
    sent.unnest += adapter.copyStats.unnestStatements;
  }
}

async function snapshot(schema: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of TABLES) {
    const rows = await db.sql<{ r: string }>(
      `SELECT to_jsonb(x)::text AS r FROM ${schema}.${t} x ORDER BY 1`,
    );
    out[t] = rows.map((r) => r.r);
  }
  return out;
}

/** One stream through both paths; the snapshots must match. */
async function compare(statements: string[], c: Config): Promise<void> {
  await reset();
  dirtySchema = statements.some((st) => /^(ALTER|CREATE|TRUNCATE)/.test(st));
  await oneByOne(statements);
  await batched(statements, c);
  const [a, b] = [await snapshot(schemaA), await snapshot(schemaB)];
  // Not emptied by DELETE next time if the batcher left something unexpected behind.
  if (JSON.stringify(a) !== JSON.stringify(b)) dirtySchema = true;
  expect(b, `stream: ${JSON.stringify(statements)}\noptions: ${JSON.stringify(c)}`).toEqual(a);
}

/** Every combination of the options the issue names, each at least once. */
const COMBINATIONS: Config[] = [];
for (const mergeInserts of [true, false]) {
  for (const [transaction, savepoints] of [
    ['none', false],
    ['batch', false],
    ['all', false],
    ['all', true],
  ] as const) {
    for (const copy of [false, true]) {
      for (const unnest of [true, false]) {
        for (const maxBytes of [300, 1_000_000]) {
          COMBINATIONS.push({
            mergeInserts,
            transaction,
            savepoints,
            copy,
            unnest,
            // (the fast forms in mixed requests, the riskiest path; the random configurations use 100 too)
            minFastRows: 1,
            maxBytes,
            concurrency: 1,
            batchMode: true,
          });
        }
      }
    }
  }
}

describe('differential: one-by-one vs batcher', () => {
  it(`same final state for ${RUNS} generated streams (seed ${SEED})`, async () => {
    console.info(`[differential] seed=${SEED} runs=${RUNS} (replay with FC_SEED=${SEED})`);
    await fc.assert(
      fc.asyncProperty(stream, config, (statements, c) => compare(statements, c)),
      { numRuns: RUNS, seed: SEED, verbose: 0 },
    );
    console.info(`[differential] statements sent as COPY: ${sent.copy}, in the unnest form: ${sent.unnest}`);
    expect(sent.copy).toBeGreaterThan(0);
    expect(sent.unnest).toBeGreaterThan(0);
  }, 600_000);

  it(`every combination of mergeInserts × transaction × savepoints × copy × unnest × maxBytes (${COMBINATIONS.length}), seed ${SEED}`, async () => {
    const streams = fc.sample(
      stream.filter((st) => st.length >= 8),
      { seed: SEED, numRuns: COMBINATIONS.length },
    );
    for (let i = 0; i < COMBINATIONS.length; i++) await compare(streams[i]!, COMBINATIONS[i]!);
  }, 600_000);
});
