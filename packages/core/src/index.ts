export type { BuilderConfig, BuiltBatch, BuiltStatement, Unit } from './batch/builder.js';
export { BatchBuilder } from './batch/builder.js';
export { utf8Length } from './batch/utf8.js';
export * from './errors.js';
export type * from './execute/adapter.js';
export type { CircuitBreakerOptions, CircuitState } from './execute/circuit-breaker.js';
export { CircuitBreaker } from './execute/circuit-breaker.js';
export type { GenericAdapterOptions } from './execute/generic-adapter.js';
export { GenericAdapter, toExecuteResult } from './execute/generic-adapter.js';
export type * from './execute/plugin.js';
export type { RetryOptions, RetryPolicy } from './execute/retry.js';
export { backoffDelay, retryPolicy } from './execute/retry.js';
export { collectCalls } from './lexer/calls.js';
export * from './lexer/dialect.js';
export type { SplitOptions } from './lexer/split.js';
export {
  StatementSplitter,
  splitStatementChunks,
  splitStatementStream,
  splitStatements,
} from './lexer/split.js';
export type { InsertTailKind, LexedInsert, LexedStatement, StatementKind } from './lexer/statement.js';
export { type BlockControl, blockControl, LexError, lexStatement } from './lexer/statement.js';
export { splitRowValues } from './lexer/values.js';
export { REDACTED, redactAndTruncate, redactMessage, redactSecrets, secretValues } from './redact.js';
export type {
  BatcherReport,
  OnErrorMode,
  SQLBatcherOptions,
  StatementSource,
  TransactionMode,
} from './sql-batcher.js';
export { SQLBatcher } from './sql-batcher.js';
