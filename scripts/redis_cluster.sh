# scripts/redis_cluster.sh — sourced by tests/integration/test_redis.sh and bench/online/run.sh:
# a 3-master Redis Cluster of redis-server processes on free loopback ports. Set RC_DIR (where
# the nodes keep their files) before calling; the nodes' pids are in RC_PIDS (kill them when
# done), their ports in CPORTS. RC_EXTRA (optional): more redis-server arguments for every node,
# after the defaults so that they override them (e.g. "--appendonly yes --appendfsync always").
#   cluster_ports         picks three free ports whose bus ports (+10000) are free too
#   cnode_start I         starts node I (again: it rejoins with its nodes.conf)
#   cluster_create        starts the three nodes, joins them; waits for cluster_state:ok
#   cluster_ok / wait_cluster
#   cluster_url           redis-cluster://127.0.0.1:P1,...
RC_PIDS=()
CPORTS=()
cluster_ports() {
  CPORTS=($(python3 - <<'PY'
import socket
out = []
while len(out) < 3:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if p > 55000 or p in out: continue
    b = socket.socket()
    try: b.bind(("127.0.0.1", p + 10000))
    except OSError: continue
    finally: b.close()
    out.append(p)
print(*out)
PY
))
}
cnode_start() {
  mkdir -p "$RC_DIR/c$1"
  redis-server --port "${CPORTS[$1]}" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --dir "$RC_DIR/c$1" --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-node-timeout 3000 ${RC_EXTRA:-} >>"$RC_DIR/c$1/redis.log" 2>&1 &
  RC_PIDS[$1]=$!
  for _ in $(seq 1 100); do redis-cli -p "${CPORTS[$1]}" ping >/dev/null 2>&1 && break; sleep 0.05; done
}
cluster_ok() { # every node says the cluster is ok with 3 masters
  for p in "${CPORTS[@]}"; do
    redis-cli -p "$p" cluster info 2>/dev/null | tr -d '\r' | grep -q '^cluster_state:ok$' || return 1
    redis-cli -p "$p" cluster info 2>/dev/null | tr -d '\r' | grep -q '^cluster_size:3$' || return 1
  done
}
wait_cluster() { for _ in $(seq 1 200); do cluster_ok && return 0; sleep 0.1; done; return 1; }
cluster_create() {
  [ ${#CPORTS[@]} = 3 ] || cluster_ports
  for i in 0 1 2; do cnode_start $i; done
  redis-cli --cluster create "127.0.0.1:${CPORTS[0]}" "127.0.0.1:${CPORTS[1]}" "127.0.0.1:${CPORTS[2]}" \
    --cluster-yes >"$RC_DIR/cluster-create.log" 2>&1
  wait_cluster
}
cluster_url() { echo "redis-cluster://127.0.0.1:${CPORTS[0]},127.0.0.1:${CPORTS[1]},127.0.0.1:${CPORTS[2]}"; }
