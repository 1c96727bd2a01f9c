import { describe, expect, it } from 'vitest';
import { ClosedError } from '../errors.js';
import { GenericAdapter, toExecuteResult } from './generic-adapter.js';

describe('GenericAdapter', () => {
  it('execute works detached and normalises results', async () => {
    const seen: string[] = [];
    const adapter = new GenericAdapter({
      execute: (sql) => {
        seen.push(sql);
        return { affectedRows: 3, rows: [{ a: 1 }] };
      },
    });
    const { execute } = adapter;
    expect(await execute('SELECT 1')).toEqual({
      rowCount: 3,
      rows: [{ a: 1 }],
      raw: { affectedRows: 3, rows: [{ a: 1 }] },
    });
    expect(seen).toEqual(['SELECT 1']);
  });

  it('declares conservative capabilities by default and freezes them', () => {
    const adapter = new GenericAdapter({ execute: () => undefined });
    expect(adapter.capabilities).toMatchObject({
      maxQuerySize: 1_000_000,
      multiStatement: false,
      atomicMultiStatement: false,
      transactions: false,
      savepoints: false,
      dialect: 'generic',
    });
    expect(Object.isFrozen(adapter.capabilities)).toBe(true);
    expect(
      () => new GenericAdapter({ execute: () => undefined, capabilities: { transactions: true } }),
    ).toThrow(/session/);
    expect(() => new GenericAdapter({} as never)).toThrow(TypeError);
  });

  it('after close(): execute and session reject with ClosedError; close runs once', async () => {
    let closes = 0;
    let calls = 0;
    const adapter = new GenericAdapter({
      execute: () => void calls++,
      close: () => void closes++,
      session: async () => {
        throw new Error('not reached');
      },
    });
    const { execute } = adapter;
    await adapter.close();
    await adapter.close();
    expect(closes).toBe(1);
    await expect(execute('SELECT 1')).rejects.toBeInstanceOf(ClosedError);
    await expect(adapter.session?.()).rejects.toBeInstanceOf(ClosedError);
    expect(calls).toBe(0);
  });

  it('toExecuteResult reads rowCount, affectedRows, changes and arrays', () => {
    expect(toExecuteResult({ rowCount: 2 })).toMatchObject({ rowCount: 2 });
    expect(toExecuteResult({ changes: 4 })).toMatchObject({ rowCount: 4 });
    expect(toExecuteResult([1, 2])).toMatchObject({ rows: [1, 2] });
    expect(toExecuteResult(undefined)).toEqual({ raw: undefined });
  });
});
