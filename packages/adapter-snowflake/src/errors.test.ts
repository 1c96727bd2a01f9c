import { ClosedError } from '@sqlbatcher/core';
import { describe, expect, it } from 'vitest';
import {
  classifySnowflakeError,
  failingStatementPosition,
  redact,
  SnowflakeError,
  toSnowflakeError,
} from './errors.js';

/** Shaped like the errors snowflake-sdk hands to `complete` (after `externalize()`). */
const sdkError = (props: Record<string, unknown>): Error =>
  Object.assign(new Error(String(props.message)), props);

const multiFailure = (line: number, position: number) =>
  `JavaScript execution error: Uncaught Execution of multiple statements failed on statement "INSERT INTO b..." (at line ${line}, position ${position}).\nSQL compilation error:\nObject 'B' does not exist or not authorized.`;

describe('failingStatementPosition', () => {
  const statements = [
    'INSERT INTO a VALUES (1)',
    "INSERT INTO a VALUES ('x;\ny')",
    'INSERT INTO b VALUES (2)',
  ];
  const sql = statements.join(';\n');

  it('maps Snowflake line/position to the statement index', () => {
    expect(failingStatementPosition(multiFailure(1, 0), sql, statements)).toBe(0);
    expect(failingStatementPosition(multiFailure(2, 0), sql, statements)).toBe(1);
    // statement 1 spans lines 2-3, so statement 2 starts on line 4
    expect(failingStatementPosition(multiFailure(4, 0), sql, statements)).toBe(2);
  });

  it('maps statements sharing a line by position', () => {
    const oneLine = statements.slice(0, 1).concat('INSERT INTO b VALUES (2)');
    const text = oneLine.join('; ');
    expect(failingStatementPosition(multiFailure(1, 26), text, oneLine)).toBe(1);
  });

  it('is not misled by location-like text in the quoted statement or in the error after it', () => {
    const spoofed = [
      'INSERT INTO a VALUES (1)',
      "INSERT INTO a VALUES ('x')",
      "INSERT INTO b VALUES ('x (at line 1, position 0)')",
    ];
    const text = spoofed.join(';\n');
    const message = `JavaScript execution error: Uncaught Execution of multiple statements failed on statement "INSERT INTO b VALUES ('x (at line 1, position 0)')" (at line 3, position 0).\nNumeric value '(at line 2, position 0).' is not recognized`;
    expect(failingStatementPosition(message, text, spoofed)).toBe(2);
  });

  it('gives up without the statements or a recognisable message', () => {
    expect(failingStatementPosition(multiFailure(1, 0), sql, undefined)).toBeUndefined();
    expect(failingStatementPosition('Object does not exist', sql, statements)).toBeUndefined();
  });
});

describe('toSnowflakeError', () => {
  const ctx = { sql: 'SELECT 1', completed: 0, secrets: ['hunter2-password'] };

  it('copies code, SQLSTATE and query id, and keeps no HTTP response', () => {
    const e = toSnowflakeError(
      sdkError({
        name: 'OperationFailedError',
        code: '002003',
        sqlState: '42S02',
        message: "SQL compilation error:\nObject 'T' does not exist or not authorized.",
        data: { queryId: 'q-1' },
        response: { statusCode: 200, headers: { authorization: 'Snowflake Token="abc"' } },
      }),
      { ...ctx, statements: ['SELECT 1'] },
    );
    expect(e).toBeInstanceOf(SnowflakeError);
    expect([e.kind, e.code, e.sqlState, e.queryId, e.statementPosition]).toEqual([
      'sql',
      '002003',
      '42S02',
      'q-1',
      0,
    ]);
    expect(JSON.stringify(e)).not.toContain('Token');
    expect(e.cause).toBeInstanceOf(Error);
    expect(Object.keys(e.cause as object)).not.toContain('response');
  });

  it('removes secrets from the message and the stack', () => {
    const raw = sdkError({ name: 'NetworkError', code: 401001, message: 'failed for hunter2-password' });
    raw.stack = 'NetworkError: failed for hunter2-password\n    at x';
    const e = toSnowflakeError(raw, ctx);
    expect(e.message).not.toContain('hunter2-password');
    expect((e.cause as Error).stack).not.toContain('hunter2-password');
    expect(redact('a hunter2-password b', ['hunter2-password'])).toBe('a [redacted] b');
  });
});

describe('classifySnowflakeError', () => {
  const sql = (code: string, statementPosition?: number, statementCount?: number) =>
    new SnowflakeError('x', { kind: 'sql', code, statementPosition, statementCount });

  it('reports a located statement failure as partial (earlier statements ran, later ones did not)', () => {
    expect(classifySnowflakeError(sql('002003', 0))).toEqual({
      transient: false,
      effect: 'partial',
      statementPosition: 0,
    });
    expect(classifySnowflakeError(sql('002003', 3))).toEqual({
      transient: false,
      effect: 'partial',
      statementPosition: 3,
    });
    expect(classifySnowflakeError(sql('002003'))).toEqual({ transient: false, effect: 'unknown' });
    expect(classifySnowflakeError(sql('002003', 0, 1))).toEqual({
      transient: false,
      effect: 'rolled-back',
      statementPosition: 0,
    });
    expect(classifySnowflakeError(sql('000625', 0, 1))).toMatchObject({
      transient: true,
      effect: 'rolled-back',
    });
  });

  it('treats request-level refusals as not executed', () => {
    expect(classifySnowflakeError(sql('000008'))).toEqual({ transient: false, effect: 'none' });
    expect(classifySnowflakeError(sql('390111'))).toEqual({ transient: false, effect: 'none' });
  });

  it('classifies HTTP, network, client, login and abort failures', () => {
    const http = (httpStatus: number) => new SnowflakeError('x', { kind: 'http', httpStatus });
    expect(classifySnowflakeError(http(400))).toEqual({ transient: false, effect: 'none' });
    // The SDK resent the request (same request id) before giving up: an earlier attempt may have run.
    expect(classifySnowflakeError(http(429))).toEqual({ transient: true, effect: 'unknown' });
    expect(classifySnowflakeError(http(503))).toEqual({ transient: true, effect: 'unknown' });
    expect(classifySnowflakeError(http(502))).toEqual({ transient: true, effect: 'unknown' });
    const net = (networkCode: string) => new SnowflakeError('x', { kind: 'network', networkCode });
    expect(classifySnowflakeError(net('ECONNREFUSED'))).toEqual({ transient: true, effect: 'none' });
    expect(classifySnowflakeError(net('ECONNRESET'))).toEqual({ transient: true, effect: 'unknown' });
    expect(classifySnowflakeError(new SnowflakeError('x', { kind: 'client', code: '407002' }))).toEqual({
      transient: true,
      effect: 'none',
    });
    expect(
      classifySnowflakeError(new SnowflakeError('x', { kind: 'client', code: 'DDL_IN_TRANSACTION' })),
    ).toEqual({
      transient: false,
      effect: 'none',
    });
    expect(classifySnowflakeError(new SnowflakeError('x', { kind: 'aborted' }))).toEqual({
      transient: false,
      effect: 'unknown',
    });
    expect(classifySnowflakeError(new ClosedError('SnowflakeAdapter'))).toEqual({
      transient: false,
      effect: 'none',
    });
    expect(classifySnowflakeError(new Error('anything else'))).toEqual({
      transient: false,
      effect: 'unknown',
    });
  });
});
