package top

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/livectl/livectl/internal/stats"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// clock is a settable time source shared by a model and its commands.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var errFake = errors.New("fake admin listener is down")

// fakeGoroutines stands in for a pprof listener in model tests; the real
// one (AdminSource over internal/inspect) is exercised end to end.
type fakeGoroutines struct {
	sum   *GoroutineSummary
	err   error
	calls atomic.Int64
}

func (f *fakeGoroutines) TopGoroutines(_ context.Context, n int) (*GoroutineSummary, error) {
	f.calls.Add(1)
	return f.sum, f.err
}

func sampleGoroutines() *GoroutineSummary {
	return &GoroutineSummary{Total: 57, Groups: []GoroutineGroup{
		{Count: 3, State: "IO wait", Top: "net/http.(*conn).serve", Stack: []string{"net/http.(*conn).serve"}},
		{Count: 40, State: "chan receive", Top: "github.com/livectl/livectl/internal/server.(*conn).readLoop", Stack: []string{"github.com/livectl/livectl/internal/server.(*conn).readLoop"}},
		{Count: 14, State: "select", Top: "github.com/livectl/livectl/internal/server.(*conn).writeLoop", Stack: []string{"github.com/livectl/livectl/internal/server.(*conn).writeLoop", "github.com/livectl/livectl/internal/server.(*Server).handleWS"}},
	}}
}

// sampleSnap is a server snapshot at uptime; step makes counters advance
// (1 Mbit/s in, 3 Mbit/s out, 1% loss per step of 1 s... see the values).
func sampleSnap(uptime float64, step uint64) stats.Snapshot {
	return stats.Snapshot{
		Version: "v1.2.3", State: "serving", UptimeS: uptime,
		Connections: 42 + int64(step), RoomCount: 4, Participants: 40,
		TracksPublished: 6, TracksSubscribed: 30,
		BytesIn: 1_000_000 + step*250_000, BytesOut: 3_000_000 + step*750_000,
		PacketsIn: 10_000 + step*990, PacketsOut: 30_000 + step*2970, PacketsLost: step * 10,
		Goroutines: 300 + int(step), HeapBytes: 48 << 20, GCPauseNsP99: 420_000,
		Rooms: []stats.Room{
			// Viewers are the members that have not published; chat
			// deliveries are messages in × members.
			{Name: "lobby", Participants: 2, Publishers: 0, Viewers: 2, Subscribers: 2, Tracks: 0},
			{Name: "stage-a", Participants: 20, Publishers: 2, Viewers: 18, Subscribers: 18, Tracks: 4, BitrateInBps: 2_500_000, BitrateOutBps: 45_000_000,
				ChatInPerS: 12, ChatDeliveriesPerS: 240},
			{Name: "stage-b", Participants: 15, Publishers: 1, Viewers: 14, Subscribers: 14, Tracks: 2, BitrateInBps: 3_000_000, BitrateOutBps: 21_000_000,
				ChatInPerS: 100, ChatDeliveriesPerS: 1500},
			{Name: "backstage", Participants: 3, Publishers: 3, Viewers: 0, Subscribers: 0, Tracks: 6, BitrateInBps: 900_000, BitrateOutBps: 0},
		},
	}
}

// noStats is a StatsSource for models whose polls are fed by hand.
type noStats struct{}

func (noStats) FetchStats(context.Context) (*stats.Snapshot, error) {
	return nil, errors.New("not used")
}

func newTestModel(t *testing.T, c *clock, g GoroutineSource) *Model {
	t.Helper()
	m := New(Options{Target: "http://127.0.0.1:7880", Admin: "http://127.0.0.1:6060", Stats: noStats{}, Goroutines: g, Now: c.Now})
	m.Init()
	t.Cleanup(func() { m.cancel() })
	return m
}

// feed delivers a poll result that started and ended at the clock's time.
func feed(m *Model, c *clock, s stats.Snapshot) {
	m.Update(statsMsg{snap: &s, start: c.Now(), end: c.Now()})
}

func fail(m *Model, c *clock, err error) {
	m.Update(statsMsg{err: err, start: c.Now(), end: c.Now()})
}

func press(m *Model, keys ...string) tea.Cmd {
	var last tea.Cmd
	for _, k := range keys {
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		case "tab":
			msg = tea.KeyMsg{Type: tea.KeyTab}
		case "backspace":
			msg = tea.KeyMsg{Type: tea.KeyBackspace}
		case "down":
			msg = tea.KeyMsg{Type: tea.KeyDown}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		_, last = m.Update(msg)
	}
	return last
}

func isQuit(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	_, ok := cmd().(tea.QuitMsg)
	return ok
}

func roomNames(m *Model) []string {
	var out []string
	for _, r := range m.VisibleRooms() {
		out = append(out, r.Name)
	}
	return out
}

func TestStatsUpdates(t *testing.T) {
	c := newClock()
	m := newTestModel(t, c, nil)
	if m.State() != Connecting || !strings.Contains(m.View(), "CONNECTING") {
		t.Fatalf("before the first poll: state %v\n%s", m.State(), m.View())
	}
	feed(m, c, sampleSnap(100, 0))
	if m.State() != Live {
		t.Fatalf("state = %v after a good poll", m.State())
	}
	if _, ok := m.CurrentRates(); ok {
		t.Error("rates from a single snapshot")
	}
	if got, want := m.NextFetch(), t0.Add(time.Second); !got.Equal(want) {
		t.Errorf("next poll at %v, want one interval after the start (%v)", got, want)
	}

	c.Set(t0.Add(time.Second))
	feed(m, c, sampleSnap(101, 1))
	r, ok := m.CurrentRates()
	if !ok {
		t.Fatal("no rates after two snapshots")
	}
	if r.BitrateInBps != 2_000_000 || r.BitrateOutBps != 6_000_000 {
		t.Errorf("bitrates = %v / %v, want 2 Mb/s / 6 Mb/s", r.BitrateInBps, r.BitrateOutBps)
	}
	if want := 100 * 10.0 / 1000; r.LossPct != want {
		t.Errorf("loss = %v%%, want %v%%", r.LossPct, want)
	}
	if m.hist.conns.Len() != 2 || m.hist.bitIn.Len() != 1 || m.hist.conns.Last() != 43 {
		t.Errorf("history: conns %v, bitrate in %v", m.hist.conns.Values(), m.hist.bitIn.Values())
	}
	v := m.View()
	for _, want := range []string{"v1.2.3", "up 1m41s", "serving", "LIVE", "2.0 Mb/s", "6.0 Mb/s", "1.00 %", "48.0 MiB", "420µs", "stage-a"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}

	t.Run("restart resets rates", func(t *testing.T) {
		c.Set(t0.Add(2 * time.Second))
		feed(m, c, sampleSnap(1, 0))
		if _, ok := m.CurrentRates(); ok {
			t.Error("rates across a server restart")
		}
		if !strings.Contains(m.View(), "server restarted") {
			t.Errorf("restart not shown:\n%s", m.View())
		}
	})
}

// TestRestartResetsHistory: after a restart the sparklines start afresh
// (one line must not join two processes' figures) and the banner shows;
// polls of one process keep their history.
func TestRestartResetsHistory(t *testing.T) {
	lateLoss := sampleSnap(102, 2)
	lateLoss.PacketsLost = 5 // fell from 10: late packets now counted received
	tests := []struct {
		name      string
		third     stats.Snapshot
		restarted bool
	}{
		{"same process", sampleSnap(102, 2), false},
		{"packets_lost fell", lateLoss, false},
		{"uptime went back", sampleSnap(1, 0), true},
		// Nothing went down, but the uptime jumped 48 s in 1 s of polling.
		{"uptime ran ahead of the clock", sampleSnap(150, 5), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			m := newTestModel(t, c, nil)
			feed(m, c, sampleSnap(100, 0))
			c.Set(t0.Add(time.Second))
			feed(m, c, sampleSnap(101, 1))
			c.Set(t0.Add(2 * time.Second))
			feed(m, c, tt.third)

			_, ok := m.CurrentRates()
			banner := strings.Contains(m.View(), "server restarted")
			conns, bitIn := m.hist.conns.Len(), m.hist.bitIn.Len()
			if tt.restarted {
				if ok || !banner || conns != 1 || bitIn != 0 {
					t.Errorf("after a restart: rates %v, banner %v, history conns %v bitrate %v; want no rates, the banner and history from the new process only",
						ok, banner, m.hist.conns.Values(), m.hist.bitIn.Values())
				}
				return
			}
			if !ok || banner || conns != 3 || bitIn != 2 {
				t.Errorf("same process: rates %v, banner %v, history conns %v bitrate %v; want rates, no banner, 3 and 2 samples",
					ok, banner, m.hist.conns.Values(), m.hist.bitIn.Values())
			}
		})
	}
}

// TestNextFetchNotInPast: a poll slower than the interval schedules the next
// one now, not at a time already gone.
func TestNextFetchNotInPast(t *testing.T) {
	tests := []struct {
		name string
		took time.Duration
		want time.Duration // from the poll's start
	}{
		{"fast poll keeps the cadence", 200 * time.Millisecond, time.Second},
		{"slow poll: next one at once", 3 * time.Second, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			m := newTestModel(t, c, nil)
			s := sampleSnap(100, 0)
			c.Set(t0.Add(tt.took))
			m.Update(statsMsg{snap: &s, start: t0, end: c.Now()})
			if got := m.NextFetch().Sub(t0); got != tt.want {
				t.Errorf("next poll %v after the start, want %v", got, tt.want)
			}
		})
	}
}

func TestSorting(t *testing.T) {
	tests := []struct {
		keys []string
		want []string
		mark string
	}{
		{nil, []string{"stage-a", "stage-b", "backstage", "lobby"}, "PART▼"},
		{[]string{"s"}, []string{"stage-b", "stage-a", "backstage", "lobby"}, "IN▼"},
		{[]string{"s", "s"}, []string{"stage-a", "stage-b", "backstage", "lobby"}, "OUT▼"},
		{[]string{"s", "s", "s"}, []string{"backstage", "stage-a", "stage-b", "lobby"}, "TRK▼"},
		{[]string{"s", "s", "s", "s"}, []string{"backstage", "lobby", "stage-a", "stage-b"}, "ROOM▲"},
		{[]string{"s", "s", "s", "s", "S"}, []string{"stage-b", "stage-a", "lobby", "backstage"}, "ROOM▼"},
		{[]string{"S"}, []string{"lobby", "backstage", "stage-b", "stage-a"}, "PART▲"},
		{[]string{"s", "s", "s", "s", "s"}, []string{"stage-a", "stage-b", "backstage", "lobby"}, "PART▼"},
		// Keys that arrive together, as a script or a fast typist sends them.
		{[]string{"ss"}, []string{"stage-a", "stage-b", "backstage", "lobby"}, "OUT▼"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.keys, "+"), func(t *testing.T) {
			c := newClock()
			m := newTestModel(t, c, nil)
			feed(m, c, sampleSnap(1, 0))
			press(m, tt.keys...)
			if got := roomNames(m); !slices.Equal(got, tt.want) {
				t.Errorf("order = %v, want %v", got, tt.want)
			}
			// The table shows the same order and marks the column.
			v := m.View()
			if !strings.Contains(v, tt.mark) {
				t.Errorf("view lacks sort mark %q:\n%s", tt.mark, v)
			}
			if i, j := strings.Index(v, " "+tt.want[0]+" "), strings.Index(v, " "+tt.want[3]+" "); i < 0 || j < 0 || i > j {
				t.Errorf("table rows not in order %v:\n%s", tt.want, v)
			}
		})
	}
}

func TestSelectionFollowsRoom(t *testing.T) {
	c := newClock()
	m := newTestModel(t, c, nil)
	feed(m, c, sampleSnap(1, 0))
	press(m, "down") // stage-b
	if got := m.rooms.SelectedRow()[0]; got != "stage-b" {
		t.Fatalf("selected %q", got)
	}
	press(m, "s") // stage-b moves to the top; the selection goes with it
	if got := m.rooms.SelectedRow()[0]; got != "stage-b" || m.rooms.Cursor() != 0 {
		t.Errorf("after sort, selected %q at %d", got, m.rooms.Cursor())
	}
}

func TestFilter(t *testing.T) {
	tests := []struct {
		name   string
		keys   []string
		want   []string
		typing bool
	}{
		{"typing filters live", []string{"/", "s", "t", "a", "g", "e"}, []string{"stage-a", "stage-b", "backstage"}, true},
		{"case insensitive", []string{"/", "L", "O"}, []string{"lobby"}, true},
		{"enter keeps it", []string{"/", "-", "b", "enter"}, []string{"stage-b"}, false},
		{"backspace widens", []string{"/", "-", "b", "backspace"}, []string{"stage-a", "stage-b"}, true},
		{"esc clears", []string{"/", "lob", "esc"}, []string{"stage-a", "stage-b", "backstage", "lobby"}, false},
		{"esc after enter clears", []string{"/", "l", "o", "b", "enter", "esc"}, []string{"stage-a", "stage-b", "backstage", "lobby"}, false},
		{"keys are text while typing", []string{"/", "q", "s", "p"}, nil, true},
		{"slash and text together", []string{"/back"}, []string{"backstage"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			m := newTestModel(t, c, nil)
			feed(m, c, sampleSnap(1, 0))
			for _, k := range tt.keys {
				if isQuit(press(m, k)) {
					t.Fatalf("key %q quit while filtering", k)
				}
			}
			if got := roomNames(m); !slices.Equal(got, tt.want) {
				t.Errorf("rooms = %v, want %v", got, tt.want)
			}
			if m.filtering != tt.typing {
				t.Errorf("filtering = %v, want %v", m.filtering, tt.typing)
			}
			if m.Paused() || m.sortKey != SortParticipants {
				t.Error("a key typed into the filter acted as a command")
			}
		})
	}
	t.Run("no match says so", func(t *testing.T) {
		c := newClock()
		m := newTestModel(t, c, nil)
		feed(m, c, sampleSnap(1, 0))
		press(m, "/", "zzz", "enter")
		if v := m.View(); !strings.Contains(v, `no rooms match "zzz"`) || !strings.Contains(v, "0/4 rooms") {
			t.Errorf("view:\n%s", v)
		}
	})
}

func TestDisconnectAndReconnect(t *testing.T) {
	c := newClock()
	m := newTestModel(t, c, nil)
	feed(m, c, sampleSnap(100, 0))

	refused := fmt.Errorf("fetching stats from http://127.0.0.1:7880/v1/stats: %w", errors.New("connection refused"))
	// Backoff doubles from the interval and stops at MaxBackoff.
	wantWaits := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i, w := range wantWaits {
		c.Set(t0.Add(time.Duration(i+1) * time.Minute))
		fail(m, c, refused)
		if m.State() != Down {
			t.Fatalf("state = %v after a failed poll", m.State())
		}
		if got := m.NextFetch().Sub(c.Now()); got != w*time.Second {
			t.Errorf("after %d failures, next attempt in %v, want %v", i+1, got, w*time.Second)
		}
	}
	v := m.View()
	for _, want := range []string{"DISCONNECTED", "unreachable: connection refused", "retry in 30s", "attempt 7", "data 7m00s old", "stage-a"} {
		if !strings.Contains(v, want) {
			t.Errorf("disconnected view lacks %q:\n%s", want, v)
		}
	}

	t.Run("no poll before the backoff ends", func(t *testing.T) {
		m.inflight = false
		m.Update(tickMsg{})
		if m.inflight {
			t.Error("polled during backoff")
		}
		c.Set(m.NextFetch())
		m.Update(tickMsg{})
		if !m.inflight {
			t.Error("did not poll once the backoff ended")
		}
	})

	t.Run("reconnects", func(t *testing.T) {
		feed(m, c, sampleSnap(500, 3))
		if m.State() != Live || m.failures != 0 {
			t.Fatalf("state %v, failures %d after the server came back", m.State(), m.failures)
		}
		if got := m.NextFetch().Sub(c.Now()); got != time.Second {
			t.Errorf("next poll in %v after reconnecting, want the plain interval", got)
		}
		if v := m.View(); !strings.Contains(v, "LIVE") || strings.Contains(v, "unreachable") {
			t.Errorf("view after reconnect:\n%s", v)
		}
	})

	t.Run("r retries at once", func(t *testing.T) {
		fail(m, c, refused)
		fail(m, c, refused)
		m.inflight = false
		if cmd := press(m, "r"); cmd == nil || !m.inflight {
			t.Error("r did not start a poll")
		}
	})
}

func TestFirstPollFails(t *testing.T) {
	c := newClock()
	m := newTestModel(t, c, nil)
	fail(m, c, errors.New("connection refused"))
	v := m.View()
	for _, want := range []string{"DISCONNECTED", "unreachable: connection refused", "retry in 1s (attempt 1)", "waiting for the first /v1/stats answer"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
	if strings.Contains(v, "data ") && strings.Contains(v, " old") {
		t.Errorf("claims old data it never had:\n%s", v)
	}
}

func TestStale(t *testing.T) {
	c := newClock()
	m := newTestModel(t, c, nil)
	feed(m, c, sampleSnap(100, 0))
	m.inflight = true // a poll that hangs
	c.Set(t0.Add(2 * time.Second))
	m.Update(tickMsg{})
	if strings.Contains(m.View(), "STALE") {
		t.Error("stale after two seconds at a 1s interval")
	}
	c.Set(t0.Add(5 * time.Second))
	m.Update(tickMsg{})
	if v := m.View(); !strings.Contains(v, "STALE") || !strings.Contains(v, "data from 5s ago") {
		t.Errorf("hung poll not marked stale:\n%s", v)
	}
}

func TestPause(t *testing.T) {
	c := newClock()
	m := newTestModel(t, c, nil)
	feed(m, c, sampleSnap(100, 0))
	press(m, "p")
	if !m.Paused() || !strings.Contains(m.View(), "PAUSED") {
		t.Fatalf("not paused:\n%s", m.View())
	}
	c.Set(t0.Add(10 * time.Second))
	m.Update(tickMsg{})
	if m.inflight {
		t.Error("polled while paused")
	}
	feed(m, c, sampleSnap(110, 10)) // a poll that was in flight when paused
	if m.Snapshot().UptimeS != 100 {
		t.Error("display changed while paused")
	}
	if cmd := press(m, "p"); cmd == nil || !m.inflight || m.Paused() {
		t.Error("resuming did not poll at once")
	}
}

func TestQuitAndHelp(t *testing.T) {
	c := newClock()
	m := newTestModel(t, c, nil)
	if cmd := press(m, "?"); isQuit(cmd) || !strings.Contains(m.View(), "reverse sort") {
		t.Fatalf("help overlay:\n%s", m.View())
	}
	press(m, "s") // ignored under the overlay
	if m.sortKey != SortParticipants {
		t.Error("key acted under the help overlay")
	}
	press(m, "?")
	if m.showHelp {
		t.Error("? did not close the overlay")
	}
	if !isQuit(press(m, "q")) {
		t.Error("q did not quit")
	}
	if m.ctx.Err() == nil {
		t.Error("quitting left polls running")
	}
	if !isQuit(func() tea.Cmd { _, c := m.Update(tea.KeyMsg{Type: tea.KeyCtrlC}); return c }()) {
		t.Error("ctrl+c did not quit")
	}
}

func TestGoroutineView(t *testing.T) {
	c := newClock()
	g := &fakeGoroutines{sum: sampleGoroutines()}
	m := newTestModel(t, c, g)
	feed(m, c, sampleSnap(1, 0))
	m.Update(tickMsg{})
	if g.calls.Load() != 0 {
		t.Fatal("goroutines fetched while their view is hidden")
	}
	cmd := press(m, "tab")
	if m.CurrentView() != ViewGoroutines || cmd == nil {
		t.Fatalf("tab: view %v, cmd %v", m.CurrentView(), cmd)
	}
	m.Update(cmd()) // the only command due: the goroutine fetch
	if g.calls.Load() != 1 {
		t.Fatalf("%d goroutine fetches, want 1", g.calls.Load())
	}
	v := m.View()
	for _, want := range []string{"57 goroutines", "server.(*conn).readLoop", "chan receive", "every 5s"} {
		if !strings.Contains(v, want) {
			t.Errorf("goroutine view lacks %q:\n%s", want, v)
		}
	}
	if i, j := strings.Index(v, "readLoop"), strings.Index(v, "writeLoop"); i > j {
		t.Error("groups not largest first")
	}

	// Refreshed more slowly than stats: not again one interval later.
	c.Set(t0.Add(2 * time.Second))
	m.inflight = true
	if _, cmd := m.Update(tickMsg{}); g.calls.Load() != 1 || m.grInflight {
		_ = cmd
		t.Error("goroutines refetched before GoroutineInterval")
	}
	c.Set(t0.Add(5 * time.Second))
	m.Update(tickMsg{})
	if !m.grInflight {
		t.Error("goroutines not refetched after GoroutineInterval")
	}

	t.Run("filter matches any frame", func(t *testing.T) {
		press(m, "/", "handleWS", "enter")
		if got := m.VisibleGroups(); len(got) != 1 || got[0].Count != 14 {
			t.Errorf("groups = %+v", got)
		}
	})
	t.Run("fetch error keeps old data", func(t *testing.T) {
		m.Update(goroutinesMsg{err: errFake, end: c.Now()})
		if v := m.View(); !strings.Contains(v, errFake.Error()) || !strings.Contains(v, "showing data from") {
			t.Errorf("view:\n%s", v)
		}
	})
	t.Run("no admin listener", func(t *testing.T) {
		m := newTestModel(t, newClock(), nil)
		press(m, "tab")
		if !strings.Contains(m.View(), "no admin listener") {
			t.Errorf("view:\n%s", m.View())
		}
	})
}

func TestResize(t *testing.T) {
	sizes := []struct{ w, h int }{{80, 24}, {120, 40}, {60, 15}, {200, 60}, {20, 5}}
	for _, sz := range sizes {
		for _, view := range []string{"rooms", "goroutines", "help"} {
			t.Run(fmt.Sprintf("%dx%d/%s", sz.w, sz.h, view), func(t *testing.T) {
				c := newClock()
				m := newTestModel(t, c, &fakeGoroutines{sum: sampleGoroutines()})
				feed(m, c, sampleSnap(1, 0))
				c.Set(t0.Add(time.Second))
				feed(m, c, sampleSnap(2, 1))
				m.Update(goroutinesMsg{sum: sampleGoroutines(), end: c.Now()})
				switch view {
				case "goroutines":
					press(m, "tab")
				case "help":
					press(m, "?")
				}
				m.Update(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
				lines := strings.Split(m.View(), "\n")
				if len(lines) != max(sz.h, 2) {
					t.Errorf("%d lines, want %d", len(lines), sz.h)
				}
				for i, l := range lines {
					if w := lipgloss.Width(l); w > max(sz.w, minWidth) {
						t.Errorf("line %d is %d wide: %q", i, w, l)
					}
				}
				if !strings.Contains(lines[len(lines)-1], "help") && !strings.Contains(lines[len(lines)-1], "sort") && !strings.Contains(lines[len(lines)-1], "goroutines") {
					t.Errorf("footer missing: %q", lines[len(lines)-1])
				}
			})
		}
	}
}

// The rooms table leaves columns out on narrow terminals, media ones
// first, and never the live-room ones (viewers, publishers, chat).
func TestShownRoomCols(t *testing.T) {
	tests := []struct {
		width int
		want  string
	}{
		{120, "PART VIEW PUB SUB TRK MSG/s DLV/s IN OUT"},
		{80, "PART VIEW PUB TRK MSG/s DLV/s IN OUT"},
		{60, "PART VIEW PUB MSG/s DLV/s OUT"},
		{40, "PART VIEW MSG/s DLV/s"},
	}
	for _, tt := range tests {
		var got []string
		for _, c := range shownRoomCols(tt.width, roomCols) {
			got = append(got, c.title)
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("width %d: %s, want %s", tt.width, g, tt.want)
		}
	}
}

// TestLayerMix: a room with simulcast figures shows its viewers per layer,
// lowest layer first and paused ones last, in a LAYERS column that exists
// only while some room has simulcast and goes, after SUB, first on a
// narrow terminal; the one-shot table has it too.
func TestLayerMix(t *testing.T) {
	for _, tt := range []struct {
		sc   *stats.Simulcast
		want string
	}{
		{nil, "-"},
		{&stats.Simulcast{ViewersPerLayer: map[string]int{}}, "-"},
		{&stats.Simulcast{ViewersPerLayer: map[string]int{"f": 1, "q": 3, "h": 2}}, "q3 h2 f1"},
		{&stats.Simulcast{ViewersPerLayer: map[string]int{"2": 4, "0": 1, stats.LayerPaused: 2}}, "01 24 p2"},
		{&stats.Simulcast{ViewersPerLayer: map[string]int{"hi": 1, "x": 5, "l": 2}}, "l2 hi1 x5"},
	} {
		if got := layerMix(tt.sc); got != tt.want {
			t.Errorf("layerMix(%v) = %q, want %q", tt.sc, got, tt.want)
		}
	}

	snap := sampleSnap(1, 0)
	var plain []string
	for _, c := range shownRoomCols(120, allRoomCols(snap.Rooms)) {
		plain = append(plain, c.title)
	}
	snap.Rooms[0].Simulcast = &stats.Simulcast{ViewersPerLayer: map[string]int{"q": 3, "h": 2, "f": 1}}
	for _, tt := range []struct {
		width int
		want  string
	}{
		{140, strings.Join(plain, " ") + " LAYERS"},
		{96, "PART VIEW PUB TRK MSG/s DLV/s IN OUT LAYERS"},
		{84, "PART VIEW PUB TRK MSG/s DLV/s IN OUT"},
	} {
		var got []string
		for _, c := range shownRoomCols(tt.width, allRoomCols(snap.Rooms)) {
			got = append(got, c.title)
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("width %d: %s, want %s", tt.width, g, tt.want)
		}
	}

	c := newClock()
	m := newTestModel(t, c, nil)
	m.Update(tea.WindowSizeMsg{Width: 160, Height: 30})
	feed(m, c, snap)
	if v := m.View(); !strings.Contains(v, "LAYERS") || !strings.Contains(v, "q3 h2 f1") {
		t.Errorf("view lacks the layer mix:\n%s", v)
	}
	var tab bytes.Buffer
	if err := (&OnceReport{Stats: &snap}).WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tab.String(), "LAYERS") || !strings.Contains(tab.String(), "q3 h2 f1") {
		t.Errorf("one-shot table lacks the layer mix:\n%s", tab.String())
	}
}
