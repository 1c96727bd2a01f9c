import type { PGlite } from '@electric-sql/pglite';
import { beforeAll, describe, expect, it } from 'vitest';
import { pgliteAdapter, sharedPGlite } from '../test/helpers.js';
import { SQLBatcher } from './sql-batcher.js';

let db: PGlite;
beforeAll(async () => {
  db = await sharedPGlite();
});

async function fresh(table: string) {
  await db.exec(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY)`);
}
const count = async (table: string) =>
  (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n;

describe("transaction 'all' + savepoints, onError 'throw'", () => {
  it('rolls back only to the savepoint: the caller may still commit the rest explicitly', async () => {
    await fresh('sp_a');
    const batcher = new SQLBatcher({
      adapter: pgliteAdapter(db),
      transaction: 'all',
      savepoints: true,
      maxBytes: 60,
    });
    for (let i = 0; i < 5; i++) await batcher.addStatement(`INSERT INTO sp_a (id) VALUES (${i})`);
    await batcher.flush();
    await batcher.addStatement('INSERT INTO sp_a (id) VALUES (1)'); // duplicate key
    const err = await batcher.flush().catch((e: unknown) => e);
    expect((err as { name: string; failedStatementIndex?: number }).name).toBe('BatchExecutionError');
    expect((err as { statementIndices: number[] }).statementIndices).toEqual([5]);
    await batcher.addStatement('INSERT INTO sp_a (id) VALUES (9)');
    await batcher.commit();
    await batcher.close();
    expect(await count('sp_a')).toBe(6);
  });

  it('dispose after such a failure rolls the whole transaction back (never commits on its own)', async () => {
    await fresh('sp_b');
    {
      await using batcher = new SQLBatcher({
        adapter: pgliteAdapter(db),
        transaction: 'all',
        savepoints: true,
      });
      await batcher.processStatements(['INSERT INTO sp_b (id) VALUES (1)']).catch(() => undefined);
      // processStatements owns its transaction: it committed. The next failing run is rolled back whole.
      const err = await batcher
        .processStatements(['INSERT INTO sp_b (id) VALUES (2)', 'INSERT INTO sp_b (id) VALUES (1)'])
        .catch((e: unknown) => e);
      expect((err as { name: string }).name).toBe('BatchExecutionError');
      await batcher.addStatement('INSERT INTO sp_b (id) VALUES (3)');
      await batcher.flush();
      await batcher.addStatement('INSERT INTO sp_b (id) VALUES (3)');
      await batcher.flush().catch(() => undefined);
    }
    expect((await db.query<{ id: number }>('SELECT id FROM sp_b ORDER BY id')).rows.map((r) => r.id)).toEqual(
      [1],
    );
  });
});
