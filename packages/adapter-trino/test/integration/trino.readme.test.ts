// The README's examples, run against the Trino test server (host/port point at it instead of
// trino.example.com). If this file changes, the README must change with it.
import { SQLBatcher } from '@sqlbatcher/core';
import { startTrinoServer, type TrinoTestServer } from '@sqlbatcher/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TrinoAdapter } from '../../src/index.js';

let server: TrinoTestServer;

beforeAll(async () => {
  server = await startTrinoServer({ catalogs: ['hive'] });
  await server.ready();
});

afterAll(async () => {
  await server.close();
});

const posts = (from: number) =>
  server.requests.slice(from).filter((r) => r.method === 'POST' && r.path === '/v1/statement');

it('README usage: seed options, batcherDefaults, detached execute', async () => {
  const setup = new TrinoAdapter({
    host: '127.0.0.1',
    port: server.port,
    user: 'trino',
    catalog: 'hive',
    schema: 'default',
  });
  await setup.execute('CREATE TABLE table1 (id integer, v varchar)');

  const adapter = new TrinoAdapter({
    host: '127.0.0.1',
    port: server.port,
    user: 'trino',
    catalog: 'hive',
    schema: 'default',
    role: 'admin',
    maxQuerySize: 600_000,
    retryAttempts: 3,
    circuitBreakerEnabled: true,
  });
  expect(adapter.batcherDefaults).toEqual({ retry: { maxAttempts: 3 }, circuitBreaker: true });

  const statements = ["INSERT INTO table1 VALUES (1, 'a')", "INSERT INTO table1 VALUES (2, 'b')"];
  const before = server.requests.length;
  {
    await using batcher = new SQLBatcher({
      adapter,
      maxBytes: 500_000,
      autoAdjustForColumns: true,
      ...adapter.batcherDefaults,
    });
    await batcher.processStatements(statements, adapter.execute);
  }
  await adapter.close();

  const sent = posts(before);
  expect(sent).toHaveLength(1);
  expect(sent[0]!.headers['x-trino-role']).toBe('system=ROLE{admin}');
  const db = await server.db();
  expect(
    (await db.query('SELECT id, v FROM "default".table1 ORDER BY id', [], { rowMode: 'array' })).rows,
  ).toEqual([
    [1, 'a'],
    [2, 'b'],
  ]);
});

it('README: addStatement, flushed when the await-using scope ends', async () => {
  const setup = new TrinoAdapter({ host: '127.0.0.1', port: server.port, user: 'trino' });
  await setup.execute('CREATE TABLE users (name varchar)');

  const adapter = new TrinoAdapter({ host: '127.0.0.1', port: server.port, user: 'trino' });
  const before = server.requests.length;
  {
    await using batcher = new SQLBatcher({ adapter });
    await batcher.addStatement("INSERT INTO users (name) VALUES ('John')");
    await batcher.addStatement("INSERT INTO users (name) VALUES ('Jane')");
    expect(posts(before)).toHaveLength(0);
  }
  await adapter.close();
  expect(posts(before).map((r) => r.body)).toEqual(["INSERT INTO users (name) VALUES ('John'),('Jane')"]);
});

it('circuitBreakerEnabled: after repeated failures the batcher stops sending', async () => {
  const adapter = new TrinoAdapter({
    host: '127.0.0.1',
    port: server.port,
    user: 'trino',
    retryAttempts: 5,
    circuitBreakerEnabled: true,
  });
  server.failNext(5, 503, { method: 'POST' });
  const batcher = new SQLBatcher({ adapter, ...adapter.batcherDefaults });
  await expect(batcher.processStatements(['SELECT 1'])).rejects.toMatchObject({
    name: 'BatchExecutionError',
  });
  const before = server.requests.length;
  const second = await batcher.processStatements(['SELECT 2']).catch((e: unknown) => e);
  expect(second).toMatchObject({ name: 'CircuitOpenError', code: 'CIRCUIT_OPEN' });
  expect(server.requests.length).toBe(before);
  await adapter.close();
});
