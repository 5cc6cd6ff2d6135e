#!/usr/bin/env bash
# The same feature repo and data on LMDB, on a real redis-server and on a real 3-node Redis
# Cluster (all started here on free loopback ports, stopped at exit): apply, ingest,
# materialize (incremental and full), push, get, check and verify work through Redis and
# Redis Cluster, and lookups answer byte for byte what LMDB answers. Then each goes away under
# a running server (503 with a JSON error) and comes back (200 again, by itself); two
# materializations into the cluster at once take turns (the lock lives in the cluster).
# A view with online_expiry (vx) and entities past it: the same answers everywhere, records
# given a key expiry in Redis (PTTL > 0), forgotten ones never written, and one whose expiry
# runs out during the test dropped by Redis itself.
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
  cat >"$1/expiry.yaml" <<'Y'
sources:
  - name: sx
    type: batch
    path: data/sx.csv
    timestamp: ts
    schema: {user_id: int64, amount: int64, ts: timestamp}
  - {name: sx_live, type: push, batch_source: sx}
feature_views:
  - name: vx
    entities: [user]
    source: sx
    hop: 1h
    ttl: 2h
    online_expiry: 4h
    features:
      - {name: x_last, expr: amount}
      - {name: x_n_1h, agg: count, window: 1h}
      - {name: x_s_1h, agg: sum, expr: amount, window: 1h}
feature_services:
  - name: svcx
    features: ["vx:*"]
Y
  cp "$TMP/sx.csv" "$1/data/sx.csv"
}
# vx's events around TESSERA_NOW (2026-01-06T00:30:00Z; online_expiry 4h): users 1-8 recent,
# 9-16 long past the expiry (forgotten: never written), 17 an hour from it, 18 in the future
# only, 19 old plus a future row; 30 two seconds from it: its key expiry (relative to the
# pinned now) runs out during the test, so it is left out of the byte comparisons (its values
# are those of an entity never seen either way: only statuses could differ, and `check`
# compares values).
{
  echo "user_id,amount,ts"
  for u in 1 2 3 4 5 6 7 8; do
    echo "$u,$((u * 10)),2026-01-06T00:$(printf '%02d' $((u * 3))):00Z"
    echo "$u,$((u * 10 + 1)),2026-01-05T2$((u % 4)):15:00Z"
  done
  for u in 9 10 11 12 13 14 15 16; do echo "$u,$((u * 10)),2026-01-05T1$((u % 10)):00:00Z"; done
  echo "17,170,2026-01-05T21:30:00Z"
  echo "18,180,2026-01-06T02:30:00Z"
  echo "19,190,2026-01-04T10:00:00Z"
  echo "19,191,2026-01-06T03:00:00Z"
  echo "30,300,2026-01-05T20:30:02Z"
} >"$TMP/sx.csv"
# late pushes: user 9 back (a row within the expiry), user 10 still forgotten (older still)
printf 'user_id,amount,ts\n9,99,2026-01-06T00:00:00Z\n10,101,2026-01-05T08:00:00Z\n' >"$TMP/pushx.csv"
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
  run "$TESSERA" ingest sx
  expect_rc "$r: ingest (vx)" 0
  run "$TESSERA" materialize
  expect_rc "$r: materialize" 0
  run "$TESSERA" push tx_live "$TMP/push.csv"
  expect_rc "$r: push" 0
  run "$TESSERA" push sx_live "$TMP/pushx.csv"
  expect_rc "$r: push (vx)" 0
  xents=""
  for u in $(seq 1 19) 401; do xents="$xents --entity user_id=$u"; done
  for t in 2026-01-06T00:30:00Z 2026-01-06T03:30:00Z 2026-01-06T04:30:01Z; do
    run "$TESSERA" get --service svcx $xents --json --now $t
    expect_rc "$r: get vx at $t" 0
    cp "$_out" "$TMP/$r.x.$t.json"
  done
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
  run "$TESSERA" get --service svcx $xents --json
  cp "$_out" "$TMP/$r.x.full.json"
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
  for t in 2026-01-06T00:30:00Z 2026-01-06T03:30:00Z 2026-01-06T04:30:01Z full; do
    check "$r: vx (online_expiry) answers as LMDB does ($t)" "cmp -s '$TMP/lmdb.x.$t.json' '$TMP/$r.x.$t.json'"
  done
done
python3 - "$TMP/lmdb.x.2026-01-06T00:30:00Z.json" "$TMP/lmdb.x.2026-01-06T04:30:01Z.json" <<'PY' >"$TMP/x.check" 2>&1
import json, sys
now, later = (json.load(open(p)) for p in sys.argv[1:3])
st = lambda d: d["results"][1]["statuses"]  # x_last, users 1..19 and 401
want_now = ["PRESENT"] * 8 + ["PRESENT"] + ["NOT_FOUND"] * 7 + ["OUTSIDE_MAX_AGE", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND"]
assert st(now) == want_now, st(now)
# 4h after: users 1-8 and 9 forgotten; 18 and 19 (rows at 02:30 and 03:00) still there
assert [s != "NOT_FOUND" for s in st(later)] == [False] * 17 + [True, True, False], st(later)
print("ok")
PY
check "vx: forgotten entities are NOT_FOUND, the others as their rows say (LMDB)" "grep -qx ok '$TMP/x.check'"
(cd "$TMP/lmdb" && "$TESSERA" get --features vx:x_last --entity user_id=30 --entity user_id=10 --json) >"$TMP/x30.json"
check "lmdb: user 30 (2 s from its expiry at the pinned now) has a record, user 10 (forgotten) none" \
  "grep -q '\"OUTSIDE_MAX_AGE\", *\"NOT_FOUND\"' <(tr -d ' \n' <'$TMP/x30.json' | sed 's/,/, /g')"
# Redis: vx's records carry a key expiry, view v's none; the forgotten entities were never
# written; user 30's key expiry (2 s from the pinned now, plus 1 s of slack) runs out and
# Redis drops it
# ttl_keys PORT PATTERN: "<keys with a TTL> <keys without one>" among keys matching PATTERN
ttl_keys() {
  redis-cli -p "$1" ${3:+-n $3} --raw EVAL "local t, n = 0, 0
for _, k in ipairs(redis.call('KEYS', ARGV[1])) do
  local p = redis.call('PTTL', k)
  if p > 0 then t = t + 1 elseif p == -1 then n = n + 1 end
end
return t .. ' ' .. n" 0 "$2" | tr -d '\r'
}
check "redis: vx's heads and histories all carry a key expiry (PTTL > 0)" \
  "[ \"\$(ttl_keys $PORT 'vvx*' 2 | cut -d' ' -f2)\" = 0 ] && [ \"\$(ttl_keys $PORT 'vvx*' 2 | cut -d' ' -f1)\" -ge 12 ] && [ \"\$(ttl_keys $PORT 'hvx*' 2 | cut -d' ' -f2)\" = 0 ]"
hist_after=$(redis-cli -p "$PORT" -n 2 --raw EVAL "local ok, bad = 0, 0
for _, h in ipairs(redis.call('KEYS', 'hvx*')) do
  if redis.call('PTTL', h) > redis.call('PTTL', 'v' .. string.sub(h, 2)) then ok = ok + 1 else bad = bad + 1 end
end
return ok .. ' ' .. bad" 0 | tr -d '\r')
check "redis: a history's key expiry is later than its head's (never gone first)" \
  "[ '${hist_after% *}' -ge 1 ] && [ '${hist_after#* }' = 0 ]"
check "redis: view v's records (no online_expiry) carry none" \
  "[ \"\$(ttl_keys $PORT 'vv?*' 2 | cut -d' ' -f2)\" -gt 300 ]"
gone=0
for _ in $(seq 1 100); do
  [ "$(ttl_keys $PORT 'vvx*' 2)" = "12 0" ] && { gone=1; break; }
  sleep 0.1
done
check "redis: the forgotten entities have no record, and user 30's expired key is gone (12 vx heads left)" "[ $gone = 1 ]"
cgone=0
for _ in $(seq 1 100); do
  tot=0
  for p in "${CPORTS[@]}"; do tot=$((tot + $(ttl_keys "$p" '{vx#*}vvx#*' | cut -d' ' -f1))); done
  nottl=0
  for p in "${CPORTS[@]}"; do
    for k in '{vx#*}vvx#*' '{vx#*}hvx#*'; do nottl=$((nottl + $(ttl_keys "$p" "$k" | cut -d' ' -f2))); done
  done
  [ "$tot" = 12 ] && [ "$nottl" = 0 ] && { cgone=1; break; }
  sleep 0.1
done
check "cluster: the same (vx's keys all carry a key expiry, 12 heads left)" "[ $cgone = 1 ]"

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

# slot groups: view v's entities are spread over every master (hash tag "v#gg"), one meta
# record per group (256), each in its group's slot
metas=0
for i in 0 1 2; do
  n=$(redis-cli -p "${CPORTS[$i]}" --scan --pattern '{v#*}vv#*' | wc -l)
  check "cluster: view v's heads are on node $i too ($n of 400)" "[ $n -gt 50 ]"
  metas=$((metas + $(redis-cli -p "${CPORTS[$i]}" --scan --pattern '{v#*}mv#*' | wc -l)))
done
check "cluster: view v has one meta record per slot group (256: $metas)" "[ $metas = 256 ]"
check "cluster: a group's meta record is in the slot of its records" \
  "[ \"\$(redis-cli -p ${CPORTS[0]} cluster keyslot '{v#3f}mv#3f')\" = \"\$(redis-cli -p ${CPORTS[0]} cluster keyslot '{v#3f}vv#3f')\" ]"

# a materialization into the cluster killed (SIGKILL) at random moments, also between the
# commits of two slot groups (each slot commits on its own), then run again: the same answers
# as LMDB (no ingest applied twice to a group, none lost), `check` finds no mismatch. The same
# events go to a copy of the LMDB store (the same ingest again: every event twice).
cp -r "$TMP/lmdb" "$TMP/lmdb2"
(cd "$TMP/lmdb2" && "$TESSERA" ingest tx --force >/dev/null 2>&1 && "$TESSERA" materialize >/dev/null 2>&1)
kill_at() { # kill_at MS CMD...: starts CMD, SIGKILLs it after a random 0..MS ms unless it ended
  local span=$1 ms=$((RANDOM % ($1 + 1)))
  shift
  "$@" >/dev/null 2>&1 &
  local pid=$!
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
  kill -9 "$pid" 2>/dev/null && landed=$((landed + 1))
  wait "$pid" 2>/dev/null
  # a killed run's lease on the online lock would run out after lock_ttl (30 s): let it go now
  for p in "${CPORTS[@]}"; do redis-cli -p "$p" del tessera-lock:online >/dev/null 2>&1; done
}
cd "$TMP/cluster" || exit 1
run "$TESSERA" ingest tx --force
expect_rc "cluster: the same file ingested again" 0
t0=$(date +%s%N)
"$TESSERA" materialize --full >/dev/null 2>&1
span=$((($(date +%s%N) - t0) / 1000000 + 1))
landed=0
for _ in 1 2 3 4 5 6; do kill_at "$span" "$TESSERA" materialize --full; done
for _ in 1 2 3 4 5 6; do
  (cd "$TMP/cluster" && "$TESSERA" materialize --full >/dev/null 2>&1) # done, then incremental
  "$TESSERA" ingest tx --force >/dev/null 2>&1
  (cd "$TMP/lmdb2" && "$TESSERA" ingest tx --force >/dev/null 2>&1)
  kill_at "$span" "$TESSERA" materialize
  kill_at "$span" "$TESSERA" materialize
done
run "$TESSERA" materialize
expect_rc "cluster: materialize after $landed killed runs" 0
(cd "$TMP/lmdb2" && "$TESSERA" materialize >/dev/null 2>&1 && "$TESSERA" get --service svc $ents --json >"$TMP/lmdb2.get.json")
run "$TESSERA" get --service svc $ents --json
check "cluster: after killed materializations, the same lookups as LMDB, byte for byte" \
  "cmp -s '$TMP/lmdb2.get.json' '$_out'"
run "$TESSERA" check --sample 400
expect_rc "...and online equals offline" 0
expect_out "...with no mismatch" "0 mismatches"
run "$TESSERA" verify
expect_rc "...and the cluster verifies" 0

# Redis goes away: a clear error (the command: exit 1; the server: 503 with a JSON body), then
# it works again once Redis is back, the server without a restart
cd "$TMP/redis" || exit 1
"$TESSERA" serve --port 0 >"$TMP/serve.out" 2>"$TMP/serve.err" &
SPID=$!
for _ in $(seq 1 100); do grep -q 'serving on' "$TMP/serve.out" 2>/dev/null && break; sleep 0.05; done
URL=$(sed -n 's/.*serving on \(http[^ ]*\).*/\1/p' "$TMP/serve.out")
# users 1..40: in a cluster their records are on every node (slot groups)
lookup() { curl -s -o "$TMP/l.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data "{\"feature_service\":\"svc\",\"entities\":{\"user_id\":[$(seq -s, 1 40)]}}" "$URL/get-online-features"; }
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
# the victim: the node that holds user 6's records in view v (the push below is user 6's)
victim=
for i in 0 1 2; do
  [ "$(redis-cli -p "${CPORTS[$i]}" EVAL "for _, k in ipairs(redis.call('KEYS', '{v#*}vv#*')) do
  if string.sub(k, -9) == '\\0\\128\\0\\0\\0\\0\\0\\0\\6' then return 1 end
end
return 0" 0 | tr -d '\r')" = 1 ] && victim=$i
done
check "the node that holds user 6's records in view v is known" "[ -n '$victim' ]"
kill "${RC_PIDS[$victim]}"
wait "${RC_PIDS[$victim]}" 2>/dev/null
check "cluster node down: the server answers 503" "[ \"\$(lookup)\" = 503 ]"
check "...with a JSON error naming the node" "grep -q '\"unavailable\"' '$TMP/l.json' && grep -q '127.0.0.1:${CPORTS[$victim]}' '$TMP/l.json'"
code=$(curl -s -o "$TMP/p.json" -w '%{http_code}' -H 'Content-Type: application/json' --data \
  '{"push_source_name":"tx_live","to":"online_and_offline","df":{"txn_id":[610000002],"user_id":[6],"merchant_id":[3],"amount":[12.5],"currency":["USD"],"channel":["app"],"is_international":[false],"ts":["2026-01-06T00:21:00Z"],"created_at":["2026-01-06T00:21:00Z"]}}' \
  "$URL/push")
check "cluster node down: a push gets 503" "[ '$code' = 503 ]"
printf 'txn_id,user_id,merchant_id,amount,currency,channel,is_international,ts,created_at\n610000002,6,3,12.5,USD,app,false,2026-01-06T00:21:00Z,2026-01-06T00:21:00Z\n' >"$TMP/p2.csv"
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
expect_out "...with no mismatch" "0 mismatches"
(cd "$TMP/lmdb2" && "$TESSERA" push tx_live "$TMP/p2.csv" >/dev/null 2>&1 && "$TESSERA" get --service svc $ents --json >"$TMP/lmdb2.p2.json")
run "$TESSERA" get --service svc $ents --json
check "...and the same lookups as LMDB given the same push, byte for byte" "cmp -s '$TMP/lmdb2.p2.json' '$_out'"
