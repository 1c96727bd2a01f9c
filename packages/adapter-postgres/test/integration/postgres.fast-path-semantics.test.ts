/**
 * Cases where COPY or the unnest form would store something other than the INSERTs executed one by one,
 * found in review; each is run one by one into one table and through the batcher (COPY, the unnest form)
 * into others, and the tables and rejected statements compared.
 */
import { SQLBatcher } from '@sqlbatcher/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgreSQLAdapter, type PostgreSQLAdapterOptions } from '../../src/index.js';
import { openTestDb, PG_URL, type TestDb, usingPglite } from '../helpers.js';

let db: TestDb;

beforeAll(async () => {
  db = await openTestDb('fastsem');
});
afterAll(async () => {
  await db?.dispose();
});

if (usingPglite) {
  console.log(
    'postgres.fast-path-semantics: the client_encoding case needs a server (PG_URL); skipped on PGlite',
  );
}

interface Outcome {
  rows: unknown[];
  rejected: number[];
  copied: number;
  unnest: number;
}

/**
 * `setup(t)` creates table `t` (and what it needs); `statements(t)` writes into it. Runs them one by one
 * (one session, autocommit) and through the batcher with `copy: true` and with defaults.
 */
async function compare(
  label: string,
  setup: (t: string) => string,
  statements: (t: string) => string[],
  order = 'id',
): Promise<Record<'one' | 'copy' | 'unnest', Outcome>> {
  const out = {} as Record<'one' | 'copy' | 'unnest', Outcome>;
  const variants: ['one' | 'copy' | 'unnest', PostgreSQLAdapterOptions][] = [
    ['one', { copy: false, unnest: false }],
    ['copy', { copy: true, minFastRows: 1 }],
    ['unnest', { minFastRows: 1 }],
  ];
  for (const [name, options] of variants) {
    const t = `${label}_${name}`;
    await db.sql(setup(t));
    const adapter = db.adapter(options);
    const rejected: number[] = [];
    if (name === 'one') {
      const session = await adapter.session();
      const list = statements(t);
      for (let i = 0; i < list.length; i++) {
        await session.execute(list[i]!).catch(() => rejected.push(i));
      }
      await session.execute(`SET search_path TO ${db.schema}; RESET client_encoding`);
      await session.release();
    } else {
      const batcher = new SQLBatcher({ adapter, onError: 'isolate', retry: false });
      await batcher.processStatements([
        ...statements(t),
        `SET search_path TO ${db.schema}`,
        'RESET client_encoding',
      ]);
      await batcher[Symbol.asyncDispose]();
      rejected.push(...batcher.report.rejected.map((r) => r.index));
    }
    const rows = await db.sql(`SELECT * FROM ${db.schema}.${t} ORDER BY ${order}`);
    out[name] = {
      rows,
      rejected,
      copied: adapter.copyStats.copiedStatements,
      unnest: adapter.copyStats.unnestStatements,
    };
  }
  return out;
}

function expectSame(r: Record<'one' | 'copy' | 'unnest', Outcome>): void {
  expect(r.copy.rows).toEqual(r.one.rows);
  expect(r.copy.rejected).toEqual(r.one.rejected);
  expect(r.unnest.rows).toEqual(r.one.rows);
  expect(r.unnest.rejected).toEqual(r.one.rejected);
}

describe('the fast forms give what the INSERTs give', () => {
  it('a CHECK constraint whose function reads the table: COPY (which inserts rows in buffered groups) is not used', async () => {
    const r = await compare(
      'capped',
      (t) => `CREATE TABLE ${t} (id int, grp int, v text);
        CREATE FUNCTION ${t}_count(g int) RETURNS bigint LANGUAGE sql VOLATILE
          AS 'SELECT count(*) FROM ${db.schema}.${t} WHERE grp = g';
        ALTER TABLE ${t} ADD CONSTRAINT at_most_3 CHECK (${t}_count(grp) < 3);`,
      (t) =>
        Array.from({ length: 20 }, (_, i) => `INSERT INTO ${t} (id, grp, v) VALUES (${i}, ${i % 2}, 'x')`),
    );
    expect(r.one.rows).toHaveLength(6);
    expectSame(r);
    expect(r.copy.copied).toBe(0);
    // (the unnest form inserts row by row, as INSERT does: it is still used)
    expect(r.unnest.unnest).toBeGreaterThan(0);
  });

  it('a CHECK constraint that reaches such a function through an operator: COPY is not used', async () => {
    const r = await compare(
      'capped_op',
      (t) => {
        // (one operator per table: the three variants' setups run in one schema)
        const op = `#${'<'.repeat(t.length - 'capped_op'.length)}#`;
        return `CREATE TABLE ${t} (id int, grp int, v text);
        CREATE FUNCTION ${t}_count(g int) RETURNS bigint LANGUAGE sql VOLATILE
          AS 'SELECT count(*) FROM ${db.schema}.${t} WHERE grp = g';
        CREATE OPERATOR ${db.schema}.${op} (FUNCTION = ${t}_count, RIGHTARG = int);
        ALTER TABLE ${t} ADD CONSTRAINT at_most_3 CHECK (${op} grp < 3);`;
      },
      (t) =>
        Array.from({ length: 20 }, (_, i) => `INSERT INTO ${t} (id, grp, v) VALUES (${i}, ${i % 2}, 'x')`),
    );
    expect(r.one.rows).toHaveLength(6);
    expectSame(r);
    expect(r.copy.copied).toBe(0);
  });

  it('a domain whose CHECK calls a function that reads the table: COPY is not used', async () => {
    const r = await compare(
      'slots',
      (t) => `CREATE TABLE ${t} (id int, code int);
        CREATE FUNCTION ${t}_free(c int) RETURNS bool LANGUAGE sql VOLATILE
          AS 'SELECT NOT EXISTS (SELECT 1 FROM ${db.schema}.${t} WHERE code = c)';
        CREATE DOMAIN ${t}_code AS int CHECK (${t}_free(VALUE));
        ALTER TABLE ${t} ALTER COLUMN code TYPE ${t}_code;`,
      (t) => Array.from({ length: 20 }, (_, i) => `INSERT INTO ${t} (id, code) VALUES (${i}, '${i % 5}')`),
    );
    expect(r.one.rows).toHaveLength(5);
    expectSame(r);
    expect(r.copy.copied).toBe(0);
  });

  it('a typed literal whose type name a schema searched before pg_catalog redefines: sent as text', async () => {
    const r = await compare(
      'shadow',
      (t) => `CREATE TABLE ${t} (id int, v pg_catalog.int4);
        CREATE DOMAIN ${t}_dom AS pg_catalog.int4 CHECK (VALUE > 0);
        DROP DOMAIN IF EXISTS ${db.schema}.int4;
        CREATE DOMAIN ${db.schema}.int4 AS pg_catalog.int4 CHECK (VALUE > 0);`,
      (t) => [
        `SET search_path TO ${db.schema}, pg_catalog`,
        ...Array.from(
          { length: 6 },
          (_, i) => `INSERT INTO ${t} (id, v) VALUES (${i}, '${i % 2 ? '' : '-'}${i + 1}'::int4)`,
        ),
      ],
    );
    // One by one, the domain's CHECK refuses the negative values.
    expect(r.one.rejected).toEqual([1, 3, 5]);
    expectSame(r);
    await db.sql(`DROP DOMAIN ${db.schema}.int4`);
  });

  for (const form of ['unnest', 'copy'] as const) {
    it(`${form}: the input's own BEGIN … ROLLBACK around a request that mixes a fast form with SQL undoes it all`, async () => {
      const t = `usertx_${form}`;
      await db.sql(`CREATE TABLE ${t} (id int, v text); CREATE TABLE ${t}_log (n int)`);
      const adapter = db.adapter({ copy: form === 'copy', unnest: form === 'unnest' });
      const batcher = new SQLBatcher({ adapter });
      await batcher.processStatements([
        'BEGIN',
        ...Array.from({ length: 150 }, (_, i) => `INSERT INTO ${t} (id, v) VALUES (${i}, 'v${i}')`),
        `INSERT INTO ${t}_log (n) VALUES (1)`,
        'ROLLBACK',
      ]);
      await batcher[Symbol.asyncDispose]();
      expect(adapter.copyStats.copiedStatements + adapter.copyStats.unnestStatements).toBe(1);
      expect(await db.sql(`SELECT * FROM ${t}`)).toEqual([]);
      expect(await db.sql(`SELECT * FROM ${t}_log`)).toEqual([]);
    });
  }

  it("a transaction the caller opened on the shared connection before the run survives it (the caller's COMMIT commits)", async () => {
    const t = 'caller_tx';
    await db.sql(`CREATE TABLE ${t} (id int)`);
    const client = usingPglite
      ? undefined
      : new pg.Client({ connectionString: PG_URL, options: `-c search_path=${db.schema}` });
    await client?.connect();
    const run = (sql: string) => (client ? client.query(sql) : db.pglite!.exec(sql));
    const adapter = client ? new PostgreSQLAdapter({ client }) : db.adapter();
    await run('BEGIN');
    const batcher = new SQLBatcher({ adapter });
    await batcher.processStatements([`INSERT INTO ${t} (id) VALUES (1)`, `INSERT INTO ${t} (id) VALUES (2)`]);
    await batcher[Symbol.asyncDispose]();
    await run('COMMIT');
    if (client) {
      await adapter.close();
      await client.end();
    }
    expect(await db.sql(`SELECT id FROM ${t} ORDER BY id`)).toEqual([{ id: 1 }, { id: 2 }]);
  });

  it('an interval array with fields (also under domains): COPY, whose array input would apply them per element, is not used', async () => {
    const r = await compare(
      'ivarr',
      (t) =>
        `CREATE DOMAIN ${t}_d AS interval minute[]; CREATE DOMAIN ${t}_dd AS ${t}_d;
         CREATE TABLE ${t} (id int, a interval minute[], b ${t}_dd, c interval day to hour[], d interval[])`,
      (t) => [
        ...Array.from(
          { length: 4 },
          (_, i) =>
            `INSERT INTO ${t} (id, a, b, d) VALUES (${i}, '{5}', '{${i + 5}}', '{"${i} day 2 hours"}')`,
        ),
        `INSERT INTO ${t} (id, c) VALUES (10, '{"1 2"}'), (11, '{"3 4"}')`,
      ],
    );
    // (one by one: 5 seconds truncated to 0 minutes; "1 2" is no day-to-hour interval for the cast)
    expect(await db.sql('SELECT a::text, b::text FROM ivarr_one WHERE id = 0')).toEqual([
      { a: '{00:00:00}', b: '{00:00:00}' },
    ]);
    expect(r.one.rejected).toEqual([4]);
    expectSame(r);
    for (const form of ['copy', 'unnest'])
      expect(await db.sql(`SELECT a::text, b::text, d::text FROM ivarr_${form} ORDER BY id`)).toEqual(
        await db.sql('SELECT a::text, b::text, d::text FROM ivarr_one ORDER BY id'),
      );
    expect(r.copy.copied).toBe(0);
  });

  it('a domain column the INSERT leaves out: its NOT NULL or CHECK rejects the rows (COPY would store NULL), also without a column list', async () => {
    const r = await compare(
      'omitdom',
      (t) =>
        `CREATE DOMAIN ${t}_nn AS int NOT NULL; CREATE DOMAIN ${t}_pos AS int CHECK (VALUE IS NOT NULL AND VALUE > 0);
         CREATE TABLE ${t} (id int, a text, b ${t}_nn, c ${t}_pos)`,
      (t) => [
        ...Array.from({ length: 4 }, (_, i) => `INSERT INTO ${t} (id, a) VALUES (${i}, 'x')`),
        ...Array.from({ length: 4 }, (_, i) => `INSERT INTO ${t} (id, a, b) VALUES (${10 + i}, 'y', ${i})`),
        ...Array.from({ length: 4 }, (_, i) => `INSERT INTO ${t} VALUES (${20 + i}, 'z')`),
        ...Array.from({ length: 4 }, (_, i) => `INSERT INTO ${t} VALUES (${30 + i}, 'w', ${i}, ${i + 1})`),
      ],
    );
    expect(r.one.rows).toHaveLength(4);
    expect(r.one.rejected).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expectSame(r);
  });

  it('a type named like a typed literal in a schema off the search path does not turn the fast forms off', async () => {
    const t = 'offpath';
    await db.sql(`CREATE TABLE ${t} (id int, d date, j jsonb)`);
    const other = `${db.schema}_other`;
    await db.sql(`CREATE SCHEMA ${other}; CREATE TABLE ${other}."date" (x int)`);
    const rows = Array.from({ length: 200 }, (_, i) => `(${i}, DATE '2024-01-02', '{"a":1}'::jsonb)`).join(
      ', ',
    );
    const adapter = db.adapter({ copy: true });
    const batcher = new SQLBatcher({ adapter });
    await batcher.processStatements([`INSERT INTO ${t} (id, d, j) VALUES ${rows}`]);
    await batcher[Symbol.asyncDispose]();
    await db.sql(`DROP SCHEMA ${other} CASCADE`);
    expect(adapter.copyStats.copiedStatements).toBe(1);
    expect(await db.sql(`SELECT count(*)::int AS n FROM ${t}`)).toEqual([{ n: 200 }]);
  });

  it.runIf(!usingPglite)(
    'with a pg client that does not report its transaction status, the server is asked (BEGIN … ROLLBACK undone)',
    async () => {
      const t = 'usertx_probe';
      await db.sql(`CREATE TABLE ${t} (id int, v text); CREATE TABLE ${t}_log (n int)`);
      const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${db.schema}` });
      await client.connect();
      // (as pg before 8.12, which kept no transaction status)
      Object.defineProperty(client, 'getTransactionStatus', { value: undefined });
      const adapter = new PostgreSQLAdapter({ client, minFastRows: 1 });
      const batcher = new SQLBatcher({ adapter });
      const statements = (rollback: boolean) => [
        'BEGIN',
        ...Array.from({ length: 20 }, (_, i) => `INSERT INTO ${t} (id, v) VALUES (${i}, 'v${i}')`),
        `INSERT INTO ${t}_log (n) VALUES (1)`,
        rollback ? 'ROLLBACK' : 'COMMIT',
      ];
      await batcher.processStatements(statements(true));
      expect(await db.sql(`SELECT * FROM ${t}_log`)).toEqual([]);
      // …and outside a transaction block the request still gets its own (all of it, committed)
      await batcher.processStatements(statements(false).slice(1, -1));
      await batcher[Symbol.asyncDispose]();
      await adapter.close();
      await client.end();
      expect(adapter.copyStats.unnestStatements).toBe(4);
      expect(await db.sql(`SELECT count(*)::int AS n FROM ${t}`)).toEqual([{ n: 20 }]);
      expect(await db.sql(`SELECT * FROM ${t}_log`)).toEqual([{ n: 1 }]);
    },
  );

  it.runIf(!usingPglite)(
    "client_encoding other than UTF8 with E'\\u00e9' escapes: the fast forms are not used",
    async () => {
      const r = await compare(
        'enc',
        (t) => `CREATE TABLE ${t} (id int, v text)`,
        (t) => [
          "SET client_encoding TO 'LATIN1'",
          ...Array.from(
            { length: 4 },
            (_, i) => `INSERT INTO ${t} (id, v) VALUES (${i}, E'caf\\u00e9 ${i}')`,
          ),
        ],
      );
      expect((r.one.rows[0] as { v: string }).v).toBe('café 0');
      expectSame(r);
      expect(r.copy.copied + r.unnest.unnest).toBe(0);
    },
  );

  /**
   * 150 statements run one by one and through the batcher (COPY, the unnest form), all on connections
   * opened with the server options `pgOptions` (so the setting is in force when each request is parsed),
   * into `database` (default: the test database, in the test schema).
   */
  async function compareUnder(
    pgOptions: string,
    setup: string,
    statements: string[],
    database?: string,
  ): Promise<Record<'one' | 'copy' | 'unnest', { rows: unknown[]; error: string; fast: number }>> {
    const url = database ? PG_URL!.replace(/\/[^/?]*(\?|$)/, `/${database}$1`) : PG_URL!;
    const options = `${database ? '' : `-c search_path=${db.schema} `}${pgOptions}`;
    const out = {} as Record<'one' | 'copy' | 'unnest', { rows: unknown[]; error: string; fast: number }>;
    for (const name of ['one', 'copy', 'unnest'] as const) {
      const client = new pg.Client({ connectionString: url, options });
      await client.connect();
      await client.query(setup);
      let error = '';
      let fast = 0;
      if (name === 'one') {
        for (const st of statements) await client.query(st).catch((e: Error) => (error ||= e.message));
      } else {
        const pool = new pg.Pool({ connectionString: url, options, max: 1 });
        const adapter = new PostgreSQLAdapter({ pool, ...(name === 'copy' ? { copy: true } : {}) });
        await new SQLBatcher({ adapter })
          .processStatements(statements)
          .catch((e: Error) => (error ||= e.message.replace(/^.*: /, '')));
        await adapter.close();
        await pool.end();
        fast = adapter.copyStats.copiedStatements + adapter.copyStats.unnestStatements;
      }
      out[name] = { rows: (await client.query('SELECT * FROM fp_set ORDER BY 1, 2')).rows, error, fast };
      await client.end();
    }
    return out;
  }

  it.runIf(!usingPglite)(
    'array_nulls off: NULL stays NULL (the unnest form, whose NULL array elements would read as "NULL", is not used)',
    async () => {
      const r = await compareUnder(
        '-c array_nulls=off',
        'DROP TABLE IF EXISTS fp_set; CREATE TABLE fp_set (id int, v text, n int)',
        Array.from({ length: 150 }, (_, i) => `INSERT INTO fp_set (id, v, n) VALUES (${i}, NULL, NULL)`),
      );
      expect(r.one.rows).toHaveLength(150);
      expect(r.one.rows[0]).toEqual({ id: 0, v: null, n: null });
      expect(r.unnest).toEqual({ ...r.one, fast: 0 });
      // (COPY writes \N for NULL, which array_nulls does not touch)
      expect(r.copy.rows).toEqual(r.one.rows);
      expect(r.copy.fast).toBe(1);
    },
  );

  it.runIf(!usingPglite)(
    "backslash_quote off: E'it\\'s' is refused as INSERT refuses it (no fast form)",
    async () => {
      const r = await compareUnder(
        '-c backslash_quote=off',
        'DROP TABLE IF EXISTS fp_set; CREATE TABLE fp_set (id int, v text)',
        Array.from({ length: 150 }, (_, i) => `INSERT INTO fp_set (id, v) VALUES (${i}, E'it\\'s')`),
      );
      expect(r.one.error).toContain("unsafe use of \\' in a string literal");
      expect(r.one.rows).toEqual([]);
      for (const form of [r.copy, r.unnest]) {
        expect(form.rows).toEqual([]);
        expect(form.error).toContain("unsafe use of \\' in a string literal");
        expect(form.fast).toBe(0);
      }
    },
  );

  it.runIf(!usingPglite)(
    "a SQL_ASCII database refuses E'\\u00e9' in statement text: so do the fast forms (not used)",
    async () => {
      const name = `${db.schema}_ascii`;
      await db.sql(
        `CREATE DATABASE ${name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`,
      );
      try {
        const r = await compareUnder(
          '',
          'DROP TABLE IF EXISTS fp_set; CREATE TABLE fp_set (id int, v text)',
          Array.from({ length: 150 }, (_, i) => `INSERT INTO fp_set (id, v) VALUES (${i}, E'caf\\u00e9')`),
          name,
        );
        expect(r.one.error).toContain('conversion between UTF8 and SQL_ASCII is not supported');
        for (const form of [r.copy, r.unnest]) {
          expect(form.rows).toEqual([]);
          expect(form.error).toContain('conversion between UTF8 and SQL_ASCII is not supported');
          expect(form.fast).toBe(0);
        }
      } finally {
        await db.sql(`DROP DATABASE ${name} WITH (FORCE)`);
      }
    },
  );
});
