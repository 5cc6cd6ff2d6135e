#!/usr/bin/env bash
# make bench: runs every benchmark against its peer in the same run and writes BENCHMARKS.md.
# Benchmarks are not tests: nothing here fails on a slow figure.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
out=BENCHMARKS.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "bench: expression evaluator (bench_expr, 10M rows)" >&2
"$BUILD/bench/bench_expr" 10000000 | tee "$tmp/expr.txt" >&2

echo "bench: data generator (gen, 10M events)" >&2
start=$(date +%s.%N)
"$BUILD/bench/gen" --out "$tmp/gen" --events 10000000 2>"$tmp/gen.txt"
end=$(date +%s.%N)
gen_rate=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1fM", 10000000 / (e - s) / 1e6 }')
rm -rf "$tmp/gen"

{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m)). Timings on this"
  echo "machine are noisy: each figure is the median of 5 runs, and each is compared with a peer"
  echo "measured in the same run. Benchmarks are not tests; nothing fails on a slow figure."
  echo
  echo "## Expression evaluator"
  echo
  echo "Reproduce: \`make build/bench/bench_expr && build/bench/bench_expr 10000000\`. Peer: the same"
  echo "expression as a hand-written C loop over the same column batches. Target: at least 20M"
  echo "evaluations/s of \`amount * 100 > 5\` on one core."
  echo
  echo '```'
  cat "$tmp/expr.txt"
  echo '```'
  echo
  echo "## Data generator"
  echo
  echo "Reproduce: \`build/bench/gen --out DIR --events 10000000\` (10M events and 1M labels as CSV):"
  echo "$gen_rate events/s, wall clock including writing the files."
  echo
  echo "The offline engine, ingest and serving benchmarks against DuckDB, a bare libmicrohttpd"
  echo "server and redis-benchmark come with issues 3 to 5."
} >"$out"
echo "bench: wrote $out" >&2
