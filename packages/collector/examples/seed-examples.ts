/**
 * The seed README's "Query Collection and Monitoring" examples in TypeScript, run against in-process
 * PGlite. `npx tsx examples/seed-examples.ts` prints the output shown in the README.
 */
import { PGlite } from '@electric-sql/pglite';
import { GenericAdapter, SQLBatcher } from '@sqlbatcher/core';
import { formatStatsTable, QueryCollector, suggestMaxBytes, toPrometheus } from '../src/index.js';

const db = await PGlite.create();
await db.exec('CREATE TABLE users (id int PRIMARY KEY, name text, email text)');
const adapter = new GenericAdapter({
  name: 'pglite',
  dialect: 'postgres',
  capabilities: { multiStatement: true, atomicMultiStatement: true },
  classifyError: () => ({ transient: false, effect: 'rolled-back' }),
  execute: async (sql) => {
    const results = await db.exec(sql);
    return { rowCount: results.at(-1)?.affectedRows ?? 0 };
  },
});
const users = (from: number, to: number) =>
  Array.from(
    { length: to - from },
    (_, k) =>
      `INSERT INTO users (id, name, email) VALUES (${from + k}, 'User ${from + k}', 'user${from + k}@example.com')`,
  );

// --- Query Collection and Monitoring
const batcher = new SQLBatcher({ adapter, maxBytes: 60_000 });
let statements = users(1, 10_001);
{
  const collector = new QueryCollector();
  await batcher.processStatements(statements, adapter.execute, collector);

  const stats = collector.getStats();
  console.log(`Total queries: ${stats.count}`);
  console.log(`Average batch size: ${stats.avgBatchSize}`);
  console.log(`Total execution time: ${(stats.totalTimeMs / 1000).toFixed(3)} seconds`);
}

// --- Detailed Query Analysis
await db.exec('TRUNCATE users');
{
  const collector = new QueryCollector({ delimiter: ';', dryRun: false, referenceColumnCount: 10 });
  await batcher.processStatements(statements, adapter.execute, collector);

  for (const query of collector.getQueries().slice(0, 2)) {
    console.log('\nQuery Details:');
    console.log(`SQL: ${query.sql.slice(0, 100)}...`);
    console.log(`Execution Time: ${(query.executionTimeMs / 1000).toFixed(3)} seconds`);
    console.log(`Batch Size: ${query.batchSize}`);
    console.log(`Bytes: ${query.bytes}`);
    console.log(`Success: ${query.success}`);
    if (query.error) console.log(`Error: ${query.error.message}`);
  }
  console.log();
  console.log(formatStatsTable(collector.getStats()));
  console.log();
  console.log(
    toPrometheus(collector, { labels: { job: 'users_load' } })
      .split('\n')
      .slice(0, 12)
      .join('\n'),
  );
}

// --- Performance Monitoring: the seed's optimize_batch_size loop
await db.exec('TRUNCATE users');
{
  const collector = new QueryCollector();
  let maxBytes = 60_000;
  for (let chunk = 0; chunk < 3; chunk++) {
    const data = users(1 + chunk * 5000, 1 + (chunk + 1) * 5000);
    await batcher.processStatements(data, adapter.execute, collector);

    // Adjust the batch size (bytes) to the observed query time.
    maxBytes = suggestMaxBytes(collector.getStats(), { currentMaxBytes: maxBytes, targetQueryTimeMs: 20 });
    batcher.setBatchSize(maxBytes);

    const stats = collector.getStats();
    console.log(`Batch Size: ${stats.avgBatchSize.toFixed(1)} statements, next maxBytes: ${maxBytes}`);
    console.log(`Average Query Time: ${(stats.avgQueryTimeMs / 1000).toFixed(3)} seconds`);
    console.log(`Total Bytes: ${stats.totalBytes} bytes`);
  }
}

// --- Error Tracking
statements = users(20_001, 20_101);
statements.push("INSERT INTO users (id, name, email) VALUES (1001, 'User 1001', 'user1001@example.com')");
{
  const collector = new QueryCollector();
  try {
    await batcher.processStatements(statements, adapter.execute, collector);
  } catch (e) {
    console.log('Error occurred. Analyzing failed queries...');
    const failedQueries = collector.getQueries().filter((q) => !q.success);
    console.log(`\nFailed Queries: ${failedQueries.length}`);
    for (const query of failedQueries) {
      console.log('\nFailed Query:');
      console.log(`SQL: ${query.sql.slice(0, 100)}...`);
      console.log(`Error: ${query.error?.message} (code ${query.error?.code})`);
      console.log(`Execution Time: ${(query.executionTimeMs / 1000).toFixed(3)} seconds`);
      console.log(`Batch Size: ${query.batchSize}`);
    }
    console.log(`\nThrown: ${(e as Error).name}: ${(e as Error).message.slice(0, 80)}…`);
  }
}
const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
console.log(`\nVerification: ${rows[0]?.n} rows in table`);
await batcher.close();
await db.close();
