#!/usr/bin/env node
// Compares two training sets cell by cell: Tessera's and DuckDB's (bench/run.sh).
//
//   node check.mjs tessera.csv duckdb.csv [--max-report N] [--float-tol 1e-9]
//
// Both files must have the same header and the same rows in the same order (the labels'
// order). Cells are equal when their text is equal, or when both parse as numbers and differ
// by at most float-tol relatively (|a - b| <= tol * max(|a|, |b|)): Tessera's float sums and
// means are exactly rounded, DuckDB's are summed in floating point in an order of its own and
// may differ in the last bits. Integers (counts) and strings must be identical; an empty cell
// (null) equals only an empty cell. Prints a summary line (and the first mismatches) on stderr,
// and a JSON object on stdout: {"rows", "cells", "mismatches", "float_inexact",
// "max_rel_diff", "by_column": {...}}. Exit status: 0 equal, 1 mismatches, 2 usage or I/O.
import fs from 'node:fs';
import readline from 'node:readline';

const args = process.argv.slice(2);
let maxReport = 10;
let tol = 1e-9;
const files = [];
while (args.length) {
  const a = args.shift();
  if (a === '--max-report') maxReport = Number(args.shift());
  else if (a === '--float-tol') tol = Number(args.shift());
  else files.push(a);
}
if (files.length !== 2 || !(tol >= 0)) {
  process.stderr.write('usage: node check.mjs A.csv B.csv [--max-report N] [--float-tol T]\n');
  process.exit(2);
}

// CSV lines as written by both tools: quoted fields only when needed ("" inside quotes).
function split(line) {
  if (!line.includes('"')) return line.split(',');
  const out = [];
  let cur = '';
  let inq = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inq) {
      if (c === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (c === '"') inq = false;
      else cur += c;
    } else if (c === '"') inq = true;
    else if (c === ',') out.push(cur), (cur = '');
    else cur += c;
  }
  out.push(cur);
  return out;
}

const NUM = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(inf|infinity|nan)$/i;
const INT = /^[-+]?\d+$/;

async function* lines(path) {
  const rl = readline.createInterface({ input: fs.createReadStream(path), crlfDelay: Infinity });
  for await (const l of rl) yield l;
}

const ia = lines(files[0])[Symbol.asyncIterator]();
const ib = lines(files[1])[Symbol.asyncIterator]();
const ha = (await ia.next()).value;
const hb = (await ib.next()).value;
if (ha === undefined || hb === undefined) {
  process.stderr.write('check: an empty file\n');
  process.exit(2);
}
const cols = split(ha);
const res = { rows: 0, cells: 0, mismatches: 0, float_inexact: 0, max_rel_diff: 0, by_column: {} };
const report = [];
const miss = (row, col, a, b) => {
  res.mismatches++;
  res.by_column[col] = (res.by_column[col] || 0) + 1;
  if (report.length < maxReport) report.push(`row ${row}, column ${col}: "${a}" vs "${b}"`);
};
if (ha !== hb) {
  miss(0, 'header', ha, hb);
} else {
  for (;;) {
    const [ra, rb] = await Promise.all([ia.next(), ib.next()]);
    if (ra.done || rb.done) {
      if (!ra.done || !rb.done) miss(res.rows + 1, 'row count', ra.done ? 'end' : 'row', rb.done ? 'end' : 'row');
      break;
    }
    res.rows++;
    const a = split(ra.value);
    const b = split(rb.value);
    if (a.length !== b.length || a.length !== cols.length) {
      miss(res.rows, 'field count', a.length, b.length);
      continue;
    }
    for (let i = 0; i < a.length; i++) {
      res.cells++;
      const x = a[i];
      const y = b[i];
      if (x === y) continue;
      if (x !== '' && y !== '' && NUM.test(x) && NUM.test(y)) {
        if (INT.test(x) && INT.test(y)) {
          if (BigInt(x) !== BigInt(y)) miss(res.rows, cols[i], x, y);
          continue;
        }
        const fx = Number(x);
        const fy = Number(y);
        if (fx === fy || (Number.isNaN(fx) && Number.isNaN(fy))) continue;
        const rel = Math.abs(fx - fy) / Math.max(Math.abs(fx), Math.abs(fy));
        if (rel <= tol) {
          res.float_inexact++;
          if (rel > res.max_rel_diff) res.max_rel_diff = rel;
          continue;
        }
      }
      miss(res.rows, cols[i], x, y);
    }
  }
}
for (const r of report) process.stderr.write(`check: ${r}\n`);
process.stderr.write(
  `check: ${res.rows} rows, ${res.cells} cells: ${res.mismatches ? `${res.mismatches} MISMATCHES` : 'equal'}` +
    ` (${res.float_inexact} floats equal within ${tol} relative, not bit for bit; largest relative difference ${res.max_rel_diff.toExponential(2)})\n`,
);
process.stdout.write(JSON.stringify(res) + '\n');
process.exit(res.mismatches ? 1 : 0);
