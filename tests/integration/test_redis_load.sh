#!/usr/bin/env bash
# Faults under load (issue 5): a running `tessera serve` on a Redis online store, and on a
# 3-node Redis Cluster, while six clients look features up and push 1-row events (unique txn
# ids, `to: online_and_offline`) as fast as they can. The store's Redis (for the cluster: one
# of the nodes that serve the per-txn view's slot groups) is stopped twice, with SIGTERM and with SIGKILL,
# kept down ~1.5 s and started again from its own files (`--appendonly yes --appendfsync
# always`, so its data comes back). It shows:
# - every answer of the whole run is 200 or 503 (no 500, no dropped connection, no crash), a
#   503 a JSON error {"error": {"code": "unavailable", "message": ...}} naming the store;
# - the server answers 200 again by itself once Redis is back (pushes are acknowledged again
#   after each restart), and still runs at the end;
# - a push answered 200 is visible online at once (each client looks its own up right after
#   the 200) and after the restarts (every acknowledged txn id looked up through a view keyed by
#   txn id: PRESENT, counted once);
# - a push answered 503 "stored offline" reaches the online store at the next `tessera
#   materialize`, a push answered another 503 is not stored, and nothing is counted twice
#   (`tessera check`; a training set over the per-txn view counts each acknowledged txn once).
. "$(dirname "$0")/lib.sh"

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  ok "# skip: redis-server or redis-cli is not installed (scripts/setup.sh installs them)"
  exit 0
fi
RPID=
SPID=
LPID=
RC_DIR=$TMP
. "$ROOT/scripts/redis_cluster.sh"
cleanup() {
  kill $LPID $SPID 2>/dev/null
  kill -9 $RPID ${RC_PIDS[@]+"${RC_PIDS[@]}"} 2>/dev/null
  wait 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# ping PORT: the server answers PONG (not LOADING: its data is back)
ping() { [ "$(redis-cli -p "$1" ping 2>/dev/null | tr -d '\r')" = PONG ]; }
wait_ping() { for _ in $(seq 1 200); do ping "$1" && return 0; sleep 0.05; done; return 1; }

"$GEN" --out "$TMP/gen" --events 5000 --users 200 --merchants 50 --start 2026-01-01 --days 5 >/dev/null 2>&1
export TESSERA_NOW=2026-01-06T00:30:00Z
# make_repo DIR URL: tx_defs plus a view by_txn keyed by txn id (online: every acknowledged
# push can be looked up by its id) and a service of it, so that `tessera check` covers it too
make_repo() {
  mkdir -p "$1/data"
  printf 'project: redis_load\nonline: "%s"\n' "$2" >"$1/tessera.yaml"
  tx_defs | python3 -c '
import sys
s = sys.stdin.read()
s = s.replace("entities:\n", "entities:\n  - {name: txn, join_keys: [txn_id]}\n", 1)
s = s.replace("feature_services:", "  - name: by_txn\n    entities: [txn]\n    source: tx\n"
              "    features:\n      - {name: n, agg: count}\nfeature_services:", 1)
s += "  - name: txns\n    features: [\"by_txn:*\"]\n"
sys.stdout.write(s)' >"$1/defs.yaml"
  cp "$TMP/gen/transactions.csv" "$1/data/tx.csv"
}

# ---- the clients --------------------------------------------------------------------------
# load.py URL BASE OUT STOPFILE NAME...: 6 threads, each on one keep-alive connection, loop
# until STOPFILE exists: push one row (txn id BASE + k*1000000 + i); after a 200, look that txn
# up; look up 3 users through the service svc; look up one of the txns it pushed with a 200
# before (a 200 must show an acknowledged txn PRESENT, counted once, at any time).
# Every answer must be 200 or 503; a 503 must be JSON {"error": {"code": "unavailable",
# "message": ...}} naming one of NAME... (the store's host:port). Each push's outcome goes to
# OUT.pushes ("time status kind txn_id", kind ok/offline/notstored) as it happens; at the end
# OUT.json sums it up (with OUT.rounds, "t_down t_up" per outage, read at the end).
cat >"$TMP/load.py" <<'PY'
import http.client, json, os, random, sys, threading, time, urllib.parse
url, base, out, stopfile, names = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
u = urllib.parse.urlparse(url)
lock = threading.Lock()
log = open(out + ".pushes", "a", buffering=1)
acked, offline, notstored, bad, events = [], [], [], [], []  # events: (time, route, status)
counts = {}

def note_bad(what):
    with lock:
        bad.append(what)

def check_503(what, body):
    try:
        e = json.loads(body)["error"]
        if e["code"] != "unavailable" or not isinstance(e["message"], str):
            raise ValueError("code %r" % e["code"])
        if not any(n in e["message"] for n in names):
            raise ValueError("the message names none of %s" % names)
        return e["message"]
    except Exception as x:
        note_bad("%s: a 503 that is not the expected JSON error (%s): %r" % (what, x, body[:300]))
        return ""

def client(k):
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    rng = random.Random(k)
    def call(route, body):
        nonlocal conn
        t = time.time()
        try:
            conn.request("POST", route, json.dumps(body), {"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read().decode("utf-8", "replace")
            st = r.status
        except Exception as x:  # a dropped connection, a reset, a timeout: never expected
            note_bad("%s: %s: %r" % (route, type(x).__name__, x))
            conn.close()
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
            return None, None
        with lock:
            counts["%s %d" % (route, st)] = counts.get("%s %d" % (route, st), 0) + 1
            events.append((t, route, st))
        if st not in (200, 503):
            note_bad("%s: status %d: %r" % (route, st, data[:300]))
        return st, data
    def look_txn(tid):  # an acknowledged push: PRESENT, counted once (or 503)
        st, data = call("/get-online-features", {"features": ["by_txn:n"], "entities": {"txn_id": [tid]}})
        if st == 200:
            try:
                res = json.loads(data)["results"][1]
                ok = res["statuses"] == ["PRESENT"] and res["values"] == [1]
            except Exception:
                ok = False
            if not ok:
                note_bad("txn %d acknowledged but then looked up as %r" % (tid, data[:300]))
        elif st == 503:
            check_503("/get-online-features", data)
    mine = []
    i = 0
    while not os.path.exists(stopfile):
        tid = base + k * 1000000 + i
        i += 1
        st, data = call("/push", {
            "push_source_name": "tx_live", "to": "online_and_offline",
            "df": {"txn_id": [tid], "user_id": [1 + tid % 200], "merchant_id": [7], "amount": [1.25],
                   "currency": ["USD"], "channel": ["web"], "is_international": [False],
                   "ts": ["2026-01-06T00:05:00Z"], "created_at": ["2026-01-06T00:05:00Z"]}})
        kind = None
        if st == 200:
            kind = "ok"
        elif st == 503:
            kind = "offline" if "stored offline" in check_503("/push", data) else "notstored"
        if kind:
            with lock:
                {"ok": acked, "offline": offline, "notstored": notstored}[kind].append(tid)
                log.write("%.6f %d %s %d\n" % (time.time(), st, kind, tid))
                if kind == "ok" and len(acked) == 1:
                    open(out + ".first", "w").close()
        if st == 200:  # acknowledged: visible online now, and later (through the outages)
            mine.append(tid)
            look_txn(tid)
        if mine:
            look_txn(rng.choice(mine))
        users = [rng.randint(1, 200) for _ in range(3)]
        st3, data3 = call("/get-online-features", {"feature_service": "svc", "entities": {"user_id": users}})
        if st3 == 200:
            try:
                assert len(json.loads(data3)["results"][1]["values"]) == 3
            except Exception:
                note_bad("svc lookup: a 200 that is not a result: %r" % data3[:300])
        elif st3 == 503:
            check_503("/get-online-features", data3)
    conn.close()

ts = [threading.Thread(target=client, args=(k,)) for k in range(6)]
for t in ts: t.start()
for t in ts: t.join()
rounds = []
for line in open(out + ".rounds"):
    d, up = map(float, line.split())
    rounds.append({"down": d, "up": up})
ends = [r["down"] for r in rounds[1:]] + [float("inf")]
for r, end in zip(rounds, ends):  # per outage: 503s from its start, 200s after it was over
    r["n503"] = sum(1 for t, _, s in events if r["down"] <= t < end and s == 503)
    r["push200_after"] = sum(1 for t, rt, s in events if r["up"] <= t < end and rt == "/push" and s == 200)
    r["get200_after"] = sum(1 for t, rt, s in events if r["up"] <= t < end and rt != "/push" and s == 200)
json.dump({"acked": acked, "offline": offline, "notstored": notstored, "bad": bad[:20],
           "nbad": len(bad), "counts": counts, "rounds": rounds}, open(out + ".json", "w"))
PY

# lookup_ids.py URL IDSFILE: looks every txn id of IDSFILE (one a line) up through by_txn, 1000
# a request; prints "N present, M not found, K other" (present: PRESENT with n = 1)
cat >"$TMP/lookup_ids.py" <<'PY'
import json, sys, urllib.request
url, ids = sys.argv[1], [int(l) for l in open(sys.argv[2]) if l.strip()]
present = notfound = other = 0
for i in range(0, len(ids), 1000):
    chunk = ids[i:i + 1000]
    req = urllib.request.Request(url + "/get-online-features", json.dumps(
        {"features": ["by_txn:n"], "entities": {"txn_id": chunk}}).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            res = json.load(r)["results"][1]
    except Exception as x:
        print("lookup failed: %r" % x)
        sys.exit(1)
    for s, v in zip(res["statuses"], res["values"]):
        if s == "PRESENT" and v == 1: present += 1
        elif s == "NOT_FOUND": notfound += 1
        else: other += 1
print("%d present, %d not found, %d other" % (present, notfound, other))
PY
# field JSON EXPR: a value of the clients' summary, e.g. field "$OUT.json" 'len(d["acked"])'
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# under_load NAME REPO BASE STOP START NAME...: serves REPO, runs the clients (txn ids from BASE)
# and two outages (STOP TERM, START; STOP KILL, START), then checks everything; NAME...: how a
# 503 may name the store
under_load() {
  local name=$1 repo=$2 base=$3 stop=$4 start=$5
  shift 5
  local out="$TMP/$name" url round sig t_down t_up up
  cd "$repo" || exit 1
  "$TESSERA" serve --port 0 --threads 2 >"$out.serve.out" 2>"$out.serve.err" &
  SPID=$!
  for _ in $(seq 1 200); do grep -q 'serving on' "$out.serve.out" 2>/dev/null && break; sleep 0.05; done
  url=$(sed -n 's/.*serving on \(http[^ ]*\).*/\1/p' "$out.serve.out")
  : >"$out.rounds"
  python3 "$TMP/load.py" "$url" "$base" "$out" "$out.stop" "$@" &
  LPID=$!
  for _ in $(seq 1 600); do [ -f "$out.first" ] && break; sleep 0.05; done
  check "$name: the clients' pushes are acknowledged" "[ -f '$out.first' ]"
  sleep 1
  round=0
  for sig in TERM KILL; do
    round=$((round + 1))
    t_down=$(date +%s.%N)
    $stop $sig
    sleep 1.5
    $start
    up=$?
    t_up=$(date +%s.%N)
    echo "$t_down $t_up" >>"$out.rounds"
    check "$name: Redis is back after SIG$sig" "[ $up = 0 ]"
    # the load goes on until a push was acknowledged again (at most 30 s), then a second more
    for _ in $(seq 1 300); do
      awk -v t="$t_up" '$1 > t && $2 == 200 { f = 1 } END { exit !f }' "$out.pushes" && break
      sleep 0.1
    done
    sleep 1
  done
  touch "$out.stop"
  wait "$LPID"
  LPID=
  local j="$out.json"
  check "$name: the clients ran to the end" "[ -f '$j' ]"
  echo "# $name: $(field "$j" 'd["counts"]'); rounds: $(field "$j" '[(r["n503"], r["push200_after"]) for r in d["rounds"]]')"
  check "$name: every answer was 200 or 503 (a JSON error naming the store), no connection dropped" \
    "[ \"\$(field '$j' 'd[\"nbad\"]')\" = 0 ]" || true
  [ "$(field "$j" 'd["nbad"]')" = 0 ] || field "$j" '"\n".join("    " + b for b in d["bad"])'
  for r in 0 1; do
    check "$name: outage $((r + 1)): requests got 503 while Redis was down" \
      "[ \"\$(field '$j' 'd[\"rounds\"][$r][\"n503\"]')\" -gt 0 ]"
    check "$name: outage $((r + 1)): pushes and lookups answered 200 again by themselves" \
      "[ \"\$(field '$j' 'd[\"rounds\"][$r][\"push200_after\"]')\" -gt 0 ] && [ \"\$(field '$j' 'd[\"rounds\"][$r][\"get200_after\"]')\" -gt 0 ]"
  done
  check "$name: the server is still running" "kill -0 $SPID"
  local code
  code=$(curl -s -o "$out.l.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data '{"feature_service":"svc","entities":{"user_id":[1,2]}}' "$url/get-online-features")
  check "$name: ...and answers 200 without a restart" "[ '$code' = 200 ]"

  field "$j" '"\n".join(map(str, d["acked"]))' >"$out.acked"
  field "$j" '"\n".join(map(str, d["offline"]))' >"$out.offline"
  field "$j" '"\n".join(map(str, d["notstored"]))' >"$out.notstored"
  local na no nn
  na=$(grep -c . "$out.acked")
  no=$(grep -c . "$out.offline")
  nn=$(grep -c . "$out.notstored")
  echo "# $name: $na pushes acknowledged, $no answered 503 stored offline, $nn answered 503 not stored"
  run python3 "$TMP/lookup_ids.py" "$url" "$out.acked"
  check "$name: every acknowledged push is online, counted once ($na)" "[ \"\$OUT\" = '$na present, 0 not found, 0 other' ]"
  run "$TESSERA" materialize
  expect_rc "$name: materialize (the server running)" 0
  cat "$out.acked" "$out.offline" >"$out.stored"
  run python3 "$TMP/lookup_ids.py" "$url" "$out.stored"
  check "$name: ...then every push stored offline is online too, counted once ($((na + no)))" \
    "[ \"\$OUT\" = '$((na + no)) present, 0 not found, 0 other' ]"
  run python3 "$TMP/lookup_ids.py" "$url" "$out.notstored"
  check "$name: ...and no push answered 503 without \"stored offline\" is ($nn)" \
    "[ \"\$OUT\" = '0 present, $nn not found, 0 other' ]"
  { echo txn_id,ts; sed 's/$/,2026-01-06T00:06:00Z/' "$out.stored"; } >"$out.labels.csv"
  run "$TESSERA" training-set --features by_txn:n --labels "$out.labels.csv" --timestamp-column ts -o "$out.found.csv"
  expect_rc "$name: a training set over the stored pushes" 0
  check "$name: ...every one is in the offline store once" \
    "python3 -c 'import csv,sys; r=list(csv.DictReader(open(\"$out.found.csv\"))); sys.exit(0 if len(r) == $((na + no)) and all(x[\"n\"] == \"1\" for x in r) else 1)'"
  run "$TESSERA" check --sample 1000
  expect_rc "$name: online equals offline (tessera check)" 0
  kill -TERM "$SPID"
  wait "$SPID"
  local src=$?
  SPID=
  check "$name: the server stops cleanly (exit 0)" "[ $src = 0 ]" || true
  [ $src = 0 ] || tail -n 20 "$out.serve.err"
}

# ---- one Redis ----------------------------------------------------------------------------
PORT=$(free_port)
mkdir -p "$TMP/rdata"
redis_start() {
  redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync always \
    --dir "$TMP/rdata" --daemonize no >>"$TMP/rdata/redis.log" 2>&1 &
  RPID=$!
  wait_ping "$PORT"
}
redis_stop() { kill -"$1" "$RPID"; wait "$RPID" 2>/dev/null; RPID=; }
check "a redis-server with appendonly is up" redis_start
make_repo "$TMP/redis" "redis://127.0.0.1:$PORT/0"
cd "$TMP/redis" || exit 1
run "$TESSERA" apply
expect_rc "redis: apply" 0
run "$TESSERA" ingest tx
expect_rc "redis: ingest" 0
run "$TESSERA" materialize
expect_rc "redis: materialize" 0
under_load redis "$TMP/redis" 900000000 redis_stop redis_start "127.0.0.1:$PORT"
redis_stop TERM

# ---- one node of a 3-node Redis Cluster -----------------------------------------------------
RC_EXTRA="--appendonly yes --appendfsync always"
check "a 3-node Redis Cluster with appendonly is up" cluster_create
make_repo "$TMP/cluster" "$(cluster_url)"
cd "$TMP/cluster" || exit 1
run "$TESSERA" apply
expect_rc "cluster: apply" 0
run "$TESSERA" ingest tx
expect_rc "cluster: ingest" 0
run "$TESSERA" materialize
expect_rc "cluster: materialize" 0
# the node serving the slot of by_txn's slot group 00 (a view's keys are spread over every
# node by their slot group, the hash tag being "view#group")
slot=$(redis-cli -p "${CPORTS[0]}" cluster keyslot 'by_txn#00' | tr -d '\r')
victim=
for i in 0 1 2; do
  redis-cli -p "${CPORTS[$i]}" cluster nodes | tr -d '\r' | python3 -c "
import sys
for l in sys.stdin:
    f = l.split()
    if 'myself' in f[2]:
        for r in f[8:]:
            a, _, b = r.partition('-')
            if a.isdigit() and int(a) <= $slot <= int(b or a): sys.exit(0)
sys.exit(1)" && victim=$i
done
check "the node serving by_txn's group 00 is known" "[ -n '$victim' ]"
check "...and holds that group's keys (its meta record and records)" "[ \"\$(redis-cli -p ${CPORTS[${victim:-0}]} cluster countkeysinslot $slot | tr -d '\r')\" -gt 1 ]"
for i in 0 1 2; do
  n=$(redis-cli -p "${CPORTS[$i]}" --scan --pattern '{by_txn#*}vby_txn#*' | wc -l)
  check "node $i holds by_txn's heads too ($n)" "[ $n -gt 100 ]"
done
cnode_stop() { kill -"$1" "${RC_PIDS[$victim]}"; wait "${RC_PIDS[$victim]}" 2>/dev/null; }
cnode_back() { cnode_start "$victim" && wait_ping "${CPORTS[$victim]}" && wait_cluster; }
under_load cluster "$TMP/cluster" 950000000 cnode_stop cnode_back \
  "127.0.0.1:${CPORTS[0]}" "127.0.0.1:${CPORTS[1]}" "127.0.0.1:${CPORTS[2]}"
