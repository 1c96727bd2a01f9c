// The examples of this package's README (run against the Trino test server: host/port point at it
// instead of trino.example.com) and of packages/testkit/README.md (Trino server and third-party
// adapter sections; they live here because trino-client is a dependency of this package, not of the
// testkit). If this file changes, the READMEs must change with it.
import { type Adapter, ClosedError, type ErrorClassification, SQLBatcher } from '@sqlbatcher/core';
import { runAdapterConformance, startTrinoServer, type TrinoTestServer } from '@sqlbatcher/testkit';
import { Trino } from 'trino-client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TrinoAdapter } from '../../src/index.js';

let shared: TrinoTestServer;
let server: TrinoTestServer;

beforeAll(async () => {
  shared = await startTrinoServer();
  server = await startTrinoServer({ catalogs: ['hive'], db: await shared.db() });
});

afterAll(async () => {
  await server.close();
  await shared.close();
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

it('testkit README: Trino test server example', async () => {
  const server = await startTrinoServer({ pageSize: 100, db: await shared.db() });
  const trino = Trino.create({
    server: server.url,
    catalog: 'memory',
    schema: 'demo',
    extraHeaders: { 'X-Trino-User': 'me' },
  });
  const pages = await trino.query('CREATE TABLE t (id integer, name varchar)');
  for await (const page of pages) if (page.error) throw new Error(page.error.message);

  server.failNext(1, 503);
  await expect(trino.query('SELECT 1')).rejects.toMatchObject({ response: { status: 503 } });
  expect(server.requests.at(-1)).toMatchObject({ method: 'POST', path: '/v1/statement', status: 503 });
  expect(server.statements()).toEqual(['CREATE TABLE t (id integer, name varchar)', 'SELECT 1']);
  server.delayNext(1, 5_000, { method: 'GET' });
  server.clearFaults();
  const t0 = performance.now();
  for await (const page of await trino.query('SELECT 2')) expect(page.error).toBeUndefined();
  expect(performance.now() - t0).toBeLessThan(4_000);
  const db = await server.db();
  expect(
    (await db.query("SELECT 1 FROM information_schema.tables WHERE table_schema = 'demo'")).rows,
  ).toHaveLength(1);
  await server.close();

  // An error reported on a page is visible to a for-await loop.
  const failing = await startTrinoServer({ db: await shared.db() });
  const client = Trino.create({ server: failing.url, extraHeaders: { 'X-Trino-User': 'me' } });
  const errors: string[] = [];
  for await (const page of await client.query('SELECT * FROM nowhere'))
    if (page.error) errors.push(page.error.errorName);
  expect(errors).toEqual(['TABLE_NOT_FOUND']);
  await failing.close();
});

// The README's MyAdapter, verbatim apart from `_error`.
class MyAdapter implements Adapter {
  readonly name = 'my-engine';
  readonly capabilities = {
    maxQuerySize: 1_000_000,
    multiStatement: false,
    atomicMultiStatement: false,
    transactions: false,
    savepoints: false,
    dialect: 'generic',
  } as const;
  private closed = false;
  constructor(
    private readonly client: { query(sql: string): Promise<{ rowCount?: number }>; end(): Promise<void> },
  ) {}

  readonly execute = async (sql: string) => {
    if (this.closed) throw new ClosedError('MyAdapter');
    const r = await this.client.query(sql);
    return { rowCount: r.rowCount };
  };

  classifyError(_error: unknown): ErrorClassification {
    return { transient: false, effect: 'unknown' };
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    await this.client.end();
  }

  [Symbol.asyncDispose]() {
    return this.close();
  }
}

// The README's connect(): here a connection to the shared PGlite.
async function connect() {
  const db = await shared.db();
  return {
    query: async (sql: string) => {
      const r = await db.query<{ id: number; name: string }>(sql);
      return { rows: r.rows, rowCount: r.affectedRows };
    },
    end: async () => {},
  };
}

runAdapterConformance('my-engine (testkit README example)', async () => {
  const admin = await connect();
  const adapter = new MyAdapter(await connect());
  return {
    adapter,
    createTable: async (t) => void (await admin.query(`CREATE TABLE ${t} (id integer, name text)`)),
    rows: async (t) => (await admin.query(`SELECT id, name FROM ${t}`)).rows,
    teardown: () => admin.end(),
  };
});
