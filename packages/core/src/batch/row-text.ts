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
  latin1Write?(s: string, offset: number): number;
  write?(s: string, offset: number): number;
  toString(encoding?: string, start?: number, end?: number): string;
}

interface BufferCtor {
  allocUnsafe(size: number): Utf8Buffer;
  prototype: Utf8Buffer;
}

const NodeBuffer = (globalThis as { Buffer?: BufferCtor }).Buffer;
const encoder = new TextEncoder();
// (ignoreBOM: a leading U+FEFF is text here, not a byte-order mark to drop)
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

function allocate(size: number): Utf8Buffer {
  return NodeBuffer ? NodeBuffer.allocUnsafe(size) : (new Uint8Array(size) as Utf8Buffer);
}

/** Node's writer (`utf8Write` skips `write`'s argument parsing), looked up once. */
const nodeWrite = NodeBuffer ? (NodeBuffer.prototype.utf8Write ?? NodeBuffer.prototype.write) : undefined;

/** Node's one-byte writer (a copy, where UTF-8 encoding tests each character). */
const nodeLatin1Write = NodeBuffer?.prototype.latin1Write;

/**
 * Write `s` as UTF-8 at `offset` (the caller made room); returns the bytes written. `ascii`: `s` is
 * ASCII, whose UTF-8 is its one-byte (latin1) form.
 */
function writeUtf8(buf: Utf8Buffer, s: string, offset: number, ascii = false): number {
  if (ascii && nodeLatin1Write) return nodeLatin1Write.call(buf, s, offset);
  if (nodeWrite) return nodeWrite.call(buf, s, offset);
  return encoder.encodeInto(s, buf.subarray(offset)).written;
}

/** `ascii`: every byte is below 0x80 (then the one-byte decoder gives the same text, faster). */
function decodeUtf8(buf: Utf8Buffer, end: number, ascii = false): string {
  if (!NodeBuffer) return decoder.decode(buf.subarray(0, end));
  return buf.toString(ascii ? 'latin1' : 'utf8', 0, end);
}

const wellFormed: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: () => boolean }).isWellFormed === 'function'
    ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (s) => !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);

/** Rows are written to the buffer this many at a time (one native call, not one per row). */
const WRITE_EVERY = 256;
/**
 * Past this many bytes the rows are kept as strings: decoding more than V8's longest string in bytes
 * fails even when the text would fit, and joining strings does not have that limit.
 */
const MAX_BUFFERED = 1 << 28;
/** A closed INSERT's buffer is handed to the next one only up to this size (not kept for ever). */
const MAX_SPARE = 1 << 22;

/** Joined rows of one merged INSERT: {@link push} the rows, then {@link finish} once. */
export class RowText {
  /** Allocated when the rows first outgrow `pending` (an INSERT of a few rows never needs it). */
  private buf: Utf8Buffer | undefined;
  /** Bytes used in `buf`. */
  private used = 0;
  /**
   * UTF-16 length of each row (to slice the rows out of the finished text), the first {@link count} of
   * it: a typed array, which the garbage collector neither scans nor copies.
   */
  private lengths = new Int32Array(16);
  private rowCount = 0;
  /** Rows not yet written to `buf` (the last few: they die young, which is the point). */
  private pending: string[] = [];
  /** UTF-8 bytes of `pending` joined by commas. */
  private pendingBytes = 0;
  /** Set once the rows cannot (or should not) be held as UTF-8: from then on the rows as strings. */
  private strings: string[] | undefined;
  /** Every row so far is ASCII. */
  private ascii = true;
  /** Every row of `pending` is ASCII. */
  private pendingAscii = true;

  /**
   * `bytes`: the UTF-8 length of `first` (see {@link push}); `spare`: a buffer to reuse; `maxBuffered`:
   * bytes held as UTF-8 at most (tests lower it).
   */
  constructor(
    first: string,
    bytes: number,
    spare?: Utf8Buffer,
    private readonly maxBuffered = MAX_BUFFERED,
  ) {
    this.buf = spare;
    this.push(first, bytes);
  }

  /** Number of rows. */
  get count(): number {
    return this.rowCount;
  }

  /**
   * Append `row`, whose UTF-8 length is `bytes` (a lone surrogate counted as 3, the U+FFFD it is written
   * as): `bytes !== row.length` tells a row that is not ASCII.
   */
  push(row: string, bytes: number): void {
    const ascii = bytes === row.length;
    if (this.strings === undefined) {
      if (!ascii && !wellFormed(row)) this.keepStrings();
      else if (this.pending.length >= WRITE_EVERY) this.write();
    }
    // (after the write above: the flags then describe the rows with this one)
    if (!ascii) this.ascii = this.pendingAscii = false;
    if (this.rowCount === this.lengths.length) {
      const grown = new Int32Array(this.lengths.length * 2);
      grown.set(this.lengths);
      this.lengths = grown;
    }
    this.lengths[this.rowCount++] = row.length;
    if (this.strings) {
      this.strings.push(row);
      return;
    }
    this.pendingBytes += this.pending.length > 0 ? bytes + 1 : bytes;
    this.pending.push(row);
  }

  /** Switch to keeping strings; what is written so far decodes to exactly its rows. */
  private keepStrings(): void {
    const count = this.rowCount - this.pending.length;
    const written =
      this.used > 0 ? this.slice(decodeUtf8(this.buf as Utf8Buffer, this.used, this.ascii), 0, count) : [];
    this.strings = written.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.used = 0;
  }

  /** Write the pending rows to the buffer. */
  private write(): void {
    const pending = this.pending;
    if (pending.length === 0) return;
    const sep = this.used > 0 ? 1 : 0;
    const bytes = sep + this.pendingBytes;
    if (this.used + bytes > this.maxBuffered) {
      this.keepStrings();
      return;
    }
    const text = pending.join(',');
    const need = this.used + bytes;
    let buf = this.buf;
    if (buf === undefined || need > buf.length) {
      let size = Math.max(buf ? buf.length * 2 : 0, 16384);
      while (size < need) size *= 2;
      const grown = allocate(size);
      if (buf) grown.set(buf.subarray(0, this.used));
      this.buf = buf = grown;
    }
    // (the separating comma written as a byte: `',' + text` would copy the text once more)
    if (sep) buf[this.used] = 44;
    const written = sep + writeUtf8(buf, text, this.used + sep, this.pendingAscii);
    if (written !== bytes) {
      // A miscounted row would leave the buffer short of it: keep exact strings instead.
      this.keepStrings();
      return;
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingAscii = true;
    this.used += written;
  }

  /**
   * The rows joined by `,`; when they were held as UTF-8, those bytes (exactly the text's UTF-8: rows
   * with lone surrogates are never held as bytes); else the byte buffer for a later INSERT to reuse
   * (when it is worth keeping). Call once: afterwards the store keeps only the rows' lengths, for
   * {@link rows}.
   */
  finish(): { text: string; bytes: Uint8Array | undefined; spare: Utf8Buffer | undefined } {
    let text: string;
    let bytes: Uint8Array | undefined;
    if (this.strings) text = this.strings.join(',');
    else if (this.used === 0) text = this.pending.join(',');
    else {
      this.write();
      // (write() may have switched to strings)
      if (this.strings) text = (this.strings as string[]).join(',');
      else {
        text = decodeUtf8(this.buf as Utf8Buffer, this.used, this.ascii);
        bytes = (this.buf as Utf8Buffer).subarray(0, this.used);
      }
    }
    const buf = this.buf;
    this.buf = undefined;
    this.strings = undefined;
    this.pending = [];
    this.used = 0;
    // (a buffer whose bytes are handed out is not reused)
    return { text, bytes, spare: !bytes && buf && buf.length <= MAX_SPARE ? buf : undefined };
  }

  /** The rows, sliced from `text` (the finished text) starting at `from`; reads only their lengths. */
  rows(text: string, from = 0): string[] {
    return this.slice(text, from, this.rowCount);
  }

  /** The first `count` rows, sliced from `text` starting at `from`. */
  private slice(text: string, from: number, count: number): string[] {
    const out = new Array<string>(count);
    let at = from;
    for (let k = 0; k < count; k++) {
      const len = this.lengths[k] as number;
      out[k] = text.slice(at, at + len);
      at += len + 1;
    }
    return out;
  }
}

export type { Utf8Buffer };
