import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BatchBuilder } from '../batch/builder.js';
import { collectCallAt, collectCalls } from './calls.js';
import { dialectRules } from './dialect.js';
import { lexStatement, scanSimpleRow, simpleRow } from './statement.js';

const pg = dialectRules('postgres');
const calls = (text: string): string[] => {
  const out: string[] = [];
  collectCalls(text, pg, out);
  return out;
};

describe('collectCalls', () => {
  it('names each call once, as written, qualified parts joined', () => {
    expect(calls("(1, NOW(), 'x', now (), lower('A'))")).toEqual(['NOW', 'now', 'lower']);
    expect(calls('(pg_catalog . now(), s."F" /* c */ (1), "g"(2))')).toEqual([
      'pg_catalog.now',
      's."F"',
      '"g"',
    ]);
    expect(calls("(CAST('1' AS int), COALESCE(NULL, 1), '(not, a(call)', E'f(\\'', $$g(1)$$)")).toEqual([
      'CAST',
      'COALESCE',
    ]);
    expect(calls('(1.5, (2), - (3), 1e5, a.b.c(1), -- f(x)\n 4)')).toEqual(['a.b.c']);
    expect(calls("(1, 'a')")).toEqual([]);
    // (found in review: a name spelled with escapes, and attribute notation, which calls `f(row)`)
    expect(calls('(1, U&"f\\005fx"(), (NULL::t).f, (NULL::t) . g)')).toEqual(['U&"f\\005fx"', '().']);
  });

  it('read backwards from each `(` of a row the fast path takes, finds what the forward scan finds (fast-check)', () => {
    const piece = fc.constantFrom(
      ...['f', 'F', 'x1', 'pg_catalog', '.', ' ', '(', ')', ',', '1', '1.5', "'a(b'", '-', '::', 'e', '_'],
      ...['pg_catalog.now(', 's . g (', 'a. b.c(', '1.f(', 'x..f(', '.f(', "'x'.f(", 'a.1.f(', ').f', ') .'],
    );
    let compared = 0;
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }), (pieces) => {
        const row = `(${pieces.join('')})`;
        const sql = `INSERT INTO t VALUES ${row}`;
        const end = scanSimpleRow(sql, 21, pg);
        if (end < 0) return;
        compared++;
        const back: string[] = [];
        for (let k = 0; k < simpleRow.opens; k++) collectCallAt(sql, simpleRow.openAt[k] as number, back);
        expect(back).toEqual(calls(sql.slice(21, end)));
      }),
      { numRuns: 3000 },
    );
    expect(compared).toBeGreaterThan(300);
  });

  it('the builder records the calls of every row it merges, by the fast path or the lexer (fast-check)', () => {
    const value = fc.constantFrom(
      '1',
      "'a'",
      'NOW()',
      'f(1)',
      "s.g('(x')",
      '(2)',
      "lower('B')",
      '"Q"(1)',
      "'h(2)'",
    );
    const row = fc.array(value, { minLength: 2, maxLength: 2 }).map((vs) => `(${vs.join(', ')})`);
    fc.assert(
      fc.property(
        fc.array(fc.array(row, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 30 }),
        (stmts) => {
          const b = new BatchBuilder({
            ceiling: 1 << 20,
            maxBytes: 1 << 20,
            multiStatement: true,
            batchMode: true,
            mergeInserts: true,
            mergeScope: 'adjacent',
            maxRowsPerInsert: Number.POSITIVE_INFINITY,
            delimiter: ';',
            columnAware: undefined,
            dialect: pg,
            keepUnits: false,
            recordCalls: true,
          });
          const expected: string[] = [];
          stmts.forEach((rows, i) => {
            const sql = `INSERT INTO t (a, b) VALUES ${rows.join(', ')}`;
            for (const r of rows) collectCalls(r, pg, expected);
            if (!b.tryAppendRow(i, sql)) b.add(i, lexStatement(sql, pg));
          });
          b.flush();
          const got: string[] = [];
          for (const batch of b.takeReady())
            for (const st of batch.statements)
              for (const c of st.insert?.calls ?? []) if (!got.includes(c)) got.push(c);
          expect(got.sort()).toEqual(expected.sort());
        },
      ),
      { numRuns: 300 },
    );
  });
});
