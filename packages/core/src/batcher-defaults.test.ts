import { describe, expect, it } from 'vitest';
import type { Adapter } from './execute/adapter.js';
import { SQLBatcher } from './sql-batcher.js';

function flakyAdapter(defaults: Adapter['batcherDefaults']): Adapter & { calls: number } {
  const a = {
    name: 'flaky',
    calls: 0,
    capabilities: {
      maxQuerySize: 1_000,
      multiStatement: false,
      atomicMultiStatement: false,
      transactions: false,
      savepoints: false,
      dialect: 'generic' as const,
    },
    batcherDefaults: defaults,
    execute: async () => {
      a.calls++;
      throw new Error('503 service unavailable');
    },
    classifyError: () => ({ transient: true, effect: 'none' as const }),
    close: async () => {},
  };
  return a;
}

describe('adapter batcherDefaults (the seed’s retryAttempts / circuitBreakerEnabled)', () => {
  it('apply when the batcher options do not set retry / circuitBreaker', async () => {
    const adapter = flakyAdapter({ retry: { maxAttempts: 2 }, circuitBreaker: { failureThreshold: 2 } });
    const batcher = new SQLBatcher({ adapter, retry: undefined });
    const first = await batcher.processStatements(['SELECT 1']).catch((e: unknown) => e);
    expect((first as Error).name).toBe('BatchExecutionError');
    expect(adapter.calls).toBe(2); // two attempts, not the default three
    const second = await batcher.processStatements(['SELECT 2']).catch((e: unknown) => e);
    expect((second as { code?: string }).code).toBe('CIRCUIT_OPEN');
    expect(adapter.calls).toBe(2); // the open breaker sent nothing
  });

  it('lose to explicit batcher options', async () => {
    const adapter = flakyAdapter({ retry: { maxAttempts: 5 }, circuitBreaker: true });
    const batcher = new SQLBatcher({ adapter, retry: { maxAttempts: 1 }, circuitBreaker: false });
    await batcher.processStatements(['SELECT 1']).catch(() => undefined);
    expect(adapter.calls).toBe(1);
  });
});
