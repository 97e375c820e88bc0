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

// RunnerOf is a run of a generator, in this process or spread over child
// processes, that reports progress of type L and a report of type R.
type RunnerOf[L, R any] interface {
	// Live reports progress; one caller should poll it about once a second.
	Live() L
	// Execute runs to the end (or until ctx is cancelled) and reports.
	Execute(ctx context.Context) (*R, error)
}

// ChildRun is a run that a --procs child executes: a Runner that also says
// when it changes phase, so the parent hears of it at once.
type ChildRun[L, R any] interface {
	RunnerOf[L, R]
	OnPhase(func(phase string))
}

// childLine is one line of a child's stdout: progress, its final report, or
// why it failed.
type childLine[L, R any] struct {
	Live   *L     `json:"live,omitempty"`
	Report *R     `json:"report,omitempty"`
	Error  string `json:"error,omitempty"`
}

// ServeChild is the child side of --procs for any generator: it reads the
// options O as JSON from in, runs newRun's run, and writes JSON lines to
// out: progress at each phase change and once a second, then the report
// (or the error that ended the run).
func ServeChild[O, L, R any, C ChildRun[L, R]](ctx context.Context, in io.Reader, out io.Writer, newRun func(O) (C, error)) error {
	var opts O
	if err := json.NewDecoder(in).Decode(&opts); err != nil {
		return fmt.Errorf("reading child options on stdin: %w", err)
	}
	enc := json.NewEncoder(out)
	var mu sync.Mutex
	emit := func(l childLine[L, R]) error {
		mu.Lock()
		defer mu.Unlock()
		return enc.Encode(l)
	}
	run, err := newRun(opts)
	if err != nil {
		_ = emit(childLine[L, R]{Error: err.Error()})
		return err
	}
	live := func() {
		l := run.Live()
		_ = emit(childLine[L, R]{Live: &l})
	}
	run.OnPhase(func(string) { live() })
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
				live()
			}
		}
	}()
	rep, err := run.Execute(ctx)
	close(stop)
	<-done
	if err != nil {
		_ = emit(childLine[L, R]{Error: err.Error()})
		return err
	}
	return emit(childLine[L, R]{Report: rep})
}

// Children runs child processes (Exe re-executed with Args, which make it
// call ServeChild), one per part of a split run, and keeps each child's
// latest progress. It is the parent side of --procs for any generator.
type Children[O, L, R any] struct {
	exe  string
	args []string
	// stderr receives the children's stderr (their logs and errors).
	stderr io.Writer
	// finished marks a child's progress once its report is in.
	finished func(*L)

	mu    sync.Mutex
	lives []L
}

// NewChildren prepares procs children of exe started with args; finished
// marks a child's last progress as done once its report has arrived.
func NewChildren[O, L, R any](exe string, args []string, procs int, stderr io.Writer, finished func(*L)) *Children[O, L, R] {
	return &Children[O, L, R]{exe: exe, args: args, stderr: stderr, finished: finished, lives: make([]L, procs)}
}

// Lives is a copy of every child's latest progress, in child order.
func (c *Children[O, L, R]) Lives() []L {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]L(nil), c.lives...)
}

// Run starts one child per part (as many as NewChildren was told), waits
// for all of them and returns their reports in order. Cancelling ctx
// interrupts every child, which then finishes and reports.
func (c *Children[O, L, R]) Run(ctx context.Context, parts []O) ([]*R, error) {
	reports := make([]*R, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, o := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i], errs[i] = c.child(ctx, i, o)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return reports, nil
}

// child runs one child process and returns its report.
func (c *Children[O, L, R]) child(ctx context.Context, i int, o O) (*R, error) {
	in, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(c.exe, c.args...)
	cmd.Stdin = strings.NewReader(string(in))
	cmd.Stderr = c.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting child process %d (%s): %w", i+1, c.exe, err)
	}
	// Ctrl-C reaches the children through the terminal's process group; a
	// cancelled context (a test, a timeout) is passed on the same way, so
	// children finish and report instead of dying mid-run.
	stopWatch := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(os.Interrupt)
		case <-stopWatch:
		}
	}()
	defer close(stopWatch)

	var rep *R
	var childErr string
	sc := bufio.NewScanner(stdout)
	// A report line carries histograms or every subscriber's figures:
	// hundreds of KiB to tens of MiB.
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for sc.Scan() {
		var l childLine[L, R]
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			continue // not ours (a stray print); the report line decides
		}
		switch {
		case l.Live != nil:
			c.mu.Lock()
			c.lives[i] = *l.Live
			c.mu.Unlock()
		case l.Report != nil:
			rep = l.Report
		case l.Error != "":
			childErr = l.Error
		}
	}
	werr := cmd.Wait()
	switch {
	case rep != nil:
		c.mu.Lock()
		c.finished(&c.lives[i])
		c.mu.Unlock()
		return rep, nil
	case childErr != "":
		return nil, fmt.Errorf("child process %d: %s", i+1, childErr)
	case werr != nil:
		return nil, fmt.Errorf("child process %d (%s %s) ended without a report: %w", i+1, c.exe, strings.Join(c.args, " "), werr)
	}
	return nil, fmt.Errorf("child process %d ended without a report", i+1)
}

// Share is one child's part of a run split over --procs.
type Share struct {
	// N is how many sessions or subscribers the child starts; Offset the
	// number of its first over the whole run; Rate its part of the rate.
	N      int
	Offset int
	Rate   float64
}

// Shares divides n starts at rate, numbered from offset, among procs
// children: counts as even as they can be, numbers in consecutive blocks
// (so rooms fill as in one process), the rate in proportion to the count.
func Shares(n int, rate float64, offset, procs int) []Share {
	out := make([]Share, procs)
	for i := range out {
		c := n / procs
		if i < n%procs {
			c++
		}
		out[i] = Share{N: c, Offset: offset, Rate: rate * float64(c) / float64(n)}
		offset += c
	}
	return out
}
