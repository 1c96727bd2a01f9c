import { PGlite } from '@electric-sql/pglite';
import type { AdapterCapabilities, AdapterSession, BatchInfo, ExecuteOptions } from '../src/index.js';
import { GenericAdapter } from '../src/index.js';

/** One request as the adapter saw it. */
export interface Sent {
  sql: string;
  batch: BatchInfo | undefined;
}

/** A GenericAdapter that records every request and returns `{ rowCount: 0 }`. */
export function recordingAdapter(
  capabilities: Partial<AdapterCapabilities> = {},
  maxQuerySize = 1_000_000,
  execute?: (sql: string, options?: ExecuteOptions) => unknown,
): { adapter: GenericAdapter; sent: Sent[] } {
  const sent: Sent[] = [];
  const adapter = new GenericAdapter({
    execute: (sql, options) => {
      sent.push({ sql, batch: options?.batch });
      return execute ? execute(sql, options) : { rowCount: 0 };
    },
    maxQuerySize,
    capabilities,
  });
  return { adapter, sent };
}

/** PGlite errors: the statement ran in an implicit transaction and was rolled back; not transient. */
export const pgliteClassify = () => ({ transient: false, effect: 'rolled-back' as const });

/**
 * A GenericAdapter over one in-process PGlite database, multi-statement and atomic like PostgreSQL's
 * simple query protocol. `session()` pins the same database (PGlite has one connection), so
 * transactions and savepoints are real.
 */
export function pgliteAdapter(
  db: PGlite,
  extra: {
    capabilities?: Partial<AdapterCapabilities>;
    maxQuerySize?: number;
    log?: string[];
    /** Classify errors otherwise than {@link pgliteClassify} (every error rolled back, not transient). */
    classify?: typeof pgliteClassify | ((e: unknown) => { transient: boolean; effect: 'rolled-back' });
  } = {},
): GenericAdapter {
  const run = async (sql: string) => {
    extra.log?.push(sql);
    const results = await db.exec(sql);
    let rowCount = 0;
    for (const r of results) rowCount += r.affectedRows ?? 0;
    return { rowCount, rows: results.at(-1)?.rows ?? [] };
  };
  const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;
  const session = async (): Promise<AdapterSession> => ({
    execute: run,
    begin: async () => void (await db.exec('BEGIN')),
    commit: async () => void (await db.exec('COMMIT')),
    rollback: async () => void (await db.exec('ROLLBACK')),
    savepoint: async (n) => void (await db.exec(`SAVEPOINT ${quote(n)}`)),
    rollbackToSavepoint: async (n) => void (await db.exec(`ROLLBACK TO SAVEPOINT ${quote(n)}`)),
    releaseSavepoint: async (n) => void (await db.exec(`RELEASE SAVEPOINT ${quote(n)}`)),
    release: async () => undefined,
  });
  return new GenericAdapter({
    name: 'pglite',
    execute: run,
    session,
    classifyError: extra.classify ?? pgliteClassify,
    dialect: 'postgres',
    maxQuerySize: extra.maxQuerySize ?? 1_000_000,
    capabilities: {
      multiStatement: true,
      atomicMultiStatement: true,
      transactions: true,
      savepoints: true,
      maxConcurrency: 1,
      ...extra.capabilities,
    },
  });
}

let shared: Promise<PGlite> | undefined;

/** One PGlite instance per test file (starting one takes ~1 s). */
export function sharedPGlite(): Promise<PGlite> {
  shared ??= PGlite.create();
  return shared;
}

/** Rows of a query as JSON strings, in a stable order. */
export async function dump(db: PGlite, sql: string): Promise<string[]> {
  const r = await db.query(sql);
  return r.rows.map((row) => JSON.stringify(row));
}

/**
 * The error of {@link nonAtomicAdapter}: the request stopped at statement `position` (0-based), the
 * statements before it committed (`rows` rows), the later ones never ran.
 */
export class StoppedAt extends Error {
  constructor(
    readonly position: number,
    cause: unknown,
    /** Rows the statements before `position` affected. */
    readonly rows = 0,
  ) {
    super(`statement ${position} failed: ${(cause as Error).message}`, { cause });
  }
}

/**
 * An engine like Snowflake or BigQuery scripts over PGlite: the statements of one request run one by
 * one, each committed; the first failure stops the request and says at which statement (`partial`).
 * `requests` receives each request's statements.
 */
export function nonAtomicAdapter(db: PGlite, requests?: string[][]): GenericAdapter {
  return new GenericAdapter({
    name: 'non-atomic',
    dialect: 'postgres',
    capabilities: { multiStatement: true, atomicMultiStatement: false },
    execute: async (sql: string, options?: ExecuteOptions) => {
      const statements = options?.batch?.statements.map((s) => s.sql) ?? [sql];
      requests?.push(statements);
      let rows = 0;
      for (let k = 0; k < statements.length; k++) {
        try {
          rows += (await db.exec(statements[k] as string)).at(-1)?.affectedRows ?? 0;
        } catch (err) {
          throw new StoppedAt(k, err, rows);
        }
      }
      return { rowCount: rows };
    },
    classifyError: (err) =>
      err instanceof StoppedAt
        ? { transient: false, effect: 'partial', statementPosition: err.position, rowsAffected: err.rows }
        : { transient: false, effect: 'unknown' },
  });
}
