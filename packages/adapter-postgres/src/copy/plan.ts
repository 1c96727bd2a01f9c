import { type BatchStatement, type InsertParts, utf8Length } from '@sqlbatcher/core';
import { normalizeIdentifier, qualifiedNameParts, quoteIdentifier } from '../quote.js';
import { baseType, copyTextValue, literalFitsBaseType } from './compat.js';
import { parseRowLiterals, parseRowValuesAt } from './literal.js';
import type { UnnestCommand } from './unnest.js';

/** Catalog facts about a COPY target, read on the connection that will run the COPY. */
/**
 * The type names of typed literals (`DATE '…'`, `'…'::int4`) that are not SQL keywords: PostgreSQL
 * resolves them through the search path, so a schema on it (or the temporary schema) can give them
 * another meaning. The catalog read checks that no schema on the search path but pg_catalog defines a
 * type of one of these names (conservative: it does not look at the order).
 */
const TYPED_LITERAL_NAMES = [
  'int2',
  'int4',
  'int8',
  'float4',
  'float8',
  'bool',
  'text',
  'date',
  'timetz',
  'timestamptz',
  'json',
  'jsonb',
  'uuid',
  'bytea',
  'inet',
  'cidr',
  'macaddr',
]
  .map((n) => `'${n}'`)
  .join(', ');

/**
 * The function a constraint's dependency `d` calls: a function it depends on, or the function of an
 * operator it depends on (NULL for any other object).
 */
const CALLED_FUNCTION = `CASE d.refclassid WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN d.refobjid
        WHEN 'pg_catalog.pg_operator'::pg_catalog.regclass
          THEN (SELECT o.oprcode::pg_catalog.oid FROM pg_catalog.pg_operator o WHERE o.oid = d.refobjid) END`;

export const CATALOG_SQL = `SELECT n.nspname, c.relname, c.relkind::text AS relkind, c.relhasrules,
  a.attname, format_type(a.atttypid, a.atttypmod) AS type,
  a.attidentity::text AS identity, a.attgenerated::text AS generated,
  current_setting('standard_conforming_strings') AS scs, current_setting('search_path') AS searchpath,
  pg_catalog.current_setting('client_encoding') AS encoding,
  pg_catalog.current_setting('server_encoding') AS serverencoding,
  pg_catalog.current_setting('backslash_quote') AS backslashquote,
  pg_catalog.current_setting('array_nulls') AS arraynulls,
  NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type s WHERE s.typname = ANY (ARRAY[${TYPED_LITERAL_NAMES}]::name[])
    AND s.typnamespace IN (SELECT sn.oid FROM pg_catalog.pg_namespace sn
      WHERE sn.nspname = ANY (pg_catalog.current_schemas(true)) AND sn.nspname <> 'pg_catalog')) AS builtintypes,
  (a.attnum = (SELECT min(f.attnum) FROM pg_catalog.pg_attribute f
      WHERE f.attrelid = c.oid AND f.attnum > 0 AND NOT f.attisdropped) AND EXISTS (
    SELECT 1 FROM (SELECT c.oid AS relid WHERE c.relkind <> 'p'
        UNION ALL SELECT t.relid FROM pg_catalog.pg_partition_tree(c.oid) AS t WHERE c.relkind = 'p') r
      JOIN pg_catalog.pg_constraint k ON k.conrelid = r.relid AND k.contype = 'c'
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objid = k.oid
      WHERE (SELECT p.provolatile FROM pg_catalog.pg_proc p WHERE p.oid = ${CALLED_FUNCTION}) <> 'i'))
  OR CASE WHEN t.typtype = 'd' OR t.typelem <> 0 THEN EXISTS (
    WITH RECURSIVE tys(oid) AS (SELECT t.oid
      UNION SELECT v.x FROM tys JOIN pg_catalog.pg_type ty ON ty.oid = tys.oid,
        LATERAL (VALUES (ty.typbasetype), (ty.typelem)) AS v(x) WHERE v.x <> 0)
    SELECT 1 FROM tys JOIN pg_catalog.pg_constraint k ON k.contypid = tys.oid AND k.contype = 'c'
      JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objid = k.oid
      WHERE (SELECT p.provolatile FROM pg_catalog.pg_proc p WHERE p.oid = ${CALLED_FUNCTION}) <> 'i') ELSE false END
    AS volatilechecks,
  (c.relkind = 'p' AND EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(c.oid) pt
    JOIN pg_catalog.pg_trigger tg ON tg.tgrelid = pt.relid
    WHERE NOT tg.tgisinternal AND (tg.tgtype & 71) = 5)) AS partitiontriggers,
  t.typtype::text AS typtype, t.typdelim::text AS typdelim, an.nspname AS arrayschema, at.typname AS arraytype,
  CASE WHEN t.typtype = 'd' THEN (WITH RECURSIVE b(oid, typmod, depth) AS (
      SELECT t.typbasetype, t.typtypmod, 1
      UNION ALL SELECT bt.typbasetype, bt.typtypmod, b.depth + 1
        FROM b JOIN pg_catalog.pg_type bt ON bt.oid = b.oid WHERE bt.typtype = 'd')
    SELECT pg_catalog.format_type(b.oid, b.typmod) FROM b ORDER BY b.depth DESC LIMIT 1) END AS basetype
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type at ON at.oid = t.typarray
LEFT JOIN pg_catalog.pg_namespace an ON an.oid = at.typnamespace
WHERE c.oid = (SELECT pg_catalog.to_regclass($1))
ORDER BY a.attnum`;

/**
 * The name {@link CATALOG_SQL} is kept parsed under on a pg connection: derived from its text, so that a
 * client shared with another version of the adapter never finds a different statement under it.
 */
export const CATALOG_STATEMENT = `sqlbatcher_catalog_${fnv1a(CATALOG_SQL)}`;

/** FNV-1a hash of `s`'s UTF-16 code units, as 8 hex digits. */
function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

export interface CatalogRow {
  nspname: string;
  relname: string;
  relkind: string;
  relhasrules: boolean;
  attname: string;
  type: string;
  identity: string;
  generated: string;
  scs: string;
  /** The session's `search_path` (whether a function name written without a schema means the built-in). */
  searchpath?: string;
  /** The session's `client_encoding`: the fast forms send UTF-8, so they are used only with `UTF8`. */
  encoding?: string;
  /**
   * The database's encoding. With `SQL_ASCII` the server refuses `E'\u00e9'` escapes in statement text
   * (it converts them into the server encoding), which the fast forms would decode and store: no fast form.
   */
  serverencoding?: string;
  /**
   * `off`: statement text may not hold `\'` in an `E'…'` string (INSERT fails), which the literal
   * readers accept: no fast form.
   */
  backslashquote?: string;
  /** `off`: `NULL` in an array literal is the string "NULL", so the unnest form (which writes NULL elements so) is not used. */
  arraynulls?: string;
  /** No schema on the search path but pg_catalog defines a type named like a typed literal's type. */
  builtintypes?: boolean | null;
  /**
   * A CHECK constraint of the table (or a partition) or of a column's domain calls a function that is not
   * immutable: it may read the table, and COPY inserts rows in buffered groups where INSERT inserts them
   * one by one, so such a function would see other rows. COPY is not used then.
   */
  volatilechecks?: boolean;
  /**
   * The table is partitioned and it or a partition has an AFTER ROW INSERT trigger (tgtype bits ROW 1,
   * INSERT 4, not BEFORE 2 or INSTEAD 64): COPY buffers rows per partition, so such triggers would fire
   * grouped by partition rather than in row order. COPY is not used then.
   */
  partitiontriggers?: boolean;
  /** `pg_type.typtype` of the column's type (`b` base, `d` domain, `e` enum, …). */
  typtype?: string;
  /** `pg_type.typdelim`: the element separator of the type's array literals (`;` for `box`). */
  typdelim?: string;
  /** For a domain column: the type the domain (through any domains) is over, as `format_type` gives it. */
  basetype?: string | null;
  /** Schema and name of the column type's array type; null when it has none (array types). */
  arrayschema?: string | null;
  arraytype?: string | null;
}

/** A COPY ready to send: quoted target and columns (from the catalog, never from input text) and data. */
export interface CopyCommand {
  target: string;
  columns: string[];
  /** COPY text format, UTF-8. */
  data: Uint8Array;
  rows: number;
}

/**
 * Could this statement go through COPY or in the unnest form (before looking at the catalog)? An INSERT
 * with rows, and a tail only of `ON CONFLICT …` or `RETURNING …` (COPY itself takes none).
 */
export function fastCandidate(statement: BatchStatement): InsertParts | undefined {
  const ins = statement.insert;
  if (ins === undefined) return undefined;
  if (ins.columns?.length === 0 || ins.rowIndices.length === 0) return undefined;
  const tail = ins.tail.trim();
  if (tail !== '' && !/^(?:on\s+conflict|returning)\b/i.test(tail)) return undefined;
  // One- or two-part names only: for those the catalog lookup (`to_regclass`) cannot raise an error,
  // so it never aborts the caller's transaction.
  const parts = qualifiedNameParts(ins.table);
  if (!parts || parts.length > 2) return undefined;
  return ins;
}

/**
 * The candidate at `statements[i]` when its request should send it in a fast form: only with at least
 * `minRows` rows. A fast form costs round trips of its own (a catalog read before it, its own command,
 * and, when the statement shares its request with others, a transaction around the request) that cost
 * more than parsing a few rows as text saves.
 */
export function fastCandidateAt(
  statements: readonly BatchStatement[],
  i: number,
  minRows: number,
): InsertParts | undefined {
  const st = statements[i];
  const ins = st === undefined ? undefined : fastCandidate(st);
  if (!ins) return undefined;
  return ins.rowIndices.length >= minRows ? ins : undefined;
}

/**
 * The catalog rows of the INSERT's columns, in the order written, or undefined when neither COPY nor the
 * `unnest` form would give exactly what the INSERT gives: a view or foreign table, rules (COPY skips
 * them; the INSERT … SELECT form is kept to tables without them as well), standard_conforming_strings
 * off (`'…'` would then take backslash escapes, which the row readers do not apply), an unknown or
 * repeated column, or a GENERATED ALWAYS identity or generated column (INSERT refuses a value there).
 * Without a column list the INSERT fills the table's first N columns, N being the number of values in a
 * row (read from the first row of `rows`).
 */
export function resolveTarget(
  ins: InsertParts,
  catalog: readonly CatalogRow[],
  rows: RowsSource,
): { first: CatalogRow; cols: CatalogRow[] } | undefined {
  const first = catalog[0];
  if (!first) return undefined;
  if (first.relhasrules || (first.relkind !== 'r' && first.relkind !== 'p')) return undefined;
  if (first.scs !== 'on') return undefined;
  // (the fast forms send the values' UTF-8; the text of a statement is sent as the driver encodes it,
  // and an E'\u00e9' escape is decoded by the server into the client encoding)
  if (first.encoding !== undefined && first.encoding.toUpperCase() !== 'UTF8') return undefined;
  // (E'\u00e9' in statement text is converted into the server encoding: SQL_ASCII refuses it)
  if (first.serverencoding !== undefined && first.serverencoding.toUpperCase() === 'SQL_ASCII')
    return undefined;
  // (INSERT refuses \' in E'…' strings then; the literal readers would take it)
  if (first.backslashquote !== undefined && first.backslashquote.toLowerCase() === 'off') return undefined;
  const byName = new Map(catalog.map((c) => [c.attname, c]));
  const cols: CatalogRow[] = [];
  const seen = new Set<string>();
  let written = ins.columns;
  if (written === undefined) {
    const width = rows.head()?.values.length;
    if (width === undefined || width > catalog.length) return undefined;
    // (quoted, so that normalizeIdentifier gives the catalog's names back as they are)
    written = catalog.slice(0, width).map((c) => quoteIdentifier(c.attname));
  }
  for (const name of written) {
    const col = byName.get(normalizeIdentifier(name));
    if (!col || seen.has(col.attname)) return undefined;
    if (col.identity === 'a' || col.generated !== '') return undefined;
    seen.add(col.attname);
    cols.push(col);
  }
  return cols.length > 0 ? { first, cols } : undefined;
}

/**
 * The rows joined by commas: read from the statement's text `sql` when it holds exactly that (merged
 * INSERTs; `ins.rows` is then only read for a row the byte paths do not take), else joined here.
 */
export function rowsText(ins: InsertParts, sql: string | undefined): string {
  if (sql === undefined || ins.rowsAt === undefined) return ins.rows.join(',');
  if (ins.tail === '') return sql.slice(ins.rowsAt);
  // (`sql` then ends with ' ' + tail)
  const end = sql.length - ins.tail.length - 1;
  return end >= ins.rowsAt && sql.endsWith(` ${ins.tail}`) ? sql.slice(ins.rowsAt, end) : ins.rows.join(',');
}

/** A statement's rows as the byte paths read them. */
export interface RowsSource {
  /** UTF-8 of the rows joined by commas, then one sentinel quote byte (see `writeFastCopyRowBytes`). */
  readonly bytes: Uint8Array;
  /** The first row parsed by the full parser (computed once). */
  head(): ReturnType<typeof parseRowValuesAt>;
}

/**
 * The rows of `ins`: from `ins.rowsUtf8` when the builder kept them as bytes (no text to encode; the
 * first row is decoded alone), else from {@link rowsText}.
 */
export function rowsSource(ins: InsertParts, sql: string | undefined): RowsSource {
  let parsed: ReturnType<typeof parseRowValuesAt> | null = null;
  const given = ins.rowsUtf8;
  if (given) {
    const bytes = new Uint8Array(given.length + 1);
    bytes.set(given);
    bytes[given.length] = 39;
    return {
      bytes,
      head() {
        if (parsed === null) parsed = parseHead(given);
        return parsed;
      },
    };
  }
  const text = rowsText(ins, sql);
  return {
    bytes: sentinelUtf8(text),
    head() {
      if (parsed === null) parsed = parseRowValuesAt(text, 0);
      return parsed;
    },
  };
}

const headDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * The first row of UTF-8 `bytes` parsed, decoding only a prefix: a prefix that holds the whole first row
 * parses as the full text does (the parser decides from what precedes the row's closing parenthesis),
 * and one that cuts it does not parse; the prefix doubles until the row parses or is the whole text.
 */
function parseHead(bytes: Uint8Array): ReturnType<typeof parseRowValuesAt> {
  for (let size = 4096; ; size *= 2) {
    const whole = size >= bytes.length;
    const parsed = parseRowValuesAt(headDecoder.decode(whole ? bytes : bytes.subarray(0, size)), 0);
    if (parsed || whole) return parsed;
  }
}

/**
 * The most bytes a fast form may put on the wire for one statement (COPY data, or the unnest form's
 * parameters); past it the statement is sent as its text. Escaping can double a statement's bytes, and
 * with a `maxQuerySize` near PostgreSQL's 1 GB message limit (or V8's ~512 M-character strings, which the
 * unnest parameters are) the fast form could fail where the text would not. The default 64 MiB ceiling
 * stays far below it.
 */
export const MAX_WIRE_BYTES = 256 * 1024 * 1024;

/**
 * Build the COPY for `ins` given its table's catalog rows, or undefined when COPY would not give
 * exactly what the INSERT gives (see the README's "COPY fast path" section). `sql` is the statement's
 * text: with `ins.rowsAt` the rows are read from it in one pass. Undefined too when the data would exceed
 * `maxWireBytes` (see {@link MAX_WIRE_BYTES}).
 */
export function buildCopy(
  ins: InsertParts,
  catalog: readonly CatalogRow[],
  sql?: string,
  maxWireBytes = MAX_WIRE_BYTES,
): CopyCommand | undefined {
  if (ins.tail.trim() !== '') return undefined;
  const rowsIn = rowsSource(ins, sql);
  const target = resolveTarget(ins, catalog, rowsIn);
  if (!target) return undefined;
  const { first, cols } = target;
  if (catalog.some((c) => c.volatilechecks === true) || first.partitiontriggers === true) return undefined;
  // An array of interval with fields or a precision (`interval minute[]`, also under a domain): COPY's
  // array input applies them to each element (`'{5}'` is 5 minutes), where INSERT reads the array
  // untyped and casts it (5 seconds, truncated to 0 minutes).
  if (cols.some((c) => INTERVAL_ARRAY_WITH_TYPMOD.test(c.basetype ?? c.type))) return undefined;
  // A column the INSERT leaves out whose type is a domain: INSERT stores its NULL through the domain,
  // whose NOT NULL or CHECK rejects it; COPY stores the NULL of a column without a default unchecked.
  if (catalog.length > cols.length) {
    const listed = new Set(cols.map((c) => c.attname));
    if (catalog.some((c) => c.typtype === 'd' && !listed.has(c.attname))) return undefined;
  }
  const typedOk = first.builtintypes !== false;
  const types = cols.map((c) => baseType(c.type));
  const kinds = types.map(columnKind);
  // The rows' full parse, for the rows the fast paths below do not take.
  const slowRow = (row: string, sink: ByteSink): boolean => {
    const values = parseRowLiterals(row);
    if (!values || values.length !== cols.length) return false;
    let line = '';
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!literalFitsBaseType(v, types[i]!, typedOk)) return false;
      if (i > 0) line += '\t';
      line += copyTextValue(v.kind === 'null' ? null : v.text);
    }
    sink.writeString(`${line}\n`);
    return true;
  };
  const data = copyFromRowsText(rowsIn.bytes, ins, kinds, slowRow);
  if (!data || data.length > maxWireBytes) return undefined;
  return {
    target: `${quoteIdentifier(first.nspname)}.${quoteIdentifier(first.relname)}`,
    columns: cols.map((c) => quoteIdentifier(c.attname)),
    data,
    rows: ins.rowIndices.length,
  };
}

/** `format_type` of an interval array with a type modifier (`interval minute[]`, `interval(3)[]`). */
const INTERVAL_ARRAY_WITH_TYPMOD = /^interval[\s(].*\[\]$/;

const utf8 = new TextEncoder();

/** A growable UTF-8 byte buffer. */
export class ByteSink {
  buf: Uint8Array;
  pos = 0;
  constructor(size: number, spare?: Uint8Array) {
    this.buf = spare && spare.length >= size ? spare : new Uint8Array(size);
  }
  /** Make room for `extra` more bytes. */
  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    const size = Math.max(this.buf.length * 2, need);
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
  }
  writeString(s: string): void {
    this.ensure(s.length * 3);
    this.pos += utf8.encodeInto(s, this.buf.subarray(this.pos)).written;
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * How one candidate statement is sent when the catalog allows: a COPY, an `INSERT … SELECT … FROM
 * unnest(…)` with one array parameter per column (see `unnest.ts`), or (undefined) its own text.
 */
export type FastCommand = ({ kind: 'copy' } & CopyCommand) | ({ kind: 'unnest' } & UnnestCommand);

/** Works out a statement's {@link FastCommand} from its table's catalog rows. */
export type Encoder = (
  statement: BatchStatement,
  ins: InsertParts,
  catalog: readonly CatalogRow[],
) => FastCommand | undefined;

/**
 * Fast-path data encoded ahead of time. {@link prepare} encodes a statement with the catalog last read
 * for its table, while an earlier request still runs; {@link command} is called with the catalog just
 * read on the connection that will run the statement and uses the early encoding only when that catalog
 * is identical (the encoding is a function of the rows and the catalog), else encodes anew.
 */
export class EncodeCache {
  private readonly catalogs = new Map<string, { key: string; rows: readonly CatalogRow[] }>();
  private readonly prepared = new WeakMap<object, { key: string; command: FastCommand | undefined }>();
  constructor(private readonly encode: Encoder) {}

  /**
   * Encode now the statements of one request that will take a fast form (see {@link fastCandidateAt})
   * and whose table's catalog has been seen.
   */
  prepare(statements: readonly BatchStatement[], minRows: number): void {
    for (let i = 0; i < statements.length; i++) {
      const ins = fastCandidateAt(statements, i, minRows);
      if (!ins) continue;
      const seen = this.catalogs.get(ins.table);
      if (!seen) continue;
      const statement = statements[i] as BatchStatement;
      this.prepared.set(statement, { key: seen.key, command: this.encode(statement, ins, seen.rows) });
    }
  }

  /**
   * The command for `statement` (undefined: send its text) under `catalog`, read just now; `ahead`
   * when the early encoding was used.
   */
  command(
    statement: BatchStatement,
    ins: InsertParts,
    catalog: readonly CatalogRow[],
  ): { command: FastCommand | undefined; ahead: boolean } {
    const key = JSON.stringify(catalog);
    if (this.catalogs.size >= 1024) this.catalogs.clear();
    this.catalogs.set(ins.table, { key, rows: catalog });
    const early = this.prepared.get(statement);
    if (early) {
      this.prepared.delete(statement);
      if (early.key === key) return { command: early.command, ahead: true };
    }
    return { command: this.encode(statement, ins, catalog), ahead: false };
  }
}

/** Column classes the fast path distinguishes. */
export const INTEGER_COLUMN = 1;
export const NUMERIC_COLUMN = 2;
export const OTHER_COLUMN = 0;

export function columnKind(base: string): number {
  if (base === 'smallint' || base === 'integer' || base === 'bigint') return INTEGER_COLUMN;
  if (base === 'numeric') return NUMERIC_COLUMN;
  return OTHER_COLUMN;
}

/** PostgreSQL's whitespace: space, tab, newline, carriage return, form feed (not vertical tab). */
export const isWs = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 12;

/**
 * One row's COPY text line, as UTF-8 bytes with its newline, for rows made only of integers (into integer
 * or numeric columns), `'…'` strings and NULL, which is what dumps mostly hold. Returns undefined for
 * anything else (other literals, casts, comments, a number into a non-numeric column, a wrong value
 * count): the caller then uses {@link parseRowLiterals} and {@link literalFitsBaseType}, whose answer is
 * the authoritative one; for the rows handled here both give the same bytes (property-tested).
 */
export function fastCopyBytes(row: string, kinds: readonly number[]): Uint8Array | undefined {
  const src = sentinelUtf8(row);
  const n = src.length - 1;
  const sink = new ByteSink(2 * n + 64);
  let end = writeFastCopyRowBytes(src, 0, kinds, sink);
  if (end < 0) return undefined;
  while (end < n && isWs(src[end]!)) end++;
  return end === n ? sink.bytes() : undefined;
}

/**
 * COPY data for rows given as the UTF-8 bytes of `rows.join(',')` (see `InsertParts.rowsAt`): one pass
 * over bytes, which is several times faster than reading the rows' strings character by character.
 * Every byte of a multi-byte UTF-8 character is copied as is (quotes, backslashes and control characters
 * are ASCII and never occur inside one). A row the fast path does not take goes through `slowRow` with
 * its string from `rows`. Undefined when a row cannot go through COPY or the bytes are not the rows.
 */
function copyFromRowsText(
  src: Uint8Array,
  ins: InsertParts,
  kinds: readonly number[],
  slowRow: (row: string, sink: ByteSink) => boolean,
): Uint8Array | undefined {
  // (the last byte is the sentinel quote, not text)
  const n = src.length - 1;
  // Each source byte gives at most two: an escaped byte, or NULL (4 bytes) as \N; quotes are dropped.
  const sink = new ByteSink(2 * n + 64);
  let at = 0;
  const count = ins.rowIndices.length;
  for (let k = 0; k < count; k++) {
    if (k > 0) {
      if (src[at] !== 44) return undefined;
      at++;
    }
    // (rows taken by slowRow may have used more than their share of the initial size)
    sink.ensure(2 * (n - at) + 2);
    const mark = sink.pos;
    const end = writeFastCopyRowBytes(src, at, kinds, sink);
    // (a row text with something after its `)` — not what the lexer makes — goes the slow way)
    if (end >= 0 && (end === n || src[end] === 44)) {
      at = end;
      continue;
    }
    sink.pos = mark;
    const row = ins.rows[k]!;
    if (!slowRow(row, sink)) return undefined;
    at += utf8Length(row);
  }
  return at === n ? sink.bytes() : undefined;
}

const byteLength = (globalThis as { Buffer?: { byteLength(s: string): number } }).Buffer?.byteLength;

/** `text` as UTF-8 followed by one sentinel quote byte (see {@link writeFastCopyRowBytes}). */
export function sentinelUtf8(text: string): Uint8Array {
  if (byteLength) {
    const n = byteLength(text);
    const out = new Uint8Array(n + 1);
    utf8.encodeInto(text, out);
    out[n] = 39;
    return out;
  }
  const bytes = utf8.encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  out[bytes.length] = 39;
  return out;
}

/**
 * The fast path of {@link fastCopyBytes} over UTF-8 bytes: the row starting at `src[at]`, written to
 * `sink` (which must have room for twice the row's bytes); returns the offset just after its `)`, or -1
 * when the row is not one the fast path takes (with `sink.pos` unspecified).
 */
function writeFastCopyRowBytes(
  src: Uint8Array,
  at: number,
  kinds: readonly number[],
  sink: ByteSink,
): number {
  // `src` ends with a sentinel quote after the text: a string scan stops there without a bounds test.
  const n = src.length - 1;
  if (src[at] !== 40) return -1;
  const b = sink.buf;
  let p = sink.pos;
  let i = at + 1;
  let col = 0;
  for (;;) {
    while (i < n && isWs(src[i]!)) i++;
    if (col >= kinds.length) return -1;
    const c = src[i];
    if (c === 39) {
      let j = i + 1;
      for (;;) {
        const d = src[j]!;
        // (most bytes: one test that lets letters, digits, spaces and UTF-8 sequences through)
        if (d > 13 && d !== 39 && d !== 92) b[p++] = d;
        else if (d === 39) {
          if (j >= n) return -1; // the sentinel: the string is not closed
          if (src[j + 1] !== 39) break;
          b[p++] = 39;
          j++;
        } else if (d === 92) {
          b[p++] = 92;
          b[p++] = 92;
        } else if (d === 9) {
          b[p++] = 92;
          b[p++] = 116;
        } else if (d === 10) {
          b[p++] = 92;
          b[p++] = 110;
        } else if (d === 13) {
          b[p++] = 92;
          b[p++] = 114;
        } else b[p++] = d;
        j++;
      }
      i = j + 1;
    } else if (c !== undefined && ((c >= 48 && c <= 57) || c === 45)) {
      if (kinds[col] === OTHER_COLUMN) return -1;
      if (c === 45) {
        b[p++] = 45;
        i++;
      }
      const digits = i;
      while (i < n) {
        const d = src[i]!;
        if (d < 48 || d > 57) break;
        b[p++] = d;
        i++;
      }
      if (i === digits) return -1;
    } else if (
      c !== undefined &&
      (c | 32) === 110 &&
      ((src[i + 1] ?? 0) | 32) === 117 &&
      ((src[i + 2] ?? 0) | 32) === 108 &&
      ((src[i + 3] ?? 0) | 32) === 108
    ) {
      i += 4;
      b[p++] = 92;
      b[p++] = 78;
    } else {
      return -1;
    }
    col++;
    while (i < n && isWs(src[i]!)) i++;
    const d = src[i];
    if (d === 44) {
      b[p++] = 9;
      i++;
      continue;
    }
    if (d !== 41 || col !== kinds.length) return -1;
    b[p++] = 10;
    sink.pos = p;
    return i + 1;
  }
}
