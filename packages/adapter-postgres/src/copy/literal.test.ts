import { describe, expect, it } from 'vitest';
import { copyTextValue, literalFitsColumn } from './compat.js';
import { parseRowLiterals } from './literal.js';

describe('parseRowLiterals', () => {
  it('parses every literal form', () => {
    expect(
      parseRowLiterals(
        "( 1, -2.5e3, 'it''s', E'a\\tb\\n\\\\\\'\\u00e9', $$x'y$$, $t$a$$b$t$, NULL, true, FALSE, DATE '2024-01-02', '{\"a\":1}'::jsonb )",
      ),
    ).toEqual([
      { kind: 'number', text: '1', integer: true },
      { kind: 'number', text: '-2.5e3', integer: false },
      { kind: 'string', text: "it's" },
      { kind: 'string', text: "a\tb\n\\'é" },
      { kind: 'string', text: "x'y" },
      { kind: 'string', text: 'a$$b' },
      { kind: 'null' },
      { kind: 'boolean', text: 'true' },
      { kind: 'boolean', text: 'false' },
      { kind: 'typed', type: 'date', text: '2024-01-02' },
      { kind: 'typed', type: 'jsonb', text: '{"a":1}' },
    ]);
  });

  it.each([
    '(now())',
    '(1 + 2)',
    "('a' || 'b')",
    "('a' 'b')",
    '(ARRAY[1,2])',
    "(U&'\\0041')",
    "(B'101')",
    '(- 1)',
    '(1abc)',
    "(E'\\x80')",
    "(E'\\0')",
    "('x'::varchar(3))",
    "('x'::int[])",
    '(1 /* c */)',
    '(1) x',
    "(TIMESTAMP WITH TIME ZONE '2024-01-01')",
    "('unterminated)",
    '(DEFAULT)',
  ])('refuses %s', (row) => {
    expect(parseRowLiterals(row)).toBeUndefined();
  });
});

describe('literalFitsColumn', () => {
  const num = (text: string) => ({ kind: 'number' as const, text, integer: /^-?\d+$/.test(text) });
  it('accepts strings and NULL anywhere, numbers only in numeric columns', () => {
    expect(literalFitsColumn({ kind: 'string', text: 'x' }, 'boolean')).toBe(true);
    expect(literalFitsColumn({ kind: 'null' }, 'jsonb')).toBe(true);
    expect(literalFitsColumn(num('1'), 'integer')).toBe(true);
    expect(literalFitsColumn(num('1.5'), 'integer')).toBe(false);
    expect(literalFitsColumn(num('1.5'), 'numeric(10,2)')).toBe(true);
    expect(literalFitsColumn(num('1'), 'boolean')).toBe(false);
    expect(literalFitsColumn(num('007'), 'text')).toBe(false);
    expect(literalFitsColumn(num('-0.0'), 'double precision')).toBe(false);
    expect(literalFitsColumn(num('-1.0'), 'double precision')).toBe(true);
  });
  it('accepts typed literals only of the column type', () => {
    expect(literalFitsColumn({ kind: 'typed', type: 'date', text: 'x' }, 'date')).toBe(true);
    expect(literalFitsColumn({ kind: 'typed', type: 'date', text: 'x' }, 'text')).toBe(false);
    expect(
      literalFitsColumn({ kind: 'typed', type: 'timestamptz', text: 'x' }, 'timestamp(3) with time zone'),
    ).toBe(true);
    expect(literalFitsColumn({ kind: 'typed', type: 'char', text: 'x' }, 'character(3)')).toBe(false);
  });
});

describe('copyTextValue', () => {
  it('escapes backslash, tab, newline, CR and writes NULL as \\N', () => {
    expect(copyTextValue(null)).toBe('\\N');
    expect(copyTextValue('\\N')).toBe('\\\\N');
    expect(copyTextValue('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e');
    expect(copyTextValue('\\.')).toBe('\\\\.');
    expect(copyTextValue('plain é 😀')).toBe('plain é 😀');
  });
});
