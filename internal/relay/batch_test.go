package relay

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestBatchSendSurvivesBadAddress: one datagram the kernel (or x/net,
// before the system call) refuses costs only itself, wherever it is in
// the batch: the others all arrive, and it is counted.
func TestBatchSendSurvivesBadAddress(t *testing.T) {
	tests := []struct {
		name string
		bad  netip.AddrPort
		at   int
	}{
		{"port 0, mid-batch", netip.MustParseAddrPort("127.0.0.1:0"), 5},
		{"port 0, first", netip.MustParseAddrPort("127.0.0.1:0"), 0},
		{"IPv6 address on an IPv4 socket", netip.MustParseAddrPort("[2001:db8::1]:9"), 3},
		{"port 0, last", netip.MustParseAddrPort("127.0.0.1:0"), 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rx, bc, to := batchPair(t)
			q := newBatch()
			for i := range 10 {
				addr := to
				if i == tc.at {
					addr = tc.bad
				}
				q.add([]byte(fmt.Sprintf("datagram %d", i)), addr)
			}
			bc.send(q)
			got := map[string]bool{}
			buf := make([]byte, 100)
			for range 9 {
				rx.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, _, err := rx.ReadFrom(buf)
				if err != nil {
					t.Fatalf("received %d of the 9 good datagrams: %v", len(got), err)
				}
				got[string(buf[:n])] = true
			}
			for i := range 10 {
				if want := fmt.Sprintf("datagram %d", i); !got[want] && i != tc.at {
					t.Errorf("%q lost", want)
				}
			}
			if f := bc.failed.Load(); f != 1 {
				t.Errorf("%d datagrams counted as failed, want 1", f)
			}
		})
	}
}

// TestBatchConnDeliversInOrder: datagrams written from many goroutines at
// once all arrive (loopback loses none here), each writer's in its order.
func TestBatchConnDeliversInOrder(t *testing.T) {
	rx, bc, to := batchPair(t)
	const writers, each = 8, 200
	for w := range writers {
		go func() {
			for i := range each {
				if _, err := bc.WriteToAddrPort([]byte{byte(w), byte(i >> 8), byte(i)}, to); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		}()
	}
	next := make([]int, writers)
	buf := make([]byte, 16)
	for range writers * each {
		rx.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := rx.ReadFrom(buf)
		if err != nil || n != 3 {
			t.Fatalf("after %v: %v (n=%d)", next, err, n)
		}
		w, i := int(buf[0]), int(buf[1])<<8|int(buf[2])
		if i != next[w] {
			t.Fatalf("writer %d: datagram %d after %d", w, i, next[w]-1)
		}
		next[w]++
	}
}

// batchPair opens a receiving socket and a batchConn on loopback; both are
// closed when the test ends.
func batchPair(t *testing.T) (rx *net.UDPConn, bc *batchConn, to netip.AddrPort) {
	t.Helper()
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	_ = rx.SetReadBuffer(4 << 20)
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	bc = newBatchConn(tx)
	t.Cleanup(func() { bc.Close() })
	return rx, bc, rx.LocalAddr().(*net.UDPAddr).AddrPort()
}

// TestBatchConnCloseSendsQueued: what was written before Close still goes
// out (a session's last datagram is often its DTLS close_notify), and a
// write after Close fails.
func TestBatchConnCloseSendsQueued(t *testing.T) {
	rx, bc, to := batchPair(t)
	bc.mu.Lock() // hold the sender off so that the datagrams stay queued
	for i := range 5 {
		bc.queue.add([]byte{byte(i)}, to)
	}
	bc.mu.Unlock()
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	for i := range 5 {
		rx.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, _, err := rx.ReadFrom(buf); err != nil || n != 1 || buf[0] != byte(i) {
			t.Fatalf("datagram %d: n=%d %v (got %v)", i, n, err, buf[:n])
		}
	}
	if _, err := bc.WriteToAddrPort([]byte{9}, to); err == nil {
		t.Error("a write after Close succeeded")
	}
}
