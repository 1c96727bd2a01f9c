import { BatchBuilder, type BuiltBatch, type BuiltStatement, type Unit } from './batch/builder.js';
import { utf8Length } from './batch/utf8.js';
import {
  BatchExecutionError,
  CircuitOpenError,
  ClosedError,
  ConfigurationError,
  excerpt,
  InvalidStatementError,
  isSQLBatcherError,
  PluginError,
  SQLBatcherError,
  TimeoutError,
} from './errors.js';
import type {
  Adapter,
  AdapterCapabilities,
  AdapterSession,
  BatchInfo,
  BatchStatement,
  ErrorClassification,
  ExecuteFn,
  ExecuteResult,
} from './execute/adapter.js';
import { CircuitBreaker, type CircuitBreakerOptions } from './execute/circuit-breaker.js';
import { toExecuteResult } from './execute/generic-adapter.js';
import type {
  BatchOutcome,
  Collector,
  PartialOutcome,
  Plugin,
  QueryRecord,
  RejectedStatement,
} from './execute/plugin.js';
import { backoffDelay, type RetryOptions, type RetryPolicy, retryPolicy, sleep } from './execute/retry.js';
import { withTimeout } from './execute/timeout.js';
import { createYield, type YieldEnvironment } from './execute/yield.js';
import { collectCalls } from './lexer/calls.js';
import { type Dialect, type DialectRules, dialectRules } from './lexer/dialect.js';
import { mayStartToken, NOT_SPECIAL, skipToken } from './lexer/scanner.js';
import { StatementSplitter, splitStatements } from './lexer/split.js';
import { blockControl, LexError, type LexedStatement, lexStatement } from './lexer/statement.js';
import { redactMessage, redactSecrets } from './redact.js';

/** Transaction handling of a run. */
export type TransactionMode = 'none' | 'batch' | 'all';
/** What happens when a batch fails on the database. */
export type OnErrorMode = 'throw' | 'skip' | 'isolate';

/** Options of {@link SQLBatcher}. */
export interface SQLBatcherOptions {
  /** Where statements go. Without one, pass an `execute` function to each call. */
  adapter?: Adapter;
  /** Soft target per request in UTF-8 bytes (default 1_000_000), capped by the adapter's ceiling. */
  maxBytes?: number;
  /** False sends one input statement per request, unmerged (default true). */
  batchMode?: boolean;
  /** Merge adjacent compatible INSERTs into multi-row INSERTs (default true). */
  mergeInserts?: boolean;
  /**
   * `'adjacent'` (default) merges only consecutive INSERTs into the same table and columns.
   * `'table'` also merges across INSERTs into other tables, which reorders rows *between* tables
   * (never within one); any non-INSERT still flushes everything before it.
   */
  mergeScope?: 'adjacent' | 'table';
  /** Scale the target by the column count: `maxBytes × clamp(referenceColumnCount / columns)` (default false). */
  autoAdjustForColumns?: boolean;
  /** Baseline column count (default 10). */
  referenceColumnCount?: number;
  /** Lower clamp of the column factor (default 0.5). */
  minAdjustmentFactor?: number;
  /** Upper clamp of the column factor (default 2.0). */
  maxAdjustmentFactor?: number;
  /**
   * Send nothing; record the exact SQL that would be sent (to the collector, and to this function
   * when one is given).
   */
  dryRun?: boolean | ((sql: string, batch: BatchInfo) => void | Promise<void>);
  /** Statement separator inside a request (default `;`). */
  delimiter?: string;
  /** Lexer dialect; defaults to the adapter's. */
  dialect?: Dialect | DialectRules;
  /** Retry policy for attempts known to have had no effect; `false` disables (default 3 attempts). */
  retry?: RetryOptions | false;
  /** Circuit breaker; `true` for defaults (default off). */
  circuitBreaker?: CircuitBreakerOptions | boolean;
  /** Per-request timeout in ms; the adapter is asked to cancel through an `AbortSignal`. */
  timeoutMs?: number;
  /** After a timeout, how long to wait for the adapter to confirm cancellation (default 5_000 ms). */
  cancelGraceMs?: number;
  /**
   * `'none'` (default): each request on its own (PostgreSQL runs a multi-statement request atomically).
   * `'batch'`: each request inside BEGIN … COMMIT. `'all'`: one transaction around the whole run.
   */
  transaction?: TransactionMode;
  /** In `transaction: 'all'`, a savepoint around each batch so one failure does not abort the rest. */
  savepoints?: boolean;
  /**
   * `'throw'` (default): stop with {@link BatchExecutionError}. `'skip'`: drop the failed batch (rolled
   * back), report its statements, continue. `'isolate'`: bisect the failed batch down to the failing
   * statements, execute all the others, report the failures.
   */
  onError?: OnErrorMode;
  /** Requests in flight at once for batches of plain INSERTs outside a transaction (default 1). */
  concurrency?: number;
  /** Receives one record per request. */
  collector?: Collector;
  plugins?: Plugin[];
  /** Attached to every batch and collector record. */
  metadata?: Record<string, unknown>;
}

/** What a run did. */
export interface BatcherReport {
  /** Input statements accepted. */
  statements: number;
  /**
   * Requests attempted: each batch once, when its first attempt starts (also one whose connection was
   * refused before anything was sent), retries not counted; in dry run, those that would be sent.
   */
  requests: number;
  /** Retries made. */
  retries: number;
  /**
   * Rows affected, summed over requests whose engine reports it (also rows of a transaction that was
   * rolled back afterwards: the count is of what the requests did).
   */
  rowsAffected: number;
  /** Statements rejected under `onError: 'skip' | 'isolate'`. */
  rejected: RejectedStatement[];
  /** Batches whose outcome is unknown (e.g. the connection broke during COMMIT). */
  inDoubt: { indices: number[]; error: unknown }[];
}

const DEFAULT_CAPS: AdapterCapabilities = {
  maxQuerySize: Number.MAX_SAFE_INTEGER,
  multiStatement: true,
  atomicMultiStatement: false,
  transactions: false,
  savepoints: false,
  dialect: 'generic',
};

type Effect = ErrorClassification['effect'];

/** A batch failure, classified. */
class AttemptFailure extends Error {
  constructor(
    readonly error: unknown,
    readonly effect: Effect,
    readonly transient: boolean,
    /** The surrounding transaction is gone (rolled back by the engine or lost with the connection). */
    readonly transactionLost: boolean,
    readonly statementPosition: number | undefined,
  ) {
    super('attempt failed');
  }

  /** Set when the circuit breaker opened before this failure could be retried. */
  circuitOpen: unknown;
  /** With effect `partial`: rows the applied statements affected, when the adapter says. */
  rowsAffected: number | undefined;
  /** The adapter says the connection is still usable (see `ErrorClassification.connectionUsable`). */
  connectionUsable = false;
  /** See `ErrorClassification.blockInDoubt`. */
  blockInDoubt = false;
  /** See `ErrorClassification.mergedRowsConflict`. */
  mergedRowsConflict = false;
}

/** The async context of {@link SQLBatcher}'s queued calls (Node's AsyncLocalStorage, where there is one). */
interface OpContext {
  getStore(): unknown;
  run<T>(store: unknown, fn: () => T): T;
}
const opContext: OpContext | undefined = (() => {
  try {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const hooks = proc?.getBuiltinModule?.('node:async_hooks') as
      | { AsyncLocalStorage?: new () => OpContext }
      | undefined;
    return hooks?.AsyncLocalStorage ? new hooks.AsyncLocalStorage() : undefined;
  } catch {
    return undefined;
  }
})();

/** Dialects whose engines give a multi-row VALUES column one common type (see `valuesCommonType`). */
const UNIFYING_DIALECTS: ReadonlySet<string> = new Set(['trino', 'snowflake', 'bigquery']);

/** Statements between chances for the event loop to run while a request is in flight (a power of two). */
const YIELD_EVERY_MASK = 511;

const yieldToEventLoop = createYield(globalThis as unknown as YieldEnvironment);

/** Input accepted by {@link SQLBatcher.processStatements}. */
export type StatementSource = string | Iterable<string> | AsyncIterable<string | readonly string[]>;

/**
 * Merges, batches and executes SQL statements. See the package README for the full behaviour.
 *
 * @example
 * ```ts
 * await using batcher = new SQLBatcher({ adapter, maxBytes: 1_000_000 });
 * await batcher.processStatements(statements);
 * ```
 */
export class SQLBatcher implements AsyncDisposable {
  readonly adapter: Adapter | undefined;
  private readonly caps: AdapterCapabilities;
  private readonly rules: DialectRules;
  private readonly builder: BatchBuilder;
  private readonly policy: RetryPolicy;
  private readonly breaker: CircuitBreaker | undefined;
  private readonly transaction: TransactionMode;
  private readonly savepoints: boolean;
  private readonly onError: OnErrorMode;
  private readonly concurrency: number;
  private readonly dryRun: SQLBatcherOptions['dryRun'];
  private readonly timeoutMs: number | undefined;
  private readonly cancelGraceMs: number;
  private readonly plugins: Plugin[] = [];
  private readonly initialized = new Set<Plugin>();
  private readonly options: SQLBatcherOptions;
  private collector: Collector | undefined;
  private metadata: Record<string, unknown> | undefined;
  private executeOverride: ExecuteFn | undefined;

  private nextIndex = 0;
  /** Statements a `transformStatement` hook deliberately dropped (returned null). */
  private droppedByPlugins = 0;
  private batchSeq = 0;
  private savepointSeq = 0;
  private session: AdapterSession | undefined;
  private txOpen = false;
  /** A failure left the open transaction unfit to commit. */
  private txFailed = false;
  /** The failure behind `txFailed` was rolled back to its savepoint: an explicit `commit()` may go on. */
  private txRecoverable = false;
  private closed = false;
  /** A statement changed session state: no parallel requests, one pinned session (transaction 'none'). */
  private pinned = false;
  /**
   * A statement that changes session state (SET, …) was taken since the session was last released: that
   * session's connection is released as broken (an adapter's pool destroys it) rather than handed to the
   * next user with the state on it (found in review: a later batcher on the same adapter inserted into
   * the schema an earlier one had SET).
   */
  private sessionChanged = false;
  private readonly inFlight = new Set<Promise<void>>();
  /**
   * Input indices applied in the open `'all'` transaction, one bit each from {@link txBase} on (a million
   * statements: 125 kB, whatever their order): named by a COMMIT that fails.
   */
  private txApplied = new Uint8Array(0);
  /** The input index of bit 0 of {@link txApplied} (a multiple of 8). */
  private txBase = 0;
  /**
   * With transaction 'none': the input index of the `BEGIN` whose transaction block is open on the
   * session (the input opened it), for naming what a failure that takes the block with it undoes.
   */
  private inputBlockStart: number | undefined;
  /** Requests being executed right now (attempts, across concurrent batches). */
  private attemptsRunning = 0;
  private inFlightError: unknown;
  /** Batches that reached the adapter (or dry run): the rest of a failed dispatch was never sent. */
  private readonly attempted = new WeakSet<BuiltBatch>();
  /** Inside processStatements: the next batch is built while the previous request runs. */
  private pipelining = false;
  /** The `processStatements` run in progress (one at a time per batcher). */
  private activeRun: Promise<unknown> | undefined;
  /** close() has begun. */
  private closing = false;
  /** The calls that send outside a run, one after the other (see {@link exclusive}). */
  private ops: Promise<unknown> = Promise.resolve();
  /** `close()` was called during a run: the run stops at its next statement. */
  private stopRequested = false;
  /** Aborted with {@link stopRequested}: a retry's backoff ends early then. */
  private readonly stopping = new AbortController();
  /** The async input of the running `processStatements`, while it is iterated. */
  private input: AsyncIterator<string | readonly string[]> | undefined;
  /** The object `input` came from (a stream is ended by destroying it). */
  private inputSource: unknown;
  /** A pipelined request that must run alone is in flight. */
  private barrierInFlight = false;
  /** processBatch: each request's result with its batch id (requests may finish out of order). */
  private collectResults: { id: number; value: unknown }[] | undefined;
  private readonly _report: BatcherReport = {
    statements: 0,
    requests: 0,
    retries: 0,
    rowsAffected: 0,
    rejected: [],
    inDoubt: [],
  };

  constructor(options: SQLBatcherOptions = {}) {
    this.options = options;
    this.adapter = options.adapter;
    this.caps = options.adapter?.capabilities ?? {
      ...DEFAULT_CAPS,
      maxQuerySize: options.maxBytes ?? 1_000_000,
    };
    this.rules = dialectRules(options.dialect ?? this.caps.dialect);
    this.transaction = options.transaction ?? 'none';
    this.savepoints = options.savepoints ?? false;
    this.onError = options.onError ?? 'throw';
    // Honest capabilities: never more requests in flight than the adapter says it can take.
    this.concurrency = Math.min(
      options.concurrency ?? 1,
      options.adapter?.capabilities.maxConcurrency ?? Number.POSITIVE_INFINITY,
    );
    this.dryRun = options.dryRun;
    this.timeoutMs = options.timeoutMs;
    this.cancelGraceMs = options.cancelGraceMs ?? 5_000;
    this.collector = options.collector;
    this.metadata = options.metadata;
    // The adapter's implied settings (TrinoAdapter's retryAttempts, …) apply unless set here.
    const implied = options.adapter?.batcherDefaults;
    this.policy = retryPolicy(options.retry ?? implied?.retry);
    const breaker = options.circuitBreaker ?? implied?.circuitBreaker;
    this.breaker =
      breaker === true ? new CircuitBreaker() : breaker ? new CircuitBreaker(breaker) : undefined;
    this.validate();
    const maxBytes = options.maxBytes ?? 1_000_000;
    // (the engine's own dialect decides how VALUES are typed, whatever dialect lexes the input)
    const engine: string = options.adapter ? this.caps.dialect : this.rules.name;
    this.builder = new BatchBuilder({
      ceiling: this.caps.maxQuerySize,
      maxBytes: Math.min(maxBytes, this.caps.maxQuerySize),
      multiStatement: this.caps.multiStatement,
      batchMode: options.batchMode ?? true,
      mergeInserts: options.mergeInserts ?? true,
      mergeScope: options.mergeScope ?? 'adjacent',
      maxRowsPerInsert: this.caps.maxRowsPerInsert ?? Number.POSITIVE_INFINITY,
      delimiter: options.delimiter ?? ';',
      columnAware: options.autoAdjustForColumns
        ? {
            reference: options.referenceColumnCount ?? 10,
            min: options.minAdjustmentFactor ?? 0.5,
            max: options.maxAdjustmentFactor ?? 2.0,
          }
        : undefined,
      dialect: this.rules,
      keepUnits: this.onError !== 'throw',
      recordCalls: this.concurrency > 1 && typeof this.adapter?.canRunConcurrently === 'function',
      ...((this.caps.valuesCommonType ?? UNIFYING_DIALECTS.has(engine))
        ? {
            valuesCommonType: {
              exactNumbers: engine === 'trino' ? 'any' : engine === 'snowflake' ? 'scale' : 'none',
            } as const,
          }
        : {}),
    });
    for (const p of options.plugins ?? []) this.registerPlugin(p);
  }

  private validate(): void {
    const o = this.options;
    const caps = this.caps;
    if (o.maxBytes !== undefined && !(o.maxBytes >= 1)) throw new ConfigurationError('maxBytes must be >= 1');
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      throw new ConfigurationError('concurrency must be an integer >= 1');
    }
    if (this.transaction !== 'none' && !this.dryRun) {
      if (!this.adapter || !caps.transactions || typeof this.adapter.session !== 'function') {
        throw new ConfigurationError(
          `transaction: '${this.transaction}' needs an adapter with transactions; ${this.adapter?.name ?? 'no adapter'} has none`,
        );
      }
    }
    if (this.savepoints) {
      if (this.transaction !== 'all') throw new ConfigurationError("savepoints need transaction: 'all'");
      if (!caps.savepoints && !this.dryRun) {
        throw new ConfigurationError(
          `${this.adapter?.name ?? 'this'} adapter has no savepoints; use transaction: 'batch' to isolate batches instead`,
        );
      }
    }
    if (this.transaction === 'all' && this.onError !== 'throw' && !this.savepoints) {
      throw new ConfigurationError(
        `onError: '${this.onError}' inside transaction: 'all' needs savepoints: true (a failure would abort the whole transaction)`,
      );
    }
  }

  /** What the batcher did so far. */
  get report(): Readonly<BatcherReport> {
    return this._report;
  }

  /** Current soft target in bytes. */
  get maxBytes(): number {
    return this.builder.maxBytes;
  }

  /** Change the soft target per request (capped by the adapter's ceiling). */
  setBatchSize(maxBytes: number): void {
    if (!(maxBytes >= 1) || !Number.isFinite(maxBytes))
      throw new ConfigurationError('batch size must be a positive number of bytes (at least 1)');
    this.builder.setMaxBytes(Math.min(Math.floor(maxBytes), this.caps.maxQuerySize));
  }

  /** Add a plugin; its `init` runs before the next statement. */
  registerPlugin(plugin: Plugin): void {
    if (!plugin || typeof plugin !== 'object') throw new ConfigurationError('a plugin must be an object');
    this.plugins.push(plugin);
  }

  /**
   * Add one statement. It is never dropped: when the batch is full, the full batch is executed and
   * `true` is returned; the statement itself stays buffered for the next batch.
   */
  async addStatement(sql: string): Promise<boolean> {
    // (a hook of close()'s last flush may still add statements; flush(), commit() … from there may not)
    this.assertOpen(true);
    return this.exclusive(async () => {
      // (a call queued before close() began still runs: close() waits for it; found in review)
      this.assertNotClosed();
      await this.initPlugins();
      await this.accept(sql);
      try {
        return await this.dispatchReady();
      } catch (err) {
        this.stopAfterSendFailure(err);
        throw err;
      }
    });
  }

  /**
   * Run `op` after the calls before it that send (`addStatement`, `flush`, `commit`, `rollback`) have
   * settled: a call not awaited is still one after the other with the next, and `processStatements` and
   * `close()` wait for it (found in review: close() during a flush rolled its batch back, and a run
   * started during one ran its statements before the flushed ones).
   */
  private exclusive<T>(op: () => Promise<T>): Promise<T> {
    // Without async context (a runtime without AsyncLocalStorage) calls are not queued: a hook calling
    // the batcher from inside one would otherwise wait for itself. A call from inside one (a plugin
    // hook, an async transform) runs at once, as part of it (found in review: it waited for itself).
    if (!opContext || opContext.getStore() === this) return op();
    const ctx = opContext;
    const run = this.ops.then(() => ctx.run(this, op));
    this.ops = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * A failure while sending outside `processStatements` (`addStatement`, `flush`). Stop at the failed
   * batch, as processStatements does: what was buffered after it is not run later by flush or dispose;
   * the error lists it in `notSentIndices`. Any failure while sending (the database, a plugin hook, the
   * collector, an open circuit) stops the same way, and marks an open `'all'` transaction failed.
   */
  private stopAfterSendFailure(err: unknown): void {
    addNotSent(err, this.discardBuffered());
    if (this.transaction === 'all' && this.txOpen && !this.txFailed) {
      // Nothing of the failed batch was committed: the caller may still commit or roll back.
      this.txFailed = true;
      this.txRecoverable = this.savepoints;
    }
  }

  /**
   * Execute everything buffered. Returns the number of input statements flushed.
   * `execute` / `collector` / `metadata` apply to this call only.
   */
  async flush(
    execute?: ExecuteFn,
    collector?: Collector,
    metadata?: Record<string, unknown>,
  ): Promise<number> {
    this.assertOpen();
    return this.exclusive(() => this.flushNow(execute, collector, metadata));
  }

  private flushNow(
    execute?: ExecuteFn,
    collector?: Collector,
    metadata?: Record<string, unknown>,
  ): Promise<number> {
    return this.withCallOptions(execute, collector, metadata, async () => {
      const pending = new Set(this.builder.pendingIndices()).size;
      this.builder.flush();
      try {
        await this.dispatchReady();
        await this.drain();
      } catch (err) {
        this.stopAfterSendFailure(err);
        throw err;
      }
      // (a session holding SET … state stays for the statements added after this flush; dispose releases it)
      if (this.transaction !== 'all' && !this.pinned) await this.releaseSession();
      return pending;
    });
  }

  /**
   * Process a stream of statements: arrays, iterables, async iterables (millions, with bounded memory),
   * or one string of SQL text (split into statements). Returns the number of input statements.
   * In `transaction: 'all'` the run is one transaction, committed at the end and rolled back on failure.
   * One run at a time per batcher; `close()` during a run stops it at its next statement.
   */
  async processStatements(
    statements: StatementSource,
    execute?: ExecuteFn,
    collector?: Collector,
    metadata?: Record<string, unknown>,
  ): Promise<number> {
    this.assertOpen();
    this.assertNoRun();
    // (after any addStatement / flush still sending: see exclusive; not when called from inside one)
    const before = opContext?.getStore() === this ? Promise.resolve() : this.ops;
    const run = before.then(() => {
      this.assertNotClosed();
      return this.runStatements(statements, execute, collector, metadata);
    });
    this.activeRun = run;
    try {
      return await run;
    } finally {
      this.activeRun = undefined;
    }
  }

  private assertNoRun(): void {
    if (this.activeRun) {
      // Two runs would share the batch being built, the session and the transaction.
      throw new SQLBatcherError(
        'RUN_IN_PROGRESS',
        'processStatements is already running on this batcher: await it before starting another',
      );
    }
  }

  /** The body of {@link processStatements}. */
  private runStatements(
    statements: StatementSource,
    execute?: ExecuteFn,
    collector?: Collector,
    metadata?: Record<string, unknown>,
  ): Promise<number> {
    return this.withCallOptions(execute, collector, metadata, async () => {
      await this.initPlugins();
      const source = typeof statements === 'string' ? this.splitText(statements) : statements;
      const before = this._report.statements;
      const droppedBefore = this.droppedByPlugins;
      const ownsTransaction = this.transaction === 'all' && !this.txOpen;
      /** Set while sending: a failure then is the database's (or a hook's), not the input's. */
      const phase = { sending: false };
      this.pipelining = true;
      try {
        if (Symbol.asyncIterator in Object(source)) {
          // (iterated by hand, as `for await` would, so that close() can end an input waiting for data)
          const it = (source as AsyncIterable<string | readonly string[]>)[Symbol.asyncIterator]();
          this.input = it;
          this.inputSource = source;
          let done = false;
          try {
            for (;;) {
              let next: IteratorResult<string | readonly string[]>;
              try {
                next = await it.next();
              } catch (err) {
                // (a stream destroyed by close() fails its read: the run stopped, which is what to report)
                if (this.stopRequested) throw new ClosedError('SQLBatcher');
                throw err;
              }
              if (next.done) {
                done = true;
                break;
              }
              const item = next.value;
              // Chunks of statements (arrays) avoid one async step per statement.
              if (typeof item === 'string') {
                const pending = this.accept(item);
                if (pending) await pending;
                if (this.builder.hasReady) await this.sending(phase, () => this.dispatchReady());
                continue;
              }
              for (const sql of item) {
                const pending = this.accept(sql);
                if (pending) await pending;
                if (this.builder.hasReady) await this.sending(phase, () => this.dispatchReady());
              }
            }
          } finally {
            this.input = undefined;
            this.inputSource = undefined;
            if (!done) {
              try {
                await it.return?.();
              } catch {
                // (as with `for await`: the error that ended the loop is the one reported)
              }
            }
          }
          // (the input ended because close() asked it to: the run stops as at a statement)
          if (this.stopRequested) throw new ClosedError('SQLBatcher');
        } else {
          for (const sql of source as Iterable<string>) {
            const pending = this.accept(sql);
            if (pending) await pending;
            if (this.builder.hasReady) await this.sending(phase, () => this.dispatchReady());
          }
        }
        const count = this._report.statements - before;
        // Empty input is an error; input a plugin deliberately filtered out entirely is not.
        if (count === 0 && this.droppedByPlugins === droppedBefore && this.builder.empty) {
          throw new InvalidStatementError(
            'no statements in input (empty or comment-only)',
            -1,
            '',
            'EMPTY_INPUT',
          );
        }
        this.builder.flush();
        await this.sending(phase, async () => {
          await this.dispatchReady();
          await this.drain();
        });
        if (ownsTransaction) await this.commitOpen();
        // (a session holding SET … state stays for later calls; dispose releases it)
        else if (this.transaction !== 'all' && !this.pinned) await this.releaseSession();
        return count;
      } catch (err) {
        await this.abortRun(err, ownsTransaction, phase.sending);
        throw err;
      } finally {
        this.pipelining = false;
      }
    });
  }

  /** Like {@link processStatements}, returning each request's result in order. */
  async processBatch(statements: StatementSource, execute?: ExecuteFn): Promise<unknown[]> {
    // Refused before taking over `collectResults`: the run going on collects into it.
    this.assertOpen();
    this.assertNoRun();
    const results: { id: number; value: unknown }[] = [];
    this.collectResults = results;
    try {
      await this.processStatements(statements, execute);
    } finally {
      this.collectResults = undefined;
    }
    // In request order, also when concurrent requests finished out of order.
    return results.sort((a, b) => a.id - b.id).map((r) => r.value);
  }

  /** Flush and commit the open `transaction: 'all'` transaction. */
  async commit(): Promise<void> {
    if (this.activeRun) {
      // (it would commit part of the run, and the rest would go on in a new transaction)
      throw new SQLBatcherError(
        'RUN_IN_PROGRESS',
        'commit() while processStatements is running: await the run (it commits its own transaction)',
      );
    }
    return this.exclusive(() => this.commitOpen());
  }

  private async commitOpen(): Promise<void> {
    // (checked before sending what is buffered: it would only meet the aborted transaction)
    if (this.txOpen && this.session && this.txFailed && !this.txRecoverable) {
      const err = transactionFailed();
      addNotSent(err, this.discardBuffered());
      throw err;
    }
    this.builder.flush();
    try {
      await this.dispatchReady();
      await this.drain();
    } catch (err) {
      // (else a later dispose would commit the batches sent before the failed one)
      this.stopAfterSendFailure(err);
      throw err;
    }
    if (!this.txOpen || !this.session) return;
    if (this.txFailed && !this.txRecoverable) throw transactionFailed();
    // With savepoints the failed batch was rolled back to its savepoint: committing the rest is the
    // caller's explicit choice (dispose never makes it: it rolls back after any failure).
    this.txFailed = false;
    this.txRecoverable = false;
    const s = this.session;
    this.txOpen = false;
    const applied = this.txApplied;
    const base = this.txBase;
    this.txApplied = new Uint8Array(0);
    try {
      await this.timed(() => s.commit());
    } catch (err) {
      await this.releaseSession(true);
      // The engine answered with an error (a deferred constraint, a serialization failure): the
      // transaction was rolled back. Only a COMMIT whose answer was lost leaves it unknown.
      const inDoubt = this.classify(err).effect === 'unknown';
      const indices: number[] = [];
      for (let byte = 0; byte < applied.length; byte++) {
        const bits = applied[byte] as number;
        if (bits === 0) continue;
        for (let b = 0; b < 8; b++) if (bits & (1 << b)) indices.push(base + byte * 8 + b);
      }
      const error = new BatchExecutionError(
        inDoubt
          ? `COMMIT failed; the transaction (${indices.length} statements) may or may not have been committed`
          : `COMMIT failed; the transaction was rolled back: ${messageOf(err)}`,
        { cause: err, inDoubt, statementIndices: indices },
      );
      if (inDoubt) this._report.inDoubt.push({ indices, error });
      throw error;
    }
    // (a session holding SET … state stays for the next transaction: found in review, released it was
    // destroyed and the next transaction ran without that state)
    if (!this.pinned) await this.releaseSession();
  }

  /**
   * Roll back the open `transaction: 'all'` transaction, discarding anything still buffered. Refused
   * with `RUN_IN_PROGRESS` while `processStatements` runs (it rolls back its own transaction on failure).
   */
  async rollback(): Promise<void> {
    if (this.activeRun) {
      // (the run would go on in a new transaction and commit the rest of its statements)
      throw new SQLBatcherError(
        'RUN_IN_PROGRESS',
        'rollback() while processStatements is running: await the run, or close() to stop it (nothing of an owned transaction is committed then)',
      );
    }
    return this.exclusive(async () => {
      if (!this.txOpen && this.pinned && this.session) {
        // No transaction of the batcher's: the session, and the state SET on it, is kept for the
        // statements after this (found in review: released, they ran on a fresh connection without
        // that state); a block the input opened on it is rolled back, never one the caller had open on
        // a shared client before (found in review).
        await this.drain().catch(() => undefined);
        this.discardBuffered();
        this.txApplied = new Uint8Array(0);
        this.txFailed = false;
        this.txRecoverable = false;
        if (this.inputBlockStart === undefined) return;
        this.inputBlockStart = undefined;
        const s = this.session;
        try {
          await this.timed(() => s.rollback());
        } catch {
          await this.releaseSession(true);
        }
        return;
      }
      return this.rollbackOpen();
    });
  }

  private async rollbackOpen(): Promise<void> {
    await this.drain().catch(() => undefined);
    this.discardBuffered();
    this.txApplied = new Uint8Array(0);
    // (also when no transaction was opened, its BEGIN or the connection having failed: found in review,
    // every later run was refused)
    if (!this.txOpen) {
      this.txFailed = false;
      this.txRecoverable = false;
    }
    if (this.txOpen && this.session) {
      this.txOpen = false;
      this.txFailed = false;
      this.txRecoverable = false;
      try {
        const session = this.session;
        await this.timed(() => session.rollback());
      } catch {
        await this.releaseSession(true);
        return;
      }
    }
    await this.releaseSession();
  }

  /**
   * Flush what is buffered, commit an open transaction (roll it back instead if a batch failed in it),
   * release the connection and run every plugin's `cleanup`, even after a failure. Never re-executes a
   * batch that failed. The adapter stays open: the caller owns it.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.closed) return;
    // (a call made after close() began is refused, not buffered after dispose's last flush: found in review)
    this.closing = true;
    if (this.activeRun) {
      // Closing during a run stops it at its next statement (its own error reports that), and waits.
      // An async input waiting for data is ended first (see endInput), so the run stops at once.
      this.stopRequested = true;
      this.stopping.abort();
      this.endInput();
      await this.activeRun.catch(() => undefined);
    }
    // (and for an addStatement / flush / commit still sending, unless called from inside one)
    if (opContext?.getStore() !== this) await this.ops;
    // (the rest as a call of its own: a hook of its last flush may still add statements)
    return opContext ? opContext.run(this, () => this.dispose()) : this.dispose();
  }

  private async dispose(): Promise<void> {
    let failure: unknown;
    try {
      if (this.txFailed) await this.rollbackOpen();
      else {
        // (again while a hook of the last batch added statements: they are sent too, a bounded number
        // of times)
        for (let round = 0; round < 16; round++) {
          this.builder.flush();
          await this.dispatchReady();
          await this.drain();
          if (this.builder.empty) break;
        }
        if (!this.builder.empty) {
          // (hooks kept adding statements: what is left is not sent, and said so)
          const err = new SQLBatcherError(
            'CLOSED',
            'close(): plugin hooks kept adding statements while the last ones were sent; the rest was not sent',
          );
          addNotSent(err, this.discardBuffered());
          throw err;
        }
        if (this.txOpen) await this.commitOpen();
        await this.releaseSession();
      }
    } catch (err) {
      failure = err;
      await this.rollbackOpen().catch(() => undefined);
    } finally {
      this.closed = true;
      for (const p of this.plugins) {
        if (!p.cleanup) continue;
        try {
          await p.cleanup();
        } catch (err) {
          failure ??= new PluginError(p.name, 'cleanup', err);
        }
      }
    }
    if (failure !== undefined) throw failure;
  }

  /**
   * Ask the running async input to end, as `for await … break` would: a readable stream is destroyed,
   * any other iterator's `return()` is called (a readline interface, an event queue). Either makes an
   * input that waits for data end now. An async generator waiting inside its own body cannot be ended
   * from outside: the run then stops when it yields its next item.
   */
  private endInput(): void {
    const it = this.input;
    if (!it) return;
    try {
      const source = this.inputSource as { destroy?: () => unknown } | undefined;
      if (typeof source?.destroy === 'function') source.destroy();
      else if (it.return) Promise.resolve(it.return()).catch(() => undefined);
    } catch {
      // (the input's own failure to end is not the batcher's: the run still stops at its next item)
    }
  }

  /** Same as `await using`'s dispose. */
  close(): Promise<void> {
    return this[Symbol.asyncDispose]();
  }

  // ---------------------------------------------------------------- input

  /**
   * The statements of SQL text, split as they are taken: the statements before a bad one (an
   * unterminated quote, say) are accepted and run first, and the error counts indices across calls.
   */
  private *splitText(text: string): Generator<string, void, undefined> {
    const sp = new StatementSplitter({ dialect: this.rules, firstIndex: this.nextIndex });
    try {
      yield* sp.push(text);
      yield* sp.end();
    } catch (err) {
      // The refused statement has its index: the next call's statements come after it (found in review:
      // the next statement was given the same index).
      const refused = err instanceof SQLBatcherError ? err.statementIndices[0] : undefined;
      if (refused !== undefined && refused >= this.nextIndex) this.nextIndex = refused + 1;
      throw err;
    }
  }

  /**
   * At a call's entry: refused once close() has begun, except from inside a call close() is running (a
   * plugin hook of its last flush; found in review: refused, it failed close() and rolled everything back).
   */
  private assertOpen(insideClose = false): void {
    if (this.closed || (this.closing && !(insideClose && opContext?.getStore() === this)))
      throw new ClosedError('SQLBatcher');
  }

  private assertNotClosed(): void {
    if (this.closed) throw new ClosedError('SQLBatcher');
  }

  /** Transform, validate, lex and buffer one statement. Returns a promise only when a hook is async. */
  private accept(sql: string): Promise<void> | undefined {
    if (this.stopRequested) throw new ClosedError('SQLBatcher');
    const index = this.nextIndex++;
    const given = sql;
    if (this.plugins.length > 0) {
      for (let k = 0; k < this.plugins.length; k++) {
        const p = this.plugins[k] as Plugin;
        if (!p.transformStatement) continue;
        let out: ReturnType<NonNullable<Plugin['transformStatement']>>;
        try {
          out = p.transformStatement(sql, index);
        } catch (err) {
          throw new PluginError(p.name, 'transformStatement', err, index);
        }
        if (out && typeof (out as Promise<unknown>).then === 'function') {
          return this.acceptAsync(out as Promise<string | null>, p, k, index, given);
        }
        if (out === null) {
          this.droppedByPlugins++;
          return undefined;
        }
        if (typeof out !== 'string') throw notAStatement(p, out, index);
        sql = out;
      }
    }
    this.bufferStatement(sql, index, sql !== given);
    // While a request is in flight, let the event loop run now and then: a synchronous input would
    // otherwise keep the driver from writing the rest of that request to its socket (and from reading
    // the reply) until the next batch is built, and the database would sit idle meanwhile.
    if ((index & YIELD_EVERY_MASK) === 0 && this.inFlight.size > 0) return yieldToEventLoop();
    return undefined;
  }

  private async acceptAsync(
    first: Promise<string | null>,
    p: Plugin,
    k: number,
    index: number,
    /** The statement as the input gave it. */
    given: string,
  ): Promise<void> {
    let sql: string | null;
    try {
      sql = await first;
    } catch (err) {
      throw new PluginError(p.name, 'transformStatement', err, index);
    }
    if (sql !== null && typeof sql !== 'string') throw notAStatement(p, sql, index);
    for (let j = k + 1; j < this.plugins.length && sql !== null; j++) {
      const q = this.plugins[j] as Plugin;
      if (!q.transformStatement) continue;
      try {
        sql = await q.transformStatement(sql, index);
      } catch (err) {
        throw new PluginError(q.name, 'transformStatement', err, index);
      }
      if (sql !== null && typeof sql !== 'string') throw notAStatement(q, sql, index);
    }
    if (sql === null) this.droppedByPlugins++;
    else this.bufferStatement(sql, index, sql !== given);
  }

  /**
   * `rewritten`: a plugin's `transformStatement` changed the statement; one it left empty or comment-only
   * counts as dropped by that plugin (as `null` does), not as empty input.
   */
  private bufferStatement(sql: string, index: number, rewritten = false): void {
    if (typeof sql !== 'string') {
      throw new InvalidStatementError(
        `expected a string, got ${sql === null ? 'null' : typeof sql}`,
        index,
        String(sql),
      );
    }
    if (sql.indexOf('\0') !== -1)
      throw new InvalidStatementError('contains a NUL byte', index, sql, 'NUL_BYTE');
    // Another single-row INSERT into the INSERT being built is appended without the full lexer.
    if (!this.builder.tryAppendRow(index, sql) && !this.lexAndAdd(sql, index)) {
      if (rewritten) this.droppedByPlugins++;
      return;
    }
    this._report.statements++;
    this.collector?.countInput?.(1);
  }

  /** Lex `sql` and add it to the batch; false when it holds no statement at all. */
  private lexAndAdd(sql: string, index: number): boolean {
    let lexed: LexedStatement;
    try {
      lexed = lexStatement(sql, this.rules);
    } catch (err) {
      if (err instanceof LexError) throw new InvalidStatementError(err.message, index, sql, 'UNTERMINATED');
      throw err;
    }
    if (lexed.kind === 'empty') return false;
    const unsupported =
      lexed.unsupported ??
      (lexed.multiple && /standard_conforming_strings/i.test(sql)
        ? splitStatements(sql, { dialect: this.rules, onMetaCommand: () => undefined })
            .map((part) => lexStatement(part, this.rules).unsupported)
            .find((u) => u !== undefined)
        : undefined);
    if (unsupported !== undefined) {
      throw new InvalidStatementError(unsupported, index, sql, 'UNSUPPORTED_SETTING');
    }
    // (an input string of several statements, one of them transaction control)
    const holdsControl =
      lexed.kind !== 'transaction' &&
      lexed.multiple &&
      TX_WORD.test(sql) &&
      splitStatements(sql, { dialect: this.rules, onMetaCommand: () => undefined }).some(
        (part) => lexStatement(part, this.rules).kind === 'transaction',
      );
    if (this.transaction !== 'none' && (lexed.kind === 'transaction' || holdsControl)) {
      throw new InvalidStatementError(
        `transaction control statement conflicts with transaction: '${this.transaction}'`,
        index,
        sql,
        'TRANSACTION_CONFLICT',
      );
    }
    // SET / BEGIN … change the connection they run on: from here on every request shares one session,
    // and that connection is not given back to be reused as it is (see releaseSession).
    if ((!this.pinned || !this.sessionChanged) && changesSession(lexed, sql, this.rules)) {
      this.pinned = true;
      // (an input's BEGIN … is undone when the session is released, as it always was: only state that
      // outlives a transaction makes the connection unfit to hand on; a SET after a BEGIN counts too)
      // (a string of several statements, one of them transaction control, may hold a SET too: counted)
      if (lexed.kind !== 'transaction' || lexed.multiple) this.sessionChanged = true;
    }
    // Such a string goes alone in its request, as transaction control does: with other statements its
    // BEGIN or COMMIT would take them into, or out of, the request's one transaction.
    this.builder.add(
      index,
      holdsControl && lexed.standalone !== true ? { ...lexed, standalone: true } : lexed,
    );
    return true;
  }

  // ------------------------------------------------------------- dispatch

  private async dispatchReady(): Promise<boolean> {
    const ready = this.builder.takeReady();
    // (batches after a failed one are kept out of later flushes, and named)
    await this.inOrder(ready, (batch) => this.dispatch(batch));
    return ready.length > 0;
  }

  /**
   * Run `go` on each batch in order. When one fails, the error names as not sent the batches after it,
   * and that batch too when it never reached the adapter (a hook or an earlier request's failure came
   * first); once attempted, its fate is on its own error.
   */
  private async inOrder(batches: BuiltBatch[], go: (batch: BuiltBatch) => Promise<void>): Promise<void> {
    for (let k = 0; k < batches.length; k++) {
      const batch = batches[k] as BuiltBatch;
      try {
        await go(batch);
      } catch (err) {
        const from = this.attempted.has(batch) ? k + 1 : k;
        addNotSent(
          err,
          batches.slice(from).flatMap((b) => b.indices),
        );
        throw err;
      }
    }
  }

  private async dispatch(batch: BuiltBatch): Promise<void> {
    if (this.inFlightError !== undefined) await this.drain();
    // A batch failed in the open 'all' transaction and took it with it: nothing more is sent into it
    // (found in review: later batches met "current transaction is aborted" and were blamed for it).
    if (this.transaction === 'all' && this.txOpen && this.txFailed && !this.txRecoverable)
      throw transactionFailed();
    // The adapter may start on this batch's CPU work while the request in flight runs.
    if (this.inFlight.size > 0 && !this.dryRun && !this.executeOverride && this.adapter?.prepare) {
      try {
        this.adapter.prepare(batch.statements);
      } catch {
        // only a hint
      }
    }
    let parallel =
      this.concurrency > 1 &&
      !this.pinned &&
      this.transaction !== 'all' &&
      !this.dryRun &&
      batch.statements.every((s) => s.plainInsert) &&
      // currval()/lastval() read what the session's own nextval() did: beside another connection's
      // requests they would read another session (or nothing at all)
      !batch.statements.some((s) => readsSessionSequence(s));
    if (parallel) {
      // Nothing runs beside a request that must run alone (a non-INSERT is a barrier). Wait for it before
      // asking the adapter: DDL in flight may be about to add the foreign key that makes the answer no.
      if (this.barrierInFlight) await this.drain();
      parallel = await this.adapterAllowsConcurrency(batch);
    }
    if (!parallel) {
      // One request at a time, in order: wait for the one in flight before starting this one.
      await this.drain();
      if (!this.pipelining) {
        await this.send(batch);
        return;
      }
      // Pipelined (inside processStatements): return at once so the next batch is lexed and merged
      // while this request runs; the next dispatch, flush or dispose waits for it first.
      this.barrierInFlight = true;
      this.track(
        this.sendNaming(batch, false).finally(() => {
          this.barrierInFlight = false;
        }),
      );
      return;
    }
    while (this.inFlight.size >= this.concurrency) await Promise.race(this.inFlight);
    if (this.inFlightError !== undefined) await this.drain();
    this.track(this.sendNaming(batch, true));
  }

  /**
   * {@link send} for a request tracked in flight: when it fails before the batch reached the adapter
   * (a `beforeBatch` hook threw), the error names the batch's statements as not sent.
   */
  private sendNaming(batch: BuiltBatch, parallel: boolean): Promise<void> {
    return this.send(batch, parallel).catch((err: unknown) => {
      if (!this.attempted.has(batch)) addNotSent(err, batch.indices);
      throw err;
    });
  }

  /**
   * The adapter's {@link Adapter.canRunConcurrently} answer (no method: yes; a throw, or no answer within
   * `timeoutMs`: no). With a custom execute function the adapter sees none of the requests (its answer
   * could be stale): no.
   */
  private async adapterAllowsConcurrency(batch: BuiltBatch): Promise<boolean> {
    const ask = this.adapter?.canRunConcurrently;
    if (!ask) return true;
    if (this.executeOverride) return false;
    try {
      // (nothing to cancel: no grace period)
      const answer = await withTimeout(
        async () => ask.call(this.adapter, batch.statements),
        this.timeoutMs,
        0,
      );
      return answer === true;
    } catch {
      return false;
    }
  }

  /** Keep a started request in `inFlight`; its failure surfaces at the next `drain()`. */
  private track(sending: Promise<void>): void {
    const p: Promise<void> = sending.then(
      () => {
        this.inFlight.delete(p);
      },
      (err: unknown) => {
        this.inFlight.delete(p);
        if (this.inFlightError === undefined) this.inFlightError = err;
        else this.alsoFailed(err);
      },
    );
    this.inFlight.add(p);
  }

  /**
   * A second request in flight failed while the first failure waits to be thrown: it is reported on
   * that error (`additionalFailures`; its statements in `notSentIndices` when rolled back, in
   * `report.inDoubt` when they may have been applied), never dropped.
   */
  private alsoFailed(err: unknown): void {
    const first = this.inFlightError as { additionalFailures?: unknown[] } | null;
    if (first && typeof first === 'object') {
      first.additionalFailures = [...(first.additionalFailures ?? []), err];
    }
    if (isSQLBatcherError(err)) {
      const inDoubt = (err as { inDoubt?: boolean }).inDoubt === true;
      if (inDoubt) this._report.inDoubt.push({ indices: [...err.statementIndices], error: err });
      else addNotSent(first, err.statementIndices);
    }
  }

  /** Wait for every request in flight; rethrow the first failure among them. */
  private async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    const err = this.inFlightError;
    if (err !== undefined) {
      this.inFlightError = undefined;
      throw err;
    }
  }

  private toInfo(batch: BuiltBatch): BatchInfo {
    return {
      id: this.batchSeq++,
      sql: this.builder.join(batch),
      bytes: batch.bytes,
      statements: batch.statements,
      inputCount: batch.indices.length,
      rowCount: batch.rowCount,
      ...(this.metadata ? { metadata: this.metadata } : {}),
    };
  }

  /**
   * `batch` with each merged `ON CONFLICT … DO UPDATE` INSERT the adapter says may not go as one (see
   * {@link Adapter.canMergeUpserts}) sent as its input statements; more than one batch when that does
   * not fit the engine's limit. Undefined when nothing changes.
   */
  private async unmergeUpserts(batch: BuiltBatch): Promise<BuiltBatch[] | undefined> {
    const adapter = this.adapter;
    const ask = adapter?.canMergeUpserts;
    if (!ask || this.dryRun) return undefined;
    const refused = new Set<BuiltStatement>();
    for (const st of batch.statements as BuiltStatement[]) {
      if (!mergedUpsert(st)) continue;
      let ok: boolean;
      try {
        ok = (await withTimeout(async () => ask.call(adapter, st), this.timeoutMs, 0)) === true;
      } catch {
        ok = false;
      }
      if (!ok) refused.add(st);
    }
    return refused.size > 0 ? this.splitMerged(batch, (st) => refused.has(st)) : undefined;
  }

  /**
   * `batch` with the statements `split` picks sent as the input statements they were merged from; more
   * than one batch when that does not fit the engine's limit.
   */
  private splitMerged(batch: BuiltBatch, split: (st: BuiltStatement) => boolean): BuiltBatch[] {
    const out: BuiltStatement[] = [];
    for (const st of batch.statements as BuiltStatement[]) {
      if (split(st)) out.push(...splitByInput(st));
      else out.push(st);
    }
    const delim = utf8Length(`${this.options.delimiter ?? ';'}\n`);
    const ceiling = this.caps.maxQuerySize;
    const batches: BuiltBatch[] = [];
    let part: BuiltStatement[] = [];
    let bytes = 0;
    const close = () => {
      if (part.length === 0) return;
      const indices = [...new Set(part.flatMap((s) => s.indices))];
      const mine = new Set(indices);
      batches.push({
        statements: part,
        indices,
        units: batch.units.filter((u) => mine.has(u.index)),
        bytes,
        rowCount: part.reduce((n, s) => n + (s.insert?.rowIndices.length ?? 0), 0),
      });
      part = [];
      bytes = 0;
    };
    for (const st of out) {
      if (part.length > 0 && bytes + delim + st.bytes > ceiling) close();
      bytes += (part.length > 0 ? delim : 0) + st.bytes;
      part.push(st);
    }
    close();
    return batches;
  }

  /**
   * Whether a batch refused for merging (see `ErrorClassification.mergedRowsConflict`) may be sent again
   * as its statements: it holds a merged upsert, and nothing but INSERTs, other DML and DDL, which the
   * failed request's rollback undid (a SELECT may have taken an advisory lock or set a sequence, which
   * no rollback undoes).
   */
  private resendable(batch: BuiltBatch): boolean {
    const statements = batch.statements as BuiltStatement[];
    if (!statements.some(mergedUpsert)) return false;
    return statements.every((st) => {
      if (st.insert) return true;
      const lexed = lexStatement(st.sql, this.rules);
      return !lexed.multiple && (lexed.kind === 'ddl' || lexed.kind === 'dml');
    });
  }

  /** Send `parts` of `batch` in order (see {@link send}). */
  private async sendParts(batch: BuiltBatch, parts: BuiltBatch[], parallel: boolean): Promise<void> {
    for (let k = 0; k < parts.length; k++) {
      const part = parts[k] as BuiltBatch;
      try {
        await this.sendBuilt(part, parallel, false);
      } catch (err) {
        // (this part too when it never reached the adapter: a beforeBatch hook threw)
        addNotSent(
          err,
          parts.slice(this.attempted.has(part) ? k + 1 : k).flatMap((b) => b.indices),
        );
        throw err;
      } finally {
        // (the batch counts as attempted once a part of it is: see inOrder)
        if (this.attempted.has(part)) this.attempted.add(batch);
      }
    }
  }

  /** Send one batch, applying `onError`. */
  private async send(batch: BuiltBatch, parallel = false): Promise<void> {
    const unmerged = await this.unmergeUpserts(batch);
    if (unmerged) return this.sendParts(batch, unmerged, parallel);
    return this.sendBuilt(batch, parallel);
  }

  /**
   * {@link send} without asking about merged upserts first. `resend`: a failure that merging caused
   * (see `ErrorClassification.mergedRowsConflict`) sends the batch again with its merged upserts split.
   */
  private async sendBuilt(batch: BuiltBatch, parallel: boolean, resend = true): Promise<void> {
    const info = this.toInfo(batch);
    await this.hook('beforeBatch', (p) => p.beforeBatch?.(info));
    this.attempted.add(batch);
    if (this.dryRun) {
      const t0 = Date.now();
      if (typeof this.dryRun === 'function') await this.dryRun(info.sql, info);
      this._report.requests++;
      this.record(info, t0, 0, true, undefined, undefined, true);
      await this.hook('afterBatch', (p) =>
        p.afterBatch?.(info, { success: true, executionTimeMs: 0, retries: 0, dryRun: true }),
      );
      return;
    }
    try {
      await this.run(info, parallel);
    } catch (err) {
      if (!(err instanceof AttemptFailure)) throw err;
      if (resend && err.mergedRowsConflict && this.resendable(batch)) {
        // Rolled back: sent again, the merged upserts as their statements (the failed request stays
        // recorded as it was)
        return this.sendParts(batch, this.splitMerged(batch, mergedUpsert), parallel);
      }
      await this.handleFailure(err, info, batch, parallel);
    }
  }

  /** Execute with retries; record and call hooks; throws {@link AttemptFailure} when it gives up. */
  private async run(info: BatchInfo, parallel: boolean): Promise<ExecuteResult> {
    const t0 = Date.now();
    const started = performance.now();
    let retries = 0;
    /** The failure of the previous attempt, when this is a retry. */
    let last: AttemptFailure | undefined;
    for (;;) {
      try {
        this.breaker?.check(info.statements.flatMap((s) => s.indices));
      } catch (open) {
        // Refused before anything was sent: not a request (the error escapes as it is).
        if (last === undefined) throw open;
        // The circuit opened between attempts: the batch failed with the last attempt's error, and is
        // reported (collector, hooks, onError) like any failure that is not retried.
        last.circuitOpen = open;
        return await this.giveUp(info, last, t0, started, retries);
      }
      // Counted only once the breaker let the attempt through.
      if (last === undefined) this._report.requests++;
      else {
        retries++;
        this._report.retries++;
      }
      try {
        this.attemptsRunning++;
        let result: ExecuteResult;
        try {
          result = await this.attempt(info, parallel);
        } finally {
          this.attemptsRunning--;
        }
        this.breaker?.success();
        if (this.transaction === 'all') this.noteTxApplied(info);
        else if (this.transaction === 'none') {
          if (this.inputBlockStart !== undefined && this.ddlCommittedBlock(info.statements))
            this.inputBlockStart = undefined;
          if (info.statements.length === 1) this.noteInputBlock(info.statements[0] as BatchStatement);
        }
        const ms = performance.now() - started;
        if (typeof result.rowCount === 'number') this._report.rowsAffected += result.rowCount;
        this.collectResults?.push({ id: info.id, value: result.raw ?? result });
        this.record(info, t0, ms, true, result, undefined, false, retries);
        const outcome: BatchOutcome = { success: true, executionTimeMs: ms, retries, result, dryRun: false };
        await this.hook('afterBatch', (p) => p.afterBatch?.(info, outcome));
        return result;
      } catch (err) {
        if (!(err instanceof AttemptFailure)) throw err;
        // The breaker guards against an engine that is down or overloaded: a failure that may be one
        // (transient, not executed at all, or of unknown effect such as a lost connection) counts; an
        // error the engine answered a statement with (executed and rolled back, or a partial run: a
        // constraint, bad SQL) shows it up, and counting those would open the circuit in the middle of
        // isolating one bad row.
        const answered = err.effect === 'rolled-back' || err.effect === 'partial';
        if (err.transient || !answered || err.transactionLost) this.breaker?.failure();
        else this.breaker?.success();
        const attempt = retries + 1;
        // A partial failure is resumed from the failed statement by handleFailure, not retried whole.
        const safe = err.effect !== 'unknown' && err.effect !== 'partial' && !err.transactionLost;
        const vetoed = this.policy.isRetryable ? !this.policy.isRetryable(err.error, attempt) : false;
        if (err.transient && safe && !vetoed && attempt < this.policy.maxAttempts && !isClosed(err.error)) {
          const delay = backoffDelay(this.policy, attempt);
          // (another request still running may close the breaker meanwhile: then the backoff is waited)
          const refusal = this.attemptsRunning === 0 ? (this.breaker?.refusesFor() ?? 0) : 0;
          if (refusal > delay) {
            // The breaker would still refuse the retry after the backoff: fail now instead of waiting.
            const indices = info.statements.flatMap((s) => s.indices);
            err.circuitOpen = new CircuitOpenError(refusal, { statementIndices: indices });
            return await this.giveUp(info, err, t0, started, retries);
          }
          last = err;
          // (close() before or during the backoff: the batch is not retried, the run stops)
          const waited =
            !this.stopping.signal.aborted &&
            (await sleep(delay, this.stopping.signal).then(
              () => true,
              () => false,
            ));
          if (waited) continue;
        }
        return await this.giveUp(info, err, t0, started, retries);
      }
    }
  }

  /** The batch failed for good: record it, run `afterBatch`, and throw the failure. */
  private async giveUp(
    info: BatchInfo,
    err: AttemptFailure,
    t0: number,
    started: number,
    retries: number,
  ): Promise<never> {
    const ms = performance.now() - started;
    const partial = partialOutcome(info, err);
    if (partial?.rowsAffected !== undefined) this._report.rowsAffected += partial.rowsAffected;
    this.record(info, t0, ms, false, undefined, err, false, retries, partial);
    const outcome: BatchOutcome = {
      success: false,
      executionTimeMs: ms,
      retries,
      error: err.error,
      dryRun: false,
      ...(partial ? { partial } : {}),
    };
    try {
      await this.hook('afterBatch', (p) => p.afterBatch?.(info, outcome));
    } catch (hookError) {
      // The hook's failure stops the run; what the failed batch did travels with it.
      const indices = info.statements.flatMap((s) => s.indices);
      (hookError as { batchError?: unknown }).batchError = err.error;
      const split = err.effect === 'partial' ? partialSplit(info, err.statementPosition ?? -1) : undefined;
      if (split) addNotSent(hookError, [...split.failed, ...split.rest]);
      else if (err.effect === 'unknown' || err.effect === 'partial') {
        this._report.inDoubt.push({ indices, error: err.error });
      } else addNotSent(hookError, indices);
      throw hookError;
    }
    (err as { attempts?: number }).attempts = retries + 1;
    throw err;
  }

  /** One attempt of one batch in the configured transaction mode. */
  private async attempt(info: BatchInfo, parallel: boolean): Promise<ExecuteResult> {
    const opts = (signal: AbortSignal | undefined) => ({ batch: info, ...(signal ? { signal } : {}) });
    const exec = async (fn: ExecuteFn) =>
      toResult(await withTimeout((signal) => fn(info.sql, opts(signal)), this.timeoutMs, this.cancelGraceMs));

    if (this.transaction === 'none') {
      try {
        if (this.executeOverride) return await exec(this.executeOverride);
        const adapter = this.requireAdapter();
        if (!parallel && (this.concurrency === 1 || this.pinned) && adapter.session) {
          const s = await this.getSession();
          // Inside a transaction block the input opened, a failed request would abort the block: every
          // later statement of it (and each half of an isolation) would fail for that alone. Under
          // skip / isolate each request gets a savepoint, as psql's ON_ERROR_ROLLBACK does, so a failure
          // takes back only its own request (not one holding transaction control: a COMMIT, the input's
          // own SAVEPOINT, … would end or move what the savepoint belongs to).
          if (
            this.inputBlockStart !== undefined &&
            this.onError !== 'throw' &&
            this.caps.savepoints &&
            s.savepoint &&
            s.rollbackToSavepoint &&
            !info.statements.some((st) => st.insert === undefined && this.holdsTransactionControl(st.sql))
          ) {
            return await this.inSavepoint(s, () => exec(s.execute.bind(s)));
          }
          return await exec(s.execute.bind(s));
        }
        return await exec(adapter.execute);
      } catch (thrown) {
        if (thrown instanceof SavepointCommandFailed) {
          const c = await this.failure(thrown.cause, info, false);
          // The connection is gone: the input's block with it, everything run in it since its BEGIN
          // rolled back, this request too (found in review: reported as this request alone, in doubt).
          if (c.effect === 'unknown' || c.transient) {
            await this.releaseSession(true);
            throw new AttemptFailure(c.error, 'rolled-back', false, true, undefined);
          }
          // The server refused it (a block the input left aborted, which the input may still roll back
          // to a savepoint of its own): this request failed, as it would have without a savepoint.
          throw c;
        }
        const rolledBack = thrown instanceof RolledBackToSavepoint;
        const err = rolledBack ? thrown.cause : thrown;
        let f = await this.failure(err, info, rolledBack);
        // (without a savepoint the failure aborted the input's block: nothing can be sent again in it)
        if (!rolledBack && this.inputBlockStart !== undefined) f.mergedRowsConflict = false;
        if (rolledBack && f.transient) {
          // Not retried inside the input's block: a serialization failure there is the whole
          // transaction's, which only the input can run again.
          const kept = new AttemptFailure(f.error, f.effect, false, f.transactionLost, f.statementPosition);
          kept.connectionUsable = true;
          kept.mergedRowsConflict = f.mergedRowsConflict;
          f = kept;
        }
        // A transient failure may have broken the pinned connection: the next attempt takes a fresh one
        // (not after an SQL error the server answered on a connection the adapter says is fine).
        if ((f.transient || f.effect === 'unknown') && !f.connectionUsable) {
          const heldState = this.pinned && this.session !== undefined;
          await this.releaseSession(true);
          // …but if that connection held this run's session state (SET search_path, BEGIN …), this and
          // every later statement would run differently on a fresh one. Stop, whatever onError says.
          if (heldState) throw sessionLost(f);
        }
        throw f;
      }
    }

    if (this.transaction === 'batch') {
      // (a session that holds SET … state is kept for every batch)
      const own = parallel || (this.concurrency > 1 && !this.pinned);
      const s = await this.acquire(info, own);
      let committed = false;
      try {
        await this.timed(() => s.begin());
        const result = await exec(s.execute.bind(s));
        committed = true;
        await this.timed(() => s.commit());
        // Releasing the connection is not part of the attempt: a failure here changes nothing committed.
        if (own) await s.release().catch(() => undefined);
        return result;
      } catch (err) {
        let broken = false;
        // Also after a failed COMMIT: one the engine refused before running it (a rate limit, an HTTP
        // 400) left the transaction open, and the next BEGIN on this connection would not start a new
        // one. After a COMMIT that did end the transaction, ROLLBACK changes nothing.
        try {
          await this.timed(() => s.rollback());
        } catch {
          broken = true;
        }
        const f = await this.failure(err, info, !committed, committed);
        if (own) await s.release(broken || f.effect === 'unknown');
        else if (broken || f.effect === 'unknown') {
          const heldState = this.pinned;
          await this.releaseSession(true);
          if (heldState) throw sessionLost(f);
        }
        throw f;
      }
    }

    // transaction: 'all'
    const s = await this.acquire(info, false);
    if (!this.txOpen) {
      try {
        await this.timed(() => s.begin());
      } catch (err) {
        const f = await this.failure(err, info, false);
        // Nothing of the batch was sent and no transaction of this run was open: no effect. A broken
        // connection is not kept (the retry, or the next batch, opens the transaction on a fresh one),
        // and a lost BEGIN is as safe to retry as a refused connection.
        const broken = f.transient || f.effect === 'unknown';
        const none = new AttemptFailure(f.error, 'none', broken || f.transient, false, undefined);
        if (broken) {
          const heldState = this.pinned;
          await this.releaseSession(true);
          if (heldState) throw sessionLost(none);
        }
        throw none;
      }
      this.txOpen = true;
      this.txFailed = false;
      this.txRecoverable = false;
      this.txApplied = new Uint8Array(0);
    }
    if (!this.savepoints) {
      // A request holding a merged upsert gets a savepoint all the same: the server may refuse it for
      // keys only it sees as equal, and it is then sent again as its statements (see sendBuilt) instead
      // of taking the whole transaction with it.
      const guarded =
        s.savepoint !== undefined &&
        s.rollbackToSavepoint !== undefined &&
        (info.statements as BuiltStatement[]).some(mergedUpsert);
      try {
        return guarded
          ? await this.inSavepoint(s, () => exec(s.execute.bind(s)))
          : await exec(s.execute.bind(s));
      } catch (thrown) {
        const rolledBack = thrown instanceof RolledBackToSavepoint;
        const err =
          rolledBack || thrown instanceof SavepointCommandFailed
            ? (thrown as { cause: unknown }).cause
            : thrown;
        const f = await this.failure(err, info, rolledBack);
        if (rolledBack && f.mergedRowsConflict) {
          const again = new AttemptFailure(f.error, 'rolled-back', false, false, f.statementPosition);
          again.mergedRowsConflict = true;
          throw again;
        }
        throw new AttemptFailure(f.error, 'rolled-back', f.transient, true, f.statementPosition);
      }
    }
    if (!s.savepoint || !s.rollbackToSavepoint) {
      // Declared savepoints without implementing them: a failure could not be rolled back to one.
      throw new ConfigurationError(
        `${this.adapter?.name ?? 'the'} adapter's session has no savepoint methods`,
      );
    }
    const name = `sqlbatcher_sp_${this.savepointSeq++}`;
    try {
      await this.timed(() => (s.savepoint as (n: string) => Promise<void>)(name));
    } catch (err) {
      const f = await this.failure(err, info, false);
      throw new AttemptFailure(f.error, f.effect, f.transient, true, undefined);
    }
    try {
      const result = await exec(s.execute.bind(s));
      if (s.releaseSavepoint)
        await this.timed(() => (s.releaseSavepoint as (n: string) => Promise<void>)(name));
      return result;
    } catch (err) {
      try {
        await this.timed(() => (s.rollbackToSavepoint as (n: string) => Promise<void>)(name));
      } catch {
        // The transaction is lost (it is rolled back, never committed): so is this batch.
        const f = await this.failure(err, info, false);
        throw new AttemptFailure(f.error, 'rolled-back', f.transient, true, f.statementPosition);
      }
      throw await this.failure(err, info, true);
    }
  }

  /**
   * Whether `sql` (one input statement, maybe a string of several) holds transaction control or a
   * savepoint command, read as statements (a `CASE … END` or `'begin'` is none).
   */
  private holdsTransactionControl(sql: string): boolean {
    if (!TX_WORD.test(sql) && !/\bTRANSACTION\b/i.test(sql)) return false;
    // (SET TRANSACTION must come first in its transaction, never in a subtransaction)
    return this.statementTexts(sql).some(
      (text) => blockControl(text) !== undefined || /^(?:SAVEPOINT|RELEASE|SET\s+TRANSACTION)\b/i.test(text),
    );
  }

  /**
   * The statements of `sql` (an input statement, maybe a string of several), each as the lexer's text:
   * from its first word, after any comments.
   */
  private statementTexts(sql: string): string[] {
    const parts = sql.includes(';')
      ? splitStatements(sql, { dialect: this.rules, onMetaCommand: () => undefined })
      : [sql];
    return parts.map((part) =>
      parts.length === 1 && !/^\s*(?:--|\/\*)/.test(part)
        ? part.trimStart()
        : lexStatement(part, this.rules).text,
    );
  }

  /**
   * Run `go` under a savepoint of `s`: released after it, rolled back to on its failure, which is then
   * thrown as rolled back (unless rolling back failed too: then as it came).
   */
  private async inSavepoint(s: AdapterSession, go: () => Promise<ExecuteResult>): Promise<ExecuteResult> {
    const name = `sqlbatcher_sp_${this.savepointSeq++}`;
    try {
      await this.timed(() => (s.savepoint as (n: string) => Promise<void>)(name));
    } catch (err) {
      throw new SavepointCommandFailed(err);
    }
    let result: ExecuteResult;
    try {
      result = await go();
    } catch (err) {
      try {
        await this.timed(() => (s.rollbackToSavepoint as (n: string) => Promise<void>)(name));
      } catch {
        throw err;
      }
      throw new RolledBackToSavepoint(err);
    }
    try {
      if (s.releaseSavepoint)
        await this.timed(() => (s.releaseSavepoint as (n: string) => Promise<void>)(name));
    } catch (err) {
      throw new SavepointCommandFailed(err);
    }
    return result;
  }

  /**
   * A transaction command of the session (BEGIN, COMMIT, SAVEPOINT, …) under the request timeout: a
   * connection that stops answering fails it with a TimeoutError instead of hanging the run.
   */
  private timed<T>(fn: () => Promise<T>): Promise<T> {
    return withTimeout(() => fn(), this.timeoutMs, this.cancelGraceMs);
  }

  /**
   * Get a session for an attempt. Failing to get one (server restarting, refused connection) ran
   * nothing: it becomes an attempt failure with no effect, so the retry policy applies to it.
   */
  private async acquire(info: BatchInfo, fresh: boolean): Promise<AdapterSession> {
    try {
      return fresh ? await this.newSession() : await this.getSession();
    } catch (err) {
      if (err instanceof ConfigurationError) throw err;
      const f = await this.failure(err, info, false);
      // Inside an open 'all' transaction the pinned session exists, so this cannot lose one.
      throw new AttemptFailure(f.error, 'none', f.transient, false, undefined);
    }
  }

  /** Classify a failed attempt. `rolledBack`: we know the attempt's work was rolled back. */
  private async failure(
    err: unknown,
    info: BatchInfo,
    rolledBack: boolean,
    atCommit = false,
  ): Promise<AttemptFailure> {
    if (err instanceof AttemptFailure) return err;
    const c = this.classify(err, info);
    let effect: Effect = c.effect;
    if (rolledBack) effect = 'rolled-back';
    else if (atCommit) effect = c.effect === 'unknown' ? 'unknown' : 'rolled-back';
    else if (
      effect === 'rolled-back' &&
      // (not when the adapter says a transaction took it back: then none of it stayed)
      c.transactionLost !== true &&
      this.transaction === 'none' &&
      info.statements.length > 1 &&
      !this.caps.atomicMultiStatement
    ) {
      // Earlier statements of a non-atomic multi-statement request may have been committed.
      effect = 'unknown';
    }
    if (
      effect === 'partial' &&
      (c.statementPosition === undefined || c.statementPosition >= info.statements.length)
    ) {
      effect = 'unknown';
    }
    if (isClosed(err)) effect = 'none';
    // (nothing to send with: this batch never left)
    if (err instanceof ConfigurationError && !this.adapter && !this.executeOverride) effect = 'none';
    // (a transaction block that earlier requests ran in went with this failure: never retried)
    const lost = c.transactionLost === true && (effect === 'rolled-back' || effect === 'unknown');
    const f = new AttemptFailure(err, effect, c.transient && !lost, lost, c.statementPosition);
    f.connectionUsable = c.connectionUsable === true && effect !== 'unknown' && !lost;
    f.blockInDoubt = c.blockInDoubt === true && effect === 'unknown';
    f.mergedRowsConflict = c.mergedRowsConflict === true && effect === 'rolled-back' && !lost;
    if (effect === 'partial' && typeof c.rowsAffected === 'number' && Number.isFinite(c.rowsAffected)) {
      f.rowsAffected = c.rowsAffected;
    }
    return f;
  }

  /** `info`: the failed request, when the failure is one of its attempts (not of a COMMIT). */
  private classify(err: unknown, info?: BatchInfo): ErrorClassification {
    if (err instanceof TimeoutError) {
      const cause = err.cause;
      if (cause === undefined) return { transient: true, effect: 'unknown' };
      // (a cancelled request is never taken as rolled back without the adapter saying so)
      const c = this.classifyRaw(cause);
      // A timeout may pass on a second try — but not inside a transaction block the input opened, where
      // the adapter's answer stands: on PostgreSQL the failure aborted the block, and a retry only met
      // "current transaction is aborted" and reported that instead of the timeout (found in review).
      if (this.transaction === 'none' && this.inputBlockStart !== undefined) return c;
      return { ...c, transient: true };
    }
    return this.classifyRaw(err, info);
  }

  private classifyRaw(err: unknown, info?: BatchInfo): ErrorClassification {
    if (isClosed(err)) return { transient: false, effect: 'none' };
    if (isSQLBatcherError(err, 'CIRCUIT_OPEN')) return { transient: false, effect: 'none' };
    const classifyError = this.adapter?.classifyError;
    if (!classifyError) return this.defaultClassification(err, info);
    try {
      return classifyError.call(this.adapter, err);
    } catch {
      return { transient: false, effect: 'unknown' };
    }
  }

  /**
   * Without the adapter's `classifyError`: one statement that fails has no effect on an engine with
   * statement-level atomicity, so a failed request of exactly one statement was rolled back — unless
   * the client lost contact with the server (a network error, a driver-side timeout or cancellation),
   * after which the statement may have run. Anything else may have been applied. Never transient:
   * nothing says the same request would succeed later.
   */
  private defaultClassification(err: unknown, info: BatchInfo | undefined): ErrorClassification {
    const single = info !== undefined && info.statements.length === 1 && this.caps.atomicStatements !== false;
    return { transient: false, effect: single && !isNetworkError(err) ? 'rolled-back' : 'unknown' };
  }

  /** After retries are exhausted: throw, skip or isolate. */
  private async handleFailure(
    failure: AttemptFailure,
    info: BatchInfo,
    batch: BuiltBatch,
    parallel: boolean,
  ): Promise<void> {
    let f = failure;
    const indices = batch.indices;
    const units = batch.units;
    const failedIndex = failedStatementIndex(info, f.statementPosition);
    const partial = f.effect === 'partial' ? partialSplit(info, f.statementPosition as number) : undefined;
    if (f.effect === 'partial' && !partial) {
      f = new AttemptFailure(f.error, 'unknown', f.transient, f.transactionLost, f.statementPosition);
      f.circuitOpen = failure.circuitOpen;
    }
    // A DDL statement that ran before the failed one committed the input's block (Snowflake, MySQL).
    if (
      partial &&
      this.transaction === 'none' &&
      this.inputBlockStart !== undefined &&
      this.ddlCommittedBlock(info.statements.slice(0, f.statementPosition))
    ) {
      this.inputBlockStart = undefined;
    }
    // (inside the input's block that the run then leaves rolled back, those statements are undone with
    // it: the block's note says so, not this one; found in review, the two contradicted each other)
    const blockUndone = this.transaction === 'none' && this.inputBlockStart !== undefined;
    const partialNote = partial
      ? partial.applied.length > 0 && !blockUndone
        ? `; statements #${partial.applied[0]}…#${partial.applied[partial.applied.length - 1]} before it were applied, the ones after it were not executed`
        : partial.applied.length > 0
          ? '; the ones after its failed statement were not executed'
          : '; no statement of it was applied'
      : '';
    const stops =
      f.transactionLost ||
      this.onError === 'throw' ||
      isClosed(f.error) ||
      isSQLBatcherError(f.error, 'CIRCUIT_OPEN') ||
      f.circuitOpen !== undefined ||
      isSQLBatcherError(f.error, 'SESSION_LOST') ||
      // (the adapter refused the set-up: every later batch would be refused the same way)
      f.error instanceof ConfigurationError;
    const error = new BatchExecutionError(
      `batch ${info.id} failed (${indices.length} statement${indices.length === 1 ? '' : 's'}, #${indices[0]}${
        indices.length > 1 ? `…#${indices[indices.length - 1]}` : ''
      })${f.effect === 'unknown' ? ' and may have been partly or wholly applied' : partialNote}${
        f.transactionLost
          ? // (in doubt: part of the request committed, maybe the block named, maybe another begun after it)
            this.transactionLostNote(f.effect !== 'unknown')
          : this.transaction === 'none' && this.inputBlockStart !== undefined
            ? f.blockInDoubt
              ? // (the block's COMMIT was in this request: the whole block shares the batch's fate)
                `; it held the COMMIT of the transaction block the input opened at #${this.inputBlockStart}: the statements from #${this.inputBlockStart} on were applied with it or not at all`
              : stops && f.effect !== 'unknown'
                ? `; the run stops inside the transaction block the input opened at #${this.inputBlockStart}, which is rolled back: no statement from #${this.inputBlockStart} on is applied`
                : ''
            : ''
      }${f.circuitOpen !== undefined ? '; the circuit breaker opened before it could be retried' : ''}: ${messageOf(f.error, info.sql)}${
        failedIndex !== undefined
          ? ` (failing statement #${failedIndex}: ${excerpt(info.statements[f.statementPosition as number]?.sql ?? '', 120)})`
          : ''
      }`,
      {
        cause: f.error,
        statementIndices: indices,
        ...(failedIndex !== undefined ? { failedStatementIndex: failedIndex } : {}),
        inDoubt: f.effect === 'unknown',
        sql: info.sql,
        attempts: (f as { attempts?: number }).attempts ?? 1,
        ...(this.transaction === 'none' &&
        this.inputBlockStart !== undefined &&
        ((f.transactionLost && f.effect !== 'unknown') || f.blockInDoubt || (stops && f.effect !== 'unknown'))
          ? { blockUndoneFrom: this.inputBlockStart }
          : {}),
      },
    );

    // The transaction's state is settled before any hook runs, so a throwing hook cannot leave it
    // looking healthy (dispose would then commit).
    if (f.transactionLost && this.transaction !== 'all') this.inputBlockStart = undefined;
    else if (f.transactionLost) {
      this.txFailed = true;
      this.txRecoverable = false;
    } else if (stops && this.transaction === 'all') {
      // Rolled back to its savepoint, the rest of the transaction is intact (unless an earlier failure said otherwise).
      this.txRecoverable =
        (!this.txFailed || this.txRecoverable) && this.savepoints && f.effect === 'rolled-back';
      this.txFailed = true;
    }
    try {
      await this.hook('onError', (p) => p.onError?.(error, info));
    } catch (hookError) {
      // A hook's failure is never swallowed: it stops the run, carrying the batch failure with it.
      (hookError as { batchError?: unknown }).batchError = error;
      if (f.effect === 'unknown') this._report.inDoubt.push({ indices, error });
      // (a partial failure applied the statements before the failed one: those are not "not sent")
      else if (partial) addNotSent(hookError, [...partial.failed, ...partial.rest]);
      else addNotSent(hookError, indices);
      throw hookError;
    }
    if (stops) throw error;
    if (f.effect === 'unknown') {
      this._report.inDoubt.push({ indices, error });
      return;
    }
    if (partial) {
      await this.resumePartial(f, partial, units, parallel);
      return;
    }
    if (this.onError === 'skip' || units.length === 1) {
      await this.reject(units, f.error);
      return;
    }
    await this.isolate(units, parallel);
  }

  /**
   * Bisect `units` (known to fail together, rolled back) down to the failing statements. `finished`:
   * input indices executed or rejected so far by this bisection, shared with its nested levels, so a run
   * stopped deep inside names as not sent only what really was not.
   */
  private async isolate(units: Unit[], parallel: boolean, finished = new Set<number>()): Promise<void> {
    const mid = Math.ceil(units.length / 2);
    /** Units not yet executed or rejected at this level: named in the error if the run stops here. */
    let open = units;
    try {
      for (const half of [units.slice(0, mid), units.slice(mid)]) {
        if (half.length === 0) continue;
        const sub = new BatchBuilder(this.builderConfig());
        for (const u of half) sub.add(u.index, u.lexed, u.from, u.to);
        sub.flush();
        // (merged upserts the adapter refuses are split here too: see unmergeUpserts)
        const ready: BuiltBatch[] = [];
        for (const b of sub.takeReady()) ready.push(...((await this.unmergeUpserts(b)) ?? [b]));
        for (const b of ready) {
          const info = this.toInfo(b);
          /** Past beforeBatch: an afterBatch hook's failure is then one after the request. */
          let reached = false;
          const settled = () => {
            for (const i of b.indices) finished.add(i);
          };
          try {
            await this.hook('beforeBatch', (p) => p.beforeBatch?.(info));
            reached = true;
            await this.run(info, parallel);
          } catch (err) {
            if (!(err instanceof AttemptFailure)) {
              // An afterBatch hook threw after the request: the batch was applied, or its failure is
              // recorded with the hook's error. (Anything else, such as an open circuit, sent nothing.)
              if (reached && isSQLBatcherError(err, 'PLUGIN_FAILED')) settled();
              throw err;
            }
            if (
              err.transactionLost ||
              isClosed(err.error) ||
              isSQLBatcherError(err.error, 'CIRCUIT_OPEN') ||
              err.circuitOpen !== undefined ||
              isSQLBatcherError(err.error, 'SESSION_LOST') ||
              err.effect === 'unknown' ||
              err.effect === 'partial'
            ) {
              // (whatever it throws names this sub-batch itself: in its statementIndices, in doubt, or not sent)
              await this.handleFailure(err, info, b, parallel).catch((e: unknown) => {
                settled();
                throw e;
              });
            } else if (b.units.length === 1) {
              // (rejected, even when an onRejected hook then throws)
              await this.reject(b.units, err.error).catch((e: unknown) => {
                settled();
                throw e;
              });
            } else await this.isolate(b.units, parallel, finished);
          }
          for (const i of b.indices) finished.add(i);
          open = open.filter((u) => !finished.has(u.index));
        }
      }
    } catch (err) {
      addNotSent(
        err,
        open.filter((u) => !finished.has(u.index)).map((u) => u.index),
      );
      throw err;
    }
  }

  /**
   * A non-atomic request stopped at one statement: what ran before it stays, the failed statement is
   * skipped or isolated, the statements after it (never executed) are sent again.
   */
  private async resumePartial(
    f: AttemptFailure,
    split: { failed: Set<number>; rest: Set<number> },
    units: Unit[],
    parallel: boolean,
  ): Promise<void> {
    const failedUnits = units.filter((u) => split.failed.has(u.index));
    const rest = units.filter((u) => split.rest.has(u.index));
    try {
      if (this.onError === 'skip' || failedUnits.length === 1) await this.reject(failedUnits, f.error);
      else await this.isolate(failedUnits, parallel);
    } catch (err) {
      // (a hook threw: the statements after the failed one were never sent)
      addNotSent(
        err,
        rest.map((u) => u.index),
      );
      throw err;
    }
    if (rest.length === 0) return;
    const sub = new BatchBuilder(this.builderConfig());
    for (const u of rest) sub.add(u.index, u.lexed, u.from, u.to);
    sub.flush();
    await this.inOrder(sub.takeReady(), (b) => this.send(b, parallel));
  }

  private builderConfig() {
    return this.builder.config;
  }

  private async reject(units: Unit[], error: unknown): Promise<void> {
    const rejected: RejectedStatement[] = units.map((u) => ({ index: u.index, sql: unitSql(u), error }));
    // (one by one: a spread of a batch's hundreds of thousands of entries overflows the call stack)
    const list = this._report.rejected;
    for (const r of rejected) list.push(r);
    await this.hook('onRejected', (p) => p.onRejected?.(rejected));
  }

  // ------------------------------------------------------------- sessions

  private requireAdapter(): Adapter {
    if (!this.adapter) {
      throw new ConfigurationError(
        'no adapter: pass options.adapter or an execute function to processStatements/flush',
      );
    }
    return this.adapter;
  }

  private async newSession(): Promise<AdapterSession> {
    const a = this.requireAdapter();
    if (!a.session) throw new ConfigurationError(`${a.name} adapter has no sessions`);
    // (a new connection has no block of the input open: one left on the last was rolled back with it)
    this.inputBlockStart = undefined;
    return a.session();
  }

  private async getSession(): Promise<AdapterSession> {
    this.session ??= await this.newSession();
    return this.session;
  }

  /**
   * On Snowflake and MySQL a DDL statement commits the open transaction before it runs: a request that
   * ran one inside the input's block ended the block (found in review: a later failure reported the
   * committed statements as rolled back). MySQL's `CREATE` / `DROP TEMPORARY TABLE` do not.
   */
  private ddlCommittedBlock(statements: readonly BatchStatement[]): boolean {
    const engine = this.rules.name;
    if (engine !== 'snowflake' && engine !== 'mysql') return false;
    return statements.some((st) => {
      if (st.insert !== undefined) return false;
      return this.statementTexts(st.sql).some((text) => {
        if (lexStatement(text, this.rules).kind !== 'ddl') return false;
        return !(engine === 'mysql' && /^\s*(?:CREATE|DROP)\s+TEMPORARY\b/i.test(text));
      });
    });
  }

  /**
   * Follow the transaction blocks the input opens itself (`BEGIN` … `COMMIT` with transaction 'none'):
   * transaction control statements are requests of their own, noted here once they succeeded.
   */
  private noteInputBlock(st: BatchStatement): void {
    // (a merged INSERT is no transaction control: not looked at)
    if (st.insert !== undefined) return;
    const sql = st.sql;
    // (every word blockControl knows is a TX_WORD)
    if (!TX_WORD.test(sql)) return;
    // An input string may hold several statements (`BEGIN; …; COMMIT`): each counts, in order.
    for (const text of this.statementTexts(sql)) {
      const control = blockControl(text);
      // (BigQuery's and Snowflake's `BEGIN … END` is a script block, not a transaction)
      if (
        control === 'begin' &&
        this.rules.scriptBlocks &&
        lexStatement(text, this.rules).kind !== 'transaction'
      )
        continue;
      if (control === 'begin') this.inputBlockStart ??= st.indices[0];
      // (… AND CHAIN starts the next block at once)
      else if (control === 'commit-chain' || control === 'rollback-chain')
        this.inputBlockStart = st.indices[0];
      else if (control === 'commit' || control === 'rollback') this.inputBlockStart = undefined;
    }
  }

  /** What a failure that took the transaction with it undid, for the error's message. */
  private transactionLostNote(named = true): string {
    // (a run rolls its transaction back at once; one opened by addStatement / flush waits for rollback())
    if (this.transaction === 'all')
      return this.activeRun
        ? '; the transaction was rolled back'
        : '; the transaction is lost: nothing in it is committed (roll it back)';
    const from = named ? this.inputBlockStart : undefined;
    return from === undefined
      ? '; the transaction block it ran in was aborted or rolled back with it: no statement run in that block is applied'
      : `; the transaction block the input opened at #${from} was aborted or rolled back with it: no statement from #${from} on is applied`;
  }

  /** Add a batch applied in the open transaction to {@link txApplied}. */
  private noteTxApplied(info: BatchInfo): void {
    for (const st of info.statements) {
      for (const i of st.indices) {
        if (this.txApplied.length === 0) this.txBase = i - (i % 8);
        if (i < this.txBase) {
          // (an earlier statement applied later, e.g. by isolate): room below, doubling like above
          const base = Math.max(0, Math.min(i - (i % 8), this.txBase - this.txApplied.length * 8));
          const shift = (this.txBase - base) / 8;
          const grown = new Uint8Array(this.txApplied.length + shift);
          grown.set(this.txApplied, shift);
          this.txApplied = grown;
          this.txBase = base;
        }
        const byte = Math.floor((i - this.txBase) / 8);
        if (byte >= this.txApplied.length) {
          const grown = new Uint8Array(Math.max(byte + 1, this.txApplied.length * 2, 1024));
          grown.set(this.txApplied);
          this.txApplied = grown;
        }
        (this.txApplied as Uint8Array)[byte] = ((this.txApplied[byte] as number) | (1 << (i % 8))) & 0xff;
      }
    }
  }

  private async releaseSession(broken = false): Promise<void> {
    const s = this.session;
    if (!s) return;
    this.session = undefined;
    this.txOpen = false;
    const discard = broken || this.sessionChanged;
    this.sessionChanged = false;
    try {
      await s.release(discard);
    } catch {
      // The connection is gone either way.
    }
  }

  /** Run `send` marking the phase, so a failure is known to come from sending. */
  private async sending<T>(phase: { sending: boolean }, send: () => Promise<T>): Promise<T> {
    phase.sending = true;
    const out = await send();
    phase.sending = false;
    return out;
  }

  /**
   * A run failed. After a bad input (the input itself, a `transformStatement` hook, a statement too
   * large) nothing already accepted is lost: the statements before it are executed. After a failure
   * while sending, nothing more is sent. A run that owns its `'all'` transaction rolls it back.
   */
  private async abortRun(err: unknown, ownsTransaction: boolean, whileSending: boolean): Promise<void> {
    // A request still in flight (pipelined) may have failed too: that failure comes first.
    let inFlightFailure: unknown;
    await this.drain().catch((e: unknown) => {
      inFlightFailure = e;
    });
    const inputError = !whileSending && inFlightFailure === undefined;
    let failure = inFlightFailure;
    /** Statements read but dropped unsent: named in whichever error is thrown. */
    let dropped: readonly number[] = [];
    if (inputError && !ownsTransaction) {
      this.builder.flush();
      try {
        await this.dispatchReady();
        await this.drain();
      } catch (flushErr) {
        // Statements before the bad one failed on the database: that must not go unreported.
        failure = flushErr;
      }
    } else {
      dropped = this.discardBuffered();
      addNotSent(err, dropped);
    }
    if (this.transaction === 'all') {
      if (ownsTransaction) await this.rollbackOpen();
      else if (!inputError || failure !== undefined) {
        // The caller's transaction lost statements it was given: it must not be committed silently.
        this.txFailed = true;
        this.txRecoverable = false;
      }
    } else {
      await this.releaseSession();
    }
    if (failure !== undefined && failure !== err) {
      if (failure instanceof Error) failure.message += ` (and then: ${messageOf(err)})`;
      addNotSent(failure, dropped);
      throw failure;
    }
  }

  /** Drop what is buffered (batches built and not sent, and the open one); returns their indices. */
  private discardBuffered(): number[] {
    this.builder.flush();
    return this.builder.takeReady().flatMap((b) => b.indices);
  }

  // ---------------------------------------------------------- bookkeeping

  private async withCallOptions<T>(
    execute: ExecuteFn | undefined,
    collector: Collector | undefined,
    metadata: Record<string, unknown> | undefined,
    body: () => Promise<T>,
  ): Promise<T> {
    const saved = [this.executeOverride, this.collector, this.metadata] as const;
    if (execute && execute !== this.adapter?.execute) {
      if (this.transaction !== 'none') {
        throw new ConfigurationError(
          "a custom execute function cannot run transactions; pass the adapter instead or use transaction: 'none'",
        );
      }
      this.executeOverride = execute;
    }
    if (collector) this.collector = collector;
    if (metadata) this.metadata = { ...this.options.metadata, ...metadata };
    try {
      return await body();
    } finally {
      [this.executeOverride, this.collector, this.metadata] = saved;
    }
  }

  private async initPlugins(): Promise<void> {
    for (const p of this.plugins) {
      if (this.initialized.has(p)) continue;
      this.initialized.add(p);
      if (!p.init) continue;
      try {
        await p.init({ adapter: this.adapter?.name ?? 'none', dryRun: Boolean(this.dryRun) });
      } catch (err) {
        throw new PluginError(p.name, 'init', err);
      }
    }
  }

  private async hook(name: string, call: (p: Plugin) => unknown): Promise<void> {
    for (const p of this.plugins) {
      try {
        await call(p);
      } catch (err) {
        throw new PluginError(p.name ?? 'anonymous', name, err);
      }
    }
  }

  private record(
    info: BatchInfo,
    startTime: number,
    ms: number,
    success: boolean,
    result: ExecuteResult | undefined,
    failure: AttemptFailure | undefined,
    dryRun: boolean,
    retries = 0,
    partial?: PartialOutcome,
  ): void {
    const c = this.collector;
    if (!c) return;
    const err = failure?.error;
    const code = err && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
    const failedIndex = failure ? failedStatementIndex(info, failure.statementPosition) : undefined;
    const rec: QueryRecord = {
      // (a dry run's records keep the exact SQL: they are the script it stands for)
      sql: dryRun ? info.sql : recordedSql(info),
      bytes: info.bytes,
      executionTimeMs: ms,
      batchSize: info.inputCount,
      statements: info.statements.length,
      rowsSent: info.rowCount,
      rows: partial ? partial.rowsAffected : result?.rowCount,
      success,
      error: failure
        ? {
            message: messageOf(err, info.sql),
            ...(typeof code === 'string' ? { code } : {}),
            ...(failedIndex !== undefined ? { statementIndex: failedIndex } : {}),
          }
        : undefined,
      retries,
      dryRun,
      ...(partial
        ? {
            appliedStatements: partial.appliedIndices.length,
            notExecutedStatements: partial.notExecutedIndices.length,
          }
        : {}),
      startTime,
      metadata: info.metadata,
    };
    c.record(rec);
  }
}

/** A transaction control word anywhere in a text (before splitting an input string that holds several). */
const TX_WORD = /\b(?:BEGIN|START|COMMIT|END|ABORT|ROLLBACK|PREPARE|SAVEPOINT|RELEASE)\b/i;

/** A batch failed in the open `'all'` transaction and took it with it: only a rollback is left. */
function transactionFailed(): SQLBatcherError {
  return new SQLBatcherError(
    'TRANSACTION_FAILED',
    'cannot commit: a batch failed in this transaction and took the transaction with it; roll back',
  );
}

/** The pinned connection holding SET … state was lost: not retried, stops the run whatever onError says. */
function sessionLost(f: AttemptFailure): AttemptFailure {
  const error = new SQLBatcherError(
    'SESSION_LOST',
    `the connection holding the session state (SET, BEGIN …) of this run failed; nothing after it can run without that state: ${messageOf(f.error)}`,
    { cause: f.error },
  );
  const lost = new AttemptFailure(error, f.effect, false, f.transactionLost, f.statementPosition);
  lost.blockInDoubt = f.blockInDoubt;
  return lost;
}

function toResult(raw: unknown): ExecuteResult {
  if (raw && typeof raw === 'object' && ('rowCount' in raw || 'raw' in raw) && !Array.isArray(raw)) {
    return raw as ExecuteResult;
  }
  return toExecuteResult(raw);
}

/** Node.js socket / DNS error codes: the connection failed, possibly after the request was sent. */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
]);

/** Error codes of a stream, socket or HTTP client that stopped waiting for the answer. */
const LOST_ANSWER_CODES = new Set(['ESOCKETTIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE', 'ABORT_ERR']);
/** Error names of a client-side timeout or cancellation (DOMException, undici, got, …). */
const LOST_ANSWER_NAMES = new Set(['TimeoutError', 'AbortError', 'ConnectTimeoutError']);
/**
 * Messages of drivers that gave up waiting, matched at the start of the message only (a database
 * error quoting a table named `job_timeout` is not one): pg's "Query read timeout" and "Connection
 * terminated …", mysql2's "Query inactivity timeout" and "Connection lost …", Node's "socket hang up",
 * undici's "terminated" and "other side closed", and "… timed out" / "Timeout …" of others.
 */
const LOST_ANSWER_MESSAGE =
  /^(?:query read timeout|query inactivity timeout|connection terminated|connection lost|connection (?:closed|reset|ended)|socket hang up|terminated$|other side closed|timeout\b|(?:request|query|operation|connection|socket) timed out)/i;

/**
 * The client lost contact with the server, possibly after the request was sent: a Node.js system or
 * network error, an undici error (`UND_ERR_*`), or a driver-side timeout or cancellation (on the error
 * or its `cause`). The request may have run.
 */
function isNetworkError(err: unknown): boolean {
  for (let e = err, depth = 0; e !== null && typeof e === 'object' && depth < 3; depth++) {
    const x = e as { syscall?: unknown; code?: unknown; cause?: unknown; name?: unknown; message?: unknown };
    if (typeof x.syscall === 'string') return true;
    if (typeof x.code === 'string') {
      if (NETWORK_CODES.has(x.code) || LOST_ANSWER_CODES.has(x.code) || x.code.startsWith('UND_ERR_')) {
        return true;
      }
    }
    if (typeof x.name === 'string' && LOST_ANSWER_NAMES.has(x.name)) return true;
    if (typeof x.message === 'string' && LOST_ANSWER_MESSAGE.test(x.message)) return true;
    e = x.cause;
  }
  return false;
}

function isClosed(err: unknown): boolean {
  return isSQLBatcherError(err, 'CLOSED');
}

/** An error's message for our own messages and records, credentials masked (see {@link redactMessage}). */
function messageOf(err: unknown, sql?: string): string {
  return redactMessage(err instanceof Error ? err.message : String(err), sql);
}

/**
 * A request's SQL for a collector record: credentials masked (`PASSWORD '…'`, connection strings), except
 * in a request of only INSERTs, whose rows are data and are kept as sent (and not scanned: a merged
 * INSERT is the bulk of a load).
 */
function recordedSql(info: BatchInfo): string {
  return info.statements.every((st) => st.insert !== undefined) ? info.sql : redactSecrets(info.sql);
}

function failedStatementIndex(info: BatchInfo, position: number | undefined): number | undefined {
  if (position === undefined) return undefined;
  const st = info.statements[position];
  return st && st.indices.length === 1 ? st.indices[0] : undefined;
}

function unitSql(u: Unit): string {
  const ins = u.lexed.insert;
  if (!ins || (u.from === 0 && u.to === ins.rows.length)) return u.lexed.text;
  return `${ins.prefix} ${ins.rows.slice(u.from, u.to).join(',')}${ins.tail ? ` ${ins.tail}` : ''}`;
}

/**
 * Input indices applied / failed / not executed when a request stopped at statement `position`;
 * undefined when an input statement straddles two of those parts (then the outcome is unknown).
 */
function partialSplit(
  info: BatchInfo,
  position: number,
): { applied: number[]; failed: Set<number>; rest: Set<number> } | undefined {
  const st = info.statements;
  const applied = new Set(st.slice(0, position).flatMap((x) => x.indices));
  const failed = new Set(st[position]?.indices ?? []);
  const rest = new Set(st.slice(position + 1).flatMap((x) => x.indices));
  for (const i of failed) if (applied.has(i) || rest.has(i)) return undefined;
  for (const i of rest) if (applied.has(i)) return undefined;
  if (failed.size === 0) return undefined;
  return { applied: [...applied], failed, rest };
}

/** What a request that failed part-way applied, for hooks and the collector; undefined otherwise. */
function partialOutcome(info: BatchInfo, f: AttemptFailure): PartialOutcome | undefined {
  if (f.effect !== 'partial' || f.statementPosition === undefined) return undefined;
  const split = partialSplit(info, f.statementPosition);
  if (!split) return undefined;
  let appliedRows = 0;
  for (const st of info.statements.slice(0, f.statementPosition))
    appliedRows += st.insert?.rowIndices.length ?? 0;
  return {
    failedPosition: f.statementPosition,
    appliedIndices: split.applied,
    appliedRows,
    notExecutedIndices: [...split.rest],
    ...(f.rowsAffected !== undefined ? { rowsAffected: f.rowsAffected } : {}),
  };
}

/** A plugin's transformStatement gave neither a statement nor null. */
function notAStatement(p: Plugin, out: unknown, index: number): PluginError {
  const what = out === undefined ? 'undefined' : typeof out;
  return new PluginError(
    p.name,
    'transformStatement',
    new TypeError(`returned ${what}: expected the statement (a string) or null to drop it`),
    index,
  );
}

/** An `ON CONFLICT … DO UPDATE` INSERT holding the rows of several input statements. */
function mergedUpsert(st: BuiltStatement): boolean {
  const ins = st.insert;
  return (
    ins !== undefined &&
    st.indices.length > 1 &&
    ins.rowsAt !== undefined &&
    /\bDO\s+UPDATE\b/i.test(ins.tail)
  );
}

/** A request's failure after which its savepoint was rolled back to (see `inSavepoint`). */
class RolledBackToSavepoint {
  constructor(readonly cause: unknown) {}
}

/**
 * The batcher's own SAVEPOINT or RELEASE around a request failed (see `inSavepoint`): inside the input's
 * block, the block did not survive it.
 */
class SavepointCommandFailed {
  constructor(readonly cause: unknown) {}
}

/**
 * A merged INSERT's rows as the input statements they came from (each statement's rows are adjacent),
 * each written with the INSERT's prefix and tail.
 */
function splitByInput(st: BuiltStatement): BuiltStatement[] {
  const ins = st.insert as NonNullable<BuiltStatement['insert']>;
  const prefix = st.sql.slice(0, (ins.rowsAt as number) - 1);
  const tail = ins.tail === '' ? '' : ` ${ins.tail}`;
  const out: BuiltStatement[] = [];
  const rows = ins.rows;
  const at = ins.rowIndices;
  for (let a = 0; a < rows.length; ) {
    let b = a + 1;
    while (b < rows.length && at[b] === at[a]) b++;
    const mine = rows.slice(a, b);
    const sql = `${prefix} ${mine.join(',')}${tail}`;
    out.push({
      sql,
      bytes: utf8Length(sql),
      indices: [at[a] as number],
      insert: {
        table: ins.table,
        columns: ins.columns,
        rows: mine,
        rowIndices: at.slice(a, b),
        tail: ins.tail,
        rowsAt: prefix.length + 1,
      },
      plainInsert: st.plainInsert,
    });
    a = b;
  }
  return out;
}

/** A call of a function that reads the session's sequence state. */
const SESSION_SEQUENCE_READ = /\b(?:currval|lastval)\s*\(/i;
/** A called name (see `InsertParts.calls`) of such a function, also quoted or qualified. */
const SESSION_SEQUENCE_NAME = /(?:^|\.)"?(?:currval|lastval)"?$/i;

/** Whether `s` may call currval()/lastval(): from the names the builder recorded, else from its text. */
function readsSessionSequence(s: BatchStatement): boolean {
  const calls = s.insert?.calls;
  if (calls) return calls.some((name) => SESSION_SEQUENCE_NAME.test(name));
  return SESSION_SEQUENCE_READ.test(s.sql);
}

/** Add input indices that were never sent to an error (any Error object, not only ours). */
function addNotSent(err: unknown, indices: readonly number[]): void {
  if (indices.length === 0 || err === null || typeof err !== 'object') return;
  const e = err as { notSentIndices?: number[] };
  e.notSentIndices = [...new Set([...(e.notSentIndices ?? []), ...indices])].sort((a, b) => a - b);
}

/** `text` with its string literals and comments replaced by a space (quoted identifiers kept). */
function outsideLiterals(text: string, rules: DialectRules): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    if (!mayStartToken(c)) {
      i++;
      continue;
    }
    const end = skipToken(text, i, rules, true);
    if (end === NOT_SPECIAL) {
      i++;
      continue;
    }
    if (end < 0) break;
    // (a "quoted identifier" stays: "pg_temp".t names the temporary schema too)
    if (c !== 34) {
      out += `${text.slice(from, i)} `;
      from = end;
    }
    i = end;
  }
  return out + text.slice(from);
}

/**
 * Whether a statement may leave state on its connection that later statements depend on, so that from
 * then on every request must run on that one connection: SET / RESET / USE, transaction control,
 * `set_config` or `setseed` (pg_dump's `SELECT pg_catalog.set_config('search_path', '', false)`, also
 * quoted or with a comment before its parenthesis), `UPDATE pg_settings`, a DO block or a CALL at all
 * (they can do any of these), a SELECT calling any function (one of the database's own may call
 * set_config), `EXPLAIN ANALYZE` (it runs its statement), temporary objects, prepared statements,
 * LISTEN, cursors, `ALTER ROLE | USER | DATABASE … SET` (later connections of a pool start with it); any
 * `U&"…"` name (it may spell any of these); and a string holding several statements when any of them
 * does. Read outside string literals and comments.
 */
function changesSession(lexed: LexedStatement, sql: string, rules: DialectRules): boolean {
  if (lexed.kind === 'session' || lexed.kind === 'transaction') return true;
  // (an INSERT … VALUES, however long, is not read again: the common case)
  if (lexed.insert !== undefined && !lexed.multiple) return false;
  // (UPDATE / DELETE streams: only these words can make one change the session; no second pass)
  if (
    lexed.kind === 'dml' &&
    !lexed.multiple &&
    !/set_config|setseed|pg_settings|pg_temp|U&"|\bINTO\b/i.test(lexed.text)
  )
    return false;
  const code = outsideLiterals(lexed.text, rules).trimStart();
  if (/(?:^|[^\w$])"?(?:set_config|setseed)"?\s*\(/i.test(code)) return true;
  if (/^(?:DO|CALL|PREPARE|LISTEN|DECLARE|DISCARD)\b/i.test(code)) return true;
  if (/^EXPLAIN\b[^;]*\bANALY[SZ]E\b/i.test(code)) return true;
  if (/^CREATE\s+(?:OR\s+REPLACE\s+)?(?:GLOBAL\s+|LOCAL\s+)?TEMP(?:ORARY)?\b/i.test(code)) return true;
  if (/^UPDATE\s+(?:"?pg_catalog"?\s*\.\s*)?"?pg_settings\b/i.test(code)) return true;
  if (/^ALTER\s+(?:ROLE|USER|DATABASE)\b.*\b(?:SET|RESET)\b/is.test(code)) return true;
  // Snowflake's session parameters (ALTER SESSION SET TIMEZONE / QUERY_TAG …)
  if (/^ALTER\s+SESSION\b/i.test(code)) return true;
  if (/\bU&"/i.test(code)) return true;
  // Other ways to make (or use) a session's temporary objects: SELECT … INTO TEMP t, and any name
  // qualified with pg_temp (CREATE TABLE pg_temp.t …), the session's own schema.
  if (/\bINTO\s+(?:(?:GLOBAL|LOCAL)\s+)?TEMP(?:ORARY)?\b/i.test(code)) return true;
  if (/(?:^|[\s(,."])"?pg_temp(?:_\d+)?"?\s*\./i.test(code)) return true;
  // (a SELECT, also under WITH, in parentheses, in INSERT … SELECT or CREATE … AS SELECT; not other
  // DDL, whose calls are defaults and expressions run later)
  if (
    lexed.kind === 'select' ||
    lexed.kind === 'other' ||
    lexed.kind === 'insert' ||
    (lexed.kind === 'ddl' && /^CREATE\b[^;]*?\bAS\s*(?:\(|SELECT\b|WITH\b|VALUES\b|TABLE\b)/i.test(code))
  ) {
    const calls: string[] = [];
    collectCalls(lexed.text, rules, calls);
    if (calls.length > 0) return true;
  }
  if (lexed.multiple) {
    return splitStatements(sql, { dialect: rules, onMetaCommand: () => undefined })
      .slice(1)
      .some((part) => changesSession(lexStatement(part, rules), part, rules));
  }
  return false;
}
