package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/signal"
)

// Frame kinds in a send queue.
const (
	opText uint8 = iota
	opPing
	opClose
)

// frame is one queued outbound frame. Text frames are encoded once and
// shared by every recipient of a fan-out.
type frame struct {
	data []byte
	op   uint8
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

	mu         sync.Mutex
	queue      []frame
	writing    bool   // a write loop is running
	closing    bool   // no more frames accepted
	mediaReady bool   // media sends go straight to the queue
	mediaGen   uint32 // bumped on every join and leave: stale Send funcs fail
	pending    []*signal.Message

	// Read-loop state; room and joinedAs are written under registry.mu
	// (other sessions read joinedAs when they join).
	room     *room // nil until joined
	joinedAs string
	grant    auth.Grant
	media    MediaSession
	bad      int  // malformed frames in a row
	ended    bool // a fatal error was queued: ignore further frames
}

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
	limit := c.srv.cfg.Limits.MaxMessageSize
	for {
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
			c.badFrame("", signal.CodeBadMessage, "binary frames are not part of the protocol: send JSON text frames")
			continue
		}
		buf := bufPool.Get().(*bytes.Buffer)
		buf.Reset()
		err = readLimited(buf, r, limit)
		switch {
		case errors.Is(err, errTooLarge):
			c.srv.counters.rejected[rejectTooLarge].Add(1)
			c.fail("", signal.CodeMessageTooLarge,
				fmt.Sprintf("message is over the %d-byte limit (--max-message-size)", limit), signal.CloseMessageTooBig)
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

// handle serves one decoded-to-be frame.
func (c *session) handle(b []byte) {
	var m signal.Message
	if err := signal.DecodeInto(b, &m); err != nil {
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
	default: // media types; Validate rejected everything else
		c.handleMedia(&m)
	}
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
	grant, err := c.srv.Authorize(m.Token, m.Room, m.Identity)
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
			Room: m.Room, Identity: m.Identity, SessionID: c.id, Grant: grant,
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
	c.resetMedia()
	if c.media != nil {
		c.media.Close()
		c.media = nil
	}
	c.srv.reg.leave(c, id)
	c.grant = auth.Grant{}
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
		c.replyError(m.ID, signal.CodeForbidden, "token does not grant publish: mint one with `livectl token --publish`")
		return
	case m.Type == signal.TypeSubscribe && !c.grant.Subscribe:
		c.replyError(m.ID, signal.CodeForbidden, "token does not grant subscribe: mint one with `livectl token --subscribe`")
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
	return c.push(frame{op: opText, data: b}, false)
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
		b, _ := signal.Encode(signal.ErrorMessage("", signal.CodeSlowConsumer, "send queue overflowed: read faster"))
		c.queue = append(c.queue[:0],
			frame{op: opText, data: b},
			frame{op: opClose, data: websocket.FormatCloseMessage(signal.CloseSlowConsumer, "send queue overflowed")})
		c.mu.Unlock()
		c.srv.counters.dropped[dropSlow].Add(1)
		c.srv.log.Info("dropping slow consumer", "session", c.id, "remote", c.conn.RemoteAddr().String())
		// Unblock a write stuck on a full socket buffer; the writer then
		// fails and closes the connection.
		c.conn.NetConn().SetWriteDeadline(time.Now().Add(closeGrace))
		return false
	}
	c.queue = append(c.queue, f)
	if last {
		c.closing = true
	}
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

// writeLoop drains the queue and exits when it is empty, so an idle session
// has no write goroutine.
func (c *session) writeLoop() {
	defer c.srv.wg.Done()
	for {
		c.mu.Lock()
		if len(c.queue) == 0 {
			c.writing = false
			c.queue = nil // an idle session holds no queue array
			c.mu.Unlock()
			return
		}
		f := c.queue[0]
		c.queue[0] = frame{}
		c.queue = c.queue[1:]
		closing := c.closing
		c.mu.Unlock()

		if err := c.write(f); err != nil {
			c.mu.Lock()
			c.queue, c.writing = nil, false
			wasClosing := c.closing
			c.closing = true
			c.mu.Unlock()
			if !wasClosing && !closing {
				c.srv.counters.dropped[dropWrite].Add(1)
				c.srv.log.Info("dropping connection: write failed", "session", c.id, "err", err)
			}
			c.conn.NetConn().Close()
			return
		}
	}
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
		c.conn.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
		if err := c.conn.WriteMessage(websocket.TextMessage, f.data); err != nil {
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
