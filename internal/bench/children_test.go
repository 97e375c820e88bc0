package bench

import (
	"math"
	"testing"
)

func TestShares(t *testing.T) {
	tests := []struct {
		name          string
		n, offset, by int
		rate          float64
		want          []int
	}{
		{"even", 9, 0, 3, 90, []int{3, 3, 3}},
		{"remainder to the first", 10, 5, 3, 100, []int{4, 3, 3}},
		{"one each", 2, 0, 2, 1, []int{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Shares(tt.n, tt.rate, tt.offset, tt.by)
			if len(got) != len(tt.want) {
				t.Fatalf("%d shares, want %d", len(got), len(tt.want))
			}
			next, rate := tt.offset, 0.0
			for i, sh := range got {
				if sh.N != tt.want[i] || sh.Offset != next {
					t.Errorf("share %d: %+v, want N %d from %d", i, sh, tt.want[i], next)
				}
				if want := tt.rate * float64(sh.N) / float64(tt.n); math.Abs(sh.Rate-want) > 1e-9 {
					t.Errorf("share %d: rate %g, want %g", i, sh.Rate, want)
				}
				next += sh.N
				rate += sh.Rate
			}
			if next != tt.offset+tt.n || math.Abs(rate-tt.rate) > 1e-9 {
				t.Errorf("shares cover %d starts at %g/s, want %d at %g/s", next-tt.offset, rate, tt.n, tt.rate)
			}
		})
	}
}
