package relay

import (
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Bandwidth estimation towards subscribers of rooms with simulcast. Each
// such subscriber's peer connection stamps its outgoing video packets with
// transport-wide sequence numbers (twccstamp.go); the viewer's
// transport-wide feedback (every browser and pion peer sends it) feeds the
// train meter (trains.go), which measures the path's capacity from the
// arrival spread of back-to-back packets and the queue the path holds from
// their one-way delay. The estimate is that capacity, capped when the
// path holds a standing queue by what it delivers (updateDelayCap) and by
// the loss the viewer's receiver reports show (updateLossEstimate).
// Subscribers whose client sends no transport-wide feedback have the
// loss-based estimate alone.
//
// pion's gcc estimator did this job before. It cost about a quarter of the
// server's CPU with 100 simulcast viewers (a map insert and a list element
// per packet sent, and its handling of every feedback packet;
// docs/media.md), while its delay-based target was used only until the
// trains measured a capacity.
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

// registerTWCC negotiates transport-wide sequence numbers on the video a
// subscriber API's peers send. Audio carries none: the
// estimate chooses video layers, and audio is a small constant rate beside
// them (50 of a viewer's ~180 packets a second).
func registerTWCC(m *webrtc.MediaEngine, ir *interceptor.Registry) error {
	if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, webrtc.RTPCodecTypeVideo); err != nil {
		return fmt.Errorf("configuring transport-wide sequence numbers: %w", err)
	}
	return nil // downTrack.send stamps them (twccstamp.go)
}

// subscriberBWE is one subscriber's estimate.
type subscriberBWE struct {
	twcc     bool         // the peer stamps transport-wide numbers (a simulcast room)
	twccSeen atomic.Bool  // transport-wide feedback has arrived
	since    atomic.Int64 // nanotime the subscriber connected

	// Loss-based fallback, updated by the adapt loop.
	lossBps atomic.Uint64
	lossAt  int64

	// trains measures the path's capacity and queue (trains.go); made on
	// the first transport-wide feedback. capacity is its last capacity
	// reading in bits/s, set by the adapt loop (read by stats too).
	trains     atomic.Pointer[trainMeter]
	capacity   atomic.Uint64
	capacityAt int64 // when capacity was last measured (adapt loop)

	// The standing-queue cap (updateDelayCap), adapt loop only but for
	// delayBps, which stats and logs read.
	delayBps    atomic.Uint64 // 0: no cap
	delayDownAt int64         // the cap's last decrease
	delayHold   int64         // how long the cap stays after a decrease
	delayGrown  bool          // the cap has grown since its last decrease
	overSince   int64         // since when the path has read as overused; 0: it does not
	delayAt     int64         // the cap's last update

	// Feedback on demand (twccstamp.go): seq numbers the subscriber's
	// video packets; quietFrom is when its feedback went quiet (0: it is
	// not), calmSince since when the adapt loop has found it could
	// (updateQuiet), standing the last queue reading's least delay.
	seq       atomic.Uint32
	quietFrom atomic.Int64
	calmSince int64
	standing  time.Duration

	logAt int64 // the adapt loop's last debug line (logAdapt)
}

// capacityShare is the part of the measured capacity a viewer's tracks may
// take: the rest absorbs keyframe bursts (climbing also needs upHeadroom).
const capacityShare = 0.95

// feedback hands one transport-wide feedback packet to the train meter
// (RTCP goroutines).
func (b *subscriberBWE) feedback(p []byte) {
	m := b.trains.Load()
	if m == nil {
		b.trains.CompareAndSwap(nil, &trainMeter{})
		m = b.trains.Load()
	}
	if m.feedback(p, nanotime()) {
		b.twccSeen.Store(true)
	}
}

// capacityHold is how long the last capacity reading stands when the
// trains give none (a paused viewer sends none; a Chromium publisher's
// layer, with keyframes only on request, makes few): then the estimate
// starts again from initialEstimate. Long enough that a lapse does not
// send a narrow viewer probing (docs/media.md), short enough that a
// lifted limit the trains miss is found by a probe soon (20 s kept a
// Chromium viewer on h for up to 24.6 s after a lift).
const capacityHold = 10 * time.Second

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

// The standing-queue cap. Packet trains measure what a path carries at
// line rate, and a shaper's burst allowance lets short trains through
// untouched: behind a 700 kbit/s tbf with a 16 kB burst, Chromium's viewer
// read 2-7 Mbit/s, stayed on its 913 kbit/s top layer, and its receiver
// reports showed little loss while NACKs resent the rest. What such a path
// cannot hide is its queue: sent more than it carries, it holds a queue
// that never drains, so even the least delayed packets wait, and it
// delivers less than it is sent. A keyframe's burst queues too, but drains
// within a second. So when the least queue delay over standingWindow is
// at least standingTarget and the path delivered under overuseRatio of
// what it was sent, for overuseFor, the estimate is capped at delayBackoff of what it
// delivered (gcc's multiplicative decrease, on a plainer overuse signal).
// The cap then holds for delayHold, and grows by delayGrowth a second
// while the queue is gone, until it is out of the way; a cap that grows
// back into a queue soon after doubles its hold (up to delayHoldMax), so
// a narrow path is not retried every few seconds, and a lifted limit is
// still found within delayHoldMax and the growth's time.
const (
	standingTarget = 50 * time.Millisecond
	standingWindow = time.Second
	overuseRatio   = 0.9
	overuseFor     = 500 * time.Millisecond
	delayBackoff   = 0.85
	delayGrowth    = 0.10
	delayHoldMin   = 2 * time.Second
	delayHoldMax   = 16 * time.Second
)

// updateDelayCap moves the standing-queue cap from the train meter's
// reading of the last standingWindow (adapt loop).
func (b *subscriberBWE) updateDelayCap(now int64) {
	dt := float64(now-b.delayAt) / float64(time.Second)
	b.delayAt = now
	m := b.trains.Load()
	if m == nil {
		return
	}
	q := m.queue(now)
	b.standing = q.standing
	cur := float64(b.delayBps.Load())
	switch {
	case q.standing >= standingTarget && q.delivered > 0 && q.delivered < overuseRatio*q.sent:
		if b.overSince == 0 {
			b.overSince = now
		}
		c := max(q.delivered*delayBackoff, minEstimate)
		if now-b.overSince < int64(overuseFor) || now-b.delayDownAt < int64(standingWindow) || (cur > 0 && c >= cur*0.95) {
			// Not for long enough (a keyframe's burst into a window's
			// start), the last decrease cannot show yet, or the queue is
			// draining under the cap.
			return
		}
		switch {
		case cur == 0:
			b.delayHold = int64(delayHoldMin)
		case b.delayGrown && now-b.delayDownAt < b.delayHold+int64(delayHoldMax):
			// The cap grew back into the same queue soon: wait longer
			// before the next try.
			b.delayHold = min(2*b.delayHold, int64(delayHoldMax))
		case b.delayGrown:
			b.delayHold = int64(delayHoldMin)
		}
		b.delayBps.Store(uint64(c))
		b.delayDownAt, b.delayGrown = now, false
	default:
		b.overSince = 0
	}
	if cur := float64(b.delayBps.Load()); cur > 0 && q.standing < standingTarget/2 && now-b.delayDownAt >= b.delayHold {
		cur *= 1 + delayGrowth*min(dt, 1)
		if cur >= maxEstimate {
			cur = 0
		}
		b.delayBps.Store(uint64(cur))
		b.delayGrown = true
	}
}

// estimate is the subscriber's available send bitrate in bits/s: the
// path's capacity its packet trains measured (trains.go), capped by the
// standing-queue cap and by the loss the viewer's receiver reports show;
// before a capacity is measured, initialEstimate under the same caps.
// Without transport-wide feedback (past twccGrace) it is the loss-based
// estimate alone.
func (s *Subscriber) estimate() float64 {
	b := &s.bwe
	lossCap := float64(b.lossBps.Load())
	if lossCap == 0 {
		lossCap = maxEstimate
	}
	if b.twcc && (b.twccSeen.Load() || !s.connected.Load() || nanotime()-b.since.Load() < int64(twccGrace)) {
		e := float64(initialEstimate)
		if c := float64(b.capacity.Load()); c > 0 {
			e = c * capacityShare
		}
		if d := float64(b.delayBps.Load()); d > 0 {
			e = min(e, d)
		}
		return min(e, lossCap)
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
