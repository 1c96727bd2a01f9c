/** Structural types of the drivers: the adapter never imports a driver's types at module load. */

/** What the adapter needs of a `pg.Client` (or a client checked out of a `pg.Pool`). */
export interface PgClientLike {
  query(config: unknown, values?: unknown): unknown;
  connect(): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeListener(event: 'error', listener: (err: Error) => void): unknown;
  /** Backend process id, used to cancel a running query. */
  processID?: number | null;
  secretKey?: number | null;
  connectionParameters?: { host?: string; port?: number | string };
}

/** A client checked out of a pool. */
export interface PgPoolClientLike extends PgClientLike {
  release(err?: Error | boolean): void;
}

/** What the adapter needs of a `pg.Pool`. */
export interface PgPoolLike {
  connect(): Promise<PgPoolClientLike>;
  end(): Promise<void>;
  query(config: unknown, values?: unknown): unknown;
  readonly totalCount: number;
  options?: { max?: number; host?: string; port?: number | string };
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'acquire', listener: (client: PgPoolClientLike) => void): unknown;
}

/** What the adapter needs of a PGlite instance (`@electric-sql/pglite`). */
export interface PGliteLike {
  exec(sql: string, options?: { blob?: Blob }): Promise<PGliteResults[]>;
  query(sql: string, params?: unknown[], options?: { blob?: Blob }): Promise<PGliteResults>;
  transaction: unknown;
  close(): Promise<void>;
  readonly waitReady: Promise<void>;
  readonly closed?: boolean;
}

export interface PGliteResults {
  rows: unknown[];
  affectedRows?: number;
  rowCount?: number;
  command?: string;
}

/** Outcome of one simple-protocol request. */
export interface QueryOutcome {
  /** Rows affected by INSERT/UPDATE/DELETE/MERGE/COPY statements, summed. */
  rowCount: number;
  /** Rows returned by the last statement. */
  rows: unknown[];
  raw: unknown;
}

/** One connection, pinned for the duration of a request or a session. */
export interface Connection {
  readonly driver: 'pg' | 'pglite';
  /**
   * Run SQL text over the simple query protocol (several statements allowed). On failure the error is
   * annotated with `completed`: how many statements finished before the failing one (pg only).
   */
  simple(sql: string, signal?: AbortSignal): Promise<QueryOutcome>;
  /**
   * One statement with bind parameters (extended protocol). `name`: keep it parsed on this connection
   * under that name, so the server plans it once (pg only; see `PgConnection.params`).
   */
  params(sql: string, values: unknown[], name?: string): Promise<Record<string, unknown>[]>;
  /**
   * One statement with text parameters (extended protocol), cancelled on the server when `signal`
   * aborts; resolves to the rows it affected.
   */
  bind(sql: string, values: readonly string[], signal?: AbortSignal): Promise<QueryOutcome>;
  /** `COPY target FROM STDIN` in text format; `columns` already quoted. Resolves to rows loaded. */
  copyFrom(
    target: string,
    columns: readonly string[],
    data: string | Uint8Array,
    signal?: AbortSignal,
  ): Promise<number>;
  /** Give the connection back; `broken` destroys it (when {@link destroyable}). */
  release(broken: boolean): Promise<void>;
  /**
   * Close the connection's socket at once, when {@link destroyable}: a request the caller gave up on
   * (its cancel never answered: a frozen server or a network partition) then fails, and nothing sent
   * after it waits behind it for ever. Does nothing for a connection that is not destroyable.
   */
  abandon(): void;
  /**
   * False for a connection that release cannot throw away (a shared `pg.Client`, the one PGlite
   * session): whatever the session leaves open on it stays for its next user.
   */
  readonly destroyable: boolean;
  /**
   * Whether the server has a transaction block open on this connection (as its last ReadyForQuery
   * said), or undefined when the driver does not tell.
   */
  inTransactionBlock(): boolean | undefined;
  /** Whether that block has failed (aborted: its COMMIT will roll it back), when the driver tells. */
  inFailedBlock(): boolean | undefined;
}

/** Where connections come from. */
export interface ConnectionSource {
  acquire(): Promise<Connection>;
  close(): Promise<void>;
  readonly maxConcurrency: number;
}

/** Sum of rows affected over command tags. */
export function affected(command: string | undefined | null, rowCount: number | undefined | null): number {
  if (!command || typeof rowCount !== 'number') return 0;
  return /^(INSERT|UPDATE|DELETE|MERGE|COPY)$/i.test(command) ? rowCount : 0;
}
