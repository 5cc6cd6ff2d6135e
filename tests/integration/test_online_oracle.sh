#!/usr/bin/env bash
# Online values against offline ones (tests/oracle/online_oracle.py): random repos and events,
# ingested in chunks at increasing times, materialized incrementally and in full; every
# feature of random entities from `tessera get` must equal `tessera training-set` at the same
# time. ORACLE_CASES and ORACLE_SEED override the defaults.
. "$(dirname "$0")/lib.sh"
python3 "$ROOT/tests/oracle/online_oracle.py" "$TESSERA" "$GEN" "$TMP/online" \
  --cases "${ORACLE_CASES:-25}" --seed "${ORACLE_SEED:-1}"
