import type { Collector, QueryRecord } from '@sqlbatcher/core';
import { insertColumnCount } from '../stats/columns.js';
import { DURATION_BUCKETS_SECONDS, TimingDistribution } from '../stats/timing.js';

/** Options of {@link QueryCollector}. */
export interface QueryCollectorOptions {
  /** Delimiter used by {@link QueryCollector.toScript} between queries. Default `';'`. */
  readonly delimiter?: string;
  /**
   * Collect a dry run: every record is marked `dryRun`, and unless set explicitly `maxRecords` and
   * `sqlBudgetBytes` become unlimited so {@link QueryCollector.toScript} can reproduce exactly what
   * would have been sent. Default false.
   */
  readonly dryRun?: boolean;
  /**
   * Most query records kept for {@link QueryCollector.getQueries}: the newest successful ones, plus up
   * to as many failed ones (the oldest failures are the ones kept). Statistics always cover every
   * record. Default 10,000 (unlimited with `dryRun`).
   */
  readonly maxRecords?: number;
  /**
   * Total UTF-8 bytes of SQL text kept in full across the kept records. A record that does not fit
   * keeps only the first `truncatedSqlLength` characters (its `bytes` stays the full size). Memory is
   * freed when old records are dropped. Default 16 MiB (unlimited with `dryRun`).
   */
  readonly sqlBudgetBytes?: number;
  /** Characters kept of a query whose SQL exceeds the budget. Default 200. */
  readonly truncatedSqlLength?: number;
  /**
   * Baseline column count, as the batcher's option of the same name (default 10): with `minAdjustmentFactor`
   * and `maxAdjustmentFactor` it gives `columnAdjustmentFactor` in the stats, the factor a batcher with
   * `autoAdjustForColumns` applied to `maxBytes` for the INSERTs seen.
   */
  readonly referenceColumnCount?: number;
  /** Lower clamp of the column factor. Default 0.5. */
  readonly minAdjustmentFactor?: number;
  /** Upper clamp of the column factor. Default 2.0. */
  readonly maxAdjustmentFactor?: number;
}

/** A recorded request, as returned by {@link QueryCollector.getQueries}. */
export interface CollectedQuery extends QueryRecord {
  /** Position of the record among all records seen (0-based), so gaps show dropped records. */
  readonly seq: number;
  /** True when `sql` holds only the start of the request's text (see `sqlBudgetBytes`). */
  readonly sqlTruncated: boolean;
  /** Columns of the request's first statement when it is an INSERT with a column list. */
  readonly columns: number | undefined;
}

/** Aggregated statistics over every record seen since construction or the last `reset()`. */
export interface QueryStats {
  /** Requests recorded (sent, or that would be sent in a dry run). */
  readonly count: number;
  readonly successCount: number;
  readonly failureCount: number;
  /** Fraction of requests that succeeded, 0..1 (1 when nothing was recorded). */
  readonly successRate: number;
  /** Requests that were not sent (dry run). */
  readonly dryRunCount: number;
  /** Input statements per request (the seed's "batch size"). */
  readonly avgBatchSize: number;
  /** Sum of request times. */
  readonly totalTimeMs: number;
  readonly avgQueryTimeMs: number;
  readonly minQueryTimeMs: number;
  readonly maxQueryTimeMs: number;
  /** Nearest-rank percentiles of request time; exact up to 10,000 requests, within 1% beyond. */
  readonly p50QueryTimeMs: number;
  readonly p95QueryTimeMs: number;
  readonly p99QueryTimeMs: number;
  /** UTF-8 bytes of SQL sent. */
  readonly totalBytes: number;
  readonly avgBytes: number;
  readonly largestQueryBytes: number;
  /**
   * Input statements: what the batcher reported through `countInput`, or, when it never did, the sum of
   * the records' `batchSize`.
   */
  readonly statementsIn: number;
  /** Statements sent after merging (sum of each request's statement count), when the batcher reports it. */
  readonly statementsOut: number | undefined;
  /** Input statements per request sent (`statementsIn / count`): how many round trips merging saved. */
  readonly mergeRatio: number;
  /** VALUES rows sent. */
  readonly rowsSent: number;
  /**
   * Rows affected, summed over the requests whose engine reported it; of a request that failed part-way,
   * the rows its applied statements affected, when the adapter says.
   */
  readonly rowsAffected: number;
  /** Retries (attempts beyond the first) over all requests. */
  readonly retries: number;
  /** Mean column count of the INSERT requests with a column list; undefined when there were none. */
  readonly avgColumns: number | undefined;
  /**
   * Mean of `clamp(referenceColumnCount / columns, min, max)` over those requests: the factor by which
   * `autoAdjustForColumns` scaled `maxBytes` for them. Undefined when there were none.
   */
  readonly columnAdjustmentFactor: number | undefined;
  /** Epoch ms of the first request start, or undefined when nothing was recorded. */
  readonly firstStartTime: number | undefined;
  /** From the first request's start to the last request's end. */
  readonly wallTimeMs: number;
  /** Rates per second of wall time (0 when the wall time is 0). */
  readonly throughput: {
    readonly queriesPerSecond: number;
    readonly statementsPerSecond: number;
    readonly rowsPerSecond: number;
    readonly bytesPerSecond: number;
  };
  /** Failed requests per error code (`'unknown'` when the error had none). */
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** Records no longer returned by `getQueries()` (over `maxRecords`). */
  readonly droppedRecords: number;
  /** Kept records whose SQL was truncated. */
  readonly truncatedRecords: number;
}

interface Kept {
  rec: CollectedQuery;
  /** Bytes charged against the SQL budget. */
  charged: number;
}

/**
 * Collects one record per request and aggregates statistics. Pass it as the batcher's `collector`
 * option or as the third argument of `processStatements` / `flush`.
 *
 * @example
 * ```ts
 * const collector = new QueryCollector();
 * await batcher.processStatements(statements, adapter.execute, collector);
 * console.log(collector.getStats().count);
 * ```
 */
export class QueryCollector implements Collector {
  readonly delimiter: string;
  readonly dryRun: boolean;
  readonly maxRecords: number;
  readonly sqlBudgetBytes: number;
  readonly truncatedSqlLength: number;
  readonly referenceColumnCount: number;
  readonly minAdjustmentFactor: number;
  readonly maxAdjustmentFactor: number;

  private successes: Array<Kept | undefined> = [];
  private successHead = 0;
  private failures: Kept[] = [];
  private sqlBytesKept = 0;
  private seq = 0;
  private timing = new TimingDistribution();
  private successCount = 0;
  private dryRunCount = 0;
  private batchSizeSum = 0;
  private statementsOutSum = 0;
  private statementsOutKnown = true;
  private inputCounted = 0;
  private inputReported = false;
  private totalBytes = 0;
  private largestBytes = 0;
  private rowsSent = 0;
  private rowsAffected = 0;
  private retries = 0;
  private columnRequests = 0;
  private columnSum = 0;
  private factorSum = 0;
  private firstStart = Number.POSITIVE_INFINITY;
  private lastEnd = Number.NEGATIVE_INFINITY;
  private errorsByCode = new Map<string, number>();
  private dropped = 0;

  constructor(options: QueryCollectorOptions = {}) {
    this.delimiter = options.delimiter ?? ';';
    this.dryRun = options.dryRun ?? false;
    this.maxRecords = positive('maxRecords', options.maxRecords, this.dryRun ? Infinity : 10_000);
    this.sqlBudgetBytes = positive(
      'sqlBudgetBytes',
      options.sqlBudgetBytes,
      this.dryRun ? Infinity : 16 * 1024 * 1024,
    );
    this.truncatedSqlLength = positive('truncatedSqlLength', options.truncatedSqlLength, 200);
    this.referenceColumnCount = positive('referenceColumnCount', options.referenceColumnCount, 10);
    this.minAdjustmentFactor = positive('minAdjustmentFactor', options.minAdjustmentFactor, 0.5);
    this.maxAdjustmentFactor = positive('maxAdjustmentFactor', options.maxAdjustmentFactor, 2.0);
    if (this.minAdjustmentFactor > this.maxAdjustmentFactor) {
      throw new RangeError('QueryCollector: minAdjustmentFactor must not exceed maxAdjustmentFactor');
    }
  }

  /** Record one request. Called by the batcher; call it yourself for requests made outside it. */
  record(record: QueryRecord): void {
    const dryRun = this.dryRun || record.dryRun;
    const time = Number.isFinite(record.executionTimeMs) ? Math.max(0, record.executionTimeMs) : 0;
    this.timing.add(time);
    if (record.success) this.successCount++;
    else {
      const code = record.error?.code ?? 'unknown';
      this.errorsByCode.set(code, (this.errorsByCode.get(code) ?? 0) + 1);
    }
    if (dryRun) this.dryRunCount++;
    this.batchSizeSum += record.batchSize;
    if (typeof record.statements === 'number') this.statementsOutSum += record.statements;
    else this.statementsOutKnown = false;
    this.totalBytes += record.bytes;
    if (record.bytes > this.largestBytes) this.largestBytes = record.bytes;
    this.rowsSent += record.rowsSent;
    if (typeof record.rows === 'number' && Number.isFinite(record.rows)) this.rowsAffected += record.rows;
    this.retries += record.retries;
    const columns = insertColumnCount(record.sql);
    if (columns !== undefined) {
      this.columnRequests++;
      this.columnSum += columns;
      this.factorSum += Math.min(
        this.maxAdjustmentFactor,
        Math.max(this.minAdjustmentFactor, this.referenceColumnCount / columns),
      );
    }
    if (record.startTime < this.firstStart) this.firstStart = record.startTime;
    if (record.startTime + time > this.lastEnd) this.lastEnd = record.startTime + time;

    const seq = this.seq++;
    if (!record.success) {
      if (this.failures.length >= this.maxRecords) this.dropped++;
      else this.failures.push(this.keep(record, seq, dryRun, columns));
      return;
    }
    if (this.maxRecords === 0) {
      this.dropped++;
      return;
    }
    // Drop the oldest first so its SQL budget is free for the new record.
    if (this.successes.length - this.successHead >= this.maxRecords) {
      const old = this.successes[this.successHead] as Kept;
      this.sqlBytesKept -= old.charged;
      this.successes[this.successHead] = undefined;
      this.successHead++;
      this.dropped++;
      // Compact now and then so the array does not grow without bound.
      if (this.successHead > 1024 && this.successHead * 2 > this.successes.length) {
        this.successes = this.successes.slice(this.successHead);
        this.successHead = 0;
      }
    }
    this.successes.push(this.keep(record, seq, dryRun, columns));
  }

  /** Called by the batcher with the number of input statements accepted. */
  countInput(statements: number): void {
    this.inputReported = true;
    this.inputCounted += statements;
  }

  /** Kept records in the order they were recorded (see `maxRecords` and `sqlBudgetBytes`). */
  getQueries(): CollectedQuery[] {
    const out: CollectedQuery[] = [];
    for (let i = this.successHead; i < this.successes.length; i++) out.push((this.successes[i] as Kept).rec);
    for (const f of this.failures) out.push(f.rec);
    return out.sort((a, b) => a.seq - b.seq);
  }

  /** Kept records of failed requests. */
  getFailedQueries(): CollectedQuery[] {
    return this.failures.map((f) => f.rec);
  }

  /** Aggregated statistics over every record since construction or the last `reset()`. */
  getStats(): QueryStats {
    const count = this.timing.count;
    const statementsIn = this.inputReported ? this.inputCounted : this.batchSizeSum;
    const wallTimeMs = count === 0 ? 0 : Math.max(0, this.lastEnd - this.firstStart);
    const perSecond = (n: number): number => (wallTimeMs > 0 ? (n * 1000) / wallTimeMs : 0);
    let truncated = 0;
    for (let i = this.successHead; i < this.successes.length; i++) {
      if ((this.successes[i] as Kept).rec.sqlTruncated) truncated++;
    }
    for (const f of this.failures) if (f.rec.sqlTruncated) truncated++;
    return {
      count,
      successCount: this.successCount,
      failureCount: count - this.successCount,
      successRate: count === 0 ? 1 : this.successCount / count,
      dryRunCount: this.dryRunCount,
      avgBatchSize: count === 0 ? 0 : this.batchSizeSum / count,
      totalTimeMs: this.timing.totalMs,
      avgQueryTimeMs: count === 0 ? 0 : this.timing.totalMs / count,
      minQueryTimeMs: this.timing.min,
      maxQueryTimeMs: this.timing.max,
      p50QueryTimeMs: this.timing.percentile(0.5),
      p95QueryTimeMs: this.timing.percentile(0.95),
      p99QueryTimeMs: this.timing.percentile(0.99),
      totalBytes: this.totalBytes,
      avgBytes: count === 0 ? 0 : this.totalBytes / count,
      largestQueryBytes: this.largestBytes,
      statementsIn,
      statementsOut: this.statementsOutKnown && count > 0 ? this.statementsOutSum : undefined,
      mergeRatio: count === 0 ? 0 : statementsIn / count,
      rowsSent: this.rowsSent,
      rowsAffected: this.rowsAffected,
      retries: this.retries,
      avgColumns: this.columnRequests === 0 ? undefined : this.columnSum / this.columnRequests,
      columnAdjustmentFactor: this.columnRequests === 0 ? undefined : this.factorSum / this.columnRequests,
      firstStartTime: count === 0 ? undefined : this.firstStart,
      wallTimeMs,
      throughput: {
        queriesPerSecond: perSecond(count),
        statementsPerSecond: perSecond(statementsIn),
        rowsPerSecond: perSecond(this.rowsSent),
        bytesPerSecond: perSecond(this.totalBytes),
      },
      errorsByCode: Object.fromEntries(this.errorsByCode),
      droppedRecords: this.dropped,
      truncatedRecords: truncated,
    };
  }

  /** Cumulative request-time histogram (for exporters). */
  durationBuckets(): { readonly boundsSeconds: readonly number[]; readonly cumulative: number[] } {
    return { boundsSeconds: DURATION_BUCKETS_SECONDS, cumulative: this.timing.cumulativeBuckets() };
  }

  /**
   * The kept queries as one SQL script, each followed by the delimiter: with `dryRun: true`, exactly
   * what the batcher would have sent. Throws when records were dropped or truncated, since the
   * script would be incomplete.
   */
  toScript(): string {
    const queries = this.getQueries();
    if (this.dropped > 0 || queries.some((q) => q.sqlTruncated)) {
      throw new Error(
        'QueryCollector.toScript: some queries were dropped or truncated (raise maxRecords / sqlBudgetBytes, or use dryRun: true)',
      );
    }
    return queries.map((q) => `${q.sql}${this.delimiter}\n`).join('');
  }

  /** Forget every record and statistic. */
  reset(): void {
    this.successes = [];
    this.successHead = 0;
    this.failures = [];
    this.sqlBytesKept = 0;
    this.seq = 0;
    this.timing = new TimingDistribution();
    this.successCount = 0;
    this.dryRunCount = 0;
    this.batchSizeSum = 0;
    this.statementsOutSum = 0;
    this.statementsOutKnown = true;
    this.inputCounted = 0;
    this.inputReported = false;
    this.totalBytes = 0;
    this.largestBytes = 0;
    this.rowsSent = 0;
    this.rowsAffected = 0;
    this.retries = 0;
    this.columnRequests = 0;
    this.columnSum = 0;
    this.factorSum = 0;
    this.firstStart = Number.POSITIVE_INFINITY;
    this.lastEnd = Number.NEGATIVE_INFINITY;
    this.errorsByCode = new Map();
    this.dropped = 0;
  }

  private keep(record: QueryRecord, seq: number, dryRun: boolean, columns: number | undefined): Kept {
    let sql = record.sql;
    let sqlTruncated = false;
    let charged = record.bytes;
    if (this.sqlBytesKept + record.bytes > this.sqlBudgetBytes) {
      sqlTruncated = sql.length > this.truncatedSqlLength;
      if (sqlTruncated) {
        // Copy the prefix: a plain slice of a large string may keep the whole string alive in V8.
        sql = Buffer.from(sql.slice(0, this.truncatedSqlLength), 'utf8').toString('utf8');
      }
      charged = 0;
    }
    this.sqlBytesKept += charged;
    const rec: CollectedQuery = {
      sql,
      bytes: record.bytes,
      executionTimeMs: record.executionTimeMs,
      batchSize: record.batchSize,
      rowsSent: record.rowsSent,
      rows: record.rows,
      success: record.success,
      error: record.error === undefined ? undefined : { ...record.error },
      retries: record.retries,
      dryRun,
      ...(record.appliedStatements !== undefined ? { appliedStatements: record.appliedStatements } : {}),
      ...(record.notExecutedStatements !== undefined
        ? { notExecutedStatements: record.notExecutedStatements }
        : {}),
      startTime: record.startTime,
      metadata: record.metadata,
      seq,
      sqlTruncated,
      columns,
    };
    return { rec, charged };
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new RangeError(`QueryCollector: ${name} must be a non-negative number, got ${String(value)}`);
  }
  return value;
}
