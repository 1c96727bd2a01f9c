import type { BatchInfo, BatchOutcome, Plugin, RejectedStatement } from '@sqlbatcher/core';
import { describeStatement, normaliseTableName } from './statement-info.js';

/** Counters and timings of one statement kind or one table. */
export interface StatementMetrics {
  /** Statements sent (a merged INSERT counts once). */
  statements: number;
  /**
   * Input statements they came from. Of a request that failed part-way, the statements after the
   * failed one never ran and are not counted there: they are when sent again.
   */
  inputStatements: number;
  /** VALUES rows sent in INSERTs. */
  rows: number;
  /** UTF-8 bytes of their SQL. */
  bytes: number;
  /** Requests that contained at least one of them. */
  requests: number;
  /** Statements sent in requests that failed. */
  failedStatements: number;
  /**
   * Request time attributed to them: each request's time is shared among its statements in proportion
   * to their bytes (the engine reports one time per request).
   */
  timeMs: number;
  /** Longest request that contained one of them. */
  maxRequestMs: number;
}

/** Totals over every batch. */
export interface MetricsTotals {
  requests: number;
  failedRequests: number;
  dryRunRequests: number;
  statements: number;
  /** Input statements of the requests, each counted once per execution (see {@link StatementMetrics.inputStatements}). */
  inputStatements: number;
  rows: number;
  bytes: number;
  retries: number;
  timeMs: number;
  /** Input statements rejected under `onError: 'skip' | 'isolate'`. */
  rejectedStatements: number;
}

/** A snapshot returned by {@link MetricsCollector.getMetrics}. */
export interface MetricsSnapshot {
  readonly totals: MetricsTotals;
  /** Per statement kind (`INSERT`, `UPDATE`, `CREATE`, …). */
  readonly byKind: Readonly<Record<string, StatementMetrics>>;
  /** Per target table, for statements with one (see `describeStatement`). */
  readonly byTable: Readonly<Record<string, StatementMetrics>>;
}

function empty(): StatementMetrics {
  return {
    statements: 0,
    inputStatements: 0,
    rows: 0,
    bytes: 0,
    requests: 0,
    failedStatements: 0,
    timeMs: 0,
    maxRequestMs: 0,
  };
}

/**
 * Counts statements, rows, bytes, failures and time per statement kind and per table, from the
 * `afterBatch` hook (the seed's `MetricsCollector`).
 *
 * @example
 * ```ts
 * const metrics = new MetricsCollector();
 * batcher.registerPlugin(metrics);
 * await batcher.processStatements(statements);
 * console.log(metrics.getMetrics().byTable['users']?.rows);
 * ```
 */
export class MetricsCollector implements Plugin {
  readonly name: string;
  private totals: MetricsTotals = MetricsCollector.zero();
  private byKind = new Map<string, StatementMetrics>();
  private byTable = new Map<string, StatementMetrics>();

  constructor(options: { readonly name?: string } = {}) {
    this.name = options.name ?? 'MetricsCollector';
  }

  afterBatch(batch: BatchInfo, outcome: BatchOutcome): void {
    const t = this.totals;
    t.requests++;
    if (!outcome.success) t.failedRequests++;
    if (outcome.dryRun) t.dryRunRequests++;
    t.statements += batch.statements.length;
    // Statements a partly failed request never reached are sent again: count them then, not twice.
    const failedAt = outcome.partial?.failedPosition;
    t.inputStatements += batch.inputCount - (outcome.partial?.notExecutedIndices.length ?? 0);
    t.rows += batch.rowCount;
    t.bytes += batch.bytes;
    t.retries += outcome.retries;
    const time = Math.max(0, outcome.executionTimeMs);
    t.timeMs += time;

    const totalBytes = batch.statements.reduce((n, s) => n + Buffer.byteLength(s.sql), 0) || 1;
    const touchedKinds = new Set<StatementMetrics>();
    const touchedTables = new Set<StatementMetrics>();
    for (let k = 0; k < batch.statements.length; k++) {
      const st = batch.statements[k] as BatchInfo['statements'][number];
      const reached = failedAt === undefined || k <= failedAt;
      const info = describeStatement(st.sql);
      const table = st.insert ? normaliseTableName(st.insert.table) : info.table;
      const bytes = Buffer.byteLength(st.sql);
      const rows = st.insert ? st.insert.rows.length : 0;
      const targets: Array<[StatementMetrics, Set<StatementMetrics>]> = [
        [this.entry(this.byKind, info.kind), touchedKinds],
      ];
      if (table !== undefined) targets.push([this.entry(this.byTable, table), touchedTables]);
      for (const [m, touched] of targets) {
        m.statements++;
        if (reached) m.inputStatements += st.indices.length;
        m.rows += rows;
        m.bytes += bytes;
        m.timeMs += (time * bytes) / totalBytes;
        if (!outcome.success) m.failedStatements++;
        if (!touched.has(m)) {
          touched.add(m);
          m.requests++;
          if (time > m.maxRequestMs) m.maxRequestMs = time;
        }
      }
    }
  }

  onRejected(rejected: readonly RejectedStatement[]): void {
    this.totals.rejectedStatements += rejected.length;
  }

  /** A copy of the current counters. */
  getMetrics(): MetricsSnapshot {
    const copy = (m: Map<string, StatementMetrics>) =>
      Object.fromEntries([...m].map(([k, v]) => [k, { ...v }])) as Record<string, StatementMetrics>;
    return { totals: { ...this.totals }, byKind: copy(this.byKind), byTable: copy(this.byTable) };
  }

  /** Zero every counter. */
  reset(): void {
    this.totals = MetricsCollector.zero();
    this.byKind.clear();
    this.byTable.clear();
  }

  private entry(map: Map<string, StatementMetrics>, key: string): StatementMetrics {
    let m = map.get(key);
    if (!m) {
      m = empty();
      map.set(key, m);
    }
    return m;
  }

  private static zero(): MetricsTotals {
    return {
      requests: 0,
      failedRequests: 0,
      dryRunRequests: 0,
      statements: 0,
      inputStatements: 0,
      rows: 0,
      bytes: 0,
      retries: 0,
      timeMs: 0,
      rejectedStatements: 0,
    };
  }
}
