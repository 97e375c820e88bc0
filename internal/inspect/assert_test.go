package inspect

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/metrics/threshold"
)

// TestAssertCountsAllSuspects: --top cuts the suspects shown, not the ones
// --assert counts. A burst (1→1→50) outranks a steady leak (1→2→3).
func TestAssertCountsAllSuspects(t *testing.T) {
	samples := []*GoroutineProfile{
		synthGoroutines(t, t0, 3, 1, 1, 1),
		synthGoroutines(t, t0.Add(10*time.Second), 3, 1, 1, 2),
		synthGoroutines(t, t0.Add(20*time.Second), 3, 50, 1, 3),
	}
	asserts, err := threshold.Parse("suspects==0")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		top   int
		shown int
	}{{0, 2}, {1, 1}, {2, 2}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("top %d", tt.top), func(t *testing.T) {
			s, err := Compare(samples, GroupOptions{Top: tt.top})
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Suspects) != tt.shown || s.SuspectCount != 2 || s.SteadyCount != 1 {
				t.Errorf("shown %d of %d suspects (%d steady), want %d of 2 (1 steady)", len(s.Suspects), s.SuspectCount, s.SteadyCount, tt.shown)
			}
			m := s.Metrics()
			if m["suspects"].V != 1 || m["growth"].V != 49 {
				t.Errorf("metrics = %v, want suspects 1 and growth 49", m)
			}
			if failed := threshold.Failed(threshold.Evaluate(asserts, m)); len(failed) != 1 {
				t.Errorf("suspects==0 passed with a steady leak ranked below --top %d", tt.top)
			}
			var buf bytes.Buffer
			if err := WriteSeriesTable(&buf, s); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), "2 groups grew, 1 at every sample") {
				t.Errorf("table summary does not count the groups left out:\n%s", buf.String())
			}
		})
	}
}

func TestAssertions(t *testing.T) {
	plain := func(v float64) threshold.Value { return threshold.Value{Kind: threshold.Plain, V: v} }
	metrics := threshold.Map{"growth": plain(150), "total": plain(900), "suspects": plain(1), "total_growth": plain(160), "groups": plain(12)}
	tests := []struct {
		in      string
		failed  int
		wantErr string
	}{
		{in: "growth<100", failed: 1},
		{in: "growth<=150, total<1000", failed: 0},
		{in: "suspects==0,groups>20,total_growth>=0", failed: 2},
		{in: "growth<", wantErr: "missing value"},
		{in: "leaks<1", wantErr: "unknown metric"},
		{in: "growth=>1", wantErr: "unknown operator"},
		{in: "growth 100", wantErr: "want metric<value"},
		{in: "growth<10%", wantErr: "plain number"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			as, err := threshold.Parse(tc.in)
			if err == nil {
				err = threshold.Check(as, metrics)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			failed := threshold.Failed(threshold.Evaluate(as, metrics))
			if len(failed) != tc.failed {
				t.Errorf("failed = %q, want %d", failed, tc.failed)
			}
			for _, f := range failed {
				if !strings.Contains(f, "FAILED (") {
					t.Errorf("message %q should give the measured value", f)
				}
			}
		})
	}
}
