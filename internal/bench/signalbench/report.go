package signalbench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/metrics/hist"
	"github.com/livectl/livectl/internal/metrics/threshold"
	"github.com/livectl/livectl/internal/report"
)

// KindSignal is the "kind" of a bench signal report.
const KindSignal = "signal"

// Latency names in a report. connect and join are the SPEC's; the others
// make the coordinated-omission correction visible.
const (
	LatConnect    = "connect"     // scheduled start → welcome (open model: stalls count)
	LatConnectRaw = "connect_raw" // actual dial start → welcome
	LatJoin       = "join"        // join request → joined
	LatSetup      = "setup"       // scheduled start → joined
	LatRTT        = "rtt"         // ping's scheduled tick → pong, corrected for skipped pings
	LatRTTRaw     = "rtt_raw"     // ping sent → pong
	// LatChat (chat.go): a chat message's client_time → its receipt.
)

// SeriesLatencies are the latencies a report's Series holds per step
// (and LatChat, in a run with chat); rtt there is each pong's round trip
// from its scheduled tick, without the correction for skipped pings that
// the whole run's rtt has.
var SeriesLatencies = []string{LatConnect, LatJoin, LatRTT}

// LatencyNames lists the latencies of a signal report in display order.
var LatencyNames = []string{LatConnect, LatConnectRaw, LatJoin, LatSetup, LatRTT, LatRTTRaw, LatChat}

// Report is the result of `bench signal`. The fields named in SPEC.md are
// stable; the rest may grow.
type Report struct {
	Kind   string `json:"kind"`
	Target string `json:"target"`
	// Targets count the sessions sent to each URL when the run spread
	// them over several (Target then lists them, comma-separated).
	Targets   []bench.TargetCount `json:"targets,omitempty"`
	Protocol  string              `json:"protocol"`
	DurationS float64             `json:"duration_s"`
	// Runs is how many runs (files or child processes) were merged into this one.
	Runs int `json:"runs"`
	// Interrupted says the run was stopped before it finished.
	Interrupted bool                    `json:"interrupted,omitempty"`
	Settings    Settings                `json:"settings"`
	Connections Connections             `json:"connections"`
	Errors      map[string]int64        `json:"errors"`
	ErrorDetail map[string]int64        `json:"error_detail,omitempty"`
	Latency     map[string]hist.Summary `json:"latency_ms"`
	Rate        Rate                    `json:"rate"`
	Client      Client                  `json:"client"`
	Server      *ServerCost             `json:"server,omitempty"`
	Generator   bench.Generator         `json:"generator"`
	// Chat is there when the run sent chat (--chat-rate).
	Chat *Chat `json:"chat,omitempty"`
	// Series is the run second by second (coarser past
	// bench.MaxSeriesPoints): sessions open, attempts, failures and the
	// SeriesLatencies of each step, and chat's in a run with chat.
	Series *bench.Series `json:"series,omitempty"`
	// Envelope: the run's context (start, end, version, host, settings)
	// and its assertions' outcomes.
	report.Envelope
	// Histograms are the full distributions behind Latency, written by
	// --out so that `bench report` can merge runs exactly.
	Histograms map[string]*hist.Histogram `json:"histograms,omitempty"`
}

// Settings echo what was asked for.
type Settings struct {
	Conns          int     `json:"conns"`
	Rate           float64 `json:"rate"`
	HoldS          float64 `json:"hold_s"`
	PingIntervalMS float64 `json:"ping_interval_ms"`
	Rooms          int     `json:"rooms"`
	RoomSize       int     `json:"room_size"` // members of the largest room
	SourceIPs      int     `json:"source_ips"`
	Procs          int     `json:"procs"`
	ChatRate       float64 `json:"chat_rate,omitempty"` // per room
	ChatSenders    int     `json:"chat_senders,omitempty"`
}

// Connections count sessions.
type Connections struct {
	Attempted   int64 `json:"attempted"`
	Established int64 `json:"established"` // connected and joined
	Failed      int64 `json:"failed"`      // never established
	PeakOpen    int64 `json:"peak_open"`
	// Dropped sessions were established and then ended by the server or
	// the network before the leave phase.
	Dropped int64 `json:"dropped"`
	// LeaveFailed sessions were open at the leave phase and their leave
	// failed (timed out, or the connection broke during it); the error is
	// counted by kind as well. They are not dropped.
	LeaveFailed int64 `json:"leave_failed"`
}

// Rate is throughput.
type Rate struct {
	ConnectsPerS float64 `json:"connects_per_s"` // established per second of ramp
	MessagesPerS float64 `json:"messages_per_s"` // frames sent+received per second of run
	Messages     int64   `json:"messages"`
	RampS        float64 `json:"ramp_s"`
	// ChatDeliveriesPerS is chat messages delivered per second of chat.
	ChatDeliveriesPerS float64 `json:"chat_deliveries_per_s,omitempty"`
}

// Client is the generator's own cost.
type Client struct {
	CPUS         float64 `json:"cpu_s"`
	RSSPeakBytes uint64  `json:"rss_peak_bytes"`
	// BytesPerSession is the resident memory added per open session (RSS at
	// the end of the ramp minus before it, over sessions open);
	// GoBytesPerSession the Go heap and stacks in use after a GC, same basis.
	BytesPerSession   float64 `json:"bytes_per_session"`
	GoBytesPerSession float64 `json:"go_bytes_per_session"`
	// RampCPUUSPerSession is the generator's CPU time (µs) during the ramp
	// per established session.
	RampCPUUSPerSession float64 `json:"ramp_cpu_us_per_session"`
}

// ServerCost is the target's cost per session, from its /v1/stats before
// and after the ramp (and its RSS when it runs on this machine).
type ServerCost struct {
	Sessions            int64   `json:"sessions"`
	HeapBytesPerSession float64 `json:"heap_bytes_per_session"`
	GoroutinesPerSess   float64 `json:"goroutines_per_session"`
	RSSBytesPerSession  float64 `json:"rss_bytes_per_session,omitempty"`
	ConnectionsPeak     int64   `json:"connections_peak"`
	RSSPeakBytes        uint64  `json:"rss_peak_bytes,omitempty"`
	// RampCPUUSPerSession is the server's CPU time (µs) from before the ramp
	// to its end, per session: the cost of accepting, upgrading and joining.
	RampCPUUSPerSession float64 `json:"ramp_cpu_us_per_session,omitempty"`
}

// ErrorCount is the total of all error kinds.
func (r *Report) ErrorCount() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// Metrics offers the report to --assert: <latency>.<stat>, errors,
// errors.<kind> and connections.<established|failed|dropped|leave_failed> (as counts or a
// percentage of attempts), and connections.attempted, connections.peak_open
// and rate.connects_per_s (plain numbers: they have no base).
func (r *Report) Metrics() threshold.Metrics {
	m := threshold.Map{}
	for _, name := range LatencyNames {
		m.AddSummary(name, r.Latency[name])
	}
	total := float64(r.Connections.Attempted)
	m["errors"] = threshold.Value{Kind: threshold.Count, V: float64(r.ErrorCount()), Total: total}
	for _, k := range ErrorKinds {
		m["errors."+k] = threshold.Value{Kind: threshold.Count, V: float64(r.Errors[k]), Total: total}
	}
	m["connections.attempted"] = threshold.Value{Kind: threshold.Plain, V: total}
	m["connections.established"] = threshold.Value{Kind: threshold.Count, V: float64(r.Connections.Established), Total: total}
	m["connections.failed"] = threshold.Value{Kind: threshold.Count, V: float64(r.Connections.Failed), Total: total}
	m["connections.dropped"] = threshold.Value{Kind: threshold.Count, V: float64(r.Connections.Dropped), Total: total}
	m["connections.leave_failed"] = threshold.Value{Kind: threshold.Count, V: float64(r.Connections.LeaveFailed), Total: total}
	m["connections.peak_open"] = threshold.Value{Kind: threshold.Plain, V: float64(r.Connections.PeakOpen)}
	m["rate.connects_per_s"] = threshold.Value{Kind: threshold.Plain, V: r.Rate.ConnectsPerS}
	var c Chat
	if r.Chat != nil {
		c = *r.Chat
	}
	sent, expected := float64(c.Sent), float64(c.ExpectedDeliveries)
	m["chat.sent"] = threshold.Value{Kind: threshold.Plain, V: sent}
	m["chat.accepted"] = threshold.Value{Kind: threshold.Count, V: float64(c.Accepted), Total: sent}
	m["chat.refused"] = threshold.Value{Kind: threshold.Count, V: float64(c.Refused), Total: sent}
	m["chat.expected_deliveries"] = threshold.Value{Kind: threshold.Plain, V: expected}
	m["chat.delivered"] = threshold.Value{Kind: threshold.Count, V: float64(c.Delivered), Total: expected}
	m["chat.gaps"] = threshold.Value{Kind: threshold.Count, V: float64(c.Gaps), Total: expected}
	m["rate.chat_deliveries_per_s"] = threshold.Value{Kind: threshold.Plain, V: r.Rate.ChatDeliveriesPerS}
	return m
}

// ErrNoHistograms is returned when merging a report written without them.
var ErrNoHistograms = errors.New("report has no histogram snapshots")

// Merge combines r with the reports of runs that happened side by side (child
// processes, or separate machines against one target) into one: counts add,
// histograms merge exactly, duration is the longest. Peak open sessions
// add, which is exact when the runs' hold phases overlapped.
func (r *Report) Merge(more ...*Report) (*Report, error) {
	reports := append([]*Report{r}, more...)
	out := &Report{Kind: KindSignal, Errors: map[string]int64{}, ErrorDetail: map[string]int64{},
		Latency: map[string]hist.Summary{}, Histograms: map[string]*hist.Histogram{}}
	for i, r := range reports {
		if r.Kind != KindSignal {
			return nil, fmt.Errorf("report %d is of kind %q, not %q", i+1, r.Kind, KindSignal)
		}
		for _, name := range LatencyNames {
			if r.Latency[name].Count > 0 && r.Histograms[name] == nil {
				return nil, fmt.Errorf("report %d (%s): %w for %s", i+1, r.Target, ErrNoHistograms, name)
			}
		}
		out.Target = bench.AddTarget(out.Target, r.Target)
		out.Targets = bench.MergeTargetCounts(out.Targets, r.Targets, r.Target, r.Connections.Attempted, r.Connections.Failed)
		out.Protocol = r.Protocol
		out.Interrupted = out.Interrupted || r.Interrupted
		out.Runs += max(r.Runs, 1)
		out.DurationS = max(out.DurationS, r.DurationS)
		s := &out.Settings
		s.Conns += r.Settings.Conns
		s.Rate += r.Settings.Rate
		s.HoldS = max(s.HoldS, r.Settings.HoldS)
		s.PingIntervalMS = r.Settings.PingIntervalMS
		s.Rooms = max(s.Rooms, r.Settings.Rooms)
		s.RoomSize = max(s.RoomSize, r.Settings.RoomSize)
		s.ChatRate = max(s.ChatRate, r.Settings.ChatRate)
		s.ChatSenders = max(s.ChatSenders, r.Settings.ChatSenders)
		s.SourceIPs = max(s.SourceIPs, r.Settings.SourceIPs)
		s.Procs += max(r.Settings.Procs, 1)
		c := &out.Connections
		c.Attempted += r.Connections.Attempted
		c.Established += r.Connections.Established
		c.Failed += r.Connections.Failed
		c.PeakOpen += r.Connections.PeakOpen
		c.Dropped += r.Connections.Dropped
		c.LeaveFailed += r.Connections.LeaveFailed
		for k, v := range r.Errors {
			out.Errors[k] += v
		}
		for k, v := range r.ErrorDetail {
			out.ErrorDetail[k] += v
		}
		for name, h := range r.Histograms {
			if h == nil {
				continue
			}
			if out.Histograms[name] == nil {
				out.Histograms[name] = hist.New()
			}
			out.Histograms[name].Merge(h)
		}
		out.Rate.Messages += r.Rate.Messages
		out.Rate.RampS = max(out.Rate.RampS, r.Rate.RampS)
		out.Client.CPUS += r.Client.CPUS
		out.Client.RSSPeakBytes += r.Client.RSSPeakBytes
		out.Generator.Add(i, r.Generator)
		if r.Chat != nil {
			if out.Chat == nil {
				out.Chat = &Chat{}
			}
			out.Chat.merge(r.Chat)
		}
		if r.Server != nil && out.Server == nil {
			sc := *r.Server
			out.Server = &sc
		}
	}
	out.Targets = bench.SeveralTargets(out.Targets)
	for name, h := range out.Histograms {
		out.Latency[name] = h.Summary()
	}
	series := make([]*bench.Series, len(reports))
	for i, r := range reports {
		series[i] = r.Series
	}
	var err error
	if out.Series, err = bench.MergeSeries(series...); err != nil {
		return nil, fmt.Errorf("merging time series: %w", err)
	}
	// Per-session memory: weighted by the sessions each run held.
	var wsum, rss, gob, cpu float64
	for _, r := range reports {
		w := float64(r.Connections.PeakOpen)
		wsum += w
		rss += w * r.Client.BytesPerSession
		gob += w * r.Client.GoBytesPerSession
		cpu += w * r.Client.RampCPUUSPerSession
	}
	if wsum > 0 {
		out.Client.BytesPerSession = math.Round(rss / wsum)
		out.Client.GoBytesPerSession = math.Round(gob / wsum)
		out.Client.RampCPUUSPerSession = math.Round(cpu / wsum)
	}
	if out.Rate.RampS > 0 {
		out.Rate.ConnectsPerS = round2(float64(out.Connections.Established) / out.Rate.RampS)
	}
	if out.DurationS > 0 {
		out.Rate.MessagesPerS = round2(float64(out.Rate.Messages) / out.DurationS)
	}
	if out.Chat != nil {
		out.Rate.ChatDeliveriesPerS = out.Chat.deliveriesPerS()
	}
	if len(out.ErrorDetail) == 0 {
		out.ErrorDetail = nil
	}
	return out, nil
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// Brief is a copy of r for stdout, without the histogram snapshots that
// only --out keeps.
func (r *Report) Brief() *Report {
	b := *r
	b.Histograms = nil
	b.Series = r.Series.Brief()
	if r.Chat != nil {
		c := *r.Chat
		c.Rooms = nil
		b.Chat = &c
	}
	return &b
}

// ReportKind is the kind of report r says it is (KindSignal for this one).
func (r *Report) ReportKind() string { return r.Kind }

// WriteTable prints r for people.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "target\t%s (%s)\n", r.Target, r.Protocol)
	bench.WriteTargets(tw, r.Targets)
	fmt.Fprintf(tw, "duration\t%s (ramp %s)", secs(r.DurationS), secs(r.Rate.RampS))
	if r.Runs > 1 {
		fmt.Fprintf(tw, ", %d runs merged", r.Runs)
	}
	fmt.Fprintln(tw)
	if r.Interrupted {
		fmt.Fprintln(tw, "interrupted	yes: the figures cover the run until it was stopped")
	}
	c := r.Connections
	fmt.Fprintf(tw, "sessions\t%d attempted, %d established, %d failed, %d dropped, peak %d open",
		c.Attempted, c.Established, c.Failed, c.Dropped, c.PeakOpen)
	if c.LeaveFailed > 0 {
		fmt.Fprintf(tw, ", %d failed to leave", c.LeaveFailed)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "rate\t%.0f connects/s, %.0f messages/s\n", r.Rate.ConnectsPerS, r.Rate.MessagesPerS)
	fmt.Fprintf(tw, "errors\t%s\n", errorLine(r))
	if c := r.Chat; c != nil {
		fmt.Fprintf(tw, "chat\t%d sent, %d accepted, %d refused in %s; %d of %d expected deliveries (%s), %d gaps, %.0f deliveries/s\n",
			c.Sent, c.Accepted, c.Refused, secs(c.DurationS), c.Delivered, c.ExpectedDeliveries,
			pctOf(c.Delivered, c.ExpectedDeliveries), c.Gaps, r.Rate.ChatDeliveriesPerS)
		fmt.Fprintf(tw, "chat CPU\tgenerator %.2fs (%.2fs per million deliveries)", c.ClientCPUS, c.ClientCPUSPerMDelivery)
		if c.ServerCPUS > 0 {
			fmt.Fprintf(tw, ", server %.2fs (%.2fs per million deliveries)", c.ServerCPUS, c.ServerCPUSPerMDelivery)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "latency (ms)\tcount\tp50\tp90\tp99\tmax")
	for _, name := range LatencyNames {
		s := r.Latency[name]
		if s.Count == 0 {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\n", name, s.Count, s.P50, s.P90, s.P99, s.Max)
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "client\t%.1f CPU s (ramp %.0fµs/session), peak RSS %s, %s/session (Go heap+stacks %s/session)\n",
		r.Client.CPUS, r.Client.RampCPUUSPerSession, bench.Bytes(float64(r.Client.RSSPeakBytes)), bench.Bytes(r.Client.BytesPerSession), bench.Bytes(r.Client.GoBytesPerSession))
	if s := r.Server; s != nil {
		// The heap is read before and after the ramp: a collection in
		// between can make the difference negative, which is no cost.
		heap := bench.Bytes(s.HeapBytesPerSession) + "/session"
		if s.HeapBytesPerSession < 0 {
			heap = "n/a (a GC ran during the ramp)"
		}
		fmt.Fprintf(tw, "server\theap %s, %.2f goroutines/session", heap, s.GoroutinesPerSess)
		if s.RSSBytesPerSession > 0 {
			fmt.Fprintf(tw, ", RSS %s/session", bench.Bytes(s.RSSBytesPerSession))
		}
		if s.RampCPUUSPerSession > 0 {
			fmt.Fprintf(tw, ", ramp %.0fµs CPU/session", s.RampCPUUSPerSession)
		}
		fmt.Fprintf(tw, " (%d sessions)\n", s.Sessions)
	}
	g := r.Generator
	fmt.Fprintf(tw, "generator\tcpu max %.2f/%d cores, host busy max %.0f%%, GC pause max %.1fms, schedule lag max %.1fms\n",
		g.CPUCoresMax, g.Cores, g.HostBusyMax*100, g.GCPauseMaxMS, g.ScheduleLagMaxMS)
	if g.Bottleneck {
		fmt.Fprintf(tw, "WARNING\tthe generator may have been the bottleneck: %s\n", strings.Join(g.Reasons, "; "))
	}
	return tw.Flush()
}

func errorLine(r *Report) string {
	if r.ErrorCount() == 0 {
		return "none"
	}
	keys := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, r.Errors[k]))
	}
	line := strings.Join(parts, ", ")
	if len(r.ErrorDetail) > 0 {
		dk := make([]string, 0, len(r.ErrorDetail))
		for k := range r.ErrorDetail {
			dk = append(dk, k)
		}
		sort.Strings(dk)
		var d []string
		for _, k := range dk {
			d = append(d, fmt.Sprintf("%s ×%d", k, r.ErrorDetail[k]))
		}
		line += " (" + strings.Join(d, ", ") + ")"
	}
	return line
}

func secs(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(10 * time.Millisecond).String()
}

// Comparison is two reports side by side.
type Comparison bench.ComparisonOf[Report, Row]

// Row is one compared figure: Delta is B−A, DeltaPct relative to A.
type Row struct {
	Metric   string   `json:"metric"`
	A        float64  `json:"a"`
	B        float64  `json:"b"`
	Delta    float64  `json:"delta"`
	DeltaPct *float64 `json:"delta_pct,omitempty"`
	// Change is bench.Better or bench.Worse, or absent when it did not
	// move or has no better direction.
	Change string `json:"change,omitempty"`
}

// Compare lines up the headline figures of a and b.
func (a *Report) Compare(b *Report) *Comparison {
	c := &Comparison{A: a, B: b}
	add := func(name string, va, vb float64) {
		d, p, ok := bench.Change(va, vb)
		r := Row{Metric: name, A: va, B: vb, Delta: round3(d), Change: bench.Verdict(name, d)}
		if ok {
			r.DeltaPct = &p
		}
		c.Rows = append(c.Rows, r)
	}
	add("connections.attempted", float64(a.Connections.Attempted), float64(b.Connections.Attempted))
	add("connections.established", float64(a.Connections.Established), float64(b.Connections.Established))
	add("connections.failed", float64(a.Connections.Failed), float64(b.Connections.Failed))
	add("errors", float64(a.ErrorCount()), float64(b.ErrorCount()))
	for _, name := range LatencyNames {
		sa, sb := a.Latency[name], b.Latency[name]
		if sa.Count == 0 && sb.Count == 0 {
			continue
		}
		for _, stat := range []string{"p50", "p90", "p99", "max"} {
			va, _ := sa.Stat(stat)
			vb, _ := sb.Stat(stat)
			add(name+"."+stat+"_ms", va, vb)
		}
	}
	if a.Chat != nil || b.Chat != nil {
		var ca, cb Chat
		if a.Chat != nil {
			ca = *a.Chat
		}
		if b.Chat != nil {
			cb = *b.Chat
		}
		add("chat.accepted", float64(ca.Accepted), float64(cb.Accepted))
		add("chat.delivered", float64(ca.Delivered), float64(cb.Delivered))
		add("chat.gaps", float64(ca.Gaps), float64(cb.Gaps))
		add("rate.chat_deliveries_per_s", a.Rate.ChatDeliveriesPerS, b.Rate.ChatDeliveriesPerS)
	}
	add("rate.connects_per_s", a.Rate.ConnectsPerS, b.Rate.ConnectsPerS)
	add("rate.messages_per_s", a.Rate.MessagesPerS, b.Rate.MessagesPerS)
	add("client.cpu_s", a.Client.CPUS, b.Client.CPUS)
	add("client.bytes_per_session", a.Client.BytesPerSession, b.Client.BytesPerSession)
	return c
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// WriteTable prints c, a comparison of files named nameA and nameB, for
// people.
func (c *Comparison) WriteTable(w io.Writer, nameA, nameB string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "metric\t%s\t%s\tdelta\tdelta %%\t\t\n", nameA, nameB)
	for _, r := range c.Rows {
		pct := "-"
		if r.DeltaPct != nil {
			pct = fmt.Sprintf("%+.1f%%", *r.DeltaPct)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Metric, bench.Num(r.A), bench.Num(r.B), signed(r.Delta), pct, r.Change)
	}
	return tw.Flush()
}

func signed(v float64) string {
	s := bench.Num(v)
	if v > 0 {
		s = "+" + s
	}
	return s
}

// pctOf renders n as a percentage of total, "n/a" without a total.
func pctOf(n, total int64) string {
	if total == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(100*float64(n)/float64(total), 'f', 2, 64) + "%"
}
