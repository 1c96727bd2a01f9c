import {
  type Adapter,
  type AdapterCapabilities,
  ClosedError,
  ConfigurationError,
  type ErrorClassification,
  type ExecuteOptions,
  type ExecuteResult,
} from '@sqlbatcher/core';
import type { ConnectionOptions, QueryResult, SecureContextOptions, Trino } from 'trino-client';
import {
  classifyTrinoError,
  TrinoCanceledError,
  TrinoQueryError,
  type TrinoRequestError,
  toRequestError,
} from './errors.js';

/** Options of {@link TrinoAdapter}: the seed's options in camelCase, plus TLS and basic auth. */
export interface TrinoAdapterOptions {
  /** Coordinator URL, e.g. `https://trino.example.com:8443`. Alternative to `host`/`port`/`ssl`. */
  server?: string;
  /** Coordinator host (default `localhost`). */
  host?: string;
  /** Coordinator port (default 8080, or 443 with `ssl`). */
  port?: number;
  /** Use HTTPS. `true`, or TLS options (`ca`, `cert`, `key`, `rejectUnauthorized`, …) for Node's agent. */
  ssl?: boolean | SecureContextOptions;
  /** User the queries run as (`X-Trino-User`). Required unless `auth` is given. */
  user?: string;
  /** HTTP basic (password) authentication. Needs HTTPS unless `allowInsecureAuth`. */
  auth?: { user: string; password: string };
  /** Allow sending a password over plain HTTP (test servers only). Default false. */
  allowInsecureAuth?: boolean;
  /** Default catalog (`X-Trino-Catalog`). */
  catalog?: string;
  /** Default schema (`X-Trino-Schema`). */
  schema?: string;
  /** System role to enable: sent as `X-Trino-Role: system=ROLE{role}`. */
  role?: string;
  /** Session properties (`X-Trino-Session`), e.g. `{ query_max_run_time: '1h', 'hive.insert_existing_partitions_behavior': 'APPEND' }`. */
  sessionProperties?: Readonly<Record<string, string | number | boolean>>;
  /** `X-Trino-Source` (default `sqlbatcher`). */
  source?: string;
  /**
   * Hard ceiling on one request's SQL text in UTF-8 bytes (default 600,000: well below Trino's default
   * `query.max-length` of 1,000,000 characters; UTF-8 bytes are never fewer than characters).
   */
  maxQuerySize?: number;
  /** Attempts in all (first included) the batcher makes for a request that failed without effect. Default 3. */
  retryAttempts?: number;
  /** Have the batcher open a circuit breaker after repeated failures. Default false. */
  circuitBreakerEnabled?: boolean;
  /**
   * The target connector writes atomically (Hive, Iceberg, Delta Lake, JDBC connectors by default), so a
   * failed INSERT left no rows. Lets `classifyError` report execution failures as `rolled-back`, which
   * makes `INSUFFICIENT_RESOURCES` failures retryable. Default false: such failures are in doubt.
   */
  atomicWrites?: boolean;
  /**
   * Times a result-page request that failed with HTTP 502/503/504 or a network error is asked again
   * (backoff 100 ms doubling, at most 2 s). Polls are idempotent in Trino. Default 5; 0 disables.
   */
  pollRetries?: number;
  /**
   * Queries the batcher may run at once through this adapter. Default 1. They share one trino-client,
   * whose session headers (`SET SESSION`, `USE`) are common to all of them.
   */
  maxConcurrency?: number;
  /** A ready trino-client instance to use instead of creating one (the options above that shape the client are then ignored). */
  client?: Trino;
}

/** Batcher options derived from the seed's adapter options `retryAttempts` / `circuitBreakerEnabled`. */
export interface TrinoBatcherDefaults {
  /** `{ maxAttempts: retryAttempts }`. */
  retry: { maxAttempts: number };
  /** `circuitBreakerEnabled` (core's default breaker: opens after 5 consecutive failures, probes after 30 s). */
  circuitBreaker: boolean;
}

const SESSION_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;
/** Role names we can put inside `ROLE{…}` without any escaping question. */
const ROLE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]*$/;
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Trino adapter on the official `trino-client` (a peer dependency, loaded on first use).
 *
 * Trino takes one statement per request (its grammar is `statement EOF`), has no SAVEPOINT, and
 * trino-client cannot run transactions (it never reads `X-Trino-Started-Transaction-Id`), so the
 * capabilities say so and the batcher sends each (merged) statement on its own.
 *
 * @example
 * ```ts
 * const adapter = new TrinoAdapter({ host: 'trino.example.com', port: 8080, user: 'trino', catalog: 'hive', schema: 'default' });
 * await using batcher = new SQLBatcher({ adapter, ...adapter.batcherDefaults });
 * await batcher.processStatements(statements, adapter.execute);
 * ```
 */
export class TrinoAdapter implements Adapter, AsyncDisposable {
  readonly name = 'trino';
  readonly capabilities: AdapterCapabilities;
  /** Retry and circuit-breaker options for `SQLBatcher`, from `retryAttempts` / `circuitBreakerEnabled`. */
  readonly batcherDefaults: TrinoBatcherDefaults;

  private readonly connection: ConnectionOptions | undefined;
  private readonly atomicWrites: boolean;
  private readonly pollRetries: number;
  private clientPromise: Promise<Trino> | undefined;
  private closed = false;
  /**
   * Session properties (values URL-encoded), sent with every query: the configured ones, updated by
   * `SET SESSION` / `RESET SESSION` answers. trino-client itself keeps only the property an answer
   * names and drops the others.
   */
  private readonly sessionProps: Map<string, string>;

  constructor(options: TrinoAdapterOptions) {
    const maxQuerySize = options.maxQuerySize ?? 600_000;
    if (!Number.isInteger(maxQuerySize) || maxQuerySize < 1) {
      throw new ConfigurationError('TrinoAdapter: maxQuerySize must be a positive integer (UTF-8 bytes)');
    }
    const retryAttempts = options.retryAttempts ?? 3;
    if (!Number.isInteger(retryAttempts) || retryAttempts < 1) {
      throw new ConfigurationError('TrinoAdapter: retryAttempts must be an integer >= 1 (attempts in all)');
    }
    const maxConcurrency = options.maxConcurrency ?? 1;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
      throw new ConfigurationError('TrinoAdapter: maxConcurrency must be an integer >= 1');
    }
    this.capabilities = {
      maxQuerySize,
      multiStatement: false,
      atomicMultiStatement: false,
      transactions: false,
      savepoints: false,
      maxConcurrency,
      dialect: 'trino',
      // A multi-row VALUES column takes its rows' common type: only rows of one literal kind are merged.
      valuesCommonType: true,
    };
    this.batcherDefaults = {
      retry: { maxAttempts: retryAttempts },
      circuitBreaker: options.circuitBreakerEnabled ?? false,
    };
    this.atomicWrites = options.atomicWrites ?? false;
    this.pollRetries = options.pollRetries ?? 5;
    if (!Number.isInteger(this.pollRetries) || this.pollRetries < 0) {
      throw new ConfigurationError('TrinoAdapter: pollRetries must be an integer >= 0');
    }
    if (options.client) {
      this.clientPromise = Promise.resolve(options.client);
      this.connection = undefined;
    } else {
      this.connection = connectionOptions(options);
    }
    this.sessionProps = new Map(
      Object.entries(this.connection?.session ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
    );
  }

  /**
   * Run one statement: POST it, follow every `nextUri` page, and fail on the first page that carries
   * an `error` (trino-client returns SQL errors as data, it does not throw them). Works detached.
   */
  readonly execute = async (sql: string, options?: ExecuteOptions): Promise<ExecuteResult> => {
    if (this.closed) throw new ClosedError('TrinoAdapter');
    const signal = options?.signal;
    if (signal?.aborted) throw new TrinoCanceledError(undefined, false, signal.reason);
    const client = await this.client();
    let pages: AsyncIterator<QueryResult>;
    // (the client's stored session header holds every property: it is written back after each query)
    const before = sessionHeaderOf(client)?.value;
    try {
      pages = await client.query(sql);
    } catch (err) {
      throw toRequestError('submit', err);
    }
    try {
      return await this.collect(pages, client, signal);
    } finally {
      const now = sessionHeaderOf(client);
      if (now) {
        this.noteSessionChange(sql, before, now.value);
        // (and the client's own copy, which its page requests send, holds them all again)
        if (this.sessionProps.size > 0)
          now.headers['X-Trino-Session'] = sessionHeaderValue(this.sessionProps);
        else delete now.headers['X-Trino-Session'];
      }
    }
  };

  /**
   * What trino-client stored as its session header after a query: Trino's `X-Trino-Set-Session`
   * answer (the property just set) or nothing after `X-Trino-Clear-Session`. Merged into
   * {@link sessionProps}, which keeps the others.
   */
  private noteSessionChange(sql: string, before: string | undefined, after: string | undefined): void {
    if (after === before) return;
    if (after === undefined || after === '') {
      const name = resetSessionName(sql);
      if (name !== undefined) this.sessionProps.delete(name);
      return;
    }
    for (const pair of after.split(',')) {
      const eq = pair.indexOf('=');
      if (eq > 0) this.sessionProps.set(pair.slice(0, eq).trim().toLowerCase(), pair.slice(eq + 1).trim());
    }
  }

  private async collect(
    pages: AsyncIterator<QueryResult>,
    client: Trino,
    signal: AbortSignal | undefined,
  ): Promise<ExecuteResult> {
    // The POST's answer already names the query; trino-client keeps it (and every page it reads, data
    // or not) as its iterator's current page. Known at once, the query can be canceled at once: the
    // pages may carry no data for as long as it runs, and only pages with data are handed out.
    const current = () => (pages as { iter?: { queryResult?: QueryResult } }).iter?.queryResult?.id;
    let queryId: string | undefined = current();
    let updateCount: number | undefined;
    let updateType: string | undefined;
    let columns: QueryResult['columns'];
    const rows: unknown[] = [];
    let previous: QueryResult | undefined;
    // Trino submits the query when the client first polls its queued nextUri: until then nothing ran.
    let submitted = false;
    for (;;) {
      if (signal?.aborted) {
        queryId = current() ?? queryId;
        if (queryId !== undefined) await client.cancel(queryId).catch(() => undefined);
        throw new TrinoCanceledError(queryId, submitted, signal.reason);
      }
      let step: IteratorResult<QueryResult> | undefined;
      for (let retry = 0; step === undefined; retry++) {
        const next = pages.next();
        submitted = true;
        let answer: IteratorResult<QueryResult> | typeof ABORTED;
        try {
          answer = signal ? await untilAborted(next, signal) : await next;
        } catch (err) {
          const failure = toRequestError('poll', err);
          // Polls are idempotent in Trino (a repeated nextUri returns the same page), so a page
          // request the coordinator refused or that was lost is simply asked again, as Trino's own
          // clients do. trino-client keeps the last good page, so next() re-requests the same URI.
          if (retry >= this.pollRetries || !isRetryablePoll(failure)) throw failure;
          const waited = await delay(Math.min(2_000, 100 * 2 ** retry), signal);
          if (!waited) {
            if (queryId !== undefined) await client.cancel(queryId).catch(() => undefined);
            throw new TrinoCanceledError(queryId, true, signal?.reason);
          }
          continue;
        }
        if (answer === ABORTED) {
          // The poll in flight may be what starts the query: cancel once its answer names it.
          const known = current() ?? queryId;
          if (known !== undefined) await client.cancel(known).catch(() => undefined);
          next.then(
            (s) => {
              const id = (s.value as QueryResult | undefined)?.id;
              if (id !== undefined && id !== known) client.cancel(id).catch(() => undefined);
            },
            () => undefined,
          );
          throw new TrinoCanceledError(queryId, true, signal?.reason);
        }
        step = answer;
      }
      const page = step.value as QueryResult | undefined;
      // trino-client hands the last page out twice (once more with done=true): read each page once.
      if (page && page !== previous) {
        queryId = page.id ?? queryId;
        if (page.error) throw new TrinoQueryError(page.error, queryId, this.hint(page.error));
        if (page.stats?.state === 'FAILED') {
          // Trino always sends `error` with FAILED; never take a failed query for a success if not.
          throw new TrinoQueryError(
            {
              message: 'query failed without error details',
              errorName: 'GENERIC_INTERNAL_ERROR',
              errorCode: 65536,
              errorType: 'INTERNAL_ERROR',
            },
            queryId,
          );
        }
        if (page.columns) columns = page.columns;
        if (page.data) for (const row of page.data) rows.push(row);
        const extra = page as QueryResult & { updateType?: string; updateCount?: number };
        if (extra.updateType) updateType = extra.updateType;
        if (typeof extra.updateCount === 'number') updateCount = extra.updateCount;
        previous = page;
      }
      if (step.done) break;
    }
    const insertCount =
      updateType === 'INSERT' && rows.length === 1 ? Number((rows[0] as unknown[])[0]) : undefined;
    const rowCount = updateCount ?? insertCount;
    return {
      ...(rowCount !== undefined && Number.isFinite(rowCount) ? { rowCount } : {}),
      ...(updateType === undefined ? { rows } : {}),
      raw: { queryId, updateType, columns },
    };
  }

  /** See {@link classifyTrinoError}; `atomicWrites` comes from the adapter options. */
  classifyError(error: unknown): ErrorClassification {
    return classifyTrinoError(error, { atomicWrites: this.atomicWrites });
  }

  /** Mark the adapter closed: later `execute` calls reject with `ClosedError`. trino-client holds no pool. */
  async close(): Promise<void> {
    this.closed = true;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private hint(error: { errorName: string; message: string }): string | undefined {
    if (error.errorName === 'QUERY_TEXT_TOO_LARGE') {
      return `The server's query.max-length is below this adapter's maxQuerySize (${this.capabilities.maxQuerySize} bytes); lower maxQuerySize`;
    }
    if (error.errorName === 'SYNTAX_ERROR' && error.message.includes("mismatched input ';'")) {
      return 'Trino accepts exactly one statement per request, without a trailing semicolon';
    }
    return undefined;
  }

  private client(): Promise<Trino> {
    if (!this.clientPromise) {
      const connection = this.connection!;
      this.clientPromise = loadTrinoClient().then((mod) => mod.Trino.create(connection));
      // A failed load is reported on this call; the next call tries again.
      this.clientPromise.catch(() => {
        this.clientPromise = undefined;
      });
    }
    return this.clientPromise;
  }
}

const ABORTED = Symbol('aborted');

const RETRYABLE_POLL_NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED']);

function isRetryablePoll(e: TrinoRequestError): boolean {
  if (e.status !== undefined) return e.status === 502 || e.status === 503 || e.status === 504;
  return e.networkCode !== undefined && RETRYABLE_POLL_NETWORK.has(e.networkCode);
}

/** Wait `ms`; false when `signal` aborted first. */
function delay(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `promise`, or ABORTED as soon as `signal` aborts (the promise keeps running). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

async function loadTrinoClient(): Promise<typeof import('trino-client')> {
  try {
    const mod = (await import('trino-client')) as typeof import('trino-client') & {
      default?: typeof import('trino-client');
    };
    return mod.Trino ? mod : (mod.default ?? mod);
  } catch (err) {
    throw new ConfigurationError(
      `TrinoAdapter needs the trino-client package (npm i trino-client): ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

function checkHeaderValue(what: string, value: string | undefined): void {
  if (value !== undefined && (value === '' || CONTROL.test(value))) {
    throw new ConfigurationError(
      `TrinoAdapter: ${what} must be a non-empty string without control characters`,
    );
  }
}

/** Build trino-client's connection options, validating everything that ends up in a header. */
export function connectionOptions(options: TrinoAdapterOptions): ConnectionOptions {
  const user = options.auth?.user ?? options.user;
  if (!user) throw new ConfigurationError('TrinoAdapter: `user` (or `auth.user`) is required');
  checkHeaderValue('user', user);
  checkHeaderValue('catalog', options.catalog);
  checkHeaderValue('schema', options.schema);
  checkHeaderValue('source', options.source);
  if (options.schema !== undefined && options.catalog === undefined) {
    throw new ConfigurationError(
      'TrinoAdapter: `schema` needs `catalog` (Trino ignores a schema without a catalog)',
    );
  }

  let server = options.server;
  if (server !== undefined) {
    if (options.host !== undefined || options.port !== undefined) {
      throw new ConfigurationError('TrinoAdapter: give either `server` or `host`/`port`, not both');
    }
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      throw new ConfigurationError(
        'TrinoAdapter: `server` must be a URL such as https://trino.example.com:8443',
      );
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigurationError('TrinoAdapter: `server` must use http: or https:');
    }
    if (url.username || url.password) {
      throw new ConfigurationError('TrinoAdapter: put credentials in `auth`, not in the server URL');
    }
    server = url.origin;
  } else {
    const tls = options.ssl !== undefined && options.ssl !== false;
    const host = options.host ?? 'localhost';
    checkHeaderValue('host', host);
    // (a '/', '?', '#' or '@' would turn the rest into a path, query or credentials: the port ignored)
    if (host === '' || /[\s/?#@\\]/.test(host)) {
      throw new ConfigurationError(
        `TrinoAdapter: host must be a host name or address only, got "${host}" (use \`server\` for a URL)`,
      );
    }
    const port = options.port ?? (tls ? 443 : 8080);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ConfigurationError('TrinoAdapter: port must be an integer between 1 and 65535');
    }
    server = `${tls ? 'https' : 'http'}://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
  }
  if (options.auth && !server.startsWith('https:') && !options.allowInsecureAuth) {
    throw new ConfigurationError(
      'TrinoAdapter: password authentication needs HTTPS (set `ssl` or an https `server`); Trino refuses it over plain HTTP',
    );
  }

  const session: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.sessionProperties ?? {})) {
    if (!SESSION_NAME.test(name)) {
      throw new ConfigurationError(
        `TrinoAdapter: invalid session property name "${name}" (expected name or catalog.name)`,
      );
    }
    // Trino URL-decodes session values; encoding keeps ',', '=' and non-ASCII intact.
    session[name] = encodeURIComponent(String(value));
  }

  // User-only: send X-Trino-User and no Authorization header at all (trino-client would otherwise
  // default the user to $USER).
  const extraHeaders: Record<string, string> = options.auth ? {} : { 'X-Trino-User': user };
  if (options.role !== undefined) {
    if (!ROLE_NAME.test(options.role)) {
      throw new ConfigurationError(
        'TrinoAdapter: role must contain only letters, digits, "_", ".", "@" and "-" (it is sent as system=ROLE{role})',
      );
    }
    extraHeaders['X-Trino-Role'] = `system=ROLE{${options.role}}`;
  }

  const ssl = typeof options.ssl === 'object' ? options.ssl : undefined;
  return {
    server,
    source: options.source ?? 'sqlbatcher',
    ...(options.catalog !== undefined ? { catalog: options.catalog } : {}),
    ...(options.schema !== undefined ? { schema: options.schema } : {}),
    ...(Object.keys(session).length > 0 ? { session } : {}),
    ...(Object.keys(extraHeaders).length > 0 ? { extraHeaders } : {}),
    ...(ssl ? { ssl } : {}),
    ...(options.auth ? { auth: new BasicAuthShim(options.auth.user, options.auth.password) } : {}),
  };
}

/**
 * trino-client's `BasicAuth` is a plain `{ type: 'basic', username, password }` value; building it here
 * keeps this module free of a load-time import of the driver.
 */
class BasicAuthShim {
  readonly type = 'basic';
  constructor(
    readonly username: string,
    readonly password: string,
  ) {}
}

/**
 * trino-client 0.2.9 keeps its request headers in `client.clientConfig.headers`; the session header there is
 * what the last answer set. Undefined for a client without that shape (then nothing is tracked).
 */
/**
 * The property a `RESET SESSION` statement resets, as the session header names it (lower case, parts
 * joined by `.`), or undefined for any other statement. Comments anywhere and quoted name parts
 * (`"hive"."x"`) are read as Trino reads them (found in review: such forms were missed, and the property
 * was sent again with every later query, so the RESET did nothing).
 */
export function resetSessionName(sql: string): string | undefined {
  const tokens: string[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i] as string;
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i + 2);
      i = end === -1 ? n : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end === -1) return undefined;
      i = end + 2;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let name = '';
      for (;;) {
        const q = sql.indexOf('"', j);
        if (q === -1) return undefined;
        name += sql.slice(j, q);
        if (sql[q + 1] === '"') {
          name += '"';
          j = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      tokens.push(`"${name}`);
    } else if (c === '.' || c === ';') {
      tokens.push(c);
      i++;
    } else {
      const m = /^[^\s".;/-]+/.exec(sql.slice(i, i + 256));
      if (!m) return undefined;
      tokens.push(m[0]);
      i += m[0].length;
    }
  }
  if (tokens[tokens.length - 1] === ';') tokens.pop();
  if (tokens.length < 3 || tokens[0]?.toUpperCase() !== 'RESET' || tokens[1]?.toUpperCase() !== 'SESSION')
    return undefined;
  const part = (t: string | undefined) =>
    t === undefined || t === '.' || t === ';'
      ? undefined
      : (t.startsWith('"') ? t.slice(1) : t).toLowerCase();
  const first = part(tokens[2]);
  if (first === undefined) return undefined;
  if (tokens.length === 3) return first;
  const second = part(tokens[4]);
  return tokens.length === 5 && tokens[3] === '.' && second !== undefined ? `${first}.${second}` : undefined;
}

function sessionHeaderOf(
  client: Trino,
): { value: string | undefined; headers: Record<string, unknown> } | undefined {
  type WithConfig = { clientConfig?: { headers?: Record<string, unknown> } };
  const inner = (client as unknown as { client?: WithConfig }).client ?? (client as unknown as WithConfig);
  const headers = inner.clientConfig?.headers;
  if (!headers || typeof headers !== 'object') return undefined;
  const value = headers['X-Trino-Session'];
  return { value: typeof value === 'string' ? value : undefined, headers };
}

/** `X-Trino-Session` for `props` (values already URL-encoded), as trino-client writes it. */
function sessionHeaderValue(props: ReadonlyMap<string, string>): string {
  return [...props].map(([k, v]) => `${k}=${v}`).join(',');
}
