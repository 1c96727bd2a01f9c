import fc from 'fast-check';

/**
 * Random statement streams over the schema below, valid PostgreSQL, each statement with the events
 * it must produce (computed here, independently of the lexer): one event per VALUES row of a mergeable
 * INSERT, one "whole" event for anything else.
 *
 *   t1 (id int, s text)             plain INSERTs, several spellings of the same table and columns
 *   t2 (id int, s text, n int[])    plain INSERTs with ARRAY[…] and NOW()-free expressions
 *   t3 (id int primary key, s text) ON CONFLICT DO NOTHING / DO UPDATE with colliding keys
 */
export const SCHEMA = `
  CREATE TABLE t1 (id int, s text);
  CREATE TABLE t2 (id int, s text, n int[]);
  CREATE TABLE t3 (id int PRIMARY KEY, s text);
  CREATE TABLE t4 (ts timestamptz PRIMARY KEY, s text);
  CREATE TABLE k_int (k int PRIMARY KEY, s text);
  CREATE TABLE k_date (k date PRIMARY KEY, s text);
  CREATE TABLE k_ts (k timestamptz PRIMARY KEY, s text);
  CREATE TABLE k_uuid (k uuid PRIMARY KEY, s text);
  CREATE TABLE k_text (k text PRIMARY KEY, s text);
`;

/** Spellings of conflict keys, several of each value: PostgreSQL sees some as equal. */
export const KEY_SPELLINGS: Record<string, string[]> = {
  k_int: [
    '1',
    '01',
    '1.0',
    '+1',
    "'1'",
    "' 1 '",
    '1e0',
    '0x1',
    '1_0',
    '10',
    "'10'",
    '2',
    '2.00',
    "'20240102'",
    '20240102',
  ],
  k_date: [
    "'2024-01-02'",
    "'2024-1-2'",
    "'01/02/2024'",
    "'Jan 2 2024'",
    "'January 2, 2024'",
    "'Tuesday, January 2, 2024'",
    "'20240102'",
    "'2024-01-02 00:00'",
    "'2024-02-01'",
    "'2024-01-03'",
  ],
  k_ts: [
    "'2024-01-02 00:00:00+00'",
    "'2024-01-02T01:00:00+01'",
    "'2024-01-02 00:00:00'",
    "'2024-01-02'",
    "'2024-01-01 19:00:00-05'",
    "'2024-01-02 00:00:01+00'",
    "'2024-01-02 12:00:00 am'",
  ],
  k_uuid: [
    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
    "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'",
    "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'",
    "'a0eebc999c0b4ef8bb6d6bb9bd380a11'",
    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12'",
  ],
  k_text: ["'abc'", "'ABC'", "'abc '", "'a-b'", "'ab'", "'ab''c'"],
};

export type Event =
  | { k: 'row'; table: string; cols: string; tail: string; row: string }
  | { k: 'whole'; text: string };

export interface GenStatement {
  sql: string;
  events: Event[];
  /** Mergeable INSERT: its rows may be merged with neighbours. */
  mergeable: boolean;
}

/** String literal content: quote-heavy, multi-byte, astral. */
export const textArb = fc
  .array(
    fc.oneof(
      fc.string({ unit: 'binary', maxLength: 4 }),
      fc.constantFrom(
        "'",
        "''",
        '\\',
        ';',
        ')',
        '(',
        '--',
        '/*',
        '*/',
        '$$',
        '$f$',
        '😀',
        'é',
        '日本',
        '"',
        ',',
      ),
    ),
    { maxLength: 5 },
  )
  .map((parts) => parts.join('').replace(/\0/g, ''));

export const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** Canonical name as PostgreSQL sees it (only the simple spellings generated here). */
export function canon(name: string): string {
  return name
    .split('.')
    .map((p) => p.trim())
    .map((p) => (p.startsWith('"') ? p.slice(1, -1).replace(/""/g, '"') : p.toLowerCase()))
    .join('.');
}

export const canonCols = (cols: readonly string[] | undefined) => (cols ? cols.map(canon).join(',') : '*');

type Spec =
  | { t: 'ins1'; table: string; cols: string[]; rows: string[][]; tail: string }
  | { t: 'whole'; text: string };

const t1Names = ['t1', 'T1', '"t1"'];
const t1Cols = [
  ['id', 's'],
  ['ID', '"s"'],
  ['s', 'id'],
];

function rowsArb(width: 2 | 3) {
  return fc
    .array(
      fc.tuple(textArb, fc.integer({ min: -5, max: 5 })).map(([s, n]) => ({ s, n })),
      { minLength: 1, maxLength: 4 },
    )
    .map((rs) => rs.map((r) => (width === 2 ? [lit(r.s)] : [lit(r.s), `ARRAY[${r.n},${r.n} + 1]`])));
}

const specArb: fc.Arbitrary<Spec> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.constantFrom(...t1Names), fc.constantFrom(...t1Cols), rowsArb(2))
      .map(([table, cols, rows]) => ({ t: 'ins1' as const, table, cols, rows, tail: '' })),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom('t2', 'T2', '"t2"'), rowsArb(3))
      .map(([table, rows]) => ({ t: 'ins1' as const, table, cols: ['id', 's', 'n'], rows, tail: '' })),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), textArb), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
      )
      .map(([rows, update]) => ({
        t: 'ins1' as const,
        table: 't3',
        cols: ['id', 's'],
        // keys are literal ints: rows keep their own key; the id column is filled below
        rows: rows.map(([k, s]) => [`#${k}`, lit(s)]),
        tail: update ? 'ON CONFLICT (id) DO UPDATE SET s = EXCLUDED.s' : 'ON CONFLICT DO NOTHING',
      })),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom('t1', '"t1"'), rowsArb(2)).map(([table, rows]) => ({
      t: 'ins1' as const,
      table,
      cols: ['id', 's'],
      rows,
      tail: 'RETURNING id',
    })),
  },
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc
        .integer({ min: 0, max: 4 })
        .map((k) => ({ t: 'whole' as const, text: `UPDATE t1 SET s = s || 'u' WHERE id % 5 = ${k}` })),
      fc
        .integer({ min: 0, max: 4 })
        .map((k) => ({ t: 'whole' as const, text: `DELETE FROM t2 WHERE id % 5 = ${k}` })),
      fc
        .integer({ min: 0, max: 4 })
        .map((k) => ({ t: 'whole' as const, text: `UPDATE t3 SET s = s || ';' WHERE id = ${k}` })),
      textArb.map((s) => ({
        t: 'whole' as const,
        text: `INSERT INTO t1 (id, s) SELECT max(id) + 1, ${lit(s)} FROM t1`,
      })),
      // reads the table it writes: never merged (merging would change what the subquery sees)
      textArb.map((s) => ({
        t: 'whole' as const,
        text: `INSERT INTO t1 (id, s) VALUES ((SELECT count(*) FROM t1), ${lit(s)})`,
      })),
      fc.integer({ min: 0, max: 3 }).map((k) => ({
        t: 'whole' as const,
        text: `INSERT INTO t3 (id, s) VALUES (${k}, 'c') ON CONFLICT ON CONSTRAINT t3_pkey DO UPDATE SET s = t3.s || 'c'`,
      })),
    ),
  },
);

/** A stream of statements with unique ids per row (`id` column) so rows can be told apart. */
export const streamArb: fc.Arbitrary<GenStatement[]> = fc
  .tuple(
    fc.array(fc.tuple(specArb, fc.constantFrom('', ' -- trailing ; comment', ' /* c */', ';')), {
      minLength: 1,
      maxLength: 40,
    }),
    fc.boolean(),
  )
  .map(([specs, leadingComment]) => {
    let id = 100;
    return specs.map(([spec, deco], i): GenStatement => {
      const lead = leadingComment && i % 3 === 0 ? '/* lead ; */ ' : '';
      if (spec.t === 'whole')
        return {
          sql: `${lead}${spec.text}${deco}`,
          events: [{ k: 'whole', text: spec.text }],
          mergeable: false,
        };
      const rows = spec.rows.map((vals) => {
        if (vals[0]?.startsWith('#')) return `(${vals[0].slice(1)}, ${vals.slice(1).join(', ')})`;
        const cells = spec.cols.map((c) => (canon(c) === 'id' ? String(id++) : ''));
        let v = 0;
        const filled = cells.map((c) => (c === '' ? (vals[v++] as string) : c));
        return `(${filled.join(', ')})`;
      });
      const prefix = `INSERT INTO ${spec.table} (${spec.cols.join(', ')}) VALUES`;
      const text = `${prefix} ${rows.join(', ')}${spec.tail ? ` ${spec.tail}` : ''}`;
      const table = canon(spec.table);
      return {
        sql: `${lead}${text}${deco}`,
        events: rows.map((row) => ({ k: 'row', table, cols: canonCols(spec.cols), tail: spec.tail, row })),
        mergeable: true,
      };
    });
  });
