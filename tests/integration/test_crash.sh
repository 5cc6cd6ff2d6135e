#!/usr/bin/env bash
# Crash safety (DESIGN.md "Store and back ends"; issue 6): `tessera ingest`, `tessera apply`
# (which materializes) and `tessera push` are killed with SIGKILL at random moments, many
# times over. After each kill the store must open, `tessera verify` must find nothing damaged,
# the offline store must hold the killed ingest (or push) whole or not at all, the registry
# must be at the old version or the new one, and online values must equal offline ones
# (`tessera check`).
. "$(dirname "$0")/lib.sh"

R="$TMP/repo"
mkdir -p "$R/data"
cat >"$R/tessera.yaml" <<'Y'
project: crash_test
Y
defs() { # defs N: the definitions with N extra features (each apply adds one)
  local extra=()
  for i in $(seq 1 "$1"); do extra+=("- {name: sum_${i}d, agg: sum, expr: amount, window: ${i}d}"); done
  tx_defs "${extra[@]}"
}
defs 0 >"$R/defs.yaml"
"$GEN" --out "$TMP/gen" --events 150000 --users 3000 --merchants 100 --start 2026-01-01 --days 5 >/dev/null 2>&1
cp "$TMP/gen/transactions.csv" "$R/data/tx.csv"
cd "$R" || exit 1
export TESSERA_NOW=2026-01-06T00:30:00Z
"$TESSERA" apply >/dev/null 2>&1

versions() { "$TESSERA" history --json 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo "?"; }
# kill_at MS CMD...: starts CMD, SIGKILLs it after a random 0..MS ms (unless it ended; counted
# in $landed), waits
landed=0
kill_at() {
  local span=$1
  shift
  "$@" >/dev/null 2>&1 &
  local pid=$! ms=$((RANDOM % (span + 1)))
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
  kill -9 "$pid" 2>/dev/null && landed=$((landed + 1))
  wait "$pid" 2>/dev/null
}
# took_ms CMD...: runs CMD to the end; prints how long it took
took_ms() {
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000 + 1))
}
healthy() { # healthy WHAT: verify passes and online equals offline
  run "$TESSERA" verify
  [ "$RC" = 0 ] || { not_ok "$1: verify" "$(cat "$_out")"; return; }
  run "$TESSERA" check --sample 40
  [ "$RC" = 0 ] || { not_ok "$1: check" "$(cat "$_out")"; return; }
  ok "$1: the store verifies and online equals offline"
}

span=$(took_ms "$TESSERA" ingest tx)
before=$(tx_rows)
per=$before
check "the first ingest stored the file" "[ '$per' -gt 0 ]"

# ---- ingest -------------------------------------------------------------------------------
bad=0
grew=0
for i in $(seq 1 10); do
  kill_at "$span" "$TESSERA" ingest tx --force
  now=$(tx_rows)
  if [ "$now" != "$before" ] && [ "$now" != "$((before + per))" ]; then
    bad=1
    not_ok "killed ingest $i: $now rows, expected $before or $((before + per))"
  fi
  [ "$now" != "$before" ] && grew=$((grew + 1))
  before=$now
done
[ $bad = 0 ] && ok "a killed ingest is there whole or not at all (10 tries, $landed killed, $grew stored)"
"$TESSERA" materialize >/dev/null 2>&1 # ingests do not materialize by themselves
healthy "after killed ingests"

# ---- apply (with its materialization) -------------------------------------------------------
defs 1 >defs.yaml
span=$(took_ms "$TESSERA" apply)
before=$(versions)
bad=0
landed=0
for i in $(seq 2 9); do
  defs "$i" >defs.yaml
  kill_at "$span" "$TESSERA" apply
  now=$(versions)
  if [ "$now" != "$before" ] && [ "$now" != "$((before + 1))" ]; then
    bad=1
    not_ok "killed apply $i: $now versions, expected $before or $((before + 1))"
  fi
  before=$now
  run "$TESSERA" ls features
  [ "$RC" = 0 ] || { bad=1; not_ok "killed apply $i: the registry does not list"; }
done
[ $bad = 0 ] && ok "a killed apply leaves the registry at the old or the new version (8 tries, $landed killed)"
"$TESSERA" materialize >/dev/null 2>&1 # what the killed applies did not finish
healthy "after killed applies"

# ---- push (CLI) ------------------------------------------------------------------------------
python3 - "$TMP/push.csv" <<'PY'
import random, sys
rng = random.Random(3)
with open(sys.argv[1], "w") as f:
    f.write("txn_id,user_id,merchant_id,amount,currency,channel,is_international,ts,created_at\n")
    for i in range(20000):
        ts = "2026-01-06T00:%02d:%02dZ" % (rng.randint(0, 29), rng.randint(0, 59))
        f.write("%d,%d,%d,%.2f,USD,web,false,%s,%s\n" % (
            800000000 + i, rng.randint(1, 3000), rng.randint(1, 100), rng.uniform(1, 99), ts, ts))
PY
span=$(took_ms "$TESSERA" push tx_live "$TMP/push.csv")
before=$(tx_rows)
bad=0
landed=0
grew=0
for i in $(seq 1 8); do
  kill_at "$span" "$TESSERA" push tx_live "$TMP/push.csv"
  now=$(tx_rows)
  if [ "$now" != "$before" ] && [ "$now" != "$((before + 20000))" ]; then
    bad=1
    not_ok "killed push $i: $now rows, expected $before or $((before + 20000))"
  fi
  [ "$now" != "$before" ] && grew=$((grew + 1))
  before=$now
done
[ $bad = 0 ] && ok "a killed push is there whole or not at all (8 tries, $landed killed, $grew stored)"
"$TESSERA" materialize >/dev/null 2>&1 # the online half of pushes killed after their offline commit
healthy "after killed pushes"
