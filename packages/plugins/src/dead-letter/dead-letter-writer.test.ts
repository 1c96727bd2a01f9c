import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { splitStatements } from '@sqlbatcher/core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DeadLetterWriter, formatDeadLetter } from './dead-letter-writer.js';

let dir: string;
let db: PGlite;
// PGlite compiles PostgreSQL's WASM on start: seconds on a busy machine.
beforeAll(async () => {
  db = await PGlite.create();
}, 60_000);
afterAll(async () => {
  await db?.close();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sqlbatcher-dlq-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('formatDeadLetter', () => {
  it('comments every line of a multi-line error and terminates the statement', () => {
    const err = Object.assign(new Error('first line\nsecond line\r\nthird\rfourth'), { code: '23505' });
    expect(formatDeadLetter({ index: 3, sql: 'INSERT INTO t VALUES (1)', error: err })).toBe(
      '-- statement #3 failed: first line\n-- second line\n-- third\n-- fourth\n-- code: 23505\nINSERT INTO t VALUES (1);\n\n',
    );
  });

  it('puts the terminator on its own line after a trailing line comment', () => {
    expect(formatDeadLetter({ index: 0, sql: 'SELECT 1 -- note', error: 'e' })).toBe(
      '-- statement #0 failed: e\nSELECT 1 -- note\n;\n\n',
    );
    expect(formatDeadLetter({ index: 0, sql: 'SELECT 1;', error: 'e' })).toBe(
      '-- statement #0 failed: e\nSELECT 1;\n\n',
    );
  });
});

describe('DeadLetterWriter', () => {
  it('writes a file that runs as SQL, with each error commented above its statement', async () => {
    const path = join(dir, 'rejected.sql');
    const w = new DeadLetterWriter({ path });
    await w.init();
    const nasty =
      "INSERT INTO t (id, note) VALUES (2, 'it''s -- not a comment\n; nor a terminator') -- trailing";
    await w.onRejected([
      {
        index: 4,
        sql: 'INSERT INTO t (id, note) VALUES (1, $$a;b$$)',
        error: Object.assign(new Error('duplicate key value violates unique constraint "t_pkey"'), {
          code: '23505',
          detail: 'Key (id)=(1) already exists.\n*/ DROP TABLE t; --',
        }),
      },
    ]);
    await w.onRejected([{ index: 9, sql: nasty, error: new Error('line one\nDROP TABLE t;') }]);
    await w.cleanup();
    expect(w.count).toBe(2);

    const text = await readFile(path, 'utf8');
    expect(text).toContain(
      '-- statement #4 failed: duplicate key value violates unique constraint "t_pkey"\n',
    );
    expect(text).toContain('-- detail: Key (id)=(1) already exists.\n-- */ DROP TABLE t; --\n');
    expect(text).toContain('-- DROP TABLE t;\n');

    const statements = splitStatements(text, { dialect: 'postgres' });
    expect(statements).toHaveLength(2);
    await db.exec('CREATE TABLE t (id int PRIMARY KEY, note text)');
    await db.exec(text);
    const rows = await db.query<{ id: number; note: string }>('SELECT id, note FROM t ORDER BY id');
    expect(rows.rows).toEqual([
      { id: 1, note: 'a;b' },
      { id: 2, note: "it's -- not a comment\n; nor a terminator" },
    ]);
  });

  it('replaces an old file at init, or appends when asked', async () => {
    const path = join(dir, 'dl.sql');
    await writeFile(path, '-- old run\nSELECT 1;\n');
    const fresh = new DeadLetterWriter({ path });
    await fresh.init();
    await fresh.cleanup();
    expect(await readFile(path, 'utf8')).not.toContain('old run');

    await writeFile(path, '-- old run\nSELECT 1;\n');
    const appending = new DeadLetterWriter({ path, append: true });
    await appending.init();
    await appending.onRejected([{ index: 0, sql: 'SELECT 2', error: 'e' }]);
    await appending.cleanup();
    expect(await readFile(path, 'utf8')).toBe(
      '-- old run\nSELECT 1;\n-- statement #0 failed: e\nSELECT 2;\n\n',
    );
  });

  it('serialises concurrent writes', async () => {
    const path = join(dir, 'c.sql');
    const w = new DeadLetterWriter({ path });
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => w.onRejected([{ index: i, sql: `SELECT ${i}`, error: `e${i}` }])),
    );
    await w.cleanup();
    const text = await readFile(path, 'utf8');
    for (let i = 0; i < 50; i++) expect(text).toContain(`-- statement #${i} failed: e${i}\nSELECT ${i};\n`);
    expect(splitStatements(text, { dialect: 'postgres' })).toHaveLength(50);
  });
});
