/** Trino's error payload inside a query result (`QueryResults.error`). */
export interface TrinoErrorPayload {
  message: string;
  errorCode: number;
  errorName: string;
  /** `USER_ERROR`, `INTERNAL_ERROR`, `INSUFFICIENT_RESOURCES` or `EXTERNAL`. */
  errorType: string;
  errorLocation?: { lineNumber: number; columnNumber: number };
  failureInfo: { type: string; message: string; suppressed: string[]; stack: string[] };
}

/** A few of Trino's `StandardErrorCode`s, with their real codes and types. */
export const TRINO_ERROR_CODES = {
  GENERIC_USER_ERROR: [0, 'USER_ERROR'],
  SYNTAX_ERROR: [1, 'USER_ERROR'],
  USER_CANCELED: [3, 'USER_ERROR'],
  FUNCTION_NOT_FOUND: [6, 'USER_ERROR'],
  DIVISION_BY_ZERO: [8, 'USER_ERROR'],
  INVALID_CAST_ARGUMENT: [9, 'USER_ERROR'],
  NOT_SUPPORTED: [13, 'USER_ERROR'],
  CONSTRAINT_VIOLATION: [16, 'USER_ERROR'],
  NUMERIC_VALUE_OUT_OF_RANGE: [19, 'USER_ERROR'],
  NOT_IN_TRANSACTION: [21, 'USER_ERROR'],
  INCOMPATIBLE_CLIENT: [27, 'USER_ERROR'],
  QUERY_TEXT_TOO_LARGE: [35, 'USER_ERROR'],
  CATALOG_NOT_FOUND: [44, 'USER_ERROR'],
  SCHEMA_NOT_FOUND: [45, 'USER_ERROR'],
  TABLE_NOT_FOUND: [46, 'USER_ERROR'],
  COLUMN_NOT_FOUND: [47, 'USER_ERROR'],
  SCHEMA_ALREADY_EXISTS: [49, 'USER_ERROR'],
  TABLE_ALREADY_EXISTS: [50, 'USER_ERROR'],
  TYPE_MISMATCH: [58, 'USER_ERROR'],
  GENERIC_INTERNAL_ERROR: [65536, 'INTERNAL_ERROR'],
  GENERIC_INSUFFICIENT_RESOURCES: [131072, 'INSUFFICIENT_RESOURCES'],
  EXCEEDED_GLOBAL_MEMORY_LIMIT: [131073, 'INSUFFICIENT_RESOURCES'],
  QUERY_QUEUE_FULL: [131074, 'INSUFFICIENT_RESOURCES'],
  EXCEEDED_TIME_LIMIT: [131075, 'INSUFFICIENT_RESOURCES'],
  CLUSTER_OUT_OF_MEMORY: [131076, 'INSUFFICIENT_RESOURCES'],
  EXCEEDED_LOCAL_MEMORY_LIMIT: [131079, 'INSUFFICIENT_RESOURCES'],
} as const satisfies Record<string, readonly [number, string]>;

/** Name of a Trino error code this server knows. */
export type TrinoErrorName = keyof typeof TRINO_ERROR_CODES;

/** Build an error payload shaped like Trino's. */
export function trinoError(
  name: TrinoErrorName,
  message: string,
  location?: { lineNumber: number; columnNumber: number },
): TrinoErrorPayload {
  const [errorCode, errorType] = TRINO_ERROR_CODES[name];
  const located = location ? `line ${location.lineNumber}:${location.columnNumber}: ${message}` : message;
  return {
    message: located,
    errorCode,
    errorName: name,
    errorType,
    ...(location ? { errorLocation: location } : {}),
    failureInfo: { type: 'io.trino.spi.TrinoException', message: located, suppressed: [], stack: [] },
  };
}

/** Map a PostgreSQL SQLSTATE (from PGlite) to the nearest Trino error name. */
export function errorNameForSqlState(sqlState: string | undefined): TrinoErrorName {
  switch (sqlState) {
    case '42601':
      return 'SYNTAX_ERROR';
    case '42P01':
      return 'TABLE_NOT_FOUND';
    case '42703':
      return 'COLUMN_NOT_FOUND';
    case '42P07':
      return 'TABLE_ALREADY_EXISTS';
    case '42P06':
      return 'SCHEMA_ALREADY_EXISTS';
    case '3F000':
      return 'SCHEMA_NOT_FOUND';
    case '42883':
      return 'FUNCTION_NOT_FOUND';
    case '42804':
      return 'TYPE_MISMATCH';
    case '22012':
      return 'DIVISION_BY_ZERO';
    case '22003':
      return 'NUMERIC_VALUE_OUT_OF_RANGE';
    case '22P02':
    case '22007':
    case '22008':
      return 'INVALID_CAST_ARGUMENT';
  }
  if (sqlState?.startsWith('23')) return 'CONSTRAINT_VIOLATION';
  if (sqlState?.startsWith('42') || sqlState?.startsWith('22')) return 'GENERIC_USER_ERROR';
  return 'GENERIC_INTERNAL_ERROR';
}
