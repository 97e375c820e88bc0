package signalbench

import (
	"context"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livectl/livectl/internal/metrics/hist"
	"github.com/livectl/livectl/internal/signal"
)

// LatChat is receipt time − client_time of chat messages: the sender's
// scheduled send time (Unix ms) against the receiver's wall clock, so it is
// valid on one host or on hosts whose clocks are synchronised.
const LatChat = "chat"

// Chat is what the chat load did. Expected deliveries are the messages
// accepted into a room (its highest seq: the run's rooms are its own, and
// seq has no holes) times the run's members of that room still open when
// the chat ended, less the messages sent before each member could have
// received them (before the oldest of its joined reply's history, or
// before its first message): every member present gets every message
// from then on once. Delivered counts each message a member got (in a
// chat event, or in the history of its joined reply) once, for the same
// members; Gaps the holes members saw in a room's seq after their first
// message (messages the server dropped for them).
type Chat struct {
	Sent               int64   `json:"sent"`
	Accepted           int64   `json:"accepted"`
	Refused            int64   `json:"refused"`
	ExpectedDeliveries int64   `json:"expected_deliveries"`
	Delivered          int64   `json:"delivered"`
	Gaps               int64   `json:"gaps"`
	DurationS          float64 `json:"duration_s"` // how long messages were sent
	// ClientCPUS is this generator's CPU time from the first message sent
	// to the end of the deliveries; ServerCPUS the server's over the same
	// time, when it runs on this machine (--server-pid) and the run is
	// one process. Each also per million deliveries.
	ClientCPUS             float64 `json:"client_cpu_s"`
	ClientCPUSPerMDelivery float64 `json:"client_cpu_s_per_million_deliveries,omitempty"`
	ServerCPUS             float64 `json:"server_cpu_s,omitempty"`
	ServerCPUSPerMDelivery float64 `json:"server_cpu_s_per_million_deliveries,omitempty"`
	// Rooms are the per-room messages and members behind
	// ExpectedDeliveries, keyed by room number, so that runs merged from
	// child processes sharing a room give the exact product. Only --out
	// keeps them.
	Rooms map[string]*ChatRoom `json:"rooms,omitempty"`
}

// ChatRoom is one room's share of Chat. Messages is the highest seq
// anyone of the run saw in the room (in a chat_ok or a delivery): the
// messages accepted into it, also those whose chat_ok a sender dropped by
// the server never read. It merges as a maximum, Members as a sum.
// BeforeJoin is the sum over members of the messages sent before the
// first each could have received (receiver.first), which are not
// expected of them; it merges as a sum.
type ChatRoom struct {
	Messages   int64 `json:"messages"`
	Members    int64 `json:"members"`
	BeforeJoin int64 `json:"before_join,omitempty"`
}

// merge adds o's counts to c.
func (c *Chat) merge(o *Chat) {
	c.Sent += o.Sent
	c.Accepted += o.Accepted
	c.Refused += o.Refused
	c.Delivered += o.Delivered
	c.Gaps += o.Gaps
	c.DurationS = max(c.DurationS, o.DurationS)
	c.ClientCPUS += o.ClientCPUS
	c.ServerCPUS = max(c.ServerCPUS, o.ServerCPUS) // one server, sampled by one process
	if c.Rooms == nil {
		c.Rooms = map[string]*ChatRoom{}
	}
	for k, r := range o.Rooms {
		if r == nil {
			continue
		}
		if c.Rooms[k] == nil {
			c.Rooms[k] = &ChatRoom{}
		}
		c.Rooms[k].Messages = max(c.Rooms[k].Messages, r.Messages)
		c.Rooms[k].Members += r.Members
		c.Rooms[k].BeforeJoin += r.BeforeJoin
	}
	c.expect()
}

// expect figures ExpectedDeliveries from Rooms, and the costs per
// million deliveries.
func (c *Chat) expect() {
	c.ExpectedDeliveries = 0
	for _, r := range c.Rooms {
		c.ExpectedDeliveries += r.Messages*r.Members - r.BeforeJoin
	}
	c.ClientCPUSPerMDelivery, c.ServerCPUSPerMDelivery = 0, 0
	if c.Delivered > 0 {
		m := float64(c.Delivered) / 1e6
		c.ClientCPUSPerMDelivery = round2(c.ClientCPUS / m)
		c.ServerCPUSPerMDelivery = round2(c.ServerCPUS / m)
	}
}

// deliveriesPerS is deliveries per second of chat sent.
func (c *Chat) deliveriesPerS() float64 {
	if c.DurationS <= 0 {
		return 0
	}
	return round2(float64(c.Delivered) / c.DurationS)
}

// chatStripes spreads chat latency records over several histograms, merged
// at the end (exactly): at hundreds of thousands of deliveries a second,
// one histogram's lock would be contended by every read goroutine.
const chatStripes = 16

// chatDrainQuiet ends the wait for deliveries after the last message was
// sent: once no chat frame arrived for this long, the stream has ended.
// --request-timeout bounds the wait, as it bounds the wait for any reply.
const chatDrainQuiet = 500 * time.Millisecond

// chatState is a run's chat bookkeeping.
type chatState struct {
	stripes  [chatStripes]*hist.Histogram
	sent     atomic.Int64
	refused  atomic.Int64
	lastRecv atomic.Int64 // Run.now() of the latest chat frame
	// accepted counts chat_ok; lastSeq is the highest seq of a chat_ok per
	// room number (a room a local session can be in: Run.roomsSpan).
	accepted atomic.Int64
	roomLo   int
	lastSeq  []atomic.Int64
	start    time.Time
	durS     float64
}

// receiver is a session's view of its room's chat stream; only the
// session's read goroutine writes it until the run sums it.
type receiver struct {
	// first is the first seq the member could have received, 0 until it
	// got one: the oldest of the history its joined reply carried, or
	// else the first message after it joined. Messages before it were
	// sent before the member joined (another child process ahead in its
	// ramp, more than the server's --chat-history before): neither
	// expected of it nor gaps.
	first atomic.Uint64
	last  atomic.Uint64 // highest seq seen
	got   atomic.Int64
	gaps  atomic.Int64
}

// see records seq as received: a seq past last+1 leaves a hole, one at or
// below last is a repeat (not counted again). The first seq seen starts
// the member's accounting (first).
func (rc *receiver) see(seq uint64) bool {
	last := rc.last.Load()
	if last == 0 && seq > 0 && rc.first.Load() == 0 {
		rc.first.Store(seq)
		last = seq - 1
	}
	if seq <= last {
		return false
	}
	if seq > last+1 {
		rc.gaps.Add(int64(seq - last - 1))
	}
	rc.last.Store(seq)
	rc.got.Add(1)
	return true
}

// history counts the chat history of a joined reply as delivered: a member
// that joined after messages were sent (another child process ahead in its
// ramp) gets them there rather than as events, and its accounting starts
// at the oldest of them.
func (rc *receiver) history(msgs []signal.ChatMessage) {
	for _, m := range msgs {
		rc.see(m.Seq)
	}
}

// onChatFrame reads a chat event without decoding it (scanChat); false
// when the frame is not in the form scanChat reads, for the caller to
// decode it instead.
func (s *session) onChatFrame(frame []byte) bool {
	var buf [chatFrameMsgs]chatSeen
	msgs, ok := scanChat(frame, buf[:0])
	if ok {
		s.onChat(msgs)
	}
	return ok
}

// chatFrameMsgs is how many messages of a frame a receiver handles without
// allocating: a batch of livectl serve's default 50 ms at up to 320
// messages a second into the room.
const chatFrameMsgs = 16

// onChat counts a frame's messages and records their latency: one clock
// read and one histogram lock per frame, not per message.
func (s *session) onChat(msgs []chatSeen) {
	r := s.r
	now := time.Now()
	// The drain only needs to know that frames still arrive: a store at
	// most every millisecond spares hundreds of thousands a second to
	// one cache line shared by every receiver.
	if mono := int64(now.Sub(r.epoch)) + 1; mono-r.chat.lastRecv.Load() > int64(time.Millisecond) {
		r.chat.lastRecv.Store(mono)
	}
	wall := now.UnixMicro()
	var buf [chatFrameMsgs]time.Duration
	lat := buf[:0]
	for _, m := range msgs {
		if s.recv.see(m.seq) && m.ct > 0 {
			lat = append(lat, time.Duration(wall-m.ct*1000)*time.Microsecond)
		}
	}
	r.chat.stripes[s.idx%chatStripes].RecordEach(lat)
}

// chatPhase sends each room's messages on schedule until ctx ends: message
// n of a room leaves at start + n/ChatRate from member n mod K (K the
// senders per room), stamped with that scheduled time as client_time, so a
// stalled sender shows as latency instead of slowing the stream (an open
// model). Every local sender runs its own timer.
func (r *Run) chatPhase(ctx context.Context, senders []*session) {
	o := &r.opts
	k := o.chatSenders()
	per := float64(time.Second) / o.ChatRate
	start := time.Now()
	r.chat.start = start
	var wg sync.WaitGroup
	for _, s := range senders {
		lc, ok := s.c.(*livectlConn)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTimer(0)
			<-t.C
			text := "bench chat from " + strconv.Itoa(s.idx)
			for n := o.member(s.idx); ; n += k {
				due := start.Add(time.Duration(float64(n) * per))
				if wait := time.Until(due); wait > 0 {
					t.Reset(wait)
					select {
					case <-ctx.Done():
						t.Stop()
						return
					case <-t.C:
					}
				} else if ctx.Err() != nil {
					return
				}
				r.chat.sent.Add(1)
				r.msgs.Add(1)
				if err := lc.c.SendChat(text, due.UnixMilli()); err != nil {
					r.countError(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	r.chat.durS = time.Since(start).Seconds()
}

// drainChat waits for the deliveries of messages already sent: until no
// chat frame arrived for chatDrainQuiet, at most the request timeout.
func (r *Run) drainChat() {
	deadline := time.Now().Add(r.opts.RequestTimeout)
	for time.Now().Before(deadline) {
		quiet := time.Duration(r.now() - r.chat.lastRecv.Load())
		if quiet >= chatDrainQuiet {
			return
		}
		time.Sleep(chatDrainQuiet - quiet)
	}
}

// chatReport sums the chat figures over the sessions (all established)
// that open says are still there; cpu and serverCPU are the generator's and
// the server's CPU over the chat.
func (r *Run) chatReport(all []*session, open func(*session) bool, cpu, serverCPU time.Duration) *Chat {
	c := &Chat{Sent: r.chat.sent.Load(), Accepted: r.chat.accepted.Load(), Refused: r.chat.refused.Load(),
		DurationS: round2(r.chat.durS), Rooms: map[string]*ChatRoom{},
		ClientCPUS: round2(cpu.Seconds()), ServerCPUS: round2(serverCPU.Seconds())}
	room := func(n int) *ChatRoom {
		key := strconv.Itoa(n)
		if c.Rooms[key] == nil {
			c.Rooms[key] = &ChatRoom{}
		}
		return c.Rooms[key]
	}
	for i := range r.chat.lastSeq {
		if n := r.chat.lastSeq[i].Load(); n > 0 {
			room(r.chat.roomLo + i).Messages = n
		}
	}
	for _, s := range all {
		rm := room(r.opts.roomIndex(s.idx))
		rm.Messages = max(rm.Messages, int64(min(s.recv.last.Load(), math.MaxInt64)))
		if !open(s) {
			continue // not present: neither expected nor delivered
		}
		rm.Members++
		if f := s.recv.first.Load(); f > 1 {
			rm.BeforeJoin += int64(min(f-1, math.MaxInt64))
		}
		c.Delivered += s.recv.got.Load()
		c.Gaps += s.recv.gaps.Load()
	}
	c.expect()
	return c
}

// chatHist merges the stripes into one histogram.
func (r *Run) chatHist() *hist.Histogram {
	h := hist.New()
	for _, s := range r.chat.stripes {
		h.Merge(s)
	}
	return h
}
