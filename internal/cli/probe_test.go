package cli

import (
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livectl/livectl/internal/peer/peertest"
	"github.com/livectl/livectl/internal/publish"
)

// whepWithPublisher starts the independent pion WHEP server with the built-in
// clip (or file) published in room "r" and returns the WHEP URL.
func whepWithPublisher(t *testing.T, file string) string {
	t.Helper()
	srv := peertest.Start(t)
	p, err := publish.Start(context.Background(), publish.Options{URL: srv.URL + "/whip/r", File: file})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return srv.URL + "/whep/r"
}

func TestProbeCommand(t *testing.T) {
	url := whepWithPublisher(t, "")
	t.Run("json report and snapshot", func(t *testing.T) {
		snap := filepath.Join(t.TempDir(), "frame.png")
		code, out, errOut := runCLI(t, nil, "probe", "--url", url, "--count", "2", "--interval", "0s", "--observe", "0s", "--snapshot", snap, "-o", "json")
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var doc struct {
			Target       string `json:"target"`
			Attempts, OK int
			FirstFrameMS map[string]float64 `json:"first_frame_ms"`
			Runs         []struct {
				PhasesMS map[string]float64 `json:"phases_ms"`
				Codec    string             `json:"codec"`
				Width    int                `json:"width"`
				Height   int                `json:"height"`
				Black    bool               `json:"black"`
				Error    string             `json:"error"`
			} `json:"runs"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
		}
		if doc.Target != url || doc.Attempts != 2 || doc.OK != 2 || doc.FirstFrameMS["p50"] <= 0 || len(doc.Runs) != 2 {
			t.Fatalf("report %+v", doc)
		}
		if r := doc.Runs[0]; r.Codec != "video/VP8" || r.Width != 640 || r.Height != 360 || r.Black || r.Error != "" || r.PhasesMS["first_decoded"] <= 0 {
			t.Fatalf("run %+v", r)
		}
		fh, err := os.Open(snap)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		img, err := png.Decode(fh)
		if err != nil {
			t.Fatalf("snapshot is not a PNG: %v", err)
		}
		if b := img.Bounds(); b.Dx() != 640 || b.Dy() != 360 {
			t.Fatalf("snapshot %v, want the clip's 640x360", b)
		}
	})
	t.Run("assertion failure exits 3", func(t *testing.T) {
		code, _, errOut := runCLI(t, nil, "probe", "--url", url, "--observe", "0s", "--assert", "first_decoded.p50<1us")
		if code != ExitAssertion || !strings.Contains(errOut, "first_decoded.p50") {
			t.Fatalf("exit %d, stderr %s", code, errOut)
		}
	})
	t.Run("passing assertion exits 0", func(t *testing.T) {
		code, out, errOut := runCLI(t, nil, "probe", "--url", url, "--observe", "0s", "--assert", "first_decoded.p50<5s,errors<1,black<1")
		if code != ExitOK || !strings.Contains(out, "1/1 ok") {
			t.Fatalf("exit %d, stdout %s stderr %s", code, out, errOut)
		}
	})
}

func TestProbeCommandBlack(t *testing.T) {
	url := whepWithPublisher(t, "../media/testdata/black.ivf")
	code, out, errOut := runCLI(t, nil, "probe", "--url", url, "--observe", "0s", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, `"black": true`) {
		t.Fatalf("black clip not reported black:\n%s", out)
	}
}

func TestProbeCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unreachable WHEP", []string{"probe", "--url", "http://127.0.0.1:1/whep/x"}, ExitFailure, "signal: WHEP: posting offer to http://127.0.0.1:1/whep/x"},
		{"unreachable ws", []string{"probe", "--url", "ws://127.0.0.1:1/ws", "--room", "r"}, ExitFailure, "signal: connecting to ws://127.0.0.1:1/ws"},
		{"unreachable WHEP hint", []string{"probe", "--url", "http://127.0.0.1:1/whep/x"}, ExitFailure, "(is the server running and listening at that address?)"},
		{"no url", []string{"probe"}, ExitUsage, "--url is required"},
		{"ws without room", []string{"probe", "--url", "ws://127.0.0.1:1/ws"}, ExitUsage, "--room is required"},
		{"bad assert", []string{"probe", "--url", "http://x/whep/r", "--assert", "nonsense.p50<1ms"}, ExitUsage, "--assert"},
		{"publish unreachable", []string{"publish", "--url", "http://127.0.0.1:1/whip/x", "--duration", "1s"}, ExitFailure, "connection refused"},
		{"publish bad file", []string{"publish", "--url", "http://127.0.0.1:1/whip/x", "--file", "/nonexistent.ivf"}, ExitUsage, "--file: open /nonexistent.ivf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d (want %d), stderr %q, want it to contain %q", code, tt.code, errOut, tt.want)
			}
		})
	}
}

func TestPublishCommand(t *testing.T) {
	srv := peertest.Start(t)
	code, out, errOut := runCLI(t, nil, "publish", "--url", srv.URL+"/whip/p", "--duration", "500ms", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var st publish.Stats
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.FramesSent < 10 || st.Codec != "video/VP8" {
		t.Fatalf("stats %+v (%v): %s", st, err, out)
	}
}
