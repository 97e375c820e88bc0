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

# shellcheck source=lib.sh
. scripts/lib.sh
mkdir -p "$OUT"
# The medians are taken over this invocation's reports only: earlier runs'
# files (more RUNS, or a run that failed before writing its report) would
# otherwise be counted as current.
rm -f "$OUT"/signal-*.json
bench_setup bench-signal
start() { start_server "$OUT/serve.log" --max-conns 25000 --max-rooms 25000 --log-level warn; }

status=0
for scenario in $SCENARIOS; do
	for n in $(seq "$RUNS"); do
		start
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
		jq -s --arg s "$scenario" "$JQ_MED"'
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
