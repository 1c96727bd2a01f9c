import { runAdapterConformance, startTrinoServer, type TrinoTestServer } from '@sqlbatcher/testkit';
import { afterAll } from 'vitest';
import { TrinoAdapter } from '../../src/index.js';

// One PGlite for every server of this file: it boots once (~2 s), servers start in milliseconds.
let shared: TrinoTestServer | undefined;
async function sharedDb(): ReturnType<TrinoTestServer['db']> {
  shared ??= await startTrinoServer();
  return shared.db();
}
afterAll(async () => {
  await shared?.close();
});

runAdapterConformance('trino (trino-client against the Trino test server)', async () => {
  const db = await sharedDb();
  const server = await startTrinoServer({ db });
  const adapter = new TrinoAdapter({
    server: server.url,
    user: 'conformance',
    catalog: 'memory',
    schema: 'conf',
  });
  return {
    adapter,
    createTable: async (table) => {
      await adapter.execute(`CREATE TABLE ${table} (id integer, name varchar)`);
    },
    rows: async (table) =>
      (await db.query<{ id: number; name: string }>(`SELECT id, name FROM conf.${table}`)).rows,
    injectTransientFailure: () => server.failNext(1, 503),
    teardown: () => server.close(),
  };
});
