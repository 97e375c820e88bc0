#!/usr/bin/env bash
# bench-signal.sh — the signaling performance targets of livectl (make bench-signal).
#
# For each scenario and each of RUNS repetitions it starts a fresh
# `livectl serve --dev` and runs `livectl bench signal` against it as a
# separate process on the same machine, then stops the server:
#   10k:  10,000 sessions at 2,000/s, held DURATION, one bench process
#         (asserts join.p99<50ms and zero errors)
#   19k:  19,000 sessions at 2,000/s with --procs 2 against one server
# Reports (with histograms) go to $OUT/<scenario>-<n>.json; at the end the
# medians over runs are printed (needs jq; without it, each run's table).
#
# Environment: RUNS (3), DURATION (10s), OUT ($TMPDIR/livectl-bench-signal),
# BIN (bin/livectl), SCENARIOS ("10k 19k"), NICE (unset; e.g. -10 runs the
# server and the bench at that priority, for a machine busy with other work:
# say so when you quote the figures). The server listens on a free
# port the kernel picks, so a server already running elsewhere is never hit.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
OUT=${OUT:-${TMPDIR:-/tmp}/livectl-bench-signal}
BIN=${BIN:-bin/livectl}
SCENARIOS=${SCENARIOS:-"10k 19k"}
PRIO=()
if [ -n "${NICE:-}" ]; then PRIO=(nice -n "$NICE"); fi
URL=""

mkdir -p "$OUT" "$(dirname "$BIN")"
go build -o "$BIN" ./cmd/livectl

# Each process may hold up to the hard descriptor limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

server_pid=""
start_server() {
	"${PRIO[@]}" "$BIN" serve --dev --listen "127.0.0.1:0" --admin-listen "" \
		--max-conns 25000 --max-rooms 25000 --log-level warn >"$OUT/serve.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 100); do
		URL=$(grep -o 'ws://127\.0\.0\.1:[0-9]*/ws' "$OUT/serve.log" | head -1 || true)
		if [ -n "$URL" ] && kill -0 "$server_pid" 2>/dev/null &&
			curl -fsS "$(echo "$URL" | sed 's|^ws:|http:|; s|/ws$|/readyz|')" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "bench-signal: livectl serve did not become ready; see $OUT/serve.log" >&2
	cat "$OUT/serve.log" >&2
	exit 1
}
stop_server() {
	if [ -n "$server_pid" ]; then
		kill -INT "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=""
	fi
}
trap stop_server EXIT

status=0
for scenario in $SCENARIOS; do
	for n in $(seq "$RUNS"); do
		start_server
		file="$OUT/signal-$scenario-$n.json"
		case "$scenario" in
		10k) args=(--conns 10000 --rate 2000/s --assert 'join.p99<50ms,errors<1') ;;
		19k) args=(--conns 19000 --rate 2000/s --procs 2 --assert 'errors<1') ;;
		*) echo "bench-signal: unknown scenario $scenario" >&2; exit 2 ;;
		esac
		echo "== $scenario run $n/$RUNS ==" >&2
		set +e
		"${PRIO[@]}" "$BIN" bench signal --url "$URL" "${args[@]}" --duration "$DURATION" \
			--server-pid "$server_pid" --out "$file" --quiet
		rc=$?
		set -e
		[ $rc -eq 0 ] || status=$rc
		stop_server
		sleep 2 # let the kernel settle closed sockets between runs
	done
done

if command -v jq >/dev/null; then
	echo
	echo "Medians over $RUNS run(s):"
	for scenario in $SCENARIOS; do
		jq -s --arg s "$scenario" '
			def med: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
			{scenario: $s, runs: length,
			 established: (map(.connections.established) | med),
			 errors: (map([.errors[]] | add // 0) | med),
			 connects_per_s: (map(.rate.connects_per_s) | med),
			 connect_p99_ms: (map(.latency_ms.connect.p99) | med),
			 join_p50_ms: (map(.latency_ms.join.p50) | med),
			 join_p99_ms: (map(.latency_ms.join.p99) | med),
			 rtt_p99_ms: (map(.latency_ms.rtt.p99) | med),
			 client_bytes_per_session: (map(.client.bytes_per_session) | med),
			 client_go_bytes_per_session: (map(.client.go_bytes_per_session) | med),
			 client_ramp_cpu_us_per_session: (map(.client.ramp_cpu_us_per_session) | med),
			 server_ramp_cpu_us_per_session: (map(.server.ramp_cpu_us_per_session // null) | med),
			 server_heap_bytes_per_session: (map(.server.heap_bytes_per_session // null) | med),
			 server_rss_bytes_per_session: (map(.server.rss_bytes_per_session // null) | med),
			 server_goroutines_per_session: (map(.server.goroutines_per_session // null) | med),
			 generator_bottleneck: (map(.generator.bottleneck) | any)}' "$OUT"/signal-"$scenario"-*.json
	done
else
	for f in "$OUT"/signal-*.json; do echo "== $f"; "$BIN" bench report "$f"; done
fi
exit $status
