package bench

import (
	"fmt"
	"sync"
	"time"

	"github.com/livectl/livectl/internal/metrics/hist"
)

// MaxSeriesPoints bounds a Series: past it, neighbouring points merge
// (each point then covers twice the time), so a report stays small however
// long the run.
const MaxSeriesPoints = 600

// Series is a run's figures over time: point i covers the StepS seconds
// from Unix second StartUnix + i·StepS, on the wall clock, so that the
// series of processes and machines running side by side (--procs, shards)
// line up and merge.
type Series struct {
	StartUnix int64   `json:"start_unix"`
	StepS     int64   `json:"step_s"`
	Points    []Point `json:"points"`
}

// Point is one step of a Series.
type Point struct {
	// Open is the sessions (or subscribers) open at the end of the step;
	// merged over processes it adds, coarsened it is the later step's.
	Open int64 `json:"open"`
	// Attempts and Failures started and failed during the step.
	Attempts int64 `json:"attempts"`
	Failures int64 `json:"failures"`
	// Latency holds the distributions of the latencies recorded during
	// the step (their summaries give that step's p50 and p99), in full so
	// that points merge exactly.
	Latency map[string]hist.Snapshot `json:"latency,omitempty"`
	// Counts are a generator's own counters over the step (bench media:
	// bytes, packets, lost, freezes); they add when points merge.
	Counts map[string]int64 `json:"counts,omitempty"`
}

// Sample is what a SeriesRecorder reads at each step's end: sessions open
// now, and attempts, failures and Counts so far (cumulative: the step's
// figures are the differences).
type Sample struct {
	Open, Attempts, Failures int64
	Counts                   map[string]int64
}

// Append adds the point of the step after the last, coarsening when the
// series grows past MaxSeriesPoints.
func (s *Series) Append(p Point) error { return s.appendWithin(p, MaxSeriesPoints) }

// appendWithin is Append with the series bounded to limit points.
func (s *Series) appendWithin(p Point, limit int) error {
	s.Points = append(s.Points, p)
	if len(s.Points) <= limit {
		return nil
	}
	return s.bound(limit)
}

// bound coarsens s, in one pass, to the finest step (a power-of-two
// multiple of its own) that fits it in limit points.
func (s *Series) bound(limit int) error {
	step := s.StepS
	for int64(len(s.Points))*s.StepS > int64(limit)*step {
		step *= 2
	}
	if step == s.StepS {
		return nil
	}
	c, err := s.rebin(s.StartUnix, step)
	if err != nil {
		return err
	}
	*s = *c
	return nil
}

// rebin is s on the grid of step seconds from start (step a multiple of
// s.StepS, start at or before s.StartUnix): points falling into one step
// merge, the later one's Open standing for the step. Each new point's
// distributions are gathered in one histogram apiece and encoded once:
// coarsening costs a decode per old point, not a decode and encode per
// pair.
func (s *Series) rebin(start, step int64) (*Series, error) {
	out := &Series{StartUnix: start, StepS: step}
	acc := map[string]*hist.Histogram{}
	flush := func() {
		if len(acc) == 0 {
			return
		}
		q := &out.Points[len(out.Points)-1]
		q.Latency = make(map[string]hist.Snapshot, len(acc))
		for name, h := range acc {
			q.Latency[name] = h.Snapshot()
		}
		clear(acc)
	}
	for i, p := range s.Points {
		j := int((s.StartUnix + int64(i)*s.StepS - start) / step)
		if j >= len(out.Points) {
			flush()
			for len(out.Points) <= j {
				out.Points = append(out.Points, Point{})
			}
		}
		q := &out.Points[j]
		q.Open = p.Open
		q.Attempts += p.Attempts
		q.Failures += p.Failures
		q.addCounts(p.Counts)
		for name, snap := range p.Latency {
			h, err := hist.FromSnapshot(snap)
			if err != nil {
				return nil, fmt.Errorf("series latency %s: %w", name, err)
			}
			if a := acc[name]; a != nil {
				a.Merge(h)
			} else {
				acc[name] = h
			}
		}
	}
	flush()
	return out, nil
}

// add counts p's attempts, failures and latencies into q.
func (q *Point) add(p Point) error {
	q.Attempts += p.Attempts
	q.Failures += p.Failures
	q.addCounts(p.Counts)
	for name, snap := range p.Latency {
		if q.Latency == nil {
			q.Latency = map[string]hist.Snapshot{}
		}
		m, err := mergeSnapshots(q.Latency[name], snap)
		if err != nil {
			return fmt.Errorf("series latency %s: %w", name, err)
		}
		q.Latency[name] = m
	}
	return nil
}

// addCounts adds counts into q's Counts.
func (q *Point) addCounts(counts map[string]int64) {
	for name, v := range counts {
		if q.Counts == nil {
			q.Counts = make(map[string]int64, len(counts))
		}
		q.Counts[name] += v
	}
}

// mergeSnapshots is the snapshot of a's and b's values together; the zero
// Snapshot is empty.
func mergeSnapshots(a, b hist.Snapshot) (hist.Snapshot, error) {
	if a.Unit == "" {
		return b, nil
	}
	ha, err := hist.FromSnapshot(a)
	if err != nil {
		return a, err
	}
	hb, err := hist.FromSnapshot(b)
	if err != nil {
		return a, err
	}
	ha.Merge(hb)
	return ha.Snapshot(), nil
}

// MergeSeries merges the series of runs side by side into one: points of
// the same time add (open sessions too), on the coarsest step among them,
// bounded like any series. Nil series are skipped; none at all give nil.
func MergeSeries(all ...*Series) (*Series, error) {
	var start, step int64
	n := 0
	for _, s := range all {
		if s == nil || s.StepS <= 0 {
			continue
		}
		if n == 0 || s.StartUnix < start {
			start = s.StartUnix
		}
		step = max(step, s.StepS)
		n++
	}
	if n == 0 {
		return nil, nil
	}
	out := &Series{StartUnix: start, StepS: step}
	for _, s := range all {
		if s == nil || s.StepS <= 0 {
			continue
		}
		if step%s.StepS != 0 {
			return nil, fmt.Errorf("series steps of %ds and %ds do not divide", s.StepS, step)
		}
		r, err := s.rebin(start, step)
		if err != nil {
			return nil, err
		}
		for j, p := range r.Points {
			for len(out.Points) <= j {
				out.Points = append(out.Points, Point{})
			}
			out.Points[j].Open += p.Open
			if err := out.Points[j].add(p); err != nil {
				return nil, err
			}
		}
	}
	if err := out.bound(MaxSeriesPoints); err != nil {
		return nil, err
	}
	return out, nil
}

// Brief is s without the full distributions, for stdout: each point keeps
// its latencies' summaries.
func (s *Series) Brief() *Series {
	if s == nil {
		return nil
	}
	b := &Series{StartUnix: s.StartUnix, StepS: s.StepS, Points: make([]Point, len(s.Points))}
	for i, p := range s.Points {
		b.Points[i] = Point{Open: p.Open, Attempts: p.Attempts, Failures: p.Failures, Counts: p.Counts}
		for name, snap := range p.Latency {
			if b.Points[i].Latency == nil {
				b.Points[i].Latency = map[string]hist.Snapshot{}
			}
			b.Points[i].Latency[name] = hist.Snapshot{Unit: snap.Unit, Clamped: snap.Clamped, Summary: snap.Summary}
		}
	}
	return b
}

// SeriesRecorder records a run's Series as it goes: a step a second on
// the wall clock's seconds, the counts sampled at each, the latencies
// recorded into the current second's histograms.
type SeriesRecorder struct {
	names  []string
	sample func() Sample

	mu    sync.RWMutex // Record holds it shared; the tick swaps cur under it
	cur   map[string]*hist.Histogram
	pulls map[string]func() *hist.Histogram

	series Series
	last   Sample
	stop   chan struct{}
	done   chan struct{}
	err    error
}

// StartSeries starts recording the latencies names and what sample gives.
// Finish stops it.
func StartSeries(names []string, sample func() Sample) *SeriesRecorder {
	r := &SeriesRecorder{names: names, sample: sample, cur: newSecond(names),
		series: Series{StartUnix: time.Now().Unix(), StepS: 1},
		stop:   make(chan struct{}), done: make(chan struct{})}
	go r.loop()
	return r
}

func newSecond(names []string) map[string]*hist.Histogram {
	m := make(map[string]*hist.Histogram, len(names))
	for _, n := range names {
		m[n] = hist.New()
	}
	return m
}

// Record adds a latency to the current second (names not given to
// StartSeries are not kept; a nil recorder keeps nothing).
func (r *SeriesRecorder) Record(name string, d time.Duration) {
	if r == nil {
		return
	}
	r.mu.RLock()
	if h := r.cur[name]; h != nil {
		h.Record(d)
	}
	r.mu.RUnlock()
}

// Pull has each step's latencies name taken from take (the values since
// its previous call, e.g. hist.Histogram.TakeInterval) rather than from
// Record: for a figure recorded at a rate where one more histogram on the
// hot path would cost (bench signal's chat, recorded in stripes).
func (r *SeriesRecorder) Pull(name string, take func() *hist.Histogram) {
	r.mu.Lock()
	if r.pulls == nil {
		r.pulls = map[string]func() *hist.Histogram{}
	}
	r.pulls[name] = take
	r.mu.Unlock()
}

func (r *SeriesRecorder) loop() {
	defer close(r.done)
	t := time.NewTimer(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			r.close(time.Now().Unix())
			return
		case now := <-t.C:
			// The timer fires at a second's start: the step closed is the
			// second before it.
			r.close(now.Add(-500 * time.Millisecond).Unix())
			t.Reset(time.Until(now.Add(500 * time.Millisecond).Truncate(time.Second).Add(time.Second)))
		}
	}
}

// close ends the step of Unix second sec: its counts and latencies go
// into the series (into its last point while that covers sec).
func (r *SeriesRecorder) close(sec int64) {
	r.mu.Lock()
	cur := r.cur
	r.cur = newSecond(r.names)
	for name, take := range r.pulls {
		if h := take(); h != nil {
			cur[name] = h
		}
	}
	r.mu.Unlock()
	s := r.sample()
	p := Point{Open: s.Open, Attempts: s.Attempts - r.last.Attempts, Failures: s.Failures - r.last.Failures}
	for name, v := range s.Counts {
		if d := v - r.last.Counts[name]; d != 0 {
			if p.Counts == nil {
				p.Counts = make(map[string]int64, len(s.Counts))
			}
			p.Counts[name] = d
		}
	}
	r.last = s
	for name, h := range cur {
		if h.Count() > 0 {
			if p.Latency == nil {
				p.Latency = map[string]hist.Snapshot{}
			}
			p.Latency[name] = h.Snapshot()
		}
	}
	if r.err == nil {
		r.err = r.series.addAt(sec, p, recorderPoints)
	}
}

// addAt adds p, the figures of Unix second sec, to the step covering it:
// the last point while its step lasts (a coarsened series), else a new
// one after empty steps for seconds no tick closed (a stalled machine).
func (s *Series) addAt(sec int64, p Point, limit int) error {
	idx := int(max(sec-s.StartUnix, 0) / s.StepS)
	if idx < len(s.Points) {
		last := &s.Points[len(s.Points)-1]
		last.Open = p.Open
		return last.add(p)
	}
	for len(s.Points) < idx {
		if err := s.appendWithin(Point{Open: p.Open}, limit); err != nil {
			return err
		}
		idx = int(max(sec-s.StartUnix, 0) / s.StepS)
	}
	return s.appendWithin(p, limit)
}

// recorderPoints bounds a series while it is recorded: finer than a
// report's, so that a run of up to this many seconds is coarsened once, at
// Finish, after the measurements, rather than while it goes on (coarsening
// decodes every point's histograms: hundreds of MB of garbage).
const recorderPoints = 8 * MaxSeriesPoints

// Finish stops recording, closes the current second and returns the
// series, bounded to MaxSeriesPoints.
func (r *SeriesRecorder) Finish() (*Series, error) {
	close(r.stop)
	<-r.done
	if r.err != nil {
		return nil, r.err
	}
	if err := r.series.bound(MaxSeriesPoints); err != nil {
		return nil, err
	}
	return &r.series, nil
}
