import type { PGlite } from '@electric-sql/pglite';
import { beforeAll, describe, expect, it } from 'vitest';
import { nonAtomicAdapter as nonAtomic, sharedPGlite } from '../test/helpers.js';
import { GenericAdapter } from './execute/generic-adapter.js';
import type { Plugin } from './execute/plugin.js';
import { SQLBatcher } from './sql-batcher.js';

let db: PGlite;
const nonAtomicAdapter = () => nonAtomic(db);
beforeAll(async () => {
  db = await sharedPGlite();
});
async function reset() {
  await db.exec('DROP TABLE IF EXISTS ph_p; CREATE TABLE ph_p (id int PRIMARY KEY, v text)');
}
async function ids() {
  return (await db.query<{ id: number }>('SELECT id FROM ph_p ORDER BY id')).rows.map((r) => r.id);
}
// #5 repeats id 0: request stops at #5 after applying #0-#4
const stmts = Array.from(
  { length: 10 },
  (_, i) => `INSERT INTO ph_p (id, v) VALUES (${i === 5 ? 0 : i}, 'x')`,
);

function account(batcher: SQLBatcher, err: { notSentIndices?: number[] } | undefined) {
  const notSent = err?.notSentIndices ?? [];
  const rejected = batcher.report.rejected.map((r) => r.index);
  const doubt = batcher.report.inDoubt.flatMap((d) => d.indices);
  return { notSent, rejected, doubt };
}

/** Run {@link stmts} with `onError: 'skip'` and `plugin`; what happened to each statement. */
async function runWith(plugin: Plugin) {
  await reset();
  const batcher = new SQLBatcher({
    adapter: nonAtomicAdapter(),
    onError: 'skip',
    mergeInserts: false,
    plugins: [plugin],
  });
  const err = (await batcher.processStatements(stmts).catch((e: unknown) => e)) as {
    code?: string;
    notSentIndices?: number[];
  };
  return { code: err?.code, applied: await ids(), ...account(batcher, err) };
}

const fail = (what: string) => () => {
  throw new Error(what);
};

/**
 * Plugin hooks that throw while a partial failure (a non-atomic request that stopped part-way at #5)
 * is handled: every statement stays accounted for, and applied or rejected ones are never called not sent.
 */
describe('hooks throwing around a partial failure', () => {
  it('an onError hook throws: the applied statements are not named not sent, the rest is', async () => {
    const r = await runWith({ name: 'p', onError: fail('pager down') });
    expect(r.code).toBe('PLUGIN_FAILED');
    expect(r.applied).toEqual([0, 1, 2, 3, 4]);
    expect(r.notSent).toEqual([5, 6, 7, 8, 9]);
  });

  it('beforeBatch throws while the rest is resumed: the failed statement is rejected, the rest named not sent', async () => {
    let n = 0;
    const r = await runWith({
      name: 'p',
      beforeBatch: () => {
        if (++n === 2) throw new Error('quota');
      },
    });
    expect(r.code).toBe('PLUGIN_FAILED');
    expect(r.applied).toEqual([0, 1, 2, 3, 4]);
    expect(r.rejected).toEqual([5]);
    expect(r.notSent).toEqual([6, 7, 8, 9]);
  });

  it('onRejected throws for the failed statement: it is rejected, the rest named not sent', async () => {
    const r = await runWith({ name: 'p', onRejected: fail('sink') });
    expect(r.code).toBe('PLUGIN_FAILED');
    expect(r.applied).toEqual([0, 1, 2, 3, 4]);
    expect(r.rejected).toEqual([5]);
    expect(r.notSent).toEqual([6, 7, 8, 9]);
  });

  it('isolate, onRejected throws: a rejected statement is not also named not sent', async () => {
    await db.exec('DROP TABLE IF EXISTS ph_q; CREATE TABLE ph_q (id int PRIMARY KEY)');
    const adapter = new GenericAdapter({
      dialect: 'postgres',
      capabilities: { multiStatement: true, atomicMultiStatement: true },
      execute: async (sql: string) => {
        await db.exec(`BEGIN; ${sql}; COMMIT`).catch(async (e) => {
          await db.exec('ROLLBACK');
          throw e;
        });
        return { rowCount: 1 };
      },
      classifyError: () => ({ transient: false, effect: 'rolled-back' }),
    });
    const st = Array.from({ length: 8 }, (_, i) => `INSERT INTO ph_q (id) VALUES (${i === 5 ? 0 : i})`);
    const batcher = new SQLBatcher({
      adapter,
      onError: 'isolate',
      mergeInserts: false,
      plugins: [
        {
          name: 'p',
          onRejected: fail('sink'),
        },
      ],
    });
    const err = await batcher.processStatements(st).catch((e) => e);
    const applied = (await db.query<{ id: number }>('SELECT id FROM ph_q ORDER BY id')).rows.map((r) => r.id);
    const { notSent, rejected } = account(batcher, err);
    expect(rejected.length).toBeGreaterThan(0);
    for (const i of rejected) expect(notSent, `#${i} rejected`).not.toContain(i);
    for (const i of applied) expect(notSent, `#${i} applied`).not.toContain(i);
  });
});
