package inspect

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// Suspect is a goroutine group whose count grew between samples.
type Suspect struct {
	Top         string  `json:"top"`
	TopLocation string  `json:"top_location"`
	State       string  `json:"state"`
	Counts      []int64 `json:"counts"`
	// Growth is the last count minus the first.
	Growth int64 `json:"growth"`
	// Steady is true when the count grew between every pair of consecutive
	// samples: the signature of a leak rather than of a burst of work. It
	// needs at least minSteadySamples samples: with two, every group that
	// grew at all would qualify, which says nothing about a trend.
	Steady bool     `json:"steady"`
	Stack  []string `json:"stack"`
}

// minSteadySamples is the fewest samples that can show steady growth.
const minSteadySamples = 3

// SampleInfo is when a sample was taken and how many goroutines it held.
type SampleInfo struct {
	At     time.Time `json:"at"`
	Total  int64     `json:"total"`
	Source string    `json:"source,omitempty"`
}

// Series is the JSON document of `inspect goroutines --diff/--watch`: the
// groups of the last sample plus the growing groups across all samples.
type Series struct {
	Report
	Samples []SampleInfo `json:"samples"`
	// Suspects are the groups that grew, largest growth first; steady
	// growers rank before others of equal growth. --top cuts this list.
	Suspects []Suspect `json:"suspects"`
	// SuspectCount and SteadyCount count the groups that grew and those
	// that grew at every sample before --top cut Suspects: --top limits
	// what is shown, never what --assert sees.
	SuspectCount int `json:"suspect_count"`
	SteadyCount  int `json:"steady_count"`
	// Interrupted says a --watch was stopped before its --samples: the
	// series covers the samples taken.
	Interrupted bool `json:"interrupted,omitempty"`

	// all holds every suspect, uncut, for Metrics.
	all []Suspect
}

// Compare groups every sample with the same options and ranks the groups by
// growth from the first sample to the last. opts.Top cuts both the groups of
// the last sample and the suspects shown (not the counts behind
// assertions); opts.Filter applies to both, and is decided once per group
// across all samples: a group is kept in every sample if it matches in any.
// The dump, which gives creators, belongs to the last sample only; a group
// that matches only by its creator would otherwise count 0 in the earlier
// samples and seem to grow from nothing.
func Compare(samples []*GoroutineProfile, opts GroupOptions) (*Series, error) {
	if len(samples) < 2 {
		return nil, errors.New("comparing goroutine profiles: need at least two samples")
	}
	last := samples[len(samples)-1]
	// The dump (if any) belongs to the last sample only.
	rep := GroupProfile(last, opts)
	s := &Series{Report: *rep, Suspects: []Suspect{}}

	type row struct {
		g       *Group
		counts  []int64
		matches bool
	}
	rows := map[string]*row{}
	var order []string
	for i, sp := range samples {
		s.Samples = append(s.Samples, SampleInfo{At: sp.FetchedAt, Total: sp.Total(), Source: sp.Source})
		o := opts
		if i != len(samples)-1 {
			o.Dump = nil
		}
		for _, g := range groupAll(sp, o) {
			r := rows[g.Key]
			if r == nil {
				r = &row{counts: make([]int64, len(samples))}
				rows[g.Key] = r
				order = append(order, g.Key)
			}
			// Keep the latest description (state from the last sample's dump).
			r.g = g
			r.counts[i] = g.Count
			r.matches = r.matches || opts.Filter == nil || g.matches(opts.Filter)
		}
	}
	for _, k := range order {
		r := rows[k]
		if !r.matches {
			continue
		}
		growth := r.counts[len(r.counts)-1] - r.counts[0]
		if growth <= 0 {
			continue
		}
		steady := len(r.counts) >= minSteadySamples
		for i := 1; steady && i < len(r.counts); i++ {
			if r.counts[i] <= r.counts[i-1] {
				steady = false
				break
			}
		}
		s.Suspects = append(s.Suspects, Suspect{
			Top: r.g.Top, TopLocation: r.g.TopLocation, State: r.g.State,
			Counts: r.counts, Growth: growth, Steady: steady, Stack: r.g.Stack,
		})
	}
	sort.SliceStable(s.Suspects, func(i, j int) bool {
		a, b := s.Suspects[i], s.Suspects[j]
		if a.Growth != b.Growth {
			return a.Growth > b.Growth
		}
		if a.Steady != b.Steady {
			return a.Steady
		}
		return a.Top < b.Top
	})
	s.all = s.Suspects
	s.SuspectCount = len(s.all)
	for _, sp := range s.all {
		if sp.Steady {
			s.SteadyCount++
		}
	}
	if opts.Top > 0 && len(s.Suspects) > opts.Top {
		s.Suspects = s.Suspects[:opts.Top:opts.Top]
	}
	return s, nil
}

// allSuspects is every suspect, before --top cut the list.
func (s *Series) allSuspects() []Suspect {
	if s.all == nil {
		return s.Suspects // a Series not made by Compare
	}
	return s.all
}

// WatchOptions drive Watch.
type WatchOptions struct {
	Interval time.Duration
	Samples  int
	// OnSample, if set, is called after each sample (for progress output).
	OnSample func(i int, p *GoroutineProfile)
}

// Watch takes opts.Samples goroutine profiles opts.Interval apart. When ctx
// is cancelled part way it returns the samples taken so far with ctx's
// error, so an interrupted watch can still be reported.
func (c *Client) Watch(ctx context.Context, opts WatchOptions) ([]*GoroutineProfile, error) {
	if opts.Samples < 2 {
		return nil, fmt.Errorf("watching goroutines: need at least 2 samples, got %d", opts.Samples)
	}
	var out []*GoroutineProfile
	t := time.NewTimer(0)
	defer t.Stop()
	next := time.Now()
	for i := 0; i < opts.Samples; i++ {
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-t.C:
		}
		p, err := c.FetchGoroutines(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			return out, fmt.Errorf("sample %d of %d: %w", i+1, opts.Samples, err)
		}
		out = append(out, p)
		if opts.OnSample != nil {
			opts.OnSample(i, p)
		}
		// Schedule from the planned start, not from when the fetch ended,
		// so samples stay Interval apart even when fetches are slow.
		next = next.Add(opts.Interval)
		t.Reset(max(time.Until(next), 0))
	}
	return out, nil
}
