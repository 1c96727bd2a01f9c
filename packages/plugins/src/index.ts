export {
  DeadLetterWriter,
  type DeadLetterWriterOptions,
  formatDeadLetter,
} from './dead-letter/dead-letter-writer.js';
export {
  type QueryLogEntry,
  QueryLogger,
  type QueryLoggerOptions,
  type QueryLogSink,
} from './logging/query-logger.js';
export { REDACTED, redactAndTruncate, redactMessage, redactSecrets } from './logging/redact.js';
export {
  MetricsCollector,
  type MetricsSnapshot,
  type MetricsTotals,
  type StatementMetrics,
} from './metrics/metrics-collector.js';
export { describeStatement, type StatementInfo } from './metrics/statement-info.js';
export {
  type PreprocessFn,
  SQLPreprocessor,
  type SQLPreprocessorOptions,
} from './preprocess/sql-preprocessor.js';
export {
  type Progress,
  ProgressReporter,
  type ProgressReporterOptions,
  type ProgressStream,
} from './progress/progress-reporter.js';
