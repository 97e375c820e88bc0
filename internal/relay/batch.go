package relay

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/transport/v5"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Batched sends. Every packet to every subscriber leaves through the relay's
// UDP socket; one sendto system call per packet per viewer was half of the
// server's CPU (docs/media.md). batchConn wraps a socket so that writes are
// queued and one goroutine sends whatever has queued with sendmmsg, many
// datagrams per system call. There is no timer: when the sender is idle a
// packet goes at once (a batch of one); while it is in a system call, the
// packets that the subscribers' writers produce meanwhile queue up and go
// in the next call. So batching costs no latency and grows with the load.
//
// pion's ICE UDP mux had a batch-write option (pion/transport's BatchConn,
// which LiveKit turns on); ice/v4 no longer offers it, and that BatchConn
// flushes on a timer and drops the rest of a batch when one datagram fails.

const (
	// batchSize is the most datagrams one sendmmsg sends, and how many a
	// writer may queue before it waits for the sender.
	batchSize = 128
	// batchSlot is the largest datagram that is queued; a larger one is
	// written at once. SRTP of a maxPacket RTP packet is a few bytes more.
	batchSlot = maxPacket + 64
)

// batchWriter is what sendmmsg needs: golang.org/x/net's ipv4 or ipv6
// PacketConn over the socket.
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// batch is one set of queued datagrams with their buffers and addresses,
// allocated once.
type batch struct {
	msgs  []ipv4.Message
	bufs  [][batchSlot]byte
	addrs []net.UDPAddr
	ips   [][16]byte
	n     int
}

func newBatch() *batch {
	b := &batch{msgs: make([]ipv4.Message, batchSize), bufs: make([][batchSlot]byte, batchSize),
		addrs: make([]net.UDPAddr, batchSize), ips: make([][16]byte, batchSize)}
	for i := range b.msgs {
		b.msgs[i].Buffers = [][]byte{nil}
		b.msgs[i].Addr = &b.addrs[i]
	}
	return b
}

// add queues a copy of p for addr.
func (b *batch) add(p []byte, addr netip.AddrPort) {
	i := b.n
	b.n++
	b.msgs[i].Buffers[0] = b.bufs[i][:copy(b.bufs[i][:], p)]
	a := &b.addrs[i]
	ip := addr.Addr().Unmap()
	if ip.Is4() {
		v4 := ip.As4()
		a.IP = b.ips[i][:copy(b.ips[i][:], v4[:])]
	} else {
		b.ips[i] = ip.As16()
		a.IP = b.ips[i][:]
	}
	a.Port = int(addr.Port())
}

// batchConn is a relay UDP socket whose writes go out in batches. Reads
// and everything else go straight to the socket.
type batchConn struct {
	*net.UDPConn
	bw batchWriter

	mu      sync.Mutex
	space   sync.Cond // the queue has room again (the sender took it)
	queue   *batch    // being filled by writers
	sending *batch    // being sent by the sender
	closed  bool

	wake chan struct{}
	done chan struct{}

	// failed counts datagrams the kernel refused (e.g. an unreachable
	// address); the rest of their batch is still sent.
	failed atomic.Uint64
}

func newBatchConn(c *net.UDPConn) *batchConn {
	b := &batchConn{UDPConn: c, queue: newBatch(), sending: newBatch(),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.space.L = &b.mu
	if la, ok := c.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() == nil {
		b.bw = ipv6.NewPacketConn(c)
	} else {
		b.bw = ipv4.NewPacketConn(c)
	}
	go b.sender()
	return b
}

// ReadFromAddrPort and WriteToAddrPort make pion's UDP mux use the
// allocation-free path (ice.AddrPortReaderWriter).
func (b *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return b.UDPConn.ReadFromUDPAddrPort(p)
}

// WriteToAddrPort queues p for addr and returns at once; the datagram is
// sent by the next sendmmsg.
func (b *batchConn) WriteToAddrPort(p []byte, addr netip.AddrPort) (int, error) {
	if len(p) > batchSlot {
		return b.UDPConn.WriteToUDPAddrPort(p, addr)
	}
	b.mu.Lock()
	for b.queue.n == batchSize && !b.closed {
		b.space.Wait()
	}
	if b.closed {
		b.mu.Unlock()
		return 0, net.ErrClosed
	}
	b.queue.add(p, addr)
	if b.queue.n == 1 {
		// Under the lock, so that Close cannot close wake in between.
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	return len(p), nil
}

// WriteTo is WriteToAddrPort for callers with a net.Addr.
func (b *batchConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return b.UDPConn.WriteTo(p, addr)
	}
	return b.WriteToAddrPort(p, ua.AddrPort())
}

// sender sends what has queued until the queue is empty, then waits. When
// the conn is closed it sends what is still queued, then ends: the last
// datagrams before a shutdown are often the DTLS close_notify that tells
// each peer its session has ended.
func (b *batchConn) sender() {
	defer close(b.done)
	for {
		_, open := <-b.wake
		for {
			b.mu.Lock()
			b.queue, b.sending = b.sending, b.queue
			b.space.Broadcast()
			b.mu.Unlock()
			if b.sending.n == 0 {
				break
			}
			b.send(b.sending)
			b.sending.n = 0
		}
		if !open {
			return
		}
	}
}

// send writes a batch. A datagram the kernel refuses does not cost the
// others: after an error, the rest go one at a time, skipping failures
// (x/net may refuse a whole call for one bad address before the system
// call, so the failing datagram cannot be told from the count).
func (b *batchConn) send(q *batch) {
	i := 0
	for i < q.n {
		n, err := b.bw.WriteBatch(q.msgs[i:q.n], 0)
		i += max(n, 0) // -1 when the first datagram fails
		if err == nil {
			continue
		}
		for ; i < q.n; i++ {
			if _, err := b.bw.WriteBatch(q.msgs[i:i+1], 0); err != nil {
				b.failed.Add(1)
			}
		}
	}
}

// Close stops taking writes, lets the sender send what is queued, and
// closes the socket.
func (b *batchConn) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return net.ErrClosed
	}
	b.closed = true
	b.space.Broadcast()
	b.mu.Unlock()
	close(b.wake)
	<-b.done
	return b.UDPConn.Close()
}

// batchNet opens the relay's per-address sockets (ice.NewMultiUDPMuxFromPort)
// as batchConns.
type batchNet struct{ frozenNet }

func (n batchNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.frozenNet.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	uc, ok := c.(*net.UDPConn)
	if !ok {
		return c, nil
	}
	return newBatchConn(uc), nil
}
