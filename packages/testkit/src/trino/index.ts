export { TRINO_ERROR_CODES, type TrinoErrorName, type TrinoErrorPayload, trinoError } from './errors.js';
export {
  type InjectedQueryFailure,
  parseTrinoRoleHeader,
  parseTrinoSessionHeader,
  type RecordedTrinoRequest,
  startTrinoServer,
  type TrinoServerOptions,
  type TrinoTestServer,
} from './server.js';
export { scanTrinoText, type TrinoTextScan } from './sql-text.js';
