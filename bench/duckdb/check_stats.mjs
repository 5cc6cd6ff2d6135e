#!/usr/bin/env node
// Compares the backfill summaries of Tessera and DuckDB (bench/run.sh):
//
//   node check_stats.mjs tessera-stats.json duckdb-backfill.json
//
// tessera-stats.json: `tessera stats VIEW --json`; duckdb-backfill.json: offline.mjs backfill
// --out. For every feature DuckDB summarised: count and nulls must be equal; min and max
// equal (as text for strings; within 1e-9 relative for float64 features, sums and means that
// DuckDB rounds in an order of its own); the mean within 1e-9 relative (Tessera's is exactly
// rounded, DuckDB's a floating-point sum). Prints a summary on stderr and a JSON object
// on stdout: {"features", "values", "mismatches", "details": [...]}. Exit 0 equal, 1 not, 2 usage.
import fs from 'node:fs';

if (process.argv.length !== 4) {
  process.stderr.write('usage: node check_stats.mjs tessera-stats.json duckdb-backfill.json\n');
  process.exit(2);
}
const tess = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const duck = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
const byName = new Map(tess.features.map((f) => [f.name, f]));
const res = { features: 0, values: 0, mismatches: 0, details: [] };
const same = (a, b, tol) => {
  if (a === null || b === null || a === undefined || b === undefined) return a == b; // eslint-disable-line eqeqeq
  const x = Number(a);
  const y = Number(b);
  if (Number.isNaN(x) || Number.isNaN(y)) return String(a) === String(b);
  if (x === y) return true;
  return Math.abs(x - y) <= tol * Math.max(Math.abs(x), Math.abs(y));
};
for (const d of duck.features) {
  const t = byName.get(d.name);
  res.features++;
  if (!t) {
    res.mismatches++;
    res.details.push(`${d.name}: not in Tessera's statistics`);
    continue;
  }
  // min and max of a float feature (a sum, a mean) carry the same last-bit differences as its
  // values: within 1e-9 relative, like the mean; counts and integers exactly
  const ftol = t.type === 'float64' ? 1e-9 : 0;
  for (const [k, tol] of [['count', 0], ['nulls', 0], ['min', ftol], ['max', ftol], ['mean', 1e-9]]) {
    res.values++;
    if (!same(t[k], d[k], tol)) {
      res.mismatches++;
      res.details.push(`${d.name}.${k}: tessera ${t[k]} vs duckdb ${d[k]}`);
    }
  }
}
for (const m of res.details) process.stderr.write(`check_stats: ${m}\n`);
process.stderr.write(
  `check_stats: ${res.features} features, ${res.values} values: ${res.mismatches ? `${res.mismatches} MISMATCHES` : 'equal'}\n`,
);
process.stdout.write(JSON.stringify(res) + '\n');
process.exit(res.mismatches ? 1 : 0);
