import { nativeByteLength } from '../batch/utf8.js';
import { type Dialect, type DialectRules, dialectRules } from './dialect.js';
import {
  INCOMPLETE,
  isIdentChar,
  isSpace,
  lastToken,
  NOT_SPECIAL,
  skipToken,
  skipTrivia,
} from './scanner.js';

/** Broad class of a statement, from its first keyword. */
export type StatementKind =
  | 'insert'
  | 'select'
  | 'dml'
  | 'ddl'
  | 'transaction'
  | 'session'
  | 'copy'
  | 'other'
  | 'empty';

/** How the trailing clause after the VALUES rows of an INSERT affects merging. */
export type InsertTailKind = 'none' | 'returning' | 'do-nothing' | 'do-update' | 'unknown';

/** The parts of `INSERT INTO <table> [(<columns>)] VALUES (…)[, (…)]* [<tail>]`. */
export interface LexedInsert {
  /** `INSERT INTO <table> [(<columns>)] VALUES` as written. */
  readonly prefix: string;
  /** Table as written. */
  readonly table: string;
  /** Column names as written, or undefined without a column list. */
  readonly columns: readonly string[] | undefined;
  /**
   * Normalised table and column list: unquoted identifiers folded the engine's way, quoted ones kept.
   * Two INSERTs with equal `targetKey` write the same columns of the same table.
   */
  readonly targetKey: string;
  /** Each row's text including its parentheses. */
  readonly rows: string[];
  /** Values per row; -1 when rows differ (such a statement is never merged). */
  readonly arity: number;
  /** Trailing clause as written, '' when none. */
  readonly tail: string;
  readonly tailKind: InsertTailKind;
  /** For `ON CONFLICT (cols) DO UPDATE`: positions of the conflict columns in the column list. */
  readonly conflictColumns: readonly number[] | undefined;
}

/** One statement, classified. */
export interface LexedStatement {
  readonly kind: StatementKind;
  /** The statement without leading whitespace and without trailing comments, whitespace or `;`. */
  readonly text: string;
  /** True when the text holds more than one statement (`a; b`). */
  readonly multiple: boolean;
  /** True when the text is pure ASCII (UTF-8 bytes = length). */
  readonly ascii: boolean;
  /** Present for `INSERT … VALUES` statements the merger may combine. */
  readonly insert: LexedInsert | undefined;
  /**
   * Must be sent in a request of its own: PostgreSQL runs a multi-statement request as one implicit
   * transaction block, which CREATE/DROP DATABASE, VACUUM, … CONCURRENTLY and the like refuse; and it
   * reads a whole request before running any of it, so a statement that changes how `'…'` strings are
   * read (`SET standard_conforming_strings`) must not share a request with the statements after it.
   */
  readonly standalone?: boolean;
  /** Why the batcher cannot take this statement (it would misread the statements after it). */
  readonly unsupported?: string;
}

/** Raised by {@link lexStatement} for text it cannot scan (unterminated quote or comment). */
export class LexError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'LexError';
  }
}

const NON_ASCII = /[^\x00-\x7f]/;
/** True when `s` is pure ASCII (its UTF-8 byte count equals its length; native is about twice as fast). */
function isAscii(s: string): boolean {
  return nativeByteLength ? nativeByteLength(s) === s.length : !NON_ASCII.test(s);
}

/** Normalised target keys by raw prefix text, so equal prefixes yield the identical key string. */
const prefixCaches = new WeakMap<DialectRules, Map<string, ParsedPrefix>>();
const PREFIX_CACHE_LIMIT = 4096;

interface ParsedPrefix {
  table: string;
  columns: string[] | undefined;
  normColumns: string[] | undefined;
  targetKey: string;
}

/**
 * Classify one statement and, for `INSERT … VALUES`, find its parts. Exact for quoting and comments of
 * the chosen dialect. Throws {@link LexError} for an unterminated quote or comment.
 */
export function lexStatement(sql: string, dialect?: Dialect | DialectRules): LexedStatement {
  const r = dialectRules(dialect);
  let start = skipTrivia(sql, 0, r);
  // Empty statements (`;`) before the first real token are not part of it.
  while (start >= 0 && sql.charCodeAt(start) === 59) start = skipTrivia(sql, start + 1, r);
  if (start === INCOMPLETE) throw new LexError('unterminated block comment', 0);
  const ascii = isAscii(sql);
  if (start >= sql.length) return { kind: 'empty', text: '', multiple: false, ascii, insert: undefined };
  if (keywordAt(sql, start, 'INSERT')) {
    const ins = lexInsert(sql, start, r, ascii);
    if (ins) return ins;
  }
  const word = readWordUpper(sql, start);
  const { end, multiple } = scanRest(sql, start, r);
  const text = sql.slice(start, end);
  if (word === 'BEGIN' && r.scriptBlocks && isScriptBlock(sql, start + 5, r)) {
    return { kind: 'other', text, multiple, ascii, insert: undefined };
  }
  const scs = r.name === 'postgres' ? conformingStrings(word, text) : undefined;
  // MySQL's NO_BACKSLASH_ESCAPES makes `\` an ordinary character in strings: the lexer would misread
  // the statements after it (as with standard_conforming_strings off on PostgreSQL): refused.
  // (a SET of sql_mode naming it, also in mysqldump's `/*!40101 SET sql_mode=… */` form; one that
  // removes it is refused too: the lexer cannot tell)
  // ANSI_QUOTES (also in the ANSI mode) makes "…" an identifier, which the lexer reads as a string with
  // backslash escapes (found in review): refused the same way.
  const nbe =
    r.name === 'mysql' &&
    /^(?:\/\*!\d*\s*)?SET\b/i.test(text) &&
    /\bsql_mode\b/i.test(text) &&
    /\b(?:NO_BACKSLASH_ESCAPES|ANSI_QUOTES|ANSI)\b/i.test(text);
  const kind = classify(word);
  const standalone =
    // Transaction control ends or starts a transaction: in a request with other statements it would
    // take them into its transaction (BEGIN; a later ROLLBACK then undoes them) or commit part of a
    // request the batcher treats as all-or-nothing (COMMIT).
    kind === 'transaction' ||
    (r.name === 'postgres' &&
      (scs !== undefined ||
        changesTextSetting(word, text) ||
        isStandalone(word, text) ||
        transactionScoped(word, text) ||
        // a procedure or DO block may COMMIT inside, which only a request of its own allows (2D000)
        word === 'CALL' ||
        word === 'DO'));
  return {
    kind,
    text,
    multiple,
    ascii,
    insert: undefined,
    ...(standalone ? { standalone } : {}),
    ...(scs === 'off' ? { unsupported: SCS_OFF_MESSAGE } : nbe ? { unsupported: NBE_MESSAGE } : {}),
  };
}

const NBE_MESSAGE =
  'sql_mode NO_BACKSLASH_ESCAPES, ANSI_QUOTES or ANSI is not supported: the mysql dialect reads \'…\' and "…" strings with backslash escapes, as MySQL does by default; load such a file with the mysql client';

/** Comments between a function's name and its `(`. */
// (a comment's body cannot run past its own `*/`: with `[\s\S]*?` there, n comments not followed by `(`
// could be grouped in 2^n ways, and a short row took minutes; found in review)
const GAP = String.raw`\s*(?:\/\*(?:[^*]|\*(?!\/))*\*\/\s*|--[^\n]*\n\s*)*`;

/**
 * MySQL / MariaDB reads of what the previous statement did (`LAST_INSERT_ID()`, `@@identity`, …) and
 * MariaDB's sequence functions: in a merged INSERT every row would read the same statement, or the
 * sequence in another order relative to the column defaults (found in review). Such rows are never merged.
 */
const SESSION_RESULT_CALL = new RegExp(
  String.raw`\b(?:LAST_INSERT_ID|ROW_COUNT|FOUND_ROWS|NEXTVAL|LASTVAL|SETVAL)${GAP}\(|@@(?:SESSION\.)?(?:IDENTITY|LAST_INSERT_ID)\b|\b(?:NEXT|PREVIOUS)\s+VALUE\s+FOR\b`,
  'i',
);

/**
 * PostgreSQL's sequence functions in a row: a single-row INSERT evaluates its VALUES and the column
 * defaults together, in column order, where a multi-row VALUES list is evaluated row by row before the
 * defaults; merged, `currval('t_id_seq')` read the previous row's id and `nextval` drew out of order
 * with a serial default (found in review). Such rows are never merged.
 */
export const SEQUENCE_CALL = new RegExp(
  String.raw`(?:\b|")(?:nextval|currval|lastval|setval)"?${GAP}\(`,
  'i',
);

/**
 * Whether the `DO UPDATE SET …` of `tail` may assign one of `columns` (coarse: any mention of the name
 * followed by `=` after SET, a WHERE comparison included, and any row assignment `(…) = …`).
 */
function assignsAny(tail: string, columns: readonly string[]): boolean {
  const m = /\bDO\s+UPDATE\s+SET\b/i.exec(tail);
  if (!m) return true;
  const set = tail.slice(m.index + m[0].length);
  // (a comment between a name and its `=`, or a U&"…" name, hides the assignment from the tests below)
  if (/\)\s*=|--|\/\*|U&"/i.test(set)) return true;
  return columns.some((c) => {
    const name = (c.startsWith('"') && c.endsWith('"') ? c.slice(1, -1) : c).replace(
      /[.*+?^${}()|[\]\\]/g,
      '\\$&',
    );
    return new RegExp(`(?:^|[^A-Za-z0-9_$])"?${name}"?\\s*(?:=|\\[)`, 'i').test(set);
  });
}

/**
 * PostgreSQL statements whose effect depends on the transaction they run in: `SET LOCAL`,
 * `set_config(…, true)` (outside a transaction block they do nothing — but a multi-statement request is
 * one implicit block, where they would apply to the rest of it), `SET TRANSACTION` and
 * `SET SESSION CHARACTERISTICS` (refused after another query of the same block), `PREPARE TRANSACTION`.
 */
function transactionScoped(word: string, text: string): boolean {
  if (word === 'SET') return /^SET\s+(?:LOCAL\b|TRANSACTION\b|SESSION\s+CHARACTERISTICS\b)/i.test(text);
  if (word === 'PREPARE') return /^PREPARE\s+TRANSACTION\b/i.test(text);
  return /\bset_config\s*\(/i.test(text);
}

const SCS_OFF_MESSAGE =
  "standard_conforming_strings = off is not supported: the batcher reads '…' strings the standard way " +
  "(a backslash is an ordinary character), as PostgreSQL does by default; write E'…' strings for backslash escapes";

/** `SET [SESSION | LOCAL] standard_conforming_strings { = | TO } value`, `RESET …`, `set_config('…', value, …)`. */
const SCS_SET =
  /^SET\s+(?:SESSION\s+|LOCAL\s+)?"?standard_conforming_strings"?\s*(?:=|\s+TO\s+|\s+TO$)\s*(.*)$/is;
const SCS_RESET = /^RESET\s+(?:ALL|"?standard_conforming_strings"?)\s*$/i;
const SCS_CONFIG =
  /^SELECT\s+(?:"?pg_catalog"?\s*\.\s*)?"?set_config"?\s*\(\s*'standard_conforming_strings'\s*,\s*(.*)$/is;
/** A boolean setting's "true" spellings, as PostgreSQL reads them (unique prefixes included). */
const ON = /^(?:on|t|tr|tru|true|y|ye|yes|1)$/i;

/**
 * Whether `text` (a PostgreSQL statement starting with `word`) changes `standard_conforming_strings`:
 * `'off'` when it turns it off (or to anything not known to be on), `'on'` for on, a reset or the default.
 */
function conformingStrings(word: string, text: string): 'on' | 'off' | undefined {
  if (word !== 'SET' && word !== 'RESET' && word !== 'SELECT' && word !== 'DISCARD') return undefined;
  if (SCS_RESET.test(text) || /^DISCARD\s+ALL\s*$/i.test(text)) return 'on';
  if (word === 'DISCARD' || !/standard_conforming_strings/i.test(text)) return undefined;
  const m = SCS_SET.exec(text) ?? SCS_CONFIG.exec(text);
  if (!m) return word === 'SELECT' ? undefined : 'off';
  const value = (m[1] ?? '').trim();
  // `= DEFAULT`, `TO DEFAULT`: the server's default (on since PostgreSQL 9.1)
  if (/^default$/i.test(value)) return 'on';
  const lit = /^'([^']*)'|^"([^"]*)"|^([A-Za-z0-9_]+)/.exec(value);
  const v = lit ? (lit[1] ?? lit[2] ?? lit[3] ?? '').trim() : '';
  // (anything else is off, or a value the server would refuse: either way not taken)
  return ON.test(v) ? 'on' : 'off';
}

/**
 * Settings PostgreSQL applies while it reads a request's text, before running any of it: the client
 * encoding (the whole request is converted with the one in force when it arrives) and `backslash_quote`
 * (checked as the text is read). A statement changing one goes in a request of its own, so the
 * statements after it are read with the new value, as one by one.
 */
const TEXT_SETTING =
  /^(?:SET\s+(?:SESSION\s+|LOCAL\s+)?"?(?:client_encoding|NAMES|backslash_quote)\b|RESET\s+"?(?:client_encoding|backslash_quote)\b)|\bset_config\s*\(\s*'\s*(?:client_encoding|backslash_quote)\s*'/i;

function changesTextSetting(word: string, text: string): boolean {
  if (word !== 'SET' && word !== 'RESET' && word !== 'SELECT') return false;
  return TEXT_SETTING.test(text);
}

const NO_TX_BLOCK = new RegExp(
  `^(?:${[
    'VACUUM\\b',
    'ALTER\\s+SYSTEM\\b',
    '(?:CREATE|DROP)\\s+(?:DATABASE|TABLESPACE)\\b',
    'ALTER\\s+DATABASE\\s[\\s\\S]*\\bSET\\s+TABLESPACE\\b',
    '(?:CREATE|DROP)\\s+(?:UNIQUE\\s+)?INDEX\\s+CONCURRENTLY\\b',
    // (every REINDEX and CLUSTER: of a partitioned table, SCHEMA/DATABASE/SYSTEM, CONCURRENTLY, or a
    // CLUSTER without a table, PostgreSQL refuses them in a block; the lexer cannot tell a partitioned
    // table, and these are rare, heavy statements)
    'REINDEX\\b',
    'ALTER\\s+TABLE\\s[\\s\\S]*\\bDETACH\\s+PARTITION\\s[\\s\\S]*\\bCONCURRENTLY\\b',
    'CLUSTER\\b',
    'DISCARD\\s+ALL\\b',
    // (the type's name may be quoted with spaces in it, or written `s . t`)
    'ALTER\\s+TYPE\\s[\\s\\S]*\\bADD\\s+VALUE\\b',
    '(?:CREATE|ALTER|DROP)\\s+SUBSCRIPTION\\b',
    '(?:COMMIT|ROLLBACK)\\s+PREPARED\\b',
  ].join('|')})`,
  'i',
);

const NO_TX_BLOCK_WORDS = new Set([
  'VACUUM',
  'ALTER',
  'CREATE',
  'DROP',
  'REINDEX',
  'CLUSTER',
  'DISCARD',
  'COMMIT',
  'ROLLBACK',
]);

/**
 * Statements PostgreSQL refuses inside a transaction block (checked on the statement's head only): a
 * request of several statements is one implicit block.
 */
function isStandalone(word: string, text: string): boolean {
  return NO_TX_BLOCK_WORDS.has(word) && NO_TX_BLOCK.test(text.slice(0, 400));
}

/** After `BEGIN`: a script block (`BEGIN … END`), not `BEGIN;` / `BEGIN TRANSACTION` / WORK / NAME. */
function isScriptBlock(s: string, i: number, r: DialectRules): boolean {
  const k = skipTrivia(s, i, r);
  if (k < 0 || k >= s.length || s.charCodeAt(k) === 59) return false;
  const next = readWordUpper(s, k);
  return next !== 'TRANSACTION' && next !== 'WORK' && next !== 'NAME';
}

function classify(word: string): StatementKind {
  switch (word) {
    case 'INSERT':
      return 'insert';
    case 'SELECT':
    case 'VALUES':
    case 'TABLE':
    case 'SHOW':
    case 'EXPLAIN':
      return 'select';
    case 'UPDATE':
    case 'DELETE':
    case 'MERGE':
    case 'UPSERT':
    case 'REPLACE':
      return 'dml';
    case 'CREATE':
    case 'ALTER':
    case 'DROP':
    case 'TRUNCATE':
    case 'COMMENT':
    case 'GRANT':
    case 'REVOKE':
      return 'ddl';
    case 'BEGIN':
    case 'START':
    case 'COMMIT':
    case 'END':
    case 'ROLLBACK':
    case 'ABORT':
    case 'SAVEPOINT':
    case 'RELEASE':
      return 'transaction';
    case 'SET':
    case 'RESET':
    case 'USE':
      return 'session';
    case 'COPY':
      return 'copy';
    default:
      return 'other';
  }
}

function readWordUpper(s: string, i: number): string {
  let j = i;
  while (j < s.length && isIdentChar(s.charCodeAt(j))) j++;
  return s.slice(i, j).toUpperCase();
}

function wordEnd(s: string, i: number): number {
  let j = i;
  while (j < s.length && isIdentChar(s.charCodeAt(j))) j++;
  return j;
}

/** Case-insensitive match of an upper-case ASCII keyword at `i`, followed by a non-identifier char. */
function keywordAt(s: string, i: number, kw: string): boolean {
  const n = kw.length;
  if (i + n > s.length) return false;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(i + k) & ~32; // ASCII upper-case
    if (c !== kw.charCodeAt(k)) return false;
  }
  return i + n === s.length || !isIdentChar(s.charCodeAt(i + n));
}

/**
 * Scan from `i` to the end: validates quoting, finds the end of the last non-trivia token (dropping
 * trailing `;`, comments and whitespace) and whether a second statement follows a top-level `;`.
 */
function scanRest(s: string, i: number, r: DialectRules): { end: number; multiple: boolean } {
  const n = s.length;
  let end = i;
  let sawSemicolon = false;
  let multiple = false;
  // (psql, and so the splitter on the postgres dialect, does not end a statement inside parentheses)
  let depth = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === 59 && depth === 0) {
      sawSemicolon = true;
      i++;
      continue;
    }
    if (r.psqlMetaCommands && c === 40) depth++;
    else if (r.psqlMetaCommands && c === 41 && depth > 0) depth--;
    const e = skipToken(s, i, r, true);
    if (e === INCOMPLETE) throw new LexError(`unterminated ${lastToken.what}`, i);
    if (e !== NOT_SPECIAL) {
      if (!lastToken.trivia) {
        if (sawSemicolon) multiple = true;
        end = e;
      }
      i = e;
      continue;
    }
    if (sawSemicolon) multiple = true;
    i++;
    end = i;
  }
  return { end, multiple };
}

/** Reads one identifier (quoted or not) at `i`; returns its end or -1. */
function identEnd(s: string, i: number, r: DialectRules): number {
  const c = s.charCodeAt(i);
  if (c === 34 /* " */ && !r.doubleQuoteIsString) {
    const e = skipToken(s, i, r, true);
    return e < 0 ? -1 : e;
  }
  if (c === 96 /* ` */ && r.backtickIdentifiers) {
    const e = skipToken(s, i, r, true);
    return e < 0 ? -1 : e;
  }
  if (!isIdentChar(c) || (c >= 48 && c <= 57) || c === 36) return -1;
  return wordEnd(s, i);
}

/**
 * `unknown`: the engine's folding is not known (generic dialect): a quoted name then never equals an
 * unquoted one (`"users"` is `USERS` on an upper-folding engine, `users` on a lower-folding one).
 */
function normIdent(
  text: string,
  fold: 'lower' | 'upper' | 'none',
  quotedFold: boolean,
  unknown = false,
): string {
  const q = text.charCodeAt(0);
  if (q === 34 || q === 96) {
    const quote = text[0] as string;
    const inner = text
      .slice(1, -1)
      .split(quote + quote)
      .join(quote);
    // A quoted name equals the unquoted name that folds to it (`"users"` = `users` in postgres).
    // Parts are joined with \u0002 by the caller, so `"a.b"` never equals `a.b`.
    const norm = quotedFold ? asciiLower(inner) : inner;
    return unknown ? `\u0001${norm}` : norm;
  }
  return fold === 'lower' ? asciiLower(text) : fold === 'upper' ? asciiUpper(text) : text;
}

/**
 * Engines fold only ASCII letters (PostgreSQL keeps `Ä` as written in UTF-8 databases); JS
 * `toLowerCase` would also fold `Ä` → `ä` and `ß` → `SS`, merging INSERTs into different tables.
 */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

function asciiUpper(s: string): string {
  return s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

/** Parse `INTO <table> [(<cols>)] VALUES` starting after INSERT; returns the index after VALUES. */
function parsePrefix(s: string, i: number, r: DialectRules): { end: number; parsed: ParsedPrefix } | null {
  i = skipTrivia(s, i, r);
  if (i < 0 || !keywordAt(s, i, 'INTO')) return null;
  i = skipTrivia(s, i + 4, r);
  if (i < 0) return null;
  const tableStart = i;
  const tableParts: string[] = [];
  for (;;) {
    const e = identEnd(s, i, r);
    if (e < 0) return null;
    tableParts.push(normIdent(s.slice(i, e), r.foldTables, false, r.name === 'generic'));
    i = e;
    const j = skipTrivia(s, i, r);
    if (j < 0) return null;
    if (s.charCodeAt(j) === 46 /* . */) {
      i = skipTrivia(s, j + 1, r);
      if (i < 0) return null;
      continue;
    }
    break;
  }
  const table = s.slice(tableStart, i);
  i = skipTrivia(s, i, r);
  if (i < 0) return null;
  let columns: string[] | undefined;
  let normColumns: string[] | undefined;
  if (s.charCodeAt(i) === 40 /* ( */) {
    columns = [];
    normColumns = [];
    i = skipTrivia(s, i + 1, r);
    for (;;) {
      if (i < 0) return null;
      const e = identEnd(s, i, r);
      if (e < 0) return null;
      const text = s.slice(i, e);
      columns.push(text);
      normColumns.push(normIdent(text, r.foldColumns, r.quotedColumnsCaseInsensitive, r.name === 'generic'));
      i = skipTrivia(s, e, r);
      if (i < 0) return null;
      const c = s.charCodeAt(i);
      if (c === 44) {
        i = skipTrivia(s, i + 1, r);
        continue;
      }
      if (c === 41) break;
      return null;
    }
    i = skipTrivia(s, i + 1, r);
    if (i < 0) return null;
  }
  if (!keywordAt(s, i, 'VALUES')) return null;
  // (a quoted name holding one of the key's separators could equal another target's key: not merged)
  if (/[\u0001-\u0003]/.test(s.slice(tableStart, i))) return null;
  const targetKey = `${tableParts.join('\u0002')}\u0003${normColumns ? normColumns.join('\u0002') : '*'}`;
  return { end: i + 6, parsed: { table, columns, normColumns, targetKey } };
}

/** The last few prefixes seen, tried with `startsWith` before parsing (streams repeat the same prefix). */
const recent: { text: string; rules: DialectRules; parsed: ParsedPrefix }[] = [];
const RECENT_LIMIT = 8;

function lexInsert(s: string, start: number, r: DialectRules, ascii: boolean): LexedStatement | null {
  let parsed: ParsedPrefix | undefined;
  let prefixText = '';
  for (let k = 0; k < recent.length; k++) {
    const m = recent[k] as (typeof recent)[number];
    // (slice + === rather than startsWith(text, start): V8's startsWith with a position argument is
    // several times slower, and this runs once per input statement)
    const len = m.text.length;
    if (
      m.rules === r &&
      s.length > start + len &&
      s.slice(start, start + len) === m.text &&
      !isIdentChar(s.charCodeAt(start + len))
    ) {
      parsed = m.parsed;
      prefixText = m.text;
      break;
    }
  }
  if (parsed === undefined) {
    const pre = parsePrefix(s, start + 6, r);
    if (!pre) return null;
    prefixText = s.slice(start, pre.end);
    let cache = prefixCaches.get(r);
    if (!cache) {
      cache = new Map();
      prefixCaches.set(r, cache);
    }
    parsed = cache.get(prefixText);
    if (parsed === undefined) {
      if (cache.size >= PREFIX_CACHE_LIMIT) cache.clear();
      parsed = pre.parsed;
      cache.set(prefixText, parsed);
    }
    if (recent.length >= RECENT_LIMIT) recent.pop();
    recent.unshift({ text: prefixText, rules: r, parsed });
  }
  let i = start + prefixText.length;
  const n = s.length;
  const rows: string[] = [];
  let arity = -2;
  /** A row reads tables (`(SELECT …)`): merging would change what it sees, so never merge it. */
  let subquery = false;
  /** A row holds a `(` of its own (a call, or a parenthesised expression). */
  let nested = false;
  let rowsEnd = i;
  let firstRow = -1;
  for (;;) {
    i = skipTrivia(s, i, r);
    if (i < 0 || i >= n || s.charCodeAt(i) !== 40) return null;
    const rowStart = i;
    if (firstRow < 0) firstRow = i;
    let depth = 0;
    let commas = 0;
    for (;;) {
      if (i >= n) return null;
      const c = s.charCodeAt(i);
      const cls = c < 128 ? CHAR_CLASS[c] : 0;
      if (cls === 0) {
        i++;
        continue;
      }
      if (cls === OPEN) {
        if (depth > 0 && c === 40) {
          nested = true;
          if (!subquery) subquery = startsSubquery(s, i + 1, r);
        }
        depth++;
        i++;
        continue;
      }
      if (cls === CLOSE) {
        depth--;
        i++;
        if (depth === 0) break;
        continue;
      }
      if (cls === COMMA) {
        if (depth === 1) commas++;
        i++;
        continue;
      }
      if (cls === SEMI) return null;
      const e = skipToken(s, i, r, true);
      if (e === INCOMPLETE) throw new LexError(`unterminated ${lastToken.what}`, i);
      i = e === NOT_SPECIAL ? i + 1 : e;
    }
    const empty = commas === 0 && skipTrivia(s, rowStart + 1, r) === i - 1;
    rows.push(s.slice(rowStart, i));
    rowsEnd = i;
    const a = empty ? 0 : commas + 1;
    if (arity === -2) arity = a;
    else if (arity !== a) arity = -1;
    const j = skipTrivia(s, i, r);
    if (j < 0) throw new LexError('unterminated block comment', i);
    if (j < n && s.charCodeAt(j) === 44) {
      i = j + 1;
      continue;
    }
    i = j;
    break;
  }
  if (arity === 0 || subquery) arity = -1;
  if (parsed.columns && arity !== parsed.columns.length) arity = -1;
  // MySQL's LAST_INSERT_ID() / ROW_COUNT() / FOUND_ROWS() read what the previous statement did: in a
  // merged INSERT every row would read the same statement (found in review). Never merged.
  if (arity > 0 && r.name === 'mysql' && SESSION_RESULT_CALL.test(s.slice(firstRow, rowsEnd))) arity = -1;
  // (only rows with a call can call one: the rows of a dump are not read again)
  if (arity > 0 && nested && r.name === 'postgres' && SEQUENCE_CALL.test(s.slice(firstRow, rowsEnd)))
    arity = -1;
  // Tail: everything up to the last non-trivia token; a top-level `;` followed by more is a second statement.
  const { end, multiple } = scanRest(s, i, r);
  if (multiple) return null;
  const tail = end > i ? s.slice(i, end) : '';
  const { kind: tailKind, conflict } = tail === '' ? NO_TAIL : classifyTail(tail, r);
  let conflictColumns: number[] | undefined;
  let finalTailKind = tailKind;
  if (tailKind === 'do-update') {
    // Map the conflict target onto positions in the column list; unknown → never merged.
    conflictColumns = [];
    if (!conflict || !parsed.normColumns) finalTailKind = 'unknown';
    else {
      for (const col of conflict) {
        const pos = parsed.normColumns.indexOf(
          normIdent(col, r.foldColumns, r.quotedColumnsCaseInsensitive, r.name === 'generic'),
        );
        if (pos < 0) {
          finalTailKind = 'unknown';
          break;
        }
        conflictColumns.push(pos);
      }
      // `DO UPDATE SET k = …` can move a row onto a later row's key: never merged.
      if (finalTailKind === 'do-update' && assignsAny(tail, conflict)) finalTailKind = 'unknown';
    }
  }
  const text = s.slice(start, tail === '' ? rowsEnd : end);
  return {
    kind: 'insert',
    text,
    multiple: false,
    ascii,
    insert: {
      prefix: prefixText,
      table: parsed.table,
      columns: parsed.columns,
      targetKey: parsed.targetKey,
      rows,
      arity,
      tail,
      tailKind: finalTailKind,
      conflictColumns,
    },
  };
}

/** What a statement does to a transaction block (see {@link blockControl}). */
export type BlockControl =
  | 'begin'
  | 'commit'
  | 'commit-chain'
  | 'rollback'
  | 'rollback-chain'
  | 'rollback-to';

/**
 * What a statement, given from its first word (as {@link lexStatement}'s `text`), does to a transaction
 * block: `begin` (BEGIN, START TRANSACTION), `commit` (COMMIT, END, PREPARE TRANSACTION), `rollback`
 * (ROLLBACK, ABORT), their `…-chain` forms (AND CHAIN: the next block begins at once), `rollback-to`
 * (ROLLBACK TO SAVEPOINT); undefined for anything else (SAVEPOINT and RELEASE included).
 */
export function blockControl(text: string): BlockControl | undefined {
  const m = /^(BEGIN|START\s+TRANSACTION|COMMIT|END|PREPARE\s+TRANSACTION|ROLLBACK|ABORT)\b/i.exec(text);
  if (!m) return undefined;
  const word = (m[1] as string).toUpperCase();
  if (word === 'BEGIN' || word.startsWith('START')) return 'begin';
  const chain = /\bAND\s+CHAIN\s*;?\s*$/i.test(text);
  if (word === 'ROLLBACK' || word === 'ABORT') {
    if (word === 'ROLLBACK' && /^ROLLBACK\s+(?:(?:WORK|TRANSACTION)\s+)?TO\b/i.test(text))
      return 'rollback-to';
    return chain ? 'rollback-chain' : 'rollback';
  }
  return chain ? 'commit-chain' : 'commit';
}

/**
 * Of the last row {@link scanSimpleRow} accepted: its top-level commas, and the positions of the first
 * `opens` of its own `(` (a function call, or a parenthesised expression) in `openAt`, with -1 for a
 * `)` followed by `.` (attribute notation).
 */
export const simpleRow = { commas: 0, opens: 0, openAt: [] as number[] };

/**
 * Whether {@link scanSimpleRow} is exact for a dialect: `'…'` strings end at the first undoubled quote
 * (no backslash escapes, no triple quotes) and `"` is not a string quote.
 */
export function simpleRowsApply(r: DialectRules): boolean {
  return !r.backslashEscapes && !r.tripleQuotes && !r.doubleQuoteIsString;
}

/**
 * The merge fast path's row scan: the VALUES row whose `(` is at `i`, made only of plain `'…'` strings,
 * parentheses, commas and other characters. Returns the index after its closing `)` (setting
 * {@link simpleRow}), or -1 for anything the full lexer must judge: other quotes, comments, brackets,
 * `;`, `$`, `E'…'` strings, a subquery, an empty row, or text that ends inside the row. For the rows it
 * accepts it agrees with {@link lexStatement} (only for dialects where {@link simpleRowsApply}).
 */
export function scanSimpleRow(s: string, i: number, r: DialectRules): number {
  const n = s.length;
  let depth = 0;
  let commas = 0;
  let content = false;
  let opens = 0;
  const openAt = simpleRow.openAt;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 39) {
      // E'…' takes backslash escapes: the full lexer decides.
      if (r.eStrings && i > 0) {
        const p = s.charCodeAt(i - 1);
        if ((p === 69 || p === 101) && (i < 2 || !isIdentChar(s.charCodeAt(i - 2)))) return -1;
      }
      let j = i + 1;
      for (;;) {
        const k = s.indexOf("'", j);
        if (k < 0) return -1;
        if (s.charCodeAt(k + 1) === 39) {
          j = k + 2;
          continue;
        }
        i = k + 1;
        break;
      }
      content = true;
      continue;
    }
    if (c === 40) {
      if (depth > 0) {
        // (`f()`: an empty argument list is not a subquery; skip the keyword check)
        if (s.charCodeAt(i + 1) !== 41 && startsSubquery(s, i + 1, r)) return -1;
        content = true;
        openAt[opens++] = i;
      }
      depth++;
    } else if (c === 41) {
      depth--;
      if (depth === 0) {
        if (!content) return -1;
        simpleRow.commas = commas;
        simpleRow.opens = opens;
        return i + 1;
      }
      // `(…).name` may call a function: marked with a negative position (see collectCallAt)
      let j = i + 1;
      while (isSpace(s.charCodeAt(j))) j++;
      if (s.charCodeAt(j) === 46) openAt[opens++] = -1;
    } else if (c === 44) {
      if (depth === 1) commas++;
      content = true;
    } else if (c === 45) {
      // `--` starts a comment; a lone minus is an operator or a sign
      if (s.charCodeAt(i + 1) === 45) return -1;
      content = true;
    } else if (c === 47) {
      const d = s.charCodeAt(i + 1);
      if (d === 42 || (d === 47 && r.slashSlashComments)) return -1;
      content = true;
    } else if (c === 34 || c === 96 || c === 36 || c === 59 || c === 91 || c === 93 || c >= 128) {
      // quoted identifiers, backticks, dollar quotes and parameters, `;`, brackets, non-ASCII: full lexer
      return -1;
    } else if (c === 35) {
      if (r.hashComments) return -1;
      content = true;
    } else if (!isSpace(c)) content = true;
    i++;
  }
  return -1;
}

/** `(` at `i - 1` opens a subquery: SELECT, WITH, VALUES or TABLE follows. */
function startsSubquery(s: string, i: number, r: DialectRules): boolean {
  const j = skipTrivia(s, i, r);
  if (j < 0) return false;
  return (
    keywordAt(s, j, 'SELECT') ||
    keywordAt(s, j, 'WITH') ||
    keywordAt(s, j, 'VALUES') ||
    keywordAt(s, j, 'TABLE')
  );
}

const NO_TAIL = { kind: 'none' as InsertTailKind, conflict: undefined };

/** Upper-case words of `tail` outside quotes/comments, and the identifiers in its first parenthesis. */
function classifyTail(
  tail: string,
  r: DialectRules,
): { kind: InsertTailKind; conflict: string[] | undefined } {
  const words: string[] = [];
  let conflict: string[] | undefined;
  /**
   * Reading the conflict target's parenthesis (`ON CONFLICT (…)`): only a list of plain column names
   * is understood; an expression (`lower(name)`, `(id)`), a collation or an operator class makes it
   * unknown (`conflict` undefined), since the index may then treat rows as equal that differ in the
   * named columns (found in review: `lower(name)` was read as a column named `lower`).
   */
  let inTarget = false;
  /** In the target: the next token must be a column name (at its start and after a comma). */
  let wantName = true;
  let badTarget = false;
  /** The tail reads tables (`SET v = (SELECT …)`): what it sees would change when rows are merged. */
  let reads = false;
  let depth = 0;
  let i = 0;
  const n = tail.length;
  const name = (text: string) => {
    if (!wantName) badTarget = true;
    else (conflict as string[]).push(text);
    wantName = false;
  };
  while (i < n) {
    const c = tail.charCodeAt(i);
    if (mayStart(c)) {
      const e = skipToken(tail, i, r, true);
      if (e >= 0) {
        if (inTarget && !lastToken.trivia) {
          // (a quoted name; a string or anything else there is not a column name)
          if (depth === 1 && (c === 34 || c === 96)) name(tail.slice(i, e));
          else badTarget = true;
        }
        i = e;
        continue;
      }
    }
    if (c === 40) {
      if (!reads) reads = startsSubquery(tail, i + 1, r);
      depth++;
      if (inTarget) badTarget = true;
      else if (depth === 1 && words.length === 2 && conflict === undefined) {
        conflict = [];
        inTarget = true;
        wantName = true;
      }
      i++;
      continue;
    }
    if (c === 41) {
      depth--;
      if (inTarget && depth === 0) {
        inTarget = false;
        if (wantName) badTarget = true;
      }
      i++;
      continue;
    }
    if (isIdentChar(c)) {
      const e = wordEnd(tail, i);
      if (depth === 0) words.push(tail.slice(i, e).toUpperCase());
      else if (inTarget) {
        if (depth === 1) name(tail.slice(i, e));
        else badTarget = true;
      }
      i = e;
      continue;
    }
    if (inTarget && !isSpace(c)) {
      if (c === 44 && depth === 1 && !wantName) wantName = true;
      else badTarget = true;
    }
    i++;
  }
  if (badTarget) conflict = undefined;
  const w0 = words[0];
  if (w0 === 'RETURNING') return { kind: 'returning', conflict: undefined };
  if (w0 === 'ON' && words[1] === 'CONFLICT') {
    const doAt = words.indexOf('DO');
    const action = doAt >= 0 ? words[doAt + 1] : undefined;
    if (action === 'NOTHING') return { kind: 'do-nothing', conflict: undefined };
    // `ON CONFLICT (cols) DO UPDATE`: words are ON, CONFLICT, DO, UPDATE … with the target in parentheses.
    if (reads) return { kind: 'unknown', conflict: undefined };
    if (action === 'UPDATE' && doAt === 2) return { kind: 'do-update', conflict };
    return { kind: 'do-update', conflict: undefined };
  }
  return { kind: 'unknown', conflict: undefined };
}

const OPEN = 1;
const CLOSE = 2;
const COMMA = 3;
const SEMI = 4;
const SPECIAL = 5;
/** Row-scan character classes for ASCII: 0 plain, or one of the constants above. */
const CHAR_CLASS = (() => {
  const t = new Uint8Array(128);
  t[40] = t[91] = OPEN; // ( [
  t[41] = t[93] = CLOSE; // ) ]
  t[44] = COMMA;
  t[59] = SEMI;
  for (const ch of '\'"`$-/#') t[ch.charCodeAt(0)] = SPECIAL;
  return t;
})();

function mayStart(c: number): boolean {
  return c === 39 || c === 34 || c === 96 || c === 36 || c === 45 || c === 47 || c === 35;
}
