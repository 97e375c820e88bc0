package probe

import (
	"context"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/metrics/hist"
	"github.com/livectl/livectl/internal/metrics/threshold"
	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/report"
)

// Report is the JSON document of `livectl probe` (docs/probe.md; target,
// attempts, ok, first_frame_ms and runs are stable, the rest is additional).
type Report struct {
	Target       string       `json:"target"`
	Room         string       `json:"room,omitempty"`
	Attempts     int          `json:"attempts"`
	OK           int          `json:"ok"`
	FirstFrameMS hist.Summary `json:"first_frame_ms"`
	// PhasesMS summarises each phase over the successful attempts.
	PhasesMS map[string]hist.Summary `json:"phases_ms"`
	Black    int                     `json:"black"`
	Frozen   int                     `json:"frozen"`
	// Interrupted says the run was stopped before its --count attempts:
	// the figures cover the attempts that finished (one cut short by the
	// stop is left out, not counted as failed).
	Interrupted bool `json:"interrupted,omitempty"`
	// Targets summarise the attempts at each URL when a run spread them
	// over several (Target then lists them, comma-separated).
	Targets []TargetSummary `json:"targets,omitempty"`
	Runs    []Result        `json:"runs"`
	// Envelope: the run's context (start, end, version, host, settings)
	// and its assertions' outcomes.
	report.Envelope

	firstFrame *hist.Histogram
	phases     map[string]*hist.Histogram
	byTarget   map[string]*hist.Histogram
}

// TargetSummary is the attempts at one URL of several.
type TargetSummary struct {
	URL          string       `json:"url"`
	Attempts     int          `json:"attempts"`
	OK           int          `json:"ok"`
	FirstFrameMS hist.Summary `json:"first_frame_ms"`
}

// NewReport starts an empty report for target.
func NewReport(target, room string) *Report {
	r := &Report{Target: target, Room: room, Runs: []Result{}, PhasesMS: map[string]hist.Summary{},
		firstFrame: hist.New(), phases: map[string]*hist.Histogram{}, byTarget: map[string]*hist.Histogram{}}
	for _, p := range Phases {
		r.phases[p] = hist.New()
	}
	return r
}

func ms(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// Add records one attempt.
func (r *Report) Add(res Result) {
	r.Attempts++
	r.Runs = append(r.Runs, res)
	t := r.target(res.URL)
	if t != nil {
		t.Attempts++
	}
	if !res.OK() {
		return
	}
	r.OK++
	if v, ok := res.FirstFrame(); ok {
		r.firstFrame.Record(ms(v))
		if t != nil {
			h := r.byTarget[t.URL]
			h.Record(ms(v))
			t.FirstFrameMS = h.Summary()
		}
	}
	if t != nil {
		t.OK++
	}
	for p, v := range res.PhasesMS {
		if h := r.phases[p]; h != nil {
			h.Record(ms(v))
		}
	}
	if res.Black {
		r.Black++
	}
	if res.Frozen {
		r.Frozen++
	}
	r.FirstFrameMS = r.firstFrame.Summary()
	for p, h := range r.phases {
		if h.Count() > 0 {
			r.PhasesMS[p] = h.Summary()
		}
	}
}

// target is the summary of the attempts at url, added on first use; nil
// for an attempt that records no URL (a run of one target).
func (r *Report) target(url string) *TargetSummary {
	if url == "" {
		return nil
	}
	for i := range r.Targets {
		if r.Targets[i].URL == url {
			return &r.Targets[i]
		}
	}
	r.Targets = append(r.Targets, TargetSummary{URL: url})
	r.byTarget[url] = hist.New()
	return &r.Targets[len(r.Targets)-1]
}

// Metrics exposes the report to --assert: first_frame.<stat> and
// <phase>.<stat> (p50, p90, p95, p99, max, count), errors (failed attempts,
// as a count or a percentage of attempts), ok, black, frozen.
func (r *Report) Metrics() threshold.Map {
	m := threshold.Map{}
	m.AddSummary("first_frame", r.firstFrame.Summary())
	for _, p := range Phases {
		m.AddSummary(p, r.phases[p].Summary())
	}
	total := float64(r.Attempts)
	m["errors"] = threshold.Value{Kind: threshold.Count, V: float64(r.Attempts - r.OK), Total: total}
	m["ok"] = threshold.Value{Kind: threshold.Count, V: float64(r.OK), Total: total}
	m["black"] = threshold.Value{Kind: threshold.Count, V: float64(r.Black), Total: total}
	m["frozen"] = threshold.Value{Kind: threshold.Count, V: float64(r.Frozen), Total: total}
	return m
}

// RunOptions configure a series of attempts.
type RunOptions struct {
	Options
	// URLs, when set, are several targets: attempt i goes to
	// URLs[i % len(URLs)] (Options.URL is not used) and records its URL.
	URLs     []string
	Count    int           // attempts; default 1
	Interval time.Duration // pause between the end of one attempt and the start of the next (plus intervalJitter)
	// Secret, if set, mints each attempt a token of its own for the room
	// and identity (subscribe grant) in place of Options.Token: a --count
	// run outlives no token.
	Secret string
	// OnAttempt, if set, is called after each attempt (for progress).
	OnAttempt func(i int, r Result)
}

// Run makes Count attempts one after another and reports them. It stops
// early, with the attempts so far, when ctx ends.
func Run(ctx context.Context, o RunOptions) *Report {
	if o.Count <= 0 {
		o.Count = 1
	}
	targets := bench.Targets(o.URL, o.URLs)
	rep := NewReport(strings.Join(targets, ","), o.Room)
	if o.api == nil {
		if api, err := peer.NewAPI(o.Peer); err == nil {
			o.api = api // one media engine for all attempts; each gets a fresh peer connection
		}
	}
	for i := range o.Count {
		if ctx.Err() != nil {
			break
		}
		ao := o.Options
		ao.URL = bench.TargetOf(targets, i)
		if o.Secret != "" {
			if ao.Identity == "" {
				ao.Identity = newIdentity()
				o.Identity = ao.Identity // the same one for every attempt, as without a secret
			}
			room := ao.Room
			if !peer.IsWebSocketURL(ao.URL) {
				room = peer.EndpointRoom(ao.URL)
			}
			var err error
			ao.Token, err = auth.Mint([]byte(o.Secret), auth.Grant{Room: room, Identity: ao.Identity, Subscribe: true}, ao.Timeout+ao.Observe+time.Hour, time.Now())
			if err != nil {
				res := Result{PhasesMS: map[string]float64{}, FailedPhase: PhaseSignal, Error: err.Error()}
				rep.Add(res)
				break
			}
		}
		res := Attempt(ctx, ao)
		if len(targets) > 1 {
			res.URL = ao.URL
		}
		if !res.OK() && ctx.Err() != nil {
			break // cut short by the stop: not the target's failure
		}
		rep.Add(res)
		if o.OnAttempt != nil {
			o.OnAttempt(i, res)
		}
		if i < o.Count-1 && o.Interval > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(o.Interval + intervalJitter(o.Interval)):
			}
		}
	}
	rep.Interrupted = ctx.Err() != nil && rep.Attempts < o.Count
	return rep
}

// intervalJitter returns a random extra pause of up to a tenth of the
// interval, at most 50 ms (more than a frame at 25 fps). Without it an
// interval that is a whole number of frames (the default 500 ms is 15 at
// 30 fps) starts every attempt at the same phase of the publisher's frame
// clock, so every attempt waits the same part of a frame for its keyframe
// and the percentiles describe one phase instead of the distribution.
func intervalJitter(interval time.Duration) time.Duration {
	j := min(interval/10, 50*time.Millisecond)
	if j <= 0 {
		return 0
	}
	return rand.N(j)
}
