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
	// the interval, in percent. It is 0 for an interval in which the
	// server's packets_lost went down (see Derive).
	LossPct    float64 `json:"loss_pct"`
	NACKsPS    float64 `json:"nacks_per_s"`
	PLIsPS     float64 `json:"plis_per_s"`
	MessagesPS float64 `json:"messages_per_s"`
}

// Poll is one answer to GET /v1/stats with the wall-clock window of the
// request that got it. The server read its uptime somewhere between Start
// and End, so two polls bound how far the uptime of one process can have
// advanced between them; that is how a restart with nothing going
// backwards is still recognised (see Restarted). A zero Start is taken to
// be End.
type Poll struct {
	Snap       *stats.Snapshot
	Start, End time.Time
}

func (p Poll) start() time.Time {
	if p.Start.IsZero() {
		return p.End
	}
	return p.Start
}

// Derive computes rates between prev and cur. The interval is taken from the
// server's own uptime when it advanced (immune to request latency), else from
// the wall-clock times the polls ended. ok is false when no rate can be
// computed: no interval, or the two polls came from different server
// processes (see Restarted), in which case the caller starts its history
// afresh.
//
// packets_lost is the one figure that is not monotonic: the relay counts a
// sequence gap as lost and takes it back when the late or retransmitted
// packet arrives. An interval in which it went down lost nothing new, so its
// loss is 0 rather than negative; the interval that counted those packets
// lost is not corrected after the fact.
func Derive(prev, cur Poll) (r Rates, ok bool) {
	if prev.Snap == nil || cur.Snap == nil || Restarted(prev, cur) {
		return Rates{}, false
	}
	p, c := prev.Snap, cur.Snap
	dt := c.UptimeS - p.UptimeS
	if dt <= 0 {
		dt = cur.End.Sub(prev.End).Seconds()
	}
	if dt <= 0 {
		return Rates{}, false
	}
	// Restarted has ruled out every monotonic counter going backwards, so
	// these differences cannot wrap.
	per := func(a, b uint64) float64 { return float64(b-a) / dt }
	r = Rates{
		IntervalS:     dt,
		BitrateInBps:  8 * per(p.BytesIn, c.BytesIn),
		BitrateOutBps: 8 * per(p.BytesOut, c.BytesOut),
		PacketsInPS:   per(p.PacketsIn, c.PacketsIn),
		PacketsOutPS:  per(p.PacketsOut, c.PacketsOut),
		NACKsPS:       per(p.NACKs, c.NACKs),
		PLIsPS:        per(p.PLIs, c.PLIs),
		MessagesPS:    per(p.MessagesIn+p.MessagesOut, c.MessagesIn+c.MessagesOut),
	}
	if c.PacketsLost > p.PacketsLost {
		lost := c.PacketsLost - p.PacketsLost
		expected := c.PacketsIn - p.PacketsIn + lost
		r.LossPct = 100 * float64(lost) / float64(expected)
	}
	return r, true
}

// restartSlack is how far the uptime may stray from the wall-clock window
// before two polls are taken for two processes. It covers an uptime
// reported in whole seconds (an error under 1 s on each read) with room to
// spare; Restarted adds 1% of the window for clocks that run at slightly
// different rates.
// A real restart that lands inside the slack goes unnoticed, which only
// costs one rate computed across it.
const restartSlack = 2 * time.Second

// Restarted reports whether cur comes from a different server process than
// prev:
//   - the uptime went backwards;
//   - a monotonic counter shrank (packets_lost is not one: see Derive);
//   - the uptime advanced by clearly more than the time that can have passed
//     between the two reads (from prev's Start to cur's End): the new process
//     was already running when the old one answered (a load balancer
//     switched instances, a new process took over the port);
//   - the uptime advanced by clearly less than the time that must have
//     passed (from prev's End to cur's Start): the process started after
//     prev was read: the usual restart on the same port, found after a
//     backoff with counters that have already overtaken the old ones.
//
// Within one process both clocks run at the same rate, so a normal poll,
// however slow, stays inside these bounds. The window checks need an uptime
// that advances; a server that reports none (0) or a frozen one is judged
// by the first two rules only.
func Restarted(prev, cur Poll) bool {
	p, c := prev.Snap, cur.Snap
	if p == nil || c == nil {
		return false
	}
	if c.UptimeS < p.UptimeS {
		return true
	}
	for _, v := range [][2]uint64{
		{p.BytesIn, c.BytesIn}, {p.BytesOut, c.BytesOut},
		{p.PacketsIn, c.PacketsIn}, {p.PacketsOut, c.PacketsOut},
		{p.NACKs, c.NACKs}, {p.PLIs, c.PLIs},
		{p.MessagesIn, c.MessagesIn}, {p.MessagesOut, c.MessagesOut},
	} {
		if v[1] < v[0] {
			return true
		}
	}
	up := c.UptimeS - p.UptimeS
	if p.UptimeS <= 0 || up <= 0 || cur.End.IsZero() || prev.End.IsZero() {
		return false
	}
	most := lenient(cur.End, prev.start(), true)
	least := lenient(cur.start(), prev.End, false)
	slack := (restartSlack + max(most, 0)/100).Seconds()
	return up > most.Seconds()+slack || up < least.Seconds()-slack
}

// lenient returns a-b measured on the monotonic clock and on the wall clock,
// whichever gives the benefit of the doubt: the longer for an upper bound,
// the shorter for a lower one. The monotonic clock stops while this machine
// sleeps (the server's uptime does not) and the wall clock jumps when it is
// set, so each alone could make a normal poll look like a restart.
func lenient(a, b time.Time, upper bool) time.Duration {
	mono, wall := a.Sub(b), a.Round(0).Sub(b.Round(0))
	if upper {
		return max(mono, wall)
	}
	return min(mono, wall)
}
