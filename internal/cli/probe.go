package cli

import (
	"context"
	"fmt"
	"image/png"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/metrics/threshold"
	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/report"
	"github.com/livectl/livectl/internal/term/progress"
	"github.com/livectl/livectl/internal/tlsconf"
)

// ProbeOptions are the resolved flags of `livectl probe`.
type ProbeOptions struct {
	URLs     []string
	Room     string
	Identity string
	sessionAuth
	Count           int
	Interval        time.Duration
	Timeout         time.Duration
	Observe         time.Duration
	FreezeThreshold time.Duration
	Snapshot        string
	Asserts         []string
	TLS             tlsconf.Client
	Layer           string
}

func newProbeCmd(f *Factory) *cobra.Command {
	o := &ProbeOptions{}
	cmd := &cobra.Command{
		Use:   "probe",
		Short: "Measure first-frame latency of a room (livectl /ws or any WHEP endpoint)",
		Long: `Subscribe to a room as a viewer would and time each attempt from its start
(monotonic clock), in milliseconds:

  signal          the server's SDP received (WHEP: the answer; /ws: the
                  server's offer after join and subscribe)
  ice_connected   ICE found a working candidate pair
  dtls_connected  DTLS is up (the peer connection is connected)
  first_rtp       the first video RTP packet arrived
  first_keyframe  a complete keyframe was reassembled from RTP
  first_decoded   that keyframe decoded (VP8; H.264 is not decoded in Go, and
                  first_frame then uses first_keyframe)

The probe sends a PLI with the first packet unless it starts a keyframe, and
again every 500ms until one completes; keyframe_after_pli says whether the
keyframe followed the probe's own PLI. After the first frame it watches for
--observe and reports a frozen picture (no new frame for --freeze-threshold);
the first decoded picture is checked for black (luma mean <= 32 and
variance <= 16) and can be saved with --snapshot.

Several --url (repeated, or a comma-separated list; all /ws or all WHEP)
take the attempts in turns, and the report sums them up per URL: an edge
against the origin, say.

--assert takes first_frame.<stat> and <phase>.<stat> (stat: p50, p90, p95,
p99, max) with a duration, and errors, black, frozen with a count or a
percentage of attempts: --assert 'first_decoded.p50<150ms,errors<1'.

Exit status: 1 if an attempt failed (the error names the phase and why),
3 if an assertion failed.`,
		Example: `  livectl probe --url ws://127.0.0.1:7880/ws --room demo
  livectl probe --url http://127.0.0.1:7880/whep/demo --count 10 --snapshot frame.png
  livectl probe --url http://origin:7880/whep/demo,http://edge:7880/whep/demo --count 20
  livectl probe --url ws://127.0.0.1:7880/ws --room demo --count 20 --assert 'first_decoded.p95<300ms,black<1' -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runProbeCommand(cmd.Context(), f, o) },
	}
	fl := cmd.Flags()
	urlListFlag(fl, &o.URLs, "url", "livectl signaling URL (ws://host:7880/ws, with --room) or a WHEP endpoint (http://host/whep/ROOM)")
	fl.StringVar(&o.Room, "room", "", "room to subscribe to (with a ws:// URL)")
	fl.StringVar(&o.Identity, "identity", "", "identity in the room (default: the --token's, else probe-<random>)")
	addSessionAuthFlags(fl, &o.sessionAuth, "join token (ws) or WHEP bearer token")
	fl.IntVar(&o.Count, "count", 1, "attempts, one after another")
	fl.DurationVar(&o.Interval, "interval", 500*time.Millisecond, "pause between attempts (plus up to 10 %, at most 50 ms, of random jitter so attempts do not lock to the stream's frame clock)")
	fl.DurationVar(&o.Timeout, "timeout", 10*time.Second, "limit on each attempt up to its first frame")
	fl.DurationVar(&o.Observe, "observe", time.Second, "keep watching this long after the first frame to detect a frozen picture (0: off)")
	fl.DurationVar(&o.FreezeThreshold, "freeze-threshold", 500*time.Millisecond, "a gap between frames longer than this is a freeze")
	fl.StringVar(&o.Snapshot, "snapshot", "", "save the first decoded frame as a PNG file")
	addLayerFlag(fl, &o.Layer)
	fl.StringArrayVar(&o.Asserts, "assert", nil, "thresholds, e.g. 'first_decoded.p50<150ms,errors<1' (exit 3 if one fails)")
	addClientTLS(fl, &o.TLS)
	return cmd
}

func runProbeCommand(ctx context.Context, f *Factory, o *ProbeOptions) error {
	urls, err := targetURLs(f, "url", o.URLs, "want ws://, wss://, http:// or https://", wsSchemes, httpSchemes)
	if err != nil {
		return err
	}
	if len(urls) > 1 {
		// One report compares its attempts: signal is the WHEP answer in
		// one kind and the server's offer after join in the other.
		if err := oneKind(f, "url", urls, "one probe run measures one kind (its phases differ): run a probe for each"); err != nil {
			return err
		}
	}
	target := strings.Join(urls, ",")
	first := ""
	if len(urls) > 0 {
		first = urls[0]
	}
	fromToken(o.Token, first, &o.Room, &o.Identity)
	if err := checkMediaURL(f, first, o.Room, true); err != nil {
		return err
	}
	switch {
	case o.Count < 1:
		return UsageErrorf("%s must be at least 1", f.FlagRef("count"))
	case o.Timeout <= 0:
		return UsageErrorf("%s must be positive", f.FlagRef("timeout"))
	case o.Interval < 0 || o.Observe < 0 || o.FreezeThreshold <= 0:
		return UsageErrorf("%s and %s must not be negative, %s must be positive", f.FlagRef("interval"), f.FlagRef("observe"), f.FlagRef("freeze-threshold"))
	}
	if err := checkLayerFlag(f, o.Layer); err != nil {
		return err
	}
	// Probe attempts join one after another as one identity: a token fits.
	if _, err := o.credentials(f, func(auth.Credentials) error { return nil }); err != nil {
		return err
	}
	exprs, err := parseAsserts(f, o.Asserts, probe.NewReport("", "").Metrics())
	if err != nil {
		return err
	}
	if err := checkWritable(f, "snapshot", o.Snapshot); err != nil {
		return err
	}
	tlsCfg, err := clientTLS(f, o.TLS)
	if err != nil {
		return err
	}
	// Offer only the address that reaches the server (nil: every address,
	// as with several --url, which may be reached from different ones).
	var bindIP net.IP
	if len(urls) == 1 {
		bindIP, _ = peer.LocalIPToward(urls[0])
	}

	settings := *o // for the report's context
	settings.sessionAuth = o.redacted()
	start := time.Now()
	var done, failed atomic.Int64
	bar := progress.Start(f.IO.ErrOut, progress.ModeFor(f.Globals.Quiet || o.Count == 1, f.IO.ErrTTY), time.Second, func() progress.Status {
		return progress.Status{Phase: "probe", Done: done.Load(), Total: int64(o.Count),
			Text: fmt.Sprintf("ok %d  failed %d", done.Load()-failed.Load(), failed.Load())}
	})
	rep := probe.Run(ctx, probe.RunOptions{
		URLs: urls,
		Options: probe.Options{URL: first, Room: o.Room, Identity: o.Identity, Token: o.Token, Timeout: o.Timeout,
			Observe: o.Observe, FreezeThreshold: o.FreezeThreshold, Layer: o.Layer, Logger: f.Logger,
			Peer: peer.Options{TLS: tlsCfg, BindIP: bindIP}},
		Count: o.Count, Interval: o.Interval, Secret: o.AuthSecret,
		OnAttempt: func(_ int, r probe.Result) {
			done.Add(1)
			if !r.OK() {
				failed.Add(1)
			}
		},
	})
	bar.Stop()
	hintProbeRuns(rep)
	rep.Context = runContext(rep.Target, settings, start)
	// A probe that reached no frame exits 1 whatever --assert says.
	var results []threshold.Result
	if rep.OK > 0 {
		results = threshold.Evaluate(exprs, rep.Metrics())
		rep.Assertions = assertOutcomes(results)
	}

	if f.Globals.JSON() {
		if err := report.WriteJSON(f.IO.Out, rep); err != nil {
			return err
		}
	} else if err := writeProbeTable(f.IO.Out, rep); err != nil {
		return err
	}
	if o.Snapshot != "" {
		if err := saveSnapshot(o.Snapshot, rep); err != nil {
			return fmt.Errorf("%s: %w", f.FlagRef("snapshot"), err)
		}
	}
	if rep.OK == 0 {
		if len(rep.Runs) == 0 {
			return fmt.Errorf("probing %s: interrupted before the first attempt", target)
		}
		return fmt.Errorf("probing %s: %s", target, rep.Runs[0].Error)
	}
	if err := judgeAsserts(f, results); err != nil {
		return err
	}
	if n := rep.Attempts - rep.OK; n > 0 {
		for _, r := range rep.Runs {
			if !r.OK() {
				return fmt.Errorf("probing %s: %d of %d attempts failed; first: %s", target, n, rep.Attempts, r.Error)
			}
		}
	}
	return nil
}

func saveSnapshot(path string, rep *probe.Report) error {
	for _, r := range rep.Runs {
		if r.Image == nil {
			continue
		}
		fh, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("saving snapshot: %w", err)
		}
		if err := png.Encode(fh, r.Image); err != nil {
			fh.Close()
			return fmt.Errorf("saving snapshot %s: %w", path, err)
		}
		return fh.Close()
	}
	if rep.OK > 0 {
		return fmt.Errorf("saving snapshot %s: no frame was decoded (%s); snapshots need VP8", path, rep.Runs[0].Note)
	}
	return nil
}

func fmtPhase(r probe.Result, p string) string {
	if v, ok := r.PhasesMS[p]; ok {
		return fmt.Sprintf("%.1f", v)
	}
	return "-"
}

func writeProbeTable(w io.Writer, rep *probe.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\tsignal\tice\tdtls\tfirst_rtp\tkeyframe\tdecoded\t codec\tsize\tpicture\t")
	for i, r := range rep.Runs {
		if !r.OK() {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t %s\t\t\t\n", i+1, fmtPhase(r, probe.PhaseSignal), fmtPhase(r, probe.PhaseICEConnected),
				fmtPhase(r, probe.PhaseDTLSConnected), fmtPhase(r, probe.PhaseFirstRTP), fmtPhase(r, probe.PhaseFirstKeyframe),
				fmtPhase(r, probe.PhaseFirstDecoded), "FAILED")
			continue
		}
		pic := "ok"
		switch {
		case r.Black && r.Frozen:
			pic = "BLACK,FROZEN"
		case r.Black:
			pic = "BLACK"
		case r.Frozen:
			pic = "FROZEN"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t %s\t%dx%d\t%s\t\n", i+1, fmtPhase(r, probe.PhaseSignal), fmtPhase(r, probe.PhaseICEConnected),
			fmtPhase(r, probe.PhaseDTLSConnected), fmtPhase(r, probe.PhaseFirstRTP), fmtPhase(r, probe.PhaseFirstKeyframe),
			fmtPhase(r, probe.PhaseFirstDecoded), strings.TrimPrefix(r.Codec, "video/"), r.Width, r.Height, pic)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, r := range rep.Runs {
		if !r.OK() {
			fmt.Fprintf(w, "attempt %d failed: %s\n", i+1, r.Error)
		}
		if r.LayerSwitches > 0 {
			fmt.Fprintf(w, "attempt %d layers:", i+1)
			for _, sp := range r.Layers {
				fmt.Fprintf(w, " %s at %.0fms (%.0fms)", sp.Size, sp.AtMS, r.TimeAtLayerMS[sp.Size])
			}
			fmt.Fprintln(w)
		}
	}
	if rep.Interrupted {
		fmt.Fprintf(w, "interrupted after %d attempts: the figures cover those\n", rep.Attempts)
	}
	if rep.OK > 0 {
		s := rep.FirstFrameMS
		fmt.Fprintf(w, "%d/%d ok  first frame p50 %.1fms  p95 %.1fms  max %.1fms", rep.OK, rep.Attempts, s.P50, s.P95, s.Max)
		if rep.Black > 0 || rep.Frozen > 0 {
			fmt.Fprintf(w, "  black %d  frozen %d", rep.Black, rep.Frozen)
		}
		fmt.Fprintln(w)
		for _, t := range rep.Targets {
			fmt.Fprintf(w, "  %s: %d/%d ok  first frame p50 %.1fms  max %.1fms\n", t.URL, t.OK, t.Attempts, t.FirstFrameMS.P50, t.FirstFrameMS.Max)
		}
		if note := rep.Runs[0].Note; note != "" {
			fmt.Fprintln(w, "note:", note)
		}
	}
	return nil
}

// addLayerFlag adds --layer, the simulcast cap of probe and bench media.
func addLayerFlag(fl *pflag.FlagSet, layer *string) {
	fl.StringVar(layer, "layer", "", "ask a simulcast server for at most this layer: q, h or f (WHEP ?layer=, /ws set_quality)")
}

// checkLayerFlag refuses a --layer the server would not know.
func checkLayerFlag(f *Factory, layer string) error {
	if layer != "" && !probe.ValidLayer(layer) {
		return UsageErrorf("%s %q: want q, h or f", f.FlagRef("layer"), layer)
	}
	return nil
}
