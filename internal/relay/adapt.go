package relay

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// The adapt loop chooses, a few times a second, each subscriber's layer of
// each simulcast video track: the highest layer, within what the viewer
// asked for (SetQuality), whose measured bitrate fits the viewer's share of
// its bandwidth estimate (bwe.go). It is one goroutine for the relay, off
// the forwarding path: a choice only ever starts a switch (beginSwitch),
// which the subscriber's writer completes on the new layer's keyframe.
//
// Hysteresis keeps it from flapping. Down: the estimate must stay under
// the layer's bitrate for downHold while the path confirms it is short
// (loss in the receiver reports, a NACK storm, or an estimate under half
// the bitrate).
// Up: the next layer must fit with upHeadroom to spare for upHold, and not
// within minBackoff of a drop.
//
// Without a measured capacity (bwe.go) the estimate says nothing of room
// above what is sent, so a viewer on a lower layer cannot see room for a
// higher one: it probes, trying the next layer up after
// probeHold at its layer on a clean path whose estimate sits well above
// what it gets. A probe that fails (a drop within failedUpWindow) costs
// the viewer a stall while the path drains, so each failure doubles the
// wait before the next probe, up to maxProbeHold. Probing with padding
// instead, which costs no stall, is left for later.
const (
	adaptInterval  = 200 * time.Millisecond
	upHeadroom     = 1.15
	upHold         = 2 * time.Second
	downHold       = 1500 * time.Millisecond
	failedUpWindow = 6 * time.Second
	minBackoff     = 4 * time.Second
	probeHold      = 8 * time.Second
	maxProbeHold   = 60 * time.Second
	// pauseBelow: with less than this share of the lowest layer's bitrate
	// available, video pauses (audio goes on).
	pauseBelow = 0.8
	// congestedLoss is the loss (receiver reports) that confirms a falling
	// estimate; severeShortfall the share of the layer's bitrate below
	// which the estimate alone does. Loss under it is what a path that
	// carries the layer loses to its keyframes' bursts (the relay does not
	// pace): a 700 kbit/s path with a 200 ms queue lost ~10 % of the
	// 640x360 layer that way, repaired by NACKs, with no freeze.
	congestedLoss   = 0.15
	severeShortfall = 0.5
	// stormNACKs: a viewer that NACKs this many packets per packet sent
	// to it also confirms a short path. Receiver reports lag a queue that
	// is dropping (their loss counts what never arrived, and a NACK storm
	// refills the queue with resends), so a viewer's NACKs are the first
	// sign its path is full: Chromium behind a 700 kbit/s tbf froze on the
	// 1280x720 layer while its reports stayed under congestedLoss, and
	// was not taken down until its NACKs counted too
	// (TestSimulcastConstrainedPathChromium, docs/media.md).
	stormNACKs = 0.5
	// probeRatio: an estimate this many times the current layer's
	// bitrate, with under probeLoss lost, lets the viewer probe the next
	// layer up.
	probeRatio = 1.3
	probeLoss  = 0.02
	// rateWindow is the interval the layers' bitrates are measured over.
	rateWindow = time.Second
	// capWaitMax is how long a viewer whose cap rules out every layer
	// that has come waits for one it allows: a publisher's layers start
	// within milliseconds of each other, and one that sends no layer
	// within the cap gets the lowest it sends after this.
	capWaitMax = 2 * time.Second
)

// selector is a down-track's layer choice state (adapt loop only, but for
// requested, which SetQuality sets).
type selector struct {
	requested  atomic.Bool // the viewer's cap changed: apply at once
	want       int         // the layer index the estimate wants, -1 pause
	wantSince  int64
	shortSince int64 // since when the path has been confirmed short (0: it is not)
	lastUp     int64
	lastDown   int64
	lastChange int64
	probeHold  int64 // the wait before the next probe
	probed     bool  // the last climb was a probe
	// capWaitSince is when the adapt loop first saw the down-track
	// waiting for a layer within its cap (layerState.capWait).
	capWaitSince int64
	// nacksAt and packetsAt are the down-track's counters at the last
	// adapt, for nackRatio.
	nacksAt, packetsAt uint64
	// quietOK: at the last adapt the track was settled, as feedback on
	// demand needs (twccstamp.go).
	quietOK bool
}

// adaptLoop runs the layer choice every adaptInterval and sends the
// sender reports (reports.go) every senderReportInterval.
func (r *Relay) adaptLoop() {
	defer r.wg.Done()
	t := time.NewTicker(adaptInterval)
	defer t.Stop()
	reports := time.NewTicker(senderReportInterval)
	defer reports.Stop()
	for {
		select {
		case <-r.stopAdapt:
			return
		case <-t.C:
			r.adaptOnce(nanotime())
		case <-reports.C:
			wall := time.Now()
			r.reportOnce(wall, int64(wall.Sub(clockStart)))
		}
	}
}

func (r *Relay) adaptOnce(now int64) {
	for _, rm := range r.roomList() {
		rm.mu.Lock()
		tracks := append([]*upTrack(nil), rm.tracks...)
		subs := rm.subscribers()
		rm.mu.Unlock()
		for _, t := range tracks {
			if t.group == nil {
				t.measureRate(now)
				continue
			}
			for _, l := range t.group.all() {
				l.measureRate(now)
			}
		}
		for _, s := range subs {
			s.adapt(now)
		}
	}
}

// measureRate updates t.rate, the bitrate over the last rateWindow, half
// the old value and half the new: a keyframe every second makes single
// windows uneven.
func (t *upTrack) measureRate(now int64) {
	if t.rateAt == 0 {
		t.rateAt, t.rateBytes = now, t.bytes.Load()
		return
	}
	el := now - t.rateAt
	if el < int64(rateWindow) {
		return
	}
	b := t.bytes.Load()
	bps := float64(b-t.rateBytes) * 8 * 1e9 / float64(el)
	if old := t.rate.Load(); old > 0 {
		bps = (bps + float64(old)) / 2
	}
	t.rate.Store(uint64(bps))
	t.rateAt, t.rateBytes = now, b
}

// adapt chooses the layer of each of the subscriber's simulcast video
// tracks. The estimate is shared: first what the subscriber's other tracks
// take (audio, video without layers), then an even share per simulcast
// track.
func (s *Subscriber) adapt(now int64) {
	var layered []*downTrack
	other, sent, loss := 0.0, 0.0, 0.0
	for _, d := range s.downTracks() {
		src := d.src.Load()
		if src == nil {
			continue
		}
		loss = max(loss, float64(d.layers.fracLost.Load())/256)
		rate := float64(src.rate.Load())
		if d.video && src.group != nil {
			layered = append(layered, d)
			if !d.layers.paused.Load() {
				sent += rate
			}
			continue
		}
		other += rate
	}
	if len(layered) == 0 {
		return
	}
	s.bwe.updateLossEstimate(now, sent+other, loss)
	s.bwe.measureCapacity(now)
	s.bwe.updateDelayCap(now)
	avail := (s.estimate() - other) / float64(len(layered))
	for _, d := range layered {
		d.adapt(now, avail, loss)
	}
	s.updateQuiet(now, layered, sent+other, loss)
	s.logAdapt(now, layered, sent+other, loss)
}

// logAdapt logs, once a second at debug level, what the choice of each of
// the subscriber's layered tracks went by: the estimate and its parts, the
// loss, the layer (adapt loop).
func (s *Subscriber) logAdapt(now int64, layered []*downTrack, sent, loss float64) {
	log := s.relay.log
	if log == nil || now-s.bwe.logAt < int64(time.Second) || !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	s.bwe.logAt = now
	for _, d := range layered {
		layer := "?"
		if src := d.src.Load(); d.layers.paused.Load() {
			layer = "paused"
		} else if src != nil {
			layer = src.info.RID
		}
		log.Debug("simulcast adapt", "session", s.id, "track", d.id, "layer", layer,
			"estimate_bps", int64(s.estimate()), "capacity_bps", s.bwe.capacity.Load(), "delay_cap_bps", s.bwe.delayBps.Load(),
			"loss_cap_bps", s.bwe.lossBps.Load(), "sent_bps", int64(sent), "rr_loss", loss)
	}
}

// adapt chooses d's layer given avail bits/s for it and the fraction of
// packets the viewer's receiver reports say it lost. A lower estimate
// alone does not take a viewer down: delay-based estimates also fall when
// the host's scheduling (not the path) delays packets; loss, a NACK storm
// (stormNACKs), or an estimate under half the layer's bitrate confirms the
// path is short.
func (d *downTrack) adapt(now int64, avail, loss float64) {
	src := d.src.Load()
	if src == nil || src.group == nil || !d.bound.Load() {
		return
	}
	layers := src.group.all()
	if len(layers) == 0 {
		return
	}
	sel := &d.layers.sel
	sel.quietOK = false
	if sel.probeHold == 0 {
		sel.probeHold = int64(probeHold)
		sel.lastChange = now
	}
	target := src
	if n := d.layers.next.Load(); n != nil {
		target = n
	}
	cur := src.group.index(target)
	if d.layers.paused.Load() {
		cur = -1
	}
	top := d.maxIndex(layers)
	if d.layers.capWait.Load() {
		// Paused at attach for a layer within the viewer's cap: take it
		// once it has come, or the lowest there is after capWaitMax.
		if sel.capWaitSince == 0 {
			sel.capWaitSince = now
		}
		excluded := d.capExcludes(layers[0])
		if excluded && now-sel.capWaitSince < int64(capWaitMax) {
			return
		}
		d.layers.capWait.Store(false)
		sel.capWaitSince = 0 // a later attach waits afresh
		d.chooseLayer(layers, top)
		return
	}
	requested := sel.requested.Swap(false)
	gone := cur >= 0 && target.removed.Load()
	if !measured(layers[:top+1]) {
		// The publisher has just started: only the viewer's cap applies.
		if requested || gone || cur > top {
			d.chooseLayer(layers, min(max(cur, 0), top))
		}
		return
	}

	want := fitLayer(layers[:top+1], avail, 1)
	if want < 0 {
		want = 0
		if r := float64(layers[0].rate.Load()); r > 0 && avail < r*pauseBelow {
			want = -1
		}
	}
	if want > cur {
		// Climbing needs headroom; it may go less far than want.
		want = max(fitLayer(layers[:top+1], avail, upHeadroom), cur)
		if cur < 0 && want < 0 {
			want = -1
		}
	}
	if want != sel.want {
		sel.want, sel.wantSince = want, now
	}
	held := now - sel.wantSince
	immediate := requested || gone || cur > top
	nacks := d.nackRatio()
	storm := nacks >= stormNACKs
	short := loss >= congestedLoss || storm || (cur >= 0 && avail < float64(layers[cur].rate.Load())*severeShortfall)
	if !short {
		sel.shortSince = 0
	} else if sel.shortSince == 0 {
		sel.shortSince = now
	}
	switch {
	case want < cur && (immediate || (held >= int64(downHold) && sel.shortSince != 0 && now-sel.shortSince >= int64(downHold))):
		if sel.probed && now-sel.lastUp < int64(failedUpWindow) {
			sel.probeHold = min(2*sel.probeHold, int64(maxProbeHold))
		}
		sel.probed = false
		sel.lastDown, sel.lastChange = now, now
		d.chooseLayer(layers, want)
	case want > cur && (immediate || (held >= int64(upHold) && now-sel.lastDown >= int64(minBackoff))):
		sel.lastUp, sel.lastChange, sel.probed = now, now, false
		d.chooseLayer(layers, want)
	case want == cur && cur >= 0 && cur < top && d.sub.bwe.capacity.Load() == 0 && now-sel.lastChange >= sel.probeHold &&
		loss < probeLoss && avail >= float64(layers[cur].rate.Load())*probeRatio:
		if sel.probed && sel.lastDown < sel.lastUp {
			sel.probeHold = int64(probeHold) // the last probe held
		}
		sel.lastUp, sel.lastChange, sel.probed = now, now, true
		d.chooseLayer(layers, cur+1)
	case gone:
		d.chooseLayer(layers, max(want, 0))
	}
	// Settled: on its top layer, no switch under way, (almost) no NACKs.
	sel.quietOK = cur >= 0 && cur == top && sel.lastChange != now && d.layers.next.Load() == nil && nacks < quietNACKs
}

// nackRatio is the number of packets the viewer NACKed per packet sent to
// it since the last call (adapt loop); 0 when nothing was sent.
func (d *downTrack) nackRatio() float64 {
	sel := &d.layers.sel
	nacks, packets := d.nacks.Load(), d.packets.Load()
	dn, dp := nacks-sel.nacksAt, packets-sel.packetsAt
	sel.nacksAt, sel.packetsAt = nacks, packets
	if dp == 0 {
		return 0
	}
	return float64(dn) / float64(dp)
}

// chooseLayer moves d to layers[i], or pauses its video when i is -1.
func (d *downTrack) chooseLayer(layers []*upTrack, i int) {
	if log := d.sub.relay.log; log != nil {
		to := "pause"
		if i >= 0 {
			to = layers[i].info.RID
		}
		log.Debug("simulcast layer", "session", d.sub.id, "track", d.id, "to", to, "estimate_bps", int64(d.sub.estimate()), "source", d.sub.estimateSource(), "capacity_bps", d.sub.bwe.capacity.Load(), "delay_cap_bps", d.sub.bwe.delayBps.Load(), "rr_lost", d.layers.fracLost.Load())
	}
	if i < 0 {
		d.cancelSwitch()
		d.layers.paused.Store(true)
		return
	}
	to := layers[i]
	src := d.src.Load()
	if to != src && d.layers.paused.Load() {
		// Stay paused until to's keyframe (switchTo resumes), rather than
		// resume on the old layer meanwhile.
		d.beginSwitch(to)
		return
	}
	if d.layers.paused.Swap(false) && to == src {
		d.startWaiting(src) // resume on a keyframe (gate), asked for until it comes
	}
	if to == src {
		d.cancelSwitch()
		return
	}
	d.beginSwitch(to)
}
