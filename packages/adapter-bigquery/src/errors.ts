import type { ErrorClassification } from '@sqlbatcher/core';

/** One entry of the API's `errors` array, as BigQuery reports it. */
export interface BigQueryErrorEntry {
  readonly reason?: string;
  readonly message?: string;
  readonly location?: string;
}

/** Options of {@link BigQueryError}. */
export interface BigQueryErrorOptions {
  httpStatus?: number;
  reason?: string;
  errors?: readonly BigQueryErrorEntry[];
  classification: ErrorClassification;
  jobId?: string;
  cause?: unknown;
}

/**
 * A failed BigQuery request. Built from the API's answer field by field: the driver's own error
 * carries the HTTP request, including its `Authorization` header, so it is never kept as `cause`.
 * Recognise it by `name === 'BigQueryError'`; `code` is BigQuery's error reason (`invalidQuery`,
 * `notFound`, `rateLimitExceeded`, `backendError`, …) or a Node.js network code.
 */
export class BigQueryError extends Error {
  /** BigQuery's reason (`invalidQuery`, …), a network code (`ECONNRESET`) or `UNKNOWN`. */
  readonly code: string;
  /** HTTP status of the answer, when there was one. */
  readonly httpStatus: number | undefined;
  /** The API's `errors` array (reason, message, location only). */
  readonly errors: readonly BigQueryErrorEntry[];
  /** How the batcher may treat this failure; read by `BigQueryAdapter.classifyError`. */
  readonly classification: ErrorClassification;
  /** The job the request ran as, when known. */
  readonly jobId: string | undefined;

  constructor(message: string, options: BigQueryErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BigQueryError';
    this.code = options.reason ?? 'UNKNOWN';
    this.httpStatus = options.httpStatus;
    this.errors = options.errors ?? [];
    this.classification = options.classification;
    this.jobId = options.jobId;
  }
}

/** What can be read safely off an error thrown by `@google-cloud/bigquery` (an `ApiError`) or Node. */
export interface DriverErrorFacts {
  httpStatus: number | undefined;
  reason: string | undefined;
  message: string;
  errors: BigQueryErrorEntry[];
  /** A Node.js network error code (`ECONNREFUSED`, `ECONNRESET`, …). */
  networkCode: string | undefined;
  /**
   * The API method that failed, read off the request's path: `jobs.query` (which creates the job),
   * `jobs.getQueryResults` or `jobs.get` (which read a job that exists), `jobs.insert`; else undefined.
   */
  api?: string;
}

/** The API method of a request URL's path (never anything else of the URL). */
function apiOf(href: unknown): string | undefined {
  if (typeof href !== 'string') return undefined;
  const path = href.replace(/[?#].*$/, '');
  if (/\/projects\/[^/]+\/queries$/.test(path)) return 'jobs.query';
  if (/\/projects\/[^/]+\/queries\/[^/]+$/.test(path)) return 'jobs.getQueryResults';
  if (/\/projects\/[^/]+\/jobs$/.test(path)) return 'jobs.insert';
  if (/\/projects\/[^/]+\/jobs\/[^/]+$/.test(path)) return 'jobs.get';
  return undefined;
}

/** Extract only the safe fields of a driver error (never its `response`, which holds the request). */
export function driverErrorFacts(err: unknown): DriverErrorFacts {
  const e = (err ?? {}) as {
    code?: unknown;
    errors?: unknown;
    message?: unknown;
    response?: { request?: { href?: unknown } };
  };
  const httpStatus = typeof e.code === 'number' ? e.code : undefined;
  const networkCode = typeof e.code === 'string' ? e.code : undefined;
  const errors: BigQueryErrorEntry[] = [];
  if (Array.isArray(e.errors)) {
    for (const item of e.errors) {
      const x = (item ?? {}) as { reason?: unknown; message?: unknown; location?: unknown };
      errors.push({
        ...(typeof x.reason === 'string' ? { reason: x.reason } : {}),
        ...(typeof x.message === 'string' ? { message: stripUrlCredentials(x.message) } : {}),
        ...(typeof x.location === 'string' ? { location: x.location } : {}),
      });
    }
  }
  const message = stripUrlCredentials(
    typeof e.message === 'string' && e.message !== '' ? e.message : String(err),
  );
  const api = apiOf(e.response?.request?.href);
  return {
    httpStatus,
    reason: errors[0]?.reason ?? networkCode,
    message,
    errors,
    networkCode,
    ...(api === undefined ? {} : { api }),
  };
}

/**
 * `scheme://user:password@host` → `scheme://host` in a message: the client quotes the URL it was given
 * (e.g. an `apiEndpoint` with a proxy password) when it refuses or fails to reach it.
 */
export function stripUrlCredentials(text: string): string {
  return text.replace(/([a-z][\w+.-]*:\/\/)[^/@\s]+@/gi, '$1');
}

/** Reasons BigQuery gives when it refused a request before creating a job. */
const RATE_LIMIT_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded']);
/** Reasons of server-side failures that may succeed on a later attempt. */
const SERVER_REASONS = new Set(['backendError', 'internalError', 'jobBackendError', 'jobInternalError']);
/** Network errors raised before the request reached the server. */
export const NOT_SENT_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);
/** Network errors after which the request may have reached the server. */
const LOST_CODES = new Set([
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
]);

/** The API's own per-user request rate limit: the request was refused before a job existed. */
const API_RATE_LIMIT = /too many api requests/i;

/**
 * A syntax error: BigQuery reports it while compiling the request, before any statement of a script
 * runs (`Syntax error: Unexpected identifier "x" at [3:1]`, `Syntax error: Illegal escape sequence …`).
 */
export function isCompileError(facts: DriverErrorFacts): boolean {
  const syntax = /^(?:BigQuery: )?Syntax error:/;
  return (
    syntax.test(facts.message) || facts.errors.some((e) => e.message !== undefined && syntax.test(e.message))
  );
}

/** Context of a failed request, used to decide what it did to the data. */
export interface FailureContext {
  /** The request ran inside a session whose transaction BigQuery (or the batcher) rolls back. */
  inTransaction: boolean;
  /** The request was `COMMIT TRANSACTION`: a lost answer leaves the outcome unknown. */
  commit: boolean;
  /** Number of statements in the request, when the batcher told the adapter; else undefined. */
  statementCount: number | undefined;
  /** Position of the failing statement in the request, when it could be located. */
  statementPosition: number | undefined;
}

/**
 * Decide whether a failure may be retried and what it did (invariant 5). A rate-limited request had
 * no effect when BigQuery refused it before a job existed (always for 429, and for any single
 * statement); for a script it may have been a statement's quota error after earlier ones ran. A job that failed inside a
 * transaction was rolled back by BigQuery. A single DML statement is atomic. A failing script keeps
 * the statements that ran before the failing one, and a 5xx or a broken connection after the request
 * was sent leaves it unknown whether the job ran: those are never reported as safe to resend.
 */
export function classify(facts: DriverErrorFacts, ctx: FailureContext): ErrorClassification {
  const reasons = facts.errors.map((e) => e.reason ?? '');
  const position = ctx.statementPosition === undefined ? {} : { statementPosition: ctx.statementPosition };
  const rateLimited =
    facts.httpStatus === 429 ||
    reasons.some((r) => RATE_LIMIT_REASONS.has(r)) ||
    facts.reason === 'rateLimitExceeded';
  if (rateLimited) {
    if (facts.api === 'jobs.getQueryResults' || facts.api === 'jobs.get') {
      // The limit hit the request that reads a job's outcome: the job exists and may have run.
      const rolledBack = ctx.inTransaction && !ctx.commit;
      return { transient: true, effect: rolledBack ? 'rolled-back' : 'unknown', ...position };
    }
    // Refused before a job existed (the API's rate limits), or the job ran and one statement hit a
    // quota such as a table's DML rate: a single statement is atomic either way, but the statements of
    // a script before that one stayed applied. 429 is always the API's; a located statement is the job's.
    const script = ctx.statementCount !== undefined && ctx.statementCount > 1 && !ctx.inTransaction;
    if (!script || facts.httpStatus === 429 || API_RATE_LIMIT.test(facts.message)) {
      return { transient: true, effect: 'none' };
    }
    if (ctx.statementPosition !== undefined) return { transient: true, effect: 'partial', ...position };
    return { transient: true, effect: 'unknown' };
  }
  if (facts.httpStatus === 400 && facts.reason === 'invalid' && /query is too large/i.test(facts.message)) {
    // Refused on arrival: no job was created.
    return { transient: false, effect: 'none' };
  }
  if (facts.networkCode !== undefined && NOT_SENT_CODES.has(facts.networkCode)) {
    return { transient: true, effect: 'none' };
  }
  const serverSide =
    (facts.httpStatus !== undefined && facts.httpStatus >= 500) ||
    reasons.some((r) => SERVER_REASONS.has(r)) ||
    (facts.httpStatus === undefined && facts.networkCode !== undefined && LOST_CODES.has(facts.networkCode));
  if (serverSide) {
    const rolledBack = ctx.inTransaction && !ctx.commit;
    return { transient: true, effect: rolledBack ? 'rolled-back' : 'unknown', ...position };
  }
  if (ctx.inTransaction) return { transient: false, effect: 'rolled-back', ...position };
  if (isCompileError(facts)) {
    // BigQuery parses the whole script before it runs any statement of it: a syntax error refuses the
    // request as a whole, whichever statement it names.
    return { transient: false, effect: 'none', ...position };
  }
  // A job error: an HTTP 4xx answer, or a job's status errors (no HTTP status) as jobs.insert may report.
  const jobError = facts.httpStatus === undefined ? facts.errors.length > 0 : facts.httpStatus < 500;
  if (jobError) {
    if (ctx.statementCount === 1) return { transient: false, effect: 'rolled-back', ...position };
    // A script stops at its first failing statement: the ones before it were applied, the ones after
    // it never ran. The batcher resumes from the failed statement.
    if (ctx.statementPosition !== undefined) return { transient: false, effect: 'partial', ...position };
  }
  return { transient: false, effect: 'unknown', ...position };
}
