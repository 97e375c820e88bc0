package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/signal"
)

// liveView is what one member of a large room learned from its events.
type liveView struct {
	mu        sync.Mutex
	self      string
	joins     int                  // participant_joined events
	viewerOut int                  // participant_left of viewers
	pubEvents []string             // "updated:<id>", "left:<id>" for publishers, in order
	updates   int                  // room_update events
	pubs, vws int                  // the counts last received
	pubsKnown int                  // publishers' updated events minus their left events, at least 0
	stale     []string             // room_updates with fewer publishers than events had announced
	chat      []signal.ChatMessage // chat messages in arrival order
	other     []string
}

func (v *liveView) onEvent(m *signal.Message) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch m.Type {
	case signal.TypeParticipantJoined:
		v.joins++
	case signal.TypeParticipantLeft:
		if m.Participant.Publisher {
			v.pubsKnown = max(0, v.pubsKnown-1)
			v.pubEvents = append(v.pubEvents, "left:"+m.Participant.SessionID)
		} else {
			v.viewerOut++
		}
	case signal.TypeParticipantUpdated:
		v.pubsKnown++
		v.pubEvents = append(v.pubEvents, "updated:"+m.Participant.SessionID)
	case signal.TypeRoomUpdate:
		// Counts are never older than an event queued before them.
		if m.Publishers < v.pubsKnown {
			v.stale = append(v.stale, fmt.Sprintf("room_update with %d publishers after events announcing %d", m.Publishers, v.pubsKnown))
		}
		v.updates++
		v.pubs, v.vws = m.Publishers, m.Viewers
	case signal.TypeChat:
		v.chat = append(v.chat, m.Messages...)
	case signal.TypeTrackPublished, signal.TypeChatOK: // fakeMedia's, and chat_ok of SendChat
	default:
		v.other = append(v.other, m.Type)
	}
}

func (v *liveView) counts() (int, int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.pubs, v.vws
}

// joinLive dials n clients into room with bounded parallelism.
func joinLive(t *testing.T, url, room string, n int, prefix string) ([]*signal.Client, []*liveView, []*signal.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clients := make([]*signal.Client, n)
	views := make([]*liveView, n)
	joined := make([]*signal.Message, n)
	g := newGroup(32)
	for i := range n {
		v := &liveView{}
		views[i] = v
		g.Go(func() error {
			c, err := signal.Dial(ctx, url, &signal.DialOptions{OnEvent: v.onEvent})
			if err != nil {
				return err
			}
			clients[i] = c
			v.self = c.SessionID()
			joined[i], err = c.Join(ctx, room, fmt.Sprintf("%s-%d", prefix, i), "")
			return err
		})
	}
	err := g.Wait()
	t.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return clients, views, joined
}

// TestLargeRoom2000: a room of 2,000. joined replies list at most the
// limit, publishers first, with the room's counts; viewers' joins and
// leaves above the threshold reach members only as room_update counts,
// which converge to the truth within an update interval after churn;
// publishers' events reach every member exactly once, in order.
func TestLargeRoom2000(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 sessions")
	}
	const n, threshold, limit, interval = 2000, 100, 100, 200 * time.Millisecond
	ts := newTestServer(t, Config{MediaPlane: &fakeMedia{},
		Limits: Limits{MaxConns: 5000, RequestRate: math.Inf(1)},
		Rooms:  RoomsConfig{EventThreshold: threshold, ListLimit: limit, UpdateInterval: interval}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	pubEvents := &liveView{}
	pub := dial(t, ts.wsURL, &signal.DialOptions{OnEvent: pubEvents.onEvent})
	if _, err := pub.Join(ctx, "live", "streamer", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, "v=0"); err != nil {
		t.Fatal(err)
	}

	clients, views, joined := joinLive(t, ts.wsURL, "live", n-1, "viewer")
	for i, j := range joined {
		if len(j.Participants) == 0 {
			t.Fatalf("joined %d lists nobody", i)
		}
		if len(j.Participants) > limit || !j.Participants[0].Publisher ||
			j.Participants[0].SessionID != pub.SessionID() {
			t.Fatalf("joined %d lists %d participants, first %+v; want at most %d, the publisher first", i, len(j.Participants), j.Participants[0], limit)
		}
		if j.Publishers != 1 || j.Viewers < 1 || j.Viewers > n-1 {
			t.Fatalf("joined %d counts: %d publishers, %d viewers", i, j.Publishers, j.Viewers)
		}
	}
	converged := func(pubs, viewers int, views []*liveView) {
		t.Helper()
		waitCounts(t, views, pubs, viewers, interval)
	}
	converged(1, n-1, views)

	// A second publisher, then churn: 300 viewers leave, 100 join.
	second := clients[n-2]
	if _, err := second.Publish(ctx, "v=0"); err != nil {
		t.Fatal(err)
	}
	g := newGroup(32)
	for _, c := range clients[:300] {
		g.Go(func() error { return c.Leave(ctx) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	_, more, _ := joinLive(t, ts.wsURL, "live", 100, "late")
	stay := append(append([]*liveView{}, views[300:]...), more...)
	converged(2, n-2-300+100, stay)

	// The publishers leave: every remaining member sees exactly the
	// publishers' events, in order.
	if err := second.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"updated:" + second.SessionID(), "left:" + second.SessionID(), "left:" + pub.SessionID()}
	waitFor(t, func() bool {
		for _, v := range views[300 : n-2] {
			v.mu.Lock()
			k := len(v.pubEvents)
			v.mu.Unlock()
			if k < len(want) {
				return false
			}
		}
		return true
	})
	for i, v := range views[300 : n-2] {
		v.mu.Lock()
		if strings.Join(v.pubEvents, " ") != strings.Join(want, " ") {
			t.Errorf("member %d saw publisher events %v, want %v", i, v.pubEvents, want)
		}
		// Viewers' joins were announced one by one only while the room was
		// at most threshold members; leaves of viewers, never (above it).
		if v.joins > threshold || v.viewerOut > 0 || len(v.other) > 0 || len(v.stale) > 0 {
			t.Errorf("member %d: %d joins, %d viewer leaves, other %v, stale counts %v", i, v.joins, v.viewerOut, v.other, v.stale)
		}
		v.mu.Unlock()
	}
	for i, v := range more {
		v.mu.Lock()
		if v.pubEvents[0] != want[1] {
			t.Errorf("late member %d: publisher events %v", i, v.pubEvents)
		}
		v.mu.Unlock()
	}
	converged(0, n-2-300+100, stay[:len(stay)-101]) // views[300:n-2] and the late ones
	st := ts.Stats()                                // fakeMedia adds rooms "r" and "whip-only"
	if st.Rooms[0].Name != "live" || st.Rooms[0].Publishers != 0 || st.Rooms[0].Viewers != n-2-300+100 {
		t.Fatalf("stats rooms = %+v", st.Rooms)
	}
}

// TestChatExactlyOnce: at a moderate rate every member gets every message
// exactly once, in seq order, from 1 without holes; chat_ok's seqs are the
// same; a member joining later gets the history with joined.
func TestChatExactlyOnce(t *testing.T) {
	const members, senders, each = 30, 5, 20
	ts := newTestServer(t, Config{Rooms: RoomsConfig{ChatRate: math.Inf(1), ChatHistory: 7},
		Limits: Limits{RequestRate: math.Inf(1)}})
	clients, views, _ := joinLive(t, ts.wsURL, "chat", members, "m")
	ctx := ctxT(t)
	var mu sync.Mutex
	okSeqs := map[uint64]string{}
	g := newGroup(senders)
	for s := range senders {
		g.Go(func() error {
			for k := range each {
				text := fmt.Sprintf("m-%d says %d", s, k)
				seq, err := clients[s].Chat(ctx, text, time.Now().UnixMilli())
				if err != nil {
					return err
				}
				mu.Lock()
				okSeqs[seq] = text
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	const total = senders * each
	if len(okSeqs) != total {
		t.Fatalf("%d distinct seqs in chat_ok, want %d", len(okSeqs), total)
	}
	waitFor(t, func() bool {
		for _, v := range views {
			v.mu.Lock()
			k := len(v.chat)
			v.mu.Unlock()
			if k < total {
				return false
			}
		}
		return true
	})
	time.Sleep(100 * time.Millisecond) // let a duplicate arrive
	for i, v := range views {
		v.mu.Lock()
		if len(v.chat) != total {
			t.Errorf("member %d got %d messages, want %d", i, len(v.chat), total)
		}
		for k, m := range v.chat {
			if m.Seq != uint64(k+1) || okSeqs[m.Seq] != m.Text || m.ServerTime == 0 || m.ClientTime == 0 ||
				!strings.HasPrefix(m.From, "m-") {
				t.Errorf("member %d message %d = %+v (sent as %q)", i, k, m, okSeqs[m.Seq])
				break
			}
		}
		v.mu.Unlock()
	}
	late := dial(t, ts.wsURL, nil)
	j, err := late.Join(ctx, "chat", "late", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(j.Messages) != 7 || j.Messages[0].Seq != total-6 || j.Messages[6].Seq != total {
		t.Fatalf("history with joined: %+v", j.Messages)
	}
	st := ts.Stats()
	if ts.counters.chatIn.Load() != total || ts.counters.chatDeliveries.Load() != total*members || len(st.Rooms) != 1 {
		t.Fatalf("counters: in %d, deliveries %d", ts.counters.chatIn.Load(), ts.counters.chatDeliveries.Load())
	}
}

// TestChatSlowConsumer: a member that stops reading while the chat flows
// loses chat messages (counted, visible as a seq gap) and keeps its
// membership: it is not disconnected and still gets membership events.
func TestChatSlowConsumer(t *testing.T) {
	ts := newTestServer(t, Config{Limits: Limits{SendQueue: 4, RequestRate: math.Inf(1)},
		Rooms: RoomsConfig{ChatRate: math.Inf(1), RoomChatRate: math.Inf(1), ChatBatch: -1, ChatMaxBytes: 4096}})
	ctx := ctxT(t)

	// The slow member: a raw client with a small receive buffer.
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	conn, _, err := d.Dial(ts.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	slow := &rawConn{t: t, conn: conn}
	welcome := slow.read()
	slow.write(websocket.TextMessage, []byte(`{"type":"join","id":"1","room":"r","identity":"slow"}`))
	if m := slow.read(); m.Type != signal.TypeJoined {
		t.Fatalf("join: %+v", m)
	}
	for _, sess := range ts.snapshotSessions() {
		if sess.id == welcome.SessionID {
			sess.conn.NetConn().(*batchConn).Conn.(*net.TCPConn).SetWriteBuffer(4096)
		}
	}

	sender := dial(t, ts.wsURL, nil)
	if _, err := sender.Join(ctx, "r", "sender", ""); err != nil {
		t.Fatal(err)
	}
	const sent = 400
	text := strings.Repeat("x", 4000)
	for range sent {
		if _, err := sender.Chat(ctx, text, 0); err != nil {
			t.Fatal(err)
		}
	}
	if ts.counters.chatDropped.Load() == 0 {
		t.Fatal("no chat dropped for a member that did not read 1.6 MB")
	}
	// A membership event after the drops still reaches the slow member.
	other := dial(t, ts.wsURL, nil)
	if _, err := other.Join(ctx, "r", "other", ""); err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for {
		m := slow.read()
		if m.Type == signal.TypeParticipantJoined && m.Participant.Identity == "sender" {
			continue // joined after the slow member, before the chat
		}
		if m.Type == signal.TypeParticipantJoined {
			if m.Participant.Identity != "other" {
				t.Fatalf("joined event: %+v", m.Participant)
			}
			break
		}
		if m.Type != signal.TypeChat && m.Type != signal.TypeParticipantJoined {
			t.Fatalf("slow member got %+v", m)
		}
		for _, cm := range m.Messages {
			seqs = append(seqs, cm.Seq)
		}
	}
	// Chat queued with the event comes after it (must-deliver frames go
	// first); the next event comes after all of it.
	if err := other.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		m := slow.read()
		if m.Type == signal.TypeParticipantLeft {
			break
		}
		if m.Type != signal.TypeChat {
			t.Fatalf("slow member got %+v", m)
		}
		for _, cm := range m.Messages {
			seqs = append(seqs, cm.Seq)
		}
	}
	// Caught up: the next message arrives, after the gap.
	if _, err := sender.Chat(ctx, "after", 0); err != nil {
		t.Fatal(err)
	}
	for len(seqs) == 0 || seqs[len(seqs)-1] != sent+1 {
		m := slow.read()
		if m.Type != signal.TypeChat {
			t.Fatalf("slow member got %+v", m)
		}
		for _, cm := range m.Messages {
			seqs = append(seqs, cm.Seq)
		}
	}
	gap := false
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("seq out of order: %v", seqs)
		}
		gap = gap || seqs[i] > seqs[i-1]+1
	}
	if !gap || len(seqs) >= sent {
		t.Fatalf("slow member got %d of %d messages, gap %v", len(seqs), sent+1, gap)
	}
	var dropped uint64
	for _, sess := range ts.snapshotSessions() {
		if sess.id == welcome.SessionID {
			sess.mu.Lock()
			dropped = sess.chatDropped
			sess.mu.Unlock()
		}
	}
	t.Logf("slow member got %d of %d messages, %d counted dropped", len(seqs), sent+1, dropped)
	if dropped != uint64(sent+1-len(seqs)) || ts.counters.dropped[dropSlow].Load() != 0 {
		t.Fatalf("session counted %d dropped, missed %d; slow-consumer drops %d", dropped, sent+1-len(seqs), ts.counters.dropped[dropSlow].Load())
	}
	// Still a member.
	slow.write(websocket.TextMessage, []byte(`{"type":"ping","id":"p"}`))
	for {
		m := slow.read()
		if m.Type == signal.TypePong {
			break
		}
	}
	if st := ts.Stats(); st.Participants != 2 {
		t.Fatalf("%d participants, want 2", st.Participants)
	}
}

// TestChatRateLimits: over the sender's limit, and over the room's, a
// message is refused with rate_limited, counted, and not sent.
func TestChatRateLimits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rooms    RoomsConfig
		senders  int
		accepted int // at most, of 15 per sender sent at once
		reason   chatRefusal
	}{
		{"sender", RoomsConfig{}, 1, DefaultChatBurst, chatRefusedSender},
		{"room", RoomsConfig{ChatRate: math.Inf(1), RoomChatRate: 12}, 3, 12, chatRefusedRoom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Config{Rooms: tc.rooms, Limits: Limits{RequestRate: math.Inf(1)}})
			clients, _, _ := joinLive(t, ts.wsURL, "r", tc.senders, "s")
			ctx := ctxT(t)
			accepted, refused := 0, 0
			for range 15 {
				for _, c := range clients {
					_, err := c.Chat(ctx, "hi", 0)
					switch {
					case err == nil:
						accepted++
					case errors.Is(err, &signal.Error{Code: signal.CodeRateLimited}):
						refused++
					default:
						t.Fatal(err)
					}
				}
			}
			// A token or two may come back while the test runs.
			if accepted < tc.accepted || accepted > tc.accepted+2 || accepted+refused != 15*tc.senders {
				t.Fatalf("%d accepted, %d refused; want about %d accepted", accepted, refused, tc.accepted)
			}
			if n := ts.counters.chatRefused[tc.reason].Load(); n != uint64(refused) || ts.counters.chatIn.Load() != uint64(accepted) {
				t.Fatalf("counted %d refused (%s), %d in", n, chatRefusalNames[tc.reason], ts.counters.chatIn.Load())
			}
		})
	}
}

// TestChatBadInput: malformed chat requests get an error with a code and
// the connection stays.
func TestChatBadInput(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	ts := newTestServer(t, Config{AuthSecret: secret, Rooms: RoomsConfig{ChatMaxBytes: 16}})
	token := func(id string, chat bool) string {
		tok, err := auth.Mint(secret, auth.Grant{Room: "r", Identity: id, Chat: chat}, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	joined := dialRaw(t, ts.wsURL, nil)
	joined.write(websocket.TextMessage, []byte(`{"type":"join","id":"j","room":"r","identity":"a","token":"`+token("a", true)+`"}`))
	if m := joined.read(); m.Type != signal.TypeJoined {
		t.Fatalf("join: %+v", m)
	}
	mute := dialRaw(t, ts.wsURL, nil)
	mute.write(websocket.TextMessage, []byte(`{"type":"join","id":"j","room":"r","identity":"b","token":"`+token("b", false)+`"}`))
	if m := mute.read(); m.Type != signal.TypeJoined {
		t.Fatalf("join: %+v", m)
	}
	if m := joined.read(); m.Type != signal.TypeParticipantJoined {
		t.Fatalf("event: %+v", m)
	}
	fresh := dialRaw(t, ts.wsURL, nil)
	for _, tc := range []struct {
		name, frame string
		conn        *rawConn
		code        string
	}{
		{"empty", `{"type":"chat","id":"1","text":""}`, joined, signal.CodeBadMessage},
		{"no text", `{"type":"chat","id":"1"}`, joined, signal.CodeBadMessage},
		{"over chat-max-bytes", `{"type":"chat","id":"1","text":"12345678901234567"}`, joined, signal.CodeBadMessage},
		{"over the protocol's limit", `{"type":"chat","id":"1","text":"` + strings.Repeat("x", signal.MaxChatLen+1) + `"}`, joined, signal.CodeBadMessage},
		{"control character", `{"type":"chat","id":"1","text":"a\u0007b"}`, joined, signal.CodeBadMessage},
		{"newline", `{"type":"chat","id":"1","text":"a\nb"}`, joined, signal.CodeBadMessage},
		{"invalid UTF-8", "{\"type\":\"chat\",\"id\":\"1\",\"text\":\"\xff\"}", joined, signal.CodeBadMessage},
		{"text a number", `{"type":"chat","id":"1","text":5}`, joined, signal.CodeBadMessage},
		{"client_time a string", `{"type":"chat","id":"1","text":"hi","client_time":"now"}`, joined, signal.CodeBadMessage},
		{"chat_ok from a client", `{"type":"chat_ok","id":"1","seq":1}`, joined, signal.CodeUnknownType},
		{"room_update from a client", `{"type":"room_update","id":"1","room":"r","participants":1}`, joined, signal.CodeUnknownType},
		{"chat before join", `{"type":"chat","id":"1","text":"hi"}`, fresh, signal.CodeNotJoined},
		{"no chat grant", `{"type":"chat","id":"1","text":"hi"}`, mute, signal.CodeForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.conn.write(websocket.TextMessage, []byte(tc.frame))
			m := tc.conn.read()
			if m.Type != signal.TypeError || m.Code != tc.code || m.ID != "1" {
				t.Fatalf("reply %+v, want error %s", m, tc.code)
			}
		})
	}
	// Still open, and nothing was accepted.
	joined.write(websocket.TextMessage, []byte(`{"type":"chat","id":"ok","text":"fine"}`))
	if m := joined.read(); m.Type != signal.TypeChatOK || m.Seq != 1 {
		t.Fatalf("valid chat after the bad ones: %+v", m)
	}
}

// TestChatNoHistory: with history off (--chat-history 0), joined carries
// no messages; seq still counts.
func TestChatNoHistory(t *testing.T) {
	ts := newTestServer(t, Config{Rooms: RoomsConfig{ChatHistory: -1, ChatBatch: -1}})
	ctx := ctxT(t)
	a := dial(t, ts.wsURL, nil)
	if _, err := a.Join(ctx, "r", "a", ""); err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 3; want++ {
		if seq, err := a.Chat(ctx, "hi", 0); err != nil || seq != want {
			t.Fatalf("chat: seq %d, %v; want %d", seq, err, want)
		}
	}
	b := dial(t, ts.wsURL, nil)
	j, err := b.Join(ctx, "r", "b", "")
	if err != nil || len(j.Messages) != 0 {
		t.Fatalf("joined %+v, %v: want no history", j, err)
	}
}

// TestRoomUpdatePaced: a large room's room_update goes out in steps with
// the room unlocked in between. Publishers arriving and viewers joining
// during those steps must neither make a member see counts older than an
// event it already got nor leave any member with stale counts.
func TestRoomUpdatePaced(t *testing.T) {
	if testing.Short() {
		t.Skip("700 sessions")
	}
	const n, interval = 600, 100 * time.Millisecond
	ts := newTestServer(t, Config{MediaPlane: &fakeMedia{},
		Limits: Limits{MaxConns: 2000, RequestRate: math.Inf(1)},
		Rooms:  RoomsConfig{EventThreshold: 100, ListLimit: 10, UpdateInterval: interval}})
	ts.reg.pace = 15 * time.Millisecond // 3 steps of 250: each update takes 30 ms
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	clients, views, _ := joinLive(t, ts.wsURL, "live", n, "viewer")
	const rounds = 8
	for i := range rounds {
		_, more, _ := joinLive(t, ts.wsURL, "live", 10, fmt.Sprintf("late%d", i))
		views = append(views, more...)
		if _, err := clients[i].Publish(ctx, "v=0"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i) * 7 * time.Millisecond) // land at different points of a step
	}
	waitCounts(t, views, rounds, n+10*rounds-rounds, interval)
	for i, v := range views {
		v.mu.Lock()
		if len(v.stale) > 0 {
			t.Errorf("member %d: %v", i, v.stale)
		}
		v.mu.Unlock()
	}
}

// waitCounts waits until every view's last counts are pubs and viewers:
// within one update interval, and the machine's slack.
func waitCounts(t *testing.T, views []*liveView, pubs, viewers int, interval time.Duration) {
	t.Helper()
	deadline := time.Now().Add(interval + 2*time.Second)
	for i, v := range views {
		for {
			p, vw := v.counts()
			if p == pubs && vw == viewers {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("member %d: counts %d/%d, want %d publishers %d viewers", i, p, vw, pubs, viewers)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
