// Package hist is livectl's one way of handling latency distributions: an
// HDR histogram (github.com/HdrHistogram/hdrhistogram-go) with a fixed
// geometry, a percentile summary in milliseconds, exact merging, and a
// JSON snapshot that `bench report` can merge later without losing precision.
//
// Values are recorded in microseconds between 1µs and one hour with three
// significant digits, so every histogram has the same geometry and any two
// merge exactly; memory is bounded (about 200 KiB each) whatever the run length.
package hist

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// The geometry shared by every histogram of livectl: values in microseconds.
const (
	lowest  = 1
	highest = int64(time.Hour / time.Microsecond)
	sigfigs = 3
)

// Histogram is a latency histogram. It is safe for concurrent use.
type Histogram struct {
	mu       sync.Mutex
	h        *hdr.Histogram
	clamped  int64 // values above the range, recorded as the highest value
	interval *hdr.Histogram
}

// New returns an empty histogram.
func New() *Histogram {
	return &Histogram{h: hdr.New(lowest, highest, sigfigs)}
}

// NewWithInterval returns a histogram that also keeps a second, resettable
// histogram of the values since the last call to Interval, for "current"
// figures in progress lines.
func NewWithInterval() *Histogram {
	h := New()
	h.interval = hdr.New(lowest, highest, sigfigs)
	return h
}

func toMicros(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	if us < lowest {
		return lowest
	}
	return us
}

// Record adds one duration. Durations beyond the range are recorded as the
// highest trackable value and counted (Clamped), never dropped.
func (h *Histogram) Record(d time.Duration) {
	h.RecordCorrected(d, 0)
}

// RecordCorrected adds d and, when d exceeds expected (the interval at
// which values were due), the values that a stalled recorder would have
// missed: the HDR correction for coordinated omission. expected <= 0 records
// d alone.
func (h *Histogram) RecordCorrected(d, expected time.Duration) {
	var exp int64
	if expected > 0 {
		exp = toMicros(expected)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recordLocked(toMicros(d), exp)
}

// recordLocked records v µs, corrected for exp µs expected (0: none).
func (h *Histogram) recordLocked(v, exp int64) {
	if v > highest {
		v = highest
		h.clamped++
	}
	_ = h.h.RecordCorrectedValue(v, exp) // in range by construction
	if h.interval != nil {
		_ = h.interval.RecordCorrectedValue(v, exp)
	}
}

// RecordEach adds each of ds under one lock: for callers with several
// values at once (a chat frame's messages).
func (h *Histogram) RecordEach(ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range ds {
		h.recordLocked(toMicros(d), 0)
	}
}

// Clamped is the number of values that were above one hour.
func (h *Histogram) Clamped() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.clamped
}

// Count is the number of recorded values.
func (h *Histogram) Count() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.h.TotalCount()
}

// Merge adds every value of other to h, exactly (both share one geometry).
func (h *Histogram) Merge(other *Histogram) {
	if other == h {
		return
	}
	other.mu.Lock()
	c := other.h.Clone()
	clamped := other.clamped
	other.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.h.Merge(c)
	h.clamped += clamped
}

// Summary is a distribution's percentiles in milliseconds. It is the shape
// of every latency entry in livectl's JSON reports.
type Summary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// Stat returns the named statistic ("p50", "p90", "p95", "p99", "max",
// "count"); ok is false for any other name.
func (s Summary) Stat(name string) (v float64, ok bool) {
	switch name {
	case "p50":
		return s.P50, true
	case "p90":
		return s.P90, true
	case "p95":
		return s.P95, true
	case "p99":
		return s.P99, true
	case "max":
		return s.Max, true
	case "count":
		return float64(s.Count), true
	}
	return 0, false
}

// StatNames are the names Stat accepts.
var StatNames = []string{"p50", "p90", "p95", "p99", "max", "count"}

// Summary returns the percentiles of everything recorded so far.
func (h *Histogram) Summary() Summary {
	h.mu.Lock()
	defer h.mu.Unlock()
	return summarize(h.h)
}

// Interval returns the percentiles of the values recorded since the previous
// call and starts a new interval. Without NewWithInterval it returns the
// cumulative summary.
func (h *Histogram) Interval() Summary {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.interval == nil {
		return summarize(h.h)
	}
	s := summarize(h.interval)
	h.interval.Reset()
	return s
}

// TakeInterval returns the values recorded since the previous call as a
// histogram of their own and starts a new interval: a per-second series
// pulls a striped recorder's seconds this way without a second record on
// its hot path. Without NewWithInterval it returns nil.
func (h *Histogram) TakeInterval() *Histogram {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.interval == nil {
		return nil
	}
	out := &Histogram{h: h.interval.Clone()}
	h.interval.Reset()
	return out
}

func summarize(h *hdr.Histogram) Summary {
	n := h.TotalCount()
	if n == 0 {
		return Summary{}
	}
	q := h.ValueAtPercentilesSlice([]float64{50, 90, 95, 99})
	return Summary{
		Count: n,
		P50:   ms(q[0]), P90: ms(q[1]), P95: ms(q[2]), P99: ms(q[3]),
		Max: ms(h.Max()),
	}
}

// ms converts microseconds to milliseconds rounded to the microsecond.
func ms(us int64) float64 { return math.Round(float64(us)) / 1000 }

// Snapshot is the serialisable form of a histogram: the HdrHistogram V2
// compressed encoding (base64, readable by every HdrHistogram
// implementation) plus its summary for people reading the file.
type Snapshot struct {
	Unit    string  `json:"unit"` // always "us"
	Clamped int64   `json:"clamped,omitempty"`
	Summary Summary `json:"summary"`
	HDR     string  `json:"hdr"`
}

// Snapshot exports h.
func (h *Histogram) Snapshot() Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, err := h.h.Encode(hdr.V2CompressedEncodingCookieBase)
	if err != nil {
		// Encoding an in-range histogram into memory cannot fail; keep the
		// summary and say so rather than panicking in a report writer.
		b = nil
	}
	return Snapshot{Unit: "us", Clamped: h.clamped, Summary: summarize(h.h), HDR: string(b)}
}

// ErrBadSnapshot is wrapped by FromSnapshot for snapshots it cannot restore.
var ErrBadSnapshot = errors.New("invalid histogram snapshot")

// maxEncoded bounds the encoded histogram FromSnapshot accepts: livectl's
// geometry encodes to a few KiB, and a report file is untrusted input.
const maxEncoded = 1 << 20

// FromSnapshot restores a histogram from s. The snapshot's geometry must be
// livectl's, so that merging stays exact.
func FromSnapshot(s Snapshot) (*Histogram, error) {
	if s.Unit != "us" {
		return nil, fmt.Errorf("%w: unit %q, want \"us\"", ErrBadSnapshot, s.Unit)
	}
	if s.HDR == "" {
		if s.Summary.Count != 0 {
			return nil, fmt.Errorf("%w: %d values but no hdr data", ErrBadSnapshot, s.Summary.Count)
		}
		return New(), nil
	}
	if len(s.HDR) > maxEncoded {
		return nil, fmt.Errorf("%w: hdr data is %d bytes, more than livectl ever writes (%d)", ErrBadSnapshot, len(s.HDR), maxEncoded)
	}
	d, err := hdr.Decode([]byte(s.HDR))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	if d.LowestTrackableValue() != lowest || d.HighestTrackableValue() != highest || d.SignificantFigures() != sigfigs {
		return nil, fmt.Errorf("%w: geometry %d..%d/%d digits differs from livectl's", ErrBadSnapshot,
			d.LowestTrackableValue(), d.HighestTrackableValue(), d.SignificantFigures())
	}
	if s.Clamped < 0 {
		return nil, fmt.Errorf("%w: negative clamped count", ErrBadSnapshot)
	}
	return &Histogram{h: d, clamped: s.Clamped}, nil
}

// MarshalJSON writes h as its Snapshot.
func (h *Histogram) MarshalJSON() ([]byte, error) { return json.Marshal(h.Snapshot()) }

// UnmarshalJSON reads a Snapshot into h.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	r, err := FromSnapshot(s)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.h, h.clamped, h.interval = r.h, r.clamped, nil
	return nil
}
