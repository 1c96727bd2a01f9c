import type { DialectRules } from '../lexer/dialect.js';
import { splitRowValues } from '../lexer/values.js';

/**
 * A canonical form of the conflict-key literals of one VALUES row, or undefined when the key is not a
 * plain literal (a function call, a cast, a parameter…) and so cannot be proven distinct.
 *
 * Deliberately coarse: `'1'`, `1` and `1.0` map to the same key, and strings compare case- and
 * space-insensitively, so two keys that might be equal after the engine's coercion are never merged.
 */
export function conflictKey(row: string, positions: readonly number[], r: DialectRules): string | undefined {
  const values = splitRowValues(row, r);
  if (!values) return undefined;
  let key = '';
  for (const p of positions) {
    const v = values[p];
    if (v === undefined) return undefined;
    const lit = canonicalLiteral(v);
    if (lit === undefined) return undefined;
    key += `${lit}\u0000`;
  }
  return key;
}

/** Numeric literal text, including forms with an exponent, underscores or a 0x/0o/0b prefix. */
const NUMBER = /^[+-]?\s*(?:0[xob][\da-f_]+|(\d[\d_]*)?(?:\.([\d_]*))?(?:e[+-]?\d[\d_]*)?)$/;

// (with the prefixes PostgreSQL's boolean input takes: 'tr' is true)
const TRUE_WORDS = new Set(['t', 'tr', 'tru', 'true', 'y', 'ye', 'yes', 'on']);
const FALSE_WORDS = new Set(['f', 'fa', 'fal', 'fals', 'false', 'n', 'no', 'of', 'off']);

/**
 * Strings whose value depends on the column type in ways the coarse form below cannot see: special
 * date/time and float words (`'epoch'` is `'1970-01-01'`, `'allballs'` is `'00:00'`, `'inf'` is
 * `'Infinity'`, Julian days `'J2451545'`), intervals (`'1 hour'` is `'60 minutes'`), network addresses
 * (`'10.0.0.1'` is `'10.0.0.1/32'` as inet), and a lone `'o'` (not a boolean, but close).
 */
const UNPROVABLE =
  /\b(?:epoch|infinity|inf|nan|now|today|tomorrow|yesterday|allballs|ago)\b|\bj\d|^\s*o\s*$|^\s*[+-]?p[\dt]|(?:^|\s)[+-]?\d+(?:\.\d*)?\s*(?:microsecon\w*|millisecon\w*|us|usecs?|useconds?|ms|msecs?|mseconds?|mils?|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|months?|mons?|qtr|years?|yrs?|y|decades?|decs?|c|cent|centur(?:y|ies)|millenni(?:um|a))\b|^\s*\d{1,3}(?:\.\d{1,3}){3}\s*(?:\/|$)|^[^/]*\/\s*\d{1,3}\s*$/;

/**
 * Canonical form of a literal, coarse enough that two literals the engine could coerce to the same
 * value (`1`, `'01'`, `1.0`; `'2024-01-01'`, `'2024-1-1 00:00:00'`; `'ABC'`, `'abc'`; `'t'`, `'true'`)
 * get the same form; what it cannot bring to one form (times of day, JSON, arrays) is not provable.
 */
function canonicalLiteral(v: string): string | undefined {
  const c = v.charCodeAt(0);
  let text: string;
  if (c === 39 /* ' */) {
    if (v.length < 2 || v.charCodeAt(v.length - 1) !== 39) return undefined;
    text = v.slice(1, -1).split("''").join("'");
    // Backslashes may be escapes in some dialects: not provable. A quote left is a continuation
    // (`'1'\n'0'` is `'10'`): not provable either.
    if (text.includes('\\') || text.includes("'")) return undefined;
    // A money amount (`'$1,000'` is 1000 in a money column): not provable.
    if (/\d/.test(text) && /[$,£€¥]/.test(text)) return undefined;
  } else if ((c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46) {
    // Only a number literal itself: `2::int`, `1 + 1` are expressions (equal to 2, never proven distinct).
    if (!NUMBER.test(v.toLowerCase())) return undefined;
    text = v;
  } else if (v.toUpperCase() === 'NULL') {
    return 'null';
  } else if (TRUE_WORDS.has(v.toLowerCase()) || FALSE_WORDS.has(v.toLowerCase())) {
    text = v;
  } else {
    return undefined;
  }
  const lower = text.trim().toLowerCase();
  if (TRUE_WORDS.has(lower)) return 'b1';
  if (FALSE_WORDS.has(lower)) return 'b0';
  if (UNPROVABLE.test(lower)) return undefined;
  // A number followed by letters may be an interval however it is spelled (`2h0m`, `1,hour`, a unit cut
  // short or run on, `1 millenniums`): not provable, unless the whole value is a UUID.
  if (c === 39 && /\d[\s,]*[a-zµ]/.test(lower) && !UUID.test(lower)) return undefined;
  // A quoted run of 6 or 8 digits may be a date (`'20240102'` = `'2024-01-02'` in a date column) as
  // well as a number (= 20240102 in an integer column): not provable either way.
  if (c === 39 && /^\d{6}$|^\d{8}$/.test(lower)) return undefined;
  const num = NUMBER.exec(lower);
  if (num && /\d/.test(lower)) {
    // 1e1 = 10, 0x0A = 10, 1_000 = 1000 (PostgreSQL 16+, also as integer input text): not provable here.
    if (/[xobe_]/.test(lower)) return undefined;
    // A fraction rounds into an integer or numeric(p, s) column (1.5 and 2 meet in an integer key) and
    // floats round in their own ways: only integers are compared.
    if (num[2] !== undefined) return undefined;
    // One canonical form for 1, 01, +1 (and -1: coarse on purpose). Past 15 digits a double precision
    // key could round two of them to one value. (Known gap: a `real` key rounds integers past 2^24.)
    const n = (num[1] ?? '').replace(/^0+/, '') || '0';
    if (n.length > 15) return undefined;
    // 1 and 0 are also booleans (`'1'` = `true` in a boolean column)
    return n === '1' ? 'b1' : n === '0' ? 'b0' : n;
  }
  // Dates: one day is written many ways (`2024-01-02`, `01/02/2024`, `Jan 2 2024`, `2024-01-02 AD`,
  // `2024-01-02+05`: a date column drops the zone): only the ISO form is compared.
  if (DATE_LIKE.test(lower) && !UUID.test(lower) && !/^\d{4}-\d{1,2}-\d{1,2}$/.test(lower)) return undefined;
  // A time of day: equal instants are written many ways (a zone or offset, `T`, `24:00:00` for the next
  // midnight, a leap second `:60`, more fractional digits than are kept), and a date column drops it.
  if (/\d:\d\d/.test(lower)) return undefined;
  // JSON, arrays, composite values and ranges (`{"a": 1e1}` is `{"a": 10}` as jsonb, `{1.0}` is `{1}` as
  // numeric[]); a UUID in braces is still compared.
  if (/^[{[(]/.test(lower) && !/^\{[\da-f-]+\}$/.test(lower)) return undefined;
  // Coarse on purpose, so that equal values written differently meet: the letters and non-zero digits
  // as a sorted multiset. `2024-01-02` and `2024-1-2` meet; so do a UUID with and without hyphens or
  // braces. (Anagrams meet too: that only costs a merge.)
  // (accents dropped too: an accent-insensitive collation makes 'é' equal 'e'; any other letter beyond
  // ASCII is not provable: at its most lenient strength ICU makes 'ß' equal 'ss', 'æ' 'ae', 'ø' 'o')
  const plain = lower.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  const chars: string[] = [];
  for (const ch of plain) {
    if (ch > '\x7f') return undefined;
    if (ch === '0') continue;
    if ((ch >= '1' && ch <= '9') || (ch >= 'a' && ch <= 'z')) chars.push(ch);
  }
  return `s:${chars.sort().join('')}`;
}

/** A UUID, with or without hyphens and braces (its hex digits joined by `-` are no date). */
const UUID = /^\{?[\da-f]{8}-?[\da-f]{4}-?[\da-f]{4}-?[\da-f]{4}-?[\da-f]{12}\}?$/;
/** Digits joined by a date separator, or a month name: a date, or part of one. */
const DATE_LIKE = /\d\s*[-/.]\s*\d|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b/;
