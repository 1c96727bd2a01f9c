import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchBuilder, type BuilderConfig, type Dialect, dialectRules, lexStatement } from '../src/index.js';

/** Values the fast path takes, and values it must decline (not misread). */
const simpleValue = fc.constantFrom(
  '1',
  '-5',
  '- 5',
  "'a'",
  "'it''s'",
  "'--x'",
  "'/*'",
  "'a;b'",
  "'(,)'",
  "''",
  "'é😀'",
  "'\\'",
  'NOW()',
  'f(1, 2)',
  '( 1 )',
  'a/b',
  'NULL',
);
const value = fc.oneof(
  { weight: 3, arbitrary: simpleValue },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "E'\\n'",
      "e'x'",
      "'\\'",
      'NOW()',
      'f(1, 2)',
      '(SELECT 1)',
      '( 1 )',
      '1 -- c\n',
      "1 -- c,)'\n",
      "1 /* ,)' */",
      '1 -- ,\n',
      '1 /* , */',
      '1/*c*/',
      'a/b',
      '$1',
      '$$x$$',
      '"q"',
      'ARRAY[1]',
      'é',
      '#1',
      "'a' 'b'",
      'NULL',
      "'unterminated",
    ),
  },
);
const row = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        fc.oneof(
          { weight: 4, arbitrary: fc.tuple(value, value) },
          { weight: 1, arbitrary: fc.tuple(value) },
          { weight: 1, arbitrary: fc.array(value, { minLength: 1, maxLength: 3 }) },
        ),
        fc.constantFrom(',', ', ', ' ,'),
      )
      .map(([vs, sep]) => `(${vs.join(sep)})`),
  },
  { weight: 2, arbitrary: fc.constantFrom('()', '( )', '(1, 2', '((1), 2)') },
);
const prefix = fc.oneof(
  { weight: 8, arbitrary: fc.constant('INSERT INTO t (a, b) VALUES') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'insert into t (a, b) values',
      'INSERT INTO t (a,b) VALUES',
      ' INSERT INTO t (a, b) VALUES',
      'INSERT INTO t (a, b) VALUESX',
      'INSERT INTO u (a, b) VALUES',
      'INSERT INTO t VALUES',
      'INSERT INTO t (a) VALUES',
      'DELETE FROM t WHERE a IN',
    ),
  },
);
const gap = fc.constantFrom('', ' ', '\n', ' /*c*/ ', '\t');
const tail = fc.oneof(
  { weight: 6, arbitrary: fc.constant('') },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      ';',
      ' ; ',
      ';;',
      ' -- c',
      '; DELETE FROM t',
      ' RETURNING a',
      ' ON CONFLICT DO NOTHING',
      ', (3, 4)',
      ' x',
    ),
  },
);
const statement = fc.tuple(prefix, gap, row, tail).map((p) => p.join(''));

const configArb = fc.record({
  ceiling: fc.oneof(fc.integer({ min: 60, max: 200 }), fc.integer({ min: 200, max: 5000 })),
  maxBytes: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 200, max: 5000 })),
  multiStatement: fc.boolean(),
  mergeScope: fc.constantFrom('adjacent' as const, 'table' as const),
  maxRowsPerInsert: fc.constantFrom(1, 2, 5, Number.POSITIVE_INFINITY),
  columnAware: fc.option(fc.constant({ reference: 3, min: 0.5, max: 2 }), { nil: undefined }),
  mergeInserts: fc.oneof(
    { weight: 6, arbitrary: fc.constant(true) },
    { weight: 1, arbitrary: fc.constant(false) },
  ),
  keepUnits: fc.boolean(),
});

function build(stmts: string[], cfg: Omit<BuilderConfig, 'fastRows'>, fastRows: boolean) {
  const b = new BatchBuilder({ ...cfg, fastRows });
  const outcomes: string[] = [];
  let fast = 0;
  for (const [i, sql] of stmts.entries()) {
    if (b.tryAppendRow(i, sql)) {
      fast++;
      outcomes.push('added');
      continue;
    }
    try {
      b.add(i, lexStatement(sql, cfg.dialect));
      outcomes.push('added');
    } catch (err) {
      outcomes.push(`error ${(err as Error).name}`);
    }
  }
  b.flush();
  return { batches: b.takeReady(), outcomes, fast };
}

/** A builder with room for every example below. */
function plainBuilder(dialect: Dialect, keepUnits: boolean): BatchBuilder {
  return new BatchBuilder({
    ceiling: 1000,
    maxBytes: 1000,
    multiStatement: true,
    batchMode: true,
    mergeInserts: true,
    mergeScope: 'adjacent',
    maxRowsPerInsert: 100,
    delimiter: ';',
    columnAware: undefined,
    dialect: dialectRules(dialect),
    keepUnits,
  });
}

/** A builder that merges across other statements (`mergeScope: 'table'`), with `bytes` of room. */
function tableScopeBuilder(dialect: Dialect, bytes: number): BatchBuilder {
  return new BatchBuilder({
    ceiling: bytes,
    maxBytes: bytes,
    multiStatement: true,
    batchMode: true,
    mergeInserts: true,
    mergeScope: 'table',
    maxRowsPerInsert: Number.POSITIVE_INFINITY,
    delimiter: ';',
    columnAware: undefined,
    dialect: dialectRules(dialect),
    keepUnits: false,
  });
}

describe('single-row fast path (BatchBuilder.tryAppendRow)', () => {
  it('builds exactly the batches the full lexer builds (fast-check)', () => {
    let fastTotal = 0;
    fc.assert(
      fc.property(fc.array(statement, { minLength: 5, maxLength: 40 }), configArb, (stmts, c) => {
        const cfg = {
          ...c,
          batchMode: true,
          delimiter: ';',
          dialect: dialectRules('postgres'),
        };
        const fast = build(stmts, cfg, true);
        const slow = build(stmts, cfg, false);
        expect(slow.fast).toBe(0);
        expect(fast.outcomes).toEqual(slow.outcomes);
        expect(fast.batches).toEqual(slow.batches);
        fastTotal += fast.fast;
      }),
      { numRuns: 1000 },
    );
    // The property is about the fast path: make sure it was taken, often.
    expect(fastTotal).toBeGreaterThan(300);
  }, 60_000);

  it('declines rows it cannot read exactly, and takes the plain ones', () => {
    const cases: [string, string, boolean][] = [
      ['INSERT INTO t (a) VALUES (1)', 'INSERT INTO t (a) VALUES ()', false],
      ['INSERT INTO t (a) VALUES (1)', 'INSERT INTO t (a) VALUES ( )', false],
      ['INSERT INTO t (a) VALUES (1)', "INSERT INTO t (a) VALUES (1 -- ')\n)", false],
      ['INSERT INTO t (a) VALUES (1)', "INSERT INTO t (a) VALUES (1 /* ') */)", false],
      ['INSERT INTO t (a) VALUES (1)', 'INSERT INTO t (a) VALUES ((SELECT 1))', false],
      // a comma inside a comment is not a second value
      ['INSERT INTO t (a, b) VALUES (1, 2)', 'INSERT INTO t (a, b) VALUES (1 -- ,\n)', false],
      ['INSERT INTO t (a, b) VALUES (1, 2)', 'INSERT INTO t (a, b) VALUES (1 /* , */)', false],
      ['INSERT INTO t (a) VALUES (1)', "INSERT INTO t (a) VALUES (E'\\'')", false],
      ['INSERT INTO t (a) VALUES (1)', 'INSERT INTO t (a) VALUES ($$)$$)', false],
      ['INSERT INTO t (a) VALUES (1)', 'INSERT INTO t (a) VALUES (1) -- c', false],
      ['INSERT INTO t (a) VALUES (1)', 'INSERT INTO t (a) VALUES (1); DELETE FROM t', false],
      ['INSERT INTO t (a) VALUES (1)', 'INSERT INTO t (a) VALUESX (1)', false],
      ['INSERT INTO t (a) VALUES (1)', "INSERT INTO t (a) VALUES ('it''s -- not (a comment')", true],
      ['INSERT INTO t (a) VALUES (1)', 'INSERT INTO t (a) VALUES (-1 - f(2, 3) / 4);', true],
      ['INSERT INTO t (a) VALUES (1)', "INSERT INTO t (a) VALUES ('é😀')", true],
    ];
    for (const [first, next, taken] of cases) {
      const b = plainBuilder('postgres', false);
      b.add(0, lexStatement(first, 'postgres'));
      expect(b.tryAppendRow(1, next), next).toBe(taken);
    }
  });

  it('is not used for dialects with backslash escapes in strings', () => {
    const b = plainBuilder('mysql', false);
    b.add(0, lexStatement("INSERT INTO t (a) VALUES ('x')", 'mysql'));
    expect(b.tryAppendRow(1, "INSERT INTO t (a) VALUES ('y\\'')")).toBe(false);
  });

  it('keeps the unit the lexer would have made when units are kept (onError skip / isolate)', () => {
    const b = plainBuilder('postgres', true);
    const next = "INSERT INTO t (a) VALUES ('é') ;";
    b.add(0, lexStatement("INSERT INTO t (a) VALUES ('x')", 'postgres'));
    expect(b.tryAppendRow(1, next)).toBe(true);
    b.flush();
    const [batch] = b.takeReady();
    expect(batch?.units[1]).toEqual({ index: 1, lexed: lexStatement(next, 'postgres'), from: 0, to: 1 });
  });
});

describe('merged rows as UTF-8 (InsertParts.rowsUtf8)', () => {
  it('hands an adapter exactly the UTF-8 of the merged rows, or nothing', () => {
    const b = tableScopeBuilder('postgres', 1 << 24);
    const rows: Record<string, string[]> = { t: [], u: [] };
    let i = 0;
    // two INSERTs being built at once (mergeScope 'table'), each far past the rows kept as strings
    for (let k = 0; k < 2000; k++) {
      for (const table of ['t', 'u']) {
        const row = `(${k}, '${table} é😀 ${k}')`;
        rows[table]!.push(row);
        const sql = `INSERT INTO ${table} (a, b) VALUES ${row}`;
        if (!b.tryAppendRow(i, sql)) b.add(i, lexStatement(sql, dialectRules('postgres')));
        i++;
      }
    }
    // and a short one, whose rows are never written to a buffer
    b.add(i, lexStatement("INSERT INTO v (a) VALUES (1), ('x')", dialectRules('postgres')));
    b.flush();
    const statements = b.takeReady().flatMap((batch) => batch.statements);
    const byTable = new Map(statements.map((st) => [st.insert?.table, st.insert]));
    for (const table of ['t', 'u']) {
      const ins = byTable.get(table)!;
      expect(ins.rows).toEqual(rows[table]);
      expect(ins.rowsUtf8).toBeDefined();
      expect(Buffer.from(ins.rowsUtf8!).toString('utf8')).toBe(rows[table]!.join(','));
    }
    expect(byTable.get('v')!.rowsUtf8).toBeUndefined();
  });
});

describe("mergeScope 'table'", () => {
  it('never reorders rows of one table: `"t"` may be `t` where the dialect does not say how quoted names fold', () => {
    for (const dialect of ['generic', 'postgres'] as const) {
      const b = tableScopeBuilder(dialect, 1 << 20);
      const stmts = [
        "INSERT INTO t (v) VALUES ('a')",
        `INSERT INTO "t" (v) VALUES ('b')`,
        "INSERT INTO t (v) VALUES ('c')",
      ];
      for (const [i, s] of stmts.entries()) b.add(i, lexStatement(s, dialect));
      b.flush();
      const sql = b.takeReady().map((batch) => b.join(batch));
      const text = sql.join(';');
      // 'a' before 'b' before 'c', whatever was merged
      expect(text.indexOf("'a'"), dialect).toBeLessThan(text.indexOf("'b'"));
      expect(text.indexOf("'b'"), dialect).toBeLessThan(text.indexOf("'c'"));
    }
  });
});
