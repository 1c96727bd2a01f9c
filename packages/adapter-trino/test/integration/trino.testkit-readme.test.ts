// The examples of packages/testkit/README.md (Trino server and third-party adapter sections), run as
// written. They live here because trino-client is a dependency of this package, not of the testkit.
import { type Adapter, ClosedError, type ErrorClassification } from '@sqlbatcher/core';
import { runAdapterConformance, startTrinoServer, type TrinoTestServer } from '@sqlbatcher/testkit';
import { Trino } from 'trino-client';
import { afterAll, beforeAll, expect, it } from 'vitest';

let shared: TrinoTestServer;
beforeAll(async () => {
  shared = await startTrinoServer();
  await shared.ready();
});
afterAll(async () => {
  await shared.close();
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
