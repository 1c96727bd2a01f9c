import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Adapter } from '@sqlbatcher/core';

/** Settings that shape how the adapter is built. */
export interface ConnectOptions {
  /** PostgreSQL COPY fast path. */
  copy?: boolean;
  /** PostgreSQL: `false` sends every INSERT as its text (no unnest form). */
  unnest?: boolean;
  /** Pool size for concurrent requests. */
  concurrency?: number;
  /** Ceiling override in bytes. */
  maxQuerySize?: number;
}

/** Where the CLI loads when no `--url` is given: an embedded PGlite database in this directory. */
export const DEFAULT_URL = 'pglite://.sqlbatcher/pglite';

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for messages. */
export function redactUrl(url: string): string {
  // The password is masked as text first, up to the LAST `@`: it may hold `/`, `?`, `#` or `@` unencoded,
  // which a URL parser reads as the end of the authority (or as a host and port), so that parsing alone
  // would leave it in plain sight. (A later `@`, in a query say, only masks more.)
  const head = /^[a-z][\w+.-]*:(?:\/\/)?/i.exec(url)?.[0];
  let out = url;
  if (head !== undefined) {
    const at = url.lastIndexOf('@');
    if (at > head.length) {
      const userinfo = url.slice(head.length, at);
      const colon = userinfo.indexOf(':');
      out = `${head}${colon < 0 ? userinfo : `${userinfo.slice(0, colon)}:***`}${url.slice(at)}`;
    }
  }
  // Then secrets in query parameters (`?password=…`, `sslkey=…`): everything after the first such name is
  // masked (its value may hold an unencoded `&` or `#`, which would end it for a parser).
  return out.replace(
    /([?&][^=&#]*(?:pass|secret|token|key)[^=&#]*=).*$/i,
    (_m, name: string) => `${name}***`,
  );
}

/** A connected adapter and how to close it. */
export interface Connection {
  adapter: Adapter;
  close(): Promise<void>;
  /** Human description without secrets. */
  describe: string;
}

async function importOptional<T>(name: string, hint: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (err) {
    if (
      (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' ||
      (err as { code?: string }).code === 'MODULE_NOT_FOUND'
    ) {
      throw new Error(`${name} is not installed; ${hint}`);
    }
    throw err;
  }
}

const SCHEMES = new Set(['pglite', 'postgres', 'postgresql', 'trino', 'snowflake', 'bigquery']);

/**
 * Why `url` cannot be used, or undefined when its scheme is one the CLI knows. Only a scheme-shaped
 * part before the first colon is ever echoed: never a password, even in a malformed URL.
 */
export function unsupportedUrl(url: string): string | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined && SCHEMES.has(scheme)) return undefined;
  return `${scheme ? `unsupported --url scheme "${scheme}"` : '--url has no scheme'}: use postgres://, pglite://<dir>, pglite:memory, trino://, snowflake:// or bigquery://`;
}

/** Build the adapter for a `--url`. Drivers are imported only for the scheme used. */
export async function connect(url: string, options: ConnectOptions = {}): Promise<Connection> {
  const refused = unsupportedUrl(url);
  if (refused) throw new Error(refused);
  const scheme = url.slice(0, url.indexOf(':')).toLowerCase();
  switch (scheme) {
    case 'pglite':
      return connectPGlite(url, options);
    case 'postgres':
    case 'postgresql':
      return connectPostgres(url, options);
    case 'trino':
      return connectTrino(url, options);
    case 'snowflake':
      return connectSnowflake(url, options);
    case 'bigquery':
      return connectBigQuery(url, options);
    default:
      throw new Error(unsupportedUrl(url) ?? `unsupported --url scheme "${scheme}"`);
  }
}

async function connectPGlite(url: string, options: ConnectOptions): Promise<Connection> {
  const { PGlite } = await importOptional<typeof import('@electric-sql/pglite')>(
    '@electric-sql/pglite',
    'npm i @electric-sql/pglite',
  );
  const { PostgreSQLAdapter } = await import('@sqlbatcher/adapter-postgres');
  const rest = url.replace(/^pglite:(\/\/)?/i, '');
  let db: InstanceType<typeof PGlite>;
  let where: string;
  if (rest === '' || rest === 'memory' || rest === 'memory://') {
    db = new PGlite();
    where = 'in-memory PGlite';
  } else {
    const dir = resolve(rest);
    await mkdir(dir, { recursive: true });
    db = new PGlite(dir);
    where = `PGlite database in ${dir}`;
  }
  await db.waitReady;
  const adapter = new PostgreSQLAdapter({
    pglite: db,
    ...(options.copy ? { copy: true } : {}),
    ...(options.unnest === false ? { unnest: false } : {}),
    ...(options.maxQuerySize ? { maxQuerySize: options.maxQuerySize } : {}),
  });
  return {
    adapter,
    describe: where,
    close: async () => {
      await adapter.close();
      await db.close();
    },
  };
}

async function connectPostgres(url: string, options: ConnectOptions): Promise<Connection> {
  const { PostgreSQLAdapter } = await import('@sqlbatcher/adapter-postgres');
  const adapter = new PostgreSQLAdapter({
    connectionString: url,
    maxSize: Math.max(2, options.concurrency ?? 1),
    applicationName: 'sqlbatcher-cli',
    ...(options.copy ? { copy: true } : {}),
    ...(options.unnest === false ? { unnest: false } : {}),
    ...(options.maxQuerySize ? { maxQuerySize: options.maxQuerySize } : {}),
  });
  return reachable(adapter, url);
}

/**
 * The connection, once `SELECT 1` ran on it: a wrong host, port or password, or a server that is down,
 * fails here, before any input is read (the adapters' errors never hold the password).
 */
async function reachable(adapter: Adapter, url: string): Promise<Connection> {
  try {
    await adapter.execute('SELECT 1');
  } catch (err) {
    await adapter.close().catch(() => undefined);
    throw new Error(`cannot reach ${redactUrl(url)}: ${(err as Error).message.split('\n')[0]}`);
  }
  return { adapter, describe: redactUrl(url), close: () => adapter.close() };
}

function param(u: URL, name: string): string | undefined {
  return u.searchParams.get(name) ?? undefined;
}

async function connectTrino(url: string, options: ConnectOptions): Promise<Connection> {
  const mod = await importOptional<Record<string, unknown>>(
    '@sqlbatcher/adapter-trino',
    'npm i @sqlbatcher/adapter-trino trino-client',
  );
  const TrinoAdapter = mod.TrinoAdapter as new (o: Record<string, unknown>) => Adapter;
  const u = new URL(url);
  const [catalog, schema] = u.pathname.split('/').filter(Boolean);
  const secure = param(u, 'ssl') === 'true';
  const adapter = new TrinoAdapter({
    server: `${secure ? 'https' : 'http'}://${u.hostname}:${u.port || (secure ? '443' : '8080')}`,
    user: decodeURIComponent(u.username || 'sqlbatcher'),
    ...(u.password
      ? {
          auth: {
            user: decodeURIComponent(u.username || 'sqlbatcher'),
            password: decodeURIComponent(u.password),
          },
        }
      : {}),
    ...(catalog ? { catalog } : {}),
    ...(schema ? { schema } : {}),
    ...(param(u, 'role') ? { role: param(u, 'role') } : {}),
    ...(options.maxQuerySize ? { maxQuerySize: options.maxQuerySize } : {}),
  });
  return reachable(adapter, url);
}

async function connectSnowflake(url: string, options: ConnectOptions): Promise<Connection> {
  const mod = await importOptional<Record<string, unknown>>(
    '@sqlbatcher/adapter-snowflake',
    'npm i @sqlbatcher/adapter-snowflake snowflake-sdk',
  );
  const SnowflakeAdapter = mod.SnowflakeAdapter as new (o: Record<string, unknown>) => Adapter;
  // snowflake-sdk logs JSON lines to stdout, which would corrupt --report json and --dry-run output.
  const sdk = await importOptional<{
    default?: { configure?(o: object): void };
    configure?(o: object): void;
  }>('snowflake-sdk', 'npm i snowflake-sdk');
  (sdk.default ?? sdk).configure?.({ logLevel: 'OFF' });
  const u = new URL(url);
  const [database, schema] = u.pathname.split('/').filter(Boolean);
  const adapter = new SnowflakeAdapter({
    // (also set by the adapter on the SDK instance it loads, right before it connects)
    logLevel: 'OFF',
    account: u.hostname,
    username: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    ...(database ? { database } : {}),
    ...(schema ? { schema } : {}),
    ...(param(u, 'warehouse') ? { warehouse: param(u, 'warehouse') } : {}),
    ...(param(u, 'role') ? { role: param(u, 'role') } : {}),
    ...(param(u, 'accessUrl') ? { accessUrl: param(u, 'accessUrl') } : {}),
    ...(options.maxQuerySize ? { maxQuerySize: options.maxQuerySize } : {}),
  });
  return reachable(adapter, url);
}

async function connectBigQuery(url: string, options: ConnectOptions): Promise<Connection> {
  const mod = await importOptional<Record<string, unknown>>(
    '@sqlbatcher/adapter-bigquery',
    'npm i @sqlbatcher/adapter-bigquery @google-cloud/bigquery',
  );
  const BigQueryAdapter = mod.BigQueryAdapter as new (o: Record<string, unknown>) => Adapter;
  const u = new URL(url);
  const [datasetId] = u.pathname.split('/').filter(Boolean);
  const adapter = new BigQueryAdapter({
    projectId: u.hostname,
    ...(datasetId ? { datasetId } : {}),
    ...(param(u, 'location') ? { location: param(u, 'location') } : {}),
    ...(param(u, 'keyFilename') ? { keyFilename: param(u, 'keyFilename') } : {}),
    ...(param(u, 'apiEndpoint') ? { apiEndpoint: param(u, 'apiEndpoint') } : {}),
    ...(options.maxQuerySize ? { maxQuerySize: options.maxQuerySize } : {}),
  });
  return reachable(adapter, url);
}
