package units

import "testing"

func TestBits(t *testing.T) {
	tests := []struct {
		bps  float64
		want string
	}{
		{0, "0 b/s"},
		{999, "999 b/s"},
		{1500, "1.5 kb/s"},
		{1.25e6, "1.2 Mb/s"},
		{3.4e9, "3.4 Gb/s"},
		{-2e6, "-2.0 Mb/s"},
	}
	for _, tt := range tests {
		if got := Bits(tt.bps); got != tt.want {
			t.Errorf("Bits(%g) = %q, want %q", tt.bps, got, tt.want)
		}
	}
}
