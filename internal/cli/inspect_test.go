package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// inspectTarget serves net/http/pprof for this test process.
func inspectTarget(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// blockedInInspectTest parks until release closes.
func blockedInInspectTest(release <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	<-release
}

func parkN(t *testing.T, n int) {
	t.Helper()
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go blockedInInspectTest(release, &wg)
	}
	t.Cleanup(func() { close(release); wg.Wait() })
	time.Sleep(50 * time.Millisecond) // let them reach the receive
}

func TestInspectGoroutinesJSON(t *testing.T) {
	target := inspectTarget(t)
	parkN(t, 7)
	code, out, stderr := runCLI(t, nil, "inspect", "goroutines", "--target", target, "--states", "-o", "json", "--filter", "blockedInInspectTest")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Total  int64 `json:"total"`
		Groups []struct {
			Count int64    `json:"count"`
			State string   `json:"state"`
			Top   string   `json:"top"`
			Stack []string `json:"stack"`
		} `json:"groups"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
	}
	if len(doc.Groups) != 1 || doc.Groups[0].Count != 7 || doc.Groups[0].State != "chan receive" ||
		!strings.HasSuffix(doc.Groups[0].Top, ".blockedInInspectTest") || doc.Total < 8 {
		t.Errorf("doc = %+v", doc)
	}
}

func TestInspectErrors(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>demo</html>")) }))
	defer html.Close()
	target := inspectTarget(t)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unreachable", []string{"goroutines", "--target", "http://127.0.0.1:1"}, ExitFailure, "target unreachable"},
		{"404", []string{"heap", "--target", notFound.URL, "--no-save"}, ExitFailure, "pprof not exposed"},
		{"unreachable names --target", []string{"goroutines", "--target", "http://127.0.0.1:1"}, ExitFailure, "; is the process running and is --target its pprof listener"},
		{"404 names --admin-listen", []string{"heap", "--target", notFound.URL, "--no-save"}, ExitFailure, "on this listener; for livectl serve use the --admin-listen address"},
		{"not a profile", []string{"goroutines", "--target", html.URL}, ExitFailure, "not a pprof profile"},
		{"bad depth", []string{"goroutines", "--target", target, "--depth", "-1"}, ExitUsage, "--depth"},
		{"bad filter", []string{"goroutines", "--target", target, "--filter", "("}, ExitUsage, "--filter"},
		{"bad assert", []string{"goroutines", "--target", target, "--assert", "leaks<1"}, ExitUsage, "--assert"},
		{"diff needs two", []string{"goroutines", "--diff", "a.pb.gz"}, ExitUsage, "--diff"},
		{"diff and watch", []string{"goroutines", "--diff", "--watch", "1s", "a", "b"}, ExitUsage, "cannot be combined"},
		{"samples", []string{"goroutines", "--watch", "1s", "--samples", "1"}, ExitUsage, "--samples"},
		{"samples without watch", []string{"goroutines", "--target", target, "--samples", "3"}, ExitUsage, "needs --watch"},
		{"heap sample", []string{"heap", "--sample", "bogus"}, ExitUsage, "--sample"},
		{"cpu seconds", []string{"cpu", "--seconds", "0"}, ExitUsage, "--seconds"},
		{"total assert fails", []string{"goroutines", "--target", target, "--assert", "total<1"}, ExitAssertion, "total<1: FAILED"},
		// A second --assert adds to the first (it once replaced it, and a
		// CI leak gate passed).
		{"repeated assert", []string{"goroutines", "--target", target, "--assert", "total<1", "--assert", "growth<100"}, ExitAssertion, "total<1: FAILED"},
		{"percent of a count", []string{"goroutines", "--target", target, "--assert", "total<10%"}, ExitUsage, "plain number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, append([]string{"inspect"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.code, tc.msg)
			}
		})
	}
}

func TestInspectDiffAndWatch(t *testing.T) {
	target := inspectTarget(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.pb.gz"), filepath.Join(dir, "b.pb.gz")
	if code, _, stderr := runCLI(t, nil, "inspect", "goroutines", "--target", target, "--save", a); code != 0 {
		t.Fatalf("save a: exit %d %s", code, stderr)
	}
	parkN(t, 9)
	if code, _, stderr := runCLI(t, nil, "inspect", "goroutines", "--target", target, "--save", b, "-q"); code != 0 {
		t.Fatalf("save b: exit %d %s", code, stderr)
	}
	code, out, stderr := runCLI(t, nil, "inspect", "goroutines", "--diff", a, b, "-o", "json", "--assert", "growth<5")
	if code != ExitAssertion || !strings.Contains(stderr, "growth<5: FAILED (9)") {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	var doc struct {
		Suspects []struct {
			Top    string  `json:"top"`
			Counts []int64 `json:"counts"`
			Growth int64   `json:"growth"`
		} `json:"suspects"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suspects) == 0 || !strings.HasSuffix(doc.Suspects[0].Top, ".blockedInInspectTest") || doc.Suspects[0].Growth != 9 {
		t.Errorf("suspects = %+v", doc.Suspects)
	}

	code, out, stderr = runCLI(t, nil, "inspect", "goroutines", "--target", target, "--watch", "20ms", "--samples", "2", "--save", filepath.Join(dir, "w.pb.gz"))
	if code != 0 || !strings.Contains(stderr, "sample 2/2") || !strings.Contains(out, "2 samples") {
		t.Errorf("watch: exit %d\nstdout %s\nstderr %s", code, out, stderr)
	}
	for _, name := range []string{"w.1.pb.gz", "w.2.pb.gz"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("watch --save: %v", err)
		}
	}
}

func TestInspectHeapSaves(t *testing.T) {
	target := inspectTarget(t)
	path := filepath.Join(t.TempDir(), "heap.pb.gz")
	code, out, stderr := runCLI(t, nil, "inspect", "heap", "--target", target, "--save", path, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	var doc struct {
		Kind  string `json:"kind"`
		Saved string `json:"saved"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Kind != "heap" || doc.Saved != path {
		t.Fatalf("doc = %+v err = %v", doc, err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() == 0 {
		t.Errorf("saved profile: %v", err)
	}
}

// TestInspectWatchInterrupted: a --watch stopped after two samples reports
// them, marked interrupted; stopped after one it says why it has nothing
// (it once printed "context canceled").
func TestInspectWatchInterrupted(t *testing.T) {
	target := inspectTarget(t)
	run := func(after time.Duration) (int, string, string) {
		var out, errOut bytes.Buffer
		f := NewFactory()
		f.IO = &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
		f.LookupEnv = func(string) (string, bool) { return "", false }
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		time.AfterFunc(after, cancel)
		code := Run(ctx, f, []string{"inspect", "goroutines", "--target", target, "--watch", "300ms", "--samples", "10", "-o", "json"})
		return code, out.String(), errOut.String()
	}
	code, out, stderr := run(450 * time.Millisecond)
	var doc struct {
		Interrupted bool              `json:"interrupted"`
		Samples     []json.RawMessage `json:"samples"`
	}
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || !doc.Interrupted || len(doc.Samples) != 2 {
		t.Errorf("after two samples: exit %d, %d samples, interrupted %v, err %v\nstderr %s", code, len(doc.Samples), doc.Interrupted, err, stderr)
	}
	code, out, stderr = run(100 * time.Millisecond)
	if code != ExitFailure || out != "" || !strings.Contains(stderr, "interrupted after 1 sample") {
		t.Errorf("after one sample: exit %d\nstdout %q\nstderr %q", code, out, stderr)
	}
}

// TestInspectBundleStatsHint: a target without /v1/stats (a plain pprof
// process) still gets its bundle, and the CLI says which flag to give.
func TestInspectBundleStatsHint(t *testing.T) {
	target := inspectTarget(t)
	out := filepath.Join(t.TempDir(), "b.tar.gz")
	code, stdout, stderr := runCLI(t, nil, "inspect", "bundle", "--target", target, "--seconds", "0", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "missing: stats.json") || !strings.Contains(stdout, "give --stats") {
		t.Errorf("stdout = %q, want the missing stats.json and a --stats hint", stdout)
	}
}
