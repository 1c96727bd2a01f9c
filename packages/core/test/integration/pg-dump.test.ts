import { readFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lexStatement, SQLBatcher, splitStatementChunks, splitStatements } from '../../src/index.js';
import { pgliteAdapter } from '../helpers.js';

/**
 * A real `pg_dump --inserts --rows-per-insert=4` (PostgreSQL 15.20, with its `\restrict` line, a
 * plpgsql `$fn$` body, a `BEGIN ATOMIC` SQL function, COMMENT ON with quotes, a "MixedCase" table and
 * rows full of `;`, quotes, backslashes, newlines, comment markers, CJK and emoji) streamed through
 * the splitter and the batcher into PGlite ends with exactly the rows the source database had
 * (`json_agg` captured from the source server in fixtures/*.json).
 */
const dir = new URL('../fixtures/', import.meta.url);
const dump = readFileSync(new URL('pg_dump_inserts.sql', dir));
const expectedItems = JSON.parse(readFileSync(new URL('pg_dump_items.json', dir), 'utf8'));
const expectedMixed = JSON.parse(readFileSync(new URL('pg_dump_mixedcase.json', dir), 'utf8'));

let db: PGlite;
beforeAll(async () => {
  db = await PGlite.create();
}, 60_000);
afterAll(async () => {
  await db?.close();
});

describe('pg_dump round trip', () => {
  it('splits into the 31 statements psql runs (counted from its command tags)', () => {
    // psql -f: 11 SET, 1 SELECT set_config, 2 CREATE FUNCTION, 2 CREATE TABLE, 1 COMMENT,
    // 12 INSERT, 2 ALTER TABLE
    const stmts = splitStatements(dump.toString('utf8'));
    expect(stmts).toHaveLength(31);
    const kinds = stmts.map((s) => lexStatement(s, 'postgres').kind);
    expect(kinds.filter((k) => k === 'insert')).toHaveLength(12);
    expect(kinds.filter((k) => k === 'session')).toHaveLength(11);
  });

  it('streamed in small byte chunks through the batcher, the data and functions arrive intact', async () => {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < dump.length; i += 333) chunks.push(dump.subarray(i, i + 333));
    const batcher = new SQLBatcher({ adapter: pgliteAdapter(db), maxBytes: 2_000 });
    const n = await batcher.processStatements(splitStatementChunks(chunks, { dialect: 'postgres' }));
    expect(n).toBe(31);
    // merged: fewer requests than statements
    expect(batcher.report.requests).toBeLessThan(31);
    await db.exec("SET TimeZone = 'UTC'");
    const items = await db.query<{ j: string }>(
      'SELECT json_agg(t ORDER BY id)::text AS j FROM public.items t',
    );
    const mixed = await db.query<{ j: string }>(
      'SELECT json_agg(t ORDER BY id)::text AS j FROM public."MixedCase" t',
    );
    expect(JSON.parse(items.rows[0]?.j as string)).toEqual(expectedItems);
    expect(JSON.parse(mixed.rows[0]?.j as string)).toEqual(expectedMixed);
    const f = await db.query<{ a: number; b: number }>('SELECT public.add_one(1) AS a, public.twice(3) AS b');
    expect(f.rows[0]).toEqual({ a: 2, b: 6 });
    const c = await db.query<{ d: string }>(
      "SELECT obj_description('public.items'::regclass, 'pg_class') AS d",
    );
    expect(c.rows[0]?.d).toBe("items; it's a table -- with /* tricky */ comment");
  });
});
