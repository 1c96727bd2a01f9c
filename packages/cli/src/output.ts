/** A stream as {@link OutputWriter} uses it: stdout, a file stream, or a test's stream. */
export interface OutputStream {
  write(text: string): unknown;
  on?(event: 'error', listener: (err: Error) => void): unknown;
  once?(event: string, listener: (...args: unknown[]) => void): unknown;
  off?(event: string, listener: (...args: unknown[]) => void): unknown;
}

/**
 * Writes text to a stream whose reader may be slow or go away: {@link write} waits while the stream is
 * full (nothing piles up in memory), and an error of the stream (EPIPE when the reader of a pipe closed
 * it, ENOSPC, …) is thrown by the next write, whenever it was emitted.
 */
export class OutputWriter {
  private error: Error | undefined;
  constructor(private readonly stream: OutputStream) {
    // (kept for the life of the stream: an error emitted later must not crash the process either)
    stream.on?.('error', (err) => {
      this.error ??= err;
    });
  }

  /** Write `text`; resolves once the stream can take more. */
  async write(text: string): Promise<void> {
    this.check();
    const stream = this.stream;
    if (stream.write(text) === false && stream.once && stream.off) {
      const { once, off } = stream as Required<OutputStream>;
      await new Promise<void>((resolve) => {
        // (each wait removes all of its listeners: they would pile up over a long output otherwise)
        const done = () => {
          off.call(stream, 'drain', done);
          off.call(stream, 'error', done);
          off.call(stream, 'close', done);
          resolve();
        };
        once.call(stream, 'drain', done);
        once.call(stream, 'error', done);
        once.call(stream, 'close', done);
      });
    }
    this.check();
  }

  private check(): void {
    if (this.error) throw this.error;
  }
}
