import {
  type Adapter,
  type AdapterCapabilities,
  type AdapterSession,
  ClosedError,
  ConfigurationError,
  type ErrorClassification,
  type ExecuteOptions,
  type ExecuteResult,
  lexStatement,
  splitStatements,
} from '@sqlbatcher/core';
import { classifySnowflakeError, DISCONNECTED_CODES, SnowflakeError, toSnowflakeError } from './errors.js';
import type { SnowflakeConnectionLike, SnowflakeSdkLike, SnowflakeStatementLike } from './sdk-types.js';

/** How long an aborted request may take to report how it ended before it is given up as unknown. */
const ABORT_ANSWER_MS = 30_000;

/** Snowflake's limit on rows in one `VALUES` list. */
export const SNOWFLAKE_MAX_VALUES_ROWS = 16_384;

/** Options of {@link SnowflakeAdapter}: the seed's options in camelCase, plus a few of the SDK's. */
export interface SnowflakeAdapterOptions {
  /** Account identifier, e.g. `xy12345.eu-central-1` or `myorg-myaccount`. */
  account?: string;
  /** Login name. `user` is accepted as an alias. */
  username?: string;
  user?: string;
  password?: string;
  /** `SNOWFLAKE` (default), `SNOWFLAKE_JWT`, `OAUTH`, `EXTERNALBROWSER`, `PROGRAMMATIC_ACCESS_TOKEN`, … */
  authenticator?: string;
  /** OAuth / programmatic access token. */
  token?: string;
  /** PEM private key for `SNOWFLAKE_JWT`. */
  privateKey?: string;
  privateKeyPath?: string;
  privateKeyPass?: string;
  warehouse?: string;
  database?: string;
  schema?: string;
  role?: string;
  /** Full endpoint URL, e.g. a private link or a test server (`http://127.0.0.1:PORT`). */
  accessUrl?: string;
  host?: string;
  /** Partner application name reported to Snowflake. */
  application?: string;
  /** Hard ceiling of one request's text in UTF-8 bytes. Default 1,000,000 (Snowflake's ~1 MB limit). */
  maxQuerySize?: number;
  /** Requests the batcher may run at once. Default 4 (1 with an existing `connection`). */
  maxConcurrency?: number;
  /** Any other `snowflake.createConnection` option (e.g. `timeout`, `clientSessionKeepAlive`). */
  connectionOptions?: Record<string, unknown>;
  /**
   * An existing, connected `snowflake-sdk` connection. The adapter then sends every request through it
   * one at a time, a `session()` holds it exclusively until released, and `close()` does not destroy it.
   */
  connection?: SnowflakeConnectionLike;
  /** The `snowflake-sdk` module, when it should not be imported (bundlers, tests). */
  sdk?: SnowflakeSdkLike;
  /** Passed to `snowflake.configure({ logLevel })` when set, e.g. `'OFF'` or `'ERROR'`. */
  logLevel?: string;
  /**
   * Snowflake commits an open transaction before any DDL statement (CREATE, ALTER, DROP, GRANT, …), so
   * DDL inside a session's transaction would silently end it and a later ROLLBACK could not undo what
   * ran before. By default a session refuses such a request before sending it; `true` sends it anyway.
   */
  allowDdlInTransaction?: boolean;
}

/** A simple FIFO mutex. */
class Mutex {
  #tail: Promise<void> = Promise.resolve();
  lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => {
      release = r;
    });
    const ready = this.#tail.then(() => release);
    this.#tail = this.#tail.then(() => next);
    return ready;
  }
}

const CONNECTION_KEYS = [
  'account',
  'password',
  'authenticator',
  'token',
  'privateKey',
  'privateKeyPath',
  'privateKeyPass',
  'warehouse',
  'database',
  'schema',
  'role',
  'accessUrl',
  'host',
  'application',
] as const;

/** Statements that make Snowflake commit an open transaction first. */
const IMPLICIT_COMMIT = new Set(['CREATE', 'ALTER', 'DROP', 'UNDROP', 'GRANT', 'REVOKE', 'COMMENT']);

/** The first DDL statement of a request, if any (`ALTER SESSION` does not count). */
function firstDdl(sql: string, options: ExecuteOptions | undefined): string | undefined {
  const listed = options?.batch?.statements.map((s) => s.sql) ?? [sql];
  // (an input string may hold several statements: `INSERT …; CREATE TABLE …` commits as well)
  const statements = listed.flatMap((text) => {
    if (!text.includes(';')) return [text];
    try {
      return splitStatements(text, { dialect: 'snowflake' });
    } catch {
      return [text];
    }
  });
  for (const statement of statements) {
    let text: string;
    try {
      text = lexStatement(statement, 'snowflake').text;
    } catch {
      text = statement.trim();
    }
    const words = /^([A-Za-z_]+)(?:\s+([A-Za-z_]+))?/.exec(text);
    const first = words?.[1]?.toUpperCase() ?? '';
    if (IMPLICIT_COMMIT.has(first) && !(first === 'ALTER' && words?.[2]?.toUpperCase() === 'SESSION'))
      return text;
  }
  return undefined;
}

/**
 * The statements of a request, for locating a failure: the batcher's own list when it passed one,
 * else core's Snowflake-dialect splitter (only run when a request failed).
 */
function statementsOf(sql: string, options: ExecuteOptions | undefined): readonly string[] | undefined {
  const listed = options?.batch?.statements.map((s) => s.sql);
  if (listed) return listed;
  try {
    return splitStatements(sql, { dialect: 'snowflake' });
  } catch {
    return undefined;
  }
}

function isDisconnected(err: unknown, conn: SnowflakeConnectionLike): boolean {
  return (
    (err instanceof SnowflakeError && err.kind === 'client' && DISCONNECTED_CODES.has(err.code ?? '')) ||
    conn.isUp?.() === false
  );
}

function destroyConnection(conn: SnowflakeConnectionLike): Promise<void> {
  return new Promise((resolve) => {
    try {
      conn.destroy(() => resolve());
    } catch {
      resolve();
    }
  });
}

/**
 * Runs `sql` (one statement or several joined with `;`) on `conn` with `MULTI_STATEMENT_COUNT: 0`,
 * walks every result of a multi-statement request and sums the affected rows.
 */
function runOnConnection(
  conn: SnowflakeConnectionLike,
  sql: string,
  options: ExecuteOptions | undefined,
  secrets: readonly string[],
): Promise<ExecuteResult> {
  const signal = options?.signal;
  return new Promise<ExecuteResult>((resolve, reject) => {
    let completed = 0;
    let rowCount = 0;
    let sawCount = false;
    let lastRows: unknown[] | undefined;
    const queryIds: string[] = [];
    let settled = false;
    let first: SnowflakeStatementLike | undefined;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      reject(toSnowflakeError(err, { sql, statements: statementsOf(sql, options), completed, secrets }));
    };
    const giveUp = (): void => {
      if (settled) return;
      settled = true;
      reject(
        new SnowflakeError('Snowflake request aborted; its outcome is unknown', {
          kind: 'aborted',
          cause: signal?.reason,
          statementCount: options?.batch?.statements.length,
        }),
      );
    };
    // Cancel server-side, then let the request tell how it ended: cancelled before it ran
    // (000604, rolled back) or finished anyway. Only if it never answers is the outcome unknown.
    const onAbort = (): void => {
      if (settled) return;
      if (typeof first?.cancel !== 'function') {
        giveUp();
        return;
      }
      try {
        first.cancel(() => {});
      } catch {
        giveUp();
        return;
      }
      setTimeout(giveUp, ABORT_ANSWER_MS).unref?.();
    };
    if (signal?.aborted) {
      reject(
        new SnowflakeError('Snowflake request aborted before it was sent', {
          kind: 'client',
          cause: signal.reason,
        }),
      );
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      first = conn.execute({
        sqlText: sql,
        parameters: { MULTI_STATEMENT_COUNT: 0 },
        complete: (err, stmt, rows) => {
          if (settled) return;
          if (err) {
            fail(err);
            return;
          }
          completed++;
          const id = stmt.getQueryId?.();
          if (id) queryIds.push(id);
          const n = stmt.getNumUpdatedRows?.();
          if (typeof n === 'number' && n >= 0) {
            rowCount += n;
            sawCount = true;
            lastRows = undefined;
          } else {
            lastRows = rows;
          }
          if (typeof stmt.hasNext === 'function' && stmt.hasNext() && typeof stmt.NextResult === 'function') {
            try {
              stmt.NextResult();
            } catch (e) {
              fail(e);
            }
            return;
          }
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          const result: ExecuteResult = { raw: { queryIds } };
          if (sawCount) result.rowCount = rowCount;
          if (lastRows) result.rows = lastRows;
          resolve(result);
        },
      });
    } catch (err) {
      fail(err);
    }
  });
}

/**
 * SQL Batcher adapter for Snowflake on `snowflake-sdk` (a peer dependency, imported on first use).
 *
 * Requests carry `MULTI_STATEMENT_COUNT: 0`, so a batch of `;`-joined statements is one request; the
 * statements of such a request commit one by one (`atomicMultiStatement: false`). Transactions run on a
 * dedicated connection per {@link SnowflakeAdapter.session} (a Snowflake connection is one session);
 * Snowflake has no SAVEPOINT, so `savepoints` is false.
 *
 * @example
 * const adapter = new SnowflakeAdapter({ account: 'xy12345', username: 'loader', password, warehouse: 'WH', database: 'DB', schema: 'PUBLIC' });
 * const batcher = new SQLBatcher({ adapter });
 * await batcher.processStatements(statements);
 * await adapter.close();
 */
export class SnowflakeAdapter implements Adapter {
  readonly name = 'snowflake';
  readonly capabilities: AdapterCapabilities;
  /** Executes one request. Bound: works detached (`const { execute } = adapter`). */
  readonly execute: (sql: string, options?: ExecuteOptions) => Promise<ExecuteResult>;

  readonly #options: SnowflakeAdapterOptions;
  readonly #external: SnowflakeConnectionLike | undefined;
  readonly #externalLock = new Mutex();
  #sdk: Promise<SnowflakeSdkLike> | undefined;
  #main: Promise<SnowflakeConnectionLike> | undefined;
  readonly #idle: SnowflakeConnectionLike[] = [];
  readonly #active = new Set<SnowflakeConnectionLike>();
  #closed = false;

  constructor(options: SnowflakeAdapterOptions) {
    const maxQuerySize = options.maxQuerySize ?? 1_000_000;
    if (!Number.isInteger(maxQuerySize) || maxQuerySize <= 0) {
      throw new ConfigurationError(
        `maxQuerySize must be a positive integer, got ${String(options.maxQuerySize)}`,
      );
    }
    if (!options.connection && !options.accessUrl && !options.account && !options.host) {
      throw new ConfigurationError(
        'SnowflakeAdapter needs `account` (or `accessUrl`/`host`) or an existing `connection`',
      );
    }
    this.#options = { ...options };
    this.#external = options.connection;
    const maxConcurrency = options.maxConcurrency ?? (options.connection ? 1 : 4);
    this.capabilities = Object.freeze({
      maxQuerySize,
      multiStatement: true,
      atomicMultiStatement: false,
      transactions: true,
      savepoints: false,
      maxRowsPerInsert: SNOWFLAKE_MAX_VALUES_ROWS,
      maxConcurrency,
      dialect: 'snowflake',
      // A multi-row VALUES column takes its rows' common type: only rows of one literal kind are merged.
      valuesCommonType: true,
    });
    this.execute = async (sql: string, execOptions?: ExecuteOptions): Promise<ExecuteResult> => {
      if (this.#closed) throw new ClosedError('SnowflakeAdapter');
      if (this.#external) {
        const release = await this.#externalLock.lock();
        try {
          if (this.#closed) throw new ClosedError('SnowflakeAdapter');
          return await this.#track(runOnConnection(this.#external, sql, execOptions, this.#secrets()));
        } finally {
          release();
        }
      }
      const pending = this.#mainConnection();
      const conn = await pending;
      if (this.#closed) throw new ClosedError('SnowflakeAdapter');
      try {
        return await this.#track(runOnConnection(conn, sql, execOptions, this.#secrets()));
      } catch (err) {
        if (isDisconnected(err, conn) && this.#main === pending) {
          // The session is gone: log in again on the next request.
          this.#main = undefined;
          void destroyConnection(conn);
        }
        throw err;
      }
    };
  }

  /**
   * A pinned Snowflake session for BEGIN/COMMIT/ROLLBACK. Each session gets its own connection (from a
   * small pool of idle ones), so transactions never share a session with other requests. With an
   * existing `connection`, the session holds that connection exclusively until `release()`.
   */
  async session(): Promise<AdapterSession> {
    if (this.#closed) throw new ClosedError('SnowflakeAdapter');
    if (this.#external) {
      const conn = this.#external;
      const unlock = await this.#externalLock.lock();
      if (this.#closed) {
        unlock();
        throw new ClosedError('SnowflakeAdapter');
      }
      return new SnowflakeSession(
        conn,
        this.#secrets(),
        () => this.#closed,
        async () => unlock(),
        this.#options.allowDdlInTransaction ?? false,
        this.#track,
        true,
      );
    }
    let conn: SnowflakeConnectionLike | undefined;
    while (!conn) {
      const idle = this.#idle.pop();
      if (!idle) conn = await this.#connect();
      else if (idle.isUp?.() === false) void destroyConnection(idle);
      else conn = idle;
    }
    if (this.#closed) {
      await destroyConnection(conn);
      throw new ClosedError('SnowflakeAdapter');
    }
    this.#active.add(conn);
    return new SnowflakeSession(
      conn,
      this.#secrets(),
      () => this.#closed,
      async (broken) => {
        this.#active.delete(conn);
        if (
          broken ||
          this.#closed ||
          conn.isUp?.() === false ||
          this.#idle.length >= this.capabilities.maxConcurrency!
        ) {
          await destroyConnection(conn);
        } else {
          this.#idle.push(conn);
        }
      },
      this.#options.allowDdlInTransaction ?? false,
      this.#track,
    );
  }

  /** Snowflake-aware failure classification (see the README's table). */
  classifyError(error: unknown): ErrorClassification {
    return classifySnowflakeError(error);
  }

  /**
   * Destroys every connection the adapter opened (not an existing `connection` passed in), including
   * those of sessions not yet released. Later calls reject with `ClosedError`.
   */
  /** Requests sent and not yet answered: `close()` waits for them (see there). */
  readonly #inFlight = new Set<Promise<unknown>>();

  #track = <T>(request: Promise<T>): Promise<T> => {
    this.#inFlight.add(request);
    const done = () => this.#inFlight.delete(request);
    request.then(done, done);
    return request;
  };

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Requests already sent finish first: destroying their connection would leave the caller with
    // "terminated connection" for a request Snowflake may well have run.
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    // Sessions still held lose their connection too: nothing the adapter opened outlives close().
    const own: SnowflakeConnectionLike[] = [...this.#idle, ...this.#active];
    this.#idle.length = 0;
    this.#active.clear();
    if (this.#main) {
      const main = await this.#main.catch(() => undefined);
      if (main) own.push(main);
    }
    await Promise.all(own.map(destroyConnection));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #secrets(): string[] {
    const o = this.#options;
    return [o.password, o.token, o.privateKey, o.privateKeyPass].filter(
      (s): s is string => typeof s === 'string',
    );
  }

  #mainConnection(): Promise<SnowflakeConnectionLike> {
    if (!this.#main) {
      const pending = this.#connect();
      this.#main = pending;
      // A failed login is not cached: the next request tries again.
      pending.catch(() => {
        if (this.#main === pending) this.#main = undefined;
      });
    }
    return this.#main;
  }

  #loadSdk(): Promise<SnowflakeSdkLike> {
    if (!this.#sdk) {
      this.#sdk = (async () => {
        let sdk = this.#options.sdk;
        if (!sdk) {
          let mod: { default?: SnowflakeSdkLike } & Partial<SnowflakeSdkLike>;
          try {
            mod = (await import('snowflake-sdk')) as unknown as typeof mod;
          } catch (cause) {
            throw new ConfigurationError(
              `SnowflakeAdapter needs the "snowflake-sdk" package: npm i snowflake-sdk (${cause instanceof Error ? cause.message : String(cause)})`,
            );
          }
          sdk = (typeof mod.createConnection === 'function' ? mod : mod.default) as SnowflakeSdkLike;
        }
        if (this.#options.logLevel !== undefined) sdk.configure?.({ logLevel: this.#options.logLevel });
        return sdk;
      })();
    }
    return this.#sdk;
  }

  async #connect(): Promise<SnowflakeConnectionLike> {
    const sdk = await this.#loadSdk();
    const o = this.#options;
    // A fresh object per connection: the SDK clears the password from its copy after login.
    const config: Record<string, unknown> = { ...o.connectionOptions };
    for (const key of CONNECTION_KEYS) {
      const value = o[key];
      if (value !== undefined) config[key] = value;
    }
    const username = o.username ?? o.user;
    if (username !== undefined) config.username = username;
    let conn: SnowflakeConnectionLike;
    try {
      conn = sdk.createConnection(config);
    } catch (err) {
      throw toSnowflakeError(err, { sql: '', completed: 0, secrets: this.#secrets(), login: true });
    }
    try {
      // connectAsync() resolves even when the login fails: the outcome is only in its callback.
      await new Promise<void>((resolve, reject) => {
        const done = (err: unknown): void => (err ? reject(err) : resolve());
        if (typeof conn.connectAsync === 'function') conn.connectAsync(done).catch(reject);
        else if (typeof conn.connect === 'function') conn.connect(done);
        else reject(new Error('the Snowflake connection has neither connectAsync nor connect'));
      });
    } catch (err) {
      throw toSnowflakeError(err, { sql: '', completed: 0, secrets: this.#secrets(), login: true });
    }
    return conn;
  }
}

/** A statement that may open a transaction: `BEGIN`, `START TRANSACTION` (read anywhere in the text). */
const MAY_BEGIN = /\b(?:BEGIN|START\s+TRANSACTION)\b/i;

/** A transaction-capable session on one connection. No savepoints: Snowflake has none. */
class SnowflakeSession implements AdapterSession {
  readonly #conn: SnowflakeConnectionLike;
  readonly #secrets: readonly string[];
  readonly #adapterClosed: () => boolean;
  readonly #onRelease: (broken: boolean) => Promise<void>;
  readonly #allowDdl: boolean;
  #released = false;
  readonly #kept: boolean;
  #inTransaction = false;
  /** A request of the input's may have opened a transaction (its own `BEGIN`): release() rolls back. */
  #inputTransaction = false;

  readonly #track: <T>(request: Promise<T>) => Promise<T>;

  constructor(
    conn: SnowflakeConnectionLike,
    secrets: readonly string[],
    adapterClosed: () => boolean,
    onRelease: (broken: boolean) => Promise<void>,
    allowDdl: boolean,
    track: <T>(request: Promise<T>) => Promise<T>,
    /** The caller's own connection: released, it is kept, not destroyed, even when "broken". */
    kept = false,
  ) {
    this.#kept = kept;
    this.#track = track;
    this.#allowDdl = allowDdl;
    this.#conn = conn;
    this.#secrets = secrets;
    this.#adapterClosed = adapterClosed;
    this.#onRelease = onRelease;
  }

  execute = async (sql: string, options?: ExecuteOptions): Promise<ExecuteResult> => {
    if (this.#released) throw new ClosedError('SnowflakeAdapter session');
    if (this.#adapterClosed()) throw new ClosedError('SnowflakeAdapter');
    if (this.#inTransaction && !this.#allowDdl) {
      const ddl = firstDdl(sql, options);
      if (ddl !== undefined) {
        throw new SnowflakeError(
          `refused: Snowflake would commit the open transaction before this DDL statement, so a rollback could no longer undo the work before it (run DDL outside the transaction, or set allowDdlInTransaction): ${ddl.slice(0, 80)}`,
          { kind: 'client', code: 'DDL_IN_TRANSACTION', statementCount: options?.batch?.statements.length },
        );
      }
    }
    // (a false alarm, such as a scripting block's BEGIN, only costs a ROLLBACK that changes nothing)
    if (!this.#inTransaction && MAY_BEGIN.test(sql)) this.#inputTransaction = true;
    return this.#track(runOnConnection(this.#conn, sql, options, this.#secrets));
  };

  async begin(): Promise<void> {
    await this.execute('BEGIN');
    this.#inTransaction = true;
  }

  async commit(): Promise<void> {
    // (a COMMIT that failed may have left the transaction open: release() then rolls it back)
    await this.execute('COMMIT');
    this.#inTransaction = false;
  }

  async rollback(): Promise<void> {
    try {
      await this.execute('ROLLBACK');
      this.#inputTransaction = false;
    } finally {
      this.#inTransaction = false;
    }
  }

  async release(broken = false): Promise<void> {
    if (this.#released) return;
    let dirty = broken;
    // (a connection that is kept, the caller's, is rolled back even when "broken": it is not destroyed, and
    // an open transaction on it would be committed by its next user; found in review)
    if ((this.#inTransaction || this.#inputTransaction) && (!broken || this.#kept)) {
      // Never hand a connection with an open transaction to the next user.
      try {
        await this.rollback();
      } catch {
        dirty = true;
      }
    }
    this.#released = true;
    await this.#onRelease(dirty);
  }
}
