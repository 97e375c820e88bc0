package mediabench

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"golang.org/x/net/ipv4"
)

// socketMux is an ice.UDPMux over one UDP socket that serves one peer
// connection: ICE gathers one host candidate on the socket and reads it
// directly. pion's UDPMuxDefault serves many peers on a socket by copying
// every datagram into a per-peer queue (a pooled buffer each) that another
// goroutine drains; with one peer per socket, as each subscriber here has,
// that hop only costs: a copy, often an allocation, a goroutine hand-off
// per packet, and a queue without bound when the reader falls behind.
type socketMux struct {
	conn net.PacketConn

	mu     sync.Mutex
	ufrag  string
	closed bool
}

var _ ice.UDPMux = (*socketMux)(nil)

func newSocketMux(conn net.PacketConn) *socketMux { return &socketMux{conn: conn} }

// GetConn returns a view of the socket for the peer's ICE user fragment. A
// second fragment (an ICE restart) is refused: the socket has one reader.
func (m *socketMux) GetConn(ufrag string, _ net.Addr) (net.PacketConn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, net.ErrClosed
	}
	if m.ufrag != "" && m.ufrag != ufrag {
		return nil, fmt.Errorf("UDP socket %s already carries ICE user %q, not %q: one peer connection per subscriber socket", m.conn.LocalAddr(), m.ufrag, ufrag)
	}
	m.ufrag = ufrag
	v := &socketView{PacketConn: m.conn}
	v.apc, _ = m.conn.(ice.AddrPortReaderWriter)
	return v, nil
}

// RemoveConnByUfrag is called when the peer's ICE agent closes; its views
// are closed by then.
func (m *socketMux) RemoveConnByUfrag(string) {}

// GetListenAddresses is the socket's address: the one host candidate.
func (m *socketMux) GetListenAddresses() []net.Addr { return []net.Addr{m.conn.LocalAddr()} }

// Close closes the socket.
func (m *socketMux) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	return m.conn.Close()
}

// socketView is what ICE gets for a candidate: the socket, except that
// closing it does not close the socket. ICE closes a candidate's
// connection when it drops the candidate (a duplicate, an old gathering
// generation) as well as at the end; the socket belongs to socketMux and
// may be carrying another candidate. Closing the view that reads ends its
// blocked read; a view that never read leaves the socket alone.
type socketView struct {
	net.PacketConn
	apc     ice.AddrPortReaderWriter // the socket's allocation-free path, if it has one
	closed  atomic.Bool
	reading atomic.Bool
}

var _ ice.AddrPortReaderWriter = (*socketView)(nil)

// ReadFromAddrPort reads the next datagram, through the socket's
// allocation-free path when it has one.
func (v *socketView) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	v.reading.Store(true) // before the check: Close sees one or the other
	if v.closed.Load() {
		return 0, netip.AddrPort{}, net.ErrClosed
	}
	var n int
	var from netip.AddrPort
	var err error
	if v.apc != nil {
		n, from, err = v.apc.ReadFromAddrPort(b)
	} else {
		var addr net.Addr
		if n, addr, err = v.PacketConn.ReadFrom(b); err == nil {
			if ua, ok := addr.(*net.UDPAddr); ok {
				from = ua.AddrPort()
			}
		}
	}
	if err != nil && v.closed.Load() {
		err = net.ErrClosed
	}
	return n, from, err
}

// ReadFrom is ReadFromAddrPort with a net.Addr.
func (v *socketView) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := v.ReadFromAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// WriteToAddrPort sends b to addr.
func (v *socketView) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if v.apc != nil {
		return v.apc.WriteToAddrPort(b, addr)
	}
	return v.PacketConn.WriteTo(b, net.UDPAddrFromAddrPort(addr))
}

// Close closes the view; if it was reading, a read deadline in the past
// wakes its blocked read, which then reports the view closed.
func (v *socketView) Close() error {
	if v.closed.Swap(true) {
		return nil
	}
	if v.reading.Load() {
		_ = v.PacketConn.SetReadDeadline(time.Now())
	}
	return nil
}

// batchSize is how many datagrams batchConn takes from the kernel in one
// system call: a video frame's packets arrive together.
const batchSize = 8

// batchConn reads a UDP socket with recvmmsg, up to batchSize datagrams a
// system call, and hands them to its one reader (the peer's ICE candidate)
// one at a time. A subscriber receives a frame as a burst of packets; one
// recvmsg each, plus the one that finds the socket empty before the
// goroutine parks, was the generator's largest single cost. It also opts
// in to ICE's allocation-free address path (AddrPortReaderWriter), and not
// to the ECN ancillary data a raw socket gets, which a subscriber never
// uses.
type batchConn struct {
	*net.UDPConn
	pc   *ipv4.PacketConn
	msgs []ipv4.Message
	n    int // messages read by the last batch
	next int // next message to hand out
}

var _ ice.AddrPortReaderWriter = (*batchConn)(nil)

func newBatchConn(c *net.UDPConn) *batchConn {
	b := &batchConn{UDPConn: c, pc: ipv4.NewPacketConn(c), msgs: make([]ipv4.Message, batchSize)}
	for i := range b.msgs {
		b.msgs[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	return b
}

// ReadFromAddrPort returns the next datagram, reading a batch when none is left.
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	for b.next >= b.n {
		n, err := b.pc.ReadBatch(b.msgs, 0)
		if err != nil {
			return 0, netip.AddrPort{}, err
		}
		b.n, b.next = n, 0
	}
	m := &b.msgs[b.next]
	b.next++
	var from netip.AddrPort
	if a, ok := m.Addr.(*net.UDPAddr); ok {
		from = a.AddrPort()
	}
	return copy(p, m.Buffers[0][:m.N]), from, nil
}

// ReadFrom is ReadFromAddrPort for callers that want a net.Addr (a test's
// wrapper around the socket).
func (b *batchConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := b.ReadFromAddrPort(p)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// WriteToAddrPort sends p to addr.
func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	return b.UDPConn.WriteToUDPAddrPort(p, addr)
}
