import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { PostgreSQLAdapter, type PostgreSQLAdapterOptions } from '../src/index.js';

/** The server under test: real PostgreSQL at PG_URL (CI), else in-process PGlite. */
export const PG_URL = process.env.PG_URL;
export const usingPglite = !PG_URL;

if (usingPglite) {
  console.info('[adapter-postgres tests] PG_URL is not set: running against in-process PGlite');
}

/**
 * One isolated database area per test file: a unique schema on the real server (dropped in
 * `dispose`), or a fresh in-memory PGlite.
 */
export interface TestDb {
  schema: string;
  /** Run SQL outside any adapter under test (setup and checks). */
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** A new adapter on this area; closed by `dispose`. */
  adapter(
    options?: Omit<PostgreSQLAdapterOptions, 'pool' | 'client' | 'pglite'> & { poolSize?: number },
  ): PostgreSQLAdapter;
  /** A pg.Pool on this area (real server only). */
  pool?(size?: number, url?: string): pg.Pool;
  pglite?: PGlite;
  dispose(): Promise<void>;
}

let counter = 0;

export async function openTestDb(label: string): Promise<TestDb> {
  const schema = `t_${label}_${process.pid}_${Date.now().toString(36)}_${counter++}`.toLowerCase();
  const adapters: PostgreSQLAdapter[] = [];
  if (usingPglite) {
    const db = new PGlite();
    await db.exec(`CREATE SCHEMA ${schema}; SET search_path TO ${schema}`);
    return {
      schema,
      pglite: db,
      async sql<T>(text: string, params?: unknown[]) {
        if (params) return (await db.query(text, params)).rows as T[];
        const results = await db.exec(text);
        return (results[results.length - 1]?.rows ?? []) as T[];
      },
      adapter(options = {}) {
        const a = new PostgreSQLAdapter({ ...options, pglite: db });
        adapters.push(a);
        return a;
      },
      async dispose() {
        for (const a of adapters) await a.close();
        await db.close();
      },
    };
  }
  const admin = new pg.Client({ connectionString: PG_URL });
  // CI provides the server: an unreachable PG_URL must fail the suite, not skip it.
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.query(`SET search_path TO ${schema}`);
  const pools: pg.Pool[] = [];
  const makePool = (size = 4, url = PG_URL!) => {
    const p = new pg.Pool({ connectionString: url, max: size, options: `-c search_path=${schema}` });
    p.on('error', () => undefined);
    pools.push(p);
    return p;
  };
  return {
    schema,
    async sql<T>(text: string, params?: unknown[]) {
      return (await admin.query(text, params)).rows as T[];
    },
    adapter(options = {}) {
      const { poolSize, ...rest } = options;
      const a = new PostgreSQLAdapter({ ...rest, pool: makePool(poolSize ?? 4) });
      adapters.push(a);
      return a;
    },
    pool: makePool,
    async dispose() {
      for (const a of adapters) await a.close();
      for (const p of pools) await p.end().catch(() => undefined);
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    },
  };
}
