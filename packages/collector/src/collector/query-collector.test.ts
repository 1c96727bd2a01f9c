import type { QueryRecord } from '@sqlbatcher/core';
import { describe, expect, it } from 'vitest';
import { QueryCollector } from './query-collector.js';

function rec(over: Partial<QueryRecord> = {}): QueryRecord {
  const sql = over.sql ?? 'INSERT INTO t (a) VALUES (1),(2)';
  return {
    sql,
    bytes: Buffer.byteLength(sql),
    executionTimeMs: 10,
    batchSize: 2,
    rowsSent: 2,
    rows: 2,
    success: true,
    error: undefined,
    retries: 0,
    dryRun: false,
    startTime: 1_000,
    metadata: undefined,
    ...over,
  };
}

describe('QueryCollector', () => {
  it('aggregates counts, bytes, rows, retries and success rate', () => {
    const c = new QueryCollector();
    c.countInput(7);
    c.record(rec({ executionTimeMs: 10, startTime: 1000, batchSize: 4, rowsSent: 4, rows: 4 }));
    c.record(rec({ executionTimeMs: 30, startTime: 1010, batchSize: 2, retries: 2, rows: undefined }));
    c.record(
      rec({
        executionTimeMs: 20,
        startTime: 1040,
        batchSize: 1,
        rowsSent: 1,
        rows: undefined,
        success: false,
        error: { message: 'duplicate key', code: '23505', statementIndex: 6 },
      }),
    );
    const s = c.getStats();
    expect(s.count).toBe(3);
    expect(s.successCount).toBe(2);
    expect(s.failureCount).toBe(1);
    expect(s.successRate).toBeCloseTo(2 / 3);
    expect(s.avgBatchSize).toBeCloseTo(7 / 3);
    expect(s.totalTimeMs).toBe(60);
    expect(s.avgQueryTimeMs).toBe(20);
    expect(s.minQueryTimeMs).toBe(10);
    expect(s.maxQueryTimeMs).toBe(30);
    expect(s.p50QueryTimeMs).toBe(20);
    expect(s.p99QueryTimeMs).toBe(30);
    expect(s.statementsIn).toBe(7);
    expect(s.mergeRatio).toBeCloseTo(7 / 3);
    expect(s.rowsSent).toBe(7);
    expect(s.rowsAffected).toBe(4);
    expect(s.retries).toBe(2);
    expect(s.wallTimeMs).toBe(60);
    expect(s.throughput.statementsPerSecond).toBeCloseTo((7 * 1000) / 60);
    expect(s.errorsByCode).toEqual({ '23505': 1 });
    expect(s.totalBytes).toBe(3 * Buffer.byteLength('INSERT INTO t (a) VALUES (1),(2)'));
  });

  it('falls back to the sum of batch sizes when countInput is never called', () => {
    const c = new QueryCollector();
    c.record(rec({ batchSize: 3 }));
    c.record(rec({ batchSize: 5 }));
    expect(c.getStats().statementsIn).toBe(8);
  });

  it('reports an empty run without NaN', () => {
    const s = new QueryCollector().getStats();
    expect(s.count).toBe(0);
    expect(s.successRate).toBe(1);
    for (const v of [s.avgBatchSize, s.avgQueryTimeMs, s.p95QueryTimeMs, s.mergeRatio, s.wallTimeMs]) {
      expect(v).toBe(0);
    }
    expect(s.firstStartTime).toBeUndefined();
  });

  it('keeps the newest successful records and the failed ones, statistics for all', () => {
    const c = new QueryCollector({ maxRecords: 3 });
    for (let i = 0; i < 10; i++) {
      c.record(
        rec({ sql: `SELECT ${i}`, success: i !== 2, error: i === 2 ? { message: 'boom' } : undefined }),
      );
    }
    const kept = c.getQueries();
    expect(kept.map((q) => q.sql)).toEqual(['SELECT 2', 'SELECT 7', 'SELECT 8', 'SELECT 9']);
    expect(kept.map((q) => q.seq)).toEqual([2, 7, 8, 9]);
    expect(c.getFailedQueries().map((q) => q.sql)).toEqual(['SELECT 2']);
    const s = c.getStats();
    expect(s.count).toBe(10);
    expect(s.droppedRecords).toBe(6);
  });

  it('truncates SQL past the byte budget but keeps the byte count', () => {
    const c = new QueryCollector({ sqlBudgetBytes: 100, truncatedSqlLength: 10 });
    const big = `INSERT INTO t VALUES ${'(1),'.repeat(20)}(1)`;
    c.record(rec({ sql: 'SELECT 1' }));
    c.record(rec({ sql: big }));
    const [small, truncated] = c.getQueries();
    expect(small?.sql).toBe('SELECT 1');
    expect(small?.sqlTruncated).toBe(false);
    expect(truncated?.sql).toBe(big.slice(0, 10));
    expect(truncated?.sqlTruncated).toBe(true);
    expect(truncated?.bytes).toBe(Buffer.byteLength(big));
    expect(c.getStats().truncatedRecords).toBe(1);
  });

  it('frees the budget of dropped records', () => {
    const c = new QueryCollector({ sqlBudgetBytes: 25, truncatedSqlLength: 3, maxRecords: 1 });
    const a = 'SELECT 1111111111111111'; // 23 bytes
    c.record(rec({ sql: a }));
    c.record(rec({ sql: a }));
    expect(c.getQueries()[0]?.sqlTruncated).toBe(false);
  });

  it('holds bounded memory over a million requests', () => {
    const c = new QueryCollector();
    const sql = `INSERT INTO t (a, b) VALUES ${'(1, 2),'.repeat(40)}(1, 2)`;
    const bytes = Buffer.byteLength(sql);
    for (let i = 0; i < 1_000_000; i++) {
      c.record({
        sql: `${sql} /* ${i} */`,
        bytes: bytes + 6,
        executionTimeMs: (i % 100) + 1,
        batchSize: 41,
        rowsSent: 41,
        rows: 41,
        success: true,
        error: undefined,
        retries: 0,
        dryRun: false,
        startTime: i,
        metadata: undefined,
      });
    }
    const s = c.getStats();
    expect(s.count).toBe(1_000_000);
    expect(c.getQueries()).toHaveLength(10_000);
    expect(s.droppedRecords).toBe(990_000);
    // Percentiles from the histogram once past the exact window: within 1%.
    expect(Math.abs(s.p50QueryTimeMs - 50) / 50).toBeLessThanOrEqual(0.01);
    expect(Math.abs(s.p99QueryTimeMs - 99) / 99).toBeLessThanOrEqual(0.01);
    expect(s.maxQueryTimeMs).toBe(100);
    // (a million records take a few seconds; more on a loaded CI machine, which is not a failure)
  }, 60_000);

  it('dryRun keeps everything and renders the script with the delimiter', () => {
    const c = new QueryCollector({ dryRun: true, delimiter: ';' });
    expect(c.maxRecords).toBe(Number.POSITIVE_INFINITY);
    c.record(rec({ sql: 'INSERT INTO t VALUES (1),(2)' }));
    c.record(rec({ sql: 'UPDATE t SET a = 2' }));
    expect(c.getQueries().every((q) => q.dryRun)).toBe(true);
    expect(c.getStats().dryRunCount).toBe(2);
    expect(c.toScript()).toBe('INSERT INTO t VALUES (1),(2);\nUPDATE t SET a = 2;\n');
  });

  it('toScript refuses an incomplete script', () => {
    const c = new QueryCollector({ maxRecords: 1 });
    c.record(rec({ sql: 'SELECT 1' }));
    c.record(rec({ sql: 'SELECT 2' }));
    expect(() => c.toScript()).toThrow(/dropped or truncated/);
  });

  it('reset forgets records and statistics', () => {
    const c = new QueryCollector();
    c.countInput(3);
    c.record(rec());
    c.reset();
    expect(c.getQueries()).toEqual([]);
    expect(c.getStats().count).toBe(0);
    expect(c.getStats().statementsIn).toBe(0);
  });

  it('reports the column count and the column adjustment factor of INSERT requests', () => {
    const c = new QueryCollector({ referenceColumnCount: 10 });
    c.record(rec({ sql: 'INSERT INTO t (a, b, c, d, e) VALUES (1,2,3,4,5)' })); // 10/5 = 2
    c.record(
      rec({ sql: 'INSERT INTO t (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t) VALUES (1)' }),
    ); // 0.5
    c.record(rec({ sql: 'INSERT INTO t (a) VALUES (1)' })); // 10, clamped to 2
    c.record(rec({ sql: 'UPDATE t SET a = 1' }));
    const s = c.getStats();
    expect(s.avgColumns).toBeCloseTo(26 / 3);
    expect(s.columnAdjustmentFactor).toBeCloseTo((2 + 0.5 + 2) / 3);
    expect(c.getQueries().map((q) => q.columns)).toEqual([5, 20, 1, undefined]);
    expect(new QueryCollector().getStats().columnAdjustmentFactor).toBeUndefined();
  });

  it('rejects invalid options', () => {
    expect(() => new QueryCollector({ minAdjustmentFactor: 3, maxAdjustmentFactor: 2 })).toThrow(RangeError);
    expect(() => new QueryCollector({ maxRecords: -1 })).toThrow(RangeError);
    expect(() => new QueryCollector({ sqlBudgetBytes: Number.NaN })).toThrow(RangeError);
  });
});
