// Users who install the adapter without trino-client must be able to import it; only using it fails,
// with a clear error. Run the adapter's sources in a directory where only @sqlbatcher/core resolves.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, '../..');

it('imports without trino-client and fails only on use, with an install hint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sqlbatcher-trino-lazy-'));
  try {
    cpSync(join(pkg, 'src'), join(dir, 'src'), { recursive: true });
    mkdirSync(join(dir, 'node_modules', '@sqlbatcher'), { recursive: true });
    symlinkSync(
      join(pkg, 'node_modules', '@sqlbatcher', 'core'),
      join(dir, 'node_modules', '@sqlbatcher', 'core'),
    );
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    writeFileSync(
      join(dir, 'main.ts'),
      `import { TrinoAdapter } from './src/index.js';
const adapter = new TrinoAdapter({ host: 'localhost', port: 1, user: 'u' });
const err = await adapter.execute('SELECT 1').catch((e) => e);
console.log(JSON.stringify({ name: err.name, code: err.code, message: err.message, c: adapter.classifyError(err) }));`,
    );
    const tsx = createRequire(join(pkg, 'package.json')).resolve('tsx/cli');
    const out = await new Promise<string>((ok, fail) =>
      execFile(process.execPath, [tsx, 'main.ts'], { cwd: dir }, (error, stdout, stderr) =>
        error ? fail(new Error(`${error.message}\n${stderr}`)) : ok(stdout),
      ),
    );
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(result).toMatchObject({ name: 'ConfigurationError', code: 'CONFIGURATION' });
    expect(result.message).toContain('npm i trino-client');
    expect(result.c).toEqual({ transient: false, effect: 'none' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 30_000);
