import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseTrinoSessionHeader,
  scanTrinoText,
  startTrinoServer,
  type TrinoTestServer,
} from '../src/trino/index.js';

interface Page {
  id: string;
  nextUri?: string;
  columns?: { name: string; type: string }[];
  data?: unknown[][];
  stats: { state: string };
  error?: { message: string; errorCode: number; errorName: string; errorType: string };
  updateType?: string;
  updateCount?: number;
}

let server: TrinoTestServer;

// PGlite boots in about 2 s on an idle machine, much longer on a loaded CI runner.
beforeAll(async () => {
  server = await startTrinoServer({ pageSize: 2, maxQueryLength: 200, catalogs: ['memory'] });
  await server.ready();
}, 120_000);

afterAll(async () => {
  await server.close();
});

const HEADERS = { 'X-Trino-User': 'tester', 'X-Trino-Catalog': 'memory', 'X-Trino-Schema': 'unit' };

/** Run a statement the way a Trino client does and collect every page. */
async function run(sql: string, headers: Record<string, string> = HEADERS): Promise<Page[]> {
  const res = await fetch(`${server.url}/v1/statement`, { method: 'POST', body: sql, headers });
  expect(res.status).toBe(200);
  const pages: Page[] = [(await res.json()) as Page];
  while (pages.at(-1)!.nextUri) {
    const next = await fetch(pages.at(-1)!.nextUri!, { headers });
    expect(next.status).toBe(200);
    pages.push((await next.json()) as Page);
  }
  return pages;
}

const errorOf = (pages: Page[]) => pages.find((p) => p.error)?.error;

describe('Trino test server', () => {
  it('starts listening on loopback in milliseconds', async () => {
    const t0 = performance.now();
    const s = await startTrinoServer({ db: await server.db() });
    const elapsed = performance.now() - t0;
    try {
      expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(elapsed).toBeLessThan(500);
    } finally {
      await s.close();
    }
  });

  it('answers 400 without X-Trino-User', async () => {
    const res = await fetch(`${server.url}/v1/statement`, { method: 'POST', body: 'SELECT 1' });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('User must be set');
  });

  it('queues on POST, runs on the first poll and pages results over several requests', async () => {
    await run('CREATE TABLE paged (id integer, name varchar)');
    const insert = await run("INSERT INTO paged VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e')");
    expect(insert[0]!.stats.state).toBe('QUEUED');
    expect(insert[0]!.data).toBeUndefined();
    const last = insert.at(-1)!;
    expect(last.stats.state).toBe('FINISHED');
    expect(last.updateType).toBe('INSERT');
    expect(last.updateCount).toBe(5);

    const select = await run('SELECT id, name FROM paged ORDER BY id');
    const dataPages = select.filter((p) => p.data && p.data.length > 0);
    expect(dataPages.length).toBe(3);
    expect(dataPages.flatMap((p) => p.data!)).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
      [4, 'd'],
      [5, 'e'],
    ]);
    expect(select.find((p) => p.columns)!.columns).toEqual([
      { name: 'id', type: 'integer' },
      { name: 'name', type: 'varchar' },
    ]);
  });

  it('maps the schema header onto a PGlite schema', async () => {
    await run('CREATE TABLE in_schema (x integer)', { ...HEADERS, 'X-Trino-Schema': 'other' });
    const db = await server.db();
    const r = await db.query<{ table_schema: string }>(
      "SELECT table_schema FROM information_schema.tables WHERE table_name = 'in_schema'",
    );
    expect(r.rows.map((x) => x.table_schema)).toEqual(['other']);
  });

  it('keeps each query in its own schema when servers share one PGlite', async () => {
    const other = await startTrinoServer({ db: await server.db() });
    try {
      const post = (url: string, schema: string, sql: string) =>
        fetch(`${url}/v1/statement`, {
          method: 'POST',
          body: sql,
          headers: { ...HEADERS, 'X-Trino-Schema': schema },
        });
      const poll = async (res: Response, schema: string) => {
        let page = (await res.json()) as Page;
        while (page.nextUri) {
          page = (await (
            await fetch(page.nextUri, { headers: { ...HEADERS, 'X-Trino-Schema': schema } })
          ).json()) as Page;
        }
        return page;
      };
      // Interleave: both POSTs first, then both polls.
      const a = await post(server.url, 'left_s', 'CREATE TABLE shared_t (x integer)');
      const b = await post(other.url, 'right_s', 'CREATE TABLE shared_t (x integer)');
      expect((await poll(a, 'left_s')).error).toBeUndefined();
      expect((await poll(b, 'right_s')).error).toBeUndefined();
      const db = await server.db();
      const r = await db.query<{ s: string }>(
        "SELECT table_schema AS s FROM information_schema.tables WHERE table_name = 'shared_t' ORDER BY 1",
      );
      expect(r.rows.map((x) => x.s)).toEqual(['left_s', 'right_s']);
      // Back on the first server, after the other one used another schema.
      expect(
        (await poll(await post(server.url, 'left_s', 'CREATE TABLE shared_t2 (x integer)'), 'left_s')).error,
      ).toBeUndefined();
      const r2 = await db.query<{ s: string }>(
        "SELECT table_schema AS s FROM information_schema.tables WHERE table_name = 'shared_t2'",
      );
      expect(r2.rows.map((x) => x.s)).toEqual(['left_s']);
    } finally {
      await other.close();
    }
  });

  it('reports SQL errors inside the result with HTTP 200, shaped like Trino errors', async () => {
    const pages = await run('SELECT * FROM no_such_table');
    const err = errorOf(pages);
    expect(pages.at(-1)!.stats.state).toBe('FAILED');
    expect(err).toMatchObject({ errorName: 'TABLE_NOT_FOUND', errorCode: 46, errorType: 'USER_ERROR' });
    expect(err!.message).toMatch(/^line 1:15: /);
  });

  it('rejects text over maxQueryLength with QUERY_TEXT_TOO_LARGE before running it', async () => {
    await run('CREATE TABLE too_large (v varchar)');
    const sql = `INSERT INTO too_large VALUES ('${'x'.repeat(200)}')`;
    const pages = await run(sql);
    expect(errorOf(pages)).toMatchObject({ errorName: 'QUERY_TEXT_TOO_LARGE', errorCode: 35 });
    expect(errorOf(pages)!.message).toContain(
      `Query text length (${sql.length}) exceeds the maximum length (200)`,
    );
    const db = await server.db();
    expect((await db.query('SELECT * FROM unit.too_large')).rows).toEqual([]);
  });

  it('counts characters, not bytes, like Java', async () => {
    // 150 two-byte characters: 300 UTF-8 bytes but 150 + 9 characters.
    const pages = await run(`SELECT '${'é'.repeat(150)}'`);
    expect(errorOf(pages)).toBeUndefined();
  });

  it('rejects a second statement and even a trailing semicolon, as Trino’s grammar does', async () => {
    await run('CREATE TABLE multi (x integer)');
    const pages = await run('INSERT INTO multi VALUES (1); INSERT INTO multi VALUES (2)');
    expect(errorOf(pages)).toMatchObject({ errorName: 'SYNTAX_ERROR', errorCode: 1 });
    expect(errorOf(pages)!.message).toBe("line 1:29: mismatched input ';'. Expecting: <EOF>");
    expect(errorOf(await run('INSERT INTO multi VALUES (3);'))?.errorName).toBe('SYNTAX_ERROR');
    const db = await server.db();
    expect((await db.query('SELECT * FROM unit.multi')).rows).toEqual([]);
    // A semicolon inside a literal, identifier or comment is fine.
    expect(errorOf(await run('INSERT INTO multi /* ; */ VALUES (4) -- ;\n'))).toBeUndefined();
    expect(errorOf(await run('SELECT \';\' AS "a;b"'))).toBeUndefined();
  });

  it('refuses transactions for a client without transaction support, and has no SAVEPOINT', async () => {
    expect(errorOf(await run('START TRANSACTION'))).toMatchObject({
      errorName: 'INCOMPATIBLE_CLIENT',
      message: 'Client does not support transactions',
    });
    expect(errorOf(await run('COMMIT'))?.errorName).toBe('NOT_IN_TRANSACTION');
    expect(errorOf(await run('SAVEPOINT sp1'))?.errorName).toBe('SYNTAX_ERROR');
    expect(errorOf(await run('ROLLBACK TO SAVEPOINT sp1'))?.errorName).toBe('SYNTAX_ERROR');
    expect(errorOf(await run('BEGIN'))?.errorName).toBe('SYNTAX_ERROR');
  });

  it('rejects an unknown catalog', async () => {
    const pages = await run('SELECT 1', { ...HEADERS, 'X-Trino-Catalog': 'hive' });
    expect(errorOf(pages)).toMatchObject({ errorName: 'CATALOG_NOT_FOUND', errorCode: 44 });
  });

  it('answers 503 on demand, with no effect', async () => {
    await run('CREATE TABLE overloaded (x integer)');
    server.failNext(1, 503);
    const res = await fetch(`${server.url}/v1/statement`, {
      method: 'POST',
      body: 'INSERT INTO overloaded VALUES (1)',
      headers: HEADERS,
    });
    expect(res.status).toBe(503);
    expect(server.requests.at(-1)!.status).toBe(503);
    const db = await server.db();
    expect((await db.query('SELECT * FROM unit.overloaded')).rows).toEqual([]);
  });

  it('delays answers on demand without blocking other requests', async () => {
    server.delayNext(1, 300, { method: 'POST' });
    const t0 = performance.now();
    const slow = fetch(`${server.url}/v1/statement`, { method: 'POST', body: 'SELECT 1', headers: HEADERS });
    const fast = await fetch(`${server.url}/v1/info`);
    expect(fast.status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(250);
    expect((await slow).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(295);
  });

  it('never runs a query whose POST answer was lost (submission happens on the first poll)', async () => {
    await run('CREATE TABLE lost (x integer)');
    const res = await fetch(`${server.url}/v1/statement`, {
      method: 'POST',
      body: 'INSERT INTO lost VALUES (1)',
      headers: HEADERS,
    });
    expect(res.status).toBe(200);
    const db = await server.db();
    expect((await db.query('SELECT * FROM unit.lost')).rows).toEqual([]);
  });

  it('answers a repeated page request with the same page (clients retry polls after a 503)', async () => {
    await run('CREATE TABLE repeat_t (x integer)');
    const first = (await (
      await fetch(`${server.url}/v1/statement`, {
        method: 'POST',
        body: 'INSERT INTO repeat_t VALUES (1)',
        headers: HEADERS,
      })
    ).json()) as Page;
    const uris: string[] = [];
    let page = first;
    while (page.nextUri) {
      uris.push(page.nextUri);
      const a = await (await fetch(page.nextUri, { headers: HEADERS })).text();
      const again = await (await fetch(page.nextUri, { headers: HEADERS })).text();
      expect(again).toBe(a);
      page = JSON.parse(a) as Page;
    }
    expect(uris.some((u) => u.includes('/queued/'))).toBe(true);
    expect(uris.some((u) => u.includes('/executing/'))).toBe(true);
    expect(page.updateCount).toBe(1);
    const db = await server.db();
    // Polling twice never ran the INSERT twice.
    expect((await db.query('SELECT * FROM unit.repeat_t')).rows).toHaveLength(1);
  });

  it('cancels a query on DELETE nextUri', async () => {
    const res = await fetch(`${server.url}/v1/statement`, {
      method: 'POST',
      body: 'SELECT 1',
      headers: HEADERS,
    });
    const first = (await res.json()) as Page;
    const del = await fetch(first.nextUri!, { method: 'DELETE', headers: HEADERS });
    expect(del.status).toBe(204);
  });

  it('injects a failure after some data pages', async () => {
    server.failQuery({ errorName: 'EXCEEDED_LOCAL_MEMORY_LIMIT', afterPages: 2 });
    const pages = await run('SELECT * FROM generate_series(1, 10) AS t(x)');
    expect(pages.filter((p) => p.data && p.data.length > 0).length).toBe(2);
    expect(errorOf(pages)).toMatchObject({ errorType: 'INSUFFICIENT_RESOURCES', errorCode: 131079 });
  });

  it('records method, path, headers and body of every request', async () => {
    const before = server.requests.length;
    await run('SELECT 42', {
      ...HEADERS,
      'X-Trino-Session': 'query_max_run_time=1h',
      'X-Trino-Source': 'unit',
    });
    const post = server.requests[before]!;
    expect(post).toMatchObject({ method: 'POST', path: '/v1/statement', body: 'SELECT 42', status: 200 });
    expect(post.headers['x-trino-user']).toBe('tester');
    expect(post.headers['x-trino-source']).toBe('unit');
    expect(parseTrinoSessionHeader(post.headers['x-trino-session'])).toEqual({ query_max_run_time: '1h' });
    expect(server.requests.slice(before + 1).every((r) => r.method === 'GET')).toBe(true);
  });

  it('rejects malformed session and role headers with 400', async () => {
    const extras: Record<string, string>[] = [
      { 'X-Trino-Session': 'novalue' },
      { 'X-Trino-Role': 'system=admin' },
    ];
    for (const extra of extras) {
      const res = await fetch(`${server.url}/v1/statement`, {
        method: 'POST',
        body: 'SELECT 1',
        headers: { ...HEADERS, ...extra },
      });
      expect(res.status).toBe(400);
    }
  });
});

describe('scanTrinoText', () => {
  it('finds the first top-level semicolon with Trino quoting rules', () => {
    expect(scanTrinoText("SELECT 'a;''b' AS x").semicolon).toBe(-1);
    expect(scanTrinoText('SELECT "x;""y" FROM t').semicolon).toBe(-1);
    expect(scanTrinoText('SELECT `a;b` FROM t').semicolon).toBe(-1);
    expect(scanTrinoText('SELECT 1 -- ;\n').semicolon).toBe(-1);
    expect(scanTrinoText('SELECT /* ; */ 1').semicolon).toBe(-1);
    expect(scanTrinoText("SELECT U&'a;' , X'00'").semicolon).toBe(-1);
    expect(scanTrinoText("SELECT 'it''s'; SELECT 2").semicolon).toBe(14);
    // Backslash is not an escape in Trino: the string ends at the second quote.
    expect(scanTrinoText("SELECT 'a\\'; SELECT 1").semicolon).toBe(11);
  });

  it('reports unterminated literals and comments', () => {
    expect(scanTrinoText("SELECT 'abc").unterminatedAt).toBe(7);
    expect(scanTrinoText('SELECT /* x').unterminatedAt).toBe(7);
  });

  it('returns the leading words, skipping comments', () => {
    expect(scanTrinoText('/* c */ -- d\n start  transaction').leadingWords).toEqual(['START', 'TRANSACTION']);
    expect(scanTrinoText('  -- only a comment\n').empty).toBe(true);
  });
});
