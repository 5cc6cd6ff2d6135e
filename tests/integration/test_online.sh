#!/usr/bin/env bash
# The online store through the command: apply materializes, materialize (full, incremental,
# ranges), get (tables, Feast JSON, statuses, ttl), check, and located errors for bad input.
. "$(dirname "$0")/lib.sh"

R="$TMP/repo"
mkdir -p "$R/data"
cat >"$R/tessera.yaml" <<'Y'
project: online_test
Y
cat >"$R/defs.yaml" <<'Y'
entities:
  - {name: user, join_keys: [user_id]}
sources:
  - name: tx
    type: batch
    path: data/tx*.csv
    timestamp: ts
    created_timestamp: created_at
    schema: {user_id: int64, amount: float64, channel: string, ts: timestamp, created_at: timestamp}
  - name: tx_live
    type: push
    batch_source: tx
feature_views:
  - name: spend
    entities: [user]
    source: tx
    ttl: 1d
    hop: 1h
    features:
      - {name: last_amount, expr: amount}
      - {name: last_channel, expr: channel}
      - {name: n_2h, agg: count, window: 2h}
      - {name: sum_1d, agg: sum, expr: amount, window: 1d}
      - {name: mean_all, agg: mean, expr: amount}
on_demand_features:
  - name: ratio
    inputs: {features: ["spend:last_amount"], request: {amount: float64}}
    expr: "amount / last_amount"
feature_services:
  - name: svc
    features: ["spend:*", ratio]
Y
cat >"$R/data/tx1.csv" <<'C'
user_id,amount,channel,ts,created_at
1,10.5,web,2024-01-01T10:00:00Z,2024-01-01T10:00:01Z
1,20,app,2024-01-01T10:30:00Z,2024-01-01T10:30:01Z
2,7,web,2024-01-01T09:00:00Z,
1,5,web,2024-01-01T13:00:00Z,2024-01-01T13:00:01Z
C
cat >"$R/data/tx2.csv" <<'C'
user_id,amount,channel,ts,created_at
1,100,app,2024-01-01T11:15:00Z,2024-01-01T11:15:00Z
3,1,web,2024-01-03T00:00:00Z,
C
cd "$R" || exit 1
export TESSERA_NOW=2024-01-01T11:45:00Z

run "$TESSERA" apply
expect_rc "apply without events" 0
run "$TESSERA" ingest tx data/tx1.csv
expect_rc "ingest the first file" 0
run "$TESSERA" materialize
expect_out "materialize is incremental after apply" "spend: incremental, 4 events of 2 entities"

run "$TESSERA" get --service svc --entity user_id=1,amount=40 --json
expect_rc "get --json" 0
check "last row at or before now, not the future one" \
  "python3 -c 'import json,sys; d=json.load(open(\"$TMP/.out\")); n=d[\"metadata\"][\"feature_names\"]; r=d[\"results\"]; v={n[i]: r[i][\"values\"][0] for i in range(len(n))}; sys.exit(0 if v[\"last_amount\"]==20 and v[\"n_2h\"]==2 and v[\"sum_1d\"]==30.5 and v[\"ratio\"]==2 and v[\"user_id\"]==1 else 1)'"
run "$TESSERA" get --service svc --entity user_id=9,amount=1
expect_out "unknown entity: NOT_FOUND" "NOT_FOUND"
check "unknown entity: a count is 0" "grep -Eq '^ +n_2h +0 +NOT_FOUND' '$TMP/.out'"

# the future row (13:00) is folded in when its time comes, without a write
TESSERA_NOW=2024-01-01T13:30:00Z run "$TESSERA" get --features spend:last_amount,spend:n_2h --entity user_id=1 --json
check "a future row counts once its time has come" \
  "python3 -c 'import json,sys; d=json.load(open(\"$TMP/.out\")); sys.exit(0 if [r[\"values\"][0] for r in d[\"results\"]]==[1,5,1] else 1)'"

# ttl: user 2's row is from 09:00 on Jan 1; a day and more later it is outside max age
TESSERA_NOW=2024-01-02T10:00:00Z run "$TESSERA" get --features spend:last_amount --entity user_id=2
expect_out "ttl gives OUTSIDE_MAX_AGE" "OUTSIDE_MAX_AGE"

# a late file: incremental materialization adds only the new ingest
run "$TESSERA" ingest tx data/tx2.csv
run "$TESSERA" materialize spend --json
check "incremental materialization of the new ingest" \
  "python3 -c 'import json,sys; d=json.load(open(\"$TMP/.out\")); v=d[\"views\"][0]; sys.exit(0 if v[\"mode\"]==\"incremental\" and v[\"events\"]==2 else 1)'"
run "$TESSERA" check --sample 50
expect_rc "check: online equals offline" 0
expect_out "check reports its comparison" "0 mismatches"
run "$TESSERA" materialize --full --json
expect_out "materialize --full rebuilds" '"mode": "full"'
run "$TESSERA" check --service svc --json
expect_rc "check after the full rebuild" 0

# a changed definition: apply rebuilds the view by itself
sed -i 's/window: 2h}/window: 3h}/' defs.yaml
run "$TESSERA" apply
expect_out "apply materializes the changed view" "Materialized spend (full)"
run "$TESSERA" check --sample 20
expect_rc "check after the change" 0
sed -i 's/window: 3h}/window: 4h}/' defs.yaml
run "$TESSERA" apply --no-materialize
check "apply --no-materialize leaves the view alone" "! grep -q Materialized '$TMP/.out'"
run "$TESSERA" get --features spend:n_2h --entity user_id=1
expect_out "a record of an older definition reads as missing" "NOT_FOUND"
run "$TESSERA" materialize
expect_out "the next materialization rebuilds it" "spend: full"

# a time range
run "$TESSERA" materialize --start 2024-01-01T10:00:00Z --end 2024-01-01T10:59:59Z
expect_out "a range rebuilds from its events" "spend: full, 2 events"
run "$TESSERA" materialize
expect_out "after a range, a full rebuild" "spend: full, 6 events"

# mistakes
run "$TESSERA" get --service nope --entity user_id=1
expect_rc "unknown service: exit 1" 1
expect_err "unknown service named" 'no feature service "nope"'
run "$TESSERA" get --service svc --entity user=1
expect_rc "unknown key: exit 2" 2
expect_err "unknown key named, with the expected ones" 'unknown key "user" (expected: user_id, amount)'
run "$TESSERA" get --service svc --entity user_id=abc,amount=1
expect_err "bad value located" '--entity 1: user_id: "abc" is not a int64'
run "$TESSERA" get --service svc --entity user_id=1
expect_err "missing request field" "--entity 1: amount is missing"
run "$TESSERA" get --service svc
expect_rc "no entity: usage" 2
run "$TESSERA" materialize nope
expect_err "unknown view" 'no feature view "nope"'
run "$TESSERA" materialize --start 2024-01-02
expect_rc "--start without --end" 2
run "$TESSERA" materialize --start yesterday --end 2024-01-02
expect_err "bad time" '"yesterday" is not a timestamp'

# push from the command line
cat >"$R/push1.csv" <<'C'
user_id,amount,channel,ts,created_at
1,42,web,2024-01-01T11:40:00Z,
5,3,app,2024-01-01T11:00:00Z,
C
run "$TESSERA" push tx_live push1.csv
expect_out "push reports its rows" "Pushed 2 rows to tx_live."
run "$TESSERA" get --features spend:last_amount --entity user_id=5 --json
check "a pushed row is served at once" \
  "python3 -c 'import json,sys; d=json.load(open(\"$TMP/.out\")); sys.exit(0 if d[\"results\"][1][\"values\"]==[3] else 1)'"
run "$TESSERA" check --sample 30
expect_rc "check after pushes" 0
printf 'user_id,amount,channel,ts,created_at\n6,1,web,2024-01-01T11:00:00Z,\n7,oops,web,2024-01-01T11:00:00Z,\n' >"$R/push2.csv"
run "$TESSERA" push tx_live push2.csv
expect_rc "a bad row fails the push" 1
expect_err "the bad row is located" "push2.csv:3"
run "$TESSERA" get --features spend:last_amount --entity user_id=6
expect_out "nothing of a failed push is stored" "NOT_FOUND"
run "$TESSERA" push tx data/tx1.csv
expect_err "a batch source is refused" "is a batch source"
run "$TESSERA" push tx_live push1.csv --to nowhere
expect_rc "--to must be known" 2
