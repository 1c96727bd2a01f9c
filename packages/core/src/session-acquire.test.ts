import { describe, expect, it } from 'vitest';
import type { AdapterSession } from './execute/adapter.js';
import { GenericAdapter } from './execute/generic-adapter.js';
import { SQLBatcher } from './sql-batcher.js';

class Refused extends Error {
  code = 'ECONNREFUSED';
}

/** Sessions that cannot be had for the first `failures` tries (a server restarting). */
function restartingAdapter(failures: number) {
  const log: string[] = [];
  let tries = 0;
  const session = async (): Promise<AdapterSession> => {
    tries++;
    if (tries <= failures) throw new Refused('connect ECONNREFUSED 127.0.0.1:5432');
    return {
      execute: async (sql) => {
        log.push(sql);
        return {};
      },
      begin: async () => void log.push('BEGIN'),
      commit: async () => void log.push('COMMIT'),
      rollback: async () => void log.push('ROLLBACK'),
      release: async () => {},
    };
  };
  const adapter = new GenericAdapter({
    execute: () => undefined,
    session,
    capabilities: { transactions: true, multiStatement: true },
    classifyError: (err) =>
      err instanceof Refused ? { transient: true, effect: 'none' } : { transient: false, effect: 'unknown' },
  });
  return { adapter, log };
}

describe('failing to get a session is a failed attempt that ran nothing', () => {
  it("is retried under transaction: 'batch' and 'all'", async () => {
    for (const transaction of ['batch', 'all'] as const) {
      const { adapter, log } = restartingAdapter(2);
      const batcher = new SQLBatcher({ adapter, transaction, retry: { maxAttempts: 3, initialDelayMs: 1 } });
      await batcher.processStatements(['INSERT INTO t (a) VALUES (1)', 'INSERT INTO t (a) VALUES (2)']);
      expect(log).toEqual(['BEGIN', 'INSERT INTO t (a) VALUES (1),(2)', 'COMMIT']);
      expect(batcher.report.retries).toBe(2);
    }
  });

  it('becomes a BatchExecutionError naming the statements when retries run out', async () => {
    const { adapter } = restartingAdapter(5);
    const batcher = new SQLBatcher({
      adapter,
      transaction: 'batch',
      retry: { maxAttempts: 2, initialDelayMs: 1 },
    });
    const err = (await batcher
      .processStatements(['INSERT INTO t (a) VALUES (1)'])
      .catch((e: unknown) => e)) as {
      name: string;
      statementIndices: number[];
      inDoubt: boolean;
    };
    expect(err.name).toBe('BatchExecutionError');
    expect(err.statementIndices).toEqual([0]);
    expect(err.inDoubt).toBe(false);
  });
});
