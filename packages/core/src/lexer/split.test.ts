import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidStatementError } from '../errors.js';
import type { Dialect } from './dialect.js';
import { StatementSplitter, splitStatementChunks, splitStatementStream, splitStatements } from './split.js';
import { lexStatement } from './statement.js';

const split = (text: string, dialect: Dialect = 'postgres') => splitStatements(text, { dialect });

/** `bytes` streamed in chunks of `size`: the statements handed out, and the error that ended it. */
async function splitInChunks(bytes: Buffer, size: number): Promise<{ got: string[]; err: unknown }> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  const got: string[] = [];
  const err = await (async () => {
    for await (const part of splitStatementChunks(chunks)) got.push(...part);
  })().catch((e: unknown) => e);
  return { got, err };
}

describe('splitStatements corpus', () => {
  it('splits on top-level semicolons only', () => {
    expect(split("SELECT 'a;b'; SELECT 'it''s;'; SELECT 3")).toEqual([
      "SELECT 'a;b'",
      "SELECT 'it''s;'",
      'SELECT 3',
    ]);
    expect(split("SELECT E'\\';'; SELECT 2")).toEqual(["SELECT E'\\';'", 'SELECT 2']);
    expect(split('SELECT $f$ ; ) $f$; SELECT $$;$$; SELECT $a$ $b$ ; $b$ $a$')).toEqual([
      'SELECT $f$ ; ) $f$',
      'SELECT $$;$$',
      'SELECT $a$ $b$ ; $b$ $a$',
    ]);
    expect(split('SELECT "a;b" FROM t; SELECT 2')).toEqual(['SELECT "a;b" FROM t', 'SELECT 2']);
    expect(split('SELECT 1 -- ; no split\n; SELECT 2')).toEqual(['SELECT 1 -- ; no split', 'SELECT 2']);
    // `$1` is a parameter, not a dollar quote; a$b$ is an identifier.
    expect(split('SELECT $1; SELECT a$b$; SELECT 3')).toEqual(['SELECT $1', 'SELECT a$b$', 'SELECT 3']);
  });

  it('nested block comments: postgres nests, trino/generic do not', () => {
    expect(split('SELECT 1 /* a /* b */ ; */; SELECT 2', 'postgres')).toEqual([
      'SELECT 1 /* a /* b */ ; */',
      'SELECT 2',
    ]);
    expect(split('SELECT 1 /* a /* b */ ; */; SELECT 2', 'trino')).toEqual([
      'SELECT 1 /* a /* b */',
      '*/',
      'SELECT 2',
    ]);
    expect(split('SELECT 1 /* a /* b */ ; */; SELECT 2', 'generic')).toHaveLength(3);
  });

  it('dialect-specific comments and strings', () => {
    expect(split('SELECT 1 # ; \n; SELECT 2', 'mysql')).toEqual(['SELECT 1 # ;', 'SELECT 2']);
    expect(split('SELECT 1 # ; \n; SELECT 2', 'bigquery')).toEqual(['SELECT 1 # ;', 'SELECT 2']);
    expect(split('SELECT 1 # 2; SELECT 2', 'postgres')).toEqual(['SELECT 1 # 2', 'SELECT 2']);
    expect(split('SELECT 1 // ; \n; SELECT 2', 'snowflake')).toEqual(['SELECT 1 // ;', 'SELECT 2']);
    expect(split('SELECT $$ ; $$; SELECT 2', 'snowflake')).toEqual(['SELECT $$ ; $$', 'SELECT 2']);
    // Snowflake has only $$ … $$: `$f$` is not a quote there.
    expect(split('SELECT $f$; SELECT 2', 'snowflake')).toEqual(['SELECT $f$', 'SELECT 2']);
    expect(split("SELECT 'a\\';b'; SELECT 2", 'snowflake')).toEqual(["SELECT 'a\\';b'", 'SELECT 2']);
    expect(split("SELECT 'a\\';b'; SELECT 2", 'mysql')).toEqual(["SELECT 'a\\';b'", 'SELECT 2']);
    expect(split('SELECT "a\\";b"; SELECT 2', 'mysql')).toEqual(['SELECT "a\\";b"', 'SELECT 2']);
    expect(split("SELECT '''a;'b'''; SELECT \"\"\";\"\"\"; SELECT 3", 'bigquery')).toEqual([
      "SELECT '''a;'b'''",
      'SELECT """;"""',
      'SELECT 3',
    ]);
    expect(split("SELECT r'\\d;'; SELECT `a;b`; SELECT 3", 'bigquery')).toEqual([
      "SELECT r'\\d;'",
      'SELECT `a;b`',
      'SELECT 3',
    ]);
    // In postgres a backslash in an ordinary string is an ordinary character.
    expect(split("SELECT 'a\\'; SELECT 2", 'postgres')).toEqual(["SELECT 'a\\'", 'SELECT 2']);
  });

  it('MySQL: `--` starts a comment only before whitespace; DELIMITER is refused', () => {
    expect(split('SELECT 5--1; SELECT 2', 'mysql')).toEqual(['SELECT 5--1', 'SELECT 2']);
    expect(split('SELECT 5-- 1; \nSELECT 2', 'mysql')).toEqual(['SELECT 5-- 1; \nSELECT 2']);
    expect(split('SELECT 5--\t;\n; SELECT 2', 'mysql')).toEqual(['SELECT 5--\t;', 'SELECT 2']);
    expect(split('SELECT 5--1; SELECT 2', 'postgres')).toEqual(['SELECT 5--1; SELECT 2']);
    expect(() =>
      split('DELIMITER ;;\nCREATE PROCEDURE p() BEGIN SELECT 1; END;;\nDELIMITER ;', 'mysql'),
    ).toThrow(/DELIMITER/);
    // (found in review: after a comment, the body was split and its statements run at the top level)
    for (const comment of ['-- now\n', '# now\n', '/* now */ ']) {
      expect(() =>
        split(
          `SELECT 1;\n${comment}DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END//\nDELIMITER ;`,
          'mysql',
        ),
      ).toThrow(/DELIMITER/);
    }
  });

  it('reads comments before a statement in linear time (found in review: a regular expression took exponential time)', () => {
    // (with the regular expressions these did not finish: 26 spaces took a second, each more doubled it;
    // the test's own timeout is the bound)
    expect(
      split(`SELECT 1;\n${'    -- step\n'.repeat(40)}${' '.repeat(200)}INSERT INTO t VALUES (1);`, 'mysql'),
    ).toHaveLength(2);
    expect(split(`-- c\n${' '.repeat(5000)}INSERT INTO t VALUES (1);`, 'postgres')).toHaveLength(1);
    expect(() => split(`-- c\n${' '.repeat(50)}COPY t FROM stdin;`, 'postgres')).toThrow(/COPY/);
  });

  it('reads strings full of backslash escapes in linear time (found in review: a 2 MB E-string took 5 s)', () => {
    // (the next quote was looked for again after every backslash; the test's own timeout is the bound)
    const body = 'ab\\\\'.repeat(500_000);
    const pg = `INSERT INTO t (v) VALUES (E'${body}');SELECT 2`;
    expect(split(pg, 'postgres')).toEqual([`INSERT INTO t (v) VALUES (E'${body}')`, 'SELECT 2']);
    expect(split(`SELECT '${body}';SELECT 2`, 'mysql')).toHaveLength(2);
    expect(split(`SELECT '''${body}''';SELECT 2`, 'bigquery')).toHaveLength(2);
    // (linear: ~30 ms here; quadratic: 17 s)
  }, 5_000);

  it('reads strings inside MySQL executable comments: a */ in one does not end the comment (found in review)', () => {
    const script = "UPDATE t9 SET a = 'z' /*!, b = '*/; DELETE FROM t9; SELECT '*/ WHERE id = 1; SELECT 2";
    expect(split(script, 'mysql')).toEqual([
      "UPDATE t9 SET a = 'z' /*!, b = '*/; DELETE FROM t9; SELECT '*/ WHERE id = 1",
      'SELECT 2',
    ]);
    expect(split("SELECT 1 /*M!100000 , '*/' */; SELECT 2", 'mysql')).toEqual([
      "SELECT 1 /*M!100000 , '*/' */",
      'SELECT 2',
    ]);
    // (an ordinary comment is not read: its quote is text)
    expect(split("SELECT 1 /* it's */; SELECT 2", 'mysql')).toHaveLength(2);
  });

  it('refuses the short form of DELIMITER, \\d (found in review: a procedure body was split and run)', () => {
    expect(() => split('\\d //\nCREATE PROCEDURE p() BEGIN SELECT 1; END//\n\\d ;\n', 'mysql')).toThrow(
      /DELIMITER/,
    );
    expect(() =>
      split('\\d//\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END//\n\\d ;\nSELECT 3;', 'mysql'),
    ).toThrow(/DELIMITER/);
  });

  it("keeps MariaDB's /*M! … */ executable comments as content (found in review: the SET was dropped)", () => {
    expect(split('/*M!100616 SET @x=1 */; SELECT @x;', 'mysql')).toEqual([
      '/*M!100616 SET @x=1 */',
      'SELECT @x',
    ]);
    expect(
      lexStatement('INSERT INTO t (a) VALUES (1) /*M! ON DUPLICATE KEY UPDATE a=a+10 */', 'mysql').text,
    ).toBe('INSERT INTO t (a) VALUES (1) /*M! ON DUPLICATE KEY UPDATE a=a+10 */');
  });

  it('BigQuery: a labelled loop is one statement (found in review: split inside)', () => {
    expect(
      split(
        'DECLARE x INT64 DEFAULT 0;\nlbl: WHILE x < 3 DO\n SET x = x + 1;\n INSERT INTO d.t VALUES (x);\nEND WHILE lbl;',
        'bigquery',
      ),
    ).toEqual([
      'DECLARE x INT64 DEFAULT 0',
      'lbl: WHILE x < 3 DO\n SET x = x + 1;\n INSERT INTO d.t VALUES (x);\nEND WHILE lbl',
    ]);
    expect(split('outer: LOOP\n LEAVE outer;\nEND LOOP outer; SELECT 1', 'bigquery')).toEqual([
      'outer: LOOP\n LEAVE outer;\nEND LOOP outer',
      'SELECT 1',
    ]);
    // (labels of any length)
    for (const lbl of ['l', 'outer_loop_label']) {
      expect(split(`${lbl}: LOOP\n LEAVE ${lbl};\nEND LOOP ${lbl}; SELECT 1`, 'bigquery')).toEqual([
        `${lbl}: LOOP\n LEAVE ${lbl};\nEND LOOP ${lbl}`,
        'SELECT 1',
      ]);
    }
    // (not a label: a `::` cast, or a named argument)
    expect(split('SELECT a::int; SELECT 2', 'bigquery')).toEqual(['SELECT a::int', 'SELECT 2']);
  });

  it('keeps MySQL executable comments as content', () => {
    expect(split('/*!40101 SET NAMES utf8 */;\n/* plain */;\nSELECT 1', 'mysql')).toEqual([
      '/*!40101 SET NAMES utf8 */',
      'SELECT 1',
    ]);
    expect(lexStatement('/*!40101 SET NAMES utf8 */', 'mysql').kind).not.toBe('empty');
  });

  it('drops empty and comment-only pieces', () => {
    expect(split(';;  ; -- c\n /* x */ ;')).toEqual([]);
    expect(split('')).toEqual([]);
    expect(split('SELECT 1;;;SELECT 2;')).toEqual(['SELECT 1', 'SELECT 2']);
  });

  it('keeps CREATE FUNCTION … BEGIN ATOMIC … END whole (postgres)', () => {
    const fn = `CREATE OR REPLACE FUNCTION f(a int) RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END;
  SELECT a + 1;
END`;
    expect(split(`${fn};\nSELECT 2;`)).toEqual([fn, 'SELECT 2']);
    const proc = 'CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (1); END';
    expect(split(`${proc}; SELECT 3`)).toEqual([proc, 'SELECT 3']);
    // BEGIN as a statement is a transaction, not a block.
    expect(split('BEGIN; SELECT 1; END;')).toEqual(['BEGIN', 'SELECT 1', 'END']);
    // A dollar-quoted body is one token.
    const plpgsql = 'CREATE FUNCTION g() RETURNS void AS $$ BEGIN PERFORM 1; END; $$ LANGUAGE plpgsql';
    expect(split(`${plpgsql}; SELECT 4`)).toEqual([plpgsql, 'SELECT 4']);
  });

  it('keeps BigQuery / Snowflake script blocks whole', () => {
    const bqProc = `CREATE OR REPLACE PROCEDURE ds.p(x INT64)
BEGIN
  DECLARE y INT64 DEFAULT 0;
  IF x > 0 THEN
    SET y = (SELECT CASE WHEN x > 1 THEN 2 ELSE 1 END);
    INSERT INTO ds.t (a) VALUES (y);
  ELSEIF x = 0 THEN
    SELECT IF(x = 0, 'zero', 'neg');
  END IF;
  WHILE y < 3 DO
    SET y = y + 1;
  END WHILE;
  LOOP
    LEAVE;
  END LOOP;
  FOR r IN (SELECT 1 AS v) DO
    SELECT r.v;
  END FOR;
  REPEAT SET y = y - 1; UNTIL y <= 0 END REPEAT;
EXCEPTION WHEN ERROR THEN
  SELECT @@error.message;
END`;
    expect(
      split(
        `${bqProc};
CALL ds.p(1);`,
        'bigquery',
      ),
    ).toEqual([bqProc, 'CALL ds.p(1)']);
    const topIf =
      "IF (SELECT COUNT(*) FROM ds.t) > 0 THEN\n  DELETE FROM ds.t WHERE TRUE;\n  SELECT 'x;y';\nEND IF";
    expect(split(`DECLARE n INT64;\n${topIf};\nSELECT REPEAT('a', 2);`, 'bigquery')).toEqual([
      'DECLARE n INT64',
      topIf,
      "SELECT REPEAT('a', 2)",
    ]);
    expect(split('BEGIN TRANSACTION; INSERT INTO t VALUES (1); COMMIT TRANSACTION;', 'bigquery')).toEqual([
      'BEGIN TRANSACTION',
      'INSERT INTO t VALUES (1)',
      'COMMIT TRANSACTION',
    ]);
    expect(split('BEGIN; SELECT 1; COMMIT;', 'snowflake')).toEqual(['BEGIN', 'SELECT 1', 'COMMIT']);
    const sfBlock = `DECLARE
  c INTEGER DEFAULT 0;
BEGIN
  FOR i IN 1 TO 3 DO
    c := c + i;
  END FOR;
  CASE (c)
    WHEN 6 THEN INSERT INTO t VALUES (c);
    ELSE RETURN 'odd;';
  END CASE;
  RETURN c;
EXCEPTION
  WHEN OTHER THEN RETURN -1;
END`;
    expect(
      split(
        `${sfBlock};
SELECT 2;`,
        'snowflake',
      ),
    ).toEqual([sfBlock, 'SELECT 2']);
    // IF(…) after THEN in a CASE expression is a function, not an IF statement
    expect(
      split('SELECT CASE WHEN a THEN IF(b, 1, 0) ELSE IF(c, 2, 3) END FROM t; SELECT 2;', 'bigquery'),
    ).toEqual(['SELECT CASE WHEN a THEN IF(b, 1, 0) ELSE IF(c, 2, 3) END FROM t', 'SELECT 2']);
    const nestedIf = 'IF a THEN IF b THEN SELECT 1; END IF; SET x = CASE WHEN c THEN 1 ELSE 2 END; END IF';
    expect(split(`${nestedIf}; SELECT 2;`, 'bigquery')).toEqual([nestedIf, 'SELECT 2']);
    // END; then a CASE statement inside a block: the CASE opens a block again
    const nested = 'BEGIN BEGIN SELECT 1; END; CASE (x) WHEN 1 THEN SELECT 2; END CASE; END';
    expect(split(`${nested}; SELECT 3;`, 'snowflake')).toEqual([nested, 'SELECT 3']);
    const sfProc =
      'CREATE PROCEDURE p() RETURNS INT LANGUAGE SQL AS\nBEGIN\n  INSERT INTO t VALUES (1);\n  RETURN 1;\nEND';
    expect(split(`${sfProc}; CALL p();`, 'snowflake')).toEqual([sfProc, 'CALL p()']);
    // postgres/trino/mysql are not affected: `;` ends statements there
    expect(split('IF x THEN SELECT 1; END IF;', 'trino')).toHaveLength(2);
    expect(lexStatement('BEGIN SELECT 1; END', 'bigquery').kind).toBe('other');
    expect(lexStatement('BEGIN TRANSACTION', 'bigquery').kind).toBe('transaction');
  });

  it('ignores \\restrict and \\unrestrict, rejects other psql meta-commands', () => {
    expect(split('\\restrict abc123\nSELECT 1;\n\\unrestrict abc123\n')).toEqual(['SELECT 1']);
    expect(() => split('SELECT 1;\n\\c otherdb\nSELECT 2;')).toThrow(InvalidStatementError);
    try {
      split('SELECT 1;\n\\c otherdb\nSELECT 2;');
    } catch (err) {
      expect((err as InvalidStatementError).statementIndex).toBe(1);
      expect((err as Error).message).toContain('\\c');
    }
    const seen: string[] = [];
    expect(
      splitStatements('SELECT 1;\n\\c otherdb\nSELECT 2;', { onMetaCommand: (c) => void seen.push(c) }),
    ).toEqual(['SELECT 1', 'SELECT 2']);
    expect(seen).toEqual(['\\c otherdb']);
  });

  it('refuses a psql meta-command inside a statement (psql would run or glue what the lexer splits)', () => {
    for (const [text, command] of [
      ['INSERT INTO t VALUES (1)\n\\g\nINSERT INTO t VALUES (2);', '\\g'],
      ['INSERT INTO t VALUES (3) \\; INSERT INTO t VALUES (4);', '\\;'],
    ] as const) {
      for (const onMetaCommand of [undefined, () => undefined]) {
        const err = (() => {
          try {
            splitStatements(text, { dialect: 'postgres', ...(onMetaCommand ? { onMetaCommand } : {}) });
          } catch (e) {
            return e;
          }
          return undefined;
        })() as InvalidStatementError;
        expect(err, text).toBeInstanceOf(InvalidStatementError);
        expect(err.statementIndex).toBe(0);
        expect(err.message).toContain(`psql meta-command ${command}`);
      }
    }
    // a backslash in a quoted string, E'' string or comment is not one
    expect(split("SELECT '\\g', E'\\\\', 1 /* \\g */; -- \\;\nSELECT 2")).toEqual([
      "SELECT '\\g', E'\\\\', 1 /* \\g */",
      '-- \\;\nSELECT 2',
    ]);
  });

  it('postgres: a `;` inside parentheses does not end the statement (as psql splits)', () => {
    expect(split('SELECT (1;\nINSERT INTO t VALUES (2);\nSELECT 3;')).toEqual([
      'SELECT (1;\nINSERT INTO t VALUES (2);\nSELECT 3;',
    ]);
    // a stray `)` does not make the depth negative
    expect(split('SELECT 1);\nSELECT (2; 3);\nSELECT 4')).toEqual(['SELECT 1)', 'SELECT (2; 3)', 'SELECT 4']);
  });

  it('trims only ASCII whitespace: U+00A0, U+3000 … belong to the statement (identifier characters)', () => {
    expect(split('INSERT INTO t VALUES (1)\u00a0;\nDROP TABLE x\u3000;')).toEqual([
      'INSERT INTO t VALUES (1)\u00a0',
      'DROP TABLE x\u3000',
    ]);
    // a byte-order mark is dropped where a file starts, kept anywhere else
    expect(split('\ufeffSELECT 1;\n\ufeffSELECT 2;')).toEqual(['SELECT 1', '\ufeffSELECT 2']);
    const sp = new StatementSplitter({ dialect: 'postgres' });
    expect([...sp.push(''), ...sp.push('\ufeffSELECT 1;'), ...sp.end()]).toEqual(['SELECT 1']);
  });

  it("continues an E'…' string across a newline with its backslash escapes (as PostgreSQL does)", () => {
    const text = "INSERT INTO t (v) VALUES (E'a'\n'b\\'; c'\n  -- note\n  'd\\'');\nSELECT 1;";
    expect(split(text)).toEqual([
      "INSERT INTO t (v) VALUES (E'a'\n'b\\'; c'\n  -- note\n  'd\\'')",
      'SELECT 1',
    ]);
    // streamed in every two-chunk cut, the same
    for (let cut = 0; cut <= text.length; cut++) {
      const sp = new StatementSplitter({ dialect: 'postgres' });
      expect(
        [...sp.push(text.slice(0, cut)), ...sp.push(text.slice(cut)), ...sp.end()],
        `cut ${cut}`,
      ).toEqual(split(text));
    }
    // a `--` comment before the newline is whitespace too (the server's horiz_whitespace): continued
    const commented = "SELECT E'a' -- c\n'b\\'; x'; SELECT 2";
    expect(split(commented)).toEqual(["SELECT E'a' -- c\n'b\\'; x'", 'SELECT 2']);
    for (let cut = 0; cut <= commented.length; cut++) {
      const sp = new StatementSplitter({ dialect: 'postgres' });
      expect(
        [...sp.push(commented.slice(0, cut)), ...sp.push(commented.slice(cut)), ...sp.end()],
        `cut ${cut}`,
      ).toEqual(split(commented));
    }
    // without a newline between them, or for a standard string, no backslash escapes in the next one
    expect(split("SELECT E'a' 'b\\'; SELECT 2")).toEqual(["SELECT E'a' 'b\\'", 'SELECT 2']);
    expect(split("SELECT 'a'\n'b\\'; SELECT 2")).toEqual(["SELECT 'a'\n'b\\'", 'SELECT 2']);
  });

  it('names the statement holding a byte that is not UTF-8, after handing out the ones before it', async () => {
    const bytes = Buffer.concat([
      Buffer.from("SELECT 1;\nSELECT 2;\nINSERT INTO t VALUES ('caf"),
      Buffer.from([0xe9]),
      Buffer.from("');\nSELECT 4;\n"),
    ]);
    for (const size of [1, 7, bytes.length]) {
      const { got, err } = await splitInChunks(bytes, size);
      expect(got, `chunks of ${size}`).toEqual(['SELECT 1', 'SELECT 2']);
      expect(err).toBeInstanceOf(InvalidStatementError);
      expect((err as InvalidStatementError).statementIndex).toBe(2);
      expect((err as Error).message).toContain('not valid UTF-8 (byte 0xe9)');
      expect((err as Error).message).toContain("INSERT INTO t VALUES ('caf");
    }
  });

  it('input that ends inside a UTF-8 character: the statements before it go out, then an error names the cut one', async () => {
    const bytes = Buffer.concat([
      Buffer.from('SELECT 1;\nSELECT 2;\nSELECT 3; -- '),
      Buffer.from([0xe2, 0x82]),
    ]);
    for (const size of [1, 5, bytes.length]) {
      const { got, err } = await splitInChunks(bytes, size);
      expect(got, `chunks of ${size}`).toEqual(['SELECT 1', 'SELECT 2', 'SELECT 3']);
      expect(err).toBeInstanceOf(InvalidStatementError);
      expect((err as InvalidStatementError).statementIndex).toBe(3);
      expect((err as Error).message).toContain('ends inside a UTF-8 character');
    }
  });

  it('a byte that is not UTF-8 anywhere, in any chunking: exactly the statements before it go out (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ unit: 'grapheme', maxLength: 12 }), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        fc.constantFrom(0xff, 0xc0, 0xe9, 0x80),
        fc.integer({ min: 1, max: 9 }),
        async (words, at, badByte, size) => {
          const statements = words.map((w, i) => `SELECT ${i}, '${w.replaceAll("'", "''")}'`);
          const k = at % statements.length;
          const parts = statements.map((st, i) =>
            i === k
              ? Buffer.concat([
                  Buffer.from(`${st.slice(0, -1)}`),
                  Buffer.from([badByte]),
                  Buffer.from("';\n"),
                ])
              : Buffer.from(`${st};\n`),
          );
          const bytes = Buffer.concat(parts);
          const { got, err } = await splitInChunks(bytes, size);
          expect(got).toEqual(statements.slice(0, k));
          expect(err).toBeInstanceOf(InvalidStatementError);
          expect((err as InvalidStatementError).statementIndex).toBe(k);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses pg_dump's COPY … FROM stdin data blocks instead of splitting the data as SQL", () => {
    const dump = "SET x = 1;\nCOPY public.t (a, b) FROM stdin;\n1\tit's\n2\t;\n\\.\n\nSELECT 1;";
    expect(() => split(dump)).toThrow(/COPY/);
    try {
      split(dump);
    } catch (err) {
      expect((err as InvalidStatementError).statementIndex).toBe(1);
    }
    // as pg_dump writes it: comments before the COPY
    const pgDump =
      "SET x = 1;\n\n--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: -\n--\n\nCOPY public.t (a, b) FROM stdin;\n1\tit's\n\\.\n";
    expect(() => split(pgDump)).toThrow(/COPY … FROM stdin data/);
    expect(() => split('SET x = 1;\n/* c */ COPY t FROM STDIN;\n1\n\\.\n')).toThrow(/COPY … FROM stdin data/);
    // COPY to a file or from a program is an ordinary statement
    expect(split("COPY t TO '/tmp/x.csv'; COPY t FROM '/tmp/x.csv'")).toHaveLength(2);
  });

  it('reports an unterminated quote at the end of input with the statement index and an excerpt', () => {
    for (const [text, index] of [
      ["SELECT 1; SELECT 2; INSERT INTO t VALUES ('abc", 2],
      ['SELECT $x$ never closed', 0],
      ['SELECT 1; /* open comment', 1],
      ['SELECT 1; SELECT "ident', 1],
    ] as const) {
      let caught: unknown;
      try {
        split(text);
      } catch (err) {
        caught = err;
      }
      expect(caught, text).toBeInstanceOf(InvalidStatementError);
      const e = caught as InvalidStatementError;
      expect(e.statementIndex).toBe(index);
      expect(e.code).toBe('UNTERMINATED');
      expect(e.message).toMatch(/unterminated/);
      expect(e.excerpt.length).toBeGreaterThan(0);
      expect(e.excerpt.length).toBeLessThanOrEqual(120);
    }
  });
});

describe('real dumps (Chinook)', () => {
  const dir = new URL('../../../../../shared/data/chinook/', import.meta.url);
  // Expected counts were established independently:
  // - PostgreSQL: the file was run through `psql -f` (with the database renamed) and its command tags
  //   counted: 1 DROP DATABASE, 1 CREATE DATABASE, 11 CREATE TABLE, 11 ALTER TABLE, 11 CREATE INDEX and
  //   24 INSERT (15,607 rows in all), plus the `\c` meta-command.
  // - MySQL: a separate Python scanner (MySQL quoting rules) found 60 statements: the same 59 plus `USE`.
  const kinds = (stmts: string[], dialect: Dialect) => {
    const count: Record<string, number> = {};
    let rows = 0;
    for (const s of stmts) {
      const l = lexStatement(s, dialect);
      expect(l.multiple, s.slice(0, 80)).toBe(false);
      const w = l.text.split(/\s+/, 2).join(' ').toUpperCase();
      count[w] = (count[w] ?? 0) + 1;
      if (l.insert) {
        expect(l.insert.arity, s.slice(0, 80)).toBeGreaterThan(0);
        expect(l.insert.tail).toBe('');
        rows += l.insert.rows.length;
      }
    }
    return { count, rows };
  };
  let file: URL;
  try {
    file = new URL('Chinook_PostgreSql.sql', dir);
    readFileSync(file);
  } catch {
    console.warn(`Chinook dumps not found under ${dir.pathname}: skipping the dump tests`);
    return;
  }

  it('PostgreSQL dump: 59 statements, 15,607 rows, every statement re-lexes', () => {
    const text = readFileSync(new URL('Chinook_PostgreSql.sql', dir), 'utf8');
    const meta: string[] = [];
    const stmts = splitStatements(text, { dialect: 'postgres', onMetaCommand: (c) => void meta.push(c) });
    expect(meta).toEqual(['\\c chinook;']);
    expect(stmts).toHaveLength(59);
    const { count, rows } = kinds(stmts, 'postgres');
    expect(count).toEqual({
      'DROP DATABASE': 1,
      'CREATE DATABASE': 1,
      'CREATE TABLE': 11,
      'ALTER TABLE': 11,
      'CREATE INDEX': 11,
      'INSERT INTO': 24,
    });
    expect(rows).toBe(15_607);
    // The default splitter refuses the `\c` meta-command: it changes what the file means.
    expect(() => splitStatements(text)).toThrow(/\\c/);
  });

  it('MySQL dump: 60 statements, 15,607 rows', () => {
    const text = readFileSync(new URL('Chinook_MySql.sql', dir), 'utf8');
    const stmts = splitStatements(text, { dialect: 'mysql' });
    expect(stmts).toHaveLength(60);
    const { count, rows } = kinds(stmts, 'mysql');
    expect(count['INSERT INTO']).toBe(24);
    expect(count['USE `CHINOOK`']).toBe(1);
    expect(rows).toBe(15_607);
  });

  it('streams the dump in small byte chunks with the same result', async () => {
    const bytes = readFileSync(new URL('Chinook_PostgreSql.sql', dir));
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += 997) chunks.push(bytes.subarray(i, i + 997));
    const opts = { dialect: 'postgres' as const, onMetaCommand: () => undefined };
    const out: string[] = [];
    for await (const s of splitStatementStream(chunks, opts)) out.push(s);
    expect(out).toEqual(splitStatements(bytes.toString('utf8'), opts));
  });
});

describe('StatementSplitter streaming', () => {
  it('emits a statement as soon as the chunk completing it arrives', () => {
    const sp = new StatementSplitter();
    expect(sp.push("SELECT 'abc")).toEqual([]);
    expect(sp.push('xyz -- no quote here')).toEqual([]);
    expect(sp.push("'; SELECT 2;")).toEqual(["SELECT 'abcxyz -- no quote here'", 'SELECT 2']);
    expect(sp.push('SELECT /* open comment')).toEqual([]);
    expect(sp.push(' still open ')).toEqual([]);
    expect(sp.push('*/ 3; SELECT $f$ x')).toEqual(['SELECT /* open comment still open */ 3']);
    expect(sp.push(' y ')).toEqual([]);
    expect(sp.push('$f$;')).toEqual(['SELECT $f$ x y $f$']);
    // a terminator split across chunks: the quote ends one chunk, the next has none
    expect(sp.push("SELECT 'a''")).toEqual([]);
    expect(sp.push("'")).toEqual([]);
    expect(sp.push('; SELECT 4;')).toEqual(["SELECT 'a'''", 'SELECT 4']);
    expect(sp.end()).toEqual([]);
  });

  it('a huge literal streamed in small chunks takes linear time', () => {
    const big = `INSERT INTO t VALUES ('${'x'.repeat(48 * 1024 * 1024)}'); SELECT 1;`;
    const sp = new StatementSplitter();
    const t0 = performance.now();
    const out: string[] = [];
    for (let i = 0; i < big.length; i += 65_536) out.push(...sp.push(big.slice(i, i + 65_536)));
    out.push(...sp.end());
    // quadratic rescanning took ~12 s here; linear takes ~0.1 s
    expect(performance.now() - t0).toBeLessThan(4_000);
    expect(out.map((x) => x.length)).toEqual([big.length - 11, 8]);
  });
});

// ------------------------------------------------------------------ streaming property

/** Fragments that stress chunk boundaries: quotes, escapes, comments, dollar tags, multi-byte text. */
const fragments: Record<Dialect, string[]> = {
  postgres: [
    "'a;b'",
    "'it''s'",
    "''",
    "E'\\''",
    "e'\\\\'",
    '$f$ ; ) $f$',
    '$$;$$',
    '$tag$ $t$ ; $tag$',
    '-- ; comment\n',
    '/* ; */',
    '/* a /* ; */ b */',
    '"q;""x"',
    '$1',
    'a$b',
  ],
  trino: ["'a;b'", "'it''s'", '-- ; c\n', '/* ; */', '"q;""x"'],
  snowflake: [
    "'a\\';b'",
    "'it''s'",
    '$$ ; $$',
    '// ; c\n',
    '-- ; c\n',
    '/* ; */',
    '"q;"',
    'BEGIN ',
    'BEGIN;',
    'BEGIN TRANSACTION;',
    'DECLARE x INT; ',
    'END;',
    'END IF;',
    'IF x THEN ',
    'CASE ',
  ],
  bigquery: [
    "'a\\';b'",
    '"a\\";b"',
    "''';'''",
    '""";"""',
    "r'\\d;'",
    '`a;b`',
    '# ; c\n',
    '-- ; c\n',
    '/* ; */',
    'BEGIN ',
    'BEGIN TRANSACTION;',
    'END;',
    'END IF;',
    'IF x THEN ',
    'WHILE x DO ',
    'END WHILE;',
    'LOOP ',
  ],
  mysql: [
    "'a\\';b'",
    '"a\\";b"',
    "'it''s'",
    '`a;b`',
    '# ; c\n',
    '-- ; c\n',
    '/*!40101 ; */',
    '/* ; */',
    '5--1;',
    '--',
  ],
  generic: ["'a;b'", "'it''s'", '-- ; c\n', '/* ; */', '"q;"', '`a;b`'],
};
const common = [
  ';',
  ' ',
  '\n',
  'SELECT ',
  'INSERT INTO t (a) VALUES (1, ',
  ')',
  '(',
  'x',
  'é',
  '日本',
  '😀',
  '𝄞;',
  ',',
  '-',
  '/',
  '*',
  'BEGIN ',
  'END',
  'CREATE FUNCTION f() BEGIN ATOMIC ',
  'CASE ',
];

function chunkText(text: string, cuts: number[]): string[] {
  const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(text.slice(prev, p));
    prev = p;
  }
  out.push(text.slice(prev));
  return out;
}

function chunkBytes(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

function outcome(run: () => string[]): { ok: string[] } | { error: string; index: number } {
  try {
    return { ok: run() };
  } catch (err) {
    if (err instanceof InvalidStatementError) return { error: err.code, index: err.statementIndex };
    throw err;
  }
}

async function outcomeAsync(run: () => Promise<string[]>) {
  try {
    return { ok: await run() };
  } catch (err) {
    if (err instanceof InvalidStatementError) return { error: err.code, index: err.statementIndex };
    throw err;
  }
}

describe('streaming splitter = splitStatements(text)', () => {
  for (const dialect of Object.keys(fragments) as Dialect[]) {
    const textArb = fc
      .array(fc.constantFrom(...fragments[dialect], ...common), { maxLength: 40 })
      .map((parts) => parts.join(''));

    it(`${dialect}: string chunks cut anywhere (including inside surrogate pairs)`, () => {
      fc.assert(
        fc.property(textArb, fc.array(fc.nat(), { maxLength: 12 }), (text, cuts) => {
          const expected = outcome(() => splitStatements(text, { dialect, onMetaCommand: () => undefined }));
          const got = outcome(() => {
            const sp = new StatementSplitter({ dialect, onMetaCommand: () => undefined });
            const out: string[] = [];
            for (const c of chunkText(text, cuts)) out.push(...sp.push(c));
            out.push(...sp.end());
            return out;
          });
          expect(got).toEqual(expected);
        }),
        { numRuns: Number(process.env.FC_RUNS ?? 300) },
      );
    });

    it(`${dialect}: Uint8Array chunks cut inside UTF-8 sequences`, async () => {
      await fc.assert(
        fc.asyncProperty(textArb, fc.array(fc.nat(), { maxLength: 12 }), async (text, cuts) => {
          const expected = outcome(() => splitStatements(text, { dialect, onMetaCommand: () => undefined }));
          const bytes = new TextEncoder().encode(text);
          const got = await outcomeAsync(async () => {
            const out: string[] = [];
            for await (const batch of splitStatementChunks(chunkBytes(bytes, cuts), {
              dialect,
              onMetaCommand: () => undefined,
            })) {
              out.push(...batch);
            }
            return out;
          });
          expect(got).toEqual(expected);
        }),
        { numRuns: Number(process.env.FC_RUNS ?? 150) },
      );
    });
  }

  it('every statement of the split re-lexes without error and is not multiple', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...fragments.postgres, ...common), { maxLength: 40 }).map((p) => p.join('')),
        (text) => {
          let stmts: string[];
          try {
            stmts = splitStatements(text);
          } catch {
            return; // unterminated: covered above
          }
          for (const s of stmts) {
            const l = lexStatement(s, 'postgres');
            expect(l.kind).not.toBe('empty');
            if (!/BEGIN ATOMIC/i.test(s)) expect(l.multiple, s).toBe(false);
          }
        },
      ),
      { numRuns: Number(process.env.FC_RUNS ?? 300) },
    );
  });
});

describe('splitter robustness', () => {
  it('statements re-split to themselves, and joined with ";\\n" split back to the same list', () => {
    for (const dialect of Object.keys(fragments) as Dialect[]) {
      fc.assert(
        fc.property(
          fc
            .array(fc.constantFrom(...fragments[dialect], ...common), { maxLength: 40 })
            .map((p) => p.join('')),
          (text) => {
            let stmts: string[];
            try {
              stmts = splitStatements(text, { dialect, onMetaCommand: () => undefined });
            } catch (err) {
              expect(err).toBeInstanceOf(InvalidStatementError);
              return;
            }
            // (MySQL: `--` before `;` is two minus signs, at the end of input a comment: such a statement,
            // invalid anyway, is left out)
            const dashEnd = (s: string) => s.endsWith('-') || lexStatement(s, dialect).text.endsWith('-');
            if (dialect === 'mysql' && stmts.some(dashEnd)) return;
            for (const s of stmts) {
              expect(splitStatements(s, { dialect, onMetaCommand: () => undefined })).toEqual([s]);
            }
            const texts = stmts.map((s) => lexStatement(s, dialect).text);
            expect(splitStatements(texts.join(';\n'), { dialect, onMetaCommand: () => undefined })).toEqual(
              texts,
            );
          },
        ),
        { numRuns: Number(process.env.FC_RUNS ?? 200) },
      );
    }
  });
});
