#!/usr/bin/env bash
# bench/http/run.sh — online serving over HTTP against its peer, with wrk (DESIGN.md,
# "Performance targets"): the bare libmicrohttpd server (bench/http/bare.c, a fixed 1 KB body)
# and `tessera serve` (GET /health and POST /get-online-features), in the same run, rounds
# interleaved so that a busy machine hurts both alike. Prints one line per target and round,
# then the medians and the ratios:
#   bare      <req/s> <p50 us> <p99 us>
#   health    ...
#   lookup    ...
#   ratio health/bare <x> (p99 <y>)   ratio lookup/bare <x> (p99 <y>)
#
# usage: bench/http/run.sh [REPO BODY_FILE]
#   REPO       a feature repo whose online store is materialized (default: a small one made
#              here: 1 entity, 5 features, a request field)
#   BODY_FILE  the JSON body of the lookup request (default: one entity of that small repo)
# Environment: BUILD (default build), DURATION (seconds per run, default 10), CONNECTIONS
# (default 16), WRK_THREADS (default 2), ROUNDS (default 3), SERVE_THREADS (server threads,
# default: CPUs, for both servers), TESSERA_NOW (passed on to the server).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-build}
DURATION=${DURATION:-10}
CONN=${CONNECTIONS:-16}
WT=${WRK_THREADS:-2}
ROUNDS=${ROUNDS:-3}
ST=${SERVE_THREADS:-$(nproc)}
command -v wrk >/dev/null || { echo "bench/http: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -x "$BUILD/tessera" ] || { echo "bench/http: build tessera first (make)" >&2; exit 1; }
make -s -C bench/http BUILD="$ROOT/$BUILD" >&2
BARE="$ROOT/$BUILD/bench/http/bare"
TESSERA="$ROOT/$BUILD/tessera"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tessera-http.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

REPO=${1:-}
BODY=${2:-}
if [ -z "$REPO" ]; then
  export TESSERA_NOW=${TESSERA_NOW:-2026-01-01T12:00:00Z}
  REPO="$tmp/repo"
  mkdir -p "$REPO/data"
  echo "project: http_bench" >"$REPO/tessera.yaml"
  cat >"$REPO/defs.yaml" <<'Y'
entities:
  - {name: user, join_keys: [user_id]}
sources:
  - name: tx
    type: batch
    path: data/tx.csv
    timestamp: ts
    schema: {user_id: int64, amount: float64, channel: string, ts: timestamp}
feature_views:
  - name: spend
    entities: [user]
    source: tx
    hop: 1h
    features:
      - {name: last_amount, expr: amount}
      - {name: last_channel, expr: channel}
      - {name: n_2h, agg: count, window: 2h}
      - {name: sum_1d, agg: sum, expr: amount, window: 1d}
on_demand_features:
  - name: ratio
    inputs: {features: ["spend:sum_1d"], request: {req: float64}}
    expr: "req / sum_1d"
feature_services:
  - name: svc
    features: ["spend:*", ratio]
Y
  {
    echo "user_id,amount,channel,ts"
    for i in $(seq 1 1000); do echo "$((i % 100)),$i.25,web,2026-01-01T$(printf %02d $((i % 12)))"':00:00Z'; done
  } >"$REPO/data/tx.csv"
  "$TESSERA" -C "$REPO" apply >/dev/null
  "$TESSERA" -C "$REPO" ingest tx >/dev/null
  "$TESSERA" -C "$REPO" materialize >/dev/null
fi
if [ -z "$BODY" ]; then
  BODY="$tmp/body.json"
  echo '{"feature_service": "svc", "entities": {"user_id": [42], "req": [10.5]}}' >"$BODY"
fi

# start NAME CMD...: starts a server printing "serving on http://HOST:PORT"; sets PORT.
start() {
  local name=$1
  shift
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
  for _ in $(seq 1 100); do
    [ -s "$tmp/$name.out" ] && break
    sleep 0.05
  done
  PORT=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$tmp/$name.out")
  [ -n "$PORT" ] || { echo "bench/http: $name did not start: $(cat "$tmp/$name.err")" >&2; exit 1; }
}
start bare "$BARE" 0 "$ST"
BARE_URL="http://127.0.0.1:$PORT/"
start tessera "$TESSERA" -C "$REPO" serve --port 0 --threads "$ST"
URL="http://127.0.0.1:$PORT"
code=$(curl -s -o "$tmp/check.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary @"$BODY" "$URL/get-online-features")
[ "$code" = 200 ] || { echo "bench/http: the lookup answers $code: $(cat "$tmp/check.json")" >&2; exit 1; }

# one NAME URL SCRIPT: one wrk run, appends "rps p50 p99" to $tmp/NAME
one() {
  local line
  line=$(BODY_FILE="$BODY" wrk -t"$WT" -c"$CONN" -d"${DURATION}s" -s "bench/http/$3" "$2" | grep '^wrk-result')
  set -- "$1" $line
  [ "$6" = 0 ] || echo "bench/http: $1: $6 errors or non-2xx answers" >&2
  echo "$3 $4 $5" >>"$tmp/$1"
  printf '%-8s %10.0f req/s  p50 %6.0f us  p99 %7.0f us\n' "$1" "$3" "$4" "$5"
}
for r in $(seq 1 "$ROUNDS"); do
  one bare "$BARE_URL" get.lua
  one health "$URL/health" get.lua
  one lookup "$URL/get-online-features" post.lua
done
med() { awk -v c="$2" '{ print $c }' "$tmp/$1" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "medians of $ROUNDS rounds, ${DURATION}s each, $CONN connections, $ST server threads:"
for n in bare health lookup; do
  printf '%-8s %10.0f req/s  p50 %6.0f us  p99 %7.0f us\n' "$n" "$(med $n 1)" "$(med $n 2)" "$(med $n 3)"
done
for n in health lookup; do
  awk -v a="$(med $n 1)" -v b="$(med bare 1)" -v pa="$(med $n 3)" -v pb="$(med bare 3)" -v n="$n" \
    'BEGIN { printf "ratio %s/bare %.2f x requests/s, p99 %.2f x\n", n, a / b, pa / pb }'
done
