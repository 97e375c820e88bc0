package signalbench

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livectl/livectl/internal/metrics/hist"
	"github.com/livectl/livectl/internal/metrics/threshold"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/signal"
)

func scan(frame string) []chatSeen {
	out, ok := scanChat([]byte(frame), nil)
	if !ok {
		return nil
	}
	return out
}

func TestScanChatReadsWhatDecodingReads(t *testing.T) {
	tests := []struct {
		name string
		msgs []signal.ChatMessage
	}{
		{"one", []signal.ChatMessage{{Seq: 1, From: "a", Text: "hi", ClientTime: 1700000000123, ServerTime: 1700000000125}}},
		{"batch, one without client_time", []signal.ChatMessage{
			{Seq: 41, From: "v17", Text: "hi", ClientTime: 1700000000100, ServerTime: 1700000000104},
			{Seq: 42, From: "v9", Text: "yo", ServerTime: 1700000000120},
			{Seq: 43, From: "v3", Text: "x", ClientTime: 5, ServerTime: 6}}},
		// A sender cannot forge the keys: quotes in text are escaped.
		{"forged keys in text", []signal.ChatMessage{
			{Seq: 7, From: `"seq":9`, Text: `"seq":99,"client_time":1 \"seq\":3 \`, ServerTime: 1},
			{Seq: 8, From: "b", Text: `"client_time":42`, ClientTime: 11, ServerTime: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame, err := signal.Encode(&signal.Message{Type: signal.TypeChat, Room: "r", Messages: tt.msgs})
			if err != nil {
				t.Fatal(err)
			}
			var want []chatSeen
			for _, m := range tt.msgs {
				want = append(want, chatSeen{m.Seq, m.ClientTime})
			}
			if got := scan(string(frame)); !reflect.DeepEqual(got, want) {
				t.Errorf("scan of %s = %v, want %v", frame, got, want)
			}
		})
	}
	const m1 = `{"seq":1,"from":"a","text":"b","client_time":5,"server_time":6}`
	for _, bad := range []string{``, `{"type":"chat"}`, `"seq":`, `"seq":x`, `"seq":99999999999999999999999`,
		// Refused, for the caller to decode: anything but Encode's form.
		`{"type":"chat","room":"r","messages":[` + m1 + `]} `,
		`{"type": "chat","room":"r","messages":[` + m1 + `]}`,
		`{"type":"chat","messages":[` + m1 + `],"room":"r"}`,
		`{"type":"chat","room":"r","messages":[]}`,
		`{"type":"chat","room":"r","messages":[{"seq":1,"from":"a","text":"b","client_time":-5,"server_time":6}]}`,
		`{"type":"chat","room":"r","messages":[{"seq":01,"from":"a","text":"b","server_time":6}]}`,
		`{"type":"chat","room":"r","messages":[{"seq":1e3,"from":"a","text":"b","server_time":6}]}`,
		`{"type":"chat","room":"r","messages":[{"seq":18446744073709551616,"from":"a","text":"b","server_time":6}]}`,
		`{"type":"chat","room":"r","messages":[{"seq":1,"from":"a","text":"b","server_time":9223372036854775808}]}`,
		`{"type":"chat","room":"r","messages":[{"seq":1,"from":"a\x","text":"b","server_time":6}]}`,
		`{"type":"chat","room":"r","messages":[{"seq":1,"from":"a\u12","text":"b","server_time":6}]}`,
		"{\"type\":\"chat\",\"room\":\"r\",\"messages\":[{\"seq\":1,\"from\":\"a\tb\",\"text\":\"b\",\"server_time\":6}]}",
		`{"type":"chat","room":"r","messages":[` + m1 + `,]}`,
		`{"type":"chat","room":"r","messages":[` + m1,
	} {
		if got, ok := scanChat([]byte(bad), nil); ok {
			t.Errorf("scanChat(%q) = %v, want it refused", bad, got)
		}
	}
	if got := scan(`{"type":"chat","room":"r\u00e9\\","messages":[` + m1 + `,` + m1 + `]}`); !reflect.DeepEqual(got, []chatSeen{{1, 5}, {1, 5}}) {
		t.Errorf("escapes: %v", got)
	}
}

// FuzzScanChat: chat frames come from the server (untrusted). Whatever
// the scan accepts, encoding/json decodes to the same messages (seq and
// client_time, in order), it reads no more messages than the frame has
// seq keys and no negative client_time; a frame signal.Encode writes
// from the fuzzed fields is always accepted.
func FuzzScanChat(f *testing.F) {
	f.Add([]byte(`{"type":"chat","room":"r","messages":[{"seq":41,"from":"v","text":"hi","client_time":1700000000100,"server_time":1}]}`), uint64(1), int64(5), "a", "b")
	f.Add([]byte(`"seq":1"seq":2,"client_time":`), uint64(0), int64(-1), "", "\u2028\"")
	f.Add([]byte(`"seq":18446744073709551615,"client_time":9223372036854775807`), uint64(1<<64-1), int64(1<<63-1), "<&>", "\x00")
	f.Add([]byte(`{"type":"chat","room":"r","messages":[{"seq":1,"from":"\u00e9","text":"a\\","server_time":0},{"seq":2,"from":"","text":"","client_time":0,"server_time":3}]}`), uint64(7), int64(0), "\xff", "")
	f.Fuzz(func(t *testing.T, b []byte, seq uint64, ct int64, from, text string) {
		if got, ok := scanChat(b, nil); ok {
			var m signal.Message
			if err := signal.DecodeInto(b, &m); err != nil || m.Type != signal.TypeChat {
				t.Fatalf("scan accepted %q, decoding: %v, type %q", b, err, m.Type)
			}
			var want []chatSeen
			for _, cm := range m.Messages {
				want = append(want, chatSeen{cm.Seq, cm.ClientTime})
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("scan of %q = %v, decoding %v", b, got, want)
			}
			if keys := strings.Count(string(b), `"seq":`); len(got) > keys {
				t.Fatalf("%d messages from %d seq keys", len(got), keys)
			}
			for _, m := range got {
				if m.ct < 0 {
					t.Fatalf("negative client_time %d", m.ct)
				}
			}
		}
		msgs := []signal.ChatMessage{{Seq: seq, From: from, Text: text, ClientTime: max(ct, 0), ServerTime: 1},
			{Seq: seq / 2, From: text, Text: from, ServerTime: max(ct, 0)}}
		frame, err := signal.Encode(&signal.Message{Type: signal.TypeChat, Room: from + "r", Messages: msgs})
		if err != nil {
			t.Fatal(err)
		}
		got, ok := scanChat(frame, nil)
		want := []chatSeen{{seq, max(ct, 0)}, {seq / 2, 0}}
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("scan of encoded %q = %v %v, want %v", frame, got, ok, want)
		}
	})
}

// A chat frame the scan refuses is decoded (WantEvent lets it through)
// and counts the same: delivered once, latency recorded.
func TestChatFrameTheScanRefusesIsDecoded(t *testing.T) {
	r, err := NewRun(Options{URL: "ws://x/ws", Conns: 1, Rate: 1, ChatRate: 1, RunID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	lc := &livectlConn{s: &session{r: r}}
	ct := time.Now().UnixMilli()
	scanned, _ := signal.Encode(&signal.Message{Type: signal.TypeChat, Room: "r",
		Messages: []signal.ChatMessage{{Seq: 1, From: "a", Text: "x", ClientTime: ct, ServerTime: ct}}})
	spaced := `{"type":"chat", "room":"r", "messages":[{"seq":2, "from":"a", "text":"y", "client_time":` + strconv.FormatInt(ct, 10) + `, "server_time":1}]}`
	for _, tt := range []struct {
		frame  string
		decode bool
	}{{string(scanned), false}, {spaced, true}, {string(scanned), false}} {
		if got := lc.wantEvent(signal.TypeChat, []byte(tt.frame)); got != tt.decode {
			t.Fatalf("wantEvent(%s) = %v", tt.frame, got)
		}
		if tt.decode {
			m, err := signal.Decode([]byte(tt.frame))
			if err != nil {
				t.Fatal(err)
			}
			lc.onEvent(m)
		}
	}
	if got, n := lc.s.recv.got.Load(), r.chatHist().Count(); got != 2 || n != 2 {
		t.Errorf("%d delivered, %d latencies; want 2 and 2 (seq 1 twice counts once)", got, n)
	}
}

func TestReceiverCountsGapsAndRepeats(t *testing.T) {
	tests := []struct {
		name      string
		history   []uint64
		seqs      []uint64
		got, gaps int64
	}{
		{"in order", nil, []uint64{1, 2, 3}, 3, 0},
		{"hole", nil, []uint64{1, 2, 5, 6}, 4, 2},
		// The first message after joining starts the count: messages
		// before it were sent before the member joined (no history).
		{"first seen starts the count", nil, []uint64{3, 4}, 2, 0},
		{"lost after the first", nil, []uint64{3, 6}, 2, 2},
		// A member that joined after more messages than the history
		// holds: its count starts at the history's oldest.
		{"joined past the history", seqs(51, 100), []uint64{101, 102}, 52, 0},
		{"history, then first events lost", []uint64{49, 50}, []uint64{53}, 3, 2},
		{"repeat and reorder not counted", nil, []uint64{1, 2, 2, 1, 3}, 3, 0},
		{"history then events", []uint64{1, 2}, []uint64{3, 4}, 4, 0},
		{"history then hole", []uint64{1, 2}, []uint64{4}, 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rc receiver
			var hm []signal.ChatMessage
			for _, s := range tt.history {
				hm = append(hm, signal.ChatMessage{Seq: s})
			}
			rc.history(hm)
			for _, s := range tt.seqs {
				rc.see(s)
			}
			if rc.got.Load() != tt.got || rc.gaps.Load() != tt.gaps {
				t.Errorf("got %d gaps %d, want %d and %d", rc.got.Load(), rc.gaps.Load(), tt.got, tt.gaps)
			}
		})
	}
}

// recvState is one session's receiver at the end of a run: highest seq,
// messages got, gaps, whether it is still open, and the first seq it
// could have received (0: none).
type recvState struct {
	last      uint64
	got, gaps int64
	dropped   bool
	first     uint64
}

// chatRun is a finished run's state as chatReport reads it: chat_ok
// counts and highest seq per local room, and its sessions' receivers.
func chatRun(t *testing.T, o Options, okSeqs map[int][]uint64, recv map[int]recvState) *Report {
	t.Helper()
	o.URL, o.Rate, o.ChatRate, o.RunID = "ws://x/ws", 100, 10, "t"
	r, err := NewRun(o)
	if err != nil {
		t.Fatal(err)
	}
	for room, seqs := range okSeqs {
		for _, seq := range seqs {
			r.acceptChat(room*o.RoomSize, seq) // session room*size is in room
		}
	}
	r.chat.sent.Store(30)
	r.chat.refused.Store(2)
	r.chat.durS = 2
	var all []*session
	for i := o.Offset; i < o.Offset+o.Conns; i++ {
		s := &session{r: r, idx: i}
		s.recv.last.Store(recv[i].last)
		s.recv.got.Store(recv[i].got)
		s.recv.gaps.Store(recv[i].gaps)
		s.recv.first.Store(recv[i].first)
		all = append(all, s)
	}
	r.chat.stripes[0].Record(10 * time.Millisecond)
	r.chat.stripes[3].Record(300 * time.Millisecond)
	c := r.chatReport(all, func(s *session) bool { return !recv[s.idx].dropped }, time.Second, 0)
	h := r.chatHist()
	return &Report{Kind: KindSignal, Runs: 1, Chat: c,
		Latency:    map[string]hist.Summary{LatChat: h.Summary()},
		Histograms: map[string]*hist.Histogram{LatChat: h},
		Rate:       Rate{ChatDeliveriesPerS: c.deliveriesPerS()}}
}

func seqs(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestChatReportFigures(t *testing.T) {
	// Rooms of 4: sessions 0-3 in room 0, 4-6 in room 1 (6 dropped).
	// Room 0 accepted 5 messages, room 1 three, of which the sender read
	// only the first two chat_ok: a member's seq 3 counts the third.
	rep := chatRun(t, Options{Conns: 7, RoomSize: 4}, map[int][]uint64{0: seqs(1, 5), 1: seqs(1, 2)},
		map[int]recvState{0: {5, 5, 0, false, 0}, 1: {5, 5, 0, false, 0}, 2: {5, 4, 1, false, 0}, 3: {5, 5, 0, false, 0},
			4: {3, 3, 0, false, 0}, 5: {3, 3, 0, false, 0}, 6: {1, 1, 0, true, 0}})
	c := rep.Chat
	want := Chat{Sent: 30, Accepted: 7, Refused: 2, ExpectedDeliveries: 5*4 + 3*2, Delivered: 25, Gaps: 1, DurationS: 2,
		ClientCPUS: 1, ClientCPUSPerMDelivery: 40000}
	got := *c
	got.Rooms = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("chat %+v, want %+v", got, want)
	}
	if rep.Rate.ChatDeliveriesPerS != 12.5 {
		t.Errorf("deliveries/s %v, want 12.5", rep.Rate.ChatDeliveriesPerS)
	}
	if l := rep.Latency[LatChat]; l.Count != 2 || l.Max < 299 {
		t.Errorf("chat latency %+v, want both stripes merged", l)
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "25 of 26 expected deliveries (96.15%), 1 gaps") {
		t.Errorf("table lacks the chat line:\n%s", b.String())
	}
}

// One room of 8 split over two processes (as --procs splits it): the
// merged expected deliveries are the room's messages times all of its
// members, not the sum of each half's own product; histograms and counts
// merge exactly, also through files.
func TestChatMergesExactlyOverProcs(t *testing.T) {
	parts := SplitOptions(Options{URL: "ws://x/ws", Conns: 8, Rate: 100, RoomSize: 8, ChatRate: 10, RunID: "t"}, 2)
	// 10 messages: the first half's senders read 4 chat_ok, the second's 6.
	full := recvState{10, 10, 0, false, 0}
	a := chatRun(t, parts[0], map[int][]uint64{0: {1, 3, 5, 7}}, map[int]recvState{0: full, 1: full, 2: full, 3: full})
	b := chatRun(t, parts[1], map[int][]uint64{0: {2, 4, 6, 8, 9, 10}}, map[int]recvState{4: full, 5: {10, 9, 1, false, 0}, 6: full, 7: full})
	back := throughFiles(t, a, b)
	m, err := back[0].Merge(back[1])
	if err != nil {
		t.Fatal(err)
	}
	c := m.Chat
	if c.Accepted != 10 || c.ExpectedDeliveries != 80 || c.Delivered != 79 || c.Gaps != 1 || c.Sent != 60 || c.Refused != 4 {
		t.Errorf("merged chat %+v, want 10 accepted, 80 expected, 79 delivered, 1 gap", c)
	}
	if l := m.Latency[LatChat]; l.Count != 4 {
		t.Errorf("merged chat latency count %d, want 4", l.Count)
	}
	if m.Rate.ChatDeliveriesPerS != 39.5 {
		t.Errorf("merged deliveries/s %v, want 39.5", m.Rate.ChatDeliveriesPerS)
	}
	// stdout's copy has no per-room detail.
	if b, _ := json.Marshal(m.Brief()); strings.Contains(string(b), `"rooms":{`) {
		t.Errorf("brief report keeps chat rooms: %s", b)
	}
}

// --procs 2, one room of 8: the second half joined after 60 messages
// were sent, with the last 10 as history (its first seq 51). Its members
// are expected messages 51-100 only, and only a real loss is a gap.
func TestChatLateJoinersOverProcs(t *testing.T) {
	parts := SplitOptions(Options{URL: "ws://x/ws", Conns: 8, Rate: 100, RoomSize: 8, ChatRate: 10, RunID: "t"}, 2)
	full := recvState{100, 100, 0, false, 1}
	late := recvState{100, 50, 0, false, 51}
	a := chatRun(t, parts[0], map[int][]uint64{0: seqs(1, 50)}, map[int]recvState{0: full, 1: full, 2: full, 3: full})
	b := chatRun(t, parts[1], map[int][]uint64{0: seqs(51, 100)}, map[int]recvState{4: late, 5: late, 6: late,
		7: {100, 49, 1, false, 51}})
	back := throughFiles(t, a, b)
	m, err := back[0].Merge(back[1])
	if err != nil {
		t.Fatal(err)
	}
	c := m.Chat
	if want := int64(4*100 + 4*50); c.ExpectedDeliveries != want || c.Delivered != want-1 || c.Gaps != 1 {
		t.Errorf("merged chat %+v, want %d expected, one fewer delivered, 1 gap", c, want)
	}
	if r := c.Rooms["0"]; r == nil || r.Messages != 100 || r.Members != 8 || r.BeforeJoin != 4*50 {
		t.Errorf("room %+v, want 100 messages, 8 members, 200 before they joined", r)
	}
}

func TestChatThresholds(t *testing.T) {
	full := recvState{5, 5, 0, false, 0}
	rep := chatRun(t, Options{Conns: 4, RoomSize: 4}, map[int][]uint64{0: seqs(1, 5)},
		map[int]recvState{0: full, 1: full, 2: full, 3: full})
	tests := []struct {
		expr string
		pass bool
	}{
		{"chat.p99<250ms", false}, // one of two took 300ms
		{"chat.p50<250ms", true},
		{"chat.gaps<1", true},
		{"chat.p99<1s,chat.gaps<1", true},
		{"chat.delivered>=100%", true},
		{"chat.refused<5%", false}, // 2 of 30
		{"rate.chat_deliveries_per_s>5", true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			exprs, err := threshold.Parse(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if err := threshold.Check(exprs, rep.Metrics()); err != nil {
				t.Fatal(err)
			}
			failed := threshold.Failed(threshold.Evaluate(exprs, rep.Metrics()))
			if (len(failed) == 0) != tt.pass {
				t.Errorf("%s: failed %v, want pass=%v", tt.expr, failed, tt.pass)
			}
		})
	}
	// A gap fails chat.gaps<1.
	rep.Chat.Gaps = 1
	exprs, _ := threshold.Parse("chat.gaps<1")
	if len(threshold.Failed(threshold.Evaluate(exprs, rep.Metrics()))) != 1 {
		t.Error("chat.gaps<1 passed with a gap")
	}
}

// --hello frames reach a plain WebSocket server in order, right after the
// connection and before any --send.
func TestRawHelloFramesInOrder(t *testing.T) {
	var mu sync.Mutex
	var firsts [][]string
	ended := make(chan struct{}, 10)
	hs := wsServer(t, nil, func(c *websocket.Conn) {
		var got []string
		for {
			_, b, err := c.ReadMessage()
			if err != nil {
				break
			}
			if len(got) < 3 {
				got = append(got, string(b))
			}
			if string(b) == "ping" {
				c.WriteMessage(websocket.TextMessage, []byte("pong"))
			}
		}
		mu.Lock()
		firsts = append(firsts, got)
		mu.Unlock()
		ended <- struct{}{}
	})
	hello := []string{`{"op":"auth","token":"t"}`, `{"op":"subscribe","channel":"room-1"}`}
	rep := runSignal(t, Options{URL: "ws" + strings.TrimPrefix(hs.URL, "http"), Conns: 10, Rate: 1000,
		Duration: 150 * time.Millisecond, PingInterval: 50 * time.Millisecond,
		Protocol: ProtocolRaw, Hello: hello, Send: "ping", Expect: Matcher{Text: "pong"}})
	if rep.Connections.Established != 10 || rep.ErrorCount() != 0 {
		t.Fatalf("connections %+v errors %v", rep.Connections, rep.Errors)
	}
	for range 10 { // the handlers end when the sessions have left
		select {
		case <-ended:
		case <-time.After(5 * time.Second):
			t.Fatal("server handlers did not end")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(firsts) != 10 {
		t.Fatalf("%d connections seen, want 10", len(firsts))
	}
	for _, got := range firsts {
		if want := append(append([]string{}, hello...), "ping"); !reflect.DeepEqual(got, want) {
			t.Errorf("server read %q, want %q", got, want)
		}
	}
}

// In-process run against livectl's server: two rooms of 30, 40 messages a
// second into each for a second; every member gets every message once,
// in order, and the figures agree with the server's.
func TestChatAgainstServer(t *testing.T) {
	wsURL, statsURL, _ := startServer(t, server.Config{})
	rep := runSignal(t, Options{URL: wsURL, Conns: 60, Rate: 1000, Duration: time.Second,
		PingInterval: 200 * time.Millisecond, RoomSize: 30, ChatRate: 40, StatsURL: statsURL})
	if rep.Connections.Established != 60 || rep.ErrorCount() != 0 {
		t.Fatalf("connections %+v errors %v %v", rep.Connections, rep.Errors, rep.ErrorDetail)
	}
	c := rep.Chat
	if c == nil {
		t.Fatal("no chat in the report")
	}
	// 1 s at 40/s into 2 rooms: about 80 messages, from 10 senders a room
	// (each under the server's 5/s).
	if c.Sent < 60 || c.Sent > 90 || rep.Settings.ChatSenders != 10 {
		t.Errorf("sent %d by %d senders a room, want about 80 by 10", c.Sent, rep.Settings.ChatSenders)
	}
	if c.Accepted != c.Sent || c.Refused != 0 {
		t.Errorf("accepted %d refused %d of %d sent", c.Accepted, c.Refused, c.Sent)
	}
	if c.ExpectedDeliveries != c.Accepted*30 || c.Delivered != c.ExpectedDeliveries || c.Gaps != 0 {
		t.Errorf("chat %+v, want every accepted message delivered to all 30 members", *c)
	}
	if l := rep.Latency[LatChat]; l.Count != c.Delivered || l.P50 <= 0 || l.Max > 1000 {
		t.Errorf("chat latency %+v over %d deliveries", l, c.Delivered)
	}
	if rep.Rate.ChatDeliveriesPerS <= 0 {
		t.Errorf("deliveries/s %v", rep.Rate.ChatDeliveriesPerS)
	}
}

// Two halves of one room run as --procs runs them, against livectl's
// server with a history of 5: the second half joins after the first has
// sent about 20 messages. Its members get the last 5 with joined and the
// rest as events; nothing before their history is a gap or expected of
// them, so the merged run shows every message delivered and no gaps.
func TestChatLateHalfAgainstServer(t *testing.T) {
	wsURL, statsURL, _ := startServer(t, server.Config{Rooms: server.RoomsConfig{ChatHistory: 5}})
	parts := SplitOptions(Options{URL: wsURL, Conns: 40, Rate: 1000, Duration: 2 * time.Second, RoomSize: 40,
		ChatRate: 20, ChatSenders: 10, StatsURL: statsURL}, 2)
	var first *Report
	done := make(chan struct{})
	go func() {
		defer close(done)
		first = runSignal(t, parts[0])
	}()
	time.Sleep(time.Second + 100*time.Millisecond) // the first half's ramp, then about 20 messages
	parts[1].Duration = 500 * time.Millisecond
	second := runSignal(t, parts[1])
	<-done
	m, err := first.Merge(second)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Chat
	if m.Connections.Established != 40 || m.ErrorCount() != 0 {
		t.Fatalf("connections %+v errors %v", m.Connections, m.Errors)
	}
	late := c.Rooms["0"].BeforeJoin
	if late < 20*10 {
		t.Errorf("%d messages before the late members' first, want at least 20 members × 10 past the history", late)
	}
	if c.Gaps != 0 || c.Delivered != c.ExpectedDeliveries || c.ExpectedDeliveries != c.Accepted*40-late {
		t.Errorf("chat %+v: want no gaps and every message from each member's first delivered", *c)
	}
}

// BenchmarkChatFrame compares reading a chat frame of 3 messages by scan
// (what receivers do) with decoding it.
func BenchmarkChatFrame(b *testing.B) {
	frame, _ := signal.Encode(&signal.Message{Type: signal.TypeChat, Room: "bench-x-0", Messages: []signal.ChatMessage{
		{Seq: 41, From: "bench-x-17", Text: "bench chat from 17", ClientTime: 1700000000100, ServerTime: 1700000000104},
		{Seq: 42, From: "bench-x-9", Text: "bench chat from 9", ClientTime: 1700000000120, ServerTime: 1700000000121},
		{Seq: 43, From: "bench-x-3", Text: "bench chat from 3", ClientTime: 1700000000140, ServerTime: 1700000000141}}})
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		var n uint64
		var buf [chatFrameMsgs]chatSeen
		for b.Loop() {
			msgs, _ := scanChat(frame, buf[:0])
			n += msgs[0].seq
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := signal.Decode(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
}
