package mediabench

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/livectl/livectl/internal/bench"
)

// ChildArgs are the arguments that make livectl a child of --procs: it
// reads Options as JSON on stdin and writes JSON lines on stdout (the same
// arrangement as bench signal's children).
var ChildArgs = []string{"bench", "media", "--child"}

// RunChild is the child side of --procs.
func RunChild(ctx context.Context, in io.Reader, out io.Writer) error {
	return bench.ServeChild[Options, Live, Report](ctx, in, out, NewRun)
}

// Split divides o among procs children: subscribers and rate evenly, ids in
// consecutive blocks; the parent keeps the publishers and the server sampling.
func Split(o Options, procs int) []Options {
	o.Defaults()
	out := make([]Options, procs)
	for i, sh := range bench.Shares(o.Subscribers, o.Rate, o.Offset, procs) {
		c := o
		c.Subscribers, c.Offset, c.Rate = sh.N, sh.Offset, sh.Rate
		c.Publishers, c.StatsURL, c.ServerPID, c.Procs = 0, "", 0, 1
		c.WrapConn, c.Logger = nil, nil
		out[i] = c
	}
	return out
}

// Procs runs the subscribers in child processes (livectl re-executed with
// ChildArgs), each with its own descriptor limit and its own cores, and
// merges their reports exactly.
type Procs struct {
	opts     Options
	procs    int
	children *bench.Children[Options, Live, Report]

	mu    sync.Mutex
	phase string
}

// NewProcs prepares a run over procs children of exe; stderr receives the
// children's stderr.
func NewProcs(exe string, opts Options, procs int, stderr io.Writer) (*Procs, error) {
	opts.Defaults()
	opts.Procs = procs
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if procs < 1 || procs > opts.Subscribers {
		return nil, fmt.Errorf("procs must be between 1 and the number of subscribers (%d), got %d", opts.Subscribers, procs)
	}
	opts.fixed, _ = opts.Auth.Fixed(opts.WSSessions()) // Validate saw no error
	done := func(l *Live) { l.Phase = PhaseDone }
	return &Procs{opts: opts, procs: procs, phase: PhasePublish,
		children: bench.NewChildren[Options, Live, Report](exe, ChildArgs, procs, stderr, done)}, nil
}

var phaseRank = map[string]int{"": 0, PhasePublish: 0, PhaseRamp: 1, PhaseHold: 2, PhaseDrain: 3, PhaseDone: 4}

// Live sums the children's progress; the phase is the least advanced child's.
func (p *Procs) Live() Live {
	p.mu.Lock()
	phase := p.phase
	p.mu.Unlock()
	if phase == PhasePublish {
		return Live{Phase: PhasePublish, Target: int64(p.opts.Subscribers)}
	}
	l := Live{Phase: PhaseDone, Target: int64(p.opts.Subscribers)}
	for _, c := range p.children.Lives() {
		if phaseRank[c.Phase] < phaseRank[l.Phase] {
			l.Phase = c.Phase
		}
		l.Attempted += c.Attempted
		l.OK += c.OK
		l.Failed += c.Failed
		l.Receiving += c.Receiving
		l.BitrateKbps += c.BitrateKbps
		l.Freezes += c.Freezes
		l.Bytes += c.Bytes
		l.Lost += c.Lost
	}
	if l.Phase == "" || l.Phase == PhasePublish {
		l.Phase = PhaseRamp
	}
	return l
}

// all reports whether every child has reached phase (or gone past it).
func (p *Procs) all(phase string) bool {
	for _, c := range p.children.Lives() {
		if phaseRank[c.Phase] < phaseRank[phase] {
			return false
		}
	}
	return true
}

// any reports whether some child has reached phase (or gone past it).
func (p *Procs) any(phase string) bool {
	for _, c := range p.children.Lives() {
		if phaseRank[c.Phase] >= phaseRank[phase] {
			return true
		}
	}
	return false
}

// Execute starts the publishers, then the children; it waits for them and
// merges their reports. Cancelling ctx interrupts every child, which then
// closes its window and reports.
//
// When some children fail, the others' results are kept: Execute returns
// their merged report, each failed child counted in its errors
// (bench.KindChildFailed, with which child, how it ended and why in
// error_detail), together with the error, so the run still fails.
func (p *Procs) Execute(ctx context.Context) (*Report, error) {
	start := time.Now()
	o := p.opts
	pubs, err := startPublishers(ctx, &o, nil)
	defer closePublishers(pubs)
	if err != nil {
		return nil, err
	}
	trust, err := o.TLS.Config()
	if err != nil {
		return nil, err
	}
	srv := bench.NewSampler(o.StatsURL, o.ServerPID, trust)
	srv.Start(time.Second)
	defer srv.Stop()
	p.mu.Lock()
	p.phase = PhaseRamp
	p.mu.Unlock()

	// Mark the server when every child holds, and again when the first
	// leaves the hold: the window in which all subscribers receive.
	var hold []bench.Mark
	marked := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(marked)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		step, last := 0, false
		var start bench.Mark
		for step < 2 && !last {
			select {
			case <-ctx.Done():
				return
			case <-stop:
				last = true // every child has ended: one more look
			case <-t.C:
			}
			if step == 0 && p.all(PhaseHold) {
				start = srv.Mark(context.Background())
				step = 1
			}
			if step == 1 && p.any(PhaseDrain) {
				hold = []bench.Mark{start, srv.Mark(context.Background())}
				step = 2
			}
		}
	}()
	reports, childErr := p.children.Run(ctx, Split(o, p.procs))
	close(stop)
	<-marked
	done := bench.Finished(reports)
	if len(done) == 0 {
		return nil, childErr
	}
	rep, err := done[0].Merge(done[1:]...)
	if err != nil {
		return nil, err
	}
	rep.ErrorDetail = bench.CountChildErrors(childErr, rep.Errors, rep.ErrorDetail)
	rep.Target, rep.Runs = strings.Join(o.Targets(), ","), 1
	rep.Settings = Settings{Subscribers: o.Subscribers, Publishers: o.Publishers, Rate: o.Rate,
		HoldS: o.Duration.Seconds(), TimeoutS: o.Timeout.Seconds(), Procs: p.procs}
	rep.DurationS = round2(time.Since(start).Seconds())
	for _, pb := range pubs {
		rep.Publishers = append(rep.Publishers, pb.Stats())
	}
	rep.Server = serverReport(srv, hold, o.serverSubscribers(rep.Subscribers.OK-rep.Subscribers.Dropped))
	rep.Interrupted = rep.Interrupted || ctx.Err() != nil
	// Children judged themselves; judge the whole against the server.
	gen := rep.Generator
	rep.Warnings = nil
	judge(rep)
	rep.Saturated = rep.Saturated || gen.Bottleneck
	return rep, childErr
}
