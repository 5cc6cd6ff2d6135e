#!/usr/bin/env bash
# A full disk (a file-size limit: ulimit -f) during ingest, push, materialize and a training
# set: each fails with a clear error and exit 1, nothing is lost or half-written (verify passes,
# the offline store holds what it held), and everything works again once there is room.
. "$(dirname "$0")/lib.sh"

R="$TMP/repo"
mkdir -p "$R/data"
cat >"$R/tessera.yaml" <<'Y'
project: disk_full_test
Y
tx_defs >"$R/defs.yaml"
"$GEN" --out "$TMP/gen" --events 60000 --users 20000 --merchants 100 --start 2026-01-01 --days 5 >/dev/null 2>&1
cp "$TMP/gen/transactions.csv" "$R/data/tx.csv"
head -n 2001 "$TMP/gen/transactions.csv" >"$TMP/small.csv"
cd "$R" || exit 1
export TESSERA_NOW=2026-01-06T00:30:00Z
"$TESSERA" apply >/dev/null 2>&1
"$TESSERA" ingest tx "$TMP/small.csv" >/dev/null 2>&1
before=$(tx_rows)
limited() { (ulimit -f 256 && "$@") >"$_out" 2>"$_err"; RC=$?; } # 256 KiB per file

limited "$TESSERA" ingest tx
expect_rc "ingest past the limit: exit 1" 1
expect_err "...with the reason" "File too large"
check "...and nothing of it is stored" "[ \"\$(tx_rows)\" = '$before' ]"
run "$TESSERA" verify
expect_rc "the store verifies after the failed ingest" 0
run "$TESSERA" ingest tx
expect_rc "with room, the ingest works" 0
check "...and stores the file" "[ \"\$(tx_rows)\" -gt '$before' ]"

limited "$TESSERA" materialize
expect_rc "materialize past the limit: exit 1" 1
check "...with a clear error" "grep -qiE 'too large|full|space|file-size' '$_err'"
run "$TESSERA" verify
expect_rc "the store verifies after the failed materialize" 0
run "$TESSERA" materialize
expect_rc "with room, materialize works" 0
run "$TESSERA" check --sample 30
expect_rc "...and online equals offline" 0

python3 - "$TMP/push.csv" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("txn_id,user_id,merchant_id,amount,currency,channel,is_international,ts,created_at\n")
    for i in range(40000):
        f.write("%d,%d,7,%d.5,USD,web,false,2026-01-06T00:10:00Z,2026-01-06T00:10:00Z\n" % (900000000 + i, 1 + i % 20000, i % 90))
PY
before=$(tx_rows)
limited "$TESSERA" push tx_live "$TMP/push.csv"
expect_rc "a push past the limit: exit 1" 1
check "...and nothing of it is stored" "[ \"\$(tx_rows)\" = '$before' ]"
run "$TESSERA" verify
expect_rc "the store verifies after the failed push" 0
run "$TESSERA" push tx_live "$TMP/push.csv"
expect_rc "with room, the push works" 0
run "$TESSERA" check --sample 30
expect_rc "...and online equals offline" 0

printf 'user_id,ts\n' >"$TMP/labels.csv"
for i in $(seq 1 20000); do echo "$i,2026-01-05T12:00:00Z"; done >>"$TMP/labels.csv"
limited "$TESSERA" training-set --features 'v:*' --labels "$TMP/labels.csv" --output "$TMP/ts.csv"
expect_rc "a training set past the limit: exit 1" 1
check "...and no partial output is left" "[ ! -e '$TMP/ts.csv' ] && ! ls '$TMP'/ts.csv.tmp* >/dev/null 2>&1"
