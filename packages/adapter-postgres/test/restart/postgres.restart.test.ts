/**
 * A real server restart in the middle of a run (`pg_ctlcluster … restart`, fast mode: transactions
 * rolled back, clients disconnected, connections refused until it is back). CI only: it restarts the
 * server every other test uses, so it runs in its own vitest pass after the main suite
 * (`vitest.restart.config.ts`). PG_RESTART_CMD overrides the command (e.g. `pg_ctl … restart` on a
 * private test cluster) and enables the test outside CI.
 */
import { exec } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { SQLBatcher } from '@sqlbatcher/core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PostgreSQLAdapter } from '../../src/index.js';

const PG_URL = process.env.PG_URL;
const enabled = !!PG_URL && (!!process.env.CI || !!process.env.PG_RESTART_CMD);
if (!enabled) {
  console.info(
    '[adapter-postgres tests] server-restart test skipped: it restarts the PostgreSQL server, so it runs only in CI (CI=1 with PG_URL) or with PG_RESTART_CMD',
  );
}

function restartCommand(): string {
  if (process.env.PG_RESTART_CMD) return process.env.PG_RESTART_CMD;
  const version = readdirSync('/etc/postgresql').sort()[0];
  return `pg_ctlcluster --skip-systemctl-redirect ${version} main restart`;
}

/** A fresh connection per call: the restart kills long-lived ones. */
async function sql<T = Record<string, unknown>>(text: string): Promise<T[]> {
  for (let attempt = 0; ; attempt++) {
    const c = new pg.Client({ connectionString: PG_URL });
    try {
      await c.connect();
      return (await c.query(text)).rows as T[];
    } catch (err) {
      if (attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await c.end().catch(() => undefined);
    }
  }
}

const N = 20_000;

describe.runIf(enabled)('server restart during a run', () => {
  it("transaction: 'batch' with retries: every row exactly once, or its batch reported in doubt", async () => {
    const schema = `t_restart_${process.pid}_${Date.now().toString(36)}`;
    await sql(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.r (id int NOT NULL, v text)`);
    const adapter = new PostgreSQLAdapter({
      connectionString: PG_URL!,
      maxSize: 2,
      connectAttempts: 12,
      connectRetryDelayMs: 100,
    });
    let restart: Promise<{ stdout: string }> | undefined;
    const batcher = new SQLBatcher({
      adapter,
      transaction: 'batch',
      onError: 'skip',
      maxBytes: 8_000,
      retry: { maxAttempts: 10, initialDelayMs: 200, factor: 1.5, maxDelayMs: 3_000, jitter: false },
      plugins: [
        {
          name: 'restarter',
          afterBatch: (info) => {
            if (info.id === 3) restart = promisify(exec)(restartCommand());
          },
        },
      ],
    });
    const statements = Array.from(
      { length: N },
      (_, i) => `INSERT INTO ${schema}.r (id, v) VALUES (${i}, 'row ${i}')`,
    );
    try {
      await batcher.processStatements(statements);
      await restart;
    } finally {
      await batcher[Symbol.asyncDispose]().catch(() => undefined);
      await adapter.close();
    }
    expect(restart).toBeDefined();
    console.info(
      '[restart test] report',
      JSON.stringify({
        retries: batcher.report.retries,
        inDoubt: batcher.report.inDoubt.length,
        requests: batcher.report.requests,
      }),
    );
    expect(batcher.report.rejected).toEqual([]);
    // The restart ended the batcher's connection: something failed and was retried, or is in doubt.
    expect(batcher.report.retries + batcher.report.inDoubt.length).toBeGreaterThanOrEqual(1);

    const rows = await sql<{ id: number; n: number }>(
      `SELECT id, count(*)::int AS n FROM ${schema}.r GROUP BY id`,
    );
    const counts = new Map(rows.map((r) => [r.id, r.n]));
    const doubtful = new Set(batcher.report.inDoubt.flatMap((d) => d.indices));
    for (let i = 0; i < N; i++) if (!doubtful.has(i)) expect(counts.get(i), `row ${i}`).toBe(1);
    for (const d of batcher.report.inDoubt) {
      const present = d.indices.filter((i) => counts.get(i) === 1).length;
      expect([0, d.indices.length]).toContain(present);
    }
    await sql(`DROP SCHEMA ${schema} CASCADE`);
  }, 120_000);
});
