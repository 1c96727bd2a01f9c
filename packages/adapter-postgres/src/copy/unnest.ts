import type { InsertParts } from '@sqlbatcher/core';
import { utf8Length } from '@sqlbatcher/core';
import { quoteIdentifier } from '../quote.js';
import { baseType, literalFitsBaseType } from './compat.js';
import { parseRowValuesAt } from './literal.js';
import {
  ByteSink,
  type CatalogRow,
  columnKind,
  isWs,
  MAX_WIRE_BYTES,
  OTHER_COLUMN,
  resolveTarget,
  rowsSource,
} from './plan.js';

/**
 * A merged INSERT rewritten as `INSERT INTO t (a, b, c) SELECT r.c1, r.c2, now() FROM ROWS FROM
 * (pg_catalog.unnest($1::int4[]), pg_catalog.unnest($2::text[])) AS r (c1, c2)`: one array parameter per column holding that
 * column's values, expressions such as `now()` kept in the SELECT list. The server then parses a few
 * hundred bytes of SQL instead of every row, and the values reach the same input functions an untyped
 * literal in VALUES reaches.
 */
export interface UnnestCommand {
  /** The statement, with `$n` parameters; identifiers from the catalog, quoted. */
  text: string;
  /** One array literal (text format) per parameter. */
  values: string[];
  rows: number;
}

const ALIAS = 'sqlbatcher_rows';

/**
 * The element type's array type, quoted, for a column whose values may travel as array elements; else
 * undefined. An element is read by the type's input function without a type modifier and the INSERT then
 * applies the column's modifier, which is exactly what INSERT does with an untyped literal — except for
 * `interval` with fields or a precision, whose literal INSERT reads with the modifier (`'5'` into
 * `INTERVAL MINUTE` is five minutes). Domains (their checks and modifiers), composite types, types
 * without an array type (arrays themselves) and types whose array elements are not separated by commas
 * (`box`) are left to the INSERT text.
 */
export function arrayTypeOf(col: CatalogRow): string | undefined {
  if (!col.arrayschema || !col.arraytype) return undefined;
  const t = col.typtype;
  if (t !== 'b' && t !== 'e' && t !== 'r' && t !== 'm') return undefined;
  // The arrays are written with commas between elements; `box` arrays separate them with `;`.
  if (col.typdelim !== ',') return undefined;
  // (format_type writes `interval minute`, `interval(3)`, `interval day to second(2)`, …)
  const type = col.type.trim().toLowerCase();
  if (type.startsWith('interval') && type !== 'interval') return undefined;
  return `${quoteIdentifier(col.arrayschema)}.${quoteIdentifier(col.arraytype)}`;
}

// Scratch buffers reused between statements (the arrays are decoded to strings before the next build).
let spares: Uint8Array[] = [];
const MAX_SPARE = 8 * 1024 * 1024;

const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const NodeBuffer = (
  globalThis as {
    Buffer?: { from(b: ArrayBufferLike, off: number, len: number): { toString(enc: string): string } };
  }
).Buffer;
function decode(b: Uint8Array, len: number): string {
  if (NodeBuffer) return NodeBuffer.from(b.buffer, b.byteOffset, len).toString('utf8');
  return decoder.decode(b.subarray(0, len));
}

/**
 * Whether an unqualified function name resolves to pg_catalog first under `searchPath` (a
 * `search_path` value): when pg_catalog is not named, PostgreSQL searches it before the path; when it is,
 * only where it is named. Unknown (undefined): no.
 */
export function builtinsFirst(searchPath: string | undefined): boolean {
  if (searchPath === undefined) return false;
  const names = searchPath
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '')
    .map((n) =>
      n.startsWith('"') && n.endsWith('"') ? n.slice(1, -1).replaceAll('""', '"') : n.toLowerCase(),
    );
  const at = names.indexOf('pg_catalog');
  // (pg_temp is never searched for functions)
  return at < 0 || names.slice(0, at).every((n) => n === 'pg_temp' || n.startsWith('pg_temp_'));
}

/**
 * Build the `unnest` form of `ins` from its table's catalog rows, or undefined when it would not give
 * exactly what the INSERT gives: a column type {@link arrayTypeOf} refuses, a value that is neither a
 * literal the column takes as text (see `literalFitsBaseType`, the rules COPY uses) nor an expression
 * repeated identically in every row (see `parseRowValuesAt`), or no column with literals at all.
 * `sql` is the statement's text: with `ins.rowsAt` the rows are read from it in one pass. Undefined too
 * when the parameters would exceed `maxWireBytes` (see `MAX_WIRE_BYTES`).
 */
export function buildUnnest(
  ins: InsertParts,
  catalog: readonly CatalogRow[],
  sql?: string,
  maxWireBytes = MAX_WIRE_BYTES,
): UnnestCommand | undefined {
  if (ins.rowIndices.length === 0) return undefined;
  // `ON CONFLICT …` and `RETURNING …` read the same after a SELECT as after VALUES (they can name only
  // the target table and EXCLUDED); anything else stays with the text.
  const tail = ins.tail.trim();
  if (tail !== '' && !/^(?:on\s+conflict|returning)\b/i.test(tail)) return undefined;
  const rowsIn = rowsSource(ins, sql);
  const target = resolveTarget(ins, catalog, rowsIn);
  if (!target) return undefined;
  const { first, cols } = target;
  // (array_nulls off: the unquoted NULL elements this form writes for SQL NULL would be read as 'NULL')
  if (first.arraynulls !== undefined && first.arraynulls.toLowerCase() === 'off') return undefined;
  const typedOk = first.builtintypes !== false;
  // The row shape: which columns hold the same expression in every row (taken from the first row).
  const head = rowsIn.head();
  if (!head || head.values.length !== cols.length) return undefined;
  const width = cols.length;
  const exprText: (string | undefined)[] = [];
  const exprBytes: (Uint8Array | undefined)[] = [];
  const bases: string[] = [];
  const kinds: number[] = [];
  const arrays: (string | undefined)[] = [];
  for (let k = 0; k < width; k++) {
    const v = head.values[k]!;
    const col = cols[k]!;
    bases.push(baseType(col.type));
    kinds.push(columnKind(bases[k]!));
    if (v.kind === 'expr') {
      exprText.push(v.text);
      exprBytes.push(new TextEncoder().encode(v.text));
      arrays.push(undefined);
    } else {
      const arrayType = arrayTypeOf(col);
      if (!arrayType) return undefined;
      exprText.push(undefined);
      exprBytes.push(undefined);
      arrays.push(arrayType);
    }
  }
  const params = arrays.filter((a) => a !== undefined).length;
  if (params === 0) return undefined;
  // `now()` is the built-in only while pg_catalog is searched first: a search path that names it after
  // another schema lets a function of that schema answer (a set-returning one would multiply rows here).
  if (exprText.some((e) => e?.includes('(')) && !builtinsFirst(first.searchpath)) return undefined;

  const src = rowsIn.bytes;
  const n = src.length - 1;
  // One sink per column (unused for expressions); each column's array takes at most twice the text.
  const sinks: ByteSink[] = [];
  for (let k = 0; k < width; k++) {
    const sink = new ByteSink(0, arrays[k] === undefined ? undefined : (spares.pop() ?? undefined));
    sink.ensure(arrays[k] === undefined ? 0 : 2 * n + 64);
    if (arrays[k] !== undefined) sink.buf[sink.pos++] = 123; // {
    sinks.push(sink);
  }
  const marks = new Int32Array(width);
  const slowRow = (row: string): boolean => {
    const parsed = parseRowValuesAt(row, 0);
    if (!parsed || parsed.values.length !== width) return false;
    let end = parsed.end;
    while (end < row.length && isWs(row.charCodeAt(end))) end++;
    if (end !== row.length) return false;
    for (let k = 0; k < width; k++) {
      const v = parsed.values[k]!;
      if (exprText[k] !== undefined) {
        if (v.kind !== 'expr' || v.text !== exprText[k]) return false;
        continue;
      }
      if (v.kind === 'expr' || !literalFitsBaseType(v, bases[k]!, typedOk)) return false;
      const element =
        v.kind === 'null'
          ? 'NULL'
          : v.kind === 'number'
            ? v.text
            : `"${v.text.replace(/["\\]/g, (c) => `\\${c}`)}"`;
      sinks[k]!.writeString(`${element},`);
    }
    return true;
  };

  let at = 0;
  const count = ins.rowIndices.length;
  for (let r = 0; r < count; r++) {
    if (r > 0) {
      if (src[at] !== 44) return release(sinks);
      at++;
    }
    // (a row the fast path declines has put its sinks back where they were)
    const end = writeFastUnnestRow(src, at, kinds, exprBytes, sinks, marks);
    if (end >= 0) {
      at = end;
      continue;
    }
    // (typed arrays drop writes past their end: were the bound below ever wrong, refuse, never truncate)
    if (overflowed(sinks)) return release(sinks);
    const row = ins.rows[r]!;
    if (!slowRow(row)) return release(sinks);
    at += utf8Length(row);
    // A fast row writes at most twice its bytes to any column: keep that much room after a slow one.
    for (let k = 0; k < width; k++) if (arrays[k] !== undefined) sinks[k]!.ensure(2 * (n - at) + 16);
  }
  if (at !== n || overflowed(sinks)) return release(sinks);
  let wire = 0;
  for (let k = 0; k < width; k++) if (arrays[k] !== undefined) wire += sinks[k]!.pos;
  if (wire > maxWireBytes) return release(sinks);

  const values: string[] = [];
  for (let k = 0; k < width; k++) {
    if (arrays[k] === undefined) continue;
    const s = sinks[k]!;
    s.buf[s.pos - 1] = 125; // the last element's comma becomes }
    values.push(decode(s.buf, s.pos));
  }
  release(sinks);
  const select: string[] = [];
  const names: string[] = [];
  const casts: string[] = [];
  for (let k = 0; k < width; k++) {
    const arrayType = arrays[k];
    if (arrayType === undefined) {
      select.push(exprText[k]!);
      continue;
    }
    const name = `c${names.length + 1}`;
    names.push(name);
    casts.push(`pg_catalog.unnest($${names.length}::${arrayType})`);
    select.push(`${ALIAS}.${name}`);
  }
  return {
    text:
      `INSERT INTO ${quoteIdentifier(first.nspname)}.${quoteIdentifier(first.relname)} ` +
      `(${cols.map((c) => quoteIdentifier(c.attname)).join(', ')}) ` +
      `SELECT ${select.join(', ')} FROM ROWS FROM (${casts.join(', ')}) AS ${ALIAS} (${names.join(', ')})` +
      (tail === '' ? '' : ` ${tail}`),
    values,
    rows: count,
  };
}

function overflowed(sinks: readonly ByteSink[]): boolean {
  for (const s of sinks) if (s.pos > s.buf.length) return true;
  return false;
}

/** Hand the sinks' buffers back for reuse; returns undefined (for `return release(…)`). */
function release(sinks: ByteSink[]): undefined {
  for (const s of sinks) {
    if (s.buf.length > 0 && s.buf.length <= MAX_SPARE && spares.length < 64) spares.push(s.buf);
  }
  if (spares.length > 64) spares = spares.slice(0, 64);
  return undefined;
}

/**
 * One row starting at `src[at]` (UTF-8 with a sentinel quote at the end): each value appended to its
 * column's array as an element followed by a comma. Takes rows made of `'…'` strings, integers (into
 * integer or numeric columns) and NULL, with each expression column holding exactly its expression,
 * and followed by a comma or the end of the text; returns the offset after the row's `)`, or -1 for
 * anything else (the sinks then as they were).
 */
function writeFastUnnestRow(
  src: Uint8Array,
  at: number,
  kinds: readonly number[],
  exprs: readonly (Uint8Array | undefined)[],
  sinks: readonly ByteSink[],
  marks: Int32Array,
): number {
  const end = fastUnnestRow(src, at, kinds, exprs, sinks, marks);
  // (a row must be followed by the next one's comma or by the end of the text)
  const n = src.length - 1;
  if (end >= 0 && (end === n || src[end] === 44)) return end;
  // Put back what the row wrote: to every column when it was read to its `)`, else to the columns
  // before the one it stopped at (`~end`). The caller then sends it through the full parser.
  const upto = end >= 0 ? kinds.length : ~end;
  for (let k = 0; k < upto; k++) if (exprs[k] === undefined) sinks[k]!.pos = marks[k]!;
  return -1;
}

/** {@link writeFastUnnestRow} without the undo: on failure returns `~col`, the column it stopped at. */
function fastUnnestRow(
  src: Uint8Array,
  at: number,
  kinds: readonly number[],
  exprs: readonly (Uint8Array | undefined)[],
  sinks: readonly ByteSink[],
  marks: Int32Array,
): number {
  const n = src.length - 1;
  if (src[at] !== 40) return -1; // (~0: nothing written)
  const width = kinds.length;
  let i = at + 1;
  let col = 0;
  for (;;) {
    while (i < n && isWs(src[i]!)) i++;
    if (col >= width) return ~col;
    const expr = exprs[col];
    if (expr !== undefined) {
      const len = expr.length;
      if (i + len > n) return ~col;
      for (let k = 0; k < len; k++) if (src[i + k] !== expr[k]) return ~col;
      i += len;
    } else {
      const sink = sinks[col]!;
      const b = sink.buf;
      let p = sink.pos;
      marks[col] = p;
      const c = src[i];
      if (c === 39) {
        b[p++] = 34;
        let j = i + 1;
        for (;;) {
          const d = src[j]!;
          if (d !== 39 && d !== 34 && d !== 92) b[p++] = d;
          else if (d === 39) {
            if (j >= n) return ~col; // the sentinel: the string is not closed
            if (src[j + 1] !== 39) break;
            b[p++] = 39;
            j++;
          } else {
            b[p++] = 92;
            b[p++] = d;
          }
          j++;
        }
        b[p++] = 34;
        i = j + 1;
      } else if (c !== undefined && ((c >= 48 && c <= 57) || c === 45)) {
        if (kinds[col] === OTHER_COLUMN) return ~col;
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
        if (i === digits) return ~col;
      } else if (
        c !== undefined &&
        (c | 32) === 110 &&
        ((src[i + 1] ?? 0) | 32) === 117 &&
        ((src[i + 2] ?? 0) | 32) === 108 &&
        ((src[i + 3] ?? 0) | 32) === 108
      ) {
        i += 4;
        b[p++] = 78;
        b[p++] = 85;
        b[p++] = 76;
        b[p++] = 76;
      } else {
        return ~col;
      }
      b[p++] = 44;
      sink.pos = p;
    }
    col++;
    while (i < n && isWs(src[i]!)) i++;
    const d = src[i];
    if (d === 44) {
      i++;
      continue;
    }
    if (d !== 41 || col !== width) return ~col;
    return i + 1;
  }
}
