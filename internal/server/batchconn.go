package server

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"
)

// batchConn is a /ws connection's socket with a write buffer the write
// loop turns on while it writes a batch of queued frames (text frames
// copied in whole, pings and close frames through gorilla), so that a
// member with 50 frames queued costs one write, not 50. Each write of a
// batch has a deadline, armed only if the socket cannot take it at once
// (writeTimed). Outside a batch, writes go straight through (the read
// loop's pong and close replies among them, under gorilla's deadlines),
// after anything buffered. The buffer is pooled, so an idle connection
// holds none.
type batchConn struct {
	net.Conn
	mu      sync.Mutex
	raw     syscall.RawConn // the socket's, for writes without a deadline; nil if it has none
	buf     *[]byte         // non-nil while batching
	timeout time.Duration   // each write of a batch must finish within it

	// writeNow's call into raw.Write, made once with its arguments and
	// results here, so that a write allocates nothing. Guarded by mu.
	rawWrite func(fd uintptr) bool
	rawP     []byte
	rawN     int
	rawErr   error
}

// newBatchConn wraps a hijacked connection.
func newBatchConn(c net.Conn) *batchConn {
	b := &batchConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		b.raw, _ = sc.SyscallConn()
	}
	b.rawWrite = func(fd uintptr) bool {
		b.rawN, b.rawErr = syscall.Write(int(fd), b.rawP)
		return true // never wait here
	}
	return b
}

// maxBatchBytes is flushed as it fills: a batch never holds more.
const maxBatchBytes = 64 << 10

var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf == nil {
		return b.Conn.Write(p)
	}
	if len(*b.buf)+len(p) > maxBatchBytes {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) > maxBatchBytes/2 {
			return b.writeTimed(p)
		}
	}
	*b.buf = append(*b.buf, p...)
	return len(p), nil
}

func (b *batchConn) flushLocked() error {
	if len(*b.buf) == 0 {
		return nil
	}
	_, err := b.writeTimed(*b.buf)
	*b.buf = (*b.buf)[:0]
	return err
}

// writeTimed writes p, giving the write a deadline of b.timeout only if
// the socket cannot take p at once. A socket with room in its buffer
// takes a batch without waiting, and arming a deadline timer costs a
// third as much as the write itself (a profile of a room of 10,000 with
// chat), so the deadline is armed only on the way to waiting.
func (b *batchConn) writeTimed(p []byte) (int, error) {
	n, err := b.writeNow(p)
	if err != nil || n == len(p) {
		return n, err
	}
	if b.timeout > 0 {
		b.Conn.SetWriteDeadline(time.Now().Add(b.timeout))
	}
	m, err := b.Conn.Write(p[n:])
	return n + m, err
}

// writeNow writes as much of p as the socket takes without waiting; b.mu
// is held. An error is the socket's own (the peer reset the connection,
// say); a write that cannot start (a deadline that has passed, a closed
// socket) reports none, and the caller's timed write then says why.
func (b *batchConn) writeNow(p []byte) (int, error) {
	if b.raw == nil {
		return 0, nil
	}
	b.rawP, b.rawN, b.rawErr = p, 0, nil
	err := b.raw.Write(b.rawWrite)
	n, werr := b.rawN, b.rawErr
	b.rawP = nil
	if err != nil {
		return 0, nil
	}
	if werr != nil && werr != syscall.EAGAIN && werr != syscall.EINTR {
		return 0, &net.OpError{Op: "write", Net: "tcp", Source: b.LocalAddr(), Addr: b.RemoteAddr(),
			Err: os.NewSyscallError("write", werr)}
	}
	return max(n, 0), nil
}

// begin buffers writes until end, and gives each system call that
// writes the buffer a deadline of timeout (none if 0).
func (b *batchConn) begin(timeout time.Duration) {
	b.mu.Lock()
	b.timeout = timeout
	if b.buf == nil {
		b.buf = batchBufs.Get().(*[]byte)
	}
	b.mu.Unlock()
}

// end writes what was buffered since begin, in one call, and stops
// buffering.
func (b *batchConn) end() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf == nil {
		return nil
	}
	err := b.flushLocked()
	if cap(*b.buf) <= maxBatchBytes*2 {
		batchBufs.Put(b.buf)
	}
	b.buf = nil
	return err
}

// batchWrites turns batchConn on; a variable for benchmarks to compare.
var batchWrites = true

// batchingWriter hands the WebSocket upgrader a batchConn when it hijacks
// the connection.
type batchingWriter struct {
	http.ResponseWriter
}

func (w batchingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	return newBatchConn(conn), brw, nil
}

func (w batchingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
