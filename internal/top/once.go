package top

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/livectl/livectl/internal/inspect"
	"github.com/livectl/livectl/internal/stats"
)

// OnceReport is the document `livectl top --once -o json` prints: the raw
// server snapshot plus the rates derived from two polls Interval apart.
type OnceReport struct {
	Target string    `json:"target"`
	Time   time.Time `json:"time"`
	// Rates is absent when the server restarted between the two polls
	// (see Restarted).
	Rates *Rates          `json:"rates,omitempty"`
	Stats *stats.Snapshot `json:"stats"`
	// Goroutines holds the top goroutine groups when an admin listener was
	// given and answered; GoroutinesError says why not when it did not.
	Goroutines      *GoroutineSummary `json:"goroutines,omitempty"`
	GoroutinesError string            `json:"goroutines_error,omitempty"`
}

// OnceOptions configure Once.
type OnceOptions struct {
	Target string
	// Interval between the two polls that rates are derived from; 0 takes
	// one poll and reports no rates.
	Interval   time.Duration
	Stats      StatsSource
	Goroutines GoroutineSource // optional
	// TopGroups is how many goroutine groups to include.
	TopGroups int
	// Timeout bounds each request, so a black-holed target fails instead
	// of hanging a script. Default 10s.
	Timeout time.Duration
	Now     func() time.Time
}

func (o *OnceOptions) fetch(ctx context.Context) (*stats.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	return o.Stats.FetchStats(ctx)
}

// Once takes one snapshot (two polls, for rates) for scripts.
func Once(ctx context.Context, o OnceOptions) (*OnceReport, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	firstStart := o.Now()
	first, err := o.fetch(ctx)
	if err != nil {
		return nil, err
	}
	firstAt := o.Now()
	rep := &OnceReport{Target: o.Target, Time: firstAt.UTC(), Stats: first}
	if o.Interval > 0 {
		select {
		case <-time.After(o.Interval):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		start := o.Now()
		second, err := o.fetch(ctx)
		if err != nil {
			return nil, err
		}
		at := o.Now()
		rep.Time, rep.Stats = at.UTC(), second
		if r, ok := Derive(Poll{first, firstStart, firstAt}, Poll{second, start, at}); ok {
			rep.Rates = &r
		}
	}
	if o.Goroutines != nil {
		n := o.TopGroups
		if n <= 0 {
			n = 10
		}
		gctx, cancel := context.WithTimeout(ctx, o.Timeout)
		sum, err := o.Goroutines.TopGoroutines(gctx, n)
		cancel()
		if err != nil {
			rep.GoroutinesError = err.Error()
		} else {
			rep.Goroutines = sum
		}
	}
	return rep, nil
}

// WriteTable prints the report for people: totals, then rooms, then goroutine groups.
func (r *OnceReport) WriteTable(w io.Writer) error {
	s := r.Stats
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "target\t%s\n", r.Target)
	if s.Version != "" {
		fmt.Fprintf(tw, "version\t%s\n", s.Version)
	}
	if s.State != "" {
		fmt.Fprintf(tw, "state\t%s\n", s.State)
	}
	fmt.Fprintf(tw, "uptime\t%s\n", formatUptime(s.UptimeS))
	fmt.Fprintf(tw, "connections\t%d\n", s.Connections)
	fmt.Fprintf(tw, "rooms\t%d\n", roomCount(s))
	fmt.Fprintf(tw, "participants\t%d\n", s.Participants)
	fmt.Fprintf(tw, "tracks\t%d published, %d subscribed\n", s.TracksPublished, s.TracksSubscribed)
	if r.Rates != nil {
		fmt.Fprintf(tw, "bitrate\t%s in, %s out\n", formatBits(r.Rates.BitrateInBps), formatBits(r.Rates.BitrateOutBps))
		fmt.Fprintf(tw, "loss\t%s\n", formatPct(r.Rates.LossPct))
	}
	fmt.Fprintf(tw, "goroutines\t%d\n", s.Goroutines)
	fmt.Fprintf(tw, "heap\t%s\n", formatBytes(float64(s.HeapBytes)))
	fmt.Fprintf(tw, "gc pause p99\t%s\n", formatPause(float64(s.GCPauseNsP99)))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Rooms) > 0 {
		rooms := append([]stats.Room(nil), s.Rooms...)
		SortRooms(rooms, SortParticipants, false)
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		cols := allRoomCols(rooms)
		fmt.Fprint(tw, "ROOM")
		for _, c := range cols {
			fmt.Fprint(tw, "\t"+c.title)
		}
		fmt.Fprintln(tw)
		for _, rm := range rooms {
			fmt.Fprint(tw, rm.Name)
			for _, c := range cols {
				fmt.Fprint(tw, "\t"+c.cell(rm))
			}
			fmt.Fprintln(tw)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	switch {
	case r.Goroutines != nil:
		fmt.Fprintf(w, "\ngoroutines: %d in %d groups shown\n", r.Goroutines.Total, len(r.Goroutines.Groups))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "COUNT\tSTATE\tTOP FUNCTION")
		for _, g := range r.Goroutines.Groups {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", g.Count, g.State, inspect.ShortFunc(g.Top))
		}
		return tw.Flush()
	case r.GoroutinesError != "":
		fmt.Fprintf(w, "\ngoroutines: %s\n", strings.TrimSpace(r.GoroutinesError))
	}
	return nil
}
