package bench

import (
	"testing"
	"time"
)

// TestMonitorPartialSample is the idle run that was reported as the
// generator's bottleneck: 0.1 CPU-s over two seconds and a bit, whose last
// sample (taken at the end of the run) covers 30 ms, 17 ms of CPU and one
// busy jiffy: 0.58 cores and a 100 % busy machine in its "busiest second".
// Only full one-second samples count, so it is not; a full second that is
// saturated still is.
func TestMonitorPartialSample(t *testing.T) {
	t0 := time.Unix(1e9, 0)
	type sample struct {
		at   time.Duration
		cpu  time.Duration
		host [2]uint64 // busy, total jiffies (2 CPUs at 100 Hz)
	}
	for _, tc := range []struct {
		name       string
		samples    []sample
		bottleneck bool
		coresMax   float64
	}{
		{"idle run, partial last sample", []sample{
			{time.Second, 40 * time.Millisecond, [2]uint64{10, 200}},
			{2 * time.Second, 83 * time.Millisecond, [2]uint64{22, 400}},
			{2*time.Second + 30*time.Millisecond, 100 * time.Millisecond, [2]uint64{23, 401}},
		}, false, 0.043},
		{"saturated full second", []sample{
			{time.Second, 40 * time.Millisecond, [2]uint64{10, 200}},
			{2 * time.Second, 1900 * time.Millisecond, [2]uint64{205, 400}},
		}, true, 1.86},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &monitor{lastWall: t0}
			m.g.Cores = 2
			for _, s := range tc.samples {
				now := t0.Add(s.at)
				m.rates(now, s.cpu, s.host, 2)
				m.lastCPU, m.lastWall, m.lastHost = s.cpu, now, s.host
			}
			g := judgeGenerator(m.g, 0, 0)
			if g.Bottleneck != tc.bottleneck {
				t.Errorf("bottleneck %v (%q), want %v; generator %+v", g.Bottleneck, g.Reasons, tc.bottleneck, g)
			}
			if d := g.CPUCoresMax - tc.coresMax; d > 0.001 || d < -0.001 {
				t.Errorf("cpu_cores_max %.3f, want %.3f", g.CPUCoresMax, tc.coresMax)
			}
		})
	}
}
