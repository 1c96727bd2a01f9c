/**
 * Snowflake error payloads. Codes, SQLSTATEs and message shapes are the ones Snowflake returns (checked
 * against error reports from users of the official connectors); where no real counterpart exists the
 * message says it comes from the test server.
 */

/** An error the server reports as `{ success: false, code, message, data: { sqlState, … } }`. */
export class SnowflakeServerError extends Error {
  /** Snowflake's six-digit error code, e.g. `002003`. */
  readonly code: string;
  readonly sqlState: string;
  /** `COMPILATION` or `EXECUTION`, as in Snowflake's payloads. */
  readonly type: 'COMPILATION' | 'EXECUTION';
  /** Whether any statement of the request had run when the error happened. */
  executedBefore = false;
  constructor(code: string, sqlState: string, message: string, type: 'COMPILATION' | 'EXECUTION') {
    super(message);
    this.name = 'SnowflakeServerError';
    this.code = code;
    this.sqlState = sqlState;
    this.type = type;
  }
}

/** `000008 (0A000)`: the request holds a different number of statements than `MULTI_STATEMENT_COUNT`. */
export const statementCountMismatch = (actual: number, desired: number): SnowflakeServerError =>
  new SnowflakeServerError(
    '000008',
    '0A000',
    `Actual statement count ${actual} did not match the desired statement count ${desired}.`,
    'COMPILATION',
  );

/** `001003 (42000)`: Snowflake's parser error, e.g. for `SAVEPOINT`, which Snowflake does not have. */
export const syntaxError = (line: number, position: number, token: string): SnowflakeServerError =>
  new SnowflakeServerError(
    '001003',
    '42000',
    `SQL compilation error:\nsyntax error line ${line} at position ${position} unexpected '${token}'.`,
    'COMPILATION',
  );

/** `001795 (42601)`: a VALUES list over 16,384 rows. */
export const tooManyValuesRows = (line: number, position: number, rows: number): SnowflakeServerError =>
  new SnowflakeServerError(
    '001795',
    '42601',
    `SQL compilation error: error line ${line} at position ${position}\nmaximum number of expressions in a list exceeded, expected at most 16,384, got ${rows.toLocaleString('en-US')}`,
    'COMPILATION',
  );

/**
 * Request text over the server's `maxStatementBytes`. Snowflake documents ~1 MB per request as the
 * limit clients must stay under; this payload is the test server's, not a copy of a real one.
 */
export const textTooLarge = (bytes: number, limit: number): SnowflakeServerError =>
  new SnowflakeServerError(
    '001030',
    '54000',
    `SQL compilation error:\nquery text of ${bytes} bytes exceeds the maximum of ${limit} bytes (test server limit).`,
    'COMPILATION',
  );

/** `000625 (57014)`: another session's transaction holds the lock for longer than the lock timeout. */
export const lockTimeout = (sqlText: string, ms: number): SnowflakeServerError =>
  new SnowflakeServerError(
    '000625',
    '57014',
    `Statement '${sqlText.slice(0, 60)}' waited more than ${ms} ms for a lock held by another session's transaction and was aborted.`,
    'EXECUTION',
  );

/**
 * A failure inside a multi-statement request: Snowflake runs those through `SYSTEM$MULTISTMT` and reports
 * `100132 (P0000)` naming the failing statement's line and position; the statements before it have
 * already been committed (unless an explicit transaction is open).
 */
export const multiStatementFailure = (
  inner: SnowflakeServerError,
  statementText: string,
  line: number,
  position: number,
): SnowflakeServerError => {
  const flat = statementText.replace(/\s+/g, ' ').trim();
  const shown = flat.length > 30 ? `${flat.slice(0, 30)}...` : flat;
  const err = new SnowflakeServerError(
    '100132',
    'P0000',
    `JavaScript execution error: Uncaught Execution of multiple statements failed on statement "${shown}" (at line ${line}, position ${position}).\n${inner.message} in SYSTEM$MULTISTMT at '    throw \`Execution of multiple statements failed on statement {0} (at line {1}, position {2}).\`.replace('{1}', LINES[i])' position 4\nstackstrace: \nSYSTEM$MULTISTMT line: 10`,
    'EXECUTION',
  );
  return err;
};

interface PgErrorLike {
  code?: unknown;
  message?: unknown;
  table?: unknown;
  column?: unknown;
}

/** Quotes a name the way Snowflake prints identifiers in messages (upper-case unless it was quoted). */
const shout = (name: string): string => name.toUpperCase();

/** Maps a PostgreSQL error raised by PGlite to the Snowflake error a user would see for the same fault. */
export function fromPgError(err: unknown): SnowflakeServerError {
  const e = (err && typeof err === 'object' ? err : {}) as PgErrorLike;
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : String(err);
  const quoted = /"([^"]+)"/.exec(message)?.[1] ?? '';
  switch (code) {
    case '42P01':
      return new SnowflakeServerError(
        '002003',
        '42S02',
        `SQL compilation error:\nObject '${shout(quoted)}' does not exist or not authorized.`,
        'COMPILATION',
      );
    case '42703':
      return new SnowflakeServerError(
        '000904',
        '42000',
        `SQL compilation error: error line 1 at position 0\ninvalid identifier '${shout(quoted)}'`,
        'COMPILATION',
      );
    case '42P07':
      return new SnowflakeServerError(
        '002002',
        '42710',
        `SQL compilation error:\nObject '${shout(quoted)}' already exists.`,
        'COMPILATION',
      );
    case '42601':
      return new SnowflakeServerError('001003', '42000', `SQL compilation error:\n${message}`, 'COMPILATION');
    case '23502':
      return new SnowflakeServerError(
        '100072',
        '22000',
        `NULL result in a non-nullable column '${shout(typeof e.column === 'string' ? e.column : quoted)}'`,
        'EXECUTION',
      );
    case '22P02':
    case '22003':
      return new SnowflakeServerError(
        '100038',
        '22018',
        `Numeric value is not recognized: ${message}`,
        'EXECUTION',
      );
    default:
      // No Snowflake counterpart (e.g. 23505: Snowflake does not enforce UNIQUE / PRIMARY KEY).
      return new SnowflakeServerError(
        '100000',
        code || 'XX000',
        `${message} (PostgreSQL ${code || 'error'} in the test server)`,
        'EXECUTION',
      );
  }
}
