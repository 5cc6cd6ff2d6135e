#!/usr/bin/env bash
# The same feature repo and data on LMDB, on a real redis-server and on a real 3-node Redis
# Cluster (all started here on free loopback ports, stopped at exit): apply, ingest,
# materialize (incremental and full), push, get, check and verify work through Redis and
# Redis Cluster, and lookups answer byte for byte what LMDB answers. Then each goes away under
# a running server (503 with a JSON error) and comes back (200 again, by itself); two
# materializations into the cluster at once take turns (the lock lives in the cluster).
. "$(dirname "$0")/lib.sh"

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  ok "# skip: redis-server or redis-cli is not installed (scripts/setup.sh installs them)"
  exit 0
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  >"$TMP/redis.log" 2>&1 &
RPID=$!
SPID=
cleanup() {
  kill $RPID ${RC_PIDS[@]+"${RC_PIDS[@]}"} $SPID 2>/dev/null
  wait 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
for _ in $(seq 1 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

# the cluster: three masters (scripts/redis_cluster.sh)
RC_DIR=$TMP
. "$ROOT/scripts/redis_cluster.sh"
check "a 3-node Redis Cluster is up" cluster_create
CURL=$(cluster_url)

"$GEN" --out "$TMP/gen" --events 20000 --users 400 --merchants 50 --start 2026-01-01 --days 5 >/dev/null 2>&1
make_repo() { # make_repo DIR [ONLINE_URL]
  mkdir -p "$1/data"
  printf 'project: redis_test\n' >"$1/tessera.yaml"
  [ -n "${2:-}" ] && printf 'online: "%s"\n' "$2" >>"$1/tessera.yaml"
  tx_defs "- {name: s_7d, agg: sum, expr: amount, window: 7d}" "- {name: mx_1d, agg: max, expr: amount, window: 1d}" >"$1/defs.yaml"
  cp "$TMP/gen/transactions.csv" "$1/data/tx.csv"
}
make_repo "$TMP/lmdb"
make_repo "$TMP/redis" "redis://127.0.0.1:$PORT/2"
make_repo "$TMP/cluster" "$CURL"
export TESSERA_NOW=2026-01-06T00:30:00Z
printf 'txn_id,user_id,merchant_id,amount,currency,channel,is_international,ts,created_at\n' >"$TMP/push.csv"
for i in $(seq 1 60); do
  m=$(printf '%02d' $((i % 30)))
  echo "$((600000000 + i)),$((1 + i % 40)),3,$i.5,USD,web,false,2026-01-06T00:$m:00Z,2026-01-06T00:$m:00Z"
done >>"$TMP/push.csv"

for r in lmdb redis cluster; do
  cd "$TMP/$r" || exit 1
  run "$TESSERA" apply
  expect_rc "$r: apply" 0
  run "$TESSERA" ingest tx
  expect_rc "$r: ingest" 0
  run "$TESSERA" materialize
  expect_rc "$r: materialize" 0
  run "$TESSERA" push tx_live "$TMP/push.csv"
  expect_rc "$r: push" 0
  ents=""
  for u in 1 2 3 7 39 40 41 399 400 401; do ents="$ents --entity user_id=$u"; done
  run "$TESSERA" get --service svc $ents --json
  expect_rc "$r: get" 0
  cp "$_out" "$TMP/$r.get.json"
  run "$TESSERA" get --service svc $ents --json --now 2026-01-07T12:00:00Z
  expect_rc "$r: get later (history records read)" 0
  cp "$_out" "$TMP/$r.later.json"
  run "$TESSERA" check --sample 100
  expect_rc "$r: online equals offline" 0
  run "$TESSERA" materialize --full
  expect_rc "$r: a full rebuild" 0
  run "$TESSERA" get --service svc $ents --json
  cp "$_out" "$TMP/$r.full.json"
  run "$TESSERA" verify
  expect_rc "$r: verify" 0
done
check "redis: records are in Redis" "[ \"\$(redis-cli -p $PORT -n 2 dbsize)\" -gt 400 ]"
ckeys=0
for p in "${CPORTS[@]}"; do ckeys=$((ckeys + $(redis-cli -p "$p" dbsize))); done
check "cluster: records are in the cluster" "[ $ckeys -gt 400 ]"
for r in redis cluster; do
  check "$r: the same lookups as LMDB, byte for byte" "cmp -s '$TMP/lmdb.get.json' '$TMP/$r.get.json'"
  check "$r: ...later, from the history records too" "cmp -s '$TMP/lmdb.later.json' '$TMP/$r.later.json'"
  check "$r: ...after a full rebuild" "cmp -s '$TMP/lmdb.full.json' '$TMP/$r.full.json'"
done

# two full materializations into the cluster at once take turns (the online lock is a lease
# in the cluster, not a file of one machine) and leave online equal to offline
cd "$TMP/cluster" || exit 1
"$TESSERA" materialize --full >"$TMP/m1.out" 2>&1 &
M1=$!
"$TESSERA" materialize --full >"$TMP/m2.out" 2>&1
M2RC=$?
wait $M1
M1RC=$?
check "cluster: two materializations at once both succeed" "[ $M1RC = 0 ] && [ $M2RC = 0 ]"
run "$TESSERA" check --sample 400
expect_rc "cluster: ...and online equals offline after them" 0
check "cluster: the lock is gone after them" \
  "[ -z \"\$(for p in ${CPORTS[*]}; do redis-cli -p \$p keys 'tessera-lock:*'; done)\" ]"

# Redis goes away: a clear error (the command: exit 1; the server: 503 with a JSON body), then
# it works again once Redis is back, the server without a restart
cd "$TMP/redis" || exit 1
"$TESSERA" serve --port 0 >"$TMP/serve.out" 2>"$TMP/serve.err" &
SPID=$!
for _ in $(seq 1 100); do grep -q 'serving on' "$TMP/serve.out" 2>/dev/null && break; sleep 0.05; done
URL=$(sed -n 's/.*serving on \(http[^ ]*\).*/\1/p' "$TMP/serve.out")
lookup() { curl -s -o "$TMP/l.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data '{"feature_service":"svc","entities":{"user_id":[1,2]}}' "$URL/get-online-features"; }
check "serving from Redis: 200" "[ \"\$(lookup)\" = 200 ]"
kill "$RPID"
wait "$RPID" 2>/dev/null
run "$TESSERA" get --service svc --entity user_id=1
expect_rc "Redis down: get fails" 1
expect_err "...naming the server" "127.0.0.1:$PORT"
check "Redis down: the server answers 503" "[ \"\$(lookup)\" = 503 ]"
printf 'txn_id,user_id,merchant_id,amount,currency,channel,is_international,ts,created_at\n610000001,5,3,77.5,USD,app,false,2026-01-06T00:20:00Z,2026-01-06T00:20:00Z\n' >"$TMP/late.csv"
code=$(curl -s -o "$TMP/p.json" -w '%{http_code}' -H 'Content-Type: application/json' --data \
  '{"push_source_name":"tx_live","to":"online_and_offline","df":{"txn_id":[610000001],"user_id":[5],"merchant_id":[3],"amount":[77.5],"currency":["USD"],"channel":["app"],"is_international":[false],"ts":["2026-01-06T00:20:00Z"],"created_at":["2026-01-06T00:20:00Z"]}}' \
  "$URL/push")
check "Redis down: a push to the server gets 503" "[ '$code' = 503 ]"
check "...saying its rows are stored offline, not to push them again" "grep -q 'stored offline' '$TMP/p.json'"
run "$TESSERA" push tx_live "$TMP/late.csv"
expect_rc "Redis down: a push from the command fails" 1
expect_err "...naming the server" "127.0.0.1:$PORT"
check "...with a JSON error naming the server" "grep -q '\"unavailable\"' '$TMP/l.json' && grep -q '127.0.0.1:$PORT' '$TMP/l.json'"
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  >>"$TMP/redis.log" 2>&1 &
RPID=$!
for _ in $(seq 1 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
check "Redis back: the server answers 200 again, by itself" "[ \"\$(lookup)\" = 200 ]"
kill "$SPID"
wait "$SPID" 2>/dev/null
run "$TESSERA" materialize
expect_rc "Redis back (empty): materialize rebuilds" 0
run "$TESSERA" get --features v:last_amount --entity user_id=5
expect_out "...with the push made while Redis was down" "77.5"
(cd "$TMP/lmdb" && "$TESSERA" push tx_live "$TMP/late.csv" >/dev/null && "$TESSERA" get --service svc $ents --json >"$TMP/lmdb.late.json")
run "$TESSERA" get --service svc $ents --json
check "...and answers as LMDB does" "cmp -s '$TMP/lmdb.late.json' '$_out'"

# a cluster node goes away: lookups of the keys it serves get 503 naming it, pushes too; when
# it is back (empty: no persistence) the same server answers 200 again by itself
cd "$TMP/cluster" || exit 1
"$TESSERA" serve --port 0 >"$TMP/cserve.out" 2>"$TMP/cserve.err" &
SPID=$!
for _ in $(seq 1 100); do grep -q 'serving on' "$TMP/cserve.out" 2>/dev/null && break; sleep 0.05; done
URL=$(sed -n 's/.*serving on \(http[^ ]*\).*/\1/p' "$TMP/cserve.out")
check "serving from the cluster: 200" "[ \"\$(lookup)\" = 200 ]"
slot=$(redis-cli -p "${CPORTS[0]}" cluster keyslot '{v}' | tr -d '\r')
victim=
for i in 0 1 2; do
  redis-cli -p "${CPORTS[$i]}" cluster slots | tr -d '\r' | python3 -c "
import sys
l = sys.stdin.read().split()
for j in range(0, len(l) - 3):
    if l[j].isdigit() and l[j+1].isdigit() and int(l[j]) <= $slot <= int(l[j+1]) and l[j+3] == '${CPORTS[$i]}':
        sys.exit(0)
sys.exit(1)" && victim=$i
done
check "the node that serves view v's slot is known" "[ -n '$victim' ]"
kill "${RC_PIDS[$victim]}"
wait "${RC_PIDS[$victim]}" 2>/dev/null
check "cluster node down: the server answers 503" "[ \"\$(lookup)\" = 503 ]"
check "...with a JSON error naming the node" "grep -q '\"unavailable\"' '$TMP/l.json' && grep -q '127.0.0.1:${CPORTS[$victim]}' '$TMP/l.json'"
code=$(curl -s -o "$TMP/p.json" -w '%{http_code}' -H 'Content-Type: application/json' --data \
  '{"push_source_name":"tx_live","to":"online_and_offline","df":{"txn_id":[610000002],"user_id":[6],"merchant_id":[3],"amount":[12.5],"currency":["USD"],"channel":["app"],"is_international":[false],"ts":["2026-01-06T00:21:00Z"],"created_at":["2026-01-06T00:21:00Z"]}}' \
  "$URL/push")
check "cluster node down: a push gets 503" "[ '$code' = 503 ]"
cnode_start "$victim"
check "the node is back in the cluster" wait_cluster
ok200=0
for _ in $(seq 1 100); do [ "$(lookup)" = 200 ] && { ok200=1; break; }; sleep 0.1; done
check "cluster node back: the server answers 200 again, by itself" "[ $ok200 = 1 ]"
kill "$SPID"
wait "$SPID" 2>/dev/null
SPID=
run "$TESSERA" materialize
expect_rc "cluster node back (empty): materialize rebuilds" 0
run "$TESSERA" get --features v:last_amount --entity user_id=6
expect_out "...with the push made while the node was down" "12.5"
run "$TESSERA" check --sample 400
expect_rc "...and online equals offline" 0
