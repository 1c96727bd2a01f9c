import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { formatStatsTable, QueryCollector } from '@sqlbatcher/collector';
import {
  BatchExecutionError,
  type BatchInfo,
  type BatchOutcome,
  type Dialect,
  isSQLBatcherError,
  type OnErrorMode,
  type Plugin,
  SQLBatcher,
  splitStatementChunks,
  type TransactionMode,
} from '@sqlbatcher/core';
import { DeadLetterWriter } from '@sqlbatcher/plugins';
import { type Connection, connect, DEFAULT_URL, redactUrl } from './connect.js';
import { type OutputStream, OutputWriter } from './output.js';
import { FileProgress, type ProgressSink } from './progress.js';
import { addIndex } from './ranges.js';

/** Options of {@link load}: one per `sqlbatcher load` flag. */
export interface LoadOptions {
  /** Path of the `.sql` file, or `-` for stdin. */
  file: string;
  url?: string;
  maxBytes?: number;
  /** The engine's hard limit on one request in bytes (default the adapter's). */
  maxQuerySize?: number;
  merge?: boolean;
  transaction?: TransactionMode;
  onError?: OnErrorMode;
  copy?: boolean;
  /** PostgreSQL: `false` sends every INSERT as its text instead of the unnest form (default true). */
  unnest?: boolean;
  concurrency?: number;
  /** Write the SQL that would be sent to this file (`-` = stdout) instead of executing it. */
  dryRun?: string;
  report?: 'text' | 'json' | 'none';
  deadLetter?: string;
  dialect?: Dialect;
  /** Skip psql meta-commands such as `\c db` (with a note on stderr) instead of failing. */
  ignoreMetaCommands?: boolean;
  /** `auto`: a bar on a TTY, periodic lines otherwise. */
  progress?: 'auto' | 'off';
  /** Aborting stops reading; the run ends cleanly (see README). */
  signal?: AbortSignal;
  stdin?: Readable;
  stdout?: ProgressSink;
  stderr?: ProgressSink;
}

/** What a load did; `exitCode` is what the CLI exits with. */
export interface LoadResult {
  exitCode: number;
  statements: number;
  requests: number;
  rowsAffected: number;
  rejected: number;
  inDoubt: number;
  interrupted: boolean;
  seconds: number;
  /** Highest input index known executed (committed unless inside `transaction: 'all'`). */
  lastExecutedIndex: number;
  /**
   * The input indices known executed, as `[first, last]` ranges in order: more than one when statements
   * between them were not (a failure with `--concurrency`, where later batches ran beside the failed one,
   * or statements skipped or rejected).
   */
  executedRanges: [number, number][];
  error?: string;
}

/** Thrown into the statement stream on Ctrl-C. */
export class InterruptedError extends Error {
  constructor() {
    super('interrupted');
    this.name = 'InterruptedError';
  }
}

/** The dry run's output stopped taking text (its reader went away, the disk is full, …). */
export class DryRunOutputError extends Error {
  /** The stream's error code, e.g. `EPIPE` when the reader of a pipe closed it (`| head`). */
  readonly code: string | undefined;
  constructor(where: string, cause: Error) {
    super(`cannot write the dry run to ${where}: ${cause.message}`, { cause });
    this.name = 'DryRunOutputError';
    this.code = (cause as { code?: string }).code;
  }
}

/** Tracks how far the load got, for progress and the interrupt report. */
class Tracker implements Plugin {
  readonly name = 'sqlbatcher-cli';
  lastIndex = -1;
  /** Executed input indices as sorted, disjoint, non-adjacent `[first, last]` ranges. */
  readonly ranges: [number, number][] = [];
  constructor(private readonly progress: FileProgress | undefined) {}
  afterBatch(batch: BatchInfo, outcome: BatchOutcome): void {
    if (outcome.success && !outcome.dryRun) {
      for (const s of batch.statements) {
        const last = s.indices[s.indices.length - 1];
        if (last !== undefined && last > this.lastIndex) this.lastIndex = last;
        for (const i of s.indices) addIndex(this.ranges, i);
      }
    } else if (outcome.partial && !outcome.dryRun) {
      // A request that failed part-way (Snowflake, BigQuery): the statements before the failed one stay
      // applied (found in review: left out, so resuming from the gap ran them twice).
      for (const i of outcome.partial.appliedIndices) {
        if (i > this.lastIndex) this.lastIndex = i;
        addIndex(this.ranges, i);
      }
    }
    if (this.progress) {
      this.progress.statementsDone += batch.inputCount;
      this.progress.rowsDone += batch.rowCount;
      this.progress.tick();
    }
  }
}

async function* readSource(
  stream: AsyncIterable<Buffer | string>,
  progress: FileProgress | undefined,
  counter: { bytes: number },
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer | string> {
  const it = stream[Symbol.asyncIterator]();
  // The signal ends the wait for the next chunk too: an idle producer (a pipe that writes nothing for
  // minutes) must not keep Ctrl-C or SIGTERM waiting. (One listener per read, removed when the read
  // settles: racing every read against one long-lived promise left a reaction on it per read, each
  // holding its chunk, so memory grew with the file: found in review.)
  const nextOrAbort = (): Promise<IteratorResult<Buffer | string> | 'aborted'> =>
    new Promise((resolve, reject) => {
      const onAbort = () => resolve('aborted');
      signal?.addEventListener('abort', onAbort, { once: true });
      it.next().then(
        (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        (e: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      );
    });
  try {
    for (;;) {
      if (signal?.aborted) throw new InterruptedError();
      const next = await nextOrAbort();
      if (next === 'aborted') throw new InterruptedError();
      if (next.done) break;
      const chunk = next.value;
      counter.bytes += chunk.length;
      if (progress) progress.bytesRead = counter.bytes;
      yield chunk;
    }
    if (signal?.aborted) throw new InterruptedError();
  } finally {
    // (stops the stream: a file is closed, stdin no longer read)
    const s = stream as { destroy?: () => void };
    if (typeof s.destroy === 'function') s.destroy();
    else await it.return?.();
  }
}

/**
 * The device and inode of a regular file given by path or descriptor (symbolic and hard links give the
 * same), or undefined (no such file, or not a regular file such as a pipe or a terminal).
 */
async function fileId(file: string | 0 | undefined): Promise<string | undefined> {
  if (file === undefined) return undefined;
  const fs = await import('node:fs');
  try {
    // (stdin by its path, not fstat(0): after a synchronous or callback fstat of a pipe, Node 20 resolved
    // the modules imported next through their symbolic links, and pg failed to load from pnpm's layout;
    // found in review. Where /dev/stdin does not exist the check is skipped.)
    const st = await fs.promises.stat(typeof file === 'number' ? '/dev/stdin' : file);
    return st.isFile() ? `${st.dev}:${st.ino}` : undefined;
  } catch {
    return undefined;
  }
}

/** `ranges` as text for a message: `#0…#9, #20…#29` (the first few, then how many more). */
function describeRanges(ranges: readonly [number, number][]): string {
  const shown = ranges.slice(0, 5).map(([a, b]) => (a === b ? `#${a}` : `#${a}…#${b}`));
  return ranges.length > 5 ? `${shown.join(', ')} and ${ranges.length - 5} more ranges` : shown.join(', ');
}

/** Load a SQL file through the batcher: the `sqlbatcher load` command. */
export async function load(options: LoadOptions): Promise<LoadResult> {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const url = options.url ?? DEFAULT_URL;
  let started = performance.now();
  const result: LoadResult = {
    exitCode: 0,
    statements: 0,
    requests: 0,
    rowsAffected: 0,
    rejected: 0,
    inDoubt: 0,
    interrupted: false,
    seconds: 0,
    lastExecutedIndex: -1,
    executedRanges: [],
  };

  /** A failure before the load started: the error, and with `--report json` the report too. */
  const early = (message: string): LoadResult => {
    fail(result, message, stderr);
    if (options.report === 'json') {
      stdout.write(
        // (a --url without a scheme is never echoed: it may be a bare password or a conninfo string)
        `${JSON.stringify({ file: options.file, url: /^[a-z][\w+.-]*:/i.test(url) ? redactUrl(url) : undefined, ...result }, null, 2)}\n`,
      );
    }
    return result;
  };

  let totalBytes: number | undefined;
  let input: AsyncIterable<Buffer | string>;
  if (options.file === '-') input = options.stdin ?? process.stdin;
  else {
    try {
      const st = await stat(options.file);
      if (st.isDirectory()) throw new Error('is a directory');
      // (a named pipe or `<(zcat dump.sql.gz)` has no size: no percentage then)
      if (st.isFile()) totalBytes = st.size;
    } catch (err) {
      return early(`cannot read ${options.file}: ${(err as Error).message}`);
    }
    input = createReadStream(options.file, { highWaterMark: 1 << 20 });
  }
  // The dead-letter file is emptied when the load starts: being the input too, it would be lost unread
  // (replaying a dead-letter file with the same --dead-letter path, also as stdin or through a link;
  // found in review). So is a dry run's.
  const inputId = await fileId(options.file === '-' ? (options.stdin ? undefined : 0) : options.file);
  for (const [flag, out] of [
    ['--dead-letter', options.deadLetter],
    ['--dry-run', options.dryRun],
  ] as const) {
    if (inputId === undefined || out === undefined || out === '-') continue;
    if ((await fileId(out)) === inputId) {
      (input as { destroy?: () => void }).destroy?.();
      return early(
        `${flag} ${out} is the input file: it would be emptied before it is read; give another path`,
      );
    }
  }

  let conn: Connection;
  try {
    conn = await connect(url, {
      ...(options.copy ? { copy: true } : {}),
      ...(options.maxQuerySize ? { maxQuerySize: options.maxQuerySize } : {}),
      ...(options.unnest === false ? { unnest: false } : {}),
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    });
  } catch (err) {
    return early((err as Error).message);
  }

  const showProgress = options.progress !== 'off' && options.report !== 'json' && options.dryRun !== '-';
  const progress = showProgress ? new FileProgress(stderr, totalBytes) : undefined;
  const tracker = new Tracker(progress);
  const collector = new QueryCollector();
  const deadLetter = options.deadLetter ? new DeadLetterWriter({ path: options.deadLetter }) : undefined;
  const dryRunOut = options.dryRun;
  let dryRunFile: { end(cb: () => void): unknown } | undefined;
  let dryRunWriter: OutputWriter | undefined;
  if (dryRunOut !== undefined && dryRunOut !== '-') {
    const { createWriteStream } = await import('node:fs');
    const file = createWriteStream(dryRunOut);
    // (a path that cannot be written is a clear error, not an unhandled stream event)
    const opened = await new Promise<Error | undefined>((resolve) => {
      file.once('open', () => resolve(undefined));
      file.once('error', (err) => resolve(err));
    });
    if (opened) {
      await conn.close().catch(() => undefined);
      return early(`cannot write the dry run to ${dryRunOut}: ${opened.message}`);
    }
    dryRunFile = file;
    dryRunWriter = new OutputWriter(file);
  } else if (dryRunOut === '-') dryRunWriter = new OutputWriter(stdout as OutputStream);
  const batcher = new SQLBatcher({
    adapter: conn.adapter,
    ...(options.maxBytes ? { maxBytes: options.maxBytes } : {}),
    mergeInserts: options.merge ?? true,
    transaction: options.transaction ?? 'none',
    // skip / isolate inside one transaction need a savepoint around each batch to undo only that batch
    savepoints: options.transaction === 'all' && (options.onError ?? 'throw') !== 'throw',
    onError: options.onError ?? 'throw',
    concurrency: options.concurrency ?? 1,
    ...(options.dialect ? { dialect: options.dialect } : {}),
    ...(dryRunWriter
      ? {
          // (the output's error ends the run, which then stops reading)
          dryRun: async (sql: string) => {
            try {
              await dryRunWriter?.write(`${sql};\n`);
            } catch (err) {
              throw new DryRunOutputError(dryRunOut === '-' ? 'stdout' : (dryRunOut as string), err as Error);
            }
          },
        }
      : {}),
    collector,
    plugins: [tracker, ...(deadLetter ? [deadLetter] : [])],
  });

  const counter = { bytes: 0 };
  let failure: unknown;
  // Timing covers the load itself, not starting the database (PGlite takes seconds to start).
  started = performance.now();
  try {
    const statements = splitStatementChunks(readSource(input, progress, counter, options.signal), {
      dialect: options.dialect ?? conn.adapter.capabilities.dialect,
      ...(options.ignoreMetaCommands
        ? {
            onMetaCommand: (cmd: string) =>
              void stderr.write(`sqlbatcher: ignored psql meta-command ${cmd}\n`),
          }
        : {}),
    });
    await batcher.processStatements(statements);
  } catch (err) {
    failure = err;
  }
  try {
    await batcher.close();
  } catch (err) {
    failure ??= err;
  }
  if (dryRunFile) await new Promise((r) => dryRunFile?.end(() => r(undefined)));
  await conn.close().catch(() => undefined);
  progress?.done();

  const rep = batcher.report;
  result.statements = rep.statements;
  result.requests = rep.requests;
  result.rowsAffected = rep.rowsAffected;
  result.rejected = rep.rejected.length;
  result.inDoubt = rep.inDoubt.length;
  result.lastExecutedIndex = tracker.lastIndex;
  result.executedRanges = tracker.ranges;
  result.seconds = (performance.now() - started) / 1000;
  result.interrupted = failure instanceof InterruptedError || hasCause(failure, InterruptedError);
  const inDoubtCommit = (failure as { inDoubt?: unknown } | undefined)?.inDoubt === true;
  if ((options.transaction ?? 'none') === 'all' && failure !== undefined && !inDoubtCommit) {
    // The one transaction was rolled back: nothing executed in it stayed.
    result.rowsAffected = 0;
    result.lastExecutedIndex = -1;
    result.executedRanges = [];
  }
  // The statements of a transaction block the input opened went with the failure: not executed after all.
  const undoneFrom = (failure as { blockUndoneFrom?: unknown } | undefined)?.blockUndoneFrom;
  if (typeof undoneFrom === 'number') {
    result.executedRanges = result.executedRanges
      .filter(([a]) => a < undoneFrom)
      .map(([a, b]): [number, number] => [a, Math.min(b, undoneFrom - 1)]);
    const last = result.executedRanges[result.executedRanges.length - 1];
    result.lastExecutedIndex = last ? last[1] : -1;
  }
  let failureMessage = failure === undefined ? undefined : messageOf(failure, options.onError);
  if (failureMessage !== undefined && !result.interrupted) {
    // (the batcher's own note, not words of the statement quoted in the message)
    const noted = failureMessage.includes('; the transaction was rolled back');
    if ((options.transaction ?? 'none') === 'all' && !inDoubtCommit && !noted) {
      // (bad input ends the run too: the one transaction goes with it)
      failureMessage += '; the transaction was rolled back: nothing was loaded';
    }
    // With --concurrency, batches after the failed one ran beside it: resuming from the failed range
    // would load them again.
    if (result.executedRanges.length > 1) {
      failureMessage += `; statements executed: ${describeRanges(result.executedRanges)} (the others were not)`;
    }
  }
  // The reader of the dry run's pipe closed it (`| head`): it took what it wanted; stop quietly.
  if (dryRunOut === '-' && causeOf(failure, DryRunOutputError)?.code === 'EPIPE') return result;

  // (decided before any report is written: the JSON report carries it)
  result.exitCode = result.interrupted
    ? 130
    : failure !== undefined || result.inDoubt > 0
      ? 1
      : result.rejected > 0
        ? 3
        : 0;

  if (options.report === 'json') {
    stdout.write(
      `${JSON.stringify(
        {
          file: options.file,
          url: redactUrl(url),
          target: conn.describe,
          ...result,
          error: result.interrupted ? undefined : failureMessage,
          deadLetter: deadLetter && result.rejected > 0 ? deadLetter.path : undefined,
          stats: collector.getStats(),
        },
        null,
        2,
      )}\n`,
    );
  } else if (options.report !== 'none') {
    const mb = counter.bytes / 1e6;
    stderr.write(
      `\n${failure === undefined ? 'Loaded' : result.interrupted ? 'Interrupted loading' : 'Failed loading'} ${options.file === '-' ? 'stdin' : options.file} into ${conn.describe}${dryRunOut !== undefined ? ' (dry run: nothing executed)' : ''}\n` +
        `${rep.statements.toLocaleString('en-US')} statements, ${result.rowsAffected.toLocaleString('en-US')} rows affected, ${rep.requests.toLocaleString('en-US')} requests, ${result.seconds.toFixed(2)} s (${Math.round(rep.statements / Math.max(result.seconds, 1e-3)).toLocaleString('en-US')} statements/s, ${(mb / Math.max(result.seconds, 1e-3)).toFixed(1)} MB/s)\n\n` +
        `${formatStatsTable(collector.getStats())}\n`,
    );
  }

  if (result.interrupted) {
    const mode = options.transaction ?? 'none';
    stderr.write(
      `sqlbatcher: interrupted after reading ${counter.bytes.toLocaleString('en-US')} bytes; ${
        mode === 'all'
          ? 'the transaction was rolled back: nothing was loaded'
          : result.lastExecutedIndex < 0
            ? 'no statement was executed'
            : `statements up to #${result.lastExecutedIndex} were executed; later ones were not`
      }\n`,
    );
    result.exitCode = 130;
    return result;
  }
  if (failureMessage !== undefined) return fail(result, failureMessage, stderr);
  if (result.inDoubt > 0) {
    result.exitCode = 1;
    stderr.write(
      `sqlbatcher: ${result.inDoubt} batch(es) in doubt (connection lost during execution); check them\n`,
    );
    return result;
  }
  if (result.rejected > 0) {
    result.exitCode = 3;
    stderr.write(
      `sqlbatcher: ${result.rejected} statement(s) rejected${deadLetter ? `; written to ${deadLetter.path}` : ' (use --dead-letter <file> to keep them)'}\n`,
    );
  }
  return result;
}

function hasCause(err: unknown, type: new () => Error): boolean {
  return causeOf(err, type) !== undefined;
}

/** `err` or the first error of its `cause` chain that is a `type`. */
// biome-ignore lint/suspicious/noExplicitAny: any constructor
function causeOf<T extends Error>(err: unknown, type: new (...args: any[]) => T): T | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    if (e instanceof type) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** `s` on one line: line breaks (a quoted identifier may hold one) shown as `\n`. */
const oneLine = (s: string) => s.replace(/\r\n|\r|\n/g, '\\n');

/**
 * The error's message (for a failed batch it names the failing statement with an excerpt when the
 * engine says which), and PostgreSQL's DETAIL.
 */
function messageOf(err: unknown, onError: OnErrorMode | undefined): string {
  const base = isSQLBatcherError(err) ? err.message : err instanceof Error ? err.message : String(err);
  const first = oneLine(base);
  if (isSQLBatcherError(err, 'STATEMENT_TOO_LARGE')) {
    return `${first} (--max-query-size N sets the limit; the engine's own still applies)`;
  }
  if (!(err instanceof BatchExecutionError)) return first;
  const extra: string[] = [];
  const detail = (err.cause as { detail?: unknown } | undefined)?.detail;
  if (typeof detail === 'string' && detail !== '') extra.push(`detail: ${oneLine(detail)}`);
  if (err.failedStatementIndex === undefined && err.statementIndices.length > 1 && onError !== 'isolate') {
    extra.push('--on-error isolate finds the failing statements and loads the others');
  }
  return extra.length > 0 ? `${first} (${extra.join('; ')})` : first;
}

function fail(result: LoadResult, message: string, stderr: ProgressSink): LoadResult {
  const line = oneLine(message);
  stderr.write(`sqlbatcher: error: ${line}\n`);
  result.exitCode = 1;
  result.error = line;
  return result;
}
