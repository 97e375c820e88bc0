#!/usr/bin/env bash
# Runs every go test -fuzz target in the module for FUZZTIME each (default 10s).
# Targets are found by name, so a new Fuzz function is covered without edits here.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
status=0
while IFS=: read -r file name; do
	pkg=./$(dirname "$file")
	echo "== $pkg $name ($fuzztime)"
	if ! go test "$pkg" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime"; then
		status=1
	fi
done < <(git ls-files '*_test.go' | xargs grep -oE '^func (Fuzz[A-Za-z0-9_]+)' | sed -E 's/func //' | sort -u)
exit $status
