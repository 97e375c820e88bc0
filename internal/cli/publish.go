package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/report"
	"github.com/livectl/livectl/internal/term/progress"
	"github.com/livectl/livectl/internal/term/units"
	"github.com/livectl/livectl/internal/tlsconf"
)

// PublishOptions are the resolved flags of `livectl publish`: the
// publisher's own options, bound to flags directly, and how long to run.
type PublishOptions struct {
	publish.Options
	Duration time.Duration
	TLS      tlsconf.Client
	// Retry starts a new session, with backoff, whenever one ends or
	// cannot start (publish.Keep).
	Retry bool
	// URLs is --url: one, or with --retry a cluster's nodes, tried in turn.
	URLs []string
}

func newPublishCmd(f *Factory) *cobra.Command {
	o := &PublishOptions{}
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Publish a looping clip or a media file into a room, like a real client",
		Long: `Publish media to a livectl server (--url ws://host:7880/ws --room R) or to any
WHIP endpoint (--url http://host/whip/R).

Without --file, the built-in clip is sent: VP8 640x360 at 30 fps with a
keyframe every second, and an Opus tone. --simulcast sends its video in three
layers instead, with RTP stream ids q (320x180, ~150 kbit/s), h (640x360,
~500 kbit/s) and f (1280x720, ~1.5 Mbit/s), for the server to pick per viewer. --file takes IVF (VP8), H.264 Annex-B
(.h264, --fps sets its frame rate) or Ogg Opus. The media loops with RTP
timestamps continuing across loops.

It behaves like a real client: NACKs are answered from a send cache, and a
PLI or FIR gets a keyframe at the next frame. A file cannot be re-encoded, so
"a keyframe" means jumping to the next keyframe in the file; the same jump
guarantees a keyframe at least every 2 s whatever the file's GOP.

--keyframe-interval and --ignore-pli make it act as a fixed-GOP encoder (as
hardware and broadcast encoders do): a keyframe exactly every interval and no
other, and keyframe requests left unanswered. A clip GOP shorter than the
interval is played slower to reach it (the built-in clip's 1 s GOP at
--keyframe-interval 2s: 15 frames/s, half the bitrate); a longer one is cut.

Runs until interrupted or for --duration, then prints what it sent. With
--retry, a session that ends (the server went away or stayed silent for 2 s,
the room's origin node died) or cannot start is started again after 0.1 s,
doubling up to 5 s: in a cluster, point --url at the load balancer, or give
the nodes' URLs (each new session goes to the next), and the publisher reaches
the new origin.`,
		Example: `  livectl publish --url ws://127.0.0.1:7880/ws --room demo
  livectl publish --url http://127.0.0.1:7880/whip/demo --file talk.ivf --duration 1m
  livectl publish --url ws://127.0.0.1:7880/ws --room demo --simulcast
  livectl publish --url ws://127.0.0.1:7880/ws --room demo --file cam.h264 --fps 25 -o json
  livectl publish --url http://127.0.0.1:7880/whip/demo --keyframe-interval 2s --ignore-pli
  livectl publish --retry --url http://node-a:7880/whip/demo,http://node-b:7880/whip/demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPublishCommand(cmd.Context(), f, o) },
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&o.URLs, "url", nil, "livectl signaling URL (ws://host:7880/ws) or a WHIP endpoint (http://host/whip/ROOM); with --retry, several (repeated or comma-separated: a cluster's nodes) are tried in turn, the next one each time a session ends or cannot start")
	fl.StringVar(&o.Room, "room", "", "room to publish into (with a ws:// URL)")
	fl.StringVar(&o.Identity, "identity", "", "identity in the room (default: the --token's, else publish-<random>)")
	fl.StringVar(&o.Token, "token", "", "join token (ws) or WHIP bearer token")
	fl.StringVar(&o.File, "file", "", "media file: .ivf (VP8), .h264 (Annex-B) or .ogg (Opus); default the built-in clip")
	fl.IntVar(&o.FPS, "fps", 30, "frame rate of an H.264 file")
	fl.BoolVar(&o.NoAudio, "no-audio", false, "leave the built-in clip's audio out")
	fl.BoolVar(&o.Simulcast, "simulcast", false, "send the built-in clip's video in three layers (rids q 320x180, h 640x360, f 1280x720)")
	fl.DurationVar(&o.KeyframeInterval, "keyframe-interval", 0, "a keyframe exactly this often and no other, like a fixed-GOP encoder (0: the clip's, at least every 2s)")
	fl.BoolVar(&o.IgnorePLI, "ignore-pli", false, "leave keyframe requests (PLI/FIR) unanswered, like a fixed-GOP encoder")
	fl.DurationVar(&o.Duration, "duration", 0, "stop after this long (0: until interrupted)")
	fl.DurationVar(&o.ConnectTimeout, "connect-timeout", 15*time.Second, "limit on signaling plus ICE/DTLS")
	addClientTLS(fl, &o.TLS)
	fl.BoolVar(&o.Retry, "retry", false, "publish again, with backoff (0.1 s doubling to 5 s), when the session ends, its server is silent for 2 s, or it cannot start")
	return cmd
}

func checkMediaURL(f *Factory, u, room string, roomNeeded bool) error {
	switch {
	case u == "":
		return UsageErrorf("%s is required (ws://host:7880/ws with --room, or an http(s) WHIP/WHEP endpoint)", f.FlagRef("url"))
	case peer.IsWebSocketURL(u):
		if roomNeeded && room == "" {
			return UsageErrorf("%s is required with a ws:// %s", f.FlagRef("room"), f.FlagRef("url"))
		}
	case strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://"):
		if room != "" && !f.Globals.Quiet {
			fmt.Fprintf(f.IO.ErrOut, "warning: %s %q is not used: a WHIP/WHEP %s names its room in its path\n", f.FlagRef("room"), room, f.FlagRef("url"))
		}
	default:
		return UsageErrorf("%s %q: want ws://, wss://, http:// or https://", f.FlagRef("url"), u)
	}
	return nil
}

// fromToken fills the room and identity a /ws client must join as from its
// --token when they are not given: the server refuses any other (a token
// minted for identity "probe" failed as "forbidden … as probe-943431466").
func fromToken(token, u string, room, identity *string) {
	if token == "" {
		return
	}
	g, err := auth.Peek(token)
	if err != nil {
		return // the server will say what is wrong with it
	}
	if *identity == "" {
		*identity = g.Identity
	}
	if *room == "" && peer.IsWebSocketURL(u) {
		*room = g.Room
	}
}

func runPublishCommand(ctx context.Context, f *Factory, o *PublishOptions) error {
	urls, err := targetURLs(f, "url", o.URLs, "want ws://, wss://, http:// or https://", wsSchemes, httpSchemes)
	if err != nil {
		return err
	}
	if len(urls) > 1 && !o.Retry {
		return UsageErrorf("several %s are for %s (the next one when a session ends): give one, or add %s", f.FlagRef("url"), f.FlagRef("retry"), f.FlagRef("retry"))
	}
	o.URL, o.MoreURLs = "", nil
	if len(urls) > 0 {
		o.URL, o.MoreURLs = urls[0], urls[1:]
	}
	fromToken(o.Token, o.URL, &o.Room, &o.Identity)
	for _, u := range append([]string{o.URL}, o.MoreURLs...) {
		if err := checkMediaURL(f, u, o.Room, true); err != nil {
			return err
		}
	}
	if o.FPS <= 0 || o.FPS > 240 {
		return UsageErrorf("%s %d: want 1–240", f.FlagRef("fps"), o.FPS)
	}
	if o.Duration < 0 {
		return UsageErrorf("%s must not be negative", f.FlagRef("duration"))
	}
	if o.KeyframeInterval < 0 || o.KeyframeInterval > time.Minute {
		return UsageErrorf("%s %s: want 0 (the clip's keyframes) up to 1m", f.FlagRef("keyframe-interval"), o.KeyframeInterval)
	}
	if err := requirePositive(f, "connect-timeout", o.ConnectTimeout); err != nil {
		return err
	}
	if o.Simulcast && o.File != "" {
		return UsageErrorf("%s sends the built-in clip's three layers: leave out %s", f.FlagRef("simulcast"), f.FlagRef("file"))
	}
	if o.File != "" {
		if fh, err := os.Open(o.File); err != nil {
			return UsageErrorf("%s: %v", f.FlagRef("file"), err)
		} else {
			fh.Close()
		}
	}
	opts := o.Options
	opts.Logger = f.Logger
	tlsCfg, err := clientTLS(f, o.TLS)
	if err != nil {
		return err
	}
	opts.Peer.TLS = tlsCfg
	// Offer only the address that reaches the server; if it cannot be
	// found (no route yet), gather on every address as before.
	opts.Peer.BindIP, _ = peer.LocalIPToward(o.URL)
	for _, u := range o.MoreURLs {
		// Nodes reached from different addresses: gather on every one.
		if ip, _ := peer.LocalIPToward(u); !ip.Equal(opts.Peer.BindIP) {
			opts.Peer.BindIP = nil
		}
	}
	if o.Retry {
		if !f.Globals.Quiet {
			fmt.Fprintf(f.IO.ErrOut, "publishing to %s%s, retrying when the session ends; Ctrl-C to stop\n", strings.Join(append([]string{o.URL}, o.MoreURLs...), ", "), roomSuffix(o.Room, o.URL))
		}
		st, err := publish.Keep(ctx, opts, o.Duration, publish.DefaultBackoff, func(err error, wait time.Duration) {
			if !f.Globals.Quiet {
				fmt.Fprintf(f.IO.ErrOut, "session ended: %v; publishing again in %s\n", err, wait)
			}
		})
		if err != nil {
			return withHint(err)
		}
		return printPublishStats(f, st)
	}
	p, err := publish.Start(ctx, opts)
	if errors.Is(err, publish.ErrUnknownFormat) {
		return UsageErrorf("%s: %v", f.FlagRef("file"), err)
	}
	if err != nil {
		return withHint(err)
	}
	st := p.Stats()
	if !f.Globals.Quiet {
		dims := ""
		if st.Width > 0 {
			dims = fmt.Sprintf(" %dx%d", st.Width, st.Height)
		}
		until := "; Ctrl-C to stop"
		if o.Duration > 0 {
			until = " for " + o.Duration.String()
		}
		if len(st.Layers) > 0 {
			dims = ", simulcast " + strings.Join(st.Layers, ", ")
		}
		fmt.Fprintf(f.IO.ErrOut, "publishing %s (%s%s) to %s%s%s\n", p.Source(), st.Codec, dims, o.URL, roomSuffix(o.Room, o.URL), until)
	}
	// On a terminal, one line redrawn each second says the publisher is
	// alive; in a pipe or a log it would only be noise.
	mode := progress.Off
	if f.IO.ErrTTY && !f.Globals.Quiet {
		mode = progress.Bar
	}
	status := progress.Start(f.IO.ErrOut, mode, time.Second, newPublishStatus(p.Stats, p.Done(), time.Now()).status)
	runErr := p.Wait(ctx, o.Duration)
	status.Stop()
	if err := printPublishStats(f, p.Stats()); err != nil {
		return err
	}
	return runErr
}

// publishStatus renders publish's live line: connected, bitrate over the
// last interval, keyframes sent, PLIs answered with a keyframe.
type publishStatus struct {
	stats func() publish.Stats
	done  <-chan struct{}

	lastBytes int64
	lastAt    time.Time
}

func newPublishStatus(stats func() publish.Stats, done <-chan struct{}, now time.Time) *publishStatus {
	return &publishStatus{stats: stats, done: done, lastBytes: stats().BytesSent, lastAt: now}
}

func (s *publishStatus) status() progress.Status { return s.at(time.Now()) }

// at is status at a given time (tests).
func (s *publishStatus) at(now time.Time) progress.Status {
	st := s.stats()
	state := "connected"
	select {
	case <-s.done:
		state = "stopped"
	default:
	}
	var bps float64
	if d := now.Sub(s.lastAt); d > 0 {
		bps = float64(st.BytesSent-s.lastBytes) * 8 / d.Seconds()
	}
	s.lastBytes, s.lastAt = st.BytesSent, now
	return progress.Status{Text: fmt.Sprintf("%s  %s  keyframes %d  PLIs answered %d/%d",
		state, units.Bits(bps), st.KeyframesSent, st.KeyframesOnPLI, st.PLIs+st.FIRs)}
}

func printPublishStats(f *Factory, st publish.Stats) error {
	if f.Globals.JSON() {
		return report.WriteJSON(f.IO.Out, st)
	}
	fmt.Fprintf(f.IO.Out, "codec %s  frames %d  keyframes %d (%d on request)  audio packets %d  bytes %d  loops %d\n",
		st.Codec, st.FramesSent, st.KeyframesSent, st.KeyframesOnPLI, st.AudioPacketsSent, st.BytesSent, st.Loops)
	fmt.Fprintf(f.IO.Out, "feedback: PLI %d  FIR %d  NACK %d (%d packets)\n", st.PLIs, st.FIRs, st.NACKs, st.NACKedPackets)
	return nil
}

func roomSuffix(room, u string) string {
	if room == "" || !peer.IsWebSocketURL(u) {
		return ""
	}
	return " room " + room
}
