import type { CollectedQuery, QueryCollector, QueryStats } from '../collector/query-collector.js';

/** Options of {@link toJSONReport}. */
export interface JSONReportOptions {
  /** Include the kept query records. Default true. */
  readonly includeQueries?: boolean;
  /** Characters of SQL kept per query in the report (`undefined` keeps what the collector kept). */
  readonly sqlLength?: number;
  /** Timestamp of the report. Default now. */
  readonly generatedAt?: Date;
}

/** A machine-readable report: `JSON.stringify` it, or use {@link formatJSONReport}. */
export interface JSONReport {
  readonly version: 1;
  /** ISO-8601 time the report was made. */
  readonly generatedAt: string;
  readonly stats: QueryStats;
  readonly queries?: readonly CollectedQuery[];
}

/** Build a JSON-serialisable report of a collector's statistics (and, by default, its queries). */
export function toJSONReport(collector: QueryCollector, options: JSONReportOptions = {}): JSONReport {
  const stats = collector.getStats();
  const generatedAt = (options.generatedAt ?? new Date()).toISOString();
  if (options.includeQueries === false) return { version: 1, generatedAt, stats };
  const max = options.sqlLength;
  const queries = collector
    .getQueries()
    .map((q) =>
      max !== undefined && q.sql.length > max ? { ...q, sql: q.sql.slice(0, max), sqlTruncated: true } : q,
    );
  return { version: 1, generatedAt, stats, queries };
}

/** {@link toJSONReport} as indented JSON text. */
export function formatJSONReport(collector: QueryCollector, options: JSONReportOptions = {}): string {
  return JSON.stringify(toJSONReport(collector, options), null, 2);
}
