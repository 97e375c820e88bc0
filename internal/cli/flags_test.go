package cli

import "testing"

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    ByteSize
		wantErr bool
	}{
		{"65536", 65536, false},
		{"64KiB", 64 << 10, false},
		{"64kib", 64 << 10, false},
		{"1MiB", 1 << 20, false},
		{"1.5MiB", 3 << 19, false},
		{"2GiB", 2 << 30, false},
		{"10KB", 10000, false},
		{"512B", 512, false},
		{" 4 KiB ", 4 << 10, false},
		{"", 0, true},
		{"KiB", 0, true},
		{"-1KiB", 0, true},
		{"ten", 0, true},
		{"1TiB", 0, true},
		{"nan", 0, true},
		{"inf", 0, true},
		{"1e3", 0, true},
		{"1.5", 0, true}, // a fraction of a byte
		{"0x10", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseByteSize(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseByteSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestByteSizeString(t *testing.T) {
	for _, tt := range []struct {
		in   ByteSize
		want string
	}{{64 << 10, "64KiB"}, {1 << 20, "1MiB"}, {1000, "1000"}, {0, "0"}} {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%d.String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}
