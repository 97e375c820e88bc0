#!/usr/bin/env bash
# bench-cluster.sh — the cluster's performance figures (make bench-cluster;
# docs/cluster.md).
#
# Each scenario runs RUNS times, each time on a fresh cluster: a
# redis-server (no persistence) and three `livectl serve --dev --cluster`
# nodes a, b, c on loopback, every process on this machine:
#   room:   SIZE sessions per node (6,000: 18,000 in all) in ONE room,
#           joined at ROOM_RATE (1,000/s) by one `bench signal` with the
#           three nodes as --url (round-robin: SIZE on each) and --procs
#           PROCS (3: a process holds 20,000 files at most); during the
#           hold, ROOM_CHAT_RATE (20/s) chat messages into the room.
#           Asserts 0 errors, join p99 < 100 ms, chat p99 < 500 ms, 0 gaps.
#   edge:   first frame through an edge vs at the origin: a publisher on a;
#           a viewer held on c keeps c's upstream up; one probe run takes
#           PROBES attempts at each of a (the origin), b (an edge with no
#           other viewer: each attempt starts the upstream, "cold") and c
#           (an edge whose upstream is up, "warm"), in turns.
#   redis:  Redis commands per join and per chat message: members held on
#           b and c, then JOINS sessions join the room on a at JOIN_RATE
#           with CHAT_RATE chat messages/s into it during the hold; the
#           nodes' livectl_cluster_redis_commands_total before and after.
#           "Per join" is everything but the chat scripts (joins, leaves,
#           heartbeats, counts) over the joins.
# At the end the medians over the runs are printed (needs jq); each run's
# reports are in $OUT. Chat latency is receipt − scheduled send on one
# clock: bench and nodes share this machine.
#
# Environment: RUNS (3), SCENARIOS ("room edge redis"), SIZE (6000),
# ROOM_RATE (1000), ROOM_CHAT_RATE (20), ROOM_PING (each session's
# --ping-interval in room, 1s; 0 for none, as bench-live's chat50), PROCS (3), PROBES (10), JOINS
# (4000), JOIN_RATE (2000), CHAT_RATE (500), DURATION (10s), BIN
# (bin/livectl), OUT ($TMPDIR/livectl-bench-cluster). A quick check that
# the script works: SIZE=500 RUNS=1 JOINS=500 make bench-cluster.
# Failover timing is make bench-failover (TestFailoverE2E, median of 3 kills).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SCENARIOS=${SCENARIOS:-"room edge redis"}
SIZE=${SIZE:-6000}
ROOM_RATE=${ROOM_RATE:-1000}
ROOM_CHAT_RATE=${ROOM_CHAT_RATE:-20}
ROOM_PING=${ROOM_PING:-1s}
PROCS=${PROCS:-3}
PROBES=${PROBES:-10}
JOINS=${JOINS:-4000}
JOIN_RATE=${JOIN_RATE:-2000}
CHAT_RATE=${CHAT_RATE:-500}
DURATION=${DURATION:-10s}
BIN=${BIN:-bin/livectl}
OUT=${OUT:-${TMPDIR:-/tmp}/livectl-bench-cluster}
command -v redis-server >/dev/null || { echo "bench-cluster needs redis-server (apt-get install redis-server)" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench-cluster needs jq (apt-get install jq)" >&2; exit 1; }

# shellcheck source=lib.sh
. scripts/lib.sh
mkdir -p "$OUT"
rm -f "$OUT"/cluster-*.json # medians over this invocation's reports only
bench_setup bench-cluster

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
stop_cluster() {
	for p in ${pids[@]+"${pids[@]}"}; do kill -INT "$p" 2>/dev/null || true; done
	for p in ${pids[@]+"${pids[@]}"}; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap stop_cluster EXIT

# start_cluster NAME: redis-server and nodes a, b, c; sets url[n] (host:port).
declare -A url
start_cluster() {
	local rport p n
	rport=$(free_port)
	redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$OUT" --loglevel warning \
		>"$OUT/redis-$1.log" 2>&1 &
	pids+=($!)
	for n in a b c; do
		p=$(free_port)
		"$BIN" serve --dev --listen "127.0.0.1:$p" --admin-listen '' --udp-port "$(free_udp_port)" \
			--max-conns 25000 --max-participants 25000 --room-chat-rate inf --log-level warn \
			--cluster "redis://127.0.0.1:$rport/0" --node-id "$n" --advertise-url "http://127.0.0.1:$p" \
			>"$OUT/serve-$1-$n.log" 2>&1 &
		pids+=($!)
		url[$n]="127.0.0.1:$p"
	done
	for n in a b c; do
		for _ in $(seq 100); do curl -fsS "http://${url[$n]}/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
		curl -fsS "http://${url[$n]}/readyz" >/dev/null || { echo "bench-cluster: node $n not ready; see $OUT/serve-$1-$n.log" >&2; exit 1; }
	done
}

# metric NODE SERIES: the series' value on the node's /metrics (0 if absent).
metric() { curl -fsS "http://${url[$1]}/metrics" | awk -v m="$2" '$1==m {v=$2} END {print v+0}'; }

status=0
# scenario_room N: 3 × SIZE in one room, then chat into it.
scenario_room() {
	local file="$OUT/cluster-room-$1.json" rc=0
	"$BIN" bench signal --url "ws://${url[a]}/ws,ws://${url[b]}/ws,ws://${url[c]}/ws" \
		--conns $((3 * SIZE)) --rate "$ROOM_RATE/s" --room-size $((3 * SIZE)) --procs "$PROCS" \
		--duration "$DURATION" --chat-rate "$ROOM_CHAT_RATE/s" --ping-interval "$ROOM_PING" --out "$file" --quiet \
		--assert 'errors<1,join.p99<100ms,chat.p99<500ms,chat.gaps<1' || rc=$?
	[ $rc -eq 0 ] || status=$rc
}

# scenario_edge N: probes at the origin and through a cold and a warm edge.
scenario_edge() {
	local file="$OUT/cluster-edge-$1.json" room=ff rc=0 b0 c0
	"$BIN" publish --url "http://${url[a]}/whip/$room" -q >"$OUT/publish-$1.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 100); do [ "$(metric a "livectl_room_media_publishers{room=\"$room\"}")" = 1 ] && break; sleep 0.1; done
	"$BIN" probe --url "http://${url[c]}/whep/$room" --observe 24h -q >/dev/null 2>&1 & # c's held viewer
	pids+=($!)
	for _ in $(seq 100); do [ "$(metric c livectl_cascade_upstream_bytes_total)" != 0 ] && break; sleep 0.1; done
	b0=$(metric b livectl_cascade_upstreams_started_total)
	c0=$(metric c livectl_cascade_upstreams_started_total)
	"$BIN" probe --url "http://${url[a]}/whep/$room,http://${url[b]}/whep/$room,http://${url[c]}/whep/$room" \
		--count $((3 * PROBES)) -o json >"$file.probe" 2>"$OUT/probe-$1.log" || rc=$?
	[ $rc -eq 0 ] || status=$rc
	# The upstreams each edge started during the probes: b one per
	# attempt (cold), c none (its held viewer kept one up: warm).
	jq --arg a "${url[a]}" --arg b "${url[b]}" --arg c "${url[c]}" \
		--argjson bs "$(( $(metric b livectl_cascade_upstreams_started_total) - b0 ))" \
		--argjson cs "$(( $(metric c livectl_cascade_upstreams_started_total) - c0 ))" '
		def p50($u): [.targets[] | select(.url | contains($u)) | .first_frame_ms.p50][0];
		{ok, attempts, origin: p50($a), edge_cold: p50($b), edge_warm: p50($c),
		 b_upstreams_started: $bs, c_upstreams_started: $cs}' "$file.probe" >"$file"
}

# scenario_redis N: Redis commands per join and per chat message. The
# nodes' command counters and a's chat counter are sampled every 0.2 s
# through the run: the joins' share is what was sent before the first
# chat message (the ramp: joins, counts, heartbeats), the chat's what was
# sent while chat messages were counted, over their number; "rest per
# join" is the whole run's commands but the chat's (joins, leaves,
# heartbeats, counts) over the joins.
scenario_redis() {
	local file="$OUT/cluster-redis-$1.json" n hold sampler rc=0
	hold=$(( $(echo "$DURATION" | tr -dc 0-9) + 30 ))s
	for n in b c; do # members on b and c, held through the measured run
		"$BIN" bench signal --url "ws://${url[$n]}/ws" --conns 50 --rate 100 --rooms 1 --duration "$hold" --quiet \
			--run-id "redis$1" >/dev/null 2>&1 &
		pids+=($!)
	done
	sleep 3
	while :; do
		echo "$(metric a livectl_cluster_chat_messages_total) $(metric a livectl_cluster_redis_commands_total)" \
			"$(metric b livectl_cluster_redis_commands_total) $(metric c livectl_cluster_redis_commands_total)"
		sleep 0.2
	done >"$OUT/cluster-redis-$1.samples" &
	sampler=$!
	"$BIN" bench signal --url "ws://${url[a]}/ws" --conns "$JOINS" --rate "$JOIN_RATE" --rooms 1 --duration "$DURATION" \
		--run-id "redis$1" --chat-rate "$CHAT_RATE" --out "$file.bench" --quiet || rc=$?
	[ $rc -eq 0 ] || status=$rc
	sleep 0.5
	kill "$sampler" && wait "$sampler" 2>/dev/null || true
	# Columns: chat messages on a, commands of a, b, c. j: the last sample
	# before chat; c: the first with every chat message counted.
	awk -v joins="$JOINS" '
		NR == 1 { chat0 = $1 } { chat[NR] = $1; a[NR] = $2; all[NR] = $2 + $3 + $4 }
		$1 == chat0 { j = NR }
		END {
			for (c = j; c < NR && chat[c] < chat[NR]; c++) {}
			m = chat[c] - chat0
			printf "{\"joins\": %d, \"chat_messages\": %d, \"join_commands_a\": %d, \"join_commands_all\": %d, ", joins, m, a[j] - a[1], all[j] - all[1]
			printf "\"chat_commands_a\": %d, \"chat_commands_all\": %d, ", a[c] - a[j], all[c] - all[j]
			printf "\"rest_per_join_a\": %.4f, ", (a[NR] - a[1] - (a[c] - a[j])) / joins
			printf "\"per_join_a\": %.4f, \"per_join_all\": %.4f, ", (a[j] - a[1]) / joins, (all[j] - all[1]) / joins
			if (m > 0) printf "\"per_chat_a\": %.4f, \"per_chat_all\": %.4f}\n", (a[c] - a[j]) / m, (all[c] - all[j]) / m
			else printf "\"per_chat_a\": null, \"per_chat_all\": null}\n"
		}' "$OUT/cluster-redis-$1.samples" >"$file"
}

for scenario in $SCENARIOS; do
	case "$scenario" in room | edge | redis) ;; *) echo "bench-cluster: unknown scenario $scenario" >&2; exit 2 ;; esac
	for n in $(seq "$RUNS"); do
		echo "== $scenario run $n/$RUNS ==" >&2
		start_cluster "$scenario-$n"
		"scenario_$scenario" "$n"
		stop_cluster
		sleep 2 # let the kernel settle closed sockets between runs
	done
done

# med EXPR FILE...: jq over the runs' reports as one array, with med and n
# (a number to one decimal, "-" for none).
med() {
	local expr=$1
	shift
	jq -rs "$JQ_MED"' def n: if . == null then "-" else (. * 10 | round / 10 | tostring) end; '"$expr" "$@"
}
echo
echo "Medians over $RUNS run(s):"
if [ -n "$(ls "$OUT"/cluster-room-*.json 2>/dev/null)" ]; then
	echo "room: 3 nodes × $SIZE sessions in one room at $ROOM_RATE/s, then $ROOM_CHAT_RATE chat messages/s (targets: 0 errors, join p99 < 100 ms, chat p99 < 500 ms)"
	{
		printf 'established\terrors\tjoin p50 ms\tjoin p99 ms\tchat sent\tchat p99 ms\tgaps\tdelivered\texpected\tper node (a b c)\n'
		med '[(map(.connections.established) | med | n), (map([.errors[]] | add // 0) | med | n),
			(map(.latency_ms.join.p50) | med | n), (map(.latency_ms.join.p99) | med | n),
			(map(.chat.sent) | med | n), (map(.latency_ms.chat.p99 // null) | med | n), (map(.chat.gaps) | med | n),
			(map(.chat.delivered) | med | n), (map(.chat.expected_deliveries) | med | n),
			(.[0].targets // [] | map(.sessions | tostring) | join(" "))] | @tsv' \
			"$OUT"/cluster-room-*.json
	} | column -t -s "$(printf '\t')"
fi
if [ -n "$(ls "$OUT"/cluster-edge-*.json 2>/dev/null)" ]; then
	echo "edge: first frame (probe, ms; medians of each run's p50 over $PROBES attempts per node; target: an edge adds < 15 ms)"
	{
		printf 'origin a\tedge b cold\tedge c warm\tcold - origin\twarm - origin\tok/attempts\tupstreams started b, c\n'
		med '[(map(.origin) | med | n), (map(.edge_cold) | med | n), (map(.edge_warm) | med | n),
			(map(.edge_cold - .origin) | med | n), (map(.edge_warm - .origin) | med | n),
			(map("\(.ok)/\(.attempts)") | join(" ")),
			(map("\(.b_upstreams_started),\(.c_upstreams_started)") | join(" "))] | @tsv' "$OUT"/cluster-edge-*.json
	} | column -t -s "$(printf '\t')"
fi
if [ -n "$(ls "$OUT"/cluster-redis-*.json 2>/dev/null)" ]; then
	echo "redis: $JOINS joins on a at $JOIN_RATE/s, then $CHAT_RATE chat messages/s asked (Redis commands per event, node a and all three nodes; target O(1) per event per node)"
	{
		printf 'chat messages\tjoin cmds a\tper join a\tper join all\trest per join a\tchat cmds a\tper chat msg a\tper chat msg all\n'
		med '[(map(.chat_messages) | med | n), (map(.join_commands_a) | med | n),
			(map(.per_join_a) | med | tostring), (map(.per_join_all) | med | tostring), (map(.rest_per_join_a) | med | tostring), (map(.chat_commands_a) | med | n),
			(map(.per_chat_a) | med | tostring), (map(.per_chat_all) | med | tostring)] | @tsv' \
			"$OUT"/cluster-redis-*.json
	} | column -t -s "$(printf '\t')"
fi
exit $status
