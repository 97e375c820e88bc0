package cli

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/livectl/livectl/internal/stats"
)

// topStatsServer serves /v1/stats whose byte counters advance 125 kB per
// request and whose uptime advances 1 s, so two polls give 1 Mb/s.
func topStatsServer(t *testing.T) string {
	t.Helper()
	var n atomic.Uint64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/stats" {
			http.NotFound(w, r)
			return
		}
		i := n.Add(1)
		_ = json.NewEncoder(w).Encode(stats.Snapshot{
			UptimeS: float64(i), BytesIn: i * 125_000, Connections: 3, RoomCount: 1,
			Rooms: []stats.Room{{Name: "cli-room", Participants: 3}},
		})
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestTopOnce(t *testing.T) {
	target := topStatsServer(t)
	t.Run("json", func(t *testing.T) {
		code, out, errOut := runCLI(t, nil, "top", "--once", "-o", "json", "--interval", "100ms", "--admin", "", "--target", target)
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var doc struct {
			Target string `json:"target"`
			Rates  struct {
				BitrateInBps float64 `json:"bitrate_in_bps"`
			} `json:"rates"`
			Stats stats.Snapshot `json:"stats"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
		}
		if doc.Rates.BitrateInBps != 1_000_000 || len(doc.Stats.Rooms) != 1 || doc.Target != target {
			t.Errorf("report = %+v", doc)
		}
	})
	t.Run("table", func(t *testing.T) {
		code, out, errOut := runCLI(t, nil, "top", "--once", "--interval", "100ms", "--admin", "", "--target", target)
		if code != ExitOK || !strings.Contains(out, "cli-room") || !strings.Contains(out, "1.0 Mb/s in") {
			t.Errorf("exit %d, stdout:\n%s\nstderr: %s", code, out, errOut)
		}
	})
}

func TestTopErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want []string
	}{
		{"server down", nil, []string{"--once", "--admin", "", "--target", closed}, ExitFailure,
			[]string{closed + "/v1/stats", "refused", "check --target"}},
		{"not a terminal", nil, []string{"--target", closed}, ExitUsage,
			[]string{"needs a terminal", "livectl top --once -o json"}},
		{"json without once", nil, []string{"-o", "json", "--target", closed}, ExitUsage,
			[]string{"--output json needs --once"}},
		{"interval too short", nil, []string{"--once", "--interval", "1ms"}, ExitUsage,
			[]string{"--interval must be at least 100ms"}},
		{"interval from environment", map[string]string{"LIVECTL_INTERVAL": "5ms"}, []string{"--once"}, ExitUsage,
			[]string{"--interval (from environment variable LIVECTL_INTERVAL)"}},
		{"history shorter than interval", nil, []string{"--once", "--history", "1s", "--interval", "2s"}, ExitUsage,
			[]string{"--history"}},
		{"bad target", nil, []string{"--once", "--target", "ftp://x"}, ExitUsage,
			[]string{"--target", "scheme must be http or https"}},
		{"arguments", nil, []string{"extra"}, ExitUsage, []string{"unknown command"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.env, append([]string{"top"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.code, errOut)
			}
			if out != "" {
				t.Errorf("stdout not empty on error: %q", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(errOut, "\x1b") {
				t.Errorf("escape codes on a non-terminal: %q", errOut)
			}
		})
	}
}
