export * from './bench.js';
export * from './bigquery/index.js';
export * from './conformance/index.js';
export * from './snowflake/index.js';
export * from './trino/index.js';
