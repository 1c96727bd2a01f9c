/**
 * The README's usage example, run as written except for the endpoint (the test server instead of a
 * Snowflake account).
 */
import { SQLBatcher } from '@sqlbatcher/core';
import { type SnowflakeTestServer, startSnowflakeServer } from '@sqlbatcher/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SnowflakeAdapter } from '../../src/index.js';

let server: SnowflakeTestServer;

beforeAll(async () => {
  server = await startSnowflakeServer();
  await server.db.exec('CREATE TABLE users (id INT, name TEXT, email TEXT, created_at TIMESTAMP)');
}, 60_000);

afterAll(async () => {
  await server?.close();
});

const seedStatements = (from: number, to: number): string[] =>
  Array.from(
    { length: to - from },
    (_, k) =>
      `INSERT INTO users (id, name, email, created_at) VALUES (${from + k}, 'User ${from + k}', 'user${from + k}@example.com', CURRENT_TIMESTAMP())`,
  );

it('runs the README example', async () => {
  const statements = seedStatements(0, 1000);
  const adapter = new SnowflakeAdapter({
    accessUrl: server.url, // the only line that differs from the README
    account: 'your_account',
    user: 'your_user',
    password: process.env.SNOWFLAKE_PASSWORD ?? 'secret',
    warehouse: 'your_warehouse',
    database: 'your_database',
    logLevel: 'OFF',
  });

  const batcher = new SQLBatcher({ adapter });
  try {
    await batcher.processStatements(statements);
  } finally {
    await batcher[Symbol.asyncDispose]();
    await adapter.close();
  }

  // and detached, as in the seed
  const again = new SnowflakeAdapter({ accessUrl: server.url, account: 'a', user: 'u', password: 'p' });
  const detached = new SQLBatcher({ adapter: again });
  await detached.processStatements(seedStatements(1000, 1500), again.execute);
  await detached[Symbol.asyncDispose]();
  await again.close();

  const res = await server.db.query<{ n: number }>('SELECT count(DISTINCT id)::int AS n FROM users');
  expect(res.rows[0]?.n).toBe(1500);
  // merged: far fewer requests than statements
  expect(server.queries().length).toBeLessThan(10);
});
