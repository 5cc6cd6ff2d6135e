#!/usr/bin/env bash
# A feature repo's life through the command: init, plan, apply, apply again, ls, describe,
# search, lineage, history (and their --json), a changed expression and the service it affects,
# removed features and a removed view, --version N, and -C / --repo.
. "$(dirname "$0")/lib.sh"
export TESSERA_NOW=2024-04-01T12:00:00Z

# json_ok NAME: the last run's stdout is one JSON document (python3's json, else jq).
json_ok() {
  local rc
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; json.load(sys.stdin)' <"$_out" 2>/dev/null
    rc=$?
  elif command -v jq >/dev/null 2>&1; then
    jq -e . <"$_out" >/dev/null 2>&1
    rc=$?
  else
    grep -qE '^[[{]' "$_out"
    rc=$?
  fi
  if [ "$RC" -eq 0 ] && [ "$rc" -eq 0 ]; then ok "$1"; else not_ok "$1" "not JSON (exit $RC)"; fi
}

# ---- init ----
R="$TMP/shop"
run "$TESSERA" init "$R" --project shop
expect_rc "init exits 0" 0
expect_out "init says what it created" "tessera.yaml"
for f in tessera.yaml features.yaml data/events.csv; do
  check "init wrote $f" "[ -s '$R/$f' ]"
done
check "init wrote the project name" "grep -q '^project: shop' '$R/tessera.yaml'"
check "init wrote a few dozen events" \
  "[ \$(tail -n +2 '$R/data/events.csv' | wc -l) -ge 24 ] && head -1 '$R/data/events.csv' | grep -q ts"
sum_before=$(cat "$R/tessera.yaml" "$R/features.yaml" | cksum)
run "$TESSERA" init "$R"
expect_rc "init refuses an existing repo" 1
expect_err "init says tessera.yaml exists" "tessera.yaml already exists"
check "init left the existing repo alone" "[ \"\$(cat '$R/tessera.yaml' '$R/features.yaml' | cksum)\" = '$sum_before' ]"
mkdir -p "$TMP/half"
echo "entities: []" >"$TMP/half/features.yaml"
run "$TESSERA" init "$TMP/half"
expect_rc "init refuses to overwrite features.yaml" 1
check "init wrote nothing next to an existing features.yaml" "[ ! -e '$TMP/half/tessera.yaml' ]"
mkdir -p "$TMP/my-proj"
run "$TESSERA" -C "$TMP/my-proj" init
expect_rc "init in the current directory (-C) exits 0" 0
check "init names the project after its directory" "grep -q '^project: my-proj' '$TMP/my-proj/tessera.yaml'"

cd "$R" || exit 1

# ---- plan and apply ----
run "$TESSERA" history
expect_rc "history before any apply exits 0" 0
expect_out "history before any apply says so" "Nothing applied yet."
run "$TESSERA" ls
expect_rc "ls before any apply exits 1" 1
expect_err "ls before any apply says so" "nothing has been applied yet"
run "$TESSERA" describe user
expect_err "describe before any apply says so" "nothing has been applied yet"
run "$TESSERA" plan
expect_rc "plan of the example exits 0" 0
expect_out "plan lists the new entity" "+ entity user"
expect_out "plan lists the new batch source" "+ source events"
expect_out "plan lists the new push source" "+ source events_live"
expect_out "plan lists the new view" "+ feature_view user_purchases"
expect_out "plan lists the new feature" "+ feature user_purchases:amount_sum_7d"
expect_out "plan lists the new on-demand feature" "+ on_demand_feature amount_vs_mean"
expect_out "plan lists the new service" "+ feature_service purchase_model_v1"
expect_out "plan closes with a summary" "Plan: "
run "$TESSERA" plan --json
json_ok "plan --json is JSON"
expect_out "plan --json says there are changes" '"changes": true'
run "$TESSERA" history --json
check "plan applied nothing" "printf '%s' \"\$OUT\" | tr -d ' \n' | grep -qx '\[\]'"

run "$TESSERA" apply
expect_rc "apply exits 0" 0
expect_out "apply lists what it added" "+ feature_view user_purchases"
expect_out "apply reports the version" "Applied version 1."
run "$TESSERA" apply
expect_rc "apply again exits 0" 0
expect_out "apply again changes nothing" "No changes; version 1 is current."
run "$TESSERA" plan
expect_rc "plan after apply exits 0" 0
expect_out "plan after apply: no changes" "No changes."
run "$TESSERA" apply --json
json_ok "apply --json is JSON"
expect_out "apply --json reports the version" '"version": 1'

# ---- ls ----
run "$TESSERA" ls
expect_rc "ls exits 0" 0
for w in "Entities" "Sources" "Feature views" "Features" "On-demand features" "Feature services" \
  user events events_live user_purchases user_purchases:amount_sum_7d amount_vs_mean \
  purchase_model_v1 data-team; do
  expect_out "ls shows $w" "$w"
done
run "$TESSERA" ls features
expect_rc "ls features exits 0" 0
check "ls features has the columns NAME TYPE OWNER DESCRIPTION" \
  "head -1 '$_out' | grep -qE '^NAME +TYPE +OWNER +DESCRIPTION$'"
check "ls features shows amount_sum_7d as float64" \
  "grep -qE '^user_purchases:amount_sum_7d +float64 ' '$_out'"
check "ls features shows purchases_1d as int64" "grep -qE '^user_purchases:purchases_1d +int64 ' '$_out'"
check "ls features lists only features" "! grep -qE '^(user|events|purchase_model_v1) ' '$_out'"
check "ls features aligns its columns" \
  "[ \$(awk '{ print index(\$0, \$2) }' '$_out' | sort -u | wc -l) -eq 1 ]"
run "$TESSERA" ls feature
expect_rc "ls accepts the singular" 0
expect_out "ls feature lists features" "user_purchases:amount_mean"
run "$TESSERA" ls views
check "ls views has an ENTITIES column" "head -1 '$_out' | grep -q ENTITIES"
check "ls views shows the view and its entity" "grep -qE '^user_purchases +user ' '$_out'"
run "$TESSERA" ls entities
expect_out "ls entities shows the join key" "user_id"
run "$TESSERA" ls sources
expect_out "ls sources shows the batch source's path" "data/events.csv"
run "$TESSERA" ls on-demand
expect_out "ls on-demand shows the on-demand feature" "amount_vs_mean"
run "$TESSERA" ls services
expect_out "ls services shows the service" "purchase_model_v1"
for k in "" entities sources views features on-demand services; do
  # shellcheck disable=SC2086
  run "$TESSERA" ls $k --json
  json_ok "ls $k --json is JSON"
done
run "$TESSERA" ls features --json
expect_out "ls --json has the features' full names" '"name": "user_purchases:amount_sum_7d"'
run "$TESSERA" ls --version 1
expect_rc "ls --version 1 exits 0" 0
run "$TESSERA" ls --version 42
expect_rc "ls --version of a missing version exits 1" 1
expect_err "ls --version of a missing version says so" "no version 42"

# ---- describe ----
run "$TESSERA" describe user_purchases
expect_rc "describe a view exits 0" 0
expect_out "describe names the kind and the object" "feature_view user_purchases"
expect_out "describe shows the owner" "data-team"
expect_out "describe shows the description" "Purchase behaviour of a user"
expect_out "describe shows the tags" "domain=shop"
check "describe lists the features with types" "grep -qE 'amount_sum_7d +float64' '$_out'"
check "describe shows a window aggregate's definition" \
  "grep -qE 'sum\(amount\) over (7d|1w)' '$_out'"
expect_out "describe shows what the view uses" "source events"
expect_out "describe shows what uses the view" "user_purchases:amount_sum_7d"
run "$TESSERA" describe user_purchases:amount_sum_7d
expect_rc "describe a feature exits 0" 0
expect_out "describe a feature shows its type" "float64"
expect_out "describe a feature shows the service using it" "feature_service purchase_model_v1"
for n in user events events_live amount_vs_mean purchase_model_v1; do
  run "$TESSERA" describe "$n"
  expect_rc "describe $n exits 0" 0
  run "$TESSERA" describe "$n" --json
  json_ok "describe $n --json is JSON"
done
run "$TESSERA" describe purchase_model_v1
expect_out "describe a service lists its features" "user_purchases:amount_sum_7d"
run "$TESSERA" describe no_such_thing
expect_rc "describe of a missing object exits 1" 1
expect_err "describe of a missing object says so" 'no object named "no_such_thing"'
run "$TESSERA" describe user_purchase
expect_err "describe of a near miss suggests the name" "user_purchases"

# ---- search ----
run "$TESSERA" search purchase
expect_rc "search exits 0" 0
check "search prints a KIND NAME OWNER DESCRIPTION table" \
  "head -1 '$_out' | grep -qE '^KIND +NAME +OWNER +DESCRIPTION$'"
expect_out "search finds the view" "user_purchases"
run "$TESSERA" search DATA-TEAM
expect_out "search matches owners, case-insensitively" "purchase_model_v1"
run "$TESSERA" search xyzzy
expect_rc "search without matches exits 0" 0
expect_out "search without matches says so" "No matches"
run "$TESSERA" search purchase --json
json_ok "search --json is JSON"
run "$TESSERA" search xyzzy --json
json_ok "search --json without matches is JSON"

# ---- lineage ----
run "$TESSERA" lineage user_purchases:amount_mean
expect_rc "lineage exits 0" 0
expect_out "lineage shows the view upstream" "feature_view user_purchases"
expect_out "lineage shows the source upstream" "source events"
expect_out "lineage shows the on-demand feature downstream" "on_demand_feature amount_vs_mean"
expect_out "lineage shows the service downstream" "feature_service purchase_model_v1"
check "lineage indents the source below the view" \
  "grep -qE '^ {2}feature_view user_purchases' '$_out' && grep -qE '^ {4}source events' '$_out'"
run "$TESSERA" lineage events --json
json_ok "lineage --json is JSON"
run "$TESSERA" lineage nothing_here
expect_rc "lineage of a missing object exits 1" 1
expect_err "lineage of a missing object says so" 'no object named "nothing_here"'

# ---- a changed expression ----
sed -i 's/{name: amount_sum_7d, agg: sum, expr: amount, window: 7d}/{name: amount_sum_7d, agg: sum, expr: "amount * 2", window: 7d}/' features.yaml
check "test setup: the expression was edited" "grep -q 'amount \* 2' features.yaml"
run "$TESSERA" plan
expect_rc "plan of a changed expression exits 0" 0
expect_out "plan shows the changed feature and field" "~ feature user_purchases:amount_sum_7d (expr"
expect_out "plan names the affected service" "affects purchase_model_v1"
check "plan does not list unchanged features" "! grep -q 'amount_mean' '$_out'"
run "$TESSERA" apply
expect_out "apply of the change reports version 2" "Applied version 2."
run "$TESSERA" describe user_purchases:amount_sum_7d --version 1 --json
expect_out "describe --version 1 shows the old expression" '"expr": "amount"'
run "$TESSERA" describe user_purchases:amount_sum_7d --json
expect_out "describe shows the new expression" '"expr": "amount * 2"'

# ---- a second view and service, a removed feature, then the view removed ----
cat >more.yaml <<'EOF'
feature_views:
  - name: user_categories
    entities: [user]
    source: events
    owner: growth
    description: What users buy
    features:
      - {name: last_category, expr: "upper(category)"}
      - {name: category_len, expr: "length(category)"}

feature_services:
  - name: category_model
    owner: growth
    features: ["user_categories:*"]
EOF
run "$TESSERA" apply
expect_rc "apply of a new view exits 0" 0
expect_out "apply of a new view reports version 3" "Applied version 3."
sed -i '/category_len/d' more.yaml
run "$TESSERA" plan
expect_out "plan shows the removed feature" "- feature user_categories:category_len"
expect_out "plan names the service losing the feature" "affects category_model"
run "$TESSERA" apply
expect_out "apply of the removed feature reports version 4" "Applied version 4."
rm more.yaml
run "$TESSERA" plan
expect_rc "plan of a removed view exits 0" 0
expect_out "plan shows the removed view" "- feature_view user_categories"
expect_out "plan shows the removed service" "- feature_service category_model"
run "$TESSERA" apply
expect_out "apply of the removed view reports version 5" "Applied version 5."
run "$TESSERA" ls views
check "ls no longer shows the removed view" "! grep -q user_categories '$_out'"
run "$TESSERA" describe user_categories
expect_rc "describe of the removed view exits 1" 1
run "$TESSERA" ls views --version 4
expect_out "ls --version 4 still shows the removed view" "user_categories"

# ---- history ----
run "$TESSERA" history
expect_rc "history exits 0" 0
check "history has the columns VERSION APPLIED_AT HASH CHANGES" \
  "head -1 '$_out' | grep -qE '^VERSION +APPLIED_AT +HASH +CHANGES$'"
check "history lists 5 versions" "[ \$(tail -n +2 '$_out' | wc -l) -eq 5 ]"
check "history shows the pinned time" "grep -qE '^1 +2024-04-01T12:00:00' '$_out'"
run "$TESSERA" history --json
json_ok "history --json is JSON"

# ---- -C / --repo ----
cd "$TMP" || exit 1
run "$TESSERA" -C "$R" ls features
expect_rc "-C before the command exits 0" 0
expect_out "-C before the command reads that repo" "user_purchases:amount_sum_7d"
run "$TESSERA" ls features -C "$R"
expect_out "-C after the command reads that repo" "user_purchases:amount_sum_7d"
run "$TESSERA" --repo "$R" history
expect_out "--repo DIR reads that repo" "APPLIED_AT"
run "$TESSERA" describe user_purchases --repo="$R"
expect_out "--repo=DIR reads that repo" "feature_view user_purchases"
run "$TESSERA" -C "$TMP" -C shop plan
expect_out "several -C apply in turn, like git" "No changes."
