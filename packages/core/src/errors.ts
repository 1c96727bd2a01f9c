/**
 * Errors raised by SQL Batcher. Recognise them by `name`/`code` (stable strings), not only by
 * `instanceof`: two copies of the package can be installed side by side.
 */

import { redactSecrets } from './redact.js';

/** Longest excerpt of a statement carried by an error. */
export const EXCERPT_LENGTH = 120;

/**
 * A short, single-line excerpt of `sql` for error messages, credentials in it masked (see
 * {@link redactSecrets}: `PASSWORD '…'` in any spelling, `IDENTIFIED … BY`, keys such as
 * `AWS_SECRET_KEY='…'`, URLs with a password). Only a head of a long text is read: a secret cut there is
 * masked to the end.
 */
export function excerpt(sql: string, max = EXCERPT_LENGTH): string {
  const limit = 4 * max + 4096;
  const head = sql.length > limit ? sql.slice(0, limit) : sql;
  const flat = redactSecrets(head).replace(/\s+/g, ' ').trim();
  return flat.length > max || head !== sql ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Options common to every {@link SQLBatcherError}. */
export interface SQLBatcherErrorOptions {
  cause?: unknown;
  /** Indices (0-based, in input order) of the input statements concerned. */
  statementIndices?: readonly number[];
}

/** Base class of every error thrown by SQL Batcher. */
export class SQLBatcherError extends Error {
  /** Stable machine-readable code, e.g. `STATEMENT_TOO_LARGE`. */
  readonly code: string;
  /** Indices (0-based, in input order) of the input statements concerned. */
  readonly statementIndices: readonly number[];

  constructor(code: string, message: string, options: SQLBatcherErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SQLBatcherError';
    this.code = code;
    this.statementIndices = options.statementIndices ?? [];
  }
}

/** Invalid batcher or adapter configuration. */
export class ConfigurationError extends SQLBatcherError {
  constructor(message: string) {
    super('CONFIGURATION', message);
    this.name = 'ConfigurationError';
  }
}

/** Malformed input: unterminated quote or comment, NUL byte, empty or comment-only stream. */
export class InvalidStatementError extends SQLBatcherError {
  /** Index of the offending statement in the input (0-based), or -1 for the stream as a whole. */
  readonly statementIndex: number;
  /** Truncated excerpt of the offending statement. */
  readonly excerpt: string;
  constructor(reason: string, statementIndex: number, sql: string, code = 'INVALID_STATEMENT') {
    const ex = excerpt(sql);
    super(
      code,
      statementIndex >= 0 ? `statement #${statementIndex}: ${reason}: ${ex}` : reason,
      statementIndex >= 0 ? { statementIndices: [statementIndex] } : {},
    );
    this.name = 'InvalidStatementError';
    this.statementIndex = statementIndex;
    this.excerpt = ex;
  }
}

/** A single statement (or a single VALUES row) that cannot fit the adapter's hard ceiling. */
export class StatementTooLargeError extends SQLBatcherError {
  readonly statementIndex: number;
  readonly excerpt: string;
  /** Size of the statement in UTF-8 bytes. */
  readonly bytes: number;
  /** The hard ceiling it exceeded, in UTF-8 bytes. */
  readonly limit: number;
  constructor(statementIndex: number, sql: string, bytes: number, limit: number) {
    const ex = excerpt(sql);
    super(
      'STATEMENT_TOO_LARGE',
      `statement #${statementIndex} is ${bytes} bytes, larger than the adapter's limit of ${limit} bytes: ${ex}`,
      { statementIndices: [statementIndex] },
    );
    this.name = 'StatementTooLargeError';
    this.statementIndex = statementIndex;
    this.excerpt = ex;
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** Options of {@link BatchExecutionError}. */
export interface BatchExecutionErrorOptions extends SQLBatcherErrorOptions {
  /** Index of the statement that failed when the engine says which one, else undefined. */
  failedStatementIndex?: number;
  /** True when it is not known whether the batch took effect (e.g. the connection broke during COMMIT). */
  inDoubt?: boolean;
  /** The SQL of the request that failed (possibly truncated). */
  sql?: string;
  /** Attempts made, including the first. */
  attempts?: number;
  /** See {@link BatchExecutionError.blockUndoneFrom}. */
  blockUndoneFrom?: number;
}

/** A batch failed on the database. Carries the input indices of every statement in it. */
export class BatchExecutionError extends SQLBatcherError {
  readonly failedStatementIndex: number | undefined;
  readonly inDoubt: boolean;
  readonly sql: string | undefined;
  readonly attempts: number;
  /** The engine's error code (SQLSTATE or vendor code) when the driver reports one. */
  readonly engineCode: string | undefined;
  /**
   * Set when the failure took a transaction block the input opened itself (`BEGIN` with transaction
   * 'none') with it: the input index of its `BEGIN`. The statements from there on that had run are
   * undone too (or, when `inDoubt`, share the batch's unknown fate).
   */
  readonly blockUndoneFrom: number | undefined;

  constructor(message: string, options: BatchExecutionErrorOptions = {}) {
    super(options.inDoubt ? 'BATCH_IN_DOUBT' : 'BATCH_FAILED', message, options);
    this.name = 'BatchExecutionError';
    this.failedStatementIndex = options.failedStatementIndex;
    this.inDoubt = options.inDoubt ?? false;
    this.sql = options.sql === undefined ? undefined : excerpt(options.sql, 500);
    this.attempts = options.attempts ?? 1;
    this.blockUndoneFrom = options.blockUndoneFrom;
    const c = options.cause as { code?: unknown } | undefined;
    this.engineCode = c && typeof c === 'object' && typeof c.code === 'string' ? c.code : undefined;
  }
}

/** The circuit breaker is open: the request was not sent. */
export class CircuitOpenError extends SQLBatcherError {
  /** Milliseconds until the breaker lets a probe request through. */
  readonly retryInMs: number;
  constructor(retryInMs: number, options: SQLBatcherErrorOptions = {}) {
    super(
      'CIRCUIT_OPEN',
      `circuit breaker is open; next probe in ${Math.max(0, Math.round(retryInMs))} ms`,
      options,
    );
    this.name = 'CircuitOpenError';
    this.retryInMs = retryInMs;
  }
}

/** A request exceeded `timeoutMs`. The adapter was asked to cancel it through its `AbortSignal`. */
export class TimeoutError extends SQLBatcherError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number, options: SQLBatcherErrorOptions = {}) {
    super('TIMEOUT', `request timed out after ${timeoutMs} ms`, options);
    this.name = 'TimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/** The batcher or adapter was used after it was closed/disposed. */
export class ClosedError extends SQLBatcherError {
  constructor(what: string) {
    super('CLOSED', `${what} is closed`);
    this.name = 'ClosedError';
  }
}

/** An error thrown by a plugin hook, wrapped with the plugin's name and the hook. */
export class PluginError extends SQLBatcherError {
  readonly plugin: string;
  readonly hook: string;
  /** `statementIndex`: the input statement the hook was given (`transformStatement`), named in the message. */
  constructor(plugin: string, hook: string, cause: unknown, statementIndex?: number) {
    super(
      'PLUGIN_FAILED',
      `plugin "${plugin}" failed in ${hook}${statementIndex === undefined ? '' : ` (statement #${statementIndex})`}: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
        ...(statementIndex === undefined ? {} : { statementIndices: [statementIndex] }),
      },
    );
    this.name = 'PluginError';
    this.plugin = plugin;
    this.hook = hook;
  }
}

/** True when `err` is a SQL Batcher error with the given code (works across package copies). */
export function isSQLBatcherError(err: unknown, code?: string): err is SQLBatcherError {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; statementIndices?: unknown };
  if (typeof e.code !== 'string' || !Array.isArray(e.statementIndices)) return false;
  return code === undefined || e.code === code;
}
