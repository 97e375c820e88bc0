#!/usr/bin/env bash
# bench-simulcast.sh — simulcast with per-viewer adaptation under load
# (make bench-simulcast; issue 18).
#
# For each of RUNS repetitions it starts a fresh `livectl serve --dev`, a
# `livectl publish --simulcast` publisher (q 320x180, h 640x360, f 1280x720)
# as its own process, and `livectl bench media` with VIEWERS subscribers
# over /ws, the first SHAPED of them behind SHAPE_KBPS kbit/s (bench
# media's --shape-kbps: a user-space token bucket with a 200 ms queue, as
# `tc ... tbf`), held DURATION. It prints each run's table (the `layers`
# lines are the layer mix of the shaped and unshaped viewers: the size
# they ended on, the share of time at each, switches, freezes, loss) and,
# with jq, the medians over runs, with the server's CPU (/proc, --server-pid).
# Reports go to $OUT/simulcast-<n>.json.
#
# Environment: RUNS (1), VIEWERS (50), SHAPED (25), SHAPE_KBPS (700),
# DURATION (30s), OUT ($TMPDIR/livectl-bench-simulcast), BIN (bin/livectl),
# BENCH_ARGS (extra arguments for bench media).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-1}
VIEWERS=${VIEWERS:-50}
SHAPED=${SHAPED:-25}
SHAPE_KBPS=${SHAPE_KBPS:-700}
DURATION=${DURATION:-30s}
OUT=${OUT:-${TMPDIR:-/tmp}/livectl-bench-simulcast}
BIN=${BIN:-bin/livectl}

# shellcheck source=lib.sh
. scripts/lib.sh
mkdir -p "$OUT"
rm -f "$OUT"/simulcast-*.json # medians over this invocation's reports only
bench_setup bench-simulcast
pub_pid=""
stop_all() {
	if [ -n "$pub_pid" ]; then
		kill -INT "$pub_pid" 2>/dev/null || true
		wait "$pub_pid" 2>/dev/null || true
		pub_pid=""
	fi
	stop_server
}
trap stop_all EXIT

status=0
for n in $(seq "$RUNS"); do
	start_server "$OUT/serve-simulcast.log" --udp-port "$(free_udp_port)" --log-level warn
	room="simulcast-$n"
	"$BIN" publish --simulcast --url "$URL" --room "$room" --quiet --log-level warn >"$OUT/publish-$n.log" 2>&1 &
	pub_pid=$!
	sleep 2 # the layers' bitrates are measured over a second before viewers choose by them
	out="$OUT/simulcast-$n.json"
	echo "== bench simulcast, run $n/$RUNS: $VIEWERS viewers, $SHAPED at $SHAPE_KBPS kbit/s, against $URL (server pid $server_pid)" >&2
	set +e
	"$BIN" bench media --url "$URL" --room "$room" --subscribers "$VIEWERS" --rate 10/s \
		--shape-kbps "$SHAPE_KBPS" --shaped "$SHAPED" --duration "$DURATION" \
		--server-pid "$server_pid" --out "$out" --quiet -o table ${BENCH_ARGS:-}
	rc=$?
	set -e
	stop_all
	[ $rc -eq 0 ] || { echo "bench-simulcast: run $n exited $rc" >&2; status=$rc; }
done

if command -v jq >/dev/null; then
	files=("$OUT"/simulcast-*.json)
	if [ -e "${files[0]}" ]; then
		echo
		echo "medians over $RUNS runs (time at each size in % of the group's receiving time; CPU in cores during the hold):"
		jq -s -r "$JQ_MED"'
			def r2: if . == null then "n/a" else (. * 100 | round / 100 | tostring) end;
			(.[0].layer_mix // [] | map(.group)) as $groups |
			. as $runs |
			($groups[] as $g |
				($runs | map(.layer_mix[] | select(.group == $g))) as $gs |
				($gs | map(.final | keys[]) + map(.time_at_pct | keys[]) | unique) as $sizes |
				"\($g): \($gs | map(.subscribers) | med) viewers; ended on " +
				([$sizes[] as $s | "\($s) \($gs | map(.final[$s] // 0) | med)"] | join(", ")) +
				"; time at " + ([$sizes[] as $s | "\($s) \($gs | map(.time_at_pct[$s] // 0) | med | r2)%"] | join(", ")) +
				"; switches p50 \($gs | map(.switches.p50) | med | r2)" +
				"; freezes \($gs | map(.freezes) | med) (\($gs | map(.freeze_ms) | med | r2) ms); loss \($gs | map(.loss_pct) | med | r2)%"),
			"all: ok \(map(.subscribers.ok) | med)/\(.[0].settings.subscribers); loss \(map(.totals.loss_pct) | med | r2)%; freezes \(map(.totals.freezes) | med)" +
			"; server cpu \(map(.server.cpu_cores_hold // null) | med | r2) cores (\(map(.server.millicores_per_subscriber // null) | med | r2) m/viewer)" +
			"; generator cpu \(map(.client.cpu_cores_hold) | med | r2) cores; saturated \(map(.saturated) | map(select(.)) | length)/\(length) runs"
		' "${files[@]}"
	fi
fi
exit $status
