import { describe, expect, it } from 'vitest';
import {
  classifyPostgresError,
  noteError,
  noteIdleAfter,
  QueryCancelledError,
  statementAtPosition,
} from './classify.js';

function pgError(code: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`server error ${code}`), { code, severity: 'ERROR', ...extra });
}

describe('classifyPostgresError', () => {
  it('retries serialization failures and deadlocks: the server rolled them back', () => {
    expect(classifyPostgresError(pgError('40001'))).toEqual({ transient: true, effect: 'rolled-back' });
    expect(classifyPostgresError(pgError('40P01'))).toEqual({ transient: true, effect: 'rolled-back' });
    // the connection is usable as it was only when it was left outside any transaction block
    const idle = pgError('40001');
    noteIdleAfter(idle, true);
    expect(classifyPostgresError(idle)).toEqual({
      transient: true,
      effect: 'rolled-back',
      connectionUsable: true,
    });
  });
  it('treats connection failures before sending as not executed', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(classifyPostgresError(refused)).toEqual({ transient: true, effect: 'none' });
    const tooMany = pgError('53300');
    noteError(tooMany, { phase: 'connect' });
    expect(classifyPostgresError(tooMany)).toEqual({ transient: true, effect: 'none' });
  });
  it('treats a connection lost during an autocommit request or COMMIT as in doubt', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(classifyPostgresError(reset)).toEqual({ transient: true, effect: 'unknown' });
    const term = new Error('Connection terminated unexpectedly');
    noteError(term, { phase: 'commit' });
    expect(classifyPostgresError(term)).toEqual({ transient: true, effect: 'unknown' });
    const shutdown = pgError('57P01');
    expect(classifyPostgresError(shutdown)).toMatchObject({ transient: true, effect: 'unknown' });
  });
  it('knows an uncommitted transaction dies with its connection', () => {
    const term = new Error('Connection terminated unexpectedly');
    noteError(term, { phase: 'transaction' });
    expect(classifyPostgresError(term)).toEqual({ transient: true, effect: 'rolled-back' });
    const fatal = pgError('08006');
    noteError(fatal, { phase: 'transaction', statementPosition: 3 });
    expect(classifyPostgresError(fatal)).toEqual({
      transient: true,
      effect: 'rolled-back',
      statementPosition: 3,
    });
  });
  it('does not retry SQL errors, which roll the request back', () => {
    const e = pgError('23505');
    noteError(e, { phase: 'request', statementPosition: 2 });
    expect(classifyPostgresError(e)).toEqual({
      transient: false,
      effect: 'rolled-back',
      statementPosition: 2,
    });
  });
  it('classifies a server-side cancel as rolled back, an unconfirmed abort as unknown', () => {
    expect(classifyPostgresError(new QueryCancelledError('x', { cause: pgError('57014') }))).toMatchObject({
      transient: false,
      effect: 'rolled-back',
    });
    expect(classifyPostgresError(new QueryCancelledError('x'))).toMatchObject({ effect: 'unknown' });
    expect(classifyPostgresError(new QueryCancelledError('x', { sent: false }))).toMatchObject({
      effect: 'none',
    });
  });
  it('knows pg refuses a dead client before sending anything', () => {
    expect(classifyPostgresError(new Error('Client was closed and is not queryable'))).toEqual({
      transient: true,
      effect: 'none',
    });
  });
  it('knows a closed PGlite runs nothing', () => {
    expect(classifyPostgresError(new Error('PGlite is closed'))).toEqual({
      transient: false,
      effect: 'none',
    });
  });
  it('is conservative about errors it does not know', () => {
    expect(classifyPostgresError(new Error('boom'))).toEqual({ transient: false, effect: 'unknown' });
    expect(classifyPostgresError('string')).toEqual({ transient: false, effect: 'unknown' });
  });
});

describe('statementAtPosition', () => {
  it('maps a 1-based character position to the statement holding it, counting astral characters once', () => {
    const sql = "SELECT '😀😀'; SELECT x";
    const starts = [0, sql.indexOf('SELECT x')];
    // The server counts characters: 'x' is character 22 (1-based) although its UTF-16 index is 23.
    expect(statementAtPosition(sql, starts, 22)).toBe(1);
    expect(statementAtPosition(sql, starts, '3')).toBe(0);
    expect(statementAtPosition(sql, starts, undefined)).toBeUndefined();
  });
});
