#!/usr/bin/env bash
# bench-media.sh — the media fan-out performance targets of livectl (make bench-media).
#
# For each scenario and each of RUNS repetitions it starts a fresh
# `livectl serve --dev` (its own HTTP and UDP ports) and runs
# `livectl bench media` against it as a separate process on the same
# machine, with one built-in 1.5 Mbps-class VP8 + Opus publisher:
#   200:   200 subscribers at 50/s over /ws, held DURATION, one process
#   1000:  1,000 subscribers at 100/s with --procs PROCS_1000
# The server's CPU and RSS come from /proc/<pid> (--server-pid), the
# generator's from its own rusage. Reports (with every subscriber) go to
# $OUT/media-<scenario>-<n>.json; at the end the medians over runs are
# printed (needs jq; without it, each run's table).
#
# Environment: RUNS (3), DURATION (20s), OUT ($TMPDIR/livectl-bench-media),
# BIN (bin/livectl), SCENARIOS ("200"; add 1000), PROCS_1000 (2), BENCH_ARGS (extra
# arguments for bench media, e.g. "--pprof-listen 127.0.0.1:6070" to profile the generator).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
DURATION=${DURATION:-20s}
OUT=${OUT:-${TMPDIR:-/tmp}/livectl-bench-media}
BIN=${BIN:-bin/livectl}
SCENARIOS=${SCENARIOS:-"200"}
PROCS_1000=${PROCS_1000:-2}

# shellcheck source=lib.sh
. scripts/lib.sh
mkdir -p "$OUT"
# The medians are taken over this invocation's reports only: earlier runs'
# files (more RUNS, or a run that failed before writing its report) would
# otherwise be counted as current.
rm -f "$OUT"/media-*.json
bench_setup bench-media
start() {
	start_server "$OUT/serve-media.log" --udp-port "$(free_udp_port)" --max-participants 5000 --log-level warn
}

status=0
for scenario in $SCENARIOS; do
	case $scenario in
	200) args=(--subscribers 200 --rate 50/s) ;;
	1000) args=(--subscribers 1000 --rate 100/s --procs "$PROCS_1000" --timeout 30s) ;;
	*) echo "bench-media: unknown scenario $scenario (200, 1000)" >&2; exit 2 ;;
	esac
	for n in $(seq "$RUNS"); do
		start
		out="$OUT/media-$scenario-$n.json"
		echo "== bench media $scenario, run $n/$RUNS against $URL (server pid $server_pid)" >&2
		set +e
		"$BIN" bench media --url "$URL" --room "bench-$scenario-$n" --publishers 1 "${args[@]}" \
			--duration "$DURATION" --server-pid "$server_pid" --out "$out" --quiet -o table ${BENCH_ARGS:-}
		rc=$?
		set -e
		stop_server
		if [ $rc -ne 0 ]; then
			echo "bench-media: run $n of $scenario exited $rc" >&2
			status=$rc
		fi
	done
done

if command -v jq >/dev/null; then
	echo
	echo "medians over $RUNS runs (first frame in ms; CPU in cores during the hold, millicores per subscriber):"
	for scenario in $SCENARIOS; do
		files=("$OUT"/media-"$scenario"-*.json)
		[ -e "${files[0]}" ] || continue
		jq -s -r --arg s "$scenario" "$JQ_MED"'
			def r2: if . == null then "n/a" else (. * 100 | round / 100 | tostring) end;
			"\($s) subscribers: ok \(map(.subscribers.ok) | med)/\(.[0].settings.subscribers)" +
			"  first_frame p50 \(map(.first_frame_ms.p50) | med | r2) p95 \(map(.first_frame_ms.p95) | med | r2)" +
			"  loss \(map(.totals.loss_pct) | med | r2)% (lost \(map(.totals.packets_lost) | med))" +
			"  freezes \(map(.totals.freezes) | med)" +
			"  bitrate p50 \(map(.per_subscriber.bitrate_kbps.p50) | med | r2) kbps" +
			"\n    server cpu \(map(.server.cpu_cores_hold // null) | med | r2) cores (\(map(.server.millicores_per_subscriber // null) | med | r2) m/sub)" +
			"  generator cpu \(map(.client.cpu_cores_hold) | med | r2) cores (\(map(.client.millicores_per_subscriber) | med | r2) m/sub)" +
			"  saturated \(map(.saturated) | map(select(.)) | length)/\(length) runs"
		' "${files[@]}"
	done
fi
exit $status
