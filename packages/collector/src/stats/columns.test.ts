import { describe, expect, it } from 'vitest';
import { insertColumnCount } from './columns.js';

describe('insertColumnCount', () => {
  it.each([
    ['INSERT INTO users (id, name, email) VALUES (1, $$a, b$$, 3)', 3],
    ['  -- c (x, y)\n/* (z) /* nested */ */ insert into s."T" ("a,b", `c`, [d e]) values (1,2,3)', 3],
    ['INSERT t (a) VALUES (1)', 1],
    ['INSERT INTO t VALUES (1, 2)', undefined],
    ['INSERT INTO t (a, 1) VALUES (1, 2)', undefined],
    ['UPDATE t SET a = 1', undefined],
    ['INSERT INTO t ("unterminated', undefined],
  ])('%s', (sql, expected) => {
    expect(insertColumnCount(sql)).toBe(expected);
  });
});
