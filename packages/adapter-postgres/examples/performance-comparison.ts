/**
 * The seed's "Performance Comparison" example in TypeScript: the same INSERTs one by one, then
 * through the batcher in chunks of 10,000.
 *
 *   PG_URL=postgres://user@localhost:5432/db EXAMPLE_ROWS=1000000 npx tsx examples/performance-comparison.ts
 *
 * Without PG_URL it runs on embedded PostgreSQL (PGlite). EXAMPLE_ROWS defaults to 20,000.
 */
import { pathToFileURL } from 'node:url';
import { SQLBatcher } from '@sqlbatcher/core';
import { PostgreSQLAdapter } from '../src/index.js';

export interface Comparison {
  oneByOneSeconds: number;
  batchedSeconds: number;
  requests: number;
  rows: number;
}

export async function performanceComparison(adapter: PostgreSQLAdapter, total: number): Promise<Comparison> {
  await adapter.execute(
    'DROP TABLE IF EXISTS users; CREATE TABLE users (id int, name text, email text, created_at timestamptz)',
  );
  const statements: string[] = [];
  for (let i = 0; i < total; i++) {
    statements.push(
      `INSERT INTO users (id, name, email, created_at) VALUES (${i}, 'User ${i}', 'user${i}@example.com', NOW())`,
    );
  }

  console.log('\nTest 1: Without insert merging');
  let start = performance.now();
  for (const stmt of statements) await adapter.execute(stmt);
  const oneByOneSeconds = (performance.now() - start) / 1000;
  console.log(`Total statements: ${statements.length}`);
  console.log(`Total execution time: ${oneByOneSeconds.toFixed(2)} seconds`);

  await adapter.execute('DELETE FROM users');

  console.log('\nTest 2: With insert merging');
  const batcher = new SQLBatcher({ adapter, maxBytes: 1_000_000, batchMode: true });
  start = performance.now();
  const batchSize = 10_000;
  for (let i = 0; i < statements.length; i += batchSize) {
    const batch = statements.slice(i, i + batchSize);
    await batcher.processStatements(batch, adapter.execute);
    console.log(`Processed ${i + batch.length} of ${statements.length} statements...`);
  }
  const batchedSeconds = (performance.now() - start) / 1000;
  console.log(`Total statements: ${statements.length}`);
  console.log(`Total execution time: ${batchedSeconds.toFixed(2)} seconds`);

  const [{ n }] = (await adapter.execute('SELECT count(*)::int AS n FROM users')).rows as [{ n: number }];
  console.log(`\nVerification: ${n} rows in table`);
  console.log(`Speed-up: ${(oneByOneSeconds / batchedSeconds).toFixed(1)}x`);
  return { oneByOneSeconds, batchedSeconds, requests: batcher.report.requests, rows: n };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const adapter = process.env.PG_URL
    ? new PostgreSQLAdapter({ connectionString: process.env.PG_URL })
    : new PostgreSQLAdapter({ embedded: true });
  await performanceComparison(adapter, Number(process.env.EXAMPLE_ROWS ?? 20_000));
  await adapter.close();
}
