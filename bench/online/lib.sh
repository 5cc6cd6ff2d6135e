# bench/online/lib.sh — sourced by bench/online/run.sh and bench/soak/run.sh: the data and
# the store they serve, and a way to start a server. Expects ROOT, BUILD, TESSERA, tmp, pids
# (an array the caller's cleanup kills) and log().

# online_store EVENTS: generates EVENTS events (users = EVENTS/100, merchants = EVENTS/1000,
# at least 10) into $tmp/gen, sets up the repo $R (bench/online/definitions.yaml), applies,
# ingests and materializes it; sets R, users, merchants, mat_s (seconds of the
# materialization) and exports TESSERA_NOW (every lookup and push is as of half an hour after
# the end of the data, windows full).
online_store() {
  local events=$1 t0 t1
  users=$((events / 100))
  merchants=$((events / 1000))
  [ "$merchants" -ge 10 ] || merchants=10
  log "data: $events events of $users users at $merchants merchants"
  "$BUILD/bench/gen" --out "$tmp/gen" --events "$events" --users "$users" --merchants "$merchants" 2>/dev/null
  R="$tmp/repo"
  mkdir -p "$R/data"
  cp "$ROOT/bench/online/definitions.yaml" "$R/"
  printf 'project: bench_online\nstore: .tessera\n' >"$R/tessera.yaml"
  ln -s "$tmp/gen/transactions.csv" "$R/data/transactions.csv"
  export TESSERA_NOW=2026-01-31T00:30:00Z
  "$TESSERA" -C "$R" apply --no-materialize >/dev/null
  "$TESSERA" -C "$R" ingest transactions >/dev/null
  t0=$(date +%s.%N)
  "$TESSERA" -C "$R" materialize >"$tmp/mat.txt"
  t1=$(date +%s.%N)
  mat_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  cat "$tmp/mat.txt" >&2
}

# start NAME CMD...: starts a server that prints "serving on http://HOST:PORT"; sets PORT and
# SERVER_PID
start() {
  local name=$1
  shift
  "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  SERVER_PID=$!
  pids+=("$SERVER_PID")
  for _ in $(seq 1 200); do
    [ -s "$tmp/$name.out" ] && break
    sleep 0.05
  done
  PORT=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$tmp/$name.out")
  [ -n "$PORT" ] || { log "$name did not start: $(cat "$tmp/$name.err")"; exit 1; }
}
