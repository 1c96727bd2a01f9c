import { type BatchInfo, type ExecuteOptions, type ExecuteResult, splitStatements } from '@sqlbatcher/core';
import type { Connection } from './connection/types.js';
import {
  CATALOG_SQL,
  CATALOG_STATEMENT,
  type CatalogRow,
  type EncodeCache,
  type FastCommand,
  fastCandidate,
  fastCandidateAt,
} from './copy/plan.js';
import {
  type ErrorPhase,
  isAbortError,
  isConnectionError,
  noteError,
  noteStatementPosition,
  sqlState,
  statementAtPosition,
} from './errors/classify.js';
import { quoteIdentifier } from './quote.js';

/** State of the connection a request runs on. */
export interface RequestContext {
  /** A transaction is open on the connection (a session after `begin()`). */
  inTransaction: boolean;
  /** Use the COPY fast path where it applies. */
  copy: boolean;
  /** Send eligible INSERTs in their `unnest` form (see `copy/unnest.ts`). */
  unnest: boolean;
  /** Rows an INSERT sharing its request needs to take a fast form (see `fastCandidateAt`). */
  minFastRows: number;
  /** Counter for the adapter's own savepoint names. */
  nextSavepoint: () => number;
  /** Set when the connection must be destroyed rather than reused. */
  broken?: boolean;
  /** Called with every fast-path attempt's outcome (for stats and tests). */
  onCopy?: (event: CopyEvent) => void;
  /** Works out each candidate's fast form, early when it can (see {@link EncodeCache}); needed with `copy` or `unnest`. */
  cache?: EncodeCache;
}

/** What happened to one statement considered for a fast path. */
export type CopyEvent =
  | { kind: 'copied'; rows: number }
  /** Sent as `INSERT … SELECT … FROM unnest(…)`. */
  | { kind: 'unnest'; rows: number }
  | { kind: 'not-eligible' }
  /** The statement's fast form (or its ineligibility) came from {@link EncodeCache.prepare}. */
  | { kind: 'encoded-ahead' }
  | { kind: 'fallback'; error: unknown };

/** Start offset of each statement inside `sql`, or undefined when they cannot all be found in order. */
function statementStarts(sql: string, statements: BatchInfo['statements']): number[] | undefined {
  const starts: number[] = [];
  let cursor = 0;
  for (const st of statements) {
    const at = sql.indexOf(st.sql, cursor);
    if (at < 0) return undefined;
    starts.push(at);
    cursor = at + st.sql.length;
  }
  return starts;
}

/** Whether a constraint of that name in that schema is deferrable (its check may run at COMMIT). */
const DEFERRABLE_SQL = `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace
  WHERE c.conname = $1 AND n.nspname = $2 AND c.condeferrable) AS deferrable`;

/**
 * The request's implicit COMMIT runs before its last statement is reported complete, so an error of the
 * commit looks like the last statement's. When the error names a deferrable constraint (whose check may
 * have run at COMMIT, for any statement of the request), the last statement is not named. Asked on the
 * same connection, idle after the failed autocommit request; unknown (kept) when that fails.
 */
async function commitTimeError(conn: Connection, err: unknown): Promise<boolean> {
  const e = err as { constraint?: unknown; schema?: unknown; position?: unknown };
  if (typeof e.constraint !== 'string' || typeof e.schema !== 'string' || e.position !== undefined)
    return false;
  try {
    const rows = await conn.params(DEFERRABLE_SQL, [e.constraint, e.schema]);
    return rows[0]?.deferrable === true;
  } catch {
    return false;
  }
}

/** Which statement of `sql` (statements `batch.statements[offset…]`) `err` comes from. */
function locate(
  err: unknown,
  sql: string,
  statements: BatchInfo['statements'],
  offset: number,
): number | undefined {
  if (statements.length === 1) return offset;
  const e = err as { position?: unknown; completedStatements?: unknown } | undefined;
  const starts = statementStarts(sql, statements);
  if (starts) {
    const pos = statementAtPosition(sql, starts, e?.position as string | number | undefined);
    if (pos !== undefined) return offset + pos;
  }
  const completed = e?.completedStatements;
  // A server error ends the request at the failing statement: it is the one after those the server
  // completed. (An input string may hold several statements: the server counts each of them.)
  if (typeof completed === 'number' && sqlState(err) !== undefined) {
    let left = completed;
    for (let k = 0; k < statements.length; k++) {
      const text = (statements[k] as BatchInfo['statements'][number]).sql;
      const n = text.includes(';')
        ? splitStatements(text, { dialect: 'postgres', onMetaCommand: () => undefined }).length
        : 1;
      if (left < n) return offset + k;
      left -= n;
    }
  }
  return undefined;
}

async function simple(
  conn: Connection,
  sql: string,
  signal: AbortSignal | undefined,
  phase: ErrorPhase,
  statements?: BatchInfo['statements'],
  offset = 0,
): Promise<ExecuteResult> {
  try {
    const out = await conn.simple(sql, signal);
    return { rowCount: out.rowCount, rows: out.rows, raw: out.raw };
  } catch (err) {
    let position = statements ? locate(err, sql, statements, offset) : undefined;
    if (
      statements &&
      statements.length > 1 &&
      position === offset + statements.length - 1 &&
      phase === 'request' &&
      (await commitTimeError(conn, err))
    )
      position = undefined;
    noteError(err, { phase, ...(position !== undefined ? { statementPosition: position } : {}) });
    throw err;
  }
}

/** A failed COPY whose statement may be retried as INSERT: an SQL error, not a lost connection or cancel. */
function copyErrorAllowsFallback(err: unknown): boolean {
  const state = sqlState(err);
  if (state === undefined || isAbortError(err) || isConnectionError(err)) return false;
  // Serialization failures and deadlocks must reach the batcher's retry; cancels and shutdowns too.
  return !(state.startsWith('40') || state.startsWith('57') || state.startsWith('53'));
}

/**
 * Run one request: the batch's SQL in one simple-protocol call, or — with COPY enabled and eligible
 * INSERTs in the batch — a sequence of COPY and SQL steps that keeps the batch atomic (own transaction
 * when none is open) and in statement order.
 */
export async function runRequest(
  conn: Connection,
  sql: string,
  options: ExecuteOptions | undefined,
  ctx: RequestContext,
): Promise<ExecuteResult> {
  const batch = options?.batch;
  const signal = options?.signal;
  const phase: ErrorPhase = ctx.inTransaction ? 'transaction' : 'request';
  const usable = batch && batch.sql === sql ? batch : undefined;
  if (
    !ctx.cache ||
    !(ctx.copy || ctx.unnest) ||
    !usable?.statements.some((_, i) => fastCandidateAt(usable.statements, i, ctx.minFastRows))
  ) {
    return simple(conn, sql, signal, phase, usable?.statements);
  }
  return runWithFastPath(conn, usable, signal, ctx, ctx.cache);
}

type Segment = { kind: 'sql'; from: number; to: number } | { kind: 'copy'; at: number };

function segments(batch: BatchInfo, minRows: number): Segment[] {
  const out: Segment[] = [];
  batch.statements.forEach((_, i) => {
    if (fastCandidateAt(batch.statements, i, minRows)) out.push({ kind: 'copy', at: i });
    else {
      const last = out[out.length - 1];
      if (last?.kind === 'sql' && last.to === i) last.to = i + 1;
      else out.push({ kind: 'sql', from: i, to: i + 1 });
    }
  });
  return out;
}

async function runWithFastPath(
  conn: Connection,
  batch: BatchInfo,
  signal: AbortSignal | undefined,
  ctx: RequestContext,
  cache: EncodeCache,
): Promise<ExecuteResult> {
  const segs = segments(batch, ctx.minFastRows);
  // A transaction block the input opened itself (`BEGIN` in its statements, transaction: 'none'): the
  // request runs inside it, as its text would, and the input's own COMMIT or ROLLBACK ends it.
  const inputTx = !ctx.inTransaction && (await inTransactionBlock(conn, signal));
  // One statement alone is atomic; anything more needs a transaction to keep the request all-or-nothing.
  const ownTx = !ctx.inTransaction && !inputTx && segs.length > 1;
  const inTx = ctx.inTransaction || ownTx || inputTx;
  const phase: ErrorPhase = ctx.inTransaction || ownTx ? 'transaction' : 'request';
  if (ownTx) await simple(conn, 'BEGIN', signal, phase);
  let rowCount = 0;
  let rows: unknown[] = [];
  const raws: unknown[] = [];
  try {
    for (const seg of segs) {
      if (seg.kind === 'sql') {
        const statements = batch.statements.slice(seg.from, seg.to);
        const text = statements.map((s) => s.sql).join(';\n');
        const r = await simple(conn, text, signal, phase, statements, seg.from);
        rowCount += r.rowCount ?? 0;
        rows = r.rows ?? [];
        raws.push(r.raw);
        continue;
      }
      const st = batch.statements[seg.at]!;
      const r = await fastOrInsert(conn, st, seg.at, signal, inTx, phase, ctx, cache);
      rowCount += r.rowCount ?? 0;
      rows = r.rows ?? [];
      raws.push(r.raw);
    }
  } catch (err) {
    if (ownTx) {
      try {
        await conn.simple('ROLLBACK');
      } catch {
        // The transaction died with its connection; the connection must not be reused.
        ctx.broken = true;
      }
    }
    throw err;
  }
  if (ownTx) await commit(conn);
  return { rowCount, rows, raw: raws };
}

/**
 * One candidate INSERT: its table's catalog is read on this connection (the lookup cannot raise, see
 * `fastCandidate`), then the statement goes as COPY, in its `unnest` form, or as its own text.
 */
async function fastOrInsert(
  conn: Connection,
  st: BatchInfo['statements'][number],
  position: number,
  signal: AbortSignal | undefined,
  inTx: boolean,
  phase: ErrorPhase,
  ctx: RequestContext,
  cache: EncodeCache,
): Promise<ExecuteResult> {
  const ins = fastCandidate(st)!;
  const asInsert = () => simple(conn, st.sql, signal, phase, [st], position);
  let command: FastCommand | undefined;
  try {
    const catalog = (await conn.params(
      CATALOG_SQL,
      [ins.table],
      CATALOG_STATEMENT,
    )) as unknown as CatalogRow[];
    const made = cache.command(st, ins, catalog);
    command = made.command;
    if (made.ahead) ctx.onCopy?.({ kind: 'encoded-ahead' });
  } catch (err) {
    noteError(err, { phase, statementPosition: position });
    throw err;
  }
  if (!command) {
    ctx.onCopy?.({ kind: 'not-eligible' });
    return asInsert();
  }
  if (command.kind === 'unnest') {
    let out: Awaited<ReturnType<Connection['bind']>>;
    try {
      out = await conn.bind(command.text, command.values, signal);
    } catch (err) {
      // The same values through the same input functions: an error here is the INSERT's own error.
      noteError(err, { phase, statementPosition: position });
      throw err;
    }
    ctx.onCopy?.({ kind: 'unnest', rows: out.rowCount });
    return { rowCount: out.rowCount, rows: out.rows, raw: out.raw };
  }
  // Inside a transaction a failed COPY is undone to this savepoint before the INSERT runs instead.
  const sp = inTx ? quoteIdentifier(`sqlbatcher_copy_${ctx.nextSavepoint()}`) : undefined;
  if (sp) await simple(conn, `SAVEPOINT ${sp}`, signal, phase);
  try {
    const n = await conn.copyFrom(command.target, command.columns, command.data, signal);
    if (sp) await simple(conn, `RELEASE SAVEPOINT ${sp}`, signal, phase);
    ctx.onCopy?.({ kind: 'copied', rows: n });
    return { rowCount: n, rows: [], raw: { command: 'COPY', rowCount: n } };
  } catch (err) {
    if (!copyErrorAllowsFallback(err)) {
      noteStatementPosition(err, position, phase);
      throw err;
    }
    ctx.onCopy?.({ kind: 'fallback', error: err });
    // COPY failed as a whole (it is atomic); undo it inside a transaction, then run the INSERT instead.
    if (sp) {
      await simple(conn, `ROLLBACK TO SAVEPOINT ${sp}`, signal, phase);
      await simple(conn, `RELEASE SAVEPOINT ${sp}`, signal, phase);
    }
    return asInsert();
  }
}

/**
 * Is a transaction block open on `conn`? From the driver when it tells; else asked of the server: a
 * SAVEPOINT outside a transaction block fails with 25P01 and changes nothing, inside one it is
 * released at once.
 */
export async function inTransactionBlock(
  conn: Connection,
  signal?: AbortSignal,
  /** Ask the server even when the driver tells (its status may not be read yet right after a failure). */
  fresh = false,
): Promise<boolean> {
  const known = fresh ? undefined : conn.inTransactionBlock();
  if (known !== undefined) return known;
  try {
    await conn.simple('SAVEPOINT sqlbatcher_probe; RELEASE SAVEPOINT sqlbatcher_probe', signal);
    return true;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === '25P01') return false;
    // (inside a block that already failed)
    if (code === '25P02') return true;
    throw err;
  }
}

/** Thrown when COMMIT reports that it rolled back (the transaction had failed). */
export class CommitRolledBackError extends Error {
  override readonly name = 'CommitRolledBackError';
  /** SQLSTATE 40000 (transaction rollback). */
  readonly code = '40000';
  constructor() {
    super('COMMIT rolled the transaction back: it had failed earlier');
  }
}

/** COMMIT; an aborted transaction answers COMMIT with a ROLLBACK tag instead of an error. */
export async function commit(conn: Connection): Promise<void> {
  let out: Awaited<ReturnType<Connection['simple']>>;
  try {
    out = await conn.simple('COMMIT');
  } catch (err) {
    noteError(err, { phase: 'commit' });
    throw err;
  }
  const raw = out.raw as { command?: string } | { command?: string }[] | undefined;
  const last = Array.isArray(raw) ? raw[raw.length - 1] : raw;
  if (last?.command === 'ROLLBACK') {
    const err = new CommitRolledBackError();
    noteError(err, { phase: 'transaction' });
    throw err;
  }
}
