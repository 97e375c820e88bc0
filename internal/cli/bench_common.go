package cli

import (
	"bytes"
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/pflag"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/bench/mediabench"
	"github.com/livectl/livectl/internal/bench/preflight"
	"github.com/livectl/livectl/internal/bench/signalbench"
	"github.com/livectl/livectl/internal/inspect"
	"github.com/livectl/livectl/internal/metrics/threshold"
	"github.com/livectl/livectl/internal/report"
	"github.com/livectl/livectl/internal/stats"
	"github.com/livectl/livectl/internal/term/progress"
)

// The plumbing every bench generator shares: the --procs child side,
// choosing a runner, the progress line, writing the report (--out, -o) and
// checking --assert; and `bench report` for every kind of report.

// benchReport is a generator's report as the shared plumbing uses it: R is
// the report type, and *R has the methods.
type benchReport[R any] interface {
	*R
	// Metrics names the report's figures for --assert.
	Metrics() threshold.Metrics
	// Brief is a copy for stdout, without the bulk (histograms, every
	// subscriber) that only --out keeps.
	Brief() *R
	WriteTable(io.Writer) error
	// Envelope holds the run's context and its assertions' outcomes.
	Env() *report.Envelope
}

// benchComparison is two reports side by side; -o json prints it as it is.
type benchComparison interface {
	WriteTable(w io.Writer, nameA, nameB string) error
}

// storedReport is a report that `bench report` reads from files, merges and
// compares (C is its comparison).
type storedReport[R any, C benchComparison] interface {
	benchReport[R]
	ReportKind() string
	Merge(more ...*R) (*R, error)
	Compare(b *R) C
}

// benchJob is one run of a generator command (progress L, report R),
// prepared from its flags, for the shared run flow runBenchJob.
type benchJob[L, R any] struct {
	// what names the run in an error: "bench against ws://…".
	what  string
	exprs []threshold.Expr
	procs int
	out   string
	// target and settings (credentials redacted) go into the report's
	// context.
	target   string
	settings any
	// startAt is when the run starts (--start-at; zero: at once).
	startAt time.Time
	// preflight refuses a run that cannot fit this machine.
	preflight func() error
	// run prepares the run in this process (unprepared says what its
	// error means), spread one over --procs child processes of exe.
	run        func() (bench.RunnerOf[L, R], error)
	unprepared func(error) error
	spread     func(exe string) (bench.RunnerOf[L, R], error)
	status     func(L) progress.Status
	// metricsListen (--metrics-listen) serves the run's live figures,
	// which metrics writes, as Prometheus text while it runs.
	metricsListen string
	metrics       func(L, *bench.PromWriter)
	// judge reads a finished run: a warning line for stderr when the
	// generator may have limited the results (or ""), and an error when the
	// run achieved nothing (no session, no subscriber) and nothing stopped
	// it: the target is down or wrong.
	judge func(*R) (warning string, fruitless error)
}

// serveBenchChild is the --child mode of a generator command: the child
// side of --procs (bench.ServeChild) on stdin and stdout.
func serveBenchChild(ctx context.Context, f *Factory, command string, child func(context.Context, io.Reader, io.Writer) error) error {
	if err := child(ctx, f.IO.In, f.IO.Out); err != nil {
		fmt.Fprintf(f.IO.ErrOut, "livectl bench %s (child): %v\n", command, err)
		return ErrSilent
	}
	return nil
}

// runBenchJob is the flow of every generator command once its flags are
// settled: the preflight, a runner (--procs), the run with its progress
// line, the report (stdout and --out), a warning if the generator may have
// limited the results, an error (exit 1) for a run that could not be done,
// and only then --assert (exit 3).
func runBenchJob[L, R any, P benchReport[R]](ctx context.Context, f *Factory, h benchHidden, j benchJob[L, R]) error {
	if err := checkWritable(f, "out", j.out); err != nil {
		return err
	}
	if err := j.preflight(); err != nil {
		return err
	}
	stopPprof, err := serveBenchPprof(f, h.PprofListen)
	if err != nil {
		return err
	}
	defer stopPprof()
	run, err := benchRunner(f, j)
	if err != nil {
		return err
	}
	// The progress line and the metrics read one Live a second: reading
	// it starts a new interval (rates, interval p99s).
	live := cachedLive(run.Live, 900*time.Millisecond)
	stopMetrics, err := serveBenchMetrics(f, j.metricsListen, func(p *bench.PromWriter) {
		j.metrics(live(), p)
		if hs, ok := run.(bench.LiveHistograms); ok {
			p.Latencies(hs.LiveHistograms())
		}
	})
	if err != nil {
		return err
	}
	defer stopMetrics()
	if err := waitUntil(ctx, f, j.startAt); err != nil {
		return err
	}
	bar := progress.Start(f.IO.ErrOut, progress.ModeFor(f.Globals.Quiet, f.IO.ErrTTY), time.Second,
		func() progress.Status { return j.status(live()) })
	start := time.Now()
	rep, runErr := run.Execute(ctx)
	bar.Stop()
	switch {
	case runErr != nil && rep == nil:
		return fmt.Errorf("running %s: %w", j.what, runErr)
	case runErr != nil:
		// A run partly lost (a --procs child failed) still reports what
		// the other children measured.
		runErr = fmt.Errorf("running %s: %w (the report covers the children that finished)", j.what, runErr)
	}
	warning, fruitless := j.judge(rep)
	// A job that could not be done exits 1 whatever --assert says: a
	// threshold checked against a partial run, or one that reached nothing,
	// would blame the thresholds (exit 3) for an unreachable target.
	var results []threshold.Result
	if runErr == nil && fruitless == nil {
		results = threshold.Evaluate(j.exprs, P(rep).Metrics())
	}
	env := P(rep).Env()
	env.Context = runContext(j.target, j.settings, start)
	env.Assertions = assertOutcomes(results)
	if err := writeBenchReport[R, P](f, rep, j.out); err != nil {
		return err
	}
	if warning != "" && !f.Globals.Quiet {
		fmt.Fprintln(f.IO.ErrOut, "warning:", warning)
	}
	if runErr != nil {
		return runErr
	}
	if fruitless != nil {
		return fruitless
	}
	return judgeAsserts(f, results)
}

// runContext is the context of a run of target with settings that started
// at start and ends now: this binary's version, this host.
func runContext(target string, settings any, start time.Time) *report.Context {
	b := Build()
	c, err := report.NewContext(b.Version, b.Commit, target, settings, start)
	if err != nil {
		return nil // settings that do not marshal: the report goes without
	}
	c.End = time.Now().UTC()
	return c
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

// cachedLive is live, called at most once per every: a caller within
// that time of the last call gets its result.
func cachedLive[L any](live func() L, every time.Duration) func() L {
	var mu sync.Mutex
	var last L
	var at time.Time
	return func() L {
		mu.Lock()
		defer mu.Unlock()
		if at.IsZero() || time.Since(at) >= every {
			last, at = live(), time.Now()
		}
		return last
	}
}

// addMetricsListenFlag adds --metrics-listen.
func addMetricsListenFlag(fl *pflag.FlagSet, addr *string) {
	fl.StringVar(addr, "metrics-listen", "", "serve the run's live figures as Prometheus text at /metrics on this address (e.g. 127.0.0.1:9102) while it runs")
}

// serveBenchMetrics serves write's figures at /metrics on addr until the
// returned stop is called, and says where on stderr.
func serveBenchMetrics(f *Factory, addr string, write func(*bench.PromWriter)) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	srv, err := bench.ServeMetrics(addr, write)
	if err != nil {
		return nil, UsageErrorf("%s %q: %v", f.FlagRef("metrics-listen"), addr, err)
	}
	if !f.Globals.Quiet {
		fmt.Fprintf(f.IO.ErrOut, "metrics: http://%s/metrics\n", srv.Addr())
	}
	return func() { _ = srv.Close() }, nil
}

// benchRunner is j's run in this process, or with --procs above one its
// run spread over child processes of this executable.
func benchRunner[L, R any](f *Factory, j benchJob[L, R]) (bench.RunnerOf[L, R], error) {
	if j.procs <= 1 {
		run, err := j.run()
		if err != nil {
			return nil, j.unprepared(err)
		}
		return run, nil
	}
	exe, err := f.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the livectl executable to start --procs children: %w", err)
	}
	run, err := j.spread(exe)
	if err != nil {
		return nil, UsageErrorf("%s: %v", f.FlagRef("procs"), err)
	}
	return run, nil
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
func writeBenchReport[R any, P benchReport[R]](f *Factory, rep *R, out string) error {
	brief := P(rep).Brief()
	var err error
	if f.Globals.JSON() {
		err = report.WriteJSON(f.IO.Out, brief)
	} else {
		err = P(brief).WriteTable(f.IO.Out)
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

// benchReportOf is `bench report` for reports of one kind, written by
// `bench <command>`: print one file, compare two, merge more (or two with
// --merge), and check --assert on the merged report or the second of two
// compared (relative thresholds against --baseline). It warns when the
// runs read differ in settings.
//
// html, when given, writes --html: a page of the files read, side by side.
func benchReportOf[R any, C benchComparison, P storedReport[R, C]](f *Factory, o *BenchReportOptions, command, kind string,
	html func(io.Writer, []string, []*R) error) error {
	exprs, err := parseAssertsWith(f, o.Asserts, P(new(R)).Metrics(), o.Baseline != "")
	if err != nil {
		return err
	}
	if err := checkWritable(f, "html", o.HTML); err != nil {
		return err
	}
	read := func(path string) (*R, error) {
		r := new(R)
		if err := report.ReadJSONFile(path, r); err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return nil, err
			}
			return nil, fmt.Errorf("%w (write reports with 'livectl bench %s --out FILE')", err, command)
		}
		if got := P(r).ReportKind(); got != kind {
			return nil, fmt.Errorf("reading report %s: kind %q is not a bench %s report (reports of different kinds do not mix)", path, got, command)
		}
		return r, nil
	}
	reps := make([]*R, len(o.Files))
	ctxs := make([]*report.Context, len(o.Files))
	for i, path := range o.Files {
		if reps[i], err = read(path); err != nil {
			return err
		}
		ctxs[i] = P(reps[i]).Env().Context
	}
	// Two files are compared, unless told to merge or both are shards of
	// a run (merging is what shards are for). Shards differ in their shard
	// alone.
	merging := len(reps) != 2 || o.Merge || allShards(ctxs)
	var ignore []string
	if merging {
		ignore = []string{"shard"}
	}
	for i := 1; i < len(reps); i++ {
		warnSettings(f, o.Files[0], o.Files[i], ctxs[0], ctxs[i], ignore...)
	}
	if o.HTML != "" {
		if err := writeHTMLFile(o.HTML, func(w io.Writer) error { return html(w, o.Files, reps) }); err != nil {
			return fmt.Errorf("%s: %w", f.FlagRef("html"), err)
		}
	}
	var base threshold.Metrics
	if o.Baseline != "" {
		b, err := read(o.Baseline)
		if err != nil {
			return fmt.Errorf("%s: %w", f.FlagRef("baseline"), err)
		}
		warnSettings(f, o.Baseline, o.Files[len(o.Files)-1], P(b).Env().Context, P(reps[len(reps)-1]).Env().Context)
		base = P(b).Metrics()
	}
	if !merging {
		if o.Out != "" {
			return UsageErrorf("%s writes a merged report; add --merge to merge two files", f.FlagRef("out"))
		}
		results := threshold.EvaluateAgainst(exprs, P(reps[1]).Metrics(), base)
		b := P(reps[1]).Brief()
		P(b).Env().Assertions = assertOutcomes(results)
		c := P(P(reps[0]).Brief()).Compare(b)
		if f.Globals.JSON() {
			err = report.WriteJSON(f.IO.Out, c)
		} else {
			err = c.WriteTable(verdictColours(f), o.Files[0], o.Files[1])
		}
		if err != nil {
			return err
		}
		return judgeAsserts(f, results)
	}
	merged := reps[0]
	if len(reps) > 1 {
		if merged, err = P(reps[0]).Merge(reps[1:]...); err != nil {
			err = fmt.Errorf("merging %s: %w", strings.Join(o.Files, ", "), err)
			if errors.Is(err, signalbench.ErrNoHistograms) || errors.Is(err, mediabench.ErrNoResults) {
				err = fmt.Errorf("%w (write the reports with --out to merge them: stdout leaves the bulk out)", err)
			}
			return err
		}
		P(merged).Env().Context = report.Span(ctxs...)
		if problems := shardProblems(ctxs); len(problems) > 0 {
			if !f.Globals.Quiet {
				fmt.Fprintf(f.IO.ErrOut, "warning: the merged shards are not one whole run: %s\n", strings.Join(problems, "; "))
			}
		} else {
			wholeRun(P(merged).Env().Context)
		}
	}
	results := threshold.EvaluateAgainst(exprs, P(merged).Metrics(), base)
	P(merged).Env().Assertions = assertOutcomes(results)
	if err := writeBenchReport[R, P](f, merged, o.Out); err != nil {
		return err
	}
	return judgeAsserts(f, results)
}

// reportVolatile are settings that name one run rather than describe it:
// two runs differing only in them ran the same test.
var reportVolatile = []string{"run_id", "offset", "server_pid"}

// warnSettings says on stderr (unless --quiet) in which settings the runs
// in files a and b differ: a comparison or merge of unlike runs is allowed
// but should not go unnoticed.
func warnSettings(f *Factory, a, b string, ca, cb *report.Context, ignore ...string) {
	if diff := report.SettingsDiff(ca, cb, slices.Concat(ignore, reportVolatile)...); len(diff) > 0 && !f.Globals.Quiet {
		fmt.Fprintf(f.IO.ErrOut, "warning: %s and %s ran with different settings: %s\n", a, b, strings.Join(diff, "; "))
	}
}

// verdictColours is stdout, colouring the better/worse words that end the
// lines of a comparison table when stdout is a terminal.
func verdictColours(f *Factory) io.Writer {
	if !f.IO.OutTTY {
		return f.IO.Out
	}
	return &colourVerdicts{w: f.IO.Out}
}

// colourVerdicts colours a table's trailing "better" green and "worse"
// red; the table was aligned before, so the escape codes do not shift it.
type colourVerdicts struct {
	w   io.Writer
	buf []byte
}

func (c *colourVerdicts) Write(p []byte) (int, error) {
	c.buf = append(c.buf, p...)
	for {
		i := bytes.IndexByte(c.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimRight(string(c.buf[:i]), " ")
		c.buf = c.buf[i+1:]
		for word, colour := range map[string]string{bench.Better: "32", bench.Worse: "31"} {
			if rest, ok := strings.CutSuffix(line, word); ok {
				line = rest + "\x1b[" + colour + "m" + word + "\x1b[0m"
			}
		}
		if _, err := io.WriteString(c.w, line+"\n"); err != nil {
			return 0, err
		}
	}
}

// checkServerSampling checks the server-side sampling flags before a run:
// a malformed /v1/stats URL or a pid with no process is a usage error; a
// URL that does not answer now is a warning, and the run goes on without
// the server's figures (they were once shown as zeros). A URL derived from
// --url that answers 404 is a server with auth on, which serves its stats
// on the admin listener only: serve's default admin address is tried, and
// used when it answers; the URL to sample is returned.
func checkServerSampling(f *Factory, urlFlag, statsURL string, derived bool, pid int) (string, error) {
	err := checkStatsFlags(f, urlFlag, statsURL, pid)
	if err != nil || statsURL == "" {
		return statsURL, err
	}
	err = bench.CheckStats(statsURL, 2*time.Second)
	var se *stats.StatusError
	if derived && errors.As(err, &se) && se.Status == http.StatusNotFound {
		admin := inspect.DefaultTarget + "/v1/stats"
		if bench.CheckStats(admin, 2*time.Second) == nil {
			if !f.Globals.Quiet {
				fmt.Fprintf(f.IO.ErrOut, "note: %s has no /v1/stats (auth on: serve keeps it on the admin listener); reading %s (%s to choose)\n", statsURL, admin, f.FlagRef(urlFlag))
			}
			return admin, nil
		}
	}
	if err != nil && !f.Globals.Quiet {
		fmt.Fprintf(f.IO.ErrOut, "warning: %v: the server's figures will be missing (%s none to skip, or its admin listener's /v1/stats when auth is on)\n", err, f.FlagRef(urlFlag))
	}
	return statsURL, nil
}

// checkStatsFlags is checkServerSampling's usage errors.
func checkStatsFlags(f *Factory, urlFlag, statsURL string, pid int) error {
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
	return nil
}

// writeHTMLFile writes a page with write to path, whole or not at all.
func writeHTMLFile(path string, write func(io.Writer) error) error {
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
