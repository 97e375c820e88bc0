package cli

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOutputPathCheckedFirst: a file the job cannot write is a usage error
// naming the flag, found before the job runs (it once came after the run
// and took the whole report with it).
func TestOutputPathCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no", "such", "dir", "x.json")
	// Nothing listens here: had the job run first, it would fail with exit 1.
	down := httptest.NewServer(nil)
	down.Close()
	target := inspectTarget(t)
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"bench signal --out", []string{"bench", "signal", "--url", "ws://127.0.0.1:1/ws", "--conns", "1", "--out", missing}, "--out"},
		{"bench media --out", []string{"bench", "media", "--whep", "http://127.0.0.1:1/whep/r", "--subscribers", "1", "--out", missing}, "--out"},
		{"bench signal --out dir", []string{"bench", "signal", "--url", "ws://127.0.0.1:1/ws", "--conns", "1", "--out", dir}, "is a directory"},
		{"probe --snapshot", []string{"probe", "--url", down.URL + "/whep/r", "--snapshot", missing}, "--snapshot"},
		{"goroutines --save", []string{"inspect", "goroutines", "--target", target, "--save", missing}, "--save"},
		{"heap --save", []string{"inspect", "heap", "--target", target, "--save", missing}, "--save"},
		{"cpu --save", []string{"inspect", "cpu", "--target", target, "--seconds", "1", "--save", missing}, "--save"},
		{"heap --save --no-save", []string{"inspect", "heap", "--target", target, "--save", filepath.Join(dir, "h.pb.gz"), "--no-save"}, "cannot be combined"},
		{"bundle --out", []string{"inspect", "bundle", "--target", target, "--out", missing}, "--out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, tc.args...)
			if code != ExitUsage || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d naming %q", code, stderr, ExitUsage, tc.msg)
			}
			if stdout != "" {
				t.Errorf("stdout %q: want nothing, the job must not have run", stdout)
			}
		})
	}
}

// TestHeapReportsWhenDefaultSaveFails: with no --save, a working directory
// that takes no file costs the raw profile (a warning), not the report.
func TestHeapReportsWhenDefaultSaveFails(t *testing.T) {
	target := inspectTarget(t)
	gone := t.TempDir()
	t.Chdir(gone)
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, nil, "inspect", "heap", "--target", target)
	if code != 0 || !strings.Contains(stdout, "FLAT") || !strings.Contains(stderr, "warning:") || !strings.Contains(stderr, "--no-save") {
		t.Errorf("exit %d\nstdout %q\nstderr %q\nwant exit 0, the table, and a warning", code, stdout, stderr)
	}
}

// TestReportPrintedWhenOutFails: `bench report` (quick, not checked
// first) prints the report before writing --out, so a failed write loses
// nothing that was on screen.
func TestReportPrintedWhenOutFails(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run.json")
	// An unreachable target still writes its report (exit 1).
	if code, _, stderr := runCLI(t, nil, "bench", "signal", "--url", "ws://127.0.0.1:1/ws", "--conns", "1", "--out", run, "-q"); code != ExitFailure {
		t.Fatalf("bench signal: exit %d, stderr %q", code, stderr)
	}
	code, stdout, stderr := runCLI(t, nil, "bench", "report", run, "-o", "json", "--out", filepath.Join(dir, "missing", "m.json"))
	if code != ExitFailure || !strings.Contains(stderr, "--out") || !strings.Contains(stdout, `"kind": "signal"`) {
		t.Errorf("exit %d\nstdout %q\nstderr %q\nwant exit 1 naming --out after the report", code, stdout, stderr)
	}
}
