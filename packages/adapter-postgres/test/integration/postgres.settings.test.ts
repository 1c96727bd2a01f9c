/**
 * Settings that change how PostgreSQL reads the statements after them. The server reads a whole
 * multi-statement request before it runs any of it, so `SET standard_conforming_strings` must not share
 * a request with the statements that follow; and the batcher's own lexer reads `'…'` strings the
 * standard way, so turning the setting off is refused (naming the statement) rather than misread.
 */
import { type InvalidStatementError, SQLBatcher } from '@sqlbatcher/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgreSQLAdapter } from '../../src/index.js';
import { openTestDb, PG_URL, type TestDb, usingPglite } from '../helpers.js';

let db: TestDb;

beforeAll(async () => {
  db = await openTestDb('settings');
});
afterAll(async () => {
  await db?.dispose();
});

if (usingPglite) {
  console.log(
    'postgres.settings: the session-default test needs a server connection option (PG_URL); it is skipped on PGlite',
  );
}

describe('standard_conforming_strings', () => {
  it('turning it off is refused, naming the statement; the statements before it are executed', async () => {
    await db.sql('CREATE TABLE scs_off (id int, s text)');
    const err = (await new SQLBatcher({ adapter: db.adapter() })
      .processStatements([
        "INSERT INTO scs_off (id, s) VALUES (1, 'a')",
        "INSERT INTO scs_off (id, s) VALUES (2, 'b')",
        'SET standard_conforming_strings = off',
        "INSERT INTO scs_off (id, s) VALUES (3, 'c\\'d')",
      ])
      .catch((e: unknown) => e)) as InvalidStatementError;
    expect(err).toMatchObject({
      name: 'InvalidStatementError',
      code: 'UNSUPPORTED_SETTING',
      statementIndex: 2,
    });
    expect(err.message).toContain('standard_conforming_strings = off is not supported');
    const rows = await db.sql<{ id: number }>('SELECT id FROM scs_off ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual([1, 2]);
  });

  it.runIf(!usingPglite)(
    'turning it on where the session had it off: the statements after the SET are read with it on',
    async () => {
      await db.sql('CREATE TABLE scs_a (id int, s text); CREATE TABLE scs_b (id int, s text)');
      const options = `-c search_path=${db.schema} -c standard_conforming_strings=off`;
      // (50 rows: fewer than minFastRows, so the INSERT goes in the request's text, after the SET)
      const statements = (t: string) => [
        'SET standard_conforming_strings = on',
        ...Array.from({ length: 50 }, (_, i) => `INSERT INTO ${t} (id, s) VALUES (${i}, 'a\\b\\t${i}')`),
        `UPDATE ${t} SET s = s || '\\n' WHERE id = 0`,
      ];
      const client = new pg.Client({ connectionString: PG_URL, options });
      await client.connect();
      try {
        for (const s of statements('scs_a')) await client.query(s);
      } finally {
        await client.end();
      }
      const pool = new pg.Pool({ connectionString: PG_URL, max: 2, options });
      const adapter = new PostgreSQLAdapter({ pool });
      // (after a SET the batcher keeps its session for later calls: disposing it releases the connection)
      const batcher = new SQLBatcher({ adapter });
      try {
        await batcher.processStatements(statements('scs_b'));
      } finally {
        await batcher[Symbol.asyncDispose]();
        await adapter.close();
        await pool.end();
      }
      const a = await db.sql<{ id: number; s: string }>('SELECT id, s FROM scs_a ORDER BY id');
      const b = await db.sql<{ id: number; s: string }>('SELECT id, s FROM scs_b ORDER BY id');
      expect(a[1]?.s).toBe('a\\b\\t1'); // (read with the setting on: backslashes are characters)
      expect(b).toEqual(a);
    },
  );
});
