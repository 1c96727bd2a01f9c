import { createRequire } from 'node:module';
import { PGlite } from '@electric-sql/pglite';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdapterCapabilities, AdapterSession } from '../../src/index.js';
import { BatchExecutionError, GenericAdapter, SQLBatcher } from '../../src/index.js';
import { KEY_SPELLINGS, SCHEMA, streamArb } from '../generators.js';
import { pgliteAdapter } from '../helpers.js';

/**
 * Invariant 1 against a real PostgreSQL engine: a random stream executed one statement at a time into
 * database A and through the batcher into database B leaves both in the same state. With
 * `onError: 'isolate'` the reference skips failing statements; the batcher must reject exactly those
 * and apply every other one.
 */
interface Engine {
  /** Run on the reference side, one statement at a time. */
  execA(sql: string): Promise<void>;
  /** The batched side. */
  adapter(caps: Partial<AdapterCapabilities>): GenericAdapter;
  state(side: 'a' | 'b'): Promise<string[][]>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

const TABLES = [
  'SELECT * FROM t1 ORDER BY id, s',
  'SELECT * FROM t2 ORDER BY id, s',
  'SELECT * FROM t3 ORDER BY id',
  'SELECT * FROM t4 ORDER BY ts',
  ...Object.keys(KEY_SPELLINGS).map((t) => `SELECT k::text, s FROM ${t} ORDER BY k`),
];

async function pgliteEngine(): Promise<Engine> {
  const [a, b] = await Promise.all([PGlite.create(), PGlite.create()]);
  await a.exec(SCHEMA);
  await b.exec(SCHEMA);
  return {
    execA: async (sql) => void (await a.exec(sql)),
    adapter: (caps) => pgliteAdapter(b, { capabilities: caps }),
    state: async (side) => {
      const db = side === 'a' ? a : b;
      const out: string[][] = [];
      for (const q of TABLES) out.push((await db.query(q)).rows.map((r) => JSON.stringify(r)));
      return out;
    },
    reset: async () => {
      await a.exec('TRUNCATE t1, t2, t3, t4, k_int, k_date, k_ts, k_uuid, k_text');
      await b.exec('TRUNCATE t1, t2, t3, t4, k_int, k_date, k_ts, k_uuid, k_text');
    },
    close: async () => {
      await a.close();
      await b.close();
    },
  };
}

interface PgClient {
  connect(): Promise<void>;
  query(sql: string): Promise<{ rows: unknown[]; rowCount: number | null }>;
  end(): Promise<void>;
}

/** The same over a real server (`pg`, two schemas, one connection each). */
async function pgEngine(pg: { Client: new (o: object) => PgClient }, url: string): Promise<Engine> {
  const tag = `sqlb_core_diff_${process.pid}`;
  const mk = async (schema: string) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(
      `DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}; SET search_path TO ${schema}`,
    );
    await c.query(SCHEMA);
    return c;
  };
  const a = await mk(`${tag}_a`);
  const b = await mk(`${tag}_b`);
  const run = async (sql: string) => {
    const r = await b.query(sql);
    return { rowCount: Array.isArray(r) ? 0 : (r.rowCount ?? 0) };
  };
  const session = async (): Promise<AdapterSession> => ({
    execute: run,
    begin: async () => void (await b.query('BEGIN')),
    commit: async () => void (await b.query('COMMIT')),
    rollback: async () => void (await b.query('ROLLBACK')),
    savepoint: async (n) => void (await b.query(`SAVEPOINT "${n.replaceAll('"', '""')}"`)),
    rollbackToSavepoint: async (n) =>
      void (await b.query(`ROLLBACK TO SAVEPOINT "${n.replaceAll('"', '""')}"`)),
    releaseSavepoint: async (n) => void (await b.query(`RELEASE SAVEPOINT "${n.replaceAll('"', '""')}"`)),
    release: async () => undefined,
  });
  return {
    execA: async (sql) => void (await a.query(sql)),
    adapter: (caps) =>
      new GenericAdapter({
        execute: run,
        session,
        dialect: 'postgres',
        classifyError: () => ({ transient: false, effect: 'rolled-back' }),
        capabilities: {
          multiStatement: true,
          atomicMultiStatement: true,
          transactions: true,
          savepoints: true,
          maxConcurrency: 1,
          ...caps,
        },
      }),
    state: async (side) => {
      const c = side === 'a' ? a : b;
      const out: string[][] = [];
      for (const q of TABLES) out.push((await c.query(q)).rows.map((r) => JSON.stringify(r)));
      return out;
    },
    reset: async () => {
      await a.query('TRUNCATE t1, t2, t3, t4, k_int, k_date, k_ts, k_uuid, k_text');
      await b.query('TRUNCATE t1, t2, t3, t4, k_int, k_date, k_ts, k_uuid, k_text');
    },
    close: async () => {
      await a.query(`DROP SCHEMA ${tag}_a CASCADE`);
      await b.query(`DROP SCHEMA ${tag}_b CASCADE`);
      await a.end();
      await b.end();
    },
  };
}

const configArb = fc.record({
  maxBytes: fc.integer({ min: 1, max: 3000 }),
  multiStatement: fc.boolean(),
  transaction: fc.constantFrom('none' as const, 'batch' as const, 'all' as const),
  savepoints: fc.boolean(),
  concurrency: fc.constantFrom(1, 1, 2, 3),
  // at least 4: every generated input statement (≤ 4 rows) is valid for the engine; merged ones get split
  maxRowsPerInsert: fc.option(fc.integer({ min: 4, max: 6 }), { nil: undefined }),
  onError: fc.constantFrom('throw' as const, 'isolate' as const),
  mergeScope: fc.constantFrom('adjacent' as const, 'table' as const),
});

async function differential(engine: Engine, numRuns: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(streamArb, configArb, async (stream, cfg) => {
      await engine.reset();
      const failedRef: number[] = [];
      for (const [i, s] of stream.entries()) {
        try {
          await engine.execA(s.sql);
        } catch {
          failedRef.push(i);
        }
      }
      const batcher = new SQLBatcher({
        adapter: engine.adapter({
          multiStatement: cfg.multiStatement,
          ...(cfg.maxRowsPerInsert ? { maxRowsPerInsert: cfg.maxRowsPerInsert } : {}),
        }),
        maxBytes: cfg.maxBytes,
        transaction: cfg.transaction,
        // isolate inside one transaction needs savepoints
        savepoints: cfg.transaction === 'all' && (cfg.savepoints || cfg.onError === 'isolate'),
        onError: cfg.onError,
        mergeScope: cfg.mergeScope,
        concurrency: cfg.concurrency,
      });
      let thrown: unknown;
      try {
        await batcher.processStatements(stream.map((s) => s.sql));
      } catch (err) {
        thrown = err;
      }
      if (cfg.onError === 'throw') {
        if (failedRef.length > 0) {
          // Stops at the failing batch (rolled back as a whole): the state is a prefix, not comparable,
          // except in one transaction around the run: then nothing at all is left.
          expect(thrown).toBeInstanceOf(BatchExecutionError);
          expect((thrown as BatchExecutionError).statementIndices).toContain(failedRef[0]);
          if (cfg.transaction === 'all') expect(await engine.state('b')).toEqual(TABLES.map(() => []));
          return;
        }
        expect(thrown).toBeUndefined();
      } else {
        expect(thrown).toBeUndefined();
        expect(batcher.report.rejected.map((r) => r.index)).toEqual(failedRef);
      }
      expect(await engine.state('b')).toEqual(await engine.state('a'));
    }),
    { numRuns },
  );
}

describe('differential: one-by-one vs batched on PGlite', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await pgliteEngine();
  }, 60_000);
  afterAll(async () => {
    await engine?.close();
  });

  it('random streams end in the same state', async () => {
    await differential(engine, Number(process.env.FC_RUNS ?? 100));
  }, 120_000);

  const fixed = async (stream: string[]) => {
    await engine.reset();
    for (const s of stream) await engine.execA(s);
    await new SQLBatcher({ adapter: engine.adapter({}) }).processStatements(stream);
    expect(await engine.state('b')).toEqual(await engine.state('a'));
  };

  it('merging never changes what a VALUES expression reads (scalar subqueries)', async () => {
    await fixed([
      "INSERT INTO t1 (id, s) VALUES ((SELECT count(*) FROM t1), 'a')",
      "INSERT INTO t1 (id, s) VALUES ((SELECT count(*) FROM t1), 'b')",
      "INSERT INTO t1 (id, s) VALUES ((  select coalesce(max(id), 0) + 10 FROM t1), 'c')",
      "INSERT INTO t1 (id, s) VALUES (1 + (WITH x AS (SELECT count(*) AS c FROM t1) SELECT c FROM x), 'd')",
      "INSERT INTO t1 (id, s) VALUES ((VALUES (7)), 'e'), (8, (VALUES ('v')))",
      "INSERT INTO t1 (id, s) VALUES (100, 'f'), (101, 'g')",
    ]);
  });

  it('ON CONFLICT: same key in adjacent statements, spelled differently', async () => {
    await fixed([
      "INSERT INTO t3 (id, s) VALUES (1, 'first') ON CONFLICT DO NOTHING",
      "INSERT INTO t3 (id, s) VALUES (1, 'second') ON CONFLICT DO NOTHING",
      "INSERT INTO t3 (id, s) VALUES (1, 'u1') ON CONFLICT (id) DO UPDATE SET s = t3.s || EXCLUDED.s",
      "INSERT INTO t3 (id, s) VALUES ('1', 'u2') ON CONFLICT (id) DO UPDATE SET s = t3.s || EXCLUDED.s",
      "INSERT INTO t3 (id, s) VALUES (01, 'u3') ON CONFLICT (id) DO UPDATE SET s = t3.s || EXCLUDED.s",
      "INSERT INTO t3 (id, s) VALUES (1.0, 'u4') ON CONFLICT (id) DO UPDATE SET s = t3.s || EXCLUDED.s",
      "INSERT INTO t3 (id, s) VALUES (1e0, 'u5') ON CONFLICT (id) DO UPDATE SET s = t3.s || EXCLUDED.s",
      "INSERT INTO t3 (id, s) VALUES (0x1, 'u6') ON CONFLICT (id) DO UPDATE SET s = t3.s || EXCLUDED.s",
      "INSERT INTO t3 (id, s) VALUES (1_0, 'u7') ON CONFLICT (id) DO UPDATE SET s = t3.s || EXCLUDED.s",
      "INSERT INTO t3 (id, s) VALUES (10, 'u8') ON CONFLICT (id) DO UPDATE SET s = t3.s || EXCLUDED.s",
      "INSERT INTO t3 (id, s) VALUES (2, 'u10') ON CONFLICT (id) DO UPDATE SET s = t3.s || EXCLUDED.s",
      "INSERT INTO t3 (id, s) VALUES (3, 'a') ON CONFLICT (id) DO UPDATE SET s = (SELECT string_agg(s, ',' ORDER BY id) FROM t3)",
      "INSERT INTO t3 (id, s) VALUES (1, 'b') ON CONFLICT (id) DO UPDATE SET s = (SELECT string_agg(s, ',' ORDER BY id) FROM t3)",
      "INSERT INTO t3 (id, s) VALUES (2, 'c') ON CONFLICT (id) DO UPDATE SET s = (SELECT string_agg(s, ',' ORDER BY id) FROM t3)",
    ]);
  });

  it('ON CONFLICT on a timestamptz key: the same instant written with different offsets', async () => {
    const up = (ts: string, s: string) =>
      `INSERT INTO t4 (ts, s) VALUES ('${ts}', '${s}') ON CONFLICT (ts) DO UPDATE SET s = t4.s || EXCLUDED.s`;
    await fixed([
      up('2024-01-01 00:00:00+00', 'a'),
      up('2024-01-01 01:00:00+01', 'b'),
      up('2024-01-01T00:00:00Z', 'c'),
      up('2023-12-31 19:00:00-05', 'd'),
      up('2024-01-02 00:00:00+00', 'e'),
    ]);
  });

  it('ON CONFLICT DO UPDATE with keys spelled many ways (int, date, timestamptz, uuid, text)', async () => {
    const tables = Object.keys(KEY_SPELLINGS);
    const upsert = fc
      .tuple(fc.constantFrom(...tables), fc.nat(), fc.integer({ min: 0, max: 99 }))
      .map(([t, k, v]) => {
        const spellings = KEY_SPELLINGS[t] as string[];
        const key = spellings[k % spellings.length] as string;
        return `INSERT INTO ${t} (k, s) VALUES (${key}, 'v${v}') ON CONFLICT (k) DO UPDATE SET s = ${t}.s || ',' || EXCLUDED.s`;
      });
    await fc.assert(
      fc.asyncProperty(
        fc.array(upsert, { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        async (stream, multiStatement) => {
          await engine.reset();
          for (const s of stream) await engine.execA(s);
          await new SQLBatcher({ adapter: engine.adapter({ multiStatement }) }).processStatements(stream);
          expect(await engine.state('b')).toEqual(await engine.state('a'));
        },
      ),
      { numRuns: Number(process.env.FC_RUNS ?? 100) },
    );
  }, 120_000);

  it('against a real PostgreSQL server when PG_URL is set', async () => {
    const url = process.env.PG_URL;
    if (!url) {
      console.log('[core differential] PG_URL not set: skipping the real-server run');
      return;
    }
    let pg: { Client: new (o: object) => PgClient };
    try {
      pg = createRequire(import.meta.url)('pg');
    } catch {
      console.log(
        "[core differential] 'pg' is not resolvable from @sqlbatcher/core (not a dependency): skipping the real-server run; @sqlbatcher/adapter-postgres runs it",
      );
      return;
    }
    const real = await pgEngine(pg, url);
    try {
      await differential(real, 50);
    } finally {
      await real.close();
    }
  }, 120_000);
});
