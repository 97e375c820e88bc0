package top

import (
	"time"

	"github.com/livectl/livectl/internal/stats"
)

// Rates are figures derived from two consecutive snapshots: the server
// publishes byte and packet counters, and a rate needs two of them.
type Rates struct {
	// IntervalS is the time between the two snapshots, in seconds.
	IntervalS     float64 `json:"interval_s"`
	BitrateInBps  float64 `json:"bitrate_in_bps"`
	BitrateOutBps float64 `json:"bitrate_out_bps"`
	PacketsInPS   float64 `json:"packets_in_per_s"`
	PacketsOutPS  float64 `json:"packets_out_per_s"`
	// LossPct is packets lost over packets expected (received + lost) in
	// the interval, in percent.
	LossPct    float64 `json:"loss_pct"`
	NACKsPS    float64 `json:"nacks_per_s"`
	PLIsPS     float64 `json:"plis_per_s"`
	MessagesPS float64 `json:"messages_per_s"`
}

// Derive computes rates between prev and cur. The interval is taken from the
// server's own uptime when it advanced (immune to request latency), else from
// the wall-clock times the snapshots were taken. ok is false when no rate can
// be computed: no interval, or the server restarted (uptime or a counter went
// backwards), in which case the caller should start its history afresh.
func Derive(prev, cur *stats.Snapshot, prevAt, curAt time.Time) (r Rates, ok bool) {
	if prev == nil || cur == nil || restarted(prev, cur) {
		return Rates{}, false
	}
	dt := cur.UptimeS - prev.UptimeS
	if dt <= 0 {
		dt = curAt.Sub(prevAt).Seconds()
	}
	if dt <= 0 {
		return Rates{}, false
	}
	per := func(a, b uint64) float64 { return float64(b-a) / dt }
	r = Rates{
		IntervalS:     dt,
		BitrateInBps:  8 * per(prev.BytesIn, cur.BytesIn),
		BitrateOutBps: 8 * per(prev.BytesOut, cur.BytesOut),
		PacketsInPS:   per(prev.PacketsIn, cur.PacketsIn),
		PacketsOutPS:  per(prev.PacketsOut, cur.PacketsOut),
		NACKsPS:       per(prev.NACKs, cur.NACKs),
		PLIsPS:        per(prev.PLIs, cur.PLIs),
		MessagesPS:    per(prev.MessagesIn+prev.MessagesOut, cur.MessagesIn+cur.MessagesOut),
	}
	lost := cur.PacketsLost - prev.PacketsLost
	expected := cur.PacketsIn - prev.PacketsIn + lost
	if expected > 0 {
		r.LossPct = 100 * float64(lost) / float64(expected)
	}
	return r, true
}

// restarted reports whether cur comes from a different server process than
// prev: uptime went backwards or a monotonic counter shrank.
func restarted(prev, cur *stats.Snapshot) bool {
	if cur.UptimeS < prev.UptimeS {
		return true
	}
	for _, p := range [][2]uint64{
		{prev.BytesIn, cur.BytesIn}, {prev.BytesOut, cur.BytesOut},
		{prev.PacketsIn, cur.PacketsIn}, {prev.PacketsOut, cur.PacketsOut},
		{prev.PacketsLost, cur.PacketsLost}, {prev.NACKs, cur.NACKs}, {prev.PLIs, cur.PLIs},
		{prev.MessagesIn, cur.MessagesIn}, {prev.MessagesOut, cur.MessagesOut},
	} {
		if p[1] < p[0] {
			return true
		}
	}
	return false
}
