import type { BatchStatement, InsertParts } from '@sqlbatcher/core';
import { normalizeIdentifier, quoteIdentifier } from '../quote.js';
import { baseType, copyTextValue, literalFitsBaseType } from './compat.js';
import { parseRowLiterals } from './literal.js';

/** Catalog facts about a COPY target, read on the connection that will run the COPY. */
export const CATALOG_SQL = `SELECT n.nspname, c.relname, c.relkind::text AS relkind, c.relhasrules,
  a.attname, format_type(a.atttypid, a.atttypmod) AS type,
  a.attidentity::text AS identity, a.attgenerated::text AS generated,
  current_setting('standard_conforming_strings') AS scs
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.oid = pg_catalog.to_regclass($1)
ORDER BY a.attnum`;

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
}

/** A COPY ready to send: quoted target and columns (from the catalog, never from input text) and data. */
export interface CopyCommand {
  target: string;
  columns: string[];
  data: string;
  rows: number;
}

/** Could this statement go through COPY at all (before looking at the catalog)? */
export function copyCandidate(statement: BatchStatement): InsertParts | undefined {
  const ins = statement.insert;
  if (ins === undefined) return undefined;
  if (ins.tail.trim() !== '' || !ins.columns || ins.columns.length === 0 || ins.rows.length === 0)
    return undefined;
  return ins;
}

/**
 * Build the COPY for `ins` given its table's catalog rows, or undefined when COPY would not give
 * exactly what the INSERT gives (see the README's "COPY fast path" section).
 */
export function buildCopy(ins: InsertParts, catalog: readonly CatalogRow[]): CopyCommand | undefined {
  const first = catalog[0];
  if (!first) return undefined;
  // COPY does not apply rules; views and foreign tables are not plain COPY targets.
  if (first.relhasrules || (first.relkind !== 'r' && first.relkind !== 'p')) return undefined;
  // With standard_conforming_strings off, '…' strings take backslash escapes: not what we parse.
  if (first.scs !== 'on') return undefined;
  const byName = new Map(catalog.map((c) => [c.attname, c]));
  const cols: CatalogRow[] = [];
  const seen = new Set<string>();
  for (const written of ins.columns ?? []) {
    const col = byName.get(normalizeIdentifier(written));
    if (!col || seen.has(col.attname)) return undefined;
    // INSERT refuses values for GENERATED ALWAYS identity and generated columns; COPY would accept them.
    if (col.identity === 'a' || col.generated !== '') return undefined;
    seen.add(col.attname);
    cols.push(col);
  }
  const types = cols.map((c) => baseType(c.type));
  const kinds = types.map(columnKind);
  let data = '';
  for (const row of ins.rows) {
    // The common rows (integers, plain strings, NULL) in one pass; anything else through the full parser.
    let line = fastCopyLine(row, kinds);
    if (line === undefined) {
      const values = parseRowLiterals(row);
      if (!values || values.length !== cols.length) return undefined;
      line = '';
      for (let i = 0; i < values.length; i++) {
        const v = values[i]!;
        if (!literalFitsBaseType(v, types[i]!)) return undefined;
        if (i > 0) line += '\t';
        line += copyTextValue(v.kind === 'null' ? null : v.text);
      }
    }
    data += `${line}\n`;
  }
  return {
    target: `${quoteIdentifier(first.nspname)}.${quoteIdentifier(first.relname)}`,
    columns: cols.map((c) => quoteIdentifier(c.attname)),
    data,
    rows: ins.rows.length,
  };
}

/** Column classes the fast path distinguishes. */
const INTEGER_COLUMN = 1;
const NUMERIC_COLUMN = 2;
const OTHER_COLUMN = 0;

function columnKind(base: string): number {
  if (base === 'smallint' || base === 'integer' || base === 'bigint') return INTEGER_COLUMN;
  if (base === 'numeric') return NUMERIC_COLUMN;
  return OTHER_COLUMN;
}

const isWs = (c: number) => c === 32 || (c >= 9 && c <= 13);

/**
 * One row's COPY text line for rows made only of integers (into integer or numeric columns), plain
 * `'…'` strings and NULL, which is what dumps mostly hold. Returns undefined for anything else (other
 * literals, casts, doubled quotes, comments, a number into a non-numeric column, a wrong value count):
 * the caller then uses {@link parseRowLiterals} and {@link literalFitsBaseType}, whose answer is the
 * authoritative one; for the rows handled here both give the same line (tested).
 */
export function fastCopyLine(row: string, kinds: readonly number[]): string | undefined {
  const n = row.length;
  if (row.charCodeAt(0) !== 40) return undefined;
  let i = 1;
  let col = 0;
  let line = '';
  for (;;) {
    while (i < n && isWs(row.charCodeAt(i))) i++;
    if (col >= kinds.length) return undefined;
    const c = row.charCodeAt(i);
    if (c === 39) {
      // '…' without doubled quotes; note whether COPY needs escapes.
      const from = i + 1;
      let j = from;
      let needsEscape = false;
      for (;;) {
        if (j >= n) return undefined;
        const d = row.charCodeAt(j);
        if (d === 39) break;
        if (d === 92 || d === 9 || d === 10 || d === 13) needsEscape = true;
        j++;
      }
      if (row.charCodeAt(j + 1) === 39) return undefined;
      const text = row.slice(from, j);
      line += needsEscape ? copyTextValue(text) : text;
      i = j + 1;
    } else if ((c >= 48 && c <= 57) || c === 45) {
      // An integer literal: COPY reads the same value only into integer and numeric columns.
      if (kinds[col] === OTHER_COLUMN) return undefined;
      const from = i;
      if (c === 45) i++;
      const digits = i;
      while (i < n) {
        const d = row.charCodeAt(i);
        if (d < 48 || d > 57) break;
        i++;
      }
      if (i === digits) return undefined;
      line += row.slice(from, i);
    } else if (
      (c | 32) === 110 && // n, u, l, l in any case
      (row.charCodeAt(i + 1) | 32) === 117 &&
      (row.charCodeAt(i + 2) | 32) === 108 &&
      (row.charCodeAt(i + 3) | 32) === 108
    ) {
      i += 4;
      line += '\\N';
    } else {
      return undefined;
    }
    col++;
    while (i < n && isWs(row.charCodeAt(i))) i++;
    const d = row.charCodeAt(i);
    if (d === 44) {
      line += '\t';
      i++;
      continue;
    }
    if (d !== 41 || col !== kinds.length) return undefined;
    i++;
    while (i < n && isWs(row.charCodeAt(i))) i++;
    return i === n ? line : undefined;
  }
}
