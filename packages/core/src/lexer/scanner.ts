import type { DialectRules } from './dialect.js';

/**
 * Low-level token skipping shared by the splitter and the statement lexer. One pass, no regular
 * expressions over statements: quoted strings, quoted identifiers, dollar quotes and comments are
 * skipped with `indexOf` jumps; everything else is read a character code at a time.
 */

/** The token at `i` runs past the end of the text (unterminated, or more input may follow). */
export const INCOMPLETE = -1;
/** The character at `i` does not start a special token. */
export const NOT_SPECIAL = -2;

/** What the last successful {@link skipToken} call skipped. */
export const lastToken = {
  /** A comment (nothing the engine executes). */
  trivia: false,
  /** Human name of the token, for "unterminated …" messages. */
  what: '',
};

const Q1 = 39; // '
const Q2 = 34; // "
const BT = 96; // `
const DOLLAR = 36;
const DASH = 45;
const SLASH = 47;
const STAR = 42;
const HASH = 35;

/** Identifier characters: ASCII letters, digits, `_`, `$`, and anything non-ASCII. */
export function isIdentChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) ||
    (c >= 65 && c <= 90) ||
    (c >= 48 && c <= 57) ||
    c === 95 ||
    c === DOLLAR ||
    c >= 128
  );
}

/** Characters that may start a special token in some dialect. */
export function mayStartToken(c: number): boolean {
  return c === Q1 || c === Q2 || c === BT || c === DOLLAR || c === DASH || c === SLASH || c === HASH;
}

/**
 * Skip the quoted token or comment starting at `i`.
 * Returns the index just past it, {@link NOT_SPECIAL} when `s[i]` starts none, or {@link INCOMPLETE}
 * when it does not end within `s` (when `final` is false, also when deciding needs more input).
 */
export function skipToken(s: string, i: number, r: DialectRules, final: boolean): number {
  const c = s.charCodeAt(i);
  const n = s.length;
  switch (c) {
    case Q1: {
      lastToken.trivia = false;
      lastToken.what = 'quoted string';
      if (r.tripleQuotes) {
        if (i + 2 >= n && !final) return INCOMPLETE;
        if (s.charCodeAt(i + 1) === Q1 && s.charCodeAt(i + 2) === Q1) return scanTriple(s, i, "'''");
      }
      const backslash = r.backslashEscapes;
      if (!backslash && r.eStrings && i > 0) {
        const p = s.charCodeAt(i - 1);
        if ((p === 69 || p === 101) && (i < 2 || !isIdentChar(s.charCodeAt(i - 2)))) {
          return eStringEnd(s, scanQuoted(s, i + 1, "'", true, final), final);
        }
      }
      return scanQuoted(s, i + 1, "'", backslash, final);
    }
    case Q2: {
      lastToken.trivia = false;
      if (r.doubleQuoteIsString) {
        lastToken.what = 'quoted string';
        if (r.tripleQuotes) {
          if (i + 2 >= n && !final) return INCOMPLETE;
          if (s.charCodeAt(i + 1) === Q2 && s.charCodeAt(i + 2) === Q2) return scanTriple(s, i, '"""');
        }
        return scanQuoted(s, i + 1, '"', r.backslashEscapes, final);
      }
      lastToken.what = 'quoted identifier';
      return scanQuoted(s, i + 1, '"', false, final);
    }
    case BT:
      if (!r.backtickIdentifiers) return NOT_SPECIAL;
      lastToken.trivia = false;
      lastToken.what = 'quoted identifier';
      return scanQuoted(s, i + 1, '`', r.tripleQuotes, final);
    case DOLLAR:
      return scanDollar(s, i, r, final);
    case DASH: {
      if (i + 1 >= n) return final ? NOT_SPECIAL : INCOMPLETE;
      if (s.charCodeAt(i + 1) !== DASH) return NOT_SPECIAL;
      if (r.dashCommentNeedsSpace && i + 2 < n && s.charCodeAt(i + 2) > 32) return NOT_SPECIAL;
      if (r.dashCommentNeedsSpace && i + 2 >= n && !final) return INCOMPLETE;
      return lineComment(s, i + 2, final);
    }
    case HASH:
      if (!r.hashComments) return NOT_SPECIAL;
      return lineComment(s, i + 1, final);
    case SLASH: {
      if (i + 1 >= n) return final ? NOT_SPECIAL : INCOMPLETE;
      const d = s.charCodeAt(i + 1);
      if (d === SLASH && r.slashSlashComments) return lineComment(s, i + 2, final);
      if (d !== STAR) return NOT_SPECIAL;
      return blockComment(s, i, r, final);
    }
    default:
      return NOT_SPECIAL;
  }
}

function lineComment(s: string, from: number, final: boolean): number {
  lastToken.trivia = true;
  lastToken.what = 'comment';
  // A line comment ends at LF or CR (PostgreSQL's lexer: `[^\n\r]*`); a lone CR must not hide the next line.
  // (Scanned by hand: two indexOf calls would each run to the end of the text when one of LF/CR is
  // absent, making a file with many comments quadratic.)
  const n = s.length;
  for (let j = from; j < n; j++) {
    const c = s.charCodeAt(j);
    // CR at the very end of a chunk may be the first half of CRLF; either way the comment ends there.
    if (c === 10 || c === 13) return j + 1;
  }
  return final ? n : INCOMPLETE;
}

function blockComment(s: string, i: number, r: DialectRules, final: boolean): number {
  const n = s.length;
  if (r.executableComments) {
    if (i + 2 >= n && !final) return INCOMPLETE;
    const e = s.charCodeAt(i + 2);
    if (e === 77 && i + 3 >= n && !final) return INCOMPLETE;
    // `/*!` and `/*+` are executed by MySQL, `/*M!` by MariaDB
    lastToken.trivia = !(e === 33 || e === 43 || (e === 77 && s.charCodeAt(i + 3) === 33));
    if (e === 33 || (e === 77 && s.charCodeAt(i + 3) === 33)) {
      lastToken.what = 'block comment';
      return executableComment(s, i + (e === 33 ? 3 : 4), r);
    }
  } else {
    lastToken.trivia = true;
  }
  lastToken.what = 'block comment';
  if (!r.nestedComments) {
    const e = s.indexOf('*/', i + 2);
    return e === -1 ? INCOMPLETE : e + 2;
  }
  let depth = 1;
  let j = i + 2;
  while (depth > 0) {
    const close = s.indexOf('*/', j);
    if (close === -1) return INCOMPLETE;
    const open = s.indexOf('/*', j);
    if (open !== -1 && open < close) {
      depth++;
      j = open + 2;
    } else {
      depth--;
      j = close + 2;
    }
  }
  return j;
}

/**
 * The end of a MySQL `/*! … *\/` or MariaDB `/*M! … *\/` comment whose content starts at `j`: the server
 * reads that content as SQL, so a `*\/` inside a string there does not end it (found in review: the
 * split went wrong from that string on); a nested `/* … *\/` inside it is skipped.
 */
function executableComment(s: string, j: number, r: DialectRules): number {
  const n = s.length;
  while (j < n) {
    const c = s.charCodeAt(j);
    if (c === 42 && s.charCodeAt(j + 1) === 47) return j + 2;
    if (c === 39 || c === 34 || c === 96) {
      const k = scanQuoted(s, j + 1, s.charAt(j), c !== 96 && r.backslashEscapes, false);
      if (k === INCOMPLETE) return INCOMPLETE;
      j = k;
      continue;
    }
    if (c === 47 && s.charCodeAt(j + 1) === 42) {
      const k = s.indexOf('*/', j + 2);
      if (k === -1) return INCOMPLETE;
      j = k + 2;
      continue;
    }
    j++;
  }
  return INCOMPLETE;
}

/**
 * Scan a quoted token whose opening quote is at `from - 1`. The quote is escaped by doubling it;
 * when `backslash` is set, a backslash escapes the next character too.
 */
function scanQuoted(s: string, from: number, quote: string, backslash: boolean, final: boolean): number {
  const n = s.length;
  const q = quote.charCodeAt(0);
  let j = from;
  let b = backslash ? s.indexOf('\\', j) : -1;
  // (the next quote is looked for again only once the scan has passed it: looking for it after every
  // backslash made a string of many escapes take quadratic time; found in review)
  let k = s.indexOf(quote, j);
  for (;;) {
    if (k !== -1 && k < j) k = s.indexOf(quote, j);
    if (b !== -1 && (k === -1 || b < k)) {
      if (b + 1 >= n) return INCOMPLETE;
      j = b + 2;
      b = s.indexOf('\\', j);
      continue;
    }
    if (k === -1) return INCOMPLETE;
    if (k + 1 >= n) return final ? n : INCOMPLETE;
    if (s.charCodeAt(k + 1) === q) {
      j = k + 2;
      if (b !== -1 && b < j) b = s.indexOf('\\', j);
      continue;
    }
    return k + 1;
  }
}

/** BigQuery `'''…'''` / `"""…"""`: backslash escapes, may span lines. */
function scanTriple(s: string, i: number, delim: string): number {
  let j = i + 3;
  let b = s.indexOf('\\', j);
  let k = s.indexOf(delim, j);
  for (;;) {
    if (k !== -1 && k < j) k = s.indexOf(delim, j);
    if (b !== -1 && (k === -1 || b < k)) {
      if (b + 1 >= s.length) return INCOMPLETE;
      j = b + 2;
      b = s.indexOf('\\', j);
      continue;
    }
    if (k === -1) return INCOMPLETE;
    return k + 3;
  }
}

function scanDollar(s: string, i: number, r: DialectRules, final: boolean): number {
  if (r.dollarQuotes === 'none') return NOT_SPECIAL;
  if (i > 0 && isIdentChar(s.charCodeAt(i - 1))) return NOT_SPECIAL; // part of an identifier like a$b
  const n = s.length;
  let j = i + 1;
  if (r.dollarQuotes === 'tagged') {
    if (j < n) {
      const f = s.charCodeAt(j);
      // A tag cannot start with a digit: `$1` is a parameter.
      if (f >= 48 && f <= 57) return NOT_SPECIAL;
    }
    while (j < n) {
      const c = s.charCodeAt(j);
      if (c === DOLLAR) break;
      if (!isIdentChar(c)) return NOT_SPECIAL;
      j++;
    }
  }
  if (j >= n) return final ? NOT_SPECIAL : INCOMPLETE;
  if (s.charCodeAt(j) !== DOLLAR) return NOT_SPECIAL;
  lastToken.trivia = false;
  lastToken.what = 'dollar-quoted string';
  const delim = s.slice(i, j + 1);
  const close = s.indexOf(delim, j + 1);
  return close === -1 ? INCOMPLETE : close + delim.length;
}

/**
 * End of an `E'…'` string whose first part ends at `e`: PostgreSQL continues a string across
 * whitespace that holds a newline (`E'a'` newline `'b'` is `E'ab'`), and the continuation keeps the
 * backslash escapes of the `E'…'` it continues (so `\'` inside it does not end it). Before the newline
 * spaces, tabs, form feeds and a `--` comment (the server's `horiz_whitespace`); after it also
 * whitespace and `--` comments that end in a newline.
 */
function eStringEnd(s: string, e: number, final: boolean): number {
  const n = s.length;
  while (e >= 0) {
    let j = e;
    while (j < n && (s.charCodeAt(j) === 32 || s.charCodeAt(j) === 9 || s.charCodeAt(j) === 12)) j++;
    if (j + 1 < n && s.charCodeAt(j) === DASH && s.charCodeAt(j + 1) === DASH) {
      // (a comment runs to the end of the line: the newline follows it)
      j += 2;
      while (j < n && s.charCodeAt(j) !== 10 && s.charCodeAt(j) !== 13) j++;
    }
    if (j >= n || (j + 1 >= n && s.charCodeAt(j) === DASH)) return final ? e : INCOMPLETE;
    const nl = s.charCodeAt(j);
    if (nl !== 10 && nl !== 13) return e;
    for (;;) {
      while (j < n && isSpace(s.charCodeAt(j))) j++;
      if (j + 1 < n && s.charCodeAt(j) === DASH && s.charCodeAt(j + 1) === DASH) {
        let k = j + 2;
        while (k < n && s.charCodeAt(k) !== 10 && s.charCodeAt(k) !== 13) k++;
        if (k >= n) return final ? e : INCOMPLETE;
        j = k;
        continue;
      }
      break;
    }
    if (j >= n || (j + 1 >= n && s.charCodeAt(j) === DASH)) return final ? e : INCOMPLETE;
    if (s.charCodeAt(j) !== Q1) return e;
    e = scanQuoted(s, j + 1, "'", true, final);
  }
  return e;
}

/** True for ASCII whitespace (space, tab, CR, LF, FF, VT). */
export function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/** `s` without leading and trailing ASCII whitespace (other spaces, U+00A0 say, are identifier characters in SQL). */
export function trimSpace(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isSpace(s.charCodeAt(a))) a++;
  while (b > a && isSpace(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/**
 * Index of the first character at or after `i` that is neither whitespace nor a comment.
 * Returns {@link INCOMPLETE} for an unterminated comment.
 */
export function skipTrivia(s: string, i: number, r: DialectRules): number {
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === DASH || c === SLASH || c === HASH) {
      const e = skipToken(s, i, r, true);
      if (e === INCOMPLETE) return INCOMPLETE;
      if (e !== NOT_SPECIAL && lastToken.trivia) {
        i = e;
        continue;
      }
    }
    return i;
  }
  return i;
}

/** Newline count in `s` before `end`, plus one: the 1-based line of position `end`. */
export function lineAt(s: string, end: number): number {
  let line = 1;
  for (let k = s.indexOf('\n'); k !== -1 && k < end; k = s.indexOf('\n', k + 1)) line++;
  return line;
}
