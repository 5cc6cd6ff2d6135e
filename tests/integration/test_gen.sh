#!/usr/bin/env bash
# The data generator is deterministic: same seed and options, same bytes; its files have the
# documented columns and row counts; the example repo's definitions match the data it writes.
. "$(dirname "$0")/lib.sh"

run "$GEN" --out "$TMP/a" --events 5000 --users 300 --merchants 50 --labels 700 --seed 7 --late 0.05 --dup 0.02 --null 0.01
expect_rc "gen runs" 0
run "$GEN" --out "$TMP/b" --events 5000 --users 300 --merchants 50 --labels 700 --seed 7 --late 0.05 --dup 0.02 --null 0.01
check "same seed, same transactions" cmp -s "$TMP/a/transactions.csv" "$TMP/b/transactions.csv"
check "same seed, same labels" cmp -s "$TMP/a/labels.csv" "$TMP/b/labels.csv"
run "$GEN" --out "$TMP/c" --events 5000 --users 300 --merchants 50 --labels 700 --seed 8
check "another seed, other data" '! cmp -s "$TMP/a/transactions.csv" "$TMP/c/transactions.csv"'
check "5000 events + header" '[ "$(wc -l <"$TMP/a/transactions.csv")" -eq 5001 ]'
check "700 labels + header" '[ "$(wc -l <"$TMP/a/labels.csv")" -eq 701 ]'
check "transactions header" '[ "$(head -n1 "$TMP/a/transactions.csv")" = "txn_id,user_id,merchant_id,amount,currency,channel,is_international,ts,created_at" ]'
check "every row has 9 fields" '[ "$(awk -F, "NF != 9" "$TMP/a/transactions.csv" | wc -l)" -eq 0 ]'
check "user ids within --users" '[ "$(awk -F, "NR > 1 && (\$2 < 0 || \$2 > 300)" "$TMP/a/transactions.csv" | wc -l)" -eq 0 ]'
run "$GEN" --help
expect_rc "gen --help" 0
run "$GEN" --events
check "gen usage error is non-zero" '[ "$RC" -ne 0 ]'

# the example repo validates against its own schema
cp -r "$ROOT/examples/fraud" "$TMP/fraud"
rm -rf "$TMP/fraud/.tessera" "$TMP/fraud/data"
run "$TESSERA" -C "$TMP/fraud" plan
expect_rc "examples/fraud validates" 0
run "$TESSERA" -C "$TMP/fraud" apply
expect_rc "examples/fraud applies" 0
run "$TESSERA" -C "$TMP/fraud" ls services
expect_out "fraud_model_v2 is listed" "fraud_model_v2"
