package top

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
)

// TestGolden runs the whole program (tea.Program, real HTTP polling of an
// httptest server, the model's own ticks) at a fixed terminal size and
// compares the final screen with testdata/TestGolden/*.golden. The clock is
// the test's, so the screen is the same on every run; `go test -run
// TestGolden -update` rewrites the files after a deliberate change.
func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		w, h int
		// steps drive the program once the first snapshot is shown.
		steps func(t *testing.T, tm *teatest.TestModel, srv *statsServer, c *clock)
	}{
		{"rooms", 80, 24, func(t *testing.T, tm *teatest.TestModel, srv *statsServer, c *clock) {
			secondPoll(t, tm, c)
		}},
		{"sorted_filtered", 80, 24, func(t *testing.T, tm *teatest.TestModel, srv *statsServer, c *clock) {
			secondPoll(t, tm, c)
			tm.Type("s")
			tm.Type("/")
			tm.Type("stage")
			tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
			waitFor(t, tm, `filter "stage"`)
		}},
		{"help", 80, 24, func(t *testing.T, tm *teatest.TestModel, srv *statsServer, c *clock) {
			tm.Type("?")
			waitFor(t, tm, "reverse sort")
		}},
		{"goroutines", 80, 24, func(t *testing.T, tm *teatest.TestModel, srv *statsServer, c *clock) {
			tm.Send(tea.KeyMsg{Type: tea.KeyTab})
			waitFor(t, tm, "readLoop")
		}},
		{"disconnected", 80, 24, func(t *testing.T, tm *teatest.TestModel, srv *statsServer, c *clock) {
			srv.Close()
			c.Set(t0.Add(3 * time.Second))
			waitFor(t, tm, "DISCONNECTED")
		}},
		{"resized", 80, 24, func(t *testing.T, tm *teatest.TestModel, srv *statsServer, c *clock) {
			secondPoll(t, tm, c)
			tm.Send(tea.WindowSizeMsg{Width: 120, Height: 16})
			waitFor(t, tm, "tab switch view")
		}},
		{"narrow", 60, 20, func(t *testing.T, tm *teatest.TestModel, srv *statsServer, c *clock) {
			secondPoll(t, tm, c)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStatsServer(t, sampleSnap(3723, 0), sampleSnap(3724, 1))
			c := newClock()
			m := New(Options{
				// The header shows Target; a fixed one keeps the random
				// httptest port out of the golden file.
				Target: "http://127.0.0.1:7880", Admin: "http://127.0.0.1:6060",
				Stats: newSource(t, srv.URL), Goroutines: &fakeGoroutines{sum: sampleGoroutines()},
				Now: c.Now,
			})
			tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(tt.w, tt.h))
			waitFor(t, tm, "stage-a")
			tt.steps(t, tm, srv, c)
			tm.Type("q")
			final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
			golden.RequireEqual(t, []byte(final.View()))
		})
	}
}

// secondPoll moves the clock one interval on and waits for the poll that
// makes rates possible.
func secondPoll(t *testing.T, tm *teatest.TestModel, c *clock) {
	t.Helper()
	c.Set(t0.Add(time.Second))
	waitFor(t, tm, "2.0 Mb/s")
}

func waitFor(t *testing.T, tm *teatest.TestModel, s string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

// TestProgramOutput checks what reaches the terminal, not just the model:
// the alternate screen is not used under teatest, but the rooms and the
// header must be drawn, and quitting must end the program promptly.
func TestProgramOutput(t *testing.T) {
	srv := newStatsServer(t, sampleSnap(10, 0))
	m := New(Options{Target: srv.URL, Stats: newSource(t, srv.URL)})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	var seen bytes.Buffer
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		seen.Write(b)
		return strings.Contains(seen.String(), "backstage") && strings.Contains(seen.String(), "LIVE")
	}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	start := time.Now()
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(3*time.Second))
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("quit took %v", d)
	}
}

// TestHungServerDoesNotBlockUI: while a poll hangs, keys still work, the
// screen says it is still connecting, and quitting abandons the request.
func TestHungServerDoesNotBlockUI(t *testing.T) {
	aborted := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; ends when the client gives up
		aborted <- struct{}{}
	}))
	defer srv.Close()
	m := New(Options{Target: "http://hung", Stats: newSource(t, srv.URL), Interval: 5 * time.Second})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	waitFor(t, tm, "CONNECTING")
	start := time.Now()
	tm.Type("?")
	waitFor(t, tm, "reverse sort")
	if d := time.Since(start); d > time.Second {
		t.Errorf("help took %v to show while a poll hung", d)
	}
	tm.Type("q")
	tm.WaitFinished(t, teatest.WithFinalTimeout(3*time.Second))
	select {
	case <-aborted:
	case <-time.After(3 * time.Second):
		t.Error("the hung request was not abandoned on quit")
	}
}
