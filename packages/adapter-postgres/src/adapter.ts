import {
  type Adapter,
  type AdapterCapabilities,
  type AdapterSession,
  type BatchStatement,
  blockControl,
  ClosedError,
  ConfigurationError,
  collectCalls,
  dialectRules,
  type ErrorClassification,
  type ExecuteOptions,
  type ExecuteResult,
  lexStatement,
  splitStatements,
} from '@sqlbatcher/core';
import { ClientSource, type CopyFrom, PoolSource } from './connection/pg.js';
import { PGliteSource } from './connection/pglite.js';
import type {
  Connection,
  ConnectionSource,
  PGliteLike,
  PgClientLike,
  PgPoolLike,
} from './connection/types.js';
import { buildCopy, EncodeCache } from './copy/plan.js';
import { buildUnnest } from './copy/unnest.js';
import {
  classifyPostgresError,
  isConnectionError,
  noteBlockInDoubt,
  noteError,
  noteIdleAfter,
  noteInAbortedBlock,
  noteLostInBlock,
  notePartlyCommitted,
  noteTransactionLost,
  sqlState,
} from './errors/classify.js';
import { qualifiedNameParts, quoteIdentifier } from './quote.js';
import {
  CommitRolledBackError,
  type CopyEvent,
  commit,
  inTransactionBlock,
  type RequestContext,
  runRequest,
} from './request.js';

/** Default hard ceiling of one request's SQL text: 64 MiB (PostgreSQL itself accepts up to ~1 GB). */
export const DEFAULT_MAX_QUERY_SIZE = 64 * 1024 * 1024;

/** Default {@link PostgreSQLAdapterOptions.maxRowsPerInsert}. */
export const DEFAULT_MAX_ROWS_PER_INSERT = 1_000;
/** Default {@link PostgreSQLAdapterOptions.minFastRows}. */
export const DEFAULT_MIN_FAST_ROWS = 100;

/** Options of {@link PostgreSQLAdapter}. Give one of: connection settings, `pool`, `client`, `pglite`, `embedded`. */
export interface PostgreSQLAdapterOptions {
  /** `postgres://user:password@host:port/database?…` */
  connectionString?: string;
  /** Alias of `connectionString` (the seed's `dsn`). */
  dsn?: string;
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  /** Never logged nor put into errors by the adapter. */
  password?: string | (() => string | Promise<string>);
  /** Passed to pg as is (`true`, or a `tls.ConnectionOptions`). */
  ssl?: boolean | object;
  /** Connections the pool keeps open (default 0). */
  minSize?: number;
  /** Most connections of the pool (default 10); also `capabilities.maxConcurrency`. */
  maxSize?: number;
  /** Give up connecting after this many ms (default: pg's, no limit). */
  connectionTimeoutMs?: number;
  /** Server-side `statement_timeout` for every connection, in ms. */
  statementTimeoutMs?: number;
  /** `application_name` shown in `pg_stat_activity` (default `sqlbatcher`). */
  applicationName?: string;
  /** An existing `pg.Pool`. The adapter does not end it on `close()`. */
  pool?: PgPoolLike;
  /** An existing, connected `pg.Client`: requests and sessions take turns on it. Not ended on `close()`. */
  client?: PgClientLike;
  /** An existing PGlite instance. Not closed on `close()`. */
  pglite?: PGliteLike;
  /** Embedded PostgreSQL (PGlite) owned by the adapter: `true` for in-memory, or `{ dataDir }`. */
  embedded?: boolean | { dataDir?: string };
  /**
   * Attempts at getting a connection when the failure provably ran nothing (refused, server starting
   * or restarting, too many connections), default 5; 1 disables. Delays double from
   * `connectRetryDelayMs` (default 100 ms). Covers the gap of a server restart.
   */
  connectAttempts?: number;
  connectRetryDelayMs?: number;
  /**
   * Most VALUES rows per merged INSERT (default 1,000; no cap with `copy: true`). PostgreSQL has no such limit; this is a tuning
   * knob, passed to the batcher as `capabilities.maxRowsPerInsert`, and several such statements still
   * travel in one request. Multi-row INSERTs stop getting faster around 100–1,000 rows per statement;
   * on this project's benchmark 1,000-row statements loaded 1M rows about 30% faster than one ~17,000-row
   * statement per 1 MB request.
   */
  maxRowsPerInsert?: number;
  /** Hard ceiling of one request in UTF-8 bytes (default {@link DEFAULT_MAX_QUERY_SIZE}). */
  maxQuerySize?: number;
  /**
   * Send eligible merged INSERTs (all-literal rows, no `ON CONFLICT`/`RETURNING`) with
   * `COPY … FROM STDIN` instead (default false). Needs `pg-copy-streams` with pg. See the README.
   */
  copy?: boolean;
  /**
   * Send eligible INSERTs (rows of literals, optionally with the same built-in argument-less expression
   * such as `now()` in a column of every row; `ON CONFLICT`/`RETURNING` kept) as
   * `INSERT INTO t (…) SELECT … FROM ROWS FROM (unnest($1::type[]), …)`, one array parameter per column
   * (default true). Still one INSERT with INSERT's semantics (see the README for what is left as text
   * and which error a statement failing for several reasons reports); the server no longer parses and
   * plans every row. `false` sends every INSERT as its text.
   */
  unnest?: boolean;
  /**
   * An INSERT takes COPY or the unnest form only when it has at least this many rows (default
   * {@link DEFAULT_MIN_FAST_ROWS}); shorter ones are sent as their text. A fast form costs round trips of
   * its own (a catalog read before it, its own command, and, in a request with other statements, a
   * transaction around the request), which cost more than parsing a few rows as text saves.
   */
  minFastRows?: number;
}

/** Counters of the fast paths. */
export interface CopyStats {
  /** Statements sent through COPY. */
  copiedStatements: number;
  /** Rows loaded by COPY. */
  copiedRows: number;
  /** Statements sent in their `unnest` form. */
  unnestStatements: number;
  /** Rows inserted in the `unnest` form. */
  unnestRows: number;
  /** Statements considered but sent as their own text (non-literal values, types that differ, rules, …). */
  notEligible: number;
  /** Statements whose COPY the server rejected and that then ran as INSERT. */
  fallbacks: number;
  /**
   * Statements whose COPY data or `unnest` arrays (or ineligibility) were worked out while an earlier request ran and
   * used as is (the table's catalog had not changed).
   */
  encodedAhead: number;
}

type Source = ConnectionSource;

function isPGlite(x: object): x is PGliteLike {
  const o = x as Record<string, unknown>;
  return typeof o.exec === 'function' && typeof o.query === 'function' && 'waitReady' in o;
}
function isPool(x: object): x is PgPoolLike {
  const o = x as Record<string, unknown>;
  return typeof o.connect === 'function' && typeof o.query === 'function' && 'totalCount' in o;
}
function isClient(x: object): x is PgClientLike {
  const o = x as Record<string, unknown>;
  return (
    typeof o.connect === 'function' && typeof o.query === 'function' && !('totalCount' in o) && !isPGlite(x)
  );
}

/** The words of a statement that commits (anywhere in a request's text, before splitting it). */
const COMMIT_WORD = /\b(?:COMMIT|END|PREPARE)\b/i;

/** A COMMIT, END or PREPARE TRANSACTION (not a ROLLBACK: the input's own undo is no loss by failure). */
function commits(text: string): boolean {
  const c = blockControl(text);
  return c === 'commit' || c === 'commit-chain';
}

/**
 * The texts of request `sql` that hold `word`: of its statements that are not INSERTs when the batch
 * is known (merged INSERTs, however long, are not read), else the whole text.
 */
function textsWith(
  word: RegExp,
  sql: string,
  statements: readonly { sql: string; insert?: unknown }[] | undefined,
): string[] {
  if (!statements) return word.test(sql) ? [sql] : [];
  return statements.filter((st) => st.insert === undefined && word.test(st.sql)).map((st) => st.sql);
}

/** The words of a statement that ends a transaction block (COMMIT, END, PREPARE TRANSACTION, ROLLBACK, ABORT). */
const ENDS_WORD = /\b(?:COMMIT|END|PREPARE|ROLLBACK|ABORT)\b/i;

/**
 * Whether request `sql` holds a statement that ends a transaction block (`ends`), and one that commits
 * it (`commits`); only statements that are not INSERTs are read (`statements`, when the batch is known).
 */
function blockEnds(
  sql: string,
  statements: readonly { sql: string; insert?: unknown }[] | undefined,
): { ends: boolean; commits: boolean } {
  const texts = textsWith(ENDS_WORD, sql, statements);
  let ends = false;
  let commitsBlock = false;
  for (const text of texts) {
    for (const part of statementTexts(text)) {
      const c = blockControl(part);
      if (c === 'commit' || c === 'commit-chain') ends = commitsBlock = true;
      else if (c === 'rollback' || c === 'rollback-chain') ends = true;
    }
  }
  return { ends, commits: commitsBlock };
}

/** The statements of request text `sql`, each from its first word (comments skipped). */
function statementTexts(sql: string): string[] {
  const parts = sql.includes(';')
    ? splitStatements(sql, { dialect: 'postgres', onMetaCommand: () => undefined })
    : [sql];
  return parts.map((p) => lexStatement(p, 'postgres').text);
}

/**
 * What the failure of request `sql` did to the transaction blocks it touched. `committedBefore`: a
 * COMMIT (END, PREPARE TRANSACTION) of it finished before the failing statement, so the request is not
 * all rolled back. `commitPending`: a COMMIT of it had not finished (it failed itself, or was skipped
 * with the rest of the request); `lostIf(after)` then tells whether a block of the input was lost with it,
 * given whether the connection is still in a block (`after`, asked of the server): yes when a block was
 * open there (`inBlock`: before the request; or begun within it; or still open after), or when the
 * COMMIT itself failed (outside a block a COMMIT only warns).
 */
const NO_OUTCOME: ReturnType<typeof blockOutcome> = {
  committedBefore: false,
  commitPending: false,
  rolledBackCommit: false,
  lostIf: () => false,
};

function blockOutcome(
  sql: string,
  err: unknown,
  inBlock: boolean,
  abortedBefore = false,
): {
  committedBefore: boolean;
  commitPending: boolean;
  rolledBackCommit: boolean;
  /** The outcome is unknown and a block was open before the request: its statements share that fate. */
  blockInDoubt?: boolean;
  lostIf: (after: boolean | undefined) => boolean;
} {
  const none = { committedBefore: false, commitPending: false, rolledBackCommit: false, lostIf: () => false };
  if (!COMMIT_WORD.test(sql)) return none;
  const parts = statementTexts(sql);
  const completed = (err as { completedStatements?: unknown }).completedStatements;
  if (typeof completed !== 'number') {
    // (the driver does not say how far the string got, PGlite say: a COMMIT with a statement after it
    // may have finished before the failure, so what came before it may be committed: in doubt)
    for (let k = 0; k < parts.length - 1; k++) {
      if (commits(parts[k] as string)) {
        // (a block open before the request shares that fate: committed by it, or rolled back)
        return {
          committedBefore: true,
          commitPending: false,
          rolledBackCommit: false,
          blockInDoubt: inBlock,
          lostIf: () => false,
        };
      }
    }
  }
  const done = typeof completed === 'number' ? completed : 0;
  let open = inBlock;
  /** The open block has failed: its COMMIT is answered with ROLLBACK. */
  let aborted = abortedBefore;
  let committedBefore = false;
  let rolledBackCommit = false;
  for (let k = 0; k < parts.length; k++) {
    const text = parts[k] as string;
    if (k < done) {
      const control = blockControl(text);
      if (control === 'begin') open = true;
      else if (control === 'rollback-to') aborted = false;
      else if (control !== undefined) {
        // (also without a BEGIN: a COMMIT commits the request's implicit transaction, all before it;
        // a COMMIT of an aborted block rolled it back)
        if (commits(text) && open && aborted) rolledBackCommit = true;
        else if (commits(text)) committedBefore = true;
        open = control === 'commit-chain' || control === 'rollback-chain';
        aborted = false;
      }
      continue;
    }
    if (commits(text)) {
      const openHere = open;
      return {
        committedBefore,
        commitPending: true,
        rolledBackCommit,
        lostIf: (after) => openHere || after === true || k === done,
      };
    }
  }
  return { ...none, committedBefore, rolledBackCommit };
}

/** How long a {@link PostgreSQLAdapter.canRunConcurrently} answer is kept (other clients may run DDL). */
const ORDER_FREE_TTL_MS = 10_000;

/**
 * One row: may rows be inserted into this table in any order, alongside other requests? Not with rules,
 * row-level security, triggers or foreign keys, nor with a column default that reads the session
 * (`currval`, `lastval`) or calls a function of the database's own (which may read tables): on another
 * pool connection it would read another session. Nor with a column of a domain type (its default, maybe
 * a domain's over a domain, is not looked into).
 */
const ORDER_FREE_SQL = `SELECT c.relkind = 'r' AND NOT c.relhasrules AND NOT c.relrowsecurity
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal)
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                  WHERE k.contype = 'f' AND (k.conrelid = c.oid OR k.confrelid = c.oid))
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attrdef ad WHERE ad.adrelid = c.oid AND (
    pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) ~* '\\m(currval|lastval)\\s*\\('
    OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
               WHERE d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND d.objid = ad.oid
                 AND d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass)))
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND t.typtype = 'd')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'c'
                    AND pg_catalog.pg_get_constraintdef(k.oid) ~* '\\m(currval|lastval)\\s*\\(')
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass
                    AND d.objid = k.oid
                  WHERE k.conrelid = c.oid AND k.contype = 'c' AND (
                    (d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND EXISTS (
                      SELECT 1 FROM pg_catalog.pg_proc p WHERE p.oid = d.refobjid
                        AND (p.provolatile <> 'i' OR p.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace)))
                    OR (d.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass AND EXISTS (
                      SELECT 1 FROM pg_catalog.pg_operator o WHERE o.oid = d.refobjid
                        AND o.oprnamespace <> 'pg_catalog'::pg_catalog.regnamespace)))) AS free
FROM pg_catalog.pg_class c
WHERE c.oid = pg_catalog.to_regclass($1)`;

const PG_RULES = dialectRules('postgres');

/**
 * One row: is every function named `$1` a built-in (none outside `pg_catalog`)? A function of the
 * database's own may read tables, which rows of another batch running beside it have not filled yet.
 */
const BUILTIN_ONLY_SQL = `SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.proname = $1
  AND p.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace) AS free`;

/**
 * One row: may rows of `$1` whose conflict keys on the columns `$2` are distinct as written (see the
 * batcher's conflict keys) share one `INSERT … ON CONFLICT DO UPDATE`? A table (not a view, whose base
 * table's triggers are not looked into), without rules; every column exists and has a type whose input
 * cannot make such keys equal; and no BEFORE INSERT or BEFORE UPDATE row trigger (tgtype bits ROW 1,
 * BEFORE 2, INSERT 4, UPDATE 16) on the table or a partition of it may rewrite them.
 */
const UPSERT_EXACT_SQL = `SELECT (SELECT count(*) FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attname = ANY ($2::text[])
      AND (a.atttypid IN ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype,
          'pg_catalog.int8'::pg_catalog.regtype, 'pg_catalog.float8'::pg_catalog.regtype,
          'pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype,
          'pg_catalog.bpchar'::pg_catalog.regtype, 'pg_catalog.uuid'::pg_catalog.regtype,
          'pg_catalog.bool'::pg_catalog.regtype, 'pg_catalog.date'::pg_catalog.regtype)
        OR (a.atttypid = 'pg_catalog.numeric'::pg_catalog.regtype
          AND (a.atttypmod = -1 OR ((a.atttypmod - 4) & 2047) < 1024))))
    = pg_catalog.cardinality($2::text[])
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
    WHERE (t.tgrelid = c.oid OR t.tgrelid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(c.oid) p))
      AND NOT t.tgisinternal AND (t.tgtype & 3) = 3 AND (t.tgtype & 20) <> 0)
  AND c.relkind IN ('r', 'p') AND NOT c.relhasrules AS free
FROM pg_catalog.pg_class c
WHERE c.oid = pg_catalog.to_regclass($1)`;

/**
 * Built-in functions a row may not call in a batch running beside others: they run a query
 * (`query_to_xml`, `ts_stat`, `ts_rewrite`, …), take or release advisory locks, set or read the
 * session's state (`set_config`, `setseed`, `setval`, `currval`, `lastval`, `pg_backend_pid`), read
 * large objects, or notify listeners; one by one on
 * the run's connection they see what the rows before them did, in that session.
 */
const SESSION_BOUND_BUILTINS = new Set([
  'set_config',
  'setval',
  'currval',
  'lastval',
  'pg_backend_pid',
  'pg_notify',
  'ts_stat',
  ...['query', 'table', 'cursor', 'schema', 'database'].flatMap((k) => [
    `${k}_to_xml`,
    `${k}_to_xmlschema`,
    `${k}_to_xml_and_xmlschema`,
  ]),
  ...['', '_shared'].flatMap((s) => [
    `pg_advisory_lock${s}`,
    `pg_advisory_xact_lock${s}`,
    `pg_try_advisory_lock${s}`,
    `pg_try_advisory_xact_lock${s}`,
    `pg_advisory_unlock${s}`,
  ]),
  'pg_advisory_unlock_all',
  'setseed',
  'ts_rewrite',
  'loread',
  'lowrite',
]);

/**
 * Import an optional peer and take `member` from it, whether it is exported by name (ESM) or on the
 * default export (CommonJS modules imported from ESM).
 */
async function loadModule<T>(name: string, member: string): Promise<T> {
  let m: Record<string, unknown>;
  try {
    m = (await import(name)) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigurationError(
      `the PostgreSQL adapter needs the "${name}" package for this configuration: npm i ${name} (${String((err as Error).message).split('\n')[0]})`,
    );
  }
  const found = m[member] ?? (m.default as Record<string, unknown> | undefined)?.[member];
  if (found === undefined) throw new ConfigurationError(`"${name}" does not export ${member}`);
  return found as T;
}

/**
 * PostgreSQL adapter for SQL Batcher over a `pg` pool or client, or embedded PGlite.
 *
 * @example
 * ```ts
 * import { SQLBatcher } from '@sqlbatcher/core';
 * import { PostgreSQLAdapter } from '@sqlbatcher/adapter-postgres';
 *
 * const adapter = new PostgreSQLAdapter({ connectionString: process.env.PG_URL, maxSize: 4 });
 * const batcher = new SQLBatcher({ adapter, transaction: 'batch' });
 * await batcher.processStatements(statements, adapter.execute);
 * await adapter.close();
 * ```
 */
export class PostgreSQLAdapter implements Adapter {
  readonly name = 'postgres';
  readonly capabilities: AdapterCapabilities;
  /** Counters of the fast paths: COPY (`copy: true`) and the `unnest` form (`unnest`, on by default). */
  readonly copyStats: CopyStats = {
    copiedStatements: 0,
    copiedRows: 0,
    unnestStatements: 0,
    unnestRows: 0,
    notEligible: 0,
    fallbacks: 0,
    encodedAhead: 0,
  };
  private readonly source: Promise<Source>;
  private readonly copy: boolean;
  private readonly unnest: boolean;
  private readonly minFastRows: number;
  /** Fast forms encoded ahead (see {@link prepare}): COPY first, else `unnest`, else none. */
  /** Requests running through {@link execute} on pool connections, with their signals. */
  private readonly running = new Set<{ conn: Connection; signal: AbortSignal | undefined }>();
  private readonly cache = new EncodeCache((st, ins, catalog) => {
    if (this.copy) {
      const copy = buildCopy(ins, catalog, st.sql);
      if (copy) return { kind: 'copy', ...copy };
    }
    if (this.unnest) {
      const unnest = buildUnnest(ins, catalog, st.sql);
      if (unnest) return { kind: 'unnest', ...unnest };
    }
    return undefined;
  });
  /** {@link canRunConcurrently}'s answer per table (as written), with the time it was read. */
  private readonly orderFree = new Map<string, { answer: Promise<boolean>; at: number }>();
  /** Requests that may change the catalog and have not ended (committed or rolled back) yet. */
  private catalogChanges = 0;
  /** Bumped when such a request starts or ends: an answer read across a change is not kept. */
  private catalogGeneration = 0;
  private readonly connectAttempts: number;
  private readonly connectRetryDelayMs: number;
  private closed = false;
  private savepointSeq = 0;
  /** Sessions handed out and not released yet (ended by {@link close}). */
  private readonly sessions = new Set<PostgreSQLSession>();

  constructor(options: PostgreSQLAdapterOptions | PgPoolLike | PgClientLike | PGliteLike = {}) {
    const opts: PostgreSQLAdapterOptions = isPGlite(options)
      ? { pglite: options }
      : isPool(options)
        ? { pool: options }
        : isClient(options)
          ? { client: options }
          : (options as PostgreSQLAdapterOptions);
    const given = [opts.pool, opts.client, opts.pglite, opts.embedded || undefined].filter(
      (x) => x !== undefined,
    );
    if (given.length > 1) throw new ConfigurationError('give only one of pool, client, pglite, embedded');
    const maxQuerySize = opts.maxQuerySize ?? DEFAULT_MAX_QUERY_SIZE;
    if (!(Number.isInteger(maxQuerySize) && maxQuerySize > 0)) {
      throw new ConfigurationError('maxQuerySize must be a positive integer');
    }
    if (opts.maxSize !== undefined && !(Number.isInteger(opts.maxSize) && opts.maxSize > 0)) {
      throw new ConfigurationError('maxSize must be a positive integer');
    }
    // COPY and the unnest form are fastest with long runs of rows: the default row cap applies only
    // when every INSERT is sent as text.
    const rows =
      opts.maxRowsPerInsert ?? (opts.copy || (opts.unnest ?? true) ? undefined : DEFAULT_MAX_ROWS_PER_INSERT);
    if (rows !== undefined && !(Number.isInteger(rows) && rows > 0)) {
      throw new ConfigurationError('maxRowsPerInsert must be a positive integer');
    }
    this.copy = opts.copy ?? false;
    this.unnest = opts.unnest ?? true;
    const minFastRows = opts.minFastRows ?? DEFAULT_MIN_FAST_ROWS;
    if (!(Number.isInteger(minFastRows) && minFastRows > 0)) {
      throw new ConfigurationError('minFastRows must be a positive integer');
    }
    this.minFastRows = minFastRows;
    this.connectAttempts = Math.max(1, opts.connectAttempts ?? 5);
    this.connectRetryDelayMs = Math.max(0, opts.connectRetryDelayMs ?? 100);
    const embedded = opts.pglite !== undefined || !!opts.embedded;
    const maxConcurrency = embedded || opts.client ? 1 : (opts.pool?.options?.max ?? opts.maxSize ?? 10);
    this.capabilities = Object.freeze({
      maxQuerySize,
      multiStatement: true,
      atomicMultiStatement: true,
      transactions: true,
      savepoints: true,
      maxConcurrency,
      ...(rows !== undefined ? { maxRowsPerInsert: rows } : {}),
      dialect: 'postgres',
    });
    this.source = this.open(opts);
    // Errors surface on first use; do not let an unused adapter crash the process.
    this.source.catch(() => undefined);
  }

  private loadCopy = (): Promise<CopyFrom> => {
    this.copyModule ??= loadModule<CopyFrom>('pg-copy-streams', 'from');
    return this.copyModule;
  };
  private copyModule: Promise<CopyFrom> | undefined;

  private async open(opts: PostgreSQLAdapterOptions): Promise<Source> {
    const embedded = opts.pglite !== undefined || !!opts.embedded;
    // COPY over pg needs pg-copy-streams: fail before the first request rather than in the middle of one.
    if (this.copy && !embedded) await this.loadCopy();
    if (opts.pglite) return new PGliteSource(opts.pglite, false);
    if (opts.embedded) {
      const PGlite = await loadModule<new (dataDir?: string) => PGliteLike>('@electric-sql/pglite', 'PGlite');
      const dataDir = typeof opts.embedded === 'object' ? opts.embedded.dataDir : undefined;
      return new PGliteSource(new PGlite(dataDir), true);
    }
    if (opts.pool) return new PoolSource(opts.pool, false, this.loadCopy);
    if (opts.client) return new ClientSource(opts.client, false, this.loadCopy);
    const Pool = await loadModule<new (config: object) => PgPoolLike>('pg', 'Pool');
    const config: Record<string, unknown> = {
      application_name: opts.applicationName ?? 'sqlbatcher',
      max: opts.maxSize ?? 10,
      min: opts.minSize ?? 0,
    };
    const cs = opts.connectionString ?? opts.dsn;
    if (cs !== undefined) config.connectionString = cs;
    for (const [k, v] of [
      ['host', opts.host],
      ['port', opts.port],
      ['database', opts.database],
      ['user', opts.user],
      ['password', opts.password],
      ['ssl', opts.ssl],
      ['connectionTimeoutMillis', opts.connectionTimeoutMs],
      ['statement_timeout', opts.statementTimeoutMs],
    ] as const) {
      if (v !== undefined) config[k] = v;
    }
    return new PoolSource(new Pool(config), true, this.loadCopy);
  }

  private async acquire(): Promise<Connection> {
    if (this.closed) throw new ClosedError('PostgreSQLAdapter');
    let source: Source;
    try {
      source = await this.source;
    } catch (err) {
      // The driver could not be loaded or the pool created: nothing was sent.
      noteError(err, { phase: 'connect' });
      throw err;
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await source.acquire();
      } catch (err) {
        noteError(err, { phase: 'connect' });
        const c = classifyPostgresError(err);
        if (!c.transient || c.effect !== 'none' || attempt >= this.connectAttempts || this.closed) throw err;
        await new Promise((resolve) => setTimeout(resolve, this.connectRetryDelayMs * 2 ** (attempt - 1)));
      }
    }
  }

  private context(inTransaction: boolean): RequestContext {
    return {
      inTransaction,
      copy: this.copy,
      unnest: this.unnest,
      minFastRows: this.minFastRows,
      cache: this.cache,
      nextSavepoint: () => this.savepointSeq++,
      onCopy: (e: CopyEvent) => {
        if (e.kind === 'copied') {
          this.copyStats.copiedStatements++;
          this.copyStats.copiedRows += e.rows;
        } else if (e.kind === 'unnest') {
          this.copyStats.unnestStatements++;
          this.copyStats.unnestRows += e.rows;
        } else if (e.kind === 'fallback') this.copyStats.fallbacks++;
        else if (e.kind === 'encoded-ahead') this.copyStats.encodedAhead++;
        else this.copyStats.notEligible++;
      },
    };
  }

  /**
   * Encodes the COPY data or `unnest` arrays of `statements` while an earlier request runs (the batcher
   * calls this); the request still reads the table's catalog on its own connection first and encodes
   * again if it changed. Never touches the database.
   */
  prepare(statements: readonly BatchStatement[]): void {
    if (!(this.copy || this.unnest) || this.closed) return;
    this.cache.prepare(statements, this.minFastRows);
  }

  /**
   * Whether a batch of plain INSERTs may run beside other requests (the batcher asks when `concurrency`
   * > 1). Yes only when every table is an ordinary table without rules, row-level security, triggers of
   * its own, or a foreign key from or to it: otherwise a row could reach the server before a row it
   * depends on, or a trigger or policy could see rows in another order than one by one. Read from the
   * catalog on a pooled connection and kept per table for 10 seconds. No while a request that may change
   * the catalog (anything but INSERTs) runs through this adapter, or its transaction is still open; an
   * answer read across such a change is not kept. Nor when a row calls a function that may read a table
   * or the session: one of the database's own (a function of that name outside `pg_catalog`, or any
   * name qualified by another schema), or a built-in that runs a query, takes a lock, or reads or sets
   * session state (see {@link SESSION_BOUND_BUILTINS}); from `InsertParts.calls`, else from the rows.
   */
  async canRunConcurrently(statements: readonly BatchStatement[]): Promise<boolean> {
    const tables = new Set<string>();
    const calls = new Set<string>();
    for (const st of statements) {
      const ins = st.insert;
      if (!ins) return false;
      tables.add(ins.table);
      if (ins.calls) for (const name of ins.calls) calls.add(name);
      else {
        const found: string[] = [];
        for (const row of ins.rows) if (row.indexOf('(', 1) !== -1) collectCalls(row, PG_RULES, found);
        for (const name of found) calls.add(name);
      }
    }
    for (const table of tables)
      if (!(await this.orderFreeAnswer(`t:${table}`, ORDER_FREE_SQL, table))) return false;
    for (const written of calls) {
      const parts = qualifiedNameParts(written);
      if (!parts || parts.length > 2 || (parts.length === 2 && parts[0] !== 'pg_catalog')) return false;
      const name = parts[parts.length - 1] as string;
      // (large objects: lo_get, lo_put, lo_from_bytea, … read and write shared state like a table)
      if (SESSION_BOUND_BUILTINS.has(name) || name.startsWith('lo_')) return false;
      // (`pg_catalog.f` is the built-in whatever else is named so)
      if (parts.length === 1 && !(await this.orderFreeAnswer(`f:${name}`, BUILTIN_ONLY_SQL, name)))
        return false;
    }
    return true;
  }

  /**
   * Whether a merged `INSERT … ON CONFLICT (cols) DO UPDATE` may go as one INSERT (the batcher asks; see
   * `Adapter.canMergeUpserts`). The batcher merges such rows when their keys are distinct as written;
   * PostgreSQL may still make them equal, and one INSERT then fails ("cannot affect row a second time")
   * where the statements one by one succeed. Yes only when every conflict column is of a type whose
   * input the batcher's key comparison accounts for (smallint, integer, bigint, numeric without a
   * negative scale, double precision, text, varchar, char, uuid, boolean, date: not `name`, which cuts
   * at 63 bytes, `real`, a negative-scale numeric that rounds integers, timestamps, domains, …), the
   * target is a table (not a view) without rules, and it (or a partition of it) has no BEFORE INSERT or
   * BEFORE UPDATE row trigger (it may rewrite the key). Read from the catalog on a pooled connection (with
   * its search_path) and kept like {@link canRunConcurrently}'s answers; no while the adapter's only
   * connection is held by a session (PGlite, a `pg.Client`, a pool of one) or a request that may change
   * the catalog has not ended. What it cannot see (a trigger created earlier in the same uncommitted
   * block, a table another search_path names) the server's 21000 error shows: the batcher then sends the
   * statements again one by one (`mergedRowsConflict`).
   */
  async canMergeUpserts(statement: BatchStatement): Promise<boolean> {
    const ins = statement.insert;
    if (!ins) return false;
    // (one connection, held by a session: a look-up would wait for it for ever)
    if (this.capabilities.maxConcurrency === 1 && this.sessions.size > 0) return false;
    const target = /^\s*ON\s+CONFLICT\s*\(([^()]*)\)/i.exec(ins.tail);
    if (!target) return false;
    const columns: string[] = [];
    for (const written of (target[1] as string).split(',')) {
      const parts = qualifiedNameParts(written);
      if (parts?.length !== 1) return false;
      columns.push(parts[0] as string);
    }
    return this.orderFreeAnswer(
      `u:${ins.table}\u0000${columns.join('\u0000')}`,
      UPSERT_EXACT_SQL,
      ins.table,
      columns,
    );
  }

  /** A catalog answer for {@link canRunConcurrently}, kept under `key` for 10 seconds. */
  private async orderFreeAnswer(key: string, sql: string, ...params: unknown[]): Promise<boolean> {
    // While a request that may change the catalog runs, what it will commit is not visible yet.
    if (this.catalogChanges > 0) return false;
    const now = Date.now();
    let entry = this.orderFree.get(key);
    if (!entry || now - entry.at > ORDER_FREE_TTL_MS) {
      const generation = this.catalogGeneration;
      const answer = this.readOrderFree(sql, params).then((free) => {
        // Read across a catalog change: use it as "no" and forget it.
        if (this.catalogGeneration === generation) return free;
        this.forgetOrderFree(key, answer);
        return false;
      });
      entry = { answer, at: now };
      this.orderFree.set(key, entry);
      // (a failed look-up is not remembered either)
      answer.catch(() => this.forgetOrderFree(key, answer));
    }
    return entry.answer;
  }

  private forgetOrderFree(key: string, answer: Promise<boolean>): void {
    if (this.orderFree.get(key)?.answer === answer) this.orderFree.delete(key);
  }

  private async readOrderFree(sql: string, params: unknown[]): Promise<boolean> {
    const conn = await this.acquire();
    let broken = false;
    try {
      const rows = (await conn.params(sql, params)) as unknown as { free: boolean }[];
      return rows[0]?.free === true;
    } catch (err) {
      broken = isConnectionError(err);
      throw err;
    } finally {
      await conn.release(broken);
    }
  }

  /**
   * @internal A request starts: returns true when it may change the catalog (anything but INSERTs the
   * batcher describes), in which case {@link catalogChangeEnded} must be called once it has ended
   * (after its commit or rollback when it runs inside a transaction).
   */
  catalogChangeStarts(options: ExecuteOptions | undefined): boolean {
    if (options?.batch?.statements.every((s) => s.insert !== undefined)) return false;
    this.catalogChanges++;
    this.catalogGeneration++;
    this.orderFree.clear();
    return true;
  }

  /** @internal See {@link catalogChangeStarts}. */
  catalogChangeEnded(): void {
    this.catalogChanges--;
    this.catalogGeneration++;
    this.orderFree.clear();
  }

  /**
   * Execute one request (several `;`-separated statements allowed) on a pooled connection, in
   * autocommit: PostgreSQL runs the whole text as one implicit transaction. Works detached.
   * With `options.signal`, an abort cancels the running statement on the server.
   */
  readonly execute = async (sql: string, options?: ExecuteOptions): Promise<ExecuteResult> => {
    const changing = this.catalogChangeStarts(options);
    try {
      const conn = await this.acquire();
      const ctx = this.context(false);
      let broken = false;
      const running = { conn, signal: options?.signal };
      this.running.add(running);
      try {
        return await runRequest(conn, sql, options, ctx);
      } catch (err) {
        broken = isConnectionError(err);
        throw err;
      } finally {
        this.running.delete(running);
        await conn.release(broken || !!ctx.broken);
      }
    } finally {
      // (autocommit: the request has committed or failed by now)
      if (changing) this.catalogChangeEnded();
    }
  };

  /** A session pinned to one connection, for transactions and savepoints. Release it when done. */
  session = async (): Promise<AdapterSession> => {
    const conn = await this.acquire();
    let blockAtStart: boolean | undefined;
    try {
      blockAtStart = await inTransactionBlock(conn);
    } catch (err) {
      await conn.release(true);
      throw err;
    }
    const s = new PostgreSQLSession(conn, this, blockAtStart);
    this.sessions.add(s);
    return s;
  };

  /** @internal A session gave its connection back. */
  sessionReleased(s: PostgreSQLSession): void {
    this.sessions.delete(s);
  }

  /** Classify an error of `execute` or a session call for the batcher's retry policy. */
  classifyError = (error: unknown): ErrorClassification => classifyPostgresError(error);

  /** @internal */
  newContext(inTransaction: boolean): RequestContext {
    if (this.closed) throw new ClosedError('PostgreSQLAdapter');
    return this.context(inTransaction);
  }

  /**
   * Close the pool (or the embedded database) the adapter created. Sessions still held (a batcher that
   * pinned one after `SET …` and was not disposed, say) end first: their connections are closed, so a
   * transaction still open in one is rolled back by the server, and a pool (yours too) is not left
   * waiting for them. Later calls reject with `ClosedError`.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A request the batcher gave up on (its signal aborted, its cancel never answered) still holds its
    // pool connection: cut it, or ending the pool would wait for it for ever.
    for (const r of this.running) if (r.signal?.aborted) r.conn.abandon();
    for (const s of [...this.sessions]) await s.end();
    const source = await this.source.catch(() => undefined);
    await source?.close();
  }

  /** `await using adapter = new PostgreSQLAdapter(…)` closes it on scope exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * How long after its signal aborted a request still running on a session counts as abandoned (its
 * cancel unanswered): the next call on the session then cuts the connection instead of queueing.
 */
const ABANDON_AFTER_MS = 1_000;

/**
 * The session's connection was cut under a request the batcher gave up on: a connection error of a
 * call that sent nothing (classified as a failed connect: transient, no effect; the session is lost).
 */
function abandonedError(): Error {
  const err = new Error(
    'Connection terminated: a request the batcher gave up on after its timeout still held the connection; nothing more was sent on it',
  );
  noteError(err, { phase: 'connect' });
  return err;
}

/** A pinned connection: BEGIN/COMMIT/ROLLBACK/SAVEPOINT go through it only. */
export class PostgreSQLSession implements AdapterSession {
  private inTransaction = false;

  private released = false;
  /** The adapter is closing this session: nothing new is sent on it. */
  private ending = false;
  /**
   * Operations running on the connection (the adapter's close() waits for them before its ROLLBACK),
   * with the time each request's signal aborted, once it has.
   */
  private readonly active = new Map<Promise<unknown>, { abortedAt?: number }>();

  constructor(
    private readonly conn: Connection,
    private readonly adapter: PostgreSQLAdapter,
    /**
     * The connection was inside a transaction block when the session took it (a caller's own, on a
     * shared client or PGlite): its release then leaves that block alone.
     */
    private readonly blockAtStart = false,
  ) {}

  private check(): void {
    if (this.released || this.ending) throw new ClosedError('PostgreSQL session');
  }

  private track<T>(op: Promise<T>, signal?: AbortSignal): Promise<T> {
    const entry: { abortedAt?: number } = {};
    this.active.set(op, entry);
    if (signal) {
      const onAbort = () => {
        entry.abortedAt = performance.now();
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      const off = () => signal.removeEventListener('abort', onAbort);
      op.then(off, off);
    }
    op.then(
      () => this.active.delete(op),
      () => this.active.delete(op),
    );
    return op;
  }

  /**
   * A request whose signal aborted still runs on the connection when the next call comes. A cancel that
   * reaches the server settles it within milliseconds: it is given {@link ABANDON_AFTER_MS} from its
   * abort. Still running then, the cancel was never answered (a frozen server, a network partition) and
   * anything sent would queue behind it for ever: the connection is cut (which fails that request too)
   * and the session is lost. True when so.
   */
  private async abandonStale(): Promise<boolean> {
    if (this.brokenConn) return true;
    const stale = () => [...this.active].filter(([, e]) => e.abortedAt !== undefined);
    const waiting = stale();
    if (waiting.length === 0 || !this.conn.destroyable) return false;
    const since = Math.min(...waiting.map(([, e]) => e.abortedAt as number));
    const wait = since + ABANDON_AFTER_MS - performance.now();
    if (wait > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled(waiting.map(([op]) => op)),
        new Promise((resolve) => {
          timer = setTimeout(resolve, wait);
        }),
      ]);
      clearTimeout(timer);
    }
    if (stale().length === 0) return false;
    this.conn.abandon();
    this.brokenConn = true;
    return true;
  }

  private run(sql: string): Promise<void> {
    try {
      this.check();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.track(
      (async () => {
        if (await this.abandonStale()) throw abandonedError();
        try {
          await this.conn.simple(sql);
        } catch (err) {
          noteError(err, { phase: this.inTransaction ? 'transaction' : 'request' });
          throw err;
        }
      })(),
    );
  }

  /** Execute a request on this session's connection (inside the transaction when one is open). */
  execute = (sql: string, options?: ExecuteOptions): Promise<ExecuteResult> => {
    try {
      this.check();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.track(
      (async () => {
        if (await this.abandonStale()) throw abandonedError();
        return this.executeNow(sql, options);
      })(),
      options?.signal,
    );
  };

  private executeNow = async (sql: string, options?: ExecuteOptions): Promise<ExecuteResult> => {
    // A catalog change inside a transaction is visible to others only once the transaction ends.
    if (!this.changingCatalog && this.adapter.catalogChangeStarts(options)) this.changingCatalog = true;
    try {
      const ctx = this.adapter.newContext(this.inTransaction);
      // (read before the request: after a failure pg may not have read the server's new status yet)
      const inInputBlock = this.inTransaction ? false : this.conn.inTransactionBlock();
      const abortedBefore = inInputBlock === true && this.conn.inFailedBlock() === true;
      // (only a statement that is no INSERT can hold a COMMIT: merged INSERTs, however long, are not read)
      const statements = options?.batch?.statements;
      const mayCommit = textsWith(COMMIT_WORD, sql, statements).length > 0;
      let result: ExecuteResult;
      try {
        result = await runRequest(this.conn, sql, options, ctx);
      } catch (err) {
        // A failure at the COMMIT of a transaction block the input opened (its own BEGIN), or one that
        // skipped that COMMIT (in the same request), lost the block with the statements of earlier
        // requests in it. One that only aborted the block (still open) is not that: the input may roll
        // back to a savepoint of its own, and its later COMMIT of the aborted block is caught below.
        let lost = false;
        let after: boolean | undefined;
        // (a backend terminated or crashed, 57P01/57P02, loses the connection too)
        const connectionLost = isConnectionError(err) || ['57P01', '57P02'].includes(sqlState(err) ?? '');
        if (!this.inTransaction && !connectionLost) {
          // The server's status after the failure, asked: pg hands out the error before it reads the
          // server's next status, which the next request would otherwise see stale.
          after = await inTransactionBlock(this.conn, undefined, true).catch(() => undefined);
          const outcome = mayCommit
            ? blockOutcome(sql, err, inInputBlock === true, abortedBefore)
            : NO_OUTCOME;
          // (part of the request committed before the failure: not all of it was rolled back)
          if (outcome.committedBefore) notePartlyCommitted(err);
          if (outcome.blockInDoubt) noteBlockInDoubt(err);
          if (outcome.rolledBackCommit) lost = true;
          else if (inInputBlock !== false && outcome.commitPending) lost = outcome.lostIf(after);
        } else if (!this.inTransaction && inInputBlock === true) {
          // The connection died inside the input's own block. In a request that does not end it the server
          // rolls the block back, with every statement since its BEGIN; with its COMMIT in this request the
          // block may have committed: its earlier statements share the request's unknown fate. (A request
          // that rolls it back and goes on may have committed what follows: just in doubt.)
          const ends = blockEnds(sql, statements);
          if (!ends.ends) noteLostInBlock(err);
          else if (ends.commits) noteBlockInDoubt(err);
        }
        if (lost) noteTransactionLost(err);
        // A failure inside a block that stays open (aborted): the connection is fine, and the same request
        // could only fail again there (the input may roll back to a savepoint of its own and go on).
        else if (after === true) noteInAbortedBlock(err);
        else noteIdleAfter(err, after === false ? true : undefined);
        throw err;
      }
      if (ctx.broken) this.brokenConn = true;
      // The input's COMMIT of a block a failure had aborted: the server rolled it back (its answer is a
      // ROLLBACK tag, not an error), with every statement of the block.
      if (!this.inTransaction && inInputBlock !== false && mayCommit) {
        const raw = result.raw as { command?: string } | { command?: string }[] | undefined;
        const results = Array.isArray(raw) ? raw : [raw];
        const parts = statementTexts(sql);
        for (let k = 0; k < parts.length; k++) {
          if (!commits(parts[k] as string) || results[k]?.command !== 'ROLLBACK') continue;
          const err = new CommitRolledBackError();
          noteError(err, { phase: 'request' });
          noteTransactionLost(err);
          // (statements after it in the same string ran, outside the block)
          if (k < parts.length - 1) notePartlyCommitted(err);
          throw err;
        }
      }
      return result;
    } finally {
      if (!this.inTransaction) this.catalogChangeDone();
    }
  };
  private brokenConn = false;
  /** This session ran a request that may change the catalog, not yet committed or rolled back. */
  private changingCatalog = false;

  private catalogChangeDone(): void {
    if (!this.changingCatalog) return;
    this.changingCatalog = false;
    this.adapter.catalogChangeEnded();
  }

  async begin(): Promise<void> {
    this.check();
    this.refusedBegin = false;
    // A transaction block already open on the connection is the caller's own (a shared pg.Client or
    // PGlite, used before the run): a BEGIN would only warn, and this session's COMMIT or ROLLBACK would
    // then end the caller's block with the caller's work in it.
    // (the driver's status; a pg that does not keep one was asked when the session began)
    if (this.conn.inTransactionBlock() ?? this.blockAtStart) {
      this.refusedBegin = true;
      const err = new ConfigurationError(
        "the connection already has a transaction block open (the caller's own, on a shared client or PGlite): transaction 'batch' or 'all' would commit or roll it back with the caller's work; end it first, or use transaction: 'none'",
      );
      noteError(err, { phase: 'connect' });
      throw err;
    }
    await this.run('BEGIN');
    this.inTransaction = true;
  }

  /** {@link begin} refused because of the caller's block: the ROLLBACK that follows must leave it alone. */
  private refusedBegin = false;

  async commit(): Promise<void> {
    this.check();
    this.inTransaction = false;
    try {
      await this.track(commit(this.conn));
    } finally {
      this.catalogChangeDone();
    }
  }

  async rollback(): Promise<void> {
    if (this.refusedBegin) {
      this.refusedBegin = false;
      return;
    }
    this.inTransaction = false;
    try {
      await this.run('ROLLBACK');
    } finally {
      this.catalogChangeDone();
    }
  }

  async savepoint(name: string): Promise<void> {
    await this.run(`SAVEPOINT ${quoteIdentifier(name)}`);
  }

  async rollbackToSavepoint(name: string): Promise<void> {
    await this.run(`ROLLBACK TO SAVEPOINT ${quoteIdentifier(name)}`);
  }

  async releaseSavepoint(name: string): Promise<void> {
    await this.run(`RELEASE SAVEPOINT ${quoteIdentifier(name)}`);
  }

  /**
   * @internal For the adapter's `close()`: roll back a transaction still open (a shared `pg.Client` or
   * PGlite session cannot be thrown away), then give the connection back to be destroyed (its session
   * state must not reach a pool). Never throws.
   */
  async end(): Promise<void> {
    if (this.released || this.ending) return;
    // Nothing new goes out; what is running finishes first (a ROLLBACK sent beside a request would
    // end its transaction before the request ran, which would then run, and commit, on its own).
    this.ending = true;
    await this.abandonStale();
    while (this.active.size > 0) await Promise.allSettled([...this.active.keys()]);
    if (this.inTransaction && !this.brokenConn) {
      await this.conn.simple('ROLLBACK').catch(() => undefined);
      this.inTransaction = false;
    }
    await this.release(true).catch(() => undefined);
  }

  /** Give the connection back (rolled back first if a transaction is still open); `broken` destroys it. */
  async release(broken = false): Promise<void> {
    if (this.released) return;
    let destroy = broken || this.brokenConn;
    // Also a transaction block the input began with BEGIN and left open (or aborted): the connection
    // goes back outside any. Not a block that was open before the session began (the caller's own on
    // a shared client or PGlite), and not when the driver does not tell.
    let inputBlock = false;
    // (a connection release cannot throw away is left as clean as it can be, even when "broken" — unless
    // a request still runs on it, after a timeout say: a ROLLBACK would queue behind it and never return)
    const kept = destroy && !this.conn.destroyable;
    if (kept && this.active.size === 0) destroy = false;
    if (!this.inTransaction && !this.blockAtStart && !destroy) {
      // (from the driver; a pg that does not tell is asked with a SAVEPOINT probe)
      inputBlock = await inTransactionBlock(this.conn).catch(() => {
        destroy = true;
        return false;
      });
    }
    if ((this.inTransaction || inputBlock) && !destroy) {
      try {
        await this.run('ROLLBACK');
      } catch {
        destroy = true;
      }
      this.inTransaction = false;
    }
    this.released = true;
    this.catalogChangeDone();
    this.adapter.sessionReleased(this);
    await this.conn.release(destroy || kept);
  }
}
