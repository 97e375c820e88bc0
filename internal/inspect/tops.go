package inspect

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/google/pprof/profile"
)

// Fetched is a parsed profile with its raw bytes (saved as-is, so `go tool
// pprof` reads exactly what the process sent).
type Fetched struct {
	Raw     *Raw
	Profile *profile.Profile
}

// FetchHeap fetches the heap profile; gc asks the process to run a GC first
// so in-use figures are current.
func (c *Client) FetchHeap(ctx context.Context, gc bool) (*Fetched, error) {
	q := url.Values{}
	if gc {
		q.Set("gc", "1")
	}
	return c.fetchProfile(ctx, "/debug/pprof/heap", q, 0)
}

// FetchCPU records a CPU profile for d (whole seconds, at least one).
func (c *Client) FetchCPU(ctx context.Context, d time.Duration) (*Fetched, error) {
	secs := int(d.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	q := url.Values{"seconds": {strconv.Itoa(secs)}}
	return c.fetchProfile(ctx, "/debug/pprof/profile", q, time.Duration(secs)*time.Second)
}

func (c *Client) fetchProfile(ctx context.Context, path string, q url.Values, extra time.Duration) (*Fetched, error) {
	raw, err := c.Fetch(ctx, path, q, extra)
	if err != nil {
		return nil, err
	}
	p, err := parseProfile(raw.Body, raw.URL)
	if err != nil {
		return nil, err
	}
	return &Fetched{Raw: raw, Profile: p}, nil
}

// FuncStat is one row of a top table. Flat is the value spent in the
// function itself, Cum in it and everything it called.
type FuncStat struct {
	Func    string  `json:"func"`
	Flat    int64   `json:"flat"`
	FlatPct float64 `json:"flat_pct"`
	Cum     int64   `json:"cum"`
	CumPct  float64 `json:"cum_pct"`
}

// TopReport is the JSON document of `inspect heap` and `inspect cpu`.
type TopReport struct {
	Kind       string    `json:"kind"` // "heap" or "cpu"
	Target     string    `json:"target,omitempty"`
	At         time.Time `json:"at"`
	SampleType string    `json:"sample_type"`
	Unit       string    `json:"unit"`
	Total      int64     `json:"total"`
	// Totals holds the total of every sample type of the profile (for heap:
	// inuse_space, inuse_objects, alloc_space, alloc_objects).
	Totals    map[string]int64 `json:"totals"`
	DurationS float64          `json:"duration_s,omitempty"`
	// FunctionCount is the number of functions before the top-N cut.
	FunctionCount int        `json:"function_count"`
	Functions     []FuncStat `json:"functions"`
	// Saved is where the raw profile was written, for go tool pprof.
	Saved string `json:"saved,omitempty"`
}

// TopOptions select the sample type, ordering and length of a top table.
type TopOptions struct {
	// SampleType such as inuse_space or alloc_objects; "" picks the
	// profile's default (the last type, as go tool pprof does).
	SampleType string
	// SortByCum orders by cumulative value instead of flat.
	SortByCum bool
	// N > 0 keeps the first N functions.
	N int
}

// SampleTypes lists the sample types of p, such as inuse_space.
func SampleTypes(p *profile.Profile) []string {
	out := make([]string, len(p.SampleType))
	for i, st := range p.SampleType {
		out[i] = st.Type
	}
	return out
}

// Top computes flat and cumulative values per function of p. kind labels
// the report ("heap", "cpu").
func Top(p *profile.Profile, kind string, opts TopOptions) (*TopReport, error) {
	idx := len(p.SampleType) - 1
	if p.DefaultSampleType != "" {
		for i, st := range p.SampleType {
			if st.Type == p.DefaultSampleType {
				idx = i
			}
		}
	}
	if opts.SampleType != "" {
		idx = -1
		for i, st := range p.SampleType {
			if st.Type == opts.SampleType {
				idx = i
			}
		}
		if idx < 0 {
			return nil, fmt.Errorf("the %s profile has no sample type %q; it has %v", kind, opts.SampleType, SampleTypes(p))
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("the %s profile has no sample types", kind)
	}
	r := &TopReport{
		Kind: kind, SampleType: p.SampleType[idx].Type, Unit: p.SampleType[idx].Unit,
		Totals: map[string]int64{}, Functions: []FuncStat{},
	}
	if p.TimeNanos != 0 {
		r.At = time.Unix(0, p.TimeNanos).UTC()
	}
	if p.DurationNanos != 0 {
		r.DurationS = float64(p.DurationNanos) / 1e9
	}
	flat := map[string]int64{}
	cum := map[string]int64{}
	seen := map[string]bool{}
	for _, s := range p.Sample {
		if len(s.Value) != len(p.SampleType) {
			continue
		}
		for i, st := range p.SampleType {
			r.Totals[st.Type] += s.Value[i]
		}
		v := s.Value[idx]
		if v == 0 {
			continue
		}
		r.Total += v
		clear(seen)
		leaf := true
		for _, loc := range s.Location {
			for _, ln := range loc.Line {
				name := fmt.Sprintf("0x%x", loc.Address)
				if ln.Function != nil && ln.Function.Name != "" {
					name = ln.Function.Name
				}
				if leaf {
					flat[name] += v
					leaf = false
				}
				// Recursion must not count a sample twice in cum.
				if !seen[name] {
					seen[name] = true
					cum[name] += v
				}
			}
			if len(loc.Line) == 0 && leaf {
				name := fmt.Sprintf("0x%x", loc.Address)
				flat[name] += v
				cum[name] += v
				leaf = false
			}
		}
	}
	for name, c := range cum {
		r.Functions = append(r.Functions, FuncStat{Func: name, Flat: flat[name], Cum: c,
			FlatPct: pct(flat[name], r.Total), CumPct: pct(c, r.Total)})
	}
	sort.Slice(r.Functions, func(i, j int) bool {
		a, b := r.Functions[i], r.Functions[j]
		ka, kb := a.Flat, b.Flat
		if opts.SortByCum {
			ka, kb = a.Cum, b.Cum
		}
		if ka != kb {
			return ka > kb
		}
		if a.Cum != b.Cum {
			return a.Cum > b.Cum
		}
		return a.Func < b.Func
	})
	r.FunctionCount = len(r.Functions)
	if opts.N > 0 && len(r.Functions) > opts.N {
		r.Functions = r.Functions[:opts.N]
	}
	return r, nil
}

func pct(v, total int64) float64 {
	if total == 0 {
		return 0
	}
	// Two decimals are plenty and keep JSON and golden files stable.
	return float64(int64(float64(v)*10000/float64(total)+0.5)) / 100
}
