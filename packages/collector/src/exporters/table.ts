import type { QueryStats } from '../collector/query-collector.js';

/** Options of {@link formatStatsTable}. */
export interface StatsTableOptions {
  /** First line. Default `'Aggregated Statistics:'`. */
  readonly title?: string;
}

/**
 * The seed's "Aggregated Statistics" block as aligned plain text, one figure per line.
 *
 * @example
 * ```ts
 * console.log(formatStatsTable(collector.getStats()));
 * ```
 */
export function formatStatsTable(stats: QueryStats, options: StatsTableOptions = {}): string {
  const rows: Array<[string, string]> = [
    [
      'Total Queries',
      int(stats.count) + (stats.dryRunCount > 0 ? ` (${int(stats.dryRunCount)} dry run)` : ''),
    ],
    ['Successful / Failed', `${int(stats.successCount)} / ${int(stats.failureCount)}`],
    ['Success Rate', pct(stats.successRate)],
    ['Input Statements', int(stats.statementsIn)],
    ...(stats.statementsOut === undefined
      ? []
      : ([['Statements Sent', int(stats.statementsOut)]] as Array<[string, string]>)),
    ['Average Batch Size', num(stats.avgBatchSize)],
    ['Merge Ratio', `${num(stats.mergeRatio)} statements per query`],
    ['Rows Sent', int(stats.rowsSent)],
    ['Rows Affected', int(stats.rowsAffected)],
    ['Total Execution Time', seconds(stats.totalTimeMs, 2)],
    ['Wall Time', seconds(stats.wallTimeMs, 2)],
    ['Average Query Time', seconds(stats.avgQueryTimeMs, 3)],
    [
      'Query Time p50/p95/p99',
      `${seconds(stats.p50QueryTimeMs, 3, false)} / ${seconds(stats.p95QueryTimeMs, 3, false)} / ${seconds(stats.p99QueryTimeMs, 3)}`,
    ],
    ['Total Bytes', `${int(stats.totalBytes)} bytes`],
    ['Average Query Size', `${int(Math.round(stats.avgBytes))} bytes`],
    ['Largest Query', `${int(stats.largestQueryBytes)} bytes`],
    ['Retries', int(stats.retries)],
    [
      'Throughput',
      `${int(Math.round(stats.throughput.statementsPerSecond))} statements/s, ${int(Math.round(stats.throughput.rowsPerSecond))} rows/s`,
    ],
  ];
  const codes = Object.entries(stats.errorsByCode);
  if (codes.length > 0) rows.push(['Errors', codes.map(([c, n]) => `${c}: ${int(n)}`).join(', ')]);
  if (stats.droppedRecords > 0)
    rows.push(['Records Dropped', `${int(stats.droppedRecords)} (statistics still count them)`]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  const lines = rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`);
  return [options.title ?? 'Aggregated Statistics:', ...lines].join('\n');
}

function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
function num(n: number): string {
  return Number.isInteger(n) ? int(n) : n.toLocaleString('en-US', { maximumFractionDigits: 1 });
}
function pct(r: number): string {
  return `${(r * 100).toFixed(1)}%`;
}
function seconds(ms: number, digits: number, unit = true): string {
  return `${(ms / 1000).toFixed(digits)}${unit ? ' seconds' : ''}`;
}
