#!/usr/bin/env bash
# The offline store through the command: ingest (atomic, idempotent, located errors that store
# nothing), training sets (CSV and JSON Lines, options), stats.
. "$(dirname "$0")/lib.sh"

R="$TMP/repo"
mkdir -p "$R/data"
cat >"$R/tessera.yaml" <<'Y'
project: offline_test
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
  - name: txj
    type: batch
    path: data/tx.jsonl
    timestamp: ts
    schema: {user_id: int64, amount: float64, channel: string, ts: timestamp}
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
      - {name: web_n, agg: count, where: "channel = 'web'"}
  - name: spendj
    entities: [user]
    source: txj
    features:
      - {name: j_last, expr: amount}
on_demand_features:
  - name: ratio
    inputs: {features: ["spend:sum_1d"], request: {req: float64}}
    expr: "req / sum_1d"
feature_services:
  - name: svc
    features: ["spend:*", ratio]
Y
cat >"$R/data/tx1.csv" <<'C'
user_id,amount,channel,ts,created_at
1,10.50,web,2026-01-01T10:00:00Z,2026-01-01T10:00:00Z
1,20.00,app,2026-01-01T11:30:00Z,
2,5.25,"we,b",2026-01-01T09:00:00Z,2026-01-01T09:00:00Z
1,30.00,web,2026-01-01T11:30:00Z,2026-01-01T11:31:00Z
C
cat >"$R/labels.csv" <<'C'
user_id,event_timestamp,req,label
1,2026-01-01T11:45:00Z,100,"a,b"
2,2026-01-03T00:00:00Z,1,no
3,2026-01-01T12:00:00Z,2,
1,2026-01-01T09:00:00Z,3,x
C
T() { run "$TESSERA" -C "$R" "$@"; }

T ingest tx
expect_rc "ingest before apply fails" 1
expect_err "ingest before apply says why" "tessera apply"
T apply
expect_rc "apply" 0
T ingest tx
expect_rc "ingest the source's own path" 0
expect_out "ingest reports rows" "4 rows"
T ingest tx
expect_rc "ingest again exits 0" 0
expect_out "the same file is skipped" "skipped"
T training-set --service svc --labels labels.csv -o out.csv
expect_rc "training-set" 0
expected='user_id,event_timestamp,req,label,last_amount,last_channel,n_2h,sum_1d,web_n,ratio
1,2026-01-01T11:45:00Z,100,"a,b",30,web,3,60.5,2,1.6528925619834711
2,2026-01-03T00:00:00Z,1,no,,,0,0,0,
3,2026-01-01T12:00:00Z,2,,,,0,0,0,
1,2026-01-01T09:00:00Z,3,x,,,0,0,0,'
check "training set values (ties by created_ts, ttl, windows, where, on-demand)" \
  '[ "$(cat "$R/out.csv")" = "$expected" ]'
[ "$(cat "$R/out.csv")" = "$expected" ] || { echo "    got:"; sed 's/^/      /' "$R/out.csv"; }

T training-set --features spend:last_amount,spend:n_2h --labels labels.csv -o out2.jsonl --full-feature-names
expect_rc "training-set to JSON Lines with full names" 0
check "JSON Lines output has view__feature keys" 'grep -q "\"spend__last_amount\":30" "$R/out2.jsonl"'
check "JSON Lines output keeps the label columns" 'grep -q "\"label\":\"a,b\"" "$R/out2.jsonl"'

printf '{"user_id": 1, "when": "2026-01-01T11:45:00Z", "extra": {"nested": [1, 2]}}\n{"user_id": 7, "when": "2026-01-01"}\n' >"$R/labels.jsonl"
T training-set --features spend:last_amount --labels labels.jsonl -o out3.jsonl --timestamp-column when
expect_rc "JSON Lines labels with --timestamp-column" 0
check "JSON Lines labels pass through unchanged" 'grep -q "\"extra\": {\"nested\": \[1, 2\]}, *\"last_amount\":30}" "$R/out3.jsonl"'
check "an entity without events gets null" 'grep -q "\"last_amount\":null" "$R/out3.jsonl"'

T training-set --service svc --labels labels.jsonl -o x.csv
expect_rc "a missing timestamp column fails" 1
expect_err "and names it" "event_timestamp"
T training-set --service nope --labels labels.csv -o x.csv
expect_rc "an unknown service fails" 1
T training-set --labels labels.csv -o x.csv
expect_rc "no service and no features is a usage error" 2

# bad files: located errors, exit 1, nothing stored
before=$(cat "$R/out.csv")
bad() { # name, file contents
  printf '%b' "$2" >"$R/data/bad.csv"
  T ingest tx data/bad.csv
  expect_rc "$1: exit 1" 1
  check "$1: the error is located" 'grep -qE "bad.csv(:[0-9]+)" "$_err"'
  T training-set --service svc --labels labels.csv -o out.csv
  check "$1: nothing was stored" '[ "$(cat "$R/out.csv")" = "$before" ]'
}
hdr='user_id,amount,channel,ts,created_at\n'
bad "wrong column count" "${hdr}1,1.0,web,2026-01-01T12:00:00Z\n"
bad "bad number" "${hdr}1,12;5,web,2026-01-01T12:00:00Z,\n"
bad "bad timestamp" "${hdr}1,1.0,web,2026-13-01T12:00:00Z,\n"
bad "unterminated quote" "${hdr}1,1.0,\"web,2026-01-01T12:00:00Z,\n"
bad "invalid UTF-8" "${hdr}1,1.0,w\xff\xfeb,2026-01-01T12:00:00Z,\n"
bad "header that does not match the schema" "user_id,amount,chanel,ts,created_at\n1,1.0,web,2026-01-01T12:00:00Z,\n"
printf '' >"$R/data/empty.csv"
T ingest tx data/empty.csv
expect_rc "empty file: exit 1" 1
expect_err "empty file: says so" "empty"

# a good file and a bad one in one ingest: neither is stored
printf 'user_id,amount,channel,ts,created_at\n1,12;5,web,2026-01-01T12:00:00Z,\n' >"$R/data/bad.csv"
printf 'user_id,amount,channel,ts,created_at\n1,1000,web,2026-01-01T11:40:00Z,\n' >"$R/data/good.csv"
T ingest tx data/good.csv data/bad.csv
expect_rc "one bad file fails the whole ingest" 1
T training-set --service svc --labels labels.csv -o out.csv
check "the good file of a failed ingest was not stored" '[ "$(cat "$R/out.csv")" = "$before" ]'
T ingest tx data/good.csv data/bad.csv --max-bad-rows 5
expect_rc "--max-bad-rows accepts bad rows" 0
expect_out "--max-bad-rows reports them" "bad rows"
T training-set --service svc --labels labels.csv -o out.csv
check "the good rows are now stored" 'grep -q "^1,2026-01-01T11:45:00Z,100,\"a,b\",1000," "$R/out.csv"'
T ingest tx data/good.csv --force
expect_rc "--force ingests a file again" 0
expect_out "--force reports rows" "1 rows"

printf '{"user_id": 1, "amount": 2.5, "channel": "web", "ts": "2026-01-01T10:00:00Z"}\n' >"$R/data/tx.jsonl"
T ingest txj
expect_rc "JSON Lines ingest" 0
T training-set --features spendj:j_last --labels labels.csv -o j.csv
check "JSON Lines events are used" 'grep -q "^1,2026-01-01T11:45:00Z,100,\"a,b\",2.5$" "$R/j.csv"'

T stats spend
expect_rc "stats" 0
expect_out "stats lists the features" "last_amount"
T stats spend --json
expect_rc "stats --json" 0
check "stats --json parses" "python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"rows\"] > 0' <'$_out'"
T stats nope
expect_rc "stats of an unknown view fails" 1

# a label whose join key is empty: the values of an entity without events, in its place
printf 'user_id,event_timestamp\n1,2026-01-01T11:45:00Z\n,2026-01-01T11:45:00Z\n7,2026-01-01T11:45:00Z\n' >"$R/nullkey.csv"
T training-set --features spend:last_amount,spend:n_2h --labels nullkey.csv -o nullkey.csv.out.csv
expect_rc "a null join key in the labels" 0
check "the null-key label row gets empty values and a zero count" \
  'sed -n 3p "$R/nullkey.csv.out.csv" | grep -qx ",2026-01-01T11:45:00Z,,0"'
