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
  const lines: string[] = [];
  for (const row of ins.rows) {
    const values = parseRowLiterals(row);
    if (!values || values.length !== cols.length) return undefined;
    const fields: string[] = [];
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (!literalFitsBaseType(v, types[i]!)) return undefined;
      fields.push(copyTextValue(v.kind === 'null' ? null : v.text));
    }
    lines.push(fields.join('\t'));
  }
  return {
    target: `${quoteIdentifier(first.nspname)}.${quoteIdentifier(first.relname)}`,
    columns: cols.map((c) => quoteIdentifier(c.attname)),
    data: `${lines.join('\n')}\n`,
    rows: lines.length,
  };
}
