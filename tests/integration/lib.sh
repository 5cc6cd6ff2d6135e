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
