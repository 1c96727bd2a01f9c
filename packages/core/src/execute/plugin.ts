import type { BatchInfo, ExecuteResult } from './adapter.js';

/** Context given to plugin hooks. */
export interface PluginContext {
  /** Adapter name, e.g. `postgres`. */
  readonly adapter: string;
  /** True in dry-run mode. */
  readonly dryRun: boolean;
}

/** What a batch did, given to `afterBatch`. */
export interface BatchOutcome {
  readonly success: boolean;
  readonly executionTimeMs: number;
  /** Attempts beyond the first. */
  readonly retries: number;
  readonly result?: ExecuteResult;
  readonly error?: unknown;
  /** True when nothing was sent (dry run). */
  readonly dryRun: boolean;
  /**
   * Set when the request failed part-way (the adapter classified the failure `'partial'`): its
   * statements before the failed one were applied and stay applied, the ones after it never ran and
   * are sent again in a later request (which has its own `afterBatch`).
   */
  readonly partial?: PartialOutcome;
}

/** What a request that failed part-way did. See {@link BatchOutcome.partial}. */
export interface PartialOutcome {
  /** Position in `batch.statements` of the statement that failed: the statements before it were applied. */
  readonly failedPosition: number;
  /** Input indices (0-based) of the statements applied. */
  readonly appliedIndices: readonly number[];
  /** VALUES rows of the INSERTs applied. */
  readonly appliedRows: number;
  /** Input indices of the statements that never ran; they are sent again. */
  readonly notExecutedIndices: readonly number[];
  /** Rows the applied statements affected, when the adapter says (`ErrorClassification.rowsAffected`). */
  readonly rowsAffected?: number;
}

/** A statement rejected under `onError: 'skip' | 'isolate'`. */
export interface RejectedStatement {
  /** Index of the statement in the input (0-based). */
  readonly index: number;
  /** The statement's SQL as sent (after `transformStatement`). */
  readonly sql: string;
  readonly error: unknown;
}

/**
 * A plugin: an object with optional hooks. Hooks may be async. An error thrown by a hook is wrapped
 * in `PluginError` (naming the plugin and hook) and fails the run; it is never swallowed, except
 * that `cleanup` always runs for every plugin on dispose, even after a failure.
 *
 * Hook order for each batch: `beforeBatch` → execute → `afterBatch` (success or failure) →
 * `onError` (failure only). `transformStatement` runs once per input statement, in registration order.
 */
export interface Plugin {
  /** Name used in error messages. */
  readonly name: string;
  init?(context: PluginContext): void | Promise<void>;
  /** Rewrite a statement before lexing; return `null` to drop it deliberately. */
  transformStatement?(sql: string, index: number): string | null | Promise<string | null>;
  beforeBatch?(batch: BatchInfo): void | Promise<void>;
  afterBatch?(batch: BatchInfo, outcome: BatchOutcome): void | Promise<void>;
  onError?(error: unknown, batch: BatchInfo | undefined): void | Promise<void>;
  /** Statements rejected under `onError: 'skip' | 'isolate'`. */
  onRejected?(rejected: readonly RejectedStatement[]): void | Promise<void>;
  cleanup?(): void | Promise<void>;
}

/** One record per request sent (or that would be sent in dry run). */
export interface QueryRecord {
  readonly sql: string;
  readonly bytes: number;
  readonly executionTimeMs: number;
  /** Number of input statements in the request. */
  readonly batchSize: number;
  /** Number of statements in the request after merging. */
  readonly statements?: number;
  /** VALUES rows in the request. */
  readonly rowsSent: number;
  /**
   * Rows affected, when the engine reports it. For a request that failed part-way: the rows its
   * applied statements affected, when the adapter says.
   */
  readonly rows: number | undefined;
  readonly success: boolean;
  readonly error: { message: string; code?: string; statementIndex?: number } | undefined;
  readonly retries: number;
  readonly dryRun: boolean;
  /**
   * A request that failed part-way (see {@link BatchOutcome.partial}): input statements applied before
   * the failed one. Undefined for every other request.
   */
  readonly appliedStatements?: number;
  /** A request that failed part-way: input statements that never ran (sent again in a later request). */
  readonly notExecutedStatements?: number;
  /** Epoch milliseconds at which the request started. */
  readonly startTime: number;
  readonly metadata: Readonly<Record<string, unknown>> | undefined;
}

/** Receives query records. `@sqlbatcher/collector`'s `QueryCollector` implements it. */
export interface Collector {
  record(record: QueryRecord): void;
  /** Called once per input statement accepted, to compute merge ratios. Optional. */
  countInput?(statements: number): void;
}
