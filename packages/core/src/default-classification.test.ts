import type { PGlite } from '@electric-sql/pglite';
import { beforeAll, describe, expect, it } from 'vitest';
import { sharedPGlite } from '../test/helpers.js';
import type { AdapterCapabilities } from './execute/adapter.js';
import { GenericAdapter } from './execute/generic-adapter.js';
import { SQLBatcher } from './sql-batcher.js';

let db: PGlite;
beforeAll(async () => {
  db = await sharedPGlite();
});

async function fresh(table: string) {
  await db.exec(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (id int PRIMARY KEY)`);
}
const ids = async (table: string) =>
  (await db.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`)).rows.map((r) => r.id);
const ins = (table: string, id: number) => `INSERT INTO ${table} (id) VALUES (${id})`;

/** A GenericAdapter over PGlite with no `classifyError`, as the README's first example builds one. */
function unclassified(capabilities: Partial<AdapterCapabilities> = {}, wrap?: (err: unknown) => unknown) {
  return new GenericAdapter({
    dialect: 'postgres',
    capabilities,
    execute: async (sql) => {
      try {
        return await db.exec(sql);
      } catch (err) {
        throw wrap ? wrap(err) : err;
      }
    },
  });
}

describe('GenericAdapter without classifyError', () => {
  it("onError 'isolate': a failed one-statement request is rolled back, so it is bisected and the good rows load", async () => {
    await fresh('dc_isolate');
    const batcher = new SQLBatcher({ adapter: unclassified(), onError: 'isolate' });
    // One merged INSERT: the duplicate key fails the whole statement.
    const n = await batcher.processStatements([
      ins('dc_isolate', 1),
      ins('dc_isolate', 1),
      ins('dc_isolate', 2),
    ]);
    expect(n).toBe(3);
    expect(await ids('dc_isolate')).toEqual([1, 2]);
    expect(batcher.report.rejected.map((r) => r.index)).toEqual([1]);
    expect(batcher.report.inDoubt).toEqual([]);
  });

  it("onError 'skip': the failed statement's inputs are rejected, not left in doubt", async () => {
    await fresh('dc_skip');
    await db.exec('INSERT INTO dc_skip VALUES (1)');
    const batcher = new SQLBatcher({ adapter: unclassified(), onError: 'skip', batchMode: false });
    await batcher.processStatements([ins('dc_skip', 1), ins('dc_skip', 2)]);
    expect(await ids('dc_skip')).toEqual([1, 2]);
    expect(batcher.report.rejected.map((r) => r.index)).toEqual([0]);
    expect(batcher.report.inDoubt).toEqual([]);
  });

  it("onError 'throw': the error is not in doubt", async () => {
    await fresh('dc_throw');
    const batcher = new SQLBatcher({ adapter: unclassified() });
    const err = await batcher
      .processStatements([ins('dc_throw', 1), ins('dc_throw', 1)])
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BATCH_FAILED', inDoubt: false });
  });

  it('stays in doubt where the failed request may have had an effect', async () => {
    // Several statements on an engine that does not run them atomically: the first may have committed.
    await fresh('dc_multi');
    const multi = new SQLBatcher({
      adapter: unclassified({ multiStatement: true, atomicMultiStatement: false }),
      onError: 'isolate',
    });
    await multi.processStatements([ins('dc_multi', 1), 'UPDATE dc_multi SET id = 2', ins('dc_multi', 2)]);
    expect(multi.report.inDoubt.map((d) => d.indices)).toEqual([[0, 1, 2]]);
    expect(multi.report.rejected).toEqual([]);

    // An engine without statement-level atomicity (declared).
    await fresh('dc_nonatomic');
    const nonAtomic = new SQLBatcher({ adapter: unclassified({ atomicStatements: false }), onError: 'skip' });
    await nonAtomic.processStatements([ins('dc_nonatomic', 1), ins('dc_nonatomic', 1)]);
    expect(nonAtomic.report.inDoubt.map((d) => d.indices)).toEqual([[0, 1]]);

    // A network error: the statement may have run before the connection broke.
    await fresh('dc_network');
    const reset = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });
    const network = new SQLBatcher({ adapter: unclassified({}, reset), onError: 'skip' });
    await network.processStatements([ins('dc_network', 1), ins('dc_network', 1)]);
    expect(network.report.inDoubt.map((d) => d.indices)).toEqual([[0, 1]]);
    expect(network.report.rejected).toEqual([]);
  });

  // A driver that stopped waiting for the answer does not know whether the statement ran: every shape
  // below must leave the batch in doubt, never rejected as rolled back.
  const lostAnswers: [string, () => unknown][] = [
    ["pg's query_timeout", () => new Error('Query read timeout')],
    ["pg's connection end", () => new Error('Connection terminated unexpectedly')],
    [
      'undici body timeout',
      () => Object.assign(new Error('Body Timeout Error'), { code: 'UND_ERR_BODY_TIMEOUT' }),
    ],
    ['undici closed socket', () => Object.assign(new Error('other side closed'), { code: 'UND_ERR_CLOSED' })],
    [
      'a DOMException-style timeout',
      () => Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }),
    ],
    ['an AbortError', () => Object.assign(new Error('This operation was aborted'), { name: 'AbortError' })],
    [
      'request-style socket timeout',
      () => Object.assign(new Error('ESOCKETTIMEDOUT'), { code: 'ESOCKETTIMEDOUT' }),
    ],
    [
      'a stream closed early',
      () => Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }),
    ],
    ['a wrapped cause', () => new Error('request failed', { cause: new Error('socket hang up') })],
  ];
  for (const [what, make] of lostAnswers) {
    it(`a one-statement request that failed with ${what} is in doubt, not rolled back`, async () => {
      const table = 'dc_lost';
      await fresh(table);
      const batcher = new SQLBatcher({ adapter: unclassified({}, make), onError: 'skip' });
      await batcher.processStatements([ins(table, 1), ins(table, 1)]);
      expect(batcher.report.inDoubt.map((d) => d.indices)).toEqual([[0, 1]]);
      expect(batcher.report.rejected).toEqual([]);
    });
  }

  it('a database error that quotes a name with "timeout" in it is still rejected, not in doubt', async () => {
    await db.exec('DROP TABLE IF EXISTS job_timeout; CREATE TABLE job_timeout (id int PRIMARY KEY)');
    const batcher = new SQLBatcher({ adapter: unclassified(), onError: 'skip' });
    await batcher.processStatements([ins('job_timeout', 1), ins('job_timeout', 1)]);
    expect(batcher.report.inDoubt).toEqual([]);
    expect(batcher.report.rejected.map((r) => r.index)).toEqual([0, 1]);
  });

  it('a plain database error on one statement is rejected, not in doubt', async () => {
    await fresh('dc_plain');
    const plain = new SQLBatcher({ adapter: unclassified(), onError: 'skip' });
    await plain.processStatements([ins('dc_plain', 1), ins('dc_plain', 1)]);
    expect(plain.report.inDoubt).toEqual([]);
    expect(plain.report.rejected.map((r) => r.index)).toEqual([0, 1]);
  });
});
