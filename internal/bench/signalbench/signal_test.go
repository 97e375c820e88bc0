package signalbench

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/signal"
)

func TestMain(m *testing.M) {
	if os.Getenv(chatFeedEnv) != "" {
		chatFeed() // the test binary as BenchmarkChatReceive's server
		return
	}
	goleak.VerifyTestMain(m,
		// net/http keeps idle client connections to httptest servers.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// startServer runs livectl's real signaling server on loopback.
func startServer(t *testing.T, cfg server.Config) (wsURL, statsURL string, s *server.Server) {
	t.Helper()
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws", hs.URL + "/v1/stats", s
}

func TestSignalAgainstServer(t *testing.T) {
	wsURL, statsURL, _ := startServer(t, server.Config{})
	rep := runSignal(t, Options{
		URL: wsURL, Conns: 200, Rate: 2000, Duration: 500 * time.Millisecond,
		PingInterval: 100 * time.Millisecond, Rooms: 7, StatsURL: statsURL,
	})
	c := rep.Connections
	if c.Attempted != 200 || c.Established != 200 || c.Failed != 0 || c.PeakOpen != 200 || c.Dropped != 0 {
		t.Errorf("connections %+v, want 200 established", c)
	}
	if n := rep.ErrorCount(); n != 0 {
		t.Errorf("errors %v (%v)", rep.Errors, rep.ErrorDetail)
	}
	for _, name := range []string{LatConnect, LatConnectRaw, LatJoin, LatSetup} {
		if got := rep.Latency[name].Count; got != 200 {
			t.Errorf("%s count %d, want 200", name, got)
		}
	}
	// 500ms hold at 100ms: about 5 pings per session, at least 3 each.
	if got := rep.Latency[LatRTT].Count; got < 600 {
		t.Errorf("rtt count %d, want ≥600", got)
	}
	if rep.Latency[LatRTT].P50 <= 0 || rep.Latency[LatRTT].P50 > rep.Latency[LatRTT].Max {
		t.Errorf("rtt summary %+v", rep.Latency[LatRTT])
	}
	// The connect latency from the schedule is never below the raw one.
	if rep.Latency[LatConnect].P50 < rep.Latency[LatConnectRaw].P50 {
		t.Errorf("connect p50 %v < raw %v", rep.Latency[LatConnect].P50, rep.Latency[LatConnectRaw].P50)
	}
	if rep.Server == nil || rep.Server.Sessions != 200 {
		t.Errorf("server cost %+v, want measured over 200 sessions", rep.Server)
	}
	if rep.Rate.Messages < 200*5 {
		t.Errorf("messages %d", rep.Rate.Messages)
	}
	if rep.Settings.Rooms != 7 {
		t.Errorf("rooms %d", rep.Settings.Rooms)
	}
}

func TestSignalCountsErrorsByKind(t *testing.T) {
	// A port nobody listens on: every attempt is refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	// A server that refuses every upgrade with 503.
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer busy.Close()

	// A server that upgrades and closes at once with 1013.
	up := websocket.Upgrader{}
	closer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1013, "full"))
		c.Close()
	}))
	defer closer.Close()

	tests := []struct {
		name, url, kind, detail string
	}{
		{"refused", "ws://" + addr + "/ws", KindRefused, ""},
		{"upgrade status", "ws" + strings.TrimPrefix(busy.URL, "http") + "/ws", KindUpgradeStatus, "upgrade_status:503"},
		{"closed by server", "ws" + strings.TrimPrefix(closer.URL, "http") + "/ws", KindClosedByServer, "closed_by_server:1013"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := runSignal(t, Options{URL: tt.url, Conns: 20, Rate: 1000, ConnectTimeout: 2 * time.Second})
			if rep.Connections.Failed != 20 || rep.Errors[tt.kind] != 20 {
				t.Errorf("failed %d, errors %v; want 20 %s", rep.Connections.Failed, rep.Errors, tt.kind)
			}
			if tt.detail != "" && rep.ErrorDetail[tt.detail] != 20 {
				t.Errorf("detail %v, want %s ×20", rep.ErrorDetail, tt.detail)
			}
		})
	}
}

func TestSignalRoomFullIsProtocolError(t *testing.T) {
	wsURL, _, _ := startServer(t, server.Config{Limits: server.Limits{MaxParticipants: 5}})
	rep := runSignal(t, Options{URL: wsURL, Conns: 12, Rate: 1000, Rooms: 1})
	if rep.Connections.Established != 5 || rep.Errors[KindProtocol] != 7 || rep.ErrorDetail["protocol_error:room_full"] != 7 {
		t.Errorf("established %d errors %v detail %v; want 5 in, 7 room_full", rep.Connections.Established, rep.Errors, rep.ErrorDetail)
	}
}

func TestSignalOpenModelKeepsSchedule(t *testing.T) {
	// The server takes 200ms to answer each upgrade. A closed model would
	// need 20×200ms; the open model starts all 20 within 100ms at 200/s and
	// charges the waiting to connect latency.
	slow := sinkServer(t, func(*http.Request) { time.Sleep(200 * time.Millisecond) })
	run, err := NewRun(Options{URL: "ws" + strings.TrimPrefix(slow.URL, "http"), Conns: 20, Rate: 200, Protocol: ProtocolRaw})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rep, err := run.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("run took %s: attempts waited for each other", el)
	}
	if rep.Connections.Established != 20 {
		t.Fatalf("established %d", rep.Connections.Established)
	}
	if p50 := rep.Latency[LatConnect].P50; p50 < 190 {
		t.Errorf("connect p50 %vms, want ≥190 (the server's delay)", p50)
	}
}

func TestSignalInterruptEndsEarlyWithReport(t *testing.T) {
	wsURL, _, _ := startServer(t, server.Config{})
	run, err := NewRun(Options{URL: wsURL, Conns: 50, Rate: 1000, Duration: time.Minute, PingInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(400*time.Millisecond, cancel)
	start := time.Now()
	rep, err := run.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("interrupted run took %s", el)
	}
	if !rep.Interrupted || rep.Connections.Established != 50 || rep.Connections.Dropped != 0 {
		t.Errorf("interrupted %v connections %+v errors %v", rep.Interrupted, rep.Connections, rep.Errors)
	}
	if rep.Latency[LatRTT].Count == 0 {
		t.Error("no rtt recorded before the interrupt")
	}
}

// fakeServer speaks just enough of livectl's protocol for a session to
// connect, join and ping; onJoined runs after the joined reply and leave
// decides how a leave is answered.
func fakeServer(t *testing.T, onJoined func(*websocket.Conn), answerLeave bool) string {
	t.Helper()
	up := websocket.Upgrader{Subprotocols: []string{signal.Subprotocol}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		send := func(m *signal.Message) error {
			b, _ := signal.Encode(m)
			return c.WriteMessage(websocket.TextMessage, b)
		}
		if send(&signal.Message{Type: signal.TypeWelcome, Protocol: signal.Version, SessionID: "s"}) != nil {
			return
		}
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			m, err := signal.Decode(b)
			if err != nil {
				return
			}
			switch m.Type {
			case signal.TypeJoin:
				if send(&signal.Message{Type: signal.TypeJoined, ID: m.ID, Room: m.Room, Identity: m.Identity}) != nil {
					return
				}
				if onJoined != nil {
					onJoined(c)
				}
			case signal.TypePing:
				if send(&signal.Message{Type: signal.TypePong, ID: m.ID, ClientTime: m.ClientTime}) != nil {
					return
				}
			case signal.TypeLeave:
				if answerLeave {
					send(&signal.Message{Type: signal.TypeLeft, ID: m.ID})
				}
			}
		}
	}))
	t.Cleanup(hs.Close)
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
}

// TestLeaveFailureIsNotADrop checks that a session still open at the leave
// phase whose leave times out is counted as a leave failure (and a timeout),
// not as dropped, which is kept for sessions lost before the leave phase.
func TestLeaveFailureIsNotADrop(t *testing.T) {
	hangUp := func(c *websocket.Conn) {
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"))
		c.Close()
	}
	tests := []struct {
		name                 string
		onJoined             func(*websocket.Conn)
		answerLeave          bool
		dropped, leaveFailed int64
		kind                 string
	}{
		{"leave answered", nil, true, 0, 0, ""},
		{"leave times out", nil, false, 0, 5, KindTimeout},
		{"closed before the leave phase", hangUp, true, 5, 0, KindClosedByServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := fakeServer(t, tt.onJoined, tt.answerLeave)
			rep := runSignal(t, Options{URL: url, Conns: 5, Rate: 1000, Duration: 100 * time.Millisecond,
				PingInterval: 20 * time.Millisecond, RequestTimeout: 200 * time.Millisecond})
			c := rep.Connections
			if c.Established != 5 || c.Dropped != tt.dropped || c.LeaveFailed != tt.leaveFailed {
				t.Errorf("connections %+v, want 5 established, %d dropped, %d leave failed (errors %v)",
					c, tt.dropped, tt.leaveFailed, rep.Errors)
			}
			if want := tt.dropped + tt.leaveFailed; rep.ErrorCount() != want || (tt.kind != "" && rep.Errors[tt.kind] != want) {
				t.Errorf("errors %v, want %d %s", rep.Errors, want, tt.kind)
			}
		})
	}
}

// echoConn answers every ping at once, in the sending goroutine: the round
// trip it leaves is the generator's own part of rtt.
type echoConn struct{ s *session }

func (c *echoConn) ping(sched int64) error          { c.s.pong(sched); return nil }
func (c *echoConn) err() error                      { return nil }
func (c *echoConn) leave(ctx context.Context) error { return nil }

// TestRTTExcludesTickQuantization checks that rtt is not inflated by the
// shard's tick: pings due between ticks leave on the next one, and timing
// them from their due time added up to a tick (2.5 ms on average) to every
// round trip, even against a server that answers at once.
func TestRTTExcludesTickQuantization(t *testing.T) {
	run, err := NewRun(Options{URL: "ws://127.0.0.1:1/ws", Conns: 1, Rate: 1,
		PingInterval: 20 * time.Millisecond, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	run.epoch = time.Now()
	sh := &shard{r: run}
	for i := range 50 {
		s := &session{r: run, idx: i}
		s.c = &echoConn{s: s}
		sh.add(s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	sh.loop(ctx)
	rtt := run.hist[LatRTT].Summary()
	if rtt.Count < 500 {
		t.Fatalf("rtt count %d, want ≥500", rtt.Count)
	}
	// A wake-up of the shard costs tens of microseconds; the tick's
	// quantization alone put the old median near 2.5 ms.
	if rtt.P50 > 1 {
		t.Errorf("rtt p50 %.3fms against an instant echo, want ≤1ms (rtt_raw p50 %.3fms)", rtt.P50, run.hist[LatRTTRaw].Summary().P50)
	}
}

func TestOnTick(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name            string
		due, start, now time.Duration
		want            time.Duration
	}{
		{"on a tick", 10 * ms, 0, 20 * ms, 10 * ms},
		{"between ticks: the next one", 11 * ms, 0, 20 * ms, 15 * ms},
		{"grid from the shard's start", 11 * ms, 3 * ms, 20 * ms, 13 * ms},
		{"never after it is sent", 11 * ms, 0, 12 * ms, 12 * ms},
		{"before the start", 1 * ms, 3 * ms, 4 * ms, 1 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := onTick(tt.due, tt.start, tt.now); got != tt.want {
				t.Errorf("onTick(%v, %v, %v) = %v, want %v", tt.due, tt.start, tt.now, got, tt.want)
			}
		})
	}
}

// runSignal runs a signaling load with o and returns its report.
func runSignal(t *testing.T, o Options) *Report {
	t.Helper()
	run, err := NewRun(o)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := run.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestSignalInterruptedAttemptsCountAsInterrupted: attempts in flight when
// the run is stopped, against a server that accepts and never answers, end
// by their connect timeout after the stop; they count as interrupted, not
// as the server's timeouts.
func TestSignalInterruptedAttemptsCountAsInterrupted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	run, err := NewRun(Options{URL: "ws://" + ln.Addr().String() + "/ws", Conns: 3, Rate: 1000,
		ConnectTimeout: 700 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	rep, err := run.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Interrupted || rep.Errors[KindInterrupted] != 3 || rep.Errors[KindTimeout] != 0 {
		t.Errorf("interrupted %v errors %v: want 3 interrupted, no timeout", rep.Interrupted, rep.Errors)
	}
}
