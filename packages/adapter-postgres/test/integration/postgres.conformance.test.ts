import { runAdapterConformance } from '@sqlbatcher/testkit';
import { afterAll } from 'vitest';
import { openTestDb, type TestDb } from '../helpers.js';

// One database area for every setup of the suite (PGlite takes seconds to start).
let shared: Promise<TestDb> | undefined;
const area = () => {
  shared ??= openTestDb('conformance');
  return shared;
};
afterAll(async () => {
  await (await shared)?.dispose();
});

runAdapterConformance('postgres', async () => {
  const db = await area();
  // A small ceiling keeps the ceiling test quick while still needing several requests.
  const adapter = db.adapter({ maxQuerySize: 64 * 1024 });
  return {
    adapter,
    createTable: async (name) => {
      await db.sql(`CREATE TABLE ${name} (id integer, name text)`);
    },
    rows: (name) => db.sql(`SELECT id, name FROM ${name}`),
    teardown: async () => {
      await adapter.close();
    },
  };
});
