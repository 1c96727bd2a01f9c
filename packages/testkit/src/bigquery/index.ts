export { BIGQUERY_TEST_TOKEN, type BigQueryStubAuthClient, createBigQueryAuthClient } from './auth.js';
export { type BigQueryErrorBody, type BigQueryErrorProto, BigQueryServerError } from './errors.js';
export {
  BIGQUERY_MAX_QUERY_CHARACTERS,
  BIGQUERY_MAX_REQUEST_BYTES,
  type BigQueryRequestRecord,
  type BigQueryServerOptions,
  type BigQueryTestServer,
  startBigQueryServer,
} from './server.js';
export {
  ScriptSyntaxError as BigQueryScriptSyntaxError,
  type TranslatedStatement as BigQueryTranslatedStatement,
  translateScript as translateBigQueryScript,
} from './translate.js';
