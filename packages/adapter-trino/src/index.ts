export {
  connectionOptions,
  TrinoAdapter,
  type TrinoAdapterOptions,
  type TrinoBatcherDefaults,
} from './adapter.js';
export {
  classifyTrinoError,
  type TrinoClassifyOptions,
  type TrinoErrorInfo,
  TrinoQueryError,
  TrinoRequestError,
  type TrinoRequestPhase,
} from './errors.js';
