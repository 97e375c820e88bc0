package cli

import (
	"fmt"
	"strings"

	"github.com/livectl/livectl/internal/bench/assert"
)

// parseAsserts reads the --assert values of any command (bench, probe,
// inspect: one grammar, bench/assert) and checks before the job runs that
// every name is one of its metrics and every threshold fits the metric
// (empty is the metrics of an empty report), so a typo exits 2 at once.
func parseAsserts(f *Factory, asserts []string, empty assert.Metrics) ([]assert.Expr, error) {
	exprs, err := assert.Parse(strings.Join(asserts, ","))
	if err == nil {
		err = assert.Check(exprs, empty)
	}
	if err != nil {
		return nil, UsageErrorf("%s: %v", f.FlagRef("assert"), err)
	}
	return exprs, nil
}

// checkAsserts evaluates the assertions, prints each result on stderr
// (unless --quiet) and fails with exit 3 when one does not hold.
func checkAsserts(f *Factory, exprs []assert.Expr, m assert.Metrics) error {
	results := assert.Evaluate(exprs, m)
	if !f.Globals.Quiet {
		for _, r := range results {
			fmt.Fprintln(f.IO.ErrOut, "assert", r)
		}
	}
	if failed := assert.Failed(results); len(failed) > 0 {
		return &AssertionError{Failed: failed}
	}
	return nil
}
