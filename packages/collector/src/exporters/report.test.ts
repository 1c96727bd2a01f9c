import type { QueryRecord } from '@sqlbatcher/core';
import { describe, expect, it } from 'vitest';
import { combineCollectors } from '../collector/combine.js';
import { QueryCollector } from '../collector/query-collector.js';
import { suggestMaxBytes } from '../stats/suggest.js';
import { formatJSONReport, toJSONReport } from './json.js';
import { formatStatsTable } from './table.js';

function rec(over: Partial<QueryRecord> = {}): QueryRecord {
  return {
    sql: 'INSERT INTO users (id, name) VALUES (1, $$a$$), (2, $$b$$)',
    bytes: 1024,
    executionTimeMs: 24,
    batchSize: 1000,
    rowsSent: 1000,
    rows: 1000,
    success: true,
    error: undefined,
    retries: 0,
    dryRun: false,
    startTime: 0,
    metadata: { chunk: 1 },
    ...over,
  };
}

describe('formatStatsTable', () => {
  it('prints the aggregated statistics block', () => {
    const c = new QueryCollector();
    for (let i = 0; i < 10; i++) c.record(rec({ startTime: i * 25, executionTimeMs: 25 }));
    const text = formatStatsTable(c.getStats());
    const lines = text.split('\n');
    expect(lines[0]).toBe('Aggregated Statistics:');
    expect(text).toMatch(/^Total Queries: +10$/m);
    expect(text).toMatch(/^Average Batch Size: +1,000$/m);
    expect(text).toMatch(/^Total Execution Time: +0\.25 seconds$/m);
    expect(text).toMatch(/^Average Query Time: +0\.025 seconds$/m);
    expect(text).toMatch(/^Total Bytes: +10,240 bytes$/m);
    expect(text).toMatch(/^Success Rate: +100\.0%$/m);
    expect(text).not.toMatch(/Errors:/);
    // values start in one column
    const cols = new Set(lines.slice(1).map((l) => /^[^:]+: +/.exec(l)?.[0].length));
    expect(cols.size).toBe(1);
  });

  it('lists errors by code', () => {
    const c = new QueryCollector();
    c.record(rec({ success: false, error: { message: 'dup', code: '23505' } }));
    expect(formatStatsTable(c.getStats())).toMatch(/^Errors: +23505: 1$/m);
  });
});

describe('JSON report', () => {
  it('round-trips stats and queries', () => {
    const c = new QueryCollector();
    c.record(rec());
    const at = new Date('2026-01-01T00:00:00Z');
    const parsed = JSON.parse(formatJSONReport(c, { generatedAt: at, sqlLength: 11 }));
    expect(parsed.version).toBe(1);
    expect(parsed.generatedAt).toBe('2026-01-01T00:00:00.000Z');
    expect(parsed.stats.count).toBe(1);
    expect(parsed.queries[0].sql).toBe('INSERT INTO');
    expect(parsed.queries[0].sqlTruncated).toBe(true);
    expect(parsed.queries[0].metadata).toEqual({ chunk: 1 });
    expect(toJSONReport(c, { includeQueries: false }).queries).toBeUndefined();
  });
});

describe('suggestMaxBytes', () => {
  const statsFor = (ms: number, bytes: number) => {
    const c = new QueryCollector();
    c.record(rec({ executionTimeMs: ms, bytes }));
    return c.getStats();
  };
  it('shrinks from the average request size when requests are slow', () => {
    expect(suggestMaxBytes(statsFor(250, 500_000), { currentMaxBytes: 1_000_000 })).toBe(400_000);
  });
  it('grows from the current limit when requests are fast, within bounds', () => {
    expect(suggestMaxBytes(statsFor(10, 500_000), { currentMaxBytes: 1_000_000 })).toBe(1_200_000);
    expect(suggestMaxBytes(statsFor(10, 500_000), { currentMaxBytes: 1_000_000, max: 1_048_576 })).toBe(
      1_048_576,
    );
  });
  it('undoes the column factor when the batcher adjusts for columns', () => {
    const c = new QueryCollector({ referenceColumnCount: 10 });
    c.record(
      rec({ sql: 'INSERT INTO t (a, b, c, d, e) VALUES (1,2,3,4,5)', executionTimeMs: 250, bytes: 500_000 }),
    );
    const stats = c.getStats();
    expect(stats.columnAdjustmentFactor).toBe(2);
    expect(suggestMaxBytes(stats, { currentMaxBytes: 1_000_000, autoAdjustForColumns: true })).toBe(200_000);
    expect(suggestMaxBytes(stats, { currentMaxBytes: 1_000_000 })).toBe(400_000);
  });

  it('keeps the limit inside the target band or without data', () => {
    expect(suggestMaxBytes(statsFor(80, 500_000), { currentMaxBytes: 1_000_000 })).toBe(1_000_000);
    expect(suggestMaxBytes(new QueryCollector().getStats(), { currentMaxBytes: 5000 })).toBe(5000);
  });
});

describe('combineCollectors', () => {
  it('forwards records and input counts to each collector', () => {
    const a = new QueryCollector();
    const b = new QueryCollector();
    const both = combineCollectors(a, b);
    both.countInput?.(2);
    both.record(rec());
    expect(a.getStats().statementsIn).toBe(2);
    expect(b.getStats().count).toBe(1);
  });
});
