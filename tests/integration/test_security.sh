#!/usr/bin/env bash
# Access control and connection hardening of `tessera serve` (docs/security.md): `tessera keys`,
# the keys file (hashes only, errors with line and column), 401/403 per route and scope with
# WWW-Authenticate, keys never in the log or /metrics, reloads on change and on SIGHUP (a bad
# edit keeps the old keys), the refusal of a non-loopback address without keys, TLS with a
# self-signed certificate made here, and a per-address connection limit.
. "$(dirname "$0")/lib.sh"

export TESSERA_NOW=2026-01-01T12:00:00Z
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
R="$TMP/repo"
mkdir -p "$R/data"
echo "project: sec_test" >"$R/tessera.yaml"
cat >"$R/defs.yaml" <<'Y'
entities:
  - {name: user, join_keys: [user_id]}
sources:
  - name: tx
    type: batch
    path: data/tx.csv
    timestamp: ts
    schema: {user_id: int64, amount: float64, ts: timestamp}
  - name: tx_live
    type: push
    batch_source: tx
feature_views:
  - name: spend
    entities: [user]
    source: tx
    features:
      - {name: last_amount, expr: amount}
Y
printf 'user_id,amount,ts\n1,10.5,2026-01-01T10:00:00Z\n' >"$R/data/tx.csv"
T() { run "$TESSERA" -C "$R" "$@"; }
T apply
T ingest tx
expect_rc "repo set up" 0

# ---- tessera keys -------------------------------------------------------------------------------
run "$TESSERA" keys new reader
expect_rc "keys new: 0 (no repo needed)" 0
key=$(sed -n 1p "$_out")
line=$(sed -n 2p "$_out")
check "keys new prints a tess_ key of 48 characters" '[[ "$key" =~ ^tess_[A-Za-z0-9_-]{43}$ ]]'
hash=$(printf '%s' "$key" | sha256sum | cut -d" " -f1)
check "keys new prints its line: NAME SCOPES sha256:<SHA-256 of the key>" \
  '[ "$line" = "reader read sha256:$hash" ]'
run "$TESSERA" keys new other
check "two keys differ" '[ "$(sed -n 1p "$_out")" != "$key" ]'
run sh -c "printf '%s\n' '$key' | '$TESSERA' keys hash reader2 --scopes write,read"
check "keys hash: the line of a key read from stdin (scopes normalised)" \
  '[ "$OUT" = "reader2 read,write sha256:$hash" ]'
run sh -c "echo short | '$TESSERA' keys hash x"
expect_rc "keys hash of a short key: 1" 1
expect_err "says the key is too short" "20 to 512 characters"
run "$TESSERA" keys new x --scopes wirte
expect_rc "keys new with an unknown scope: usage error 2" 2
expect_err "names the scope" 'unknown scope "wirte"'
run "$TESSERA" keys new 'bad name!'
expect_rc "keys new with a bad name: 2" 2
run "$TESSERA" keys rotate x
expect_rc "keys with an unknown subcommand: 2" 2

K="$TMP/keys.txt"
run "$TESSERA" keys new reader --file "$K"
KR=$OUT
check "keys new --file prints only the key" '[[ "$KR" =~ ^tess_[A-Za-z0-9_-]{43}$ ]]'
check "keys new --file makes the file with mode 0600" '[ "$(stat -c %a "$K")" = 600 ]'
check "the keys file holds the hash, never the key" \
  'grep -q "^reader read sha256:" "$K" && ! grep -qF "$KR" "$K"'
KW=$("$TESSERA" keys new writer --scopes write --file "$K")
KM=$("$TESSERA" keys new scraper --scopes metrics --file "$K")
KA=$("$TESSERA" keys new ops --scopes admin --file "$K")
run "$TESSERA" keys new reader --file "$K"
expect_rc "a name already in the file: 1" 1
expect_err "says so" 'already has a key named "reader"'
check "the file has four keys" '[ "$(grep -c sha256: "$K")" = 4 ]'

# ---- serve: start, stop -------------------------------------------------------------------------
SOUT="$TMP/serve.out"
SERR="$TMP/serve.err"
SPID=""
trap '[ -n "$SPID" ] && kill $SPID 2>/dev/null; rm -rf "$TMP"' EXIT
# start ARGS...: starts the server, sets PORT, SCHEME and U (or PORT empty if it did not start).
start() {
  rm -f "$SOUT"
  "$TESSERA" -C "$R" serve --port 0 --threads 2 "$@" >"$SOUT" 2>"$SERR" &
  SPID=$!
  for _ in $(seq 1 200); do
    [ -s "$SOUT" ] && break
    kill -0 $SPID 2>/dev/null || break
    sleep 0.05
  done
  local l
  l=$(head -n 1 "$SOUT" 2>/dev/null)
  PORT=${l##*:}
  SCHEME=${l#serving on }
  SCHEME=${SCHEME%%://*}
  U="$SCHEME://127.0.0.1:$PORT"
}
stop() {
  kill -TERM $SPID 2>/dev/null
  wait $SPID
  SRC=$?
  SPID=""
}
# req KEY METHOD PATH [BODY] [--curl-options...]: status in $CODE, body in $BODY, headers $HDRS.
# KEY "-": no Authorization header; otherwise "Bearer KEY".
req() {
  local key=$1 m=$2 p=$3
  shift 3
  local args=(-s -S -X "$m" -o "$TMP/body" -D "$TMP/hdrs" -w '%{http_code}')
  [ "$key" = - ] || args+=(-H "Authorization: Bearer $key")
  if [ $# -gt 0 ] && [[ "$1" != --* ]]; then
    args+=(-H "Content-Type: application/json" --data-binary "$1")
    shift
  fi
  CODE=$(curl "${args[@]}" "$@" "$U$p" 2>"$TMP/curl.err")
  BODY=$(cat "$TMP/body" 2>/dev/null)
  HDRS=$(tr -d '\r' <"$TMP/hdrs" 2>/dev/null)
}
LOOKUP='{"features": ["spend:last_amount"], "entities": {"user_id": [1]}}'
PUSH='{"push_source_name": "tx_live", "df": {"user_id": [7], "amount": [1.5], "ts": ["2026-01-01T11:00:00Z"]}}'
WRITE='{"feature_view_name": "spend", "df": {"user_id": [8], "amount": [2.5], "ts": ["2026-01-01T11:00:00Z"]}}'

start --keys "$K"
check "serve --keys starts on loopback" '[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$SCHEME" = http ]'

# ---- who may do what -------------------------------------------------------------------------------
# matrix: for each key (none, not valid, read, write, metrics, admin), the status of each route
matrix=""
for who in - tess_not_a_key_at_all_xxxxxxxxxxxxxxxxxxxxxxxxxx "$KR" "$KW" "$KM" "$KA"; do
  row=""
  req "$who" POST /get-online-features "$LOOKUP"; row="$row $CODE"
  req "$who" POST /push "$PUSH"; row="$row $CODE"
  req "$who" POST /write-to-online-store "$WRITE"; row="$row $CODE"
  req "$who" GET /metrics; row="$row $CODE"
  req "$who" GET /health; row="$row $CODE"
  matrix="$matrix|${row# }"
done
expected="|401 401 401 401 200|401 401 401 401 200|200 403 403 403 200|403 200 200 403 200|403 403 403 200 200|200 200 200 200 200"
check "scopes per route: read -> lookups, write -> pushes, metrics -> /metrics, admin -> all; /health open" \
  '[ "$matrix" = "$expected" ] || { echo "    got      $matrix"; echo "    expected $expected"; false; }'

req - POST /get-online-features "$LOOKUP"
check "401 without a key: the JSON error shape" \
  '[[ "$BODY" == "{\"error\":{\"code\":\"unauthorized\",\"message\":\"POST /get-online-features needs an API key: send the header \\\"Authorization: Bearer <key>\\\"\"}}" ]]'
check "401 without a key: WWW-Authenticate: Bearer" '[[ "$HDRS" == *"WWW-Authenticate: Bearer realm=\"tessera\""* ]]'
req tess_wrong_wrong_wrong_wrong_wrong POST /get-online-features "$LOOKUP"
check "401 for a key not in the file: invalid_token" \
  '[[ "$HDRS" == *"error=\"invalid_token\""* ]] && [[ "$BODY" == *"\"code\":\"unauthorized\""* ]]'
check "the reply does not echo the key presented" '[[ "$BODY" != *tess_wrong* ]]'
req "$KR" POST /push "$PUSH"
check "403 outside the key's scope names the key, its scopes and the scope needed" \
  '[[ "$BODY" == *"\"code\":\"forbidden\""* ]] && [[ "$BODY" == *"the key \\\"reader\\\" (scopes: read) may not POST /push: that needs the write scope"* ]]'
check "403: WWW-Authenticate says insufficient_scope" \
  '[[ "$HDRS" == *"error=\"insufficient_scope\", scope=\"write\""* ]]'
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: bearer   $KR" -d "$LOOKUP" "$U/get-online-features")
check "the scheme is case-insensitive (bearer), spaces allowed" '[ "$CODE" = 200 ]'
CODE=$(curl -s -o "$TMP/body" -w '%{http_code}' -u "user:$KR" -d "$LOOKUP" "$U/get-online-features")
check "Basic authentication: 401 saying to use Bearer" '[ "$CODE" = 401 ] && grep -q "must be" "$TMP/body"'
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${KR}x" -d "$LOOKUP" "$U/get-online-features")
check "the key with one more character: 401" '[ "$CODE" = 401 ]'
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${KR%?}" -d "$LOOKUP" "$U/get-online-features")
check "the key less its last character: 401" '[ "$CODE" = 401 ]'
long=$(head -c 3000 /dev/zero | tr '\0' a)
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $long" -d "$LOOKUP" "$U/get-online-features")
check "a 3000-character key: 401" '[ "$CODE" = 401 ]'
req "$KW" POST /push "$PUSH"
req "$KR" POST /get-online-features '{"features": ["spend:last_amount"], "entities": {"user_id": [7]}}'
check "what the writer pushed, the reader reads" '[[ "$BODY" == *"\"values\":[1.5]"* ]]'
req - GET /nope
check "an unknown route is 404 with or without a key" '[ "$CODE" = 404 ]'
req "$KA" GET /metrics
check "metrics: 401 and 403 are counted per route" \
  '[[ "$BODY" == *"tessera_http_errors_total{route=\"/push\",error=\"unauthorized\"}"* ]] && [[ "$BODY" == *"tessera_http_errors_total{route=\"/push\",error=\"forbidden\"}"* ]]'
check "metrics: the number of keys loaded" '[[ "$BODY" == *"tessera_api_keys 4"* ]]'
check "no key appears in /metrics (neither secret nor hash)" \
  '! grep -qE "tess_[A-Za-z0-9_-]{43}|$(cut -d: -f2 <<<"$(grep ^reader "$K")" | cut -c1-16)" <<<"$BODY"'

# ---- reloads ------------------------------------------------------------------------------------
KN=$("$TESSERA" keys new late --scopes read --file "$K")
ok=""
for _ in $(seq 1 40); do
  req "$KN" POST /get-online-features "$LOOKUP"
  [ "$CODE" = 200 ] && ok=1 && break
  sleep 0.1
done
check "a key added to the file works within seconds, without a restart" '[ "$ok" = 1 ]'
grep -v '^late ' "$K" >"$K.new" && mv "$K.new" "$K"
gone=""
for _ in $(seq 1 40); do
  req "$KN" POST /get-online-features "$LOOKUP"
  [ "$CODE" = 401 ] && gone=1 && break
  sleep 0.1
done
check "a key removed from the file is refused within seconds (file replaced by rename)" '[ "$gone" = 1 ]'
cp "$K" "$K.good"
echo "broken wirte sha256:0000" >>"$K"
sleep 2
req "$KR" POST /get-online-features "$LOOKUP"
check "a bad edit keeps the keys loaded before" '[ "$CODE" = 200 ]'
check "and the log says why, with the line and column" \
  'grep -q "keys not reloaded: .*keys.txt:5:8: unknown scope \"wirte\"" "$SERR"'
req "$KA" GET /metrics
check "metrics: the failed reload is counted" '[[ "$BODY" =~ tessera_api_keys_reload_failures_total\ [1-9] ]]'
# SIGHUP rereads at once (the same content in a new file: no wait for the watcher needed)
cp "$K.good" "$K"
"$TESSERA" keys new hup --scopes read --file "$K" >"$TMP/hupkey"
kill -HUP $SPID
ok=""
for _ in $(seq 1 40); do
  req "$(cat "$TMP/hupkey")" POST /get-online-features "$LOOKUP"
  [ "$CODE" = 200 ] && ok=1 && break
  sleep 0.05
done
check "SIGHUP rereads the keys file; the server keeps running" '[ "$ok" = 1 ] && kill -0 $SPID'
stop
check "stop: exit 0" '[ "$SRC" = 0 ]'
check "no key ever appears in the server's log" \
  '! grep -qF "$KR" "$SERR" && ! grep -qF "$KW" "$SERR" && ! grep -qF "$KA" "$SERR" && ! grep -qE "tess_[A-Za-z0-9_-]{43}" "$SERR"'
check "no sanitizer report" '! grep -q Sanitizer "$SERR"'

# ---- bad keys files -----------------------------------------------------------------------------
printf '# comment\nreader read sha256:%s\nbad read,wirte sha256:%s\n' "$hash" "$hash" >"$TMP/bad.txt"
T serve --port 0 --keys "$TMP/bad.txt" --no-materialize
expect_rc "a bad keys file: the server does not start (1)" 1
expect_err "names the file, line and column and the scope" 'bad.txt:3:10: unknown scope "wirte"'
printf 'a read sha256:%s\nb write sha256:%s\n' "$hash" "$hash" >"$TMP/dup.txt"
T serve --port 0 --keys "$TMP/dup.txt" --no-materialize
expect_err "the same key twice is refused" 'dup.txt:2:9: the same key (hash) as "a" on line 1'
printf 'a read %s\n' "$KR" >"$TMP/raw.txt"
T serve --port 0 --keys "$TMP/raw.txt" --no-materialize
expect_err "a key itself in the file is refused, and not echoed" 'looks like a key itself'
check "(the message does not show it)" '! grep -qF "$KR" "$_err"'
cp "$K" "$TMP/open.txt"
chmod 666 "$TMP/open.txt"
T serve --port 0 --keys "$TMP/open.txt" --no-materialize
expect_rc "a keys file writable by anyone: refused" 1
expect_err "says to chmod o-w" "chmod o-w"
T serve --port 0 --keys "$TMP/none.txt" --no-materialize
expect_err "a missing keys file: refused" "cannot read the keys file"

# ---- binding beyond loopback ---------------------------------------------------------------------
T serve --host 0.0.0.0 --port 0 --no-materialize
expect_rc "a non-loopback host without keys: refused (1)" 1
expect_err "clear message" "refusing to serve 0.0.0.0 (not a loopback address) without API keys"
start --host 0.0.0.0 --insecure --no-materialize
check "--insecure: it serves all the same" '[[ "$PORT" =~ ^[0-9]+$ ]]'
check "--insecure: with a warning" 'grep -q "without access control" "$SERR"'
stop
start --host 0.0.0.0 --keys "$K" --no-materialize
req - POST /get-online-features "$LOOKUP"
check "a non-loopback host with keys: serves, and asks for a key" '[ "$CODE" = 401 ]'
check "warns that keys cross the network in clear text without TLS" 'grep -q "plain HTTP" "$SERR"'
stop

# ---- TLS ----------------------------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/tls.key" -out "$TMP/tls.crt" -days 2 \
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/other.key" -out "$TMP/other.crt" -days 2 \
  -subj "/CN=other" >/dev/null 2>&1
check "openssl made a self-signed certificate" '[ -s "$TMP/tls.crt" ] && [ -s "$TMP/tls.key" ]'
start --keys "$K" --tls-cert "$TMP/tls.crt" --tls-key "$TMP/tls.key"
check "serve with TLS prints an https URL" '[ "$SCHEME" = https ] && [[ "$PORT" =~ ^[0-9]+$ ]]'
req "$KR" POST /get-online-features "$LOOKUP" --cacert "$TMP/tls.crt"
check "HTTPS lookup with the key, certificate verified (curl --cacert)" \
  '[ "$CODE" = 200 ] && [[ "$BODY" == *"\"values\":[10.5]"* ]]'
req - POST /get-online-features "$LOOKUP" --cacert "$TMP/tls.crt"
check "HTTPS without a key: 401" '[ "$CODE" = 401 ]'
req "$KW" POST /push "$PUSH" --cacert "$TMP/tls.crt"
check "HTTPS push: 200" '[ "$CODE" = 200 ]'
req "$KR" GET /health --cacert "$TMP/other.crt"
check "a client that does not trust the certificate refuses it" '[ "$CODE" = 000 ]'
CODE=$(curl -s -o /dev/null -w '%{http_code}' -m 5 "http://127.0.0.1:$PORT/health")
check "plain HTTP to the TLS port gets no HTTP answer" '[ "$CODE" != 200 ]'
req - GET /health --cacert "$TMP/tls.crt"
check "still serving HTTPS after that" '[ "$CODE" = 200 ]'
stop
check "TLS server stops with exit 0" '[ "$SRC" = 0 ]'
T serve --port 0 --tls-cert "$TMP/tls.crt" --tls-key "$TMP/other.key" --no-materialize
expect_rc "a key that is not the certificate's: refused (1)" 1
expect_err "says the certificate and key cannot be used" "cannot be used"
T serve --port 0 --tls-cert "$TMP/tls.key" --tls-key "$TMP/tls.key" --no-materialize
expect_rc "a key given as the certificate: refused" 1
T serve --port 0 --tls-cert "$TMP/tls.crt" --no-materialize
expect_rc "--tls-cert without --tls-key: usage error" 2
T serve --port 0 --tls-cert "$TMP/nope.crt" --tls-key "$TMP/tls.key" --no-materialize
expect_err "a missing certificate file is named" "nope.crt"

# ---- connections per address ---------------------------------------------------------------------
# one address (127.0.0.2) opens 12 idle connections; at most 4 are kept; others (127.0.0.1) are
# served meanwhile
start --max-connections-per-ip 4 --max-connections 16 --no-materialize
out=$("$PY" - "$PORT" <<'PY' 2>&1
import socket, sys, time, http.client
port = int(sys.argv[1])
held = []
for i in range(12):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.settimeout(2)
    s.connect(("127.0.0.1", port))
    held.append(s)
time.sleep(0.5)
alive = 0
for s in held:
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        if s.recv(100).startswith(b"HTTP/1.1 200"): alive += 1
    except OSError:
        pass
codes = []
for i in range(10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/health"); codes.append(c.getresponse().status); c.close()
print("alive=%d others=%s" % (alive, "all200" if codes == [200] * 10 else codes))
PY
)
check "--max-connections-per-ip 4: one address keeps 4 connections, others are served" \
  '[ "$out" = "alive=4 others=all200" ] || { echo "    got: $out"; false; }'
stop
