/** Where progress goes: stderr in the CLI; anything with `write` in tests. */
export interface ProgressSink {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

function fmtBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
}

/**
 * Progress of a file load by bytes read and statements done: a redrawn bar on a TTY, a line every
 * `intervalMs` otherwise. Bytes give a true ETA for files, which statement counts cannot.
 */
export class FileProgress {
  private lastDraw = 0;
  private readonly started: number;
  bytesRead = 0;
  statementsDone = 0;
  rowsDone = 0;

  constructor(
    private readonly sink: ProgressSink,
    private readonly totalBytes: number | undefined,
    private readonly intervalMs = 2_000,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  /** Redraw if due. */
  tick(force = false): void {
    const t = this.now();
    const every = this.sink.isTTY ? 100 : this.intervalMs;
    if (!force && t - this.lastDraw < every) return;
    this.lastDraw = t;
    let line = this.line(t);
    // (a line wider than the terminal wraps, and `\r` then redraws only its last part)
    const columns = this.sink.columns;
    if (this.sink.isTTY && columns && line.length > columns - 1)
      line = `${line.slice(0, Math.max(columns - 2, 1))}…`;
    if (this.sink.isTTY) this.sink.write(`\r${line}\x1b[K`);
    else this.sink.write(`${line}\n`);
  }

  /** Final line (ends the TTY bar with a newline). */
  done(): void {
    this.tick(true);
    if (this.sink.isTTY) this.sink.write('\n');
  }

  private line(t: number): string {
    const secs = Math.max((t - this.started) / 1000, 1e-3);
    const rate = this.statementsDone / secs;
    const total = this.totalBytes;
    let head = '';
    let eta = '';
    if (total && total > 0) {
      const frac = Math.min(1, this.bytesRead / total);
      if (this.sink.isTTY) {
        const width = 24;
        const full = Math.round(frac * width);
        head = `[${'#'.repeat(full)}${'-'.repeat(width - full)}] `;
      }
      head += `${(frac * 100).toFixed(1)}% ${fmtBytes(this.bytesRead)}/${fmtBytes(total)}`;
      const byteRate = this.bytesRead / secs;
      eta = frac < 1 && byteRate > 0 ? `, ETA ${fmtDuration((total - this.bytesRead) / byteRate)}` : '';
    } else head = fmtBytes(this.bytesRead);
    return `sqlbatcher ${head}, ${this.statementsDone.toLocaleString('en-US')} statements, ${this.rowsDone.toLocaleString('en-US')} rows, ${Math.round(rate).toLocaleString('en-US')} statements/s${eta}`;
  }
}
