#!/usr/bin/env bash
# first-frame-chromium.sh — what headless Chromium shows a fresh WHEP viewer
# of a publisher that ignores keyframe requests, with the GOP catch-up sent
# all at once and paced, in one invocation.
#
# Builds livectl from the working tree, then for each catch-up rate in RATES
# (0: all at once, as serve does by default; R: --gop-catchup-rate R) starts
# a fresh `serve --dev`, `publish --keyframe-interval $KEYINT --ignore-pli`
# into it over WHIP, and runs TestChromiumFirstFrameFixedGOP
# (e2e/browser/firstframe_test.go): N viewers one after another, each
# starting 1/N of a GOP later in the GOP than the one before. Per viewer:
# time to the first presented frame, getStats freezes, and time until its
# picture is within 150 ms of live. The logs and per-viewer JSON go to $OUT.
#
# Environment: RATES (0 2), KEYINT (2s), N (20), OUT ($TMPDIR/livectl-first-frame-chromium),
# LIVECTL_CHROMIUM (Chromium binary), SERVE_ARGS (extra serve flags).
set -euo pipefail
cd "$(dirname "$0")/.."

RATES=${RATES:-0 2}
KEYINT=${KEYINT:-2s}
N=${N:-20}
OUT=${OUT:-${TMPDIR:-/tmp}/livectl-first-frame-chromium}
mkdir -p "$OUT"
BIN=$OUT/livectl
# shellcheck source=lib.sh
. scripts/lib.sh
bench_setup first-frame-chromium
go test -c -o "$OUT/browser.test" ./e2e/browser
echo "load before: $(uptime)" >&2
for rate in $RATES; do
	start_server "$OUT/serve-$rate.log" --udp-port "$(free_udp_port)" --gop-catchup-rate "$rate" ${SERVE_ARGS:-}
	whip=$(echo "$URL" | sed 's|^ws:|http:|; s|/ws$|/whip/ff|')
	start_publisher "$OUT/publish-$rate.log" "$whip" --keyframe-interval "$KEYINT" --ignore-pli
	sleep 3
	echo "== --gop-catchup-rate $rate" >&2
	LIVECTL_FIRST_FRAME_WHEP=${whip/\/whip\//\/whep\/} LIVECTL_FIRST_FRAME_N=$N LIVECTL_FIRST_FRAME_GOP=$KEYINT \
		LIVECTL_FIRST_FRAME_OUT=$OUT/viewers-$rate.json \
		"$OUT/browser.test" -test.run '^TestChromiumFirstFrameFixedGOP$' -test.v -test.timeout 20m | tee "$OUT/test-$rate.log" | grep -E 'viewer|viewers:|FAIL|ok' || true
	stop_publisher
	stop_server
done
echo "load after: $(uptime)" >&2
