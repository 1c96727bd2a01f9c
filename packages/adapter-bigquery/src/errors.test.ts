import { describe, expect, it } from 'vitest';
import { classify, driverErrorFacts } from './errors.js';

const apiError = (code: number, reason: string, message = 'm') => ({
  code,
  message,
  errors: [{ reason, message }],
});
const ctx = { inTransaction: false, commit: false, statementCount: undefined, statementPosition: undefined };

describe('classify', () => {
  it('rate limits were refused before a job existed: transient, no effect', () => {
    expect(classify(driverErrorFacts(apiError(403, 'rateLimitExceeded')), ctx)).toEqual({
      transient: true,
      effect: 'none',
    });
    expect(classify(driverErrorFacts(apiError(429, 'x')), ctx)).toEqual({ transient: true, effect: 'none' });
  });

  it('a refused connection never sent anything; a reset one may have run the job', () => {
    expect(classify(driverErrorFacts({ code: 'ECONNREFUSED', message: 'x' }), ctx)).toEqual({
      transient: true,
      effect: 'none',
    });
    expect(classify(driverErrorFacts({ code: 'ECONNRESET', message: 'x' }), ctx)).toEqual({
      transient: true,
      effect: 'unknown',
    });
  });

  it('5xx: in doubt outside a transaction, rolled back inside one, in doubt during COMMIT', () => {
    const facts = driverErrorFacts(apiError(503, 'backendError'));
    expect(classify(facts, ctx)).toEqual({ transient: true, effect: 'unknown' });
    expect(classify(facts, { ...ctx, inTransaction: true })).toEqual({
      transient: true,
      effect: 'rolled-back',
    });
    expect(classify(facts, { ...ctx, inTransaction: true, commit: true })).toEqual({
      transient: true,
      effect: 'unknown',
    });
  });

  it('query errors: atomic for one statement or the first of a script, partial later in a script', () => {
    const facts = driverErrorFacts(apiError(400, 'invalidQuery'));
    expect(classify(facts, { ...ctx, statementCount: 1 })).toEqual({
      transient: false,
      effect: 'rolled-back',
    });
    expect(classify(facts, { ...ctx, statementCount: 3, statementPosition: 0 })).toEqual({
      transient: false,
      effect: 'partial',
      statementPosition: 0,
    });
    expect(classify(facts, { ...ctx, statementCount: 3, statementPosition: 2 })).toEqual({
      transient: false,
      effect: 'partial',
      statementPosition: 2,
    });
    expect(classify(facts, ctx)).toEqual({ transient: false, effect: 'unknown' });
  });

  it('keeps only reason, message and location of the driver error', () => {
    const facts = driverErrorFacts({
      ...apiError(400, 'invalidQuery', 'bad'),
      response: { request: { headers: { Authorization: 'Bearer secret' } } },
    });
    expect(JSON.stringify(facts)).not.toContain('secret');
    expect(facts).toMatchObject({ httpStatus: 400, reason: 'invalidQuery', message: 'bad' });
  });
});
