import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { PGlite } from '@electric-sql/pglite';
import { listenOnLoopback } from '../listen.js';
import { Engine, type EngineSession, type StatementResult } from './engine.js';
import {
  multiStatementFailure,
  SnowflakeServerError,
  statementCountMismatch,
  syntaxError,
  textTooLarge,
} from './errors.js';
import { FifoLock } from './lock.js';
import { ScanError, scanStatements, utf8Bytes } from './sql-text.js';

/** Options of {@link startSnowflakeServer}. */
export interface SnowflakeServerOptions {
  /** Largest request text (`sqlText`, all statements) in UTF-8 bytes. Default 1,000,000. */
  maxStatementBytes?: number;
  /** When set, logins must use exactly these credentials (else Snowflake's 390100 error). */
  credentials?: { username: string; password: string };
  /** Use this PGlite database instead of a fresh in-memory one (it is not closed by `close()`). */
  db?: PGlite;
  /** How long a statement waits for another session's open transaction. Default 10,000 ms. */
  lockTimeoutMs?: number;
  /**
   * A query request still running after this long is answered "in progress" (code 333333 with a
   * `getResultUrl` the SDK polls), as Snowflake does after its ~45 s long poll. Default 45,000 ms.
   */
  inProgressAfterMs?: number;
}

/** One HTTP request the server received, for assertions. */
export interface SnowflakeRequestRecord {
  method: string;
  /** Path without the query string, e.g. `/queries/v1/query-request`. */
  path: string;
  /** The SDK's `requestId` query parameter, when present. */
  requestId?: string;
  /**
   * For query requests: the SQL text (cut after 65,536 characters, ending with `…`), its full UTF-8
   * size and how many statements it held.
   */
  sqlText?: string;
  bytes?: number;
  statementCount?: number;
  /** Largest VALUES list in the request, in rows. */
  maxValuesRows?: number;
  /** `MULTI_STATEMENT_COUNT` sent with the request (1 when absent). */
  multiStatementCount?: number;
  /** HTTP status answered. */
  status: number;
  /** Snowflake error code when the request failed with one. */
  errorCode?: string;
  /** True when the request was a retry of a known requestId answered from the stored result. */
  replayed?: boolean;
  /** True when the status came from {@link SnowflakeTestServer.failNext}. */
  injected?: boolean;
  /** For abort requests: whether a waiting query request was cancelled. */
  cancelled?: boolean;
}

/** Options of {@link SnowflakeTestServer.failNext}. */
export interface FailNextOptions {
  /**
   * Execute the request first, then answer with the failure status (a response lost after the work was
   * done). The SDK retries with the same requestId and gets the stored result, as from Snowflake.
   */
  afterExecute?: boolean;
}

/** A running Snowflake test server. */
export interface SnowflakeTestServer {
  /** `http://127.0.0.1:PORT`: pass it as the SDK's `accessUrl`. */
  readonly url: string;
  readonly port: number;
  /** Every request received, in order (login, queries, telemetry, session delete, …). */
  readonly requests: SnowflakeRequestRecord[];
  /** The PGlite database the statements run on, for direct assertions. */
  readonly db: PGlite;
  /** Number of open sessions. */
  readonly openSessions: number;
  /** Answer the next `n` query requests (`/queries/v1/query-request`) with HTTP `status`. */
  failNext(n: number, status: number, options?: FailNextOptions): void;
  /**
   * End every open session as Snowflake does when a session expires (open transactions roll back): the
   * next request of a client answers with Snowflake's 390111 "Session no longer exists".
   */
  expireSessions(): Promise<void>;
  /**
   * The next `n` query requests wait `ms` before running, like a queued or long-running query. An
   * abort-request for one of them (by request id, as the SDK sends for `statement.cancel()`) while it
   * waits cancels it: it answers `000604 (57014)` "SQL execution canceled" and nothing runs.
   */
  slowNext(n: number, ms: number): void;
  /**
   * The next `n` query requests end the session that sent them before running (as when it expires) and
   * are answered with 390111: nothing of those requests runs.
   */
  endSessionOnNextQuery(n?: number): void;
  /** Query-request records only. */
  queries(): SnowflakeRequestRecord[];
  close(): Promise<void>;
}

interface Session extends EngineSession {
  token: string;
  masterToken: string;
  database: string;
  schema: string;
  warehouse: string;
  role: string;
  /** Session value of MULTI_STATEMENT_COUNT (`ALTER SESSION SET MULTI_STATEMENT_COUNT = n`). */
  multiStatementCount: number;
}

const SET_MSC = /^ALTER\s+SESSION\s+SET\s+MULTI_STATEMENT_COUNT\s*=\s*(\d+)\s*$/i;
const UNSET_MSC = /^ALTER\s+SESSION\s+UNSET\s+MULTI_STATEMENT_COUNT\s*$/i;

/** Applies `ALTER SESSION [UN]SET MULTI_STATEMENT_COUNT` to the session. */
function applySessionParameter(session: Session, text: string): void {
  const t = text.trim();
  const set = SET_MSC.exec(t);
  if (set) session.multiStatementCount = Number(set[1]);
  else if (UNSET_MSC.test(t)) session.multiStatementCount = 1;
}

interface StoredResponse {
  status: number;
  body: unknown;
  record: Partial<SnowflakeRequestRecord>;
}

const MAX_STORED = 10_000;

/** Resolves with the value of `p` if it settles within `ms`, else with undefined. */
async function settleWithin<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Snowflake's answer for a statement still running after the long poll (code 333333). */
const inProgress = (queryId: string) => ({
  data: {
    queryId,
    getResultUrl: `/queries/${queryId}/result`,
    progressDesc: null,
    queryAbortsAfterSecs: 300,
  },
  code: '333333',
  message:
    'Asynchronous execution in progress. Use provided query id to perform query monitoring and management.',
  success: true,
});
/** Longest SQL text kept in a request record (longer texts are cut and end with `…`). */
const RECORDED_SQL_CHARS = 65_536;

/**
 * Starts a server on an ephemeral 127.0.0.1 port that speaks the HTTP protocol `snowflake-sdk` uses
 * (login, query-request with JSON results, result fetch for multi-statement requests, abort, heartbeat,
 * telemetry, session delete) and runs the SQL on an in-process PGlite database.
 *
 * It is faithful about the protocol and Snowflake's limits and behaviours (MULTI_STATEMENT_COUNT, 16,384
 * VALUES rows, request size, no SAVEPOINT, per-session transactions where a failed statement leaves
 * the transaction open, request-id deduplication of the SDK's retries, error codes and SQLSTATEs), not
 * about SQL semantics: PostgreSQL runs the SQL, so unquoted identifiers fold to lower case and UNIQUE /
 * PRIMARY KEY are enforced (Snowflake enforces neither).
 *
 * @example
 * const server = await startSnowflakeServer();
 * const conn = snowflake.createConnection({ accessUrl: server.url, account: 'test', username: 'u', password: 'p' });
 * await conn.connectAsync();
 */
export async function startSnowflakeServer(
  options: SnowflakeServerOptions = {},
): Promise<SnowflakeTestServer> {
  const maxStatementBytes = options.maxStatementBytes ?? 1_000_000;
  const db = options.db ?? new PGlite();
  await db.waitReady;
  const engine = new Engine(db, options.lockTimeoutMs ?? 10_000);
  const requests: SnowflakeRequestRecord[] = [];
  const sessions = new Map<string, Session>();
  const results = new Map<string, StatementResult & { queryId: string }>();
  const byRequestId = new Map<string, Promise<StoredResponse>>();
  const failures: Array<{ status: number; afterExecute: boolean }> = [];
  const inProgressAfterMs = options.inProgressAfterMs ?? 45_000;
  /** Query requests answered "in progress", by query id, until their result is fetched. */
  const running = new Map<string, Promise<StoredResponse>>();
  /** Delays (ms) for the next query requests, from {@link SnowflakeTestServer.slowNext}. */
  const slowdowns: number[] = [];
  /** Cancel functions of query requests waiting out a slowdown, by request id. */
  const waiting = new Map<string, () => void>();
  let nextSessionId = 1;
  let sessionEnds = 0;

  const remember = <K, V>(map: Map<K, V>, key: K, value: V): void => {
    map.set(key, value);
    if (map.size > MAX_STORED) {
      const oldest = map.keys().next();
      if (!oldest.done) map.delete(oldest.value);
    }
  };

  const sessionOf = (req: IncomingMessage): Session | undefined => {
    const auth = req.headers.authorization ?? '';
    const m = /Snowflake Token="([^"]*)"/.exec(auth);
    return m?.[1] ? sessions.get(m[1]) : undefined;
  };

  const fail = (err: SnowflakeServerError, queryId?: string) => ({
    data: {
      internalError: false,
      errorCode: err.code,
      age: 0,
      sqlState: err.sqlState,
      queryId: queryId ?? randomUUID(),
      line: -1,
      pos: -1,
      type: err.type,
    },
    code: err.code,
    message: err.message,
    success: false,
    headers: null,
  });

  const resultData = (session: Session, r: StatementResult, queryId: string) => ({
    parameters: [
      { name: 'TIMEZONE', value: 'UTC' },
      { name: 'CLIENT_RESULT_CHUNK_SIZE', value: 160 },
    ],
    rowtype: r.rowtype,
    rowset: r.rowset,
    total: r.rowset.length,
    returned: r.rowset.length,
    queryId,
    databaseProvider: null,
    finalDatabaseName: session.database,
    finalSchemaName: session.schema,
    finalWarehouseName: session.warehouse,
    finalRoleName: session.role,
    numberOfBinds: 0,
    arrayBindSupported: false,
    statementTypeId: r.statementTypeId,
    version: 1,
    sendResultTime: Date.now(),
    queryResultFormat: 'json',
  });

  const executeQuery = async (
    session: Session,
    json: { sqlText?: unknown; parameters?: Record<string, unknown>; bindings?: unknown },
    requestId: string | undefined,
    parentId: string,
  ): Promise<StoredResponse> => {
    const sqlText = typeof json.sqlText === 'string' ? json.sqlText : '';
    const rawCount = json.parameters?.MULTI_STATEMENT_COUNT;
    // A request's parameter wins over the session's value, as in Snowflake.
    const desired = rawCount === undefined ? session.multiStatementCount : Number(rawCount);
    const bytes = utf8Bytes(sqlText);
    const record: Partial<SnowflakeRequestRecord> = {
      sqlText: sqlText.length > RECORDED_SQL_CHARS ? `${sqlText.slice(0, RECORDED_SQL_CHARS)}…` : sqlText,
      bytes,
      multiStatementCount: desired,
    };
    const ok = (body: unknown): StoredResponse => ({ status: 200, body, record });
    const ko = (err: SnowflakeServerError): StoredResponse => {
      record.errorCode = err.code;
      return { status: 200, body: fail(err, parentId), record };
    };
    if (bytes > maxStatementBytes) return ko(textTooLarge(bytes, maxStatementBytes));
    if (json.bindings !== undefined && json.bindings !== null) {
      return ko(
        new SnowflakeServerError(
          '002049',
          '42601',
          'bind variables are not supported by the test server',
          'COMPILATION',
        ),
      );
    }
    let statements: ReturnType<typeof scanStatements>;
    try {
      statements = scanStatements(sqlText);
    } catch (err) {
      if (err instanceof ScanError) return ko(syntaxError(err.line, err.position, 'EOF'));
      throw err;
    }
    record.statementCount = statements.length;
    record.maxValuesRows = statements.reduce((m, s) => Math.max(m, s.maxValuesRows), 0);
    if (statements.length === 0) {
      return ko(new SnowflakeServerError('000900', '42000', 'Empty SQL statement.', 'COMPILATION'));
    }
    if (desired !== 0 && desired !== statements.length)
      return ko(statementCountMismatch(statements.length, desired));

    const slow = slowdowns.shift();
    if (slow !== undefined) {
      // Queued or running "for a while": an abort-request for this request id cancels it unexecuted.
      const cancelled = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          if (requestId) waiting.delete(requestId);
          waiting.delete(parentId);
          resolve(false);
        }, slow);
        const cancel = () => {
          clearTimeout(timer);
          if (requestId) waiting.delete(requestId);
          waiting.delete(parentId);
          resolve(true);
        };
        if (requestId) waiting.set(requestId, cancel);
        waiting.set(parentId, cancel);
      });
      if (cancelled)
        return ko(new SnowflakeServerError('000604', '57014', 'SQL execution canceled', 'EXECUTION'));
    }
    const release = await session.requests.acquire();
    try {
      if (statements.length === 1) {
        const [only] = statements;
        try {
          const r = await engine.run(session, only!);
          if (only!.keyword === 'ALTER') applySessionParameter(session, only!.text);
          return ok({ data: resultData(session, r, parentId), code: null, message: null, success: true });
        } catch (err) {
          if (err instanceof SnowflakeServerError) return ko(err);
          throw err;
        }
      }
      // Multi-statement: each statement runs (and autocommits) in order; the first failure stops the
      // request, and what ran before it stays.
      const ids: string[] = [];
      const types: number[] = [];
      // Like Snowflake's SYSTEM$MULTISTMT, each statement is compiled only when its turn comes: a
      // syntax error in statement 3 is reported after statements 1 and 2 have run.
      for (const stmt of statements) {
        let r: StatementResult;
        try {
          r = await engine.run(session, stmt);
          if (stmt.keyword === 'ALTER') applySessionParameter(session, stmt.text);
        } catch (err) {
          if (err instanceof SnowflakeServerError)
            return ko(multiStatementFailure(err, stmt.text, stmt.line, stmt.position));
          throw err;
        }
        const id = randomUUID();
        remember(results, id, { ...r, queryId: id });
        ids.push(id);
        types.push(r.statementTypeId);
      }
      const parent: StatementResult = {
        rowtype: [
          {
            name: 'multiple statement execution',
            database: '',
            schema: '',
            table: '',
            type: 'text',
            scale: null,
            precision: null,
            length: 16_777_216,
            byteLength: 16_777_216,
            nullable: false,
            collation: null,
          },
        ],
        rowset: [['Multiple statements executed successfully.']],
        statementTypeId: 0x1000,
        affected: 0,
      };
      return ok({
        data: {
          ...resultData(session, parent, parentId),
          resultIds: ids.join(','),
          resultTypes: types.join(','),
        },
        code: null,
        message: null,
        success: true,
      });
    } finally {
      release();
    }
  };

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const readJson = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let buf = Buffer.concat(chunks);
    // The SDK sets Content-Encoding: gzip from an async callback, so the header and body can disagree:
    // trust the magic bytes.
    if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
    if (buf.length === 0) return {};
    return JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
  };

  const closeSession = async (session: Session): Promise<void> => {
    sessions.delete(session.token);
    if (session.inTransaction) await engine.endTransaction(session, 'ROLLBACK').catch(() => {});
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const requestId = url.searchParams.get('requestId') ?? undefined;
    const record: SnowflakeRequestRecord = { method, path, status: 200 };
    if (requestId) record.requestId = requestId;
    requests.push(record);
    const reply = (status: number, body: unknown): void => {
      record.status = status;
      send(res, status, body);
    };

    if (method === 'POST' && path === '/session/v1/login-request') {
      const body = await readJson(req);
      const data = (body.data ?? {}) as Record<string, unknown>;
      if (
        options.credentials &&
        (data.LOGIN_NAME !== options.credentials.username || data.PASSWORD !== options.credentials.password)
      ) {
        record.errorCode = '390100';
        reply(200, {
          data: { nextAction: 'RETRY_LOGIN', authnMethod: 'USERNAME_PASSWORD' },
          code: '390100',
          message: 'Incorrect username or password was specified.',
          success: false,
        });
        return;
      }
      const session: Session = {
        id: nextSessionId++,
        token: `session-${randomUUID()}`,
        masterToken: `master-${randomUUID()}`,
        inTransaction: false,
        releaseBackend: undefined,
        requests: new FifoLock(),
        database: url.searchParams.get('databaseName') ?? '',
        schema: url.searchParams.get('schemaName') ?? '',
        warehouse: url.searchParams.get('warehouse') ?? '',
        role: url.searchParams.get('roleName') ?? '',
        multiStatementCount: 1,
      };
      sessions.set(session.token, session);
      reply(200, {
        data: {
          masterToken: session.masterToken,
          token: session.token,
          validityInSeconds: 3600,
          masterValidityInSeconds: 14_400,
          displayUserName: typeof data.LOGIN_NAME === 'string' ? data.LOGIN_NAME : '',
          serverVersion: '9.0.0-testkit',
          firstLogin: false,
          remMeToken: null,
          remMeValidityInSeconds: 0,
          healthCheckInterval: 45,
          newClientForUpgrade: null,
          sessionId: session.id,
          parameters: [
            { name: 'CLIENT_STAGE_ARRAY_BINDING_THRESHOLD', value: 65_280 },
            { name: 'QUERY_CONTEXT_CACHE_SIZE', value: 5 },
            { name: 'TIMEZONE', value: 'UTC' },
          ],
          sessionInfo: {
            databaseName: session.database || null,
            schemaName: session.schema || null,
            warehouseName: session.warehouse || null,
            roleName: session.role || 'PUBLIC',
          },
          idToken: null,
        },
        code: null,
        message: null,
        success: true,
      });
      return;
    }

    if (method === 'POST' && path === '/telemetry/send') {
      await readJson(req).catch(() => ({}));
      reply(200, { data: 'Log Received', code: null, message: null, success: true });
      return;
    }

    let session = sessionOf(req);
    if (session && sessionEnds > 0 && method === 'POST' && path === '/queries/v1/query-request') {
      sessionEnds--;
      record.injected = true;
      await closeSession(session);
      session = undefined;
    }
    if (!session) {
      await readJson(req).catch(() => ({}));
      record.errorCode = '390111';
      reply(200, {
        data: null,
        code: '390111',
        message: 'Session no longer exists.  New login required to access the service.',
        success: false,
      });
      return;
    }

    if (method === 'POST' && path === '/queries/v1/query-request') {
      const injected = failures[0];
      if (injected && !injected.afterExecute) {
        failures.shift();
        record.injected = true;
        await readJson(req).catch(() => ({}));
        reply(injected.status, {
          data: null,
          code: String(injected.status),
          message: 'injected failure',
          success: false,
        });
        return;
      }
      const known = requestId ? byRequestId.get(requestId) : undefined;
      let stored: StoredResponse;
      if (known) {
        await readJson(req).catch(() => ({}));
        record.replayed = true;
        stored = await known;
      } else {
        const body = await readJson(req);
        const queryId = randomUUID();
        const pending = executeQuery(
          session,
          body as { sqlText?: unknown; parameters?: Record<string, unknown> },
          requestId,
          queryId,
        );
        if (requestId) remember(byRequestId, requestId, pending);
        const first = await settleWithin(pending, inProgressAfterMs);
        if (first === undefined) {
          // Still running: answer "in progress" and let the client poll the result URL, as Snowflake
          // does for statements that outlast its ~45 s long poll.
          remember(running, queryId, pending);
          pending.then((done) => Object.assign(record, done.record, { status: done.status }));
          reply(200, inProgress(queryId));
          return;
        }
        stored = first;
      }
      Object.assign(record, stored.record);
      const after = failures[0];
      if (after?.afterExecute && !known) {
        failures.shift();
        record.injected = true;
        reply(after.status, {
          data: null,
          code: String(after.status),
          message: 'injected failure',
          success: false,
        });
        return;
      }
      reply(stored.status, stored.body);
      return;
    }

    const resultMatch = /^\/queries\/([^/]+)\/result$/.exec(path);
    if (method === 'GET' && resultMatch) {
      const stillRunning = running.get(resultMatch[1] ?? '');
      if (stillRunning) {
        const done = await settleWithin(stillRunning, inProgressAfterMs);
        if (done === undefined) {
          reply(200, inProgress(resultMatch[1] ?? ''));
          return;
        }
        running.delete(resultMatch[1] ?? '');
        if (done.record.errorCode) record.errorCode = done.record.errorCode;
        reply(done.status, done.body);
        return;
      }
      const found = results.get(resultMatch[1] ?? '');
      if (!found) {
        const err = new SnowflakeServerError(
          '000709',
          '02000',
          `Statement ${resultMatch[1]} not found`,
          'EXECUTION',
        );
        record.errorCode = err.code;
        reply(200, fail(err, resultMatch[1]));
        return;
      }
      reply(200, {
        data: resultData(session, found, found.queryId),
        code: null,
        message: null,
        success: true,
      });
      return;
    }

    if (
      method === 'POST' &&
      (path === '/queries/v1/abort-request' || /^\/queries\/[^/]+\/abort-request$/.test(path))
    ) {
      const body = await readJson(req).catch(() => ({}) as Record<string, unknown>);
      const byQueryId = /^\/queries\/([^/]+)\/abort-request$/.exec(path)?.[1];
      const target =
        byQueryId && byQueryId !== 'v1'
          ? byQueryId
          : typeof body.requestId === 'string'
            ? body.requestId
            : undefined;
      const cancel = target ? waiting.get(target) : undefined;
      record.cancelled = cancel !== undefined;
      cancel?.();
      reply(200, { data: null, code: null, message: null, success: true });
      return;
    }

    if (method === 'POST' && path === '/session' && url.searchParams.get('delete') === 'true') {
      await readJson(req).catch(() => ({}));
      await closeSession(session);
      reply(200, { data: null, code: null, message: null, success: true });
      return;
    }

    if (method === 'POST' && path === '/session/heartbeat') {
      await readJson(req).catch(() => ({}));
      reply(200, { data: null, code: null, message: null, success: true });
      return;
    }

    if (method === 'POST' && path === '/session/token-request') {
      await readJson(req).catch(() => ({}));
      reply(200, {
        data: {
          sessionToken: session.token,
          validityInSecondsST: 3600,
          masterToken: session.masterToken,
          validityInSecondsMT: 14_400,
        },
        code: null,
        message: null,
        success: true,
      });
      return;
    }

    reply(404, {
      data: null,
      code: '404',
      message: `test server: no endpoint ${method} ${path}`,
      success: false,
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        send(res, 500, {
          data: null,
          code: '000603',
          message: `test server internal error: ${err instanceof Error ? err.message : String(err)}`,
          success: false,
        });
      } else {
        res.destroy();
      }
    });
  });
  server.keepAliveTimeout = 1000;
  const port = await listenOnLoopback(server);

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    db,
    get openSessions() {
      return sessions.size;
    },
    failNext(n, status, opts = {}) {
      for (let i = 0; i < n; i++) failures.push({ status, afterExecute: opts.afterExecute ?? false });
    },
    async expireSessions() {
      for (const s of [...sessions.values()]) await closeSession(s);
    },
    slowNext(n, ms) {
      for (let i = 0; i < n; i++) slowdowns.push(ms);
    },
    endSessionOnNextQuery(n = 1) {
      sessionEnds += n;
    },
    queries() {
      return requests.filter((r) => r.path === '/queries/v1/query-request');
    },
    async close() {
      for (const s of [...sessions.values()]) await closeSession(s);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (!options.db) await db.close();
    },
  };
}
