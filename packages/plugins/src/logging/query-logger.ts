import type { BatchInfo, BatchOutcome, Plugin, PluginContext, RejectedStatement } from '@sqlbatcher/core';
import { redactAndTruncate, redactSecrets } from './redact.js';

/** One log entry. SQL and error messages are redacted and truncated before they reach the sink. */
export interface QueryLogEntry {
  readonly level: 'debug' | 'info' | 'error';
  readonly event: 'start' | 'before-batch' | 'batch' | 'error' | 'rejected';
  /** ISO-8601 time of the entry. */
  readonly time: string;
  readonly adapter?: string;
  readonly batchId?: number;
  readonly success?: boolean;
  readonly dryRun?: boolean;
  readonly executionTimeMs?: number;
  readonly retries?: number;
  readonly bytes?: number;
  /** Statements in the request (merged INSERTs count once). */
  readonly statements?: number;
  /** Input statements in the request. */
  readonly inputStatements?: number;
  readonly rows?: number;
  /** Rows affected, when the engine reported it. */
  readonly rowsAffected?: number;
  /** Input index of a rejected statement. */
  readonly statementIndex?: number;
  readonly sql?: string;
  readonly error?: { readonly name: string; readonly message: string; readonly code?: string };
}

/** Receives log entries; may be async (the batcher waits for it). */
export type QueryLogSink = (entry: QueryLogEntry) => void | Promise<void>;

/** Options of {@link QueryLogger}. */
export interface QueryLoggerOptions {
  /** Where entries go. Default: one JSON line per entry on `process.stderr`. */
  readonly sink?: QueryLogSink;
  /** Characters of SQL kept per entry. Default 500. */
  readonly maxSqlLength?: number;
  /** Put SQL in entries at all. Default true. */
  readonly includeSql?: boolean;
  /** Also log a `before-batch` entry (level `debug`) before each request. Default false. */
  readonly logBeforeBatch?: boolean;
  /** Replace the built-in credential redaction (applied to SQL and error messages). */
  readonly redact?: (text: string) => string;
  /** Plugin name in error messages. Default `'QueryLogger'`. */
  readonly name?: string;
}

/**
 * Logs every request (after it ran), every failure and every rejected statement to a pluggable sink,
 * with credentials redacted and long SQL truncated.
 *
 * @example
 * ```ts
 * batcher.registerPlugin(new QueryLogger({ sink: (e) => logger.info(e), maxSqlLength: 200 }));
 * ```
 */
export class QueryLogger implements Plugin {
  readonly name: string;
  private readonly sink: QueryLogSink;
  private readonly maxSqlLength: number;
  private readonly includeSql: boolean;
  private readonly logBeforeBatch: boolean;
  private readonly redact: (text: string) => string;
  private adapter: string | undefined;

  constructor(options: QueryLoggerOptions = {}) {
    this.name = options.name ?? 'QueryLogger';
    this.sink = options.sink ?? ((entry) => void process.stderr.write(`${JSON.stringify(entry)}\n`));
    this.maxSqlLength = options.maxSqlLength ?? 500;
    this.includeSql = options.includeSql ?? true;
    this.logBeforeBatch = options.logBeforeBatch ?? false;
    this.redact = options.redact ?? redactSecrets;
  }

  init(context: PluginContext): void | Promise<void> {
    this.adapter = context.adapter;
    return this.sink({
      level: 'info',
      event: 'start',
      time: now(),
      adapter: context.adapter,
      dryRun: context.dryRun,
    });
  }

  beforeBatch(batch: BatchInfo): void | Promise<void> {
    if (!this.logBeforeBatch) return;
    return this.sink({ level: 'debug', event: 'before-batch', time: now(), ...this.describe(batch) });
  }

  afterBatch(batch: BatchInfo, outcome: BatchOutcome): void | Promise<void> {
    return this.sink({
      level: outcome.success ? 'info' : 'error',
      event: 'batch',
      time: now(),
      ...this.describe(batch),
      success: outcome.success,
      dryRun: outcome.dryRun,
      executionTimeMs: outcome.executionTimeMs,
      retries: outcome.retries,
      ...(outcome.result?.rowCount !== undefined ? { rowsAffected: outcome.result.rowCount } : {}),
      ...(outcome.success ? {} : { error: this.error(outcome.error) }),
    });
  }

  onError(error: unknown, batch: BatchInfo | undefined): void | Promise<void> {
    return this.sink({
      level: 'error',
      event: 'error',
      time: now(),
      ...(batch ? { batchId: batch.id } : {}),
      ...(this.adapter ? { adapter: this.adapter } : {}),
      error: this.error(error),
    });
  }

  async onRejected(rejected: readonly RejectedStatement[]): Promise<void> {
    for (const r of rejected) {
      await this.sink({
        level: 'error',
        event: 'rejected',
        time: now(),
        statementIndex: r.index,
        ...(this.includeSql ? { sql: this.sql(r.sql) } : {}),
        error: this.error(r.error),
      });
    }
  }

  private describe(batch: BatchInfo) {
    return {
      ...(this.adapter ? { adapter: this.adapter } : {}),
      batchId: batch.id,
      bytes: batch.bytes,
      statements: batch.statements.length,
      inputStatements: batch.inputCount,
      rows: batch.rowCount,
      ...(this.includeSql ? { sql: this.sql(batch.sql) } : {}),
    };
  }

  private sql(sql: string): string {
    if (this.redact === redactSecrets) return redactAndTruncate(sql, this.maxSqlLength);
    const r = this.redact(sql);
    return r.length > this.maxSqlLength
      ? `${r.slice(0, this.maxSqlLength)}… [${r.length - this.maxSqlLength} more characters]`
      : r;
  }

  private error(err: unknown): { name: string; message: string; code?: string } {
    const e = err as { name?: unknown; message?: unknown; code?: unknown; engineCode?: unknown } | undefined;
    const name = e && typeof e.name === 'string' ? e.name : 'Error';
    const raw = e && typeof e.message === 'string' ? e.message : String(err);
    const code =
      e && typeof e.engineCode === 'string'
        ? e.engineCode
        : e && typeof e.code === 'string'
          ? e.code
          : undefined;
    // Engine messages can quote the statement: redact, and bound them like SQL.
    const max = Math.max(this.maxSqlLength, 1000);
    const redacted = this.redact(raw.length > max + 1024 ? raw.slice(0, max + 1024) : raw);
    const message = redacted.length > max ? `${redacted.slice(0, max)}… [truncated]` : redacted;
    return code === undefined ? { name, message } : { name, message, code };
  }
}

function now(): string {
  return new Date().toISOString();
}
