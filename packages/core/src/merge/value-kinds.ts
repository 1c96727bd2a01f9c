import type { DialectRules } from '../lexer/dialect.js';
import { INCOMPLETE, lastToken, mayStartToken, NOT_SPECIAL, skipToken } from '../lexer/scanner.js';
import { splitRowValues } from '../lexer/values.js';

/**
 * Literal kinds of merged VALUES rows, for engines that give each column of a multi-row VALUES list one
 * type, the common type of its rows, before the values reach the table (Trino, Snowflake, and BigQuery
 * as far as its documentation tells; see `AdapterCapabilities.valuesCommonType`). One by one, each row's
 * values would be converted to the column on their own; merged, a value can first be converted to
 * another row's type: Trino gives `0.1` and `REAL '1'` the type real (0.1 is stored as
 * 0.10000000149011612 in a double column), Snowflake gives `1` and `'a'` a number type (`'a'` then fails
 * where both rows succeed alone) and fails numbers whose common type needs more than 38 digits. So rows
 * are merged only when each column's values are of one kind: NULL (any kind), an integer, a decimal
 * number, a number with an exponent, a string, a boolean, a typed literal of one type (`DATE '…'`), a cast
 * to one type, or any other expression of the same shape (the same text with its literals replaced by
 * their kinds, so `f('a')` and `f('b')` match and `f(1)` does not).
 */

/** The most digits of an exact number the engines' decimal types hold (Trino, Snowflake: 38). */
const MAX_DIGITS = 38;

/** The kinds of a run of rows: per column, `''` while only NULLs were seen. */
export interface RowKinds {
  readonly kinds: string[];
  /** Per column, for exact numbers: the most digits before and after the point. */
  readonly intDigits: number[];
  readonly fracDigits: number[];
}

const INTEGER = /^[+-]?\s*(\d+)$/;
const DECIMAL = /^[+-]?\s*(\d*)\.(\d*)$/;
const FLOAT = /^[+-]?\s*(?:\d+\.?\d*|\.\d+)e[+-]?\d+$/i;
const TYPED = /^([a-z_][a-z0-9_]*(?:\s+with(?:out)?\s+(?:local\s+)?time\s+zone)?)\s*'/i;
const CAST = /^(?:try_)?cast\s*\(([\s\S]*)\s+as\s+([\s\S]+)\)$/i;
/** A time of day followed by a zone (an offset or a name): `TIMESTAMP '… 10:00 +02:00'` is another type in Trino. */
const ZONED = /\d:\d\d(?::\d\d(?:\.\d*)?)?\s*(?:[+-]\d|[a-z])/i;

/** Digits of an exact number, without leading zeros (`007` has 1, `0` has 0). */
const significant = (digits: string) => digits.replace(/^0+/, '').length;

/**
 * The kind of one value (see the module comment), or `''` for NULL; `digits` receives an exact number's
 * integer and fraction digit counts.
 */
function valueKind(v: string, r: DialectRules, digits: [number, number]): string {
  if (/^null$/i.test(v)) return '';
  let m = INTEGER.exec(v);
  if (m) {
    digits[0] = significant(m[1] as string);
    digits[1] = 0;
    return 'i';
  }
  m = DECIMAL.exec(v);
  if (m && /\d/.test(v)) {
    digits[0] = significant(m[1] as string);
    digits[1] = (m[2] as string).length;
    return 'd';
  }
  if (FLOAT.test(v)) return 'f';
  if (/^(?:true|false)$/i.test(v)) return 'b';
  const c = v.charCodeAt(0);
  if ((c === 39 || (c === 34 && r.doubleQuoteIsString)) && isOneString(v, r)) return 's';
  m = TYPED.exec(v);
  if (m) {
    const type = (m[1] as string).toUpperCase().replace(/\s+/g, ' ');
    return `t:${type}${ZONED.test(v) ? ':z' : ''}:${shape(v.slice(m[0].length - 1), r)}`;
  }
  m = CAST.exec(v);
  if (m) return `c:${(m[2] as string).trim().toUpperCase().replace(/\s+/g, ' ')}:${shape(m[1] as string, r)}`;
  return `x:${shape(v, r)}`;
}

/** `v` is exactly one quoted string (not `'a' || 'b'`). */
function isOneString(v: string, r: DialectRules): boolean {
  const e = skipToken(v, 0, r, true);
  return e === v.length;
}

/**
 * `v` with each string literal replaced by `'s'`, each number by its kind letter, comments dropped and
 * whitespace collapsed: equal shapes are expressions of the same type.
 */
function shape(v: string, r: DialectRules): string {
  let out = '';
  let i = 0;
  const n = v.length;
  while (i < n) {
    const c = v.charCodeAt(i);
    if (mayStartToken(c)) {
      const e = skipToken(v, i, r, true);
      if (e === INCOMPLETE) return v;
      if (e !== NOT_SPECIAL) {
        if (!lastToken.trivia) out += lastToken.what.endsWith('string') ? "'s'" : v.slice(i, e);
        else out += ' ';
        i = e;
        continue;
      }
    }
    if (c >= 48 && c <= 57 && (i === 0 || !/[\w$.]/.test(v.charAt(i - 1)))) {
      const m = /^(?:\d+\.?\d*(?:e[+-]?\d+)?)/i.exec(v.slice(i));
      const text = (m as RegExpExecArray)[0];
      out += /e/i.test(text) ? 'f' : text.includes('.') ? 'd' : 'i';
      i += text.length;
      continue;
    }
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12) {
      if (!out.endsWith(' ')) out += ' ';
      i++;
      continue;
    }
    out += v.charAt(i).toLowerCase();
    i++;
  }
  return out.trim();
}

/** The kinds of one VALUES row; undefined when it cannot be read (it then merges with nothing). */
export function rowKinds(row: string, r: DialectRules): RowKinds | undefined {
  const values = splitRowValues(row, r);
  if (!values) return undefined;
  const kinds: string[] = new Array(values.length);
  const intDigits: number[] = new Array(values.length).fill(0);
  const fracDigits: number[] = new Array(values.length).fill(0);
  const digits: [number, number] = [0, 0];
  for (let k = 0; k < values.length; k++) {
    kinds[k] = valueKind(values[k] as string, r, digits);
    if (kinds[k] === 'i' || kinds[k] === 'd') {
      intDigits[k] = digits[0];
      fracDigits[k] = digits[1];
    }
  }
  return { kinds, intDigits, fracDigits };
}

/**
 * `a` and `b` together, or undefined when rows of these kinds must not share an INSERT: a column holds
 * two kinds, or (with `exactNumbersUnify`: integers and decimals share a decimal type on Trino and
 * Snowflake) exact numbers whose common type would need more than 38 digits.
 */
export function combineKinds(a: RowKinds, b: RowKinds, exactNumbersUnify: boolean): RowKinds | undefined {
  const n = a.kinds.length;
  if (b.kinds.length !== n) return undefined;
  const kinds = a.kinds.slice();
  const intDigits = a.intDigits.slice();
  const fracDigits = a.fracDigits.slice();
  for (let k = 0; k < n; k++) {
    let ka = a.kinds[k] as string;
    let kb = b.kinds[k] as string;
    if (exactNumbersUnify) {
      if (ka === 'i' || ka === 'd') ka = 'n';
      if (kb === 'i' || kb === 'd') kb = 'n';
    }
    if (ka !== '' && kb !== '' && ka !== kb) return undefined;
    kinds[k] = a.kinds[k] === '' ? (b.kinds[k] as string) : (a.kinds[k] as string);
    if (ka === 'n' || kb === 'n' || ka === 'i' || ka === 'd') {
      intDigits[k] = Math.max(a.intDigits[k] as number, b.intDigits[k] as number);
      fracDigits[k] = Math.max(a.fracDigits[k] as number, b.fracDigits[k] as number);
      if ((intDigits[k] as number) + (fracDigits[k] as number) > MAX_DIGITS) return undefined;
    }
  }
  return { kinds, intDigits, fracDigits };
}
