import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { baseType, literalFitsBaseType } from './compat.js';
import { parseRowValuesAt } from './literal.js';
import type { CatalogRow } from './plan.js';
import { arrayTypeOf, buildUnnest, builtinsFirst } from './unnest.js';

const ARRAYS: Record<string, string> = {
  integer: '_int4',
  bigint: '_int8',
  'numeric(10,2)': '_numeric',
  text: '_text',
  'double precision': '_float8',
  boolean: '_bool',
  date: '_date',
  'character(3)': '_bpchar',
  'character varying(5)': '_varchar',
};

const catalogOf = (types: string[], extra: Partial<CatalogRow> = {}): CatalogRow[] =>
  types.map((type, i) => ({
    nspname: 'public',
    relname: 't',
    relkind: 'r',
    relhasrules: false,
    attname: `c${i}`,
    type,
    identity: '',
    generated: '',
    scs: 'on',
    searchpath: '"$user", public',
    typtype: 'b',
    typdelim: ',',
    arrayschema: 'pg_catalog',
    arraytype: ARRAYS[type] ?? '_text',
    ...extra,
  }));

/**
 * PostgreSQL's array_in for one-dimensional arrays, as the oracle of what the server reads: elements in
 * double quotes with backslash escapes, or bare (whitespace-trimmed; `NULL` in any case is null).
 */
function readArray(s: string): (string | null)[] {
  expect(s[0]).toBe('{');
  expect(s[s.length - 1]).toBe('}');
  const out: (string | null)[] = [];
  let i = 1;
  for (;;) {
    if (s[i] === '"') {
      let v = '';
      i++;
      while (s[i] !== '"') {
        if (s[i] === '\\') i++;
        expect(i).toBeLessThan(s.length);
        v += s[i];
        i++;
      }
      i++;
      out.push(v);
    } else {
      let j = i;
      while (s[j] !== ',' && s[j] !== '}') {
        expect(s[j]).not.toMatch(/["\\{]/);
        j++;
      }
      const bare = s.slice(i, j).trim();
      out.push(/^null$/i.test(bare) ? null : bare);
      i = j;
    }
    if (s[i] === '}') {
      expect(i).toBe(s.length - 1);
      return out;
    }
    expect(s[i]).toBe(',');
    i++;
  }
}

/** What each column should receive, from the full parser row by row; undefined when not eligible. */
function oracle(
  rows: string[],
  types: string[],
): { exprs: (string | undefined)[]; columns: (string | null)[][] } | undefined {
  const parsed = rows.map((r) => parseRowValuesAt(r, 0));
  if (parsed.some((p) => !p || p.values.length !== types.length)) return undefined;
  for (let k = 0; k < rows.length; k++) if (rows[k]!.slice(parsed[k]!.end).trim() !== '') return undefined;
  const first = parsed[0]!.values;
  const exprs = first.map((v) => (v.kind === 'expr' ? v.text : undefined));
  if (exprs.every((e) => e !== undefined)) return undefined;
  const columns: (string | null)[][] = types.map(() => []);
  for (const p of parsed) {
    for (let c = 0; c < types.length; c++) {
      const v = p!.values[c]!;
      if (exprs[c] !== undefined) {
        if (v.kind !== 'expr' || v.text !== exprs[c]) return undefined;
        continue;
      }
      if (v.kind === 'expr' || !literalFitsBaseType(v, baseType(types[c]!))) return undefined;
      columns[c]!.push(v.kind === 'null' ? null : v.text);
    }
  }
  return { exprs, columns };
}

const ws = fc.constantFrom('', ' ', '\n', '\t ');
const stringChar = fc.constantFrom(
  'a',
  ' ',
  '\t',
  '\n',
  '\\',
  "''",
  '"',
  '{',
  '}',
  ',',
  'NULL',
  'é',
  '😀',
  '\ud800',
  ')',
);
const literal = fc.oneof(
  fc.integer({ min: -3_000_000_000, max: 3_000_000_000 }).map(String),
  fc.constantFrom('007', '-0', '1.5', '1e5', '- 1', '+1', '-'),
  fc.array(stringChar, { maxLength: 6 }).map((a) => `'${a.join('')}'`),
  fc.constantFrom('NULL', 'null', 'true', "E'a\\tb\\\\'", '$$x"y$$', "'x'::text", "DATE '2024-01-01'"),
  fc.constantFrom('now()', 'pi( )', 'CURRENT_USER', 'current_userx', 'now()::date', '(1)', "'a' 'b'"),
);
const expression = fc.constantFrom(
  'now()',
  'NOW()',
  'gen_random_uuid()',
  'pi( )',
  'CURRENT_TIMESTAMP',
  'user',
);
const columnType = fc.constantFrom(...Object.keys(ARRAYS));

describe('buildUnnest', () => {
  it('gives each column the values the full parser reads, from the text or from the rows (fast-check)', () => {
    let eligible = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(columnType, fc.option(expression, { freq: 3 })), { minLength: 1, maxLength: 4 }),
        fc.array(fc.array(fc.tuple(ws, literal, ws), { minLength: 1, maxLength: 4 }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.boolean(),
        (columns, rowParts, plainOnly) => {
          const types = columns.map((c) => c[0]);
          const rows = rowParts.map((parts) => {
            const values = plainOnly
              ? columns.map(([t, expr], i) => {
                  const v = parts[i % parts.length]!;
                  if (expr !== null) return `${v[0]}${expr}${v[2]}`;
                  return /int|numeric/.test(t)
                    ? `${v[0]}${i * 7 - 3}${v[2]}`
                    : `${v[0]}'v${i}${v[1]}'${v[2]}`;
                })
              : parts.map(([a, v, b]) => `${a}${v}${b}`);
            return `(${values.join(',')})`;
          });
          const prefix = `INSERT INTO t (${types.map((_, i) => `c${i}`).join(', ')}) VALUES`;
          const sql = `${prefix} ${rows.join(',')}`;
          const ins = {
            table: 't',
            columns: types.map((_, i) => `c${i}`),
            rows,
            rowIndices: rows.map((_, i) => i),
            tail: '',
          };
          const expected = oracle(rows, types);
          if (expected) eligible++;
          for (const given of [
            ins,
            { ...ins, rowsAt: prefix.length + 1 },
            // (as the builder hands them over: the rows' UTF-8, a lone surrogate never among them)
            ...((rows.join(',') as unknown as { isWellFormed(): boolean }).isWellFormed()
              ? [{ ...ins, rowsAt: prefix.length + 1, rowsUtf8: new TextEncoder().encode(rows.join(',')) }]
              : []),
          ]) {
            const out = buildUnnest(given, catalogOf(types), sql);
            expect(out === undefined, sql).toBe(expected === undefined);
            if (!out || !expected) continue;
            expect(out.rows).toBe(rows.length);
            const paramColumns = expected.columns.filter((_, c) => expected.exprs[c] === undefined);
            expect(out.values.map(readArray), sql).toEqual(
              // (a lone surrogate travels as U+FFFD, as in any text the driver sends)
              paramColumns.map((col) => col.map((v) => (v === null ? null : Buffer.from(v).toString()))),
            );
            for (const e of expected.exprs)
              if (e !== undefined) expect(out.text).toContain(`, ${e}`.slice(2));
          }
        },
      ),
      { numRuns: 3000 },
    );
    // (the property is not vacuous: many generated statements do go in the unnest form)
    expect(eligible).toBeGreaterThan(200);
  });

  it('writes the statement from the catalog: quoted names, one array parameter per literal column', () => {
    const rows = ["(1, 'a', now())", "(2, 'b', now())"];
    const ins = { table: 't', columns: ['id', 'NAME', 'ts'], rows, rowIndices: [0, 1], tail: '' };
    const catalog: CatalogRow[] = catalogOf(['integer', 'text', 'timestamp with time zone']).map((c, i) => ({
      ...c,
      nspname: 'My "Schema"',
      relname: 'T',
      attname: ['id', 'name', 'ts'][i]!,
    }));
    catalog[0]!.arraytype = '_int4';
    const out = buildUnnest(ins, catalog)!;
    expect(out.text).toBe(
      'INSERT INTO "My ""Schema"""."T" ("id", "name", "ts") SELECT sqlbatcher_rows.c1, sqlbatcher_rows.c2, now() ' +
        'FROM ROWS FROM (pg_catalog.unnest($1::"pg_catalog"."_int4"), pg_catalog.unnest($2::"pg_catalog"."_text")) ' +
        'AS sqlbatcher_rows (c1, c2)',
    );
    expect(out.values).toEqual(['{1,2}', '{"a","b"}']);
  });

  it('leaves to the INSERT text what it cannot send exactly', () => {
    const ins = (rows: string[], tail = '') => ({
      table: 't',
      columns: ['c0'],
      rows,
      rowIndices: rows.map((_, i) => i),
      tail,
    });
    const one = (type: string, extra: Partial<CatalogRow> = {}) => catalogOf([type], extra);
    expect(buildUnnest(ins(["('x')"]), one('text'))).toBeDefined();
    // a domain, a composite, an array column (no array type of its own), interval with fields
    expect(buildUnnest(ins(["('x')"]), one('text', { typtype: 'd' }))).toBeUndefined();
    expect(buildUnnest(ins(["('x')"]), one('text', { typtype: 'c' }))).toBeUndefined();
    expect(
      buildUnnest(ins(["('{1}')"]), one('integer[]', { arrayschema: null, arraytype: null })),
    ).toBeUndefined();
    expect(buildUnnest(ins(["('5')"]), one('interval minute'))).toBeUndefined();
    expect(buildUnnest(ins(["('5')"]), one('interval', { arraytype: '_interval' }))).toBeDefined();
    // rules, a view, standard_conforming_strings off
    expect(buildUnnest(ins(["('x')"]), one('text', { relhasrules: true }))).toBeUndefined();
    expect(buildUnnest(ins(["('x')"]), one('text', { relkind: 'v' }))).toBeUndefined();
    expect(buildUnnest(ins(["('x')"]), one('text', { scs: 'off' }))).toBeUndefined();
    // a tail, only expressions, expressions that differ between rows, a value INSERT would cast
    expect(buildUnnest(ins(["('x')"], 'ORDER BY 1'), one('text'))).toBeUndefined();
    // PostgreSQL 15 does not take a vertical tab as whitespace; a user function might return a set
    expect(buildUnnest(ins(["(\v'x')"]), one('text'))).toBeUndefined();
    expect(
      buildUnnest({ ...ins(["('x', my_fn())"]), columns: ['c0', 'c1'] }, catalogOf(['text', 'text'])),
    ).toBeUndefined();
    // numeric input (what INSERT reads a number with) refuses these; float input would take them
    expect(buildUnnest(ins(['(0e-20000)']), one('double precision'))).toBeUndefined();
    expect(buildUnnest(ins([`(1.${'0'.repeat(17000)})`]), one('double precision'))).toBeUndefined();
    expect(buildUnnest(ins(['(1e300)']), one('double precision'))).toBeDefined();
    expect(buildUnnest(ins(['(now())']), one('text'))).toBeUndefined();
    expect(
      buildUnnest(
        { ...ins(['(1, now())', '(2, NOW())']), columns: ['c0', 'c1'] },
        catalogOf(['integer', 'text']),
      ),
    ).toBeUndefined();
    expect(buildUnnest(ins(['(1.5)']), one('integer'))).toBeUndefined();
    // `now()` is the built-in only while pg_catalog is searched first
    const withNow = { ...ins(["('x', now())"]), columns: ['c0', 'c1'] };
    expect(buildUnnest(withNow, catalogOf(['text', 'timestamptz']))).toBeDefined();
    expect(
      buildUnnest(withNow, catalogOf(['text', 'timestamptz'], { searchpath: 'app, pg_catalog' })),
    ).toBeUndefined();
    expect(
      buildUnnest(withNow, catalogOf(['text', 'timestamptz'], { searchpath: 'pg_catalog, app' })),
    ).toBeDefined();
    // (a keyword is syntax, not a function a schema can shadow)
    const withKeyword = { ...ins(["('x', CURRENT_TIMESTAMP)"]), columns: ['c0', 'c1'] };
    expect(
      buildUnnest(withKeyword, catalogOf(['text', 'timestamptz'], { searchpath: 'app, pg_catalog' })),
    ).toBeDefined();
    // parameters past the wire limit (escaping can double a statement's bytes): sent as text
    const big = ins(['(\'""""\')', "('ab')"]);
    // ({"\"\"\"\"","ab"}: 17 bytes)
    expect(buildUnnest(big, one('text'), undefined, 17)).toBeDefined();
    expect(buildUnnest(big, one('text'), undefined, 16)).toBeUndefined();
    expect(buildUnnest(ins(['(TRUE)']), one('text'))).toBeUndefined();
  });

  it('keeps ON CONFLICT and RETURNING after the SELECT', () => {
    const rows = ["('a', 1)", "('b', 2)"];
    const tail = 'ON CONFLICT (c0) DO UPDATE SET c1 = t.c1 + EXCLUDED.c1 RETURNING c0';
    const prefix = 'INSERT INTO t (c0, c1) VALUES';
    const sql = `${prefix} ${rows.join(',')} ${tail}`;
    const ins = { table: 't', columns: ['c0', 'c1'], rows, rowIndices: [0, 1], tail };
    for (const given of [ins, { ...ins, rowsAt: prefix.length + 1 }]) {
      const out = buildUnnest(given, catalogOf(['text', 'integer']), sql)!;
      expect(out.text.endsWith(`AS sqlbatcher_rows (c1, c2) ${tail}`)).toBe(true);
      expect(out.values).toEqual(['{"a","b"}', '{1,2}']);
    }
  });

  it('reads a first row longer than its first look from the bytes the builder hands over', () => {
    // (a first row of ~12 KB whose 4,096th byte falls inside a multi-byte character, no column list)
    const long = `${'é'.repeat(2047)}x${'😀'.repeat(2000)}`;
    const rows = [`('${long}', now())`, "('b', now())"];
    const ins = { table: 't', columns: undefined, rows, rowIndices: [0, 1], tail: '' };
    const out = buildUnnest(
      { ...ins, rowsUtf8: new TextEncoder().encode(rows.join(',')) },
      catalogOf(['text', 'timestamp with time zone', 'text']),
    )!;
    expect(out.text).toContain('("c0", "c1") SELECT sqlbatcher_rows.c1, now()');
    expect(out.values).toEqual([`{"${long}","b"}`]);
  });

  it('undoes a row it read to its end when something other than a comma follows', () => {
    // (whitespace after a row: the byte path stops at the row's `)`, the full parser takes the row)
    const rows = ["(1, 'a') ", "(2, 'b')"];
    const out = buildUnnest(
      { table: 't', columns: ['c0', 'c1'], rows, rowIndices: [0, 1], tail: '' },
      catalogOf(['integer', 'text']),
    )!;
    expect(out.values).toEqual(['{1,2}', '{"a","b"}']);
  });

  it('without a column list fills the first columns, as INSERT does', () => {
    const catalog = catalogOf(['integer', 'text', 'text']);
    const rows = ["(1, 'a')", "(2, 'b')"];
    const out = buildUnnest({ table: 't', columns: undefined, rows, rowIndices: [0, 1], tail: '' }, catalog)!;
    expect(out.text).toContain('("c0", "c1") SELECT');
    expect(out.values).toEqual(['{1,2}', '{"a","b"}']);
    const tooMany = ["(1, 'a', 'b', 'c')"];
    expect(
      buildUnnest({ table: 't', columns: undefined, rows: tooMany, rowIndices: [0], tail: '' }, catalog),
    ).toBeUndefined();
  });

  it('refuses the array types arrayTypeOf would not use', () => {
    const [col] = catalogOf(['text']);
    expect(arrayTypeOf(col!)).toBe('"pg_catalog"."_text"');
    expect(arrayTypeOf({ ...col!, typtype: 'e', arrayschema: 's', arraytype: '_mood' })).toBe('"s"."_mood"');
    expect(arrayTypeOf({ ...col!, type: 'interval day to second' })).toBeUndefined();
    expect(arrayTypeOf({ ...col!, typtype: 'd' })).toBeUndefined();
    expect(arrayTypeOf({ ...col!, type: 'box', typdelim: ';', arraytype: '_box' })).toBeUndefined();
  });
});

describe('builtinsFirst', () => {
  it('is true only when pg_catalog is searched before any schema of the path', () => {
    expect(builtinsFirst('"$user", public')).toBe(true);
    expect(builtinsFirst('')).toBe(true);
    expect(builtinsFirst('pg_catalog, public')).toBe(true);
    expect(builtinsFirst('PG_CATALOG, public')).toBe(true);
    expect(builtinsFirst('pg_temp, pg_catalog, app')).toBe(true);
    expect(builtinsFirst('app, pg_catalog')).toBe(false);
    expect(builtinsFirst('"$user", public, pg_catalog')).toBe(false);
    // (a quoted name is exact: "PG_CATALOG" is another schema, not named pg_catalog)
    expect(builtinsFirst('"PG_CATALOG", app')).toBe(true);
    expect(builtinsFirst('"pg_catalog", app')).toBe(true);
    expect(builtinsFirst(undefined)).toBe(false);
  });
});
