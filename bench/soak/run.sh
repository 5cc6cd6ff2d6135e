#!/usr/bin/env bash
# bench/soak/run.sh — the soak run of issue 6: one server serving lookups and taking pushes at
# once for SOAK_SECONDS, measured in intervals of SOAK_INTERVAL seconds. For each interval:
# lookups and pushes (requests/s, p50, p99, errors: wrk), the server's resident memory
# (anonymous: heap and stacks; file: the mmap'd LMDB pages it touched) and the store's size on
# disk. Afterwards `tessera check` (online equals offline for sampled entities, pushed rows
# included) and `tessera verify`. Writes a Markdown section (for BENCHMARKS.md) to the file
# named by $1, and the raw figures to stderr. Nothing here fails on a figure: errors,
# mismatches and damage are written into the section.
#
# Environment: BUILD (default build), SOAK_SECONDS (default 300), SOAK_INTERVAL (default 30),
# SOAK_EVENTS (events of the data, default 1000000), LOOKUP_CONNECTIONS (default 8),
# PUSH_CONNECTIONS (default 4), PUSH_ROWS (rows per push, default 10).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${1:?usage: bench/soak/run.sh OUTPUT.md}
BUILD=${BUILD:-build}
SECONDS_TOTAL=${SOAK_SECONDS:-300}
INTERVAL=${SOAK_INTERVAL:-30}
EVENTS=${SOAK_EVENTS:-1000000}
LCONN=${LOOKUP_CONNECTIONS:-8}
PCONN=${PUSH_CONNECTIONS:-4}
ROWS=${PUSH_ROWS:-10}
ST=$(nproc)
TESSERA="$ROOT/$BUILD/tessera"
log() { echo "bench/soak: $*" >&2; }
command -v wrk >/dev/null || { log "wrk is not installed (scripts/setup.sh)"; exit 1; }
make -s "$TESSERA" "$BUILD/bench/gen" >&2
tmp=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/tessera-soak.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
. "$ROOT/bench/online/lib.sh"
online_store "$EVENTS"

start tessera "$TESSERA" -C "$R" serve --port 0 --threads "$ST"
URL="http://127.0.0.1:$PORT"
rss() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$SERVER_PID/status"; }
# wrk NAME CONNECTIONS SCRIPT N: one interval; prints "rps p50 p99 errors"
load() {
  USERS="$users" MERCHANTS="$merchants" N="$4" TXN_BASE="$((2000000000 + $5 * 10000000))" \
    wrk -t1 -c"$2" -d"${INTERVAL}s" -s "$3" "$URL/$1" | grep '^wrk-result' | cut -d' ' -f2-
}
rounds=$(((SECONDS_TOTAL + INTERVAL - 1) / INTERVAL))
log "soak: $rounds intervals of $INTERVAL s: lookups ($LCONN connections, 1 entity) and pushes ($PCONN connections, $ROWS rows)"
echo "interval lookup_rps lookup_p50 lookup_p99 lookup_err push_rps push_p50 push_p99 push_err rss_anon_kb rss_file_kb store_kb" >"$tmp/soak.txt"
for i in $(seq 1 "$rounds"); do
  load push "$PCONN" bench/soak/push.lua "$ROWS" "$i" >"$tmp/push.res" &
  wp=$!
  lk=$(load get-online-features "$LCONN" bench/online/lookup.lua 1 "$i")
  wait "$wp"
  line="$i $lk $(cat "$tmp/push.res") $(rss RssAnon) $(rss RssFile) $(du -sk "$R/.tessera" | cut -f1)"
  echo "$line" >>"$tmp/soak.txt"
  log "$line"
done
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
check_rc=0
"$TESSERA" -C "$R" check --sample 2000 >"$tmp/check.txt" 2>&1 || check_rc=$?
verify_rc=0
"$TESSERA" -C "$R" verify >"$tmp/verify.txt" 2>&1 || verify_rc=$?
log "check exit $check_rc: $(tail -n 1 "$tmp/check.txt")"
log "verify exit $verify_rc: $(tail -n 1 "$tmp/verify.txt")"

# summary: first interval against the last; the second one too (the first warms the caches)
col() { awk -v c="$1" -v r="$2" 'NR == r + 1 { print $c }' "$tmp/soak.txt"; }
sum() { awk -v c="$1" 'NR > 1 { s += $c } END { print s + 0 }' "$tmp/soak.txt"; }
maxc() { awk -v c="$1" 'NR > 1 && $c > m { m = $c } END { print m + 0 }' "$tmp/soak.txt"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
pushed=$(awk -v i="$INTERVAL" -v r="$ROWS" 'NR > 1 { s += $6 * i * r } END { printf "%.0f", s }' "$tmp/soak.txt")
second=$((rounds >= 2 ? 2 : 1))
{
  echo "## Soak: serving and pushing at once"
  echo
  echo "Reproduce: \`bench/soak/run.sh OUT.md\` (part of \`make bench\`; \`BENCH_SOAK=0\` skips it;"
  echo "\`SOAK_SECONDS\`, \`SOAK_INTERVAL\`, \`SOAK_EVENTS\` scale it). One \`tessera serve\` ($ST threads) over"
  echo "the store of the online benchmarks built from \`gen --events $EVENTS\`, for $((rounds * INTERVAL)) s: wrk"
  echo "looking up 1 random entity of \`bench_online\` per request on $LCONN connections while another"
  echo "wrk pushes $ROWS random rows per request (\`online_and_offline\`) on $PCONN connections"
  echo "([bench/soak/push.lua](bench/soak/push.lua)), measured per $INTERVAL s interval. Resident memory"
  echo "is the server's: anonymous (heap, stacks) and file-backed (the LMDB pages it has touched,"
  echo "which grow with the store). About $pushed rows were pushed."
  echo
  echo "| | interval $second | last interval ($rounds) | last / interval $second |"
  echo "|---|---|---|---|"
  echo "| lookups: requests/s | $(col 2 "$second") | $(col 2 "$rounds") | $(ratio "$(col 2 "$rounds")" "$(col 2 "$second")") |"
  echo "| lookups: p99 us | $(col 4 "$second") | $(col 4 "$rounds") | $(ratio "$(col 4 "$rounds")" "$(col 4 "$second")") |"
  echo "| pushes: requests/s | $(col 6 "$second") | $(col 6 "$rounds") | $(ratio "$(col 6 "$rounds")" "$(col 6 "$second")") |"
  echo "| pushes: p99 us | $(col 8 "$second") | $(col 8 "$rounds") | $(ratio "$(col 8 "$rounds")" "$(col 8 "$second")") |"
  echo "| server anonymous memory, KiB | $(col 10 "$second") | $(col 10 "$rounds") | $(ratio "$(col 10 "$rounds")" "$(col 10 "$second")") |"
  echo
  echo "Errors or non-2xx answers: lookups $(sum 5), pushes $(sum 9). Highest anonymous memory"
  echo "$(maxc 10) KiB. \`tessera check --sample 2000\` afterwards: exit $check_rc ($(tail -n 1 "$tmp/check.txt"));"
  echo "\`tessera verify\`: exit $verify_rc ($(tail -n 1 "$tmp/verify.txt"))."
  echo
  echo "Every interval:"
  echo
  echo '```'
  cat "$tmp/soak.txt"
  echo '```'
} >"$OUT"
log "wrote $OUT"
