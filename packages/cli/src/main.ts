import { parseArgs } from 'node:util';
import type { Dialect, OnErrorMode, TransactionMode } from '@sqlbatcher/core';
import pkg from '../package.json' with { type: 'json' };
import { DEFAULT_URL, unsupportedUrl } from './connect.js';
import { generateDump } from './generate.js';
import { type LoadOptions, load } from './load.js';
import type { ProgressSink } from './progress.js';

export const USAGE = `Usage:
  sqlbatcher load <file.sql | -> [options]    load a SQL file (or stdin) into a database
  sqlbatcher generate --rows N [--out FILE]   write a sample dump of the seed's users table

Load options:
  --url URL             postgres://…, pglite://<dir>, pglite:memory, trino://…, snowflake://…, bigquery://…
                        (default ${DEFAULT_URL}: an embedded PostgreSQL in that directory)
  --max-bytes N         soft size of one request in bytes (default 1000000; the engine's limit caps it)
  --max-query-size N    the engine's hard limit on one request in bytes (default the adapter's: 64 MiB
                        for PostgreSQL, which accepts up to ~1 GB); a statement larger is refused
  --no-merge            do not merge INSERTs into multi-row INSERTs
  --transaction MODE    none | batch | all (default none)
  --on-error MODE       throw | skip | isolate (default throw)
  --copy                PostgreSQL: send all-literal INSERT rows through COPY
  --no-unnest           PostgreSQL: send INSERTs as their text, not as INSERT … SELECT FROM unnest($1, …)
  --concurrency N       requests in flight for INSERT-only batches outside a transaction (default 1)
  --dry-run[=FILE]      write the SQL that would be sent to FILE (default stdout); execute nothing
  --report FORMAT       text | json | none (default text)
  --dead-letter FILE    write rejected statements (with --on-error skip|isolate) to FILE
  --dialect NAME        postgres | trino | bigquery | snowflake | mysql | generic (default: the engine's)
  --ignore-meta-commands  skip psql meta-commands such as \\c (default: fail on any but \\restrict)
  --no-progress         no progress output
Exit codes: 0 success, 1 error, 2 usage, 3 statements rejected, 130 interrupted.`;

/** Streams and signal the CLI uses; tests pass their own. */
export interface MainIO {
  stdout?: ProgressSink;
  stderr?: ProgressSink;
  signal?: AbortSignal;
}

function oneOf<T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value))
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}`);
  return value as T;
}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.replaceAll('_', ''));
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer`);
  return n;
}

class UsageError extends Error {}

/** Run the CLI with `argv` (without node and script). Resolves to the exit code. */
export async function main(argv: string[], io: MainIO = {}): Promise<number> {
  const stderr = io.stderr ?? process.stderr;
  const stdout = io.stdout ?? process.stdout;
  const [command, ...rest] = argv;
  try {
    if (command === '--version' || command === '-v') {
      stdout.write(`${pkg.version}\n`);
      return 0;
    }
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      (command === undefined ? stderr : stdout).write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    if (command === 'generate') {
      const { values } = parseArgs({
        args: rest,
        options: { rows: { type: 'string' }, out: { type: 'string' }, table: { type: 'string' } },
        strict: true,
      });
      const rows = values.rows === undefined ? 1_000_000 : Number(values.rows.replaceAll('_', ''));
      if (!Number.isInteger(rows) || rows < 0) throw new UsageError('--rows must be a non-negative integer');
      const out =
        values.out && values.out !== '-' ? values.out : (stdout as unknown as NodeJS.WritableStream);
      let bytes: number;
      try {
        bytes = await generateDump(
          { rows, ...(values.table ? { table: values.table } : {}) },
          out as Parameters<typeof generateDump>[1],
        );
      } catch (err) {
        // The reader of stdout closed it (`| head`): it took what it wanted; stop quietly.
        if (typeof out !== 'string' && (err as { code?: string }).code === 'EPIPE') return 0;
        throw err;
      }
      if (typeof out === 'string')
        stderr.write(
          `wrote ${rows.toLocaleString('en-US')} rows (${bytes.toLocaleString('en-US')} bytes) to ${out}\n`,
        );
      return 0;
    }
    if (command === 'load') {
      if (rest.includes('--help') || rest.includes('-h')) {
        stdout.write(`${USAGE}\n`);
        return 0;
      }
      // `--dry-run` takes an optional value: a bare flag means stdout.
      const args = rest.map((a) => (a === '--dry-run' ? '--dry-run=-' : a));
      const { values, positionals } = parseArgs({
        args,
        allowPositionals: true,
        strict: true,
        options: {
          url: { type: 'string', short: 'u' },
          'max-bytes': { type: 'string' },
          'max-query-size': { type: 'string' },
          'no-merge': { type: 'boolean' },
          transaction: { type: 'string' },
          'on-error': { type: 'string' },
          copy: { type: 'boolean' },
          'no-unnest': { type: 'boolean' },
          concurrency: { type: 'string' },
          'dry-run': { type: 'string' },
          report: { type: 'string' },
          'dead-letter': { type: 'string' },
          dialect: { type: 'string' },
          'no-progress': { type: 'boolean' },
          'ignore-meta-commands': { type: 'boolean' },
        },
      });
      if (positionals.length !== 1) {
        const k = rest.indexOf('--dry-run');
        const after = k >= 0 ? rest[k + 1] : undefined;
        if (positionals.length === 2 && after !== undefined && positionals.includes(after)) {
          throw new UsageError(
            `--dry-run takes its file after "=": --dry-run=${after} (a bare --dry-run writes to stdout)`,
          );
        }
        throw new UsageError('load needs exactly one file (or - for stdin)');
      }
      const maxBytes = positiveInt('max-bytes', values['max-bytes']);
      const maxQuerySize = positiveInt('max-query-size', values['max-query-size']);
      const concurrency = positiveInt('concurrency', values.concurrency);
      const transaction = oneOf('transaction', values.transaction, ['none', 'batch', 'all'] as const);
      const onError = oneOf('on-error', values['on-error'], ['throw', 'skip', 'isolate'] as const);
      const report = oneOf('report', values.report, ['text', 'json', 'none'] as const);
      const dialect = oneOf('dialect', values.dialect, [
        'postgres',
        'trino',
        'bigquery',
        'snowflake',
        'mysql',
        'generic',
      ] as const satisfies readonly Dialect[]);
      // (a bad --url is a bad command line: exit 2, before anything is opened)
      const badUrl = values.url === undefined ? undefined : unsupportedUrl(values.url);
      if (badUrl) throw new UsageError(badUrl);
      if (values['dead-letter'] && onError !== 'skip' && onError !== 'isolate') {
        // (it would replace the file of an earlier run with an empty one)
        throw new UsageError('--dead-letter needs --on-error skip or isolate (only they reject statements)');
      }
      if (values['dry-run'] === '-' && report === 'json') {
        throw new UsageError(
          '--dry-run writes the SQL to stdout, where --report json goes too: give it a file (--dry-run=FILE)',
        );
      }
      const opts: LoadOptions = {
        file: positionals[0] as string,
        merge: !values['no-merge'],
        copy: values.copy ?? false,
        ...(values['no-unnest'] ? { unnest: false } : {}),
        progress: values['no-progress'] ? 'off' : 'auto',
        ignoreMetaCommands: values['ignore-meta-commands'] ?? false,
        stdout,
        stderr,
        ...(values.url ? { url: values.url } : {}),
        ...(maxBytes ? { maxBytes } : {}),
        ...(maxQuerySize ? { maxQuerySize } : {}),
        ...(concurrency ? { concurrency } : {}),
        ...(transaction ? { transaction: transaction as TransactionMode } : {}),
        ...(onError ? { onError: onError as OnErrorMode } : {}),
        ...(report ? { report } : {}),
        ...(values['dry-run'] !== undefined ? { dryRun: values['dry-run'] } : {}),
        ...(values['dead-letter'] ? { deadLetter: values['dead-letter'] } : {}),
        ...(dialect ? { dialect } : {}),
        ...(io.signal ? { signal: io.signal } : {}),
      };
      const result = await load(opts);
      return result.exitCode;
    }
    throw new UsageError(`unknown command "${command}"`);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      stderr.write(`sqlbatcher: ${(err as Error).message}\n${USAGE}\n`);
      return 2;
    }
    stderr.write(`sqlbatcher: error: ${(err as Error).message}\n`);
    return 1;
  }
}
