import type { Literal } from './literal.js';

/**
 * Whether loading `literal` into a column of type `columnType` (as printed by `format_type`) through
 * COPY gives exactly what `INSERT … VALUES (literal)` gives. When unsure: false (the row runs as INSERT).
 *
 * - An untyped string literal is resolved by INSERT with the column type's input function, the same
 *   function COPY uses: always equal. NULL likewise.
 * - A number literal is typed `integer`/`bigint`/`numeric` by INSERT and then cast; COPY parses the text
 *   directly. Equal only for numeric columns, and for integer columns only when the text is an integer
 *   (INSERT rounds `1.5` into an integer column, COPY rejects it).
 * - TRUE/FALSE: boolean columns only.
 * - Typed literals (`DATE '…'`, `'…'::jsonb`): only when the type is the column's type, modifiers aside.
 */
export function literalFitsColumn(literal: Literal, columnType: string): boolean {
  return literalFitsBaseType(literal, baseType(columnType));
}

/**
 * {@link literalFitsColumn} with the column's {@link baseType} already computed. `builtinTypes`: the
 * type names of typed literals resolve to the built-in types in this session (else no typed literal
 * fits: another schema's `int4` may be a domain with checks of its own).
 */
export function literalFitsBaseType(literal: Literal, base: string, builtinTypes = true): boolean {
  switch (literal.kind) {
    case 'null':
    case 'string':
      return true;
    case 'boolean':
      return base === 'boolean';
    case 'number':
      if (INTEGER_TYPES.has(base)) return literal.integer;
      // INSERT turns `-0` into 0 before the float cast; float8in keeps the sign of zero.
      if (FLOAT_TYPES.has(base) && /^-[0.]*(?:[eE]|$)/.test(literal.text)) return false;
      // INSERT reads the literal as numeric first, which refuses more than 1,000 in the exponent
      // (`0e-20000`) and more than 16,383 decimals; float input takes both. Short ones fit numeric.
      if (FLOAT_TYPES.has(base) && !numericReadable(literal.text)) return false;
      return NUMERIC_TYPES.has(base);
    case 'typed': {
      if (!builtinTypes) return false;
      const t = TYPE_ALIASES[literal.type];
      return t !== undefined && t === base;
    }
  }
}

/** Whether `numeric_in` surely accepts this number text: at most 1,000 characters, exponent within ±1,000. */
function numericReadable(text: string): boolean {
  if (text.length > 1000) return false;
  const e = /[eE]([+-]?\d+)$/.exec(text);
  return !e || Math.abs(Number(e[1])) <= 1000;
}

/** `character varying(20)` → `character varying`; `timestamp(3) with time zone` → `timestamp with time zone`. */
export function baseType(formatted: string): string {
  return formatted
    .replace(/\([^)]*\)/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase();
}

const INTEGER_TYPES = new Set(['smallint', 'integer', 'bigint']);
const FLOAT_TYPES = new Set(['real', 'double precision']);
const NUMERIC_TYPES = new Set(['numeric', ...FLOAT_TYPES]);

/**
 * One-word type names of typed literals, mapped to `format_type` base names. Types whose bare name
 * carries a default modifier (`char` = `char(1)`, `bit` = `bit(1)`) are left out on purpose: the cast
 * truncates, COPY would not.
 */
const TYPE_ALIASES: Readonly<Record<string, string>> = {
  int2: 'smallint',
  smallint: 'smallint',
  int: 'integer',
  int4: 'integer',
  integer: 'integer',
  int8: 'bigint',
  bigint: 'bigint',
  numeric: 'numeric',
  decimal: 'numeric',
  float4: 'real',
  real: 'real',
  float8: 'double precision',
  float: 'double precision',
  bool: 'boolean',
  boolean: 'boolean',
  text: 'text',
  varchar: 'character varying',
  date: 'date',
  time: 'time without time zone',
  timetz: 'time with time zone',
  timestamp: 'timestamp without time zone',
  timestamptz: 'timestamp with time zone',
  json: 'json',
  jsonb: 'jsonb',
  uuid: 'uuid',
  bytea: 'bytea',
  inet: 'inet',
  cidr: 'cidr',
  macaddr: 'macaddr',
};

/** Escape one value for COPY's text format: `\N` for NULL; backslash, tab, newline and CR escaped. */
export function copyTextValue(value: string | null): string {
  if (value === null) return '\\N';
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/[\\\t\n\r]/g, (ch) =>
    ch === '\\' ? '\\\\' : ch === '\t' ? '\\t' : ch === '\n' ? '\\n' : '\\r',
  );
}

const NEEDS_ESCAPE = /[\\\t\n\r]/;
