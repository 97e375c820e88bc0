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

	"github.com/livectl/livectl/internal/syncio"
)

// RunnerOf is a run of a generator, in this process or spread over child
// processes, that reports progress of type L and a report of type R.
type RunnerOf[L, R any] interface {
	// Live reports progress; one caller should poll it about once a second.
	Live() L
	// Execute runs to the end (or until ctx is cancelled) and reports. A
	// run partly lost (a --procs child failed) returns the report of what
	// remains together with the error.
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

// maxChildLine bounds one line of a child's stdout. A report line carries
// histograms or every subscriber's figures: hundreds of KiB to tens of MiB.
const maxChildLine = 256 << 20

// ChildError is why one --procs child gave no report.
type ChildError struct {
	Child int    // 1-based, in start order
	Exit  string // how the process ended: "exit status 1", "signal: killed"; "" if it never started
	Err   error  // what it reported, or what went wrong with it
}

func (e *ChildError) Error() string {
	if e.Exit == "" {
		return fmt.Sprintf("child process %d: %v", e.Child, e.Err)
	}
	return fmt.Sprintf("child process %d (%s): %v", e.Child, e.Exit, e.Err)
}

func (e *ChildError) Unwrap() error { return e.Err }

// Detail is the failure as an error_detail key's detail, short enough for a
// table: "child 2, exit status 1: dialing …".
func (e *ChildError) Detail() string {
	why := e.Err.Error()
	if len(why) > 120 {
		why = why[:117] + "..."
	}
	if e.Exit == "" {
		return fmt.Sprintf("child %d: %s", e.Child, why)
	}
	return fmt.Sprintf("child %d, %s: %s", e.Child, e.Exit, why)
}

// KindChildFailed is the error kind, in every generator's report, of a
// --procs child process that ended without a report; its detail says which
// child, how it ended and why (ChildError.Detail). The other children's
// results are kept.
const KindChildFailed = "child_failed"

// CountChildErrors counts every failed child in err (ChildErrors) into a
// report's errors and error details, and returns the details (made when
// nil).
func CountChildErrors(err error, errs, detail map[string]int64) map[string]int64 {
	for _, ce := range ChildErrors(err) {
		errs[KindChildFailed]++
		if detail == nil {
			detail = map[string]int64{}
		}
		detail[KindChildFailed+":"+ce.Detail()]++
	}
	return detail
}

// ChildErrors returns every ChildError in err's tree (Children.Run joins
// one per failed child; errors.As would find only the first).
func ChildErrors(err error) []*ChildError {
	var out []*ChildError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case *ChildError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// Finished returns the reports of the children that gave one, in order.
func Finished[R any](reports []*R) []*R {
	var out []*R
	for _, r := range reports {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
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
	// maxLine bounds one line of a child's stdout (maxChildLine).
	maxLine int

	mu    sync.Mutex
	lives []L
}

// NewChildren prepares procs children of exe started with args; finished
// marks a child's last progress as done once its report has arrived.
func NewChildren[O, L, R any](exe string, args []string, procs int, stderr io.Writer, finished func(*L)) *Children[O, L, R] {
	if _, isFile := stderr.(*os.File); !isFile && stderr != nil {
		// exec copies each child's stderr into a writer that is not a
		// file on a goroutine of its own: P children write at once.
		stderr = &syncio.Writer{W: stderr}
	}
	return &Children[O, L, R]{exe: exe, args: args, stderr: stderr, finished: finished, maxLine: maxChildLine, lives: make([]L, procs)}
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
//
// A child that fails does not cost the others their results: its report is
// nil, the others' are returned all the same, and the error joins a
// *ChildError for each child that failed (ChildErrors lists them).
func (c *Children[O, L, R]) Run(ctx context.Context, parts []O) ([]*R, error) {
	reports := make([]*R, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, o := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ce *ChildError
			reports[i], ce = c.child(ctx, i, o)
			if ce != nil {
				errs[i] = ce
			}
		}()
	}
	wg.Wait()
	return reports, errors.Join(errs...)
}

// child runs one child process and returns its report, or why it has none.
func (c *Children[O, L, R]) child(ctx context.Context, i int, o O) (*R, *ChildError) {
	fail := func(exit string, err error) *ChildError { return &ChildError{Child: i + 1, Exit: exit, Err: err} }
	in, err := json.Marshal(o)
	if err != nil {
		return nil, fail("", fmt.Errorf("encoding its options: %w", err))
	}
	cmd := exec.Command(c.exe, c.args...)
	cmd.Stdin = strings.NewReader(string(in))
	cmd.Stderr = c.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fail("", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fail("", fmt.Errorf("starting %s: %w", c.exe, err))
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
	sc.Buffer(make([]byte, min(64<<10, c.maxLine)), c.maxLine)
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
	scanErr := sc.Err()
	if scanErr != nil {
		// Scanning stopped early (a line over the limit, a read error)
		// while the child may still be writing: keep its pipe flowing so
		// that it can finish, and leave its sessions, instead of blocking
		// on a full pipe while Wait waits for it. If even that fails, stop
		// it rather than hang.
		if _, err := io.Copy(io.Discard, stdout); err != nil {
			_ = cmd.Process.Kill()
		}
	}
	werr := cmd.Wait()
	exit := "exit status 0"
	if werr != nil {
		exit = werr.Error()
	}
	switch {
	case rep != nil:
		c.mu.Lock()
		c.finished(&c.lives[i])
		c.mu.Unlock()
		return rep, nil
	case scanErr != nil:
		return nil, fail(exit, fmt.Errorf("reading its output: %w", scanErr))
	case childErr != "":
		return nil, fail(exit, errors.New(childErr))
	}
	return nil, fail(exit, fmt.Errorf("ended without a report (%s %s)", c.exe, strings.Join(c.args, " ")))
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
