package inspect

import "github.com/livectl/livectl/internal/bench/assert"

// AssertMetrics names what --assert can check on goroutines, with what each
// means (the grammar is bench/assert's, shared with bench and probe).
var AssertMetrics = map[string]string{
	"growth":       "largest growth of one stack group from the first sample to the last",
	"total_growth": "growth of the total goroutine count from the first sample to the last",
	"total":        "goroutines in the last sample",
	"suspects":     "groups that grew at every sample (steady growers)",
	"groups":       "stack groups in the last sample",
}

// Metrics computes the assertable figures of a series (or, with one
// sample, of a single report: growth figures are then 0). They count every
// suspect, not only the ones --top lets through to the output: a leak
// ranked below the top N is still a leak. All are plain counts: a
// percentage of them means nothing.
func (s *Series) Metrics() assert.Map {
	var growth, suspects, totalGrowth int64
	for _, sp := range s.allSuspects() {
		growth = max(growth, sp.Growth)
		if sp.Steady {
			suspects++
		}
	}
	if n := len(s.Samples); n >= 2 {
		totalGrowth = s.Samples[n-1].Total - s.Samples[0].Total
	}
	plain := func(v int64) assert.Value { return assert.Value{Kind: assert.Plain, V: float64(v)} }
	return assert.Map{
		"total":        plain(s.Total),
		"groups":       plain(int64(s.GroupCount)),
		"growth":       plain(growth),
		"suspects":     plain(suspects),
		"total_growth": plain(totalGrowth),
	}
}
