package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Runner is a run of the generator, in this process (Run) or spread over
// child processes (Procs).
type Runner interface {
	// Live reports progress; one caller should poll it about once a second.
	Live() Live
	// Execute runs to the end (or until ctx is cancelled) and reports.
	Execute(ctx context.Context) (*Report, error)
}

var (
	_ Runner = (*Run)(nil)
	_ Runner = (*Procs)(nil)
)

// childLine is one line of a child's stdout: progress, its final report, or
// why it failed.
type childLine struct {
	Live   *Live   `json:"live,omitempty"`
	Report *Report `json:"report,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// ChildArgs are the arguments that make livectl a child of --procs: it
// reads SignalOptions as JSON on stdin and writes JSON lines on stdout.
var ChildArgs = []string{"bench", "signal", "--child"}

// RunChild is the child side of --procs.
func RunChild(ctx context.Context, in io.Reader, out io.Writer) error {
	var opts SignalOptions
	if err := json.NewDecoder(in).Decode(&opts); err != nil {
		return fmt.Errorf("reading child options on stdin: %w", err)
	}
	enc := json.NewEncoder(out)
	var mu sync.Mutex
	emit := func(l childLine) error {
		mu.Lock()
		defer mu.Unlock()
		return enc.Encode(l)
	}
	run, err := NewRun(opts)
	if err != nil {
		_ = emit(childLine{Error: err.Error()})
		return err
	}
	run.OnPhase(func(string) {
		l := run.Live()
		_ = emit(childLine{Live: &l})
	})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				l := run.Live()
				_ = emit(childLine{Live: &l})
			}
		}
	}()
	rep, err := run.Execute(ctx)
	close(stop)
	<-done
	if err != nil {
		_ = emit(childLine{Error: err.Error()})
		return err
	}
	return emit(childLine{Report: rep})
}

// SplitOptions divides o among procs children: sessions and rate evenly,
// session numbers in consecutive blocks (so rooms fill as in one process),
// source addresses dealt out when there are enough of them.
func SplitOptions(o SignalOptions, procs int) []SignalOptions {
	o.Defaults()
	out := make([]SignalOptions, procs)
	offset := o.Offset
	for i := range out {
		c := o
		c.Conns = o.Conns / procs
		if i < o.Conns%procs {
			c.Conns++
		}
		c.Rate = o.Rate * float64(c.Conns) / float64(o.Conns)
		c.Offset = offset
		offset += c.Conns
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
	exe   string
	opts  SignalOptions
	procs int
	// Stderr receives the children's stderr (their logs and errors).
	stderr io.Writer

	mu    sync.Mutex
	lives []Live
	last  Live
}

// NewProcs prepares a run over procs children of exe.
func NewProcs(exe string, opts SignalOptions, procs int, stderr io.Writer) (*Procs, error) {
	opts.Defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if procs < 1 || procs > opts.Conns {
		return nil, fmt.Errorf("procs must be between 1 and the number of sessions (%d), got %d", opts.Conns, procs)
	}
	return &Procs{exe: exe, opts: opts, procs: procs, stderr: stderr, lives: make([]Live, procs)}, nil
}

// Live sums the children's progress; p99 is the worst child's.
func (p *Procs) Live() Live {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := Live{Phase: PhaseDone, Target: int64(p.opts.Conns)}
	rank := map[string]int{PhaseRamp: 0, PhaseHold: 1, PhaseLeave: 2, PhaseDone: 3, "": 0}
	for _, c := range p.lives {
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
		if c.P99MS >= l.P99MS {
			l.P99MS, l.P99Of = c.P99MS, c.P99Of
		}
	}
	return l
}

func (p *Procs) allPast(phase string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.lives {
		if c.Phase == "" || c.Phase == phase {
			return false
		}
	}
	return true
}

// Execute starts the children, waits for them and merges their reports.
// Cancelling ctx interrupts every child, which then leaves and reports.
func (p *Procs) Execute(ctx context.Context) (*Report, error) {
	start := time.Now()
	srv := newServerSampler(p.opts.StatsURL, p.opts.ServerPID)
	srv.before(ctx)

	parts := SplitOptions(p.opts, p.procs)
	reports := make([]*Report, p.procs)
	errs := make([]error, p.procs)
	var wg sync.WaitGroup
	for i, o := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i], errs[i] = p.child(ctx, i, o)
		}()
	}

	// Sample the server once every child has finished its ramp.
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for !p.allPast(PhaseRamp) {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		l := p.Live()
		srv.peak(ctx, l.Open)
	}()
	wg.Wait()
	<-sampled

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	rep, err := Merge(reports...)
	if err != nil {
		return nil, err
	}
	rep.Target = p.opts.URL
	rep.Runs = 1
	rep.Settings = Settings{Conns: p.opts.Conns, Rate: p.opts.Rate, HoldS: p.opts.Duration.Seconds(),
		PingIntervalMS: float64(p.opts.PingInterval) / float64(time.Millisecond),
		Rooms:          p.opts.RoomCount(), SourceIPs: len(p.opts.SourceIPs), Procs: p.procs}
	rep.DurationS = round2(time.Since(start).Seconds())
	if rep.DurationS > 0 {
		rep.Rate.MessagesPerS = round2(float64(rep.Rate.Messages) / rep.DurationS)
	}
	rep.Server = srv.cost()
	rep.Interrupted = rep.Interrupted || ctx.Err() != nil
	return rep, nil
}

// child runs one child process and returns its report.
func (p *Procs) child(ctx context.Context, i int, o SignalOptions) (*Report, error) {
	in, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(p.exe, ChildArgs...)
	cmd.Stdin = strings.NewReader(string(in))
	cmd.Stderr = p.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting child process %d (%s): %w", i+1, p.exe, err)
	}
	// Ctrl-C reaches the children through the terminal's process group; a
	// cancelled context (a test, a timeout) is passed on the same way, so
	// children leave and report instead of dying mid-run.
	stopWatch := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(os.Interrupt)
		case <-stopWatch:
		}
	}()
	defer close(stopWatch)

	var rep *Report
	var childErr string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // a report with histograms is a few hundred KiB
	for sc.Scan() {
		var l childLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			continue // not ours (a stray print); the report line decides
		}
		switch {
		case l.Live != nil:
			p.mu.Lock()
			p.lives[i] = *l.Live
			p.mu.Unlock()
		case l.Report != nil:
			rep = l.Report
		case l.Error != "":
			childErr = l.Error
		}
	}
	werr := cmd.Wait()
	switch {
	case rep != nil:
		p.mu.Lock()
		p.lives[i].Phase = PhaseDone
		p.mu.Unlock()
		return rep, nil
	case childErr != "":
		return nil, fmt.Errorf("child process %d: %s", i+1, childErr)
	case werr != nil:
		return nil, fmt.Errorf("child process %d (%s %s) ended without a report: %w", i+1, p.exe, strings.Join(ChildArgs, " "), werr)
	}
	return nil, fmt.Errorf("child process %d ended without a report", i+1)
}
