#!/usr/bin/env bash
# bench/online/run.sh — the online-serving benchmarks of DESIGN.md ("Performance targets"),
# each against its peer in the same run. Writes a Markdown section (for BENCHMARKS.md) to the
# file named by $1, and the raw figures to stderr.
#
#   - in-process lookups through the C API (build/bench/bench_online): us per entity;
#   - HTTP lookups, 1 entity of the 20-feature service bench_online (bench/online/
#     definitions.yaml), against a bare libmicrohttpd server answering a fixed 1 KB body
#     (bench/http/bare.c), wrk at 16 connections, rounds interleaved; and 100 entities per
#     request against 1;
#   - pushes over HTTP in 1000-row batches (rows/s), and the latency of 1-row pushes (a push is
#     visible online when it is acknowledged, so its latency is push-to-visible);
#   - redis-benchmark GET at the same concurrency (when redis-server is installed);
#   - the same lookups served from Redis and from a 3-node Redis Cluster (the store
#     materialized into each; scripts/redis_cluster.sh), against LMDB's.
#
# Environment: BUILD (default build), ONLINE_EVENTS (events of the data, default 2000000),
# DURATION (seconds per wrk run, default 10), ROUNDS (default 3), CONNECTIONS (default 16).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${1:?usage: bench/online/run.sh OUTPUT.md}
BUILD=${BUILD:-build}
EVENTS=${ONLINE_EVENTS:-2000000}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONN=${CONNECTIONS:-16}
ST=$(nproc)
TESSERA="$ROOT/$BUILD/tessera"
log() { echo "bench/online: $*" >&2; }
command -v wrk >/dev/null || { log "wrk is not installed (scripts/setup.sh)"; exit 1; }
make -s -C bench/http BUILD="$ROOT/$BUILD" >&2
make -s "$BUILD/bench/bench_online" "$BUILD/bench/gen" >&2
tmp=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/tessera-online.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

. "$ROOT/bench/online/lib.sh"
online_store "$EVENTS"

log "C API lookups"
"$BUILD/bench/bench_online" "$R" bench_online "$users" "$merchants" 200000 | tee "$tmp/capi.txt" >&2
capi1=$(awk '/per call   1:/ { print $5 }' "$tmp/capi.txt")
capi100=$(awk '/per call 100:/ { print $5 }' "$tmp/capi.txt")
capi_bare=$(awk '/^bare LMDB/ { print $7 }' "$tmp/capi.txt")
capi_later=$(awk '/^an hour after/ { print $9 }' "$tmp/capi.txt")
capi_views=$(awk '/^view / { printf "%s%s %s us", sep, $2, $7; sep = ", " }' "$tmp/capi.txt")

# request bodies
"$ROOT/bench/online/bodies.py" "$tmp" "$users" "$merchants"

start bare "$ROOT/$BUILD/bench/http/bare" 0 "$ST"
BARE="http://127.0.0.1:$PORT/"
start tessera "$TESSERA" -C "$R" serve --port 0 --threads "$ST" --max-entities 10000
URL="http://127.0.0.1:$PORT"
for b in lookup1 lookup100; do
  code=$(curl -s -o "$tmp/check.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$tmp/$b.json" "$URL/get-online-features")
  [ "$code" = 200 ] || { log "$b answers $code: $(head -c 300 "$tmp/check.json")"; exit 1; }
done

# one NAME URL SCRIPT [BODY|N]: one wrk run (SCRIPT a path; BODY the body file of post.lua, N
# the entities per request of lookup.lua); appends "rps p50 p99" to $tmp/NAME
one() {
  local line
  line=$(BODY_FILE="${4:-/dev/null}" N="${4:-1}" USERS="$users" MERCHANTS="$merchants" \
    wrk -t2 -c"$CONN" -d"${DURATION}s" -s "$3" "$2" | grep '^wrk-result')
  set -- "$1" $line
  [ "$6" = 0 ] || log "$1: $6 errors or non-2xx answers"
  echo "$3 $4 $5" >>"$tmp/$1"
  printf '%-10s %10.0f req/s  p50 %7.0f us  p99 %7.0f us\n' "$1" "$3" "$4" "$5" >&2
}
for r in $(seq 1 "$ROUNDS"); do
  one bare "$BARE" bench/http/get.lua
  one lookup1 "$URL/get-online-features" bench/online/lookup.lua 1
  one lookup100 "$URL/get-online-features" bench/online/lookup.lua 100
done
log "pushes"
for r in $(seq 1 "$ROUNDS"); do
  one push1000 "$URL/push" bench/http/post.lua "$tmp/push1000.json"
  one push1 "$URL/push" bench/http/post.lua "$tmp/push1.json"
done
med() { awk -v c="$2" '{ print $c }' "$tmp/$1" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

redis_rps="" redis_p99=""
backends=()
if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
  rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >"$tmp/redis.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
  redis-cli -p "$rport" set key:__rand_int__ x >/dev/null
  for r in $(seq 1 "$ROUNDS"); do
    redis-benchmark -p "$rport" -c "$CONN" -n 400000 -t get -d 1024 --csv 2>/dev/null | tail -n 1 |
      tr -d '"' | awk -F, '{ print $2, $5 * 1000, $7 * 1000 }' >>"$tmp/redis"
    printf 'redis GET  %s\n' "$(tail -n 1 "$tmp/redis")" >&2
  done
  redis_rps=$(med redis 1)
  redis_p99=$(med redis 3)

  # the same lookups served from Redis and from a 3-node Redis Cluster (issue 5): the same
  # repository and offline store, `online:` pointed at the back end, materialized into it
  # (through_backend NAME URL: lookups in $tmp/NAME_lookup1, $tmp/NAME_lookup100)
  through_backend() {
    local name=$1 url=$2 t0 t1
    rm -rf "$tmp/repo_$name"
    cp -a "$R" "$tmp/repo_$name"
    rm -rf "$tmp/repo_$name/.tessera/online"
    printf 'online: "%s"\n' "$url" >>"$tmp/repo_$name/tessera.yaml"
    t0=$(date +%s.%N)
    "$TESSERA" -C "$tmp/repo_$name" materialize --full >/dev/null 2>"$tmp/mat_$name.err" ||
      { log "$name: materialize failed: $(tail -n 3 "$tmp/mat_$name.err")"; return 1; }
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }' >"$tmp/mat_$name.s"
    start "tessera_$name" "$TESSERA" -C "$tmp/repo_$name" serve --port 0 --threads "$ST" --max-entities 10000 --no-materialize
    local u="http://127.0.0.1:$PORT"
    for r in $(seq 1 "$ROUNDS"); do
      one "${name}_lookup1" "$u/get-online-features" bench/online/lookup.lua 1
      one "${name}_lookup100" "$u/get-online-features" bench/online/lookup.lua 100
    done
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null || true
    backends+=("$name")
  }
  log "serving through Redis"
  through_backend redis "redis://127.0.0.1:$rport/1" || true
  if command -v redis-cli >/dev/null; then
    log "serving through a 3-node Redis Cluster"
    RC_DIR="$tmp/cluster"
    mkdir -p "$RC_DIR"
    . "$ROOT/scripts/redis_cluster.sh"
    if cluster_create; then
      pids+=("${RC_PIDS[@]}")
      through_backend cluster "$(cluster_url)" || true
    else
      pids+=("${RC_PIDS[@]}")
      log "the Redis Cluster did not start: no Cluster figures"
    fi
  fi
fi

fmt0() { awk -v x="$1" 'BEGIN { printf "%.0f", x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
b_rps=$(med bare 1) b_p99=$(med bare 3)
l_rps=$(med lookup1 1) l_p99=$(med lookup1 3)
h_rps=$(med lookup100 1) h_p99=$(med lookup100 3)
p_rps=$(med push1000 1) p1_p99=$(med push1 3) p1_rps=$(med push1 1)
met() { awk -v v="$1" -v t="$2" -v d="$3" 'BEGIN { ok = (d == ">=") ? v >= t : v <= t; print ok ? "met" : "NOT MET" }'; }
{
  echo "## Online serving"
  echo
  echo "Reproduce: \`bench/online/run.sh OUT.md\` (part of \`make bench\`; \`ONLINE_EVENTS\`, \`DURATION\`,"
  echo "\`ROUNDS\` to scale). Data: \`gen --events $EVENTS\` ($users users, $merchants merchants),"
  echo "ingested and materialized (\`tessera materialize\`: $mat_s s); the service \`bench_online\` of"
  echo "[bench/online/definitions.yaml](bench/online/definitions.yaml): 20 features from 3 views (user,"
  echo "merchant, user x merchant; row-level, and 1h, 1d, 7d windows), all looked up as of the end"
  echo "of the data. Random entities per request. HTTP: wrk, 2 threads, $CONN connections, ${DURATION} s per"
  echo "run, $ROUNDS rounds interleaved with the peer; medians. Server threads: $ST (both servers)."
  echo
  echo "| what | Tessera | peer | ratio | target |"
  echo "|---|---|---|---|---|"
  echo "| HTTP lookup, 1 entity x 20 features: requests/s | $(fmt0 "$l_rps") | bare libmicrohttpd, fixed 1 KB: $(fmt0 "$b_rps") | **$(ratio "$l_rps" "$b_rps") x** | >= 0.8x: $(met "$(ratio "$l_rps" "$b_rps")" 0.8 '>=') |"
  echo "| HTTP lookup, 1 entity: p99 | $(fmt0 "$l_p99") us | $(fmt0 "$b_p99") us | **$(ratio "$l_p99" "$b_p99") x** | <= 1.5x: $(met "$(ratio "$l_p99" "$b_p99")" 1.5 '<=') |"
  echo "| HTTP lookup, 100 entities per request: entity lookups/s | $(fmt0 "$(awk -v r="$h_rps" 'BEGIN { print r * 100 }')") ($(fmt0 "$h_rps") req/s, p99 $(fmt0 "$h_p99") us) | 1 entity per request: $(fmt0 "$l_rps") | **$(ratio "$(awk -v r="$h_rps" 'BEGIN { print r * 100 }')" "$l_rps") x** | >= 20x: $(met "$(ratio "$(awk -v r="$h_rps" 'BEGIN { print r * 100 }')" "$l_rps")" 20 '>=') |"
  echo "| in-process lookup (C API), 1 entity per call | $capi1 us per entity | bare LMDB, the 3 mdb_get of an entity's records on the same store: $capi_bare us | $(ratio "$capi1" "$capi_bare") x | < 2 us: $(met "$capi1" 2 '<=') |"
  echo "| in-process lookup (C API), 100 entities per call | $capi100 us per entity | | | |"
  echo "| in-process lookup (C API), 1 entity per call, an hour after the writes (another hop bucket) | $capi_later us per entity | | | |"
  echo "| in-process lookup (C API), each view alone, 1 entity per call | $capi_views | | | |"
  echo "| push over HTTP, 1000-row batches: rows/s | $(fmt0 "$(awk -v r="$p_rps" 'BEGIN { print r * 1000 }')") ($(fmt0 "$p_rps") pushes/s) | | | >= 200k: $(met "$(awk -v r="$p_rps" 'BEGIN { print r * 1000 }')" 200000 '>=') |"
  echo "| push to online visibility (1-row pushes, acknowledged = visible): p99 | $(fmt0 "$p1_p99") us ($(fmt0 "$p1_rps") pushes/s) | | | < 5 ms: $(met "$p1_p99" 5000 '<=') |"
  for b in "${backends[@]}"; do
    bl=$(med "${b}_lookup1" 1) bp=$(med "${b}_lookup1" 3) bh=$(med "${b}_lookup100" 1)
    case $b in redis) what="Redis (one server)" ;; cluster) what="Redis Cluster (3 masters)" ;; *) what=$b ;; esac
    echo "| HTTP lookup through $what, 1 entity: requests/s (materialized in $(cat "$tmp/mat_$b.s") s) | $(fmt0 "$bl") (p99 $(fmt0 "$bp") us) | LMDB: $(fmt0 "$l_rps") (p99 $(fmt0 "$l_p99") us) | $(ratio "$bl" "$l_rps") x | |"
    echo "| HTTP lookup through $what, 100 entities: entity lookups/s | $(fmt0 "$(awk -v r="$bh" 'BEGIN { print r * 100 }')") | LMDB: $(fmt0 "$(awk -v r="$h_rps" 'BEGIN { print r * 100 }')") | $(ratio "$bh" "$h_rps") x | |"
  done
  if [ -n "$redis_rps" ]; then
    echo "| redis-benchmark GET, 1 KB values, $CONN connections (for scale) | | $(fmt0 "$redis_rps") req/s, p99 $(fmt0 "$redis_p99") us | | |"
  fi
  echo
  echo "The C API's peer is the storage alone: bench_online's bare LMDB reads of the same three"
  echo "records per entity (mdb_get of the same keys, nothing decoded, a read transaction per"
  echo "entity) on the same store in the same run. \"An hour after the writes\" reads in another"
  echo "hop bucket than the records' last write, as most reads in production do (docs/online.md,"
  echo "\"Reading later\")."
  echo
  echo "Every run (req/s p50 p99, us):"
  echo
  echo '```'
  for n in bare lookup1 lookup100 push1000 push1 redis redis_lookup1 redis_lookup100 cluster_lookup1 cluster_lookup100; do
    [ -f "$tmp/$n" ] && echo "$n: $(tr '\n' ';' <"$tmp/$n")"
  done
  echo '```'
  echo
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
} >"$OUT"
log "wrote $OUT"
