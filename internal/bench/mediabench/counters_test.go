package mediabench

import (
	"testing"
	"time"

	"github.com/livectl/livectl/internal/probe"
)

// TestFreezeKeepsFirstEnd checks that the window closed by the run stays
// closed where it was: a subscriber's own Freeze when it hangs up (after the
// grace period) must not stretch the time its bytes are divided by.
func TestFreezeKeepsFirstEnd(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		freezes     []time.Duration // after the first packet
		wantKbps    float64
		wantReceive float64
	}{
		{"one freeze", []time.Duration{time.Second}, 500, 1},
		{"late freeze after grace", []time.Duration{time.Second, 1600 * time.Millisecond}, 500, 1},
		{"earlier second freeze", []time.Duration{time.Second, 500 * time.Millisecond}, 500, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &subscriber{counters: newCounters()}
			st := &stream{video: true, clockRate: videoClock}
			s.counters.streams[1] = st
			// 100 packets of 625 bytes over one second: 500 kbps.
			for i := range 100 {
				s.counters.packet(st, t0.Add(time.Duration(i)*10*time.Millisecond), uint16(i), uint32(i*900), 625)
			}
			for _, d := range tc.freezes {
				s.counters.Freeze(t0.Add(d))
			}
			res := (&Run{}).result(s, probe.Result{PhasesMS: map[string]float64{probe.PhaseFirstDecoded: 1}}, false)
			if res.BitrateKbps != tc.wantKbps || res.ReceiveS != tc.wantReceive {
				t.Errorf("bitrate %v kbps over %v s, want %v kbps over %v s", res.BitrateKbps, res.ReceiveS, tc.wantKbps, tc.wantReceive)
			}
		})
	}
}
