/**
 * The ready-made plugins and the hook contract on real batcher runs: GenericAdapter over in-process
 * PGlite, and @sqlbatcher/adapter-postgres (against the server at PG_URL when set, as in CI, else on
 * the same PGlite). Results are checked against the database, not against recorded call sequences
 * alone. One PGlite per file: it takes seconds to start.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PostgreSQLAdapter } from '@sqlbatcher/adapter-postgres';
import {
  type BatchInfo,
  type BatchOutcome,
  GenericAdapter,
  type Plugin,
  type RejectedStatement,
  SQLBatcher,
} from '@sqlbatcher/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DeadLetterWriter,
  MetricsCollector,
  ProgressReporter,
  type QueryLogEntry,
  QueryLogger,
  SQLPreprocessor,
} from '../../src/index.js';

let db: PGlite;
let requests = 0;

beforeAll(async () => {
  db = await PGlite.create();
}, 60_000);
afterAll(async () => {
  await db?.close();
});
beforeEach(async () => {
  requests = 0;
  await db.exec(`
    DROP TABLE IF EXISTS users; DROP TABLE IF EXISTS orders; DROP TABLE IF EXISTS archive_users;
    CREATE TABLE users (id int PRIMARY KEY, name text);
    CREATE TABLE orders (id int PRIMARY KEY, user_id int, total numeric);
    CREATE TABLE archive_users (id int PRIMARY KEY, name text);
  `);
});

function adapter(): GenericAdapter {
  return new GenericAdapter({
    name: 'pglite',
    dialect: 'postgres',
    capabilities: { multiStatement: true, atomicMultiStatement: true, maxConcurrency: 1 },
    // In-process PGlite runs a request in one implicit transaction: a failed request left no trace.
    classifyError: () => ({ transient: false, effect: 'rolled-back' }),
    execute: async (sql: string) => {
      requests++;
      const results = await db.exec(sql);
      return { rowCount: results.at(-1)?.affectedRows ?? 0 };
    },
  });
}

async function count(table: string): Promise<number> {
  const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return r.rows[0]?.n ?? -1;
}

const userInserts = (from: number, to: number) =>
  Array.from(
    { length: to - from },
    (_, k) => `INSERT INTO users (id, name) VALUES (${from + k}, 'u${from + k}')`,
  );

/** Records every hook call; `failIn` makes one hook throw. */
class Recorder implements Plugin {
  readonly calls: string[] = [];
  constructor(
    readonly name: string,
    private readonly failIn?: string,
  ) {}
  private note(hook: string): void {
    this.calls.push(hook);
    if (hook === this.failIn) throw new Error(`${this.name} broke in ${hook}`);
  }
  init(): void {
    this.note('init');
  }
  transformStatement(sql: string): string {
    this.note('transformStatement');
    return sql;
  }
  beforeBatch(_b: BatchInfo): void {
    this.note('beforeBatch');
  }
  async afterBatch(_b: BatchInfo, o: BatchOutcome): Promise<void> {
    await Promise.resolve();
    this.note(o.success ? 'afterBatch:ok' : 'afterBatch:failed');
  }
  onError(): void {
    this.note('onError');
  }
  onRejected(r: readonly RejectedStatement[]): void {
    this.note(`onRejected:${r.map((x) => x.index).join(',')}`);
  }
  cleanup(): void {
    this.note('cleanup');
  }
}

const compress = (calls: string[]) =>
  calls.reduce<string[]>((out, c) => {
    const last = out.at(-1);
    if (last === c || last === `${c}*`) out[out.length - 1] = `${c}*`;
    else out.push(c);
    return out;
  }, []);

describe('hook order and errors', () => {
  it('runs the hooks in the documented order, cleanup on dispose', async () => {
    const rec = new Recorder('recorder');
    const a = adapter();
    {
      await using batcher = new SQLBatcher({ adapter: a, plugins: [rec], maxBytes: 1_000 });
      await batcher.processStatements(userInserts(0, 300));
    }
    expect(await count('users')).toBe(300);
    const batches = rec.calls.filter((c) => c === 'beforeBatch').length;
    expect(batches).toBe(requests);
    expect(batches).toBeGreaterThan(1);
    expect(compress(rec.calls)[0]).toBe('init');
    expect(rec.calls.filter((c) => c === 'transformStatement')).toHaveLength(300);
    // Each beforeBatch is followed by its afterBatch before the next batch starts.
    const batchHooks = rec.calls.filter((c) => c.startsWith('beforeBatch') || c.startsWith('afterBatch'));
    expect(batchHooks).toEqual(
      Array.from({ length: batches }, () => ['beforeBatch', 'afterBatch:ok']).flat(),
    );
    expect(rec.calls.at(-1)).toBe('cleanup');
    expect(rec.calls.filter((c) => c === 'cleanup')).toHaveLength(1);
  }, 60_000);

  it('on failure: beforeBatch, afterBatch (failed), onError, then onRejected under isolate', async () => {
    await db.exec("INSERT INTO users VALUES (3, 'taken')");
    const rec = new Recorder('recorder');
    const a = adapter();
    {
      await using batcher = new SQLBatcher({ adapter: a, plugins: [rec], onError: 'isolate' });
      await batcher.processStatements(userInserts(0, 6));
    }
    expect(await count('users')).toBe(6);
    const c = rec.calls.filter((x) => x !== 'transformStatement');
    expect(c.slice(0, 4)).toEqual(['init', 'beforeBatch', 'afterBatch:failed', 'onError']);
    expect(c).toContain('onRejected:3');
    expect(c.at(-1)).toBe('cleanup');
  }, 60_000);

  it.each(['init', 'transformStatement', 'beforeBatch', 'afterBatch:ok'])(
    'an exception in %s fails the run as a PluginError naming the plugin; cleanup still runs',
    async (hook) => {
      const good = new Recorder('good');
      const bad = new Recorder('bad-plugin', hook);
      const batcher = new SQLBatcher({ adapter: adapter(), plugins: [good, bad] });
      const err = await batcher.processStatements(userInserts(0, 5)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ name: 'PluginError', plugin: 'bad-plugin', code: 'PLUGIN_FAILED' });
      expect((err as Error).message).toContain('bad-plugin');
      expect((err as Error).message).toContain(`bad-plugin broke in ${hook}`);
      await batcher.close();
      expect(good.calls.at(-1)).toBe('cleanup');
      expect(bad.calls.at(-1)).toBe('cleanup');
    },
    60_000,
  );
});

describe('hook errors on the failure path and at dispose', () => {
  it.each(['onError', 'onRejected:0'])(
    'an exception in %s is a PluginError naming the plugin',
    async (hook) => {
      await db.exec("INSERT INTO users VALUES (0, 'taken')");
      const bad = new Recorder('bad-plugin', hook);
      const batcher = new SQLBatcher({ adapter: adapter(), plugins: [bad], onError: 'skip' });
      await expect(batcher.processStatements(userInserts(0, 1))).rejects.toMatchObject({
        name: 'PluginError',
        plugin: 'bad-plugin',
        hook: hook.split(':')[0],
      });
      await batcher.close();
      expect(bad.calls.at(-1)).toBe('cleanup');
    },
    60_000,
  );

  it('an exception in cleanup is reported by dispose after every cleanup ran', async () => {
    const bad = new Recorder('bad-plugin', 'cleanup');
    const good = new Recorder('good');
    const batcher = new SQLBatcher({ adapter: adapter(), plugins: [bad, good] });
    await batcher.processStatements(userInserts(0, 3));
    await expect(batcher.close()).rejects.toMatchObject({
      name: 'PluginError',
      plugin: 'bad-plugin',
      hook: 'cleanup',
    });
    expect(good.calls.at(-1)).toBe('cleanup');
    expect(await count('users')).toBe(3);
  }, 60_000);
});

describe('SQLPreprocessor', () => {
  it('rewrites statements before merging, async functions included', async () => {
    const pre = new SQLPreprocessor(async (sql) =>
      sql.replace(/^INSERT INTO users /, 'INSERT INTO archive_users '),
    );
    const drop = new SQLPreprocessor((sql, i) => (i % 2 === 1 ? null : sql), { name: 'drop-odd' });
    {
      await using batcher = new SQLBatcher({ adapter: adapter(), plugins: [pre, drop] });
      await batcher.processStatements(userInserts(0, 10));
    }
    expect(await count('users')).toBe(0);
    expect(await count('archive_users')).toBe(5);
    expect(requests).toBe(1);
  }, 60_000);
});

describe('MetricsCollector', () => {
  it('counts per table and per kind what the database stored', async () => {
    const metrics = new MetricsCollector();
    const statements = [
      ...userInserts(0, 300),
      ...Array.from(
        { length: 200 },
        (_, i) => `INSERT INTO orders (id, user_id, total) VALUES (${i}, ${i % 300}, ${i}.5)`,
      ),
      "UPDATE users SET name = 'x' WHERE id < 50",
      'DELETE FROM orders WHERE id >= 150',
    ];
    {
      await using batcher = new SQLBatcher({ adapter: adapter(), plugins: [metrics], maxBytes: 4_000 });
      await batcher.processStatements(statements);
    }
    const m = metrics.getMetrics();
    expect(m.totals.requests).toBe(requests);
    expect(m.totals.inputStatements).toBe(502);
    expect(m.totals.rows).toBe(500);
    expect(m.byTable.users?.rows).toBe(await count('users'));
    expect(m.byTable.users?.inputStatements).toBe(301);
    expect(m.byTable.orders?.rows).toBe(200);
    expect(m.byTable.orders?.inputStatements).toBe(201);
    expect(m.byKind.INSERT?.inputStatements).toBe(500);
    expect(m.byKind.UPDATE?.statements).toBe(1);
    expect(m.byKind.DELETE?.statements).toBe(1);
    const kindTime = Object.values(m.byKind).reduce((s, k) => s + k.timeMs, 0);
    expect(kindTime).toBeCloseTo(m.totals.timeMs, 6);
    expect(m.totals.failedRequests).toBe(0);
  }, 60_000);
});

describe('QueryLogger', () => {
  it('logs each request with credentials redacted and long SQL truncated', async () => {
    const entries: QueryLogEntry[] = [];
    const logger = new QueryLogger({ sink: (e) => void entries.push(e), maxSqlLength: 120 });
    {
      await using batcher = new SQLBatcher({ adapter: adapter(), plugins: [logger], maxBytes: 100_000 });
      await batcher.processStatements([
        "DROP ROLE IF EXISTS etl_user; CREATE ROLE etl_user LOGIN PASSWORD 'Tr0ub4dor&3'",
        ...userInserts(0, 200),
      ]);
    }
    const text = JSON.stringify(entries);
    expect(text).not.toContain('Tr0ub4dor');
    expect(entries[0]).toMatchObject({ event: 'start', adapter: 'pglite' });
    const batches = entries.filter((e) => e.event === 'batch');
    expect(batches).toHaveLength(requests);
    expect(batches.some((e) => e.sql?.includes("PASSWORD '***'"))).toBe(true);
    const big = batches.find((e) => (e.rows ?? 0) === 200);
    expect(big?.sql).toMatch(/… \[\d+ more characters\]$/);
    expect(big?.sql?.length).toBeLessThan(160);
    expect(big?.rowsAffected).toBe(200);
    expect((await db.query("SELECT 1 FROM pg_roles WHERE rolname = 'etl_user'")).rows).toHaveLength(1);
  }, 60_000);

  it('logs failures with the engine error', async () => {
    const entries: QueryLogEntry[] = [];
    const batcher = new SQLBatcher({
      adapter: adapter(),
      plugins: [new QueryLogger({ sink: (e) => void entries.push(e) })],
    });
    await expect(batcher.processStatements(['INSERT INTO nope (a) VALUES (1)'])).rejects.toThrow(/nope/);
    await batcher.close();
    const failed = entries.find((e) => e.event === 'batch');
    expect(failed).toMatchObject({ level: 'error', success: false, error: { code: '42P01' } });
    expect(entries.find((e) => e.event === 'error')?.error?.name).toBe('BatchExecutionError');
  }, 60_000);
});

describe('ProgressReporter', () => {
  it('reports every statement done on a non-TTY stream', async () => {
    const out: string[] = [];
    const stream = { isTTY: false, write: (s: string) => out.push(s) };
    {
      await using batcher = new SQLBatcher({
        adapter: adapter(),
        plugins: [new ProgressReporter({ total: 1000, stream, intervalMs: 0 })],
        maxBytes: 5_000,
      });
      await batcher.processStatements(userInserts(0, 1000));
    }
    expect(await count('users')).toBe(1000);
    expect(out.filter((l) => l.startsWith('sqlbatcher progress'))).toHaveLength(requests);
    expect(out.at(-1)).toMatch(/^sqlbatcher done 100\.0%: 1,000\/1,000 statements, 1,000 rows, /);
  }, 60_000);
});

describe('a request that failed part-way (non-atomic engine)', () => {
  /**
   * Like Snowflake: a multi-statement request runs statement by statement, each applied, and stops at
   * the first failure, saying where.
   */
  function stepwise(): GenericAdapter {
    return new GenericAdapter({
      name: 'stepwise',
      dialect: 'postgres',
      capabilities: { multiStatement: true, atomicMultiStatement: false },
      execute: async (_sql, opts) => {
        let rows = 0;
        const statements = opts?.batch?.statements ?? [];
        for (let i = 0; i < statements.length; i++) {
          try {
            rows += (await db.exec(statements[i]?.sql as string)).at(-1)?.affectedRows ?? 0;
          } catch (err) {
            throw Object.assign(err as Error, { position: i });
          }
        }
        return { rowCount: rows };
      },
      classifyError: (err) => ({
        transient: false,
        effect: 'partial',
        statementPosition: (err as { position: number }).position,
      }),
    });
  }

  it('counts the statements applied before the failure once, in progress and metrics', async () => {
    const lines: string[] = [];
    const progress = new ProgressReporter({ total: 10, stream: { write: (s: string) => lines.push(s) } });
    const metrics = new MetricsCollector();
    // #5 repeats id 0: the first request applies #0–#4 and stops; #6–#9 are sent again.
    const stmts = Array.from(
      { length: 10 },
      (_, i) => `INSERT INTO users (id, name) VALUES (${i === 5 ? 0 : i}, 'u')`,
    );
    {
      await using batcher = new SQLBatcher({
        adapter: stepwise(),
        onError: 'skip',
        mergeInserts: false,
        plugins: [progress, metrics],
      });
      await batcher.processStatements(stmts);
      expect(batcher.report.rejected.map((r) => r.index)).toEqual([5]);
    }
    expect(await count('users')).toBe(9);
    const p = progress.getProgress();
    expect([p.statements, p.rows, p.rejected, p.failedBatches]).toEqual([9, 9, 1, 1]);
    expect(lines.at(-1)).toMatch(/^sqlbatcher done 100\.0%: 9\/10 statements, 9 rows/);
    const m = metrics.getMetrics();
    expect(m.totals.inputStatements).toBe(10);
    expect(m.totals.failedRequests).toBe(1);
    expect(m.byTable.users?.inputStatements).toBe(10);
    expect(m.byKind.INSERT?.inputStatements).toBe(10);
  });
});

describe('DeadLetterWriter', () => {
  it("writes what 'isolate' rejected; fixing the cause and running the file completes the table", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sqlbatcher-dl-'));
    try {
      const path = join(dir, 'rejected.sql');
      await db.exec("INSERT INTO users VALUES (7, 'old'), (42, 'old')");
      const dlq = new DeadLetterWriter({ path });
      {
        await using batcher = new SQLBatcher({
          adapter: adapter(),
          plugins: [dlq],
          onError: 'isolate',
          maxBytes: 3_000,
        });
        await batcher.processStatements(userInserts(0, 100));
      }
      expect(dlq.count).toBe(2);
      expect(await count('users')).toBe(100);
      const text = await readFile(path, 'utf8');
      expect(text).toMatch(
        /-- statement #7 failed: duplicate key value violates unique constraint "users_pkey"\n/,
      );
      expect(text).toMatch(/-- statement #42 failed: /);
      // Fix the cause, re-run the file as it is.
      await db.exec('DELETE FROM users WHERE id IN (7, 42)');
      await db.exec(text);
      const r = await db.query<{ name: string }>('SELECT name FROM users WHERE id IN (7, 42) ORDER BY id');
      expect(r.rows).toEqual([{ name: 'u7' }, { name: 'u42' }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

const PG_URL = process.env.PG_URL;
if (!PG_URL) console.info('[plugins tests] PG_URL is not set: PostgreSQLAdapter runs on in-process PGlite');

describe('plugins with PostgreSQLAdapter', () => {
  const table = `sb_plugins_${process.pid}_${Date.now().toString(36)}`;
  let adapter: PostgreSQLAdapter;
  let dir: string;
  beforeAll(async () => {
    adapter = PG_URL
      ? new PostgreSQLAdapter({ connectionString: PG_URL, maxSize: 2 })
      : new PostgreSQLAdapter({ pglite: db });
    await adapter.execute(`CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL)`);
    dir = await mkdtemp(join(tmpdir(), 'sqlbatcher-pg-'));
  }, 60_000);
  afterAll(async () => {
    await adapter?.execute(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await adapter?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('hook order, metrics, logging and dead letters agree with the table', async () => {
    const calls: string[] = [];
    const order: Plugin = {
      name: 'order',
      init: () => void calls.push('init'),
      beforeBatch: () => void calls.push('before'),
      afterBatch: (_b, o) => void calls.push(o.success ? 'after:ok' : 'after:failed'),
      onError: () => void calls.push('onError'),
      onRejected: (r) => void calls.push(`rejected:${r.map((x) => x.index).join(',')}`),
      cleanup: () => void calls.push('cleanup'),
    };
    const metrics = new MetricsCollector();
    const entries: QueryLogEntry[] = [];
    const path = join(dir, 'rejected.sql');
    const dlq = new DeadLetterWriter({ path });
    const statements = Array.from(
      { length: 600 },
      (_, i) => `INSERT INTO ${table} (id, name) VALUES (${i}, 'n${i}')`,
    );
    statements[123] = `INSERT INTO ${table} (id, name) VALUES (123, NULL)`; // NOT NULL violation
    {
      await using batcher = new SQLBatcher({
        adapter,
        transaction: 'batch',
        onError: 'isolate',
        maxBytes: 8_000,
        plugins: [order, metrics, new QueryLogger({ sink: (e) => void entries.push(e) }), dlq],
      });
      await batcher.processStatements(statements);
    }
    const n = (await adapter.execute(`SELECT count(*)::int AS n FROM ${table}`)).rows?.[0] as { n: number };
    expect(n.n).toBe(599);

    expect(calls[0]).toBe('init');
    expect(calls.at(-1)).toBe('cleanup');
    const firstFailure = calls.indexOf('after:failed');
    expect(calls.slice(firstFailure - 1, firstFailure + 2)).toEqual(['before', 'after:failed', 'onError']);
    expect(calls).toContain('rejected:123');

    const m = metrics.getMetrics();
    expect(m.totals.rejectedStatements).toBe(1);
    expect(m.totals.failedRequests).toBe(calls.filter((c) => c === 'after:failed').length);
    expect(m.byTable[table]?.failedStatements).toBeGreaterThan(0);
    expect(m.byKind.INSERT?.requests).toBe(m.totals.requests);
    expect(entries.filter((e) => e.event === 'batch')).toHaveLength(m.totals.requests);
    expect(entries.find((e) => e.event === 'rejected')).toMatchObject({
      statementIndex: 123,
      error: { code: '23502' },
    });

    const text = await readFile(path, 'utf8');
    expect(text).toContain('-- statement #123 failed: ');
    expect(text).toContain(`INSERT INTO ${table} (id, name) VALUES (123, NULL);`);
    // Fix the cause, then run the file as it is.
    await adapter.execute(`ALTER TABLE ${table} ALTER COLUMN name DROP NOT NULL`);
    await adapter.execute(text);
    const fixed = (await adapter.execute(`SELECT count(*)::int AS n FROM ${table}`)).rows?.[0] as {
      n: number;
    };
    expect(fixed.n).toBe(600);
  }, 60_000);
});
