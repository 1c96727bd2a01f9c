import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');
const readmes = [
  join(repo, 'README.md'),
  ...readdirSync(join(repo, 'packages'))
    .map((p) => join(repo, 'packages', p, 'README.md'))
    .filter((f) => existsSync(f)),
];

/** `<!-- example: path -->` followed by a fenced block: the block must be that file, verbatim. */
function linkedBlocks(markdownFile: string): { path: string; code: string }[] {
  const text = readFileSync(markdownFile, 'utf8');
  const out: { path: string; code: string }[] = [];
  const re = /<!-- example: (\S+) -->\n```(?:ts|typescript)\n([\s\S]*?)```/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text))
    out.push({ path: m[1] as string, code: m[2] as string });
  return out;
}

describe('documentation examples', () => {
  const linked = readmes.flatMap((f) =>
    linkedBlocks(f).map((b) => ({ ...b, readme: f.slice(repo.length + 1) })),
  );

  it('README code blocks marked as examples are the example files, verbatim', () => {
    expect(linked.length).toBeGreaterThan(0);
    for (const b of linked)
      expect(b.code, `${b.readme} → ${b.path}`).toBe(readFileSync(join(repo, b.path), 'utf8'));
  });

  for (const path of [...new Set(linked.map((b) => b.path))]) {
    it(`${path} runs`, () => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', join(repo, path)], {
        encoding: 'utf8',
        cwd: dirname(join(repo, path)),
        env: { ...process.env, EXAMPLE_ROWS: '2000' },
        timeout: 120_000,
      });
      expect(r.stderr).not.toMatch(/Error/);
      expect(r.status).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(0);
    }, 130_000);
  }
});

describe("the top-level README's CLI commands", () => {
  it("`npm run -s sqlbatcher -- …` runs this clone's CLI in the caller's directory (found in review: `npx sqlbatcher` named no package)", async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'sqlbatcher-readme-'));
    try {
      // (what `npm run -s sqlbatcher -- generate …` runs, with npm's INIT_CWD naming the caller's directory)
      const r = spawnSync(
        process.execPath,
        [join(repo, 'scripts', 'run.mjs'), 'cli', 'generate', '--rows', '3', '--out', 'users.sql'],
        { cwd: repo, env: { ...process.env, INIT_CWD: dir }, encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
      const dump = readFileSync(join(dir, 'users.sql'), 'utf8');
      expect(dump.match(/^INSERT INTO users/gm)).toHaveLength(3);
      const readme = readFileSync(join(repo, 'README.md'), 'utf8');
      expect(readme).toContain('npm run -s sqlbatcher -- generate --rows 1000000 --out users.sql');
      expect(JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).scripts.sqlbatcher).toBe(
        'node scripts/run.mjs cli',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
