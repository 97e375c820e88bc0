package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/bench/signalbench"
)

// TestBenchFailedRunExits1WhateverAssert checks that a run that could not
// be done exits 1 even with --assert: an unreachable target is not a failed
// threshold (3), whether the threshold would fail or pass.
func TestBenchFailedRunExits1WhateverAssert(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		mention string
	}{
		{"signal, failing assertion", []string{"bench", "signal", "--url", "ws://127.0.0.1:1/ws", "--conns", "3", "--assert", "errors<1%"}, "no session could be established"},
		{"signal, passing assertion", []string{"bench", "signal", "--url", "ws://127.0.0.1:1/ws", "--conns", "3", "--assert", "errors<200"}, "no session could be established"},
		{"media, failing assertion", []string{"bench", "media", "--whep", "http://127.0.0.1:1/whep/r", "--subscribers", "2", "--rate", "100", "--duration", "0s", "--assert", "errors<1%"}, "no subscriber received a frame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, append(tt.args, "--quiet")...)
			if code != ExitFailure || !strings.Contains(stderr, tt.mention) {
				t.Errorf("exit %d, stderr %q; want 1 saying %q", code, stderr, tt.mention)
			}
		})
	}
}

// TestBenchProcsChildFailureExits1WithReport checks that when one --procs
// child fails, the others' results are still written (stdout and --out),
// the failure is in the report's errors and on stderr, and the exit is 1
// even though the assertion holds.
func TestBenchProcsChildFailureExits1WithReport(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "child.sh")
	// Stands in for `livectl bench signal --child`: the second child (its
	// options carry an offset) fails.
	script := `#!/bin/sh
opts=$(cat)
case "$opts" in
*'"offset":'*) echo '{"error":"dialing: boom"}'; exit 3;;
esac
echo '{"report":{"kind":"signal","protocol":"livectl","connections":{"attempted":2,"established":2,"peak_open":2},"errors":{}}}'
`
	if err := os.WriteFile(exe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "run.json")
	var stdout, stderr bytes.Buffer
	f := NewFactory()
	f.IO = &IOStreams{In: strings.NewReader(""), Out: &stdout, ErrOut: &stderr}
	f.LookupEnv = func(string) (string, bool) { return "", false }
	f.Executable = func() (string, error) { return exe, nil }
	code := Run(context.Background(), f, []string{"bench", "signal", "--url", "ws://127.0.0.1:1/ws", "--conns", "4",
		"--procs", "2", "--assert", "connections.established>=1", "--out", out, "-o", "json", "--quiet"})
	if code != ExitFailure || !strings.Contains(stderr.String(), "child process 2 (exit status 3): dialing: boom") {
		t.Errorf("exit %d, stderr %q; want 1 naming child 2, its exit status and why", code, stderr.String())
	}
	saved, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("--out: %v", err)
	}
	for name, b := range map[string][]byte{"stdout": stdout.Bytes(), "--out": saved} {
		var rep signalbench.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatalf("%s: %v: %s", name, err, b)
		}
		if rep.Connections.Established != 2 || rep.Errors[bench.KindChildFailed] != 1 {
			t.Errorf("%s: connections %+v errors %v; want the survivor's 2 and one failed child", name, rep.Connections, rep.Errors)
		}
	}
}
