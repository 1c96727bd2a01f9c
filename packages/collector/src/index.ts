export { combineCollectors } from './collector/combine.js';
export {
  type CollectedQuery,
  QueryCollector,
  type QueryCollectorOptions,
  type QueryStats,
} from './collector/query-collector.js';
export { formatJSONReport, type JSONReport, type JSONReportOptions, toJSONReport } from './exporters/json.js';
export {
  createOpenTelemetryCollector,
  type OpenTelemetryCollectorOptions,
} from './exporters/opentelemetry.js';
export { type PrometheusOptions, toPrometheus } from './exporters/prometheus.js';
export { formatStatsTable, type StatsTableOptions } from './exporters/table.js';
export { type SuggestMaxBytesOptions, suggestMaxBytes } from './stats/suggest.js';
export { DURATION_BUCKETS_SECONDS } from './stats/timing.js';
