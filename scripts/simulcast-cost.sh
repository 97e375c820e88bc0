#!/usr/bin/env bash
# simulcast-cost.sh — what a viewer of a simulcast room costs the server
# beside a viewer of a plain room (issue 18: "under 10 % to the
# per-subscriber CPU at N=100, measured side by side with simulcast off").
#
# Each round runs, against a fresh `serve --dev` each time: VIEWERS
# `bench media` viewers of one built-in publisher without simulcast (off),
# the same with `--simulcast` (on), and, when BEFORE names an older build,
# `--simulcast` against that build's server (before). Each run holds for
# WARM s (the ramp, the climb to the top layer and the viewers settling),
# then reads the server's CPU ticks (/proc/PID/stat) and packets sent
# (/v1/stats packets_out) over WINDOW s. The figure is CPU µs per packet
# sent; the report is each round's on/off (and before/off) ratio and their
# medians. Runs alternate so that the host's drift falls on both sides.
#
# Environment: RUNS (3), VIEWERS (100), WARM (20), WINDOW (15), BIN
# (bin/livectl, built from this tree unless NO_BUILD=1), BEFORE (unset).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
VIEWERS=${VIEWERS:-100}
WARM=${WARM:-20}
WINDOW=${WINDOW:-15}
BIN=${BIN:-bin/livectl}
OUT=${OUT:-${TMPDIR:-/tmp}/livectl-simulcast-cost}

# shellcheck source=lib.sh
. scripts/lib.sh
mkdir -p "$OUT"
bench_setup simulcast-cost
[ -z "${BEFORE:-}" ] || [ -x "$BEFORE" ] || { echo "simulcast-cost: BEFORE=$BEFORE is not an executable" >&2; exit 2; }

ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
sent() { curl -fsS "$1/v1/stats" | jq '.packets_out'; }

# measure NAME SERVER_BINARY [--simulcast]: prints µs of server CPU per packet sent.
measure() {
	local name=$1 server=$2
	shift 2
	SERVER_BIN=$server start_server "$OUT/serve-$name.log"
	local base=${URL%/ws}
	base=${base/ws:/http:}
	"$BIN" bench media --url "$URL" --room cost --publishers 1 "$@" --subscribers "$VIEWERS" --rate 50/s \
		--duration "$((WARM + WINDOW + 5))s" -q --out "$OUT/bench-$name.json" >"$OUT/bench-$name.log" 2>&1 &
	local bench=$!
	sleep "$WARM"
	local t0 p0 t1 p1
	t0=$(ticks) p0=$(sent "$base")
	sleep "$WINDOW"
	t1=$(ticks) p1=$(sent "$base")
	wait "$bench" || { stop_server; echo "simulcast-cost: bench media failed; see $OUT/bench-$name.log" >&2; exit 1; }
	stop_server
	python3 -c "import os; print('%.3f' % (($t1 - $t0) * 1e6 / os.sysconf('SC_CLK_TCK') / max($p1 - $p0, 1)))"
}

rows=()
for n in $(seq "$RUNS"); do
	off=$(measure "off-$n" "$BIN")
	on=$(measure "on-$n" "$BIN" --simulcast)
	row="$off $on" line="round $n/$RUNS, server CPU µs per packet sent: off $off, on $on"
	if [ -n "${BEFORE:-}" ]; then
		before=$(measure "before-$n" "$BEFORE" --simulcast)
		row="$row $before" line="$line, before $before"
	fi
	echo "$line" >&2
	rows+=("$row")
done

printf '%s\n' "${rows[@]}" | python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
cols = ["off", "on"] + (["before"] if len(rows[0]) > 2 else [])
print("server CPU µs per packet sent, %d rounds:" % len(rows))
for i, c in enumerate(cols):
    print("  %-7s %s" % (c, ", ".join("%.2f" % r[i] for r in rows)))
for i, c in enumerate(cols[1:], 1):
    ratios = [r[i] / r[0] for r in rows]
    print("  %s / off, per round: %s; median %.3f (%+.1f %%)" % (c, ", ".join("%.3f" % x for x in ratios), statistics.median(ratios), 100 * (statistics.median(ratios) - 1)))
'
