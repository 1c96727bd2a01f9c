import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { PGlite } from '@electric-sql/pglite';
import { listenOnLoopback } from '../listen.js';
import { type BigQueryStubAuthClient, createBigQueryAuthClient } from './auth.js';
import { BigQueryServerError, injectedError, queryTooLargeError } from './errors.js';
import { ScriptSyntaxError, type TranslatedStatement, translateScript } from './translate.js';

/** BigQuery's limit on query text: 1,024K characters. */
export const BIGQUERY_MAX_QUERY_CHARACTERS = 1024 * 1024;
/** BigQuery's limit on an HTTP request body: 10 MB. */
export const BIGQUERY_MAX_REQUEST_BYTES = 10 * 1024 * 1024;
/** How long jobs.query and getQueryResults wait for a job when the request gives no `timeoutMs`. */
const DEFAULT_WAIT_MS = 10_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Options of {@link startBigQueryServer}. */
export interface BigQueryServerOptions {
  /** Project id the stub auth client reports and three-part names may start with. Default `test-project`. */
  projectId?: string;
  /** Datasets (PostgreSQL schemas) created at start. Default none. */
  datasets?: readonly string[];
  /** Location reported in job references. Default `US`. */
  location?: string;
  /** Keep each request's query text in `requests` (turn off for benchmarks). Default true. */
  recordQueries?: boolean;
  /**
   * An existing PGlite database to run the SQL on (closed by `close()` only when created here). Each
   * server serializes its own jobs only: do not use two servers on one database at the same time.
   */
  db?: PGlite;
  /**
   * How long jobs.query and getQueryResults wait for a job when the request gives no `timeoutMs`
   * before answering `jobComplete: false` (the client then polls getQueryResults). Default 10,000 ms,
   * BigQuery's default.
   */
  jobWaitMs?: number;
}

/** One HTTP request the server received. */
export interface BigQueryRequestRecord {
  readonly method: string;
  /** Path without the query string, e.g. `/bigquery/v2/projects/p/queries`. */
  readonly path: string;
  /** The API method it was routed to (`jobs.query`, `jobs.insert`, `jobs.getQueryResults`, …). */
  readonly api: string;
  /** Size of the request body in bytes. */
  readonly bodyBytes: number;
  /** Query text (jobs.query / jobs.insert), when `recordQueries` is on. */
  readonly query?: string;
  /** Length of the query text in characters (Unicode code points). */
  readonly queryLength?: number;
  /** Size of the query text in UTF-8 bytes. */
  readonly queryBytes?: number;
  readonly requestId?: string;
  readonly sessionId?: string;
  /** HTTP status answered. */
  status: number;
}

/** A running BigQuery test server. */
export interface BigQueryTestServer {
  /** Base URL to pass as `apiEndpoint`, e.g. `http://127.0.0.1:39123`. */
  readonly url: string;
  readonly port: number;
  readonly projectId: string;
  /** Every request received, in order. */
  readonly requests: BigQueryRequestRecord[];
  /** A stub auth client for `new BigQuery({ authClient })` that reports `projectId`. */
  readonly authClient: BigQueryStubAuthClient;
  /** The PGlite database holding the data, for assertions. */
  readonly db: PGlite;
  /**
   * Answer the next `n` jobs/queries API requests with HTTP `status` (503 → `backendError`, 500 →
   * `internalError`, 429/403 → `rateLimitExceeded`). By default the request is refused before
   * anything runs (a 403 says the API's per-user request rate was exceeded); with `afterExecution`
   * the job runs and only its response is replaced (a lost response; a 403 is then a job's quota
   * error, "too many table update operations"). With `api` (`'jobs.query'`, `'jobs.insert'`,
   * `'jobs.getQueryResults'`, `'jobs.get'`, …) only requests of that API count and fail.
   */
  failNext(n: number, status: number, options?: { afterExecution?: boolean; api?: string }): void;
  /** Make the next job created take at least `ms` milliseconds to run (a long query). */
  delayNext(ms: number): void;
  /** Drop pending `failNext` / `delayNext` rules. */
  clearFaults(): void;
  /** Number of sessions that exist (not aborted). */
  sessionCount(): number;
  close(): Promise<void>;
}

type Row = { f: { v: unknown }[] };

interface Schema {
  fields: { name: string; type: string; mode: string }[];
}

interface StatementOutcome {
  statementType: string;
  affectedRows?: number;
  schema?: Schema;
  rows?: Row[];
}

interface Job {
  readonly projectId: string;
  readonly jobId: string;
  readonly location: string;
  readonly query: string;
  readonly configuration: Record<string, unknown>;
  readonly parentJobId?: string;
  readonly sessionId?: string;
  readonly createdSession: boolean;
  readonly defaultDataset?: string;
  readonly creationTime: number;
  state: 'PENDING' | 'RUNNING' | 'DONE';
  startTime?: number;
  endTime?: number;
  error?: BigQueryServerError;
  outcome?: StatementOutcome;
  childCount: number;
  scriptFrame?: { line: number; column: number; text: string };
  cancelRequested: boolean;
  done: Promise<void>;
}

interface Session {
  readonly id: string;
  /** Jobs of one session run one after another. */
  tail: Promise<void>;
  inTransaction: boolean;
  aborted: boolean;
}

interface FailureRule {
  remaining: number;
  status: number;
  afterExecution: boolean;
  /** Only requests of this API count (e.g. `jobs.getQueryResults`); any when unset. */
  api: string | undefined;
}

/** A lock on the single PGlite connection; a session holds it for the length of its transaction. */
class ConnectionLock {
  private owner: string | undefined;
  private readonly waiters: (() => void)[] = [];

  async acquire(owner: string): Promise<void> {
    while (this.owner !== undefined && this.owner !== owner) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.owner = owner;
  }

  release(owner: string): void {
    if (this.owner !== owner) return;
    this.owner = undefined;
    const waiters = this.waiters.splice(0);
    for (const wake of waiters) wake();
  }
}

const DML = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);
/** Leading keywords of GoogleSQL procedural statements this server does not run. */
const PROCEDURAL = new Set([
  'DECLARE',
  'SET',
  'IF',
  'LOOP',
  'WHILE',
  'REPEAT',
  'FOR',
  'BREAK',
  'LEAVE',
  'CONTINUE',
  'ITERATE',
  'RETURN',
  'RAISE',
  'EXECUTE',
  'CASE',
]);

type Control = 'begin' | 'commit' | 'rollback' | 'abort-session' | 'savepoint' | 'procedural' | 'sql';

function classify(stmt: TranslatedStatement): Control {
  const [k0 = '', k1 = ''] = stmt.keywords;
  if (k0 === 'BEGIN' && (k1 === 'TRANSACTION' || stmt.keywords.length === 1)) return 'begin';
  if (k0 === 'COMMIT' && (k1 === 'TRANSACTION' || stmt.keywords.length === 1)) return 'commit';
  if (k0 === 'ROLLBACK' && (k1 === 'TRANSACTION' || stmt.keywords.length === 1)) return 'rollback';
  if (k0 === 'SAVEPOINT' || k0 === 'RELEASE' || k0 === 'ROLLBACK') return 'savepoint';
  if (k0 === 'CALL' && /^CALL\s+`?BQ\.ABORT_SESSION`?\s*\(\s*(?:'[^']*')?\s*\)$/i.test(stmt.source)) {
    return 'abort-session';
  }
  if (PROCEDURAL.has(k0) || k0 === 'BEGIN' || k0 === 'START' || k0 === 'END' || k0 === 'CALL') {
    return 'procedural';
  }
  return 'sql';
}

/** BigQuery has no SAVEPOINT / RELEASE / ROLLBACK TO: its parser refuses them. */
function savepointSyntaxError(stmt: TranslatedStatement): BigQueryServerError {
  return new BigQueryServerError(
    400,
    'invalidQuery',
    `Syntax error: Unexpected identifier "${stmt.source.split(/\s+/)[0]}" at [${stmt.line}:${stmt.column}]`,
    'query',
  );
}

function statementType(stmt: TranslatedStatement, control: Control): string {
  const [k0 = '', k1 = '', k2 = ''] = stmt.keywords;
  switch (control) {
    case 'begin':
      return 'BEGIN_TRANSACTION';
    case 'commit':
      return 'COMMIT_TRANSACTION';
    case 'rollback':
      return 'ROLLBACK_TRANSACTION';
    case 'abort-session':
      return 'CALL';
    default:
  }
  if (k0 === 'WITH') return 'SELECT';
  if (k0 === 'CREATE' || k0 === 'DROP' || k0 === 'ALTER') {
    const object = k1 === 'OR' || k1 === 'TEMP' || k1 === 'TEMPORARY' ? k2 : k1;
    return `${k0}_${object === 'SCHEMA' ? 'SCHEMA' : object === 'VIEW' ? 'VIEW' : 'TABLE'}`;
  }
  if (k0 === 'TRUNCATE') return 'TRUNCATE_TABLE';
  return k0 || 'SELECT';
}

// PostgreSQL type OIDs → BigQuery field types.
const FIELD_TYPES: Readonly<Record<number, string>> = {
  16: 'BOOLEAN',
  17: 'BYTES',
  20: 'INTEGER',
  21: 'INTEGER',
  23: 'INTEGER',
  26: 'INTEGER',
  700: 'FLOAT',
  701: 'FLOAT',
  1700: 'NUMERIC',
  1082: 'DATE',
  1083: 'TIME',
  1114: 'DATETIME',
  1184: 'TIMESTAMP',
  114: 'JSON',
  3802: 'JSON',
};

const RAW = (value: string): string => value;
/** Keep PostgreSQL's text form for the types converted below. */
const PARSERS = {
  20: RAW,
  1700: RAW,
  1082: RAW,
  1083: RAW,
  1114: RAW,
  1184: RAW,
  114: RAW,
  3802: RAW,
  17: RAW,
};

function cell(value: unknown, type: string, int64Timestamps: boolean): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'BOOLEAN':
      return value ? 'true' : 'false';
    case 'TIMESTAMP': {
      const ms = Date.parse(
        String(value)
          .replace(' ', 'T')
          .replace(/([+-]\d\d)$/, '$1:00'),
      );
      return int64Timestamps ? String(Math.round(ms * 1000)) : String(ms / 1000);
    }
    case 'DATETIME':
      return String(value).replace(' ', 'T');
    case 'BYTES': {
      const text = String(value);
      return text.startsWith('\\x') ? Buffer.from(text.slice(2), 'hex').toString('base64') : text;
    }
    default:
      return String(value);
  }
}

function codePointLength(text: string): number {
  let surrogates = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xdc00 && c <= 0xdfff) surrogates++;
  }
  return text.length - surrogates;
}

function pgErrorToBigQuery(
  err: unknown,
  stmt: TranslatedStatement,
  projectId: string,
  location: string,
  script: boolean,
): BigQueryServerError {
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  const at = `at [${stmt.line}:${stmt.column}]`;
  const name = /"([^"]+)"/.exec(message)?.[1];
  // Inside a script BigQuery says where the failing statement is.
  const where = script ? ` ${at}` : '';
  if (code === '42P01' && name) {
    return new BigQueryServerError(
      404,
      'notFound',
      `Not found: Table ${projectId}:${name} was not found in location ${location}${where}`,
    );
  }
  if (code === '3F000' && name) {
    return new BigQueryServerError(
      404,
      'notFound',
      `Not found: Dataset ${projectId}:${name} was not found in location ${location}${where}`,
    );
  }
  if (code === '42P07' && name) {
    return new BigQueryServerError(409, 'duplicate', `Already Exists: Table ${projectId}:${name}${where}`);
  }
  if (code === '42703' && name) {
    return new BigQueryServerError(400, 'invalidQuery', `Unrecognized name: ${name} ${at}`, 'query');
  }
  if (code === '42601' && /at or near|at end of input/.test(message)) {
    // (only the parser's messages: 42601 also covers analysis errors, which BigQuery finds when the
    // statement runs and reports as query errors)
    return new BigQueryServerError(400, 'invalidQuery', `Syntax error: ${message} ${at}`, 'query');
  }
  return new BigQueryServerError(400, 'invalidQuery', `Query error: ${message} ${at}`, 'query');
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function sleepRace(promise: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    promise.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}

function sessionIdOf(body: Record<string, unknown>): string | undefined {
  const props = body.connectionProperties;
  if (!Array.isArray(props)) return undefined;
  for (const p of props) {
    const prop = p as { key?: unknown; value?: unknown };
    if (prop.key === 'session_id' && typeof prop.value === 'string') return prop.value;
  }
  return undefined;
}

/**
 * Start a BigQuery REST API test server on 127.0.0.1 (ephemeral port). The real
 * `@google-cloud/bigquery` client talks to it with `apiEndpoint: server.url` and
 * `authClient: server.authClient`. SQL runs on an in-process PGlite database after a small lexical
 * translation; see the testkit README for what is emulated.
 *
 * @example
 * ```ts
 * const server = await startBigQueryServer({ datasets: ['ds'] });
 * const bq = new BigQuery({ projectId: server.projectId, apiEndpoint: server.url, authClient: server.authClient });
 * await bq.query('CREATE TABLE ds.t (id INT64)');
 * await server.close();
 * ```
 */
export async function startBigQueryServer(options: BigQueryServerOptions = {}): Promise<BigQueryTestServer> {
  const projectId = options.projectId ?? 'test-project';
  const location = options.location ?? 'US';
  const recordQueries = options.recordQueries ?? true;
  const jobWaitMs = options.jobWaitMs ?? DEFAULT_WAIT_MS;
  let nextDelayMs = 0;
  const ownsDb = options.db === undefined;
  const db = options.db ?? new PGlite();
  await db.waitReady;
  for (const ds of options.datasets ?? []) {
    await db.exec(`CREATE SCHEMA IF NOT EXISTS "${ds.toLowerCase().replace(/"/g, '""')}"`);
  }

  const lock = new ConnectionLock();
  const jobs = new Map<string, Job>();
  const sessions = new Map<string, Session>();
  /** jobs.query requestId → job and request fingerprint (the API deduplicates retried requests). */
  const requestIds = new Map<string, { jobId: string; fingerprint: string }>();
  const requests: BigQueryRequestRecord[] = [];
  const failures: FailureRule[] = [];
  let closed = false;

  const jobResource = (job: Job): Record<string, unknown> => {
    const statistics: Record<string, unknown> = {
      creationTime: String(job.creationTime),
    };
    if (job.startTime !== undefined) statistics.startTime = String(job.startTime);
    if (job.endTime !== undefined) statistics.endTime = String(job.endTime);
    if (job.outcome) {
      const q: Record<string, unknown> = {
        statementType: job.outcome.statementType,
        totalBytesProcessed: '0',
      };
      if (job.outcome.affectedRows !== undefined) {
        q.numDmlAffectedRows = String(job.outcome.affectedRows);
        q.dmlStats = dmlStats(job.outcome);
      }
      statistics.query = q;
    }
    if (job.sessionId !== undefined) statistics.sessionInfo = { sessionId: job.sessionId };
    if (job.parentJobId !== undefined) statistics.parentJobId = job.parentJobId;
    if (job.childCount > 0) statistics.numChildJobs = String(job.childCount);
    if (job.scriptFrame) {
      const f = job.scriptFrame;
      statistics.scriptStatistics = {
        evaluationKind: 'STATEMENT',
        stackFrames: [{ startLine: f.line, startColumn: f.column, text: f.text }],
      };
    }
    const status: Record<string, unknown> = { state: job.state };
    if (job.error) {
      status.errorResult = job.error.toProto();
      status.errors = [job.error.toProto()];
    }
    return {
      kind: 'bigquery#job',
      etag: job.jobId,
      id: `${job.projectId}:${job.location}.${job.jobId}`,
      selfLink: `/bigquery/v2/projects/${job.projectId}/jobs/${job.jobId}?location=${job.location}`,
      user_email: 'testkit@example.com',
      jobReference: { projectId: job.projectId, jobId: job.jobId, location: job.location },
      configuration: job.configuration,
      statistics,
      status,
    };
  };

  const dmlStats = (outcome: StatementOutcome): Record<string, string> => {
    const n = String(outcome.affectedRows ?? 0);
    return {
      insertedRowCount: outcome.statementType === 'INSERT' ? n : '0',
      updatedRowCount: outcome.statementType === 'UPDATE' ? n : '0',
      deletedRowCount: outcome.statementType === 'DELETE' ? n : '0',
    };
  };

  const runStatement = async (
    stmt: TranslatedStatement,
    int64Timestamps: boolean,
  ): Promise<Omit<StatementOutcome, 'statementType'>> => {
    const result = await db.query<unknown[]>(stmt.sql, [], { rowMode: 'array', parsers: PARSERS });
    const keyword = stmt.keywords[0] ?? '';
    if (DML.has(keyword)) return { affectedRows: result.affectedRows ?? 0 };
    if (result.fields.length === 0) return {};
    const fields = result.fields.map((f) => ({
      name: f.name,
      type: FIELD_TYPES[f.dataTypeID] ?? 'STRING',
      mode: 'NULLABLE',
    }));
    const rows = result.rows.map((row) => ({
      f: row.map((v, k) => ({ v: cell(v, fields[k]!.type, int64Timestamps) })),
    }));
    return { schema: { fields }, rows };
  };

  /**
   * BigQuery compiles a whole script before running any statement of it, so a syntax error refuses
   * the script as a whole. PostgreSQL finds syntax errors only when it reaches a statement: parse each
   * one first (outside a transaction, where a failed parse aborts nothing) and refuse the script on the
   * first syntax error. Other errors (a table the script creates first) surface when the statement runs.
   */
  const checkScriptSyntax = async (statements: readonly TranslatedStatement[]): Promise<void> => {
    for (const stmt of statements) {
      const control = classify(stmt);
      if (control === 'savepoint') throw savepointSyntaxError(stmt);
      if (control !== 'sql') continue;
      try {
        await db.describeQuery(stmt.sql);
      } catch (err) {
        const e = err as { code?: unknown; message?: unknown };
        // (42601 also covers errors PostgreSQL finds while analysing a statement, such as "INSERT has more
        // expressions than target columns": only the parser's own messages are syntax errors here)
        if (e.code !== '42601' || !/at or near|at end of input/.test(String(e.message))) continue;
        throw new BigQueryServerError(
          400,
          'invalidQuery',
          `Syntax error: ${String(e.message)} at [${stmt.line}:${stmt.column}]`,
          'query',
        );
      }
    }
  };

  const executeJob = async (job: Job, int64Timestamps: boolean): Promise<void> => {
    const session = job.sessionId === undefined ? undefined : sessions.get(job.sessionId);
    const owner = session ? `session:${session.id}` : `job:${job.jobId}`;
    await lock.acquire(owner);
    let inTransaction = session?.inTransaction ?? false;
    job.state = 'RUNNING';
    job.startTime = Date.now();
    try {
      if (job.cancelRequested) {
        throw new BigQueryServerError(
          400,
          'stopped',
          'Job execution was cancelled: User requested cancellation',
        );
      }
      if (session?.aborted) {
        throw new BigQueryServerError(400, 'invalidQuery', `Session ${session.id} has been terminated.`);
      }
      let statements: TranslatedStatement[];
      try {
        statements = translateScript(job.query, job.projectId);
      } catch (err) {
        if (err instanceof ScriptSyntaxError)
          throw new BigQueryServerError(400, 'invalidQuery', err.message, 'query');
        throw err;
      }
      if (statements.length === 0) {
        throw new BigQueryServerError(
          400,
          'invalidQuery',
          'Syntax error: Unexpected end of script at [1:1]',
          'query',
        );
      }
      const script = statements.length > 1;
      const search = job.defaultDataset
        ? `"${job.defaultDataset.toLowerCase().replace(/"/g, '""')}", public`
        : 'public';
      await db.query(`SET search_path TO ${search}`);
      if (script && !inTransaction) await checkScriptSyntax(statements);
      let last: StatementOutcome | undefined;
      for (const stmt of statements) {
        if (job.cancelRequested) {
          throw new BigQueryServerError(
            400,
            'stopped',
            'Job execution was cancelled: User requested cancellation',
          );
        }
        const control = classify(stmt);
        const type = statementType(stmt, control);
        const child = script ? createChild(job, stmt) : undefined;
        let outcome: StatementOutcome = { statementType: type };
        try {
          switch (control) {
            case 'begin':
              if (!script && !session) {
                throw new BigQueryServerError(
                  400,
                  'invalidQuery',
                  `Transaction control statements are supported only in scripts or sessions at [${stmt.line}:${stmt.column}]`,
                  'query',
                );
              }
              if (inTransaction) {
                throw new BigQueryServerError(
                  400,
                  'invalidQuery',
                  `Nested transactions are not supported at [${stmt.line}:${stmt.column}]`,
                  'query',
                );
              }
              await db.query('BEGIN');
              inTransaction = true;
              break;
            case 'commit':
            case 'rollback':
              if (!script && !session) {
                throw new BigQueryServerError(
                  400,
                  'invalidQuery',
                  `Transaction control statements are supported only in scripts or sessions at [${stmt.line}:${stmt.column}]`,
                  'query',
                );
              }
              if (!inTransaction) {
                throw new BigQueryServerError(
                  400,
                  'invalidQuery',
                  `${control === 'commit' ? 'COMMIT' : 'ROLLBACK'} TRANSACTION is only allowed inside a transaction at [${stmt.line}:${stmt.column}]`,
                  'query',
                );
              }
              await db.query(control === 'commit' ? 'COMMIT' : 'ROLLBACK');
              inTransaction = false;
              break;
            case 'abort-session':
              if (!session) {
                throw new BigQueryServerError(
                  400,
                  'invalidQuery',
                  `BQ.ABORT_SESSION can only be called in a session at [${stmt.line}:${stmt.column}]`,
                  'query',
                );
              }
              if (inTransaction) await db.query('ROLLBACK');
              inTransaction = false;
              session.aborted = true;
              break;
            case 'savepoint':
              throw savepointSyntaxError(stmt);
            case 'procedural':
              throw new BigQueryServerError(
                400,
                'invalidQuery',
                `The BigQuery test server does not run procedural statement "${stmt.keywords[0]}" at [${stmt.line}:${stmt.column}]`,
                'query',
              );
            default:
              try {
                outcome = { statementType: type, ...(await runStatement(stmt, int64Timestamps)) };
              } catch (err) {
                throw pgErrorToBigQuery(err, stmt, job.projectId, job.location, script);
              }
          }
        } catch (err) {
          if (child) finishJob(child, err);
          throw err;
        }
        if (child) {
          child.outcome = outcome;
          finishJob(child);
        }
        last = outcome;
      }
      if (inTransaction && !session) {
        // A script that ends inside its transaction is rolled back.
        await db.query('ROLLBACK');
        inTransaction = false;
      }
      job.outcome = script
        ? { statementType: 'SCRIPT', ...(last?.schema ? { schema: last.schema, rows: last.rows ?? [] } : {}) }
        : last;
    } catch (err) {
      if (inTransaction) {
        // BigQuery rolls the transaction back when a statement in it fails.
        try {
          await db.query('ROLLBACK');
        } catch {
          // The connection is already outside a transaction.
        }
        inTransaction = false;
      }
      throw err;
    } finally {
      if (session) session.inTransaction = inTransaction;
      if (!inTransaction) lock.release(owner);
    }
  };

  const createChild = (parent: Job, stmt: TranslatedStatement): Job => {
    parent.childCount++;
    const child: Job = {
      projectId: parent.projectId,
      jobId: `script_job_${randomUUID().replace(/-/g, '')}_${parent.childCount - 1}`,
      location: parent.location,
      query: stmt.source,
      configuration: { jobType: 'QUERY', query: { query: stmt.source, useLegacySql: false } },
      parentJobId: parent.jobId,
      ...(parent.sessionId === undefined ? {} : { sessionId: parent.sessionId }),
      createdSession: false,
      creationTime: Date.now(),
      state: 'RUNNING',
      startTime: Date.now(),
      childCount: 0,
      scriptFrame: { line: stmt.line, column: stmt.column, text: stmt.source },
      cancelRequested: false,
      done: Promise.resolve(),
    };
    jobs.set(child.jobId, child);
    return child;
  };

  const finishJob = (job: Job, err?: unknown): void => {
    job.state = 'DONE';
    job.endTime = Date.now();
    if (err !== undefined) {
      job.error =
        err instanceof BigQueryServerError
          ? err
          : new BigQueryServerError(
              500,
              'internalError',
              `Internal error: ${(err as Error)?.message ?? String(err)}`,
            );
    }
  };

  const startJob = (
    projectId: string,
    body: Record<string, unknown>,
    query: string,
    jobId: string,
    jobLocation: string,
    int64Timestamps: boolean,
    configuration: Record<string, unknown>,
  ): Job => {
    const createSession = body.createSession === true;
    let sessionId = sessionIdOf(body);
    if (createSession && sessionId !== undefined) {
      throw new BigQueryServerError(
        400,
        'invalid',
        'Cannot set both createSession and the session_id connection property.',
      );
    }
    if (sessionId !== undefined) {
      const s = sessions.get(sessionId);
      if (!s || s.aborted) {
        throw new BigQueryServerError(
          400,
          'invalid',
          `Session ${sessionId} was not found or has been terminated.`,
        );
      }
    }
    if (createSession) {
      sessionId = randomBytes(24).toString('base64url');
      sessions.set(sessionId, {
        id: sessionId,
        tail: Promise.resolve(),
        inTransaction: false,
        aborted: false,
      });
    }
    const dataset = body.defaultDataset as { datasetId?: unknown } | undefined;
    const job: Job = {
      projectId,
      jobId,
      location: jobLocation,
      query,
      configuration,
      ...(sessionId === undefined ? {} : { sessionId }),
      createdSession: createSession,
      ...(typeof dataset?.datasetId === 'string' ? { defaultDataset: dataset.datasetId } : {}),
      creationTime: Date.now(),
      state: 'PENDING',
      childCount: 0,
      cancelRequested: false,
      done: Promise.resolve(),
    };
    jobs.set(jobId, job);
    const delayMs = nextDelayMs;
    nextDelayMs = 0;
    const run = async (): Promise<void> => {
      try {
        if (delayMs > 0) await sleep(delayMs);
        await executeJob(job, int64Timestamps);
        finishJob(job);
      } catch (err) {
        finishJob(job, err);
      }
    };
    const session = sessionId === undefined ? undefined : sessions.get(sessionId);
    if (session) {
      job.done = session.tail.then(run);
      session.tail = job.done;
    } else {
      job.done = run();
    }
    return job;
  };

  const queryResponse = (
    job: Job,
    kind: string,
    maxResults?: number,
    pageToken?: string,
  ): Record<string, unknown> => {
    const body: Record<string, unknown> = {
      kind,
      jobReference: { projectId: job.projectId, jobId: job.jobId, location: job.location },
      jobComplete: job.state === 'DONE',
    };
    if (job.sessionId !== undefined && job.createdSession) body.sessionInfo = { sessionId: job.sessionId };
    else if (job.sessionId !== undefined) body.sessionInfo = { sessionId: job.sessionId };
    if (job.state !== 'DONE' || !job.outcome) return body;
    const o = job.outcome;
    body.totalBytesProcessed = '0';
    body.cacheHit = false;
    if (o.affectedRows !== undefined) {
      body.numDmlAffectedRows = String(o.affectedRows);
      body.dmlStats = dmlStats(o);
    }
    if (o.schema) {
      const rows = o.rows ?? [];
      const from = pageToken ? Number(pageToken) || 0 : 0;
      const to = maxResults !== undefined && maxResults >= 0 ? from + maxResults : rows.length;
      body.schema = o.schema;
      body.totalRows = String(rows.length);
      const page = rows.slice(from, to);
      if (page.length > 0) body.rows = page;
      if (to < rows.length) body.pageToken = String(to);
    } else {
      body.totalRows = '0';
    }
    return body;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    const match =
      /^(?:\/bigquery\/v2)?\/projects\/([^/]+)\/(queries|jobs)(?:\/([^/]+))?(?:\/(cancel))?$/.exec(path);
    let api = 'unknown';
    if (match) {
      const [, , collection, id, cancel] = match;
      if (collection === 'queries') api = id === undefined ? 'jobs.query' : 'jobs.getQueryResults';
      else if (cancel) api = 'jobs.cancel';
      else if (id !== undefined) api = 'jobs.get';
      else api = method === 'POST' ? 'jobs.insert' : 'jobs.list';
    }
    let body: Record<string, unknown> = {};
    let parseError = false;
    if (raw.length > 0 && raw.length <= BIGQUERY_MAX_REQUEST_BYTES) {
      try {
        body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      } catch {
        parseError = true;
      }
    }
    const queryConfig = (
      api === 'jobs.insert' ? (body.configuration as { query?: Record<string, unknown> })?.query : body
    ) as Record<string, unknown> | undefined;
    const queryText = typeof queryConfig?.query === 'string' ? queryConfig.query : undefined;
    const record: BigQueryRequestRecord = {
      method,
      path,
      api,
      bodyBytes: raw.length,
      ...(queryText !== undefined && recordQueries ? { query: queryText } : {}),
      ...(queryText !== undefined
        ? { queryLength: codePointLength(queryText), queryBytes: Buffer.byteLength(queryText) }
        : {}),
      ...(typeof body.requestId === 'string' ? { requestId: body.requestId } : {}),
      ...(queryConfig && sessionIdOf(queryConfig) !== undefined
        ? { sessionId: sessionIdOf(queryConfig)! }
        : {}),
      status: 0,
    };
    requests.push(record);
    const reply = (status: number, payload: unknown): void => {
      record.status = status;
      json(res, status, payload);
    };
    const fail = (err: BigQueryServerError): void => reply(err.httpStatus, err.toBody());

    if (!match) {
      fail(new BigQueryServerError(404, 'notFound', `Not found: URL ${path}`));
      return;
    }
    const auth = req.headers.authorization;
    if (typeof auth !== 'string' || !auth.startsWith('Bearer ')) {
      fail(
        new BigQueryServerError(
          401,
          'required',
          'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
        ),
      );
      return;
    }
    let afterFailure: FailureRule | undefined;
    // (the first rule for this API, or for any: a rule for another API does not hold up the others)
    const at = failures.findIndex((r) => r.api === undefined || r.api === api);
    const rule = at < 0 ? undefined : failures[at];
    if (rule) {
      rule.remaining--;
      if (rule.remaining <= 0) failures.splice(at, 1);
      if (!rule.afterExecution) {
        fail(injectedError(rule.status));
        return;
      }
      afterFailure = rule;
    }
    const send = (status: number, payload: unknown): void => {
      if (afterFailure) fail(injectedError(afterFailure.status, true));
      else reply(status, payload);
    };
    if (raw.length > BIGQUERY_MAX_REQUEST_BYTES) {
      fail(
        new BigQueryServerError(
          400,
          'badRequest',
          `Request payload size exceeds the limit: ${BIGQUERY_MAX_REQUEST_BYTES} bytes.`,
        ),
      );
      return;
    }
    if (parseError) {
      fail(new BigQueryServerError(400, 'parseError', 'Parse Error'));
      return;
    }
    const projectId = decodeURIComponent(match[1]!);
    const id = match[3] === undefined ? undefined : decodeURIComponent(match[3]);
    const qsNumber = (name: string): number | undefined => {
      const v = url.searchParams.get(name);
      return v === null || v === '' ? undefined : Number(v);
    };
    const wait = async (job: Job, timeoutMs: number | undefined): Promise<void> => {
      if (job.state !== 'DONE') await sleepRace(job.done, Math.max(0, timeoutMs ?? jobWaitMs));
    };

    switch (api) {
      case 'jobs.query': {
        if (typeof body.query !== 'string' || body.query === '') {
          fail(new BigQueryServerError(400, 'invalid', 'Required parameter is missing: query'));
          return;
        }
        if (body.useLegacySql === true) {
          fail(new BigQueryServerError(400, 'invalid', 'The BigQuery test server runs standard SQL only.'));
          return;
        }
        if (record.queryLength! > BIGQUERY_MAX_QUERY_CHARACTERS) {
          fail(queryTooLargeError());
          return;
        }
        const int64 =
          (body.formatOptions as { useInt64Timestamp?: unknown } | undefined)?.useInt64Timestamp === true;
        let job: Job | undefined;
        const requestId = typeof body.requestId === 'string' ? body.requestId : undefined;
        const fingerprint = JSON.stringify([
          body.query,
          body.connectionProperties,
          body.queryParameters,
          body.defaultDataset,
        ]);
        if (requestId !== undefined) {
          const seen = requestIds.get(requestId);
          if (seen && seen.fingerprint === fingerprint) job = jobs.get(seen.jobId);
        }
        if (!job) {
          try {
            job = startJob(
              projectId,
              body,
              body.query,
              `job_${randomUUID().replace(/-/g, '')}`,
              typeof body.location === 'string' ? body.location : location,
              int64,
              {
                jobType: 'QUERY',
                query: { query: body.query, useLegacySql: false },
                ...(body.labels ? { labels: body.labels } : {}),
              },
            );
          } catch (err) {
            if (err instanceof BigQueryServerError) return fail(err);
            throw err;
          }
          if (requestId !== undefined) requestIds.set(requestId, { jobId: job.jobId, fingerprint });
        }
        await wait(job, typeof body.timeoutMs === 'number' ? body.timeoutMs : undefined);
        if (job.state === 'DONE' && job.error) {
          if (afterFailure) fail(injectedError(afterFailure.status, true));
          else fail(job.error);
          return;
        }
        send(200, queryResponse(job, 'bigquery#queryResponse', body.maxResults as number | undefined));
        return;
      }
      case 'jobs.insert': {
        const configuration = (body.configuration ?? {}) as Record<string, unknown>;
        const q = configuration.query as Record<string, unknown> | undefined;
        const ref = (body.jobReference ?? {}) as { jobId?: unknown; location?: unknown };
        if (!q || typeof q.query !== 'string') {
          fail(new BigQueryServerError(400, 'invalid', 'The test server only runs query jobs.'));
          return;
        }
        if (q.useLegacySql === true) {
          fail(new BigQueryServerError(400, 'invalid', 'The BigQuery test server runs standard SQL only.'));
          return;
        }
        const jobId = typeof ref.jobId === 'string' ? ref.jobId : `job_${randomUUID().replace(/-/g, '')}`;
        const jobLocation = typeof ref.location === 'string' ? ref.location : location;
        if (jobs.has(jobId)) {
          fail(
            new BigQueryServerError(
              409,
              'duplicate',
              `Already Exists: Job ${projectId}:${jobLocation}.${jobId}`,
            ),
          );
          return;
        }
        if (record.queryLength! > BIGQUERY_MAX_QUERY_CHARACTERS) {
          fail(queryTooLargeError());
          return;
        }
        let job: Job;
        try {
          job = startJob(projectId, q, q.query, jobId, jobLocation, true, configuration);
        } catch (err) {
          if (err instanceof BigQueryServerError) return fail(err);
          throw err;
        }
        send(200, jobResource(job));
        return;
      }
      case 'jobs.getQueryResults':
      case 'jobs.get':
      case 'jobs.cancel': {
        const job = id === undefined ? undefined : jobs.get(id);
        if (!job || job.projectId !== projectId) {
          fail(new BigQueryServerError(404, 'notFound', `Not found: Job ${projectId}:${location}.${id}`));
          return;
        }
        if (api === 'jobs.get') {
          send(200, jobResource(job));
          return;
        }
        if (api === 'jobs.cancel') {
          if (job.state !== 'DONE') job.cancelRequested = true;
          send(200, { kind: 'bigquery#jobCancelResponse', job: jobResource(job) });
          return;
        }
        await wait(job, qsNumber('timeoutMs'));
        if (job.state === 'DONE' && job.error) {
          fail(job.error);
          return;
        }
        const int64 = url.searchParams.get('formatOptions.useInt64Timestamp') === 'true';
        const response = queryResponse(
          job,
          'bigquery#getQueryResultsResponse',
          qsNumber('maxResults'),
          url.searchParams.get('pageToken') ?? undefined,
        );
        if (!int64 && job.outcome?.schema) {
          // Rows were rendered for the request that started the job; re-render timestamps if needed.
          response.rows = (response.rows as Row[] | undefined)?.map((row) => ({
            f: row.f.map((c, k) =>
              job.outcome?.schema?.fields[k]?.type === 'TIMESTAMP' && c.v !== null
                ? { v: String(Number(c.v) / 1e6) }
                : c,
            ),
          }));
        }
        send(200, response);
        return;
      }
      case 'jobs.list': {
        const parent = url.searchParams.get('parentJobId');
        const list = [...jobs.values()].filter((j) =>
          parent === null ? j.parentJobId === undefined : j.parentJobId === parent,
        );
        list.reverse();
        send(200, {
          kind: 'bigquery#jobList',
          jobs: list.map((j) => {
            const r = jobResource(j);
            return { ...r, state: j.state };
          }),
        });
        return;
      }
      default:
        fail(new BigQueryServerError(404, 'notFound', `Not found: URL ${path}`));
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        json(res, 500, new BigQueryServerError(500, 'internalError', String(err)).toBody());
      }
    });
  });
  const port = await listenOnLoopback(server);

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    projectId,
    requests,
    authClient: createBigQueryAuthClient(projectId),
    db,
    failNext(n, status, opts = {}) {
      if (n > 0) {
        failures.push({ remaining: n, status, afterExecution: opts.afterExecution ?? false, api: opts.api });
      }
    },
    clearFaults() {
      failures.length = 0;
      nextDelayMs = 0;
    },
    delayNext(ms) {
      nextDelayMs = Math.max(0, ms);
    },
    sessionCount() {
      let count = 0;
      for (const s of sessions.values()) if (!s.aborted) count++;
      return count;
    },
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // A session left inside its transaction would keep every waiting job blocked: roll it back.
      for (const s of sessions.values()) {
        if (s.inTransaction) {
          s.inTransaction = false;
          s.aborted = true;
          await db.query('ROLLBACK').catch(() => undefined);
          lock.release(`session:${s.id}`);
        }
      }
      await Promise.allSettled([...jobs.values()].map((j) => j.done));
      if (ownsDb) await db.close();
    },
  };
}
