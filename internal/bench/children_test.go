package bench

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
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

// childScript writes an executable shell script standing in for a --procs
// child: it gets the child's options on stdin, as livectl does.
func childScript(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "child.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestChildOverlongLineDoesNotHang checks that when a child's line is over
// the limit the parent keeps draining the child's output, so the child can
// finish instead of blocking on a full pipe while the parent waits for it,
// and that the read error is reported.
func TestChildOverlongLineDoesNotHang(t *testing.T) {
	// A line over the 1 KiB limit, then far more than a pipe holds.
	exe := childScript(t, `cat >/dev/null
line=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
i=0; long=""
while [ $i -lt 20 ]; do long="$long$line"; i=$((i+1)); done
echo "$long"
i=0
while [ $i -lt 3000 ]; do echo "$line"; i=$((i+1)); done
`)
	c := NewChildren[struct{}, struct{}, struct{}](exe, nil, 1, io.Discard, func(*struct{}) {})
	c.maxLine = 1 << 10
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel() // on a hang, interrupts the child so the test can end
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, []struct{}{{}})
		done <- err
	}()
	select {
	case err := <-done:
		ces := ChildErrors(err)
		if len(ces) != 1 || ces[0].Exit != "exit status 0" || !errors.Is(err, bufio.ErrTooLong) {
			t.Errorf("err = %v, want child 1's read error (token too long) after it exited 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("parent and child still waiting for each other after 10s")
		<-done
	}
}
