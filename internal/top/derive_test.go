package top

import (
	"math"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/stats"
)

// at is a poll that started and ended at once (the server answered instantly).
func at(s stats.Snapshot, t time.Time) Poll { return Poll{Snap: &s, Start: t, End: t} }

func TestDerive(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := stats.Snapshot{UptimeS: 10, BytesIn: 1000, BytesOut: 5000, PacketsIn: 100, PacketsLost: 3, NACKs: 1}
	tests := []struct {
		name    string
		cur     stats.Snapshot
		curAt   time.Time
		ok      bool
		in, out float64
		loss    float64
	}{
		{
			name: "two seconds of uptime",
			cur:  stats.Snapshot{UptimeS: 12, BytesIn: 251000, BytesOut: 1005000, PacketsIn: 290, PacketsLost: 13, NACKs: 5},
			// Wall clock says 2.5 s (slow request); the server's uptime wins.
			curAt: t0.Add(2500 * time.Millisecond), ok: true,
			in: 8 * 250000 / 2.0, out: 8 * 1000000 / 2.0, loss: 100 * 10 / 200.0,
		},
		{
			name:  "no uptime falls back to wall clock",
			cur:   stats.Snapshot{UptimeS: 10, BytesIn: 2000, BytesOut: 5000, PacketsIn: 100, PacketsLost: 3, NACKs: 1},
			curAt: t0.Add(4 * time.Second), ok: true,
			in: 8 * 1000 / 4.0,
		},
		{
			name:  "no traffic no loss",
			cur:   stats.Snapshot{UptimeS: 11, BytesIn: 1000, BytesOut: 5000, PacketsIn: 100, PacketsLost: 3, NACKs: 1},
			curAt: t0.Add(time.Second), ok: true,
		},
		{
			// Late packets counted lost last time arrived: packets_lost
			// fell from 3 to 1. Same process, rates shown, loss clamped to 0.
			name:  "packets_lost went down",
			cur:   stats.Snapshot{UptimeS: 11, BytesIn: 3000, BytesOut: 5000, PacketsIn: 150, PacketsLost: 1, NACKs: 1},
			curAt: t0.Add(time.Second), ok: true,
			in: 8 * 2000, loss: 0,
		},
		{
			name:  "uptime went back: restarted",
			cur:   stats.Snapshot{UptimeS: 1, BytesIn: 99999, PacketsIn: 1000},
			curAt: t0.Add(time.Second), ok: false,
		},
		{
			name:  "counter went back: restarted",
			cur:   stats.Snapshot{UptimeS: 11, BytesIn: 10, BytesOut: 5000, PacketsIn: 100, NACKs: 1},
			curAt: t0.Add(time.Second), ok: false,
		},
		{
			name:  "uptime ran ahead of the clock: restarted",
			cur:   stats.Snapshot{UptimeS: 40, BytesIn: 99999, BytesOut: 99999, PacketsIn: 1000, PacketsLost: 3, NACKs: 1},
			curAt: t0.Add(15 * time.Second), ok: false,
		},
		{
			name:  "no interval at all",
			cur:   base,
			curAt: t0, ok: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := Derive(at(base, t0), at(tt.cur, tt.curAt))
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (rates %+v)", ok, tt.ok, r)
			}
			if !ok {
				return
			}
			for _, c := range []struct {
				what      string
				got, want float64
			}{{"bitrate in", r.BitrateInBps, tt.in}, {"bitrate out", r.BitrateOutBps, tt.out}, {"loss", r.LossPct, tt.loss}} {
				if math.Abs(c.got-c.want) > 1e-9 {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
	if _, ok := Derive(Poll{End: t0}, at(base, t0.Add(time.Second))); ok {
		t.Error("Derive with no previous snapshot reported rates")
	}
}

func TestRestarted(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	snap := func(uptime float64, step uint64) stats.Snapshot {
		return stats.Snapshot{UptimeS: uptime, BytesIn: 1000 + step, BytesOut: 2000 + step, PacketsIn: 10 + step,
			PacketsOut: 20 + step, PacketsLost: 5, NACKs: step, PLIs: step, MessagesIn: step, MessagesOut: step}
	}
	tests := []struct {
		name      string
		prev, cur Poll
		want      bool
	}{
		{"normal poll", at(snap(10, 0), t0), at(snap(11, 1), ms(1000)), false},
		{"poll a minute later", at(snap(10, 0), t0), at(snap(70, 1), ms(60000)), false},
		{
			// The server read its uptime early in a 6 s request: the uptime
			// advanced less than the time between the polls' ends.
			"slow request",
			Poll{Snap: ptr(snap(10, 0)), Start: t0, End: ms(100)},
			Poll{Snap: ptr(snap(11.1, 1)), Start: ms(1000), End: ms(7000)},
			false,
		},
		{
			// ... and read late in the first one: it advanced more than the
			// time between the polls' ends.
			"slow first request",
			Poll{Snap: ptr(snap(10, 0)), Start: t0, End: ms(6000)},
			Poll{Snap: ptr(snap(17, 1)), Start: ms(7000), End: ms(7000)},
			false,
		},
		{"uptime in whole seconds", at(snap(10, 0), ms(999)), at(snap(11, 1), ms(2900)), false},
		{"uptime not reported", at(snap(0, 0), t0), at(snap(0, 1), ms(4000)), false},
		{"uptime frozen", at(snap(10, 0), t0), at(snap(10, 1), ms(4000)), false},
		{"packets_lost fell", at(snap(10, 0), t0), at(stats.Snapshot{UptimeS: 11, BytesIn: 1001, BytesOut: 2001, PacketsIn: 11, PacketsOut: 21, PacketsLost: 1, NACKs: 1, PLIs: 1, MessagesIn: 1, MessagesOut: 1}, ms(1000)), false},
		{"uptime went back", at(snap(10, 0), t0), at(snap(1, 9), ms(1000)), true},
		{"a counter went back", at(snap(10, 5), t0), at(snap(11, 4), ms(1000)), true},
		{
			// The new process was up before the old one last answered
			// (a load balancer switched instances): nothing went down.
			"uptime ran ahead of the clock", at(snap(10, 0), t0), at(snap(40, 9), ms(15000)), true,
		},
		{
			// The old process died at uptime 10; top backed off (1+2+4+…+30 s)
			// and found a new one up 40 s with larger counters.
			"uptime fell behind the clock", at(snap(10, 0), t0), at(snap(40, 9), ms(91000)), true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Restarted(tt.prev, tt.cur); got != tt.want {
				t.Errorf("Restarted = %v, want %v", got, tt.want)
			}
			if _, ok := Derive(tt.prev, tt.cur); tt.want && ok {
				t.Error("Derive computed rates across a restart")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
