package signalbench

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/livectl/livectl/internal/signal"
)

// session is one simulated client. Its connection-specific half is a conn;
// the ping bookkeeping is shared by both protocols.
type session struct {
	r   *Run
	idx int // global index over all processes
	c   conn

	// pingSched is the scheduled time (ns since the run's epoch, never 0)
	// of the ping awaiting its reply, on the shard's tick grid (onTick), 0
	// when none is outstanding; pingSent is when it actually went out. The
	// shard goroutine sets them, the connection's read goroutine clears them.
	pingSched atomic.Int64
	pingSent  atomic.Int64

	nextDue time.Duration // owned by the shard goroutine
	dead    bool          // owned by the shard goroutine

	recv receiver // the room's chat stream as this session got it
}

// conn is a session's connection in one protocol.
type conn interface {
	// ping sends a round-trip probe stamped with its scheduled time.
	ping(sched int64) error
	// err is why the connection ended, nil while it is open.
	err() error
	// leave ends the session politely and closes the connection.
	leave(ctx context.Context) error
}

// pong completes the outstanding ping stamped sched; a reply to an older
// ping (one that timed out) is ignored.
func (s *session) pong(sched int64) {
	if sched == 0 || !s.pingSched.CompareAndSwap(sched, 0) {
		return
	}
	now := s.r.now()
	r := s.r
	r.hist[LatRTT].RecordCorrected(time.Duration(now-sched), r.opts.PingInterval)
	r.series.Record(LatRTT, time.Duration(now-sched))
	r.hist[LatRTTRaw].Record(time.Duration(now - s.pingSent.Load()))
}

// dialer returns the net.Dialer for session i: its source address, if any.
func (r *Run) localAddr(i int) net.Addr {
	if len(r.opts.SourceIPs) == 0 {
		return nil
	}
	return &net.TCPAddr{IP: r.opts.SourceIPs[i%len(r.opts.SourceIPs)]}
}

// readBufferSize is each connection's read buffer.
const readBufferSize = 2048

// --- livectl protocol ---

type livectlConn struct {
	s *session
	c *signal.Client
}

func (r *Run) dialLivectl(ctx context.Context, s *session) (conn, error) {
	lc := &livectlConn{s: s}
	c, err := signal.Dial(ctx, r.opts.target(s.idx), &signal.DialOptions{
		Header:           r.opts.Header,
		TLS:              r.tls,
		LocalAddr:        r.localAddr(s.idx),
		HandshakeTimeout: r.opts.ConnectTimeout,
		WriteTimeout:     r.opts.RequestTimeout,
		OnEvent:          lc.onEvent,
		WantEvent:        lc.wantEvent,
		// A bench session reads small frames; a smaller buffer than the
		// client's default keeps thousands of idle sessions cheap (larger
		// frames still arrive, in more reads).
		ReadBufferSize: readBufferSize,
	})
	if err != nil {
		return nil, err
	}
	lc.c = c
	r.msgs.Add(1) // the welcome frame
	return lc, nil
}

// wantEvent counts every event frame and lets only pongs (and, with chat,
// chat_ok and errors) be decoded: a session receives several membership
// events per join and leave in its room, and a stream of chat frames, and
// decoding them would be most of the generator's work. Chat frames are
// scanned for what the report needs instead.
func (lc *livectlConn) wantEvent(typ string, frame []byte) bool {
	chat := lc.s.r.opts.ChatRate > 0
	switch {
	case typ == signal.TypePong:
		return true
	case chat && (typ == signal.TypeChatOK || typ == signal.TypeError):
		return true
	case chat && typ == signal.TypeChat && !lc.s.onChatFrame(frame):
		return true // not in the form the scan reads: decoded instead
	}
	lc.s.r.msgs.Add(1)
	return false
}

func (lc *livectlConn) onEvent(m *signal.Message) {
	r := lc.s.r
	r.msgs.Add(1)
	switch m.Type {
	case signal.TypePong:
		lc.s.pong(m.ClientTime)
	case signal.TypeChatOK:
		r.acceptChat(lc.s.idx, m.Seq)
	case signal.TypeError:
		// Only a chat sender's requests go unanswered by id: an error
		// event is the refusal of one of its messages.
		if m.Code == signal.CodeRateLimited {
			r.chat.refused.Add(1)
		} else {
			r.countError(&signal.Error{Code: m.Code, Reason: m.Reason})
		}
	case signal.TypeChat:
		// A frame the scan could not read (other spacing or field
		// order) arrives decoded.
		msgs := make([]chatSeen, len(m.Messages))
		for i, cm := range m.Messages {
			msgs[i] = chatSeen{cm.Seq, cm.ClientTime}
		}
		lc.s.onChat(msgs)
	}
}

func (lc *livectlConn) join(ctx context.Context, room, identity, token string) error {
	ctx, cancel := context.WithTimeout(ctx, lc.s.r.opts.RequestTimeout)
	defer cancel()
	m, err := lc.c.Join(ctx, room, identity, token)
	lc.s.r.msgs.Add(2)
	if err != nil {
		return err
	}
	if m.Type != signal.TypeJoined {
		return fmt.Errorf("%w: join answered with %q", errProtocol, m.Type)
	}
	lc.s.recv.history(m.Messages)
	return nil
}

func (lc *livectlConn) ping(sched int64) error {
	lc.s.r.msgs.Add(1)
	return lc.c.Send(&signal.Message{Type: signal.TypePing, ClientTime: sched})
}

func (lc *livectlConn) err() error {
	select {
	case <-lc.c.Done():
		return lc.c.Err()
	default:
		return nil
	}
}

func (lc *livectlConn) leave(ctx context.Context) error {
	defer lc.c.Close()
	if err := lc.err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, lc.s.r.opts.RequestTimeout)
	defer cancel()
	lc.s.r.msgs.Add(2)
	return lc.c.Leave(ctx)
}

// --- raw WebSocket ---

// rawConn drives any WebSocket server: every ping sends opts.Send and the
// first frame matching opts.Expect completes the round trip.
type rawConn struct {
	s    *session
	ws   *websocket.Conn
	wmu  sync.Mutex
	done chan struct{}
	mu   sync.Mutex
	e    error
}

// rawBufferPool shares write buffers among raw connections, as the signal
// client does, so that an idle connection holds none.
var rawBufferPool = &sync.Pool{}

func (r *Run) dialRaw(ctx context.Context, s *session) (conn, error) {
	d := websocket.Dialer{
		HandshakeTimeout: r.opts.ConnectTimeout,
		ReadBufferSize:   readBufferSize,
		WriteBufferSize:  1024,
		WriteBufferPool:  rawBufferPool,
		TLSClientConfig:  r.tls,
	}
	if la := r.localAddr(s.idx); la != nil {
		nd := &net.Dialer{LocalAddr: la}
		d.NetDialContext = nd.DialContext
	}
	target := r.opts.target(s.idx)
	ws, resp, err := d.DialContext(ctx, target, r.opts.Header)
	if err != nil {
		de := &signal.DialError{URL: target, Err: err}
		if resp != nil {
			de.Status = resp.StatusCode
			resp.Body.Close()
		}
		return nil, de
	}
	ws.SetReadLimit(signal.DefaultMaxServerMessageSize)
	rc := &rawConn{s: s, ws: ws, done: make(chan struct{})}
	go rc.readLoop()
	if err := rc.hello(); err != nil {
		ws.Close()
		<-rc.done
		return nil, err
	}
	return rc, nil
}

// hello sends the --hello frames in order: another server's handshake
// (authenticate, subscribe) before the session counts as connected.
func (rc *rawConn) hello() error {
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	for _, f := range rc.s.r.opts.Hello {
		rc.ws.SetWriteDeadline(time.Now().Add(rc.s.r.opts.RequestTimeout))
		if err := rc.ws.WriteMessage(websocket.TextMessage, []byte(f)); err != nil {
			return err
		}
		rc.s.r.msgs.Add(1)
	}
	return nil
}

func (rc *rawConn) readLoop() {
	defer close(rc.done)
	for {
		_, b, err := rc.ws.ReadMessage()
		if err != nil {
			rc.mu.Lock()
			var ce *websocket.CloseError
			if asClose(err, &ce) {
				rc.e = &signal.CloseError{Code: ce.Code, Text: ce.Text}
			} else {
				rc.e = err
			}
			rc.mu.Unlock()
			return
		}
		rc.s.r.msgs.Add(1)
		if sched := rc.s.pingSched.Load(); sched != 0 && rc.s.r.opts.Expect.Match(b) {
			rc.s.pong(sched)
		}
	}
}

func (rc *rawConn) ping(sched int64) error {
	// Without --send the shards schedule no pings (Options.pings).
	rc.s.r.msgs.Add(1)
	rc.wmu.Lock()
	defer rc.wmu.Unlock()
	rc.ws.SetWriteDeadline(time.Now().Add(rc.s.r.opts.RequestTimeout))
	return rc.ws.WriteMessage(websocket.TextMessage, []byte(rc.s.r.opts.Send))
}

func (rc *rawConn) err() error {
	select {
	case <-rc.done:
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return rc.e
	default:
		return nil
	}
}

func (rc *rawConn) leave(context.Context) error {
	err := rc.err()
	rc.wmu.Lock()
	_ = rc.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	rc.wmu.Unlock()
	select {
	case <-rc.done:
	case <-time.After(time.Second):
	}
	rc.ws.Close()
	<-rc.done
	return err
}

func asClose(err error, target **websocket.CloseError) bool {
	ce, ok := err.(*websocket.CloseError)
	if ok {
		*target = ce
	}
	return ok
}
