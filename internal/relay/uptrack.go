package relay

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/livectl/livectl/internal/media"
)

// upTrack is one track received from a publisher: one read loop, one packet
// cache, and the copy-on-write list of down-tracks it feeds.
type upTrack struct {
	info      TrackInfo
	room      *Room
	pub       *Publisher
	ssrc      uint32
	mime      string
	clockRate uint32
	video     bool

	cache *packetCache
	gop   *gopCache                    // video with the GOP cache on; else nil
	downs atomic.Pointer[[]*downTrack] // replaced, never mutated
	dmu   sync.Mutex                   // serialises writers of downs

	// newestKey packs where a new subscriber can start: the arrival (ms of
	// nanotime, plus one so that zero means none) << 16 | sequence number.
	newestKey atomic.Uint64
	// newestSeq is the sequence number of the newest packet, plus one
	// (zero: none yet); an audio track starts from it backwards to start
	// with its video (startAudioAt).
	newestSeq atomic.Uint32

	// Simulcast (simulcast.go): the layers of the same track, and whether
	// this is one the room does not list (not the group's primary).
	group         *layerGroup
	layer         bool
	width, height atomic.Int32  // from the newest keyframe (simulcast VP8)
	rate          atomic.Uint64 // bits/s, measured by the adapt loop
	rateBytes     uint64        // adapt loop: bytes at rateAt
	rateAt        int64

	removed   atomic.Bool  // unpublished: drain without forwarding
	waitingKF atomic.Int32 // down-tracks waiting for a keyframe
	lastPLI   atomic.Int64 // monotonic ns of the last PLI sent
	throttle  int64

	// requestPLI sends the keyframe request; a field so that the forwarding
	// benchmark can run without a peer connection.
	requestPLI func()

	// Counters, written by the read loop (and RTCP goroutines for nacks/plis).
	packets, bytes atomic.Uint64
	plis           atomic.Uint64
	lossMu         sync.Mutex
	haveSeq        bool
	baseSeq        uint64 // extended sequence number of the first packet
	maxSeq         uint64 // highest extended sequence number
	received       uint64 // distinct packets
	seen           seenSet
}

var clockStart = time.Now()

// nanotime is a monotonic clock in ns, cheap enough for the per-packet path.
func nanotime() int64 { return int64(time.Since(clockStart)) }

func newUpTrack(rm *Room, pub *Publisher, info TrackInfo, ssrc uint32, codec webrtc.RTPCodecParameters) *upTrack {
	t := &upTrack{
		info: info, room: rm, pub: pub, ssrc: ssrc,
		mime: codec.MimeType, clockRate: codec.ClockRate,
		video:    strings.HasPrefix(strings.ToLower(codec.MimeType), "video/"),
		cache:    newPacketCache(rm.relay.cfg.CacheSize),
		throttle: int64(rm.relay.cfg.PLIThrottle),
	}
	if cfg := rm.relay.cfg; t.video && cfg.GOPCacheDuration > 0 {
		t.gop = newGOPCache(cfg.GOPCacheDuration, cfg.GOPCacheBytes)
	}
	t.downs.Store(&[]*downTrack{})
	t.lastPLI.Store(-t.throttle)
	return t
}

// readLoop reads the publisher's packets until the track ends.
func (t *upTrack) readLoop(remote *webrtc.TrackRemote) {
	for {
		p := getPacket()
		n, _, err := remote.Read(p.buf[:])
		if err != nil {
			p.release()
			return
		}
		p.n = n
		t.forward(p)
	}
}

// forward caches p and hands it to every down-track. It takes over the
// caller's reference. This is the hot path: no allocation, no lock held
// while any subscriber's queue is touched.
func (t *upTrack) forward(p *packet) {
	if !p.parseRTP() {
		p.release()
		return
	}
	p.arrival = nanotime()
	// "Keyframe" here means where a new subscriber can start: for H.264
	// the SPS that precedes the IDR, not the IDR slice itself.
	p.keyframe = t.video && media.IsDecoderStart(t.mime, p.payload())
	if p.keyframe {
		t.newestKey.Store(uint64(p.arrival/1e6+1)<<16 | uint64(p.seq))
		if t.group != nil {
			t.noteSize(p)
		}
	}
	t.packets.Add(1)
	t.bytes.Add(uint64(p.n))
	t.countSeq(p.seq)

	if t.removed.Load() {
		p.release()
		return
	}
	t.newestSeq.Store(uint32(p.seq) + 1)
	downs := *t.downs.Load()
	refs := int32(len(downs)) + 1 // the cache's reference and each queue's
	if t.gop != nil {
		refs++
	}
	p.refs.Add(refs)
	t.cache.put(p)
	if t.gop != nil {
		t.gop.add(p)
	}
	for _, d := range downs {
		d.enqueue(t, p, false)
	}
	p.release()

	if t.waitingKF.Load() > 0 {
		t.keyframeRequest(p.arrival)
	}
}

// countSeq tracks the extended sequence range to count packets that never
// arrived. Late and retransmitted packets count as received, so NACK
// recovery shows as no loss; a duplicate (a retransmission that raced its
// original) counts once, so it cannot hide a packet that is missing.
func (t *upTrack) countSeq(seq uint16) {
	t.lossMu.Lock()
	defer t.lossMu.Unlock()
	if !t.haveSeq {
		t.haveSeq = true
		t.baseSeq = uint64(seq) + 1<<16 // room to go below the first packet
		t.maxSeq = t.baseSeq
		t.seen.mark(t.maxSeq)
		t.received++
		return
	}
	// Extend seq to 64 bits near maxSeq.
	ext := t.maxSeq&^0xffff | uint64(seq)
	switch diff := int16(seq - uint16(t.maxSeq)); {
	case diff > 0 && ext < t.maxSeq:
		ext += 1 << 16
	case diff < 0 && ext > t.maxSeq:
		ext -= 1 << 16
	}
	switch {
	case ext > t.maxSeq:
		t.seen.advance(t.maxSeq, ext)
		t.maxSeq = ext
	case t.maxSeq-ext >= seenWindow:
		return // too late to tell from a duplicate: it stays counted lost
	case t.seen.has(ext):
		return // a duplicate
	}
	if ext < t.baseSeq {
		t.baseSeq = ext
	}
	t.seen.mark(ext)
	t.received++
}

// seenWindow is how many of the newest sequence numbers seenSet remembers.
const seenWindow = 1024

// seenSet marks which of the newest seenWindow extended sequence numbers
// have arrived.
type seenSet [seenWindow / 64]uint64

func (s *seenSet) has(ext uint64) bool { return s[ext/64%uint64(len(s))]&(1<<(ext%64)) != 0 }
func (s *seenSet) mark(ext uint64)     { s[ext/64%uint64(len(s))] |= 1 << (ext % 64) }

// advance forgets the numbers after old up to and including new, whose
// slots now stand for them.
func (s *seenSet) advance(old, new uint64) {
	if new-old >= seenWindow {
		*s = seenSet{}
		return
	}
	for e := old + 1; e <= new; e++ {
		s[e/64%uint64(len(s))] &^= 1 << (e % 64)
	}
}

func (t *upTrack) lost() uint64 {
	t.lossMu.Lock()
	defer t.lossMu.Unlock()
	if !t.haveSeq {
		return 0
	}
	exp := t.maxSeq - t.baseSeq + 1
	if t.received >= exp {
		return 0
	}
	return exp - t.received
}

func (t *upTrack) addCounters(c *Counters) {
	c.PacketsIn += t.packets.Load()
	c.BytesIn += t.bytes.Load()
	c.PacketsLost += t.lost()
	c.PLIs += t.plis.Load()
}

// newestKeyframe returns the sequence number of the newest keyframe start
// and its arrival (nanotime, to the millisecond), if one arrived.
func (t *upTrack) newestKeyframe() (seq uint16, at int64, ok bool) {
	v := t.newestKey.Load()
	if v == 0 {
		return 0, 0, false
	}
	return uint16(v), int64(v>>16-1) * 1e6, true
}

// keyframeRequest asks the publisher for a keyframe unless one was asked
// for within the PLI throttle. now is nanotime().
func (t *upTrack) keyframeRequest(now int64) bool {
	if !t.video {
		return false
	}
	last := t.lastPLI.Load()
	if now-last < t.throttle || !t.lastPLI.CompareAndSwap(last, now) {
		return false
	}
	t.plis.Add(1)
	if t.requestPLI != nil {
		t.requestPLI()
	}
	return true
}

// clearCaches releases the packets the track's caches hold (it has ended).
func (t *upTrack) clearCaches() {
	t.cache.clear()
	if t.gop != nil {
		t.gop.clear()
	}
}

// addDown and removeDown replace the down-track list (copy on write).
func (t *upTrack) addDown(d *downTrack) {
	t.dmu.Lock()
	old := *t.downs.Load()
	n := make([]*downTrack, len(old), len(old)+1)
	copy(n, old)
	n = append(n, d)
	t.downs.Store(&n)
	t.dmu.Unlock()
}

func (t *upTrack) removeDown(d *downTrack) {
	t.dmu.Lock()
	old := *t.downs.Load()
	n := make([]*downTrack, 0, len(old))
	for _, x := range old {
		if x != d {
			n = append(n, x)
		}
	}
	t.downs.Store(&n)
	t.dmu.Unlock()
}

// pliSender returns the function that sends a PLI for ssrc on pc.
func pliSender(pc *webrtc.PeerConnection, ssrc uint32) func() {
	return func() {
		_ = pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
}
