import { ClosedError, ConfigurationError } from '@sqlbatcher/core';
import { describe, expect, it } from 'vitest';
import { classifyTrinoError, TrinoQueryError, TrinoRequestError, toRequestError } from './errors.js';

const queryError = (errorName: string, errorType: string, errorCode = 1) =>
  new TrinoQueryError({ message: 'boom', errorName, errorType, errorCode }, 'q1');

describe('classifyTrinoError', () => {
  it.each([502, 503, 504])(
    'HTTP %i on submission is transient with no effect; on a page it is in doubt',
    (status) => {
      expect(classifyTrinoError(new TrinoRequestError('submit', status, undefined, ''))).toEqual({
        transient: true,
        effect: 'none',
      });
      expect(classifyTrinoError(new TrinoRequestError('poll', status, undefined, ''))).toEqual({
        transient: true,
        effect: 'unknown',
      });
    },
  );

  it('other HTTP statuses are not transient', () => {
    expect(classifyTrinoError(new TrinoRequestError('submit', 400, undefined, ''))).toEqual({
      transient: false,
      effect: 'none',
    });
    expect(classifyTrinoError(new TrinoRequestError('poll', 500, undefined, ''))).toEqual({
      transient: false,
      effect: 'unknown',
    });
  });

  it('a refused or reset submission had no effect; after polling began it is in doubt', () => {
    expect(classifyTrinoError(new TrinoRequestError('submit', undefined, 'ECONNREFUSED', ''))).toEqual({
      transient: true,
      effect: 'none',
    });
    // A refused page request: an earlier poll may already have started the query.
    expect(classifyTrinoError(new TrinoRequestError('poll', undefined, 'ECONNREFUSED', ''))).toEqual({
      transient: true,
      effect: 'unknown',
    });
    expect(classifyTrinoError(new TrinoRequestError('submit', undefined, 'ECONNRESET', ''))).toEqual({
      transient: true,
      effect: 'none',
    });
    expect(classifyTrinoError(new TrinoRequestError('poll', undefined, 'ECONNRESET', ''))).toEqual({
      transient: true,
      effect: 'unknown',
    });
  });

  it('QUERY_QUEUE_FULL is retryable with no effect', () => {
    expect(classifyTrinoError(queryError('QUERY_QUEUE_FULL', 'INSUFFICIENT_RESOURCES'))).toEqual({
      transient: true,
      effect: 'none',
      statementPosition: 0,
    });
  });

  it('other INSUFFICIENT_RESOURCES errors are retryable only for atomic writes', () => {
    const e = queryError('EXCEEDED_GLOBAL_MEMORY_LIMIT', 'INSUFFICIENT_RESOURCES');
    expect(classifyTrinoError(e)).toMatchObject({ transient: true, effect: 'unknown' });
    expect(classifyTrinoError(e, { atomicWrites: true })).toMatchObject({
      transient: true,
      effect: 'rolled-back',
    });
  });

  it('parse and analysis errors had no effect; other failures depend on atomicWrites', () => {
    expect(classifyTrinoError(queryError('SYNTAX_ERROR', 'USER_ERROR'))).toMatchObject({
      transient: false,
      effect: 'none',
    });
    expect(classifyTrinoError(queryError('CONSTRAINT_VIOLATION', 'USER_ERROR'))).toMatchObject({
      transient: false,
      effect: 'unknown',
    });
    expect(
      classifyTrinoError(queryError('GENERIC_INTERNAL_ERROR', 'INTERNAL_ERROR'), { atomicWrites: true }),
    ).toMatchObject({
      transient: false,
      effect: 'rolled-back',
    });
  });

  it('recognises errors by name across package copies, and ClosedError', () => {
    const foreign = Object.assign(new Error('x'), {
      name: 'TrinoRequestError',
      phase: 'submit',
      status: 503,
    });
    expect(classifyTrinoError(foreign)).toEqual({ transient: true, effect: 'none' });
    expect(classifyTrinoError(new ClosedError('TrinoAdapter'))).toEqual({ transient: false, effect: 'none' });
    expect(classifyTrinoError(new ConfigurationError('no trino-client'))).toEqual({
      transient: false,
      effect: 'none',
    });
    expect(classifyTrinoError(new Error('unknown'))).toEqual({ transient: false, effect: 'unknown' });
  });
});

describe('toRequestError', () => {
  it('keeps status and body text but nothing of the request config', () => {
    const axiosLike = {
      message: 'Request failed with status code 401',
      response: { status: 401, statusText: 'Unauthorized', data: 'Unauthorized' },
      config: {
        auth: { username: 'alice', password: 'hunter2' },
        headers: { Authorization: 'Basic YWxpY2U6aHVudGVyMg==' },
      },
    };
    const e = toRequestError('submit', axiosLike);
    expect(e).toMatchObject({ status: 401, code: 'HTTP_401', phase: 'submit' });
    expect(JSON.stringify({ ...e, message: e.message, cause: e.cause })).not.toMatch(
      /hunter2|YWxpY2U6aHVudGVyMg/,
    );
    expect(e.cause).toBeUndefined();
  });

  it('strips credentials from URLs in network error messages', () => {
    const e = toRequestError('submit', {
      code: 'ENOTFOUND',
      message: 'getaddrinfo ENOTFOUND https://bob:pw@trino',
    });
    expect(e.message).not.toContain('bob:pw');
    expect(e.networkCode).toBe('ENOTFOUND');
  });
});
