package syncio

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentWrites: writes from many goroutines each land whole (run
// with -race for the data race a plain buffer has).
func TestConcurrentWrites(t *testing.T) {
	var plain bytes.Buffer
	w := &Writer{W: &plain}
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				w.Write([]byte("0123456789\n"))
				b.Write([]byte("0123456789\n"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	for name, s := range map[string]string{"Writer": plain.String(), "Buffer": b.String()} {
		lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		if len(lines) != 800 {
			t.Fatalf("%s: %d lines, want 800", name, len(lines))
		}
		for _, l := range lines {
			if l != "0123456789" {
				t.Fatalf("%s: torn write %q", name, l)
			}
		}
	}
}
