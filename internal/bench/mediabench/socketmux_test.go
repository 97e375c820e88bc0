package mediabench

import (
	"bytes"
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

// TestSocketMuxOnePeer hands the socket to one ICE user only.
func TestSocketMuxOnePeer(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	m := newSocketMux(conn)
	if got := m.GetListenAddresses(); len(got) != 1 || got[0].String() != conn.LocalAddr().String() {
		t.Fatalf("listen addresses %v, want [%s]", got, conn.LocalAddr())
	}
	for _, ufrag := range []string{"a", "a"} {
		if c, err := m.GetConn(ufrag, nil); err != nil || c != conn {
			t.Fatalf("GetConn(%q) = %v, %v; want the socket", ufrag, c, err)
		}
	}
	if _, err := m.GetConn("b", nil); err == nil {
		t.Fatal("a second ICE user got the socket")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.GetConn("a", nil); err == nil {
		t.Fatal("GetConn after Close succeeded")
	}
	if _, err := conn.WriteTo([]byte("x"), conn.LocalAddr()); err == nil {
		t.Fatal("the socket is still open after Close")
	}
}
