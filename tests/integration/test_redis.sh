#!/usr/bin/env bash
# The same feature repo and data on LMDB and on a real redis-server (started here on a free
# loopback port): apply, ingest, materialize (incremental and full), push, get, check and
# verify work through Redis, and lookups answer byte for byte what LMDB answers.
. "$(dirname "$0")/lib.sh"

if ! command -v redis-server >/dev/null; then
  ok "# skip: redis-server is not installed (scripts/setup.sh installs it)"
  exit 0
fi
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  >"$TMP/redis.log" 2>&1 &
RPID=$!
trap 'kill $RPID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 1 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

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
export TESSERA_NOW=2026-01-06T00:30:00Z
printf 'txn_id,user_id,merchant_id,amount,currency,channel,is_international,ts,created_at\n' >"$TMP/push.csv"
for i in $(seq 1 60); do
  m=$(printf '%02d' $((i % 30)))
  echo "$((600000000 + i)),$((1 + i % 40)),3,$i.5,USD,web,false,2026-01-06T00:$m:00Z,2026-01-06T00:$m:00Z"
done >>"$TMP/push.csv"

for r in lmdb redis; do
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
check "the same lookups, byte for byte" "cmp -s '$TMP/lmdb.get.json' '$TMP/redis.get.json'"
check "...later, from the history records too" "cmp -s '$TMP/lmdb.later.json' '$TMP/redis.later.json'"
check "...after a full rebuild" "cmp -s '$TMP/lmdb.full.json' '$TMP/redis.full.json'"

# Redis goes away: a clear error (the command: exit 1; the server: 503 with a JSON body), then
# it works again once Redis is back, the server without a restart
cd "$TMP/redis" || exit 1
"$TESSERA" serve --port 0 >"$TMP/serve.out" 2>"$TMP/serve.err" &
SPID=$!
trap 'kill $RPID $SPID 2>/dev/null; rm -rf "$TMP"' EXIT
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
