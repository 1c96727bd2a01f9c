import { describe, expect, it } from 'vitest';
import { DIALECTS } from '../lexer/dialect.js';
import { conflictKey } from './conflict-key.js';

const key = (v: string) => conflictKey(`(${v}, 'x')`, [0], DIALECTS.postgres);

describe('conflictKey', () => {
  it('gives literals the engine may coerce to the same value the same key', () => {
    const same: string[][] = [
      ['1', '01', "'1'", "' 1 '", '+1', "'t'", "'tr'", "'true'", 'TRUE', "'yes'", "'ye'", "'on'"],
      ['0', "'f'", "'fa'", "'of'", "'no'", 'FALSE'],
      ["'abc'", "'ABC'", "' abc '"],
      ["'2024-01-02'", "'2024-1-2'"],
      ["'café'", "'CAFE'", "'cafe\u0301'"],
      ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}'"],
    ];
    for (const group of same) {
      const keys = group.map(key);
      expect(keys[0], group.join(' ')).toBeDefined();
      for (const k of keys) expect(k, group.join(' ')).toBe(keys[0]);
    }
  });

  it('keeps provably different literals apart', () => {
    const distinct = [
      '1',
      '2',
      '10',
      '123456789012345',
      "'abc'",
      "'abd'",
      "'2024-01-03'",
      "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12'",
    ];
    expect(new Set(distinct.map(key)).size).toBe(distinct.length);
  });

  it('is undefined for letters beyond ASCII that are not an ASCII letter with accents (ICU at its most lenient makes ß = ss, æ = ae, ø = o, ł = l)', () => {
    for (const v of ["'straße'", "'æble'", "'søren'", "'łódź'", "'東京'"]) {
      expect(key(v), v).toBeUndefined();
    }
    // (the ASCII spelling is still compared; compatibility forms fold into it)
    expect(key("'strasse'")).toBeDefined();
    expect(key("'ｆｕｌｌ'")).toBe(key("'FULL'"));
  });

  it("is undefined for continued strings ('1' '0' is '10') and money amounts ('$1,000' is 1000)", () => {
    for (const v of ["'1'\n'0'", "'1' -- c\n'0'", "'$1,000'", "'1,000'", "'$1'"]) {
      expect(key(v), v).toBeUndefined();
    }
  });

  it('is undefined for times of day and for JSON, arrays and ranges (equal values are written many ways)', () => {
    for (const v of [
      "'2024-01-01 01:00:00+01'",
      "'2024-01-01T00:00:00Z'",
      "'2024-01-01 00:00 UTC'",
      "'1:00 pm'",
      "'10:00-05:00'",
      // equal as timestamp: 'T' or ' ', 24:00 is the next midnight, a leap second, rounded fractions
      "'2024-01-01T10:00:00'",
      "'2024-01-01 10:00:00'",
      "'2024-01-01 24:00:00'",
      "'2024-01-01 23:59:60'",
      "'2024-01-01 10:00:00.0000001'",
      // equal as date: the time is dropped, and the zone; an era; other spellings of the day
      "'2024-01-02 10:00'",
      "'2024-01-02 AD'",
      "'2024-01-02+05'",
      "'2024-01-02 UTC'",
      "'01/02/2024'",
      "'Jan 2 2024'",
      "'Tuesday, January 2, 2024'",
      // equal as jsonb / numeric[] / int4range
      `'{"a": 1e1}'`,
      `'{"a": 10}'`,
      "'{1.0}'",
      "'[1,2)'",
      "'(1,2)'",
    ]) {
      expect(key(v), v).toBeUndefined();
    }
    expect(key("'2024-01-02'")).toBeDefined();
    expect(key("'{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}'")).toBeDefined();
  });

  it('is undefined for what it cannot prove: expressions, casts, exponents, fractions, special words, intervals, addresses', () => {
    for (const v of [
      '1e1',
      '0x0A',
      '1_000',
      "'1e1'",
      "'0x1'",
      'now()',
      '$1',
      "'a'::text",
      "E'\\\\x'",
      "'a\\\\b'",
      'id + 1',
      // fractions round into integer and numeric(p, s) keys (1.5 and 2 meet), floats in their own ways
      '1.5',
      '1.0',
      '.5',
      "'0.50'",
      // past 15 digits a double precision key rounds
      '1234567890123456',
      // special words, Julian days, intervals, network addresses, ISO durations
      "'epoch'",
      "'J2451545'",
      "'allballs'",
      "'inf'",
      "'Infinity'",
      "'1 hour'",
      "'60 minutes'",
      "'1d'",
      "'2 days ago'",
      "'P1D'",
      "'10.0.0.1'",
      "'10.0.0.1/32'",
      "'10/8'",
      "'o'",
      // expressions and casts that start with a digit (2::int = 1 + 1 = 2)
      '2::int',
      '1 + 1',
      '2 ::int',
      // every unit spelling interval input takes ('1 msec' = '1000 usec')
      "'1 msec'",
      "'1000 usec'",
      "'1 mseconds'",
      "'1 useconds'",
      "'2 mil'",
      "'2 mils'",
      "'1 c'",
      "'1 cent'",
      "'3 decs'",
      "'1 dec'",
      "'1 qtr'",
      "'5 millisecon'",
      "'5 microseconds'",
      // units run on or after a comma, and words past the ten characters the server reads
      "'2h0m'",
      "'1h60m'",
      "'1,hour'",
      "'60,min'",
      "'1 millenniums'",
      "'1 millenniumz'",
    ]) {
      expect(key(v), v).toBeUndefined();
    }
  });
});
