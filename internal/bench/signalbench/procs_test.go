package signalbench

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livectl/livectl/internal/bench"
)

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
			p, err := NewProcs(exe, Options{URL: "ws://127.0.0.1:1/ws", Conns: 6, Rate: 100}, tt.procs, io.Discard)
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
			if rep.Errors[bench.KindChildFailed] != int64(len(tt.failed)) {
				t.Errorf("errors %v, want %s ×%d", rep.Errors, bench.KindChildFailed, len(tt.failed))
			}
			ces := bench.ChildErrors(err)
			if len(ces) != len(tt.failed) {
				t.Fatalf("err = %v, want %d child errors", err, len(tt.failed))
			}
			for k, ce := range ces {
				want := bench.KindChildFailed + ":" + ce.Detail()
				if ce.Child != tt.failed[k] || ce.Exit != "exit status 3" || !strings.Contains(ce.Error(), "boom") || rep.ErrorDetail[want] != 1 {
					t.Errorf("child error %+v (%v), detail %v; want child %d, exit status 3, boom", ce, ce, rep.ErrorDetail, tt.failed[k])
				}
			}
		})
	}
}
