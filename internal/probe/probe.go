// Package probe measures first-frame latency: it subscribes to a room (over
// livectl's /ws signaling or any WHEP endpoint) the way a viewer does and
// times each phase from the start of the attempt on the monotonic clock —
// signal, ice_connected, dtls_connected, first_rtp, first_keyframe (a whole
// keyframe reassembled from RTP) and first_decoded (VP8 decoded in Go). It is
// used by `livectl probe` and by `bench media`.
package probe

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/livectl/livectl/internal/media"
	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/signal"
)

// Phase names, in the order they happen. They are the keys of phases_ms in
// the JSON report and the metric names of --assert.
const (
	PhaseSignal        = "signal"
	PhaseICEConnected  = "ice_connected"
	PhaseDTLSConnected = "dtls_connected"
	PhaseFirstRTP      = "first_rtp"
	PhaseFirstKeyframe = "first_keyframe"
	PhaseFirstDecoded  = "first_decoded"
)

// Phases lists the phase names in order.
var Phases = []string{PhaseSignal, PhaseICEConnected, PhaseDTLSConnected, PhaseFirstRTP, PhaseFirstKeyframe, PhaseFirstDecoded}

// Options configure one probe attempt.
type Options struct {
	// URL is livectl's signaling URL (ws://host/ws, with Room) or a WHEP
	// endpoint (http://host/whep/room).
	URL      string
	Room     string
	Identity string // default "probe-<random>"
	Token    string // join token (ws) or bearer token (WHEP)
	// Timeout bounds one attempt up to its first frame. Default 10s.
	Timeout time.Duration
	// Observe is how long to keep watching after the first frame to detect
	// a frozen picture. 0 disables freeze detection.
	Observe time.Duration
	// FreezeThreshold is the longest gap between frames that is not a
	// freeze. Default 500ms.
	FreezeThreshold time.Duration
	// PLIInterval is how often a keyframe is requested while none has
	// arrived (the first request goes out with the first packet). Default 500ms.
	PLIInterval time.Duration
	Peer        peer.Options
	Logger      *slog.Logger
	// OnFrame, if set, is called on the reading goroutine with every
	// complete video frame from the first keyframe on, at its arrival time
	// (bench media counts frames and freezes with it). It must not block.
	OnFrame func(t time.Time, f media.Frame)
	// NoImage drops the first decoded picture instead of returning it in
	// Result.Image (bench media holds many attempts open at once).
	NoImage bool
	// CountOnly, from the first keyframe on (which is still assembled and
	// decoded, so every phase is measured as usual), finds frames from RTP
	// headers and payload descriptors alone (see countFrames): no payload
	// is copied, no frame built, no picture hashed. OnFrame then gets
	// frames without Data, and Frozen only means that no complete frame
	// arrived for longer than FreezeThreshold (a repeated picture is not
	// noticed). For callers that hold many attempts open (bench media).
	CountOnly bool
	// Layer asks a simulcast relay for at most this layer ("q", "h", "f"):
	// the WHEP URL's ?layer= or, over /ws, set_quality after subscribing.
	Layer string
	// api is shared between attempts of one run.
	api *webrtc.API
}

// Result is one attempt.
type Result struct {
	// URL is the target the attempt used, recorded when a run spreads its
	// attempts over several (RunOptions.URLs).
	URL string `json:"url,omitempty"`
	// PhasesMS holds each reached phase's time from the attempt's start in
	// milliseconds; phases not reached are absent.
	PhasesMS map[string]float64 `json:"phases_ms"`
	Codec    string             `json:"codec"`
	Width    int                `json:"width"`
	Height   int                `json:"height"`
	Black    bool               `json:"black"`
	Frozen   bool               `json:"frozen"`
	// LumaMean and LumaVariance describe the first decoded picture.
	LumaMean     float64 `json:"luma_mean,omitempty"`
	LumaVariance float64 `json:"luma_variance,omitempty"`
	// PLIsSent counts the probe's keyframe requests; KeyframeAfterPLI says
	// whether the first keyframe arrived after the probe's first PLI (true)
	// or was already on its way (false).
	PLIsSent         int     `json:"plis_sent"`
	KeyframeAfterPLI bool    `json:"keyframe_after_pli"`
	PLIToKeyframeMS  float64 `json:"pli_to_keyframe_ms,omitempty"`
	// Frames and MaxGapMS come from the observation window after the first frame.
	Frames   int     `json:"frames,omitempty"`
	MaxGapMS float64 `json:"max_frame_gap_ms,omitempty"`
	// Layers is the picture size received over time (each change a
	// simulcast layer switch), from the first keyframe to the end of the
	// observation; LayerSwitches counts the changes, TimeAtLayerMS the
	// time at each size (with CountOnly too: VP8 keyframes' sizes are read
	// from their first packet).
	Layers        []LayerSpan        `json:"layers,omitempty"`
	LayerSwitches int                `json:"layer_switches,omitempty"`
	TimeAtLayerMS map[string]float64 `json:"time_at_layer_ms,omitempty"`
	// Note explains a phase that cannot be measured (H.264 is not decoded).
	Note string `json:"note,omitempty"`
	// FailedPhase is the phase that was not reached, with Error saying why.
	FailedPhase string `json:"failed_phase,omitempty"`
	Error       string `json:"error"`
	// Err is the cause behind Error, for callers that tell failures apart
	// by type (errors.Is, errors.As) rather than by text.
	Err error `json:"-"`

	// Image is the first decoded picture (VP8 only).
	Image *image.YCbCr `json:"-"`
}

// LayerSpan is a stretch of frames at one size, from AtMS after the
// attempt's start.
type LayerSpan struct {
	AtMS float64 `json:"at_ms"`
	Size string  `json:"size"` // "WxH"
}

// OK reports whether the attempt reached its first frame.
func (r *Result) OK() bool { return r.Error == "" }

// FirstFrame is the attempt's first-frame time: first_decoded when the
// codec can be decoded, else first_keyframe.
func (r *Result) FirstFrame() (float64, bool) {
	if v, ok := r.PhasesMS[PhaseFirstDecoded]; ok {
		return v, true
	}
	v, ok := r.PhasesMS[PhaseFirstKeyframe]
	return v, ok
}

// attempt is the state of one probe attempt.
type attempt struct {
	o     Options
	start time.Time
	log   *slog.Logger

	mu  sync.Mutex
	res Result

	pc          *webrtc.PeerConnection
	offers      chan string
	events      chan error // terminal failures from callbacks
	tracks      chan *webrtc.TrackRemote
	dtlsUp      chan struct{}
	iceUp       chan struct{}
	answers     sync.WaitGroup
	trickleOnce sync.Once
}

func (a *attempt) mark(phase string) {
	d := time.Since(a.start) // monotonic
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.res.PhasesMS[phase]; !ok {
		a.res.PhasesMS[phase] = float64(d.Microseconds()) / 1000
	}
}

func (a *attempt) fail(phase string, err error) Result {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.res.FailedPhase = phase
	a.res.Error = phase + ": " + err.Error()
	a.res.Err = err
	return a.res
}

// Attempt runs one probe: subscribe, wait for the first frame, optionally
// observe, and tear down. It never returns an error: failures are reported
// in Result.Error, naming the phase.
func Attempt(ctx context.Context, o Options) Result {
	o = withDefaults(o)
	a := &attempt{
		o: o, start: time.Now(), log: o.Logger,
		res:    Result{PhasesMS: map[string]float64{}},
		offers: make(chan string, 4), events: make(chan error, 4),
		tracks: make(chan *webrtc.TrackRemote, 4),
		dtlsUp: make(chan struct{}), iceUp: make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout+o.Observe)
	defer cancel()
	return a.run(ctx)
}

func withDefaults(o Options) Options {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.FreezeThreshold <= 0 {
		o.FreezeThreshold = 500 * time.Millisecond
	}
	if o.PLIInterval <= 0 {
		o.PLIInterval = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Identity == "" {
		o.Identity = newIdentity()
	}
	return o
}

// newIdentity is a probe's default identity: random, because probes
// started at once must not share one.
func newIdentity() string { return "probe-" + rand.Text() }

func (a *attempt) run(ctx context.Context) Result {
	api := a.o.api
	if api == nil {
		var err error
		if api, err = peer.NewAPI(a.o.Peer); err != nil {
			return a.fail(PhaseSignal, err)
		}
	}
	pc, err := peer.NewPeerConnection(api, a.o.Peer)
	if err != nil {
		return a.fail(PhaseSignal, err)
	}
	a.pc = pc
	defer func() {
		pc.Close()
		a.answers.Wait()
	}()
	var once sync.Once
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		switch s {
		case webrtc.ICEConnectionStateConnected:
			a.mark(PhaseICEConnected)
			once.Do(func() { close(a.iceUp) })
		case webrtc.ICEConnectionStateFailed:
			a.event(ErrICEFailed)
		}
	})
	var dtlsOnce sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			// The peer connection is connected once DTLS is up on top of ICE.
			a.mark(PhaseDTLSConnected)
			dtlsOnce.Do(func() { close(a.dtlsUp) })
		case webrtc.PeerConnectionStateFailed:
			select {
			case <-a.iceUp:
				a.event(ErrDTLSFailed)
			default:
				a.event(ErrICEFailed)
			}
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if t.Kind() != webrtc.RTPCodecTypeVideo {
			go drain(t)
			return
		}
		select {
		case a.tracks <- t:
		default:
			go drain(t)
		}
	})

	// Signaling, like every phase up to the first frame, must be done
	// within Timeout of the attempt's start; ctx (Timeout+Observe) is the
	// session's, which /ws renegotiation answers live in.
	sctx, cancelSignal := context.WithDeadline(ctx, a.start.Add(a.o.Timeout))
	defer cancelSignal()
	var closeSignal func()
	if peer.IsWebSocketURL(a.o.URL) {
		closeSignal, err = a.signalWS(ctx, sctx)
	} else {
		closeSignal, err = a.signalWHEP(sctx)
	}
	if closeSignal != nil {
		defer closeSignal()
	}
	if err != nil {
		return a.fail(PhaseSignal, err)
	}
	return a.media(ctx)
}

// event reports a terminal failure from a pion callback without blocking it.
func (a *attempt) event(err error) {
	select {
	case a.events <- err:
	default:
	}
}

func drain(t *webrtc.TrackRemote) {
	buf := make([]byte, 1500)
	for {
		if _, _, err := t.Read(buf); err != nil {
			return
		}
	}
}

// signalWHEP posts an offer with receive-only video and audio; ctx bounds
// the exchange.
// ValidLayer reports whether layer is one Options.Layer takes.
func ValidLayer(layer string) bool { return layer == "q" || layer == "h" || layer == "f" }

// withLayer adds ?layer= to a WHEP URL (livectl's simulcast cap).
func withLayer(u, layer string) string {
	if layer == "" {
		return u
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "layer=" + url.QueryEscape(layer)
}

func (a *attempt) signalWHEP(ctx context.Context) (func(), error) {
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := a.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return nil, fmt.Errorf("adding %s transceiver: %w", k, err)
		}
	}
	offer, err := peer.Offer(ctx, a.pc)
	if err != nil {
		return nil, err
	}
	s, err := peer.Exchange(ctx, a.o.Peer.HTTPClient(), withLayer(a.o.URL, a.o.Layer), a.o.Token, offer)
	if err != nil {
		return nil, fmt.Errorf("WHEP: %w", err)
	}
	closer := func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.Close(c)
	}
	if err := a.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: s.Answer}); err != nil {
		return closer, fmt.Errorf("applying the WHEP answer from %s: %w", a.o.URL, err)
	}
	a.mark(PhaseSignal)
	return closer, nil
}

// signalWS joins the room over livectl's /ws protocol and subscribes; the
// server offers, the probe answers (and answers every renegotiation for as
// long as ctx lasts). sctx bounds the signal phase: dial, join, subscribe
// and the first offer.
func (a *attempt) signalWS(ctx, sctx context.Context) (func(), error) {
	if a.o.Room == "" {
		return nil, ErrNoRoom
	}
	c, err := signal.Dial(sctx, a.o.URL, &signal.DialOptions{TLS: a.o.Peer.TLS, OnEvent: a.onEvent, ReadBufferSize: 16 << 10})
	if err != nil {
		return nil, err
	}
	closer := func() { c.Close() }
	if _, err := c.Join(sctx, a.o.Room, a.o.Identity, a.o.Token); err != nil {
		return closer, fmt.Errorf("joining room %q on %s: %w", a.o.Room, a.o.URL, err)
	}
	reply, err := c.Call(sctx, &signal.Message{Type: signal.TypeSubscribe})
	if err != nil {
		return closer, fmt.Errorf("subscribing to room %q on %s: %w", a.o.Room, a.o.URL, err)
	}
	if a.o.Layer != "" {
		if _, err := c.Call(sctx, &signal.Message{Type: signal.TypeSetQuality, Layer: a.o.Layer}); err != nil {
			return closer, fmt.Errorf("asking for layer %q on %s: %w", a.o.Layer, a.o.URL, err)
		}
	}
	if reply.Type == signal.TypeOffer && reply.SDP != "" {
		a.offers <- reply.SDP
	}
	// Answer offers until the signaling connection ends; the first one
	// completes the signal phase.
	first := make(chan error, 1)
	a.answers.Add(1)
	go func() {
		defer a.answers.Done()
		n := 0
		for {
			select {
			case sdp := <-a.offers:
				if n == 0 {
					// The probe holds the server's description: the signaling
					// part of the work is done (as with a WHEP answer).
					a.mark(PhaseSignal)
				}
				err := a.answerNow(c, sdp)
				if n == 0 {
					first <- err
				} else if err != nil {
					a.log.Warn("answering renegotiation", "err", err)
				}
				n++
			case <-c.Done():
				if n == 0 {
					first <- fmt.Errorf("signaling connection lost before the server's offer: %v", c.Err())
				}
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case err := <-first:
		if err != nil {
			return closer, err
		}
	case <-sctx.Done():
		return closer, fmt.Errorf("the server sent no offer within %v of the attempt's start", a.o.Timeout)
	}
	return closer, nil
}

// answerNow answers a server offer without waiting for ICE gathering and
// trickles the candidates after it. The answer must reach the server before
// the probe's first connectivity check does: a check the server cannot match
// to a session yet is dropped, and ICE then waits a whole check interval
// (200 ms in pion) to retry.
func (a *attempt) answerNow(c *signal.Client, offer string) error {
	if err := a.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fmt.Errorf("applying the server's offer: %w", err)
	}
	ans, err := a.pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("creating answer: %w", err)
	}
	a.trickleOnce.Do(func() {
		a.pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
			if cand == nil {
				return
			}
			ci := cand.ToJSON()
			c.Send(&signal.Message{Type: signal.TypeTrickle, Target: signal.TargetSubscriber, Candidate: &signal.ICECandidate{
				Candidate: ci.Candidate, SDPMid: ci.SDPMid, SDPMLineIndex: ci.SDPMLineIndex, UsernameFragment: ci.UsernameFragment}})
		})
	})
	if err := a.pc.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("setting local description: %w", err)
	}
	return c.Send(&signal.Message{Type: signal.TypeAnswer, SDP: a.pc.LocalDescription().SDP})
}

// onEvent runs on the signaling read goroutine and must not block.
func (a *attempt) onEvent(m *signal.Message) {
	switch m.Type {
	case signal.TypeOffer:
		select {
		case a.offers <- m.SDP:
		default:
			a.log.Warn("dropping server offer: too many pending")
		}
	case signal.TypeTrickle:
		if m.Candidate == nil || (m.Target != "" && m.Target != signal.TargetSubscriber) {
			return
		}
		c := webrtc.ICECandidateInit{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid, SDPMLineIndex: m.Candidate.SDPMLineIndex, UsernameFragment: m.Candidate.UsernameFragment}
		if err := a.pc.AddICECandidate(c); err != nil {
			a.log.Debug("ignoring server ICE candidate", "err", err)
		}
	}
}

// media waits for connectivity, then reads the first video track until a
// frame is decoded, then observes.
func (a *attempt) media(ctx context.Context) Result {
	deadline := a.start.Add(a.o.Timeout)
	tctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	select {
	case <-a.dtlsUp:
	case err := <-a.events:
		phase := PhaseICEConnected
		if errors.Is(err, ErrDTLSFailed) {
			phase = PhaseDTLSConnected
		}
		return a.fail(phase, err)
	case <-tctx.Done():
		select {
		case <-a.iceUp:
			return a.fail(PhaseDTLSConnected, fmt.Errorf("DTLS did not complete within %v", a.o.Timeout))
		default:
			return a.fail(PhaseICEConnected, fmt.Errorf("ICE did not connect within %v (is UDP to the server blocked?)", a.o.Timeout))
		}
	}
	var track *webrtc.TrackRemote
	select {
	case track = <-a.tracks:
	case err := <-a.events:
		return a.fail(PhaseFirstRTP, err)
	case <-tctx.Done():
		return a.fail(PhaseFirstRTP, fmt.Errorf("no video RTP within %v (is anyone publishing video in the room?)", a.o.Timeout))
	}
	return a.readVideo(ctx, track, deadline)
}

func (a *attempt) sendPLI(ssrc webrtc.SSRC) time.Time {
	a.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(ssrc)}})
	a.mu.Lock()
	a.res.PLIsSent++
	a.mu.Unlock()
	return time.Now()
}

func (a *attempt) readVideo(ctx context.Context, t *webrtc.TrackRemote, deadline time.Time) Result {
	// The end of ctx ends the observation early (Ctrl-C, or bench media's
	// end of run): a read deadline in the past wakes the blocked read.
	stop := context.AfterFunc(ctx, func() { t.SetReadDeadline(time.Now()) })
	defer stop()
	codec := t.Codec().MimeType
	a.mu.Lock()
	a.res.Codec = codec
	a.mu.Unlock()
	asm, err := media.NewAssembler(codec)
	if err != nil {
		return a.fail(PhaseFirstKeyframe, err)
	}
	decodable := strings.EqualFold(codec, media.MimeVP8)
	if !decodable {
		a.mu.Lock()
		a.res.Note = "first_decoded is not available for " + codec + " (only VP8 is decoded); first_frame uses first_keyframe"
		a.mu.Unlock()
	}
	var firstPLI, keyStartAt time.Time
	var layers media.LayerTracker
	lastPLI := time.Now() // the PLI clock starts with the first packet
	var gotKey bool
	var freeze *media.FreezeDetector
	var observeUntil time.Time
	for {
		readBy := deadline
		if gotKey {
			readBy = observeUntil
		}
		t.SetReadDeadline(readBy)
		if err := ctx.Err(); err != nil { // checked after setting the deadline, which ctx's AfterFunc overrides
			if gotKey {
				break
			}
			return a.fail(PhaseFirstKeyframe, fmt.Errorf("stopped before a complete keyframe: %w", err))
		}
		p, _, err := t.ReadRTP()
		now := time.Now()
		if err != nil {
			if gotKey {
				break // observation window over (or the stream ended)
			}
			st := asm.Stats
			return a.fail(PhaseFirstKeyframe, fmt.Errorf("no complete keyframe within %v (%d RTP packets, %d frames, %d dropped incomplete, %d PLIs sent)",
				a.o.Timeout, st.Packets, st.Frames, st.Dropped, a.res.PLIsSent))
		}
		a.mark(PhaseFirstRTP)
		if !gotKey {
			keyStart := media.IsKeyframe(codec, p.Payload)
			if keyStart {
				keyStartAt = now
			}
			// Ask for a keyframe at once unless the first packet starts
			// one, and again every PLIInterval while none completes.
			due := asm.Stats.Packets == 0 && !keyStart
			if asm.Stats.Packets > 0 {
				due = now.Sub(lastPLI) >= a.o.PLIInterval
			}
			if due {
				lastPLI = a.sendPLI(t.SSRC())
				if firstPLI.IsZero() {
					firstPLI = lastPLI
				}
			}
		}
		f, ok := asm.Push(p)
		if !ok {
			continue
		}
		if freeze != nil {
			freeze.Frame(now, f.Data)
		}
		if gotKey || f.Keyframe {
			layers.Frame(now, f)
		}
		if a.o.OnFrame != nil && (gotKey || f.Keyframe) {
			a.o.OnFrame(now, f)
		}
		if gotKey || !f.Keyframe {
			continue
		}
		a.mark(PhaseFirstKeyframe)
		a.mu.Lock()
		a.res.Width, a.res.Height = f.Width, f.Height
		// The keyframe answered our PLI only if its first packet arrived
		// after the PLI went out; one already in flight did not.
		if !firstPLI.IsZero() && keyStartAt.After(firstPLI) {
			a.res.KeyframeAfterPLI = true
			a.res.PLIToKeyframeMS = float64(now.Sub(firstPLI).Microseconds()) / 1000
		}
		a.mu.Unlock()
		if decodable {
			img, err := media.DecodeVP8(f.Data)
			if err != nil {
				return a.fail(PhaseFirstDecoded, err)
			}
			a.mark(PhaseFirstDecoded)
			s := media.Luma(img)
			a.mu.Lock()
			if !a.o.NoImage {
				a.res.Image = img
			}
			a.res.Width, a.res.Height = img.Rect.Dx(), img.Rect.Dy()
			a.res.LumaMean, a.res.LumaVariance = round2(s.Mean), round2(s.Variance)
			a.res.Black = s.Black()
			a.mu.Unlock()
		}
		gotKey = true
		if a.o.Observe <= 0 {
			break
		}
		observeUntil = now.Add(a.o.Observe)
		if a.o.CountOnly {
			return a.countFrames(ctx, t, codec, f.Timestamp, now, observeUntil, &layers)
		}
		freeze = &media.FreezeDetector{Threshold: a.o.FreezeThreshold}
		freeze.Frame(now, f.Data)
	}
	a.noteLayers(&layers, time.Now())
	if freeze != nil {
		freeze.Finish(time.Now())
		a.mu.Lock()
		a.res.Frozen = freeze.Frozen()
		a.res.Frames = freeze.Frames()
		a.res.MaxGapMS = float64(freeze.MaxGap().Microseconds()) / 1000
		a.mu.Unlock()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.res
}

// noteLayers puts what lt saw, up to end, in the result.
func (a *attempt) noteLayers(lt *media.LayerTracker, end time.Time) {
	lt.Finish(end)
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, sp := range lt.Spans() {
		a.res.Layers = append(a.res.Layers, LayerSpan{AtMS: round2(float64(sp.Start.Sub(a.start).Microseconds()) / 1000), Size: sp.Size})
	}
	a.res.LayerSwitches = lt.Switches()
	if at := lt.TimeAt(); len(at) > 0 {
		a.res.TimeAtLayerMS = map[string]float64{}
		for size, d := range at {
			a.res.TimeAtLayerMS[size] = round2(float64(d.Microseconds()) / 1000)
		}
	}
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }
