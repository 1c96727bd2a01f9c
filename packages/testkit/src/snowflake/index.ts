export {
  type FailNextOptions,
  type SnowflakeRequestRecord,
  type SnowflakeServerOptions,
  type SnowflakeTestServer,
  startSnowflakeServer,
} from './server.js';
export { type ScannedStatement, scanStatements } from './sql-text.js';
