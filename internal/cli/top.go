package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/livectl/livectl/internal/report"
	"github.com/livectl/livectl/internal/stats"
	"github.com/livectl/livectl/internal/tlsconf"
	"github.com/livectl/livectl/internal/top"
)

// TopOptions are the resolved settings of `livectl top`.
type TopOptions struct {
	Target   string
	Admin    string
	Interval time.Duration
	History  time.Duration
	Once     bool
	TLS      tlsconf.Client
}

func newTopCmd(f *Factory) *cobra.Command {
	o := &TopOptions{}
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Live terminal dashboard of a running livectl server",
		Long: `top polls a running 'livectl serve' and shows its totals with sparklines,
a sortable, filterable rooms table and, from the admin listener, the largest
goroutine groups. It survives the server going away: the screen says so and
top reconnects with backoff.

Keys: q quit, ? help, / filter, s sort (S reverses), p pause, tab switch view,
r retry now, arrows/j/k scroll.

For scripts, --once prints one snapshot (two polls --interval apart, so that
bitrates and loss can be derived from the server's counters) as a table or,
with -o json, as one JSON document.`,
		Example: `  livectl top --target http://127.0.0.1:7880 --admin http://127.0.0.1:6060
  livectl top --once -o json | jq .rates.bitrate_in_bps`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTop(cmd.Context(), f, o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Target, "target", "http://127.0.0.1:7880", "base URL of the livectl server (its /v1/stats is polled)")
	fl.StringVar(&o.Admin, "admin", "http://127.0.0.1:6060", "base URL of the server's admin (pprof) listener for the goroutine view; empty disables it")
	fl.DurationVar(&o.Interval, "interval", top.DefaultInterval, "time between polls of /v1/stats")
	fl.DurationVar(&o.History, "history", top.DefaultHistory, "time window the sparklines cover")
	fl.BoolVar(&o.Once, "once", false, "print one snapshot (table, or JSON with -o json) and exit")
	addClientTLS(fl, &o.TLS)
	return cmd
}

func runTop(ctx context.Context, f *Factory, o *TopOptions) error {
	if o.Interval < 100*time.Millisecond {
		return UsageErrorf("%s must be at least 100ms, got %s", f.FlagRef("interval"), o.Interval)
	}
	if o.History < o.Interval {
		return UsageErrorf("%s (%s) must be at least --interval (%s)", f.FlagRef("history"), o.History, o.Interval)
	}
	tlsCfg, err := clientTLS(f, o.TLS)
	if err != nil {
		return err
	}
	src, err := top.NewHTTPStats(o.Target, tlsCfg)
	if err != nil {
		return UsageErrorf("%s: %v", f.FlagRef("target"), err)
	}
	defer src.Close()
	if o.Admin != "" {
		// A server with auth on serves stats on its admin listener only.
		if src.Fallback, err = top.StatsURL(o.Admin); err != nil {
			return UsageErrorf("%s: %v", f.FlagRef("admin"), err)
		}
	}
	admin, err := top.NewAdminSource(o.Admin, tlsCfg)
	if err != nil {
		return UsageErrorf("%s: %v", f.FlagRef("admin"), err)
	}
	// A nil *AdminSource must become a nil interface, or the model would
	// think it has a goroutine source.
	var grs top.GoroutineSource
	if admin != nil {
		defer admin.Close()
		grs = admin
	}

	if o.Once {
		rep, err := top.Once(ctx, top.OnceOptions{
			Target: o.Target, Interval: o.Interval, Stats: src, Goroutines: grs, TopGroups: 10,
		})
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return fmt.Errorf("interrupted before the snapshot was taken")
		case errors.As(err, new(*stats.StatusError)):
			return fmt.Errorf("%w (is --target a livectl server?)", err)
		default:
			return fmt.Errorf("%w (is 'livectl serve' running there? check --target)", err)
		}
		if f.Globals.JSON() {
			return report.WriteJSON(f.IO.Out, rep)
		}
		return rep.WriteTable(f.IO.Out)
	}

	if f.Globals.JSON() {
		return UsageErrorf("%s json needs --once: the live dashboard has no JSON form", f.FlagRef("output"))
	}
	if !f.IO.OutTTY {
		return UsageErrorf("top draws a live dashboard and needs a terminal on stdout; " +
			"for scripts use 'livectl top --once -o json' (or -o table)")
	}
	m := top.New(top.Options{
		Target: o.Target, Admin: o.Admin, Interval: o.Interval, History: o.History,
		Stats: src, Goroutines: grs, Cluster: src,
	})
	opts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithContext(ctx), tea.WithOutput(f.IO.Out)}
	if in, ok := f.IO.In.(*os.File); ok && !isatty.IsTerminal(in.Fd()) {
		// stdin is a pipe or file but stdout is a terminal: read keys from
		// the controlling terminal so q still quits.
		opts = append(opts, tea.WithInputTTY())
	} else {
		opts = append(opts, tea.WithInput(f.IO.In))
	}
	p := tea.NewProgram(m, opts...)
	if _, err := p.Run(); err != nil {
		if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
			return nil // SIGINT/SIGTERM: a normal way to leave
		}
		return err
	}
	return nil
}
