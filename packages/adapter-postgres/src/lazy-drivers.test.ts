import { describe, expect, it, vi } from 'vitest';

const loaded = vi.hoisted(() => new Set<string>());

vi.mock('pg', () => {
  loaded.add('pg');
  return { default: { Pool: class {} } };
});
vi.mock('pg-copy-streams', () => {
  loaded.add('pg-copy-streams');
  return { from: () => undefined };
});
vi.mock('@electric-sql/pglite', () => {
  loaded.add('@electric-sql/pglite');
  return { PGlite: class {} };
});

describe('drivers are optional peers', () => {
  it('importing the adapter (and building one around an existing client) loads no driver', async () => {
    const { PostgreSQLAdapter } = await import('./index.js');
    const fakePglite = {
      exec: async () => [],
      query: async () => ({ rows: [] }),
      waitReady: Promise.resolve(),
    };
    const a = new PostgreSQLAdapter({ pglite: fakePglite as never });
    await a.execute('SELECT 1');
    await a.close();
    expect([...loaded]).toEqual([]);
  });

  it('loads pg only when the adapter has to create a pool', async () => {
    const { PostgreSQLAdapter } = await import('./index.js');
    const a = new PostgreSQLAdapter({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
    // The mocked Pool is not a usable pool: the failure is reported as "nothing was sent".
    const err = await a.execute('SELECT 1').catch((e: unknown) => e);
    expect(a.classifyError(err)).toEqual({ transient: false, effect: 'none' });
    await a.close();
    expect([...loaded]).toEqual(['pg']);
  });

  it('loads pg-copy-streams up front when copy: true needs it', async () => {
    const { PostgreSQLAdapter } = await import('./index.js');
    const a = new PostgreSQLAdapter({ connectionString: 'postgres://nobody@127.0.0.1:1/none', copy: true });
    await a.close();
    expect([...loaded].sort()).toEqual(['pg', 'pg-copy-streams']);
  });
});
