#!/usr/bin/env bash
# Training sets against the brute-force reference (tests/oracle/pit_oracle.py): hundreds of
# random repos, events and labels per run, every value compared. ORACLE_CASES and ORACLE_SEED
# override the defaults (a failing case prints its seed and keeps its repo).
. "$(dirname "$0")/lib.sh"
python3 "$ROOT/tests/oracle/pit_oracle.py" "$TESSERA" "$TMP/oracle" \
  --cases "${ORACLE_CASES:-150}" --seed "${ORACLE_SEED:-1}"
