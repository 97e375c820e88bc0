package top

import (
	"math"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/stats"
)

func TestDerive(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := stats.Snapshot{UptimeS: 10, BytesIn: 1000, BytesOut: 5000, PacketsIn: 100, PacketsLost: 0, NACKs: 1}
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
			cur:  stats.Snapshot{UptimeS: 12, BytesIn: 251000, BytesOut: 1005000, PacketsIn: 290, PacketsLost: 10, NACKs: 5},
			// Wall clock says 5 s (slow request); the server's uptime wins.
			curAt: t0.Add(5 * time.Second), ok: true,
			in: 8 * 250000 / 2.0, out: 8 * 1000000 / 2.0, loss: 100 * 10 / 200.0,
		},
		{
			name:  "no uptime falls back to wall clock",
			cur:   stats.Snapshot{UptimeS: 10, BytesIn: 2000, BytesOut: 5000, PacketsIn: 100, NACKs: 1},
			curAt: t0.Add(4 * time.Second), ok: true,
			in: 8 * 1000 / 4.0,
		},
		{
			name:  "no traffic no loss",
			cur:   stats.Snapshot{UptimeS: 11, BytesIn: 1000, BytesOut: 5000, PacketsIn: 100, NACKs: 1},
			curAt: t0.Add(time.Second), ok: true,
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
			name:  "no interval at all",
			cur:   base,
			curAt: t0, ok: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev := base
			r, ok := Derive(&prev, &tt.cur, t0, tt.curAt)
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
	if _, ok := Derive(nil, &base, t0, t0.Add(time.Second)); ok {
		t.Error("Derive with no previous snapshot reported rates")
	}
}
