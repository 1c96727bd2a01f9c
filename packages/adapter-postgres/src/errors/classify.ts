import type { ErrorClassification } from '@sqlbatcher/core';

/** Where in a request's life an error happened; decides whether the attempt may have had an effect. */
export type ErrorPhase =
  /** Getting a connection: nothing was sent. */
  | 'connect'
  /** Autocommit request (one implicit transaction): its fate is unknown if the connection broke. */
  | 'request'
  /** Inside a transaction the adapter or the batcher opened and has not committed. */
  | 'transaction'
  /** COMMIT was sent. */
  | 'commit';

/** What the adapter knows about an error it raised. Kept beside the error, not on it. */
export interface ErrorContext {
  phase: ErrorPhase;
  /** Index in `BatchInfo.statements` of the statement that failed, when known. */
  statementPosition?: number;
  /** After the failure the connection was outside any transaction block (its work rolled back). */
  idleAfter?: boolean;
  /**
   * The request ran inside a transaction block the input opened (its own BEGIN, transaction 'none'): the
   * failure aborted it or, at its COMMIT, rolled it back, with the statements of earlier requests.
   */
  transactionLost?: boolean;
  /** A COMMIT in the failed request finished before the failure: the request is not all rolled back. */
  partlyCommitted?: boolean;
  /**
   * The request failed inside a transaction block the input opened, which stays open, aborted: the
   * connection is fine, and a retry there could only fail again.
   */
  inAbortedBlock?: boolean;
  /**
   * The connection was lost inside a transaction block the input opened, in a request without its
   * COMMIT: the server rolls the block back, this request with it (nothing of it can have committed).
   */
  lostInBlock?: boolean;
  /** The connection was lost in a request holding the COMMIT of the input's block (see `blockInDoubt`). */
  blockInDoubt?: boolean;
}

const contexts = new WeakMap<object, ErrorContext>();

/** Remember where `err` happened (first note wins: the innermost layer knows best). */
export function noteError(err: unknown, context: ErrorContext): void {
  if (err && typeof err === 'object' && !contexts.has(err)) contexts.set(err, context);
}

/** Update the statement position of an error already noted (or note it). */
export function noteStatementPosition(err: unknown, position: number | undefined, phase: ErrorPhase): void {
  if (!err || typeof err !== 'object' || position === undefined) return;
  const c = contexts.get(err);
  if (c) {
    c.statementPosition ??= position;
  } else contexts.set(err, { phase, statementPosition: position });
}

/** Set one of the facts of {@link ErrorContext} on `err` (noting it, as a request's, when not noted yet). */
function noteFact<
  K extends
    | 'idleAfter'
    | 'transactionLost'
    | 'partlyCommitted'
    | 'inAbortedBlock'
    | 'lostInBlock'
    | 'blockInDoubt',
>(err: unknown, key: K, value: ErrorContext[K]): void {
  if (!err || typeof err !== 'object') return;
  const c = contexts.get(err);
  if (c) c[key] = value;
  else contexts.set(err, { phase: 'request', [key]: value });
}

/** Record whether the connection was outside any transaction block right after `err`. */
export function noteIdleAfter(err: unknown, idle: boolean | undefined): void {
  if (idle !== undefined) noteFact(err, 'idleAfter', idle);
}

/** Record that `err` undid a transaction block the input opened (see {@link ErrorContext.transactionLost}). */
export function noteTransactionLost(err: unknown): void {
  noteFact(err, 'transactionLost', true);
}

/** Record that a COMMIT in the request of `err` finished before it failed (see {@link ErrorContext.partlyCommitted}). */
export function notePartlyCommitted(err: unknown): void {
  noteFact(err, 'partlyCommitted', true);
}

/** Record that the connection of `err` was lost inside the input's block (see {@link ErrorContext.lostInBlock}). */
export function noteLostInBlock(err: unknown): void {
  noteFact(err, 'lostInBlock', true);
  noteFact(err, 'transactionLost', true);
}

/** Record that the connection of `err` was lost in the request holding the COMMIT of the input's block. */
export function noteBlockInDoubt(err: unknown): void {
  noteFact(err, 'blockInDoubt', true);
}

/** Record that `err` left the input's block open and aborted (see {@link ErrorContext.inAbortedBlock}). */
export function noteInAbortedBlock(err: unknown): void {
  noteFact(err, 'inAbortedBlock', true);
}

export function errorContext(err: unknown): ErrorContext | undefined {
  return err && typeof err === 'object' ? contexts.get(err) : undefined;
}

/** The SQLSTATE of a server error, or undefined. */
export function sqlState(err: unknown): string | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; severity?: unknown };
  return typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
}

const SOCKET_CODES_NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
const SOCKET_CODES_LOST = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ERR_STREAM_DESTROYED',
]);

/** A lost or failed connection rather than an SQL error. */
export function isConnectionError(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('08')) return true;
    if (SOCKET_CODES_NOT_SENT.has(code) || SOCKET_CODES_LOST.has(code)) return true;
  }
  const message = (err as { message?: unknown }).message;
  return (
    typeof message === 'string' &&
    /Connection terminated|connection is closed|Client has encountered a connection error|Connection ended|socket hang up/i.test(
      message,
    )
  );
}

/**
 * Classify an error raised by the adapter for the batcher's retry policy (see the README's table).
 * The adapter records the phase of each error it raises; errors from elsewhere are classified by
 * SQLSTATE alone, conservatively.
 */
export function classifyPostgresError(err: unknown): ErrorClassification {
  let c = classifyBase(err);
  // (the block, and this request in it, died with the connection: nothing of it committed)
  if (errorContext(err)?.lostInBlock && c.effect === 'unknown') c = { ...c, effect: 'rolled-back' };
  // Part of the request committed before it failed (its own COMMIT): in doubt, never retried.
  if (errorContext(err)?.partlyCommitted && c.effect === 'rolled-back') {
    const { connectionUsable: _u, statementPosition: _p, ...rest } = c;
    c = { ...rest, transient: false, effect: 'unknown' };
  }
  if (errorContext(err)?.blockInDoubt && c.effect === 'unknown') c = { ...c, blockInDoubt: true };
  // Undone with the input's transaction block: not to be retried (a retry would run outside the block).
  // Inside the input's aborted block: not worth retrying there, and the connection is kept.
  if (errorContext(err)?.inAbortedBlock && c.effect === 'rolled-back') {
    c = { ...c, transient: false, connectionUsable: true };
  }
  // "ON CONFLICT DO UPDATE command cannot affect row a second time" (or another cardinality violation):
  // a merged upsert whose rows meet on a key only the server sees as equal; sent again unmerged (the
  // batcher knows whether a savepoint took it back inside the input's block).
  if (sqlState(err) === '21000' && c.effect === 'rolled-back' && !errorContext(err)?.transactionLost) {
    c = { ...c, mergedRowsConflict: true };
  }
  if (errorContext(err)?.transactionLost && (c.effect === 'rolled-back' || c.effect === 'unknown')) {
    const { connectionUsable: _usable, ...rest } = c;
    return { ...rest, transient: false, transactionLost: true };
  }
  return c;
}

function classifyBase(err: unknown): ErrorClassification {
  const ctx = errorContext(err);
  const phase: ErrorPhase = ctx?.phase ?? 'request';
  const pos = ctx?.statementPosition !== undefined ? { statementPosition: ctx.statementPosition } : {};
  if (isAbortError(err)) {
    const cause = (err as { cause?: unknown }).cause;
    if ((err as { sent?: unknown }).sent === false) return { transient: false, effect: 'none' };
    // The server cancelled the statement (57014): it and its transaction were rolled back, and the
    // connection, when left outside any transaction block, is as good as before (the cancel has landed).
    if (sqlState(cause) === '57014' && phase !== 'commit')
      return {
        transient: false,
        effect: 'rolled-back',
        ...(ctx?.idleAfter === true ? { connectionUsable: true } : {}),
        ...pos,
      };
    if (phase === 'connect') return { transient: false, effect: 'none' };
    return { transient: false, effect: 'unknown', ...pos };
  }
  const state = sqlState(err);
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = (err as { message?: unknown } | undefined)?.message;
  // pg refuses, before sending anything, to use a client whose connection already failed.
  if (typeof message === 'string' && /is not queryable/.test(message))
    return { transient: true, effect: 'none' };
  // PGlite checks this before running anything.
  if (typeof message === 'string' && /^PGlite is clos(ed|ing)$/.test(message)) {
    return { transient: false, effect: 'none' };
  }
  if (typeof code === 'string' && SOCKET_CODES_NOT_SENT.has(code)) return { transient: true, effect: 'none' };
  if (state === '53300' || state === '57P03') {
    // Too many connections / starting up: refused at connect, nothing ran.
    return { transient: true, effect: phase === 'connect' ? 'none' : 'unknown' };
  }
  if (state === '40001' || state === '40P01') {
    // The server answered: the connection is fine, and usable as it was when nothing of it is left
    // open (not inside a transaction block the input began, which is now aborted).
    return {
      transient: true,
      effect: 'rolled-back',
      ...(ctx?.idleAfter === true ? { connectionUsable: true } : {}),
      ...pos,
    };
  }
  if (isConnectionError(err) || state === '57P01' || state === '57P02') {
    if (phase === 'connect') return { transient: true, effect: 'none' };
    // An uncommitted transaction cannot survive its connection.
    if (phase === 'transaction') return { transient: true, effect: 'rolled-back', ...pos };
    return { transient: true, effect: 'unknown', ...pos };
  }
  if (state !== undefined) {
    // Any other SQL error fails the whole request (implicit or explicit transaction): nothing stays.
    if (phase === 'connect') return { transient: false, effect: 'none' };
    return { transient: false, effect: 'rolled-back', ...pos };
  }
  return { transient: false, effect: phase === 'connect' ? 'none' : 'unknown', ...pos };
}

/** Our cancellation error, or any AbortError. */
export function isAbortError(err: unknown): boolean {
  return !!err && typeof err === 'object' && (err as { name?: unknown }).name === 'AbortError';
}

/** The error `execute` rejects with after its signal aborted and the server cancelled the statement. */
export class QueryCancelledError extends Error {
  override readonly name = 'AbortError';
  /** Always `ABORT_ERR`, like DOMException's AbortError. */
  readonly code = 'ABORT_ERR';
  constructor(message: string, options: { cause?: unknown; reason?: unknown; sent?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = options.reason;
    this.sent = options.sent ?? true;
  }
  /** The signal's `reason`. */
  readonly reason: unknown;
  /** False when the signal was already aborted and nothing was sent. */
  readonly sent: boolean;
}

/**
 * Map pg's `position` (1-based, in characters of the whole request text) to the index of the statement
 * holding it, given each statement's start offset (in UTF-16 units) within `sql`.
 */
export function statementAtPosition(
  sql: string,
  starts: readonly number[],
  position: number | string | undefined,
): number | undefined {
  const p = typeof position === 'string' ? Number.parseInt(position, 10) : position;
  if (p === undefined || !Number.isFinite(p) || p < 1) return undefined;
  // Convert code points (the server counts characters) to UTF-16 units.
  let units = 0;
  let chars = 0;
  while (chars < p - 1 && units < sql.length) {
    const c = sql.codePointAt(units)!;
    units += c > 0xffff ? 2 : 1;
    chars++;
  }
  let found: number | undefined;
  for (let i = 0; i < starts.length; i++) {
    if (starts[i]! <= units) found = i;
    else break;
  }
  return found;
}
