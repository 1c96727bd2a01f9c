import { runAdapterConformance, type SnowflakeTestServer, startSnowflakeServer } from '@sqlbatcher/testkit';
import snowflake from 'snowflake-sdk';
import { afterAll } from 'vitest';
import { SnowflakeAdapter } from '../../src/index.js';

snowflake.configure({ logLevel: 'OFF' });

// One server (and PGlite) for every setup of the suite; each setup gets its own adapter.
let serverPromise: Promise<SnowflakeTestServer> | undefined;
const server = (): Promise<SnowflakeTestServer> => {
  serverPromise ??= startSnowflakeServer();
  return serverPromise;
};

afterAll(async () => {
  if (serverPromise) await (await serverPromise).close();
});

runAdapterConformance('snowflake (snowflake-sdk → Snowflake test server)', async () => {
  const s = await server();
  const adapter = new SnowflakeAdapter({
    accessUrl: s.url,
    account: 'conformance',
    username: 'u',
    password: 'p',
  });
  return {
    adapter,
    createTable: async (table) => {
      await s.db.exec(`CREATE TABLE ${table} (id integer, name text)`);
    },
    rows: async (table) =>
      (await s.db.query<{ id: number; name: string }>(`SELECT id, name FROM ${table}`)).rows,
    // HTTP 5xx/429 never reach the adapter: the SDK retries them itself with the same request id. What
    // does reach it is a session Snowflake ended (expiry): refused before execution, and the adapter
    // logs in again on the next request.
    injectTransientFailure: () => s.endSessionOnNextQuery(),
    teardown: () => adapter.close(),
  };
});
