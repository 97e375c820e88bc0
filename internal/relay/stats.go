package relay

import (
	"sort"
	"time"
)

// Counters are the relay's figures. Live tracks keep them in atomics; a
// room adds a track's figures to its own when the track ends, and the
// relay adds a room's when the room ends, so totals never go backwards —
// except the two loss figures, which are "still missing" counts: they fall
// when a late or retransmitted packet fills a gap (export them as gauges).
type Counters struct {
	PacketsIn   uint64 // RTP packets received from publishers
	BytesIn     uint64
	PacketsOut  uint64 // RTP packets sent to subscribers (retransmissions included)
	BytesOut    uint64
	PacketsLost uint64 // publisher packets not received (after NACK recovery); may fall
	LostOut     uint64 // subscribers' reported cumulative loss (receiver reports); may fall
	NACKs       uint64 // NACKed packets from subscribers
	Retransmits uint64 // packets resent from the cache
	PLIs        uint64 // keyframe requests sent to publishers
	Drops       uint64 // packets dropped by full subscriber queues
	// LayerSwitches counts simulcast layer switches of down-tracks.
	LayerSwitches uint64
}

func (c *Counters) add(o *Counters) {
	c.LayerSwitches += o.LayerSwitches
	c.PacketsIn += o.PacketsIn
	c.BytesIn += o.BytesIn
	c.PacketsOut += o.PacketsOut
	c.BytesOut += o.BytesOut
	c.PacketsLost += o.PacketsLost
	c.LostOut += o.LostOut
	c.NACKs += o.NACKs
	c.Retransmits += o.Retransmits
	c.PLIs += o.PLIs
	c.Drops += o.Drops
}

// Stats is a snapshot of the media plane.
type Stats struct {
	TracksPublished  int // live published tracks
	TracksSubscribed int // live subscriber down-tracks
	Publishers       int
	Subscribers      int
	Counters                     // since start, ended rooms included
	Rooms            []RoomStats // sorted by name
}

// RoomStats is one room's share of Stats.
type RoomStats struct {
	Name             string
	Publishers       int
	Subscribers      int
	Tracks           int
	TracksSubscribed int
	Counters                // since the room was created
	BitrateInBps     uint64 // over the interval since the previous Stats call (≥1 s)
	BitrateOutBps    uint64
	Simulcast        *SimulcastStats // nil without simulcast tracks
}

// SimulcastStats are a room's simulcast figures (simulcast.go).
type SimulcastStats struct {
	ViewersPerLayer map[string]int // video down-tracks by layer RID; "paused"
	Switches        uint64         // layer switches (Counters.LayerSwitches)
	EstimateP50Bps  uint64         // median viewer bandwidth estimate
	UnusedLayers    int            // layers no down-track takes
	QuietViewers    int            // viewers whose feedback is quiet (twccstamp.go)
}

// Stats returns totals and per-room figures. Bitrates are averaged since
// the previous call, over at least a second; callers poll (the server's
// /v1/stats and /metrics handlers).
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	rooms := r.roomsLocked()
	total := r.gone
	r.mu.Unlock()

	var s Stats
	now := time.Now()
	for _, rm := range rooms {
		rs := rm.stats(now)
		total.add(&rs.Counters)
		s.TracksPublished += rs.Tracks
		s.TracksSubscribed += rs.TracksSubscribed
		s.Publishers += rs.Publishers
		s.Subscribers += rs.Subscribers
		s.Rooms = append(s.Rooms, rs)
	}
	sort.Slice(s.Rooms, func(i, j int) bool { return s.Rooms[i].Name < s.Rooms[j].Name })
	s.Counters = total
	return s
}
