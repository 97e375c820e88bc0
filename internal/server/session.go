package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/signal"
)

// Frame kinds in a send queue.
const (
	opText uint8 = iota
	opPing
	opClose
)

// frame is one queued outbound frame. A text frame's data is the whole
// WebSocket frame, header included (textFrame): it is encoded once and
// shared by every recipient of a fan-out, and the write loop copies it to
// the socket as it is, without going through the WebSocket writer.
type frame struct {
	data []byte
	op   uint8
}

// textFrame frames payload as one unmasked, final WebSocket text frame
// (RFC 6455 section 5.2), the form a server sends.
func textFrame(payload []byte) frame {
	n := len(payload)
	var b []byte
	switch {
	case n < 126:
		b = append(make([]byte, 0, 2+n), 0x81, byte(n))
	case n <= 0xffff:
		b = append(make([]byte, 0, 4+n), 0x81, 126, byte(n>>8), byte(n))
	default:
		b = binary.BigEndian.AppendUint64(append(make([]byte, 0, 10+n), 0x81, 127), uint64(n))
	}
	return frame{op: opText, data: append(b, payload...)}
}

// session is one /ws connection. Its read loop owns the room membership and
// media fields; mu guards the send queue and the closing state.
type session struct {
	srv      *Server
	conn     *websocket.Conn
	id       string
	lastSeen atomic.Int64 // unix nanoseconds of the last inbound frame or pong
	// admitted: welcomed, not refused (full or draining) and closing; only
	// admitted sessions count as connections. Set before the read loop.
	admitted bool

	mu          sync.Mutex
	queue       []frame // must be delivered: overflowing it drops the session
	chatQ       []frame // chat batches: when full, the next one is dropped
	spare       []frame // the write loop's last batch, for reuse
	chatDropped uint64  // chat messages dropped for this session
	writing     bool    // a write loop is running
	closing     bool    // no more frames accepted
	mediaReady  bool    // media sends go straight to the queue
	mediaGen    uint32  // bumped on every join and leave: stale Send funcs fail
	pending     []*signal.Message
	written     uint64        // frames the write loop has written
	drained     chan struct{} // closed by the write loop when the queue is low again (awaitQueue)

	// Read-loop state; room, joinedAs and publisher are written under
	// the room's mu (other members read them when they join).
	room        *room // nil until joined
	joinedAs    string
	publisher   bool          // has published media in this membership
	chatLimiter *rate.Limiter // made on the first chat message
	grant       auth.Grant
	media       MediaSession
	bad         int           // malformed frames in a row
	ended       bool          // a fatal error was queued: ignore further frames
	limited     bool          // a request has been refused (logged once)
	stalled     bool          // the writer took no frame for stallTimeout ...
	stallAt     uint64        // ... and written was this then
	limiter     *rate.Limiter // made on the first request
	flooding    int64         // unix nanoseconds when the current run of refused requests began (0: none)
}

// Request rate limit: a connection may send RequestBurst requests at once
// and RequestRate per second after that. Every frame counts (pings too);
// a request over the limit is answered with rate_limited and not executed.
// Each join and leave queues one event to every member of the room, so an
// unlimited client could overflow the send queues of all of them; they
// count as fanOutCost requests each.
const (
	DefaultRequestRate  = 50 // requests per second
	DefaultRequestBurst = 50
	fanOutCost          = 5 // requests a join or leave counts as
)

// floodLimit: a connection whose requests have been refused for this long
// without it slowing down (to earn back half its burst) is closed with
// rate_limited and signal.CloseRateLimited. A variable for tests.
var floodLimit = 10 * time.Second

// requestLimit is the per-connection request rate and burst, defaults
// filled in. A RequestRate of +Inf (math.Inf(1)) turns the limit off.
func (l Limits) requestLimit() (rate.Limit, int) {
	r, b := rate.Limit(l.RequestRate), l.RequestBurst
	switch {
	case math.IsInf(l.RequestRate, 1):
		r = rate.Inf
	case !(l.RequestRate > 0): // zero, negative or NaN
		r = DefaultRequestRate
	}
	if b <= 0 {
		b = DefaultRequestBurst
	}
	return r, b
}

// stallTimeout is how long the read loop waits for the write loop to take
// a frame before it concludes that the client does not read (a full socket
// buffer) and stops holding back: the queue may then overflow and the
// client is dropped as a slow consumer.
const stallTimeout = 100 * time.Millisecond

// bufPool holds read buffers between messages, so an idle session holds none.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// errTooLarge reports an inbound frame over the size limit.
var errTooLarge = errors.New("message too large")

func (c *session) readLoop() {
	defer c.srv.wg.Done()
	defer c.finish()
	c.conn.SetPongHandler(func(string) error {
		c.lastSeen.Store(time.Now().UnixNano())
		return nil
	})
	c.conn.SetPingHandler(c.ping)
	limit := c.srv.cfg.Limits.MaxMessageSize
	for {
		c.awaitQueue()
		op, r, err := c.conn.NextReader()
		if err != nil {
			return
		}
		c.lastSeen.Store(time.Now().UnixNano())
		if c.ended {
			continue // NextReader discards the rest of the frame
		}
		c.srv.counters.msgsIn.Add(1)
		if op != websocket.TextMessage {
			if c.allowRequest(1) {
				c.badFrame("", signal.CodeBadMessage, "binary frames are not part of the protocol: send JSON text frames")
			} else {
				c.refuse("")
			}
			continue
		}
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		err = readLimited(buf, r, limit)
		switch {
		case errors.Is(err, errTooLarge):
			c.srv.counters.rejected[rejectTooLarge].Add(1)
			c.fail("", signal.CodeMessageTooLarge,
				fmt.Sprintf("message is over the %d-byte limit", limit), signal.CloseMessageTooBig)
		case err != nil:
			bufPool.Put(buf)
			return
		default:
			c.handle(buf.Bytes())
		}
		if buf.Cap() <= 64<<10 {
			bufPool.Put(buf)
		}
	}
}

func readLimited(buf *bytes.Buffer, r io.Reader, limit int64) error {
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	if err != nil {
		return err
	}
	if n > limit {
		return errTooLarge
	}
	return nil
}

// ping answers a ping control frame with a pong if the request rate
// allows: control frames count as requests (20,000 pipelined pings got
// 20,000 pongs). One over the limit gets no pong; it counts towards
// closing a flooding connection like any refused request. It runs on the
// read loop, inside NextReader.
func (c *session) ping(data string) error {
	c.lastSeen.Store(time.Now().UnixNano())
	if c.ended {
		return nil
	}
	if !c.allowRequest(1) {
		c.overLimit("")
		return nil
	}
	err := c.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(closeGrace))
	var ne net.Error
	if errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
		return nil // as gorilla's own ping handler: a pong that cannot go now is skipped
	}
	return err
}

// peekLen is how much of a refused frame is looked at for its id.
const peekLen = 256

// peekID finds a frame's id among the top-level fields of its first
// peekLen bytes, without decoding the rest: a refused frame is answered
// with its id when the id comes early (the Go client and browsers put it
// second), and costs the server no more than that.
func peekID(b []byte) string {
	dec := json.NewDecoder(bytes.NewReader(b[:min(len(b), peekLen)]))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for {
		k, err := dec.Token()
		if err != nil {
			return ""
		}
		v, err := dec.Token()
		if _, nested := v.(json.Delim); err != nil || nested {
			return ""
		}
		if k == "id" {
			id, _ := v.(string)
			return truncateID(id)
		}
	}
}

// handle serves one decoded-to-be frame. A frame that arrives with not even
// one request's worth of the rate limit left is refused without being
// decoded (a 64 KiB frame costs ~1 ms to decode), so a flood costs the
// server what its allowed rate does.
func (c *session) handle(b []byte) {
	if !c.affordable() {
		c.refuse(peekID(b))
		return
	}
	var m signal.Message
	err := signal.DecodeInto(b, &m)
	cost := 1
	if err == nil && (m.Type == signal.TypeJoin || m.Type == signal.TypeLeave) {
		cost = fanOutCost
	}
	if !c.allowRequest(cost) {
		c.refuse(truncateID(m.ID))
		return
	}
	if err != nil {
		// A frame that is JSON but mistyped may still carry its id.
		c.badFrame(truncateID(m.ID), signal.CodeBadMessage, err.Error())
		return
	}
	if err := m.Validate(); err != nil {
		var pe *signal.Error
		if !errors.As(err, &pe) {
			pe = &signal.Error{Code: signal.CodeBadMessage, Reason: err.Error()}
		}
		c.badFrame(truncateID(m.ID), pe.Code, pe.Reason)
		return
	}
	c.bad = 0
	switch m.Type {
	case signal.TypeJoin:
		c.join(&m)
	case signal.TypeLeave:
		if c.room == nil {
			c.replyError(m.ID, signal.CodeNotJoined, "leave needs a joined room")
			return
		}
		c.leave(m.ID)
	case signal.TypePing:
		c.send(&signal.Message{Type: signal.TypePong, ID: m.ID, ClientTime: m.ClientTime, ServerTime: time.Now().UnixMilli()})
	case signal.TypeChat:
		c.chat(&m)
	default: // media types; Validate rejected everything else
		c.handleMedia(&m)
	}
}

// requestLimiter is the connection's token bucket, made on first use.
func (c *session) requestLimiter() *rate.Limiter {
	if c.limiter == nil {
		// Made here, not in readLoop: a larger readLoop frame would keep
		// every idle session's stack at 8 KiB instead of 4.
		c.limiter = rate.NewLimiter(c.srv.cfg.Limits.requestLimit())
	}
	return c.limiter
}

// affordable says whether the bucket holds at least one request's worth.
func (c *session) affordable() bool {
	l := c.requestLimiter()
	return l.Limit() == rate.Inf || l.TokensAt(time.Now()) >= 1
}

// allowRequest takes cost tokens (at most the burst) for one inbound frame
// from the connection's bucket. A request allowed with at least half the
// burst left ends a run of refusals: the client has slowed down.
func (c *session) allowRequest(cost int) bool {
	c.requestLimiter()
	now := time.Now()
	if !c.limiter.AllowN(now, min(cost, c.limiter.Burst())) {
		return false
	}
	if c.flooding != 0 && c.limiter.TokensAt(now) >= float64(c.limiter.Burst())/2 {
		c.flooding = 0
	}
	return true
}

// refuse answers a request over the rate limit with rate_limited; the
// request is not executed.
func (c *session) refuse(id string) {
	if c.overLimit(id) {
		return
	}
	perSecond, burst := c.srv.cfg.Limits.requestLimit()
	c.replyError(id, signal.CodeRateLimited, fmt.Sprintf(
		"too many requests: a connection may send %g requests/s, bursts of %d, join and leave counting as %d; request not executed, slow down and retry",
		perSecond, burst, fanOutCost))
}

// overLimit counts a refused request and closes a connection refused for
// floodLimit without slowing down (it reports true then).
func (c *session) overLimit(id string) bool {
	c.srv.counters.rejected[rejectRateLimited].Add(1)
	perSecond, burst := c.srv.cfg.Limits.requestLimit()
	now := time.Now().UnixNano()
	switch flooded := time.Duration(now - c.flooding); {
	case c.flooding == 0:
		c.flooding = now
		if !c.limited {
			c.limited = true
			c.srv.log.Info("rate limiting connection", "session", c.id, "remote", c.conn.RemoteAddr().String(),
				"requests_per_s", float64(perSecond), "burst", burst)
		}
	case flooded >= floodLimit:
		c.srv.log.Info("closing connection: over its request rate limit", "session", c.id,
			"remote", c.conn.RemoteAddr().String(), "for", flooded.Round(time.Millisecond).String())
		c.fail(id, signal.CodeRateLimited, fmt.Sprintf("over the limit of %g requests/s (burst %d) for %s: closing",
			perSecond, burst, floodLimit), signal.CloseRateLimited)
		return true
	}
	return false
}

// badFrame answers a malformed frame and ends the connection (4002) after
// maxBadFrames in a row.
func (c *session) badFrame(id, code, reason string) {
	c.bad++
	c.srv.counters.badMessages.Add(1)
	if c.bad >= maxBadFrames {
		c.srv.counters.rejected[rejectProtocol].Add(1)
		c.fail(id, code, fmt.Sprintf("%s (%d malformed frames in a row: closing)", reason, c.bad), signal.CloseProtocolError)
		return
	}
	c.replyError(id, code, reason)
}

// truncateID keeps an echoed request id within the protocol's limit.
func truncateID(id string) string {
	if len(id) > signal.MaxIDLen {
		return id[:signal.MaxIDLen]
	}
	return id
}

func (c *session) join(m *signal.Message) {
	if c.srv.Draining() {
		c.replyError(m.ID, signal.CodeDraining, "server is shutting down: join another instance")
		return
	}
	if c.room != nil {
		c.replyError(m.ID, signal.CodeAlreadyJoined, fmt.Sprintf("already in room %q: leave it first", c.room.name))
		return
	}
	grant, err := c.srv.Authorize(c.conn.RemoteAddr().String(), m.Token, m.Room, m.Identity)
	if err != nil {
		var pe *signal.Error
		errors.As(err, &pe)
		c.replyError(m.ID, pe.Code, pe.Reason)
		return
	}
	var ms MediaSession
	var tracks []signal.Track
	if c.srv.media != nil {
		gen := c.resetMedia()
		ms, err = c.srv.media.Join(MediaParticipant{
			Room: m.Room, Identity: m.Identity, SessionID: c.id, Grant: grant, Remote: c.conn.RemoteAddr().String(),
			Send: func(m *signal.Message) bool { return c.mediaSend(gen, m) },
		})
		if err != nil {
			c.srv.log.Warn("media plane refused participant", "session", c.id, "room", m.Room, "err", err)
			ms = nil
		} else {
			tracks = ms.Tracks()
		}
	}
	if err := c.srv.reg.join(c, m, tracks); err != nil {
		if ms != nil {
			c.resetMedia()
			ms.Close()
		}
		var pe *signal.Error
		errors.As(err, &pe)
		c.replyError(m.ID, pe.Code, pe.Reason)
		return
	}
	c.grant, c.media = grant, ms
	c.srv.log.Debug("joined", "session", c.id, "room", m.Room, "identity", m.Identity, "remote", c.conn.RemoteAddr().String())
	// The joined reply is queued: release media messages held until now, in
	// order. Media sends go straight to the queue only once nothing is held:
	// a message sent directly while older held ones were still being queued
	// could overtake them (a track_unpublished before its track_published).
	for {
		c.mu.Lock()
		pending := c.pending
		c.pending = nil
		if len(pending) == 0 {
			c.mediaReady = true
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		for _, pm := range pending {
			c.send(pm)
		}
	}
}

// leave takes the session out of its room; id is the request's (empty on disconnect).
func (c *session) leave(id string) {
	if c.room != nil {
		c.srv.log.Debug("left", "session", c.id, "room", c.room.name, "remote", c.conn.RemoteAddr().String())
	}
	c.resetMedia()
	if c.media != nil {
		c.media.Close()
		c.media = nil
	}
	c.srv.reg.leave(c, id)
	c.grant = auth.Grant{}
	c.chatLimiter = nil
}

func (c *session) handleMedia(m *signal.Message) {
	switch {
	case c.srv.media == nil:
		c.replyError(m.ID, signal.CodeUnsupported, m.Type+" is not supported: this server has no media plane")
		return
	case c.room == nil:
		c.replyError(m.ID, signal.CodeNotJoined, m.Type+" needs a joined room: send join first")
		return
	case c.media == nil:
		c.replyError(m.ID, signal.CodeUnsupported, "media is unavailable for this session (the media plane refused it)")
		return
	case m.Type == signal.TypePublish && !c.grant.Publish:
		c.refuseToken(m, rejectForbidden, signal.CodeForbidden, "token does not grant publish")
		return
	case m.Type == signal.TypeSubscribe && !c.grant.Subscribe:
		c.refuseToken(m, rejectForbidden, signal.CodeForbidden, "token does not grant subscribe")
		return
	case (m.Type == signal.TypePublish || m.Type == signal.TypeSubscribe) && c.grant.Expired(time.Now()):
		// A token admits a session; starting media is re-checked, so a
		// short-lived token does not grant publishing for ever.
		c.refuseToken(m, rejectExpired, signal.CodeUnauthorized, "the token this session joined with has expired: leave and join again with a fresh one")
		return
	}
	reply, err := c.media.Handle(c.srv.ctx, m)
	if err != nil {
		var pe *signal.Error
		if errors.As(err, &pe) {
			c.replyError(m.ID, pe.Code, pe.Reason)
		} else {
			c.srv.log.Warn("media request failed", "session", c.id, "type", m.Type, "err", err)
			c.replyError(m.ID, signal.CodeInternal, err.Error())
		}
		return
	}
	if reply != nil {
		reply.ID = m.ID
		c.send(reply)
	}
	if m.Type == signal.TypePublish {
		c.srv.reg.markPublisher(c)
	}
}

// chat serves a chat request: checks, the sender's and the room's rate,
// then the room takes the message (and replies chat_ok).
func (c *session) chat(m *signal.Message) {
	rc := c.srv.cfg.Rooms
	switch {
	case c.room == nil:
		c.replyError(m.ID, signal.CodeNotJoined, "chat needs a joined room: send join first")
		return
	case !c.grant.Chat:
		c.refuseToken(m, rejectForbidden, signal.CodeForbidden, "token does not grant chat")
		return
	}
	if err := signal.CheckChatText(m.Text, rc.ChatMaxBytes); err != nil {
		c.replyError(m.ID, signal.CodeBadMessage, err.Error())
		return
	}
	if c.chatLimiter == nil {
		c.chatLimiter = limiter(rc.ChatRate, rc.ChatBurst)
	}
	if !c.chatLimiter.Allow() {
		c.srv.counters.chatRefused[chatRefusedSender].Add(1)
		c.replyError(m.ID, signal.CodeRateLimited, fmt.Sprintf(
			"chat message not sent: a member may send %g messages/s, bursts of %d; slow down", rc.ChatRate, rc.ChatBurst))
		return
	}
	ok, err := c.srv.reg.chat(c, m)
	if err != nil {
		c.srv.log.Warn("chat message not sent: the cluster could not take it", "room", c.room.name, "err", err)
		c.replyError(m.ID, signal.CodeInternal, "chat message not sent: this server cannot reach the rest of its cluster now; retry later")
		return
	}
	if !ok {
		c.srv.counters.chatRefused[chatRefusedRoom].Add(1)
		c.replyError(m.ID, signal.CodeRateLimited, fmt.Sprintf(
			"chat message not sent: room %q takes at most %g messages/s from all its members; retry later", c.room.name, rc.RoomChatRate))
	}
}

// resetMedia invalidates the Send funcs handed out so far and drops held
// media messages; it returns the new generation.
func (c *session) resetMedia() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mediaGen++
	c.mediaReady = false
	c.pending = nil
	return c.mediaGen
}

// mediaSend is the MediaParticipant.Send of this session's join number gen.
func (c *session) mediaSend(gen uint32, m *signal.Message) bool {
	c.mu.Lock()
	if c.closing || gen != c.mediaGen {
		c.mu.Unlock()
		return false
	}
	if !c.mediaReady {
		if len(c.pending) >= c.srv.cfg.Limits.SendQueue {
			c.mu.Unlock()
			return false
		}
		c.pending = append(c.pending, m)
		c.mu.Unlock()
		return true
	}
	c.mu.Unlock()
	return c.send(m)
}

// refuseToken refuses m for what the session's token does not grant: it is
// counted and logged like a token refused at the door (rejectToken).
func (c *session) refuseToken(m *signal.Message, why rejectReason, code, reason string) {
	room := ""
	if c.room != nil {
		room = c.room.name
	}
	_ = c.srv.rejectToken(c.conn.RemoteAddr().String(), room, why, &signal.Error{Code: code, Reason: reason})
	c.replyError(m.ID, code, reason)
}

func (c *session) replyError(id, code, reason string) {
	c.send(signal.ErrorMessage(id, code, reason))
}

// send encodes m and queues it.
func (c *session) send(m *signal.Message) bool {
	b, err := signal.Encode(m)
	if err != nil {
		c.srv.log.Error("encoding message", "type", m.Type, "err", err)
		return false
	}
	return c.push(textFrame(b), false)
}

// fail sends an error and closes the connection with closeCode. Frames
// that arrive meanwhile are ignored.
func (c *session) fail(id, code, reason string, closeCode int) {
	c.ended = true
	c.send(signal.ErrorMessage(id, code, reason))
	c.closeWith(closeCode, reason)
}

// closeWith queues a close frame; nothing is accepted after it. The write
// loop sends it and gives the client closeGrace to answer.
func (c *session) closeWith(code int, reason string) {
	if len(reason) > 120 { // a close frame's payload is at most 125 bytes
		reason = reason[:120]
	}
	c.push(frame{op: opClose, data: websocket.FormatCloseMessage(code, reason)}, true)
}

// awaitQueue holds the read loop back while more than half of the send
// queue is taken, until the write loop has brought it down to a quarter:
// a client that sends requests faster than the server can write the
// replies is slowed down (TCP pushes back on it) instead of overflowing
// its own queue. If the write loop takes no frame for stallTimeout, the
// client is not reading: stop holding back (until the writer moves again),
// so that the queue overflows and the client is dropped as a slow
// consumer, as it would be without this wait.
func (c *session) awaitQueue() {
	high := c.srv.cfg.Limits.SendQueue / 2
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.queue) > high && !c.closing {
		if c.stalled && c.written == c.stallAt {
			return
		}
		c.stalled = false
		seen := c.written
		ch := make(chan struct{})
		c.drained = ch
		c.mu.Unlock()
		t := time.NewTimer(stallTimeout)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
		c.mu.Lock()
		if c.drained == ch {
			c.drained = nil
		}
		if c.written == seen {
			c.stalled, c.stallAt = true, seen
			return
		}
	}
}

// wakeReader ends awaitQueue's wait if the queue is down to low frames.
// c.mu is held.
func (c *session) wakeReader(low int) {
	if c.drained != nil && len(c.queue) <= low {
		close(c.drained)
		c.drained = nil
	}
}

// push queues f and starts the write loop if none is running. It never
// blocks. When the queue is full the session is dropped as a slow consumer:
// its queue is replaced by an error and a 4008 close frame.
func (c *session) push(f frame, last bool) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if len(c.queue) >= c.srv.cfg.Limits.SendQueue {
		c.closing = true
		c.chatQ = nil
		b, _ := signal.Encode(signal.ErrorMessage("", signal.CodeSlowConsumer, fmt.Sprintf(
			"send queue overflowed: %d frames were waiting for this connection to take them", c.srv.cfg.Limits.SendQueue)))
		c.queue = append(c.queue[:0],
			textFrame(b),
			frame{op: opClose, data: websocket.FormatCloseMessage(signal.CloseSlowConsumer, "send queue overflowed")})
		c.mu.Unlock()
		c.srv.counters.dropped[dropSlow].Add(1)
		c.srv.log.Warn("dropping slow consumer", "session", c.id, "remote", c.conn.RemoteAddr().String())
		// Unblock a write stuck on a full socket buffer; the writer then
		// fails and closes the connection.
		c.conn.NetConn().SetWriteDeadline(time.Now().Add(closeGrace))
		return false
	}
	c.queue = append(c.queue, f)
	if last {
		c.closing = true
		c.chatQ = nil // nothing goes after the close frame
	}
	c.startWriterLocked()
	return true
}

// startWriterLocked starts the write loop if none is running and unlocks
// c.mu.
func (c *session) startWriterLocked() {
	start := !c.writing
	c.writing = true
	if start {
		// Counted under c.mu: once Close has marked the session closing,
		// no push gets here, so no Add can race Close's wg.Wait.
		c.srv.wg.Add(1)
	}
	c.mu.Unlock()
	if start {
		go c.writeLoop()
	}
}

// pushChat queues a chat frame of n messages. Chat may be lost: when the
// session's chat queue is full the frame is dropped and counted (the
// member sees the gap in seq), and the session stays. Its queue is as
// long as the send queue, so a member holds at most that many frames of
// chat, each shared with the whole room.
func (c *session) pushChat(f frame, n int) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if len(c.chatQ) >= c.srv.cfg.Limits.SendQueue {
		c.chatDropped += uint64(n)
		c.mu.Unlock()
		c.srv.counters.chatDropped.Add(uint64(n))
		return false
	}
	c.chatQ = append(c.chatQ, f)
	c.startWriterLocked()
	return true
}

// markClosing stops the queue; it reports false if the session was
// already closing.
func (c *session) markClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.closing = true
	return true
}

// writeLoop drains the queues and exits when they are empty, so an idle
// session has no write goroutine. It takes everything queued at once,
// must-deliver frames before chat, and writes it through the connection's
// batching writer: one system call for the lot, not one per frame.
func (c *session) writeLoop() {
	defer c.srv.wg.Done()
	bc, _ := c.conn.NetConn().(*batchConn)
	var batch []frame
	for {
		var closing, ok bool
		if batch, closing, ok = c.nextBatch(batch); !ok {
			return
		}
		if err := c.writeBatch(bc, batch); err != nil {
			c.writeFailed(err, closing)
			return
		}
	}
}

// nextBatch counts the batch just written (nil: none) and takes the next
// one: everything queued, must-deliver frames first. closing is the
// session's state as it was taken. It reports false, and marks the session
// not writing, when nothing is queued.
func (c *session) nextBatch(prev []frame) (batch []frame, closing, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev != nil {
		c.written += uint64(len(prev))
		clear(prev)
		c.spare = prev[:0]
	}
	c.wakeReader(c.srv.cfg.Limits.SendQueue / 4)
	if len(c.queue) == 0 && len(c.chatQ) == 0 {
		c.writing = false
		c.queue, c.chatQ, c.spare = nil, nil, nil // an idle session holds no queue array
		return nil, false, false
	}
	batch = append(append(c.spare, c.queue...), c.chatQ...)
	clear(c.queue)
	clear(c.chatQ)
	c.queue, c.chatQ, c.spare = c.queue[:0], c.chatQ[:0], nil
	return batch, c.closing, true
}

// writeFailed ends writing after err and closes the connection; closing
// is the session's state when the failed batch was taken.
func (c *session) writeFailed(err error, closing bool) {
	c.mu.Lock()
	c.queue, c.chatQ, c.writing = nil, nil, false
	c.wakeReader(0)
	wasClosing := c.closing
	c.closing = true
	c.mu.Unlock()
	switch {
	case wasClosing || closing:
		// Dropped or closed already, and counted if need be.
	case peerGone(err):
		// The client went away (closed or reset the connection) before
		// the read loop saw it: not a drop.
		c.srv.log.Debug("connection gone while writing", "session", c.id, "err", err)
	default:
		c.srv.counters.dropped[dropWrite].Add(1)
		c.srv.log.Info("dropping connection: write failed", "session", c.id, "err", err)
	}
	c.conn.NetConn().Close()
}

// writeBatch writes frames, buffered by bc (when the connection has one)
// and flushed once at the end, each system call under a deadline.
func (c *session) writeBatch(bc *batchConn, frames []frame) error {
	if bc != nil {
		timeout := c.srv.cfg.WriteTimeout
		if frames[len(frames)-1].op == opClose {
			// The client is being closed: do not wait on it for long.
			timeout = closeGrace
		}
		bc.begin(timeout) // a deadline per system call
	}
	for _, f := range frames {
		if bc == nil && f.op == opText {
			c.conn.NetConn().SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
		}
		if err := c.write(f); err != nil {
			if bc != nil {
				bc.end()
			}
			return err
		}
	}
	if bc != nil {
		return bc.end()
	}
	return nil
}

// peerGone reports whether a write failed because the client had closed or
// reset the connection (or, with a close frame, begun to close it), as
// opposed to timing out (a client that does not read) or failing otherwise.
func peerGone(err error) bool {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, websocket.ErrCloseSent)
}

func (c *session) write(f frame) error {
	switch f.op {
	case opPing:
		return c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.srv.cfg.WriteTimeout))
	case opClose:
		err := c.conn.WriteControl(websocket.CloseMessage, f.data, time.Now().Add(closeGrace))
		// Wait briefly for the client's close reply (the read loop sees
		// it); closing at once could reset the connection before the
		// client has read our last frames.
		c.conn.NetConn().SetReadDeadline(time.Now().Add(closeGrace))
		return err
	default:
		// Straight to the socket (the connection's batching writer, when
		// it has one). The WebSocket writer's own writes (the read loop's
		// pongs and close replies) are one Write call each, so frames
		// never interleave.
		if _, err := c.conn.NetConn().Write(f.data); err != nil {
			return err
		}
		c.srv.counters.msgsOut.Add(1)
		return nil
	}
}

// finish runs when the read loop ends: leave the room, stop the queue,
// close the socket.
func (c *session) finish() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	if c.room != nil {
		c.leave("")
	}
	c.srv.removeSession(c)
	c.conn.Close()
}
