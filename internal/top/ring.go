package top

import (
	"math"
	"strings"
)

// Ring is a fixed-capacity history of samples, oldest first once full. It
// backs the sparklines: one sample per poll, so its capacity is the history
// window divided by the poll interval.
type Ring struct {
	buf  []float64
	head int // index of the next write
	n    int // samples held
}

// NewRing returns a ring that holds the last capacity samples (at least 1).
func NewRing(capacity int) *Ring {
	return &Ring{buf: make([]float64, max(capacity, 1))}
}

// Push appends a sample, dropping the oldest when the ring is full.
func (r *Ring) Push(v float64) {
	r.buf[r.head] = v
	r.head = (r.head + 1) % len(r.buf)
	if r.n < len(r.buf) {
		r.n++
	}
}

// Len is the number of samples held.
func (r *Ring) Len() int { return r.n }

// Cap is the most samples the ring holds.
func (r *Ring) Cap() int { return len(r.buf) }

// Values returns the samples, oldest first, in a new slice.
func (r *Ring) Values() []float64 {
	out := make([]float64, r.n)
	start := (r.head - r.n + len(r.buf)) % len(r.buf)
	for i := range r.n {
		out[i] = r.buf[(start+i)%len(r.buf)]
	}
	return out
}

// Last is the newest sample, or 0 when empty.
func (r *Ring) Last() float64 {
	if r.n == 0 {
		return 0
	}
	return r.buf[(r.head-1+len(r.buf))%len(r.buf)]
}

// Reset drops every sample. The model calls it on every ring when the
// server restarted, so a sparkline never joins two processes' figures.
func (r *Ring) Reset() { r.head, r.n = 0, 0 }

var sparkLevels = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws values in width cells, newest on the right. When there are
// more values than cells, consecutive values are folded into one cell by
// their maximum, so a short spike stays visible across the whole window; when
// there are fewer, the line is right-aligned and padded with spaces. The
// scale runs from 0 (or the minimum, if negative) to the maximum; an all-zero
// series is a flat baseline.
func Sparkline(values []float64, width int) string {
	if width <= 0 {
		return ""
	}
	cells := fold(values, width)
	lo, hi := 0.0, 0.0
	for _, v := range cells {
		hi = math.Max(hi, v)
		lo = math.Min(lo, v)
	}
	var b strings.Builder
	b.Grow(width * 3)
	for range width - len(cells) {
		b.WriteByte(' ')
	}
	top := len(sparkLevels) - 1
	for _, v := range cells {
		i := 0
		if hi > lo && !math.IsNaN(v) {
			i = int(math.Round((v - lo) / (hi - lo) * float64(top)))
			i = min(max(i, 0), top)
		}
		b.WriteRune(sparkLevels[i])
	}
	return b.String()
}

// fold reduces values to at most width cells, each the maximum of the
// values that fall into it.
func fold(values []float64, width int) []float64 {
	if len(values) <= width {
		return values
	}
	out := make([]float64, width)
	for i := range width {
		from := i * len(values) / width
		to := (i + 1) * len(values) / width
		m := values[from]
		for _, v := range values[from+1 : to] {
			m = math.Max(m, v)
		}
		out[i] = m
	}
	return out
}
