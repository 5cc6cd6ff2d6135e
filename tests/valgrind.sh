#!/usr/bin/env bash
# tests/valgrind.sh — `make valgrind`: the whole suite with every unit binary and every
# `tessera` process the integration tests start under valgrind's memcheck (a build of its own,
# build-vg/, -O1 -g, no sanitizers). Each process writes its report to
# build-vg/valgrind/<pid>.log; the run fails if a test fails or if any report has an error
# (invalid read/write, use of uninitialised memory, invalid free, a definite or indirect leak,
# an fd left open is not counted). Closes with "N passed, N failed" and a list of the reports
# with errors. Not part of `make test` (it takes tens of minutes); see docs/durability.md.
# Usage: tests/valgrind.sh [unit|integration] [name-filter]
set -u
cd "$(dirname "$0")/.."
if ! command -v valgrind >/dev/null; then
  echo "valgrind: installing the Debian package valgrind"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends valgrind >/dev/null ||
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends valgrind >/dev/null; } ||
    { echo "valgrind: cannot install valgrind"; exit 1; }
fi
export BUILD=build-vg
make -s BUILD=$BUILD OPT="-O1 -g" $BUILD/tessera $BUILD/bench/gen \
  $(ls tests/unit/test_*.c | sed "s|tests/unit/\(.*\)\.c|$BUILD/tests/\1|") || exit 1
logs=${VG_LOGS:-$PWD/$BUILD/valgrind}
rm -rf "$logs"
mkdir -p "$logs"
# --child-silent-after-fork: the server's and the tests' forks that exec are followed by the
# exec'd program's own report; the errors of a process are counted from its log
# valgrind cannot reserve LMDB's default 64 GiB map: the tests' stores are small
export TESSERA_LMDB_MAP_SIZE=$((4 << 30))
export TESS_VALGRIND="valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect --num-callers=30 --child-silent-after-fork=yes --log-file=$logs/%p.log"
tests/run.sh "$@"
rc=$?
# a report with errors: its summary counts some, or (a process the tests killed, with no
# summary) it shows one
pat='^==[0-9]*== (Invalid|Conditional jump|Use of uninitialised|Syscall param|Mismatched|Source and destination)'
bad=$( { grep -l -E 'ERROR SUMMARY: [1-9]' "$logs"/*.log; grep -L 'ERROR SUMMARY' "$logs"/*.log | xargs -r grep -l -E "$pat"; } 2>/dev/null | sort -u)
nlogs=$(ls "$logs" | wc -l)
killed=$(grep -L 'ERROR SUMMARY' "$logs"/*.log 2>/dev/null | wc -l)
if [ -n "$bad" ]; then
  echo "valgrind: errors in $(echo "$bad" | wc -l) of $nlogs process reports:"
  for f in $bad; do
    echo "== $f"
    grep -m1 '^==[0-9]*== Command:' "$f"
    grep -E -A12 '^==[0-9]*== (Invalid|Conditional|Use of|Syscall param|Mismatched|Source and|[0-9,]+ bytes in [0-9,]+ blocks are (definitely|indirectly))' "$f" | head -n 40
  done
  echo "valgrind: reports with errors: $(echo "$bad" | wc -l)"
  exit 1
fi
echo "valgrind: $nlogs process reports ($killed of processes killed by the tests, without a summary), none with errors"
exit "$rc"
