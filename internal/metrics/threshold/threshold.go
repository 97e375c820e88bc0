// Package threshold parses and evaluates pass/fail thresholds on a run's
// metrics (k6 calls them thresholds; the commands take them with --assert),
// shared by bench, probe and inspect: comma-separated comparisons
// (< <= > >= ==) such as
//
//	join.p99<50ms, errors<0.1%, errors.timeout<=5, first_decoded.p50<150ms, suspects==0
//
// A metric is looked up by name through the Metrics interface, so each
// command decides what names it offers. A latency takes a duration (Go
// syntax); a count out of a total (errors out of attempts) takes a number or
// a percentage of that total; a plain number (a rate, a peak) takes a
// number only; a metric that is already a percentage (loss_pct) takes a
// number, with or without %, read as that percentage.
//
// A threshold written with a leading + is relative to a baseline run (the
// same metric of another report): join.p99<+10% holds when join.p99 is
// less than 110 % of the baseline's, errors<=+0 when there are no more
// errors than in the baseline, rtt.p50<+2ms within 2ms of it.
package threshold

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/livectl/livectl/internal/metrics/hist"
)

// Op is a comparison operator.
type Op string

// The operators an expression may use.
const (
	Less         Op = "<"
	LessEqual    Op = "<="
	Greater      Op = ">"
	GreaterEqual Op = ">="
	Equal        Op = "=="
)

func (o Op) holds(a, b float64) bool {
	switch o {
	case Less:
		return a < b
	case LessEqual:
		return a <= b
	case Greater:
		return a > b
	case GreaterEqual:
		return a >= b
	case Equal:
		return a == b
	}
	return false
}

// Unit says how an expression's threshold is written.
type Unit int

// Threshold units.
const (
	Number   Unit = iota // a plain number, compared with a count
	Duration             // a Go duration, compared with a latency
	Percent              // a percentage: of the metric's total, or the value of a Percentage metric
)

// Expr is one parsed threshold.
type Expr struct {
	Text   string  // as the user wrote it, trimmed
	Metric string  // "join.p99", "errors", "errors.timeout"
	Op     Op      //
	Unit   Unit    //
	Value  float64 // milliseconds for Duration, percent for Percent
	// Relative says the threshold is the baseline's value plus Value
	// (Percent: plus Value percent of it).
	Relative bool
}

func (e Expr) String() string { return e.Text }

// Kind says what a metric measures.
type Kind int

// Metric kinds. The kind, not the value, decides which units fit, because
// Check runs on an empty report before the run, where every total is 0.
const (
	Latency Kind = iota // V is in milliseconds
	// Count is a count out of a total: V of Total (errors of attempts).
	// It takes a number or a percentage of Total.
	Count
	// Plain is a figure with no base (a rate, a peak, a per-subscriber
	// bitrate): a percentage of it means nothing, so % is refused.
	Plain
	// Percentage is a figure that is already a percentage (loss_pct):
	// "1%" and "1" both mean one percent. Total is the size of its base
	// (packets, subscribers); with none the figure is undefined.
	Percentage
)

// Value is a metric's value as a command reports it.
type Value struct {
	Kind Kind
	V    float64
	// Total is the base of a percentage: for a Count, what V is a share
	// of (errors of attempts); for a Percentage, how much it was taken
	// over. A percentage with a zero base fails every assertion rather
	// than passing as 0%.
	Total float64
	// Samples is how many values a latency summarises; a latency with no
	// samples fails every assertion instead of passing as 0ms.
	Samples int64
}

// Metrics is what a command offers to thresholds.
type Metrics interface {
	// Metric returns the named metric.
	Metric(name string) (Value, bool)
	// Names lists every metric, for error messages and validation.
	Names() []string
}

// Map is a Metrics backed by a map.
type Map map[string]Value

// Metric implements Metrics.
func (m Map) Metric(name string) (Value, bool) { v, ok := m[name]; return v, ok }

// Names implements Metrics.
func (m Map) Names() []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// AddSummary adds name.p50, name.p90, name.p95, name.p99 and name.max as
// latencies, and name.count as a plain number (it has no base).
func (m Map) AddSummary(name string, s hist.Summary) {
	for _, stat := range hist.StatNames {
		v, _ := s.Stat(stat)
		if stat == "count" {
			m[name+"."+stat] = Value{Kind: Plain, V: v}
			continue
		}
		m[name+"."+stat] = Value{Kind: Latency, V: v, Samples: s.Count}
	}
}

var _ Metrics = Map(nil)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("invalid assertion")

// Parse reads a comma-separated list of thresholds. Several --assert flags
// can be joined first; empty items are ignored.
func Parse(s string) ([]Expr, error) {
	var out []Expr
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		e, err := parseOne(item)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func parseOne(s string) (Expr, error) {
	i := strings.IndexAny(s, "<>=")
	if i < 0 {
		return Expr{}, fmt.Errorf("%w %q: want metric<value, e.g. join.p99<50ms or errors<0.1%%", ErrSyntax, s)
	}
	e := Expr{Text: s, Metric: strings.TrimSpace(s[:i])}
	rest := s[i:]
	switch {
	case strings.HasPrefix(rest, "=="):
		e.Op, rest = Equal, rest[2:]
	case rest[0] == '=':
		return Expr{}, fmt.Errorf("%w %q: unknown operator; use <, <=, >, >= or ==", ErrSyntax, s)
	case strings.HasPrefix(rest, "<="):
		e.Op, rest = LessEqual, rest[2:]
	case strings.HasPrefix(rest, ">="):
		e.Op, rest = GreaterEqual, rest[2:]
	case rest[0] == '<':
		e.Op, rest = Less, rest[1:]
	default:
		e.Op, rest = Greater, rest[1:]
	}
	if !validName(e.Metric) {
		return Expr{}, fmt.Errorf("%w %q: metric name %q must be letters, digits, _ and dots (e.g. join.p99)", ErrSyntax, s, e.Metric)
	}
	rest = strings.TrimSpace(rest)
	if r, ok := strings.CutPrefix(rest, "+"); ok {
		e.Relative, rest = true, strings.TrimSpace(r)
	}
	if rest == "" {
		return Expr{}, fmt.Errorf("%w %q: missing value after %s", ErrSyntax, s, e.Op)
	}
	if strings.ContainsAny(rest, "<>=") {
		return Expr{}, fmt.Errorf("%w %q: one comparison per assertion (separate them with commas)", ErrSyntax, s)
	}
	switch {
	case strings.HasSuffix(rest, "%"):
		v, err := strconv.ParseFloat(strings.TrimSpace(rest[:len(rest)-1]), 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return Expr{}, fmt.Errorf("%w %q: %q is not a percentage", ErrSyntax, s, rest)
		}
		e.Unit, e.Value = Percent, v
	default:
		if v, err := strconv.ParseFloat(rest, 64); err == nil {
			if math.IsInf(v, 0) || math.IsNaN(v) {
				return Expr{}, fmt.Errorf("%w %q: %q is not a finite number", ErrSyntax, s, rest)
			}
			if v < 0 {
				return Expr{}, fmt.Errorf("%w %q: negative threshold", ErrSyntax, s)
			}
			e.Unit, e.Value = Number, v
			break
		}
		d, err := time.ParseDuration(rest)
		if err != nil {
			return Expr{}, fmt.Errorf("%w %q: %q is not a number, a percentage or a duration (500ms, 1.5s)", ErrSyntax, s, rest)
		}
		if d < 0 {
			return Expr{}, fmt.Errorf("%w %q: negative duration", ErrSyntax, s)
		}
		e.Unit, e.Value = Duration, float64(d)/float64(time.Millisecond)
	}
	return e, nil
}

func validName(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Check verifies before a run that every expression names a metric of m and
// uses a unit that fits it, so a typo fails in a second, not after the run.
func Check(exprs []Expr, m Metrics) error {
	var problems []string
	for _, e := range exprs {
		v, ok := m.Metric(e.Metric)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: unknown metric %q (known: %s)", e.Text, e.Metric, strings.Join(m.Names(), ", ")))
			continue
		}
		if err := fits(e, v); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", e.Text, err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrSyntax, strings.Join(problems, "; "))
	}
	return nil
}

func fits(e Expr, v Value) error {
	switch {
	case e.Relative && e.Unit == Percent:
		return nil // a share of the baseline's value fits every kind
	case e.Relative && v.Kind == Percentage && e.Unit == Number:
		return nil // percentage points
	case v.Kind == Latency && e.Unit != Duration:
		return fmt.Errorf("%s is a latency: give a duration such as 50ms", e.Metric)
	case v.Kind == Count && e.Unit == Duration:
		return fmt.Errorf("%s is a count: give a number or a percentage", e.Metric)
	case v.Kind == Plain && e.Unit != Number:
		return fmt.Errorf("%s is a plain number with no total to take a percentage of: give a number", e.Metric)
	case v.Kind == Percentage && e.Unit == Duration:
		return fmt.Errorf("%s is a percentage: give a number such as 1 or 1%%", e.Metric)
	}
	return nil
}

// Result is the outcome of one threshold.
type Result struct {
	Expr   Expr
	Pass   bool
	Actual string // the measured value, formatted like the threshold
}

// String reads "join.p99<50ms: ok (12.3ms)" or "errors<0.1%: FAILED (2.5%, 250 of 10000)".
func (r Result) String() string {
	status := "ok"
	if !r.Pass {
		status = "FAILED"
	}
	return fmt.Sprintf("%s: %s (%s)", r.Expr.Text, status, r.Actual)
}

// ErrNoBaseline is returned by CheckBaseline for relative thresholds
// without a baseline to be relative to.
var ErrNoBaseline = errors.New("a relative threshold (+…) needs a baseline run")

// CheckBaseline refuses relative expressions when there is no baseline.
func CheckBaseline(exprs []Expr, haveBaseline bool) error {
	for _, e := range exprs {
		if e.Relative && !haveBaseline {
			return fmt.Errorf("%w: %s", ErrNoBaseline, e.Text)
		}
	}
	return nil
}

// Evaluate checks every expression against m; relative ones fail, having
// no baseline (EvaluateAgainst).
func Evaluate(exprs []Expr, m Metrics) []Result { return EvaluateAgainst(exprs, m, nil) }

// EvaluateAgainst checks every expression against m, relative ones against
// the same metric of base. A relative threshold whose metric the baseline
// lacks, or has no samples of, fails.
func EvaluateAgainst(exprs []Expr, m, base Metrics) []Result {
	out := make([]Result, 0, len(exprs))
	for _, e := range exprs {
		out = append(out, evaluate(e, m, base))
	}
	return out
}

func evaluate(e Expr, m, base Metrics) Result {
	v, ok := m.Metric(e.Metric)
	if !ok {
		return Result{Expr: e, Actual: "no such metric"}
	}
	if err := fits(e, v); err != nil {
		return Result{Expr: e, Actual: err.Error()}
	}
	if e.Relative {
		return evaluateRelative(e, v, base)
	}
	switch {
	case e.Unit == Duration:
		if v.Samples == 0 {
			return Result{Expr: e, Actual: "no samples recorded"}
		}
		return Result{Expr: e, Pass: e.Op.holds(v.V, e.Value), Actual: fmtMS(v.V)}
	case v.Kind == Percentage:
		// Already a percentage: 1% and 1 both mean one percent. Without a
		// base it is undefined, not 0%.
		if v.Total <= 0 {
			return Result{Expr: e, Actual: "no base: a percentage of nothing"}
		}
		return Result{Expr: e, Pass: e.Op.holds(v.V, e.Value), Actual: fmtNum(v.V) + "%"}
	case e.Unit == Percent:
		if v.Total <= 0 {
			return Result{Expr: e, Actual: fmt.Sprintf("%s of 0: no base for a percentage", fmtNum(v.V))}
		}
		pct := v.V / v.Total * 100
		return Result{Expr: e, Pass: e.Op.holds(pct, e.Value),
			Actual: fmt.Sprintf("%s%%, %s of %s", fmtNum(pct), fmtNum(v.V), fmtNum(v.Total))}
	default:
		return Result{Expr: e, Pass: e.Op.holds(v.V, e.Value), Actual: fmtNum(v.V)}
	}
}

// evaluateRelative compares v with the baseline's value of the metric plus
// e's offset.
func evaluateRelative(e Expr, v Value, base Metrics) Result {
	if base == nil {
		return Result{Expr: e, Actual: "no baseline"}
	}
	b, ok := base.Metric(e.Metric)
	switch {
	case !ok:
		return Result{Expr: e, Actual: "the baseline has no " + e.Metric}
	case v.Kind == Latency && v.Samples == 0:
		return Result{Expr: e, Actual: "no samples recorded"}
	case b.Kind == Latency && b.Samples == 0:
		return Result{Expr: e, Actual: "the baseline recorded no samples"}
	}
	limit := b.V + e.Value
	if e.Unit == Percent {
		limit = b.V * (1 + e.Value/100)
	}
	show := fmtNum
	if v.Kind == Latency {
		show = fmtMS
	}
	return Result{Expr: e, Pass: e.Op.holds(v.V, limit),
		Actual: fmt.Sprintf("%s; baseline %s, limit %s", show(v.V), show(b.V), show(limit))}
}

// Failed returns the failed results as lines for an exit-3 message.
func Failed(results []Result) []string {
	var out []string
	for _, r := range results {
		if !r.Pass {
			out = append(out, r.String())
		}
	}
	return out
}

func fmtMS(ms float64) string { return strconv.FormatFloat(ms, 'f', -1, 64) + "ms" }

func fmtNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
