import { describe, expect, it } from 'vitest';
import { describeStatement, normaliseTableName } from './statement-info.js';

describe('describeStatement', () => {
  it.each([
    ['INSERT INTO Users (id) VALUES (1)', 'INSERT', 'users'],
    ['insert into public."Users" values (1)', 'INSERT', 'public."Users"'],
    ['/* INSERT INTO fake */ -- UPDATE x\n UPDATE ONLY s.t SET a = 1', 'UPDATE', 's.t'],
    ['DELETE FROM `db`.`t` WHERE id = 1', 'DELETE', '`db`.`t`'],
    ['TRUNCATE TABLE logs', 'TRUNCATE', 'logs'],
    ['CREATE TEMP TABLE IF NOT EXISTS "a""b" (id int)', 'CREATE', '"a""b"'],
    ['CREATE OR REPLACE TRANSIENT TABLE x AS SELECT 1', 'CREATE', 'x'],
    ['ALTER TABLE IF EXISTS ONLY t ADD COLUMN c int', 'ALTER', 't'],
    ['DROP TABLE IF EXISTS t', 'DROP', 't'],
    ['CREATE INDEX i ON t (a)', 'CREATE', undefined],
    ['MERGE INTO tgt USING src ON …', 'MERGE', 'tgt'],
    ['COPY t (a) FROM STDIN', 'COPY', 't'],
    ['WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x', 'WITH', undefined],
    ['SELECT 1', 'SELECT', undefined],
    ['  ', 'UNKNOWN', undefined],
    ['/* unterminated', 'UNKNOWN', undefined],
  ])('%s', (sql, kind, table) => {
    expect(describeStatement(sql)).toEqual({ kind, table });
  });

  it('normalises table names the same way', () => {
    expect(normaliseTableName('Public.USERS')).toBe('public.users');
    expect(normaliseTableName('"Public".users')).toBe('"Public".users');
  });
});
