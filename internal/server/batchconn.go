package server

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// batchConn is a /ws connection's socket with a write buffer the write
// loop turns on while it writes a batch of queued frames: gorilla writes
// each frame with its own system call, so without it a member with 50
// frames queued costs 50 writes. Outside a batch, writes go straight
// through (the read loop's pong and close replies among them), after
// anything buffered. The buffer is pooled, so an idle connection holds
// none.
type batchConn struct {
	net.Conn
	mu  sync.Mutex
	buf *[]byte // non-nil while batching
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
			return b.Conn.Write(p)
		}
	}
	*b.buf = append(*b.buf, p...)
	return len(p), nil
}

func (b *batchConn) flushLocked() error {
	if len(*b.buf) == 0 {
		return nil
	}
	_, err := b.Conn.Write(*b.buf)
	*b.buf = (*b.buf)[:0]
	return err
}

// begin buffers writes until end.
func (b *batchConn) begin() {
	b.mu.Lock()
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
	return &batchConn{Conn: conn}, brw, nil
}

func (w batchingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
