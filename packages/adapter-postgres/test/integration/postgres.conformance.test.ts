import { runAdapterConformance } from '@sqlbatcher/testkit';
import pg from 'pg';
import { afterAll } from 'vitest';
import { PostgreSQLAdapter } from '../../src/index.js';
import { openTestDb, PG_URL, type TestDb, usingPglite } from '../helpers.js';
import { FaultProxy } from '../support/fault-proxy.js';

// One database area for every setup of the suite (PGlite takes seconds to start).
let shared: Promise<TestDb> | undefined;
const area = () => {
  shared ??= openTestDb('conformance');
  return shared;
};
let proxy: FaultProxy | undefined;
const pools: pg.Pool[] = [];
afterAll(async () => {
  for (const p of pools) await p.end().catch(() => undefined);
  await proxy?.stop();
  await (await shared)?.dispose();
});

/**
 * On a real server the adapter goes through a TCP proxy and a pool that opens a new connection per
 * request (`maxUses: 1`), so "the next request fails without effect" is a refused connection.
 */
async function proxiedAdapter(db: TestDb): Promise<{ adapter: PostgreSQLAdapter; proxy: FaultProxy }> {
  if (!proxy) {
    const target = new URL(PG_URL!);
    proxy = new FaultProxy(target.hostname, Number(target.port || 5432));
    await proxy.start();
  }
  const url = new URL(PG_URL!);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  const pool = new pg.Pool({
    connectionString: url.toString(),
    max: 2,
    maxUses: 1,
    options: `-c search_path=${db.schema}`,
  });
  pool.on('error', () => undefined);
  pools.push(pool);
  // A small ceiling keeps the ceiling test quick while still needing several requests.
  return { adapter: new PostgreSQLAdapter({ pool, maxQuerySize: 64 * 1024, connectAttempts: 1 }), proxy };
}

runAdapterConformance('postgres', async () => {
  const db = await area();
  const { adapter, proxy: p } = usingPglite
    ? { adapter: db.adapter({ maxQuerySize: 64 * 1024 }), proxy: undefined }
    : await proxiedAdapter(db);
  return {
    adapter,
    createTable: async (name) => {
      await db.sql(`CREATE TABLE ${name} (id integer, name text)`);
    },
    rows: (name) => db.sql(`SELECT id, name FROM ${name}`),
    ...(p ? { injectTransientFailure: () => p.refuseNext() } : {}),
    teardown: async () => {
      await adapter.close();
    },
  };
});
