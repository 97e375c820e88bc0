package cli

import (
	"fmt"
	"strings"

	"github.com/livectl/livectl/internal/metrics/threshold"
)

// parseAsserts reads the --assert values of any command (bench, probe,
// inspect: one grammar, metrics/threshold) and checks before the job runs that
// every name is one of its metrics and every threshold fits the metric
// (empty is the metrics of an empty report), so a typo exits 2 at once.
func parseAsserts(f *Factory, asserts []string, empty threshold.Metrics) ([]threshold.Expr, error) {
	exprs, err := threshold.Parse(strings.Join(asserts, ","))
	if err == nil {
		err = threshold.Check(exprs, empty)
	}
	if err != nil {
		return nil, UsageErrorf("%s: %v", f.FlagRef("assert"), err)
	}
	return exprs, nil
}

// checkAsserts evaluates the assertions, prints each result on stderr
// (unless --quiet) and fails with exit 3 when one does not hold.
func checkAsserts(f *Factory, exprs []threshold.Expr, m threshold.Metrics) error {
	results := threshold.Evaluate(exprs, m)
	if !f.Globals.Quiet {
		for _, r := range results {
			fmt.Fprintln(f.IO.ErrOut, "assert", r)
		}
	}
	if failed := threshold.Failed(results); len(failed) > 0 {
		return &AssertionError{Failed: failed}
	}
	return nil
}
