package probe

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livectl/livectl/internal/peer/peertest"
	"github.com/livectl/livectl/internal/publish"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// whepRoom starts the independent pion WHIP/WHEP server with a publisher of
// file (empty: the built-in clip) in a room and returns the WHEP URL.
func whepRoom(t *testing.T, file string) (string, *peertest.Server, *publish.Publisher) {
	t.Helper()
	srv := peertest.Start(t)
	p, err := publish.Start(context.Background(), publish.Options{URL: srv.URL + "/whip/room", File: file})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return srv.URL + "/whep/room", srv, p
}

func checkOrder(t *testing.T, r Result, phases []string) {
	t.Helper()
	prev := 0.0
	for _, ph := range phases {
		v, ok := r.PhasesMS[ph]
		if !ok {
			t.Fatalf("phase %s missing: %+v", ph, r.PhasesMS)
		}
		if v < prev {
			t.Fatalf("phase %s at %.1fms before the previous phase (%.1fms): %+v", ph, v, prev, r.PhasesMS)
		}
		prev = v
	}
}

func TestProbeWHEPAgainstIndependentServer(t *testing.T) {
	url, _, _ := whepRoom(t, "")
	rep := Run(context.Background(), RunOptions{Options: Options{URL: url, Timeout: 5 * time.Second}, Count: 3})
	if rep.Attempts != 3 || rep.OK != 3 {
		t.Fatalf("attempts %d ok %d: %+v", rep.Attempts, rep.OK, rep.Runs)
	}
	for i, r := range rep.Runs {
		checkOrder(t, r, Phases)
		if r.Codec != "video/VP8" || r.Width != 640 || r.Height != 360 || r.Black {
			t.Fatalf("run %d: %+v", i, r)
		}
		if r.Image == nil || r.Image.Rect.Dx() != 640 {
			t.Fatalf("run %d: no decoded image", i)
		}
	}
	if rep.FirstFrameMS.Count != 3 || rep.FirstFrameMS.P50 <= 0 {
		t.Fatalf("first_frame_ms %+v", rep.FirstFrameMS)
	}
	t.Logf("first_frame_ms %+v; phases p50: signal %.1f ice %.1f dtls %.1f rtp %.1f key %.1f decoded %.1f",
		rep.FirstFrameMS, rep.PhasesMS[PhaseSignal].P50, rep.PhasesMS[PhaseICEConnected].P50, rep.PhasesMS[PhaseDTLSConnected].P50,
		rep.PhasesMS[PhaseFirstRTP].P50, rep.PhasesMS[PhaseFirstKeyframe].P50, rep.PhasesMS[PhaseFirstDecoded].P50)
}

func TestProbeBlackClip(t *testing.T) {
	url, _, _ := whepRoom(t, "../media/testdata/black.ivf")
	r := Attempt(context.Background(), Options{URL: url, Timeout: 5 * time.Second})
	if !r.OK() || !r.Black || r.Width != 320 || r.Height != 240 {
		t.Fatalf("result %+v", r)
	}
}

func TestProbeH264(t *testing.T) {
	url, _, _ := whepRoom(t, "../media/testdata/clip.h264")
	r := Attempt(context.Background(), Options{URL: url, Timeout: 5 * time.Second})
	if !r.OK() || r.Codec != "video/H264" || r.Width != 320 || r.Height != 240 {
		t.Fatalf("result %+v", r)
	}
	if _, ok := r.PhasesMS[PhaseFirstDecoded]; ok || !strings.Contains(r.Note, "not available") {
		t.Fatalf("H.264 must say decoding is not available: %+v", r)
	}
	checkOrder(t, r, Phases[:5])
}

func TestProbeFrozen(t *testing.T) {
	url, _, p := whepRoom(t, "")
	go func() {
		time.Sleep(300 * time.Millisecond)
		p.Close()
	}()
	r := Attempt(context.Background(), Options{URL: url, Timeout: 5 * time.Second, Observe: 1500 * time.Millisecond, FreezeThreshold: 400 * time.Millisecond})
	if !r.OK() || !r.Frozen {
		t.Fatalf("publisher stopped during observation, want frozen: %+v", r)
	}
}

func TestProbeNotFrozen(t *testing.T) {
	url, _, _ := whepRoom(t, "")
	r := Attempt(context.Background(), Options{URL: url, Timeout: 5 * time.Second, Observe: 600 * time.Millisecond, FreezeThreshold: 300 * time.Millisecond})
	if !r.OK() || r.Frozen || r.Frames < 10 {
		t.Fatalf("steady stream reported frozen or too few frames: %+v", r)
	}
}

func TestProbeFailures(t *testing.T) {
	srv := peertest.Start(t)
	tests := []struct {
		name      string
		o         Options
		wantPhase string
		wantText  string
		wantErr   error // the cause in Result.Err, when the test names one
	}{
		{"unreachable", Options{URL: "http://127.0.0.1:1/whep/x"}, PhaseSignal, "connection refused", nil},
		{"WHEP 404 with body", Options{URL: srv.URL + "/whep/empty", Timeout: 6 * time.Second}, PhaseSignal, "HTTP 404: no publisher", nil},
		{"ws unreachable", Options{URL: "ws://127.0.0.1:1/ws", Room: "r"}, PhaseSignal, "connecting to ws://127.0.0.1:1/ws", nil},
		{"ws without room", Options{URL: "ws://127.0.0.1:1/ws"}, PhaseSignal, "a room is needed", ErrNoRoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Attempt(context.Background(), tt.o)
			if r.OK() || r.FailedPhase != tt.wantPhase || !strings.Contains(r.Error, tt.wantText) {
				t.Fatalf("result %+v, want failure in %s mentioning %q", r, tt.wantPhase, tt.wantText)
			}
			if tt.wantErr != nil && !errors.Is(r.Err, tt.wantErr) {
				t.Fatalf("Err = %v, want %v", r.Err, tt.wantErr)
			}
		})
	}
}

func TestIntervalJitter(t *testing.T) {
	tests := []struct {
		interval, max time.Duration
	}{
		{0, 0},
		{100 * time.Millisecond, 10 * time.Millisecond},
		{500 * time.Millisecond, 50 * time.Millisecond},
		{10 * time.Second, 50 * time.Millisecond},
	}
	for _, tc := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			j := intervalJitter(tc.interval)
			if j < 0 || (tc.max == 0 && j != 0) || (tc.max > 0 && j >= tc.max) {
				t.Fatalf("intervalJitter(%s) = %s, want in [0, %s)", tc.interval, j, tc.max)
			}
			seen[j] = true
		}
		if tc.max > 0 && len(seen) < 10 {
			t.Errorf("intervalJitter(%s) took only %d values in 200 draws", tc.interval, len(seen))
		}
	}
}

// TestSlowSignalingFailsInSignal: --timeout bounds every phase up to the
// first frame, signaling included, and a server that does not answer is
// reported as a signal failure, not as ICE that never connected.
func TestSlowSignalingFailsInSignal(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	r := Attempt(context.Background(), Options{URL: srv.URL + "/whep/x", Timeout: 300 * time.Millisecond, Observe: 3 * time.Second})
	if r.OK() || r.FailedPhase != PhaseSignal {
		t.Fatalf("result %+v, want a failure in %s", r, PhaseSignal)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the attempt took %v with --timeout 300ms: signaling waited for --observe too", d)
	}
}

// TestRunInterrupted: a run stopped during its third attempt reports the
// two that finished, marked interrupted, and does not count the one cut
// short as failed (it once read "2 of 3 attempts failed" or "2/2 ok").
func TestRunInterrupted(t *testing.T) {
	url, _, _ := whepRoom(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep := Run(ctx, RunOptions{Options: Options{URL: url, Timeout: 5 * time.Second}, Count: 5,
		OnAttempt: func(i int, _ Result) {
			if i == 1 {
				// Stop as the third attempt starts (no interval: at once).
				time.AfterFunc(2*time.Millisecond, cancel)
			}
		}})
	if !rep.Interrupted || rep.Attempts != 2 || rep.OK != 2 {
		t.Fatalf("interrupted %v attempts %d ok %d: %+v", rep.Interrupted, rep.Attempts, rep.OK, rep.Runs)
	}
	whole := Run(context.Background(), RunOptions{Options: Options{URL: url, Timeout: 5 * time.Second}, Count: 1})
	if whole.Interrupted {
		t.Error("a whole run is marked interrupted")
	}
}
