import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type {
  Adapter,
  AdapterCapabilities,
  AdapterSession,
  ErrorClassification,
  ExecuteOptions,
  ExecuteResult,
} from '@sqlbatcher/core';
import {
  blockControl,
  ClosedError,
  ConfigurationError,
  lexStatement,
  SQLBatcherError,
  splitStatements,
} from '@sqlbatcher/core';
import {
  BigQueryError,
  classify,
  type DriverErrorFacts,
  driverErrorFacts,
  NOT_SENT_CODES,
} from './errors.js';

/** BigQuery's limit on query text: 1,024K characters. */
export const BIGQUERY_MAX_QUERY_CHARACTERS = 1024 * 1024;

/**
 * Default hard ceiling of one request, in UTF-8 bytes. UTF-8 bytes are never fewer than characters,
 * so any byte ceiling up to {@link BIGQUERY_MAX_QUERY_CHARACTERS} keeps every request under
 * BigQuery's 1,024K-character limit; 1,000,000 leaves room for the client's JSON envelope.
 */
export const BIGQUERY_DEFAULT_MAX_QUERY_SIZE = 1_000_000;

/**
 * The part of `@google-cloud/bigquery`'s `BigQuery` class the adapter uses. Declared here so the
 * adapter's types do not depend on the driver's.
 */
export interface BigQueryClientLike {
  /** jobs.query (or jobs.insert + getQueryResults); resolves to `[rows, nextQuery, apiResponse]`. */
  query(query: Record<string, unknown>): Promise<unknown[]>;
  /** jobs.list; resolves to `[jobs]`, each with `metadata`. */
  getJobs(options: Record<string, unknown>): Promise<unknown[]>;
  /** jobs.insert of a query job; resolves to `[job, apiResponse]`. */
  createQueryJob(options: Record<string, unknown>): Promise<unknown[]>;
  /** A handle on an existing job. */
  job(id: string, options?: { location?: string }): BigQueryJobLike;
}

/** The part of `@google-cloud/bigquery`'s `Job` the adapter uses. */
export interface BigQueryJobLike {
  /** jobs.getQueryResults, polled until the job completes; resolves to `[rows, nextQuery, apiResponse]`. */
  getQueryResults(options?: Record<string, unknown>): Promise<unknown[]>;
  /** jobs.get; resolves to `[metadata]`. */
  getMetadata(): Promise<unknown[]>;
}

/** Options of {@link BigQueryAdapter}. */
export interface BigQueryAdapterOptions {
  /** Google Cloud project that runs (and is billed for) the jobs. */
  projectId?: string;
  /** Default dataset: unqualified table names resolve in it. */
  datasetId?: string;
  /** Location of the jobs (`US`, `EU`, `europe-west1`, …). */
  location?: string;
  /** Path of a service-account key file. */
  keyFilename?: string;
  /** Service-account credentials (`client_email`, `private_key`). Never logged nor put in errors. */
  credentials?: { client_email?: string; private_key?: string; [key: string]: unknown };
  /** Custom API endpoint (a test server, a private endpoint): `http://127.0.0.1:9050`. */
  apiEndpoint?: string;
  /** An auth client for `@google-cloud/bigquery` (a google-auth-library client or a test stub). */
  authClient?: unknown;
  /**
   * Hard ceiling of one request's SQL text, in UTF-8 bytes. Default 1,000,000; at most 1,048,576
   * (BigQuery's 1,024K-character limit).
   */
  maxQuerySize?: number;
  /** Labels set on every job (cost attribution). */
  labels?: Readonly<Record<string, string>>;
  /**
   * Job timeout in milliseconds; BigQuery cancels a job that runs longer. With it, the client creates
   * the job with jobs.insert and polls getQueryResults instead of calling jobs.query.
   */
  jobTimeoutMs?: number;
  /**
   * Retry settings of `@google-cloud/bigquery` itself (it retries 5xx and rate-limit answers; jobs.query
   * carries a requestId, so BigQuery runs a retried request once). Default: the client's.
   */
  retryOptions?: Record<string, unknown>;
  /**
   * How jobs are created. `'query'` (default): jobs.query, one round trip; after an answer lost to a 5xx
   * or a broken connection it cannot be known whether the job ran, so such a failure is reported in
   * doubt. `'insert'`: jobs.insert with a job id chosen by the adapter, then getQueryResults (one more
   * round trip); after a lost answer the adapter asks BigQuery for that job id: it waits for the job
   * when it exists, and reports "not executed" (safe to retry) when it does not.
   */
  jobMode?: 'query' | 'insert';
  /** Requests the batcher may run at once. Default 1. */
  maxConcurrency?: number;
  /**
   * For a multi-statement script BigQuery reports affected rows only per child job: list the child
   * jobs (one extra jobs.list call) to fill `rowCount`. Default true.
   */
  countScriptRows?: boolean;
  /** An existing `BigQuery` client to use instead of creating one (the options above that configure a client are then ignored). */
  client?: BigQueryClientLike;
}

interface QueryResponse {
  jobReference?: { jobId?: string };
  numDmlAffectedRows?: string;
  schema?: unknown;
  sessionInfo?: { sessionId?: string };
}

interface SessionState {
  id: string | undefined;
  inTransaction: boolean;
  /**
   * A transaction the input itself began (`BEGIN TRANSACTION` as a statement, under the batcher's
   * transaction 'none') is open in the session: a failing statement makes BigQuery roll all of it back,
   * the statements of earlier requests in it too.
   */
  inputTransaction?: boolean;
  /**
   * Set when the request that created the session failed after applying part of its statements and
   * the session's id could not be learned: the state they left (temporary tables, variables) lives in
   * a session this object cannot reach.
   */
  lost?: string;
}

function isClient(value: unknown): value is BigQueryClientLike {
  const v = value as { query?: unknown; getJobs?: unknown; createQueryJob?: unknown } | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.query === 'function' &&
    typeof v.getJobs === 'function' &&
    typeof v.createQueryJob === 'function'
  );
}

/** Line/column (1-based) → statement position, using the statements' texts inside the request. */
function locateStatement(
  sql: string,
  options: ExecuteOptions | undefined,
  message: string,
): number | undefined {
  const statements = options?.batch?.statements;
  if (!statements || statements.length === 0) return undefined;
  // BigQuery ends its message with the location; text it quotes from the query or its data (which may
  // hold "at [1:1]" too) comes before it: the last match is BigQuery's own.
  let at: RegExpExecArray | undefined;
  for (const m of message.matchAll(/at \[(\d+):(\d+)\]/g)) at = m;
  if (!at) return undefined;
  const line = Number(at[1]);
  const column = Number(at[2]);
  let offset = 0;
  let currentLine = 1;
  for (let i = 0; i < sql.length && currentLine < line; i++) {
    if (sql.charCodeAt(i) === 10) {
      currentLine++;
      offset = i + 1;
    }
  }
  if (currentLine !== line) return undefined;
  const target = offset + column - 1;
  let from = 0;
  let found: number | undefined;
  for (let k = 0; k < statements.length; k++) {
    const start = sql.indexOf(statements[k]!.sql, from);
    if (start < 0) return undefined;
    if (start > target) break;
    found = k;
    from = start + statements[k]!.sql.length;
  }
  return found;
}

/** Set `session.id` from the job that created it (its metadata, or jobs.get); unchanged when unknown. */
async function learnSessionId(
  job: BigQueryJobLike,
  session: SessionState,
  metadata: JobMetadata | undefined,
): Promise<void> {
  let id = metadata?.statistics?.sessionInfo?.sessionId;
  if (id === undefined) {
    try {
      const [latest] = (await job.getMetadata()) as [JobMetadata];
      id = latest.statistics?.sessionInfo?.sessionId;
    } catch {
      // Unknown: the caller's classification decides whether that matters.
    }
  }
  if (id !== undefined) session.id = id;
}

/**
 * The statements of a failed request that may have been applied: those before `position` when the
 * failing one is known, else all of them (split from the request's text when the batcher did not list
 * them).
 */
function appliedStatements(
  sql: string,
  options: ExecuteOptions | undefined,
  position: number | undefined,
): string[] {
  const statements = options?.batch?.statements;
  if (statements) return statements.slice(0, position ?? statements.length).map((s) => s.sql);
  let all: string[];
  try {
    all = splitStatements(sql, { dialect: 'bigquery' });
  } catch {
    all = [sql];
  }
  return all.slice(0, position ?? all.length);
}

/**
 * A statement that may leave state in its BigQuery session beyond the tables it writes: a temporary
 * table or function, a variable (DECLARE / SET), a transaction, procedural code, or anything naming
 * the `_SESSION` dataset. Judged by its first keyword (after comments).
 */
function leavesSessionState(statement: string): boolean {
  const start = /^(?:\s+|--[^\n]*|#[^\n]*|\/\*[\s\S]*?\*\/)*/.exec(statement)?.[0].length ?? 0;
  const head = statement.slice(start);
  return (
    /^(?:CREATE\s+(?:OR\s+REPLACE\s+)?TEMP(?:ORARY)?\b|DECLARE\b|SET\b|BEGIN\b|EXECUTE\b|CALL\b|IF\b|LOOP\b|WHILE\b|REPEAT\b|FOR\b)/i.test(
      head,
    ) || /\b_SESSION\s*\./i.test(head)
  );
}

/** Does `sql` hold more than one statement? Only decides whether to list child jobs for row counts. */
function mayBeScript(sql: string, options: ExecuteOptions | undefined): boolean {
  if (options?.batch) return options.batch.statements.length > 1;
  const trimmed = sql.trimEnd().replace(/;$/, '');
  return trimmed.includes(';');
}

interface JobMetadata {
  jobReference?: { jobId?: string };
  statistics?: {
    sessionInfo?: { sessionId?: string };
    query?: { statementType?: string; numDmlAffectedRows?: string };
  };
  status?: {
    state?: string;
    errorResult?: { reason?: string; message?: string; location?: string };
    errors?: { reason?: string; message?: string; location?: string }[];
  };
}

/** Lookups of a job whose results' answer was lost, before the adapter gives up and reports it in doubt. */
const LOST_RESULTS_LOOKUPS = 5;

/** The request may have reached BigQuery and its answer was lost. */
function answerLost(facts: DriverErrorFacts): boolean {
  if (facts.httpStatus !== undefined) return facts.httpStatus === 409 || facts.httpStatus >= 500;
  // Without an HTTP answer, only a refused connection proves nothing was sent; look the job up otherwise.
  return !(facts.networkCode !== undefined && NOT_SENT_CODES.has(facts.networkCode));
}

/** BigQuery refused the request for its rate limits (the API's, or a job's quota). */
function rateLimited(facts: DriverErrorFacts): boolean {
  return (
    facts.httpStatus === 429 ||
    facts.errors.some((e) => e.reason === 'rateLimitExceeded' || e.reason === 'userRateLimitExceeded')
  );
}

/** Classification of a jobs.insert BigQuery answered with a refusal: nothing ran. */
function rateLimitedOrRefused(facts: DriverErrorFacts): ErrorClassification {
  const notSent = facts.networkCode !== undefined && NOT_SENT_CODES.has(facts.networkCode);
  return { transient: rateLimited(facts) || notSent, effect: 'none' };
}

/**
 * SQL Batcher adapter for Google BigQuery on `@google-cloud/bigquery` (8.x on Node 20, 9.x on Node
 * 22+), loaded lazily on first use.
 *
 * Each request runs as one BigQuery job through jobs.query; several statements make a script.
 * BigQuery scripts are not atomic, so `atomicMultiStatement` is false; `session()` opens a BigQuery
 * session and runs `BEGIN TRANSACTION` / `COMMIT TRANSACTION` / `ROLLBACK TRANSACTION` in it. There
 * is no SAVEPOINT in BigQuery.
 *
 * DML quotas favour few, large statements: keep the batcher's INSERT merging on and its `maxBytes`
 * at the adapter's ceiling (the default), so each job carries as many rows as fit.
 *
 * @example
 * ```ts
 * const adapter = new BigQueryAdapter({ projectId: 'your_project', keyFilename: 'path/to/credentials.json' });
 * await adapter.execute("INSERT INTO ds.users (id, name) VALUES (1, 'Ada')");
 * await adapter.close();
 * ```
 */
export class BigQueryAdapter implements Adapter {
  readonly name = 'bigquery';
  readonly capabilities: AdapterCapabilities;
  private readonly options: BigQueryAdapterOptions;
  private clientPromise: Promise<BigQueryClientLike> | undefined;
  private closed = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly openSessions = new Set<BigQueryTransactionSession>();

  /** @param options adapter options, or an existing `BigQuery` client. */
  constructor(options: BigQueryAdapterOptions | BigQueryClientLike = {}) {
    this.options = isClient(options) ? { client: options } : options;
    const maxQuerySize = this.options.maxQuerySize ?? BIGQUERY_DEFAULT_MAX_QUERY_SIZE;
    if (
      !Number.isInteger(maxQuerySize) ||
      maxQuerySize <= 0 ||
      maxQuerySize > BIGQUERY_MAX_QUERY_CHARACTERS
    ) {
      throw new ConfigurationError(
        `BigQueryAdapter: maxQuerySize must be an integer between 1 and ${BIGQUERY_MAX_QUERY_CHARACTERS} (BigQuery's 1,024K-character limit), got ${maxQuerySize}`,
      );
    }
    const maxConcurrency = this.options.maxConcurrency ?? 1;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
      throw new ConfigurationError(
        `BigQueryAdapter: maxConcurrency must be a positive integer, got ${maxConcurrency}`,
      );
    }
    this.capabilities = {
      maxQuerySize,
      multiStatement: true,
      atomicMultiStatement: false,
      transactions: true,
      savepoints: false,
      maxConcurrency,
      dialect: 'bigquery',
      // A multi-row VALUES column takes its rows' common type: only rows of one literal kind are merged.
      valuesCommonType: true,
    };
    if (this.options.client) this.clientPromise = Promise.resolve(this.options.client);
  }

  /** Run one request (a statement or a script) as a BigQuery job. Works detached. */
  readonly execute = (sql: string, options?: ExecuteOptions): Promise<ExecuteResult> =>
    this.track(this.run(sql, options, undefined));

  /** Open a BigQuery session for a transaction. The session itself is created by its first query. */
  async session(): Promise<AdapterSession> {
    if (this.closed) throw new ClosedError('BigQueryAdapter');
    const session = new BigQueryTransactionSession(this);
    this.openSessions.add(session);
    return session;
  }

  /** Classify a failure of `execute` or of a session call for the batcher's retry policy. */
  classifyError(error: unknown): ErrorClassification {
    const e = error as { name?: unknown; classification?: unknown; code?: unknown } | null;
    if (e && typeof e === 'object' && e.name === 'BigQueryError' && e.classification) {
      return e.classification as ErrorClassification;
    }
    // Closed adapter, the driver package missing, or a session whose id was lost: nothing was sent.
    if (
      e &&
      typeof e === 'object' &&
      (e.code === 'CLOSED' || e.code === 'CONFIGURATION' || e.code === 'SESSION_LOST')
    ) {
      return { transient: false, effect: 'none' };
    }
    return { transient: false, effect: 'unknown' };
  }

  /** Stop accepting requests, wait for running ones, and end the sessions still open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    await Promise.allSettled([...this.openSessions].map((s) => s.release()));
  }

  /** `await using adapter = new BigQueryAdapter(…)` closes it on scope exit. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal */
  sessionClosed(session: BigQueryTransactionSession): void {
    this.openSessions.delete(session);
  }

  /** @internal Run `sql`, in `session` when given. */
  async run(
    sql: string,
    options: ExecuteOptions | undefined,
    session: SessionState | undefined,
    flags: { internal?: boolean; commit?: boolean } = {},
  ): Promise<ExecuteResult> {
    if (this.closed && !flags.internal) throw new ClosedError('BigQueryAdapter');
    if (options?.signal?.aborted) {
      throw new BigQueryError('BigQuery request aborted before it was sent', {
        reason: 'ABORTED',
        classification: { transient: false, effect: 'none' },
      });
    }
    const bq = await this.client();
    const o = this.options;
    const request: Record<string, unknown> = { query: sql, useLegacySql: false };
    if (o.location !== undefined) request.location = o.location;
    if (o.labels !== undefined) request.labels = { ...o.labels };
    if (o.datasetId !== undefined) {
      request.defaultDataset = { datasetId: o.datasetId, ...(o.projectId ? { projectId: o.projectId } : {}) };
    }
    if (o.jobTimeoutMs !== undefined) request.jobTimeoutMs = o.jobTimeoutMs;
    if (session) {
      if (session.id === undefined) request.createSession = true;
      else request.connectionProperties = [{ key: 'session_id', value: session.id }];
    }
    const inTransaction = session?.inTransaction ?? false;
    const inputBlock = session?.inputTransaction === true;
    const fail = (err: unknown, override?: ErrorClassification): BigQueryError => {
      const facts = driverErrorFacts(err);
      const statementPosition = locateStatement(sql, options, facts.message);
      let classification =
        override ??
        classify(facts, {
          inTransaction,
          commit: flags.commit ?? false,
          statementCount: options?.batch?.statements.length,
          statementPosition,
        });
      // Inside the input's own transaction a statement that failed took the whole transaction with it
      // (BigQuery rolls it back): nothing of this request, nor of the earlier ones in the block, stays
      // (found in review: reported as applied part-way, and the run went on outside the block).
      if (
        session &&
        inputBlock &&
        (classification.effect === 'partial' || classification.effect === 'rolled-back')
      ) {
        classification = {
          transient: false,
          effect: 'rolled-back',
          transactionLost: true,
          connectionUsable: true,
        };
        session.inputTransaction = false;
      }
      if (session && session.id === undefined && request.createSession === true) {
        // BigQuery may have created the session, but a failed answer does not carry its id: the next
        // request would open another. Harmless when the request left nothing behind in it; when it
        // applied part of a script, that state is out of reach.
        const applied =
          classification.effect === 'partial'
            ? appliedStatements(sql, options, classification.statementPosition)
            : classification.effect === 'unknown' && !classification.transient
              ? appliedStatements(sql, options, undefined)
              : [];
        if (applied.some(leavesSessionState)) {
          session.lost = `the BigQuery session was created by a request that failed part-way (${facts.message}); its id is unknown, so the state that request left in it cannot be reached`;
        }
      }
      if (session && inTransaction && classification.effect === 'rolled-back' && !classification.transient) {
        // BigQuery rolled the transaction back when the statement failed.
        session.inTransaction = false;
      }
      return new BigQueryError(`BigQuery: ${facts.message}`, {
        ...(facts.httpStatus === undefined ? {} : { httpStatus: facts.httpStatus }),
        ...(facts.reason === undefined ? {} : { reason: facts.reason }),
        errors: facts.errors,
        classification,
      });
    };
    let result: unknown[];
    let sessionId: string | undefined;
    if ((o.jobMode ?? 'query') === 'insert') {
      ({ result, sessionId } = await this.runAsJob(bq, request, session, options?.signal, fail));
    } else {
      try {
        result = await bq.query(request);
      } catch (err) {
        throw fail(err);
      }
    }
    const rows = Array.isArray(result[0]) ? (result[0] as unknown[]) : [];
    const response = (result[2] ?? {}) as QueryResponse;
    sessionId ??= response.sessionInfo?.sessionId;
    if (session && session.id === undefined && sessionId) session.id = sessionId;
    let rowCount =
      response.numDmlAffectedRows === undefined ? undefined : Number(response.numDmlAffectedRows);
    const jobId = response.jobReference?.jobId;
    if (rowCount === undefined && jobId && (o.countScriptRows ?? true) && mayBeScript(sql, options)) {
      rowCount = await this.scriptRowCount(bq, jobId);
    }
    const out: ExecuteResult = { raw: response };
    if (rowCount !== undefined) out.rowCount = rowCount;
    if (response.schema !== undefined) out.rows = rows;
    if (session && options?.batch) {
      // (the input's own transaction control, which the batcher sends alone in its request)
      const only = options.batch.statements.length === 1 ? options.batch.statements[0]?.sql : undefined;
      const control = only === undefined ? undefined : inputControl(only);
      if (control === 'begin') session.inputTransaction = true;
      else if (control === 'end') session.inputTransaction = false;
    }
    return out;
  }

  /**
   * jobs.insert with an adapter-chosen job id, then getQueryResults. When the insert fails in any way but
   * a refused connection (a lost answer: 5xx, broken connection, a 409 because the client's own retry
   * found the job already created; or a refusal, which may come after the job ran), look the job up:
   * absent means it never ran; present means wait for it.
   */
  private async runAsJob(
    bq: BigQueryClientLike,
    request: Record<string, unknown>,
    session: SessionState | undefined,
    signal: AbortSignal | undefined,
    fail: (err: unknown, override?: ErrorClassification) => BigQueryError,
  ): Promise<{ result: unknown[]; sessionId: string | undefined }> {
    const jobId = `sqlbatcher_${randomUUID().replace(/-/g, '')}`;
    const location = this.options.location;
    let job: BigQueryJobLike;
    let metadata: JobMetadata | undefined;
    try {
      const created = await bq.createQueryJob({ ...request, jobId });
      job = created[0] as BigQueryJobLike;
      metadata = created[1] as JobMetadata | undefined;
    } catch (err) {
      const facts = driverErrorFacts(err);
      if (facts.networkCode !== undefined && NOT_SENT_CODES.has(facts.networkCode)) {
        // The connection was refused: nothing was sent.
        throw fail(err, rateLimitedOrRefused(facts));
      }
      // The job id is ours: whatever the answer said (a lost answer, or a refusal such as a table's quota,
      // which can come after the job ran: found in review), BigQuery says whether the job exists.
      job = bq.job(jobId, location === undefined ? {} : { location });
      try {
        [metadata] = (await job.getMetadata()) as [JobMetadata];
      } catch (lookup) {
        if (driverErrorFacts(lookup).httpStatus === 404) {
          // No job: BigQuery refused the insert, or it never arrived.
          throw fail(
            err,
            answerLost(facts) ? { transient: true, effect: 'none' } : rateLimitedOrRefused(facts),
          );
        }
        throw fail(err);
      }
    }
    let result: unknown[];
    try {
      result = await job.getQueryResults();
    } catch (err) {
      const facts = driverErrorFacts(err);
      if (!answerLost(facts) && !rateLimited(facts)) {
        // The job ran and failed: it still created the session when asked to.
        if (session && session.id === undefined) await learnSessionId(job, session, metadata);
        throw fail(err);
      }
      ({ result, metadata } = await this.recoverResults(job, jobId, err, session, signal, fail));
    }
    let sessionId = metadata?.statistics?.sessionInfo?.sessionId;
    if (session && session.id === undefined && sessionId === undefined) {
      try {
        const [latest] = (await job.getMetadata()) as [JobMetadata];
        sessionId = latest.statistics?.sessionInfo?.sessionId;
      } catch {
        // Without the id the next request opens a new session; the data of this one is in place.
      }
    }
    return { result, sessionId };
  }

  /**
   * The job exists (BigQuery accepted the insert) but the answer to getQueryResults was lost: ask
   * jobs.get for its outcome until it is DONE. A failed job is reported with its own errors (classified
   * like any job error); a job that succeeded is answered with its results, read again, or — for DML and
   * scripts, when the results cannot be read — with the affected rows from its statistics. Only when
   * BigQuery cannot be asked does the failure stay in doubt.
   */
  private async recoverResults(
    job: BigQueryJobLike,
    jobId: string,
    lost: unknown,
    session: SessionState | undefined,
    signal: AbortSignal | undefined,
    fail: (err: unknown, override?: ErrorClassification) => BigQueryError,
  ): Promise<{ result: unknown[]; metadata: JobMetadata | undefined }> {
    let lookupFailures = 0;
    let resultFailures = 0;
    for (let poll = 0; ; poll++) {
      // (closed, or the caller stopped waiting: the job's outcome stays unknown)
      if (this.closed || signal?.aborted) throw fail(lost);
      let latest: JobMetadata;
      try {
        [latest] = (await job.getMetadata()) as [JobMetadata];
      } catch (err) {
        const facts = driverErrorFacts(err);
        if (++lookupFailures >= LOST_RESULTS_LOOKUPS || !(answerLost(facts) || rateLimited(facts))) {
          throw fail(lost);
        }
        await delay(Math.min(2_000, 100 * 2 ** lookupFailures));
        continue;
      }
      const status = latest.status;
      if (status?.state !== 'DONE') {
        await delay(Math.min(1_000, 50 * 2 ** Math.min(poll, 5)));
        continue;
      }
      if (status.errorResult) {
        if (session && session.id === undefined) await learnSessionId(job, session, latest);
        // The job's own errors (no HTTP status): classified as the job error they are.
        const errors = status.errors?.length ? status.errors : [status.errorResult];
        throw fail({ message: status.errorResult.message ?? 'job failed', errors });
      }
      try {
        return { result: await job.getQueryResults(), metadata: latest };
      } catch (err) {
        const statementType = latest.statistics?.query?.statementType;
        if (statementType !== undefined && statementType !== 'SELECT') {
          // DML, DDL or a script that succeeded: what the batcher needs is in the job's statistics.
          const n = latest.statistics?.query?.numDmlAffectedRows;
          const response = { jobReference: { jobId }, ...(n === undefined ? {} : { numDmlAffectedRows: n }) };
          return { result: [[], null, response], metadata: latest };
        }
        const facts = driverErrorFacts(err);
        if (++resultFailures >= LOST_RESULTS_LOOKUPS || !(answerLost(facts) || rateLimited(facts))) {
          throw fail(err);
        }
      }
    }
  }

  /** Sum of the child jobs' affected rows; undefined when it cannot be read (the script did run). */
  private async scriptRowCount(bq: BigQueryClientLike, jobId: string): Promise<number | undefined> {
    try {
      const [children] = (await bq.getJobs({ parentJobId: jobId, autoPaginate: true })) as [
        { metadata?: { statistics?: { query?: { numDmlAffectedRows?: string } } } }[],
      ];
      let sum: number | undefined;
      for (const child of children ?? []) {
        const n = child.metadata?.statistics?.query?.numDmlAffectedRows;
        if (n !== undefined) sum = (sum ?? 0) + Number(n);
      }
      return sum;
    } catch {
      return undefined;
    }
  }

  /** @internal Track a request so `close()` can wait for it. */
  track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    const done = (): void => {
      this.inFlight.delete(promise);
    };
    promise.then(done, done);
    return promise;
  }

  private client(): Promise<BigQueryClientLike> {
    if (!this.clientPromise) {
      const o = this.options;
      this.clientPromise = import('@google-cloud/bigquery').then(
        (mod) => {
          const config: Record<string, unknown> = {};
          if (o.projectId !== undefined) config.projectId = o.projectId;
          if (o.location !== undefined) config.location = o.location;
          if (o.keyFilename !== undefined) config.keyFilename = o.keyFilename;
          if (o.credentials !== undefined) config.credentials = o.credentials;
          if (o.apiEndpoint !== undefined) config.apiEndpoint = o.apiEndpoint;
          if (o.authClient !== undefined) config.authClient = o.authClient;
          if (o.retryOptions !== undefined) config.retryOptions = o.retryOptions;
          // Named export from ESM, or through `default` when a bundler wraps the CommonJS module.
          const BigQuery = mod.BigQuery ?? (mod as unknown as { default: typeof mod }).default.BigQuery;
          return new BigQuery(config) as unknown as BigQueryClientLike;
        },
        (err: unknown) => {
          this.clientPromise = undefined;
          throw new ConfigurationError(
            `BigQueryAdapter needs the @google-cloud/bigquery package (npm i @google-cloud/bigquery): ${
              err instanceof Error ? err.message : String(err)
            }`,
          );
        },
      );
    }
    return this.clientPromise;
  }
}

/**
 * The input's own transaction control: `BEGIN [TRANSACTION]` (not a `BEGIN … END` script block) begins,
 * `COMMIT` / `ROLLBACK [TRANSACTION]` ends; read by the lexer, comments and all (found in review: a bare
 * `BEGIN` was missed).
 */
function inputControl(sql: string): 'begin' | 'end' | undefined {
  const lexed = lexStatement(sql, 'bigquery');
  if (lexed.kind !== 'transaction') return undefined;
  const control = blockControl(lexed.text);
  if (control === 'begin') return 'begin';
  return control === 'commit' || control === 'rollback' ? 'end' : undefined;
}

/** Message BigQuery gives for COMMIT/ROLLBACK outside a transaction. */
const NO_TRANSACTION = /only allowed inside a transaction|no (?:active|current) transaction/i;

/** A BigQuery session holding one transaction at a time. Calls run one after another. */
class BigQueryTransactionSession implements AdapterSession, SessionState {
  id: string | undefined = undefined;
  inTransaction = false;
  inputTransaction = false;
  private released = false;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly adapter: BigQueryAdapter) {}

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return this.adapter.track(next);
  }

  lost: string | undefined = undefined;

  private ensureOpen(): void {
    if (this.released) throw new ClosedError('BigQuery session');
  }

  /** Refuse to run in a fresh session what belongs in the one whose id was lost (nothing is sent). */
  private ensureReachable(): void {
    if (this.lost !== undefined) throw new SQLBatcherError('SESSION_LOST', this.lost);
  }

  execute(sql: string, options?: ExecuteOptions): Promise<ExecuteResult> {
    return this.serial(() => {
      this.ensureOpen();
      this.ensureReachable();
      return this.adapter.run(sql, options, this);
    });
  }

  begin(): Promise<void> {
    return this.serial(async () => {
      this.ensureOpen();
      this.ensureReachable();
      await this.adapter.run('BEGIN TRANSACTION', undefined, this);
      this.inTransaction = true;
    });
  }

  commit(): Promise<void> {
    return this.serial(async () => {
      this.ensureOpen();
      try {
        await this.adapter.run('COMMIT TRANSACTION', undefined, this, { commit: true });
        this.inTransaction = false;
      } catch (err) {
        // A COMMIT refused before it ran (a rate limit) leaves the transaction open: rollback() ends
        // it. One that ran and failed ended it (a ROLLBACK then meets "no transaction", which is fine).
        const effect = (err as { classification?: { effect?: string } }).classification?.effect;
        if (effect !== 'none') this.inTransaction = false;
        throw err;
      }
    });
  }

  rollback(): Promise<void> {
    return this.serial(async () => {
      this.ensureOpen();
      // (also the input's own transaction: the batcher's rollback() ends it; BigQuery already rolled
      // either back when a statement in it failed)
      if (!this.inTransaction && !this.inputTransaction) return;
      try {
        await this.adapter.run('ROLLBACK TRANSACTION', undefined, this, { internal: true });
      } catch (err) {
        if (!(err instanceof Error && NO_TRANSACTION.test(err.message))) throw err;
      } finally {
        this.inTransaction = false;
        this.inputTransaction = false;
      }
    });
  }

  /** End the BigQuery session (`CALL BQ.ABORT_SESSION()`, which also rolls back an open transaction). */
  release(_broken?: boolean): Promise<void> {
    return this.serial(async () => {
      if (this.released) return;
      this.released = true;
      this.adapter.sessionClosed(this);
      if (this.id === undefined) return;
      try {
        await this.adapter.run('CALL BQ.ABORT_SESSION()', undefined, this, { internal: true });
      } catch {
        // The session expires on its own after inactivity; nothing depends on ending it now.
      }
      this.inTransaction = false;
    });
  }
}
