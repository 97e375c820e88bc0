package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/bench/preflight"
	"github.com/livectl/livectl/internal/metrics/threshold"
	"github.com/livectl/livectl/internal/report"
	"github.com/livectl/livectl/internal/term/progress"
)

// The plumbing every bench generator shares: the --procs child side,
// choosing a runner, the progress line, writing the report (--out, -o) and
// checking --assert; and `bench report` for every kind of report.

// reportKind tells the shared plumbing about one generator's report R and
// its comparison C.
type reportKind[R, C any] struct {
	// command is the subcommand that writes such reports ("signal").
	command string
	kind    string
	kindOf  func(*R) string
	metrics func(*R) threshold.Metrics
	// shown is a copy of a report for stdout, without the bulk (histograms,
	// every subscriber) that only --out keeps.
	shown   func(*R) *R
	table   func(io.Writer, *R) error
	merge   func(...*R) (*R, error)
	compare func(a, b *R) C
	// compareTable prints a comparison of files named a and b.
	compareTable func(w io.Writer, c C, a, b string) error
}

// benchCommand is one generator command (options O, progress L, report R,
// comparison C) for the shared run flow, runBenchCommand.
type benchCommand[O, L, R, C any] struct {
	reports reportKind[R, C]
	// child is the generator's side of --procs (bench.ServeChild).
	child func(context.Context, io.Reader, io.Writer) error
	// settings validates the flags into options and assertions;
	// preflight refuses a run that cannot fit this machine.
	settings  func() (*O, []threshold.Expr, error)
	preflight func(*O) error
	// newRun prepares a run in this process (runErr says what failed),
	// newProcs one over child processes of exe.
	newRun   func(O) (bench.RunnerOf[L, R], error)
	runErr   func(*O, error) error
	newProcs func(exe string, o O) (bench.RunnerOf[L, R], error)
	status   func(L) progress.Status
	// what names the run in an error: "bench against ws://…".
	what func(*O) string
	// warning is a line for stderr when the generator may have limited the
	// results ("" when not).
	warning func(*R) string
	// fruitless is an error when the run achieved nothing (no session, no
	// subscriber) and nothing stopped it: the target is down or wrong.
	fruitless func(*R) error
}

// runBenchCommand is the flow of every generator command: the --child mode, or
// settings, a runner (--procs), the run with its progress line, the report
// (stdout and --out), a warning if the generator may have limited the
// results, an error (exit 1) for a run that could not be done, and only
// then --assert (exit 3).
func runBenchCommand[O, L, R, C any](ctx context.Context, f *Factory, c benchCommand[O, L, R, C], h benchHidden, procs int, out string) error {
	if h.Child {
		if err := c.child(ctx, f.IO.In, f.IO.Out); err != nil {
			fmt.Fprintf(f.IO.ErrOut, "livectl bench %s (child): %v\n", c.reports.command, err)
			return ErrSilent
		}
		return nil
	}
	o, exprs, err := c.settings()
	if err != nil {
		return err
	}
	if err := checkWritable(f, "out", out); err != nil {
		return err
	}
	if err := c.preflight(o); err != nil {
		return err
	}
	stopPprof, err := serveBenchPprof(f, h.PprofListen)
	if err != nil {
		return err
	}
	defer stopPprof()
	run, err := benchRunner(f, procs, func(exe string) (bench.RunnerOf[L, R], error) { return c.newProcs(exe, *o) },
		func() (bench.RunnerOf[L, R], error) {
			run, err := c.newRun(*o)
			if err != nil {
				return nil, c.runErr(o, err)
			}
			return run, nil
		})
	if err != nil {
		return err
	}
	rep, runErr := executeBench(ctx, f, run, c.status, c.what(o))
	if rep == nil {
		return runErr
	}
	// A run partly lost (a --procs child failed) still reports what the
	// other children measured.
	if err := writeBenchReport(f, c.reports, rep, out); err != nil {
		return err
	}
	if w := c.warning(rep); w != "" && !f.Globals.Quiet {
		fmt.Fprintln(f.IO.ErrOut, "warning:", w)
	}
	// A job that could not be done exits 1 whatever --assert says: a
	// threshold checked against a partial run, or one that reached nothing,
	// would blame the thresholds (exit 3) for an unreachable target.
	if runErr != nil {
		return runErr
	}
	if err := c.fruitless(rep); err != nil {
		return err
	}
	return checkAsserts(f, exprs, c.reports.metrics(rep))
}

// benchHidden are the hidden flags of every generator command.
type benchHidden struct {
	// Child marks a process started by --procs.
	Child bool
	// PprofListen serves the generator's own /debug/pprof/ during the run
	// (profiling the load generator, not the target).
	PprofListen string
}

// addBenchHiddenFlags adds --child, which a --procs parent starts its
// children with, and --pprof-listen.
func addBenchHiddenFlags(fl *pflag.FlagSet, h *benchHidden) {
	fl.BoolVar(&h.Child, "child", false, "run as a --procs child (options as JSON on stdin)")
	fl.StringVar(&h.PprofListen, "pprof-listen", "", "serve this generator's /debug/pprof/ on this address during the run (e.g. 127.0.0.1:6070)")
	_ = fl.MarkHidden("child")
	_ = fl.MarkHidden("pprof-listen")
}

// serveBenchPprof serves net/http/pprof on addr until the returned stop is
// called, and says where on stderr (with port 0 the kernel picks one).
func serveBenchPprof(f *Factory, addr string) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, UsageErrorf("%s %q: %v", f.FlagRef("pprof-listen"), addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(f.IO.ErrOut, "generator pprof: http://%s/debug/pprof/\n", ln.Addr())
	return func() { _ = srv.Close() }, nil
}

// benchRunner is newRun's runner, or with --procs above one newProcs's
// over child processes of this executable.
func benchRunner[L, R any](f *Factory, procs int, newProcs func(exe string) (bench.RunnerOf[L, R], error), newRun func() (bench.RunnerOf[L, R], error)) (bench.RunnerOf[L, R], error) {
	if procs <= 1 {
		return newRun()
	}
	exe, err := f.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the livectl executable to start --procs children: %w", err)
	}
	run, err := newProcs(exe)
	if err != nil {
		return nil, UsageErrorf("%s: %v", f.FlagRef("procs"), err)
	}
	return run, nil
}

// executeBench runs run with a progress line on stderr (per --quiet and
// whether stderr is a terminal); what names the run in an error. A run
// partly lost returns its report and the error together.
func executeBench[L, R any](ctx context.Context, f *Factory, run bench.RunnerOf[L, R], status func(L) progress.Status, what string) (*R, error) {
	bar := progress.Start(f.IO.ErrOut, progress.ModeFor(f.Globals.Quiet, f.IO.ErrTTY), time.Second,
		func() progress.Status { return status(run.Live()) })
	rep, err := run.Execute(ctx)
	bar.Stop()
	switch {
	case err == nil:
		return rep, nil
	case rep == nil:
		return nil, fmt.Errorf("running %s: %w", what, err)
	}
	return rep, fmt.Errorf("running %s: %w (the report covers the children that finished)", what, err)
}

// checkBenchFDs refuses a run when one process would need more descriptors
// (perProc) than it may open, naming --procs with the count that would fit
// the whole run (total); why explains the count, unit names what is spread.
func checkBenchFDs(f *Factory, perProc, total int, why, unit string) error {
	fds, err := preflight.RaiseFDLimit()
	if err != nil {
		return err
	}
	free := fds.Free()
	if perProc <= free {
		return nil
	}
	procs := (total + free - 1) / max(free, 1)
	hint := fmt.Sprintf("%suse %s %d (or more) to spread %s over child processes, each with its own limit, or raise the limit (ulimit -n)", why, f.FlagRef("procs"), procs, unit)
	return &UsageError{Err: preflight.CheckFDs(fds, perProc, hint)}
}

// benchStatsURL resolves a server /v1/stats flag: "none" skips sampling, a
// URL is used as given, and empty derives it from a livectl signaling URL
// (when derive: the target is a livectl server).
func benchStatsURL(flag, wsURL string, derive bool) string {
	switch {
	case flag == "none":
	case flag != "":
		return flag
	case derive:
		u, _ := bench.StatsURLFor(wsURL)
		return u
	}
	return ""
}

// writeBenchReport writes rep without its bulk to stdout, as JSON or a
// table per -o, and then whole to out (when set): stdout first, so that a
// file that cannot be written (checked before the run, but disks fill up)
// does not take the run's results with it.
func writeBenchReport[R, C any](f *Factory, k reportKind[R, C], rep *R, out string) error {
	shown := k.shown(rep)
	var err error
	if f.Globals.JSON() {
		err = report.WriteJSON(f.IO.Out, shown)
	} else {
		err = k.table(f.IO.Out, shown)
	}
	if err != nil {
		return err
	}
	if out != "" {
		if err := report.WriteJSONFile(out, rep); err != nil {
			return fmt.Errorf("%s: %w (the report is on stdout above)", f.FlagRef("out"), err)
		}
	}
	return nil
}

// fileReportKind is the "kind" of the report in path, or "" when it cannot
// be read as one (reading it again says what is wrong).
func fileReportKind(path string) string {
	var head struct {
		Kind string `json:"kind"`
	}
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &head) != nil {
		return ""
	}
	return head.Kind
}

// benchReportOf is `bench report` for reports of kind k: print one file,
// compare two, merge more (or two with --merge), and check --assert on the
// merged report or the second of two compared.
func benchReportOf[R, C any](f *Factory, o *BenchReportOptions, k reportKind[R, C]) error {
	exprs, err := parseAsserts(f, o.Asserts, k.metrics(new(R)))
	if err != nil {
		return err
	}
	reps := make([]*R, len(o.Files))
	for i, path := range o.Files {
		r := new(R)
		if err := report.ReadJSONFile(path, r); err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return err
			}
			return fmt.Errorf("%w (write reports with 'livectl bench %s --out FILE')", err, k.command)
		}
		if got := k.kindOf(r); got != k.kind {
			return fmt.Errorf("reading report %s: kind %q is not a bench %s report (reports of different kinds do not mix)", path, got, k.command)
		}
		reps[i] = r
	}
	if len(reps) == 2 && !o.Merge {
		if o.Out != "" {
			return UsageErrorf("%s writes a merged report; add --merge to merge two files", f.FlagRef("out"))
		}
		c := k.compare(k.shown(reps[0]), k.shown(reps[1]))
		if f.Globals.JSON() {
			err = report.WriteJSON(f.IO.Out, c)
		} else {
			err = k.compareTable(f.IO.Out, c, o.Files[0], o.Files[1])
		}
		if err != nil {
			return err
		}
		return checkAsserts(f, exprs, k.metrics(reps[1]))
	}
	merged := reps[0]
	if len(reps) > 1 {
		if merged, err = k.merge(reps...); err != nil {
			return fmt.Errorf("merging %s: %w", strings.Join(o.Files, ", "), err)
		}
	}
	if err := writeBenchReport(f, k, merged, o.Out); err != nil {
		return err
	}
	return checkAsserts(f, exprs, k.metrics(merged))
}

// checkServerSampling checks the server-side sampling flags before a run:
// a malformed /v1/stats URL or a pid with no process is a usage error; a
// URL that does not answer now is a warning, and the run goes on without
// the server's figures (they were once shown as zeros).
func checkServerSampling(f *Factory, urlFlag, statsURL string, pid int) error {
	if pid < 0 {
		return UsageErrorf("%s must be a process id, got %d", f.FlagRef("server-pid"), pid)
	}
	if pid > 0 {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			return UsageErrorf("%s %d: no such process on this machine (its CPU and RSS are read from /proc)", f.FlagRef("server-pid"), pid)
		}
	}
	if statsURL == "" {
		return nil
	}
	u, err := url.Parse(statsURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return UsageErrorf("%s %q: want an http(s) URL such as http://127.0.0.1:7880/v1/stats, or none", f.FlagRef(urlFlag), statsURL)
	}
	if err := bench.CheckStats(statsURL, 2*time.Second); err != nil && !f.Globals.Quiet {
		fmt.Fprintf(f.IO.ErrOut, "warning: %v: the server's figures will be missing (%s none to skip)\n", err, f.FlagRef(urlFlag))
	}
	return nil
}
