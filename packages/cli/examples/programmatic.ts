import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateDump, load } from '@sqlbatcher/cli';

const file = join(tmpdir(), 'sqlbatcher-users.sql');
await generateDump({ rows: Number(process.env.EXAMPLE_ROWS ?? 10_000) }, file);

const result = await load({ file, url: 'pglite:memory', report: 'none', progress: 'off' });
console.log(result.exitCode, result.statements, result.requests, result.rowsAffected);
