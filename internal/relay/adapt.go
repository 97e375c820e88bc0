package relay

import (
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
// Hysteresis keeps it from flapping: a layer must fit for downHold before
// the viewer drops to it, and the next layer up must fit with upHeadroom
// to spare for upHold before it climbs. An estimate only grows past the
// bitrate actually sent by probing, so a climb is a probe: one that fails
// (a drop within failedUpWindow) doubles the wait before the next climb,
// from minBackoff up to maxBackoff.
const (
	adaptInterval  = 200 * time.Millisecond
	upHeadroom     = 1.15
	upHold         = 2 * time.Second
	downHold       = time.Second
	failedUpWindow = 6 * time.Second
	minBackoff     = 4 * time.Second
	maxBackoff     = 12 * time.Second
	// pauseBelow: with less than this share of the lowest layer's bitrate
	// available, video pauses (audio goes on).
	pauseBelow = 0.8
	// rateWindow is the interval the layers' bitrates are measured over.
	rateWindow = time.Second
)

// selector is a down-track's layer choice state (adapt loop only, but for
// requested, which SetQuality sets).
type selector struct {
	requested atomic.Bool // the viewer's cap changed: apply at once
	want      int         // the layer index the estimate wants, -1 pause
	wantSince int64
	lastUp    int64
	lastDown  int64
	backoff   int64
}

func (r *Relay) adaptLoop() {
	defer r.wg.Done()
	t := time.NewTicker(adaptInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stopAdapt:
			return
		case <-t.C:
			r.adaptOnce(nanotime())
		}
	}
}

func (r *Relay) adaptOnce(now int64) {
	r.mu.Lock()
	rooms := make([]*Room, 0, len(r.rooms))
	for _, rm := range r.rooms {
		rooms = append(rooms, rm)
	}
	r.mu.Unlock()
	for _, rm := range rooms {
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
	other, sent := 0.0, 0.0
	for _, d := range s.downTracks() {
		src := d.src.Load()
		if src == nil {
			continue
		}
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
	s.bwe.updateLossEstimate(now, sent+other)
	avail := (s.estimate() - other) / float64(len(layered))
	for _, d := range layered {
		d.adapt(now, avail)
	}
}

// adapt chooses d's layer given avail bits/s for it.
func (d *downTrack) adapt(now int64, avail float64) {
	src := d.src.Load()
	if src == nil || src.group == nil || !d.bound.Load() {
		return
	}
	layers := src.group.all()
	if len(layers) == 0 {
		return
	}
	sel := &d.layers.sel
	if sel.backoff == 0 {
		sel.backoff = int64(minBackoff)
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
	requested := sel.requested.Swap(false)
	gone := cur >= 0 && target.removed.Load()
	for _, l := range layers[:top+1] {
		if l.rate.Load() == 0 {
			// Not measured yet (the publisher has just started): only
			// the viewer's cap applies.
			if requested || gone || cur > top {
				d.chooseLayer(layers, min(max(cur, 0), top))
			}
			return
		}
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
	switch {
	case want < cur && (immediate || held >= int64(downHold)):
		if now-sel.lastUp < int64(failedUpWindow) {
			sel.backoff = min(2*sel.backoff, int64(maxBackoff))
		} else if now-sel.lastDown > 5*int64(maxBackoff) {
			sel.backoff = int64(minBackoff)
		}
		sel.lastDown = now
		d.chooseLayer(layers, want)
	case want > cur && (immediate || (held >= int64(upHold) && now-sel.lastDown >= sel.backoff)):
		sel.lastUp = now
		d.chooseLayer(layers, want)
	case gone:
		d.chooseLayer(layers, max(want, 0))
	}
}

// chooseLayer moves d to layers[i], or pauses its video when i is -1.
func (d *downTrack) chooseLayer(layers []*upTrack, i int) {
	if log := d.sub.relay.log; log != nil {
		to := "pause"
		if i >= 0 {
			to = layers[i].info.RID
		}
		log.Debug("simulcast layer", "session", d.sub.id, "track", d.id, "to", to, "estimate_bps", int64(d.sub.estimate()), "source", d.sub.estimateSource(), "gcc", d.sub.bweStats(), "rr_lost", d.sub.bwe.lostFrac.Load())
	}
	if i < 0 {
		d.cancelSwitch()
		d.layers.paused.Store(true)
		return
	}
	to := layers[i]
	src := d.src.Load()
	if d.layers.paused.Swap(false) && to == src {
		d.startWaiting(src) // resume on a keyframe (gate), asked for until it comes
	}
	if to == src {
		d.cancelSwitch()
		return
	}
	d.beginSwitch(to)
}
