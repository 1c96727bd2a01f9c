import { describe, expect, it } from 'vitest';
import { ScanError, scanStatements } from '../src/snowflake/sql-text.js';

describe('Snowflake test server: statement scanner', () => {
  it('splits on top-level semicolons only, skipping empty statements', () => {
    const sql = [
      'INSERT INTO t VALUES (\'a;b\', $$x;y$$, "odd;name"); -- c;d',
      '/* e;f */ SELECT 1;;',
      '// g;h',
      'SELECT 2',
    ].join('\n');
    const out = scanStatements(sql);
    expect(out.map((s) => s.keyword)).toEqual(['INSERT', 'SELECT', 'SELECT']);
    expect(out[0]?.text).toBe('INSERT INTO t VALUES (\'a;b\', $$x;y$$, "odd;name")');
    expect(out.map((s) => [s.line, s.position])).toEqual([
      [1, 0],
      [2, 10],
      [4, 0],
    ]);
    expect(scanStatements(' ;\n-- only a comment\n;')).toEqual([]);
  });

  it('counts the rows of top-level VALUES lists, not parentheses inside rows', () => {
    const [s] = scanStatements(
      "INSERT INTO t (a, b) VALUES (1, (2)), (3, f(4, ')')), (5, ARRAY_CONSTRUCT(6))",
    );
    expect(s?.maxValuesRows).toBe(3);
    expect(s?.valuesLine).toBe(1);
    expect(s?.valuesPosition).toBe(21);
    expect(scanStatements('INSERT INTO t SELECT * FROM (SELECT 1)')[0]?.maxValuesRows).toBe(0);
    expect(scanStatements('SELECT * FROM (VALUES (1), (2))')[0]?.maxValuesRows).toBe(0);
    const big = `INSERT INTO t VALUES ${Array.from({ length: 20_000 }, (_, i) => `(${i})`).join(',')}`;
    expect(scanStatements(big)[0]?.maxValuesRows).toBe(20_000);
  });

  it('rewrites the Snowflake-only spellings PostgreSQL cannot run, outside literals', () => {
    const [s] = scanStatements(
      "INSERT INTO t VALUES (CURRENT_TIMESTAMP(), current_date(), 'CURRENT_TIMESTAMP()', 'it\\'s') // note",
    );
    expect(s?.pgText).toBe(
      "INSERT INTO t VALUES (CURRENT_TIMESTAMP, current_date, 'CURRENT_TIMESTAMP()', E'it\\'s') -- note",
    );
  });

  it('reports unterminated literals with their position', () => {
    expect(() => scanStatements("SELECT 1;\nSELECT 'open")).toThrow(ScanError);
    try {
      scanStatements("SELECT 1;\nSELECT 'open");
    } catch (err) {
      expect((err as ScanError).line).toBe(2);
      expect((err as ScanError).position).toBe(7);
    }
  });
});
