/**
 * The rows of an INSERT being merged, kept as the UTF-8 bytes of `rows.join(',')` rather than as the
 * row strings. A row string sliced from its input statement keeps the whole statement alive; over a
 * batch of thousands of rows those strings survive several young-generation collections and each is
 * copied by every one of them, which cost a large share of the batcher's time. Bytes in one growing
 * buffer are not scanned or copied by the garbage collector, and the statements die young.
 *
 * Exactness: the joined text is decoded back once, when the INSERT is closed. UTF-8 round-trips every
 * well-formed string; a row with a lone surrogate (which UTF-8 cannot hold) switches the store to
 * keeping strings, so the text is always exactly the rows joined.
 */

interface Utf8Buffer extends Uint8Array {
  utf8Write?(s: string, offset: number): number;
  write?(s: string, offset: number): number;
  toString(encoding?: string, start?: number, end?: number): string;
}

interface BufferCtor {
  allocUnsafe(size: number): Utf8Buffer;
  prototype: Utf8Buffer;
}

const NodeBuffer = (globalThis as { Buffer?: BufferCtor }).Buffer;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function allocate(size: number): Utf8Buffer {
  return NodeBuffer ? NodeBuffer.allocUnsafe(size) : (new Uint8Array(size) as Utf8Buffer);
}

/** Node's writer (`utf8Write` skips `write`'s argument parsing), looked up once. */
const nodeWrite = NodeBuffer ? (NodeBuffer.prototype.utf8Write ?? NodeBuffer.prototype.write) : undefined;

/** Write `s` as UTF-8 at `offset` (room for `3 * s.length` bytes is guaranteed); returns bytes written. */
function writeUtf8(buf: Utf8Buffer, s: string, offset: number): number {
  if (nodeWrite) return nodeWrite.call(buf, s, offset);
  return encoder.encodeInto(s, buf.subarray(offset)).written;
}

function decodeUtf8(buf: Utf8Buffer, end: number): string {
  return NodeBuffer ? buf.toString('utf8', 0, end) : decoder.decode(buf.subarray(0, end));
}

const wellFormed: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: () => boolean }).isWellFormed === 'function'
    ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (s) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

/** Rows are written to the buffer this many at a time (one native call, not one per row). */
const WRITE_EVERY = 256;

/** Joined rows of one merged INSERT. */
export class RowText {
  /** Allocated when the rows first outgrow `pending` (an INSERT of a few rows never needs it). */
  private buf: Utf8Buffer | undefined;
  /** Bytes used in `buf`. */
  private used = 0;
  /** UTF-16 length of each row (to slice the rows out of the decoded text). */
  private readonly lengths: number[] = [];
  /** Rows not yet written to `buf` (the last few: they die young, which is the point). */
  private pending: string[] = [];
  /** Set once a row could not be held as UTF-8: from then on the rows as strings. */
  private strings: string[] | undefined;

  /** `bytes`: the UTF-8 length of `first` as the caller counts it (see {@link push}). */
  constructor(first: string, bytes: number, spare?: Utf8Buffer) {
    this.buf = spare;
    this.push(first, bytes);
  }

  /** Number of rows. */
  get count(): number {
    return this.lengths.length;
  }

  /**
   * Append `row`, whose UTF-8 length is `bytes` (a lone surrogate counted as 3, the U+FFFD it is written
   * as): `bytes !== row.length` tells a row that is not ASCII.
   */
  push(row: string, bytes: number): void {
    if (this.strings === undefined && bytes !== row.length && !wellFormed(row)) {
      // Keep strings from here on: what is written so far decodes to exactly its rows.
      this.strings = this.rows(this.text());
      this.pending = [];
    }
    this.lengths.push(row.length);
    if (this.strings) {
      this.strings.push(row);
      return;
    }
    if (this.pending.length >= WRITE_EVERY) this.write();
    this.pending.push(row);
  }

  /** Write the pending rows to the buffer. */
  private write(): void {
    const pending = this.pending;
    if (pending.length === 0) return;
    const text = this.used > 0 ? `,${pending.join(',')}` : pending.join(',');
    this.pending = [];
    const need = this.used + 3 * text.length;
    let buf = this.buf;
    if (buf === undefined || need > buf.length) {
      let size = Math.max(buf ? buf.length * 2 : 0, 16384);
      while (size < need) size *= 2;
      const grown = allocate(size);
      if (buf) grown.set(buf.subarray(0, this.used));
      this.buf = buf = grown;
    }
    this.used += writeUtf8(buf, text, this.used);
  }

  /** The rows joined by `,`. */
  text(): string {
    if (this.strings) return this.strings.join(',');
    if (this.used === 0) return this.pending.join(',');
    this.write();
    return decodeUtf8(this.buf as Utf8Buffer, this.used);
  }

  /** The rows, sliced from `text` (the value of {@link text}) starting at `from`. */
  rows(text: string, from = 0): string[] {
    const out = new Array<string>(this.lengths.length);
    let at = from;
    for (let k = 0; k < this.lengths.length; k++) {
      const len = this.lengths[k] as number;
      out[k] = text.slice(at, at + len);
      at += len + 1;
    }
    return out;
  }

  /** Hand the byte buffer over for reuse by a later group (this one must not be used after). */
  release(): Utf8Buffer | undefined {
    const b = this.buf;
    this.buf = undefined;
    return b;
  }
}

export type { Utf8Buffer };
