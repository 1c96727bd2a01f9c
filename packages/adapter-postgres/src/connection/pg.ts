import * as net from 'node:net';
import { QueryCancelledError, sqlState } from '../errors/classify.js';
import { type Mutex, mutexFor } from './mutex.js';
import {
  affected,
  type Connection,
  type ConnectionSource,
  type PgClientLike,
  type PgPoolClientLike,
  type PgPoolLike,
  type QueryOutcome,
} from './types.js';

/** `pg-copy-streams`' `from`, loaded only when COPY is used. */
export type CopyFrom = (sql: string) => unknown;

interface PgResultLike {
  command?: string | null;
  rowCount?: number | null;
  rows?: unknown[];
}

type QueryCtor = new (
  config: unknown,
) => {
  handleCommandComplete(msg: unknown, con: unknown): unknown;
};

/** Subclasses of pg's `Query` that count completed statements, one per pg copy. */
const countingQueries = new WeakMap<object, QueryCtor>();

function countingQuery(client: PgClientLike): QueryCtor | undefined {
  const base = (client.constructor as { Query?: QueryCtor } | undefined)?.Query;
  if (typeof base !== 'function') return undefined;
  let ctor = countingQueries.get(base);
  if (!ctor) {
    ctor = class CountingQuery extends base {
      completed = 0;
      override handleCommandComplete(msg: unknown, con: unknown): unknown {
        this.completed++;
        return super.handleCommandComplete(msg, con);
      }
    };
    countingQueries.set(base, ctor);
  }
  return ctor;
}

/** Send a protocol CancelRequest for `client`'s backend. Needs no login; resolves when the server hung up. */
export function sendCancelRequest(
  client: PgClientLike,
  hostOverride?: string,
  portOverride?: number,
): Promise<void> {
  const pid = client.processID;
  const key = client.secretKey;
  const params = client.connectionParameters ?? {};
  const host = hostOverride ?? params.host ?? 'localhost';
  const port = Number(portOverride ?? params.port ?? 5432);
  if (typeof pid !== 'number' || typeof key !== 'number') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const socket = host.startsWith('/') ? net.connect(`${host}/.s.PGSQL.${port}`) : net.connect(port, host);
    const timer = setTimeout(() => socket.destroy(), 5_000);
    socket.on('connect', () => {
      const msg = Buffer.alloc(16);
      msg.writeInt32BE(16, 0);
      msg.writeInt32BE(80877102, 4);
      msg.writeInt32BE(pid, 8);
      msg.writeInt32BE(key, 12);
      socket.end(msg);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function abortError(signal: AbortSignal, cause?: unknown, sent = true): QueryCancelledError {
  return new QueryCancelledError(
    sent
      ? 'query cancelled on the server after its signal was aborted'
      : 'request not sent: its signal was aborted',
    { cause, reason: signal.reason, sent },
  );
}

/** Run `work` on `client`, cancelling it on the server if `signal` aborts. */
async function withCancel<T>(
  client: PgClientLike,
  signal: AbortSignal | undefined,
  work: () => Promise<T>,
): Promise<T> {
  if (!signal) return work();
  if (signal.aborted) throw abortError(signal, undefined, false);
  let cancelling: Promise<void> | undefined;
  const onAbort = () => {
    cancelling = sendCancelRequest(client);
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await work();
  } catch (err) {
    if (signal.aborted && sqlState(err) === '57014') {
      const cancelled = abortError(signal, err);
      // (what the server completed before the cancel landed: a COMMIT among them has committed)
      const completed = (err as { completedStatements?: unknown }).completedStatements;
      if (typeof completed === 'number') {
        Object.defineProperty(cancelled, 'completedStatements', { value: completed, enumerable: false });
      }
      throw cancelled;
    }
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    // Never hand the connection to other work while our cancel request may still land on it.
    if (cancelling) await cancelling;
  }
}

/**
 * Clients that carry our permanent no-op 'error' listener. A client whose backend dies emits 'error'
 * even after it was handed back (a destroyed pool client has no listener left): unhandled, that
 * event would crash the process. The failure itself reaches the caller through the pending query.
 */
const guarded = new WeakSet<object>();
const ignore = () => undefined;

/** Give `client` the permanent no-op 'error' listener (once). */
function guard(client: PgClientLike): void {
  if (guarded.has(client)) return;
  guarded.add(client);
  client.on('error', ignore);
}

/** Clients on which a named statement was found missing on the server: named statements are not used. */
const unnamedOnly = new WeakSet<object>();

/** A pg client pinned for one request or session. */
export class PgConnection implements Connection {
  readonly driver = 'pg' as const;
  private readonly onError = () => {
    // A checked-out client that loses its socket emits 'error'; the pending query rejects with it.
    this.broken = true;
  };
  broken = false;

  constructor(
    readonly client: PgClientLike,
    private readonly giveBack: (broken: boolean) => Promise<void>,
    private readonly copyFrom_: () => Promise<CopyFrom>,
    /** A pool's client (thrown away when broken), not a shared client given to the adapter. */
    readonly destroyable = true,
  ) {
    client.on('error', this.onError);
    guard(client);
  }

  simple(sql: string, signal?: AbortSignal): Promise<QueryOutcome> {
    return withCancel(this.client, signal, () => this.run(sql));
  }

  inFailedBlock(): boolean | undefined {
    const status = (this.client as { getTransactionStatus?: () => string | null }).getTransactionStatus?.();
    return status === 'E' ? true : status === 'T' || status === 'I' ? false : undefined;
  }

  inTransactionBlock(): boolean | undefined {
    // (pg ≥ 8.12 keeps ReadyForQuery's status: I idle, T in a transaction block, E in a failed one)
    const status = (this.client as { getTransactionStatus?: () => string | null }).getTransactionStatus?.();
    if (status === 'T' || status === 'E') return true;
    if (status === 'I') return false;
    return undefined;
  }

  private run(sql: string): Promise<QueryOutcome> {
    const Counting = countingQuery(this.client);
    return new Promise<QueryOutcome>((resolve, reject) => {
      const callback = (err: Error | null, res: PgResultLike | PgResultLike[] | undefined) => {
        if (err) {
          const completed = (q as { completed?: number } | undefined)?.completed;
          if (typeof completed === 'number' && err && typeof err === 'object') {
            Object.defineProperty(err, 'completedStatements', { value: completed, enumerable: false });
          }
          reject(err);
          return;
        }
        const list = Array.isArray(res) ? res : res ? [res] : [];
        let rowCount = 0;
        for (const r of list) rowCount += affected(r.command, r.rowCount);
        resolve({ rowCount, rows: list[list.length - 1]?.rows ?? [], raw: res });
      };
      let q: unknown;
      try {
        if (Counting) {
          q = new Counting({ text: sql, callback });
          this.client.query(q);
        } else {
          const p = this.client.query({ text: sql }) as Promise<PgResultLike | PgResultLike[]>;
          p.then(
            (r) => callback(null, r),
            (e: Error) => callback(e, undefined),
          );
        }
      } catch (err) {
        reject(err);
      }
    });
  }

  /**
   * With `name`, the statement is kept parsed on the connection (the server plans it once, not at every
   * request), but only while no transaction block is open: if the server no longer knows the name (the
   * input ran `DEALLOCATE ALL` or `DISCARD ALL`, or a transaction-mode pooler moved the client to another
   * backend) or already has it (such a pooler gave the client a backend another client prepared it on),
   * the failure changed nothing, and the statement runs unnamed, as it does from then on for this client. Inside a block that failure would abort the caller's transaction: unnamed there.
   */
  async params(sql: string, values: unknown[], name?: string): Promise<Record<string, unknown>[]> {
    if (name !== undefined && !unnamedOnly.has(this.client) && this.inTransactionBlock() === false) {
      try {
        const res = (await this.client.query({ name, text: sql, values })) as {
          rows: Record<string, unknown>[];
        };
        return res.rows;
      } catch (err) {
        // 26000 invalid_sql_statement_name: the server lost it; 42P05 duplicate_prepared_statement: the
        // backend already has it (a pooler gave this client another client's backend)
        const state = sqlState(err);
        if ((state !== '26000' && state !== '42P05') || this.broken) throw err;
        unnamedOnly.add(this.client);
      }
    }
    const res = (await this.client.query({ text: sql, values })) as { rows: Record<string, unknown>[] };
    return res.rows;
  }

  bind(sql: string, values: readonly string[], signal?: AbortSignal): Promise<QueryOutcome> {
    return withCancel(this.client, signal, async () => {
      const res = (await this.client.query({ text: sql, values: [...values] })) as PgResultLike;
      return { rowCount: affected(res.command, res.rowCount), rows: res.rows ?? [], raw: res };
    });
  }

  async copyFrom(
    target: string,
    columns: readonly string[],
    data: string | Uint8Array,
    signal?: AbortSignal,
  ): Promise<number> {
    const from = await this.copyFrom_();
    return withCancel(this.client, signal, async () => {
      const stream = this.client.query(
        from(`COPY ${target} (${columns.join(', ')}) FROM STDIN`),
      ) as NodeJS.WritableStream & {
        rowCount?: number;
      };
      await new Promise<void>((resolve, reject) => {
        stream.on('error', reject);
        stream.on('finish', () => resolve());
        if (typeof data === 'string') stream.end(data, 'utf8');
        else stream.end(data);
      });
      return stream.rowCount ?? 0;
    });
  }

  abandon(): void {
    if (!this.destroyable) return;
    this.broken = true;
    const stream = (this.client as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream;
    if (stream?.destroy) stream.destroy();
    else void (this.client as { end?: () => Promise<void> }).end?.().catch(() => undefined);
  }

  async release(broken: boolean): Promise<void> {
    this.client.removeListener('error', this.onError);
    await this.giveBack(broken || this.broken);
  }
}

/** Connections from a `pg.Pool`. */
export class PoolSource implements ConnectionSource {
  private readonly onPoolError = () => undefined;
  constructor(
    private readonly pool: PgPoolLike,
    private readonly owned: boolean,
    private readonly loadCopy: () => Promise<CopyFrom>,
  ) {
    // An idle client losing its connection makes the pool emit 'error'; unhandled, that kills the process.
    if (owned) pool.on('error', this.onPoolError);
    // A new client of the adapter's own pool is guarded as the pool hands it out: the pool drops its own
    // 'error' listener then, and a FATAL that arrived with the startup's last bytes (a backend
    // terminated at once) is emitted before the caller's `await pool.connect()` resumes. (Not on a pool
    // the caller gave: its other clients are the caller's, whose errors must reach the caller.)
    if (owned) pool.on('acquire', guard);
  }

  get maxConcurrency(): number {
    return this.pool.options?.max ?? 10;
  }

  async acquire(): Promise<Connection> {
    const client: PgPoolClientLike = await this.pool.connect();
    return new PgConnection(
      client,
      async (broken) => {
        client.release(broken ? new Error('connection broken') : undefined);
      },
      this.loadCopy,
    );
  }

  async close(): Promise<void> {
    if (this.owned) await this.pool.end();
  }
}

/** One `pg.Client`, shared: requests and sessions take turns. */
export class ClientSource implements ConnectionSource {
  readonly maxConcurrency = 1;
  private readonly mutex: Mutex;
  private connected: Promise<unknown> | undefined;
  constructor(
    private readonly client: PgClientLike,
    private readonly owned: boolean,
    private readonly loadCopy: () => Promise<CopyFrom>,
  ) {
    this.mutex = mutexFor(client);
    if (owned) this.connected = undefined;
    else this.connected = Promise.resolve();
  }

  async acquire(): Promise<Connection> {
    const unlock = await this.mutex.lock();
    try {
      this.connected ??= this.client.connect();
      await this.connected;
    } catch (err) {
      this.connected = undefined;
      unlock();
      throw err;
    }
    return new PgConnection(
      this.client,
      async () => {
        unlock();
      },
      this.loadCopy,
      false,
    );
  }

  async close(): Promise<void> {
    if (this.owned && this.connected) await this.client.end();
  }
}
