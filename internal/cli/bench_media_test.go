package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/bench/mediabench"
	"github.com/livectl/livectl/internal/peer/peertest"
	"github.com/livectl/livectl/internal/report"
	"github.com/livectl/livectl/internal/server/servertest"
)

func TestBenchMediaUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		mention string
	}{
		{"no target", nil, "--url"},
		{"http url", []string{"--url", "http://127.0.0.1:1/ws", "--room", "r"}, "--whep"},
		{"no room", []string{"--url", "ws://127.0.0.1:1/ws"}, "--room"},
		{"bad whep", []string{"--whep", "ws://127.0.0.1:1/whep/r"}, "--whep"},
		{"no subscribers", []string{"--whep", "http://127.0.0.1:1/whep/r", "--subscribers", "0"}, "--subscribers"},
		{"bad rate", []string{"--whep", "http://127.0.0.1:1/whep/r", "--rate", "fast"}, "--rate"},
		{"procs", []string{"--whep", "http://127.0.0.1:1/whep/r", "--subscribers", "2", "--procs", "3"}, "--procs"},
		{"assert metric", []string{"--whep", "http://127.0.0.1:1/whep/r", "--assert", "nonsense.p50<1"}, "--assert"},
		{"publishers without target", []string{"--whep", "http://127.0.0.1:1/whep/r", "--publishers", "1"}, "--whip"},
		{"descriptors", []string{"--url", "ws://127.0.0.1:1/ws", "--room", "r", "--subscribers", "1000000"}, "--procs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			code, _, stderr := runCLI(t, nil, append([]string{"bench", "media"}, tt.args...)...)
			if code != ExitUsage || !strings.Contains(stderr, tt.mention) {
				t.Errorf("exit %d, stderr %q; want 2 naming %s", code, stderr, tt.mention)
			}
			if time.Since(start) > 2*time.Second {
				t.Errorf("refusal took %s: it should come before the run", time.Since(start))
			}
		})
	}
}

func TestBenchMediaUnreachableExits1(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "bench", "media", "--whep", "http://127.0.0.1:1/whep/r", "--subscribers", "2", "--rate", "100", "--duration", "0s", "--quiet")
	if code != ExitFailure || !strings.Contains(stderr, "no subscriber received a frame") || !strings.Contains(stderr, "refused") {
		t.Errorf("exit %d, stderr %q; want 1 naming the refusal", code, stderr)
	}
}

// TestBenchMediaWHEPReportAndCompare runs the command against the
// independent pion WHEP/WHIP server with a built-in publisher, then reads
// the saved report back with bench report (print, compare, assert).
func TestBenchMediaWHEPReportAndCompare(t *testing.T) {
	srv := peertest.Start(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "a.json")
	code, stdout, stderr := runCLI(t, nil, "bench", "media", "--whep", srv.URL+"/whep/r", "--whip", srv.URL+"/whip/r",
		"--publishers", "1", "--subscribers", "4", "--rate", "50", "--duration", "1s", "--quiet",
		"--out", out, "-o", "json", "--assert", "errors<1,frames.min>5")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Kind        string `json:"kind"`
		Protocol    string `json:"protocol"`
		Subscribers struct{ Attempted, OK int }
		Results     []json.RawMessage `json:"results"`
		PerSub      map[string]struct {
			Count int     `json:"count"`
			P50   float64 `json:"p50"`
		} `json:"per_subscriber"`
		Publishers []struct {
			FramesSent int `json:"frames_sent"`
		} `json:"publishers"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
	}
	if doc.Kind != "media" || doc.Protocol != "whep" || doc.Subscribers.OK != 4 || doc.PerSub["bitrate_kbps"].Count != 4 || doc.PerSub["bitrate_kbps"].P50 <= 0 {
		t.Fatalf("unexpected report: %s", stdout)
	}
	if doc.Results != nil {
		t.Errorf("stdout carries every subscriber's results; only --out should")
	}
	if len(doc.Publishers) != 1 || doc.Publishers[0].FramesSent == 0 {
		t.Errorf("publisher stats missing: %+v", doc.Publishers)
	}
	saved, err := os.ReadFile(out)
	if err != nil || !bytes.Contains(saved, []byte(`"results"`)) {
		t.Fatalf("--out file lacks results (%v)", err)
	}

	t.Run("report prints a media file", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, nil, "bench", "report", out)
		if code != ExitOK || !strings.Contains(stdout, "per subscriber") || !strings.Contains(stdout, "first_decoded") {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	t.Run("compare and merge", func(t *testing.T) {
		b := filepath.Join(dir, "b.json")
		if err := os.WriteFile(b, saved, 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runCLI(t, nil, "bench", "report", out, b)
		if code != ExitOK || !strings.Contains(stdout, "first_frame.p50") {
			t.Fatalf("compare: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		code, stdout, stderr = runCLI(t, nil, "bench", "report", "--merge", out, b, "-o", "json")
		if code != ExitOK {
			t.Fatalf("merge: exit %d: %s", code, stderr)
		}
		var m struct{ Subscribers struct{ Attempted, OK int } }
		if err := json.Unmarshal([]byte(stdout), &m); err != nil || m.Subscribers.Attempted != 8 || m.Subscribers.OK != 8 {
			t.Fatalf("merged report: %v %s", err, stdout)
		}
	})
	t.Run("assertion failure exits 3", func(t *testing.T) {
		code, _, stderr := runCLI(t, nil, "bench", "report", out, "--assert", "frames.min>100000000")
		if code != ExitAssertion || !strings.Contains(stderr, "frames.min") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
}

// TestBenchMediaSubprocessWithProcs runs bench media as its own process with
// --procs 2: the parent keeps the publisher, two re-executed children run
// two subscribers each, and the merged report holds all four.
func TestBenchMediaSubprocessWithProcs(t *testing.T) {
	bin := servertest.Binary(t)
	srv := peertest.Start(t)
	out := filepath.Join(t.TempDir(), "procs.json")
	cmd := exec.Command(bin, "bench", "media", "--whep", srv.URL+"/whep/p", "--whip", srv.URL+"/whip/p",
		"--publishers", "1", "--subscribers", "4", "--rate", "50", "--duration", "1s", "--procs", "2",
		"--out", out, "-o", "json", "--quiet")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench media --procs 2: %v\n%s", err, stderr.String())
	}
	var rep mediabench.Report
	if err := report.ReadJSONFile(out, &rep); err != nil {
		t.Fatal(err)
	}
	ids := map[int]bool{}
	for _, r := range rep.Results {
		ids[r.ID] = true
		if !r.OK() || r.Frames < 5 {
			t.Errorf("subscriber %d: failed %q, %d frames", r.ID, r.Error, r.Frames)
		}
	}
	if rep.Settings.Procs != 2 || rep.Subscribers.OK != 4 || len(ids) != 4 || len(rep.Publishers) != 1 {
		t.Fatalf("procs %d, %d ok, %d distinct subscribers, %d publishers; want 2, 4, 4, 1", rep.Settings.Procs, rep.Subscribers.OK, len(ids), len(rep.Publishers))
	}
}

// TestServerSamplingChecked: server-side sampling flags are checked before
// the run; a stats URL that does not answer is a warning. They were taken
// as given and the server section showed zeros ("rss peak 0B; heap peak
// 0B"), as if the server had been idle.
func TestServerSamplingChecked(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "media", "--whep", "http://127.0.0.1:1/whep/r", "--server-stats", "notaurl"}, "--server-stats"},
		{[]string{"bench", "media", "--whep", "http://127.0.0.1:1/whep/r", "--server-pid", "999999999"}, "no such process"},
		{[]string{"bench", "signal", "--url", "ws://127.0.0.1:1/ws", "--stats-url", "ftp://x/v1/stats"}, "--stats-url"},
	} {
		code, _, stderr := runCLI(t, nil, tc.args...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %q", tc.args, code, stderr, tc.want)
		}
	}
	_, _, stderr := runCLI(t, nil, "bench", "signal", "--url", "ws://127.0.0.1:1/ws", "--conns", "1", "--duration", "0s")
	if !strings.Contains(stderr, "warning:") || !strings.Contains(stderr, "server's figures will be missing") {
		t.Errorf("unreachable stats URL: no warning in %q", stderr)
	}
	var buf bytes.Buffer
	if err := (&mediabench.Report{Server: &mediabench.Server{}}).WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "heap peak 0B") || !strings.Contains(buf.String(), "no sample could be read") {
		t.Errorf("no samples shown as zeros:\n%s", buf.String())
	}
}

// TestBenchMediaFailureHint: a run where no subscriber got a frame says
// what to try about the worst failure's reason, as probe does for its
// typed errors (the reason is all a --procs child hands back).
func TestBenchMediaFailureHint(t *testing.T) {
	for _, tc := range []struct{ reason, want string }{
		{"ice", "--udp-port"},
		{"http_401", "--token"},
		{"http_403", "grant"},
		{"timeout", "check that the server is up"},
	} {
		rep := &mediabench.Report{Target: "http://x/whep/r", Subscribers: mediabench.Counts{Attempted: 1},
			Worst: []mediabench.Result{{Error: "failed", Reason: tc.reason}}}
		_, err := judgeBenchMedia(rep)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("reason %s: %v, want it to mention %q", tc.reason, err, tc.want)
		}
	}
}
