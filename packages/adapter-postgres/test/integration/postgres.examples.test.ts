import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { performanceComparison } from '../../examples/performance-comparison.js';
import { smartBatching } from '../../examples/smart-batching.js';
import { openTestDb, type TestDb } from '../helpers.js';

const ROWS = Number(process.env.EXAMPLE_ROWS ?? 1_000);
let db: TestDb;

beforeAll(async () => {
  db = await openTestDb('examples');
});
afterAll(async () => {
  await db?.dispose();
});

describe("the seed's examples, in TypeScript", () => {
  it('Smart Batching: every row arrives, in far fewer requests than statements', async () => {
    const r = await smartBatching(db.adapter(), ROWS);
    expect(r.rows).toBe(ROWS);
    expect(r.requests).toBeLessThan(ROWS / 100);
  });

  it('Performance Comparison: both runs load every row; the batched one is faster', async () => {
    const r = await performanceComparison(db.adapter(), ROWS);
    expect(r.rows).toBe(ROWS);
    expect(r.requests).toBeLessThan(ROWS / 100);
    expect(r.batchedSeconds).toBeLessThan(r.oneByOneSeconds);
  });
});
