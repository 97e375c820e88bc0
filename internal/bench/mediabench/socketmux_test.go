package mediabench

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// TestBatchConnDeliversEachDatagram sends more datagrams than one batch
// holds and reads them back one at a time, in order, with their sender.
func TestBatchConnDeliversEachDatagram(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b := newBatchConn(conn)
	defer b.Close()
	from, err := net.DialUDP("udp4", nil, conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	const n = 3*batchSize + 1
	for i := range n {
		if _, err := from.Write([]byte(fmt.Sprintf("datagram %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	for i := range n {
		var got []byte
		var src string
		if i%2 == 0 {
			k, addr, err := b.ReadFromAddrPort(buf)
			if err != nil {
				t.Fatalf("datagram %d: %v", i, err)
			}
			got, src = buf[:k], addr.String()
		} else {
			k, addr, err := b.ReadFrom(buf)
			if err != nil {
				t.Fatalf("datagram %d: %v", i, err)
			}
			got, src = buf[:k], addr.String()
		}
		if want := fmt.Sprintf("datagram %d", i); !bytes.Equal(got, []byte(want)) {
			t.Fatalf("read %q, want %q", got, want)
		}
		if src != from.LocalAddr().String() {
			t.Fatalf("datagram %d from %s, sent from %s", i, src, from.LocalAddr())
		}
	}
}

// TestSocketMuxOnePeer hands the socket to one ICE user only, as views
// whose Close leaves the socket to the other views and to the mux.
func TestSocketMuxOnePeer(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	m := newSocketMux(newBatchConn(conn))
	if got := m.GetListenAddresses(); len(got) != 1 || got[0].String() != conn.LocalAddr().String() {
		t.Fatalf("listen addresses %v, want [%s]", got, conn.LocalAddr())
	}
	dropped, err := m.GetConn("a", nil)
	if err != nil {
		t.Fatal(err)
	}
	live, err := m.GetConn("a", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetConn("b", nil); err == nil {
		t.Fatal("a second ICE user got the socket")
	}
	// ICE drops a duplicate candidate by closing its connection: the other
	// view still reads.
	if err := dropped.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := dropped.WriteTo([]byte("ping"), conn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = live.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := live.ReadFrom(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read %q, %v after another view closed", buf[:n], err)
	}
	// Closing the reading view ends its blocked read.
	_ = live.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, _, err := live.ReadFrom(buf)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked read ended with %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing the view did not end its read")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetConn("a", nil); err == nil {
		t.Fatal("GetConn after Close succeeded")
	}
	if _, err := conn.WriteTo([]byte("x"), conn.LocalAddr()); err == nil {
		t.Fatal("the socket is still open after the mux closed")
	}
}
