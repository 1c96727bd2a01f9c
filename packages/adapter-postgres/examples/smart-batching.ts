/**
 * The seed's "Smart Batching" example in TypeScript.
 *
 *   PG_URL=postgres://user@localhost:5432/db npx tsx examples/smart-batching.ts
 *
 * Without PG_URL it runs on embedded PostgreSQL (PGlite, in memory). EXAMPLE_ROWS sets the row count.
 */
import { pathToFileURL } from 'node:url';
import { SQLBatcher } from '@sqlbatcher/core';
import { PostgreSQLAdapter } from '../src/index.js';

export async function smartBatching(
  adapter: PostgreSQLAdapter,
  rows: number,
): Promise<{ rows: number; requests: number }> {
  await adapter.execute(
    'DROP TABLE IF EXISTS events; CREATE TABLE events (id int PRIMARY KEY, kind text, payload jsonb, at timestamptz)',
  );
  const statements = Array.from(
    { length: rows },
    (_, i) =>
      `INSERT INTO events (id, kind, payload, at) VALUES (${i}, 'click', '{"n": ${i}}', '2024-01-01T00:00:00Z')`,
  );

  const batcher = new SQLBatcher({
    adapter,
    maxBytes: 1_000_000, // 1 MB soft limit per request
    batchMode: true,
    autoAdjustForColumns: true, // fewer columns → bigger batches, more columns → smaller
  });

  // Process a large dataset: merged into multi-row INSERTs, packed under the limit.
  const processed = await batcher.processStatements(statements, adapter.execute);
  const { requests } = batcher.report;
  console.log(`${processed} statements sent in ${requests} request(s)`);
  const [{ n }] = (await adapter.execute('SELECT count(*)::int AS n FROM events')).rows as [{ n: number }];
  return { rows: n, requests };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const adapter = process.env.PG_URL
    ? new PostgreSQLAdapter({ connectionString: process.env.PG_URL })
    : new PostgreSQLAdapter({ embedded: true });
  const { rows } = await smartBatching(adapter, Number(process.env.EXAMPLE_ROWS ?? 100_000));
  console.log(`Verification: ${rows} rows in table`);
  await adapter.close();
}
