import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenericAdapter, SQLBatcher, splitStatementChunks } from '@sqlbatcher/core';

const file = join(tmpdir(), 'sqlbatcher-example.sql');
const rows = Number(process.env.EXAMPLE_ROWS ?? 100_000);
await writeFile(
  file,
  Array.from(
    { length: rows },
    (_, i) => `INSERT INTO t (id, note) VALUES (${i}, 'a;b -- not a comment');\n`,
  ).join(''),
);

let requests = 0;
const adapter = new GenericAdapter({
  execute: async () => {
    requests++;
  },
  maxQuerySize: 256 * 1024,
  dialect: 'postgres',
  capabilities: { multiStatement: true },
});
const batcher = new SQLBatcher({ adapter, maxBytes: 256 * 1024 });
// Only the statements of the chunk being read are in memory, whatever the file's size.
const statements = splitStatementChunks(createReadStream(file, { highWaterMark: 1 << 20 }));
const n = await batcher.processStatements(statements);
console.log(`${n} statements in ${requests} requests`);
