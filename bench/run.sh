#!/usr/bin/env bash
# make bench: runs every benchmark against its peer in the same run and writes BENCHMARKS.md.
# Benchmarks are not tests: nothing here fails on a slow figure (or on a mismatch: it is
# written, in capitals, into BENCHMARKS.md and on stderr).
#
# Environment:
#   BENCH_EVENTS        events of the generated data (default 10000000: 100k users, 10k
#                       merchants, 1M labels, the shape of DESIGN.md's targets)
#   BENCH_RUNS          runs of each offline measurement; the median is reported (default 3)
#   BENCH_SMALL_LABELS  labels of the small training set (default 1000)
#   BENCH_OFFLINE=0     skip the offline engine benchmarks (expression evaluator and generator only)
#   BENCH_ONLINE=0      skip the online serving benchmarks (bench/online/run.sh; ONLINE_EVENTS,
#                       DURATION, ROUNDS scale them)
#   BENCH_SOAK=0        skip the soak run (bench/soak/run.sh: serving and pushing at once for
#                       SOAK_SECONDS, default 300)
#   BENCH_TMP           where the data, stores and outputs go (default: a new directory in $TMPDIR)
#   BENCH_SOURCE        how BENCHMARKS.md names the source measured (default: git describe --dirty)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
EVENTS=${BENCH_EVENTS:-10000000}
RUNS=${BENCH_RUNS:-3}
SMALL=${BENCH_SMALL_LABELS:-1000}
OFFLINE=${BENCH_OFFLINE:-1}
ONLINE=${BENCH_ONLINE:-1}
SOAK=${BENCH_SOAK:-1}
out=BENCHMARKS.md
tmp=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/tessera-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log() { echo "bench: $*" >&2; }

echo "bench: expression evaluator (bench_expr, 10M rows)" >&2
"$BUILD/bench/bench_expr" 10000000 | tee "$tmp/expr.txt" >&2

log "data generator (gen, $EVENTS events)"
start=$(date +%s.%N)
"$BUILD/bench/gen" --out "$tmp/gen" --events "$EVENTS" 2>"$tmp/gen.txt"
end=$(date +%s.%N)
gen_rate=$(awk -v n="$EVENTS" -v s="$start" -v e="$end" 'BEGIN { printf "%.1fM", n / (e - s) / 1e6 }')
cat "$tmp/gen.txt" >&2

# ---- helpers -------------------------------------------------------------------------------

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
maxof() { sort -g | tail -n 1; }
minof() { sort -g | head -n 1; }
# fmt X DIGITS
fmt() { awk -v x="$1" -v d="${2:-2}" 'BEGIN { if (x == "nan" || x == "") print "n/a"; else printf "%.*f", d, x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "" || k == "nan") print "n/a"; else printf "%.0f MiB", k / 1024 }'; }
# JSON field of a one-line JSON document (numbers only): jnum FILE KEY
jnum() { node -e 'const d=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); const v=process.argv[2].split(".").reduce((o,k)=>o==null?o:o[k],d); console.log(v==null?"nan":v)' "$1" "$2"; }

# timed NAME CMD...: runs CMD under /usr/bin/time; appends wall seconds to $tmp/NAME.s and peak
# RSS (KiB) to $tmp/NAME.kb; its stdout goes to $tmp/NAME.out, its stderr to $tmp/NAME.err.
timed() {
  local name=$1
  shift
  local rc=0
  /usr/bin/time -f '%e %M' -o "$tmp/$name.time" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    log "$name failed (exit $rc):"
    tail -n 20 "$tmp/$name.err" >&2
    return "$rc"
  fi
  awk '{ print $1 }' "$tmp/$name.time" >>"$tmp/$name.s"
  awk '{ print $2 }' "$tmp/$name.time" >>"$tmp/$name.kb"
}
med() { median <"$tmp/$1.s"; }
# every run's value of a .s file, in run order: "1.23, 1.31, 1.19"
runs() { awk '{ printf "%s%.2f", (NR > 1 ? ", " : ""), $1 }' "$tmp/$1.s"; }
peak() { maxof <"$tmp/$1.kb"; }

# ---- offline engine against DuckDB -----------------------------------------------------------

offline_ok=0
duck_ok=0
if [ "$OFFLINE" != 0 ]; then
  # GNU time for wall clock and peak RSS (as scripts/setup.sh installs packages)
  if [ ! -x /usr/bin/time ]; then
    log "installing the Debian package time"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends time >/dev/null ||
      { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends time >/dev/null; }
  fi
  # the peer: DuckDB from npm, installed into bench/duckdb/node_modules when missing
  if command -v node >/dev/null && command -v npm >/dev/null; then
    if [ ! -d bench/duckdb/node_modules/@duckdb/node-api ]; then
      # npm install, not npm ci: npm ci rejects this lock file, written on Linux, as out of sync
      # (it lists only this platform's optional binaries of @duckdb/node-bindings); --no-save
      # leaves package.json and package-lock.json as they are (versions are pinned there)
      log "installing @duckdb/node-api (npm install in bench/duckdb)"
      (cd bench/duckdb && npm install --no-audit --no-fund --no-save --loglevel=error >&2) ||
        log "npm install failed: no DuckDB figures"
    fi
    [ -d bench/duckdb/node_modules/@duckdb/node-api ] && duck_ok=1
  else
    log "node/npm not found: no DuckDB figures"
  fi

  case $BUILD in /*) T=$BUILD/tessera ;; *) T=$ROOT/$BUILD/tessera ;; esac
  repo=$tmp/repo
  mkdir -p "$repo"
  cp bench/offline/tessera.yaml bench/offline/definitions.yaml "$repo/"
  ln -s "$tmp/gen" "$repo/data"
  labels=$tmp/gen/labels.csv
  nlabels=$(($(wc -l <"$labels") - 1))
  small=$tmp/labels_small.csv
  head -n "$((SMALL + 1))" "$labels" >"$small"
  nsmall=$(($(wc -l <"$small") - 1))
  DUCK=$ROOT/bench/duckdb/offline.mjs # run from $tmp: DuckDB may spill to ./.tmp

  for r in $(seq 1 "$RUNS"); do
    # Tessera: a new store each run; ingest, then the training sets and the backfill from it
    rm -rf "$repo/.tessera"
    (cd "$repo" && "$T" apply >/dev/null)
    log "run $r/$RUNS: tessera ingest ($EVENTS events)"
    (cd "$repo" && timed t_ingest "$T" ingest transactions)
    log "run $r/$RUNS: tessera training-set ($nlabels labels)"
    (cd "$repo" && timed t_train "$T" training-set --service bench_v1 --labels "$labels" -o "$tmp/tessera_train.csv")
    log "run $r/$RUNS: tessera training-set ($nsmall labels)"
    (cd "$repo" && timed t_small "$T" training-set --service bench_v1 --labels "$small" -o "$tmp/tessera_small.csv")
    log "run $r/$RUNS: tessera stats user_txn (backfill)"
    (cd "$repo" && timed t_stats "$T" stats user_txn --json)
    cp "$tmp/t_stats.out" "$tmp/tessera_stats.json"
    if [ "$duck_ok" = 1 ]; then
      log "run $r/$RUNS: duckdb training set ($nlabels labels)"
      (cd "$tmp" && timed d_train node "$DUCK" training --events "$tmp/gen/transactions.csv" --labels "$labels" --out "$tmp/duckdb_train.csv")
      jnum "$tmp/d_train.out" load_s >>"$tmp/d_train_load.s"
      jnum "$tmp/d_train.out" query_s >>"$tmp/d_train_query.s"
      jnum "$tmp/d_train.out" total_s >>"$tmp/d_train_total.s"
      log "run $r/$RUNS: duckdb training set ($nsmall labels)"
      (cd "$tmp" && timed d_small node "$DUCK" training --events "$tmp/gen/transactions.csv" --labels "$small" --out "$tmp/duckdb_small.csv")
      jnum "$tmp/d_small.out" query_s >>"$tmp/d_small_query.s"
      log "run $r/$RUNS: duckdb backfill (RANGE windows)"
      (cd "$tmp" && timed d_bf node "$DUCK" backfill --events "$tmp/gen/transactions.csv" --out "$tmp/duckdb_backfill.json")
      jnum "$tmp/d_bf.out" query_s >>"$tmp/d_bf_query.s"
      jnum "$tmp/d_bf.out" load_s >>"$tmp/d_bf_load.s"
      if [ "$r" = 1 ]; then
        # the outputs are deterministic: check them once
        log "checking that Tessera's and DuckDB's outputs are equal"
        node bench/duckdb/check.mjs "$tmp/tessera_train.csv" "$tmp/duckdb_train.csv" >"$tmp/check_train.json" 2>"$tmp/check_train.txt" || true
        node bench/duckdb/check.mjs "$tmp/tessera_small.csv" "$tmp/duckdb_small.csv" >"$tmp/check_small.json" 2>"$tmp/check_small.txt" || true
        node bench/duckdb/check_stats.mjs "$tmp/tessera_stats.json" "$tmp/duckdb_backfill.json" >"$tmp/check_bf.json" 2>"$tmp/check_bf.txt" || true
        cat "$tmp/check_train.txt" "$tmp/check_small.txt" "$tmp/check_bf.txt" >&2
      fi
    fi
  done
  offline_ok=1
fi

# ---- online serving ----------------------------------------------------------------------------
if [ "$ONLINE" != 0 ]; then
  log "online serving (bench/online/run.sh)"
  BENCH_TMP="$tmp" BUILD="$BUILD" bench/online/run.sh "$tmp/online.md" || log "the online benchmarks failed"
fi
if [ "$SOAK" != 0 ]; then
  log "soak: serving and pushing at once (bench/soak/run.sh)"
  BENCH_TMP="$tmp" BUILD="$BUILD" bench/soak/run.sh "$tmp/soak.md" || log "the soak run failed"
fi

# ---- BENCHMARKS.md -------------------------------------------------------------------------

# met VALUE TARGET: "met" if VALUE >= TARGET
met() { awk -v v="$1" -v t="$2" 'BEGIN { if (v == "n/a") print "not measured"; else if (v + 0 >= t + 0) print "met"; else print "NOT MET" }'; }
# met2 MEDIAN_RATIO BEST_RATIO TARGET: met only if both are (a noisy machine can flatter either)
met2() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { if (a == "n/a" || b == "n/a") print "not measured"; else if (a + 0 >= t + 0 && b + 0 >= t + 0) print "met"; else if (a + 0 >= t + 0) print "NOT MET on the best runs"; else if (b + 0 >= t + 0) print "NOT MET on the medians"; else print "NOT MET" }'; }

{
  echo "# Benchmarks"
  echo
  src_rev=${BENCH_SOURCE:-$(git describe --always --dirty 2>/dev/null || echo "not a git checkout")}
  echo "Written by \`make bench\` ($(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m); source: $src_rev)."
  echo "Timings on this machine are noisy: each figure is a median of several runs (the count is"
  echo "given per section), and each is compared with a peer measured in the same run. Benchmarks"
  echo "are not tests; nothing fails on a slow figure."
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
  echo "Reproduce: \`build/bench/gen --out DIR --events $EVENTS\` ($(sed -n 's/^gen: .*: \([0-9]*\) events.*labels.csv: \([0-9]*\) labels.*/\1 events and \2 labels/p' "$tmp/gen.txt") as CSV):"
  echo "$gen_rate events/s, wall clock including writing the files."
  echo

  if [ "$offline_ok" = 1 ]; then
    users=$(sed -n 's/.* of \([0-9]*\) users at \([0-9]*\) merchants.*/\1/p' "$tmp/gen.txt")
    merchants=$(sed -n 's/.* of \([0-9]*\) users at \([0-9]*\) merchants.*/\2/p' "$tmp/gen.txt")
    ti=$(med t_ingest); tt=$(med t_train); tsm=$(med t_small); tst=$(med t_stats)
    ingest_rate=$(awk -v n="$EVENTS" -v s="$ti" 'BEGIN { printf "%.2f", n / s / 1e6 }')
    echo "## Offline engine against DuckDB"
    echo
    echo "Reproduce: \`make bench\` (or \`BENCH_EVENTS=1000000 BENCH_RUNS=1 make bench\` for a quick run)."
    echo "Data: \`build/bench/gen --events $EVENTS\`: $EVENTS events of $users users at $merchants merchants,"
    echo "$nlabels labels. Definitions: [bench/offline/definitions.yaml](bench/offline/definitions.yaml),"
    echo "3 feature views (user, merchant, user x merchant; hop 1h) and the service \`bench_v1\`: 10"
    echo "features, 3 row-level (last amount, last channel, last currency; ttl 1d and 7d) and 7 window"
    echo "aggregates (count, sum, max, mean, count with a \`where\`) over 1h, 1d and 7d. Tessera:"
    echo "\`tessera ingest transactions\`, then \`tessera training-set --service bench_v1 --labels"
    echo "labels.csv -o out.csv\` and \`tessera stats user_txn\`, each a separate process, wall clock and"
    echo "peak RSS by GNU time. Times are medians of $RUNS run(s); peak RSS is the largest of the runs."
    echo
    if [ "$duck_ok" = 1 ]; then
      ver=$(jnum "$tmp/d_train.out" duckdb)
      dq=$(median <"$tmp/d_train_query.s"); dl=$(median <"$tmp/d_train_load.s"); dt=$(median <"$tmp/d_train_total.s")
      dsq=$(median <"$tmp/d_small_query.s")
      dbq=$(median <"$tmp/d_bf_query.s")
      r_train=$(ratio "$dq" "$tt")
      r_e2e=$(ratio "$dt" "$(awk -v a="$ti" -v b="$tt" 'BEGIN { print a + b }')")
      r_bf=$(ratio "$dbq" "$tst")
      # best run against best run (the least disturbed by other jobs)
      b_train=$(ratio "$(minof <"$tmp/d_train_query.s")" "$(minof <"$tmp/t_train.s")")
      b_bf=$(ratio "$(minof <"$tmp/d_bf_query.s")" "$(minof <"$tmp/t_stats.s")")
      mism=$(jnum "$tmp/check_train.json" mismatches)
      echo "Peer: DuckDB $ver through \`@duckdb/node-api\` (Node.js $(node --version)), \`SET threads=2\`, in"
      echo "memory: [bench/duckdb/offline.mjs](bench/duckdb/offline.mjs) reads the same CSV files and"
      echo "computes the same 10 features for every label with the same semantics (DESIGN.md, \"Time"
      echo "semantics\"): row-level features by ASOF JOIN on the key and on (ts, created_at, row number),"
      echo "window aggregates as hourly tiles (GROUP BY key, hour) merged by a RANGE window over the tiles"
      echo "plus an equi-join for the exact head of the window: the fastest correct SQL we found. (RANGE"
      echo "windows over the events themselves with a per-row frame start, \`offline.mjs --windows range\`,"
      echo "gave the same values but took 1.9x as long at 10M events when this benchmark was written.)"
      echo "DuckDB's times are measured inside the script (Node.js start-up excluded); the training-set"
      echo "row compares Tessera's \`training-set\` process, which reads its store, with DuckDB's queries"
      echo "after its CSV load. Tessera's training set and backfill run on one core; DuckDB uses two."
      echo
      echo "| | Tessera | DuckDB | DuckDB / Tessera | target |"
      echo "|---|---|---|---|---|"
      echo "| training set, $nlabels labels x 10 features (Tessera: from its store; DuckDB: query after loading the CSV) | $(fmt "$tt") s | $(fmt "$dq") s | **$r_train x** (best runs: $b_train x) | >= 3x: $(met2 "$r_train" "$b_train" 3) |"
      echo "| from the CSV files to the training set (Tessera: ingest + training-set; DuckDB: load + query) | $(fmt "$(awk -v a="$ti" -v b="$tt" 'BEGIN { print a + b }')") s | $(fmt "$dt") s | $r_e2e x | |"
      echo "| load the CSV files (Tessera: \`ingest\` of the events: parsed, sorted per view key, compressed, fsynced; DuckDB: events and labels into in-memory tables) | $(fmt "$ti") s | $(fmt "$dl") s | | |"
      echo "| training set, $nsmall labels (DuckDB: query after loading) | $(fmt "$tsm") s | $(fmt "$dsq") s | $(ratio "$dsq" "$tsm") x | |"
      echo "| backfill: view user_txn's 4 aggregates as of each of $EVENTS events (Tessera: \`stats user_txn\`; DuckDB: RANGE windows, query after loading) | $(fmt "$tst") s | $(fmt "$dbq") s | **$r_bf x** (best runs: $b_bf x) | >= 3x: $(met2 "$r_bf" "$b_bf" 3) |"
      echo "| peak RSS: ingest / CSV load + training set | $(mib "$(peak t_ingest)") / $(mib "$(peak t_train)") | $(mib "$(peak d_train)") (one process) | | |"
      echo "| peak RSS: training set, $nsmall labels | $(mib "$(peak t_small)") | $(mib "$(peak d_small)") | | |"
      echo "| peak RSS: backfill | $(mib "$(peak t_stats)") | $(mib "$(peak d_bf)") | | |"
      echo
      echo "Every run, in seconds (the table shows the medians): Tessera ingest $(runs t_ingest);"
      echo "training set $(runs t_train); $nsmall labels $(runs t_small); backfill $(runs t_stats)."
      echo "DuckDB load $(runs d_train_load); training-set queries $(runs d_train_query); $nsmall labels"
      echo "$(runs d_small_query); backfill $(runs d_bf_query)."
      echo
      echo "The peer's times vary more than Tessera's: DuckDB uses both cores, so other jobs on the"
      echo "machine slow it more, and a disturbed run flatters the ratio. The target is therefore judged"
      echo "on the medians and on the best run of each side (the least disturbed): training set"
      echo "$(fmt "$(minof <"$tmp/t_train.s")") s against $(fmt "$(minof <"$tmp/d_train_query.s")") s ($b_train x), backfill $(fmt "$(minof <"$tmp/t_stats.s")") s against $(fmt "$(minof <"$tmp/d_bf_query.s")") s ($b_bf x)."
      echo "The $nsmall-label row is there for memory: DuckDB's SQL is not specialised for few labels (it"
      echo "still aggregates every event), so its time there is not a like-for-like figure."
      echo
      echo "Ingest: **${ingest_rate}M rows/s** ($EVENTS rows in $(fmt "$ti") s; target >= 1M rows/s: $(met "$ingest_rate" 1))."
      echo "DuckDB's peak RSS includes Node.js (about 50 MiB)."
      echo
      echo "**Equality.** \`node bench/duckdb/check.mjs tessera.csv duckdb.csv\` compares the two training"
      echo "sets cell by cell, rows in the labels' order: integers and strings must be identical, nulls"
      echo "(empty cells) must match, floats must agree within 1e-9 relative. Tessera's float sums and"
      echo "means are exactly rounded; DuckDB sums doubles in an order of its own, so its last bits may"
      echo "differ. The backfill summaries (count and nulls exactly; min, max and mean of float"
      echo "features within 1e-9 relative) are compared by \`bench/duckdb/check_stats.mjs\`."
      echo
      echo '```'
      cat "$tmp/check_train.txt" "$tmp/check_small.txt" "$tmp/check_bf.txt"
      echo '```'
      if [ "$mism" != 0 ] || ! grep -q ': equal' "$tmp/check_small.txt" || ! grep -q ': equal' "$tmp/check_bf.txt"; then
        echo
        echo "**THE OUTPUTS DIFFER: the figures above compare different results.**"
      fi
      echo
      echo "DuckDB's time by step (training set, last run, seconds):"
      echo
      echo '```'
      node -e 'const d=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); for (const [k,v] of Object.entries(d.steps)) console.log(k.padEnd(40), v.toFixed(2))' "$tmp/d_train.out"
      echo '```'
    else
      echo "DuckDB was not available (node/npm missing or \`npm install\` failed): Tessera's figures only."
      echo
      echo "| | Tessera |"
      echo "|---|---|"
      echo "| ingest, $EVENTS events | $(fmt "$ti") s, ${ingest_rate}M rows/s, $(mib "$(peak t_ingest)") |"
      echo "| training set, $nlabels labels | $(fmt "$tt") s, $(mib "$(peak t_train)") |"
      echo "| training set, $nsmall labels | $(fmt "$tsm") s, $(mib "$(peak t_small)") |"
      echo "| backfill (stats user_txn) | $(fmt "$tst") s, $(mib "$(peak t_stats)") |"
    fi
    echo
    echo "Load average when the offline benchmarks ended: $(cut -d' ' -f1-3 /proc/loadavg) (other jobs on the machine"
    echo "slow both sides)."
    echo
  fi
  if [ "$ONLINE" != 0 ] && [ -s "$tmp/online.md" ]; then
    cat "$tmp/online.md"
  fi
  if [ "$SOAK" != 0 ] && [ -s "$tmp/soak.md" ]; then
    echo
    cat "$tmp/soak.md"
  fi
} >"$out"
log "wrote $out"
