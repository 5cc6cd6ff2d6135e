# lib.sh — helpers for integration tests. Source it from tests/integration/test_*.sh.
# Each check prints "ok - name" or "not ok - name" (+ details); tests/run.sh counts them.
# Every test script works in its own temporary directory, removed at exit.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=$(cd "$ROOT/${BUILD:-build}" && pwd)
TESSERA="$BUILD_DIR/tessera"
GEN="$BUILD_DIR/bench/gen"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tessera-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# under tests/valgrind.sh, every tessera process of the tests runs under valgrind
if [ -n "${TESS_VALGRIND:-}" ]; then
  printf '#!/bin/sh\nexec %s %s "$@"\n' "$TESS_VALGRIND" "$BUILD_DIR/tessera" >"$TMP/tessera-vg"
  chmod +x "$TMP/tessera-vg"
  TESSERA="$TMP/tessera-vg"
fi

_out="$TMP/.out"
_err="$TMP/.err"

# run CMD...: runs it, keeping stdout in $OUT, stderr in $ERR, status in $RC.
run() {
  "$@" >"$_out" 2>"$_err"
  RC=$?
  OUT=$(cat "$_out")
  ERR=$(cat "$_err")
}

ok() { echo "ok - $1"; }
not_ok() {
  echo "not ok - $1"
  shift
  for l in "$@"; do echo "    $l"; done
  echo "    stdout: $(head -c 2000 "$_out" 2>/dev/null)"
  echo "    stderr: $(head -c 2000 "$_err" 2>/dev/null)"
}

# check NAME CONDITION...: ok if the shell condition (evaluated with eval) holds.
check() {
  local name=$1
  shift
  if eval "$@"; then ok "$name"; else not_ok "$name" "condition: $*"; fi
}

# expect_rc NAME CODE: the last run's exit status was CODE.
expect_rc() {
  if [ "$RC" -eq "$2" ]; then ok "$1"; else not_ok "$1" "exit status $RC, expected $2"; fi
}

# expect_out NAME TEXT / expect_err NAME TEXT: the last run's stdout/stderr contains TEXT.
expect_out() {
  if grep -qF -- "$2" "$_out"; then ok "$1"; else not_ok "$1" "stdout lacks: $2"; fi
}
expect_err() {
  if grep -qF -- "$2" "$_err"; then ok "$1"; else not_ok "$1" "stderr lacks: $2"; fi
}

# tx_defs [EXTRA...]: definitions over the generator's transactions (docs/generator.md): a batch
# source tx (data/tx.csv), a push source tx_live into it, a view v per user (last_amount, n_1d,
# then each EXTRA line, e.g. "- {name: s, agg: sum, expr: amount, window: 2d}") and a service
# svc of all of v.
tx_defs() {
  cat <<'Y'
entities:
  - {name: user, join_keys: [user_id]}
sources:
  - name: tx
    type: batch
    path: data/tx.csv
    timestamp: ts
    created_timestamp: created_at
    schema: {txn_id: int64, user_id: int64, merchant_id: int64, amount: float64, currency: string,
             channel: string, is_international: bool, ts: timestamp, created_at: timestamp}
  - name: tx_live
    type: push
    batch_source: tx
feature_views:
  - name: v
    entities: [user]
    source: tx
    hop: 1h
    features:
      - {name: last_amount, expr: amount}
      - {name: n_1d, agg: count, window: 1d}
Y
  for f in "$@"; do echo "      $f"; done
  cat <<'Y'
feature_services:
  - name: svc
    features: ["v:*"]
Y
}

# tx_rows: the number of events the offline store holds for view v (tessera stats).
tx_rows() {
  "$TESSERA" stats v --json 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["features"][0]["count"])' 2>/dev/null || echo "?"
}
