import { ClosedError } from '../errors.js';
import type { Dialect } from '../lexer/dialect.js';
import type {
  Adapter,
  AdapterCapabilities,
  AdapterSession,
  BatchStatement,
  ErrorClassification,
  ExecuteOptions,
  ExecuteResult,
} from './adapter.js';

/** Options of {@link GenericAdapter}. */
export interface GenericAdapterOptions {
  /** Runs one request's SQL. Its resolved value is inspected for `rowCount` / `affectedRows` / `rows`. */
  execute: (sql: string, options?: ExecuteOptions) => Promise<unknown> | unknown;
  /** Called once by `close()`. */
  close?: () => Promise<void> | void;
  /** The underlying connection, kept for the caller's convenience. */
  connection?: unknown;
  /** Hard ceiling in UTF-8 bytes (default 1_000_000). */
  maxQuerySize?: number;
  /** Lexer dialect (default `generic`). */
  dialect?: Dialect;
  /** Declared capabilities; the default is the conservative single-statement, no-transaction set. */
  capabilities?: Partial<AdapterCapabilities>;
  /** Pinned sessions, required to declare `transactions: true`. */
  session?: () => Promise<AdapterSession>;
  /**
   * How a failure is classified (see {@link Adapter.classifyError}). Without it no failure is retried,
   * and only a failed one-statement request is taken as rolled back (not after a network error); every
   * other failure may have been applied (`report.inDoubt` under `onError: 'skip' | 'isolate'`).
   */
  classifyError?: (error: unknown) => ErrorClassification;
  /** See {@link Adapter.canRunConcurrently}. */
  canRunConcurrently?: (statements: readonly BatchStatement[]) => Promise<boolean> | boolean;
  /** See {@link Adapter.canMergeUpserts}. */
  canMergeUpserts?: (statement: BatchStatement) => Promise<boolean> | boolean;
  /** Adapter name for messages (default `generic`). */
  name?: string;
}

/** Normalise a driver's result into an {@link ExecuteResult}. */
export function toExecuteResult(raw: unknown): ExecuteResult {
  if (raw === null || typeof raw !== 'object') return { raw };
  const r = raw as { rowCount?: unknown; affectedRows?: unknown; rows?: unknown; changes?: unknown };
  const out: { rowCount?: number; rows?: unknown[]; raw: unknown } = { raw };
  const count = r.rowCount ?? r.affectedRows ?? r.changes;
  if (typeof count === 'number') out.rowCount = count;
  if (Array.isArray(r.rows)) out.rows = r.rows;
  else if (Array.isArray(raw)) out.rows = raw;
  return out;
}

/** An adapter for any database, from an `execute` function. */
export class GenericAdapter implements Adapter, AsyncDisposable {
  readonly name: string;
  readonly capabilities: AdapterCapabilities;
  /** The connection given in the options. */
  readonly connection: unknown;
  private closed = false;
  private readonly options: GenericAdapterOptions;

  constructor(options: GenericAdapterOptions) {
    if (typeof options?.execute !== 'function')
      throw new TypeError('GenericAdapter: options.execute must be a function');
    this.options = options;
    this.name = options.name ?? 'generic';
    this.connection = options.connection;
    const caps: AdapterCapabilities = {
      maxQuerySize: options.maxQuerySize ?? 1_000_000,
      multiStatement: false,
      atomicMultiStatement: false,
      transactions: false,
      savepoints: false,
      dialect: options.dialect ?? 'generic',
      ...options.capabilities,
    };
    if (caps.transactions && !options.session) {
      throw new TypeError('GenericAdapter: capabilities.transactions requires a session() option');
    }
    this.capabilities = Object.freeze(caps);
    if (options.session) {
      const make = options.session;
      this.session = () => {
        if (this.closed) return Promise.reject(new ClosedError(`${this.name} adapter`));
        return make();
      };
    }
    if (options.classifyError) this.classifyError = options.classifyError;
    if (options.canRunConcurrently) this.canRunConcurrently = options.canRunConcurrently;
    if (options.canMergeUpserts) this.canMergeUpserts = options.canMergeUpserts;
  }

  session?: () => Promise<AdapterSession>;
  classifyError?: (error: unknown) => ErrorClassification;
  canRunConcurrently?: (statements: readonly BatchStatement[]) => Promise<boolean> | boolean;
  canMergeUpserts?: (statement: BatchStatement) => Promise<boolean> | boolean;

  /** Executes one request; works detached. */
  readonly execute = async (sql: string, options?: ExecuteOptions): Promise<ExecuteResult> => {
    if (this.closed) throw new ClosedError(`${this.name} adapter`);
    return toExecuteResult(await this.options.execute(sql, options));
  };

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.options.close?.();
  }

  /** `await using adapter = new GenericAdapter(…)` closes it. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
