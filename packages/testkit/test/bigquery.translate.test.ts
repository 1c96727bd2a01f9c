import { describe, expect, it } from 'vitest';
import { ScriptSyntaxError, translateScript } from '../src/bigquery/translate.js';

const one = (sql: string): string => {
  const out = translateScript(sql, 'my-project');
  expect(out).toHaveLength(1);
  return out[0]!.sql;
};

describe('BigQuery → PostgreSQL translation', () => {
  it('rewrites backtick paths, dropping the request project', () => {
    expect(one('INSERT INTO `my-project.ds.users` (id) VALUES (1)')).toBe(
      'INSERT INTO "ds"."users" (id) VALUES (1)',
    );
    expect(one('SELECT * FROM `my-project`.ds.`Users`')).toBe('SELECT * FROM ds."users"');
    expect(one('SELECT * FROM `other.ds.t`')).toBe('SELECT * FROM "other"."ds"."t"');
  });

  it('turns every BigQuery string form into a standard PostgreSQL string', () => {
    expect(one(`SELECT 'It\\'s', "dq \\"x\\"", 'a\\nb', r'C:\\path', '''tri'ple''', """x"y"""`)).toBe(
      `SELECT 'It''s', 'dq "x"', 'a\nb', 'C:\\path', 'tri''ple', 'x"y'`,
    );
    expect(one(`SELECT b'ab'`)).toBe(`SELECT '\\x6162'::bytea`);
  });

  it('drops the parentheses of CURRENT_TIMESTAMP() and maps type names', () => {
    expect(one('SELECT CURRENT_TIMESTAMP(), current_date ( ), CURRENT_DATETIME()')).toBe(
      'SELECT CURRENT_TIMESTAMP, CURRENT_DATE, LOCALTIMESTAMP',
    );
    expect(one('CREATE TABLE ds.t (a INT64, b STRING, c FLOAT64, d BOOL, e TIMESTAMP, f BYTES)')).toBe(
      'CREATE TABLE ds.t (a BIGINT, b TEXT, c DOUBLE PRECISION, d BOOLEAN, e TIMESTAMPTZ, f BYTEA)',
    );
  });

  it('splits a script at top-level semicolons only and reports where each statement starts', () => {
    const out = translateScript('INSERT INTO t VALUES (\'a;b\'); # c;\n  -- d;\n  /* e; */ SELECT ";";', 'p');
    expect(out.map((s) => s.sql)).toEqual(["INSERT INTO t VALUES ('a;b')", "SELECT ';'"]);
    expect(out.map((s) => [s.line, s.column])).toEqual([
      [1, 1],
      [3, 12],
    ]);
    expect(out[1]!.keywords).toEqual(['SELECT']);
  });

  it('reports unterminated literals as syntax errors with their position', () => {
    expect(() => translateScript("SELECT 1;\nSELECT 'x", 'p')).toThrow(ScriptSyntaxError);
    expect(() => translateScript("SELECT 1;\nSELECT 'x", 'p')).toThrow(
      'Syntax error: Unclosed string literal at [2:8]',
    );
    expect(() => translateScript('SELECT `a', 'p')).toThrow('Unclosed identifier literal');
  });
});
