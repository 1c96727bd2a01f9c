import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nonAtomicAdapter as nonAtomic } from '../test/helpers.js';
import type { BatchOutcome, QueryRecord } from './execute/plugin.js';
import { SQLBatcher } from './sql-batcher.js';

let db: PGlite;
let requests: string[][];

function nonAtomicAdapter() {
  return nonAtomic(db, requests);
}

/** 40 single-row INSERTs with duplicates of id 3 at positions 12 and 30, a barrier every 8. */
function stream(): string[] {
  const out: string[] = [];
  for (let i = 0; i < 40; i++) {
    out.push(`INSERT INTO p (id, v) VALUES (${i === 12 || i === 30 ? 3 : i}, 'v${i}')`);
    if (i % 8 === 7) out.push(`UPDATE p SET v = v || '+' WHERE id = ${i}`);
  }
  return out;
}

beforeAll(async () => {
  db = new PGlite();
  await db.waitReady;
});
afterAll(async () => {
  await db.close();
});

async function reset() {
  requests = [];
  await db.exec('DROP TABLE IF EXISTS p; CREATE TABLE p (id int PRIMARY KEY, v text)');
}

async function ids(): Promise<number[]> {
  return (await db.query<{ id: number }>('SELECT id FROM p ORDER BY id')).rows.map((r) => r.id);
}

describe("effect 'partial': a non-atomic request that stopped at one statement", () => {
  it("onError 'isolate' keeps what ran, isolates the failed statement and re-sends only what never ran", async () => {
    await reset();
    const batcher = new SQLBatcher({ adapter: nonAtomicAdapter(), onError: 'isolate' });
    await batcher.processStatements(stream());
    const rejected = batcher.report.rejected.map((r) => r.sql);
    expect(rejected).toEqual([
      "INSERT INTO p (id, v) VALUES (3, 'v12')",
      "INSERT INTO p (id, v) VALUES (3, 'v30')",
    ]);
    expect(await ids()).toEqual(Array.from({ length: 40 }, (_, i) => i).filter((i) => i !== 12 && i !== 30));
    // Every UPDATE ran exactly once (one '+'), though requests were resumed after failures.
    const plus = await db.query<{ v: string }>("SELECT v FROM p WHERE v LIKE '%+%' ORDER BY id");
    expect(plus.rows.map((r) => r.v)).toEqual(['v7+', 'v15+', 'v23+', 'v31+', 'v39+']);
    expect(batcher.report.inDoubt).toEqual([]);
  });

  it("onError 'skip' rejects the whole failed statement and still runs the statements after it", async () => {
    await reset();
    const batcher = new SQLBatcher({ adapter: nonAtomicAdapter(), onError: 'skip' });
    await batcher.processStatements(stream());
    // The merged INSERTs of rows 8–15 and 24–31 (each between two UPDATEs) failed as wholes.
    expect(batcher.report.rejected).toHaveLength(16);
    for (const r of batcher.report.rejected) expect(r.sql).toMatch(/^INSERT/);
    const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
    expect(await ids()).toEqual([...range(0, 7), ...range(16, 23), ...range(32, 39)]);
    expect(batcher.report.inDoubt).toEqual([]);
  });

  it('tells afterBatch, the collector and the report what the failed request applied', async () => {
    await reset();
    const outcomes: BatchOutcome[] = [];
    const records: QueryRecord[] = [];
    const batcher = new SQLBatcher({
      adapter: nonAtomicAdapter(),
      onError: 'skip',
      mergeInserts: false,
      collector: { record: (r) => void records.push(r) },
      plugins: [{ name: 'outcomes', afterBatch: (_b, o) => void outcomes.push(o) }],
    });
    // #5 repeats id 0: the request stops there after applying #0–#4; #6–#9 are sent again.
    const stmts = Array.from(
      { length: 10 },
      (_, i) => `INSERT INTO p (id, v) VALUES (${i === 5 ? 0 : i}, 'x')`,
    );
    await batcher.processStatements(stmts);
    expect(await ids()).toEqual([0, 1, 2, 3, 4, 6, 7, 8, 9]);
    expect(outcomes.map((o) => o.success)).toEqual([false, true]);
    expect(outcomes[0]?.partial).toEqual({
      failedPosition: 5,
      appliedIndices: [0, 1, 2, 3, 4],
      appliedRows: 5,
      notExecutedIndices: [6, 7, 8, 9],
      rowsAffected: 5,
    });
    expect(outcomes[1]?.partial).toBeUndefined();
    expect(records.map((r) => [r.success, r.rows, r.appliedStatements, r.notExecutedStatements])).toEqual([
      [false, 5, 5, 4],
      [true, 4, undefined, undefined],
    ]);
    expect(batcher.report.rowsAffected).toBe(9);
  });

  it("onError 'throw' reports what was applied and what never ran", async () => {
    await reset();
    const batcher = new SQLBatcher({ adapter: nonAtomicAdapter() });
    const err = await batcher.processStatements(stream()).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/before it were applied, the ones after it were not executed/);
    expect((err as { inDoubt: boolean }).inDoubt).toBe(false);
    expect(requests).toHaveLength(1);
  });
});
