package server

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection, the first in a
// batchConn as Hijack makes it.
func tcpPair(t testing.TB) (*batchConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	bc := newBatchConn(c)
	t.Cleanup(func() { c.Close(); peer.Close() })
	return bc, peer
}

// TestWriteTimed: a batch's write goes out at once when the socket has
// room, whatever deadline is left over; one that must wait fails at its
// deadline; a write to a reset connection says the peer is gone.
func TestWriteTimed(t *testing.T) {
	cases := []struct {
		name  string
		setup func(bc *batchConn, peer net.Conn)
		size  int
		check func(t *testing.T, n int, err error)
	}{
		{"room in the socket", func(*batchConn, net.Conn) {}, 1000, func(t *testing.T, n int, err error) {
			if err != nil || n != 1000 {
				t.Fatalf("wrote %d bytes, err %v; want 1000, nil", n, err)
			}
		}},
		{"a deadline left over from an earlier write has passed", func(bc *batchConn, _ net.Conn) {
			bc.SetWriteDeadline(time.Now().Add(-time.Second))
		}, 1000, func(t *testing.T, n int, err error) {
			if err != nil || n != 1000 {
				t.Fatalf("wrote %d bytes, err %v; want 1000, nil", n, err)
			}
		}},
		{"a peer that does not read", func(*batchConn, net.Conn) {}, 64 << 20, func(t *testing.T, n int, err error) {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("wrote %d bytes, err %v; want a deadline error", n, err)
			}
			if peerGone(err) {
				t.Fatal("a timed-out write counted as the peer gone")
			}
		}},
		{"a peer that reset the connection", func(_ *batchConn, peer net.Conn) {
			peer.(*net.TCPConn).SetLinger(0)
			peer.Close()
			time.Sleep(50 * time.Millisecond)
		}, 1000, func(t *testing.T, n int, err error) {
			if err == nil || !peerGone(err) {
				t.Fatalf("err %v; want the peer gone", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bc, peer := tcpPair(t)
			bc.timeout = 200 * time.Millisecond
			tc.setup(bc, peer)
			n, err := bc.writeTimed(make([]byte, tc.size))
			tc.check(t, n, err)
		})
	}
}

// BenchmarkWriteTimed is a batch's write to a socket with room (the peer
// reads it all): no deadline, and no allocation.
func BenchmarkWriteTimed(b *testing.B) {
	bc, peer := tcpPair(b)
	go io.Copy(io.Discard, peer)
	p := make([]byte, 600) // a chat frame of a few messages
	bc.timeout = time.Second
	b.ReportAllocs()
	for b.Loop() {
		bc.mu.Lock()
		_, err := bc.writeTimed(p)
		bc.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// TestBatchBigFrameAfterStaleDeadline: a frame too big for the batch
// buffer goes out on its own, under a fresh deadline, not under one left
// over from an earlier write that has passed.
func TestBatchBigFrameAfterStaleDeadline(t *testing.T) {
	bc, peer := tcpPair(t)
	go io.Copy(io.Discard, peer)
	bc.SetWriteDeadline(time.Now().Add(-time.Second))
	bc.begin(time.Second)
	if _, err := bc.Write(make([]byte, maxBatchBytes+1)); err != nil {
		t.Fatalf("writing a frame bigger than the buffer: %v", err)
	}
	if err := bc.end(); err != nil {
		t.Fatal(err)
	}
}
