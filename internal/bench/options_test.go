package bench

import "testing"

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"2000", 2000, true}, {"2000/s", 2000, true}, {" 0.5/s ", 0.5, true}, {"120/m", 2, true},
		{"0", 0, false}, {"-5", 0, false}, {"fast", 0, false}, {"10/h", 0, false}, {"Inf", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("ParseRate(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}
