package top

import (
	"slices"
	"testing"
)

func TestRing(t *testing.T) {
	tests := []struct {
		name   string
		cap    int
		push   []float64
		want   []float64
		last   float64
		length int
	}{
		{"empty", 3, nil, []float64{}, 0, 0},
		{"partial", 3, []float64{1, 2}, []float64{1, 2}, 2, 2},
		{"full", 3, []float64{1, 2, 3}, []float64{1, 2, 3}, 3, 3},
		{"wrapped keeps newest", 3, []float64{1, 2, 3, 4, 5}, []float64{3, 4, 5}, 5, 3},
		{"capacity below one is one", 0, []float64{7, 8}, []float64{8}, 8, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRing(tt.cap)
			for _, v := range tt.push {
				r.Push(v)
			}
			if got := r.Values(); !slices.Equal(got, tt.want) {
				t.Errorf("Values() = %v, want %v", got, tt.want)
			}
			if r.Last() != tt.last || r.Len() != tt.length {
				t.Errorf("Last()=%v Len()=%d, want %v %d", r.Last(), r.Len(), tt.last, tt.length)
			}
		})
	}
	t.Run("reset", func(t *testing.T) {
		r := NewRing(2)
		r.Push(1)
		r.Reset()
		r.Push(9)
		if got := r.Values(); !slices.Equal(got, []float64{9}) {
			t.Errorf("after Reset, Values() = %v", got)
		}
	})
}

func TestSparkline(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		width  int
		want   string
	}{
		{"no width", []float64{1}, 0, ""},
		{"no values pads", nil, 3, "   "},
		{"all zero is baseline", []float64{0, 0, 0}, 3, "▁▁▁"},
		{"ramp", []float64{0, 1, 2, 3, 4, 5, 6, 7}, 8, "▁▂▃▄▅▆▇█"},
		{"right aligned", []float64{0, 7}, 4, "  ▁█"},
		{"constant nonzero is full", []float64{5, 5}, 2, "██"},
		{"folding keeps a spike", []float64{0, 0, 0, 9, 0, 0, 0, 0}, 4, "▁█▁▁"},
		{"negative scales from minimum", []float64{-1, 1}, 2, "▁█"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sparkline(tt.values, tt.width); got != tt.want {
				t.Errorf("Sparkline(%v, %d) = %q, want %q", tt.values, tt.width, got, tt.want)
			}
		})
	}
}
