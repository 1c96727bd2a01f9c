import { type FileHandle, open } from 'node:fs/promises';
import { type Plugin, type RejectedStatement, redactMessage } from '@sqlbatcher/core';

/** Options of {@link DeadLetterWriter}. */
export interface DeadLetterWriterOptions {
  /** The `.sql` file to write. */
  readonly path: string;
  /** Append to an existing file instead of replacing it. Default false. */
  readonly append?: boolean;
  /** Plugin name in error messages. Default `'DeadLetterWriter'`. */
  readonly name?: string;
}

/**
 * Writes the statements rejected under `onError: 'skip' | 'isolate'` to a `.sql` file, each preceded
 * by its input index and error as `-- ` comments (every line of a multi-line message commented), so the
 * file can be fixed and re-run as it is. The file is opened (replaced, unless `append`) when the run
 * starts, each rejection is written as it happens, and the file is closed on cleanup.
 *
 * @example
 * ```ts
 * const batcher = new SQLBatcher({ adapter, onError: 'isolate', plugins: [new DeadLetterWriter({ path: 'rejected.sql' })] });
 * ```
 */
export class DeadLetterWriter implements Plugin {
  readonly name: string;
  readonly path: string;
  private readonly append: boolean;
  private handle: Promise<FileHandle> | undefined;
  private queue: Promise<void> = Promise.resolve();
  private written = 0;

  constructor(options: DeadLetterWriterOptions) {
    if (!options || typeof options.path !== 'string' || options.path === '') {
      throw new TypeError('DeadLetterWriter needs a file path');
    }
    this.path = options.path;
    this.append = options.append ?? false;
    this.name = options.name ?? 'DeadLetterWriter';
  }

  /** Statements written so far. */
  get count(): number {
    return this.written;
  }

  async init(): Promise<void> {
    await this.file();
  }

  onRejected(rejected: readonly RejectedStatement[]): Promise<void> {
    const text = rejected.map(formatDeadLetter).join('');
    const n = rejected.length;
    // Serialise writes: hooks of concurrent batches may overlap.
    const next = this.queue.then(async () => {
      const fh = await this.file();
      await writeAll(fh, text, this.path);
      this.written += n;
    });
    this.queue = next.catch(() => {});
    return next;
  }

  async cleanup(): Promise<void> {
    await this.queue;
    const h = this.handle;
    this.handle = undefined;
    if (!h) return;
    const fh = await h;
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  private file(): Promise<FileHandle> {
    this.handle ??= (async () => {
      const fh = await open(this.path, this.append ? 'a' : 'w');
      try {
        const { size } = await fh.stat();
        if (size === 0) {
          await writeAll(
            fh,
            `-- SQL Batcher dead letters: statements rejected under onError 'skip' or 'isolate'.\n-- Fix the cause, then run this file. Written from ${new Date().toISOString()}.\n\n`,
            this.path,
          );
        }
      } catch (err) {
        // (not left for the garbage collector to close; found in review)
        await fh.close().catch(() => undefined);
        throw err;
      }
      return fh;
    })();
    return this.handle;
  }
}

/**
 * Write all of `text`: a full disk or a file-size limit makes a write short rather than failing, and a
 * dead-letter file cut in the middle of a statement must not pass for complete (found in review).
 */
async function writeAll(fh: FileHandle, text: string, path: string): Promise<void> {
  let bytes = Buffer.from(text, 'utf8');
  while (bytes.length > 0) {
    const { bytesWritten } = await fh.write(bytes, 0, bytes.length);
    if (bytesWritten <= 0)
      throw new Error(
        `could not write to ${path}: the file takes no more data (disk full or file size limit?)`,
      );
    bytes = bytes.subarray(bytesWritten);
  }
}

/** One dead letter: the error as `-- ` comment lines, then the statement terminated by `;`. */
export function formatDeadLetter(r: RejectedStatement): string {
  // (the statement is written as it is, to be run again; the error text is masked: an engine quotes
  // values, a statement's password included, in its messages; found in review)
  const out = `statement #${r.index} failed: ${redactMessage(describeError(r.error), r.sql)}`
    .split(/\r\n|\r|\n|\u2028|\u2029/)
    .map((l) => `-- ${l.replace(/\0/g, '\\0')}`.trimEnd())
    .join('\n');
  return `${out}\n${terminate(r.sql)}\n\n`;
}

function describeError(err: unknown): string {
  if (!err || typeof err !== 'object') return String(err);
  const e = err as {
    name?: unknown;
    message?: unknown;
    code?: unknown;
    engineCode?: unknown;
    detail?: unknown;
    hint?: unknown;
    cause?: unknown;
  };
  const parts: string[] = [];
  const name = typeof e.name === 'string' && e.name.toLowerCase() !== 'error' ? `${e.name}: ` : '';
  parts.push(`${name}${typeof e.message === 'string' ? e.message : String(err)}`);
  const code =
    typeof e.engineCode === 'string' ? e.engineCode : typeof e.code === 'string' ? e.code : undefined;
  if (code) parts.push(`code: ${code}`);
  if (typeof e.detail === 'string') parts.push(`detail: ${e.detail}`);
  if (typeof e.hint === 'string') parts.push(`hint: ${e.hint}`);
  const cause = e.cause as { message?: unknown; code?: unknown; detail?: unknown } | undefined;
  if (
    cause &&
    typeof cause === 'object' &&
    typeof cause.message === 'string' &&
    cause.message !== e.message
  ) {
    parts.push(`cause: ${cause.message}`);
    if (typeof cause.code === 'string' && cause.code !== code) parts.push(`cause code: ${cause.code}`);
    if (typeof cause.detail === 'string') parts.push(`detail: ${cause.detail}`);
  }
  return parts.join('\n');
}

/**
 * Terminate a complete statement with `;`. When its last line may end in a `--` (or MySQL `#`) comment, the `;` goes
 * on a line of its own so the comment cannot swallow it. A statement already ending in `;` (outside a
 * comment) is left as it is: a complete statement cannot end inside a quote.
 */
function terminate(sql: string): string {
  const s = sql.trimEnd();
  const lastLine = s.slice(Math.max(s.lastIndexOf('\n'), s.lastIndexOf('\r')) + 1);
  if (lastLine.includes('--') || lastLine.includes('#')) return `${s}\n;`;
  if (s.endsWith(';')) return s;
  return `${s};`;
}
