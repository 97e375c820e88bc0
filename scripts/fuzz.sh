#!/usr/bin/env bash
# Runs every go test -fuzz target in the module for FUZZTIME each (default 10s).
# Targets are found by name, so a new Fuzz function is covered without edits here.
#
# Go 1.26's fuzzing coordinator can report a bare "context deadline exceeded"
# when -fuzztime runs out while a worker is mid-input (go.dev/issue/75804,
# fixed in Go 1.27). A real finding always writes its input to
# testdata/fuzz/<target>/; a failure that wrote none and says only that is
# run once more, and fails the run if it happens again.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# new_inputs lists inputs under pkg's testdata/fuzz/name that git does not know.
new_inputs() { git ls-files --others --exclude-standard -- "$1/testdata/fuzz/$2"; }

fuzz_once() {
	go test "$1" -run '^$' -fuzz "^${2}\$" -fuzztime "$fuzztime" 2>&1 | tee "$log"
	return "${PIPESTATUS[0]}"
}

while IFS=: read -r file name; do
	pkg=./$(dirname "$file")
	echo "== $pkg $name ($fuzztime)"
	before=$(new_inputs "$pkg" "$name")
	if fuzz_once "$pkg" "$name"; then
		continue
	fi
	if [ "$(new_inputs "$pkg" "$name")" = "$before" ] && grep -q 'context deadline exceeded' "$log" &&
		! grep -qE 'Failing input written|panic:' "$log"; then
		echo "== $pkg $name: no failing input written, only the fuzztime deadline (go.dev/issue/75804); running it again"
		if fuzz_once "$pkg" "$name"; then
			continue
		fi
	fi
	status=1
done < <(git ls-files '*_test.go' | xargs grep -oE '^func (Fuzz[A-Za-z0-9_]+)' | sed -E 's/func //' | sort -u)
exit $status
