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

/**
 * How integer and decimal literals meet in one column: `any` (Trino: both become a decimal, exactly),
 * `scale` (Snowflake: both become a number of the larger scale, which shows in text: 1 next to 1.5 is
 * `1.0`; so only numbers of one scale merge), `none` (BigQuery: INT64 and FLOAT64, never merged).
 */
export type ExactNumbers = 'any' | 'scale' | 'none';

/** The kinds of a run of rows: per column, `''` while only NULLs were seen. */
export interface RowKinds {
  readonly kinds: string[];
  /** Per column, for exact numbers: the most digits before and after the point. */
  readonly intDigits: number[];
  readonly fracDigits: number[];
}

/** An integer: decimal digits (with `_` separators), or hexadecimal, octal or binary. */
const INTEGER = /^[+-]?\s*(?:(\d[\d_]*)|0x[\da-f_]+|0o[0-7_]+|0b[01_]+)$/i;
const DECIMAL = /^[+-]?\s*(\d[\d_]*)?\.(\d[\d_]*)?$/;
// (each part has one way to match: no backtracking over long runs of digits)
const FLOAT = /^[+-]?\s*(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)e[+-]?\d+$/i;
/** A number token inside an expression (see {@link shape}). */
const NUMBER_TOKEN = /(?:0x[\da-f_]+|0o[0-7_]+|0b[01_]+|\d[\d_]*(?:\.[\d_]*)?(?:e[+-]?\d+)?)/iy;
const WORD_TOKEN = /[A-Za-z_][\w$]*/y;
const TYPED = /^([a-z_][a-z0-9_]*(?:\s+with(?:out)?\s+(?:local\s+)?time\s+zone)?)\s*'/i;
const CAST_OPEN = /^(?:try_)?cast\s*\(/i;
/** Types whose literal text gives the value's type: a zone makes a timestamp or time another type. */
const TIME_TYPES = /^(?:timestamp|time)\b/i;
/** Types whose literal text sets the precision and scale of the value's type. */
const DECIMAL_TYPES = /^(?:decimal|numeric|dec|number|bignumeric|bigdecimal)$/i;
/** Functions whose integer arguments are part of the result's type (precision, scale, length). */
const TYPE_ARGUMENT_FUNCTIONS = /^(?:try_)?to_(?:number|numeric|decimal|char|varchar)$/i;

/** Digits of an exact number, without separators or leading zeros (`007` has 1, `0` has 0). */
const significant = (digits: string | undefined) =>
  (digits ?? '').replace(/_/g, '').replace(/^0+/, '').length;

/**
 * The text of a date/time literal has something after its date and time of day: a zone (`UTC`,
 * `+02:00`, `Europe/Paris`), which makes it another type on Trino.
 */
function zoned(text: string): boolean {
  const rest = text
    .trim()
    .replace(/^[+-]?\d+-\d+-\d+/, '')
    .replace(/^(?:[ T]+)?\d+(?::\d+(?::\d+(?:\.\d*)?)?)?/, '')
    .trim();
  return rest !== '';
}

/** Integer and fraction digits of the numbers of one value, for the 38-digit check (see {@link combineKinds}). */
type Digits = [number, number];

/**
 * The kind of one value (see the module comment), or `''` for NULL; `digits` receives the most integer
 * and fraction digits of the exact numbers in it (the literal itself, a `DECIMAL '…'` literal's text, or
 * numbers inside an expression).
 */
function valueKind(v: string, r: DialectRules, exact: ExactNumbers, digits: Digits): string {
  digits[0] = 0;
  digits[1] = 0;
  if (/^null$/i.test(v)) return '';
  let m = INTEGER.exec(v);
  if (m) {
    // (a hexadecimal, octal or binary integer: as many digits as a 64-bit one)
    digits[0] = m[1] === undefined ? 20 : significant(m[1]);
    return exact === 'scale' ? 'n:0' : exact === 'any' ? 'n' : 'i';
  }
  m = DECIMAL.exec(v);
  if (m && (m[1] !== undefined || m[2] !== undefined)) {
    digits[0] = significant(m[1]);
    digits[1] = (m[2] ?? '').replace(/_/g, '').length;
    return exact === 'scale' ? `n:${digits[1]}` : exact === 'any' ? 'n' : 'd';
  }
  if (FLOAT.test(v)) return 'f';
  if (/^(?:true|false)$/i.test(v)) return 'b';
  const c = v.charCodeAt(0);
  if ((c === 39 || (c === 34 && r.doubleQuoteIsString)) && isOneString(v, r)) return 's';
  m = TYPED.exec(v);
  if (m) {
    const type = (m[1] as string).toUpperCase().replace(/\s+/g, ' ');
    return `t:${type}:${shape(v, r, digits, exact)}`;
  }
  if (CAST_OPEN.test(v) && v.endsWith(')')) {
    const open = v.indexOf('(');
    const inner = v.slice(open + 1, -1);
    // (the last ` AS `: a string before it may hold one, the type after it cannot)
    let as = -1;
    for (const a of inner.matchAll(/\sas\s/gi)) as = a.index as number;
    if (as > 0) {
      const type = inner
        .slice(as + 4)
        .trim()
        .toUpperCase()
        .replace(/\s+/g, ' ');
      return `c:${type}:${shape(inner.slice(0, as), r, digits, exact)}`;
    }
  }
  return `x:${shape(v, r, digits, exact)}`;
}

/** `v` is exactly one quoted string (not `'a' || 'b'`). */
function isOneString(v: string, r: DialectRules): boolean {
  const e = skipToken(v, 0, r, true);
  return e === v.length;
}

/**
 * `v` with each string literal replaced by `'s'`, each number by its kind letter, comments dropped and
 * whitespace collapsed: equal shapes are expressions of the same type. Kept as written: the numbers that
 * are part of a type (`::NUMBER(38, 0)`, `CAST(x AS DECIMAL(10, 2))`, `TO_NUMBER(x, 38, 0)`), and the zone
 * of a timestamp literal (`TIMESTAMP '… UTC'` is marked `'s:z'`). `digits` receives the most integer and
 * fraction digits of the exact numbers (and of `DECIMAL '…'` texts).
 */
function shape(v: string, r: DialectRules, digits: Digits, exact: ExactNumbers): string {
  let out = '';
  let space = false;
  /** Per open parenthesis: whether the numbers in it are part of a type. */
  const typeArgs: boolean[] = [];
  /** The last word written, and whether `::` or `AS` came before it. */
  let word = '';
  let typeWord = false;
  let afterCast = false;
  const exactDigits = (text: string) => {
    const m = /^[+-]?(\d[\d_]*)?(?:\.(\d[\d_]*)?)?$/.exec(text.trim());
    if (!m) return;
    digits[0] = Math.max(digits[0], significant(m[1]));
    digits[1] = Math.max(digits[1], (m[2] ?? '').replace(/_/g, '').length);
  };
  // (a space only between two words or literals: `f(1, 2)` and `f( 1,2 )` have one shape)
  const wordy = (ch: string) => /[\w'"`$]/.test(ch);
  let lastWordy = false;
  const emit = (text: string) => {
    if (space && lastWordy && wordy(text.charAt(0))) out += ' ';
    space = false;
    out += text;
    lastWordy = wordy(text.charAt(text.length - 1));
  };
  let i = 0;
  const n = v.length;
  while (i < n) {
    const c = v.charCodeAt(i);
    if (mayStartToken(c)) {
      const e = skipToken(v, i, r, true);
      if (e === INCOMPLETE) return v;
      if (e !== NOT_SPECIAL) {
        if (lastToken.trivia) space = true;
        else if (lastToken.what.endsWith('string')) {
          const text = v.slice(i, e);
          if (TIME_TYPES.test(word)) emit(zoned(text.slice(1, -1)) ? "'s:z'" : "'s'");
          else {
            if (DECIMAL_TYPES.test(word)) exactDigits(text.slice(1, -1));
            emit("'s'");
          }
          word = '';
        } else {
          emit(v.slice(i, e));
          word = '';
        }
        i = e;
        continue;
      }
    }
    if (c >= 48 && c <= 57 && (i === 0 || !/[\w$.]/.test(v.charAt(i - 1)))) {
      NUMBER_TOKEN.lastIndex = i;
      const text = (NUMBER_TOKEN.exec(v) as RegExpExecArray)[0];
      if (typeArgs[typeArgs.length - 1] === true) emit(text.toLowerCase());
      else {
        if (/^0[xob]/i.test(text)) digits[0] = Math.max(digits[0], 20);
        else if (!/e/i.test(text)) exactDigits(text);
        // (with `scale`, a decimal's scale is part of its kind, as for a literal on its own)
        const decimal = exact === 'scale' ? `d${text.length - text.indexOf('.') - 1}` : 'd';
        emit(/^0[xob]/i.test(text) ? 'i' : /e/i.test(text) ? 'f' : text.includes('.') ? decimal : 'i');
      }
      i += text.length;
      word = '';
      continue;
    }
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 12) {
      space = true;
      i++;
      continue;
    }
    if (/[A-Za-z_]/.test(v.charAt(i))) {
      WORD_TOKEN.lastIndex = i;
      const w = (WORD_TOKEN.exec(v) as RegExpExecArray)[0];
      const lower = w.toLowerCase();
      typeWord = afterCast;
      afterCast = lower === 'as';
      word = lower;
      emit(lower);
      i += w.length;
      continue;
    }
    if (c === 40) {
      typeArgs.push(typeWord || TYPE_ARGUMENT_FUNCTIONS.test(word));
      emit('(');
      space = false;
      i++;
      word = '';
      afterCast = false;
      continue;
    }
    if (c === 41) typeArgs.pop();
    if (c === 58 && v.charCodeAt(i + 1) === 58) {
      emit('::');
      space = false;
      i += 2;
      afterCast = true;
      word = '';
      continue;
    }
    emit(v.charAt(i));
    if (c !== 44) afterCast = false;
    word = '';
    i++;
  }
  return out;
}

/** The kinds of one VALUES row; undefined when it cannot be read (it then merges with nothing). */
export function rowKinds(row: string, r: DialectRules, exact: ExactNumbers): RowKinds | undefined {
  const values = splitRowValues(row, r);
  if (!values) return undefined;
  const kinds: string[] = new Array(values.length);
  const intDigits: number[] = new Array(values.length).fill(0);
  const fracDigits: number[] = new Array(values.length).fill(0);
  const digits: Digits = [0, 0];
  for (let k = 0; k < values.length; k++) {
    kinds[k] = valueKind(values[k] as string, r, exact, digits);
    intDigits[k] = digits[0];
    fracDigits[k] = digits[1];
  }
  return { kinds, intDigits, fracDigits };
}

/**
 * `a` and `b` together, or undefined when rows of these kinds must not share an INSERT: a column holds
 * two kinds, or the exact numbers of a column (literals, or inside values of one kind) would need a
 * common type of more than 38 digits.
 */
export function combineKinds(a: RowKinds, b: RowKinds): RowKinds | undefined {
  const n = a.kinds.length;
  if (b.kinds.length !== n) return undefined;
  const kinds = a.kinds.slice();
  const intDigits = a.intDigits.slice();
  const fracDigits = a.fracDigits.slice();
  for (let k = 0; k < n; k++) {
    const ka = a.kinds[k] as string;
    const kb = b.kinds[k] as string;
    if (ka !== '' && kb !== '' && ka !== kb) return undefined;
    if (ka === '') kinds[k] = kb;
    intDigits[k] = Math.max(a.intDigits[k] as number, b.intDigits[k] as number);
    fracDigits[k] = Math.max(a.fracDigits[k] as number, b.fracDigits[k] as number);
    if ((intDigits[k] as number) + (fracDigits[k] as number) > MAX_DIGITS) return undefined;
  }
  return { kinds, intDigits, fracDigits };
}
