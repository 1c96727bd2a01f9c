import type { ErrorClassification } from '@sqlbatcher/core';

/** Where a Snowflake failure came from. */
export type SnowflakeErrorKind =
  /** The server ran (or compiled) the SQL and reported an error with a Snowflake code and SQLSTATE. */
  | 'sql'
  /** The server answered with an HTTP status the SDK did not retry (or stopped retrying). */
  | 'http'
  /** No HTTP answer: connection refused, reset, timed out. */
  | 'network'
  /** Rejected by the SDK itself before anything was sent (bad argument, connection not up). */
  | 'client'
  /** Login failed. */
  | 'login'
  /** Cancelled through the `AbortSignal`. */
  | 'aborted'
  | 'unknown';

/** Options of {@link SnowflakeError}. */
export interface SnowflakeErrorOptions {
  kind: SnowflakeErrorKind;
  code?: string | undefined;
  sqlState?: string | undefined;
  queryId?: string | undefined;
  httpStatus?: number | undefined;
  networkCode?: string | undefined;
  statementPosition?: number | undefined;
  statementCount?: number | undefined;
  cause?: unknown;
}

/**
 * An error from Snowflake or `snowflake-sdk`, with the driver's details copied onto plain fields and
 * nothing else: the SDK's own error objects carry HTTP responses, which this error never holds, and
 * credentials are removed from the message.
 */
export class SnowflakeError extends Error {
  readonly kind: SnowflakeErrorKind;
  /** Snowflake's error code (e.g. `002003`) or the SDK's numeric code as a string. */
  readonly code: string | undefined;
  /** SQLSTATE, e.g. `42S02`. */
  readonly sqlState: string | undefined;
  readonly queryId: string | undefined;
  readonly httpStatus: number | undefined;
  /** Node's socket error code for network failures (`ECONNREFUSED`, `ECONNRESET`, …). */
  readonly networkCode: string | undefined;
  /** 0-based position of the failing statement in the request, when known. */
  readonly statementPosition: number | undefined;
  /** Number of statements in the request, when known. */
  readonly statementCount: number | undefined;

  constructor(message: string, options: SnowflakeErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SnowflakeError';
    this.kind = options.kind;
    this.code = options.code;
    this.sqlState = options.sqlState;
    this.queryId = options.queryId;
    this.httpStatus = options.httpStatus;
    this.networkCode = options.networkCode;
    this.statementPosition = options.statementPosition;
    this.statementCount = options.statementCount;
  }
}

interface SdkErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  sqlState?: unknown;
  data?: { queryId?: unknown } | null;
  response?: { statusCode?: unknown; status?: unknown } | null;
  cause?: { code?: unknown; message?: unknown } | null;
  stack?: unknown;
}

/** Replaces every occurrence of a secret in `text`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) {
    if (s.length >= 4) out = out.split(s).join('[redacted]');
  }
  return out;
}

/** Request-level refusals: nothing in the request ran. */
const REFUSED_CODES = new Set([
  '000008', // statement count does not match MULTI_STATEMENT_COUNT
  '000900', // empty SQL statement
  '390111', // session gone
  '390112', // session token expired
  '390104', // session token invalid
]);

/** Failures a later attempt may not meet. */
const TRANSIENT_SQL_CODES = new Set([
  '000625', // lock wait timeout: another transaction held the lock
  '000603', // internal error ("SQL execution internal error"), Snowflake asks to retry
]);

/**
 * `(at line L, position P)` in the message of a failed multi-statement request: right after the quoted
 * statement text and at the end of its line (`failed on statement "…" (at line 3, position 0).` then a
 * newline and the statement's own error). The quoted statement text and the error after it may hold
 * user data that looks like a location too; those are not followed by that exact shape.
 */
const FAILED_AT = /failed on statement ".*?" \(at line (\d+), position (\d+)\)\.?(?=\n|$)/s;

/**
 * Position of the failing statement of a multi-statement request, from the `line`/`position` Snowflake
 * reports and the texts of the request's statements (in order, as they appear in `sql`).
 */
export function failingStatementPosition(
  message: string,
  sql: string,
  statements: readonly string[] | undefined,
): number | undefined {
  const m = FAILED_AT.exec(message);
  if (!m || !statements || statements.length === 0) return undefined;
  const line = Number(m[1]);
  const column = Number(m[2]);
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const nl = sql.indexOf('\n', offset);
    if (nl === -1) return undefined;
    offset = nl + 1;
  }
  offset += column;
  let cursor = 0;
  let found: number | undefined;
  for (let i = 0; i < statements.length; i++) {
    const text = statements[i] ?? '';
    const at = sql.indexOf(text, cursor);
    if (at === -1) return undefined;
    const end = at + text.length;
    if (offset >= at && offset <= end) {
      found = i;
      break;
    }
    // text between statements (delimiter, blanks) belongs to the next statement
    const next = statements[i + 1];
    if (next !== undefined) {
      const nextAt = sql.indexOf(next, end);
      if (nextAt !== -1 && offset > end && offset < nextAt) {
        found = i + 1;
        break;
      }
    }
    cursor = end;
  }
  return found;
}

/** Context of a failed request, for {@link toSnowflakeError}. */
export interface FailureContext {
  sql: string;
  /** Texts of the statements of the request, when the batcher said. */
  statements?: readonly string[] | undefined;
  /** Results already received (multi-statement requests walk them one by one). */
  completed: number;
  secrets: readonly string[];
  login?: boolean;
}

/** Converts what the SDK reported into a {@link SnowflakeError}. */
export function toSnowflakeError(err: unknown, ctx: FailureContext): SnowflakeError {
  if (err instanceof SnowflakeError) return err;
  const e = (err && typeof err === 'object' ? err : { message: String(err) }) as SdkErrorLike;
  const rawMessage = typeof e.message === 'string' ? e.message : 'Snowflake request failed';
  const message = redact(rawMessage, ctx.secrets);
  const name = typeof e.name === 'string' ? e.name : '';
  const code = e.code === undefined || e.code === null ? undefined : String(e.code);
  const sqlState = typeof e.sqlState === 'string' ? e.sqlState : undefined;
  const queryId = e.data && typeof e.data.queryId === 'string' ? e.data.queryId : undefined;
  const status = e.response?.statusCode ?? e.response?.status;
  const httpStatus = typeof status === 'number' ? status : undefined;
  const networkCode = e.cause && typeof e.cause.code === 'string' ? e.cause.code : undefined;

  // A sanitised copy of the driver's error keeps its stack without its HTTP response.
  const cause = new Error(message);
  cause.name = name || 'Error';
  if (typeof e.stack === 'string') cause.stack = redact(e.stack, ctx.secrets);

  let kind: SnowflakeErrorKind;
  if (ctx.login) kind = 'login';
  else if (name === 'OperationFailedError') kind = 'sql';
  else if (name === 'RequestFailedError') kind = 'http';
  else if (name === 'NetworkError') kind = 'network';
  else if (name === 'ClientError' || name === 'MissingParameterError' || name === 'InvalidParameterError')
    kind = 'client';
  else kind = 'unknown';

  const count = ctx.statements?.length;
  let position: number | undefined;
  if (kind === 'sql') {
    position = failingStatementPosition(rawMessage, ctx.sql, ctx.statements);
    if (position === undefined && ctx.completed > 0) position = ctx.completed;
    if (position === undefined && count === 1) position = 0;
  }
  const detail = [
    code && `code ${code}`,
    sqlState && `SQLSTATE ${sqlState}`,
    httpStatus && `HTTP ${httpStatus}`,
  ]
    .filter(Boolean)
    .join(', ');
  return new SnowflakeError(detail ? `${message} (${detail})` : message, {
    kind,
    code,
    sqlState,
    queryId,
    httpStatus,
    networkCode,
    statementPosition: position,
    statementCount: count,
    cause,
  });
}

/** SDK codes for "the connection is not (or no longer) logged in". */
export const DISCONNECTED_CODES = new Set(['407001', '407002', '405503']);

const NOT_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * What a failure did, for the batcher's retry policy. The SDK already retries HTTP 5xx, 408, 429 and
 * network errors itself, resending the same request id so that Snowflake answers a retry of an executed
 * request with its stored result; a failure that reaches the adapter is one the SDK gave up on.
 */
export function classifySnowflakeError(error: unknown): ErrorClassification {
  const e = error as { name?: unknown; code?: unknown } | null;
  if (e && typeof e === 'object' && e.name === 'ClosedError') return { transient: false, effect: 'none' };
  if (!(error instanceof SnowflakeError)) return { transient: false, effect: 'unknown' };
  switch (error.kind) {
    case 'login':
      return { transient: error.networkCode !== undefined, effect: 'none' };
    case 'client':
      // The SDK refused to send because its session is gone (expired, or ended by the server): the
      // adapter logs in again on the next request.
      return { transient: DISCONNECTED_CODES.has(error.code ?? ''), effect: 'none' };
    case 'network':
      return error.networkCode !== undefined && NOT_CONNECTED.has(error.networkCode)
        ? { transient: true, effect: 'none' }
        : { transient: true, effect: 'unknown' };
    case 'http': {
      const s = error.httpStatus ?? 0;
      // (a 429 or 503 refuses only the attempt it answers: the SDK sent the same request several times
      // before giving up, and an earlier attempt may have run with its answer lost, found in review;
      // the batcher's own retry would carry a new request id, which Snowflake cannot match)
      if (s >= 500 || s === 408 || s === 429) return { transient: true, effect: 'unknown' };
      return { transient: false, effect: 'none' };
    }
    case 'sql': {
      const code = error.code ?? '';
      if (REFUSED_CODES.has(code)) return { transient: false, effect: 'none' };
      const transient = TRANSIENT_SQL_CODES.has(code);
      const pos = error.statementPosition;
      // Snowflake rolls back the failed statement; the statements before it in the request already
      // ran (and committed outside a transaction); the ones after it never ran: a 'partial' effect,
      // which the batcher resumes from the failed statement.
      if (pos === undefined) return { transient, effect: 'unknown' };
      if (pos === 0 && error.statementCount === 1)
        return { transient, effect: 'rolled-back', statementPosition: 0 };
      return { transient, effect: 'partial', statementPosition: pos };
    }
    default:
      return { transient: false, effect: 'unknown' };
  }
}
