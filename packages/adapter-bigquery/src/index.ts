export {
  BIGQUERY_DEFAULT_MAX_QUERY_SIZE,
  BIGQUERY_MAX_QUERY_CHARACTERS,
  BigQueryAdapter,
  type BigQueryAdapterOptions,
  type BigQueryClientLike,
  type BigQueryJobLike,
} from './adapter.js';
export { BigQueryError, type BigQueryErrorEntry, type BigQueryErrorOptions } from './errors.js';
