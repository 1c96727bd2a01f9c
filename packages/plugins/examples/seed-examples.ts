/**
 * The seed's plugin examples in TypeScript plus the ready-made plugins, run against in-process PGlite.
 * `npx tsx examples/seed-examples.ts` prints the output shown in the README.
 */
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { GenericAdapter, type Plugin, SQLBatcher } from '@sqlbatcher/core';
import {
  DeadLetterWriter,
  MetricsCollector,
  ProgressReporter,
  QueryLogger,
  SQLPreprocessor,
} from '../src/index.js';

const db = await PGlite.create();
await db.exec('CREATE TABLE users (id serial PRIMARY KEY, name text UNIQUE)');
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

console.log('--- plugin integration');
{
  const metrics = new MetricsCollector();
  {
    await using batcher = new SQLBatcher({ adapter });
    batcher.registerPlugin(
      new SQLPreprocessor((sql) => sql.replace(/^insert into staging\./i, 'INSERT INTO ')),
    );
    batcher.registerPlugin(metrics);

    await batcher.addStatement("INSERT INTO staging.users (name) VALUES ('John')");
    await batcher.addStatement("INSERT INTO staging.users (name) VALUES ('Jane')");
    // Batches are flushed and plugins cleaned up when `batcher` goes out of scope.
  }
  const { rows } = await db.query('SELECT id, name FROM users ORDER BY id');
  console.log(rows);
  const m = metrics.getMetrics();
  console.log(m.totals);
  console.log(m.byTable);
}

console.log('--- QueryLogger');
{
  await using batcher = new SQLBatcher({
    adapter,
    plugins: [new QueryLogger({ sink: (entry) => console.log(JSON.stringify(entry)), maxSqlLength: 80 })],
  });
  await batcher.processStatements([
    "CREATE ROLE loader LOGIN PASSWORD 'correct horse battery staple'",
    ...Array.from({ length: 50 }, (_, i) => `INSERT INTO users (name) VALUES ('user ${i}')`),
  ]);
}

console.log('--- ProgressReporter');
{
  const statements = Array.from(
    { length: 20_000 },
    (_, i) => `INSERT INTO users (name) VALUES ('bulk ${i}')`,
  );
  await using batcher = new SQLBatcher({
    adapter,
    maxBytes: 50_000,
    plugins: [new ProgressReporter({ total: statements.length, stream: process.stdout, intervalMs: 30 })],
  });
  await batcher.processStatements(statements);
}

console.log('--- DeadLetterWriter');
{
  const path = join(tmpdir(), 'rejected.sql');
  {
    await using batcher = new SQLBatcher({
      adapter,
      onError: 'isolate',
      plugins: [new DeadLetterWriter({ path })],
    });
    await batcher.processStatements([
      "INSERT INTO users (name) VALUES ('Ann')",
      "INSERT INTO users (name) VALUES ('John')", // already there: unique violation
      "INSERT INTO users (name) VALUES ('Bob')",
      "INSERT INTO users (id, name) VALUES ('x', 'Eve')", // not an integer
    ]);
  }
  console.log(await readFile(path, 'utf8'));
  const { rows } = await db.query("SELECT name FROM users WHERE name IN ('Ann', 'Bob', 'Eve') ORDER BY name");
  console.log(rows);
}

console.log('--- a plugin of your own: hook order');
{
  const trace: Plugin = {
    name: 'trace',
    init: (ctx) => console.log('init', ctx),
    beforeBatch: (b) => console.log('beforeBatch', b.id, `${b.inputCount} statements`),
    afterBatch: (b, o) => console.log('afterBatch', b.id, o.success ? 'ok' : 'failed'),
    onError: (e) => console.log('onError', (e as Error).name),
    onRejected: (r) =>
      console.log(
        'onRejected',
        r.map((x) => x.index),
      ),
    cleanup: () => console.log('cleanup'),
  };
  await using batcher = new SQLBatcher({ adapter, plugins: [trace], onError: 'skip' });
  await batcher.processStatements(["INSERT INTO users (name) VALUES ('Zoe')", 'UPDATE users SET id = NULL']);
}
await db.close();
