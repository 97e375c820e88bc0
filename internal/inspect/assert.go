package inspect

import (
	"fmt"
	"strconv"
	"strings"
)

// Assertion is one `metric op number` check of --assert, such as growth<100.
// The grammar is deliberately small: comma-separated checks over a fixed set
// of goroutine metrics (AssertMetrics), integer thresholds.
type Assertion struct {
	Metric string
	Op     string
	Value  int64
	Text   string // as written, for messages
}

// AssertMetrics names what --assert can check, with what each means.
var AssertMetrics = map[string]string{
	"growth":       "largest growth of one stack group from the first sample to the last",
	"total_growth": "growth of the total goroutine count from the first sample to the last",
	"total":        "goroutines in the last sample",
	"suspects":     "groups that grew at every sample (steady growers)",
	"groups":       "stack groups in the last sample",
}

// ParseAssertions parses "growth<100,total<=5000". Errors name the bad part
// and list what is accepted.
func ParseAssertions(s string) ([]Assertion, error) {
	var out []Assertion
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		i := strings.IndexAny(part, "<>=!")
		if i <= 0 {
			return nil, fmt.Errorf("assertion %q: want METRIC OP NUMBER such as growth<100 (metrics: %s)", part, metricList())
		}
		metric := strings.TrimSpace(part[:i])
		rest := part[i:]
		op := ""
		for _, o := range []string{"<=", ">=", "==", "<", ">"} {
			if strings.HasPrefix(rest, o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, fmt.Errorf("assertion %q: unknown operator; use <, <=, >, >= or ==", part)
		}
		if _, ok := AssertMetrics[metric]; !ok {
			return nil, fmt.Errorf("assertion %q: unknown metric %q (metrics: %s)", part, metric, metricList())
		}
		v, err := strconv.ParseInt(strings.TrimSpace(rest[len(op):]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("assertion %q: the threshold must be a whole number", part)
		}
		out = append(out, Assertion{Metric: metric, Op: op, Value: v, Text: part})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("assertion %q: empty; want e.g. growth<100", s)
	}
	return out, nil
}

func metricList() string {
	return "growth, total_growth, total, suspects, groups"
}

// Metrics computes the assertable figures of a series (or, with one
// sample, of a single report: growth figures are then 0). They count every
// suspect, not only the ones --top lets through to the output: a leak
// ranked below the top N is still a leak.
func (s *Series) Metrics() map[string]int64 {
	m := map[string]int64{"total": s.Total, "groups": int64(s.GroupCount)}
	for _, sp := range s.allSuspects() {
		if sp.Growth > m["growth"] {
			m["growth"] = sp.Growth
		}
		if sp.Steady {
			m["suspects"]++
		}
	}
	if n := len(s.Samples); n >= 2 {
		m["total_growth"] = s.Samples[n-1].Total - s.Samples[0].Total
	}
	return m
}

// Check evaluates the assertions and returns a line for each that failed:
// "growth<100 failed: growth is 250".
func Check(as []Assertion, metrics map[string]int64) []string {
	var failed []string
	for _, a := range as {
		v := metrics[a.Metric]
		ok := false
		switch a.Op {
		case "<":
			ok = v < a.Value
		case "<=":
			ok = v <= a.Value
		case ">":
			ok = v > a.Value
		case ">=":
			ok = v >= a.Value
		case "==":
			ok = v == a.Value
		}
		if !ok {
			failed = append(failed, fmt.Sprintf("%s failed: %s is %d", a.Text, a.Metric, v))
		}
	}
	return failed
}
