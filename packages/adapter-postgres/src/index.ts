export {
  type CopyStats,
  DEFAULT_MAX_QUERY_SIZE,
  DEFAULT_MAX_ROWS_PER_INSERT,
  DEFAULT_MIN_FAST_ROWS,
  PostgreSQLAdapter,
  type PostgreSQLAdapterOptions,
  PostgreSQLSession,
} from './adapter.js';
export type { PGliteLike, PgClientLike, PgPoolClientLike, PgPoolLike } from './connection/types.js';
export { classifyPostgresError, QueryCancelledError } from './errors/classify.js';
export { quoteIdentifier } from './quote.js';
export { CommitRolledBackError } from './request.js';
