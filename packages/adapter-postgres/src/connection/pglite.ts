import { QueryCancelledError } from '../errors/classify.js';
import { mutexFor } from './mutex.js';
import {
  affected,
  type Connection,
  type ConnectionSource,
  type PGliteLike,
  type QueryOutcome,
} from './types.js';

function checkSignal(signal: AbortSignal | undefined): void {
  // PGlite runs a query synchronously inside WebAssembly: it cannot be cancelled once started.
  if (signal?.aborted) {
    throw new QueryCancelledError('request not sent: its signal was aborted', {
      reason: signal.reason,
      sent: false,
    });
  }
}

/** The one connection of a PGlite instance, held exclusively while pinned. */
export class PGliteConnection implements Connection {
  readonly driver = 'pglite' as const;
  readonly destroyable = false;
  /** A transaction block was open when this connection was taken (the caller's own): never ended here. */
  private readonly blockAtAcquire: boolean;
  constructor(
    private readonly db: PGliteLike,
    private readonly unlock: () => void,
  ) {
    this.blockAtAcquire = this.inTransactionBlock() === true;
  }

  async simple(sql: string, signal?: AbortSignal): Promise<QueryOutcome> {
    checkSignal(signal);
    const results = await this.db.exec(sql);
    let rowCount = 0;
    for (const r of results) rowCount += affected(r.command, r.rowCount);
    return { rowCount, rows: results[results.length - 1]?.rows ?? [], raw: results };
  }

  async params(sql: string, values: unknown[], _name?: string): Promise<Record<string, unknown>[]> {
    return (await this.db.query(sql, values)).rows as Record<string, unknown>[];
  }

  inFailedBlock(): boolean | undefined {
    // (PGlite does not tell an aborted block from a healthy one)
    return this.inTransactionBlock() === false ? false : undefined;
  }

  inTransactionBlock(): boolean | undefined {
    return (this.db as { isInTransaction?: () => boolean }).isInTransaction?.();
  }

  async bind(sql: string, values: readonly string[], signal?: AbortSignal): Promise<QueryOutcome> {
    checkSignal(signal);
    const r = await this.db.query(sql, [...values]);
    const rowCount = r.affectedRows ?? r.rowCount ?? 0;
    return { rowCount, rows: r.rows ?? [], raw: r };
  }

  async copyFrom(
    target: string,
    columns: readonly string[],
    data: string | Uint8Array,
    signal?: AbortSignal,
  ): Promise<number> {
    checkSignal(signal);
    // PGlite has no COPY FROM STDIN; it reads a blob through the virtual file /dev/blob.
    const r = await this.db.query(`COPY ${target} (${columns.join(', ')}) FROM '/dev/blob'`, [], {
      blob: new Blob([data]),
    });
    return r.affectedRows ?? r.rowCount ?? 0;
  }

  abandon(): void {
    // (in-process: nothing to cut, and a request here always settles)
  }

  async release(broken = false): Promise<void> {
    // PGlite has one session that cannot be thrown away: end a transaction left open since it was taken,
    // so the next user does not run inside it (not the caller's own block, open before).
    if (broken && !this.blockAtAcquire && this.inTransactionBlock() !== false)
      await this.db.exec('ROLLBACK').catch(() => undefined);
    this.unlock();
  }
}

/** PGlite is single-connection: every request and session takes the instance's mutex. */
export class PGliteSource implements ConnectionSource {
  readonly maxConcurrency = 1;
  constructor(
    private readonly db: PGliteLike,
    private readonly owned: boolean,
  ) {}

  async acquire(): Promise<Connection> {
    const unlock = await mutexFor(this.db).lock();
    try {
      await this.db.waitReady;
    } catch (err) {
      unlock();
      throw err;
    }
    return new PGliteConnection(this.db, unlock);
  }

  async close(): Promise<void> {
    if (this.owned) await this.db.close();
  }
}
