package relay

import (
	"slices"
	"sync"
	"time"
)

// Room is one room's media: its published tracks and its sessions.
type Room struct {
	relay *Relay
	name  string

	mu     sync.Mutex
	tracks []*upTrack // in publish order
	pubs   map[*Publisher]struct{}
	subs   map[*Subscriber]struct{}
	ended  Counters // figures of tracks and down-tracks that have ended

	rateAt          time.Time
	rateIn, rateOut uint64 // byte counters at rateAt
	bpsIn, bpsOut   uint64
}

func newRoom(r *Relay, name string) *Room {
	return &Room{relay: r, name: name, pubs: map[*Publisher]struct{}{}, subs: map[*Subscriber]struct{}{}}
}

func (rm *Room) empty() bool {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return len(rm.pubs) == 0 && len(rm.subs) == 0
}

// lookup returns the named room, nil when it does not exist.
func (r *Relay) lookup(name string) *Room {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rooms[name]
}

// Tracks lists the tracks published in room.
func (r *Relay) Tracks(room string) []TrackInfo {
	rm := r.lookup(room)
	if rm == nil {
		return nil
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	out := make([]TrackInfo, 0, len(rm.tracks))
	for _, t := range rm.tracks {
		out = append(out, t.info)
	}
	return out
}

// roomSimulcast reports whether room's video comes in simulcast layers: a
// track with layers is published, or a publisher offered to send some
// (its tracks join when their first packets arrive, after its WHIP answer).
func (r *Relay) roomSimulcast(room string) bool {
	rm := r.lookup(room)
	if rm == nil {
		return false
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	for p := range rm.pubs {
		if p.simulcast.Load() {
			return true
		}
	}
	return slices.ContainsFunc(rm.tracks, func(t *upTrack) bool { return t.group != nil })
}

func (rm *Room) subscribers() []*Subscriber {
	out := make([]*Subscriber, 0, len(rm.subs))
	for s := range rm.subs {
		out = append(out, s)
	}
	return out
}

// addTrack publishes t to the room: every subscriber is offered it. A
// track removed already is not published: its publisher may close, or its
// read loop end, between creating the track and this call.
func (rm *Room) addTrack(t *upTrack) {
	rm.mu.Lock()
	if t.removed.Load() {
		rm.mu.Unlock()
		return
	}
	rm.tracks = append(rm.tracks, t)
	subs := rm.subscribers()
	rm.mu.Unlock()
	if f := rm.relay.cfg.OnTrack; f != nil {
		f(rm.name, TrackEvent{Published: true, Track: t.info})
	}
	for _, s := range subs {
		s.trackAdded(t)
	}
}

// removeTrack unpublishes t; it is safe to call more than once, and
// before addTrack, which then does not publish it.
func (rm *Room) removeTrack(t *upTrack) {
	rm.mu.Lock()
	t.removed.Store(true) // under rm.mu: addTrack checks it there
	found := false
	for i, x := range rm.tracks {
		if x == t {
			rm.tracks = append(rm.tracks[:i], rm.tracks[i+1:]...)
			found = true
			break
		}
	}
	subs := rm.subscribers()
	rm.mu.Unlock()
	if !found {
		return
	}
	if f := rm.relay.cfg.OnTrack; f != nil {
		f(rm.name, TrackEvent{Published: false, Track: t.info})
	}
	for _, s := range subs {
		s.trackRemoved(t)
	}
}

// trackOfKind returns the oldest published track of a kind, skipping
// except, for subscribers that follow "the room's video" (WHEP).
func (rm *Room) trackOfKind(kind string, except *upTrack) *upTrack {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	for _, t := range rm.tracks {
		if t.info.Kind == kind && t != except {
			return t
		}
	}
	return nil
}

// totals sums ended and live figures.
func (rm *Room) totals() Counters {
	return rm.stats(time.Time{}).Counters
}

// stats snapshots the room; a non-zero now also updates the bitrates.
func (rm *Room) stats(now time.Time) RoomStats {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	c := rm.ended
	rs := RoomStats{Name: rm.name, Publishers: len(rm.pubs), Subscribers: len(rm.subs), Tracks: len(rm.tracks)}
	// Live figures are held by the sessions: a publisher counts all of its
	// tracks (unpublished ones still draining too), a subscriber its
	// down-tracks. Each folds them into rm.ended when it ends.
	for p := range rm.pubs {
		p.addCounters(&c)
	}
	for s := range rm.subs {
		rs.TracksSubscribed += s.addCounters(&c)
	}
	rs.Counters = c
	rs.Simulcast = rm.simulcastStats(c.LayerSwitches)
	if !now.IsZero() {
		if el := now.Sub(rm.rateAt); rm.rateAt.IsZero() || el >= time.Second {
			if !rm.rateAt.IsZero() {
				rm.bpsIn = bitrate(rm.rateIn, c.BytesIn, el)
				rm.bpsOut = bitrate(rm.rateOut, c.BytesOut, el)
			}
			rm.rateAt, rm.rateIn, rm.rateOut = now, c.BytesIn, c.BytesOut
		}
	}
	rs.BitrateInBps, rs.BitrateOutBps = rm.bpsIn, rm.bpsOut
	return rs
}

// closeAll ends every session of the room.
func (rm *Room) closeAll() {
	rm.mu.Lock()
	pubs := make([]*Publisher, 0, len(rm.pubs))
	for p := range rm.pubs {
		pubs = append(pubs, p)
	}
	subs := rm.subscribers()
	rm.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
	for _, p := range pubs {
		p.Close()
	}
}

// bitrate is bits per second from byte totals el apart. Totals do not go
// backwards; if they ever did, the rate is 0, not a wrapped 1e20.
func bitrate(before, now uint64, el time.Duration) uint64 {
	if now < before || el <= 0 {
		return 0
	}
	return uint64(float64(now-before) * 8 / el.Seconds())
}
