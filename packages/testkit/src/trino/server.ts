import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { PGlite, type PGliteInterface } from '@electric-sql/pglite';
import { listenOnLoopback } from '../listen.js';
import { errorNameForSqlState, type TrinoErrorName, type TrinoErrorPayload, trinoError } from './errors.js';
import {
  lineAndColumn,
  SESSION_NAME,
  scanTrinoText,
  sessionPropertyName,
  withoutComments,
} from './sql-text.js';

/** Options of {@link startTrinoServer}. */
export interface TrinoServerOptions {
  /** PGlite instance that runs the SQL. Default: a fresh in-memory one, closed with the server. */
  db?: PGliteInterface;
  /** Trino's `query.max-length`, in characters (UTF-16 code units, as Java counts). Default 1,000,000. */
  maxQueryLength?: number;
  /** Rows per result page. Default 1,000. Results always take at least two requests after the POST. */
  pageSize?: number;
  /** Catalogs that exist; a query naming another one fails with `CATALOG_NOT_FOUND`. Default: any. */
  catalogs?: readonly string[];
  /** Require HTTP basic auth with these credentials (401 otherwise). Default: user header only. */
  credentials?: { user: string; password: string };
  /** Serve HTTPS with this key and certificate (PEM) instead of plain HTTP. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Keep request bodies in {@link TrinoTestServer.requests}. Default true. */
  recordBodies?: boolean;
}

/** One HTTP request the server received. */
export interface RecordedTrinoRequest {
  readonly method: string;
  /** Path and query string. */
  readonly path: string;
  /** Request headers, names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  /** Request body as UTF-8 text ('' when `recordBodies` is false). */
  readonly body: string;
  /** HTTP status the server answered with. */
  status: number;
}

/** A query failure to inject with {@link TrinoTestServer.failQuery}. */
export interface InjectedQueryFailure {
  /**
   * `queued`: the query fails while queued, before any SQL runs (like `QUERY_QUEUE_FULL`).
   * `executing` (default): the SQL runs, then the failure is reported after `afterPages` data pages —
   * like a query that fails mid-stream, or a write that failed after touching a non-transactional
   * connector.
   */
  at?: 'queued' | 'executing';
  /** Data pages served before the failing page (`executing` only). Default 0. */
  afterPages?: number;
  /** Trino error to report. */
  errorName: TrinoErrorName;
  message?: string;
  /** Only queries whose SQL satisfies this fail. Default: the next query. */
  match?: (sql: string) => boolean;
}

/** A running Trino protocol test server. */
export interface TrinoTestServer {
  /** Base URL, e.g. `http://127.0.0.1:41234` (`https:` with `tls`); pass it as trino-client's `server`. */
  readonly url: string;
  readonly port: number;
  /** Every HTTP request received, in arrival order. */
  readonly requests: RecordedTrinoRequest[];
  /** SQL text of every `POST /v1/statement`, in order. */
  statements(): string[];
  /** The PGlite database behind the server (waits for it to boot). */
  db(): Promise<PGliteInterface>;
  /** Resolves once the database has booted. */
  ready(): Promise<void>;
  /**
   * Answer the next `n` requests (optionally only those with this method) with HTTP `status`
   * (default 503) and no effect, as an overloaded coordinator or a proxy in front of it would.
   * Status 0 drops the connection without an answer (the client sees a reset).
   */
  failNext(n: number, status?: number, options?: { method?: 'GET' | 'POST' | 'DELETE' }): void;
  /**
   * Hold the answer to the next `n` requests (optionally only those with this method) for `ms`
   * milliseconds before handling them — a slow coordinator, without blocking the event loop.
   */
  delayNext(n: number, ms: number, options?: { method?: 'GET' | 'POST' | 'DELETE' }): void;
  /** Make the next matching query fail with a Trino error (one shot). */
  failQuery(failure: InjectedQueryFailure): void;
  /** Drop every pending `failNext`, `delayNext` and `failQuery` rule. */
  clearFaults(): void;
  /** Stop listening and release the database (when the server created it). */
  close(): Promise<void>;
}

type Phase = 'queued' | 'executing' | 'done';

interface Column {
  name: string;
  type: string;
}

interface QueryState {
  readonly id: string;
  readonly slug: string;
  /** The statement; cut to its first 1,000 characters once the query is over. */
  sql: string;
  readonly catalog: string | undefined;
  readonly schema: string | undefined;
  readonly hasTransactionHeader: boolean;
  readonly created: number;
  phase: Phase;
  dispatched: Promise<void> | undefined;
  canceled: boolean;
  error: TrinoErrorPayload | undefined;
  failure: InjectedQueryFailure | undefined;
  columns: Column[] | undefined;
  rows: unknown[][];
  updateType: string | undefined;
  updateCount: number | undefined;
  lastToken: number;
  lastPage: { token: number; body: string } | undefined;
  queuedPage: { token: number; body: string } | undefined;
  /** `SET SESSION` / `RESET SESSION`: the header Trino answers with when the query finishes. */
  sessionHeader?: [name: string, value: string];
}

interface FailRule {
  remaining: number;
  status: number;
  method: string | undefined;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  410: 'Gone',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * Start a Trino protocol test server on 127.0.0.1 (ephemeral port). It speaks the client REST
 * protocol as trino-client uses it — `POST /v1/statement`, then `nextUri` pages (queued → executing),
 * `DELETE` to cancel — and runs each statement on an in-process PGlite. Like Trino it answers 400
 * without `X-Trino-User`, rejects text over `maxQueryLength` with `QUERY_TEXT_TOO_LARGE`, rejects a
 * `;` anywhere outside literals (the grammar is `statement EOF`), refuses transactions for a client
 * that does not announce transaction support, has no `SAVEPOINT`, and reports SQL errors inside the
 * result JSON with HTTP 200. As in Trino, the SQL is only submitted when the client first polls the
 * queued `nextUri`, so a failed `POST` never runs anything.
 *
 * The HTTP listener is up when the promise resolves (milliseconds); the PGlite database boots in the
 * background (about two seconds) and the first query waits for it. Pass `db` to share one.
 */
export async function startTrinoServer(options: TrinoServerOptions = {}): Promise<TrinoTestServer> {
  const maxQueryLength = options.maxQueryLength ?? 1_000_000;
  const pageSize = Math.max(1, Math.floor(options.pageSize ?? 1000));
  const recordBodies = options.recordBodies ?? true;
  const ownsDb = options.db === undefined;
  const dbPromise: Promise<PGliteInterface> = options.db
    ? Promise.resolve(options.db)
    : PGlite.create().then((db) => db as PGliteInterface);
  // Keep a boot failure from becoming an unhandled rejection; it surfaces on first use.
  dbPromise.catch(() => {});

  const requests: RecordedTrinoRequest[] = [];
  const failRules: FailRule[] = [];
  const delayRules: { remaining: number; ms: number; method: string | undefined }[] = [];
  const failures: InjectedQueryFailure[] = [];
  const queries = new Map<string, QueryState>();
  const finished: string[] = [];
  const knownSchemas = new Set<string>();
  let dbQueue: Promise<unknown> = Promise.resolve();
  let sequence = 0;
  const serverTag = randomBytes(3).toString('hex');

  /** Run `fn` on the database, one query at a time per server. */
  function exclusive<T>(fn: (db: PGliteInterface) => Promise<T>): Promise<T> {
    const run = dbQueue.then(async () => fn(await dbPromise));
    dbQueue = run.catch(() => {});
    return run;
  }

  function newQueryId(): string {
    sequence++;
    const d = new Date();
    const p = (v: number, w = 2) => String(v).padStart(w, '0');
    const day = `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}`;
    const time = `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
    return `${day}_${time}_${p(sequence, 5)}_${serverTag}`;
  }

  async function dispatch(q: QueryState): Promise<void> {
    const failure = failures.findIndex((f) => f.match === undefined || f.match(q.sql));
    if (failure !== -1) q.failure = failures.splice(failure, 1)[0];
    const rejection = validate(q);
    if (rejection) {
      q.error = rejection;
      return;
    }
    if (q.failure?.at === 'queued') {
      q.error = trinoError(q.failure.errorName, q.failure.message ?? defaultMessage(q.failure.errorName));
      return;
    }
    // SET SESSION / RESET SESSION change the client's session: Trino answers with a header naming the
    // one property (the client keeps the others itself).
    // (comments anywhere and quoted name parts, as Trino reads them)
    const bare = withoutComments(q.sql) ?? '';
    const set = new RegExp(`^\\s*SET\\s+SESSION\\s+${SESSION_NAME}\\s*=\\s*(.+?)\\s*;?\\s*$`, 'is').exec(
      bare,
    );
    if (set) {
      const raw = set[2] as string;
      const value = /^'.*'$/s.test(raw) ? raw.slice(1, -1).replaceAll("''", "'") : raw;
      q.updateType = 'SET SESSION';
      q.sessionHeader = [
        'x-trino-set-session',
        `${sessionPropertyName(set[1] as string)}=${encodeURIComponent(value)}`,
      ];
      return;
    }
    const reset = new RegExp(`^\\s*RESET\\s+SESSION\\s+${SESSION_NAME}\\s*;?\\s*$`, 'i').exec(bare);
    if (reset) {
      q.updateType = 'RESET SESSION';
      q.sessionHeader = ['x-trino-clear-session', sessionPropertyName(reset[1] as string)];
      return;
    }
    try {
      await exclusive(async (db) => {
        const schema = q.schema ?? 'public';
        if (!knownSchemas.has(schema)) {
          await db.exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
          knownSchemas.add(schema);
        }
        // SET LOCAL inside a transaction: several servers may share one PGlite (one session).
        const result = await db.transaction(async (tx) => {
          await tx.exec(`SET LOCAL search_path TO ${quoteIdent(schema)}`);
          return tx.query<unknown[]>(q.sql, [], { rowMode: 'array' });
        });
        const words = scanTrinoText(q.sql).leadingWords;
        const kind = words[0] ?? '';
        if (kind === 'INSERT' || kind === 'UPDATE' || kind === 'DELETE' || kind === 'MERGE') {
          q.updateType = kind;
          q.updateCount = result.affectedRows ?? 0;
          q.columns = [{ name: 'rows', type: 'bigint' }];
          q.rows = [[q.updateCount]];
        } else if (result.fields.length > 0) {
          q.columns = result.fields.map((f) => ({ name: f.name, type: trinoType(f.dataTypeID) }));
          q.rows = result.rows.map((row) => row.map(toJsonValue));
        } else {
          q.updateType = words.join(' ');
        }
      });
    } catch (err) {
      const e = err as { message?: string; code?: string; position?: string };
      const position = e.position ? Number(e.position) - 1 : -1;
      q.error = trinoError(
        errorNameForSqlState(e.code),
        e.message ?? String(err),
        position >= 0 ? lineAndColumn(q.sql, position) : undefined,
      );
    }
  }

  function validate(q: QueryState): TrinoErrorPayload | undefined {
    if (q.sql.length > maxQueryLength) {
      return trinoError(
        'QUERY_TEXT_TOO_LARGE',
        `Query text length (${q.sql.length}) exceeds the maximum length (${maxQueryLength})`,
      );
    }
    if (options.catalogs && q.catalog !== undefined && !options.catalogs.includes(q.catalog)) {
      return trinoError('CATALOG_NOT_FOUND', `Catalog '${q.catalog}' not found`);
    }
    const scan = scanTrinoText(q.sql);
    if (scan.unterminatedAt !== -1) {
      const at = lineAndColumn(q.sql, scan.unterminatedAt);
      return trinoError('SYNTAX_ERROR', `token recognition error at: '${q.sql[scan.unterminatedAt]}'`, at);
    }
    if (scan.semicolon !== -1) {
      return trinoError(
        'SYNTAX_ERROR',
        "mismatched input ';'. Expecting: <EOF>",
        lineAndColumn(q.sql, scan.semicolon),
      );
    }
    const [first, second] = scan.leadingWords;
    if (first === 'START' && second === 'TRANSACTION') {
      return q.hasTransactionHeader
        ? trinoError('NOT_SUPPORTED', 'Transactions are not implemented by this test server')
        : trinoError('INCOMPATIBLE_CLIENT', 'Client does not support transactions');
    }
    if ((first === 'COMMIT' || first === 'ROLLBACK') && (second === undefined || second === 'WORK')) {
      return trinoError('NOT_IN_TRANSACTION', 'No transaction in progress');
    }
    if (first === 'ROLLBACK' && second !== undefined) {
      return trinoError('SYNTAX_ERROR', `mismatched input '${second}'. Expecting: 'WORK', <EOF>`);
    }
    if (first === 'SAVEPOINT' || first === 'RELEASE' || first === 'BEGIN') {
      const offset = q.sql.toUpperCase().indexOf(first);
      return trinoError(
        'SYNTAX_ERROR',
        `mismatched input '${q.sql.slice(offset, offset + first.length)}'. Expecting: 'ALTER', 'ANALYZE', 'CALL', 'COMMIT', 'CREATE', 'DEALLOCATE', 'DELETE', 'DENY', 'DESC', 'DESCRIBE', 'DROP', 'EXECUTE', 'EXPLAIN', 'GRANT', 'INSERT', 'MERGE', 'PREPARE', 'REFRESH', 'RESET', 'REVOKE', 'ROLLBACK', 'SET', 'SHOW', 'START', 'TRUNCATE', 'UPDATE', 'USE', 'WITH', <query>`,
        lineAndColumn(q.sql, offset),
      );
    }
    return undefined;
  }

  const scheme = options.tls ? 'https' : 'http';
  function baseUrl(req: IncomingMessage): string {
    return `${scheme}://${req.headers.host ?? `127.0.0.1:${port}`}`;
  }

  function results(req: IncomingMessage, q: QueryState, page: Record<string, unknown>): string {
    const state = page.state as string;
    const body: Record<string, unknown> = {
      id: q.id,
      infoUri: `${baseUrl(req)}/ui/query.html?${q.id}`,
      ...(page.nextUri ? { nextUri: page.nextUri } : {}),
      ...(page.columns ? { columns: page.columns } : {}),
      ...(page.data ? { data: page.data } : {}),
      stats: {
        state,
        queued: state === 'QUEUED',
        scheduled: state !== 'QUEUED',
        nodes: 1,
        totalSplits: 0,
        queuedSplits: 0,
        runningSplits: 0,
        completedSplits: 0,
        cpuTimeMillis: 0,
        wallTimeMillis: 0,
        queuedTimeMillis: 0,
        elapsedTimeMillis: Date.now() - q.created,
        processedRows: 0,
        processedBytes: 0,
        physicalInputBytes: 0,
        peakMemoryBytes: 0,
        spilledBytes: 0,
      },
      ...(page.error ? { error: page.error } : {}),
      warnings: [],
      ...(page.updateType ? { updateType: page.updateType } : {}),
      ...(page.updateCount !== undefined ? { updateCount: page.updateCount } : {}),
    };
    return JSON.stringify(body);
  }

  function queuedUri(req: IncomingMessage, q: QueryState, token: number): string {
    return `${baseUrl(req)}/v1/statement/queued/${q.id}/${q.slug}/${token}`;
  }

  function executingUri(req: IncomingMessage, q: QueryState, token: number): string {
    return `${baseUrl(req)}/v1/statement/executing/${q.id}/${q.slug}/${token}`;
  }

  /**
   * The query is over. Like Trino, keep it a while so a client can repeat its last page request
   * (after a lost answer or a 503); keep at most 1,000 finished queries.
   */
  function finish(q: QueryState): void {
    if (q.phase === 'done') return;
    q.phase = 'done';
    q.rows = [];
    q.sql = q.sql.slice(0, 1000);
    finished.push(q.id);
    if (finished.length > 1000) queries.delete(finished.shift()!);
  }

  /** Page `token` of an executing query: 0 = columns only, 1..n = data, n+1 = final. */
  function executingPage(req: IncomingMessage, q: QueryState, token: number): string {
    if (q.canceled) {
      finish(q);
      return results(req, q, { state: 'FAILED', error: trinoError('USER_CANCELED', 'Query was canceled') });
    }
    if (q.error) {
      finish(q);
      return results(req, q, { state: 'FAILED', error: q.error });
    }
    const dataPages = Math.ceil(q.rows.length / pageSize);
    const failAfter = q.failure?.at !== 'queued' && q.failure ? (q.failure.afterPages ?? 0) : undefined;
    if (failAfter !== undefined && token > failAfter) {
      const f = q.failure!;
      finish(q);
      return results(req, q, {
        state: 'FAILED',
        error: trinoError(f.errorName, f.message ?? defaultMessage(f.errorName)),
      });
    }
    if (token === 0) {
      return results(req, q, { state: 'RUNNING', columns: q.columns, nextUri: executingUri(req, q, 1) });
    }
    if (token <= dataPages) {
      const data = q.rows.slice((token - 1) * pageSize, token * pageSize);
      return results(req, q, {
        state: 'RUNNING',
        columns: q.columns,
        data,
        nextUri: executingUri(req, q, token + 1),
        updateType: q.updateType,
      });
    }
    if (failAfter !== undefined) {
      // Fewer data pages than `afterPages`: keep the client polling until the failure is due.
      return results(req, q, {
        state: 'RUNNING',
        columns: q.columns,
        nextUri: executingUri(req, q, token + 1),
      });
    }
    finish(q);
    return results(req, q, {
      state: 'FINISHED',
      columns: q.columns,
      updateType: q.updateType,
      updateCount: q.updateCount,
    });
  }

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    record: RecordedTrinoRequest,
    body: string,
  ): Promise<void> {
    const send = (status: number, payload: string, type = 'application/json', extra?: [string, string]) => {
      record.status = status;
      res.writeHead(status, {
        'content-type': type,
        'content-length': Buffer.byteLength(payload),
        ...(extra ? { [extra[0]]: extra[1] } : {}),
      });
      res.end(payload);
    };
    const text = (status: number, message?: string) =>
      send(status, message ?? STATUS_TEXT[status] ?? 'Error', 'text/plain; charset=utf-8');

    const method = req.method ?? 'GET';
    const delay = delayRules.find((r) => r.remaining > 0 && (r.method === undefined || r.method === method));
    if (delay) {
      delay.remaining--;
      if (delay.remaining === 0) delayRules.splice(delayRules.indexOf(delay), 1);
      await new Promise((resolve) => setTimeout(resolve, delay.ms));
    }
    const rule = failRules.find((r) => r.remaining > 0 && (r.method === undefined || r.method === method));
    if (rule) {
      rule.remaining--;
      if (rule.remaining === 0) failRules.splice(failRules.indexOf(rule), 1);
      if (rule.status === 0) {
        record.status = 0;
        req.socket.destroy();
        return;
      }
      text(rule.status);
      return;
    }

    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean);

    if (options.credentials) {
      const auth = req.headers.authorization ?? '';
      const expected = `Basic ${Buffer.from(`${options.credentials.user}:${options.credentials.password}`).toString('base64')}`;
      if (auth !== expected) {
        record.status = 401;
        res.writeHead(401, { 'www-authenticate': 'Basic realm="Trino"', 'content-type': 'text/plain' });
        res.end('Unauthorized');
        return;
      }
    }

    if (method === 'GET' && url.pathname === '/v1/info') {
      send(
        200,
        JSON.stringify({ nodeVersion: { version: '476-testkit' }, coordinator: true, starting: false }),
      );
      return;
    }

    if (method === 'POST' && url.pathname === '/v1/statement') {
      const user = header(req, 'x-trino-user');
      if (!user) return text(400, 'User must be set');
      if (!isValidSessionHeader(header(req, 'x-trino-session')))
        return text(400, 'Invalid X-Trino-Session header');
      if (!isValidRoleHeader(header(req, 'x-trino-role'))) return text(400, 'Invalid X-Trino-Role header');
      const sql = body;
      if (scanTrinoText(sql).empty) return text(400, 'SQL statement is empty');
      const q: QueryState = {
        id: newQueryId(),
        slug: `y${randomBytes(8).toString('hex')}`,
        sql,
        catalog: header(req, 'x-trino-catalog') || undefined,
        schema: header(req, 'x-trino-schema') || undefined,
        hasTransactionHeader: header(req, 'x-trino-transaction-id') !== undefined,
        created: Date.now(),
        phase: 'queued',
        dispatched: undefined,
        canceled: false,
        error: undefined,
        failure: undefined,
        columns: undefined,
        rows: [],
        updateType: undefined,
        updateCount: undefined,
        lastToken: 0,
        lastPage: undefined,
        queuedPage: undefined,
      };
      queries.set(q.id, q);
      send(200, results(req, q, { state: 'QUEUED', nextUri: queuedUri(req, q, 1) }));
      return;
    }

    // /v1/statement/{queued|executing}/{id}/{slug}/{token}
    if (parts.length === 6 && parts[0] === 'v1' && parts[1] === 'statement') {
      const [, , stage, id, slug, tokenText] = parts as [string, string, string, string, string, string];
      const q = queries.get(id);
      if (!q || q.slug !== slug || (stage !== 'queued' && stage !== 'executing'))
        return text(404, 'Query not found');
      const token = Number(tokenText);
      if (method === 'DELETE') {
        q.canceled = true;
        if (q.phase === 'queued' && q.dispatched === undefined) finish(q);
        record.status = 204;
        res.writeHead(204);
        res.end();
        return;
      }
      if (method !== 'GET') return text(405, 'Method Not Allowed');
      if (stage === 'queued') {
        // A repeated request for the page already answered gets the same answer (client retry).
        if (q.queuedPage && token === q.queuedPage.token) return send(200, q.queuedPage.body);
        if (q.phase !== 'queued') return text(410, 'Invalid token');
        const answer = async (): Promise<string> => {
          if (q.canceled) {
            finish(q);
            return results(req, q, {
              state: 'FAILED',
              error: trinoError('USER_CANCELED', 'Query was canceled'),
            });
          }
          q.dispatched ??= dispatch(q);
          await q.dispatched;
          if (q.error) {
            finish(q);
            return results(req, q, { state: 'FAILED', error: q.error });
          }
          q.phase = 'executing';
          return results(req, q, { state: 'QUEUED', nextUri: executingUri(req, q, 0) });
        };
        const body = await answer();
        q.queuedPage = { token, body };
        return send(200, body);
      }
      // A client may repeat the last token (retry after a lost answer) or ask for the next one.
      if (q.lastPage && token === q.lastPage.token) return send(200, q.lastPage.body);
      if (q.phase !== 'executing') return text(410, 'Invalid token');
      if (token !== q.lastToken + 1 && !(token === 0 && q.lastPage === undefined))
        return text(410, 'Invalid token');
      const page = executingPage(req, q, token);
      q.lastToken = token;
      q.lastPage = { token, body: page };
      return send(
        200,
        page,
        undefined,
        (q.phase as Phase) === 'done' && !q.error ? q.sessionHeader : undefined,
      );
    }

    if (parts.length === 3 && parts[0] === 'v1' && parts[1] === 'query') {
      const q = queries.get(parts[2]!);
      if (!q) return text(404, 'Query not found');
      if (method === 'DELETE') {
        q.canceled = true;
        record.status = 204;
        res.writeHead(204);
        res.end();
        return;
      }
      return send(200, JSON.stringify({ queryId: q.id, state: q.phase.toUpperCase(), query: q.sql }));
    }

    text(404);
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) {
        if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
      }
      const body = await readBody(req);
      const record: RecordedTrinoRequest = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers,
        body: recordBodies ? body : '',
        status: 0,
      };
      requests.push(record);
      try {
        await handle(req, res, record, body);
      } catch (err) {
        record.status = 500;
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(err instanceof Error ? err.message : String(err));
      }
    })();
  };
  const server = options.tls
    ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, listener)
    : createServer(listener);

  const port = await listenOnLoopback(server);

  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    requests,
    statements: () =>
      requests.filter((r) => r.method === 'POST' && r.path === '/v1/statement').map((r) => r.body),
    db: () => dbPromise,
    ready: async () => {
      await dbPromise;
    },
    failNext(n, status = 503, opts) {
      if (!Number.isInteger(n) || n < 0) throw new RangeError('failNext: n must be a non-negative integer');
      if (n > 0) failRules.push({ remaining: n, status, method: opts?.method });
    },
    delayNext(n, ms, opts) {
      if (!Number.isInteger(n) || n < 0) throw new RangeError('delayNext: n must be a non-negative integer');
      if (n > 0) delayRules.push({ remaining: n, ms, method: opts?.method });
    },
    failQuery(failure) {
      failures.push(failure);
    },
    clearFaults() {
      failRules.length = 0;
      delayRules.length = 0;
      failures.length = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      queries.clear();
      if (ownsDb) {
        await dbQueue;
        const db = await dbPromise.catch(() => undefined);
        if (db && !db.closed) await db.close();
      }
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function defaultMessage(name: TrinoErrorName): string {
  switch (name) {
    case 'QUERY_QUEUE_FULL':
      return 'Too many queued queries for "global"';
    case 'EXCEEDED_GLOBAL_MEMORY_LIMIT':
      return 'Query exceeded distributed user memory limit of 1GB';
    case 'EXCEEDED_LOCAL_MEMORY_LIMIT':
      return 'Query exceeded per-node memory limit of 1GB';
    default:
      return `Injected ${name}`;
  }
}

/**
 * Parse an `X-Trino-Session` header (`name=value,name2=value2`, values URL-encoded) the way Trino
 * does. Returns undefined when it is malformed.
 */
export function parseTrinoSessionHeader(value: string | undefined): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  if (value === undefined || value.trim() === '') return out;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    const name = part.slice(0, eq).trim();
    if (name === '') return undefined;
    try {
      out[name] = decodeURIComponent(
        part
          .slice(eq + 1)
          .trim()
          .replace(/\+/g, ' '),
      );
    } catch {
      return undefined;
    }
  }
  return out;
}

function isValidSessionHeader(value: string | undefined): boolean {
  return parseTrinoSessionHeader(value) !== undefined;
}

/**
 * Parse an `X-Trino-Role` header (`catalog=ROLE{name}`, `system=ALL`, comma-separated) as Trino does.
 * Returns undefined when it is malformed.
 */
export function parseTrinoRoleHeader(value: string | undefined): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  if (value === undefined || value.trim() === '') return out;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    const catalog = part.slice(0, eq).trim();
    const role = part.slice(eq + 1).trim();
    if (!/^(ROLE\{.+\}|ALL|NONE)$/.test(role)) return undefined;
    out[catalog] = role;
  }
  return out;
}

function isValidRoleHeader(value: string | undefined): boolean {
  return parseTrinoRoleHeader(value) !== undefined;
}

const TYPES: Record<number, string> = {
  16: 'boolean',
  17: 'varbinary',
  20: 'bigint',
  21: 'smallint',
  23: 'integer',
  25: 'varchar',
  114: 'json',
  700: 'real',
  701: 'double',
  1042: 'char',
  1043: 'varchar',
  1082: 'date',
  1114: 'timestamp(6)',
  1184: 'timestamp(6) with time zone',
  1700: 'decimal',
  2950: 'uuid',
  3802: 'json',
};

function trinoType(oid: number): string {
  return TYPES[oid] ?? 'varchar';
}

function toJsonValue(v: unknown): unknown {
  if (v instanceof Date) {
    return `${v.toISOString().replace('T', ' ').replace('Z', '')} UTC`;
  }
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map(toJsonValue);
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  return v;
}
