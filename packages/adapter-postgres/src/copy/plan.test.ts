import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { baseType, copyTextValue, literalFitsBaseType } from './compat.js';
import { parseRowLiterals } from './literal.js';
import { buildCopy, type CatalogRow, fastCopyBytes } from './plan.js';

const KIND: Record<string, number> = { smallint: 1, integer: 1, bigint: 1, numeric: 2 };
const kindsOf = (types: string[]) => types.map((t) => KIND[baseType(t)] ?? 0);

/** The full parser's line for `row`, or undefined when the row is not COPY-eligible. */
function slowLine(row: string, types: string[]): string | undefined {
  const values = parseRowLiterals(row);
  if (!values || values.length !== types.length) return undefined;
  const fields: string[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!literalFitsBaseType(v, baseType(types[i]!))) return undefined;
    fields.push(copyTextValue(v.kind === 'null' ? null : v.text));
  }
  return fields.join('\t');
}

/** What the string path sent: the line and its newline as UTF-8 (a lone surrogate as U+FFFD). */
const utf8Line = (line: string | undefined) =>
  line === undefined ? undefined : Buffer.from(`${line}\n`, 'utf8');

const ws = fc.constantFrom('', ' ', '  ', '\n', '\t', ' \r\n ');
const stringChar = fc.constantFrom(
  'a',
  'Z',
  ' ',
  '\t',
  '\n',
  '\r',
  '\\',
  "''",
  '\f',
  'é',
  '€',
  '😀',
  '\ud800', // lone surrogates: sent as U+FFFD
  '\udc00x',
  ',',
  ')',
  '(',
  '"',
  '$',
);
const literal = fc.oneof(
  fc.integer({ min: -3_000_000_000, max: 3_000_000_000 }).map(String),
  fc.constantFrom('007', '-0', '1.5', '-2.5e3', '.5', '1e5', '- 1', '+1', '1abc', '--1', '-'),
  fc.array(stringChar, { maxLength: 6 }).map((a) => `'${a.join('')}'`),
  fc.constantFrom('NULL', 'null', 'Null', 'NULLx', 'NULL::int', 'true', 'FALSE', "E'a\\tb'", '$$x$$'),
  fc.constantFrom("'x'::text", "DATE '2024-01-01'", 'now()', '(1)', "'a' 'b'", '1 /* c */', "'a'\n'b'"),
);
const columnType = fc.constantFrom(
  'integer',
  'bigint',
  'numeric(10,2)',
  'text',
  'double precision',
  'boolean',
);

describe('fastCopyBytes', () => {
  it('gives the full parser’s bytes whenever it answers (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(ws, literal, ws, columnType), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: -1, max: 1 }),
        (parts, arityShift) => {
          const row = `(${parts.map(([a, v, b]) => `${a}${v}${b}`).join(',')})`;
          const types = parts.map((p) => p[3]);
          // Sometimes the row has one value more or fewer than the columns.
          const cols = arityShift < 0 ? types.slice(1) : arityShift > 0 ? [...types, 'text'] : types;
          const fast = fastCopyBytes(row, kindsOf(cols));
          if (fast !== undefined) expect(Buffer.from(fast)).toEqual(utf8Line(slowLine(row, cols)));
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('takes the common rows itself: integers, plain strings (escaped for COPY) and NULL', () => {
    const types = ['integer', 'text', 'text', 'numeric(12,2)', 'timestamp with time zone'];
    const rows = [
      "(1, 'User 1', 'user1@example.com', 42, '2024-01-01 00:00:00+00')",
      "( -5 ,'tab\there' , NULL, -0, 'back\\slash')",
      "(2147483648,'line\nbreak',null,7,NULL)",
    ];
    for (const row of rows) {
      const fast = fastCopyBytes(row, kindsOf(types));
      expect(fast, row).toBeDefined();
      expect(Buffer.from(fast!)).toEqual(utf8Line(slowLine(row, types)));
    }
    expect(Buffer.from(fastCopyBytes("(1, 'it''s')", kindsOf(['integer', 'text']))!).toString()).toBe(
      "1\tit's\n",
    );
    expect(fastCopyBytes("('1', 2)", kindsOf(['integer', 'text']))).toBeUndefined();
    expect(fastCopyBytes("(1, E'x')", kindsOf(['integer', 'text']))).toBeUndefined();
  });
});

describe('buildCopy from the statement text (InsertParts.rowsAt)', () => {
  const catalogOf = (types: string[]): CatalogRow[] =>
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
    }));

  it('sends what the full parser gives row by row, from the text or from the rows (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(columnType, { minLength: 1, maxLength: 4 }),
        fc.array(fc.array(fc.tuple(ws, literal, ws), { minLength: 1, maxLength: 4 }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.boolean(),
        (types, rowParts, plainOnly) => {
          // Rows of the right arity (mostly eligible) or as generated (often not).
          const rows = rowParts.map((parts) => {
            const values = plainOnly
              ? types.map((t, i) => {
                  const v = parts[i % parts.length]!;
                  return KIND[baseType(t)] ? `${v[0]}${i * 7 - 3}${v[2]}` : `${v[0]}'v${i}${v[1]}'${v[2]}`;
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
          const catalog = catalogOf(types);
          // The oracle: each row through the full literal parser alone.
          const lines = rows.map((row) => slowLine(row, types));
          const expected = lines.includes(undefined) ? undefined : lines.map((l) => `${l}\n`).join('');
          for (const given of [
            ins,
            { ...ins, rowsAt: prefix.length + 1 },
            // (as the builder hands them over: the rows' UTF-8, a lone surrogate never among them)
            ...((rows.join(',') as unknown as { isWellFormed(): boolean }).isWellFormed()
              ? [{ ...ins, rowsAt: prefix.length + 1, rowsUtf8: new TextEncoder().encode(rows.join(',')) }]
              : []),
          ]) {
            const out = buildCopy(given, catalog, sql);
            expect(out === undefined, sql).toBe(expected === undefined);
            if (out && expected !== undefined) {
              expect(Buffer.from(out.data).toString('latin1'), sql).toBe(
                Buffer.from(expected, 'utf8').toString('latin1'),
              );
              expect(out.rows).toBe(rows.length);
            }
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('reads the rows from the text: rows the byte path declines still go through the full parser', () => {
    const types = ['integer', 'text', 'date'];
    const rows = ["(1, 'a\\b', '2024-01-02')", "(2, E'x\\ty', DATE '2024-01-03')", "(3,'é😀','2024-01-04')"];
    const prefix = 'INSERT INTO t (c0, c1, c2) VALUES';
    const ins = { table: 't', columns: ['c0', 'c1', 'c2'], rows, rowIndices: [0, 1, 2], tail: '' };
    const sql = `${prefix} ${rows.join(',')}`;
    const out = buildCopy({ ...ins, rowsAt: prefix.length + 1 }, catalogOf(types), sql);
    expect(Buffer.from(out!.data).toString('utf8')).toBe(
      '1\ta\\\\b\t2024-01-02\n2\tx\\ty\t2024-01-03\n3\té😀\t2024-01-04\n',
    );
  });

  it('leaves to INSERT a statement whose COPY data would pass the wire limit', () => {
    const rows = ["('a\\b')", "('c')"];
    const ins = { table: 't', columns: ['c0'], rows, rowIndices: [0, 1], tail: '' };
    // (a\\b\nc\n: 7 bytes)
    expect(buildCopy(ins, catalogOf(['text']), undefined, 7)).toBeDefined();
    expect(buildCopy(ins, catalogOf(['text']), undefined, 6)).toBeUndefined();
  });

  it('leaves to INSERT a statement that leaves out a domain column (COPY would store its NULL unchecked)', () => {
    const catalog = catalogOf(['integer', 'text']).map((c, i) => ({ ...c, typtype: i === 1 ? 'd' : 'b' }));
    const rows = ['(1)', '(2)'];
    const ins = { table: 't', columns: ['c0'], rows, rowIndices: [0, 1], tail: '' };
    expect(buildCopy(ins, catalog)).toBeUndefined();
    // (without a column list: the table's first columns)
    expect(buildCopy({ ...ins, columns: undefined }, catalog)).toBeUndefined();
    expect(
      buildCopy({ ...ins, rows: ["(1, 'a')"], rowIndices: [0], columns: undefined }, catalog),
    ).toBeDefined();
    expect(buildCopy({ ...ins, columns: ['c0'] }, catalogOf(['integer', 'text']))).toBeDefined();
  });
});
