/**
 * The little of Trino's lexical grammar the test server needs to judge a request the way Trino's
 * parser would: where the first top-level `;` is (Trino's grammar is `statement EOF`, so any `;`
 * outside a literal, identifier or comment is a syntax error, even a trailing one) and which words the
 * statement starts with.
 *
 * Trino tokens that can hide a `;`: '…' strings with '' escapes (also U&'…' and X'…', which share the
 * quoting rule), "…" identifiers with "" escapes, `…` identifiers with `` escapes, `--` line comments
 * and non-nesting `/* … *\/` block comments. Trino has no backslash escapes and no dollar quoting.
 */

/** A scan of one request's SQL text. */
export interface TrinoTextScan {
  /** Offset of the first `;` outside literals and comments, or -1. */
  readonly semicolon: number;
  /** The first two words (upper-cased) outside comments, for statement-kind checks. */
  readonly leadingWords: readonly string[];
  /** True when the text holds nothing but whitespace and comments. */
  readonly empty: boolean;
  /** Set when a literal, identifier or comment is not terminated: its opening offset. */
  readonly unterminatedAt: number;
}

const WORD_START = /[A-Za-z_]/;
const WORD_PART = /[A-Za-z0-9_]/;

/** Scan `sql` with Trino's quoting rules. */
export function scanTrinoText(sql: string): TrinoTextScan {
  const words: string[] = [];
  let semicolon = -1;
  let empty = true;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i + 2);
      i = end === -1 ? n : end + 1;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end === -1) return { semicolon, leadingWords: words, empty, unterminatedAt: i };
      i = end + 2;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      i++;
      continue;
    }
    empty = false;
    if (c === "'" || c === '"' || c === '`') {
      const end = closingQuote(sql, i, c);
      if (end === -1) return { semicolon, leadingWords: words, empty, unterminatedAt: i };
      i = end + 1;
      continue;
    }
    if (c === ';') {
      if (semicolon === -1) semicolon = i;
      i++;
      continue;
    }
    if (WORD_START.test(c)) {
      let j = i + 1;
      while (j < n && WORD_PART.test(sql[j]!)) j++;
      // U&'…' and X'…' prefixes are followed directly by the quote; the quote is scanned next round.
      if (words.length < 2) words.push(sql.slice(i, j).toUpperCase());
      i = j;
      continue;
    }
    i++;
  }
  return { semicolon, leadingWords: words, empty, unterminatedAt: -1 };
}

/** Offset of the quote closing the one at `start`, honouring doubled-quote escapes, or -1. */
function closingQuote(sql: string, start: number, quote: string): number {
  let i = start + 1;
  for (;;) {
    const end = sql.indexOf(quote, i);
    if (end === -1) return -1;
    if (sql[end + 1] === quote) {
      i = end + 2;
      continue;
    }
    return end;
  }
}

/** 1-based line and column of `offset` in `sql`, as Trino reports error locations. */
export function lineAndColumn(sql: string, offset: number): { lineNumber: number; columnNumber: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < sql.length; i++) {
    if (sql[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { lineNumber: line, columnNumber: offset - lineStart + 1 };
}

/**
 * `sql` with each comment replaced by one space (quoted literals and identifiers kept as written), or
 * undefined when a comment or quote is not terminated.
 */
export function withoutComments(sql: string): string | undefined {
  let out = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i + 2);
      out += ' ';
      i = end === -1 ? n : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end === -1) return undefined;
      out += ' ';
      i = end + 2;
    } else if (c === "'" || c === '"') {
      const end = closingQuote(sql, i, c);
      if (end === -1) return undefined;
      out += sql.slice(i, end + 1);
      i = end + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** A session property name as written (`x`, `cat.x`, `"Cat"."x"`), as Trino names it: parts unquoted, lower case. */
export const SESSION_NAME = /((?:"(?:[^"]|"")*"|[A-Za-z_]\w*)(?:\s*\.\s*(?:"(?:[^"]|"")*"|[A-Za-z_]\w*))?)/
  .source;

/** The property name of a {@link SESSION_NAME} match, as the session header carries it. */
export function sessionPropertyName(written: string): string {
  const parts = written.match(/"(?:[^"]|"")*"|[A-Za-z_]\w*/g) ?? [];
  return parts
    .map((p) => (p.startsWith('"') ? p.slice(1, -1).replaceAll('""', '"') : p).toLowerCase())
    .join('.');
}
