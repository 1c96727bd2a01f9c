import { PGlite } from '@electric-sql/pglite';
import { PostgreSQLAdapter } from '@sqlbatcher/adapter-postgres';
import { SQLBatcher } from '@sqlbatcher/core';

const db = new PGlite();
await db.exec('CREATE TABLE users (id int PRIMARY KEY, name text, email text)');
const adapter = new PostgreSQLAdapter({ pglite: db });

const statements = Array.from(
  { length: 10_000 },
  (_, i) => `INSERT INTO users (id, name, email) VALUES (${i}, 'User ${i}', 'user${i}@example.com')`,
);

{
  await using batcher = new SQLBatcher({ adapter, maxBytes: 1_000_000 });
  await batcher.processStatements(statements);
  console.log(batcher.report.requests, 'request(s) for', batcher.report.statements, 'statements');
}
console.log((await db.query('SELECT count(*)::int AS n FROM users')).rows[0]);
await adapter.close();
await db.close();
