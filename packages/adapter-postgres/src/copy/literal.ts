/**
 * A tiny parser for the literal values of one `VALUES` row, used by the COPY fast path.
 * Anything it is not sure of makes it return `undefined`: the statement then runs as INSERT.
 */

/** One literal of a VALUES row. `text` is the value as PostgreSQL's input function would see it. */
export type Literal =
  | { readonly kind: 'null' }
  | { readonly kind: 'string'; readonly text: string }
  | { readonly kind: 'number'; readonly text: string; readonly integer: boolean }
  | { readonly kind: 'boolean'; readonly text: 'true' | 'false' }
  /** `DATE '…'`, `TIMESTAMP '…'`, `'…'::type`: `type` is the type name as written, lower-cased. */
  | { readonly kind: 'typed'; readonly type: string; readonly text: string };

// Character-code tests: this parser runs once per row of every COPY candidate (hot path).
// PostgreSQL's whitespace: space, tab, newline, carriage return, form feed (not vertical tab, 11).
const isWs = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 12;
const isDigit = (c: number) => c >= 48 && c <= 57;
const isIdentStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isIdentPart = (c: number) => isIdentStart(c) || isDigit(c);
const NUMBER = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INTEGER = /^-?\d+$/;

class Reader {
  pos = 0;
  constructor(readonly s: string) {}
  skipWs(): void {
    while (this.pos < this.s.length && isWs(this.s.charCodeAt(this.pos))) this.pos++;
  }
  peek(offset = 0): string {
    return this.s[this.pos + offset] ?? '';
  }
  done(): boolean {
    return this.pos >= this.s.length;
  }
}

/** `'…'` with `''` escapes; reader positioned on the opening quote. */
function readQuoted(r: Reader): string | undefined {
  let out = '';
  r.pos++;
  for (;;) {
    const end = r.s.indexOf("'", r.pos);
    if (end < 0) return undefined;
    out += r.s.slice(r.pos, end);
    r.pos = end + 1;
    if (r.peek() === "'") {
      out += "'";
      r.pos++;
      continue;
    }
    return out;
  }
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/** `E'…'` with backslash escapes; reader positioned on the opening quote. */
function readEString(r: Reader): string | undefined {
  let out = '';
  r.pos++;
  while (r.pos < r.s.length) {
    const c = r.s[r.pos]!;
    if (c === "'") {
      if (r.peek(1) === "'") {
        out += "'";
        r.pos += 2;
        continue;
      }
      r.pos++;
      return out;
    }
    if (c !== '\\') {
      out += c;
      r.pos++;
      continue;
    }
    const n = r.peek(1);
    if (n === '') return undefined;
    const simple = SIMPLE_ESCAPES[n];
    if (simple !== undefined) {
      out += simple;
      r.pos += 2;
      continue;
    }
    let code: number | undefined;
    let len = 0;
    if (/[0-7]/.test(n)) {
      const m = /^[0-7]{1,3}/.exec(r.s.slice(r.pos + 1, r.pos + 4))!;
      code = Number.parseInt(m[0], 8);
      len = m[0].length;
    } else if (n === 'x') {
      const m = /^[0-9A-Fa-f]{1,2}/.exec(r.s.slice(r.pos + 2, r.pos + 4));
      if (!m) return undefined;
      code = Number.parseInt(m[0], 16);
      len = 1 + m[0].length;
    } else if (n === 'u' || n === 'U') {
      const digits = n === 'u' ? 4 : 8;
      const hex = r.s.slice(r.pos + 2, r.pos + 2 + digits);
      if (!new RegExp(`^[0-9A-Fa-f]{${digits}}$`).test(hex)) return undefined;
      const cp = Number.parseInt(hex, 16);
      // Surrogate pairs written as two \u escapes and out-of-range code points: leave to the server.
      if (cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
      out += String.fromCodePoint(cp);
      r.pos += 2 + digits;
      continue;
    } else {
      // Any other escaped character stands for itself (\\, \', \").
      out += n;
      r.pos += 2;
      continue;
    }
    // Octal and hex escapes are bytes: only ASCII bytes are the same as characters.
    if (code === 0 || code >= 0x80) return undefined;
    out += String.fromCharCode(code);
    r.pos += 1 + len;
  }
  return undefined;
}

/** `$tag$…$tag$`; reader positioned on the first `$`. */
function readDollar(r: Reader): string | undefined {
  const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(r.s.slice(r.pos, r.pos + 64));
  if (!m) return undefined;
  const delim = m[0];
  const start = r.pos + delim.length;
  const end = r.s.indexOf(delim, start);
  if (end < 0) return undefined;
  r.pos = end + delim.length;
  return r.s.slice(start, end);
}

function readWord(r: Reader): string {
  const start = r.pos;
  if (!isIdentStart(r.s.charCodeAt(r.pos))) return '';
  while (r.pos < r.s.length && isIdentPart(r.s.charCodeAt(r.pos))) r.pos++;
  return r.s.slice(start, r.pos);
}

/** A string literal of any form at the reader, or undefined (reader position then unspecified). */
function readString(r: Reader): string | undefined {
  const c = r.peek();
  if (c === "'") return readQuoted(r);
  if (c === '$') return readDollar(r);
  if ((c === 'E' || c === 'e') && r.peek(1) === "'") {
    r.pos++;
    return readEString(r);
  }
  return undefined;
}

/** After a literal: only `,` or `)` may follow (optionally `::type` after a string). */
function readCast(r: Reader): string | undefined | null {
  r.skipWs();
  if (r.peek() !== ':' || r.peek(1) !== ':') return null;
  r.pos += 2;
  r.skipWs();
  const t = readWord(r);
  if (!t) return undefined;
  return t.toLowerCase();
}

function readValue(r: Reader): Literal | undefined {
  r.skipWs();
  const c = r.peek();
  if (c === "'" || c === '$' || ((c === 'E' || c === 'e') && r.peek(1) === "'")) {
    const text = readString(r);
    if (text === undefined) return undefined;
    const cast = readCast(r);
    if (cast === undefined) return undefined;
    if (cast !== null) return { kind: 'typed', type: cast, text };
    return { kind: 'string', text };
  }
  const code = r.s.charCodeAt(r.pos);
  if (c === '-' || c === '.' || isDigit(code)) {
    const start = r.pos;
    if (c === '-') r.pos++;
    let integer = true;
    for (; r.pos < r.s.length; r.pos++) {
      const d = r.s.charCodeAt(r.pos);
      if (isDigit(d)) continue;
      if (d === 46) integer = false;
      else if (d === 101 || d === 69) {
        integer = false;
        // An exponent sign belongs to the number.
        const sign = r.s.charCodeAt(r.pos + 1);
        if (sign === 43 || sign === 45) r.pos++;
      } else break;
    }
    const text = r.s.slice(start, r.pos);
    if (integer ? !INTEGER.test(text) : !NUMBER.test(text)) return undefined;
    return { kind: 'number', text, integer };
  }
  if (isIdentStart(code)) {
    const word = readWord(r).toLowerCase();
    if (word === 'null') return { kind: 'null' };
    if (word === 'true' || word === 'false') return { kind: 'boolean', text: word };
    // A typed literal: `DATE '2024-01-01'` (one-word type names only). One letter is a prefix
    // (B'…' bits, X'…' hex, N'…' national, U&'…'), not a type.
    if (word.length === 1) return undefined;
    r.skipWs();
    if (r.peek() !== "'") return undefined;
    const text = readQuoted(r);
    if (text === undefined) return undefined;
    return { kind: 'typed', type: word, text };
  }
  return undefined;
}

/**
 * Parse one row's text, parentheses included: `(1, 'a', NULL)`. Returns the literals, or undefined
 * when any value is not a plain literal (expressions, function calls, comments, arrays, …).
 */
export function parseRowLiterals(row: string): Literal[] | undefined {
  const parsed = parseRowValuesAt(row, 0);
  if (!parsed || parsed.values.some((v) => v.kind === 'expr')) return undefined;
  const r = new Reader(row);
  r.pos = parsed.end;
  r.skipWs();
  return r.done() ? (parsed.values as Literal[]) : undefined;
}

/**
 * An expression the `unnest` path may repeat once per row in its `SELECT` list: a call without
 * arguments of one of PostgreSQL's own scalar functions (`now()`, `gen_random_uuid()`, `random()`, …) or
 * one of SQL's value keywords (`CURRENT_TIMESTAMP`, `CURRENT_USER`, …). Each is an `a_expr` that reads no
 * column, returns one value (a set-returning function would multiply rows in a SELECT list, where a
 * multi-row VALUES refuses it: user functions are therefore not taken), means the same in a `VALUES` row
 * and in a `SELECT` list, and has a type that does not depend on where it stands.
 */
export interface Expression {
  readonly kind: 'expr';
  /** The expression exactly as written (ASCII). */
  readonly text: string;
}

/**
 * Built-in scalar functions without arguments (in `pg_catalog`, which is searched first unless the
 * search path names it later).
 */
const FUNCTIONS =
  'now|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday|random|gen_random_uuid|pi|current_database|current_schema|current_user|session_user|version|pg_backend_pid|inet_client_addr|inet_client_port|inet_server_addr|inet_server_port|pg_postmaster_start_time|pg_conf_load_time';
const KEYWORDS =
  'current_date|current_time|current_timestamp|localtime|localtimestamp|current_user|session_user|current_role|current_catalog|user';
const SPACE = '[ \\t\\n\\r\\f]*';
const EXPRESSION = new RegExp(
  `(?:(?:${FUNCTIONS})${SPACE}\\(${SPACE}\\)|(?:${KEYWORDS})(?![A-Za-z0-9_$]))`,
  'iy',
);

/**
 * Parse the row that starts at `text[at]` (`(` after optional whitespace): its values — literals, or
 * {@link Expression}s — and the offset just after its `)`. Undefined when any value is neither.
 */
export function parseRowValuesAt(
  text: string,
  at: number,
): { values: (Literal | Expression)[]; end: number } | undefined {
  const r = new Reader(text);
  r.pos = at;
  r.skipWs();
  if (r.peek() !== '(') return undefined;
  r.pos++;
  const values: (Literal | Expression)[] = [];
  for (;;) {
    r.skipWs();
    EXPRESSION.lastIndex = r.pos;
    const m = EXPRESSION.exec(text);
    let v: Literal | Expression | undefined;
    if (m) {
      r.pos += m[0].length;
      v = { kind: 'expr', text: m[0] };
    } else v = readValue(r);
    if (!v) return undefined;
    values.push(v);
    r.skipWs();
    const d = r.peek();
    r.pos++;
    if (d === ',') continue;
    if (d !== ')') return undefined;
    return { values, end: r.pos };
  }
}
