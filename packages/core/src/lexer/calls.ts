import type { DialectRules } from './dialect.js';
import {
  INCOMPLETE,
  isIdentChar,
  isSpace,
  lastToken,
  mayStartToken,
  NOT_SPECIAL,
  skipToken,
} from './scanner.js';

const DOT = 46;
const OPEN = 40;
const CLOSE = 41;
const Q2 = 34;

/**
 * Append to `out` (when not in it yet) each name written before a `(` in `text`, a VALUES row or rows:
 * function calls, and the keywords that look like them (`CAST`, `COALESCE`, `ROW`, …). A name is given as
 * written, its dot-separated parts joined without the whitespace or comments between them: `now`,
 * `pg_catalog.now`, `"F"`, `s."f"`. Strings, comments and quoted identifiers are read as the dialect
 * reads them (a `(` inside them is no call). This is what an adapter looks up to tell whether a row may
 * run code of the database's own (see `InsertParts.calls`).
 */
export function collectCalls(text: string, r: DialectRules, out: string[]): void {
  const n = text.length;
  /** The name read so far (ending in `.` while a part is expected), '' when none. */
  let name = '';
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    if ((c === 85 || c === 117) && text.charCodeAt(i + 1) === 38 && text.charCodeAt(i + 2) === Q2) {
      // U&"…": a name spelled with escapes, kept as written (no adapter reads it as a built-in)
      const e = skipToken(text, i + 2, r, true);
      if (e < 0) return;
      const part = text.slice(i, e);
      name = name.endsWith('.') ? name + part : part;
      i = e;
      continue;
    }
    if (mayStartToken(c)) {
      const e = skipToken(text, i, r, true);
      if (e === INCOMPLETE) return;
      if (e !== NOT_SPECIAL) {
        if (lastToken.trivia) {
          // (a comment between a name and its parenthesis: still a call)
        } else if (c === Q2 && lastToken.what === 'quoted identifier') {
          const part = text.slice(i, e);
          name = name.endsWith('.') ? name + part : part;
        } else name = '';
        i = e;
        continue;
      }
    }
    if (isIdentChar(c)) {
      let j = i + 1;
      while (j < n && isIdentChar(text.charCodeAt(j))) j++;
      // (a number is no name: `1.5`, `1e5`)
      const digit = c >= 48 && c <= 57;
      if (digit) name = '';
      else {
        const part = text.slice(i, j);
        name = name.endsWith('.') ? name + part : part;
      }
      i = j;
      continue;
    }
    if (c === DOT && name !== '' && !name.endsWith('.')) {
      name += '.';
      i++;
      continue;
    }
    if (c === OPEN && name !== '' && !name.endsWith('.') && !out.includes(name)) out.push(name);
    if (c === CLOSE && followedByDot(text, i + 1) && !out.includes(FIELD_CALL)) out.push(FIELD_CALL);
    name = '';
    i++;
  }
}

/**
 * Recorded for `(…).name`: attribute notation, which may call a function (`(row).f` is `f(row)`); no
 * adapter reads it as a built-in.
 */
export const FIELD_CALL = '().';

/** The next character at or after `i` that is not whitespace is a `.`. */
function followedByDot(s: string, i: number): boolean {
  while (isSpace(s.charCodeAt(i))) i++;
  return s.charCodeAt(i) === DOT;
}

/**
 * {@link collectCalls} for the name before the `(` at `open` in `s` (or, for a negative `open`, a `)`
 * followed by `.`), for rows that hold no quoted
 * identifiers, comments, `$` or characters beyond ASCII (those the builder's fast path takes): read
 * backwards, it finds what the forward scan finds. Appends the name to `out` when it is not there.
 */
export function collectCallAt(s: string, open: number, out: string[]): void {
  if (open < 0) {
    // (the scan marks a `)` followed by `.` so: see FIELD_CALL)
    if (!out.includes(FIELD_CALL)) out.push(FIELD_CALL);
    return;
  }
  let k = open - 1;
  while (k >= 0 && isSpace(s.charCodeAt(k))) k--;
  let end = k + 1;
  while (k >= 0 && isIdentChar(s.charCodeAt(k))) k--;
  let start = k + 1;
  if (start === end || isDigit(s.charCodeAt(start))) return;
  // the usual case, one part already known: no string made
  let j = k;
  while (j >= 0 && isSpace(s.charCodeAt(j))) j--;
  if (s.charCodeAt(j) !== DOT) {
    const len = end - start;
    for (let m = 0; m < out.length; m++) {
      const known = out[m] as string;
      if (known.length === len && s.startsWith(known, start)) return;
    }
    out.push(s.slice(start, end));
    return;
  }
  let name = s.slice(start, end);
  for (;;) {
    j = k;
    while (j >= 0 && isSpace(s.charCodeAt(j))) j--;
    if (s.charCodeAt(j) !== DOT) break;
    j--;
    while (j >= 0 && isSpace(s.charCodeAt(j))) j--;
    end = j + 1;
    while (j >= 0 && isIdentChar(s.charCodeAt(j))) j--;
    start = j + 1;
    if (start === end || isDigit(s.charCodeAt(start))) break;
    name = `${s.slice(start, end)}.${name}`;
    k = j;
  }
  if (!out.includes(name)) out.push(name);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
