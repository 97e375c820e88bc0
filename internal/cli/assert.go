package cli

import (
	"fmt"
	"strings"

	"github.com/livectl/livectl/internal/metrics/threshold"
	"github.com/livectl/livectl/internal/report"
)

// parseAsserts reads the --assert values of any command (bench, probe,
// inspect: one grammar, metrics/threshold) and checks before the job runs that
// every name is one of its metrics and every threshold fits the metric
// (empty is the metrics of an empty report), so a typo exits 2 at once.
func parseAsserts(f *Factory, asserts []string, empty threshold.Metrics) ([]threshold.Expr, error) {
	return parseAssertsWith(f, asserts, empty, false)
}

// parseAssertsWith is parseAsserts for a command that may have a baseline
// run (bench report --baseline) for relative thresholds to compare with.
func parseAssertsWith(f *Factory, asserts []string, empty threshold.Metrics, baseline bool) ([]threshold.Expr, error) {
	exprs, err := threshold.Parse(strings.Join(asserts, ","))
	if err == nil {
		err = threshold.Check(exprs, empty)
	}
	if err == nil {
		if err = threshold.CheckBaseline(exprs, baseline); err != nil {
			err = fmt.Errorf("%w: compare with one in 'livectl bench report --baseline FILE'", err)
		}
	}
	if err != nil {
		return nil, UsageErrorf("%s: %v", f.FlagRef("assert"), err)
	}
	return exprs, nil
}

// checkAsserts evaluates the assertions, prints each result on stderr
// (unless --quiet) and fails with exit 3 when one does not hold.
func checkAsserts(f *Factory, exprs []threshold.Expr, m threshold.Metrics) error {
	return judgeAsserts(f, threshold.Evaluate(exprs, m))
}

// judgeAsserts prints each result on stderr (unless --quiet) and fails
// with exit 3 when one did not hold; a failure printed here is not listed
// again by the error.
func judgeAsserts(f *Factory, results []threshold.Result) error {
	if !f.Globals.Quiet {
		for _, r := range results {
			fmt.Fprintln(f.IO.ErrOut, "assert", r)
		}
	}
	if failed := threshold.Failed(results); len(failed) > 0 {
		return &AssertionError{Failed: failed, Shown: !f.Globals.Quiet}
	}
	return nil
}

// assertOutcomes are results as a report records them.
func assertOutcomes(results []threshold.Result) []report.Assertion {
	var out []report.Assertion
	for _, r := range results {
		out = append(out, report.Assertion{Expression: r.Expr.Text, Value: r.Actual, Pass: r.Pass})
	}
	return out
}
