package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livectl/livectl/internal/cluster/redistest"
	"github.com/livectl/livectl/internal/signal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sink records what a node delivers (it stands where the signaling
// server does).
type sink struct {
	mu     sync.Mutex
	chat   map[string][]signal.ChatMessage
	events map[string][]string
	counts map[string][2]int
	listed map[string][]signal.Participant
}

func newSink() *sink {
	return &sink{chat: map[string][]signal.ChatMessage{}, events: map[string][]string{}, counts: map[string][2]int{},
		listed: map[string][]signal.Participant{}}
}

func (s *sink) RemoteEvent(room string, frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[room] = append(s.events[room], string(frame))
}

func (s *sink) RemoteChat(room string, m signal.ChatMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chat[room] = append(s.chat[room], m)
}

func (s *sink) RemoteCounts(room string, p, v int, listed []signal.Participant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[room] = [2]int{p, v}
	s.listed[room] = listed
}

// names is the identities of the publishers the other nodes named in room.
func (s *sink) names(room string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, p := range s.listed[room] {
		if !p.Publisher {
			return "a named publisher without publisher:true"
		}
		ids = append(ids, p.Identity)
	}
	return strings.Join(ids, ",")
}

func (s *sink) snapshot(room string) ([]signal.ChatMessage, []string, [2]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]signal.ChatMessage(nil), s.chat[room]...), append([]string(nil), s.events[room]...), s.counts[room]
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// crash stops n's goroutines without a word to the store, as a killed
// process would (its record and leases stay until they expire).
func crash(n *Node) {
	n.cancel()
	n.ps.Close()
	n.wg.Wait()
}

// subscribed waits until n's subscription to room is confirmed: messages
// published before it are not n's to see.
func subscribed(t *testing.T, n *Node, room string) {
	t.Helper()
	n.mu.Lock()
	rs := n.rooms[room]
	n.mu.Unlock()
	select {
	case <-rs.subscribed:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no subscription to %s within 10s", n.ID(), room)
	}
}

func startNode(t *testing.T, rs *redistest.Server, id string, fast bool, mods ...func(*Config)) (*Node, *sink) {
	t.Helper()
	// Generous timings: the tests share two cores with other builds.
	cfg := Config{Redis: rs.URL(), NodeID: id, AdvertiseURL: "http://" + id + ".test:7880", Version: "test", Timeout: 3 * time.Second}
	if fast {
		cfg.Heartbeat, cfg.Expiry = 250*time.Millisecond, 2*time.Second
	}
	for _, m := range mods {
		m(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("starting node %s: %v", id, err)
	}
	t.Cleanup(func() { n.Close() })
	s := newSink()
	n.Attach(s)
	return n, s
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no id", Config{Redis: "redis://127.0.0.1:1/0", AdvertiseURL: "http://a:1"}, "NodeID"},
		{"bad url", Config{Redis: "redis://127.0.0.1:1/0", NodeID: "a", AdvertiseURL: "a:1"}, "AdvertiseURL"},
		{"bad redis", Config{Redis: "http://x", NodeID: "a", AdvertiseURL: "http://a:1"}, "Redis"},
		{"expiry", Config{Redis: "redis://127.0.0.1:1/0", NodeID: "a", AdvertiseURL: "http://a:1", Heartbeat: time.Second, Expiry: time.Second}, "Expiry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("New: %v, want a ConfigError on %s", err, tc.field)
			}
		})
	}
}

func TestUnreachableAtStart(t *testing.T) {
	rs := redistest.Start(t)
	rs.Stop()
	_, err := New(Config{Redis: rs.URL(), NodeID: "a", AdvertiseURL: "http://a:1"})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("New against a stopped Redis: %v, want ErrUnavailable", err)
	}
}

func TestRegistry(t *testing.T) {
	rs := redistest.Start(t)
	a, _ := startNode(t, rs, "a", true)
	b, _ := startNode(t, rs, "b", true)
	ctx := context.Background()
	ids := func() string {
		recs, err := a.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s := ""
		for _, r := range recs {
			s += fmt.Sprintf("%s:%s ", r.ID, r.State)
		}
		return s
	}
	if got := ids(); got != "a:serving b:serving " {
		t.Fatalf("nodes %q", got)
	}
	b.SetState(StateDraining)
	eventually(t, "b draining in its record", func() bool { return ids() == "a:serving b:draining " })

	// A node that stops without a word (its heartbeat ends) is gone at expiry.
	crash(b)
	eventually(t, "b expired", func() bool { return ids() == "a:serving " })
}

func TestDirectory(t *testing.T) {
	rs := redistest.Start(t)
	var publishing atomic.Bool
	publishing.Store(true)
	a, _ := startNode(t, rs, "a", true)
	b, _ := startNode(t, rs, "b", true, func(c *Config) { c.Publishes = func(string) bool { return publishing.Load() } })
	ctx := context.Background()

	if _, err := b.Lookup(ctx, "r"); !errors.Is(err, ErrNoOrigin) {
		t.Fatalf("lookup before any claim: %v, want ErrNoOrigin", err)
	}
	o, err := a.Claim(ctx, "r")
	if err != nil || !o.Self || o.NodeID != "a" {
		t.Fatalf("a claims: %+v %v", o, err)
	}
	o, err = b.Claim(ctx, "r")
	if err != nil || o.Self || o.NodeID != "a" || o.WHIPURL() != "http://a.test:7880/whip/r" {
		t.Fatalf("b claims a's room: %+v %v", o, err)
	}
	// The lease outlives several expiries while a renews it.
	time.Sleep(3 * a.cfg.Expiry)
	if o, err := b.Lookup(ctx, "r"); err != nil || o.NodeID != "a" {
		t.Fatalf("lookup after renewals: %+v %v (a's store errors: %d)", o, err, a.Stats().Errors)
	}
	rooms, err := b.Rooms(ctx)
	if err != nil || len(rooms) != 1 || rooms[0] != (RoomOrigin{Room: "r", Origin: "a"}) {
		t.Fatalf("rooms %+v %v", rooms, err)
	}
	a.Release("r")
	if o, err := b.Claim(ctx, "r"); err != nil || !o.Self {
		t.Fatalf("b claims a released room: %+v %v", o, err)
	}

	// An origin that stops renewing loses the room at expiry.
	if o, err := a.Claim(ctx, "s"); err != nil || !o.Self {
		t.Fatalf("a claims s: %+v %v", o, err)
	}
	crash(a)
	eventually(t, "s claimable after a stopped", func() bool {
		o, err := b.Claim(ctx, "s")
		return err == nil && o.Self
	})

	// A lease whose room has no local publisher any more is let go.
	if o, err := b.Claim(ctx, "p"); err != nil || !o.Self {
		t.Fatalf("b claims p: %+v %v", o, err)
	}
	time.Sleep(2 * b.cfg.Expiry)
	if o, err := b.Lookup(ctx, "p"); err != nil || o.NodeID != "b" {
		t.Fatalf("p while b publishes: %+v %v", o, err)
	}
	publishing.Store(false)
	eventually(t, "p let go", func() bool { _, err := b.Lookup(ctx, "p"); return errors.Is(err, ErrNoOrigin) })

	// A draining node claims nothing new.
	b.SetState(StateDraining)
	if _, err := b.Claim(ctx, "t"); !errors.Is(err, ErrDraining) {
		t.Fatalf("draining claim: %v, want ErrDraining", err)
	}
}

// Chat from two nodes at once reaches both, each message once, in one
// gap-free seq order; each message costs the sender one command.
func TestChatAcrossNodes(t *testing.T) {
	rs := redistest.Start(t)
	a, sa := startNode(t, rs, "a", false)
	b, sb := startNode(t, rs, "b", false)
	a.RoomOpened("r")
	b.RoomOpened("r")
	subscribed(t, a, "r")
	subscribed(t, b, "r")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const per = 50
	before := a.Stats().Commands
	var wg sync.WaitGroup
	for _, n := range []*Node{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if _, err := n.Chat(ctx, "r", signal.ChatMessage{From: n.ID(), Text: fmt.Sprint(i)}); err != nil {
					t.Errorf("%s chat %d: %v", n.ID(), i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if d := a.Stats().Commands - before; d > per+10 { // + heartbeats and counts meanwhile
		t.Errorf("a sent %d commands for %d chat messages", d, per)
	}
	for _, s := range []*sink{sa, sb} {
		eventually(t, "every message delivered", func() bool {
			m, _, _ := s.snapshot("r")
			return len(m) >= 2*per
		})
		msgs, _, _ := s.snapshot("r")
		if len(msgs) != 2*per {
			t.Fatalf("%d messages delivered, want %d", len(msgs), 2*per)
		}
		next := map[string]int{}
		for i, m := range msgs {
			if m.Seq != uint64(i+1) {
				t.Fatalf("message %d has seq %d: not gap-free in order", i, m.Seq)
			}
			if m.Text != fmt.Sprint(next[m.From]) {
				t.Fatalf("from %s: %q, want %d", m.From, m.Text, next[m.From])
			}
			next[m.From]++
		}
	}
}

func TestCountsAndEvents(t *testing.T) {
	rs := redistest.Start(t)
	a, _ := startNode(t, rs, "a", true)
	b, sb := startNode(t, rs, "b", true)
	c, sc := startNode(t, rs, "c", true)
	for _, n := range []*Node{a, b, c} {
		n.RoomOpened("r")
	}
	a.CountsChanged("r", 1, 3, []signal.Participant{{Identity: "alice", SessionID: "s1", Publisher: true}})
	c.CountsChanged("r", 0, 2, nil)
	eventually(t, "b sees a's and c's counts", func() bool { _, _, n := sb.snapshot("r"); return n == [2]int{1, 5} })
	eventually(t, "c sees a's counts", func() bool { _, _, n := sc.snapshot("r"); return n == [2]int{1, 3} })
	eventually(t, "b and c are told a's publisher", func() bool { return sb.names("r") == "alice" && sc.names("r") == "alice" })
	// A second publisher, on c: the others list both, in node order;
	// when a's leaves, only c's.
	c.CountsChanged("r", 1, 2, []signal.Participant{{Identity: "carol", SessionID: "s2", Publisher: true}})
	eventually(t, "b is told both publishers", func() bool { return sb.names("r") == "alice,carol" })
	a.CountsChanged("r", 0, 3, nil)
	eventually(t, "b is told a's publisher left", func() bool { return sb.names("r") == "carol" })

	subscribed(t, b, "r")
	a.Event("r", []byte(`{"type":"participant_joined"}`))
	eventually(t, "b gets a's event", func() bool { _, ev, _ := sb.snapshot("r"); return len(ev) == 1 })

	// a's room closes: its share goes at once; c stops: its share expires.
	a.RoomClosed("r")
	eventually(t, "a's share gone", func() bool { _, _, n := sb.snapshot("r"); return n == [2]int{1, 2} })
	crash(c)
	eventually(t, "c's share expired", func() bool { _, _, n := sb.snapshot("r"); return n == [2]int{0, 0} })
	if got := sb.names("r"); got != "" {
		t.Errorf("publishers named after every other node left: %q", got)
	}

}

func TestRedisDownAndBack(t *testing.T) {
	rs := redistest.Start(t)
	a, sa := startNode(t, rs, "a", true)
	b, _ := startNode(t, rs, "b", true)
	a.RoomOpened("r")
	b.RoomOpened("r")
	subscribed(t, a, "r")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.Chat(ctx, "r", signal.ChatMessage{Text: "before"}); err != nil {
		t.Fatal(err)
	}
	rs.Stop()
	eventually(t, "a not ready", func() bool { return a.Ready() != nil })
	if err := a.Ready(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready: %v, want ErrUnavailable", err)
	}
	if _, err := a.Chat(ctx, "r", signal.ChatMessage{Text: "during"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("chat with Redis down: %v, want ErrUnavailable", err)
	}
	rs.Restart()
	eventually(t, "a ready again", func() bool { return a.Ready() == nil && b.Ready() == nil })
	// The subscriptions come back on their own; chat flows again (the
	// restarted store has no seq: numbering restarts at 1).
	eventually(t, "chat after restart reaches a", func() bool {
		if _, err := b.Chat(ctx, "r", signal.ChatMessage{Text: "after"}); err != nil {
			return false
		}
		m, _, _ := sa.snapshot("r")
		return len(m) > 0 && m[len(m)-1].Text == "after"
	})
}

// A node whose origin is down takes the room over at once (Config.Liveness)
// instead of waiting for the lease to expire; one alive keeps it. Of two
// nodes taking over together one wins. The node that lost a lease sees it
// at its next heartbeat and stops renewing it; a lease the store lost
// (restarted empty) is written again by its holder.
func TestTakeover(t *testing.T) {
	rs := redistest.Start(t)
	ctx := context.Background()
	// up serves a node's /healthz until closed: its process's HTTP.
	up := func() *httptest.Server {
		s := httptest.NewServer(http.NewServeMux())
		t.Cleanup(s.Close)
		return s
	}
	live := func(s *httptest.Server) func(*Config) {
		return func(c *Config) { c.AdvertiseURL, c.Liveness = s.URL, 500*time.Millisecond }
	}
	ha, hb, hc, hd := up(), up(), up(), up()
	a, _ := startNode(t, rs, "a", true, live(ha))
	b, _ := startNode(t, rs, "b", true, live(hb))
	c, _ := startNode(t, rs, "c", true, live(hc))

	for _, tc := range []struct {
		name   string
		down   bool // a's HTTP refuses
		wantBy string
	}{
		{"origin alive keeps the room", false, "a"},
		{"origin refusing loses it", true, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			room := "r-" + tc.wantBy
			if o, err := a.Claim(ctx, room); err != nil || !o.Self {
				t.Fatalf("a claims: %+v %v", o, err)
			}
			if tc.down {
				ha.Close()
				if _, err := b.Lookup(ctx, room); !errors.Is(err, ErrNodeGone) {
					t.Fatalf("lookup of a room whose origin refuses: %v, want ErrNodeGone", err)
				}
			}
			o, err := b.Claim(ctx, room)
			if err != nil || o.NodeID != tc.wantBy || o.Self != (tc.wantBy == "b") {
				t.Fatalf("b claims: %+v %v, want origin %s", o, err, tc.wantBy)
			}
		})
	}
	// An origin whose TLS b does not trust is running all the same.
	ht := httptest.NewTLSServer(http.NewServeMux())
	t.Cleanup(ht.Close)
	e, _ := startNode(t, rs, "e", true, live(ht))
	if o, err := e.Claim(ctx, "tls"); err != nil || !o.Self {
		t.Fatalf("e claims tls: %+v %v", o, err)
	}
	if o, err := b.Claim(ctx, "tls"); err != nil || o.NodeID != "e" {
		t.Fatalf("b claims the room of an origin answering TLS it does not trust: %+v %v, want e's", o, err)
	}
	if st := b.Stats(); st.Takeovers != 1 {
		t.Errorf("b's takeovers: %d, want 1", st.Takeovers)
	}
	// a is still running (a partition, not a crash): its next heartbeat
	// finds the lease taken and lets it go.
	eventually(t, "a notices the takeover", func() bool { s := a.Stats(); return s.LeasesLost == 1 && s.RoomsOwned == 1 })
	if o, err := c.Lookup(ctx, "r-b"); err != nil || o.NodeID != "b" {
		t.Fatalf("after the takeover the directory says %+v %v, want b", o, err)
	}

	// Two nodes take over from the same dead origin at once: one wins.
	d, _ := startNode(t, rs, "d", true, live(hd))
	if o, err := d.Claim(ctx, "s"); err != nil || !o.Self {
		t.Fatalf("d claims s: %+v %v", o, err)
	}
	crash(d)
	hd.Close()
	var wg sync.WaitGroup
	got := make([]Origin, 2)
	for i, n := range []*Node{b, c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := n.Claim(ctx, "s")
			if err != nil {
				t.Errorf("%s claims s: %v", n.ID(), err)
			}
			got[i] = o
		}()
	}
	wg.Wait()
	if got[0].Self == got[1].Self || got[0].NodeID != got[1].NodeID || (got[0].NodeID != "b" && got[0].NodeID != "c") {
		t.Fatalf("two nodes taking over s: %+v and %+v, want one origin both agree on", got[0], got[1])
	}

	// The store restarts empty: the holder writes its lease again.
	rs.Stop()
	rs.Restart()
	eventually(t, "b's lease written again", func() bool { o, err := c.Lookup(ctx, "r-b"); return err == nil && o.NodeID == "b" })
}
