package signal

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// DialOptions tune a client connection. The zero value is usable.
type DialOptions struct {
	// Header is sent with the upgrade request (Authorization, Origin, …).
	Header http.Header
	// TLS configures wss:// connections (a private CA, or no verification
	// for a test server); nil uses Go's defaults.
	TLS *tls.Config
	// LocalAddr, if set, is the local address to dial from; bench uses it to
	// spread connections over several loopback addresses.
	LocalAddr net.Addr
	// HandshakeTimeout bounds the TCP connect, upgrade and welcome frame
	// together when ctx has no earlier deadline. Default 10s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each frame write. Default 10s.
	WriteTimeout time.Duration
	// ReadBufferSize and WriteBufferSize size the connection's I/O buffers.
	// They default small (1 KiB) because a bench process holds thousands of
	// idle clients; larger frames still work, in more reads.
	ReadBufferSize, WriteBufferSize int
	// MaxMessageSize caps inbound frames. Default DefaultMaxServerMessageSize.
	MaxMessageSize int64
	// OnEvent receives every server message that is not a reply to a pending
	// request, on the client's read goroutine: it must not block. Nil
	// discards events.
	OnEvent func(*Message)
	// WantEvent, when set, is asked for the type of each frame that looks
	// like an event (no request id) before it is decoded; frames it rejects
	// are dropped undecoded. Load generators holding thousands of sessions
	// use it to skip membership events they do not read, or to read the
	// few fields they need from frame (valid only during the call) instead
	// of decoding a stream of chat frames. The look is cheap and
	// conservative: a frame whose leading type field cannot be read that
	// way is decoded as usual, and replies are always decoded.
	WantEvent func(typ string, frame []byte) bool
}

// writeBufferPool shares write buffers between all clients of a process:
// an idle client then holds none.
var writeBufferPool = &sync.Pool{}

// DialError is a failure to establish the signaling session. Status is the
// HTTP status when the server refused the upgrade.
type DialError struct {
	URL    string
	Status int
	Body   string
	Err    error
}

func (e *DialError) Error() string {
	if e.Status != 0 {
		msg := fmt.Sprintf("connecting to %s: upgrade refused with HTTP %d", e.URL, e.Status)
		if e.Body != "" {
			msg += ": " + e.Body
		}
		return msg
	}
	return fmt.Sprintf("connecting to %s: %v", e.URL, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// CloseError reports that the server closed the connection, with its code and reason.
type CloseError struct {
	Code int
	Text string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("connection closed by server (code %d: %s)", e.Code, e.Text)
}

// ErrClosed is returned by calls on a client that has been closed (and is
// its Err), whatever the server answered to the close.
var ErrClosed = errors.New("signaling connection closed")

// Client is one signaling session. Its methods are safe for concurrent use.
type Client struct {
	conn         *websocket.Conn
	writeTimeout time.Duration
	onEvent      func(*Message)
	wantEvent    func(typ string, frame []byte) bool
	welcome      Message

	wmu sync.Mutex // serialises frame writes

	mu      sync.Mutex
	nextID  uint64
	pending map[string]chan reply
	err     error // why the read loop ended
	closed  bool  // Close was called

	done chan struct{}
}

// Dial opens a signaling session at url (ws:// or wss://) and waits for the
// server's welcome frame.
func Dial(ctx context.Context, url string, opts *DialOptions) (*Client, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	hs := orDefault(opts.HandshakeTimeout, 10*time.Second)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, hs)
		defer cancel()
	}
	d := websocket.Dialer{
		Proxy:            nil,
		HandshakeTimeout: hs,
		ReadBufferSize:   orDefaultInt(opts.ReadBufferSize, 1024),
		WriteBufferSize:  orDefaultInt(opts.WriteBufferSize, 1024),
		WriteBufferPool:  writeBufferPool,
		Subprotocols:     []string{Subprotocol},
		TLSClientConfig:  opts.TLS,
	}
	if opts.LocalAddr != nil {
		nd := &net.Dialer{LocalAddr: opts.LocalAddr}
		d.NetDialContext = nd.DialContext
	}
	conn, resp, err := d.DialContext(ctx, url, opts.Header)
	if err != nil {
		de := &DialError{URL: url, Err: err}
		if resp != nil {
			de.Status = resp.StatusCode
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			de.Body = string(b)
			resp.Body.Close()
		}
		return nil, de
	}
	maxSize := opts.MaxMessageSize
	if maxSize == 0 {
		maxSize = DefaultMaxServerMessageSize
	}
	conn.SetReadLimit(maxSize)

	// The welcome frame is read here, before the read loop starts, so that a
	// returned client always knows its session id and protocol version.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetReadDeadline(dl)
	}
	_, b, err := conn.ReadMessage()
	if err != nil {
		conn.Close()
		return nil, &DialError{URL: url, Err: fmt.Errorf("waiting for welcome: %w", closeErr(err))}
	}
	conn.SetReadDeadline(time.Time{})
	c := &Client{
		conn:         conn,
		writeTimeout: orDefault(opts.WriteTimeout, 10*time.Second),
		onEvent:      opts.OnEvent,
		wantEvent:    opts.WantEvent,
		done:         make(chan struct{}),
	}
	if err := DecodeInto(b, &c.welcome); err != nil {
		conn.Close()
		return nil, &DialError{URL: url, Err: fmt.Errorf("reading welcome: %w", err)}
	}
	if c.welcome.Type == TypeError {
		conn.Close()
		return nil, &DialError{URL: url, Err: &Error{Code: c.welcome.Code, Reason: c.welcome.Reason}}
	}
	if c.welcome.Type != TypeWelcome {
		conn.Close()
		return nil, &DialError{URL: url, Err: fmt.Errorf("expected welcome, got %q", c.welcome.Type)}
	}
	go c.readLoop()
	return c, nil
}

// Welcome returns the server's welcome frame.
func (c *Client) Welcome() Message { return c.welcome }

// SessionID is the id the server gave this session.
func (c *Client) SessionID() string { return c.welcome.SessionID }

// LocalAddr is the client side of the connection.
func (c *Client) LocalAddr() net.Addr { return c.conn.LocalAddr() }

func (c *Client) readLoop() {
	defer close(c.done)
	for {
		buf, err := c.readFrame()
		if err != nil {
			c.finish(closeErr(err))
			return
		}
		b := *buf
		if c.wantEvent != nil {
			if typ, ok := eventType(b); ok && !c.wantEvent(typ, b) {
				putFrameBuf(buf)
				continue
			}
		}
		// A reply whose id can be read without decoding goes to its caller
		// undecoded: the caller decodes it on its own stack. That keeps
		// this goroutine's stack (one per session, for the session's life)
		// small, and spares it growing through the decoder. The frame is
		// the caller's from then on: its buffer is not reused.
		if id, ok := replyID(b); ok {
			if ch := c.take(id); ch != nil {
				ch <- reply{raw: b} // buffered, never blocks
				continue
			}
		}
		m, err := Decode(b)
		putFrameBuf(buf) // decoding copied what it kept
		if err != nil {
			c.finish(fmt.Errorf("server sent a malformed frame: %w", err))
			c.conn.Close()
			return
		}
		if m.ID != "" {
			if ch := c.take(m.ID); ch != nil {
				ch <- reply{m: m} // buffered, never blocks
				continue
			}
		}
		if c.onEvent != nil {
			c.onEvent(m)
		}
	}
}

// frameBufs holds frame buffers between reads, shared by all clients of a
// process: a load generator's thousands of sessions each receive a stream
// of frames, most of which are read and dropped at once (WantEvent), and
// a fresh buffer for each (ReadMessage) made the garbage collector a good
// part of their cost. An idle client holds none.
var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledFrame is the largest buffer kept for reuse: a rare large frame
// (a joined reply listing a room) is not held on to.
const maxPooledFrame = 64 << 10

// readFrame reads the next data frame into a buffer from frameBufs.
func (c *Client) readFrame() (*[]byte, error) {
	_, r, err := c.conn.NextReader()
	if err != nil {
		return nil, err
	}
	buf := frameBufs.Get().(*[]byte)
	b := (*buf)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			*buf = b
			return buf, nil
		}
		if err != nil {
			*buf = b
			putFrameBuf(buf)
			return nil, err
		}
	}
}

// putFrameBuf returns a buffer whose frame is no longer used.
func putFrameBuf(buf *[]byte) {
	if cap(*buf) <= maxPooledFrame {
		frameBufs.Put(buf)
	}
}

// reply is a frame answering a request: decoded, or raw for the caller to decode.
type reply struct {
	m   *Message
	raw []byte
}

// take removes and returns the channel of the pending request id, nil if
// there is none. An emptied map is dropped so that an idle client holds none.
func (c *Client) take(id string) chan reply {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch, ok := c.pending[id]
	if !ok {
		return nil
	}
	delete(c.pending, id)
	if len(c.pending) == 0 {
		c.pending = nil
	}
	return ch
}

// replyID reads the id of a frame encoded the way Encode writes a reply,
// {"type":"…","id":"…", without decoding it; ok is false for anything else.
func replyID(b []byte) (id string, ok bool) {
	const prefix = `{"type":"`
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return "", false
	}
	rest := b[len(prefix):]
	end := plainStringEnd(rest)
	if end <= 0 {
		return "", false
	}
	rest = rest[end+1:]
	const idField = `,"id":"`
	if len(rest) < len(idField) || string(rest[:len(idField)]) != idField {
		return "", false
	}
	rest = rest[len(idField):]
	end = plainStringEnd(rest)
	if end <= 0 {
		return "", false
	}
	return string(rest[:end]), true
}

// plainStringEnd is the index of the quote ending a JSON string without
// escapes, or -1 (an escape or no end).
func plainStringEnd(b []byte) int {
	for i, ch := range b {
		switch ch {
		case '"':
			return i
		case '\\':
			return -1
		}
	}
	return -1
}

// eventType reads the type of a frame encoded the way Encode writes it,
// {"type":"…" followed by anything but an id, without decoding the frame.
// ok is false for anything else (a reply, other spacing or field order, an
// escaped type), which the caller then decodes in full.
func eventType(b []byte) (typ string, ok bool) {
	const prefix = `{"type":"`
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return "", false
	}
	rest := b[len(prefix):]
	end := -1
	for i, ch := range rest {
		if ch == '"' {
			end = i
			break
		}
		if ch == '\\' {
			return "", false
		}
	}
	if end <= 0 {
		return "", false
	}
	after := rest[end+1:]
	const idField = `,"id":`
	if len(after) >= len(idField) && string(after[:len(idField)]) == idField {
		return "", false // a reply: always decoded and matched
	}
	return typeName(rest[:end]), true
}

// typeName is b as a string, without allocating for the server's event
// types (a switch on string(b) does not copy b).
func typeName(b []byte) string {
	switch string(b) {
	case TypeChat:
		return TypeChat
	case TypePong:
		return TypePong
	case TypeChatOK:
		return TypeChatOK
	case TypeRoomUpdate:
		return TypeRoomUpdate
	case TypeParticipantJoined:
		return TypeParticipantJoined
	case TypeParticipantLeft:
		return TypeParticipantLeft
	case TypeParticipantUpdated:
		return TypeParticipantUpdated
	case TypeTrackPublished:
		return TypeTrackPublished
	case TypeTrackUnpublished:
		return TypeTrackUnpublished
	case TypeError:
		return TypeError
	}
	return string(b)
}

// finish records why the session ended and fails every pending call.
func (c *Client) finish(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		err = ErrClosed
	}
	if c.err == nil {
		c.err = err
	}
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
}

// Err is why the session ended; nil while it is open.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done is closed when the session has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Send writes m without waiting for a reply.
func (c *Client) Send(m *Message) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	if err := c.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		if e := c.Err(); e != nil {
			return e
		}
		return fmt.Errorf("sending %s: %w", m.Type, err)
	}
	return nil
}

// Call sends m as a request (it assigns m.ID) and waits for the reply. A
// TypeError reply is returned as *Error.
func (c *Client) Call(ctx context.Context, m *Message) (*Message, error) {
	ch := make(chan reply, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.nextID++
	m.ID = strconv.FormatUint(c.nextID, 10)
	if c.pending == nil {
		c.pending = make(map[string]chan reply, 1)
	}
	c.pending[m.ID] = ch
	c.mu.Unlock()

	if err := c.Send(m); err != nil {
		c.forget(m.ID)
		return nil, err
	}
	select {
	case rep, ok := <-ch:
		if !ok {
			return nil, c.Err()
		}
		r := rep.m
		if r == nil {
			var err error
			if r, err = Decode(rep.raw); err != nil {
				return nil, fmt.Errorf("server sent a malformed %s reply: %w", m.Type, err)
			}
		}
		if r.Type == TypeError {
			return r, &Error{Code: r.Code, Reason: r.Reason}
		}
		return r, nil
	case <-ctx.Done():
		c.forget(m.ID)
		return nil, fmt.Errorf("waiting for %s reply: %w", m.Type, ctx.Err())
	}
}

func (c *Client) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Join joins room as identity; token may be empty when the server runs without auth.
func (c *Client) Join(ctx context.Context, room, identity, token string) (*Message, error) {
	return c.Call(ctx, &Message{Type: TypeJoin, Room: room, Identity: identity, Token: token})
}

// Leave leaves the current room.
func (c *Client) Leave(ctx context.Context) error {
	_, err := c.Call(ctx, &Message{Type: TypeLeave})
	return err
}

// Ping measures one round trip and returns it with the server's clock.
func (c *Client) Ping(ctx context.Context) (rtt time.Duration, server time.Time, err error) {
	start := time.Now()
	r, err := c.Call(ctx, &Message{Type: TypePing, ClientTime: start.UnixNano()})
	if err != nil {
		return 0, time.Time{}, err
	}
	return time.Since(start), time.UnixMilli(r.ServerTime), nil
}

// Chat sends text to the room's chat and returns its seq. clientTime (Unix
// milliseconds, 0: none) travels with the message to every member, so a
// receiver can measure delivery latency against its own clock. Over a
// limit the error is *Error with CodeRateLimited.
func (c *Client) Chat(ctx context.Context, text string, clientTime int64) (uint64, error) {
	r, err := c.Call(ctx, &Message{Type: TypeChat, Text: text, ClientTime: clientTime})
	if err != nil {
		return 0, err
	}
	return r.Seq, nil
}

// SendChat sends text without waiting for chat_ok: load generators send
// on a schedule (open model). The chat_ok (or error), having no request
// id, arrives at OnEvent.
func (c *Client) SendChat(text string, clientTime int64) error {
	return c.Send(&Message{Type: TypeChat, Text: text, ClientTime: clientTime})
}

// Close ends the session with a normal close frame and waits for the read
// loop to stop (bounded by the write timeout).
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true // the read loop records ErrClosed, not the server's close reply
	c.mu.Unlock()
	c.wmu.Lock()
	_ = c.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(CloseNormal, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	select {
	case <-c.done:
	case <-time.After(time.Second):
	}
	err := c.conn.Close()
	<-c.done
	c.finish(ErrClosed)
	return err
}

// closeErr turns gorilla's close errors into *CloseError.
func closeErr(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return &CloseError{Code: ce.Code, Text: ce.Text}
	}
	return err
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func orDefaultInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}
