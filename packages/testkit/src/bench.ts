import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One measured method of a benchmark. */
export interface BenchRow {
  /** e.g. `one-by-one`, `merged`, `COPY fast path`. */
  method: string;
  rows: number;
  seconds: number;
  requests?: number;
  /** Average request bytes / ceiling, 0–1. */
  fillRatio?: number;
  peakRssMb?: number;
  /** e.g. `extrapolated from 20,000`. */
  note?: string;
}

/** A benchmark's results, written for the root report (`pnpm bench` → bench/results.md + chart). */
export interface BenchResult {
  title: string;
  rows: BenchRow[];
  /** Methods to show in the rows/s chart (default: all). */
  chart?: string[];
  /** Ratios between methods measured in the same run (shown under the rows). */
  ratios?: { what: string; value: number; note?: string }[];
}

/** The machine a result was measured on. */
export function machine(): string {
  const c = cpus();
  return `${c.length} × ${c[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`;
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Write `bench/results/<name>.json` at the repository root. */
export function writeBenchResult(name: string, result: BenchResult): string {
  const file = join(repoRoot, 'bench', 'results', `${name}.json`);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    `${JSON.stringify({ ...result, machine: machine(), date: new Date().toISOString() }, null, 2)}\n`,
  );
  return file;
}

/** Pass/fail checks of a benchmark run: every failed check is listed, and the run exits non-zero. */
export class BenchChecks {
  readonly failures: string[] = [];

  check(ok: boolean, what: string): void {
    if (!ok) this.failures.push(what);
  }

  /** Print the verdict; exit with status 1 when a check failed. */
  finish(): void {
    if (this.failures.length > 0) {
      console.error(`\nFAILED:\n  ${this.failures.join('\n  ')}`);
      process.exit(1);
    }
    console.log('\nall checks passed');
  }
}

/** Print a title and aligned `key  value` lines. */
export function printKeyValues(title: string, table: readonly (readonly [string, string])[]): void {
  const width = Math.max(...table.map(([k]) => k.length));
  console.log(`\n${title}\n`);
  for (const [k, v] of table) console.log(`  ${k.padEnd(width)}  ${v}`);
}
