// Package publish is livectl's real publisher: a pion peer that sends a
// looping clip (the built-in one or a file) to a livectl server over /ws or
// to any WHIP endpoint, behaving like a real client — continuous
// timestamps across loops, a keyframe at least every 2 s and at once on
// PLI/FIR, NACKs answered from a send cache — or like a fixed-GOP encoder
// (Options.KeyframeInterval, Options.IgnorePLI).
package publish

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/livectl/livectl/internal/media"
	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/signal"
)

// MaxKeyframeInterval is the longest the publisher goes without sending a
// keyframe, whatever the clip's own GOP: a viewer that joins and whose PLI
// is lost still starts within this time.
const MaxKeyframeInterval = 2 * time.Second

// Options say where and what to publish.
type Options struct {
	// URL is a livectl signaling URL (ws://host/ws) or a WHIP endpoint
	// (http://host/whip/room).
	URL string
	// MoreURLs are other nodes of the same cluster (or service) that Keep
	// turns to, round robin, when a session ends or cannot start; Start
	// uses URL only. They take the same Room and Token.
	MoreURLs []string
	// Room is required with a ws:// URL; ignored for WHIP (the room is in the URL).
	Room string
	// Identity in the room; default "publish-<random>".
	Identity string
	// Token is the join token (ws) or bearer token (WHIP).
	Token string
	// File is an IVF (VP8), Annex-B H.264 or Ogg Opus file; empty publishes
	// the built-in clip (VP8 video and Opus audio).
	File string
	// FPS is the frame rate of an H.264 file (Annex-B has no timing); default 30.
	FPS int
	// NoAudio leaves the built-in clip's audio out.
	NoAudio bool
	// Simulcast sends the built-in clip's video in three layers with RTP
	// stream ids q (320x180), h (640x360) and f (1280x720), for a relay
	// to choose from per viewer. Not with File.
	Simulcast bool
	// KeyframeInterval, when positive, makes the publisher a fixed-GOP
	// encoder: a keyframe exactly this often on the send schedule and no
	// other. A pre-encoded clip cannot turn its own keyframes into delta
	// frames, so a clip GOP shorter than the interval is played slower
	// (each frame lasts interval/GOP times longer: fewer frames per second
	// and less bitrate, every frame still decodable); a longer one is cut
	// at the interval by jumping to the next keyframe. Zero: the clip's
	// keyframes, and at least one every MaxKeyframeInterval.
	KeyframeInterval time.Duration
	// IgnorePLI leaves keyframe requests (PLI, FIR) unanswered, as fixed-GOP
	// hardware and broadcast encoders do; they are still counted.
	IgnorePLI bool
	// ConnectTimeout bounds signaling plus ICE/DTLS. Default 15s.
	ConnectTimeout time.Duration
	// Peer tunes the WebRTC side (ICE servers).
	Peer   peer.Options
	Logger *slog.Logger
}

// Stats count what the publisher did; read them with Publisher.Stats.
type Stats struct {
	Codec            string   `json:"codec"`
	Width            int      `json:"width,omitempty"`
	Height           int      `json:"height,omitempty"`
	Layers           []string `json:"layers,omitempty"` // simulcast: "rid WxH", lowest first
	FramesSent       int64    `json:"frames_sent"`
	KeyframesSent    int64    `json:"keyframes_sent"`
	KeyframesOnPLI   int64    `json:"keyframes_on_request"` // keyframes sent early because of PLI/FIR
	AudioPacketsSent int64    `json:"audio_packets_sent"`
	BytesSent        int64    `json:"bytes_sent"`
	Loops            int64    `json:"loops"`
	PLIs             int64    `json:"plis"`
	FIRs             int64    `json:"firs"`
	NACKs            int64    `json:"nacks"`
	NACKedPackets    int64    `json:"nacked_packets"`
}

// Publisher is one running publish session.
type Publisher struct {
	opts Options
	log  *slog.Logger
	src  *source

	pc   *webrtc.PeerConnection
	sig  *signal.Client // ws mode
	whip *peer.Session  // WHIP mode

	keyRequest atomic.Bool
	connected  chan struct{}
	failed     chan error

	mu    sync.Mutex
	stats Stats

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
	err    error
}

// Start loads the media, negotiates with the server and waits until the
// peer connection is up (ICE and DTLS); media flows when it returns.
func Start(ctx context.Context, o Options) (*Publisher, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 15 * time.Second
	}
	if o.Identity == "" {
		o.Identity = "publish-" + rand.Text()
	}
	if peer.IsWebSocketURL(o.URL) && o.Room == "" {
		return nil, ErrNoRoom
	}
	var src *source
	var err error
	switch {
	case o.Simulcast && o.File != "":
		return nil, ErrSimulcastFile
	case o.Simulcast:
		src, err = builtinSimulcastSource()
	case o.File == "":
		src, err = builtinSource()
	default:
		if src, err = fileSource(o.File, o.FPS); err != nil {
			err = &FileError{Path: o.File, Err: err}
		}
	}
	if err == nil && o.NoAudio && o.File == "" {
		src.audio = nil
	}
	if err != nil {
		return nil, err
	}
	p := &Publisher{opts: o, log: o.Logger, src: src, connected: make(chan struct{}), failed: make(chan error, 1), done: make(chan struct{})}
	if src.video != nil {
		p.stats.Codec, p.stats.Width, p.stats.Height = src.video.codec, src.video.w, src.video.h
		for i, l := range src.layers {
			p.stats.Layers = append(p.stats.Layers, fmt.Sprintf("%s %dx%d", src.rids[i], l.w, l.h))
		}
	} else {
		p.stats.Codec = src.audio.codec
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())

	cctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	if err := p.connect(cctx); err != nil {
		p.shutdown()
		return nil, err
	}
	go p.watch()
	return p, nil
}

func (p *Publisher) connect(ctx context.Context) error {
	popts := p.opts.Peer
	var tagger *ridTagger
	if len(p.src.layers) > 0 {
		tagger = &ridTagger{}
		popts.Interceptors = append(append([]interceptor.Factory(nil), popts.Interceptors...), tagger)
	}
	api, err := peer.NewAPI(popts)
	if err != nil {
		return err
	}
	if p.pc, err = peer.NewPeerConnection(api, p.opts.Peer); err != nil {
		return err
	}
	p.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			select {
			case <-p.connected:
			default:
				close(p.connected)
			}
		case webrtc.PeerConnectionStateFailed:
			p.fail(errors.New("peer connection failed (ICE or DTLS): the server is unreachable over UDP or stopped answering"))
		case webrtc.PeerConnectionStateClosed:
			// Closed by the publisher itself (shutdown cancels p.ctx before
			// closing the peer connection), or by pion on the server's DTLS
			// close_notify: the server ended the session (WHIP DELETE on its
			// side, drain, shutdown, unpublish).
			if p.ctx.Err() != nil {
				return
			}
			what := "the session"
			if !peer.IsWebSocketURL(p.opts.URL) {
				what = "the WHIP session"
			}
			p.fail(fmt.Errorf("%s was ended by the server (peer connection closed)", what))
		}
	})
	var sends []sendGroup
	for _, l := range []*loop{p.src.video, p.src.audio} {
		if l == nil {
			continue
		}
		cap := peer.VP8
		switch l.codec {
		case media.MimeH264:
			cap = peer.H264
		case media.MimeOpus:
			cap = peer.Opus
		}
		kind := "video"
		if l.codec == media.MimeOpus {
			kind = "audio"
		}
		// A simulcast video is one track sent in several encodings, one
		// per layer, each with its RTP stream id.
		g := sendGroup{loops: []*loop{l}, rids: []string{""}}
		if l == p.src.video && len(p.src.layers) > 0 {
			g = sendGroup{loops: p.src.layers, rids: p.src.rids}
		}
		for _, rid := range g.rids {
			var opts []func(*webrtc.TrackLocalStaticRTP)
			if rid != "" {
				opts = append(opts, webrtc.WithRTPStreamID(rid))
			}
			t, err := webrtc.NewTrackLocalStaticSample(cap, kind, "livectl-"+p.opts.Identity, opts...)
			if err != nil {
				return fmt.Errorf("creating %s track: %w", kind, err)
			}
			g.tracks = append(g.tracks, t)
		}
		tr, err := p.pc.AddTransceiverFromTrack(g.tracks[0], webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fmt.Errorf("adding %s track: %w", kind, err)
		}
		for i, t := range g.tracks[1:] {
			if err := tr.Sender().AddEncoding(t); err != nil {
				return fmt.Errorf("adding simulcast layer %s: %w", g.rids[i+1], err)
			}
		}
		g.tr = tr
		sends = append(sends, g)
		for _, rid := range g.rids {
			p.wg.Add(1)
			go p.readRTCP(tr.Sender(), rid)
		}
	}

	if peer.IsWebSocketURL(p.opts.URL) {
		err = p.signalWS(ctx)
	} else {
		err = p.signalWHIP(ctx)
	}
	if err != nil {
		return err
	}
	if tagger != nil {
		for _, g := range sends {
			for _, e := range g.tr.Sender().GetParameters().Encodings {
				if e.RID != "" {
					tagger.tag(uint32(e.SSRC), g.tr.Mid(), e.RID)
				}
			}
		}
	}
	select {
	case <-p.connected:
	case err := <-p.failed:
		return fmt.Errorf("publishing to %s: %w", p.opts.URL, err)
	case <-ctx.Done():
		return fmt.Errorf("publishing to %s: %w within %v", p.opts.URL, ErrNotConnected, p.opts.ConnectTimeout)
	}
	for _, g := range sends {
		p.wg.Add(1)
		go p.send(g)
	}
	return nil
}

// fail reports why the peer connection ended, once; watch (or connect,
// before it returns) ends the session with it.
func (p *Publisher) fail(err error) {
	select {
	case p.failed <- err:
	default:
	}
}

func (p *Publisher) signalWS(ctx context.Context) error {
	c, err := signal.Dial(ctx, p.opts.URL, &signal.DialOptions{TLS: p.opts.Peer.TLS, OnEvent: p.onEvent, ReadBufferSize: 16 << 10})
	if err != nil {
		return err
	}
	p.sig = c
	if _, err := c.Join(ctx, p.opts.Room, p.opts.Identity, p.opts.Token); err != nil {
		return fmt.Errorf("joining room %q on %s: %w", p.opts.Room, p.opts.URL, err)
	}
	offer, err := peer.Offer(ctx, p.pc)
	if err != nil {
		return err
	}
	ans, err := c.Call(ctx, &signal.Message{Type: signal.TypePublish, SDP: offer})
	if err != nil {
		return fmt.Errorf("publishing to room %q on %s: %w", p.opts.Room, p.opts.URL, err)
	}
	if ans.SDP == "" {
		return fmt.Errorf("publishing to room %q on %s: the server's reply carries no SDP answer", p.opts.Room, p.opts.URL)
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		return fmt.Errorf("applying the server's answer: %w", err)
	}
	return nil
}

// onEvent handles server messages on the signaling read goroutine.
func (p *Publisher) onEvent(m *signal.Message) {
	switch m.Type {
	case signal.TypeTrickle:
		if m.Target != signal.TargetPublisher || m.Candidate == nil {
			return
		}
		c := webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid, SDPMLineIndex: m.Candidate.SDPMLineIndex, UsernameFragment: m.Candidate.UsernameFragment}
		if err := p.pc.AddICECandidate(c); err != nil {
			p.log.Warn("ignoring server ICE candidate", "err", err)
		}
	case signal.TypeDraining:
		p.log.Warn("server is draining", "deadline_ms", m.DeadlineMS)
	case signal.TypeError:
		p.log.Warn("server error", "code", m.Code, "reason", m.Reason)
	}
}

func (p *Publisher) signalWHIP(ctx context.Context) error {
	offer, err := peer.Offer(ctx, p.pc)
	if err != nil {
		return err
	}
	s, err := peer.Exchange(ctx, p.opts.Peer.HTTPClient(), p.opts.URL, p.opts.Token, offer)
	if err != nil {
		return fmt.Errorf("WHIP: %w", err)
	}
	p.whip = s
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: s.Answer}); err != nil {
		return fmt.Errorf("applying the WHIP answer from %s: %w", p.opts.URL, err)
	}
	return nil
}

// sendGroup is one track to send: one loop, or a simulcast video's layers
// (lowest first) played in lockstep, each on its own encoding.
type sendGroup struct {
	loops  []*loop
	rids   []string // "" when not simulcast
	tracks []*webrtc.TrackLocalStaticSample
	tr     *webrtc.RTPTransceiver
}

// readRTCP reads feedback for one sender (one simulcast layer of it when
// rid is set). NACKs have already been answered from the send cache by
// pion's NACK responder interceptor by the time they get here; this loop
// counts them and turns PLI/FIR into keyframes. A keyframe request for any
// layer gets a keyframe on every layer: they play in lockstep.
func (p *Publisher) readRTCP(s *webrtc.RTPSender, rid string) {
	defer p.wg.Done()
	read := s.ReadRTCP
	if rid != "" {
		read = func() ([]rtcp.Packet, interceptor.Attributes, error) { return s.ReadSimulcastRTCP(rid) }
	}
	for {
		pkts, _, err := read()
		if err != nil {
			return
		}
		for _, pk := range pkts {
			switch x := pk.(type) {
			case *rtcp.PictureLossIndication:
				p.count(func(s *Stats) { s.PLIs++ })
				p.keyRequest.Store(!p.opts.IgnorePLI)
			case *rtcp.FullIntraRequest:
				p.count(func(s *Stats) { s.FIRs++ })
				p.keyRequest.Store(!p.opts.IgnorePLI)
			case *rtcp.TransportLayerNack:
				n := 0
				for _, pair := range x.Nacks {
					n += len(pair.PacketList())
				}
				p.count(func(s *Stats) { s.NACKs++; s.NACKedPackets += int64(n) })
			}
		}
	}
}

func (p *Publisher) count(f func(*Stats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// send paces one loop (or a simulcast video's layers, in lockstep) onto
// its track in real time. Deadlines are absolute (start + sum of
// durations) so that timing errors do not accumulate. The first loop sets
// the pace; the layers have the same frames, so each step sends the same
// frame of every layer.
func (p *Publisher) send(g sendGroup) {
	defer p.wg.Done()
	l := g.loops[0]
	video := l.codec != media.MimeOpus
	interval := p.opts.KeyframeInterval
	next := time.Now()
	// Keyframe spacing goes by the RTP clock (the durations sent since
	// the last keyframe), not the wall clock, so that neither timer
	// lateness nor a resync after a stall can change it; lastDur stands in
	// for the duration of the frame about to go.
	var sinceKey, lastDur time.Duration
	sentKey := false
	// stretch, when set, is the clip duration of the GOP being sent, which
	// is played over interval instead (KeyframeInterval).
	var stretch time.Duration
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-timer.C:
		}
		loopsBefore := l.loops // a seek can wrap around the clip too
		onRequest := false
		if video {
			requested := p.keyRequest.Swap(false)
			// A keyframe now if the fixed interval is up (at the frame
			// nearest to it), or if waiting for the next frame would
			// leave more than MaxKeyframeInterval since the last one.
			due := !sentKey
			if interval > 0 {
				due = due || sinceKey+lastDur/2 > interval
			} else {
				due = due || sinceKey+lastDur > MaxKeyframeInterval
			}
			if requested || due {
				for _, x := range g.loops {
					x.seekKeyframe()
				}
				onRequest = requested
			}
			if interval > 0 && l.frames[l.i].key {
				stretch = 0
				if gop := l.gopDuration(); gop < interval {
					stretch = gop
				}
			}
		}
		var f frame
		var dur time.Duration
		bytes := 0
		for i, x := range g.loops {
			f = x.next()
			bytes += len(f.data)
			dur = f.dur
			if stretch > 0 {
				dur = time.Duration(int64(f.dur) * int64(interval) / int64(stretch))
			}
			if err := g.tracks[i].WriteSample(pionmedia.Sample{Data: f.data, Duration: dur}); err != nil {
				p.log.Debug("writing sample", "rid", g.rids[i], "err", err)
			}
		}
		p.count(func(s *Stats) {
			s.BytesSent += int64(bytes)
			if video {
				s.FramesSent++
				s.Loops += int64(l.loops - loopsBefore)
				if f.key {
					s.KeyframesSent++
					if onRequest {
						s.KeyframesOnPLI++
					}
				}
			} else {
				s.AudioPacketsSent++
			}
		})
		if f.key {
			sentKey, sinceKey = true, 0
		}
		sinceKey += dur
		lastDur = dur
		next = next.Add(dur)
		d := time.Until(next)
		if d < -time.Second {
			next = time.Now() // far behind (process was stopped): resync rather than burst
			d = 0
		}
		timer.Reset(max(d, 0))
	}
}

// watch ends the session when the peer connection fails or the server
// closes it, or when signaling is lost.
func (p *Publisher) watch() {
	var sigDone <-chan struct{}
	if p.sig != nil {
		sigDone = p.sig.Done()
	}
	var err error
	select {
	case <-p.ctx.Done():
	case e := <-p.failed:
		err = fmt.Errorf("publishing to %s: %w", p.opts.URL, e)
	case <-sigDone:
		err = fmt.Errorf("publishing to %s: signaling connection lost: %v", p.opts.URL, p.sig.Err())
	}
	p.finish(err)
}

func (p *Publisher) finish(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	p.shutdown()
	select {
	case <-p.done:
	default:
		close(p.done)
	}
}

func (p *Publisher) shutdown() {
	p.cancel()
	if p.whip != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		p.whip.Close(ctx)
		cancel()
	}
	if p.sig != nil {
		p.sig.Close()
	}
	if p.pc != nil {
		p.pc.Close()
	}
	p.wg.Wait()
}

// Done is closed when the session has ended.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// Err is why the session ended on its own (nil after Close).
func (p *Publisher) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Close stops publishing and releases the session on the server (WHIP
// DELETE, or closing the signaling connection).
func (p *Publisher) Close() error {
	p.cancel()
	<-p.done
	return nil
}

// RequestKeyframe asks for a keyframe at the next frame, as a PLI would.
func (p *Publisher) RequestKeyframe() { p.keyRequest.Store(true) }

// Stats returns a copy of the counters.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Source describes what is being published, for logs.
func (p *Publisher) Source() string { return p.src.name }

// Wait publishes until ctx ends, duration passes (when positive) or the
// publisher stops by itself; then it closes the publisher and returns the
// error that stopped it, if any. Stats are final after it returns.
func (p *Publisher) Wait(ctx context.Context, duration time.Duration) error {
	var timeout <-chan time.Time
	if duration > 0 {
		t := time.NewTimer(duration)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
	case <-timeout:
	case <-p.Done():
	}
	err := p.Err()
	p.Close()
	return err
}
