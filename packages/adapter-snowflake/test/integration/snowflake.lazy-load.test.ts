/**
 * The adapter must not load snowflake-sdk (a peer dependency) until it connects: importing the
 * package and constructing an adapter leaves the driver unloaded.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);

it('imports and constructs without loading snowflake-sdk', async () => {
  const entry = fileURLToPath(new URL('../../src/index.ts', import.meta.url));
  const script = `
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    const { SnowflakeAdapter } = await import(${JSON.stringify(entry)});
    const adapter = new SnowflakeAdapter({ account: 'acme', username: 'u', password: 'p' });
    const loaded = () => Object.keys(require('node:module')._cache).some((k) => k.includes('snowflake-sdk'));
    console.log(JSON.stringify({ maxRows: adapter.capabilities.maxRowsPerInsert, loaded: loaded() }));
    await adapter.close();
  `;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
  });
  const last = stdout.trim().split('\n').at(-1) ?? '';
  expect(JSON.parse(last)).toEqual({ maxRows: 16_384, loaded: false });
});
