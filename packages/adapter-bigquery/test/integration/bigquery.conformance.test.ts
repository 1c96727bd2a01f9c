import { type BigQueryTestServer, runAdapterConformance, startBigQueryServer } from '@sqlbatcher/testkit';
import { afterAll } from 'vitest';
import { BigQueryAdapter } from '../../src/index.js';

// One server (and PGlite) for every setup of the suite; each setup gets its own adapter.
let serverPromise: Promise<BigQueryTestServer> | undefined;
const server = (): Promise<BigQueryTestServer> => {
  serverPromise ??= startBigQueryServer({ datasets: ['ds'] });
  return serverPromise;
};

afterAll(async () => {
  if (serverPromise) await (await serverPromise).close();
});

runAdapterConformance('bigquery (@google-cloud/bigquery → BigQuery test server)', async () => {
  const s = await server();
  const adapter = new BigQueryAdapter({
    projectId: s.projectId,
    datasetId: 'ds',
    apiEndpoint: s.url,
    authClient: s.authClient,
    // The batcher retries; the client's own retries would hide the injected failure.
    retryOptions: { autoRetry: false },
  });
  return {
    adapter,
    createTable: async (table) => {
      await s.db.exec(`CREATE TABLE ds.${table} (id integer, name text)`);
    },
    rows: async (table) =>
      (await s.db.query<{ id: number; name: string }>(`SELECT id, name FROM ds.${table}`)).rows,
    // BigQuery refuses a rate-limited request before it creates a job.
    injectTransientFailure: () => s.failNext(1, 429),
    teardown: () => adapter.close(),
  };
});

runAdapterConformance("bigquery, jobMode: 'insert' (a 5xx is verified against the job id)", async () => {
  const s = await server();
  const adapter = new BigQueryAdapter({
    projectId: s.projectId,
    datasetId: 'ds',
    apiEndpoint: s.url,
    authClient: s.authClient,
    jobMode: 'insert',
    retryOptions: { autoRetry: false },
  });
  return {
    adapter,
    createTable: async (table) => {
      await s.db.exec(`CREATE TABLE ds.${table} (id integer, name text)`);
    },
    rows: async (table) =>
      (await s.db.query<{ id: number; name: string }>(`SELECT id, name FROM ds.${table}`)).rows,
    // A 503 before the job exists: the adapter checks the job id, finds nothing, and says so.
    injectTransientFailure: () => s.failNext(1, 503),
    teardown: () => adapter.close(),
  };
});
