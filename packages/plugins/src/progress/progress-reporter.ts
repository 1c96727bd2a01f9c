import type { BatchInfo, BatchOutcome, Plugin, RejectedStatement } from '@sqlbatcher/core';

/** The part of a writable stream the reporter uses (`process.stderr`, a file stream, a test double). */
export interface ProgressStream {
  write(chunk: string): unknown;
  /** True for a terminal: the reporter then redraws one line with a bar. */
  readonly isTTY?: boolean;
  /** Terminal width, when known. */
  readonly columns?: number;
}

/** Options of {@link ProgressReporter}. */
export interface ProgressReporterOptions {
  /** Input statements expected, for the percentage, bar and ETA. Unknown by default. */
  readonly total?: number;
  /** Where to write. Default `process.stderr`. */
  readonly stream?: ProgressStream;
  /** Minimum time between two lines on a non-terminal stream. Default 5,000 ms. */
  readonly intervalMs?: number;
  /** Minimum time between two redraws on a terminal. Default 100 ms. */
  readonly redrawMs?: number;
  /** Prefix of every line. Default `'sqlbatcher'`. */
  readonly label?: string;
  /** Clock (tests). Default `Date.now`. */
  readonly now?: () => number;
  /** Plugin name in error messages. Default `'ProgressReporter'`. */
  readonly name?: string;
}

/** Progress so far. */
export interface Progress {
  /**
   * Input statements done: in requests that succeeded (or would be sent, in a dry run), and those a
   * request that failed part-way applied before its failed statement.
   */
  readonly statements: number;
  /** VALUES rows of those statements. */
  readonly rows: number;
  /** Requests that succeeded. */
  readonly batches: number;
  readonly failedBatches: number;
  /** Input statements rejected under `onError: 'skip' | 'isolate'`. */
  readonly rejected: number;
  readonly total: number | undefined;
  readonly elapsedMs: number;
  /** Input statements per second since the first batch. */
  readonly statementsPerSecond: number;
  readonly rowsPerSecond: number;
  /** Estimated time left; undefined without `total` or before any progress. */
  readonly etaMs: number | undefined;
}

/**
 * Shows rows and statements done, the rate and the ETA: a redrawn progress bar when the stream is a
 * terminal, a plain line every `intervalMs` otherwise (logs, CI), and a final line on cleanup.
 *
 * @example
 * ```ts
 * batcher.registerPlugin(new ProgressReporter({ total: statements.length }));
 * ```
 */
export class ProgressReporter implements Plugin {
  readonly name: string;
  private readonly stream: ProgressStream;
  private readonly total: number | undefined;
  private readonly intervalMs: number;
  private readonly redrawMs: number;
  private readonly label: string;
  private readonly now: () => number;
  private startedAt: number | undefined;
  private lastOutput = Number.NEGATIVE_INFINITY;
  private statements = 0;
  private rows = 0;
  private batches = 0;
  private failedBatches = 0;
  private rejected = 0;
  private finished = false;

  constructor(options: ProgressReporterOptions = {}) {
    this.name = options.name ?? 'ProgressReporter';
    this.stream = options.stream ?? process.stderr;
    this.total = options.total;
    this.intervalMs = options.intervalMs ?? 5000;
    this.redrawMs = options.redrawMs ?? 100;
    this.label = options.label ?? 'sqlbatcher';
    this.now = options.now ?? Date.now;
  }

  private get tty(): boolean {
    return this.stream.isTTY === true;
  }

  init(): void {
    this.startedAt ??= this.now();
  }

  beforeBatch(): void {
    this.startedAt ??= this.now();
  }

  afterBatch(batch: BatchInfo, outcome: BatchOutcome): void {
    if (outcome.success) {
      this.batches++;
      this.statements += batch.inputCount;
      this.rows += batch.rowCount;
    } else {
      this.failedBatches++;
      // A request that failed part-way: what ran before the failed statement stays applied (the
      // statements after it are counted when they are sent again).
      if (outcome.partial) {
        this.statements += outcome.partial.appliedIndices.length;
        this.rows += outcome.partial.appliedRows;
      }
    }
    this.maybeWrite();
  }

  onRejected(rejected: readonly RejectedStatement[]): void {
    this.rejected += rejected.length;
    this.maybeWrite();
  }

  /** Writes the final line (a newline after the bar on a terminal). */
  cleanup(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.startedAt === undefined) return;
    if (this.tty) this.stream.write(`\r${this.barLine()}\x1b[K\n`);
    else this.stream.write(`${this.plainLine('done')}\n`);
  }

  /** Progress so far. */
  getProgress(): Progress {
    const elapsedMs = this.startedAt === undefined ? 0 : Math.max(0, this.now() - this.startedAt);
    const rate = (n: number) => (elapsedMs > 0 ? (n * 1000) / elapsedMs : 0);
    const statementsPerSecond = rate(this.statements);
    const remaining =
      this.total === undefined ? undefined : Math.max(0, this.total - this.statements - this.rejected);
    const etaMs =
      remaining === undefined
        ? undefined
        : remaining === 0
          ? 0
          : statementsPerSecond > 0
            ? (remaining / statementsPerSecond) * 1000
            : undefined;
    return {
      statements: this.statements,
      rows: this.rows,
      batches: this.batches,
      failedBatches: this.failedBatches,
      rejected: this.rejected,
      total: this.total,
      elapsedMs,
      statementsPerSecond,
      rowsPerSecond: rate(this.rows),
      etaMs,
    };
  }

  private maybeWrite(): void {
    if (this.finished) return;
    const t = this.now();
    if (t - this.lastOutput < (this.tty ? this.redrawMs : this.intervalMs)) return;
    this.lastOutput = t;
    if (this.tty) {
      this.stream.write(`\r${this.barLine()}\x1b[K`);
    } else this.stream.write(`${this.plainLine('progress')}\n`);
  }

  private summary(p: Progress): string {
    const parts = [
      `${fmt(p.statements)}${p.total !== undefined ? `/${fmt(p.total)}` : ''} statements`,
      `${fmt(p.rows)} rows`,
      `${fmt(Math.round(p.statementsPerSecond))} statements/s`,
    ];
    if (p.rejected > 0) parts.push(`${fmt(p.rejected)} rejected`);
    if (p.failedBatches > 0) parts.push(`${fmt(p.failedBatches)} failed batches`);
    return parts.join(', ');
  }

  private plainLine(word: 'progress' | 'done'): string {
    const p = this.getProgress();
    const pct = p.total ? ` ${percent(p)}` : '';
    const eta = word === 'progress' && p.etaMs !== undefined ? `, ETA ${duration(p.etaMs)}` : '';
    const took = word === 'done' ? ` in ${duration(p.elapsedMs)}` : '';
    return `${this.label} ${word}${pct}: ${this.summary(p)}${eta}${took}`;
  }

  private barLine(): string {
    const p = this.getProgress();
    const eta =
      p.etaMs !== undefined && !this.finished ? ` ETA ${duration(p.etaMs)}` : ` ${duration(p.elapsedMs)}`;
    const text = `${this.summary(p)}${eta}`;
    const columns = this.stream.columns ?? 80;
    if (!p.total) return `${this.label} ${text}`.slice(0, columns - 1);
    // A fixed width, so the bar does not jump as the numbers grow; the line never wraps (it would
    // break the carriage-return redraw).
    const width = Math.max(10, Math.min(30, columns - 90));
    const done = Math.min(width, Math.floor(((p.statements + p.rejected) / p.total) * width));
    return `${this.label} [${'#'.repeat(done)}${'-'.repeat(width - done)}] ${percent(p)} ${text}`.slice(
      0,
      columns - 1,
    );
  }
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function percent(p: Progress): string {
  if (!p.total) return '';
  return `${Math.min(100, ((p.statements + p.rejected) / p.total) * 100).toFixed(1)}%`;
}

function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
