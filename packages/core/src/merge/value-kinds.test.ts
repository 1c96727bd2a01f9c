import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GenericAdapter } from '../execute/generic-adapter.js';
import type { Dialect } from '../lexer/dialect.js';
import { dialectRules } from '../lexer/dialect.js';
import { SQLBatcher } from '../sql-batcher.js';
import { combineKinds, type ExactNumbers, rowKinds } from './value-kinds.js';

const trino = dialectRules('trino');

const EXACT: Record<string, ExactNumbers> = { trino: 'any', snowflake: 'scale', bigquery: 'none' };

/** Whether two rows may share an INSERT on `dialect`. */
function together(a: string, b: string, dialect: Dialect = 'trino'): boolean {
  const r = dialectRules(dialect);
  const exact = EXACT[dialect] ?? 'none';
  const ka = rowKinds(a, r, exact);
  const kb = rowKinds(b, r, exact);
  return ka !== undefined && kb !== undefined && combineKinds(ka, kb) !== undefined;
}

/** The requests a batcher sends for `statements` on an engine of `dialect` (several statements per request). */
async function sent(statements: string[], dialect: Dialect, valuesCommonType?: boolean): Promise<string[]> {
  const out: string[] = [];
  const adapter = new GenericAdapter({
    dialect,
    execute: (sql) => {
      out.push(sql);
    },
    capabilities: { multiStatement: true, ...(valuesCommonType === undefined ? {} : { valuesCommonType }) },
  });
  await new SQLBatcher({ adapter }).processStatements(statements);
  return out;
}

describe('literal kinds of VALUES rows', () => {
  it('lets rows of the same kinds, or NULLs, share an INSERT', () => {
    expect(together("(1, 'a', TRUE, DATE '2024-01-01')", "(22, 'bb', false, DATE '2024-02-02')")).toBe(true);
    expect(together("(1, 'a')", '(NULL, NULL)')).toBe(true);
    expect(together('(NULL, NULL)', "(1, 'a')")).toBe(true);
    expect(together('(1.5e0)', '(2E-3)')).toBe(true);
    expect(together("(f('a', 1))", "(f('b', 2))")).toBe(true);
    expect(together("(CAST('1' AS INTEGER))", "(cast('22'  as integer))")).toBe(true);
    expect(together("(TIMESTAMP '2024-01-01 10:00:00')", "(TIMESTAMP '2024-01-01 10:00:00.123')")).toBe(true);
  });

  it('keeps apart rows whose values would be converted to another type when merged', () => {
    // Trino: decimal + real → real (0.1 stored as 0.10000000149…); Snowflake: 1 + 'a' → number ('a' fails).
    expect(together('(0.1)', "(REAL '1')")).toBe(false);
    expect(together('(1)', "('a')", 'snowflake')).toBe(false);
    expect(together('(1.5)', '(1e0)')).toBe(false);
    expect(together('(TRUE)', '(1)')).toBe(false);
    expect(together("(DATE '2024-01-01')", "('2024-01-01')")).toBe(false);
    expect(together("(TIMESTAMP '2024-01-01 10:00:00')", "(TIMESTAMP '2024-01-01 10:00:00 UTC')")).toBe(
      false,
    );
    expect(together("(f('a'))", '(f(1))')).toBe(false);
    expect(together("(CAST('1' AS INTEGER))", "(CAST('1' AS BIGINT))")).toBe(false);
    expect(together("('a' || 'b')", "('c')")).toBe(false);
  });

  it('lets integers and decimals share an exact type only where the engine does, within 38 digits', () => {
    expect(together('(1)', '(1.25)', 'trino')).toBe(true);
    expect(together('(1)', '(1.25)', 'bigquery')).toBe(false);
    // Snowflake gives them the larger scale, which shows in a text column (1 becomes '1.00'): one scale only
    // (found in review).
    expect(together('(1)', '(1.5)', 'snowflake')).toBe(false);
    expect(together('(1.5)', '(2.25)', 'snowflake')).toBe(false);
    expect(together('(1.5)', '(22.5)', 'snowflake')).toBe(true);
    expect(together('(1)', '(22)', 'snowflake')).toBe(true);
    // …inside expressions too (found in review)
    expect(together('(ROUND(1.5, 1))', '(ROUND(1.25, 2))', 'snowflake')).toBe(false);
    expect(together('((1.5))', '((1.25))', 'snowflake')).toBe(false);
    expect(together('((1.5))', '((22.5))', 'snowflake')).toBe(true);
    // 20 digits before the point and 20 after need a decimal(40, 20): out of range on Trino and Snowflake.
    expect(together('(12345678901234567890)', '(0.12345678901234567890)')).toBe(false);
    expect(together('(1234567890123456789)', '(0.1234567890123456789)')).toBe(true);
  });

  it('checks the 38 digits inside DECIMAL literals and expressions too (found in review)', () => {
    const big = '1234567890123456789';
    const small = '0.1234567890123456789012345';
    expect(together(`(DECIMAL '${big}')`, `(DECIMAL '${small}')`)).toBe(false);
    expect(together(`(ARRAY[${big}.0])`, `(ARRAY[${small}])`)).toBe(false);
    expect(together(`(abs(${big}.0))`, `(abs(${small}))`)).toBe(false);
    expect(together("(DECIMAL '1.5')", "(DECIMAL '22.25')")).toBe(true);
  });

  it("keeps the numbers that are part of a type, and a timestamp literal's zone, in expressions (found in review)", () => {
    const a = "'12345678901234567890123456789'";
    expect(together(`(${a}::NUMBER(38,0))`, "('0.5'::NUMBER(38,12))", 'snowflake')).toBe(false);
    expect(together(`(${a}::NUMBER(38,0))`, "('7'::NUMBER(38, 0))", 'snowflake')).toBe(true);
    expect(together('(TO_NUMBER(x, 38, 0))', '(TO_NUMBER(y, 38, 12))', 'snowflake')).toBe(false);
    expect(together('(-CAST(x AS DECIMAL(38,0)))', '(-CAST(y AS DECIMAL(38,12)))')).toBe(false);
    expect(together("(CAST('1' AS VARCHAR(3)))", "(CAST('1' AS VARCHAR(30)))")).toBe(false);
    expect(together("(TIMESTAMP '2024-03-10 02:30:00')", "(TIMESTAMP '2024-03-11 UTC')")).toBe(false);
    expect(together("(TIMESTAMP '2024-03-10')", "(TIMESTAMP '2024-03-11 +02:00')")).toBe(false);
    expect(
      together(
        "(coalesce(TIMESTAMP '2024-03-10 02:30:00'))",
        "(coalesce(TIMESTAMP '2024-03-10 10:00:00 UTC'))",
      ),
    ).toBe(false);
    expect(
      together("(coalesce(TIMESTAMP '2024-03-10 02:30:00'))", "(coalesce(TIMESTAMP '2024-03-11'))"),
    ).toBe(true);
  });

  it('reads hexadecimal and underscore-separated integers as integers (found in review: never merged)', () => {
    expect(together('(0x1F)', '(0xABCDEF)')).toBe(true);
    expect(together('(1_234)', '(5)')).toBe(true);
    expect(together('(f(0x1F))', '(f(12))')).toBe(true);
    expect(together('(0x1F)', "('a')")).toBe(false);
  });

  it('reads a value in time linear in its length (a long ARRAY row took seconds; found in review)', () => {
    const long = `(ARRAY[${Array.from({ length: 60_000 }, (_, i) => i).join(', ')}])`;
    expect(rowKinds(long, trino, 'any')?.kinds[0]).toMatch(/^x:array\[i,i,i/);
    const digits = `(${'1'.repeat(50_000)}x)`;
    expect(rowKinds(digits, trino, 'any')?.kinds[0]).toBe('x:ix');
    const cast = `(cast(a${' '.repeat(50_000)}b))`;
    expect(rowKinds(cast, trino, 'any')?.kinds[0]).toBe('x:cast(a b)');
  });

  it('reads strings by the dialect (backslash escapes, double-quoted strings)', () => {
    expect(together(String.raw`('it\'s')`, "('x')", 'snowflake')).toBe(true);
    expect(together('("a")', "('b')", 'bigquery')).toBe(true);
    // (a double-quoted name is an identifier on Trino: an expression, not a string)
    expect(together('("a")', "('b')", 'trino')).toBe(false);
  });

  it('is symmetric and agrees with itself (property)', () => {
    const value = fc.constantFrom(
      'NULL',
      '1',
      '-7',
      '1.5',
      '2e3',
      "'x'",
      'TRUE',
      "DATE '2024-01-01'",
      "f('a')",
      '00012',
    );
    const row = fc.array(value, { minLength: 2, maxLength: 2 }).map((v) => `(${v.join(', ')})`);
    fc.assert(
      fc.property(row, row, (a, b) => {
        expect(together(a, b)).toBe(together(b, a));
        expect(together(a, a)).toBe(true);
      }),
    );
  });
});

describe('merging on engines that unify VALUES types', () => {
  const rows = [
    'INSERT INTO t (a) VALUES (0.1)',
    "INSERT INTO t (a) VALUES (REAL '1')",
    'INSERT INTO t (a) VALUES (0.2)',
  ];

  it('does not merge rows of other kinds on trino, snowflake and bigquery; keeps the order', async () => {
    for (const dialect of ['trino', 'snowflake', 'bigquery'] as const) {
      const out = await sent(rows, dialect);
      expect(out, dialect).toEqual([
        "INSERT INTO t (a) VALUES (0.1);\nINSERT INTO t (a) VALUES (REAL '1');\nINSERT INTO t (a) VALUES (0.2)",
      ]);
    }
  });

  it('still merges rows of one kind there, and everything on postgres', async () => {
    const same = [
      'INSERT INTO t (a, b) VALUES (1, NULL)',
      "INSERT INTO t (a, b) VALUES (2, 'x')",
      "INSERT INTO t (a, b) VALUES (NULL, 'y')",
    ];
    expect(await sent(same, 'trino')).toEqual(["INSERT INTO t (a, b) VALUES (1, NULL),(2, 'x'),(NULL, 'y')"]);
    expect(await sent(rows, 'postgres')).toEqual(["INSERT INTO t (a) VALUES (0.1),(REAL '1'),(0.2)"]);
    // (the capability wins over the dialect's default, both ways)
    expect(await sent(rows, 'postgres', true)).toHaveLength(1);
    expect((await sent(rows, 'postgres', true))[0]).toContain(';\n');
    expect(await sent(rows, 'trino', false)).toEqual(["INSERT INTO t (a) VALUES (0.1),(REAL '1'),(0.2)"]);
  });

  it('keeps a statement whose own rows differ in kind whole and alone', async () => {
    const out = await sent(
      [
        'INSERT INTO t (a) VALUES (1)',
        "INSERT INTO t (a) VALUES (2), ('x')",
        'INSERT INTO t (a) VALUES (3)',
        'INSERT INTO t (a) VALUES (4)',
      ],
      'snowflake',
    );
    expect(out).toEqual([
      "INSERT INTO t (a) VALUES (1);\nINSERT INTO t (a) VALUES (2),('x');\nINSERT INTO t (a) VALUES (3),(4)",
    ]);
  });

  it('never lets a later row join an earlier INSERT past a row of another kind (mergeScope table)', async () => {
    const out: string[] = [];
    const adapter = new GenericAdapter({
      dialect: 'trino',
      execute: (sql) => {
        out.push(sql);
      },
      capabilities: { multiStatement: true },
    });
    await new SQLBatcher({ adapter, mergeScope: 'table' }).processStatements([
      'INSERT INTO t (a) VALUES (1)',
      'INSERT INTO u (a) VALUES (1)',
      "INSERT INTO t (a) VALUES ('x')",
      'INSERT INTO t (a) VALUES (2)',
    ]);
    expect(out).toEqual([
      "INSERT INTO t (a) VALUES (1);\nINSERT INTO u (a) VALUES (1);\nINSERT INTO t (a) VALUES ('x');\nINSERT INTO t (a) VALUES (2)",
    ]);
  });

  it('agrees between the fast row path and the lexer (trino)', async () => {
    const stmts = Array.from({ length: 300 }, (_, i) =>
      i % 7 === 3
        ? `INSERT INTO t (a, b) VALUES (${i}, 1e0)`
        : `INSERT INTO t (a, b) VALUES (${i}, ${i % 5 === 0 ? 'NULL' : '2'})`,
    );
    const out = await sent(stmts, 'trino');
    const sql = out.join(';\n');
    // every statement present once, in order
    let at = -1;
    for (let i = 0; i < 300; i++) {
      const next = sql.indexOf(`(${i}, `, at + 1);
      expect(next, `row ${i}`).toBeGreaterThan(at);
      at = next;
    }
    // no INSERT holds both a 1e0 row and an integer row
    for (const ins of sql.split(';\n')) {
      expect(/1e0/.test(ins) && /, 2\)/.test(ins), ins).toBe(false);
    }
  });
});

void trino;

describe('rows calling sequence functions on PostgreSQL', () => {
  it('are sent unmerged, through the fast row path too (found in review: currval read the previous id)', async () => {
    const stmts = [
      "INSERT INTO items (code) VALUES ('first')",
      "INSERT INTO items (code) VALUES ('ITEM-' || currval('items_id_seq'))",
      "INSERT INTO items (code) VALUES ('ITEM-' || currval('items_id_seq'))",
      "INSERT INTO items (code) VALUES ('last')",
    ];
    expect(await sent(stmts, 'postgres')).toEqual([stmts.join(';\n')]);
  });
});
