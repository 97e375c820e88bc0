package relay

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Bandwidth estimation towards subscribers of rooms with simulcast. Each
// such subscriber's peer connection stamps its outgoing packets with
// transport-wide sequence numbers (twccstamp.go); the viewer's
// transport-wide feedback (every browser and pion peer sends it) feeds the
// train meter (trains.go), which measures the path's capacity from the
// arrival spread of back-to-back packets. The viewer's receiver reports
// cap it by loss (updateLossEstimate); subscribers whose client sends no
// transport-wide feedback have the loss-based estimate alone.
//
// pion's gcc estimator did this job before, and cost a quarter of the
// server's CPU with 100 simulcast viewers (a map insert and a list element
// per packet sent, 7 allocations per packet; docs/media.md) while its
// delay-based target was used only until the trains measured a capacity.
const (
	// initialEstimate is where each viewer's estimate starts, before any
	// capacity is measured: enough for the middle of the usual three
	// layers, so a viewer starts there and climbs (or drops) within
	// seconds.
	initialEstimate = 1_000_000
	minEstimate     = 30_000
	maxEstimate     = 50_000_000
	// twccGrace is how long a connected subscriber may go without
	// transport-wide feedback before its estimate falls back to loss.
	twccGrace = 3 * time.Second
)

// registerTWCC makes a subscriber API's peers stamp transport-wide
// sequence numbers on what they send.
func registerTWCC(m *webrtc.MediaEngine, ir *interceptor.Registry) error {
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return fmt.Errorf("configuring transport-wide sequence numbers: %w", err)
		}
	}
	ir.Add(twccStampFactory{})
	return nil
}

// subscriberBWE is one subscriber's estimate.
type subscriberBWE struct {
	twcc     bool         // the peer stamps transport-wide numbers (a simulcast room)
	twccSeen atomic.Bool  // transport-wide feedback has arrived
	since    atomic.Int64 // nanotime the subscriber connected

	// Loss-based fallback, updated by the adapt loop.
	lossBps atomic.Uint64
	lossAt  int64

	// trains measures the path's capacity (trains.go); made on the first
	// transport-wide feedback. capacity is its last reading in bits/s,
	// set by the adapt loop (read by stats too).
	trains     atomic.Pointer[trainMeter]
	capacity   atomic.Uint64
	capacityAt int64 // when capacity was last measured (adapt loop)
	logAt      int64 // the adapt loop's last debug line (logAdapt)
}

// capacityShare is the part of the measured capacity a viewer's tracks may
// take: the rest absorbs keyframe bursts (climbing also needs upHeadroom).
const capacityShare = 0.95

// capacityHold is how long the last capacity reading stands when the
// trains give none (a paused viewer sends none; a Chromium publisher's
// layer, with keyframes only on request, makes few): then the estimate
// starts again from initialEstimate. Long enough that a lapse does not
// send a narrow viewer probing (docs/media.md), short enough that a
// lifted limit the trains miss is found by a probe soon (20 s kept a
// Chromium viewer on h for up to 24.6 s after a lift).
const capacityHold = 10 * time.Second

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
	if c > 0 {
		b.capacity.Store(uint64(c))
		b.capacityAt = now
		return
	}
	// No reading in the trains' window: keep the last one for a while
	// rather than fall back to initialEstimate, which on a path that
	// carries only the middle layer is room enough to probe the top one.
	if now-b.capacityAt > int64(capacityHold) {
		b.capacity.Store(0)
	}
}

// estimate is the subscriber's available send bitrate in bits/s: the
// path's capacity its packet trains measured (trains.go), capped by the
// loss the viewer's receiver reports show; before a capacity is measured,
// initialEstimate under the same cap. Without transport-wide feedback
// (past twccGrace) it is the loss-based estimate alone.
func (s *Subscriber) estimate() float64 {
	b := &s.bwe
	lossCap := float64(b.lossBps.Load())
	if lossCap == 0 {
		lossCap = maxEstimate
	}
	if b.twcc && (b.twccSeen.Load() || !s.connected.Load() || nanotime()-b.since.Load() < int64(twccGrace)) {
		if c := float64(b.capacity.Load()); c > 0 {
			return min(c*capacityShare, lossCap)
		}
		return min(initialEstimate, lossCap)
	}
	if lossCap < maxEstimate {
		return lossCap
	}
	return initialEstimate
}

// estimateSource names what estimate uses, for stats.
func (s *Subscriber) estimateSource() string {
	if s.bwe.twcc && s.bwe.twccSeen.Load() {
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
