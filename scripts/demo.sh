#!/usr/bin/env bash
# demo.sh — Tessera's quickstart, end to end, on the fraud example (examples/fraud).
#
# Run after scripts/setup.sh and make (README's first command):
#   1. generates ~20k transactions and their labels into examples/fraud/data with build/bench/gen
#   2. copies the feature repo to a temporary directory (or works in place with --in-place)
#   3. runs tessera plan, apply, ls, describe, search, lineage, history
#   4. changes one feature's definition, shows the plan naming the models it affects, applies it
#      and shows the history again
#   5. ingests the events, builds a training set, shows statistics
#   6. materializes the online store, looks up a vector in-process, starts the feature server,
#      queries it, pushes an event and shows the vector change, checks online = offline
# Prints a heading before each step; stops with a non-zero status at the first step that fails.
#
# Usage: scripts/demo.sh [--in-place] [--keep] [--events N] [--seed S]
#   --in-place  work in examples/fraud itself (its .tessera store is reset first)
#   --keep      keep the temporary copy of the repo (its path is printed at the end)
#   --events N  transactions to generate (default 20000)
#   --seed S    generator seed (default 42)
# Environment: BUILD (default build), the build directory holding tessera and bench/gen.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
TESSERA="$BUILD/tessera"
GEN="$BUILD/bench/gen"
EXAMPLE="$ROOT/examples/fraud"

in_place=0
REPO=""
keep=0
events=20000
seed=42
usage() { sed -n '/^# Usage:/,/^# Environment:/p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --in-place) in_place=1 ;;
    --keep) keep=1 ;;
    --events) [ $# -ge 2 ] || { usage >&2; exit 2; }; events=$2; shift ;;
    --seed) [ $# -ge 2 ] || { usage >&2; exit 2; }; seed=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "demo: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

if [ -t 1 ]; then B=$'\033[1m'; G=$'\033[32m'; R=$'\033[31m'; N=$'\033[0m'; else B= G= R= N=; fi
step_no=0
# step TITLE: a numbered heading.
step() {
  step_no=$((step_no + 1))
  printf '\n%s==> %d. %s%s\n' "$B" "$step_no" "$1" "$N"
}
fail() {
  printf '%sdemo: %s%s\n' "$R" "$*" "$N" >&2
  exit 1
}
# run CMD...: shows the command (paths shortened), runs it, stops the demo if it fails.
run() {
  local shown="$*"
  [ -z "$REPO" ] || shown=${shown//"$TESSERA -C $REPO"/tessera}
  shown=${shown//"$ROOT/"/}
  printf '%s$ %s%s\n' "$B" "$shown" "$N"
  local rc=0
  "$@" || rc=$?
  [ "$rc" -eq 0 ] || fail "step $step_no failed: '$shown' exited with status $rc"
}
# tess ARGS...: tessera on the demo repo.
tess() { run "$TESSERA" -C "$REPO" "$@"; }

# Whatever happens: stop the server, put features.yaml back (--in-place), remove the copy.
serve_pid=""
serve_out=""
saved=""
tmp=""
stop_server() {
  [ -z "$serve_pid" ] || { kill "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; }
  serve_pid=""
  [ -z "$serve_out" ] || rm -f "$serve_out"
}
on_exit() {
  stop_server
  if [ -n "$saved" ]; then cp "$saved" "$REPO/features.yaml"; rm -f "$saved"; fi
  if [ -n "$tmp" ] && [ "$keep" -eq 0 ]; then rm -rf "$tmp"; fi
}

[ -x "$TESSERA" ] || fail "$TESSERA not found: run 'make' first (after scripts/setup.sh)"
[ -x "$GEN" ] || fail "$GEN not found: run 'make' first (after scripts/setup.sh)"
[ -f "$EXAMPLE/tessera.yaml" ] || fail "$EXAMPLE/tessera.yaml is missing"

step "Generate $events card transactions and their fraud labels (build/bench/gen)"
run "$GEN" --out "$EXAMPLE/data" --events "$events" --seed "$seed" \
  --start 2026-01-01 --days 30
printf 'first rows of data/transactions.csv:\n'
head -n 4 "$EXAMPLE/data/transactions.csv"
printf 'first rows of data/labels.csv:\n'
head -n 4 "$EXAMPLE/data/labels.csv"

if [ "$in_place" -eq 1 ]; then
  step "Use the feature repo in place: examples/fraud (its store reset)"
  REPO="$EXAMPLE"
  rm -rf "$REPO/.tessera"
  tmp=""
  # the demo edits features.yaml: put it back however the demo ends
  saved=$(mktemp "${TMPDIR:-/tmp}/tessera-demo-features.XXXXXX")
  cp "$REPO/features.yaml" "$saved"
  trap on_exit EXIT
else
  step "Copy the feature repo examples/fraud to a temporary directory"
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/tessera-demo.XXXXXX")
  trap on_exit EXIT
  REPO="$tmp/fraud"
  mkdir -p "$REPO"
  (cd "$EXAMPLE" && tar --exclude=./.tessera -cf - .) | (cd "$REPO" && tar -xf -)
  echo "repo: $REPO"
fi
ls "$REPO"

step "Plan: what apply would add (nothing is applied yet)"
tess plan

step "Apply: validate the definitions and record registry version 1"
tess apply

step "The catalog: every entity, source, view, feature and service"
tess ls

step "Describe the feature view user_txn"
tess describe user_txn

step "Search the catalog for 'fraud'"
tess search fraud

step "Lineage of user_txn:amount_sum_7d: what it is built from, which models use it"
tess lineage user_txn:amount_sum_7d

step "History of the registry"
tess history

step "Change a feature: big transactions now start at 500 instead of 1000"
cp "$REPO/features.yaml" "$REPO/.features.yaml.orig"
sed -i '/name: big_txn_count_30d/,/description:/ s/1000/500/' "$REPO/features.yaml"
diff_rc=0
diff -u "$REPO/.features.yaml.orig" "$REPO/features.yaml" \
  --label a/features.yaml --label b/features.yaml || diff_rc=$?
rm -f "$REPO/.features.yaml.orig"
[ "$diff_rc" -eq 1 ] || fail "the sed edit of features.yaml changed nothing"

step "Plan: the change, and the feature services (models) it affects"
plan_out=$("$TESSERA" -C "$REPO" plan) || fail "step $step_no failed: 'tessera plan'"
printf '%s$ tessera plan%s\n%s\n' "$B" "$N" "$plan_out"
for svc in fraud_model_v1 fraud_model_v2; do
  case "$plan_out" in
    *"$svc"*) ;;
    *) fail "the plan does not name $svc as affected by the change" ;;
  esac
done

step "Apply the change: registry version 2"
tess apply

step "History: both versions, and what each changed"
tess history

step "Ingest data/transactions.csv into the offline store (atomic; a second run skips it)"
tess ingest transactions
tess ingest transactions

step "Build a point-in-time correct training set for fraud_model_v1 from data/labels.csv"
tess training-set --service fraud_model_v1 --labels data/labels.csv -o train.csv
printf 'first rows of train.csv (the label columns, then one column per feature):\n'
head -n 4 "$REPO/train.csv"

step "Statistics of the view user_txn over the offline store"
tess stats user_txn

# The generated events end on 2026-01-31: serve as of then, so that the windows hold them.
export TESSERA_NOW=2026-01-31T00:00:00Z
step "Materialize the online store as of $TESSERA_NOW (TESSERA_NOW pins the clock)"
tess materialize

step "Look up a feature vector in-process: user 42, for a payment of 250"
tess get --service fraud_model_v1 --entity user_id=42,amount=250

step "Start the feature server (tessera serve, loopback, a free port)"
printf '%s$ tessera serve --port 0 &%s\n' "$B" "$N"
serve_out=$(mktemp "${TMPDIR:-/tmp}/tessera-demo-serve.XXXXXX")
"$TESSERA" -C "$REPO" serve --port 0 >"$serve_out" 2>&1 &
serve_pid=$!
for _ in $(seq 1 100); do
  [ -s "$serve_out" ] && break
  sleep 0.05
done
url=$(sed -n 's/^serving on \(http:[^ ]*\).*/\1/p' "$serve_out")
[ -n "$url" ] || fail "the server did not start: $(cat "$serve_out")"
cat "$serve_out"
query='{"feature_service": "fraud_model_v1", "entities": {"user_id": [42], "amount": [250.0]}}'
lookup() {
  printf '%s$ curl -s %s/get-online-features -d '"'"'%s'"'"'%s\n' "$B" "$url" "$query" "$N"
  curl -s -H 'Content-Type: application/json' -d "$query" "$url/get-online-features" >"$REPO/vector.json" ||
    fail "the lookup failed"
  python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
for name, r in zip(d["metadata"]["feature_names"], d["results"]):
    print("  %-22s %22s  %s" % (name, r["values"][0], r["statuses"][0]))' "$REPO/vector.json"
}

step "Query the server: POST /get-online-features (Feast's request and response)"
lookup
before=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); n=d["metadata"]["feature_names"]; print(d["results"][n.index("txn_count_1h")]["values"][0])' "$REPO/vector.json")

step "Push a payment of 4999.99 by user 42, one minute ago (POST /push)"
push='{"push_source_name": "transactions_live", "df": {"txn_id": [99999999], "user_id": [42], "merchant_id": [7], "amount": [4999.99], "currency": ["USD"], "channel": ["web"], "is_international": [true], "ts": ["2026-01-30T23:59:00Z"], "created_at": ["2026-01-30T23:59:01Z"]}}'
printf '%s$ curl -s %s/push -d '"'"'%s'"'"'%s\n' "$B" "$url" "$push" "$N"
curl -s -H 'Content-Type: application/json' -d "$push" "$url/push" || fail "the push failed"

step "Query again: the vector changed at once (last amount, counts, sums, the ratio)"
lookup
after=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); n=d["metadata"]["feature_names"]; print(d["results"][n.index("txn_count_1h")]["values"][0])' "$REPO/vector.json")
[ "$after" -eq $((before + 1)) ] || fail "txn_count_1h went from $before to $after, expected $((before + 1))"
echo "txn_count_1h: $before -> $after"

step "Consistency: online values equal offline ones for 200 sampled entities (tessera check)"
tess check --service fraud_model_v1 --sample 200
stop_server

if [ "$in_place" -eq 1 ]; then
  step "Put features.yaml back as committed, and apply it: registry version 3"
  cp "$saved" "$REPO/features.yaml"
  tess apply
fi

printf '\n%s%s Demo complete: %d steps ran.%s\n' "$G" "$B" "$step_no" "$N"
if [ -n "$tmp" ] && [ "$keep" -eq 1 ]; then
  echo "The demo repo is kept in $REPO (tessera -C $REPO ...)."
fi
