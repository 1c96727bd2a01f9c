import { type Adapter, type ExecuteOptions, SQLBatcher, splitStatements } from '@sqlbatcher/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** A row of the suite's test tables: `(id integer, name varchar/text)`. */
export interface ConformanceRow {
  id: number;
  name: string;
}

/**
 * What an adapter's test file gives the conformance suite: the adapter under test, connected to a
 * real engine or a protocol test server, and a side channel to create and read tables.
 */
export interface ConformanceTarget {
  /** The adapter under test. The suite closes it in its last test. */
  adapter: Adapter;
  /**
   * Create an empty table `name` with columns `id` (integer) and `name` (text) — in the engine's
   * dialect, through the adapter or any other way. Names are lower-case `[a-z0-9_]`.
   */
  createTable(name: string): Promise<void>;
  /** Every row of table `name` (any order). Must not depend on `adapter` (it may be closed). */
  rows(name: string): Promise<ConformanceRow[]>;
  /**
   * One single-row INSERT in the engine's dialect. Default:
   * `INSERT INTO <table> (id, name) VALUES (<id>, '<name>')` with `'` doubled.
   */
  insertSql?(table: string, id: number, name: string): string;
  /** A statement the engine rejects (default `SELECT * FROM sqlbatcher_conformance_no_such_table`). */
  badStatement?: string;
  /**
   * Make the next request fail transiently *without effect* on the engine (a test server answering
   * HTTP 503 to the next request, say). When given, the suite checks that `classifyError` calls that
   * failure transient with no effect and that the batcher's retry then delivers every row exactly once.
   */
  injectTransientFailure?(): void | Promise<void>;
  /** Release whatever setup created (servers, databases). Called once per setup. */
  teardown(): Promise<void>;
}

/** Options of {@link runAdapterConformance}. */
export interface ConformanceOptions {
  /**
   * Bytes of INSERT text pushed through the batcher in the ceiling test: at least 2.5× the adapter's
   * `maxQuerySize` so several full requests are needed, capped by this value (default 3,000,000).
   */
  maxCeilingTestBytes?: number;
}

const SETUP_TIMEOUT_MS = 120_000;

let tableCounter = 0;

function uniqueTable(prefix: string): string {
  tableCounter++;
  return `conf_${prefix}_${process.pid}_${Date.now().toString(36)}_${tableCounter}`;
}

function defaultInsert(table: string, id: number, name: string): string {
  return `INSERT INTO ${table} (id, name) VALUES (${id}, '${name.replace(/'/g, "''")}')`;
}

function utf8(sql: string): number {
  return Buffer.byteLength(sql, 'utf8');
}

function sortRows(rows: ConformanceRow[]): ConformanceRow[] {
  return rows.map((r) => ({ id: Number(r.id), name: String(r.name) })).sort((a, b) => a.id - b.id);
}

/** An execute function that records every request's SQL and forwards it to the real adapter. */
function recording(adapter: Adapter): {
  sent: string[];
  execute: (sql: string, options?: ExecuteOptions) => Promise<unknown>;
} {
  const sent: string[] = [];
  const { execute } = adapter;
  return {
    sent,
    execute: (sql, options) => {
      sent.push(sql);
      return execute(sql, options);
    },
  };
}

/**
 * Register the adapter conformance suite with vitest. Every adapter — ours and third-party ones — runs
 * it from its own test file:
 *
 * ```ts
 * runAdapterConformance('my-engine', async () => {
 *   const adapter = new MyAdapter({ ... });
 *   return {
 *     adapter,
 *     createTable: (t) => admin.query(`CREATE TABLE ${t} (id integer, name text)`),
 *     rows: (t) => admin.query(`SELECT id, name FROM ${t}`).then((r) => r.rows),
 *     teardown: () => admin.end(),
 *   };
 * });
 * ```
 *
 * `setup` is called once for the main checks and once more for each of the close / dispose checks,
 * which close their adapter.
 */
export function runAdapterConformance(
  name: string,
  setup: () => Promise<ConformanceTarget>,
  options: ConformanceOptions = {},
): void {
  describe(`adapter conformance: ${name}`, () => {
    let target: ConformanceTarget;
    let insert: (table: string, id: number, name: string) => string;

    // Setups may boot a database (PGlite takes seconds on a loaded machine).
    beforeAll(async () => {
      target = await setup();
      insert = target.insertSql?.bind(target) ?? defaultInsert;
    }, SETUP_TIMEOUT_MS);

    afterAll(async () => {
      await target?.teardown();
    }, SETUP_TIMEOUT_MS);

    it('declares honest, well-formed capabilities', () => {
      const caps = target.adapter.capabilities;
      expect(typeof target.adapter.name).toBe('string');
      expect(target.adapter.name.length).toBeGreaterThan(0);
      expect(Number.isInteger(caps.maxQuerySize) && caps.maxQuerySize > 0).toBe(true);
      expect(typeof caps.multiStatement).toBe('boolean');
      expect(typeof caps.transactions).toBe('boolean');
      expect(typeof caps.savepoints).toBe('boolean');
      if (caps.savepoints) expect(caps.transactions).toBe(true);
      if (caps.atomicMultiStatement) expect(caps.multiStatement).toBe(true);
      if (caps.transactions) expect(typeof target.adapter.session).toBe('function');
      if (caps.maxRowsPerInsert !== undefined) expect(caps.maxRowsPerInsert).toBeGreaterThan(0);
      if (caps.maxConcurrency !== undefined) expect(caps.maxConcurrency).toBeGreaterThan(0);
    });

    it('executes a statement', async () => {
      const table = uniqueTable('exec');
      await target.createTable(table);
      const result = await target.adapter.execute(insert(table, 1, "O'Brien ☃"));
      expect(sortRows(await target.rows(table))).toEqual([{ id: 1, name: "O'Brien ☃" }]);
      // rowCount is optional, but when an adapter reports it, it must be right.
      if (result.rowCount !== undefined) expect(result.rowCount).toBe(1);
    });

    it('executes when detached from the adapter', async () => {
      const table = uniqueTable('detached');
      await target.createTable(table);
      const { execute } = target.adapter;
      await execute(insert(table, 7, 'detached'));
      expect(sortRows(await target.rows(table))).toEqual([{ id: 7, name: 'detached' }]);
    });

    it('sends several statements per request only when capabilities.multiStatement says so', {
      timeout: SETUP_TIMEOUT_MS,
    }, async () => {
      const caps = target.adapter.capabilities;
      const table = uniqueTable('multi');
      await target.createTable(table);
      const { sent, execute } = recording(target.adapter);
      // No merging: every input statement stays a statement of its own.
      const batcher = new SQLBatcher({ adapter: target.adapter, mergeInserts: false, retry: false });
      const statements = Array.from({ length: 20 }, (_, i) => insert(table, i, `row ${i}`));
      await batcher.processStatements(statements, execute);
      await batcher[Symbol.asyncDispose]();
      const perRequest = sent.map((sql) => splitStatements(sql, { dialect: caps.dialect }).length);
      if (caps.multiStatement) {
        expect(sent.length).toBeLessThan(statements.length);
      } else {
        expect(perRequest.every((n) => n === 1)).toBe(true);
        expect(sent.length).toBe(statements.length);
      }
      expect(perRequest.reduce((a, b) => a + b, 0)).toBe(statements.length);
      expect(sortRows(await target.rows(table)).map((r) => r.id)).toEqual(statements.map((_, i) => i));
    });

    it('never sends a request larger than capabilities.maxQuerySize, and every row arrives', {
      timeout: SETUP_TIMEOUT_MS,
    }, async () => {
      const ceiling = target.adapter.capabilities.maxQuerySize;
      const table = uniqueTable('ceiling');
      await target.createTable(table);
      const budget = Math.min(Math.ceil(ceiling * 2.5), options.maxCeilingTestBytes ?? 3_000_000);
      const statements: string[] = [];
      let bytes = 0;
      for (let i = 0; bytes < budget; i++) {
        // Multi-byte text so a character count would under-estimate the size.
        const sql = insert(table, i, `naïve ☃ row ${i} ${'x'.repeat(i % 40)}`);
        statements.push(sql);
        bytes += utf8(sql);
      }
      const { sent, execute } = recording(target.adapter);
      const batcher = new SQLBatcher({
        adapter: target.adapter,
        maxBytes: Number.MAX_SAFE_INTEGER,
        retry: false,
      });
      await batcher.processStatements(statements, execute);
      await batcher[Symbol.asyncDispose]();
      expect(sent.length).toBeGreaterThan(0);
      const largest = Math.max(...sent.map(utf8));
      expect(largest).toBeLessThanOrEqual(ceiling);
      if (!target.adapter.capabilities.multiStatement) {
        expect(
          sent.every(
            (sql) => splitStatements(sql, { dialect: target.adapter.capabilities.dialect }).length === 1,
          ),
        ).toBe(true);
      }
      const rows = sortRows(await target.rows(table));
      expect(rows.length).toBe(statements.length);
      expect(rows.every((r, i) => r.id === i)).toBe(true);
    });

    it('rejects a failing statement with a coded error, classified not transient', async () => {
      const bad = target.badStatement ?? 'SELECT * FROM sqlbatcher_conformance_no_such_table';
      const error = await target.adapter.execute(bad).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Error);
      const code = (error as { code?: unknown }).code;
      expect(typeof code === 'string' || typeof code === 'number').toBe(true);
      expect(String(code).length).toBeGreaterThan(0);
      const c = target.adapter.classifyError?.(error);
      if (c) {
        expect(c.transient).toBe(false);
        expect(['none', 'rolled-back', 'unknown', 'partial']).toContain(c.effect);
      }
    });

    it('does not retry a failure that is not transient', async () => {
      const bad = target.badStatement ?? 'SELECT * FROM sqlbatcher_conformance_no_such_table';
      const { sent, execute } = recording(target.adapter);
      const batcher = new SQLBatcher({
        adapter: target.adapter,
        retry: { maxAttempts: 5, initialDelayMs: 1, jitter: false },
      });
      await expect(batcher.processStatements([bad], execute)).rejects.toThrow();
      expect(sent.length).toBe(1);
    });

    it('classifies an injected transient failure as retryable and delivers every row exactly once', {
      timeout: SETUP_TIMEOUT_MS,
    }, async (ctx) => {
      if (!target.injectTransientFailure) {
        console.info(`[conformance ${name}] no injectTransientFailure hook: transient-retry check skipped`);
        ctx.skip();
        return;
      }
      const table = uniqueTable('retry');
      await target.createTable(table);

      await target.injectTransientFailure();
      const error = await target.adapter.execute(insert(table, 0, 'first try')).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Error);
      expect(target.adapter.classifyError?.(error)).toMatchObject({ transient: true, effect: 'none' });
      expect(await target.rows(table)).toEqual([]);

      await target.injectTransientFailure();
      const { sent, execute } = recording(target.adapter);
      const batcher = new SQLBatcher({
        adapter: target.adapter,
        retry: { maxAttempts: 3, initialDelayMs: 1, jitter: false },
      });
      const statements = Array.from({ length: 10 }, (_, i) => insert(table, i, `retried ${i}`));
      await batcher.processStatements(statements, execute);
      await batcher[Symbol.asyncDispose]();
      expect(batcher.report.retries).toBeGreaterThanOrEqual(1);
      expect(sent.length).toBeGreaterThan(batcher.report.requests);
      expect(sortRows(await target.rows(table)).map((r) => r.id)).toEqual(statements.map((_, i) => i));
    });

    it('rejects execute with ClosedError (code CLOSED) after close()', {
      timeout: SETUP_TIMEOUT_MS,
    }, async () => {
      const own = await setup();
      try {
        await own.adapter.close();
        await expect(own.adapter.execute(own.badStatement ?? 'SELECT 1')).rejects.toMatchObject({
          code: 'CLOSED',
        });
        const { execute } = own.adapter;
        await expect(execute('SELECT 1')).rejects.toMatchObject({ code: 'CLOSED' });
        // close() is idempotent.
        await own.adapter.close();
      } finally {
        await own.teardown();
      }
    });

    it('closes through Symbol.asyncDispose when it has one', { timeout: SETUP_TIMEOUT_MS }, async (ctx) => {
      const own = await setup();
      try {
        const disposable = own.adapter as Adapter & Partial<AsyncDisposable>;
        if (typeof disposable[Symbol.asyncDispose] !== 'function') {
          console.info(`[conformance ${name}] adapter has no Symbol.asyncDispose: dispose check skipped`);
          ctx.skip();
          return;
        }
        {
          await using scoped = disposable as Adapter & AsyncDisposable;
          expect(scoped.capabilities.maxQuerySize).toBeGreaterThan(0);
        }
        await expect(own.adapter.execute('SELECT 1')).rejects.toMatchObject({ code: 'CLOSED' });
      } finally {
        await own.teardown();
      }
    });
  });
}
