package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/livectl/livectl/internal/inspect"
	"github.com/livectl/livectl/internal/report"
	"github.com/livectl/livectl/internal/tlsconf"
)

// inspectOptions are the flags shared by every inspect subcommand.
type inspectOptions struct {
	Target  string
	Timeout time.Duration
	TLS     tlsconf.Client
}

func (o *inspectOptions) client(f *Factory) (*inspect.Client, error) {
	tlsCfg, err := clientTLS(f, o.TLS)
	if err != nil {
		return nil, err
	}
	var hc *http.Client
	if tlsCfg != nil {
		hc = &http.Client{Transport: tlsconf.Transport(tlsCfg)}
	}
	c, err := inspect.NewClient(o.Target, hc)
	if err != nil {
		return nil, UsageErrorf("%s: %v", f.FlagRef("target"), err)
	}
	if o.Timeout <= 0 {
		return nil, UsageErrorf("%s must be positive, got %s", f.FlagRef("timeout"), o.Timeout)
	}
	c.Timeout = o.Timeout
	return c, nil
}

func newInspectCmd(f *Factory) *cobra.Command {
	o := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect",
		Short: "Goroutine dumps, leak diffs, heap and CPU tops from any Go process with net/http/pprof",
		Long: `inspect pulls pprof profiles from a Go process that exposes net/http/pprof
(livectl serve does on its admin listener, --admin-listen, default ` + inspect.DefaultTarget + `)
and turns them into tables for people or JSON for scripts. Raw profiles can be
saved and stay readable by 'go tool pprof'.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.Target, "target", inspect.DefaultTarget, "base URL of the process's pprof listener")
	pf.DurationVar(&o.Timeout, "timeout", inspect.DefaultTimeout, "timeout of each request (a CPU profile adds its duration)")
	addClientTLS(pf, &o.TLS)
	cmd.AddCommand(
		newInspectGoroutinesCmd(f, o),
		newInspectHeapCmd(f, o),
		newInspectCPUCmd(f, o),
		newInspectBundleCmd(f, o),
	)
	withInspectHints(cmd)
	return cmd
}

type goroutinesOptions struct {
	*inspectOptions
	States  bool
	Stacks  bool
	Depth   int
	Filter  string
	Top     int
	Save    string
	Diff    bool
	Watch   time.Duration
	Samples int
	Asserts []string
	// samplesGiven: --samples was on the command line (it means nothing
	// without --watch).
	samplesGiven bool
}

func newInspectGoroutinesCmd(f *Factory, common *inspectOptions) *cobra.Command {
	o := &goroutinesOptions{inspectOptions: common}
	cmd := &cobra.Command{
		Use:   "goroutines [--diff A B]",
		Short: "Group goroutines by stack; rank growing groups as leak suspects",
		Example: `  livectl inspect goroutines --states --top 10
  livectl inspect goroutines --filter 'server\.' --depth 3
  livectl inspect goroutines --save before.pb.gz        # later: --save after.pb.gz
  livectl inspect goroutines --diff before.pb.gz after.pb.gz
  livectl inspect goroutines --watch 10s --samples 6 --assert 'growth<100'`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.samplesGiven = f.flagLevel(cmd.Flags(), "samples") == 3
			return runInspectGoroutines(cmd.Context(), f, o, args)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.States, "states", false, "also fetch the debug=2 dump: states, wait times and creators per group")
	fl.BoolVar(&o.Stacks, "stacks", false, "print each group's full stack under the table")
	fl.IntVar(&o.Depth, "depth", 0, "group by the top N frames instead of the whole stack (0: identical stacks)")
	fl.StringVar(&o.Filter, "filter", "", "keep groups with a frame (function or file:line) matching this regexp")
	fl.IntVar(&o.Top, "top", 20, "show the N largest groups (0: all)")
	fl.StringVar(&o.Save, "save", "", "write the raw goroutine profile to FILE (with --watch: FILE.1, FILE.2, …)")
	fl.BoolVar(&o.Diff, "diff", false, "compare saved profiles given as arguments (A B) instead of fetching")
	fl.DurationVar(&o.Watch, "watch", 0, "sample the target every INTERVAL and rank groups by growth")
	fl.IntVar(&o.Samples, "samples", 5, "number of samples with --watch")
	fl.StringArrayVar(&o.Asserts, "assert", nil, "fail with exit 3 unless these hold, e.g. 'growth<100,total<5000' (metrics: growth, total_growth, total, suspects, groups; may be repeated)")
	return cmd
}

func runInspectGoroutines(ctx context.Context, f *Factory, o *goroutinesOptions, args []string) error {
	// Validate every flag before touching the network: usage errors exit 2.
	opts := inspect.GroupOptions{Depth: o.Depth, Top: o.Top}
	switch {
	case o.Depth < 0:
		return UsageErrorf("%s must be 0 or more, got %d", f.FlagRef("depth"), o.Depth)
	case o.Top < 0:
		return UsageErrorf("%s must be 0 or more, got %d", f.FlagRef("top"), o.Top)
	case o.Diff && o.Watch > 0:
		return UsageErrorf("%s and %s cannot be combined: compare saved files or watch a live target", f.FlagRef("diff"), f.FlagRef("watch"))
	case o.Diff && len(args) < 2:
		return UsageErrorf("%s needs two saved profiles: livectl inspect goroutines --diff A.pb.gz B.pb.gz", f.FlagRef("diff"))
	case !o.Diff && len(args) > 0:
		return UsageErrorf("unexpected arguments %q; to compare saved profiles use --diff A B", args)
	case o.Diff && o.States:
		return UsageErrorf("%s needs a live target; saved profiles carry no states", f.FlagRef("states"))
	case o.Watch < 0:
		return UsageErrorf("%s must be positive, got %s", f.FlagRef("watch"), o.Watch)
	case o.Watch == 0 && o.samplesGiven:
		return UsageErrorf("%s needs %s INTERVAL (one fetch takes one sample)", f.FlagRef("samples"), f.FlagRef("watch"))
	case o.Watch > 0 && o.Samples < 2:
		return UsageErrorf("%s must be at least 2 with --watch, got %d", f.FlagRef("samples"), o.Samples)
	}
	if o.Filter != "" {
		re, err := regexp.Compile(o.Filter)
		if err != nil {
			return UsageErrorf("%s: invalid regexp: %v", f.FlagRef("filter"), err)
		}
		opts.Filter = re
	}
	asserts, err := parseAsserts(f, o.Asserts, (&inspect.Series{}).Metrics())
	if err != nil {
		return err
	}
	if err := checkWritable(f, "save", o.Save); err != nil {
		return err
	}

	var series *inspect.Series
	switch {
	case o.Diff:
		var samples []*inspect.GoroutineProfile
		for _, path := range args {
			gp, err := inspect.LoadGoroutineProfile(path)
			if err != nil {
				return err
			}
			samples = append(samples, gp)
		}
		s, err := inspect.Compare(samples, opts)
		if err != nil {
			return err
		}
		series = s
	case o.Watch > 0:
		c, err := o.client(f)
		if err != nil {
			return err
		}
		s, err := watchGoroutines(ctx, f, c, o, opts)
		if err != nil {
			return err
		}
		series = s
	default:
		c, err := o.client(f)
		if err != nil {
			return err
		}
		gp, err := c.FetchGoroutines(ctx)
		if err != nil {
			return err
		}
		if o.States {
			if opts.Dump, err = c.FetchGoroutineDump(ctx); err != nil {
				return err
			}
		}
		if err := saveFile(f, o.Save, gp.Raw); err != nil {
			return err
		}
		rep := inspect.GroupProfile(gp, opts)
		if f.Globals.JSON() {
			if err := report.WriteJSON(f.IO.Out, rep); err != nil {
				return err
			}
		} else if err := inspect.WriteGoroutineTable(f.IO.Out, rep, o.Stacks); err != nil {
			return err
		}
		return checkAsserts(f, asserts, (&inspect.Series{Report: *rep}).Metrics())
	}

	if f.Globals.JSON() {
		if err := report.WriteJSON(f.IO.Out, series); err != nil {
			return err
		}
	} else {
		if err := inspect.WriteSeriesTable(f.IO.Out, series); err != nil {
			return err
		}
		if o.Stacks {
			fmt.Fprintln(f.IO.Out)
			if err := inspect.WriteGoroutineTable(f.IO.Out, &series.Report, true); err != nil {
				return err
			}
		}
	}
	return checkAsserts(f, asserts, series.Metrics())
}

// watchGoroutines samples the target and ranks growth. Progress goes to
// stderr (one updating line on a terminal, plain lines otherwise). An
// interrupt after two samples still reports what was seen.
func watchGoroutines(ctx context.Context, f *Factory, c *inspect.Client, o *goroutinesOptions, opts inspect.GroupOptions) (*inspect.Series, error) {
	var first int64
	progress := func(i int, gp *inspect.GoroutineProfile) {
		if i == 0 {
			first = gp.Total()
		}
		if o.Save != "" {
			if err := saveFile(f, numberedPath(o.Save, i+1), gp.Raw); err != nil {
				f.Logger.Warn("saving sample", "err", err)
			}
		}
		if f.Globals.Quiet {
			return
		}
		line := fmt.Sprintf("sample %d/%d: %d goroutines (%+d since the first)", i+1, o.Samples, gp.Total(), gp.Total()-first)
		if i+1 < o.Samples {
			line += fmt.Sprintf(", next in %s", o.Watch)
		}
		if f.IO.ErrTTY {
			end := ""
			if i+1 == o.Samples {
				end = "\n"
			}
			fmt.Fprintf(f.IO.ErrOut, "\r\033[K%s%s", line, end)
		} else {
			fmt.Fprintln(f.IO.ErrOut, line)
		}
	}
	samples, err := c.Watch(ctx, inspect.WatchOptions{Interval: o.Watch, Samples: o.Samples, OnSample: progress})
	interrupted := err != nil && ctx.Err() != nil
	if err != nil {
		if interrupted && len(samples) < 2 {
			return nil, fmt.Errorf("interrupted after %d sample(s) of %s: growth needs two", len(samples), c.Target())
		}
		if !interrupted {
			return nil, err
		}
		if f.IO.ErrTTY && !f.Globals.Quiet {
			fmt.Fprintln(f.IO.ErrOut)
		}
		fmt.Fprintf(f.IO.ErrOut, "interrupted: reporting the %d samples taken\n", len(samples))
		ctx = context.WithoutCancel(ctx)
	}
	if o.States {
		if opts.Dump, err = c.FetchGoroutineDump(ctx); err != nil {
			return nil, err
		}
	}
	s, err := inspect.Compare(samples, opts)
	if s != nil {
		s.Interrupted = interrupted
	}
	return s, err
}

// numberedPath turns goroutines.pb.gz into goroutines.3.pb.gz.
func numberedPath(path string, n int) string {
	for _, ext := range []string{".pb.gz", ".pb", ".gz"} {
		if strings.HasSuffix(path, ext) {
			return fmt.Sprintf("%s.%d%s", strings.TrimSuffix(path, ext), n, ext)
		}
	}
	return fmt.Sprintf("%s.%d", path, n)
}

// saveFile writes a raw profile; "" does nothing.
func saveFile(f *Factory, path string, data []byte) error {
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("saving raw profile: %w", err)
	}
	if !f.Globals.Quiet {
		fmt.Fprintf(f.IO.ErrOut, "saved raw profile to %s (open with: go tool pprof %s)\n", path, path)
	}
	return nil
}

type topOptions struct {
	*inspectOptions
	Sample  string
	Top     int
	Cum     bool
	GC      bool
	Seconds int
	Save    string
	NoSave  bool
}

func (o *topOptions) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.IntVar(&o.Top, "top", 20, "show the N functions with the largest values (0: all)")
	fl.BoolVar(&o.Cum, "cum", false, "sort by cumulative instead of flat value")
	fl.StringVar(&o.Save, "save", "", "where to write the raw profile (default: livectl-<kind>-<time>.pb.gz here)")
	fl.BoolVar(&o.NoSave, "no-save", false, "do not keep the raw profile")
}

// validate checks the flags heap and cpu share, before the profile is
// fetched (a CPU profile takes --seconds).
func (o *topOptions) validate(f *Factory) error {
	switch {
	case o.Top < 0:
		return UsageErrorf("%s must be 0 or more, got %d", f.FlagRef("top"), o.Top)
	case o.Save != "" && o.NoSave:
		return UsageErrorf("%s and %s cannot be combined", f.FlagRef("save"), f.FlagRef("no-save"))
	}
	return checkWritable(f, "save", o.Save)
}

func newInspectHeapCmd(f *Factory, common *inspectOptions) *cobra.Command {
	o := &topOptions{inspectOptions: common}
	cmd := &cobra.Command{
		Use:   "heap",
		Short: "Top functions by heap in use or allocated (flat and cumulative)",
		Example: `  livectl inspect heap
  livectl inspect heap --sample alloc_space --cum --top 30`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(f)
			if err != nil {
				return err
			}
			if err := o.validate(f); err != nil {
				return err
			}
			switch o.Sample {
			case "inuse_space", "inuse_objects", "alloc_space", "alloc_objects":
			default:
				return UsageErrorf("%s: invalid sample type %q: want inuse_space, inuse_objects, alloc_space or alloc_objects", f.FlagRef("sample"), o.Sample)
			}
			fp, err := c.FetchHeap(cmd.Context(), o.GC)
			if err != nil {
				return err
			}
			return reportTop(f, o, fp, "heap")
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.Sample, "sample", "inuse_space", "inuse_space, inuse_objects, alloc_space or alloc_objects")
	cmd.Flags().BoolVar(&o.GC, "gc", false, "ask the process to run a GC first so in-use figures are current")
	_ = cmd.RegisterFlagCompletionFunc("sample", fixedCompletions("inuse_space", "inuse_objects", "alloc_space", "alloc_objects"))
	return cmd
}

func newInspectCPUCmd(f *Factory, common *inspectOptions) *cobra.Command {
	o := &topOptions{inspectOptions: common}
	cmd := &cobra.Command{
		Use:     "cpu",
		Short:   "Record a CPU profile for --seconds and show the top functions",
		Example: `  livectl inspect cpu --seconds 30 --top 25`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(f)
			if err != nil {
				return err
			}
			if err := o.validate(f); err != nil {
				return err
			}
			if o.Seconds < 1 {
				return UsageErrorf("%s must be at least 1, got %d", f.FlagRef("seconds"), o.Seconds)
			}
			if !f.Globals.Quiet {
				fmt.Fprintf(f.IO.ErrOut, "recording a %ds CPU profile from %s…\n", o.Seconds, c.Target())
			}
			fp, err := c.FetchCPU(cmd.Context(), time.Duration(o.Seconds)*time.Second)
			if err != nil {
				return err
			}
			return reportTop(f, o, fp, "cpu")
		},
	}
	o.addFlags(cmd)
	cmd.Flags().IntVar(&o.Seconds, "seconds", 10, "how long to record")
	return cmd
}

func reportTop(f *Factory, o *topOptions, fp *inspect.Fetched, kind string) error {
	r, err := inspect.Top(fp.Profile, kind, inspect.TopOptions{SampleType: o.Sample, SortByCum: o.Cum, N: o.Top})
	if err != nil {
		return fmt.Errorf("reading %s: %w", fp.Raw.URL, err)
	}
	r.Target = fp.Raw.URL
	if r.At.IsZero() {
		r.At = fp.Raw.FetchedAt.UTC()
	}
	// The raw profile is kept by default; where the default place (the
	// working directory) takes no file, that is a warning, not a reason
	// to drop the report of a profile that took --seconds to record.
	var saveErr error
	if !o.NoSave {
		path := o.Save
		if path == "" {
			path = fmt.Sprintf("livectl-%s-%s.pb.gz", kind, fp.Raw.FetchedAt.UTC().Format("20060102T150405.000Z"))
		}
		switch err := saveFile(f, path, fp.Raw.Body); {
		case err == nil:
			r.Saved = path
		case o.Save != "":
			saveErr = fmt.Errorf("%s: %w", f.FlagRef("save"), err)
		default:
			fmt.Fprintf(f.IO.ErrOut, "warning: %v (keep it elsewhere with --save FILE, or pass --no-save)\n", err)
		}
	}
	if f.Globals.JSON() {
		err = report.WriteJSON(f.IO.Out, r)
	} else {
		err = inspect.WriteTopTable(f.IO.Out, r)
	}
	return errors.Join(err, saveErr)
}

type bundleOptions struct {
	*inspectOptions
	Out     string
	Seconds int
	Stats   string
	Top     int
}

func newInspectBundleCmd(f *Factory, common *inspectOptions) *cobra.Command {
	o := &bundleOptions{inspectOptions: common}
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "Collect goroutines, heap, CPU and /v1/stats into one .tar.gz for an incident",
		Example: `  livectl inspect bundle --out incident.tar.gz --stats http://127.0.0.1:7880/v1/stats
  tar -xzf incident.tar.gz && cat summary.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(f)
			if err != nil {
				return err
			}
			if o.Seconds < 0 {
				return UsageErrorf("%s must be 0 (no CPU profile) or more, got %d", f.FlagRef("seconds"), o.Seconds)
			}
			if err := checkWritable(f, "out", o.Out); err != nil {
				return err
			}
			out := o.Out
			if out == "" {
				out = "livectl-bundle-" + time.Now().UTC().Format("20060102T150405Z") + ".tar.gz"
			}
			var progress func(string)
			if !f.Globals.Quiet {
				progress = func(msg string) { fmt.Fprintln(f.IO.ErrOut, msg+"…") }
			}
			res, err := c.Bundle(cmd.Context(), out, inspect.BundleOptions{
				CPU: time.Duration(o.Seconds) * time.Second, StatsURL: o.Stats, Top: o.Top, Progress: progress,
			})
			if res == nil {
				return err
			}
			if f.Globals.JSON() {
				if werr := report.WriteJSON(f.IO.Out, res); werr != nil {
					return werr
				}
			} else {
				fmt.Fprintf(f.IO.Out, "wrote %s (%d goroutines at %s):\n", res.Out, res.Goroutines, res.At.Format(time.RFC3339))
				for _, file := range res.Files {
					fmt.Fprintf(f.IO.Out, "  %-22s %d bytes\n", file.Name, file.Bytes)
				}
				for _, m := range res.Missing {
					fmt.Fprintf(f.IO.Out, "  missing: %s\n", m)
				}
				if res.NoStats {
					fmt.Fprintln(f.IO.Out, "  (not a livectl server's admin listener? give --stats with its /v1/stats URL, or --stats none)")
				}
			}
			if errors.Is(err, inspect.ErrBundleIncomplete) {
				return fmt.Errorf("%w; the rest is in the archive", err)
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Out, "out", "", "archive to write (default livectl-bundle-<time>.tar.gz here)")
	fl.IntVar(&o.Seconds, "seconds", 5, "CPU profile length (0: no CPU profile)")
	fl.StringVar(&o.Stats, "stats", "", "the /v1/stats URL to include (default: the target's, which livectl serve's admin listener serves; none: skip; noted when unreachable)")
	fl.IntVar(&o.Top, "top", 15, "rows per table in summary.txt")
	return cmd
}
