package bench

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livectl/livectl/internal/metrics/hist"
)

func snap(ms ...int) hist.Snapshot {
	h := hist.New()
	for _, v := range ms {
		h.Record(time.Duration(v) * time.Millisecond)
	}
	return h.Snapshot()
}

func point(open, att, fail int64, join ...int) Point {
	p := Point{Open: open, Attempts: att, Failures: fail}
	if len(join) > 0 {
		p.Latency = map[string]hist.Snapshot{"join": snap(join...)}
	}
	return p
}

// Series side by side merge on the wall clock: points of one second add,
// distributions exactly; a coarser series sets the step.
func TestMergeSeries(t *testing.T) {
	a := &Series{StartUnix: 100, StepS: 1, Points: []Point{point(1, 1, 0, 10), point(2, 1, 0, 20), point(2, 0, 0)}}
	b := &Series{StartUnix: 101, StepS: 1, Points: []Point{point(5, 5, 1, 30, 30, 30, 30), point(4, 0, 0)}}
	m, err := MergeSeries(a, nil, b)
	if err != nil {
		t.Fatal(err)
	}
	if m.StartUnix != 100 || m.StepS != 1 || len(m.Points) != 3 {
		t.Fatalf("merged %+v", m)
	}
	want := []struct {
		open, att, fail, joins int64
		p99                    float64
	}{{1, 1, 0, 1, 10}, {7, 6, 1, 5, 30}, {6, 0, 0, 0, 0}}
	for i, w := range want {
		p := m.Points[i]
		j := p.Latency["join"].Summary
		if p.Open != w.open || p.Attempts != w.att || p.Failures != w.fail || j.Count != w.joins || j.P99 < w.p99*0.99 || j.P99 > w.p99*1.01 {
			t.Errorf("point %d: %+v join %+v, want %+v", i, p, j, w)
		}
	}
	// With a 2 s series: steps of 2 s from the earliest start.
	c := &Series{StartUnix: 100, StepS: 2, Points: []Point{point(3, 3, 0, 40)}}
	m, err = MergeSeries(a, c)
	if err != nil {
		t.Fatal(err)
	}
	if m.StepS != 2 || len(m.Points) != 2 || m.Points[0].Attempts != 5 || m.Points[0].Open != 2+3 || m.Points[0].Latency["join"].Summary.Count != 3 {
		t.Errorf("merged with a coarser series: %+v", m)
	}
	if m, err := MergeSeries(nil, nil); m != nil || err != nil {
		t.Errorf("no series: %v %v", m, err)
	}
}

// However many steps a run has, its series stays within MaxSeriesPoints,
// coarsening without losing a count.
func TestSeriesBounded(t *testing.T) {
	s := &Series{StartUnix: 0, StepS: 1}
	const n = 2*MaxSeriesPoints + 7 // seconds
	for i := range n {
		if i == 100 {
			continue // a second no tick closed: an empty step
		}
		if err := s.addAt(int64(i), point(int64(i), 1, 0, 5), MaxSeriesPoints); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.Points) > MaxSeriesPoints || s.StepS != 4 {
		t.Fatalf("%d points of %ds", len(s.Points), s.StepS)
	}
	var att, joins int64
	for _, p := range s.Points {
		att += p.Attempts
		joins += p.Latency["join"].Summary.Count
	}
	if att != n-1 || joins != n-1 || s.Points[len(s.Points)-1].Open != n-1 {
		t.Errorf("attempts %d joins %d last open %d, want %d, %d, %d", att, joins, s.Points[len(s.Points)-1].Open, n-1, n-1, n-1)
	}
	// Recorded within a looser bound, then bounded in one pass: the same.
	r := &Series{StartUnix: 0, StepS: 1}
	for i := range n {
		if i != 100 {
			if err := r.addAt(int64(i), point(int64(i), 1, 0, 5), recorderPoints); err != nil {
				t.Fatal(err)
			}
		}
	}
	if r.StepS != 1 {
		t.Fatalf("coarsened to %ds while recording %d s", r.StepS, n)
	}
	if err := r.bound(MaxSeriesPoints); err != nil {
		t.Fatal(err)
	}
	if r.StepS != s.StepS || len(r.Points) != len(s.Points) {
		t.Fatalf("bounded at the end: %d points of %ds; as it went: %d of %ds", len(r.Points), r.StepS, len(s.Points), s.StepS)
	}
	for i := range r.Points {
		a, b := r.Points[i], s.Points[i]
		if a.Open != b.Open || a.Attempts != b.Attempts || a.Latency["join"].Summary != b.Latency["join"].Summary {
			t.Errorf("point %d: %+v vs %+v", i, a, b)
		}
	}
}

// The recorder closes a step each wall-clock second and the last, partial
// one at Finish; its goroutine ends there.
func TestSeriesRecorder(t *testing.T) {
	defer goleak.VerifyNone(t)
	var att int64
	r := StartSeries([]string{"join"}, func() Sample { return Sample{Open: att, Attempts: att} })
	r.Record("join", 3*time.Millisecond)
	r.Record("other", time.Millisecond) // not kept
	time.Sleep(1100 * time.Millisecond)
	r.Record("join", 4*time.Millisecond)
	s, err := r.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if s.StepS != 1 || len(s.Points) < 2 || len(s.Points) > 3 {
		t.Fatalf("series %+v after 1.1s", s)
	}
	var joins int64
	for _, p := range s.Points {
		joins += p.Latency["join"].Summary.Count
		if _, ok := p.Latency["other"]; ok {
			t.Error("a latency not asked for is in the series")
		}
	}
	if joins != 2 {
		t.Errorf("%d joins in the series, want 2", joins)
	}
}

// A generator's own counts (bench media's bytes, lost, freezes) add when
// points merge side by side, when a series coarsens, and survive a JSON
// round trip; stdout's brief copy keeps them.
func TestSeriesCounts(t *testing.T) {
	counts := func(p Point, kv ...int64) Point {
		p.Counts = map[string]int64{"bytes": kv[0], "freezes": kv[1]}
		return p
	}
	a := &Series{StartUnix: 100, StepS: 1, Points: []Point{counts(point(1, 1, 0), 1000, 0), counts(point(1, 0, 0), 2000, 1)}}
	b := &Series{StartUnix: 100, StepS: 1, Points: []Point{counts(point(1, 1, 0), 500, 2)}}
	var round Series
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &round); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		all           []*Series
		bytes, freeze []int64
	}{
		{"round trip", []*Series{&round}, []int64{1000, 2000}, []int64{0, 1}},
		{"side by side", []*Series{a, b}, []int64{1500, 2000}, []int64{2, 1}},
		{"coarser", []*Series{a, {StartUnix: 100, StepS: 2}}, []int64{3000}, []int64{1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := MergeSeries(tc.all...)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Points) != len(tc.bytes) {
				t.Fatalf("%d points, want %d", len(m.Points), len(tc.bytes))
			}
			for i, p := range m.Brief().Points {
				if p.Counts["bytes"] != tc.bytes[i] || p.Counts["freezes"] != tc.freeze[i] {
					t.Errorf("point %d counts %v, want bytes %d freezes %d", i, p.Counts, tc.bytes[i], tc.freeze[i])
				}
			}
		})
	}
}

// The recorder takes each step's counts as differences of the cumulative
// ones sampled, and a pulled latency from its source each step.
func TestSeriesRecorderCountsAndPull(t *testing.T) {
	defer goleak.VerifyNone(t)
	var mu sync.Mutex
	bytes := int64(0)
	src := hist.NewWithInterval()
	r := StartSeries(nil, func() Sample {
		mu.Lock()
		defer mu.Unlock()
		return Sample{Counts: map[string]int64{"bytes": bytes}}
	})
	r.Pull("chat", src.TakeInterval)
	mu.Lock()
	bytes = 700
	mu.Unlock()
	src.Record(5 * time.Millisecond)
	src.Record(6 * time.Millisecond)
	time.Sleep(1100 * time.Millisecond)
	mu.Lock()
	bytes = 1000
	mu.Unlock()
	src.Record(7 * time.Millisecond)
	s, err := r.Finish()
	if err != nil {
		t.Fatal(err)
	}
	var total, chats int64
	for _, p := range s.Points {
		if p.Counts["bytes"] < 0 {
			t.Errorf("negative step %v", p.Counts)
		}
		total += p.Counts["bytes"]
		chats += p.Latency["chat"].Summary.Count
	}
	if total != 1000 || chats != 3 {
		t.Errorf("bytes %d chats %d over the steps, want 1000 and 3", total, chats)
	}
	if src.Count() != 3 {
		t.Errorf("the source lost its own count: %d", src.Count())
	}
}
