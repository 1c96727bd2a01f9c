import { SQLBatcher } from '@sqlbatcher/core';
import pg from 'pg';
import { from } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PostgreSQLAdapter } from './src/index.js';
const N = 300000;
const URL_ = 'postgres://postgres@127.0.0.1:5432/test';
function* gen() { for (let i = 0; i < N; i++) yield `INSERT INTO bench_c2 (id, name, email, created_at) VALUES (${i}, 'User ${i}', 'user${i}@example.com', '2024-01-01 00:00:00+00')`; }
const c = new pg.Client(URL_); await c.connect();
for (const [label, copy, conc] of [['copy c1', true, 1], ['copy c2', true, 2], ['insert c1', false, 1], ['insert c2', false, 2], ['hand', true, 0], ['dry', false, -1]] as const) {
  await c.query('DROP TABLE IF EXISTS bench_c2; CREATE TABLE bench_c2 (id int, name text, email text, created_at timestamptz)');
  const t0 = performance.now();
  if (conc === 0) {
    const s = c.query(from('COPY bench_c2 FROM STDIN'));
    function* lines() { for (let i = 0; i < N; i += 10000) { let x = ''; for (let j = i; j < i + 10000; j++) x += `${j}\tUser ${j}\tuser${j}@example.com\t2024-01-01 00:00:00+00\n`; yield x; } }
    await pipeline(Readable.from(lines()), s);
  } else if (conc === -1) {
    const b = new SQLBatcher({ dryRun: () => undefined });
    await b.processStatements(gen());
  } else {
    const adapter = new PostgreSQLAdapter({ connectionString: URL_, copy });
    const b = new SQLBatcher({ adapter, concurrency: conc });
    await b.processStatements(gen());
    await adapter.close();
  }
  console.log(label, (performance.now() - t0).toFixed(0), 'ms');
}
await c.query('DROP TABLE bench_c2'); await c.end();
