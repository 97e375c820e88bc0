package signalbench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/livectl/livectl/internal/bench"
)

// Runner is a run of the signal generator, in this process (Run) or
// spread over child processes (Procs).
type Runner = bench.RunnerOf[Live, Report]

var (
	_ Runner = (*Run)(nil)
	_ Runner = (*Procs)(nil)
)

// ChildArgs are the arguments that make livectl a child of --procs: it
// reads Options as JSON on stdin and writes JSON lines on stdout.
var ChildArgs = []string{"bench", "signal", "--child"}

// RunChild is the child side of --procs.
func RunChild(ctx context.Context, in io.Reader, out io.Writer) error {
	return bench.ServeChild[Options, Live, Report](ctx, in, out, NewRun)
}

// SplitOptions divides o among procs children: sessions and rate evenly,
// session numbers in consecutive blocks (so rooms fill as in one process),
// source addresses dealt out when there are enough of them.
func SplitOptions(o Options, procs int) []Options {
	o.Defaults()
	out := make([]Options, procs)
	for i, sh := range bench.Shares(o.Conns, o.Rate, o.Offset, procs) {
		c := o
		c.Conns, c.Offset, c.Rate = sh.N, sh.Offset, sh.Rate
		c.StatsURL, c.ServerPID = "", 0 // the parent samples the server once
		if len(o.SourceIPs) >= procs {
			c.SourceIPs = nil
			for j := i; j < len(o.SourceIPs); j += procs {
				c.SourceIPs = append(c.SourceIPs, o.SourceIPs[j])
			}
		}
		out[i] = c
	}
	return out
}

// Procs runs the generator in child processes (livectl re-executed with
// ChildArgs) and merges their reports exactly.
type Procs struct {
	opts     Options
	procs    int
	children *bench.Children[Options, Live, Report]
}

// NewProcs prepares a run over procs children of exe; stderr receives the
// children's stderr (their logs and errors).
func NewProcs(exe string, opts Options, procs int, stderr io.Writer) (*Procs, error) {
	opts.Defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if procs < 1 || procs > opts.Conns {
		return nil, fmt.Errorf("procs must be between 1 and the number of sessions (%d), got %d", opts.Conns, procs)
	}
	done := func(l *Live) { l.Phase = PhaseDone }
	return &Procs{opts: opts, procs: procs,
		children: bench.NewChildren[Options, Live, Report](exe, ChildArgs, procs, stderr, done)}, nil
}

// Live sums the children's progress; p99 is the worst child's.
func (p *Procs) Live() Live {
	l := Live{Phase: PhaseDone, Target: int64(p.opts.Conns)}
	rank := map[string]int{PhaseRamp: 0, PhaseHold: 1, PhaseLeave: 2, PhaseDone: 3, "": 0}
	for _, c := range p.children.Lives() {
		if rank[c.Phase] < rank[l.Phase] {
			l.Phase = c.Phase
		}
		if l.Phase == "" {
			l.Phase = PhaseRamp
		}
		l.Attempted += c.Attempted
		l.Established += c.Established
		l.Failed += c.Failed
		l.Open += c.Open
		l.RatePerS += c.RatePerS
		for k, v := range c.Errors {
			if l.Errors == nil {
				l.Errors = map[string]int64{}
			}
			l.Errors[k] += v
		}
		if c.P99MS >= l.P99MS {
			l.P99MS, l.P99Of = c.P99MS, c.P99Of
		}
	}
	return l
}

func (p *Procs) allPast(phase string) bool {
	for _, c := range p.children.Lives() {
		if c.Phase == "" || c.Phase == phase {
			return false
		}
	}
	return true
}

// Execute starts the children, waits for them and merges their reports.
// Cancelling ctx interrupts every child, which then leaves and reports.
//
// When some children fail, the others' results are kept: Execute returns
// their merged report, each failed child counted in its errors
// (bench.KindChildFailed, with which child, how it ended and why in
// error_detail), together with the error, so the run still fails.
func (p *Procs) Execute(ctx context.Context) (*Report, error) {
	start := time.Now()
	trust, err := p.opts.TLS.Config()
	if err != nil {
		return nil, err
	}
	srv := bench.NewSampler(p.opts.StatsURL, p.opts.ServerPID, trust)
	before := srv.Mark(ctx)

	// Sample the server once every child has finished its ramp.
	var peak bench.Mark
	sampled := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for !p.allPast(PhaseRamp) {
			select {
			case <-ctx.Done():
				return
			case <-stop:
				if !p.allPast(PhaseRamp) {
					return // a child failed before its hold: nothing to sample
				}
			case <-t.C:
			}
		}
		peak = srv.Mark(ctx)
	}()
	reports, childErr := p.children.Run(ctx, SplitOptions(p.opts, p.procs))
	close(stop)
	<-sampled
	done := bench.Finished(reports)
	if len(done) == 0 {
		return nil, childErr
	}
	rep, err := done[0].Merge(done[1:]...)
	if err != nil {
		return nil, err
	}
	rep.ErrorDetail = bench.CountChildErrors(childErr, rep.Errors, rep.ErrorDetail)
	rep.Target = strings.Join(p.opts.targets(), ",")
	rep.Runs = 1
	rep.Settings = p.opts.settings(p.procs)
	rep.DurationS = round2(time.Since(start).Seconds())
	if rep.DurationS > 0 {
		rep.Rate.MessagesPerS = round2(float64(rep.Rate.Messages) / rep.DurationS)
	}
	rep.Server = serverCost(before, peak)
	rep.Interrupted = rep.Interrupted || ctx.Err() != nil
	return rep, childErr
}
