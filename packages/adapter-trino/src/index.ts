export {
  connectionOptions,
  TrinoAdapter,
  type TrinoAdapterOptions,
  type TrinoBatcherDefaults,
} from './adapter.js';
export {
  classifyTrinoError,
  TrinoCanceledError,
  type TrinoClassifyOptions,
  type TrinoErrorInfo,
  TrinoQueryError,
  TrinoRequestError,
  type TrinoRequestPhase,
} from './errors.js';
