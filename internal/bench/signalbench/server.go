package signalbench

import (
	"math"
	"time"

	"github.com/livectl/livectl/internal/bench"
)

// serverCost is the server's cost per session between two marks of bench's
// server sampler, taken before the ramp and with every session open; nil
// when it was not measured (no /v1/stats, no session, or the peak was never
// reached).
func serverCost(before, peak bench.Mark) *ServerCost {
	b, p := before.Snap, peak.Snap
	if b == nil || p == nil {
		return nil
	}
	n := p.Connections - b.Connections
	if n <= 0 {
		return nil
	}
	c := &ServerCost{
		Sessions:            n,
		HeapBytesPerSession: math.Round(float64(int64(p.HeapBytes)-int64(b.HeapBytes)) / float64(n)),
		GoroutinesPerSess:   round2(float64(p.Goroutines-b.Goroutines) / float64(n)),
		ConnectionsPeak:     p.Connections,
		RSSPeakBytes:        peak.RSS,
	}
	if before.RSS > 0 && peak.RSS > 0 {
		c.RSSBytesPerSession = math.Round(float64(int64(peak.RSS)-int64(before.RSS)) / float64(n))
	}
	if before.CPUOK && peak.CPUOK {
		c.RampCPUUSPerSession = math.Round(float64((peak.CPU-before.CPU)/time.Microsecond) / float64(n))
	}
	return c
}
