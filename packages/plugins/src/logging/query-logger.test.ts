import type { BatchInfo } from '@sqlbatcher/core';
import { describe, expect, it } from 'vitest';
import { type QueryLogEntry, QueryLogger } from './query-logger.js';

const batch: BatchInfo = {
  id: 4,
  sql: "ALTER USER app PASSWORD 'pw1'; INSERT INTO t VALUES (1)",
  bytes: 54,
  statements: [],
  inputCount: 2,
  rowCount: 1,
};

describe('QueryLogger', () => {
  it('redacts and bounds error messages, keeps the engine code', async () => {
    const entries: QueryLogEntry[] = [];
    const logger = new QueryLogger({ sink: (e) => void entries.push(e), maxSqlLength: 10 });
    const err = Object.assign(new Error(`syntax error at "PASSWORD 'hunter2'" ${'x'.repeat(5000)}`), {
      code: '42601',
    });
    await logger.afterBatch(batch, {
      success: false,
      executionTimeMs: 3,
      retries: 1,
      error: err,
      dryRun: false,
    });
    const [e] = entries;
    expect(e?.error?.code).toBe('42601');
    expect(e?.error?.message).not.toContain('hunter2');
    expect(e?.error?.message.length).toBeLessThan(1100);
    expect(e?.error?.message.endsWith('… [truncated]')).toBe(true);
    expect(e?.sql).toBe(`ALTER USER… [${batch.sql.length - 10} more characters]`);
    expect(e).toMatchObject({ level: 'error', batchId: 4, retries: 1, inputStatements: 2, rows: 1 });
  });

  it('logs rejected statements one entry each, without SQL when asked', async () => {
    const entries: QueryLogEntry[] = [];
    const logger = new QueryLogger({ sink: (e) => void entries.push(e), includeSql: false });
    await logger.onRejected([
      { index: 3, sql: 'INSERT INTO t VALUES (1)', error: new Error('dup') },
      { index: 8, sql: 'INSERT INTO t VALUES (2)', error: 'plain string' },
    ]);
    expect(entries.map((e) => [e.event, e.statementIndex, e.error?.message, e.sql])).toEqual([
      ['rejected', 3, 'dup', undefined],
      ['rejected', 8, 'plain string', undefined],
    ]);
  });

  it('uses a custom redactor for SQL and errors', async () => {
    const entries: QueryLogEntry[] = [];
    const logger = new QueryLogger({
      sink: (e) => void entries.push(e),
      redact: (t) => t.replace(/\d/g, '#'),
      logBeforeBatch: true,
    });
    await logger.beforeBatch(batch);
    expect(entries[0]).toMatchObject({
      level: 'debug',
      event: 'before-batch',
      sql: "ALTER USER app PASSWORD 'pw#'; INSERT INTO t VALUES (#)",
    });
  });
});
