import { type ErrorClassification, isSQLBatcherError, SQLBatcherError } from '@sqlbatcher/core';

/** The `error` object of a Trino query result page. */
export interface TrinoErrorInfo {
  message: string;
  errorCode: number;
  errorName: string;
  errorType: string;
  errorLocation?: { lineNumber: number; columnNumber: number };
}

/**
 * A query that Trino reported as failed (the `error` of a result page). `code` is Trino's error name
 * (`TABLE_NOT_FOUND`, `QUERY_TEXT_TOO_LARGE`, …), so the batcher's `BatchExecutionError.engineCode`
 * carries it.
 */
export class TrinoQueryError extends SQLBatcherError {
  /** Trino's numeric error code, e.g. 46 for `TABLE_NOT_FOUND`. */
  readonly errorCode: number;
  /** Trino's error name, e.g. `TABLE_NOT_FOUND`; same as `code`. */
  readonly errorName: string;
  /** `USER_ERROR`, `INTERNAL_ERROR`, `INSUFFICIENT_RESOURCES` or `EXTERNAL`. */
  readonly errorType: string;
  /** Trino's query id, for the Web UI and `system.runtime.queries`. */
  readonly queryId: string | undefined;
  readonly errorLocation: { lineNumber: number; columnNumber: number } | undefined;

  constructor(error: TrinoErrorInfo, queryId: string | undefined, hint?: string) {
    super(
      error.errorName || 'TRINO_QUERY_FAILED',
      `Trino query ${queryId ?? '(no id)'} failed: ${error.message} [${error.errorName} ${error.errorCode}, ${error.errorType}]${hint ? `. ${hint}` : ''}`,
    );
    this.name = 'TrinoQueryError';
    this.errorCode = error.errorCode;
    this.errorName = error.errorName;
    this.errorType = error.errorType;
    this.queryId = queryId;
    this.errorLocation = error.errorLocation;
  }
}

/**
 * `execute` was aborted through its `AbortSignal` (the batcher's `timeoutMs`, or the caller). The
 * adapter stopped polling and asked Trino to cancel the query.
 */
export class TrinoCanceledError extends SQLBatcherError {
  readonly queryId: string | undefined;
  /**
   * False when the abort came before the first poll of the queued `nextUri`: Trino never submitted
   * the query, so it had no effect. True: it may have run, partly or wholly.
   */
  readonly submitted: boolean;

  constructor(queryId: string | undefined, submitted: boolean, reason: unknown) {
    super(
      'CANCELED',
      `Trino query ${queryId ?? '(not yet named)'} was canceled${submitted ? '' : ' before it was submitted'}: ${
        reason instanceof Error ? reason.message : String(reason ?? 'aborted')
      }`,
      { cause: reason },
    );
    this.name = 'TrinoCanceledError';
    this.queryId = queryId;
    this.submitted = submitted;
  }
}

/** Which part of the protocol a request failure happened in. */
export type TrinoRequestPhase = 'submit' | 'poll' | 'cancel';

/**
 * An HTTP or network failure talking to Trino. It never carries the driver's error object (axios
 * errors hold the request config, including the basic-auth password); only status, network error
 * code and path are kept.
 */
export class TrinoRequestError extends SQLBatcherError {
  /** HTTP status, when a response arrived. */
  readonly status: number | undefined;
  /** Node network error code (`ECONNREFUSED`, `ECONNRESET`, …), when no response arrived. */
  readonly networkCode: string | undefined;
  /**
   * `submit`: the `POST /v1/statement` failed. Trino only submits a query when the client first polls
   * its queued `nextUri`, so a failed POST never ran anything. `poll`: a later page request failed; the
   * query may be running or done.
   */
  readonly phase: TrinoRequestPhase;

  constructor(
    phase: TrinoRequestPhase,
    status: number | undefined,
    networkCode: string | undefined,
    detail: string,
  ) {
    const what =
      status !== undefined ? `HTTP ${status}` : networkCode !== undefined ? networkCode : 'request failed';
    super(
      status !== undefined ? `HTTP_${status}` : (networkCode ?? 'TRINO_REQUEST_FAILED'),
      `Trino ${phase === 'submit' ? 'query submission' : phase === 'poll' ? 'result polling' : 'cancel'} failed: ${what}${detail ? ` (${detail})` : ''}`,
    );
    this.name = 'TrinoRequestError';
    this.status = status;
    this.networkCode = networkCode;
    this.phase = phase;
  }
}

/** Turn a driver (axios) failure into a {@link TrinoRequestError} without keeping secrets. */
export function toRequestError(phase: TrinoRequestPhase, err: unknown): TrinoRequestError {
  const e = (err ?? {}) as {
    response?: { status?: unknown; statusText?: unknown; data?: unknown };
    code?: unknown;
    message?: unknown;
  };
  const status = typeof e.response?.status === 'number' ? e.response.status : undefined;
  const networkCode = status === undefined && typeof e.code === 'string' ? e.code : undefined;
  let detail = '';
  if (status !== undefined) {
    const body = typeof e.response?.data === 'string' ? e.response.data.trim() : '';
    const statusText = typeof e.response?.statusText === 'string' ? e.response.statusText : '';
    // Trino's plain-text error bodies are short ("User must be set"); keep them, bounded.
    detail = (body || statusText).slice(0, 200);
  } else if (typeof e.message === 'string') {
    detail = e.message.slice(0, 200);
  }
  return new TrinoRequestError(phase, status, networkCode, stripUrlCredentials(detail));
}

function stripUrlCredentials(text: string): string {
  return text.replace(/(\w+:\/\/)[^/@\s]+@/g, '$1');
}

/** Network errors raised before a request left this machine. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
/** Network errors after which the request may or may not have reached Trino. */
const TRANSIENT_NETWORK = new Set([
  'ECONNRESET',
  'ETIMEDOUT',
  'ECONNABORTED',
  'EPIPE',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

/**
 * Errors Trino raises while parsing, analysing or queueing a statement — before any connector
 * writes. A query failing with one of them had no effect.
 */
const BEFORE_EXECUTION = new Set([
  'SYNTAX_ERROR',
  'QUERY_TEXT_TOO_LARGE',
  'QUERY_QUEUE_FULL',
  'QUERY_REJECTED',
  'INCOMPATIBLE_CLIENT',
  'NOT_IN_TRANSACTION',
  'PERMISSION_DENIED',
  'CATALOG_NOT_FOUND',
  'SCHEMA_NOT_FOUND',
  'TABLE_NOT_FOUND',
  'COLUMN_NOT_FOUND',
  'FUNCTION_NOT_FOUND',
  'TYPE_NOT_FOUND',
  'TYPE_MISMATCH',
  'MISSING_CATALOG_NAME',
  'MISSING_SCHEMA_NAME',
  'MISMATCHED_COLUMN_ALIASES',
  'AMBIGUOUS_NAME',
  'INVALID_LITERAL',
  'INVALID_SESSION_PROPERTY',
  'NOT_SUPPORTED',
]);

/** Options of {@link classifyTrinoError}. */
export interface TrinoClassifyOptions {
  /**
   * The target connector's INSERT is atomic: a failed query left no rows (Hive, Iceberg, Delta Lake;
   * JDBC connectors unless `insert.non-transactional-insert.enabled`). Only then are failures during
   * execution reported as `rolled-back` — and `INSUFFICIENT_RESOURCES` errors become retryable.
   * Default false.
   */
  atomicWrites?: boolean;
}

/**
 * Classify a failure of {@link TrinoAdapter.execute} for the batcher's retry policy.
 *
 * - HTTP 502/503/504 on the POST, or a connection refused: transient, no effect (Trino submits a query
 *   only on the first poll of its queued `nextUri`, which never happened).
 * - The same on a later page request: transient but `unknown` — the query may have run.
 * - `QUERY_QUEUE_FULL`: transient, no effect (rejected by the resource group before it started).
 * - Other `INSUFFICIENT_RESOURCES` errors (memory, time, CPU limits): transient; `rolled-back` with
 *   `atomicWrites`, else `unknown` (a non-transactional connector may have kept part of the rows).
 * - Parse/analysis errors (`SYNTAX_ERROR`, `TABLE_NOT_FOUND`, …): not transient, no effect.
 * - Anything else: not transient; `rolled-back` with `atomicWrites`, else `unknown`.
 * - Canceled through the signal: `none` if the query was never submitted, else `unknown`.
 */
export function classifyTrinoError(error: unknown, options: TrinoClassifyOptions = {}): ErrorClassification {
  const failedQuery: ErrorClassification['effect'] = options.atomicWrites ? 'rolled-back' : 'unknown';
  const e = error as Partial<TrinoRequestError & TrinoQueryError> | undefined;
  if (e && (e instanceof TrinoRequestError || e.name === 'TrinoRequestError')) {
    const submit = e.phase === 'submit';
    if (e.status !== undefined) {
      const transient = e.status === 502 || e.status === 503 || e.status === 504;
      return { transient, effect: submit ? 'none' : 'unknown' };
    }
    const code = e.networkCode ?? '';
    const transient = NOT_SENT.has(code) || TRANSIENT_NETWORK.has(code);
    // Even a page request that never left this machine comes after an earlier poll may have
    // submitted the query: only a failed submission is known to have had no effect.
    return { transient, effect: submit ? 'none' : 'unknown' };
  }
  if (e && (e instanceof TrinoQueryError || e.name === 'TrinoQueryError')) {
    const name = e.errorName ?? '';
    if (name === 'QUERY_QUEUE_FULL') return { transient: true, effect: 'none', statementPosition: 0 };
    if (e.errorType === 'INSUFFICIENT_RESOURCES') {
      return { transient: true, effect: failedQuery, statementPosition: 0 };
    }
    if (BEFORE_EXECUTION.has(name)) return { transient: false, effect: 'none', statementPosition: 0 };
    return { transient: false, effect: failedQuery, statementPosition: 0 };
  }
  if (e && (e instanceof TrinoCanceledError || e.name === 'TrinoCanceledError')) {
    return { transient: false, effect: (e as TrinoCanceledError).submitted ? 'unknown' : 'none' };
  }
  // Closed adapter, or trino-client missing / misconfigured: nothing was sent.
  if (isSQLBatcherError(error, 'CLOSED') || isSQLBatcherError(error, 'CONFIGURATION')) {
    return { transient: false, effect: 'none' };
  }
  return { transient: false, effect: 'unknown' };
}
