/**
 * `GenericAdapter` through the shared conformance suite, twice: as a single-statement adapter (the
 * default capabilities) and declaring PGlite's real multi-statement, atomic behaviour. Failures are
 * injected by the execute function itself: the next request is refused before it reaches the database.
 */
import { PGlite } from '@electric-sql/pglite';
import { GenericAdapter, type GenericAdapterOptions } from '@sqlbatcher/core';
import { runAdapterConformance } from '../src/index.js';

class Refused extends Error {
  readonly code = 'ECONNREFUSED';
}

function target(capabilities: GenericAdapterOptions['capabilities']) {
  return async () => {
    const db = new PGlite();
    await db.waitReady;
    let refuseNext = 0;
    const adapter = new GenericAdapter({
      name: 'generic-pglite',
      dialect: 'postgres',
      maxQuerySize: 200_000,
      ...(capabilities ? { capabilities } : {}),
      execute: async (sql) => {
        if (refuseNext > 0) {
          refuseNext--;
          throw new Refused('connect ECONNREFUSED (injected)');
        }
        const results = await db.exec(sql);
        return { rowCount: results.reduce((n, r) => Math.max(n, r.affectedRows ?? 0), 0) };
      },
      // PGlite runs a multi-statement string in one implicit transaction: a SQL error rolls it back.
      classifyError: (err) =>
        err instanceof Refused
          ? { transient: true, effect: 'none' }
          : { transient: false, effect: 'rolled-back' },
    });
    return {
      adapter,
      createTable: async (name: string) =>
        void (await db.exec(`CREATE TABLE ${name} (id integer, name text)`)),
      rows: async (name: string) =>
        (await db.query<{ id: number; name: string }>(`SELECT id, name FROM ${name}`)).rows,
      injectTransientFailure: () => {
        refuseNext = 1;
      },
      teardown: () => db.close(),
    };
  };
}

runAdapterConformance('GenericAdapter (single statement per request)', target(undefined));
runAdapterConformance(
  'GenericAdapter (multi-statement, atomic)',
  target({ multiStatement: true, atomicMultiStatement: true }),
);
