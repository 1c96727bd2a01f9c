import { PGlite } from '@electric-sql/pglite';
import { splitStatements } from '@sqlbatcher/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDeadLetter } from './dead-letter-writer.js';

/** A statement with an arbitrary string literal, maybe a final `;`, maybe a trailing line comment. */
const statement = fc
  .record({
    value: fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replace(/\0/g, '')),
    comment: fc.option(fc.string({ unit: 'binary', maxLength: 20 }).map((s) => s.replace(/[\r\n\0]/g, ' '))),
    semicolon: fc.boolean(),
  })
  .map(({ value, comment, semicolon }) => {
    const core = `INSERT INTO t (a) VALUES ('${value.replace(/'/g, "''")}')`;
    let sql = core;
    if (semicolon) sql += ';';
    if (comment !== null) sql += ` -- ${comment}`;
    return { sql, core, value };
  });

/** Error text mixing arbitrary characters with line breaks and SQL that must stay commented out. */
const hostile = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: 10 }),
      fc.constantFrom(
        '\n',
        '\r',
        '\r\n',
        '\u2028',
        '*/',
        '/*',
        ';',
        "'",
        '$$',
        "INSERT INTO t (a) VALUES ('LEAK');",
      ),
    ),
    { maxLength: 8 },
  )
  .map((parts) => parts.join(''));
const error = fc.oneof(
  hostile,
  hostile.map((m) => new Error(m)),
  fc
    .record({ message: hostile, code: fc.string(), detail: hostile })
    .map(({ message, code, detail }) => Object.assign(new Error(message), { code, detail })),
);
const entries = fc.array(fc.tuple(statement, error), { minLength: 1, maxLength: 6 });
const file = (list: Array<[{ sql: string }, unknown]>) =>
  list.map(([st, err], index) => formatDeadLetter({ index, sql: st.sql, error: err })).join('');

let db: PGlite;
beforeAll(async () => {
  db = await PGlite.create();
  await db.exec('CREATE TABLE t (n serial, a text)');
}, 60_000);
afterAll(async () => {
  await db?.close();
});

describe('formatDeadLetter (properties)', () => {
  it('PostgreSQL runs exactly the statements, in order; nothing in an error comment executes', async () => {
    await fc.assert(
      fc.asyncProperty(entries, async (list) => {
        await db.exec('TRUNCATE t');
        await db.exec(file(list));
        const { rows } = await db.query<{ a: string }>('SELECT a FROM t ORDER BY n');
        expect(rows.map((r) => r.a)).toEqual(list.map(([st]) => st.value));
      }),
      { numRuns: 150 },
    );
  }, 60_000);

  it("core's splitStatements finds exactly the statements, preceded only by comment lines", () => {
    fc.assert(
      fc.property(entries, (list) => {
        const split = splitStatements(file(list), { dialect: 'postgres' });
        expect(split).toHaveLength(list.length);
        split.forEach((got, i) => {
          const { core } = (list[i] as [{ core: string }, unknown])[0];
          const at = got.lastIndexOf(core);
          expect(at).toBeGreaterThanOrEqual(0);
          for (const line of got.slice(0, at).split('\n').slice(0, -1))
            expect(line.startsWith('--')).toBe(true);
        });
      }),
      { numRuns: 300 },
    );
  });
});
