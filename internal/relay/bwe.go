package relay

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Bandwidth estimation towards subscribers. Each subscriber's peer
// connection stamps its outgoing packets with transport-wide sequence
// numbers; the viewer's transport-wide congestion control feedback (every
// browser and pion peer sends it) feeds pion's Google congestion control
// send-side estimator (delay and loss based). Subscribers whose client
// sends no such feedback get a loss-based estimate from their receiver
// reports instead (lossEstimate). Publishers' peer connections are made by
// another API without either: the relay sends them no media.
const (
	// initialEstimate is where each viewer's estimate starts, before any
	// feedback: enough for the middle of the usual three layers, so a
	// viewer starts there and climbs (or drops) within seconds.
	initialEstimate = 1_000_000
	minEstimate     = 30_000
	maxEstimate     = 50_000_000
	// twccGrace is how long a connected subscriber may go without
	// transport-wide feedback before its estimate falls back to loss.
	twccGrace = 3 * time.Second
)

// bweFactory builds the subscriber API's congestion controller; the
// estimator it makes for each new peer connection is handed to newPeer
// through lastBWE (peer connections are made one at a time, under bweMu).
type bweFactory struct {
	mu      sync.Mutex // held around NewPeerConnection
	lastBWE cc.BandwidthEstimator
}

// registerBWE adds the send-side estimator and the transport-wide sequence
// number header extension to a subscriber API's interceptors. The
// congestion controller goes first so that the header extension
// interceptor, added after it, runs first on the way out and the
// estimator sees every packet with its sequence number.
func (b *bweFactory) registerBWE(m *webrtc.MediaEngine, ir *interceptor.Registry, logs logging.LoggerFactory) error {
	f, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return gcc.NewSendSideBWE(
			gcc.SendSideBWEInitialBitrate(initialEstimate),
			gcc.SendSideBWEMinBitrate(minEstimate),
			gcc.SendSideBWEMaxBitrate(maxEstimate),
			// The relay does not pace: the subscriber's writer sends as
			// packets come, and pacing is the publisher's encoder's job.
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
			gcc.WithLoggerFactory(logs),
		)
	})
	if err != nil {
		return fmt.Errorf("creating the congestion controller: %w", err)
	}
	f.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) { b.lastBWE = e })
	ir.Add(videoOnlyFactory{f})
	// Video only: see videoOnly.
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, webrtc.RTPCodecTypeVideo); err != nil {
		return fmt.Errorf("configuring transport-wide sequence numbers: %w", err)
	}
	ir.Add(twccStampFactory{}) // twccstamp.go
	return nil
}

// videoOnly keeps a subscriber's audio out of its congestion controller.
// The estimate chooses video layers, and audio is a small constant rate
// beside them; but gcc keeps a history entry (a map insert and a list
// element) for every packet it is handed, with a transport-wide sequence
// number or without, and reads back every number in the viewer's
// feedback. Audio was 50 of a viewer's ~180 packets a second. So audio
// carries no transport-wide sequence number (the extension is negotiated
// for video only) and is written past the controller.
type videoOnly struct{ interceptor.Interceptor }

type videoOnlyFactory struct{ interceptor.Factory }

func (f videoOnlyFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i, err := f.Factory.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return videoOnly{i}, nil
}

// BindLocalStream implements interceptor.Interceptor.
func (v videoOnly) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	if strings.HasPrefix(strings.ToLower(info.MimeType), "audio/") {
		return writer
	}
	return v.Interceptor.BindLocalStream(info, writer)
}

// newPeerWithBWE makes a subscriber's peer connection and returns its
// estimator (nil if the API has none).
func (b *bweFactory) newPeerWithBWE(make func() (*webrtc.PeerConnection, error)) (*webrtc.PeerConnection, cc.BandwidthEstimator, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastBWE = nil
	pc, err := make()
	return pc, b.lastBWE, err
}

// subscriberBWE is one subscriber's estimate.
type subscriberBWE struct {
	est      cc.BandwidthEstimator // nil without the estimator
	twccSeen atomic.Bool           // feedback has arrived: est is live
	since    atomic.Int64          // nanotime the subscriber connected

	// Loss-based fallback, updated by the adapt loop.
	lossBps atomic.Uint64
	lossAt  int64

	// trains measures the path's capacity (trains.go); made on the first
	// transport-wide feedback. capacity is its last reading in bits/s,
	// set by the adapt loop (read by stats too).
	trains   atomic.Pointer[trainMeter]
	capacity atomic.Uint64
	logAt    int64 // the adapt loop's last debug line (logAdapt)
}

// capacityShare is the part of the measured capacity a viewer's tracks may
// take: the rest absorbs keyframe bursts (climbing also needs upHeadroom).
const capacityShare = 0.95

// feedback hands transport-wide feedback to the train meter (RTCP goroutines).
func (b *subscriberBWE) feedback(fb *rtcp.TransportLayerCC) {
	b.twccSeen.Store(true)
	m := b.trains.Load()
	if m == nil {
		b.trains.CompareAndSwap(nil, &trainMeter{})
		m = b.trains.Load()
	}
	m.feedback(fb, nanotime())
}

// measureCapacity updates b.capacity (adapt loop).
func (b *subscriberBWE) measureCapacity(now int64) {
	c := 0.0
	if m := b.trains.Load(); m != nil {
		c = m.capacity(now)
	}
	b.capacity.Store(uint64(c))
}

// estimate is the subscriber's available send bitrate in bits/s: the
// path's capacity its packet trains measured (trains.go), or without one
// the delay-based part of gcc's estimate, capped by the loss the viewer's
// receiver reports show. gcc's own loss-based part is not used: it counts
// loss from the transport-wide feedback, and on viewers whose receiver
// reports said 0 % lost it reported 40–60 % (seen with pion interceptor
// v0.1.51 in TestSimulcastAdaptsPerViewer), which would hold every viewer
// on the lowest layer.
func (s *Subscriber) estimate() float64 {
	b := &s.bwe
	lossCap := float64(b.lossBps.Load())
	if lossCap == 0 {
		lossCap = maxEstimate
	}
	if b.est != nil && (b.twccSeen.Load() || !s.connected.Load() || nanotime()-b.since.Load() < int64(twccGrace)) {
		delay := float64(initialEstimate)
		if v, ok := b.est.GetStats()["delayTargetBitrate"].(int); ok && v > 0 {
			delay = float64(v)
		}
		if c := float64(b.capacity.Load()); c > 0 {
			// A measured capacity replaces gcc's delay target, which says
			// nothing of room above what is sent (trains.go) and after a
			// keyframe burst's overuse climbs back additively, a few
			// kbit/s a second: a viewer that started on q behind 700
			// kbit/s took 5 s to see room for h. Loss still caps it.
			return min(c*capacityShare, lossCap)
		}
		return min(delay, lossCap)
	}
	if lossCap < maxEstimate {
		return lossCap
	}
	return initialEstimate
}

// estimateSource names what estimate uses, for stats.
func (s *Subscriber) estimateSource() string {
	if s.bwe.est != nil && s.bwe.twccSeen.Load() {
		return "twcc"
	}
	return "loss"
}

// updateLossEstimate moves the loss cap, the way Galène and early WebRTC
// did with receiver reports: down to what was sent less half the loss when
// over 10 % is lost, up by 15 % a second while under 2 % (quickly out of
// the way once the loss has gone: the delay-based estimate leads), held in
// between. sent is what the subscriber was sent over the last second
// (bits/s), loss the fraction its receiver reports say was lost. Adapt
// loop only.
func (b *subscriberBWE) updateLossEstimate(now int64, sent, loss float64) {
	if now-b.lossAt < int64(time.Second) {
		return
	}
	b.lossAt = now
	cur := float64(b.lossBps.Load())
	if cur == 0 {
		cur = initialEstimate
	}
	switch {
	case loss > 0.10:
		cur = math.Max(sent, minEstimate) * (1 - loss/2)
	case loss < 0.02:
		cur *= 1.15
	}
	b.lossBps.Store(uint64(math.Min(math.Max(cur, minEstimate), maxEstimate)))
}

// bweStats is the estimator's own view, for debug logs.
func (s *Subscriber) bweStats() map[string]any {
	if s.bwe.est == nil {
		return nil
	}
	return s.bwe.est.GetStats()
}
