#!/usr/bin/env bash
# The HTTP feature server (`tessera serve`): lookups in Feast's shapes, /health, /metrics, every
# caller mistake answered with a 4xx and a JSON error body, oversized and malformed requests,
# slow clients holding connections while others are served, a new registry version picked up
# without a restart, and a clean stop on SIGTERM.
. "$(dirname "$0")/lib.sh"

export TESSERA_NOW=2026-01-01T12:00:00Z
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3 # the system's starts fastest (no pyenv shim)
R="$TMP/repo"
mkdir -p "$R/data"
cat >"$R/tessera.yaml" <<'Y'
project: serve_test
Y
cat >"$R/defs.yaml" <<'Y'
entities:
  - {name: user, join_keys: [user_id]}
sources:
  - name: tx
    type: batch
    path: data/tx*.csv
    timestamp: ts
    schema: {user_id: int64, amount: float64, channel: string, ts: timestamp}
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
on_demand_features:
  - name: ratio
    inputs: {features: ["spend:sum_1d"], request: {req: float64}}
    expr: "req / sum_1d"
feature_services:
  - name: svc
    features: ["spend:*", ratio]
Y
cat >"$R/data/tx1.csv" <<'C'
user_id,amount,channel,ts
1,10.50,web,2026-01-01T10:00:00Z
1,20.00,app,2026-01-01T11:30:00Z
2,5.25,"we""b",2026-01-01T09:00:00Z
3,1.5,old,2025-12-30T09:00:00Z
C
T() { run "$TESSERA" -C "$R" "$@"; }

T serve --help
expect_rc "serve --help" 0
expect_out "serve --help lists --port" "--port"
T serve --port 70000
expect_rc "serve --port 70000 is a usage error" 2
T serve --threads 0
expect_rc "serve --threads 0 is a usage error" 2
run "$TESSERA" -C "$TMP" serve --port 0
expect_rc "serve outside a repo fails" 1

T apply
expect_rc "apply" 0
T ingest tx
expect_rc "ingest" 0
T materialize
expect_rc "materialize" 0

# ---- start --------------------------------------------------------------------------------
SOUT="$TMP/serve.out"
SERR="$TMP/serve.err"
# start_server ARGS...: `tessera serve --port 0 --threads 2 ARGS` in the background on a fresh
# $SOUT; sets SPID, and PORT from its first line (kept in $line)
start_server() {
  rm -f "$SOUT" # (a fresh file: an old one still names the last server's port)
  "$TESSERA" -C "$R" serve --port 0 --threads 2 "$@" >"$SOUT" 2>"$SERR" &
  SPID=$!
  for _ in $(seq 1 200); do
    [ -s "$SOUT" ] && break
    sleep 0.05
  done
  line=$(head -n 1 "$SOUT")
  PORT=${line##*:}
}
trap 'kill $SPID 2>/dev/null; rm -rf "$TMP"' EXIT
start_server --timeout 2 --request-timeout 3 --max-body 4096 --max-entities 100 --max-depth 8
check "serve prints 'serving on http://127.0.0.1:PORT'" \
  '[[ "$line" =~ ^serving\ on\ http://127\.0\.0\.1:[0-9]+$ ]] && [ "$PORT" -gt 0 ]'
U="http://127.0.0.1:$PORT"
if ! [[ "$PORT" =~ ^[0-9]+$ ]]; then
  echo "not ok - the server did not start: $(head -c 2000 "$SERR")"
  exit 1
fi

# req METHOD PATH [BODY [curl options...]]: status in $CODE, body in $BODY, headers in $HDRS.
# The body goes with Content-Type $CT (default application/json).
req() {
  local m=$1 p=$2
  shift 2
  local args=(-s -S -X "$m" -o "$TMP/body" -D "$TMP/hdrs" -w '%{http_code}')
  if [ $# -gt 0 ]; then
    args+=(-H "Content-Type: ${CT:-application/json}" --data-binary "$1")
    shift
  fi
  CODE=$(curl "${args[@]}" "$@" "$U$p" 2>"$TMP/curl.err")
  BODY=$(cat "$TMP/body" 2>/dev/null)
  HDRS=$(cat "$TMP/hdrs" 2>/dev/null)
}
# expect_http NAME CODE ERROR_CODE [TEXT]: the last req answered CODE with that error code.
expect_http() {
  local ok=1
  [ "$CODE" = "$2" ] || ok=0
  [ -z "${3:-}" ] || [[ "$BODY" == *"{\"error\":{\"code\":\"$3\",\"message\":"* ]] || ok=0
  [ -z "${4:-}" ] || [[ "$BODY" == *"$4"* ]] || ok=0
  if [ $ok = 1 ]; then ok "$1"; else not_ok "$1" "status $CODE (expected $2), body: $BODY"; fi
}
# checkv NAME CONDITION: like check, showing $out when it fails.
checkv() {
  if eval "$2"; then ok "$1"; else not_ok "$1" "condition: $2" "got: $out"; fi
}
# jq-free JSON checks: python3 evaluates an expression over the body as `d`.
jcheck() {
  local name=$1 expr=$2
  if printf '%s' "$BODY" | "$PY" -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($expr) else 1)" 2>/dev/null
  then ok "$name"; else not_ok "$name" "expression: $expr" "body: $BODY"; fi
}

req GET /health
check "GET /health is 200" '[ "$CODE" = 200 ]'
check "GET /health reports the registry version" \
  '[ "$BODY" = "{\"status\":\"ok\",\"version\":1}" ]'
req HEAD /health
check "HEAD /health is 200" '[ "$CODE" = 200 ]'

# ---- lookups ------------------------------------------------------------------------------
req POST /get-online-features '{"feature_service": "svc", "entities": {"user_id": [1, 2, 9, 3], "req": [100, 1, 2, null]}}'
check "lookup by service is 200" '[ "$CODE" = 200 ]'
check "lookup answers application/json" '[[ "$HDRS" == *"Content-Type: application/json"* ]]'
jcheck "feature_names: join key first, then the service's features" \
  'd["metadata"]["feature_names"] == ["user_id","last_amount","last_channel","n_2h","sum_1d","ratio"]'
jcheck "one result per name, one value per entity" \
  'len(d["results"]) == 6 and all(len(r[k]) == 4 for r in d["results"] for k in ("values","statuses","event_timestamps"))'
jcheck "join key echoed, PRESENT, epoch timestamps" \
  'd["results"][0] == {"values":[1,2,9,3],"statuses":["PRESENT"]*4,"event_timestamps":["1970-01-01T00:00:00Z"]*4}'
jcheck "row-level values, statuses and event timestamps (latest row; ttl)" \
  'd["results"][1] == {"values":[20.0,5.25,None,None],"statuses":["PRESENT","PRESENT","NOT_FOUND","OUTSIDE_MAX_AGE"],"event_timestamps":["2026-01-01T11:30:00Z","2026-01-01T09:00:00Z","1970-01-01T00:00:00Z","2025-12-30T09:00:00Z"]}'
jcheck "strings are escaped" 'd["results"][2]["values"][:2] == ["app", "we\"b"]'
jcheck "window aggregates (count 2h, sum 1d) at TESSERA_NOW" \
  'd["results"][3]["values"][:2] == [2, 0] and d["results"][4]["values"][:2] == [30.5, 5.25]'
jcheck "on-demand feature over a request field" \
  'd["results"][5]["values"][:2] == [100/30.5, 1/5.25] and d["results"][5]["statuses"][3] == "NULL_VALUE"'
check "a float64 value is written as a float (20.0, not 20)" '[[ "$BODY" == *"\"values\":[20.0,5.25,null,null]"* ]]'

req POST /get-online-features '{"features": ["spend:last_amount", "spend:last_channel"], "full_feature_names": true, "entities": {"user_id": [1]}}'
check "lookup by features is 200" '[ "$CODE" = 200 ]'
check "full_feature_names: view__feature, the exact response" \
  '[ "$BODY" = "{\"metadata\":{\"feature_names\":[\"user_id\",\"spend__last_amount\",\"spend__last_channel\"]},\"results\":[{\"values\":[1],\"statuses\":[\"PRESENT\"],\"event_timestamps\":[\"1970-01-01T00:00:00Z\"]},{\"values\":[20.0],\"statuses\":[\"PRESENT\"],\"event_timestamps\":[\"2026-01-01T11:30:00Z\"]},{\"values\":[\"app\"],\"statuses\":[\"PRESENT\"],\"event_timestamps\":[\"2026-01-01T11:30:00Z\"]}]}" ]'
req POST /get-online-features '{"features": ["spend:*"], "entities": {"user_id": []}}'
jcheck "zero entities: empty columns" 'd["results"][0]["values"] == [] and len(d["results"]) == 5'
# curl -d without a content type (Feast's own examples) is accepted
CODE=$(curl -s -o "$TMP/body" -w '%{http_code}' -d '{"features":["spend:n_2h"],"entities":{"user_id":[1]}}' "$U/get-online-features")
check "curl -d (form content type, JSON body) is accepted" '[ "$CODE" = 200 ]'

# ---- caller mistakes: 4xx with a JSON error body ------------------------------------------------
req POST /get-online-features '{"feature_service": "svc", "entities": {"user_id": [1]'
expect_http "malformed JSON: 400 invalid_json" 400 invalid_json "line 1, column"
req POST /get-online-features '{"feature_service": "svc",
  "entities": {"user_id": [1,]}}'
expect_http "malformed JSON says the line" 400 invalid_json "line 2"
req POST /get-online-features ''
expect_http "empty body: 400 invalid_json" 400 invalid_json
req POST /get-online-features '[1, 2]'
expect_http "not an object: 400" 400 invalid_request
req POST /get-online-features '{"feature_service": "svc", "entities": {"user_id": ["x"], "req": [1]}}'
expect_http "wrong entity type names the key and index" 400 invalid_entity_value "entities.user_id[0]: expected an integer (int64), got string"
req POST /get-online-features '{"feature_service": "svc", "entities": {"user_id": [1, 2], "req": [1, "a"]}}'
expect_http "wrong request field type names the index" 400 invalid_entity_value "entities.req[1]"
req POST /get-online-features '{"feature_service": "svc", "entities": {"user_id": [null], "req": [1]}}'
expect_http "null join key: 400" 400 invalid_entity_value "cannot be null"
req POST /get-online-features '{"feature_service": "svc", "entities": {"user_id": 1, "req": [1]}}'
expect_http "a column that is not an array: 400" 400 invalid_entity_value "must be an array"
req POST /get-online-features '{"feature_service": "nope", "entities": {"user_id": [1]}}'
expect_http "unknown service: 404" 404 unknown_feature_service "nope"
req POST /get-online-features '{"features": ["spend:nope"], "entities": {"user_id": [1]}}'
expect_http "unknown feature: 404" 404 unknown_feature "nope"
req POST /get-online-features '{"features": ["spend:last_amount"], "entities": {"user_id": [1], "merchant_id": [2]}}'
expect_http "unknown entity key: 400" 400 unknown_entity_key "merchant_id"
req POST /get-online-features '{"features": ["spend:last_amount"], "entities": {}}'
expect_http "missing join key: 400" 400 missing_entity_key "user_id"
req POST /get-online-features '{"feature_service": "svc", "entities": {"user_id": [1]}}'
expect_http "missing request field: 400" 400 missing_request_field "req"
req POST /get-online-features '{"feature_service": "svc", "entities": {"user_id": [1, 2], "req": [1]}}'
expect_http "columns of different lengths: 400" 400 length_mismatch
req POST /get-online-features '{"feature_service": "svc", "features": ["spend:n_2h"], "entities": {"user_id": [1]}}'
expect_http "service and features together: 400" 400 invalid_request
req POST /get-online-features '{"entities": {"user_id": [1]}}'
expect_http "neither service nor features: 400" 400 invalid_request
req POST /get-online-features '{"features": ["spend:n_2h"]}'
expect_http "no entities: 400" 400 invalid_request "entities"
req POST /get-online-features '{"features": ["spend:n_2h"], "entites": {"user_id": [1]}}'
expect_http "unknown field: 400" 400 unknown_field "entites"
req POST /get-online-features '{"features": ["spend:n_2h"], "full_feature_names": "yes", "entities": {"user_id": [1]}}'
expect_http "full_feature_names not a boolean: 400" 400 invalid_request
req POST /get-online-features '{"features": ["spend:n_2h"], "entities": {"user_id": [1]}, "entities": {"user_id": [2]}}'
expect_http "duplicate keys: 400" 400 invalid_json "duplicate"
ids=$(seq -s, 1 101)
req POST /get-online-features "{\"features\": [\"spend:n_2h\"], \"entities\": {\"user_id\": [$ids]}}"
expect_http "too many entities: 413" 413 too_many_entities "limit is 100"
ids=$(seq -s, 1 100)
req POST /get-online-features "{\"features\": [\"spend:n_2h\"], \"entities\": {\"user_id\": [$ids]}}"
check "100 entities (the limit) are served" '[ "$CODE" = 200 ]'
req POST /get-online-features '{"features": ["spend:n_2h"], "entities": {"user_id": [[[[[[[[[1]]]]]]]]]}}'
expect_http "nesting deeper than --max-depth: 400 too_deep" 400 too_deep "deeper than 8"
req POST /get-online-features '{"features": ["spend:n_2h"], "entities": {"user_id": [1]}, "x": "[[[[[[[[[[[[[[[[\"]]"}'
expect_http "brackets inside strings do not count as nesting" 400 unknown_field
big=$(head -c 5000 /dev/zero | tr '\0' ' ')
req POST /get-online-features "{$big}"
expect_http "body larger than --max-body: 413" 413 body_too_large
CT=text/plain req POST /get-online-features '{}'
expect_http "wrong content type: 415" 415 unsupported_media_type "text/plain"
req GET /nope
expect_http "unknown route: 404" 404 not_found "/nope"
req GET /get-online-features
expect_http "wrong method: 405" 405 method_not_allowed
check "405 says Allow: POST" '[[ "$HDRS" == *"Allow: POST"* ]]'
req POST /health '{}'
expect_http "POST /health: 405" 405 method_not_allowed
check "405 says Allow: GET, HEAD" '[[ "$HDRS" == *"Allow: GET, HEAD"* ]]'

# ---- push ---------------------------------------------------------------------------------
lookup1() { req POST /get-online-features '{"features": ["spend:last_amount", "spend:n_2h", "spend:sum_1d"], "entities": {"user_id": [1]}}'; }
req POST /push '{"push_source_name": "tx_live", "df": {"user_id": [1], "amount": [7.5], "channel": ["web"], "ts": ["2026-01-01T11:50:00Z"]}}'
check "POST /push: 200" '[ "$CODE" = 200 ]'
check "POST /push answers the rows" '[ "$BODY" = "{\"rows\":1}" ]'
lookup1
jcheck "a pushed row is visible at once: latest row, window count, sum" \
  '[r["values"][0] for r in d["results"][1:]] == [7.5, 3, 38.0]'
req POST /push '{"push_source_name": "tx_live", "df": {"user_id": [1], "amount": [100], "ts": ["2026-01-01T08:00:00Z"]}, "to": "online_and_offline"}'
lookup1
jcheck "a late row does not replace the latest one; it lands in its own tile" \
  '[r["values"][0] for r in d["results"][1:]] == [7.5, 3, 138.0]'
req POST /push '{"push_source_name": "tx_live", "df": {"user_id": [1, 1], "amount": [1.0, "x"], "ts": ["2026-01-01T11:55:00Z", "2026-01-01T11:56:00Z"]}}'
expect_http "a bad row rejects the push: 400 naming the row and column" 400 invalid_row 'df.amount[1]'
lookup1
jcheck "nothing of a rejected push is stored" '[r["values"][0] for r in d["results"][1:]] == [7.5, 3, 138.0]'
req POST /push '{"push_source_name": "tx_live", "df": {"user_id": [1], "amount": [1.0]}}'
expect_http "a push without the event timestamp: 400" 400 invalid_row 'event timestamp) is missing'
req POST /push '{"push_source_name": "nope", "df": {"user_id": [1]}}'
expect_http "unknown push source: 404" 404 unknown_push_source 'nope'
req POST /push '{"push_source_name": "tx", "df": {"user_id": [1]}}'
expect_http "a batch source is not a push source: 400" 400 invalid_request 'batch source'
req POST /push '{"push_source_name": "tx_live", "df": {"user_id": [1], "colour": [1]}}'
expect_http "unknown column: 400" 400 invalid_request 'colour'
req POST /push '{"push_source_name": "tx_live", "df": {"user_id": [1, 2], "ts": ["2026-01-01T11:00:00Z"]}}'
expect_http "columns of different lengths: 400" 400 length_mismatch
req POST /push '{"push_source_name": "tx_live", "df": {"user_id": [1], "ts": ["2026-01-01T11:00:00Z"]}, "to": "somewhere"}'
expect_http "bad to: 400" 400 invalid_request
req POST /push '{"push_source_name": "tx_live", "df": {"user_id": [4], "amount": [2.0], "ts": ["2026-01-01T11:00:00Z"]}, "to": "offline"}'
check "to offline: 200" '[ "$CODE" = 200 ]'
req POST /get-online-features '{"features": ["spend:last_amount"], "entities": {"user_id": [4]}}'
jcheck "to offline is not online yet" 'd["results"][1]["statuses"] == ["NOT_FOUND"]'
req POST /write-to-online-store '{"feature_view_name": "spend", "df": {"user_id": [9], "amount": [3.25], "channel": ["app"], "ts": ["2026-01-01T11:59:00Z"]}}'
check "POST /write-to-online-store: 200" '[ "$CODE" = 200 ]'
req POST /get-online-features '{"features": ["spend:last_amount"], "entities": {"user_id": [9]}}'
jcheck "written to the online store" 'd["results"][1]["values"] == [3.25]'
req POST /write-to-online-store '{"feature_view_name": "nope", "df": {"user_id": [9]}}'
expect_http "write-to-online-store of an unknown view: 404" 404 unknown_feature_view
# concurrent pushes (group commit): 40 pushes from 8 threads, late and duplicated rows among them
"$PY" - "$U" >"$TMP/concurrent.out" 2>&1 <<'PY'
import json, random, sys, threading, urllib.request
url = sys.argv[1]
rng = random.Random(5)
bodies = []
for i in range(40):
    n = rng.randint(1, 20)
    ts = [f"2026-01-01T{rng.randint(6, 11):02d}:{rng.randint(0, 59):02d}:00Z" for _ in range(n)]
    bodies.append({"push_source_name": "tx_live",
                   "df": {"user_id": [rng.randint(1, 5) for _ in range(n)],
                          "amount": [round(rng.uniform(1, 100), 2) for _ in range(n)],
                          "channel": [rng.choice(["web", "app"]) for _ in range(n)], "ts": ts}})
bodies += bodies[:5]  # the same rows pushed twice
codes = []
def worker(k):
    for b in bodies[k::8]:
        req = urllib.request.Request(url + "/push", data=json.dumps(b).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            codes.append(r.status)
ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print("codes", sorted(set(codes)), len(codes))
PY
check "45 concurrent pushes all acknowledged" 'grep -q "codes \[200\] 45" "$TMP/concurrent.out"'
T materialize
expect_out "materialize picks up the offline-only push" "spend: incremental, 1 events of 1 entities"
T check --sample 20
expect_rc "online equals offline after the pushes (tessera check)" 0

# ---- raw sockets: huge declared length, truncated bodies, garbage, slow clients --------------
cat >"$TMP/raw.py" <<'PY'
import socket, sys, time, http.client
port = int(sys.argv[1]); what = sys.argv[2]
def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s
def recv_all(s):
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b: break
            out += b
    except (ConnectionResetError, socket.timeout):
        pass
    return out
def health():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/health"); r = c.getresponse(); r.read(); c.close()
    return r.status
if what == "huge":   # declared 1 TB: refused before anything is read
    s = conn()
    s.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1000000000000\r\n\r\n{")
    print(recv_all(s).split(b"\r\n")[0].decode())
elif what == "truncated":   # declares 100 bytes, sends 20, closes its side: no answer, no harm
    s = conn()
    s.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
              b'{"features": ["spend')
    s.shutdown(socket.SHUT_WR)
    r = recv_all(s)
    print("closed" if r == b"" or b" 400 " in r.split(b"\r\n")[0] else "answered " + repr(r[:60]))
elif what == "chunked":   # no declared length: the body passes --max-body while read
    s = conn()
    s.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for i in range(5):
        s.sendall(b"3e8\r\n" + b" " * 1000 + b"\r\n")
    s.sendall(b"0\r\n\r\n")
    print(recv_all(s).split(b"\r\n")[0].decode())
elif what == "endless":   # chunked, far past the limit: the server hangs up
    s = conn()
    s.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    try:   # 20 MB: more than the socket buffers can take before the server hangs up
        for i in range(20000):
            s.sendall(b"3e8\r\n" + b" " * 1000 + b"\r\n")
        print("all sent")
    except (BrokenPipeError, ConnectionResetError):
        print("closed")
elif what == "garbage":
    s = conn()
    s.sendall(b"HELLO THERE\r\n\r\n")
    print(recv_all(s).split(b"\r\n")[0].decode())
elif what == "headers":   # 40 KiB of headers: more than the connection's memory
    s = conn()
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
    print(recv_all(s).split(b"\r\n")[0].decode())
elif what == "slow":
    # 30 clients send half a request and wait; everyone else is still served at once; the
    # server closes the idle ones after its --timeout (2 s)
    slow = []
    for i in range(30):
        s = conn()
        s.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Le")
        slow.append(s)
    t0 = time.time()
    codes = [health() for _ in range(20)]
    took = time.time() - t0
    body = conn()   # and one that sends its body slowly, byte by byte, within the timeout
    req = (b'{"features":["spend:n_2h"],"entities":{"user_id":[1]}}')
    body.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(req))
    for i in range(0, len(req), 8):
        body.sendall(req[i:i + 8]); time.sleep(0.02)
    slow_answer = recv_all(body).split(b"\r\n")[0].decode()
    time.sleep(3.5)
    closed = 0
    for s in slow:
        s.settimeout(3)
        try:
            if s.recv(100) == b"": closed += 1
        except ConnectionResetError:
            closed += 1
        except socket.timeout:
            pass
    print("health=%s took=%s slow_body=%s closed=%d" % (
        "all200" if all(c == 200 for c in codes) else codes, "fast" if took < 5 else took,
        slow_answer, closed))
elif what in ("trickle-headers", "trickle-body"):
    # never idle for --timeout (2 s), but never done either: one byte every 0.25 s of a
    # request that would take a minute. The server closes it (--request-timeout 3) without an
    # answer, and serves others all the while.
    s = conn()
    if what == "trickle-headers":
        data = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 240 + b"\r\n\r\n"
    else:
        body = b'{"features": ["spend:n_2h"], "entities": {"user_id": [1]}, "x": "' + b"a" * 200 + b'"}'
        s.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        data = body
    s.settimeout(0.25)
    sent, closed, answered, codes = 0, False, b"", []
    for i in range(len(data)):
        try:
            s.sendall(data[i:i + 1]); sent += 1
            r = s.recv(100)
            if r == b"": closed = True; break
            answered += r
        except socket.timeout:
            pass
        except (BrokenPipeError, ConnectionResetError):
            closed = True; break
        if i % 8 == 0: codes.append(health())
    print("closed=%s answered=%s partial=%s others=%s" % (closed, answered[:20] or "no",
          "yes" if 0 < sent < len(data) else sent, "all200" if all(c == 200 for c in codes) else codes))
PY
out=$("$PY" "$TMP/raw.py" "$PORT" huge 2>&1)
checkv "huge declared Content-Length: 413 before reading" '[[ "$out" == *" 413 "* ]]'
out=$("$PY" "$TMP/raw.py" "$PORT" truncated 2>&1)
checkv "truncated body: connection closed, no answer" '[ "$out" = closed ]'
out=$("$PY" "$TMP/raw.py" "$PORT" chunked 2>&1)
checkv "chunked body larger than --max-body: 413" '[[ "$out" == *" 413 "* ]]'
out=$("$PY" "$TMP/raw.py" "$PORT" endless 2>&1)
checkv "endless chunked body: the server hangs up" '[ "$out" = closed ]'
out=$("$PY" "$TMP/raw.py" "$PORT" garbage 2>&1)
checkv "garbage request line: 400 from the HTTP layer" '[[ "$out" == *" 400 "* ]]'
out=$("$PY" "$TMP/raw.py" "$PORT" headers 2>&1)
checkv "oversized headers: 431" '[[ "$out" == *" 431 "* ]]'
out=$("$PY" "$TMP/raw.py" "$PORT" slow 2>&1)
checkv "slow clients: others are served at once, idle ones are closed after --timeout" \
  '[ "$out" = "health=all200 took=fast slow_body=HTTP/1.1 200 OK closed=30" ]'
out=$("$PY" "$TMP/raw.py" "$PORT" trickle-headers 2>&1)
checkv "a client trickling its headers (never idle) is closed by --request-timeout, others served" \
  '[ "$out" = "closed=True answered=no partial=yes others=all200" ]'
out=$("$PY" "$TMP/raw.py" "$PORT" trickle-body 2>&1)
checkv "a client trickling its body is closed by --request-timeout, others served" \
  '[ "$out" = "closed=True answered=no partial=yes others=all200" ]'
req GET /health
check "still serving after the abuse" '[ "$CODE" = 200 ]'

# ---- metrics ------------------------------------------------------------------------------------
req GET /metrics
check "GET /metrics is 200 text" '[ "$CODE" = 200 ] && [[ "$HDRS" == *"Content-Type: text/plain"* ]]'
check "metrics: requests per route and status class" \
  '[[ "$BODY" =~ tessera_http_requests_total\{route=\"/get-online-features\",code=\"2xx\"\}\ [1-9] ]] && [[ "$BODY" =~ tessera_http_requests_total\{route=\"/get-online-features\",code=\"4xx\"\}\ [1-9] ]]'
check "metrics: errors per route and code" \
  '[[ "$BODY" == *"tessera_http_errors_total{route=\"/get-online-features\",error=\"invalid_json\"} 4"* ]]'
check "metrics: latency histogram per route" \
  '[[ "$BODY" == *"tessera_http_request_duration_seconds_bucket{route=\"/health\",le=\"+Inf\"}"* ]] && [[ "$BODY" == *"tessera_http_request_duration_seconds_count{route=\"/get-online-features\"}"* ]]'
check "metrics: pushes counter" '[[ "$BODY" == *"tessera_pushes_total 4"* ]] && [[ "$BODY" == *"tessera_pushed_rows_total 4"* ]]'
check "metrics: entities looked up" '[[ "$BODY" =~ tessera_lookup_entities_total\ [1-9] ]]'
check "metrics: registry version" '[[ "$BODY" == *"tessera_registry_version 1"* ]]'
check "metrics: connections closed by the request timeout" \
  '[[ "$BODY" =~ tessera_http_slow_closed_total\ [1-9] ]]'
check "metrics: online store size" '[[ "$BODY" =~ tessera_online_store_bytes\ [1-9] ]] && [[ "$BODY" =~ tessera_online_store_keys\ [1-9] ]]'
check "metrics: the view is materialized" '[[ "$BODY" == *"tessera_view_materialized{view=\"spend\"} 1"* ]]'
check "metrics: freshness of the view (newest event 11:59 at 12:00)" '[[ "$BODY" == *"tessera_view_freshness_seconds{view=\"spend\"} 60.000"* ]]'

# ---- pushes under load: many clients at once, lookups meanwhile ---------------------------------
# 64 clients push at once (one group commit takes many of them; the workers never wait for it);
# each looks its row up as soon as its push is acknowledged (acknowledged = visible); 6 of the
# pushes are bad and must fail alone, storing nothing; lookups run all the while.
"$PY" - "$U" >"$TMP/load.out" 2>&1 <<'PY'
import json, sys, threading, urllib.request, urllib.error
url = sys.argv[1]
def post(path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
def lookup(users):
    return post("/get-online-features", {"features": ["spend:last_amount"], "entities": {"user_id": users}})
res, stop = {}, threading.Event()
def pusher(i):
    uid = 5000 + i
    bad = i % 11 == 3
    amount = "oops" if bad else i + 0.5
    code, body = post("/push", {"push_source_name": "tx_live", "df": {"user_id": [uid, uid],
                      "amount": [1.0, amount], "ts": ["2026-01-01T11:00:00Z", "2026-01-01T11:10:00Z"]}})
    vis = None
    if code == 200:
        _, d = lookup([uid])
        vis = d["results"][1]["values"][0]
    res[i] = (bad, code, body, vis)
lookups = {"ok": 0, "bad": 0}
def looker():
    while not stop.is_set():
        code, d = lookup([1, 2, 3])
        lookups["ok" if code == 200 else "bad"] += 1
ls = [threading.Thread(target=looker) for _ in range(4)]
[t.start() for t in ls]
ts = [threading.Thread(target=pusher, args=(i,)) for i in range(64)]
[t.start() for t in ts]
[t.join() for t in ts]
stop.set()
[t.join() for t in ls]
good = [i for i in res if not res[i][0]]
bad = [i for i in res if res[i][0]]
print("good", sum(1 for i in good if res[i][1] == 200 and res[i][2] == {"rows": 2}), len(good))
print("visible", sum(1 for i in good if res[i][3] == i + 0.5), len(good))
print("bad", sum(1 for i in bad if res[i][1] == 400 and res[i][2]["error"]["code"] == "invalid_row"
                 and "df.amount[1]" in res[i][2]["error"]["message"]), len(bad))
_, d = lookup([5000 + i for i in bad])
print("bad stored", sum(1 for s in d["results"][1]["statuses"] if s != "NOT_FOUND"))
print("lookups", "all200" if lookups["bad"] == 0 and lookups["ok"] > 0 else lookups)
PY
out=$(cat "$TMP/load.out")
checkv "64 concurrent pushes: every good one acknowledged" '[[ "$out" == *"good 58 58"* ]]'
checkv "every acknowledged push is visible to the client's next lookup" '[[ "$out" == *"visible 58 58"* ]]'
checkv "bad pushes among them fail alone, naming the row and column" '[[ "$out" == *"bad 6 6"* ]]'
checkv "nothing of the bad pushes is stored" '[[ "$out" == *"bad stored 0"* ]]'
checkv "lookups are answered while pushes commit" '[[ "$out" == *"lookups all200"* ]]'
req POST /push '{"push_source_name": "tx_live", "df": {"user_id": [1, 2], "amount": [1.0, 2.0], "ts": ["2026-01-01T11:00:00Z", null]}}'
expect_http "a null event timestamp: 400 naming it" 400 invalid_row 'df.ts[1] is null'
req POST /push '{"push_source_name": "tx_live", "df": {"user_id": [1], "ts": []}}'
expect_http "a push of columns of different lengths: 400" 400 length_mismatch
req POST /push '{"push_source_name": "tx_live", "df": {"user_id": [], "ts": []}}'
check "an empty push: 200, no rows" '[ "$CODE" = 200 ] && [ "$BODY" = "{\"rows\":0}" ]'
req POST /push '{"push_source_name": "tx_live", "df": {"user_id": [1], "ts": ["2026-01-01T11:00:00Z"]}, "to": "online", "to": "offline"}'
expect_http "duplicate keys in a push: 400" 400 invalid_json "duplicate"
req POST /push '{"push_source_name": "tx_live", "df": {"user_id": [9223372036854775808], "ts": ["2026-01-01T11:00:00Z"]}}'
expect_http "an integer beyond int64: 400 invalid_json" 400 invalid_json "too big integer"

# ---- a new registry version is picked up without a restart ---------------------------------------
sed -i 's/      - {name: sum_1d, agg: sum, expr: amount, window: 1d}/&\n      - {name: max_1d, agg: max, expr: amount, window: 1d}/' "$R/defs.yaml"
T apply
expect_rc "apply a second version while serving" 0
T materialize
v=""
for _ in $(seq 1 40); do
  req GET /health
  [ "$BODY" = '{"status":"ok","version":2}' ] && v=2 && break
  sleep 0.1
done
check "the server picks up version 2 within a few seconds" '[ "$v" = 2 ]'
req POST /get-online-features '{"feature_service": "svc", "entities": {"user_id": [1], "req": [1]}}'
jcheck "the service's cached query is rebuilt: it now has max_1d" \
  '"max_1d" in d["metadata"]["feature_names"] and d["results"][d["metadata"]["feature_names"].index("max_1d")]["values"] == [100.0]'

# ---- stop ---------------------------------------------------------------------------------------
kill -TERM $SPID
rc=0
for _ in $(seq 1 100); do
  kill -0 $SPID 2>/dev/null || break
  sleep 0.1
done
wait $SPID
rc=$?
check "SIGTERM stops the server with exit 0" '[ "$rc" = 0 ]'
check "the server wrote no sanitizer report" '! grep -q "Sanitizer" "$SERR"'

# ---- stop with pushes in flight: every push is answered (200 or 503) or refused at connect;
# every acknowledged one survives the restart ----------------------------------------------------
start_server
ACKED="$TMP/acked.json" "$PY" - "$PORT" "$SPID" >"$TMP/stop.out" 2>&1 <<'PY'
import http.client, json, os, signal, sys, threading, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
acked, answers, lock = [], {}, threading.Lock()
def client(k):
    n = 0
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)  # kept alive between pushes
    while True:
        uid = 10000 + k * 1000 + n
        n += 1
        body = json.dumps({"push_source_name": "tx_live", "df": {"user_id": [uid], "amount": [uid * 1.0],
                           "ts": ["2026-01-01T11:30:00Z"]}})
        try:
            c.request("POST", "/push", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
        except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
            with lock:
                answers["refused"] = answers.get("refused", 0) + 1
            return
        except Exception as e:   # a timeout: a request left hanging
            with lock:
                answers["hung " + type(e).__name__] = 1
            return
        with lock:
            answers[r.status] = answers.get(r.status, 0) + 1
            if r.status == 200:
                acked.append(uid)
        if r.status != 200:
            return
ts = [threading.Thread(target=client, args=(k,)) for k in range(24)]
[t.start() for t in ts]
time.sleep(0.5)
os.kill(pid, signal.SIGTERM)
[t.join() for t in ts]
print("answers", sorted((str(k), v) for k, v in answers.items()))
print("hung", sum(1 for k in answers if str(k).startswith("hung")))
print("other", sum(v for k, v in answers.items() if k not in (200, 503, "refused")))
json.dump(acked, open(os.environ["ACKED"], "w"))
print("acked", len(acked))
PY
wait $SPID
rc=$?
out=$(cat "$TMP/stop.out")
echo "# stop with pushes in flight: $(head -n 1 "$TMP/stop.out")"
checkv "SIGTERM with pushes in flight: exit 0" '[ "$rc" = 0 ]'
checkv "no push left hanging, every answer 200 or 503 (or refused at connect)" \
  '[[ "$out" == *"hung 0"* ]] && [[ "$out" == *"other 0"* ]] && ! [[ "$out" =~ acked\ 0$ ]]'
check "no sanitizer report after a stop with pushes in flight" '! grep -q "Sanitizer" "$SERR"'
# restarted: every acknowledged push is there
start_server
out=$("$PY" - "$PORT" "$TMP/acked.json" 2>&1 <<'PY'
import json, sys, urllib.request
port, acked = int(sys.argv[1]), json.load(open(sys.argv[2]))
req = urllib.request.Request("http://127.0.0.1:%d/get-online-features" % port, headers={"Content-Type": "application/json"},
                             data=json.dumps({"features": ["spend:last_amount"], "entities": {"user_id": acked}}).encode())
d = json.loads(urllib.request.urlopen(req, timeout=10).read())
print("durable", sum(1 for u, v in zip(acked, d["results"][1]["values"]) if v == u * 1.0), len(acked))
PY
)
kill -TERM $SPID
wait $SPID
checkv "every push acknowledged before the stop is there after a restart" \
  '[[ "$out" =~ ^durable\ ([0-9]+)\ ([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] && [ "${BASH_REMATCH[2]}" -gt 0 ]'

# ---- request bodies in memory: --max-body-memory ------------------------------------------
# One client holds 50000 bytes of an unfinished body; a body declaring 60000 more does not fit
# the 100000 bytes (503 busy before it is read), nor does a chunked one when it grows past the
# limit; /metrics shows what is held; everyone else is served; once the first client goes,
# the same body is read (a 400 for its contents, not a 503).
start_server --max-body 65536 --max-body-memory 100000
out=$("$PY" - "$PORT" 2>&1 <<'PY'
import http.client, socket, sys, time
port = int(sys.argv[1])
def status_line(s):
    out = b""
    try:
        while b"\r\n" not in out:
            b = s.recv(4096)
            if not b: break
            out += b
    except (ConnectionResetError, socket.timeout):
        pass
    return out.split(b"\r\n")[0].decode() or "closed"
def get(path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path); r = c.getresponse(); body = r.read().decode(); c.close()
    return r.status, body
def held():
    for line in get("/metrics")[1].splitlines():
        if line.startswith("tessera_http_body_bytes "): return int(line.split()[1])
def wait_held(n):
    for _ in range(200):   # up to 10 s for the server to have read what was sent
        if held() == n: return True
        time.sleep(0.05)
    return False
def post(declared, body, chunked=False):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if chunked:
        s.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            for i in range(0, len(body), 10000):
                part = body[i:i + 10000]
                s.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
    else:
        s.sendall(head + b"Content-Length: %d\r\n\r\n" % declared + body)
    r = status_line(s); s.close()
    return r
res = []
holder = socket.create_connection(("127.0.0.1", port), timeout=10)
holder.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 60000\r\n\r\n" + b" " * 50000)
res.append("held=%s" % wait_held(50000))
res.append("declared=" + post(60000, b" " * 60000))
res.append("chunked=" + post(0, b" " * 60000, chunked=True))
res.append("health=%d" % get("/health")[0])
res.append("after=%s" % wait_held(50000))
holder.close()
res.append("freed=%s" % wait_held(0))
res.append("then=" + post(60000, b"[" * 1 + b" " * 59999))
print(" ".join(res))
PY
)
kill -TERM $SPID
wait $SPID
echo "# body memory: $out"
checkv "a body that does not fit --max-body-memory: 503 busy before it is read" \
  '[[ "$out" == *"held=True declared=HTTP/1.1 503"* ]]'
checkv "a chunked body growing past --max-body-memory: 503 busy" '[[ "$out" == *"chunked=HTTP/1.1 503"* ]]'
checkv "the refused bodies leave the memory count as it was; /health served meanwhile" \
  '[[ "$out" == *"health=200 after=True"* ]]'
checkv "a client that goes gives its bytes back; the same body is then read (400, not 503)" \
  '[[ "$out" == *"freed=True then=HTTP/1.1 400"* ]]'
check "no sanitizer report after the body-memory checks" '! grep -q "Sanitizer" "$SERR"'
