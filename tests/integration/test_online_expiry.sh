#!/usr/bin/env bash
# Online expiry (docs/online.md, "Expiry") against its rule (tests/oracle/expiry_oracle.py):
# random events around a pinned now — recent, long past the expiry, at its very edge, in the
# future, out of order and late — then lookups (values, statuses, event times), `tessera
# check`, the records the store keeps (`tessera verify`), a later materialization's sweep and
# pushes of late rows. EXPIRY_CASES and EXPIRY_SEED override the defaults.
. "$(dirname "$0")/lib.sh"
python3 "$ROOT/tests/oracle/expiry_oracle.py" "$TESSERA" "$TMP/expiry" \
  --cases "${EXPIRY_CASES:-8}" --seed "${EXPIRY_SEED:-1}"

# A sweep of more records than one of its transactions holds (1024): 2600 entities, 1955 of
# them forgotten 2h30 later (latest row before 11:30 with a 3h expiry), the rest a day later.
R="$TMP/many"
mkdir -p "$R/data"
printf 'project: many\n' >"$R/tessera.yaml"
cat >"$R/defs.yaml" <<'Y'
entities:
  - {name: user, join_keys: [user_id]}
sources:
  - {name: ev, type: batch, path: data/ev.csv, timestamp: ts,
     schema: {user_id: int64, amount: int64, ts: timestamp}}
feature_views:
  - name: v
    entities: [user]
    source: ev
    hop: 1h
    ttl: 1h
    online_expiry: 3h
    features:
      - {name: last, expr: amount}
      - {name: n, agg: count, window: 1h}
Y
python3 -c "
print('user_id,amount,ts')
for u in range(1, 2601):
    print(f'{u},{u},2024-01-01T{10 + u % 2}:{u % 60:02d}:00Z')" >"$R/data/ev.csv"
cd "$R" || exit 1
export TESSERA_NOW=2024-01-01T12:00:00Z
"$TESSERA" apply >/dev/null && "$TESSERA" ingest ev >/dev/null
run "$TESSERA" materialize
expect_out "many: every entity written" "v: incremental, 2600 events of 2600 entities, expired 0 records"
run "$TESSERA" verify
expect_out "many: 2600 records" "2600 head records, 1300 history records"
TESSERA_NOW=2024-01-01T14:30:00Z run "$TESSERA" materialize
expect_out "many: 1955 records swept 2h30 later" "v: incremental, 0 events of 0 entities, expired 1955 records"
run "$TESSERA" verify
expect_out "many: ...heads and histories" "645 head records, 645 history records"
TESSERA_NOW=2024-01-02T12:00:00Z run "$TESSERA" apply
expect_out "many: apply's materialization sweeps the rest a day later" "Materialized v (incremental): 0 events of 0 entities, expired 645 records."
run "$TESSERA" verify
expect_out "many: none left" "0 head records, 0 history records, 1 meta records"
