package mediabench

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/probe"
)

// Brief is a copy of r for stdout, without every subscriber's figures that
// only --out keeps.
func (r *Report) Brief() *Report {
	b := *r
	b.Results = nil
	b.Series = r.Series.Brief()
	return &b
}

// ReportKind is the kind of report r says it is (KindMedia for this one).
func (r *Report) ReportKind() string { return r.Kind }

// WriteTable prints r for people.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	p("target\t%s (%s)\n", r.Target, r.Protocol)
	bench.WriteTargets(tw, r.Targets)
	if r.Room != "" {
		p("room\t%s\n", r.Room)
	}
	p("settings\t%d subscribers at %.4g/s, %d publishers, hold %.4gs, procs %d\n",
		r.Settings.Subscribers, r.Settings.Rate, r.Settings.Publishers, r.Settings.HoldS, r.Settings.Procs)
	if r.Interrupted {
		p("interrupted\tyes: the figures cover the run until it was stopped\n")
	}
	s := r.Subscribers
	p("subscribers\tattempted %d  ok %d  failed %d  dropped %d\n", s.Attempted, s.OK, s.Failed, s.Dropped)
	if len(r.Errors) > 0 {
		p("errors\t%s\n", errorLine(r))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "first frame (ms)\tcount\tp50\tp90\tp95\tp99\tmax\t")
	row := func(name string, c int64, p50, p90, p95, p99, mx float64) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", name, c, p50, p90, p95, p99, mx)
	}
	ff := r.FirstFrameMS
	row("first_frame", ff.Count, ff.P50, ff.P90, ff.P95, ff.P99, ff.Max)
	for _, ph := range probe.Phases {
		if v, ok := r.PhasesMS[ph]; ok {
			row(ph, v.Count, v.P50, v.P90, v.P95, v.P99, v.Max)
		}
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "per subscriber\tmin\tp50\tp90\tp95\tp99\tmax\tmean\t")
	for _, f := range Figures {
		d := r.PerSubscriber[f]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", f, bench.Num(d.Min), bench.Num(d.P50), bench.Num(d.P90), bench.Num(d.P95), bench.Num(d.P99), bench.Num(d.Max), bench.Num(d.Mean))
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	t := r.Totals
	p = func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	p("totals\treceived %d packets (%s), %.0f kbps; lost %d (%.2f%%) after %d recovered; %d NACKs for %d packets; %d PLIs; %d frames; %d freezes (%.1fs)\n",
		t.Packets, bench.Bytes(float64(t.Bytes)), t.BitrateKbps, t.PacketsLost, t.LossPct, t.Late, t.NACKs, t.NACKedPackets, t.PLIs, t.Frames, t.Freezes, t.FreezeS)
	for _, g := range r.LayerMix {
		var mix []string
		for _, size := range g.sizes() {
			mix = append(mix, fmt.Sprintf("%s %d ending (%.0f%% of the time)", size, g.Final[size], g.TimeAtPct[size]))
		}
		p("layers %s\t%d subscribers: %s; switches p50 %s max %s; %d freezes (%.1fs); lost %.2f%%\n",
			g.Group, g.Subscribers, strings.Join(mix, ", "), bench.Num(g.Switches.P50), bench.Num(g.Switches.Max), g.Freezes, g.FreezeMS/1000, g.LossPct)
	}
	for i, pb := range r.Publishers {
		p("publisher %d\t%s %dx%d, %d frames, %d keyframes (%d on request), %d NACKs, %d PLIs\n",
			i+1, pb.Codec, pb.Width, pb.Height, pb.FramesSent, pb.KeyframesSent, pb.KeyframesOnPLI, pb.NACKs, pb.PLIs)
	}
	if sv := r.Server; sv != nil {
		cpu := "cpu n/a (--server-pid of a server on this machine gives it)"
		if sv.CPUCoresHold > 0 || sv.CPUCoresMax > 0 {
			cpu = fmt.Sprintf("cpu %.2f cores in hold (max %.2f), %.2f millicores/subscriber", sv.CPUCoresHold, sv.CPUCoresMax, sv.MillicoresPerSubscriber)
		}
		rss := "rss n/a"
		if sv.RSSPeakBytes > 0 {
			rss = "rss peak " + bench.Bytes(float64(sv.RSSPeakBytes))
		}
		if sv.Samples == 0 {
			// Zeros here would read as an idle server.
			p("server\t%s; %s; /v1/stats: no sample could be read\n", cpu, rss)
		} else {
			p("server\t%s; %s; heap peak %s; goroutines peak %d (%.1f/subscriber); out %.0f kbps; lost %d, NACKs %d, PLIs %d (%d samples)\n",
				cpu, rss, bench.Bytes(float64(sv.HeapPeakBytes)), sv.GoroutinesPeak, sv.GoroutinesPerSubscriber,
				sv.BitrateOutKbps, sv.PacketsLost, sv.NACKs, sv.PLIs, sv.Samples)
		}
	}
	c := r.Client
	p("generator\tcpu %.2fs, %.2f cores in hold, %.2f millicores/subscriber; rss peak %s (%s/subscriber); gc pause max %.1fms; schedule lag max %.0fms; UDP receive-buffer drops (machine) %d\n",
		c.CPUS, c.CPUCoresHold, c.MillicoresPerSubscriber, bench.Bytes(float64(c.RSSPeakBytes)), bench.Bytes(c.RSSBytesPerSubscriber),
		r.Generator.GCPauseMaxMS, r.Generator.ScheduleLagMaxMS, c.UDPRcvbufDrops)
	if r.Saturated {
		p("saturated\tyes: %s\n", strings.Join(r.Warnings, "; "))
	}
	tw.Flush()

	if len(r.Worst) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "worst\tfirst frame\tkbps\tlost\tjitter\tnacks\tplis\tfreezes\tframes\tproblem")
		for _, x := range r.Worst {
			problem := x.Error
			if x.Dropped {
				problem = "stream ended before the run"
			}
			fmt.Fprintf(tw, "#%d\t%.0fms\t%.0f\t%d (%.2f%%)\t%.1fms\t%d\t%d\t%d (%.0fms)\t%d\t%s\n",
				x.ID, x.FirstFrameMS, x.BitrateKbps, x.PacketsLost, x.LossPct, x.JitterMS, x.NACKs, x.PLIs, x.Freezes, x.FreezeMS, x.Frames, problem)
		}
		tw.Flush()
	}
	return nil
}

func errorLine(r *Report) string {
	keys := make([]string, 0, len(r.ErrorDetail))
	for k := range r.ErrorDetail {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if r.ErrorDetail[keys[i]] != r.ErrorDetail[keys[j]] {
			return r.ErrorDetail[keys[i]] > r.ErrorDetail[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, r.ErrorDetail[k])
	}
	return strings.Join(parts, ", ")
}

// Comparison is two media reports side by side.
type Comparison bench.ComparisonOf[Report, Row]

// Row is one compared figure: Delta is B−A, DeltaPct relative to A.
type Row struct {
	Name     string  `json:"name"`
	A        float64 `json:"a"`
	B        float64 `json:"b"`
	Delta    float64 `json:"delta"`
	DeltaPct float64 `json:"delta_pct,omitempty"`
	// Change is bench.Better or bench.Worse, or absent when it did not
	// move or has no better direction.
	Change string `json:"change,omitempty"`
}

// Compare lines up the headline figures of a and b.
func (a *Report) Compare(b *Report) *Comparison {
	c := &Comparison{A: a, B: b}
	add := func(name string, x, y float64) {
		d, p, _ := bench.Change(x, y)
		c.Rows = append(c.Rows, Row{Name: name, A: x, B: y, Delta: round2(d), DeltaPct: p, Change: bench.Verdict(name, d)})
	}
	add("subscribers.ok", float64(a.Subscribers.OK), float64(b.Subscribers.OK))
	add("subscribers.failed", float64(a.Subscribers.Failed), float64(b.Subscribers.Failed))
	add("first_frame.p50", a.FirstFrameMS.P50, b.FirstFrameMS.P50)
	add("first_frame.p95", a.FirstFrameMS.P95, b.FirstFrameMS.P95)
	for _, f := range []string{"bitrate_kbps", "loss_pct", "jitter_ms", "freezes"} {
		add(f+".p50", a.PerSubscriber[f].P50, b.PerSubscriber[f].P50)
		add(f+".p95", a.PerSubscriber[f].P95, b.PerSubscriber[f].P95)
	}
	add("totals.loss_pct", a.Totals.LossPct, b.Totals.LossPct)
	add("totals.nacks", float64(a.Totals.NACKs), float64(b.Totals.NACKs))
	add("client.millicores_per_subscriber", a.Client.MillicoresPerSubscriber, b.Client.MillicoresPerSubscriber)
	if a.Server != nil && b.Server != nil {
		add("server.millicores_per_subscriber", a.Server.MillicoresPerSubscriber, b.Server.MillicoresPerSubscriber)
	}
	return c
}

// WriteTable prints c, a comparison of files named nameA and nameB, for
// people.
func (c *Comparison) WriteTable(w io.Writer, nameA, nameB string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\t%s\t%s\tchange\t\t\n", nameA, nameB)
	for _, r := range c.Rows {
		pct := ""
		if r.DeltaPct != 0 {
			pct = fmt.Sprintf(" (%+.1f%%)", r.DeltaPct)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%+g%s\t%s\t\n", r.Name, bench.Num(r.A), bench.Num(r.B), r.Delta, pct, r.Change)
	}
	return tw.Flush()
}
