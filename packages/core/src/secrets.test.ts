import { describe, expect, it } from 'vitest';
import { GenericAdapter } from './execute/generic-adapter.js';
import type { QueryRecord } from './execute/plugin.js';
import { SQLBatcher } from './sql-batcher.js';

/** An engine that fails every statement with a message quoting `quote(sql)`, as PostgreSQL quotes values. */
function failing(quote: (sql: string) => string) {
  return new GenericAdapter({
    dialect: 'postgres',
    execute: (sql) => {
      if (sql.startsWith('INSERT')) return { rowCount: 1 };
      throw new Error(`syntax error at or near "${quote(sql)}"`);
    },
  });
}

describe('credentials in errors and collector records (found in review)', () => {
  const secret = 'Sup3rSecretA';
  const role = `CREATE ROLE u LOGIN PASSWORD "${secret}"`;

  it("are masked in the error's message when the engine quotes them", async () => {
    const records: QueryRecord[] = [];
    const batcher = new SQLBatcher({
      adapter: failing(() => `"${secret}"`),
      collector: { record: (r) => records.push(r) },
    });
    const err = (await batcher.processStatements([role]).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('BatchExecutionError');
    expect(err.message).toContain('syntax error at or near');
    expect(err.message).not.toContain(secret);
    expect(records).toHaveLength(1);
    expect(JSON.stringify(records[0])).not.toContain(secret);
    expect(records[0]?.sql).toBe('CREATE ROLE u LOGIN PASSWORD "***"');
  });

  it('are masked in an engine message that holds a connection string', async () => {
    const records: QueryRecord[] = [];
    const batcher = new SQLBatcher({
      adapter: failing(() => 'postgres://bob:Sup3rSecretC@host/db'),
      collector: { record: (r) => records.push(r) },
    });
    const err = (await batcher
      .processStatements(["SELECT 'postgres://bob:Sup3rSecretC@host/db'::int"])
      .catch((e: unknown) => e)) as Error;
    expect(err.message).not.toContain('Sup3rSecretC');
    expect(err.message).toContain('postgres://bob:***@host/db');
    expect(JSON.stringify(records)).not.toContain('Sup3rSecretC');
  });

  it("keep a dry run's SQL exact (it is the script it stands for) and an INSERT's rows as sent (data)", async () => {
    const records: QueryRecord[] = [];
    const dry = new SQLBatcher({ dryRun: true, collector: { record: (r) => records.push(r) } });
    await dry.processStatements([`ALTER USER u PASSWORD '${secret}'`]);
    expect(records[0]?.sql).toBe(`ALTER USER u PASSWORD '${secret}'`);
    records.length = 0;
    const load = new SQLBatcher({
      adapter: failing(() => ''),
      collector: { record: (r) => records.push(r) },
    });
    await load.processStatements(["INSERT INTO dsn (v) VALUES ('password=kept-as-data')"]);
    expect(records[0]?.sql).toContain('password=kept-as-data');
  });
});
