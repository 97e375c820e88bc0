#!/usr/bin/env bash
# bench-cluster.sh — Redis commands per join and per chat message in a
# cluster (make bench-cluster; docs/cluster.md).
#
# Starts a redis-server (no persistence) and three `livectl serve --dev
# --cluster` nodes on loopback. Members of one room are held on B and C,
# then `bench signal` joins JOINS sessions into the same room on A at
# JOIN_RATE and sends chat into it at CHAT_RATE for DURATION. Node A's
# /metrics counters (livectl_cluster_redis_commands_total, round trips,
# chat messages) are read before and after, and the script prints commands
# per join and per chat message: what A itself sent to Redis, heartbeats
# and counts included.
#
# Not done here: 3 nodes × 6,000 sessions in one room spread by several
# --url, join p99 and chat delivery p99 across nodes. Failover timing is
# make bench-failover (TestFailoverE2E, median of 3 kills).
#
# Environment: JOINS (4000), JOIN_RATE (2000), CHAT_RATE (500), DURATION
# (10s), BIN (bin/livectl), OUT ($TMPDIR/livectl-bench-cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
JOINS=${JOINS:-4000}
JOIN_RATE=${JOIN_RATE:-2000}
CHAT_RATE=${CHAT_RATE:-500}
DURATION=${DURATION:-10s}
BIN=${BIN:-bin/livectl}
OUT=${OUT:-${TMPDIR:-/tmp}/livectl-bench-cluster}
mkdir -p "$OUT"
command -v redis-server >/dev/null || { echo "bench-cluster needs redis-server (apt-get install redis-server)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$OUT" --loglevel warning >"$OUT/redis.log" 2>&1 &
pids+=($!)
declare -A url
for n in a b c; do
	p=$(free_port)
	"$BIN" serve --dev --listen "127.0.0.1:$p" --admin-listen '' --udp-port 0 --max-conns 25000 \
		--max-participants 25000 --room-chat-rate inf \
		--cluster "redis://127.0.0.1:$rport/0" --node-id "$n" --advertise-url "http://127.0.0.1:$p" >"$OUT/serve-$n.log" 2>&1 &
	pids+=($!)
	url[$n]="127.0.0.1:$p"
done
for n in a b c; do
	for _ in $(seq 100); do curl -fsS "http://${url[$n]}/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
done

metric() { curl -fsS "http://${url[a]}/metrics" | awk -v m="$1" '$1==m {print $2}'; }
# Members on B and C in the bench's room, held through the measured run.
hold=$(( $(echo "$DURATION" | tr -dc 0-9) + 30 ))s
for n in b c; do
	"$BIN" bench signal --url "ws://${url[$n]}/ws" --conns 50 --rate 100 --rooms 1 --duration "$hold" --quiet \
		--out "$OUT/hold-$n.json" >/dev/null 2>&1 &
	pids+=($!)
done
sleep 3
c0=$(metric livectl_cluster_redis_commands_total)
r0=$(metric livectl_cluster_redis_round_trips_total)
m0=$(metric livectl_cluster_chat_messages_total)
t0=$(date +%s.%N)
"$BIN" bench signal --url "ws://${url[a]}/ws" --conns "$JOINS" --rate "$JOIN_RATE" --rooms 1 --duration "$DURATION" \
	--chat-rate "$CHAT_RATE" --out "$OUT/bench-a.json" --quiet
t1=$(date +%s.%N)
c1=$(metric livectl_cluster_redis_commands_total)
r1=$(metric livectl_cluster_redis_round_trips_total)
m1=$(metric livectl_cluster_chat_messages_total)
python3 - "$c0" "$c1" "$r0" "$r1" "$m0" "$m1" "$t0" "$t1" "$JOINS" <<'PY'
import sys
c0, c1, r0, r1, m0, m1, t0, t1, joins = map(float, sys.argv[1:])
cmds, rts, chats = c1 - c0, r1 - r0, m1 - m0
print(f"node a: {cmds:.0f} Redis commands ({rts:.0f} round trips) in {t1 - t0:.1f} s "
      f"for {joins:.0f} joins (and leaves) and {chats:.0f} chat messages")
if chats:
    print(f"  chat messages: {chats:.0f} commands (one script each); the rest, {cmds - chats:.0f}, "
          f"is joins, leaves, heartbeats and counts: {(cmds - chats) / joins:.3f} per join")
PY
