/**
 * Runs Snowflake statements on PGlite with Snowflake's session and transaction semantics:
 * autocommit per statement, BEGIN/COMMIT/ROLLBACK per session, a failed statement inside a transaction
 * leaves the transaction open (emulated with an internal savepoint around each statement), DDL commits
 * an open transaction first, and there is no SAVEPOINT.
 *
 * PGlite is one PostgreSQL backend, so every session shares it: a session's open transaction holds it
 * until COMMIT/ROLLBACK, and statements of other sessions wait (up to `lockTimeoutMs`, then fail with
 * Snowflake's lock-timeout error). Real Snowflake lets other sessions read meanwhile; tests must not
 * depend on that.
 */
import type { PGlite } from '@electric-sql/pglite';
import { fromPgError, lockTimeout, SnowflakeServerError, syntaxError, tooManyValuesRows } from './errors.js';
import { FifoLock } from './lock.js';
import type { ScannedStatement } from './sql-text.js';

/** Snowflake's limit on rows in one VALUES list. */
export const MAX_VALUES_ROWS = 16_384;

/** Statement type ids the SDK inspects (`statement_type.js`): 0x3100 insert, 0x3200 update, … */
export const StatementTypeId = {
  select: 0x1000,
  insert: 0x3100,
  update: 0x3200,
  delete: 0x3300,
  merge: 0x3400,
  transaction: 0x5000,
  ddl: 0x6000,
} as const;

/** One column of a JSON result (`rowtype` entry). */
export interface RowType {
  name: string;
  database: string;
  schema: string;
  table: string;
  type: 'fixed' | 'real' | 'text' | 'boolean';
  scale: number | null;
  precision: number | null;
  length: number | null;
  byteLength: number | null;
  nullable: boolean;
  collation: null;
}

/** The result of one statement, in Snowflake's JSON result format. */
export interface StatementResult {
  rowtype: RowType[];
  rowset: Array<Array<string | null>>;
  statementTypeId: number;
  /** Rows inserted/updated/deleted, for the request log. */
  affected: number;
}

const column = (name: string, type: RowType['type']): RowType => ({
  name,
  database: '',
  schema: '',
  table: '',
  type,
  scale: type === 'fixed' ? 0 : null,
  precision: type === 'fixed' ? 19 : null,
  length: type === 'text' ? 16_777_216 : null,
  byteLength: type === 'text' ? 16_777_216 : null,
  nullable: true,
  collation: null,
});

const status = (message: string, statementTypeId: number): StatementResult => ({
  rowtype: [column('status', 'text')],
  rowset: [[message]],
  statementTypeId,
  affected: 0,
});

// TRUNCATE is DML in Snowflake (it does not commit an open transaction).
const DDL = new Set(['CREATE', 'ALTER', 'DROP', 'UNDROP', 'GRANT', 'REVOKE', 'COMMENT']);
const SESSION_NOOPS = new Set(['USE']);

function pgTypeToSnowflake(oid: number): RowType['type'] {
  switch (oid) {
    case 16:
      return 'boolean';
    case 20:
    case 21:
    case 23:
    case 26:
      return 'fixed';
    case 700:
    case 701:
    case 1700:
      return 'real';
    default:
      return 'text';
  }
}

function cell(value: unknown, type: RowType['type']): string | null {
  if (value === null || value === undefined) return null;
  if (type === 'boolean') return value ? '1' : '0';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object' && !(value instanceof Uint8Array)) return JSON.stringify(value);
  return String(value);
}

/** Per-session state. */
export interface EngineSession {
  readonly id: number;
  inTransaction: boolean;
  /** Releases the shared backend held by this session's open transaction. */
  releaseBackend: (() => void) | undefined;
  /** Serialises this session's requests. */
  readonly requests: FifoLock;
}

/** The shared PGlite backend plus the lock that stands for Snowflake's table locks. */
export class Engine {
  readonly db: PGlite;
  readonly backend = new FifoLock();
  readonly lockTimeoutMs: number;

  constructor(db: PGlite, lockTimeoutMs: number) {
    this.db = db;
    this.lockTimeoutMs = lockTimeoutMs;
  }

  async #acquire(stmt: ScannedStatement): Promise<() => void> {
    return this.backend.acquire(this.lockTimeoutMs, () => lockTimeout(stmt.text.trim(), this.lockTimeoutMs));
  }

  /** Checks Snowflake's compile-time rules before anything runs. */
  static check(stmt: ScannedStatement): void {
    const k = stmt.keyword;
    if (k === 'SAVEPOINT' || (k === 'RELEASE' && stmt.secondKeyword === 'SAVEPOINT')) {
      throw syntaxError(stmt.line, stmt.position, k);
    }
    if (k === 'ROLLBACK' && stmt.secondKeyword === 'TO') {
      throw syntaxError(stmt.line, stmt.position + 9, 'TO');
    }
    if (stmt.maxValuesRows > MAX_VALUES_ROWS) {
      throw tooManyValuesRows(stmt.valuesLine, stmt.valuesPosition, stmt.maxValuesRows);
    }
  }

  /** Runs one statement for `session`. Errors are {@link SnowflakeServerError}s. */
  async run(session: EngineSession, stmt: ScannedStatement): Promise<StatementResult> {
    Engine.check(stmt);
    const k = stmt.keyword;
    const second = stmt.secondKeyword;
    if (
      (k === 'BEGIN' &&
        (second === '' || second === 'TRANSACTION' || second === 'WORK' || second === 'NAME')) ||
      (k === 'START' && second === 'TRANSACTION')
    ) {
      if (!session.inTransaction) {
        session.releaseBackend = await this.#acquire(stmt);
        try {
          await this.db.query('BEGIN');
        } catch (err) {
          session.releaseBackend();
          session.releaseBackend = undefined;
          throw fromPgError(err);
        }
        session.inTransaction = true;
      }
      return status('Statement executed successfully.', StatementTypeId.transaction);
    }
    if (k === 'COMMIT' || k === 'ROLLBACK') {
      if (session.inTransaction) await this.endTransaction(session, k);
      return status('Statement executed successfully.', StatementTypeId.transaction);
    }
    if (SESSION_NOOPS.has(k) || (k === 'ALTER' && second === 'SESSION')) {
      return status('Statement executed successfully.', StatementTypeId.transaction);
    }
    if (DDL.has(k)) {
      // Snowflake commits an open transaction before running DDL in its own transaction.
      if (session.inTransaction) await this.endTransaction(session, 'COMMIT');
      return this.#autocommit(stmt, StatementTypeId.ddl);
    }
    if (session.inTransaction) return this.#inTransaction(stmt);
    return this.#autocommit(stmt, undefined);
  }

  /** COMMIT or ROLLBACK the session's transaction and free the backend. */
  async endTransaction(session: EngineSession, how: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    try {
      await this.db.query(how);
    } finally {
      session.inTransaction = false;
      const release = session.releaseBackend;
      session.releaseBackend = undefined;
      release?.();
    }
  }

  async #autocommit(stmt: ScannedStatement, typeOverride: number | undefined): Promise<StatementResult> {
    const release = await this.#acquire(stmt);
    try {
      return await this.#query(stmt, typeOverride);
    } finally {
      release();
    }
  }

  async #inTransaction(stmt: ScannedStatement): Promise<StatementResult> {
    // Statement-level rollback: a failed statement must not abort the Snowflake transaction.
    await this.db.query('SAVEPOINT sf_testkit_stmt');
    try {
      const result = await this.#query(stmt, undefined);
      await this.db.query('RELEASE SAVEPOINT sf_testkit_stmt');
      return result;
    } catch (err) {
      await this.db.query('ROLLBACK TO SAVEPOINT sf_testkit_stmt');
      await this.db.query('RELEASE SAVEPOINT sf_testkit_stmt');
      throw err;
    }
  }

  async #query(stmt: ScannedStatement, typeOverride: number | undefined): Promise<StatementResult> {
    let res: Awaited<ReturnType<PGlite['query']>>;
    try {
      res = await this.db.query(stmt.pgText, [], { rowMode: 'array' });
    } catch (err) {
      throw err instanceof SnowflakeServerError ? err : fromPgError(err);
    }
    const affected = res.affectedRows ?? 0;
    switch (stmt.keyword) {
      case 'INSERT':
        return {
          rowtype: [column('number of rows inserted', 'fixed')],
          rowset: [[String(affected)]],
          statementTypeId: StatementTypeId.insert,
          affected,
        };
      case 'UPDATE':
        return {
          rowtype: [
            column('number of rows updated', 'fixed'),
            column('number of multi-joined rows updated', 'fixed'),
          ],
          rowset: [[String(affected), '0']],
          statementTypeId: StatementTypeId.update,
          affected,
        };
      case 'DELETE':
        return {
          rowtype: [column('number of rows deleted', 'fixed')],
          rowset: [[String(affected)]],
          statementTypeId: StatementTypeId.delete,
          affected,
        };
      default:
        break;
    }
    if (res.fields.length === 0) {
      return status('Statement executed successfully.', typeOverride ?? StatementTypeId.ddl);
    }
    const rowtype = res.fields.map((f) => column(f.name.toUpperCase(), pgTypeToSnowflake(f.dataTypeID)));
    const rowset = (res.rows as unknown[][]).map((row) =>
      row.map((v, i) => cell(v, rowtype[i]?.type ?? 'text')),
    );
    return { rowtype, rowset, statementTypeId: typeOverride ?? StatementTypeId.select, affected: 0 };
  }
}
