package hist

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

func TestSummaryPercentiles(t *testing.T) {
	h := New()
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	s := h.Summary()
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"p50", s.P50, 500},
		{"p90", s.P90, 900},
		{"p95", s.P95, 950},
		{"p99", s.P99, 990},
		{"max", s.Max, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// three significant digits: within 0.1% of the true value
			if d := tt.got - tt.want; d < -tt.want/1000 || d > tt.want/1000 {
				t.Errorf("%s = %v, want %v ±0.1%%", tt.name, tt.got, tt.want)
			}
		})
	}
	if s.Count != 1000 {
		t.Errorf("count = %d, want 1000", s.Count)
	}
}

func TestEmptySummaryIsZero(t *testing.T) {
	if s := New().Summary(); s != (Summary{}) {
		t.Errorf("empty summary = %+v", s)
	}
}

func TestMergeIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	a, b, all := New(), New(), New()
	for i := 0; i < 20000; i++ {
		d := time.Duration(r.ExpFloat64() * float64(20*time.Millisecond))
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
		all.Record(d)
	}
	a.Merge(b)
	if a.Summary() != all.Summary() {
		t.Errorf("merged %+v\n   one %+v", a.Summary(), all.Summary())
	}
	if !a.h.Equals(all.h) {
		t.Error("merged histogram counts differ from a single histogram of all values")
	}
}

func TestSnapshotRoundTripMerges(t *testing.T) {
	a, b := New(), New()
	for i := 1; i <= 500; i++ {
		a.Record(time.Duration(i) * 100 * time.Microsecond)
		b.Record(time.Duration(i) * 3 * time.Millisecond)
	}
	a.Record(2 * time.Hour) // clamped
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back Histogram
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Summary() != a.Summary() || back.Clamped() != 1 {
		t.Fatalf("round trip: %+v clamped %d, want %+v clamped 1", back.Summary(), back.Clamped(), a.Summary())
	}
	back.Merge(b)
	a.Merge(b)
	if back.Summary() != a.Summary() {
		t.Errorf("merge after round trip %+v, want %+v", back.Summary(), a.Summary())
	}
}

func TestRecordCorrected(t *testing.T) {
	h := New()
	// One 1s stall at a 100ms schedule stands for 9 more late values.
	h.RecordCorrected(time.Second, 100*time.Millisecond)
	if got := h.Count(); got != 10 {
		t.Errorf("count = %d, want 10", got)
	}
	h2 := New()
	h2.RecordCorrected(50*time.Millisecond, 100*time.Millisecond)
	if got := h2.Count(); got != 1 {
		t.Errorf("on-time value: count = %d, want 1", got)
	}
}

func TestRecordEachIsRecordOfEach(t *testing.T) {
	tests := []struct {
		name string
		ds   []time.Duration
	}{
		{"none", nil},
		{"one", []time.Duration{3 * time.Millisecond}},
		{"several, below the range and above it", []time.Duration{0, time.Microsecond, 250 * time.Millisecond, 2 * time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			each, one := NewWithInterval(), NewWithInterval()
			each.RecordEach(tt.ds)
			for _, d := range tt.ds {
				one.Record(d)
			}
			if each.Summary() != one.Summary() || each.Clamped() != one.Clamped() || each.Interval() != one.Interval() {
				t.Errorf("RecordEach %+v (clamped %d), Record of each %+v (clamped %d)",
					each.Summary(), each.Clamped(), one.Summary(), one.Clamped())
			}
			if each.Count() != int64(len(tt.ds)) {
				t.Errorf("count %d of %d", each.Count(), len(tt.ds))
			}
		})
	}
}

func TestInterval(t *testing.T) {
	h := NewWithInterval()
	h.Record(10 * time.Millisecond)
	if s := h.Interval(); s.Count != 1 || s.Max < 9.99 {
		t.Errorf("first interval %+v", s)
	}
	h.Record(time.Millisecond)
	if s := h.Interval(); s.Count != 1 || s.Max > 1.01 {
		t.Errorf("second interval %+v, want only the 1ms value", s)
	}
	if s := h.Summary(); s.Count != 2 {
		t.Errorf("cumulative count %d, want 2", s.Count)
	}
}

func TestFromSnapshotRejects(t *testing.T) {
	good := New()
	good.Record(time.Millisecond)
	gs := good.Snapshot()
	tests := []struct {
		name string
		s    Snapshot
	}{
		{"wrong unit", Snapshot{Unit: "ms", HDR: gs.HDR}},
		{"garbage", Snapshot{Unit: "us", HDR: "not base64!"}},
		{"count without data", Snapshot{Unit: "us", Summary: Summary{Count: 3}}},
		{"negative clamped", Snapshot{Unit: "us", HDR: gs.HDR, Clamped: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := FromSnapshot(tt.s); !errors.Is(err, ErrBadSnapshot) {
				t.Errorf("err = %v, want ErrBadSnapshot", err)
			}
		})
	}
}

func TestStat(t *testing.T) {
	s := Summary{Count: 7, P50: 1, P90: 2, P95: 3, P99: 4, Max: 5}
	for i, name := range StatNames {
		v, ok := s.Stat(name)
		want := []float64{1, 2, 3, 4, 5, 7}[i]
		if !ok || v != want {
			t.Errorf("Stat(%q) = %v, %v; want %v", name, v, ok, want)
		}
	}
	if _, ok := s.Stat("p42"); ok {
		t.Error("Stat(p42) ok")
	}
}

func FuzzFromSnapshot(f *testing.F) {
	h := New()
	h.Record(3 * time.Millisecond)
	f.Add(h.Snapshot().HDR)
	f.Add("")
	f.Add("HISTFAAAAB")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := FromSnapshot(Snapshot{Unit: "us", HDR: s})
		if err != nil {
			return
		}
		_ = r.Summary()
		r.Merge(h)
	})
}

func BenchmarkRecord(b *testing.B) {
	h := NewWithInterval()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := 3 * time.Millisecond
		for pb.Next() {
			h.Record(d)
			d += time.Microsecond
		}
	})
}

func BenchmarkSummary(b *testing.B) {
	h := New()
	for i := 0; i < 100000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = h.Summary()
	}
}
