#!/usr/bin/env node
// Turns bench/results/*.json (written by each package's benchmark) into bench/results.md and
// bench/chart.svg (rows/s per method, log scale). Run by `npm run bench` after the benchmarks.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'bench', 'results');
if (!existsSync(dir)) {
  console.error('no bench/results: run the package benchmarks first');
  process.exit(1);
}
const results = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ name: f.replace(/\.json$/, ''), ...JSON.parse(readFileSync(join(dir, f), 'utf8')) }));

const fmt = (n, d = 0) =>
  n === undefined || n === null
    ? ''
    : Number(n).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
let md =
  '# Benchmark results\n\nWritten by `npm run bench` (scripts/bench-report.mjs). Ratios are measured in the same run.\n';
for (const r of results) {
  md += `\n## ${r.title}\n\n${r.machine}; ${r.date}\n\n| method | rows | seconds | rows/s | requests | fill | peak RSS (MB) | note |\n|---|---:|---:|---:|---:|---:|---:|---|\n`;
  for (const row of r.rows) {
    md += `| ${row.method} | ${fmt(row.rows)} | ${fmt(row.seconds, 2)} | ${fmt(row.rows / row.seconds)} | ${fmt(row.requests)} | ${row.fillRatio === undefined ? '' : `${(row.fillRatio * 100).toFixed(1)}%`} | ${fmt(row.peakRssMb)} | ${row.note ?? ''} |\n`;
  }
  if (r.ratios?.length) {
    md += '\n| ratio | value | note |\n|---|---:|---|\n';
    for (const x of r.ratios) md += `| ${x.what} | ${fmt(x.value, 2)}× | ${x.note ?? ''} |\n`;
  }
}
md += '\n![rows per second by method](chart.svg)\n';
writeFileSync(join(root, 'bench', 'results.md'), md);

// Chart: one bar per (result, method) listed in result.chart, log-scaled rows/s.
const bars = [];
for (const r of results) {
  // Only results that name their chart methods are drawn, in the order named.
  for (const method of r.chart ?? []) {
    const row = r.rows.find((x) => x.method === method);
    if (row) bars.push({ label: `${r.name}: ${row.method}`, value: row.rows / row.seconds });
  }
}
const W = 860;
const left = 300;
const barH = 22;
const gap = 8;
const H = 50 + bars.length * (barH + gap);
const max = Math.max(...bars.map((b) => b.value), 10);
const lo = 1e3 > max ? 1 : 1e3;
const scale = (v) =>
  ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(max) - Math.log10(lo) || 1)) *
  (W - left - 120);
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="13">\n<rect width="100%" height="100%" fill="white"/>\n<text x="10" y="22" font-size="15" font-weight="bold">Rows per second by method (log scale)</text>\n`;
bars.forEach((b, i) => {
  const y = 40 + i * (barH + gap);
  svg += `<text x="${left - 8}" y="${y + 15}" text-anchor="end">${esc(b.label)}</text>\n<rect x="${left}" y="${y}" width="${Math.max(2, scale(b.value)).toFixed(1)}" height="${barH}" fill="#3b6ea5"/>\n<text x="${left + Math.max(2, scale(b.value)) + 6}" y="${y + 15}">${fmt(b.value)}</text>\n`;
});
svg += '</svg>\n';
writeFileSync(join(root, 'bench', 'chart.svg'), svg);
console.log(`wrote bench/results.md and bench/chart.svg (${results.length} benchmarks, ${bars.length} bars)`);
