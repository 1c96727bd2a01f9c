export {
  classifySnowflakeError,
  SnowflakeError,
  type SnowflakeErrorKind,
  type SnowflakeErrorOptions,
} from './errors.js';
export type {
  SnowflakeComplete,
  SnowflakeConnectionLike,
  SnowflakeSdkLike,
  SnowflakeStatementLike,
} from './sdk-types.js';
export {
  SNOWFLAKE_MAX_VALUES_ROWS,
  SnowflakeAdapter,
  type SnowflakeAdapterOptions,
} from './snowflake-adapter.js';
