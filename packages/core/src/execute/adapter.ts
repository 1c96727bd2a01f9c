import type { Dialect } from '../lexer/dialect.js';

/**
 * What an engine can do. The batcher adapts to these flags instead of sending SQL that cannot work.
 * Every flag is readonly; adapters must declare them honestly.
 */
export interface AdapterCapabilities {
  /** Hard ceiling on one request's SQL text, in UTF-8 bytes, delimiters included. */
  readonly maxQuerySize: number;
  /** Several `;`-separated statements may be sent in one request. Default false. */
  readonly multiStatement: boolean;
  /**
   * A multi-statement request that fails has no effect at all (PostgreSQL's simple query protocol runs
   * it in one implicit transaction). When false, a failed multi-statement request is "in doubt" unless
   * it ran inside a transaction. Default false.
   */
  readonly atomicMultiStatement: boolean;
  /**
   * A single statement that fails has no effect at all (statement-level atomicity: true of every
   * transactional engine; false e.g. for MySQL MyISAM tables, where a multi-row INSERT that fails keeps
   * the rows before the error). Used only for adapters without `classifyError`: a failed request of one
   * statement is then taken as rolled back. Default true.
   */
  readonly atomicStatements?: boolean;
  /** BEGIN/COMMIT/ROLLBACK on a pinned session (`adapter.session()`). Default false. */
  readonly transactions: boolean;
  /** SAVEPOINT / ROLLBACK TO SAVEPOINT inside a transaction. Default false. */
  readonly savepoints: boolean;
  /** Most VALUES rows one INSERT may carry (Snowflake: 16,384). Default unlimited. */
  readonly maxRowsPerInsert?: number;
  /** Most requests that may run at once (PGlite: 1). Default 1. */
  readonly maxConcurrency?: number;
  /** Lexer dialect of the engine. */
  readonly dialect: Dialect;
  /**
   * The engine gives each column of a multi-row `VALUES` list one type, the common type of its rows,
   * before the values reach the table (Trino, Snowflake; BigQuery is taken to as well), where PostgreSQL
   * and MySQL convert each value to its column. Merging rows whose literals differ in kind would then
   * change what is stored or make good rows fail, so the batcher merges only rows whose values agree in
   * kind per column (NULL goes with any; see the core README, "Merging on engines that unify VALUES
   * types"). Default: true for the trino, snowflake and bigquery dialects, false for the others.
   */
  readonly valuesCommonType?: boolean;
}

/** Per-request options passed by the batcher to `execute`. */
export interface ExecuteOptions {
  /** Aborted when the request times out or the run is cancelled; adapters should cancel server-side. */
  signal?: AbortSignal;
  /** The structure of the batch being sent, for adapters with fast paths (e.g. PostgreSQL COPY). */
  batch?: BatchInfo;
}

/** What a request returned. */
export interface ExecuteResult {
  /** Rows affected (sum over the statements of the request) when the engine reports it. */
  rowCount?: number;
  /** Rows returned by the last statement (e.g. `RETURNING`), when any. */
  rows?: unknown[];
  /** Driver-specific raw result. */
  raw?: unknown;
}

/** A function that executes one request's SQL text. Adapters' `execute` is such a function, bound. */
export type ExecuteFn = (sql: string, options?: ExecuteOptions) => Promise<ExecuteResult | unknown>;

/** How an adapter classifies a failure, for the retry policy (invariant 5). */
export interface ErrorClassification {
  /** The same request may succeed later (serialization failure, deadlock, overload, lost connection). */
  transient: boolean;
  /**
   * What the failed attempt did to the database:
   * - `none`: nothing was executed (request refused before execution, connection never made);
   * - `rolled-back`: executed but fully rolled back (atomic request, failed transaction);
   * - `unknown`: may have taken effect (connection lost after sending, during COMMIT);
   * - `partial`: a non-atomic multi-statement request (Snowflake, BigQuery scripts) stopped at
   *   `statementPosition`: the statements before it were applied, it failed, the later ones never ran.
   *   Without `statementPosition` this counts as `unknown`.
   */
  effect: 'none' | 'rolled-back' | 'unknown' | 'partial';
  /** Position in the request's statement list of the failing statement, when the engine says. */
  statementPosition?: number;
  /**
   * With `partial`: rows affected by the statements applied before `statementPosition`, when the engine
   * says. Reported in `report.rowsAffected`, the collector's record and `afterBatch`.
   */
  rowsAffected?: number;
  /**
   * The connection (session) the request ran on is still usable: the server answered with an SQL error
   * such as a serialization failure or deadlock. Then a transient failure does not make the batcher
   * give up the session (which would stop a run that holds `SET …` state on it). Absent: it may be broken.
   */
  connectionUsable?: boolean;
  /**
   * The failure also undid a transaction block that earlier requests ran in: one the input opened with
   * its own `BEGIN` under transaction 'none' (a failed `COMMIT`, or an error that aborted the block). The
   * statements of those requests are not applied either. With `effect: 'rolled-back'` the batch is never
   * retried (the retry would run outside the block) and the run stops, whatever `onError` says; the error
   * names the `BEGIN` the lost block started at.
   */
  transactionLost?: boolean;
  /**
   * With `effect: 'unknown'`: the failed request held the `COMMIT` of a transaction block the input
   * opened (its own `BEGIN`, transaction 'none') and the connection was lost, so the statements of the
   * earlier requests in that block share the request's unknown fate; the error says so.
   */
  blockInDoubt?: boolean;
  /**
   * The failure is one a merged INSERT can cause where its input statements one by one would not
   * (PostgreSQL's "ON CONFLICT DO UPDATE command cannot affect row a second time" when two merged rows
   * meet on a key that only the engine sees as equal). With `effect: 'rolled-back'`, a batch holding an
   * `ON CONFLICT … DO UPDATE` INSERT merged from several statements is sent again once, those statements
   * one by one (see `Adapter.canMergeUpserts`, which avoids most such failures beforehand).
   */
  mergedRowsConflict?: boolean;
}

/** A pinned connection: transactions and savepoints run here, never through a pool. */
export interface AdapterSession {
  execute(sql: string, options?: ExecuteOptions): Promise<ExecuteResult>;
  begin(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  /** Create a savepoint; the adapter quotes `name`. Present only when `capabilities.savepoints`. */
  savepoint?(name: string): Promise<void>;
  rollbackToSavepoint?(name: string): Promise<void>;
  releaseSavepoint?(name: string): Promise<void>;
  /** Return the connection (destroy it when `broken`). */
  release(broken?: boolean): Promise<void>;
}

/**
 * A database adapter. Small on purpose: `execute`, `capabilities` and `close` are required; the rest
 * is optional and the batcher tests for it.
 */
export interface Adapter {
  /** Short engine name for messages and metrics, e.g. `postgres`. */
  readonly name: string;
  readonly capabilities: AdapterCapabilities;
  /** Executes one request. Must work when detached: `const { execute } = adapter`. */
  readonly execute: (sql: string, options?: ExecuteOptions) => Promise<ExecuteResult>;
  /** A pinned session for transactions. Required when `capabilities.transactions`. */
  session?(): Promise<AdapterSession>;
  /**
   * Classify a failure of `execute` / session calls. Without it no failure is transient, and every
   * failure is `unknown` (may have been applied) except one: a request holding exactly one statement on
   * an engine whose `atomicStatements` is not false, failing with an error that is not a Node.js network
   * error (one with a `syscall`, or a code such as `ECONNRESET`), is `rolled-back` — the engine refused
   * that statement. A connection lost in some other way cannot be told apart: give `classifyError` when
   * that matters.
   */
  classifyError?(error: unknown): ErrorClassification;
  /** Release every resource. Later calls to `execute` reject with `ClosedError`. */
  close(): Promise<void>;
  /**
   * Optional hint, called when a batch is ready while an earlier request is still running: the adapter
   * may do CPU work for `statements` now (e.g. encode COPY data) so that it overlaps the request in
   * flight. It must not touch the database or change what a later `execute` does; a throw is ignored.
   */
  prepare?(statements: readonly BatchStatement[]): void;
  /**
   * Optional, asked before a batch of plain INSERTs would run beside other requests (`concurrency` > 1):
   * may its rows be inserted at the same time as other batches' rows? An adapter answers false when the
   * order matters to the engine, e.g. a foreign key between the tables, triggers or rules. A false
   * answer, a throw, or no answer within the batcher's `timeoutMs` makes the batch run alone, in order.
   * Without this method the answer is yes.
   */
  canRunConcurrently?(statements: readonly BatchStatement[]): Promise<boolean> | boolean;
  /**
   * Optional, asked before a request holding an `INSERT … ON CONFLICT … DO UPDATE` whose rows come from
   * several input statements (merged because their conflict keys are distinct as written): may they go
   * as one INSERT? An adapter answers false when the engine may make distinct literals equal for that
   * table (a key column type that truncates or rounds, a trigger that rewrites the key): one INSERT would
   * then fail where the statements one by one succeed ("cannot affect row a second time"). On false, a
   * throw or no answer within `timeoutMs`, the statement is sent as its input statements, in order, in
   * the same request. Without this method the answer is yes.
   */
  canMergeUpserts?(statement: BatchStatement): Promise<boolean> | boolean;
  /**
   * Batcher settings the adapter's own options imply (e.g. the seed's `retryAttempts`,
   * `circuitBreakerEnabled`). `SQLBatcher` uses them when its options do not set them.
   */
  readonly batcherDefaults?: {
    readonly retry?: { readonly maxAttempts?: number } | false;
    readonly circuitBreaker?:
      | boolean
      | { readonly failureThreshold?: number; readonly resetTimeoutMs?: number };
  };
}

/** One statement inside a batch, with the input statements it came from. */
export interface BatchStatement {
  /** The SQL text sent for this statement (merged INSERTs already joined). */
  readonly sql: string;
  /** Input indices (0-based) of every input statement with rows or text in this statement. */
  readonly indices: readonly number[];
  /** For INSERTs produced by the merger: the parts, so adapters can use a fast path. */
  readonly insert?: InsertParts;
}

/** The parts of a (merged) `INSERT … VALUES` statement. */
export interface InsertParts {
  /** Table as written in the first statement (quoted parts kept). */
  readonly table: string;
  /** Column list text as written, without parentheses, or undefined when absent. */
  readonly columns: readonly string[] | undefined;
  /** Each row's text, including its parentheses. */
  readonly rows: readonly string[];
  /** Input index of each row. */
  readonly rowIndices: readonly number[];
  /** Trailing clause (`ON CONFLICT …`, `RETURNING …`), '' when none. */
  readonly tail: string;
  /**
   * Set when the statement's `sql` holds the rows exactly as `rows.join(',')` from this offset on,
   * followed by nothing (`tail` '') or by `' ' + tail`: an adapter can then read every row from the one
   * string instead of row by row. Merged INSERTs have it; an input statement kept as written does not.
   */
  readonly rowsAt?: number;
  /**
   * When set (merged INSERTs whose rows the builder held as UTF-8): exactly the UTF-8 bytes of
   * `rows.join(',')`, as the builder already had them, so an adapter that re-reads the rows as bytes
   * (PostgreSQL's COPY and unnest forms) need not encode the text again. Read only; not a copy.
   */
  readonly rowsUtf8?: Uint8Array;
  /**
   * The names written before a `(` in the rows (function calls, and keywords that look like them such
   * as `CAST` or `COALESCE`), each once, as written with their dot-separated parts joined (`now`,
   * `pg_catalog.now`, `"F"`): recorded by the batcher when batches may run concurrently (`concurrency`
   * > 1 and an adapter with `canRunConcurrently`), for that method to tell whether a row may run code
   * of the database's own. Undefined when not recorded: then read the rows.
   */
  readonly calls?: readonly string[];
}

/** A batch as seen by plugins, collectors and adapters. */
export interface BatchInfo {
  /** Sequence number of the batch within the batcher (0-based). */
  readonly id: number;
  /** The exact SQL text of the request. */
  readonly sql: string;
  /** Size of `sql` in UTF-8 bytes. */
  readonly bytes: number;
  /** Statements in this request, in order. */
  readonly statements: readonly BatchStatement[];
  /** Number of input statements represented (its "batch size" in the seed's sense). */
  readonly inputCount: number;
  /** Number of VALUES rows in the batch. */
  readonly rowCount: number;
  readonly metadata?: Readonly<Record<string, unknown>>;
}
