import type { QueryCollector } from '../collector/query-collector.js';

/** Options of {@link toPrometheus}. */
export interface PrometheusOptions {
  /** Metric name prefix. Default `'sqlbatcher'`. */
  readonly prefix?: string;
  /**
   * Constant labels added to every sample, e.g. `{ job: 'nightly_load', table: 'users' }`. The names
   * the exporter uses itself (`status`, `code`, `le`) are refused: a sample may not repeat a label.
   */
  readonly labels?: Readonly<Record<string, string>>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Labels the exporter sets on some samples itself; a constant label of that name would repeat it. */
const RESERVED_LABELS = new Set(['le', 'status', 'code']);

/**
 * The collector's statistics in the Prometheus text exposition format (version 0.0.4): counters with
 * `_total`, request time as a histogram in seconds. Serve it with `Content-Type: text/plain;
 * version=0.0.4`, or write it to a node_exporter textfile-collector directory.
 */
export function toPrometheus(collector: QueryCollector, options: PrometheusOptions = {}): string {
  const prefix = options.prefix ?? 'sqlbatcher';
  if (!NAME.test(prefix)) throw new TypeError(`toPrometheus: invalid metric prefix "${prefix}"`);
  const constant = Object.entries(options.labels ?? {});
  for (const [k] of constant) {
    if (!LABEL.test(k) || k.startsWith('__')) throw new TypeError(`toPrometheus: invalid label name "${k}"`);
    if (RESERVED_LABELS.has(k)) {
      throw new TypeError(
        `toPrometheus: label name "${k}" is used by the exporter itself (${[...RESERVED_LABELS].join(', ')}); choose another`,
      );
    }
  }
  const stats = collector.getStats();
  const out: string[] = [];
  const labels = (extra: Array<[string, string]> = []): string => {
    const all = [...constant, ...extra];
    return all.length === 0 ? '' : `{${all.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
  };
  const family = (name: string, type: 'counter' | 'gauge' | 'histogram', help: string): string => {
    const full = `${prefix}_${name}`;
    out.push(`# HELP ${full} ${escapeHelp(help)}`, `# TYPE ${full} ${type}`);
    return full;
  };

  const requests = family(
    'requests_total',
    'counter',
    'Requests sent to the database (or that a dry run would send).',
  );
  out.push(`${requests}${labels([['status', 'success']])} ${fmt(stats.successCount)}`);
  out.push(`${requests}${labels([['status', 'failure']])} ${fmt(stats.failureCount)}`);

  const dry = family('dry_run_requests_total', 'counter', 'Requests not sent because of dry run.');
  out.push(`${dry}${labels()} ${fmt(stats.dryRunCount)}`);

  const input = family('input_statements_total', 'counter', 'Input statements accepted by the batcher.');
  out.push(`${input}${labels()} ${fmt(stats.statementsIn)}`);

  const bytes = family('request_bytes_total', 'counter', 'UTF-8 bytes of SQL text sent.');
  out.push(`${bytes}${labels()} ${fmt(stats.totalBytes)}`);

  const rows = family('rows_sent_total', 'counter', 'VALUES rows sent.');
  out.push(`${rows}${labels()} ${fmt(stats.rowsSent)}`);

  const affected = family('rows_affected_total', 'counter', 'Rows affected, as reported by the engine.');
  out.push(`${affected}${labels()} ${fmt(stats.rowsAffected)}`);

  const retries = family('retries_total', 'counter', 'Request attempts beyond the first.');
  out.push(`${retries}${labels()} ${fmt(stats.retries)}`);

  const errors = family('request_errors_total', 'counter', 'Failed requests by error code.');
  for (const [code, n] of Object.entries(stats.errorsByCode)) {
    out.push(`${errors}${labels([['code', code]])} ${fmt(n)}`);
  }

  const duration = family('request_duration_seconds', 'histogram', 'Time per request, retries included.');
  const { boundsSeconds, cumulative } = collector.durationBuckets();
  boundsSeconds.forEach((le, i) => {
    out.push(`${duration}_bucket${labels([['le', fmt(le)]])} ${fmt(cumulative[i] ?? 0)}`);
  });
  out.push(`${duration}_bucket${labels([['le', '+Inf']])} ${fmt(stats.count)}`);
  out.push(`${duration}_sum${labels()} ${fmt(stats.totalTimeMs / 1000)}`);
  out.push(`${duration}_count${labels()} ${fmt(stats.count)}`);

  return `${out.join('\n')}\n`;
}

function fmt(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  if (n === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(n);
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
