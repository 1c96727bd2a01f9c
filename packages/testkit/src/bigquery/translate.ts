/**
 * Splits a BigQuery (GoogleSQL) script into statements and translates each one into PostgreSQL for the
 * PGlite engine behind the test server. The translation is deliberately small and purely lexical; see
 * the testkit README ("BigQuery test server") for the exact list of what is rewritten.
 */

/** One statement of a script, in BigQuery text and translated to PostgreSQL. */
export interface TranslatedStatement {
  /** The statement's BigQuery text, without the trailing `;`. */
  readonly source: string;
  /** The statement translated to PostgreSQL. */
  readonly sql: string;
  /** 1-based line of the statement's first token in the script. */
  readonly line: number;
  /** 1-based column of the statement's first token in the script. */
  readonly column: number;
  /** Up to three leading unquoted words, upper-cased (`['BEGIN', 'TRANSACTION']`). */
  readonly keywords: readonly string[];
}

/** A lexical error in the script, reported like BigQuery's syntax errors. */
export class ScriptSyntaxError extends Error {
  readonly line: number;
  readonly column: number;
  constructor(message: string, line: number, column: number) {
    super(`Syntax error: ${message} at [${line}:${column}]`);
    this.name = 'ScriptSyntaxError';
    this.line = line;
    this.column = column;
  }
}

/** Unquoted BigQuery type names and their PostgreSQL equivalents. */
const TYPE_NAMES: Readonly<Record<string, string>> = {
  INT64: 'BIGINT',
  FLOAT64: 'DOUBLE PRECISION',
  STRING: 'TEXT',
  BOOL: 'BOOLEAN',
  BYTES: 'BYTEA',
  DATETIME: 'TIMESTAMP',
  TIMESTAMP: 'TIMESTAMPTZ',
  BIGNUMERIC: 'NUMERIC',
};

/** BigQuery's zero-argument date/time functions; PostgreSQL spells them without parentheses. */
const NILADIC: Readonly<Record<string, string>> = {
  CURRENT_TIMESTAMP: 'CURRENT_TIMESTAMP',
  CURRENT_DATE: 'CURRENT_DATE',
  CURRENT_TIME: 'CURRENT_TIME',
  CURRENT_DATETIME: 'LOCALTIMESTAMP',
};

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '?': '?',
  '"': '"',
  "'": "'",
  '`': '`',
};

function isIdentStart(c: string | undefined): boolean {
  return c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_');
}

function isIdentPart(c: string | undefined): boolean {
  return isIdentStart(c) || (c !== undefined && c >= '0' && c <= '9');
}

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\n' || c === '\t' || c === '\r' || c === '\f' || c === '\v';
}

function pgString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function pgIdentifier(name: string): string {
  // BigQuery compares column names case-insensitively and the test server folds table names too,
  // so a backtick-quoted name means the same as its unquoted spelling: PostgreSQL's lower case.
  return `"${name.toLowerCase().replace(/"/g, '""')}"`;
}

/**
 * Split `script` into statements and translate each one. `projectId` is removed from three-part
 * names (`project.dataset.table` → `dataset.table`).
 */
export function translateScript(script: string, projectId: string): TranslatedStatement[] {
  const statements: TranslatedStatement[] = [];
  const n = script.length;
  let i = 0;
  let out = '';
  let start = -1;
  let keywords: string[] = [];
  // Line bookkeeping: computed incrementally for statement starts only.
  let lineNo = 1;
  let lineStart = 0;
  let scanned = 0;
  const position = (offset: number): { line: number; column: number } => {
    for (let k = scanned; k < offset; k++) {
      if (script.charCodeAt(k) === 10) {
        lineNo++;
        lineStart = k + 1;
      }
    }
    scanned = Math.max(scanned, offset);
    return { line: lineNo, column: offset - lineStart + 1 };
  };
  const fail = (message: string, offset: number): never => {
    const p = position(offset);
    throw new ScriptSyntaxError(message, p.line, p.column);
  };
  const begin = (): void => {
    if (start < 0) start = i;
  };
  const finish = (end: number): void => {
    if (start >= 0) {
      const p = position(start);
      statements.push({
        source: script.slice(start, end).trim(),
        sql: out.trim(),
        line: p.line,
        column: p.column,
        keywords,
      });
    }
    out = '';
    start = -1;
    keywords = [];
  };

  /** Read a quoted literal starting at `i` (at the quote); returns its value. */
  const readQuoted = (raw: boolean): string => {
    const q = script[i]!;
    const triple = script[i + 1] === q && script[i + 2] === q;
    const open = i;
    i += triple ? 3 : 1;
    let value = '';
    for (;;) {
      if (i >= n) fail('Unclosed string literal', open);
      const c = script[i]!;
      if (c === '\\') {
        const e = script[i + 1];
        if (e === undefined) fail('Unclosed string literal', open);
        if (raw) {
          value += c + e;
          i += 2;
          continue;
        }
        const simple = SIMPLE_ESCAPES[e!];
        if (simple !== undefined) {
          value += simple;
          i += 2;
          continue;
        }
        const hexLength = e === 'x' || e === 'X' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
        if (hexLength > 0) {
          const hex = script.slice(i + 2, i + 2 + hexLength);
          if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== hexLength) fail('Illegal escape sequence', i);
          value += String.fromCodePoint(Number.parseInt(hex, 16));
          i += 2 + hexLength;
          continue;
        }
        if (e! >= '0' && e! <= '7') {
          const oct = script.slice(i + 1, i + 4);
          if (!/^[0-7]{3}$/.test(oct)) fail('Illegal escape sequence', i);
          value += String.fromCharCode(Number.parseInt(oct, 8));
          i += 4;
          continue;
        }
        fail(`Illegal escape sequence: \\${e}`, i);
      }
      if (triple) {
        if (c === q && script[i + 1] === q && script[i + 2] === q) {
          i += 3;
          return value;
        }
      } else if (c === q) {
        i += 1;
        return value;
      } else if (c === '\n' || c === '\r') {
        fail('Unclosed string literal', open);
      }
      value += c;
      i += 1;
    }
  };

  /** Read one name part (unquoted word or backtick-quoted) at `i`; backtick parts may hold dots. */
  const readNamePart = (): { names: string[]; quoted: boolean } => {
    if (script[i] === '`') {
      const open = i;
      const end = script.indexOf('`', i + 1);
      if (end < 0) fail('Unclosed identifier literal', open);
      const text = script.slice(i + 1, end);
      i = end + 1;
      return { names: text.split('.'), quoted: true };
    }
    const s = i;
    while (isIdentPart(script[i])) i++;
    return { names: [script.slice(s, i)], quoted: false };
  };

  while (i < n) {
    const c = script[i]!;
    const next = script[i + 1];
    if (isSpace(c)) {
      out += c;
      i++;
      continue;
    }
    if ((c === '-' && next === '-') || c === '#') {
      while (i < n && script[i] !== '\n') i++;
      out += ' ';
      continue;
    }
    if (c === '/' && next === '*') {
      const end = script.indexOf('*/', i + 2);
      if (end < 0) fail('Unclosed comment', i);
      i = end + 2;
      out += ' ';
      continue;
    }
    if (c === ';') {
      finish(i);
      i++;
      continue;
    }
    begin();
    if (c === "'" || c === '"') {
      out += pgString(readQuoted(false));
      continue;
    }
    if (c === '`' || isIdentStart(c)) {
      // String prefixes: r'…', b'…', rb'…', br'…'.
      if (c !== '`') {
        let k = i;
        while (isIdentPart(script[k])) k++;
        const word = script.slice(i, k);
        const quote = script[k];
        if ((quote === "'" || quote === '"') && /^(r|b|rb|br)$/i.test(word)) {
          i = k;
          const lower = word.toLowerCase();
          const value = readQuoted(lower.includes('r'));
          if (lower.includes('b')) {
            out += `'\\x${Buffer.from(value, 'latin1').toString('hex')}'::bytea`;
          } else {
            out += pgString(value);
          }
          continue;
        }
      }
      const parts: { name: string; quoted: boolean }[] = [];
      for (;;) {
        const part = readNamePart();
        for (const name of part.names) parts.push({ name, quoted: part.quoted });
        if (script[i] === '.' && (script[i + 1] === '`' || isIdentStart(script[i + 1]))) {
          i++;
          continue;
        }
        break;
      }
      if (parts.length >= 3 && parts[0]!.name === projectId) parts.shift();
      const only = parts.length === 1 ? parts[0]! : undefined;
      if (only && !only.quoted) {
        const upper = only.name.toUpperCase();
        if (keywords.length < 3) keywords.push(upper);
        const niladic = NILADIC[upper];
        if (niladic !== undefined) {
          let k = i;
          while (isSpace(script[k])) k++;
          if (script[k] === '(') {
            k++;
            while (isSpace(script[k])) k++;
            if (script[k] === ')') {
              out += niladic;
              i = k + 1;
              continue;
            }
          }
          out += niladic;
          continue;
        }
        out += TYPE_NAMES[upper] ?? only.name;
        continue;
      }
      if (keywords.length < 3) keywords.push('');
      out += parts.map((p) => (p.quoted ? pgIdentifier(p.name) : p.name)).join('.');
      continue;
    }
    out += c;
    i++;
  }
  finish(n);
  return statements;
}
