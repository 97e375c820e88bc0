package relay

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Defaults of the GOP cache (Config.GOPCacheDuration, Config.GOPCacheBytes).
const (
	// DefaultGOPCacheDuration is the longest GOP a video track keeps:
	// broadcast encoders send a keyframe every 1–4 s, some every 6.
	DefaultGOPCacheDuration = 6 * time.Second
	// DefaultGOPCacheBytes bounds the memory one track's GOP holds: 6 s
	// of a 5 Mbit/s stream in 1,200-byte packets is ~3,100 packets.
	DefaultGOPCacheBytes = 8 << 20
)

// packetMem is what one cached packet holds in memory, whatever its
// length: the GOP cache's byte bound counts this, so it bounds memory.
const packetMem = int(unsafe.Sizeof(packet{}))

// gopCache keeps a video track's current group of pictures: every packet
// from the newest keyframe on, in arrival order, so that a new subscriber
// can start at once from that keyframe however long ago it came ("instant
// start"), instead of waiting for the publisher's next one. A publisher
// that ignores keyframe requests (a fixed-GOP encoder) would otherwise
// make a viewer wait up to its keyframe interval.
//
// It is bounded: a GOP longer than maxDur or holding more than maxBytes is
// dropped whole (a GOP without its start is no use to a decoder), and the
// track holds nothing until the next keyframe.
type gopCache struct {
	maxDur   int64 // ns
	maxBytes int

	mu      sync.Mutex
	pkts    []*packet // one reference each; pkts[0] is the keyframe start
	mem     int
	keyAt   int64       // arrival of pkts[0]
	usable  atomic.Bool // holds a GOP a subscriber can start from
	spilled bool        // over a bound: wait for the next keyframe
}

func newGOPCache(maxDur time.Duration, maxBytes int) *gopCache {
	return &gopCache{maxDur: int64(maxDur), maxBytes: maxBytes}
}

// add appends p (read loop; p.arrival and p.keyframe set). It takes over
// one reference the caller already added. A keyframe start begins a new
// GOP and releases the old one.
func (g *gopCache) add(p *packet) {
	g.mu.Lock()
	if p.keyframe {
		g.resetLocked()
		g.spilled = false
		g.keyAt = p.arrival
	}
	if g.spilled || (len(g.pkts) == 0 && !p.keyframe) {
		g.mu.Unlock()
		p.release()
		return
	}
	if g.mem+packetMem > g.maxBytes || p.arrival-g.keyAt > g.maxDur {
		g.resetLocked()
		g.spilled = true
		g.mu.Unlock()
		p.release()
		return
	}
	g.pkts = append(g.pkts, p)
	g.mem += packetMem
	g.usable.Store(true)
	g.mu.Unlock()
}

// resetLocked releases the held packets, keeping the slice for the next GOP
// so that the read loop does not allocate in steady state.
func (g *gopCache) resetLocked() {
	for i, p := range g.pkts {
		p.release()
		g.pkts[i] = nil
	}
	g.pkts = g.pkts[:0]
	g.mem = 0
	g.usable.Store(false)
}

// snapshot returns the held GOP with a reference on each packet (the
// caller releases them), or nil.
func (g *gopCache) snapshot() []*packet {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.pkts) == 0 {
		return nil
	}
	out := make([]*packet, len(g.pkts))
	for i, p := range g.pkts {
		p.refs.Add(1)
		out[i] = p
	}
	return out
}

// size is the number of packets and the memory held (for tests and stats).
func (g *gopCache) size() (n, mem int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.pkts), g.mem
}

// clear releases everything (the track has ended).
func (g *gopCache) clear() {
	g.mu.Lock()
	g.resetLocked()
	g.mu.Unlock()
}
