import { describe, expect, it } from 'vitest';
import { recordingAdapter } from '../test/helpers.js';
import type { AdapterSession } from './execute/adapter.js';
import { GenericAdapter } from './execute/generic-adapter.js';
import { SQLBatcher } from './sql-batcher.js';

/** `p`, or a rejection after `ms` (a hang is a failure here, not a test timeout). */
function within<T>(p: Promise<T>, ms = 3000): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms)),
  ]);
}

describe('calls from inside a hook of a call in progress (found in review: they waited for themselves)', () => {
  const cases: [string, (b: SQLBatcher) => Promise<unknown>][] = [
    ['addStatement', (b) => b.addStatement('INSERT INTO t VALUES (99)')],
    ['flush', (b) => b.flush()],
    ['rollback', (b) => b.rollback()],
    ['close', (b) => b.close()],
  ];
  for (const [name, call] of cases) {
    it(`${name} from afterBatch during flush() settles`, async () => {
      const { adapter, sent } = recordingAdapter();
      const b = new SQLBatcher({ adapter });
      let once = false;
      b.registerPlugin({
        name: 'reenter',
        async afterBatch() {
          if (once) return;
          once = true;
          await call(b);
        },
      });
      await b.addStatement('INSERT INTO t VALUES (1)');
      await within(b.flush());
      await within(b.close());
      expect(sent[0]?.sql).toBe('INSERT INTO t VALUES (1)');
    });
  }

  it('an async transformStatement that flushes settles', async () => {
    const { adapter } = recordingAdapter();
    const b = new SQLBatcher({ adapter });
    b.registerPlugin({
      name: 'flusher',
      async transformStatement(sql) {
        await b.flush();
        return sql;
      },
    });
    await within(b.addStatement('INSERT INTO t VALUES (1)'));
    await within(b.close());
  });
});

describe("transaction: 'all' after a failure that opened no transaction (found in review)", () => {
  it('a later run begins a new transaction: nothing is left refused', async () => {
    const log: string[] = [];
    let refuse = true;
    const session = async (): Promise<AdapterSession> => {
      if (refuse) {
        refuse = false;
        throw new Error('no connection');
      }
      return {
        execute: async (sql) => {
          log.push(sql);
          return { rowCount: 1 };
        },
        begin: async () => void log.push('BEGIN'),
        commit: async () => void log.push('COMMIT'),
        rollback: async () => void log.push('ROLLBACK'),
        release: async () => undefined,
      };
    };
    const adapter = new GenericAdapter({
      execute: () => undefined,
      session,
      capabilities: { transactions: true },
      classifyError: () => ({ transient: false, effect: 'none' }),
    });
    const b = new SQLBatcher({ adapter, transaction: 'all', retry: false });
    await expect(b.processStatements(['INSERT INTO t VALUES (1)'])).rejects.toThrow();
    await b.rollback();
    await b.processStatements(['INSERT INTO t VALUES (2)']);
    expect(log).toEqual(['BEGIN', 'INSERT INTO t VALUES (2)', 'COMMIT']);
  });
});

describe('a call made after close() began (found in review: buffered and never sent)', () => {
  it('calls made before close() still run: close() waits for them', async () => {
    const { adapter, sent } = recordingAdapter();
    const b = new SQLBatcher({ adapter });
    const adds = [1, 2, 3].map((i) => b.addStatement(`INSERT INTO t VALUES (${i})`));
    await b.close();
    expect(await Promise.all(adds)).toEqual([false, false, false]);
    expect(sent.map((s) => s.sql)).toEqual(['INSERT INTO t VALUES (1),(2),(3)']);
  });

  it("a hook of close()'s last flush may still add a statement", async () => {
    const { adapter, sent } = recordingAdapter();
    const b = new SQLBatcher({ adapter });
    let n = 0;
    b.registerPlugin({
      name: 'audit',
      async afterBatch(info) {
        if (info.statements.some((s) => s.sql.includes('audit'))) return;
        await b.addStatement(`INSERT INTO audit VALUES (${++n})`);
      },
    });
    await b.addStatement('INSERT INTO t VALUES (1)');
    await within(b.close());
    expect(sent.map((s) => s.sql)).toEqual(['INSERT INTO t VALUES (1)', 'INSERT INTO audit VALUES (1)']);
  });

  it('is refused with CLOSED', async () => {
    const { adapter } = recordingAdapter();
    const b = new SQLBatcher({ adapter });
    const closing = b.close();
    await expect(b.addStatement('INSERT INTO t VALUES (1)')).rejects.toMatchObject({ code: 'CLOSED' });
    await closing;
  });
});

describe('close() and rollback() edge cases (found in review)', () => {
  it('a hook that keeps adding statements during close() makes close() say what was not sent', async () => {
    const { adapter } = recordingAdapter();
    const b = new SQLBatcher({ adapter });
    let n = 0;
    b.registerPlugin({
      name: 'chain',
      async afterBatch() {
        if (n < 40) await b.addStatement(`INSERT INTO log VALUES (${++n})`);
      },
    });
    await b.addStatement('INSERT INTO t VALUES (0)');
    const err = (await within(b.close()).catch((e: unknown) => e)) as {
      code?: string;
      notSentIndices?: number[];
    };
    expect(err.code).toBe('CLOSED');
    expect(err.notSentIndices?.length).toBeGreaterThan(0);
  });

  it('a hook of close() that awaits flush() is refused (no hang), with concurrency too', async () => {
    for (const concurrency of [1, 2]) {
      const { adapter } = recordingAdapter({ maxConcurrency: 4 });
      const b = new SQLBatcher({ adapter, concurrency });
      b.registerPlugin({
        name: 'flusher',
        async afterBatch() {
          await b.flush();
        },
      });
      await b.addStatement('INSERT INTO t VALUES (1)');
      // (settles: closed, or refused with CLOSED; never still pending)
      const outcome = await within(b.close()).then(
        () => 'closed',
        (e: Error) => e.message,
      );
      expect(outcome, String(concurrency)).not.toMatch(/still pending/);
    }
  });
});
