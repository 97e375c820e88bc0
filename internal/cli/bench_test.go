package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/bench/signalbench"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/server/servertest"

	"net/http/httptest"
)

// runBench runs livectl with args in-process and returns exit code, stdout, stderr.
func benchServer(t *testing.T) string {
	t.Helper()
	s, err := server.New(server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() { s.Close(); hs.Close() })
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
}

func TestBenchSignalInProcessServer(t *testing.T) {
	url := benchServer(t)
	out := filepath.Join(t.TempDir(), "run.json")
	code, stdout, stderr := runCLI(t, nil, "bench", "signal", "--url", url, "--conns", "50", "--rate", "1000/s",
		"--duration", "200ms", "--ping-interval", "50ms", "--rooms", "5", "-o", "json",
		"--assert", "join.p99<5s,errors<1%", "--assert", "connections.established>=50", "--out", out)
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, stdout)
	}
	for _, key := range []string{"kind", "target", "duration_s", "connections", "errors", "latency_ms", "rate", "client"} {
		if _, ok := rep[key]; !ok {
			t.Errorf("JSON report lacks %q", key)
		}
	}
	if _, ok := rep["histograms"]; ok {
		t.Error("stdout JSON carries histograms; only --out should")
	}
	if _, ok := rep["targets"]; ok {
		t.Error("a run of one --url counts sessions per target; only several should")
	}
	conns := rep["connections"].(map[string]any)
	if conns["established"].(float64) != 50 {
		t.Errorf("connections %v", conns)
	}
	var file signalbench.Report
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &file); err != nil || file.Histograms[signalbench.LatJoin] == nil {
		t.Errorf("--out file lacks histograms: %v", err)
	}
	if !strings.Contains(stderr, "assert join.p99<5s: ok") {
		t.Errorf("stderr lacks assertion results:\n%s", stderr)
	}
	if !strings.Contains(stderr, "ramp") && !strings.Contains(stderr, "hold") && !strings.Contains(stderr, "done") {
		t.Errorf("no progress lines on a pipe:\n%s", stderr)
	}
}

// Chat through the command: one room of 20, chat assertions checked, the
// report's chat figures in the JSON.
func TestBenchSignalChat(t *testing.T) {
	url := benchServer(t)
	code, stdout, stderr := runCLI(t, nil, "bench", "signal", "--url", url, "--conns", "20", "--rate", "1000/s",
		"--duration", "500ms", "--ping-interval", "0", "--room-size", "20", "--chat-rate", "20/s", "-o", "json",
		"--assert", "chat.p99<5s,chat.gaps<1,chat.delivered>=100%")
	if code != ExitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	var rep signalbench.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if c := rep.Chat; c == nil || c.Accepted == 0 || c.ExpectedDeliveries != 20*c.Accepted || c.Rooms != nil {
		t.Errorf("chat %+v, want every accepted message expected for 20 members, no per-room detail on stdout", c)
	}
	if rep.Settings.RoomSize != 20 || rep.Settings.ChatRate != 20 || rep.Settings.ChatSenders != 5 {
		t.Errorf("settings %+v", rep.Settings)
	} // Each second's chat latencies are in the series: every delivery
	// timed in the run's histogram is in some step.
	var chats int64
	if rep.Series != nil {
		for _, p := range rep.Series.Points {
			chats += p.Latency[signalbench.LatChat].Summary.Count
		}
	}
	if n := rep.Latency[signalbench.LatChat].Count; n == 0 || chats != n {
		t.Errorf("series holds %d chat latencies, the run %d", chats, n)
	}
}

func TestBenchSignalQuietAndAssertFailure(t *testing.T) {
	url := benchServer(t)
	code, _, stderr := runCLI(t, nil, "bench", "signal", "--url", url, "--conns", "10", "--rate", "1000",
		"--duration", "0s", "--quiet", "--assert", "join.p99<1us,errors<1,connect.max<1us")
	if code != ExitAssertion {
		t.Fatalf("exit %d, want 3; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "join.p99<1us: FAILED") || !strings.Contains(stderr, "connect.max<1us: FAILED") {
		t.Errorf("stderr does not list every failed assertion:\n%s", stderr)
	}
	if strings.Contains(stderr, "errors<1: FAILED") {
		t.Errorf("a passing assertion listed as failed:\n%s", stderr)
	}
	if strings.Contains(stderr, "[") && strings.Contains(stderr, "ramp") {
		t.Errorf("--quiet printed progress:\n%s", stderr)
	}
}

func TestBenchSignalUsageErrors(t *testing.T) {
	base := []string{"bench", "signal", "--url", "ws://127.0.0.1:1/ws"}
	tests := []struct {
		name    string
		args    []string
		mention string
	}{
		{"no url", []string{"bench", "signal"}, "--url is required"},
		{"http url", []string{"bench", "signal", "--url", "http://x/ws"}, "--url"},
		{"zero rate", append(base, "--rate", "0"), "--rate"},
		{"rate unit", append(base, "--rate", "10/h"), "--rate"},
		{"rooms and room size", append(base, "--rooms", "2", "--room-size", "3"), "not both"},
		{"latency without unit", append(base, "--assert", "join.p99<50"), "is a latency"},
		{"unknown metric", append(base, "--assert", "jion.p99<50ms"), "unknown metric"},
		{"bad assertion", append(base, "--assert", "join.p99"), "--assert"},
		{"foreign source ip", append(base, "--source-ips", "192.0.2.1"), "--source-ips"},
		{"send without raw", append(base, "--send", "x"), "--protocol raw"},
		{"bad protocol", append(base, "--protocol", "mqtt"), "--protocol"},
		{"procs over conns", append(base, "--conns", "2", "--procs", "3"), "--procs"},
		{"bad header", append(base, "--header", "nocolon"), "--header"},
		{"bad chat rate", append(base, "--chat-rate", "fast"), "--chat-rate"},
		{"chat senders without chat", append(base, "--chat-senders", "3"), "--chat-senders needs --chat-rate"},
		{"chat without hold", append(base, "--chat-rate", "5", "--duration", "0"), "--duration"},
		{"chat in raw mode", append(base, "--protocol", "raw", "--chat-rate", "5"), "--chat-rate is for the livectl protocol"},
		{"hello without raw", append(base, "--hello", "{}"), "--protocol raw"},
		{"unknown chat metric", append(base, "--assert", "chat.lost<1"), "unknown metric"},
		{"one token, many sessions", append(base, "--conns", "2", "--token", "x.y.z"), "give --auth-secret"},
		{"token and secret", append(base, "--token", "x", "--auth-secret", strings.Repeat("s", 32)), "not both"},
		{"short secret", append(base, "--auth-secret", "short"), "--auth-secret: the secret is 5 bytes"},
		{"secret in raw mode", append(base, "--protocol", "raw", "--auth-secret", strings.Repeat("s", 32)), "--header or --hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, tt.args...)
			if code != ExitUsage || !strings.Contains(stderr, tt.mention) {
				t.Errorf("exit %d, stderr %q; want 2 mentioning %q", code, stderr, tt.mention)
			}
		})
	}
}

// TestBenchSignalAuthSecretFromEnv: against a server with auth on, the
// secret from the environment (like every flag) mints each session its
// token; without it the run fails with a hint naming --auth-secret.
func TestBenchSignalAuthSecretFromEnv(t *testing.T) {
	secret := strings.Repeat("e", 32)
	ws := servertest.Start(t, server.Config{AuthSecret: []byte(secret)}).WS
	args := []string{"bench", "signal", "--url", ws, "--conns", "20", "--rate", "1000/s", "--duration", "100ms", "-o", "json", "--stats-url", "none"}
	code, stdout, stderr := runCLI(t, map[string]string{"LIVECTL_AUTH_SECRET": secret}, args...)
	if code != ExitOK || !strings.Contains(stdout, `"established": 20`) {
		t.Fatalf("exit %d, stdout %s\nstderr:\n%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, nil, args...)
	if code != ExitFailure || !strings.Contains(stderr, "--auth-secret") {
		t.Fatalf("without the secret: exit %d, stderr:\n%s", code, stderr)
	}
}

// The preflight refuses what cannot fit before dialing anything (the URL
// points nowhere), naming the flag that fixes it.
func TestBenchSignalPreflightRefuses(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		mention string
	}{
		{"file descriptors", []string{"--conns", "1000000"}, "--procs"},
		{"ephemeral ports", []string{"--conns", "70000", "--procs", "5"}, "--source-ips 127.0.0.1-127.0.0."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			code, _, stderr := runCLI(t, nil, append([]string{"bench", "signal", "--url", "ws://127.0.0.1:1/ws"}, tt.args...)...)
			if code != ExitUsage || !strings.Contains(stderr, tt.mention) {
				t.Errorf("exit %d, stderr %q; want 2 mentioning %q", code, stderr, tt.mention)
			}
			if time.Since(start) > 2*time.Second {
				t.Errorf("refusal took %s: it should come before the run", time.Since(start))
			}
		})
	}
	// With enough source addresses the port budget fits (and the fd one
	// still refuses for a single process, naming --procs).
	code, _, stderr := runCLI(t, nil, "bench", "signal", "--url", "ws://127.0.0.1:1/ws", "--conns", "70000",
		"--source-ips", "127.0.0.1-127.0.0.4")
	if code != ExitUsage || !strings.Contains(stderr, "--procs") || strings.Contains(stderr, "ephemeral") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestBenchSignalUnreachableExits1(t *testing.T) {
	code, _, stderr := runCLI(t, nil, "bench", "signal", "--url", "ws://127.0.0.1:1/ws", "--conns", "3", "--quiet")
	if code != ExitFailure || !strings.Contains(stderr, "refused") {
		t.Errorf("exit %d, stderr %q; want 1 naming the refusal", code, stderr)
	}
}

func TestBenchReportMergeAndCompare(t *testing.T) {
	url := benchServer(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	for _, p := range []struct {
		file, conns string
	}{{a, "20"}, {b, "30"}} {
		if code, _, stderr := runCLI(t, nil, "bench", "signal", "--url", url, "--conns", p.conns, "--rate", "2000",
			"--duration", "100ms", "--quiet", "--out", p.file); code != 0 {
			t.Fatalf("run: exit %d: %s", code, stderr)
		}
	}
	code, stdout, stderr := runCLI(t, nil, "bench", "report", "--merge", a, b, "-o", "json", "--assert", "connections.established>=50")
	if code != 0 {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	var m signalbench.Report
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatal(err)
	}
	if m.Connections.Attempted != 50 || m.Latency[signalbench.LatJoin].Count != 50 || m.Runs != 2 {
		t.Errorf("merged %+v join %+v runs %d", m.Connections, m.Latency[signalbench.LatJoin], m.Runs)
	}
	code, stdout, stderr = runCLI(t, nil, "bench", "report", a, b)
	if code != 0 || !strings.Contains(stdout, "delta") || !strings.Contains(stdout, "+50.0%") {
		t.Errorf("compare: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, nil, "bench", "report", filepath.Join(dir, "missing.json"))
	if code != ExitFailure || !strings.Contains(stderr, "--out") {
		t.Errorf("missing file: exit %d: %s", code, stderr)
	}
}

// TestBenchReportContextBaseline: run files record their context (no
// secret); reading runs with different settings warns; --baseline makes
// relative thresholds pass or fail (each failure printed once), their
// outcomes in the JSON; a relative threshold without a baseline is a usage
// error.
func TestBenchReportContextBaseline(t *testing.T) {
	url := benchServer(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	secret := strings.Repeat("z", 32) // the server has auth off and ignores the tokens
	for _, p := range []struct {
		file, conns string
	}{{a, "20"}, {b, "30"}} {
		if code, _, stderr := runCLI(t, nil, "bench", "signal", "--url", url, "--conns", p.conns, "--rate", "2000",
			"--duration", "100ms", "--quiet", "--out", p.file, "--auth-secret", secret); code != 0 {
			t.Fatalf("run: exit %d: %s", code, stderr)
		}
	}
	raw, _ := os.ReadFile(b)
	if strings.Contains(string(raw), secret) {
		t.Fatal("the report file holds the secret")
	}
	var rb signalbench.Report
	if err := json.Unmarshal(raw, &rb); err != nil {
		t.Fatal(err)
	}
	c := rb.Context
	if c == nil || c.Version == "" || c.Host == "" || c.CPUs < 1 || c.Target != url || !c.End.After(c.Start) ||
		c.Settings["conns"] != float64(30) || c.Settings["url"] != url {
		t.Fatalf("context %+v", c)
	}

	code, stdout, stderr := runCLI(t, nil, "bench", "report", a, b)
	if code != 0 || !strings.Contains(stderr, "different settings: conns: 20 vs 30") || strings.Contains(stderr, "run_id") {
		t.Errorf("compare: exit %d, stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "better") {
		t.Errorf("no change marked better (more sessions established):\n%s", stdout)
	}
	code, _, stderr = runCLI(t, nil, "bench", "report", a, a)
	if code != 0 || strings.Contains(stderr, "warning") {
		t.Errorf("a run compared with itself: exit %d, stderr:\n%s", code, stderr)
	}

	// b against a as its baseline: established grew by 10 (50 %).
	for _, tc := range []struct {
		expr string
		pass bool
	}{
		{"connections.established<=+50%", true},
		{"connections.established<=+5", false},
		{"errors<=+0", true},
	} {
		code, stdout, stderr := runCLI(t, nil, "bench", "report", "--baseline", a, b, "-o", "json", "--assert", tc.expr)
		if want := map[bool]int{true: ExitOK, false: ExitAssertion}[tc.pass]; code != want {
			t.Errorf("%s: exit %d, want %d; stderr:\n%s", tc.expr, code, want, stderr)
		}
		var rep signalbench.Report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Assertions) != 1 || rep.Assertions[0].Expression != tc.expr || rep.Assertions[0].Pass != tc.pass || rep.Assertions[0].Value == "" {
			t.Errorf("%s: assertions in the JSON %+v", tc.expr, rep.Assertions)
		}
		if !tc.pass && strings.Count(stderr, tc.expr) != 1 {
			t.Errorf("%s: the failure is printed %d times:\n%s", tc.expr, strings.Count(stderr, tc.expr), stderr)
		}
	}
	code, _, stderr = runCLI(t, nil, "bench", "report", b, "--assert", "errors<=+0")
	if code != ExitUsage || !strings.Contains(stderr, "--baseline") {
		t.Errorf("relative without a baseline: exit %d, stderr:\n%s", code, stderr)
	}
}

// Server and bench as separate processes; --procs 2 re-executes the binary
// and merges the children's histograms: the counts equal a one-process run.
func TestBenchSignalSubprocessWithProcs(t *testing.T) {
	bin := servertest.Binary(t)
	url := servertest.StartProcess(t, context.Background(), bin).WS()
	run := func(procs string) signalbench.Report {
		cmd := exec.Command(bin, "bench", "signal", "--url", url, "--conns", "300", "--rate", "1500",
			"--duration", "300ms", "--ping-interval", "100ms", "--procs", procs, "-o", "json", "--quiet")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("--procs %s: %v\n%s", procs, err, stderr.String())
		}
		var rep signalbench.Report
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("--procs %s: %v\n%s", procs, err, out)
		}
		return rep
	}
	one, two := run("1"), run("2")
	if two.Settings.Procs != 2 || one.Settings.Procs != 1 {
		t.Errorf("procs settings %d / %d", one.Settings.Procs, two.Settings.Procs)
	}
	for _, r := range []signalbench.Report{one, two} {
		if r.Connections.Established != 300 || r.ErrorCount() != 0 || r.Connections.PeakOpen != 300 {
			t.Errorf("procs %d: connections %+v errors %v", r.Settings.Procs, r.Connections, r.Errors)
		}
		for _, name := range []string{signalbench.LatConnect, signalbench.LatJoin, signalbench.LatSetup} {
			if r.Latency[name].Count != 300 {
				t.Errorf("procs %d: %s count %d", r.Settings.Procs, name, r.Latency[name].Count)
			}
		}
		if r.Server == nil || r.Server.Sessions != 300 {
			t.Errorf("procs %d: server cost %+v", r.Settings.Procs, r.Server)
		}
		// The children's time series merge: every attempt in some second.
		var att int64
		if r.Series != nil {
			for _, p := range r.Series.Points {
				att += p.Attempts
			}
		}
		if att != 300 {
			t.Errorf("procs %d: the series counts %d attempts, want 300", r.Settings.Procs, att)
		}
	}
}
