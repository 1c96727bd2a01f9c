import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createYield, type YieldEnvironment } from './yield.js';

describe('createYield', () => {
  it('uses setImmediate when there is one: pending I/O-phase callbacks run before it resolves', async () => {
    const order: string[] = [];
    const y = createYield({ setImmediate, setTimeout });
    setImmediate(() => order.push('immediate queued first'));
    await y();
    order.push('resumed');
    expect(order).toEqual(['immediate queued first', 'resumed']);
  });

  it('without setImmediate, resolves each call in order through one MessageChannel', async () => {
    let channels = 0;
    const env: YieldEnvironment = {
      MessageChannel: class extends MessageChannel {
        constructor() {
          super();
          channels++;
        }
      } as unknown as YieldEnvironment['MessageChannel'],
      setTimeout: () => {
        throw new Error('setTimeout must not be used when MessageChannel exists');
      },
    };
    const y = createYield(env);
    const done: number[] = [];
    await Promise.all([1, 2, 3].map((k) => y().then(() => done.push(k))));
    for (let k = 0; k < 50; k++) await y();
    expect(done).toEqual([1, 2, 3]);
    expect(channels).toBe(1);
  });

  it('falls back to setTimeout(0)', async () => {
    const delays: number[] = [];
    const y = createYield({
      setTimeout: (cb, ms) => {
        delays.push(ms);
        return setTimeout(cb, ms);
      },
    });
    await y();
    expect(delays).toEqual([0]);
  });
});
