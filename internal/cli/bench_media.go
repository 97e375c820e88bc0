package cli

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/bench/mediabench"
	"github.com/livectl/livectl/internal/metrics/threshold"
	"github.com/livectl/livectl/internal/term/progress"
	"github.com/livectl/livectl/internal/tlsconf"
)

func init() { benchSubcommands = append(benchSubcommands, newBenchMediaCmd) }

// BenchMediaOptions are the resolved flags of `livectl bench media`.
type BenchMediaOptions struct {
	URLs        []string
	Room        string
	WHEPs       []string
	WHIP        string
	Subscribers int
	Publishers  int
	Rate        string
	Duration    time.Duration
	Timeout     time.Duration
	sessionAuth
	Procs       int
	Asserts     []string
	Out         string
	ServerStats string
	ServerPID   int
	Bind        string
	Layer       string
	Simulcast   bool
	ShapeKbps   int
	Shaped      int
	TLS         tlsconf.Client
	benchSharding
	MetricsListen string
	// Hidden flags: --child (a process started by --procs), --pprof-listen.
	benchHidden
}

func newBenchMediaCmd(f *Factory) *cobra.Command {
	opts := &BenchMediaOptions{}
	cmd := &cobra.Command{
		Use:   "media",
		Short: "Fan media out to many subscribers and measure what each receives",
		Long: `Start --publishers built-in publishers (the looping VP8+Opus clip of 'livectl
publish'), then --subscribers subscribers at --rate per second, each a real
WebRTC peer that measures, from its start:

  first frame      the probe's phases (signal, ice_connected, dtls_connected,
                   first_rtp, first_keyframe, first_decoded)
  bitrate_kbps     RTP bytes received over its receiving time
  loss_pct         packets never received, after NACK recovery (with lost
  packets_lost     packets retransmitted late counted as received)
  jitter_ms        RFC 3550 interarrival jitter of the video stream
  nacks, plis      NACK and PLI/FIR packets it sent
  freezes          gaps between complete frames longer than 3 frame
  freeze_ms        intervals and longer than 200ms, and their total time
  frames, fps      complete video frames

The ramp is an open model as in 'bench signal'. Once every subscriber has its
first frame (or failed) the run holds for --duration, then closes every
subscriber's counting window at once, waits briefly for late retransmissions,
and reports percentiles over subscribers for each figure, totals, the worst
subscribers, the server's side (--server-stats /v1/stats each second;
--server-pid adds its CPU and RSS from /proc) and the generator's own CPU and
memory. The generator says it saturated when it judged itself the bottleneck
or when it cost more CPU per subscriber than the server.

--url ws://…/ws --room R talks livectl's protocol; --whep URL plays from any
WHEP endpoint instead (and --whip URL sends the built-in publishers to any
WHIP endpoint), so the same run can be pointed at another server. Several
--url or --whep (repeated, or a comma-separated list) spread subscribers
over them round-robin (the nodes of a cluster); built-in publishers use the
first --url. The report counts each one's share in "targets".

Each subscriber has one UDP socket (an ICE UDP mux: no socket per interface
or candidate type), plus its /ws connection; the check before the start
refuses a run that cannot fit this process's file-descriptor limit and names
--procs, which spreads subscribers over child processes and merges their
results exactly.

Simulcast: --simulcast makes the built-in publishers send three layers;
--layer q|h|f asks for at most that layer, as 'livectl probe
--layer' does (WHEP ?layer=, /ws set_quality). Each subscriber reports the
picture sizes it received over time, its switches and its time at each size
(layers, layer_switches, time_at_layer_ms in --out), and the report a layer
mix: the size subscribers ended on and the share of time at each.
--shape-kbps holds the path into each subscriber (or only the first
--shaped) to that rate in user space, with a 200 ms queue like tc's tbf;
the layer mix is then given for shaped and unshaped subscribers apart.

Assertions: first_frame.<stat> and <phase>.<stat> take durations;
<figure>.<p50|p90|p95|p99|max|min|mean> numbers; errors, errors.<phase>, ok,
dropped (counts or % of subscribers); totals packets_lost, loss_pct, nacks,
plis, freezes: --assert 'first_frame.p95<1500ms,loss_pct.max<1,errors<1%'.`,
		Example: `  livectl bench media --url ws://127.0.0.1:7880/ws --room demo --publishers 1 --subscribers 200 --rate 50/s --duration 30s
  livectl bench media --whep http://127.0.0.1:7880/whep/demo --whip http://127.0.0.1:7880/whip/demo --publishers 1 --subscribers 50
  livectl bench media --url ws://127.0.0.1:7880/ws --room demo --publishers 1 --subscribers 1000 --procs 4 --out media.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBenchMedia(cmd.Context(), f, opts) },
	}
	fl := cmd.Flags()
	urlListFlag(fl, &opts.URLs, "url", "livectl signaling URL (ws://host:port/ws); needs --room")
	fl.StringVar(&opts.Room, "room", "", "room to subscribe to (and publish into) over --url")
	urlListFlag(fl, &opts.WHEPs, "whep", "WHEP endpoint subscribers play from instead of --url (any server)")
	fl.StringVar(&opts.WHIP, "whip", "", "WHIP endpoint for the built-in publishers (default: --url with --room)")
	fl.IntVar(&opts.Subscribers, "subscribers", 10, "subscribers to start")
	fl.IntVar(&opts.Publishers, "publishers", 0, "built-in publishers (looping VP8+Opus clip) to start first; 0 expects media in the room")
	fl.StringVar(&opts.Rate, "rate", "20/s", "subscriber starts per second (20 or 20/s; 60/m per minute)")
	fl.DurationVar(&opts.Duration, "duration", 10*time.Second, "how long to hold every subscriber after the last first frame")
	fl.DurationVar(&opts.Timeout, "timeout", 15*time.Second, "limit on each subscriber's way to its first frame")
	addSessionAuthFlags(fl, &opts.sessionAuth, "bearer token for WHIP/WHEP sessions, or join token for a run of one /ws session")
	fl.IntVar(&opts.Procs, "procs", 1, "child processes to spread subscribers over (past one process's file-descriptor limit or cores)")
	fl.StringArrayVar(&opts.Asserts, "assert", nil, "thresholds, e.g. 'first_frame.p95<1500ms,loss_pct.max<1' (exit 3 if one fails)")
	fl.StringVar(&opts.Out, "out", "", "write the full report with every subscriber's figures to this JSON file")
	fl.StringVar(&opts.ServerStats, "server-stats", "", "server /v1/stats to sample each second (default derived from a livectl --url; 'none' to skip)")
	addClientTLS(fl, &opts.TLS)
	fl.IntVar(&opts.ServerPID, "server-pid", 0, "pid of a server on this machine, to report its CPU and RSS from /proc")
	fl.BoolVar(&opts.Simulcast, "simulcast", false, "built-in publishers send three layers (q 320x180, h 640x360, f 1280x720), as 'livectl publish --simulcast'")
	addLayerFlag(fl, &opts.Layer)
	fl.IntVar(&opts.ShapeKbps, "shape-kbps", 0, "hold each subscriber's path to this rate (kbit/s, user-space tbf-like shaper; 0: off)")
	fl.IntVar(&opts.Shaped, "shaped", 0, "with --shape-kbps, shape only the first N subscribers (0: all)")
	fl.StringVar(&opts.Bind, "bind", "", "local IP for subscriber UDP sockets (default: the address toward the target)")
	addShardFlags(fl, &opts.benchSharding, "subscribers and identities")
	addMetricsListenFlag(fl, &opts.MetricsListen)
	addBenchHiddenFlags(fl, &opts.benchHidden)
	return cmd
}

func runBenchMedia(ctx context.Context, f *Factory, o *BenchMediaOptions) error {
	if o.Child {
		return serveBenchChild(ctx, f, "media", mediabench.RunChild)
	}
	mo, exprs, err := benchMediaSettings(f, o)
	if err != nil {
		return err
	}
	// The report's settings are the whole run's (with the shard); this
	// process runs its shard's part.
	part, err := mo.ForShard()
	if err != nil {
		return UsageErrorf("%s: %v", f.FlagRef("shard"), err)
	}
	target := strings.Join(mo.Targets(), ",")
	return runBenchJob(ctx, f, o.benchHidden, benchJob[mediabench.Live, mediabench.Report]{
		what: "bench media against " + target, exprs: exprs, procs: o.Procs, out: o.Out,
		target: target, settings: mo.Redacted(), startAt: o.startAt,
		preflight: func() error { return benchMediaPreflight(f, o, &part) },
		run:       func() (mediabench.Runner, error) { return mediabench.NewRun(part) },
		unprepared: func(err error) error {
			return fmt.Errorf("preparing bench media against %s: %w", target, err)
		},
		spread: func(exe string) (mediabench.Runner, error) {
			return mediabench.NewProcs(exe, part, o.Procs, f.IO.ErrOut)
		},
		status:        benchMediaStatus,
		judge:         judgeBenchMedia,
		metricsListen: o.MetricsListen, metrics: benchMediaMetrics,
	})
}

// judgeBenchMedia reads a finished bench media run (benchJob.judge).
func judgeBenchMedia(rep *mediabench.Report) (warning string, fruitless error) {
	if rep.Saturated {
		warning = fmt.Sprintf("the generator saturated (%s); the figures may understate the server", strings.Join(rep.Warnings, "; "))
	}
	if rep.Subscribers.OK > 0 || rep.Subscribers.Attempted == 0 || rep.Interrupted {
		return warning, nil
	}
	top := "no errors recorded"
	if len(rep.Worst) > 0 && rep.Worst[0].Error != "" {
		top = rep.Worst[0].Error
		if h := reasonHint(rep.Worst[0].Reason); h != "" {
			top += "; " + h
		}
	}
	return warning, fmt.Errorf("no subscriber received a frame from %s (%s): check that the server is up, the URL is right and someone publishes in the room (--publishers 1)", rep.Target, top)
}

// benchMediaMetrics are bench media's live figures for --metrics-listen.
func benchMediaMetrics(l mediabench.Live, p *bench.PromWriter) {
	p.Gauge("phase", "1 for the phase the run is in", 1, "phase", l.Phase)
	p.Gauge("subscribers_receiving", "subscribers with a first frame still receiving", float64(l.Receiving))
	p.Counter("attempts_total", "subscribers started", float64(l.Attempted))
	p.Counter("subscribers_ok_total", "subscribers that reached their first frame", float64(l.OK))
	p.Counter("failures_total", "subscribers that failed", float64(l.Failed))
	p.Counter("received_bytes_total", "RTP bytes received", float64(l.Bytes))
	p.Gauge("packets_lost", "packets missing so far, after NACK recovery (late retransmissions lower it)", float64(l.Lost))
	p.Counter("freezes_total", "video freezes", float64(l.Freezes))
	p.Gauge("bitrate_kbps", "bitrate received over the last second", l.BitrateKbps)
}

func benchMediaStatus(l mediabench.Live) progress.Status {
	s := progress.Status{Phase: l.Phase, Text: fmt.Sprintf("receiving %d  ok %d  failed %d  %.0f kbps  freezes %d",
		l.Receiving, l.OK, l.Failed, l.BitrateKbps, l.Freezes)}
	if l.Phase == mediabench.PhaseRamp {
		// A subscriber counts as done once it receives or has failed.
		s.Done, s.Total = min(max(l.Receiving, l.OK)+l.Failed, l.Target), l.Target
	}
	return s
}

// benchMediaSettings validates the flags into generator options.
func benchMediaSettings(f *Factory, o *BenchMediaOptions) (*mediabench.Options, []threshold.Expr, error) {
	urls, err := targetURLs(f, "url", o.URLs, fmt.Sprintf("want ws://host:port/ws (use %s for a WHEP endpoint)", f.FlagRef("whep")), wsSchemes)
	if err != nil {
		return nil, nil, err
	}
	wheps, err := targetURLs(f, "whep", o.WHEPs, "want http(s)://host:port/path", httpSchemes)
	if err != nil {
		return nil, nil, err
	}
	if _, err := targetURLs(f, "whip", []string{o.WHIP}, "want http(s)://host:port/path", httpSchemes); err != nil {
		return nil, nil, err
	}
	if len(urls) == 0 && len(wheps) == 0 {
		return nil, nil, UsageErrorf("%s (with %s) or %s is required: e.g. --url ws://127.0.0.1:7880/ws --room demo", f.FlagRef("url"), f.FlagRef("room"), f.FlagRef("whep"))
	}
	if len(urls) > 0 && o.Room == "" && (len(wheps) == 0 || o.Publishers > 0 && o.WHIP == "") {
		return nil, nil, UsageErrorf("%s is required with %s", f.FlagRef("room"), f.FlagRef("url"))
	}
	if o.Publishers < 0 {
		return nil, nil, UsageErrorf("%s must not be negative", f.FlagRef("publishers"))
	}
	if o.Publishers > 0 && o.WHIP == "" && len(urls) == 0 {
		return nil, nil, UsageErrorf("built-in publishers need %s or %s with %s", f.FlagRef("whip"), f.FlagRef("url"), f.FlagRef("room"))
	}
	if o.Subscribers <= 0 {
		return nil, nil, UsageErrorf("%s must be at least 1, got %d", f.FlagRef("subscribers"), o.Subscribers)
	}
	rate, err := bench.ParseRate(o.Rate)
	if err != nil {
		return nil, nil, UsageErrorf("%s: %v", f.FlagRef("rate"), err)
	}
	if o.Duration < 0 {
		return nil, nil, UsageErrorf("%s must not be negative", f.FlagRef("duration"))
	}
	if err := requirePositive(f, "timeout", o.Timeout); err != nil {
		return nil, nil, err
	}
	if o.Procs < 1 || o.Procs > o.Subscribers {
		return nil, nil, UsageErrorf("%s must be between 1 and %s (%d), got %d", f.FlagRef("procs"), f.FlagRef("subscribers"), o.Subscribers, o.Procs)
	}
	if o.Bind != "" && net.ParseIP(o.Bind) == nil {
		return nil, nil, UsageErrorf("%s %q: want an IP address", f.FlagRef("bind"), o.Bind)
	}
	if err := checkLayerFlag(f, o.Layer); err != nil {
		return nil, nil, err
	}
	if o.ShapeKbps < 0 || o.Shaped < 0 || o.Shaped > 0 && o.ShapeKbps == 0 {
		return nil, nil, UsageErrorf("%s must not be negative, and %s needs a positive %s", f.FlagRef("shape-kbps"), f.FlagRef("shaped"), f.FlagRef("shape-kbps"))
	}
	mo := &mediabench.Options{Room: o.Room, WHIP: o.WHIP, Simulcast: o.Simulcast, Layer: o.Layer, ShapeRateBps: int64(o.ShapeKbps) * 1000, Shaped: o.Shaped,
		Subscribers: o.Subscribers, Publishers: o.Publishers, Rate: rate, Duration: o.Duration,
		Timeout: o.Timeout, BindIP: o.Bind, ServerPID: o.ServerPID, Procs: o.Procs, TLS: o.TLS}
	if _, err := clientTLS(f, o.TLS); err != nil {
		return nil, nil, err
	}
	if mo.Auth, err = o.credentials(f, func(c auth.Credentials) error {
		_, err := c.Fixed(mo.WSSessions())
		return err
	}); err != nil {
		return nil, nil, err
	}
	if mo.Shard, o.startAt, mo.RunID, err = o.resolve(f); err != nil {
		return nil, nil, err
	}
	mo.URL, mo.URLs = bench.FirstOf("", urls)
	mo.WHEP, mo.WHEPs = bench.FirstOf("", wheps)
	mo.StatsURL = benchStatsURL(o.ServerStats, mo.URL, mo.URL != "")
	if mo.StatsURL, err = checkServerSampling(f, "server-stats", mo.StatsURL, o.ServerStats == "", o.ServerPID); err != nil {
		return nil, nil, err
	}
	exprs, err := parseAsserts(f, o.Asserts, (&mediabench.Report{}).Metrics())
	if err != nil {
		return nil, nil, err
	}
	return mo, exprs, nil
}

// benchMediaPreflight refuses runs that cannot fit this process's
// descriptor budget, naming --procs.
func benchMediaPreflight(f *Factory, o *BenchMediaOptions, mo *mediabench.Options) error {
	per := mediabench.FDsPerSubscriber(mo.Protocol())
	// The parent holds the publishers (a few descriptors each) and, with
	// --procs, no subscriber.
	need := (mo.Subscribers+o.Procs-1)/o.Procs*per + mo.Publishers*8
	why := fmt.Sprintf("each subscriber holds %d descriptors (its UDP socket%s); ", per, map[bool]string{true: " and its /ws connection", false: ""}[per == 2])
	return checkBenchFDs(f, need, mo.Subscribers*per, why, "subscribers")
}
