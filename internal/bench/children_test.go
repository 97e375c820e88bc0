package bench

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
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

// TestProcsKeepSurvivors checks that one failed child does not cost the
// others their results: the merged report of the survivors comes back with
// the failure counted in its errors, and the error names the child, how it
// ended and why.
func TestProcsKeepSurvivors(t *testing.T) {
	// The second child's options carry an offset (the first's is 0 and
	// left out of its JSON): it fails the way a child does, with an error
	// line and a non-zero exit.
	exe := childScript(t, `opts=$(cat)
case "$opts" in
*'"offset":'*) echo '{"error":"dialing ws://x/ws: boom"}'; exit 3;;
esac
echo '{"report":{"kind":"signal","protocol":"livectl","connections":{"attempted":2,"established":2,"peak_open":2},"errors":{}}}'
`)
	tests := []struct {
		name        string
		procs       int
		established int64
		failed      []int // children that fail, 1-based
	}{
		{"one of two fails", 2, 2, []int{2}},
		{"two of three fail", 3, 2, []int{2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewProcs(exe, SignalOptions{URL: "ws://127.0.0.1:1/ws", Conns: 6, Rate: 100}, tt.procs, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := p.Execute(context.Background())
			if rep == nil {
				t.Fatalf("no report: %v", err)
			}
			if rep.Connections.Established != tt.established || rep.Settings.Procs != tt.procs {
				t.Errorf("connections %+v procs %d, want the survivors' %d established", rep.Connections, rep.Settings.Procs, tt.established)
			}
			if rep.Errors[KindChildFailed] != int64(len(tt.failed)) {
				t.Errorf("errors %v, want %s ×%d", rep.Errors, KindChildFailed, len(tt.failed))
			}
			ces := ChildErrors(err)
			if len(ces) != len(tt.failed) {
				t.Fatalf("err = %v, want %d child errors", err, len(tt.failed))
			}
			for k, ce := range ces {
				want := KindChildFailed + ":" + ce.Detail()
				if ce.Child != tt.failed[k] || ce.Exit != "exit status 3" || !strings.Contains(ce.Error(), "boom") || rep.ErrorDetail[want] != 1 {
					t.Errorf("child error %+v (%v), detail %v; want child %d, exit status 3, boom", ce, ce, rep.ErrorDetail, tt.failed[k])
				}
			}
		})
	}
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
	c := NewChildren[SignalOptions, Live, Report](exe, nil, 1, io.Discard, func(*Live) {})
	c.maxLine = 1 << 10
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel() // on a hang, interrupts the child so the test can end
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, []SignalOptions{{}})
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
