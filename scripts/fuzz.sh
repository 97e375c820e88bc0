#!/usr/bin/env bash
# Runs every go test -fuzz target in the module for FUZZTIME each (default 10s).
# Targets are found by name, so a new Fuzz function is covered without edits here.
#
# Go 1.26's fuzzing coordinator can report a bare "context deadline exceeded"
# when -fuzztime runs out while a worker is mid-input (go.dev/issue/75804,
# fixed in Go 1.27). A real finding always writes its input to
# testdata/fuzz/<target>/; a failure that wrote none and says only that is
# run once more, and fails the run if it happens again.
#
# FUZZ_KEEP_CORPUS=1 (make fuzz-long) also copies the inputs the fuzzer found
# interesting (its cache corpus, which go test keeps outside the tree) into
# <pkg>/testdata/fuzz/<target>/ when they are not there yet, so that a long
# run's coverage becomes seed corpus once committed; each target's last
# progress line (execs, new interesting inputs) is repeated in a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
status=0
log=$(mktemp)
summary=$(mktemp)
trap 'rm -f "$log" "$summary"' EXIT
cache=$(go env GOCACHE)/fuzz

# new_inputs lists inputs under pkg's testdata/fuzz/name that git does not know.
new_inputs() { git ls-files --others --exclude-standard -- "$1/testdata/fuzz/$2"; }

fuzz_once() {
	go test "$1" -run '^$' -fuzz "^${2}\$" -fuzztime "$fuzztime" 2>&1 | tee "$log"
	return "${PIPESTATUS[0]}"
}

# passed records a target that passed: its last progress line for the
# summary and, with FUZZ_KEEP_CORPUS=1, its new corpus entries under testdata.
passed() {
	local kept=0 src dst f
	if [ "${FUZZ_KEEP_CORPUS:-}" = 1 ]; then
		src=$cache/$(go list -f '{{.ImportPath}}' "$1")/$2
		dst=$1/testdata/fuzz/$2
		if [ -d "$src" ]; then
			mkdir -p "$dst"
			for f in "$src"/*; do
				[ -e "$dst/$(basename "$f")" ] && continue
				cp "$f" "$dst/" && kept=$((kept + 1))
			done
		fi
	fi
	echo "$1 $2: $(grep -E '^fuzz: elapsed' "$log" | tail -1 | sed 's/^fuzz: //')${FUZZ_KEEP_CORPUS:+; $kept new corpus entries kept under $1/testdata/fuzz/$2}" >>"$summary"
}

while IFS=: read -r file name; do
	pkg=./$(dirname "$file")
	echo "== $pkg $name ($fuzztime)"
	before=$(new_inputs "$pkg" "$name")
	if fuzz_once "$pkg" "$name"; then
		passed "$pkg" "$name"
		continue
	fi
	if [ "$(new_inputs "$pkg" "$name")" = "$before" ] && grep -q 'context deadline exceeded' "$log" &&
		! grep -qE 'Failing input written|panic:' "$log"; then
		echo "== $pkg $name: no failing input written, only the fuzztime deadline (go.dev/issue/75804); running it again"
		if fuzz_once "$pkg" "$name"; then
			passed "$pkg" "$name"
			continue
		fi
	fi
	echo "$pkg $name: FAILED" >>"$summary"
	status=1
done < <(git ls-files '*_test.go' | xargs grep -oE '^func (Fuzz[A-Za-z0-9_]+)' | sed -E 's/func //' | sort -u)
echo "== summary"
cat "$summary"
exit $status
