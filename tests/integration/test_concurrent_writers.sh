#!/usr/bin/env bash
# Pushes and materializations at once, from separate processes: incremental and full
# materializations run while pushes land (their offline commit and their online write race
# with the runs' reads of the meta record). Afterwards every ingest is online exactly once:
# online equals offline for every sampled entity, and the store verifies.
. "$(dirname "$0")/lib.sh"

R="$TMP/repo"
mkdir -p "$R/data"
printf 'project: concurrent_test\n' >"$R/tessera.yaml"
tx_defs "- {name: n_all, agg: count}" "- {name: s_all, agg: sum, expr: amount}" >"$R/defs.yaml"
"$GEN" --out "$TMP/gen" --events 30000 --users 300 --merchants 50 --start 2026-01-01 --days 5 >/dev/null 2>&1
cp "$TMP/gen/transactions.csv" "$R/data/tx.csv"
cd "$R" || exit 1
export TESSERA_NOW=2026-01-06T00:30:00Z
"$TESSERA" apply >/dev/null 2>&1 && "$TESSERA" ingest tx >/dev/null 2>&1 && "$TESSERA" materialize >/dev/null 2>&1
for i in $(seq 1 40); do
  python3 - "$TMP/p$i.csv" "$i" <<'PY'
import random, sys
rng = random.Random(int(sys.argv[2]))
with open(sys.argv[1], "w") as f:
    f.write("txn_id,user_id,merchant_id,amount,currency,channel,is_international,ts,created_at\n")
    for r in range(50):
        ts = "2026-01-06T00:%02d:%02dZ" % (rng.randint(0, 29), rng.randint(0, 59))
        f.write("%d,%d,%d,%d.25,USD,web,false,%s,%s\n" % (
            700000000 + int(sys.argv[2]) * 100 + r, rng.randint(1, 300), rng.randint(1, 50),
            rng.randint(1, 99), ts, ts))
PY
done
fails="$TMP/fails"
: >"$fails"
( for i in $(seq 1 40); do "$TESSERA" push tx_live "$TMP/p$i.csv" >/dev/null 2>>"$fails" || echo "push $i failed" >>"$fails"; done ) &
p1=$!
( for i in $(seq 1 20); do "$TESSERA" push tx_live "$TMP/p$((i + 20)).csv" --to online >/dev/null 2>&1; done ) &
p2=$!
( for i in $(seq 1 12); do
    if [ $((i % 4)) = 0 ]; then "$TESSERA" materialize --full >/dev/null 2>>"$fails" || echo "full $i failed" >>"$fails"
    else "$TESSERA" materialize >/dev/null 2>>"$fails" || echo "materialize $i failed" >>"$fails"; fi
  done ) &
p3=$!
wait $p1 $p3
wait $p2
check "every push and materialization succeeded" "[ ! -s '$fails' ]"
# the online-only pushes are not in the offline store: a full rebuild is what check compares
run "$TESSERA" materialize --full
expect_rc "a last full materialization" 0
run "$TESSERA" check --sample 300
expect_rc "online equals offline for every entity" 0
expect_out "...compared" "0 mismatches"
run "$TESSERA" verify
expect_rc "the store verifies" 0
