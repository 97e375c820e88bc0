package inspect

import "github.com/livectl/livectl/internal/metrics/threshold"

// Metrics computes the figures --assert checks on goroutines (the grammar
// bench and probe share): growth, the largest growth of one stack group from
// the first sample to the last; total_growth; total and groups in the last
// sample; suspects, the groups that grew at every sample. With one sample
// (a single report) the growth figures are 0. They count every suspect, not
// only the ones --top lets through to the output: a leak ranked below the
// top N is still a leak. All are plain counts: a percentage of them means
// nothing.
func (s *Series) Metrics() threshold.Map {
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
	plain := func(v int64) threshold.Value { return threshold.Value{Kind: threshold.Plain, V: float64(v)} }
	return threshold.Map{
		"total":        plain(s.Total),
		"groups":       plain(int64(s.GroupCount)),
		"growth":       plain(growth),
		"suspects":     plain(suspects),
		"total_growth": plain(totalGrowth),
	}
}
