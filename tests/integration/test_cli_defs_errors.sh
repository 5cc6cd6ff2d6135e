#!/usr/bin/env bash
# Invalid definitions through the command: every problem is printed on stderr as
# file:line:column: message, plan and apply exit 1, and the registry is left as it was
# (history unchanged). One case per kind of mistake, each in a file of its own (bad.yaml) next
# to the valid example written by init.
. "$(dirname "$0")/lib.sh"
export TESSERA_NOW=2024-04-01T12:00:00Z

R="$TMP/repo"
"$TESSERA" init "$R" --project errs >/dev/null 2>&1
cd "$R" || exit 1
run "$TESSERA" apply
expect_rc "the example applies" 0
run "$TESSERA" history --json
history_before=$OUT

# bad_case NAME LINE [WORD]: with bad.yaml as written by the caller, plan and apply fail with a
# bad.yaml:LINE:COLUMN: line on stderr (mentioning WORD), and the registry's history does not
# change.
bad_case() {
  local name=$1 line=$2 word=${3:-}
  run "$TESSERA" plan
  expect_rc "$name: plan exits 1" 1
  check "$name: plan reports bad.yaml:$line:COLUMN:" "grep -qE '^bad\.yaml:$line:[0-9]+: ' '$_err'"
  check "$name: plan prints nothing on stdout" "[ -z \"\$OUT\" ]"
  [ -z "$word" ] || expect_err "$name: the message mentions $word" "$word"
  run "$TESSERA" apply
  expect_rc "$name: apply exits 1" 1
  check "$name: apply reports bad.yaml:$line:COLUMN:" "grep -qE '^bad\.yaml:$line:[0-9]+: ' '$_err'"
  check "$name: apply does not claim to apply" "! grep -q 'Applied' '$_out'"
  expect_err "$name: a summary line closes the problems" "error: invalid definitions"
  run "$TESSERA" history --json
  check "$name: history is unchanged" "[ \"\$OUT\" = \"\$history_before\" ]"
  rm -f bad.yaml
}

# Broken YAML: an unclosed flow sequence.
cat >bad.yaml <<'EOF'
entities:
  - name: account
    join_keys: [account_id
EOF
bad_case "broken YAML" "[0-9]+"

# An unknown key.
cat >bad.yaml <<'EOF'
entities:
  - name: account
    join_keys: [account_id]
    colour: red
EOF
bad_case "unknown key" 4 colour

# An unknown type in a source schema.
cat >bad.yaml <<'EOF'
sources:
  - name: refunds
    type: batch
    path: data/refunds.csv
    timestamp: ts
    schema: {user_id: int64, amount: flaot64, ts: timestamp}
EOF
bad_case "unknown type" 6 flaot64

# A service naming a view that does not exist.
cat >bad.yaml <<'EOF'
feature_services:
  - name: ghost_model
    features: ["ghost_view:*", "user_purchases:amount_mean"]
EOF
bad_case "service naming a missing view" 3 ghost_view

# An expression that does not type-check.
cat >bad.yaml <<'EOF'
feature_views:
  - name: user_bad
    entities: [user]
    source: events
    features:
      - {name: broken, expr: "category + 1"}
EOF
bad_case "expression type error" 6

# A window shorter than the view's hop.
cat >bad.yaml <<'EOF'
feature_views:
  - name: user_hourly
    entities: [user]
    source: events
    hop: 1d
    features:
      - {name: purchases_1h, agg: count, window: 1h}
EOF
bad_case "window shorter than hop" "(5|7)" hop

# online_expiry where it could change a value (docs/online.md, "Expiry"): each of the four
# rules, located at the online_expiry value.
cat >bad.yaml <<'EOF'
feature_views:
  - name: user_lifetime
    entities: [user]
    source: events
    online_expiry: 60d
    features:
      - {name: mean_all, agg: mean, expr: amount}
EOF
bad_case "online_expiry with a lifetime aggregate" 5 "lifetime aggregates would lose their history"
cat >bad.yaml <<'EOF'
feature_views:
  - name: user_no_ttl
    entities: [user]
    source: events
    online_expiry: 60d
    features:
      - {name: last, expr: amount}
EOF
bad_case "online_expiry with row-level features and no ttl" 5 "online_expiry needs a ttl"
cat >bad.yaml <<'EOF'
feature_views:
  - name: user_short
    entities: [user]
    source: events
    ttl: 30d
    online_expiry: 7d
    features:
      - {name: last, expr: amount}
EOF
bad_case "online_expiry shorter than the ttl" 6 "online_expiry 1w is shorter than the view's ttl 30d"
cat >bad.yaml <<'EOF'
feature_views:
  - name: user_window
    entities: [user]
    source: events
    hop: 1h
    online_expiry: 7d
    features:
      - {name: n_7d, agg: count, window: 7d}
EOF
bad_case "online_expiry shorter than the longest window + hop" 6 "(1w + 1h = 169h)"

# Several problems at once: every one is printed, each on its own line.
cat >bad.yaml <<'EOF'
entities:
  - name: account
    join_keys: [account_id]
    colour: red
sources:
  - name: refunds
    type: batch
    path: data/refunds.csv
    timestamp: ts
    schema: {user_id: int64, amount: flaot64, ts: timestamp}
EOF
run "$TESSERA" apply
expect_rc "two problems: apply exits 1" 1
check "two problems: both are printed" \
  "grep -qE '^bad\.yaml:4:[0-9]+: ' '$_err' && grep -qE '^bad\.yaml:10:[0-9]+: ' '$_err'"
expect_err "two problems: the summary counts them" "(2 problems)"
rm -f bad.yaml

# A broken tessera.yaml: the problem is located too, and nothing is applied.
cp tessera.yaml tessera.yaml.orig
printf 'project: errs\nstroe: .tessera\n' >tessera.yaml
run "$TESSERA" apply
expect_rc "broken tessera.yaml: apply exits 1" 1
check "broken tessera.yaml: located message" "grep -qE 'tessera\.yaml:2:[0-9]+: ' '$_err'"
mv tessera.yaml.orig tessera.yaml

# After all that, the valid definitions still apply as "no changes".
run "$TESSERA" apply
expect_rc "the repo still applies" 0
expect_out "nothing was applied by the failed attempts" "No changes; version 1 is current."
