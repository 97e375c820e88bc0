package relay

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// maxPacket is the largest RTP packet the relay forwards. Anything that
// arrives bigger than the receive MTU is cut by the transport before us.
const maxPacket = 1500

// packet is one received RTP packet, shared read-only by the packet cache and
// every subscriber queue it was fanned out to. It returns to packetPool when
// the last holder releases it, so the forwarding path allocates nothing per
// packet in steady state.
type packet struct {
	buf  [maxPacket]byte
	n    int
	refs atomic.Int32

	// Parsed once by the read loop; writers only read them.
	seq      uint16
	ts       uint32
	marker   bool
	payOff   int  // offset of the payload in buf
	payEnd   int  // end of the payload (padding removed)
	keyframe bool // first packet a new subscriber can start on (video only; media.IsDecoderStart)
	arrival  int64
}

var packetPool = sync.Pool{New: func() any { return new(packet) }}

func getPacket() *packet {
	p := packetPool.Get().(*packet)
	p.refs.Store(1)
	return p
}

// release drops one reference; the last one returns the packet to the pool.
func (p *packet) release() {
	if p.refs.Add(-1) == 0 {
		packetPool.Put(p)
	}
}

func (p *packet) payload() []byte { return p.buf[p.payOff:p.payEnd] }

// parseRTP fills the header fields of p from p.buf[:p.n]. It reads only what
// forwarding needs and skips CSRCs and header extensions, which belong to the
// publisher's session and are not forwarded.
func (p *packet) parseRTP() bool {
	b := p.buf[:p.n]
	if len(b) < 12 || b[0]>>6 != 2 {
		return false
	}
	cc := int(b[0] & 0x0f)
	off := 12 + 4*cc
	if len(b) < off {
		return false
	}
	if b[0]&0x10 != 0 { // X: one header extension block
		if len(b) < off+4 {
			return false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
		if len(b) < off {
			return false
		}
	}
	end := len(b)
	if b[0]&0x20 != 0 { // P: padding count in the last byte
		pad := int(b[end-1])
		if pad == 0 || end-pad < off {
			return false
		}
		end -= pad
	}
	p.marker = b[1]&0x80 != 0
	p.seq = binary.BigEndian.Uint16(b[2:])
	p.ts = binary.BigEndian.Uint32(b[4:])
	p.payOff, p.payEnd = off, end
	return true
}

// packetCache keeps the last packets of a track by sequence number, to answer
// NACKs from subscribers without asking the publisher. The cache holds one
// reference on each packet it stores.
type packetCache struct {
	mu    sync.Mutex
	slots []*packet // len is a power of two
}

func newPacketCache(size int) *packetCache {
	n := 1
	for n < size {
		n <<= 1
	}
	return &packetCache{slots: make([]*packet, n)}
}

// put stores p (taking over one reference the caller already added).
func (c *packetCache) put(p *packet) {
	c.mu.Lock()
	i := int(p.seq) & (len(c.slots) - 1)
	old := c.slots[i]
	c.slots[i] = p
	c.mu.Unlock()
	if old != nil {
		old.release()
	}
}

// get returns the cached packet with sequence number seq, with a reference
// the caller must release, or nil.
func (c *packetCache) get(seq uint16) *packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.slots[int(seq)&(len(c.slots)-1)]
	if p == nil || p.seq != seq {
		return nil
	}
	p.refs.Add(1)
	return p
}

// clear releases every cached packet.
func (c *packetCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.slots {
		if p != nil {
			p.release()
			c.slots[i] = nil
		}
	}
}
