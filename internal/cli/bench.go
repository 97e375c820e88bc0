package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/bench/mediabench"
	"github.com/livectl/livectl/internal/bench/preflight"
	"github.com/livectl/livectl/internal/bench/signalbench"
	"github.com/livectl/livectl/internal/metrics/threshold"
	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/term/progress"
	"github.com/livectl/livectl/internal/tlsconf"
)

// benchSubcommands are the members of the `bench` group. A sibling such as
// `bench media` lives in its own file and registers its constructor here
// from an init function, so adding one touches nothing in this file.
var benchSubcommands = []func(*Factory) *cobra.Command{
	newBenchSignalCmd,
	newBenchReportCmd,
}

func newBenchCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test signaling and media, and compare results",
		Long: `Load generators for live-streaming servers. Each prints a report (a table, or
JSON with -o json), can write it with its histograms to a file (--out) and
checks thresholds (--assert, exit 3 when one fails). 'bench report' merges and
compares such files.`,
		Args: cobra.NoArgs,
	}
	for _, sub := range benchSubcommands {
		cmd.AddCommand(sub(f))
	}
	return cmd
}

// BenchSignalOptions are the resolved flags of `livectl bench signal`.
type BenchSignalOptions struct {
	URLs         []string
	Conns        int
	Rate         string
	Duration     time.Duration
	PingInterval time.Duration
	Rooms        int
	RoomSize     int
	SourceIPs    string
	Procs        int
	Asserts      []string
	Out          string
	sessionAuth
	Headers        []string
	ConnectTimeout time.Duration
	RequestTimeout time.Duration
	StatsURL       string
	ServerPID      int
	Protocol       string
	Send           string
	Expect         string
	Hello          []string
	ChatRate       string
	ChatSenders    int
	TLS            tlsconf.Client
	benchSharding
	MetricsListen string
	// Hidden flags: --child (a process started by --procs), --pprof-listen.
	benchHidden
}

func newBenchSignalCmd(f *Factory) *cobra.Command {
	opts := &BenchSignalOptions{}
	cmd := &cobra.Command{
		Use:   "signal",
		Short: "Open many signaling sessions against a server and measure them",
		Long: `Open --conns signaling sessions at --rate per second, hold them for --duration
while every session pings each --ping-interval, then leave.

The ramp is an open model: attempt i starts at i/rate whether or not earlier
attempts have finished, and connect latency is timed from that scheduled
start, so a stalled server (or generator) shows up in the figures instead of
silently slowing the ramp. connect_raw is the same latency from the actual
dial. join is the join request's round trip, setup the whole scheduled start
to joined, rtt the ping round trip from its scheduled time (corrected for
pings skipped while one was outstanding), rtt_raw from the actual send.

Sessions spread over --rooms rooms round-robin, or fill rooms of --room-size
(default 10). --source-ips spreads dials over several local addresses (each
has its own ephemeral ports); --procs runs child processes (each has its own
file-descriptor limit) and merges their histograms exactly. Before starting,
both budgets are checked and a run that cannot fit is refused.

Several --url (repeated, or a comma-separated list) spread sessions over
them round-robin, the nodes of a cluster say; the report counts each one's
share in "targets".

--chat-rate R/s sends R chat messages a second into each room during the
hold, on schedule (an open model: a late sender does not slow the stream),
taken in turns by --chat-senders members of each room (default: enough that
each sends at most 4/s, under livectl serve's default limit of 5/s). Each
message carries its scheduled send time as client_time; latency chat is its
receipt minus that time, on the receiver's clock: valid only with bench and
server on one host or on clock-synced hosts. The report's chat line gives
messages sent, accepted and refused, deliveries expected (messages accepted
into a room × members of it open when the chat ended), delivered, and gaps
(holes in seq members saw).

--protocol raw drives any WebSocket server: each ping sends --send and waits
for a frame matching --expect (a substring, or json:field.path=value); --hello
frames (repeatable) are sent in order right after connecting, for a server
that wants a handshake (authenticate, subscribe) first.

Assertions (comma-separated or repeated): <latency>.<p50|p90|p95|p99|max>
with a duration, errors / errors.<kind> / connections.<field> with a count or
a percentage of attempts, chat.<accepted|refused> of messages sent,
chat.<delivered|gaps> of deliveries expected: --assert 'join.p99<50ms,errors<0.1%'
or --assert 'chat.p99<250ms,chat.gaps<1'.
Error kinds: ` + strings.Join(signalbench.ErrorKinds, ", ") + `.`,
		Example: `  livectl bench signal --url ws://127.0.0.1:7880/ws --conns 10000 --rate 2000/s --duration 30s --assert 'join.p99<50ms,errors<0.1%' --out run.json
  livectl bench signal --url ws://127.0.0.1:7880/ws --conns 19000 --rate 2000 --procs 2
  livectl bench signal --url ws://node-a:7880/ws,ws://node-b:7880/ws --conns 10000 --rate 2000/s --room-size 10000
  livectl bench signal --url ws://127.0.0.1:7880/ws --conns 10000 --rate 2000/s --room-size 10000 --chat-rate 50/s --assert 'chat.p99<250ms,chat.gaps<1'
  livectl bench signal --url ws://echo.example/ --protocol raw --send '{"type":"ping"}' --expect json:type=pong`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBenchSignal(cmd.Context(), f, opts) },
	}
	fl := cmd.Flags()
	urlListFlag(fl, &opts.URLs, "url", "signaling WebSocket URL (ws://host:port/ws)")
	fl.IntVar(&opts.Conns, "conns", 100, "sessions to open")
	fl.StringVar(&opts.Rate, "rate", "500/s", "connection attempts per second (2000 or 2000/s; 600/m per minute)")
	fl.DurationVar(&opts.Duration, "duration", 10*time.Second, "how long to hold every session after the ramp")
	fl.DurationVar(&opts.PingInterval, "ping-interval", time.Second, "how often each session measures a round trip (0: never)")
	fl.IntVar(&opts.Rooms, "rooms", 0, "spread sessions round-robin over this many rooms")
	fl.IntVar(&opts.RoomSize, "room-size", 0, "fill rooms of this many sessions one after another (default 10 when --rooms is not set)")
	fl.StringVar(&opts.SourceIPs, "source-ips", "", "local addresses to dial from: 127.0.0.1-127.0.0.8, 127.0.1.0/29 or a list")
	fl.IntVar(&opts.Procs, "procs", 1, "child processes to spread sessions over (past one process's file-descriptor limit)")
	fl.StringArrayVar(&opts.Asserts, "assert", nil, "thresholds, e.g. 'join.p99<50ms,errors<0.1%' (exit 3 if one fails)")
	fl.StringVar(&opts.Out, "out", "", "write the full report with histogram snapshots to this JSON file")
	addSessionAuthFlags(fl, &opts.sessionAuth, "join token for a run of one session (--conns 1; it joins the token's room as its identity)")
	fl.StringArrayVar(&opts.Headers, "header", nil, "extra upgrade request header 'Name: value' (repeatable)")
	fl.DurationVar(&opts.ConnectTimeout, "connect-timeout", 10*time.Second, "limit on dial + upgrade + welcome")
	fl.DurationVar(&opts.RequestTimeout, "request-timeout", 10*time.Second, "limit on each join, ping and leave")
	fl.StringVar(&opts.StatsURL, "stats-url", "", "server /v1/stats to measure its cost per session (default derived from --url for livectl; 'none' to skip)")
	addClientTLS(fl, &opts.TLS)
	fl.IntVar(&opts.ServerPID, "server-pid", 0, "pid of a server on this machine, to report its RSS per session")
	fl.StringVar(&opts.Protocol, "protocol", signalbench.ProtocolLivectl, "livectl or raw (any WebSocket server)")
	fl.StringVar(&opts.Send, "send", "", "raw mode: message sent each --ping-interval")
	fl.StringVar(&opts.Expect, "expect", "", "raw mode: reply that ends the round trip: text (substring) or json:field.path=value")
	fl.StringArrayVar(&opts.Hello, "hello", nil, "raw mode: frame sent right after connecting (repeatable, in order)")
	fl.StringVar(&opts.ChatRate, "chat-rate", "", "chat messages per second into each room during the hold (50 or 50/s)")
	fl.IntVar(&opts.ChatSenders, "chat-senders", 0, "members of each room that send the chat (default: each sends at most 4/s)")
	addShardFlags(fl, &opts.benchSharding, "sessions, rooms and identities")
	addMetricsListenFlag(fl, &opts.MetricsListen)
	addBenchHiddenFlags(fl, &opts.benchHidden)
	_ = cmd.RegisterFlagCompletionFunc("protocol", fixedCompletions(signalbench.ProtocolLivectl, signalbench.ProtocolRaw))
	return cmd
}

func runBenchSignal(ctx context.Context, f *Factory, o *BenchSignalOptions) error {
	if o.Child {
		return serveBenchChild(ctx, f, "signal", signalbench.RunChild)
	}
	so, exprs, err := benchSignalSettings(f, o)
	if err != nil {
		return err
	}
	// The report's settings are the whole run's (with the shard); this
	// process runs its shard's part.
	part, err := so.ForShard()
	if err != nil {
		return UsageErrorf("%s: %v", f.FlagRef("shard"), err)
	}
	return runBenchJob(ctx, f, o.benchHidden, benchJob[signalbench.Live, signalbench.Report]{
		what: "bench against " + strings.Join(bench.Targets(so.URL, so.URLs), ","), exprs: exprs, procs: o.Procs, out: o.Out,
		target: strings.Join(bench.Targets(so.URL, so.URLs), ","), settings: so.Redacted(), startAt: o.startAt,
		preflight:  func() error { return benchPreflight(f, o, &part) },
		run:        func() (signalbench.Runner, error) { return signalbench.NewRun(part) },
		unprepared: func(err error) error { return UsageErrorf("%v", err) },
		spread: func(exe string) (signalbench.Runner, error) {
			return signalbench.NewProcs(exe, part, o.Procs, f.IO.ErrOut)
		},
		status:        benchStatus,
		judge:         judgeBenchSignal,
		metricsListen: o.MetricsListen, metrics: benchSignalMetrics,
	})
}

// judgeBenchSignal reads a finished bench signal run (benchJob.judge).
func judgeBenchSignal(rep *signalbench.Report) (warning string, fruitless error) {
	if rep.Generator.Bottleneck {
		warning = fmt.Sprintf("the generator may have been the bottleneck (%s); results may understate the server", strings.Join(rep.Generator.Reasons, "; "))
	}
	if rep.Connections.Established == 0 && rep.Connections.Attempted > 0 && !rep.Interrupted {
		top := topError(rep)
		hint := "check that the server is up and the URL is right"
		switch {
		case strings.Contains(top, "unauthorized"):
			hint = "the server wants a token: give its secret with --auth-secret to mint one per session (--token fits a run of one session)"
		case strings.Contains(top, "forbidden"):
			hint = "the token does not allow these rooms or identities: --auth-secret mints one per session"
		}
		fruitless = fmt.Errorf("no session could be established on %s (%s): %s", rep.Target, top, hint)
	}
	return warning, fruitless
}

// benchSignalMetrics are bench signal's live figures for
// --metrics-listen (its latencies come from the run's histograms).
func benchSignalMetrics(l signalbench.Live, p *bench.PromWriter) {
	p.Gauge("phase", "1 for the phase the run is in", 1, "phase", l.Phase)
	p.Gauge("sessions_open", "sessions open now", float64(l.Open))
	p.Counter("attempts_total", "sessions started", float64(l.Attempted))
	p.Counter("established_total", "sessions established", float64(l.Established))
	p.Counter("failures_total", "sessions that failed", float64(l.Failed))
	p.CountersBy("errors_total", "errors by kind", "kind", l.Errors)
}

// benchStatus renders a progress line.
func benchStatus(l signalbench.Live) progress.Status {
	text := fmt.Sprintf("open %d  est %d  failed %d  %.0f/s", l.Open, l.Established, l.Failed, l.RatePerS)
	if l.P99Of != "" {
		text += fmt.Sprintf("  %s p99 %.1fms", l.P99Of, l.P99MS)
	}
	s := progress.Status{Phase: l.Phase, Text: text}
	if l.Phase == signalbench.PhaseRamp {
		s.Done, s.Total = l.Attempted, l.Target
	}
	return s
}

// benchSignalSettings validates the flags into generator options.
func benchSignalSettings(f *Factory, o *BenchSignalOptions) (*signalbench.Options, []threshold.Expr, error) {
	urls, err := targetURLs(f, "url", o.URLs, "want ws://host:port/path or wss://…", wsSchemes)
	if err != nil {
		return nil, nil, err
	}
	if len(urls) == 0 {
		return nil, nil, UsageErrorf("%s is required: the server's WebSocket URL, e.g. ws://127.0.0.1:7880/ws", f.FlagRef("url"))
	}
	if o.Conns <= 0 {
		return nil, nil, UsageErrorf("%s must be at least 1, got %d", f.FlagRef("conns"), o.Conns)
	}
	rate, err := bench.ParseRate(o.Rate)
	if err != nil {
		return nil, nil, UsageErrorf("%s: %v", f.FlagRef("rate"), err)
	}
	if o.Duration < 0 {
		return nil, nil, UsageErrorf("%s must not be negative", f.FlagRef("duration"))
	}
	if o.PingInterval < 0 {
		return nil, nil, UsageErrorf("%s must not be negative", f.FlagRef("ping-interval"))
	}
	if err := requirePositive(f, "connect-timeout", o.ConnectTimeout); err != nil {
		return nil, nil, err
	}
	if err := requirePositive(f, "request-timeout", o.RequestTimeout); err != nil {
		return nil, nil, err
	}
	if o.Rooms < 0 || o.RoomSize < 0 {
		return nil, nil, UsageErrorf("%s and %s must not be negative", f.FlagRef("rooms"), f.FlagRef("room-size"))
	}
	if o.Rooms > 0 && o.RoomSize > 0 {
		return nil, nil, UsageErrorf("give %s or %s, not both", f.FlagRef("rooms"), f.FlagRef("room-size"))
	}
	if o.Procs < 1 || o.Procs > o.Conns {
		return nil, nil, UsageErrorf("%s must be between 1 and %s (%d), got %d", f.FlagRef("procs"), f.FlagRef("conns"), o.Conns, o.Procs)
	}
	so := &signalbench.Options{
		URLs: urls, Conns: o.Conns, Rate: rate, Duration: o.Duration, PingInterval: o.PingInterval,
		Rooms: o.Rooms, RoomSize: o.RoomSize,
		ConnectTimeout: o.ConnectTimeout, RequestTimeout: o.RequestTimeout,
		Protocol: o.Protocol, Send: o.Send, ServerPID: o.ServerPID, Hello: o.Hello,
		ChatSenders: o.ChatSenders, TLS: o.TLS,
	}
	if _, err := clientTLS(f, o.TLS); err != nil {
		return nil, nil, err
	}
	if so.Shard, o.startAt, so.RunID, err = o.resolve(f); err != nil {
		return nil, nil, err
	}
	if o.ChatRate != "" {
		if so.ChatRate, err = bench.ParseRate(o.ChatRate); err != nil {
			return nil, nil, UsageErrorf("%s: %v", f.FlagRef("chat-rate"), err)
		}
	}
	if o.ChatSenders < 0 {
		return nil, nil, UsageErrorf("%s must not be negative", f.FlagRef("chat-senders"))
	}
	if o.ChatSenders > 0 && so.ChatRate == 0 {
		return nil, nil, UsageErrorf("%s needs %s", f.FlagRef("chat-senders"), f.FlagRef("chat-rate"))
	}
	if so.ChatRate > 0 && o.Duration == 0 {
		return nil, nil, UsageErrorf("%s sends during the hold: give %s", f.FlagRef("chat-rate"), f.FlagRef("duration"))
	}
	switch o.Protocol {
	case signalbench.ProtocolLivectl:
		if o.Send != "" || o.Expect != "" || len(o.Hello) > 0 {
			return nil, nil, UsageErrorf("%s, %s and %s are for --protocol raw; the livectl protocol joins and pings on its own", f.FlagRef("send"), f.FlagRef("expect"), f.FlagRef("hello"))
		}
	case signalbench.ProtocolRaw:
		if so.ChatRate > 0 {
			return nil, nil, UsageErrorf("%s is for the livectl protocol; in raw mode, send messages with %s", f.FlagRef("chat-rate"), f.FlagRef("send"))
		}
		if so.Expect, err = signalbench.ParseMatcher(o.Expect); err != nil {
			return nil, nil, UsageErrorf("%s: %v", f.FlagRef("expect"), err)
		}
	default:
		return nil, nil, UsageErrorf("%s %q: want livectl or raw", f.FlagRef("protocol"), o.Protocol)
	}
	for _, h := range o.Headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, nil, UsageErrorf("%s %q: want 'Name: value'", f.FlagRef("header"), h)
		}
		if so.Header == nil {
			so.Header = http.Header{}
		}
		so.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	if o.SourceIPs != "" {
		if so.SourceIPs, err = signalbench.ParseSourceIPs(o.SourceIPs); err != nil {
			return nil, nil, UsageErrorf("%s: %v", f.FlagRef("source-ips"), err)
		}
		if err := signalbench.CheckLocal(so.SourceIPs); err != nil {
			return nil, nil, UsageErrorf("%s: %v", f.FlagRef("source-ips"), err)
		}
	}
	so.URL, so.URLs = bench.FirstOf("", so.URLs)
	if so.Auth, err = o.credentials(f, func(c auth.Credentials) error {
		if o.Protocol == signalbench.ProtocolRaw && c != (auth.Credentials{}) {
			return UsageErrorf("%s and %s are for the livectl protocol: give a raw-mode server its credentials with %s or %s", f.FlagRef("token"), f.FlagRef("auth-secret"), f.FlagRef("header"), f.FlagRef("hello"))
		}
		_, err := c.Fixed(o.Conns)
		return err
	}); err != nil {
		return nil, nil, err
	}
	so.StatsURL = benchStatsURL(o.StatsURL, so.URL, o.Protocol == signalbench.ProtocolLivectl)
	if so.StatsURL, err = checkServerSampling(f, "stats-url", so.StatsURL, o.StatsURL == "", o.ServerPID); err != nil {
		return nil, nil, err
	}
	exprs, err := parseAsserts(f, o.Asserts, (&signalbench.Report{}).Metrics())
	if err != nil {
		return nil, nil, err
	}
	return so, exprs, nil
}

// benchPreflight refuses runs that cannot fit in this machine's descriptor
// and ephemeral-port budgets, naming the flag that fixes it; so is this
// process's part of the run (its shard).
func benchPreflight(f *Factory, o *BenchSignalOptions, so *signalbench.Options) error {
	if err := checkBenchFDs(f, (so.Conns+o.Procs-1)/o.Procs, so.Conns, "", "sessions"); err != nil {
		return err
	}
	ips := so.SourceIPs
	if len(ips) == 0 {
		ip, err := peer.LocalIPToward(so.URL)
		if err != nil {
			return nil // cannot tell which address the kernel will use; the dial will say
		}
		ips = []net.IP{ip}
	}
	ports, err := preflight.PortsFor(ips)
	if err != nil {
		return nil // no /proc/net: not Linux; nothing to check against
	}
	hint := fmt.Sprintf("spread dials over more local addresses with %s", f.FlagRef("source-ips"))
	if len(ports) > 0 && ports[0].Addr.IsLoopback() {
		per := max(ports[0].Free()*9/10, 1)
		n := (so.Conns + per - 1) / per
		hint += fmt.Sprintf(" (e.g. %s 127.0.0.1-127.0.0.%d)", f.FlagRef("source-ips"), max(n, 2))
	}
	if err := preflight.CheckPorts(ports, so.Conns, hint); err != nil {
		return &UsageError{Err: err}
	}
	return nil
}

func topError(rep *signalbench.Report) string {
	best, n := "", int64(0)
	for k, v := range rep.Errors {
		if v > n || v == n && k < best {
			best, n = k, v
		}
	}
	if best == "" {
		return "no errors recorded"
	}
	for k, v := range rep.ErrorDetail {
		if strings.HasPrefix(k, best+":") && v == n {
			return fmt.Sprintf("%d× %s", n, k)
		}
	}
	return fmt.Sprintf("%d× %s", n, best)
}

// BenchReportOptions are the resolved flags of `livectl bench report`.
type BenchReportOptions struct {
	Files    []string
	Merge    bool
	Out      string
	Asserts  []string
	Baseline string
	HTML     string
}

func newBenchReportCmd(f *Factory) *cobra.Command {
	opts := &BenchReportOptions{}
	cmd := &cobra.Command{
		Use:   "report A.json [B.json…]",
		Short: "Merge bench reports, or compare two side by side",
		Long: `Read reports written by 'bench signal --out' or 'bench media --out' (one
kind at a time). Given one file, print it; given
two, print them side by side with the change from the first to the second
(--merge merges them instead, as it does two shards of one run); given
more, merge them. Merging adds counts and
merges the histograms exactly, as if one generator had done all the work.
A comparison marks each change better or worse. Reports record their run's
settings; runs read together that differ in them are named in a warning, as
are shards of a run (--shard) missing from a merge.

--assert checks the merged report, or the second file of a comparison; with
--baseline FILE a threshold written with + is relative to the same figure of
that report: join.p99<+10% (at most 10 % above the baseline), errors<=+0
(no more errors), rtt.p50<+2ms. The outcomes are in the JSON report.

--html FILE writes one self-contained page (no network needed to view it)
with every file's time series overlaid, their summaries and assertions:
for bench signal sessions open, attempts and failures per second, join and
rtt p50/p99 (and chat's); for bench media subscribers receiving, started
and failed, first-frame p50/p99, bitrate, loss and freezes.`,
		Example: `  livectl bench report before.json after.json
  livectl bench report --baseline release.json run.json --assert 'join.p99<+10%,errors<=+0'
  livectl bench report --merge host1.json host2.json --out all.json
  livectl bench report --html runs.html before.json after.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Files = args
			return runBenchReport(f, opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.Merge, "merge", false, "merge two files instead of comparing them")
	fl.StringVar(&opts.Out, "out", "", "write the merged report (with histograms) to this file")
	fl.StringArrayVar(&opts.Asserts, "assert", nil, "thresholds on the merged report (or the second of two compared)")
	fl.StringVar(&opts.Baseline, "baseline", "", "report to compare relative thresholds with: --assert 'join.p99<+10%,errors<=+0'")
	fl.StringVar(&opts.HTML, "html", "", "also write a self-contained HTML page with the reports' time series overlaid")
	return cmd
}

func runBenchReport(f *Factory, o *BenchReportOptions) error {
	if fileReportKind(o.Files[0]) == mediabench.KindMedia {
		return benchReportOf[mediabench.Report, *mediabench.Comparison](f, o, "media", mediabench.KindMedia, mediabench.WriteHTML)
	}
	return benchReportOf[signalbench.Report, *signalbench.Comparison](f, o, "signal", signalbench.KindSignal, signalbench.WriteHTML)
}
