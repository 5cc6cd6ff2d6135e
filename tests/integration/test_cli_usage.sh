#!/usr/bin/env bash
# The command line itself: --help everywhere (stdout, exit 0), usage errors (stderr, exit 2,
# nothing on stdout), version, -C, and "not a feature repo".
. "$(dirname "$0")/lib.sh"

commands="init plan apply ls describe search lineage history ingest training-set stats materialize get check serve push verify version help"

run "$TESSERA" --help
expect_rc "--help exits 0" 0
expect_out "--help prints the usage" "usage: tessera [-C DIR] <command> [options]"
for c in $commands; do
  check "--help lists $c" "grep -qE '^  $c ' '$_out'"
done
run "$TESSERA" -h
expect_rc "-h exits 0" 0
expect_out "-h prints the usage" "usage: tessera"

for c in $commands; do
  run "$TESSERA" "$c" --help
  expect_rc "$c --help exits 0" 0
  expect_out "$c --help prints its usage" "usage: tessera $c"
  check "$c --help writes nothing on stderr" "[ -z \"\$ERR\" ]"
  run "$TESSERA" "$c" -h
  expect_rc "$c -h exits 0" 0
  expect_out "$c -h prints its usage" "usage: tessera $c"
done
run "$TESSERA" help describe
expect_rc "help COMMAND exits 0" 0
expect_out "help COMMAND prints the command's usage" "usage: tessera describe NAME"
run "$TESSERA" ls --help
expect_out "ls --help documents --json" "--json"
expect_out "ls --help documents --version N" "--version N"
expect_out "ls --help documents -C" "-C, --repo DIR"


run "$TESSERA" --version
expect_rc "--version exits 0" 0
check "--version prints 'tessera X.Y.Z'" "printf '%s\n' \"\$OUT\" | grep -qE '^tessera [0-9]+\.[0-9]+\.[0-9]+$'"
run "$TESSERA" version
expect_rc "version exits 0" 0
check "version prints 'tessera X.Y.Z'" "printf '%s\n' \"\$OUT\" | grep -qE '^tessera [0-9]+\.[0-9]+\.[0-9]+$'"

# usage_error NAME ARGS...: exit 2, a message and a hint on stderr, nothing on stdout.
usage_error() {
  local name=$1
  shift
  run "$TESSERA" "$@"
  expect_rc "$name: exit 2" 2
  check "$name: nothing on stdout" "[ -z \"\$OUT\" ]"
  check "$name: usage hint on stderr" "grep -q -- '--help' '$_err'"
}
usage_error "no command" 
usage_error "unknown command" frobnicate
usage_error "unknown top-level option" --frobnicate ls
usage_error "-C without a directory" -C
usage_error "unknown option" ls --frobnicate
usage_error "unknown short option" ls -x
usage_error "flag given a value" ls --json=yes
usage_error "--version without its value" ls --version
usage_error "--version not a number" ls --version two
usage_error "--version zero" describe x --version 0
usage_error "--version negative" describe x --version -3
usage_error "unknown kind" ls widgets
usage_error "describe without NAME" describe
usage_error "describe with two names" describe a b
usage_error "lineage without NAME" lineage
usage_error "search without TEXT" search
usage_error "plan with an argument" plan now
usage_error "apply with an argument" apply everything
usage_error "history with an argument" history 3
usage_error "init with two directories" init a b
usage_error "init with a bad project name" init "$TMP/x" --project "no spaces"
usage_error "init --project without its value" init "$TMP/x" --project
usage_error "version with an argument" version 2

run "$TESSERA" lss
expect_err "an unknown command close to one is suggested" "did you mean 'ls'?"
run "$TESSERA" ls --jsn
expect_err "an unknown option close to one is suggested" "did you mean '--json'?"
run "$TESSERA" ls viewz
expect_err "an unknown kind close to one is suggested" "did you mean 'views'?"
check "init with a bad project name wrote nothing" "[ ! -e '$TMP/x' ]"

# Not a feature repo / -C.
mkdir -p "$TMP/empty"
for c in plan apply ls history "describe x" "search x" "lineage x"; do
  # shellcheck disable=SC2086
  run "$TESSERA" -C "$TMP/empty" $c
  expect_rc "$c outside a feature repo exits 1" 1
  expect_err "$c outside a feature repo says so" "no tessera.yaml in $TMP/empty"
done
run "$TESSERA" -C "$TMP/does-not-exist" ls
expect_rc "-C to a missing directory exits 1" 1
expect_err "-C to a missing directory says so" "error: cannot change to directory '$TMP/does-not-exist'"
run "$TESSERA" ls -C "$TMP/does-not-exist"
expect_rc "-C after the command to a missing directory exits 1" 1
check "no store was created outside a repo" "[ ! -e '$TMP/empty/.tessera' ]"

# Nothing unexpected on odd input.
run "$TESSERA" describe ""
expect_rc "an empty name is a usage error" 2
run "$TESSERA" -- ls --help
expect_rc "'--' before the command is accepted" 0
run "$TESSERA" ls -- --json
expect_rc "'--' makes what follows an argument (an unknown kind)" 2
