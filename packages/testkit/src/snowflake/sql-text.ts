/**
 * A small Snowflake-dialect scanner for the test server: splits a request into statements, classifies
 * each one, counts the rows of top-level VALUES lists and rewrites the few Snowflake-only spellings that
 * PostgreSQL (PGlite) cannot run. It is a scanner, not a parser: quotes and comments are exact, the rest
 * is tokens and parenthesis depth.
 */

/** One statement of a request, as the server sees it. */
export interface ScannedStatement {
  /** The statement's original text (without the trailing `;`). */
  readonly text: string;
  /** The text rewritten for PostgreSQL (see {@link scanStatements}). */
  readonly pgText: string;
  /** 1-based line of the statement's first token in the request text. */
  readonly line: number;
  /** 0-based column of the statement's first token on that line. */
  readonly position: number;
  /** Upper-cased first word, '' when the statement starts with a symbol. */
  readonly keyword: string;
  /** Upper-cased second word, '' when absent. */
  readonly secondKeyword: string;
  /** Largest number of rows in one top-level `VALUES` list (0 when none). */
  readonly maxValuesRows: number;
  /** Line and column of the `VALUES` keyword of that largest list. */
  readonly valuesLine: number;
  readonly valuesPosition: number;
}

/** Thrown for text the scanner cannot tokenise (unterminated quote or comment). */
export class ScanError extends Error {
  readonly line: number;
  readonly position: number;
  constructor(message: string, line: number, position: number) {
    super(message);
    this.name = 'ScanError';
    this.line = line;
    this.position = position;
  }
}

const isWordStart = (c: number): boolean =>
  (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127;
const isWordPart = (c: number): boolean => isWordStart(c) || (c >= 48 && c <= 57) || c === 36;
const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13 || c === 12;

interface Builder {
  start: number;
  line: number;
  position: number;
  hasToken: boolean;
  keyword: string;
  secondKeyword: string;
  pg: string[];
  pgFrom: number;
  afterValues: boolean;
  rows: number;
  maxRows: number;
  valuesLine: number;
  valuesPosition: number;
  maxValuesLine: number;
  maxValuesPosition: number;
  depth: number;
  lastWord: string;
}

function newBuilder(start: number): Builder {
  return {
    start,
    line: 0,
    position: 0,
    hasToken: false,
    keyword: '',
    secondKeyword: '',
    pg: [],
    pgFrom: start,
    afterValues: false,
    rows: 0,
    maxRows: 0,
    valuesLine: 0,
    valuesPosition: 0,
    maxValuesLine: 0,
    maxValuesPosition: 0,
    depth: 0,
    lastWord: '',
  };
}

/**
 * Splits `sql` into statements on top-level `;`, skipping empty ones (only blanks and comments).
 *
 * `pgText` differs from `text` in three ways, all outside quotes and comments: `// …` comments become
 * `-- …`; `CURRENT_TIMESTAMP()`, `CURRENT_DATE()` and `CURRENT_TIME()` lose their parentheses; a
 * `'…'` literal holding a backslash becomes `E'…'` (Snowflake strings take backslash escapes).
 */
export function scanStatements(sql: string): ScannedStatement[] {
  const out: ScannedStatement[] = [];
  const n = sql.length;
  let i = 0;
  let line = 1;
  let lineStart = 0;
  let b = newBuilder(0);

  const markToken = (at: number): void => {
    if (!b.hasToken) {
      b.hasToken = true;
      b.line = line;
      b.position = at - lineStart;
    }
  };
  const finish = (end: number): void => {
    if (b.hasToken) {
      b.pg.push(sql.slice(b.pgFrom, end));
      if (b.afterValues && b.rows > b.maxRows) {
        b.maxRows = b.rows;
        b.maxValuesLine = b.valuesLine;
        b.maxValuesPosition = b.valuesPosition;
      }
      out.push({
        text: sql.slice(b.start, end),
        pgText: b.pg.join(''),
        line: b.line,
        position: b.position,
        keyword: b.keyword,
        secondKeyword: b.secondKeyword,
        maxValuesRows: b.maxRows,
        valuesLine: b.maxValuesLine,
        valuesPosition: b.maxValuesPosition,
      });
    }
    b = newBuilder(end + 1);
  };
  const countNewlines = (from: number, to: number): void => {
    for (let k = from; k < to; k++) {
      if (sql.charCodeAt(k) === 10) {
        line++;
        lineStart = k + 1;
      }
    }
  };

  while (i < n) {
    const c = sql.charCodeAt(i);
    if (c === 10) {
      line++;
      lineStart = i + 1;
      i++;
      continue;
    }
    if (isSpace(c)) {
      i++;
      continue;
    }
    // -- and // line comments
    if ((c === 45 && sql.charCodeAt(i + 1) === 45) || (c === 47 && sql.charCodeAt(i + 1) === 47)) {
      if (c === 47) {
        b.pg.push(sql.slice(b.pgFrom, i), '--');
        b.pgFrom = i + 2;
      }
      const end = sql.indexOf('\n', i);
      i = end === -1 ? n : end;
      continue;
    }
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      const end = sql.indexOf('*/', i + 2);
      if (end === -1) throw new ScanError('unterminated comment', line, i - lineStart);
      countNewlines(i, end);
      i = end + 2;
      continue;
    }
    if (c === 59) {
      if (b.depth === 0) {
        finish(i);
      }
      i++;
      continue;
    }
    markToken(i);
    if (c === 39) {
      // '…' with '' and backslash escapes
      const startLine = line;
      const startPos = i - lineStart;
      let j = i + 1;
      let backslash = false;
      for (;;) {
        if (j >= n) throw new ScanError('unterminated string literal', startLine, startPos);
        const d = sql.charCodeAt(j);
        if (d === 92) {
          backslash = true;
          j += 2;
          continue;
        }
        if (d === 39) {
          if (sql.charCodeAt(j + 1) === 39) {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      if (backslash) {
        b.pg.push(sql.slice(b.pgFrom, i), 'E');
        b.pgFrom = i;
      }
      countNewlines(i, j);
      i = j + 1;
      b.lastWord = '';
      continue;
    }
    if (c === 34) {
      const end = sql.indexOf('"', i + 1);
      let j = end;
      while (j !== -1 && sql.charCodeAt(j + 1) === 34) j = sql.indexOf('"', j + 2);
      if (j === -1) throw new ScanError('unterminated quoted identifier', line, i - lineStart);
      countNewlines(i, j);
      i = j + 1;
      b.lastWord = '';
      continue;
    }
    if (c === 36 && sql.charCodeAt(i + 1) === 36) {
      const end = sql.indexOf('$$', i + 2);
      if (end === -1) throw new ScanError('unterminated $$ string', line, i - lineStart);
      countNewlines(i, end);
      i = end + 2;
      b.lastWord = '';
      continue;
    }
    if (c === 40) {
      if (b.depth === 0 && b.afterValues) b.rows++;
      // CURRENT_TIMESTAMP() and friends: PostgreSQL spells them without parentheses
      if (
        sql.charCodeAt(i + 1) === 41 &&
        (b.lastWord === 'CURRENT_TIMESTAMP' || b.lastWord === 'CURRENT_DATE' || b.lastWord === 'CURRENT_TIME')
      ) {
        b.pg.push(sql.slice(b.pgFrom, i));
        b.pgFrom = i + 2;
        i += 2;
        b.lastWord = '';
        continue;
      }
      b.depth++;
      i++;
      b.lastWord = '';
      continue;
    }
    if (c === 41) {
      if (b.depth > 0) b.depth--;
      i++;
      b.lastWord = '';
      continue;
    }
    if (isWordStart(c)) {
      let j = i + 1;
      while (j < n && isWordPart(sql.charCodeAt(j))) j++;
      const word = sql.slice(i, j).toUpperCase();
      if (b.keyword === '') b.keyword = word;
      else if (b.secondKeyword === '') b.secondKeyword = word;
      if (b.depth === 0 && word === 'VALUES' && b.keyword === 'INSERT') {
        if (b.afterValues && b.rows > b.maxRows) {
          b.maxRows = b.rows;
          b.maxValuesLine = b.valuesLine;
          b.maxValuesPosition = b.valuesPosition;
        }
        b.afterValues = true;
        b.rows = 0;
        b.valuesLine = line;
        b.valuesPosition = i - lineStart;
      } else if (b.depth === 0 && b.afterValues && word !== 'NULL') {
        // a keyword after the rows (e.g. INSERT ALL … INTO) ends this VALUES list
        if (b.rows > b.maxRows) {
          b.maxRows = b.rows;
          b.maxValuesLine = b.valuesLine;
          b.maxValuesPosition = b.valuesPosition;
        }
        b.afterValues = false;
      }
      b.lastWord = word;
      i = j;
      continue;
    }
    b.lastWord = '';
    i++;
  }
  finish(n);
  return out;
}

/** UTF-8 byte length of `s` without allocating a buffer. */
export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
