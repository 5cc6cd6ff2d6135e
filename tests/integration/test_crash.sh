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

# ---- a server under push load ----------------------------------------------------------------
# 8 clients push 1-row pushes with unique txn ids as fast as they can; the server is killed
# (SIGKILL) at a random moment, three times; every push it acknowledged (200) must be in the
# store after a restart (a training set over the acknowledged txn ids counts each once), and
# online equals offline once caught up.
python3 - defs.yaml <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("entities:\n", "entities:\n  - {name: txn, join_keys: [txn_id]}\n", 1)
s = s.replace("feature_services:", "  - name: by_txn\n    entities: [txn]\n    source: tx\n    online: false\n"
              "    features:\n      - {name: n, agg: count}\nfeature_services:", 1)
open(p, "w").write(s)
PY
run "$TESSERA" apply --no-materialize
expect_rc "a view per txn id (to find each acknowledged push)" 0
cat >"$TMP/pusher.py" <<'PY'
import json, sys, threading, urllib.request
url, base, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
acked, lock = [], threading.Lock()
def client(k):
    i = 0
    while True:
        tid = base + k * 1000000 + i
        i += 1
        body = {"push_source_name": "tx_live", "to": "online_and_offline",
                "df": {"txn_id": [tid], "user_id": [1 + tid % 3000], "merchant_id": [7],
                       "amount": [1.25], "currency": ["USD"], "channel": ["web"],
                       "is_international": [False], "ts": ["2026-01-06T00:05:00Z"],
                       "created_at": ["2026-01-06T00:05:00Z"]}}
        req = urllib.request.Request(url + "/push", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                if r.status == 200:
                    with lock:
                        acked.append(tid)
                        if len(acked) == 1:
                            open(out + ".first", "w").close()  # the test kills after this
        except Exception:
            return  # the server is gone
ts = [threading.Thread(target=client, args=(k,)) for k in range(8)]
for t in ts: t.start()
for t in ts: t.join()
with open(out, "w") as f:
    f.write("".join("%d,2026-01-06T00:06:00Z\n" % t for t in acked))
PY
printf 'txn_id,ts\n' >"$TMP/acked.csv"
for round in 1 2 3; do
  # small push logs: the load seals logs and the server's background folder folds them, so
  # the kills also land in the middle of folds (docs/offline.md, "Push log")
  TESSERA_PUSH_LOG_ROWS=150 "$TESSERA" serve --port 0 --threads 2 --no-materialize >"$TMP/serve.out" 2>"$TMP/serve.err" &
  spid=$!
  for _ in $(seq 1 200); do grep -q 'serving on' "$TMP/serve.out" 2>/dev/null && break; sleep 0.05; done
  url=$(sed -n 's/.*serving on \(http[^ ]*\).*/\1/p' "$TMP/serve.out")
  python3 "$TMP/pusher.py" "$url" $((500000000 + round * 10000000)) "$TMP/acked$round.csv" &
  ppid=$!
  # a random moment after the first acknowledged push (slow builds, busy machines: wait for it)
  for _ in $(seq 1 600); do [ -f "$TMP/acked$round.csv.first" ] && break; sleep 0.05; done
  sleep "$(printf '0.%03d' $((RANDOM % 1000)))"
  kill -9 "$spid"
  wait "$spid" 2>/dev/null
  wait "$ppid"
  cat "$TMP/acked$round.csv" >>"$TMP/acked.csv"
done
total=$(($(wc -l <"$TMP/acked.csv") - 1))
check "the server was killed three times with pushes in flight ($total acknowledged)" "[ $total -gt 0 ]"
run "$TESSERA" training-set --features by_txn:n --labels "$TMP/acked.csv" --timestamp-column ts -o "$TMP/found.csv"
expect_rc "a training set over the acknowledged pushes" 0
check "every acknowledged push is in the store, once" \
  "python3 -c 'import csv,sys; r=list(csv.DictReader(open(\"$TMP/found.csv\"))); sys.exit(0 if r and all(x[\"n\"] == \"1\" for x in r) else 1)'"
"$TESSERA" materialize >/dev/null 2>&1 # the online half of pushes killed after their offline commit
healthy "after killed servers"

# ---- a system crash with unsynced online commits -------------------------------------------
# A push stored offline commits online without a flush (docs/online_backends.md,
# "Durability"): a marker file announces such commits until they are flushed. A server under
# push load is killed while the marker is there; then the system "restarts" (TESSERA_BOOT_ID:
# another boot's id). The first process to open the store must start the online store anew
# (its file may be damaged): a lookup then finds nothing, as before a first materialization;
# materialize rebuilds it from the offline store, and every acknowledged push is there.
marker=.tessera/online/unsynced
for round in 1 2 3 4 5; do
  "$TESSERA" serve --port 0 --threads 2 --no-materialize >"$TMP/serve.out" 2>"$TMP/serve.err" &
  spid=$!
  for _ in $(seq 1 200); do grep -q 'serving on' "$TMP/serve.out" 2>/dev/null && break; sleep 0.05; done
  url=$(sed -n 's/.*serving on \(http[^ ]*\).*/\1/p' "$TMP/serve.out")
  python3 "$TMP/pusher.py" "$url" $((700000000 + round * 10000000)) "$TMP/acked_s$round.csv" &
  ppid=$!
  for _ in $(seq 1 600); do [ -f "$TMP/acked_s$round.csv.first" ] && [ -f "$marker" ] && break; sleep 0.05; done
  sleep 0.3 # under load the marker stays: new commits keep coming
  kill -9 "$spid"
  wait "$spid" 2>/dev/null
  wait "$ppid"
  [ -f "$marker" ] && break
done
check "a server died with unsynced online commits (the marker is left)" "[ -f '$marker' ]"
export TESSERA_BOOT_ID=tessera-test-after-a-system-crash
run "$TESSERA" get --service svc --entity user_id=1
expect_rc "after a system crash, a lookup opens the store" 0
check "the online store was started anew (nothing found until materialized)" \
  "[ -z \"\$(grep -v NOT_FOUND \"$_out\" | grep -v -e '^user_id=' -e '^ *FEATURE')\" ] && [ ! -f '$marker' ]"
run "$TESSERA" materialize
expect_rc "materialize rebuilds the online store" 0
healthy "after a system crash"
{ printf 'txn_id,ts\n'; cat "$TMP"/acked_s*.csv; } >"$TMP/acked_s.csv"
run "$TESSERA" training-set --features by_txn:n --labels "$TMP/acked_s.csv" --timestamp-column ts -o "$TMP/found_s.csv"
check "every push acknowledged before the system crash is in the store, once" \
  "python3 -c 'import csv,sys; r=list(csv.DictReader(open(\"$TMP/found_s.csv\"))); sys.exit(0 if r and all(x[\"n\"] == \"1\" for x in r) else 1)'"
