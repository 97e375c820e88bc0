#!/usr/bin/env bash
# first-frame.sh — time to a viewer's first decoded frame against a publisher
# that ignores keyframe requests, before and after a change, in one invocation.
#
# Builds livectl at BEFORE (a git revision, default main) and at the working
# tree, then for each server binary (before, after) and each publisher kind:
#   fixed:  `publish --keyframe-interval $KEYINT --ignore-pli` (a fixed-GOP encoder)
#   answer: `publish` (the built-in clip: a keyframe every 1 s, and one at once on PLI)
# starts a fresh `serve --dev` and runs `probe --count $COUNT --interval $INTERVAL`
# (an interval that is no divisor of the GOP, plus the probe's own jitter,
# spreads the attempts over the GOP) over WHEP. Publisher and probe are the
# after binary in every case, so only the server differs. Prints first_decoded
# p50/p95/max per case, with dtls_connected p95 (a tail there is the
# machine's load, not the relay) and attempts with a frozen picture in the
# second after the first frame; the reports go to $OUT.
#
# Environment: BEFORE (main), KEYINT (2s), COUNT (20), INTERVAL (730ms),
# OUT ($TMPDIR/livectl-first-frame), SERVE_ARGS (extra serve flags for both).
set -euo pipefail
cd "$(dirname "$0")/.."

BEFORE=${BEFORE:-main}
KEYINT=${KEYINT:-2s}
COUNT=${COUNT:-20}
INTERVAL=${INTERVAL:-730ms}
OUT=${OUT:-${TMPDIR:-/tmp}/livectl-first-frame}
mkdir -p "$OUT/src"
rm -f "$OUT"/*.json

BIN=$OUT/livectl-after
# shellcheck source=lib.sh
. scripts/lib.sh
bench_setup first-frame
rm -rf "$OUT/src" && mkdir -p "$OUT/src"
git archive "$BEFORE" | tar -x -C "$OUT/src"
(cd "$OUT/src" && go build -o "$OUT/livectl-before" ./cmd/livectl)
PUB=$BIN

echo "load before: $(uptime)" >&2
printf '%-7s %-7s %8s %8s %8s %10s %6s %6s\n' server pub p50_ms p95_ms max_ms dtls_p95 frozen errors
for which in before after; do
	for kind in fixed answer; do
		BIN=$OUT/livectl-$which
		start_server "$OUT/serve-$which-$kind.log" --udp-port "$(free_udp_port)" ${SERVE_ARGS:-}
		whip=$(echo "$URL" | sed 's|^ws:|http:|; s|/ws$|/whip/ff|')
		whep=${whip/\/whip\//\/whep\/}
		pargs=()
		[ "$kind" = fixed ] && pargs=(--keyframe-interval "$KEYINT" --ignore-pli)
		start_publisher "$OUT/publish-$which-$kind.log" "$whip" ${pargs[@]+"${pargs[@]}"}
		sleep 2
		rep=$OUT/probe-$which-$kind.json
		"$PUB" probe --url "$whep" --count "$COUNT" --interval "$INTERVAL" -o json >"$rep" 2>"$OUT/probe-$which-$kind.err" || true
		stop_publisher
		stop_server
		jq -r --arg s "$which" --arg k "$kind" \
			'[$s, $k, (.phases_ms.first_decoded.p50 // "-"), (.phases_ms.first_decoded.p95 // "-"), (.phases_ms.first_decoded.max // "-"),
			  (.phases_ms.dtls_connected.p95 // "-"), (.frozen // 0), (.errors // 0)] | @tsv' "$rep" |
			awk -F'\t' '{printf "%-7s %-7s %8s %8s %8s %10s %6s %6s\n", $1, $2, $3, $4, $5, $6, $7, $8}'
	done
done
echo "load after: $(uptime)" >&2
