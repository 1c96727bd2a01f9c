/**
 * The few shapes of `snowflake-sdk` the adapter uses, declared structurally so that the adapter's types
 * do not depend on the driver's (it is a peer dependency, loaded lazily).
 */

/** A statement object as passed to `execute`'s `complete` callback. */
export interface SnowflakeStatementLike {
  getNumUpdatedRows?(): number | undefined;
  getQueryId?(): string | undefined;
  /** Present on statements of a multi-statement request. */
  hasNext?: () => boolean;
  /** Fetches the next result of a multi-statement request; `complete` is called again. */
  NextResult?: () => void;
  cancel?(callback?: (err: unknown) => void): void;
}

/** `complete(err, stmt, rows)` of `connection.execute`. */
export type SnowflakeComplete = (err: unknown, stmt: SnowflakeStatementLike, rows?: unknown[]) => void;

/** A `snowflake-sdk` connection (one Snowflake session). */
export interface SnowflakeConnectionLike {
  execute(options: {
    sqlText: string;
    parameters?: Record<string, unknown>;
    complete?: SnowflakeComplete;
  }): SnowflakeStatementLike;
  connectAsync?(callback?: (err: unknown, conn: unknown) => void): Promise<unknown>;
  connect?(callback: (err: unknown, conn: unknown) => void): unknown;
  destroy(callback: (err: unknown, conn: unknown) => void): unknown;
  isUp?(): boolean;
}

/** The `snowflake-sdk` module. */
export interface SnowflakeSdkLike {
  createConnection(options: Record<string, unknown>): SnowflakeConnectionLike;
  configure?(options: Record<string, unknown>): void;
}
