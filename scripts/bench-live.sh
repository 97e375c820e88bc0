#!/usr/bin/env bash
# bench-live.sh — the live-room performance targets of livectl (make bench-live).
#
# For each scenario and each of RUNS repetitions it starts a fresh
# `livectl serve --dev` and runs `livectl bench signal` against it as a
# separate process on the same machine, then stops the server:
#   room10k:  one room of 10,000 joined at 2,000/s, held DURATION
#             (asserts join.p99<50ms and zero errors)
#   rooms100: 10,000 sessions in 100 rooms of 100 at 2,000/s (join.p99<50ms)
#   chat50:   the room of 10,000 with 50 chat messages/s in, for DURATION
#             (chat.p99<250ms, chat.gaps<1); pings off, so the server's and
#             the bench's CPU over the chat are the chat's
#   room19k:  19,000 sessions in one room with --procs 2 (zero errors)
#   ceiling:  (not in the default set) the room of 10,000, once per rate in
#             CEILING_RATES, raising --chat-rate until chat.p99 passes 1s
# Reports (with histograms) go to $OUT/live-<scenario>-<n>.json; at the end
# the medians over runs are printed as one table (needs jq; without it, each
# run's table).
#
# Chat latency is receipt time − the message's scheduled send time on one
# clock: bench and server share this machine.
#
# Environment: RUNS (3), DURATION (10s), OUT ($TMPDIR/livectl-bench-live),
# BIN (bin/livectl), SERVER_BIN (the server's binary, default BIN: an older
# build for a baseline), SCENARIOS ("room10k rooms100 chat50 room19k"),
# CEILING_RATES ("50 100 200 400 800 1600"), NICE (as in bench-signal.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
OUT=${OUT:-${TMPDIR:-/tmp}/livectl-bench-live}
BIN=${BIN:-bin/livectl}
SCENARIOS=${SCENARIOS:-"room10k rooms100 chat50 room19k"}
CEILING_RATES=${CEILING_RATES:-"50 100 200 400 800 1600"}
PRIO=()
if [ -n "${NICE:-}" ]; then PRIO=(nice -n "$NICE"); fi

# shellcheck source=lib.sh
. scripts/lib.sh
mkdir -p "$OUT"
rm -f "$OUT"/live-*.json # medians over this invocation's reports only
bench_setup bench-live
# --max-participants: a room of 19,000; --room-chat-rate: the ceiling
# scenario goes past the default room limit of 2,000/s.
start() {
	start_server "$OUT/serve.log" --max-conns 25000 --max-rooms 25000 --max-participants 20000 \
		--room-chat-rate inf --log-level warn
}

# run NAME FILE ARGS...: one bench signal run against a fresh server.
status=0
run() {
	local name=$1 file=$2
	shift 2
	start
	echo "== $name ==" >&2
	set +e
	"${PRIO[@]}" "$BIN" bench signal --url "$URL" --duration "$DURATION" \
		--server-pid "$server_pid" --out "$file" --quiet "$@"
	local rc=$?
	set -e
	[ $rc -eq 0 ] || status=$rc
	stop_server
	sleep 2 # let the kernel settle closed sockets between runs
	return 0
}

room10k=(--conns 10000 --rate 2000/s --room-size 10000)
for scenario in $SCENARIOS; do
	case "$scenario" in
	room10k) args=("${room10k[@]}" --assert 'join.p99<50ms,errors<1') ;;
	rooms100) args=(--conns 10000 --rate 2000/s --room-size 100 --assert 'join.p99<50ms,errors<1') ;;
	chat50) args=("${room10k[@]}" --ping-interval 0 --chat-rate 50/s --assert 'chat.p99<250ms,chat.gaps<1') ;;
	room19k) args=(--conns 19000 --rate 2000/s --room-size 19000 --procs 2 --assert 'errors<1') ;;
	ceiling)
		for rate in $CEILING_RATES; do
			file="$OUT/live-ceiling$rate-1.json"
			run "ceiling --chat-rate $rate/s" "$file" "${room10k[@]}" --ping-interval 0 --chat-rate "$rate/s"
			if command -v jq >/dev/null && [ -f "$file" ] &&
				jq -e '.latency_ms.chat.p99 > 1000' "$file" >/dev/null; then
				break
			fi
		done
		continue
		;;
	*) echo "bench-live: unknown scenario $scenario" >&2; exit 2 ;;
	esac
	for n in $(seq "$RUNS"); do
		run "$scenario run $n/$RUNS" "$OUT/live-$scenario-$n.json" "${args[@]}"
	done
done

if ! command -v jq >/dev/null; then
	for f in "$OUT"/live-*.json; do echo "== $f"; "$BIN" bench report "$f"; done
	exit $status
fi

echo
echo "Medians over $RUNS run(s) (ceiling: one run per rate):"
{
	printf 'scenario\truns\testablished\terrors\tjoin p50 ms\tjoin p99 ms\tserver RSS/session\tchat msg/s\tdeliveries/s\tchat p99 ms\tgaps\tdelivered/expected\tserver CPU s/M deliv\tbench CPU s/M deliv\n'
	for f in $(ls "$OUT"/live-*.json | sed -E 's/-[0-9]+\.json$//' | sort -u); do
		name=$(basename "$f" | sed 's/^live-//')
		jq -rs --arg s "$name" "$JQ_MED"'
			def n: if . == null then "-" else tostring end;
			[$s, length,
			 (map(.connections.established) | med | n),
			 (map([.errors[]] | add // 0) | med | n),
			 (map(.latency_ms.join.p50) | med | n),
			 (map(.latency_ms.join.p99) | med | n),
			 (map(.server.rss_bytes_per_session // null) | med | n),
			 (map(.settings.chat_rate // null) | med | n),
			 (map(.rate.chat_deliveries_per_s // null) | med | n),
			 (map(.latency_ms.chat.p99 // null | select(. != 0)) | med | n),
			 (map(.chat.gaps // null) | med | n),
			 (map(if .chat then "\(.chat.delivered)/\(.chat.expected_deliveries)" else null end) | med | n),
			 (map(.chat.server_cpu_s_per_million_deliveries // null) | med | n),
			 (map(.chat.client_cpu_s_per_million_deliveries // null) | med | n)]
			| @tsv' "$f"-*.json
	done
} | column -t -s "$(printf '\t')"
exit $status
