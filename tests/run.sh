#!/usr/bin/env bash
# Runs the whole suite: every cmocka unit binary in $BUILD/tests, then every integration script
# tests/integration/test_*.sh (TAP-style "ok - name" / "not ok - name" lines). Prints each
# failing case, and closes with the line "N passed, N failed". Exit 0 only if nothing failed.
# Usage: tests/run.sh [unit|integration] [name-filter]
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
what=${1:-all}
filter=${2:-}
pass=0
fail=0
failed=()

if [ "$what" = all ] || [ "$what" = unit ]; then
  for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *"$filter"*) ;; *) continue ;; esac
    # TESS_VALGRIND (tests/valgrind.sh): the command that runs each binary under valgrind
    out=$(${TESS_VALGRIND:-} "$t" 2>&1); rc=$?
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed before reporting
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" -ne 0 ]; then
      failed+=("$(basename "$t")")
      printf '%s\n' "$out" | grep -E 'FAILED|ERROR|error|Assert|Sanitizer|runtime error' | head -n 30
    fi
    printf '%-40s %4d passed, %d failed\n' "$(basename "$t")" "$p" "$f"
  done
fi

if [ "$what" = all ] || [ "$what" = integration ]; then
  for t in tests/integration/test_*.sh; do
    [ -f "$t" ] || continue
    case "$t" in *"$filter"*) ;; *) continue ;; esac
    out=$(bash "$t" 2>&1); rc=$?
    p=$(printf '%s\n' "$out" | grep -c '^ok - ')
    f=$(printf '%s\n' "$out" | grep -c '^not ok - ')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; printf '%s\n' "$out" | tail -n 20; fi
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$f" -ne 0 ]; then
      failed+=("$(basename "$t")")
      printf '%s\n' "$out" | grep -A8 '^not ok - ' | head -n 60
    fi
    printf '%-40s %4d passed, %d failed\n' "$(basename "$t")" "$p" "$f"
  done
fi

[ ${#failed[@]} -eq 0 ] || echo "failing: ${failed[*]}"
[ -z "${TESS_SUMMARY_FILE:-}" ] || echo "$pass $fail" >>"$TESS_SUMMARY_FILE"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
