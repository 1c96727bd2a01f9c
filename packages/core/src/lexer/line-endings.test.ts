import { describe, expect, it } from 'vitest';
import { GenericAdapter } from '../execute/generic-adapter.js';
import { SQLBatcher } from '../sql-batcher.js';
import { splitStatements } from './split.js';
import { lexStatement } from './statement.js';

describe('line comments end at CR as well as LF (as in PostgreSQL)', () => {
  it('a lone CR does not hide the next statement from the splitter', () => {
    expect(splitStatements('-- note\rSELECT 1; SELECT 2;')).toEqual(['-- note\rSELECT 1', 'SELECT 2']);
    expect(splitStatements('SELECT 1 -- a;\r\nSELECT 2')).toEqual(['SELECT 1 -- a;\r\nSELECT 2']);
  });

  it('text after a CR-terminated comment is never dropped by the merger', async () => {
    const sent: string[] = [];
    const adapter = new GenericAdapter({
      execute: (sql) => {
        sent.push(sql);
      },
      dialect: 'postgres',
      capabilities: { multiStatement: true },
    });
    const batcher = new SQLBatcher({ adapter });
    await batcher.processStatements([
      'INSERT INTO t (a) VALUES (1) -- note\rDELETE FROM t',
      'INSERT INTO t (a) VALUES (2)',
    ]);
    expect(sent.join('\n')).toContain('DELETE FROM t');
    expect(lexStatement('INSERT INTO t (a) VALUES (1) -- x\r').insert?.tail).toBe('');
  });
});
