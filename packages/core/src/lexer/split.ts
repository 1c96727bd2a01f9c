import { InvalidStatementError } from '../errors.js';
import { type Dialect, type DialectRules, dialectRules } from './dialect.js';
import {
  INCOMPLETE,
  isIdentChar,
  isSpace,
  lastToken,
  mayStartToken,
  NOT_SPECIAL,
  skipToken,
  skipTrivia,
  trimSpace,
} from './scanner.js';

/** `COPY … FROM stdin` (after any comments: see {@link afterComments}). */
const COPY_FROM_STDIN = /^copy\b[\s\S]*?\bfrom\s+stdin\b/i;

/** Options of {@link StatementSplitter} and {@link splitStatements}. */
export interface SplitOptions {
  /** Lexical rules (default `postgres`). */
  dialect?: Dialect | DialectRules;
  /**
   * Called for psql meta-commands (a line starting with `\` where a statement would start, postgres
   * dialect only). The default ignores `\restrict` / `\unrestrict` (written by pg_dump 15.14+) and
   * throws for any other, since it would change what the file means.
   */
  onMetaCommand?: (command: string, statementIndex: number) => void;
  /**
   * The index the first statement of this text has in a larger input (default 0): errors and
   * `onMetaCommand` count from it.
   */
  firstIndex?: number;
}

function defaultMetaCommand(command: string, index: number): void {
  const name = command.slice(1).split(/\s/, 1)[0] ?? '';
  if (name === 'restrict' || name === 'unrestrict') return;
  throw new InvalidStatementError(
    `psql meta-command \\${name} is not SQL and is not supported`,
    index,
    command,
  );
}

/**
 * Splits SQL text into statements on top-level `;`, exactly: semicolons inside quotes, dollar quotes,
 * comments and `CREATE … BEGIN ATOMIC … END` bodies do not split. Works over chunks of a large file
 * without holding it in memory: `push(chunk)` returns the statements completed so far, `end()` the
 * rest. Statements come out trimmed, without their `;`; empty and comment-only pieces are dropped.
 */
export class StatementSplitter {
  private readonly rules: DialectRules;
  private readonly onMeta: (command: string, index: number) => void;
  private buf = '';
  /** Scan position in `buf`, always at a token boundary. */
  private pos = 0;
  /** Start of the current statement in `buf`. */
  private start = 0;
  private hasContent = false;
  /** Leading words of the current statement, upper-cased, while they may still spell CREATE [OR REPLACE] FUNCTION. */
  private head: string[] = [];
  /** The statement is `CREATE [OR REPLACE] FUNCTION|PROCEDURE`: track BEGIN … END like psql does. */
  private routine = false;
  private headDone = false;
  private parenDepth = 0;
  private blockDepth = 0;
  /** Script blocks (bigquery, snowflake): the next word starts a statement (IF/LOOP/… open a block). */
  private stmtStart = true;
  /** The previous word was a block-closing END (`END CASE` must not open a block). */
  private afterEnd = false;
  /** A label (`name:`) began the statement: its `:` keeps the statement's start for the next word. */
  private afterLabel = false;
  /** Open script blocks, innermost last (`case` is a CASE expression, `CASE` a CASE statement). */
  private blocks: string[] = [];
  /** Statements emitted so far: the index of the next one. */
  private count = 0;
  /** No text received yet (a leading byte-order mark is dropped). */
  private atStart = true;
  private ended = false;
  /** Characters that could end the open token the scan stopped at; undefined: rescan on every chunk. */
  private waitFor: string | undefined;
  /** An error found after some statements of the same chunk: thrown by the next push()/end(). */
  private failure: unknown;
  /** Chunks received while waiting for one of {@link waitFor}. */
  private parked: string[] = [];
  /** The last two characters received (a terminator may straddle two chunks). */
  private lastChars = '';

  /** The index of the first statement in the larger input (see `SplitOptions.firstIndex`). */
  private readonly base: number;

  constructor(options: SplitOptions = {}) {
    this.rules = dialectRules(options.dialect);
    this.onMeta = options.onMetaCommand ?? defaultMetaCommand;
    this.base = options.firstIndex ?? 0;
  }

  /** Number of statements emitted so far. */
  get statementCount(): number {
    return this.count;
  }

  /** @internal The text received since the last statement emitted (for error excerpts). */
  pendingText(): string {
    return this.buf.slice(this.start) + this.parked.join('');
  }

  /** Feed the next chunk of text; returns the statements it completed. */
  push(chunk: string): string[] {
    if (this.ended) throw new Error('StatementSplitter: push() after end()');
    if (this.failure !== undefined) throw this.failure;
    if (this.atStart && chunk !== '') {
      // A byte-order mark starts many files saved on Windows: it is not part of the first statement.
      this.atStart = false;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    const probe = this.lastChars + chunk;
    this.lastChars = probe.slice(-2);
    if (this.waitFor !== undefined) {
      // A quote or comment is open: until a character that could end it arrives (in this chunk or the
      // last two characters before it), rescanning it would find nothing. Park the chunk instead, so a
      // huge literal streamed in many chunks costs linear, not quadratic, time. Only ever delays output.
      if (!hasAny(probe, this.waitFor)) {
        this.parked.push(chunk);
        return [];
      }
      this.waitFor = undefined;
      chunk = this.unpark(chunk);
    }
    if (this.start > 0) {
      this.buf = this.buf.slice(this.start);
      this.pos -= this.start;
      this.start = 0;
    }
    this.buf += chunk;
    const out: string[] = [];
    try {
      this.scan(false, out);
    } catch (err) {
      // Hand out the statements before the bad one first (a stream executes them); fail on the next call.
      if (out.length === 0) throw err;
      this.failure = err;
    }
    return out;
  }

  /** Signal the end of input; returns the last statement(s). Throws on an unterminated quote or comment. */
  end(): string[] {
    if (this.failure !== undefined) {
      this.ended = true;
      throw this.failure;
    }
    if (this.ended) return [];
    this.ended = true;
    if (this.parked.length > 0) this.buf += this.unpark('');
    const out: string[] = [];
    this.scan(true, out);
    if (this.pos < this.buf.length) {
      // scan() stops early only on an unterminated token.
      const what = lastToken.what || 'token';
      const text = this.buf.slice(this.start);
      throw new InvalidStatementError(
        `unterminated ${what} at end of input`,
        this.base + this.count,
        text,
        'UNTERMINATED',
      );
    }
    this.emit(this.buf.length, out);
    this.buf = '';
    this.pos = this.start = 0;
    return out;
  }

  private unpark(chunk: string): string {
    if (this.parked.length === 0) return chunk;
    this.parked.push(chunk);
    const all = this.parked.join('');
    this.parked = [];
    return all;
  }

  private emit(end: number, out: string[]): void {
    if (this.hasContent) {
      // (ASCII whitespace only: U+00A0, U+3000 … are identifier characters to PostgreSQL)
      const text = trimSpace(this.buf.slice(this.start, end));
      const c0 = text.charCodeAt(0) | 32;
      if (
        this.rules.psqlMetaCommands &&
        // (pg_dump writes comments before each COPY)
        (c0 === 99 /* c */ || c0 === 45 /* - */ || c0 === 47) /* / */ &&
        COPY_FROM_STDIN.test(afterComments(text, false))
      ) {
        // pg_dump's data blocks: the lines after it up to `\.` are data, not SQL.
        throw new InvalidStatementError(
          'COPY … FROM stdin data inside a SQL file is not supported (dump with --inserts, or load it with psql)',
          this.base + this.count,
          text,
        );
      }
      // (after any comments: `-- note` on the line before is still the client command's file)
      // (no regular expression over the comments: one that may split a run of spaces several ways
      // takes time exponential in its length when it fails: found in review)
      // (also its short form `\d //`; found in review)
      const head = this.rules.name === 'mysql' ? afterComments(text, true) : '';
      // (`\d//` too: the client takes what follows `\d` as the delimiter; found in review)
      if (this.rules.name === 'mysql' && (/^delimiter\b/i.test(head) || /^\\d(?![A-Za-z0-9_])/.test(head))) {
        // A mysql client command: it changes how the rest of the file splits. Refuse rather than mis-split.
        throw new InvalidStatementError(
          'the mysql client command DELIMITER (\\d) is not supported; split such a file with the mysql client',
          this.base + this.count,
          text,
        );
      }
      out.push(text);
      this.count++;
    }
    this.hasContent = false;
    this.head = [];
    this.routine = false;
    this.headDone = false;
    this.parenDepth = 0;
    this.blockDepth = 0;
    this.stmtStart = true;
    this.afterEnd = false;
    this.afterLabel = false;
    this.blocks = [];
  }

  private scan(final: boolean, out: string[]): void {
    const s = this.buf;
    const r = this.rules;
    const n = s.length;
    let i = this.pos;
    while (i < n) {
      const c = s.charCodeAt(i);
      // (psql does not end a statement at a `;` inside parentheses: `SELECT (1; INSERT …;` is one
      // statement, which fails, not a failing one and an INSERT that runs)
      if (c === 59 /* ; */ && this.blockDepth === 0 && !(r.psqlMetaCommands && this.parenDepth > 0)) {
        this.emit(i, out);
        i++;
        this.start = i;
        continue;
      }
      if (c === 59 && r.scriptBlocks) {
        // `;` inside a script block: the next word starts a statement of the block
        this.stmtStart = true;
        this.afterEnd = false;
        i++;
        continue;
      }
      if (isSpace(c)) {
        i++;
        continue;
      }
      if (c === 92 /* \ */ && !this.hasContent && r.psqlMetaCommands) {
        const eol = s.indexOf('\n', i);
        if (eol === -1 && !final) break;
        const lineEnd = eol === -1 ? n : eol;
        this.onMeta(s.slice(i, lineEnd).trim(), this.base + this.count);
        i = eol === -1 ? n : eol + 1;
        this.start = i;
        continue;
      }
      if (mayStartToken(c)) {
        const e = skipToken(s, i, r, final);
        if (e === INCOMPLETE) {
          if (!final) this.waitFor = terminators(s, i);
          break;
        }
        if (e !== NOT_SPECIAL) {
          if (!lastToken.trivia) {
            this.hasContent = true;
            this.stmtStart = false;
            this.afterEnd = false;
          }
          i = e;
          continue;
        }
      }
      if (c === 92 /* \ */ && r.psqlMetaCommands) {
        // psql takes an unquoted backslash anywhere as a meta-command (`\g` runs the statement so far,
        // `\;` sends a `;` without splitting): where it would split, the lexer cannot follow. (Valid SQL
        // has no unquoted backslash.)
        const eol = s.indexOf('\n', i);
        throw new InvalidStatementError(
          `psql meta-command ${trimSpace(s.slice(i, eol === -1 ? Math.min(n, i + 40) : eol))} inside a statement is not supported`,
          this.base + this.count,
          s.slice(this.start, eol === -1 ? n : eol),
        );
      }
      this.hasContent = true;
      if (c === 58 /* : */ && this.afterLabel) {
        // `lbl: WHILE …`: the loop keyword after a label starts the statement (BigQuery scripting)
        this.afterLabel = false;
        i++;
        continue;
      }
      this.afterLabel = false;
      if (c === 40) this.parenDepth++;
      else if (c === 41 && (this.parenDepth > 0 || !r.psqlMetaCommands)) this.parenDepth--;
      else if (isIdentChar(c)) {
        let j = i + 1;
        while (j < n && isIdentChar(s.charCodeAt(j))) j++;
        if (j === n && !final) break;
        if (r.scriptBlocks) {
          if (this.scriptWord(s, i, j, final)) break; // needs the next word: wait for more input
        } else if (!this.headDone || this.routine) this.word(s, i, j);
        i = j;
        continue;
      }
      this.stmtStart = false;
      this.afterEnd = false;
      i++;
    }
    this.pos = i;
  }

  /**
   * BigQuery / Snowflake scripting: `BEGIN … END`, and `IF`, `LOOP`, `WHILE`, `FOR`, `REPEAT` starting
   * a statement, open blocks closed by `END` (`END IF`, `END LOOP`, …); `CASE` opens one anywhere (its
   * `END` or `END CASE` closes it); Snowflake's `DECLARE …` opens a block its `BEGIN` continues.
   * `BEGIN;` / `BEGIN TRANSACTION` (WORK, NAME) is a transaction statement, not a block. `;` inside a
   * block does not end the statement. Returns true when the next word is needed and not yet read.
   */
  private scriptWord(s: string, i: number, j: number, final: boolean): boolean {
    const start = this.stmtStart;
    const afterEnd = this.afterEnd;
    this.stmtStart = false;
    this.afterEnd = false;
    if (j - i < 2 || j - i > 7) return this.label(s, j, start, afterEnd, final);
    const w = s.slice(i, j).toUpperCase();
    const blocks = this.blocks;
    switch (w) {
      case 'BEGIN': {
        const next = this.nextWord(s, j, final);
        if (next === undefined) {
          this.stmtStart = start;
          this.afterEnd = afterEnd;
          return true;
        }
        if (next === ';' || next === 'TRANSACTION' || next === 'WORK' || next === 'NAME' || next === '')
          return false;
        if (blocks[blocks.length - 1] === 'DECLARE') blocks[blocks.length - 1] = 'BEGIN';
        else blocks.push('BEGIN');
        this.stmtStart = true;
        break;
      }
      case 'DECLARE':
        if (this.rules.name === 'snowflake' && blocks.length === 0) blocks.push('DECLARE');
        break;
      case 'CASE':
        // a CASE statement (its THEN/ELSE start statements) or a CASE expression; `END CASE` closes one
        if (!afterEnd) blocks.push(start ? 'CASE' : 'case');
        break;
      case 'IF':
      case 'LOOP':
      case 'WHILE':
      case 'FOR':
      case 'REPEAT':
        // only as a statement: IF(…) is a function, REPEAT(…) too, FOR SYSTEM_TIME a clause
        if (start) blocks.push(w);
        if (w === 'LOOP' || w === 'REPEAT') this.stmtStart = start;
        break;
      case 'THEN':
      case 'ELSE': {
        // statements follow in an IF or CASE statement or an exception handler, not in a CASE expression
        const top = blocks[blocks.length - 1];
        this.stmtStart = top === 'IF' || top === 'CASE' || top === 'BEGIN';
        break;
      }
      case 'DO':
        this.stmtStart = true;
        break;
      case 'END': {
        if (blocks.length === 0) return false;
        const next = this.nextWord(s, j, final);
        if (next === undefined) {
          this.stmtStart = start;
          this.afterEnd = afterEnd;
          return true;
        }
        blocks.pop();
        this.afterEnd = true;
        break;
      }
      default:
        return this.label(s, j, start, afterEnd, final);
    }
    this.blockDepth = blocks.length;
    return false;
  }

  /**
   * A label before a loop (`lbl: LOOP`, `lbl: WHILE …`), the word ending at `j` at a statement's start:
   * the word after its colon starts the statement (BigQuery). Returns true when more input is needed.
   */
  private label(s: string, j: number, start: boolean, afterEnd: boolean, final: boolean): boolean {
    if (!start || this.rules.name !== 'bigquery') return false;
    let k = j;
    while (k < s.length && isSpace(s.charCodeAt(k))) k++;
    if (k + 1 >= s.length && !final) {
      this.stmtStart = start;
      this.afterEnd = afterEnd;
      return true;
    }
    if (s.charCodeAt(k) === 58 && s.charCodeAt(k + 1) !== 58 && s.charCodeAt(k + 1) !== 61) {
      this.stmtStart = true;
      this.afterLabel = true;
    }
    return false;
  }

  /** The upper-cased word (or `;`) after position `j`; '' at the end of input; undefined: not known yet. */
  private nextWord(s: string, j: number, final: boolean): string | undefined {
    const k = skipTrivia(s, j, this.rules);
    if (k === INCOMPLETE) return final ? '' : undefined;
    // Wait for enough text to read a whole word (TRANSACTION is the longest one looked for).
    if (!final && s.length - k < 12) return undefined;
    if (k >= s.length) return '';
    if (s.charCodeAt(k) === 59) return ';';
    let e = k;
    while (e < s.length && isIdentChar(s.charCodeAt(e))) e++;
    return s.slice(k, e).toUpperCase();
  }

  /**
   * psql's rule: in `CREATE [OR REPLACE] FUNCTION|PROCEDURE`, outside parentheses, BEGIN opens a block
   * (as in `BEGIN ATOMIC … END`), CASE inside a block opens one too, END closes one; `;` inside a
   * block does not end the statement.
   */
  private word(s: string, i: number, j: number): void {
    const w = j - i <= 9 ? s.slice(i, j).toUpperCase() : '';
    if (!this.headDone) {
      if (this.rules.name !== 'postgres') {
        this.headDone = true;
        return;
      }
      this.head.push(w);
      const h = this.head;
      const ok =
        h[0] === 'CREATE' &&
        (h.length === 1 ||
          (h.length === 2 && (w === 'FUNCTION' || w === 'PROCEDURE' || w === 'OR')) ||
          (h.length === 3 && h[1] === 'OR' && w === 'REPLACE') ||
          (h.length === 4 && h[2] === 'REPLACE' && (w === 'FUNCTION' || w === 'PROCEDURE')));
      if (!ok) this.headDone = true;
      else if (w === 'FUNCTION' || w === 'PROCEDURE') {
        this.routine = true;
        this.headDone = true;
      }
      return;
    }
    if (this.parenDepth !== 0) return;
    if (w === 'BEGIN') this.blockDepth++;
    else if (w === 'CASE') {
      if (this.blockDepth > 0) this.blockDepth++;
    } else if (w === 'END' && this.blockDepth > 0) this.blockDepth--;
  }
}

function hasAny(s: string, chars: string): boolean {
  for (let k = 0; k < chars.length; k++) if (s.indexOf(chars[k] as string) !== -1) return true;
  return false;
}

/**
 * The characters that could end the token opening at `i` (unterminated at the end of `s`), or
 * undefined when it is not yet known what the token is (too close to the end to decide).
 */
function terminators(s: string, i: number): string | undefined {
  const n = s.length;
  if (n - i < 4) return undefined;
  switch (s.charCodeAt(i)) {
    case 39:
      return "'\\";
    case 34:
      return '"\\';
    case 96:
      return '`\\';
    case 36: {
      // Only once the opening `$tag$` is complete.
      let j = i + 1;
      while (j < n && s.charCodeAt(j) !== 36 && isIdentChar(s.charCodeAt(j))) j++;
      return j < n && s.charCodeAt(j) === 36 ? '$' : undefined;
    }
    case 45:
    case 35:
      return '\n\r';
    case 47:
      return s.charCodeAt(i + 1) === 42 ? '*' : '\n\r';
    default:
      return undefined;
  }
}

/** Split SQL text into statements (see {@link StatementSplitter}). */
export function splitStatements(text: string, options?: SplitOptions): string[] {
  const sp = new StatementSplitter(options);
  const out = sp.push(text);
  for (const s of sp.end()) out.push(s);
  return out;
}

/**
 * Split a stream of text or bytes (UTF-8) into statements with bounded memory: only the statement
 * being read is held. Accepts Node.js readable streams and any (async) iterable of chunks.
 */
export async function* splitStatementStream(
  source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
  options?: SplitOptions,
): AsyncGenerator<string, void, undefined> {
  for await (const chunk of splitStatementChunks(source, options)) yield* chunk;
}

/**
 * Like {@link splitStatementStream}, but yields the statements completed by each input chunk as one
 * array — one async step per chunk instead of per statement, which is much faster for big files.
 * `SQLBatcher.processStatements` accepts this directly.
 */
export async function* splitStatementChunks(
  source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
  options?: SplitOptions,
): AsyncGenerator<string[], void, undefined> {
  const sp = new StatementSplitter(options);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  /** The bytes of a character the last chunk ended inside of (the decoder holds them). */
  let carry: Uint8Array = new Uint8Array(0);
  for await (const chunk of source as AsyncIterable<string | Uint8Array>) {
    let text: string;
    try {
      text = typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
      if (typeof chunk !== 'string') carry = incompleteTail(chunk, carry);
    } catch (err) {
      if (!(err instanceof TypeError) || typeof chunk === 'string') throw err;
      // Not UTF-8 (a Latin-1 file, say): the statements before the bad byte go out, then the error
      // names the statement that holds it.
      const bytes = new Uint8Array(carry.length + chunk.length);
      bytes.set(carry);
      bytes.set(chunk, carry.length);
      const bad = firstInvalidUtf8(bytes);
      const prefix = new TextDecoder('utf-8').decode(bytes.subarray(0, bad));
      const out = prefix.length > 0 ? sp.push(prefix) : [];
      if (out.length > 0) yield out;
      const byte = bytes[bad] ?? 0;
      throw new InvalidStatementError(
        `is not valid UTF-8 (byte 0x${byte.toString(16).padStart(2, '0')}); convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)`,
        (options?.firstIndex ?? 0) + sp.statementCount,
        trimSpace(sp.pendingText()),
      );
    }
    if (text.length > 0) {
      const out = sp.push(text);
      if (out.length > 0) yield out;
    }
  }
  let rest: string;
  try {
    rest = decoder.decode();
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
    // The input ends inside a character (a file cut short): the statements completed before it went out;
    // the one it cuts is not run (a statement cut short may mean something else).
    throw new InvalidStatementError(
      'ends inside a UTF-8 character (the file was cut short, or is not UTF-8); convert or complete the file',
      (options?.firstIndex ?? 0) + sp.statementCount,
      trimSpace(sp.pendingText()),
    );
  }
  const out = rest.length > 0 ? sp.push(rest) : [];
  for (const s of sp.end()) out.push(s);
  if (out.length > 0) yield out;
}

/** Offset of the first byte of `b` that does not belong to a well-formed UTF-8 sequence. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    const len =
      c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len === 0) return i;
    for (let k = 1; k < len; k++) {
      // (a character cut by the end of the bytes is not wrong: the rest may follow)
      if (i + k >= b.length) return b.length;
      if (((b[i + k] as number) & 0xc0) !== 0x80) return i;
    }
    // overlong 3/4-byte forms, surrogates, past U+10FFFF
    const d = b[i + 1] as number;
    if (
      (c === 0xe0 && d < 0xa0) ||
      (c === 0xed && d > 0x9f) ||
      (c === 0xf0 && d < 0x90) ||
      (c === 0xf4 && d > 0x8f)
    )
      return i;
    i += len;
  }
  return b.length;
}

/**
 * The bytes at the end of `chunk` (after `carry`, the bytes the previous chunk ended with) that begin a
 * character not yet complete: at most 3.
 */
function incompleteTail(chunk: Uint8Array, carry: Uint8Array): Uint8Array {
  // (a chunk shorter than 3 bytes may end a character the previous one began)
  const b = chunk.length >= 3 || carry.length === 0 ? chunk : new Uint8Array([...carry, ...chunk]);
  for (let back = 1; back <= Math.min(3, b.length); back++) {
    const c = b[b.length - back] as number;
    if ((c & 0xc0) === 0x80) continue;
    const len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return len > back ? b.slice(b.length - back) : new Uint8Array(0);
  }
  return new Uint8Array(0);
}

/**
 * `text` from its first character that is neither whitespace nor in a comment (`--`, `/* … *\/`, and
 * with `hash` `#`), read without a regular expression.
 */
function afterComments(text: string, hash: boolean): string {
  let i = 0;
  const n = text.length;
  for (;;) {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
    if (text.startsWith('--', i) || (hash && text.startsWith('#', i))) {
      const e = text.indexOf('\n', i);
      if (e < 0) return '';
      i = e + 1;
    } else if (text.startsWith('/*', i)) {
      const e = text.indexOf('*/', i + 2);
      if (e < 0) return '';
      i = e + 2;
    } else return i === 0 ? text : text.slice(i);
  }
}
