package relay

import (
	"encoding/binary"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// recordWriter stands in for pion's SRTP write stream.
type recordWriter struct {
	hdrs  []rtp.Header
	keep  bool
	count atomic.Int64
	fail  bool // return 0 bytes, as pion does before SRTP is up
}

func (w *recordWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	if w.fail {
		return 0, nil
	}
	w.count.Add(1)
	if w.keep {
		w.hdrs = append(w.hdrs, *h)
	}
	return 12 + len(payload), nil
}

func (w *recordWriter) Write(b []byte) (int, error) { return len(b), nil }

// harness builds the forwarding path without peer connections.
type harness struct {
	relay *Relay
	room  *Room
}

func newHarness(cfg Config) *harness {
	if cfg.PLIThrottle == 0 {
		cfg.PLIThrottle = DefaultPLIThrottle
	}
	if cfg.NACKRepeatWindow == 0 {
		cfg.NACKRepeatWindow = DefaultNACKRepeatWindow
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	r := &Relay{cfg: cfg, rooms: map[string]*Room{}}
	return &harness{relay: r, room: newRoom(r, "h")}
}

func (h *harness) upTrack(mime string) *upTrack {
	return newUpTrack(h.room, nil, TrackInfo{ID: "t", Kind: "video"}, 1234, webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}})
}

func (h *harness) downTrack(w *recordWriter) *downTrack {
	s := &Subscriber{relay: h.relay, room: h.room, queue: newSendQueue(h.relay.cfg.QueueSize, nil), done: make(chan struct{})}
	s.connected.Store(true)
	d := &downTrack{sub: s, kind: webrtc.RTPCodecTypeVideo, video: true, ssrc: 777, pt: 96, clockRate: 90000, mime: webrtc.MimeTypeVP8, writer: w}
	d.bound.Store(true)
	return d
}

// drain runs the subscriber's writer synchronously: a writer's turns
// until the queue is empty.
func drain(d *downTrack) {
	var batch [16]qentry
	for d.sub.drain(batch[:]) {
	}
}

// vp8Packet builds an RTP packet; key marks the start of a VP8 keyframe.
func vp8Packet(seq uint16, ts uint32, key, start bool) *packet {
	p := rtpPacket(96, seq, ts, 1234, 200)
	b := p.buf[:]
	desc := byte(0)
	if start {
		desc = 0x10
	}
	b[12] = desc
	if key {
		b[13] = 0x00 // P bit clear: keyframe
	} else {
		b[13] = 0x01
	}
	for i := 14; i < 200; i++ {
		b[i] = byte(i)
	}
	return p
}

// rtpPacket builds an RTP packet of n bytes with a 12-byte header.
func rtpPacket(pt uint8, seq uint16, ts, ssrc uint32, n int) *packet {
	p := getPacket()
	b := p.buf[:]
	b[0], b[1] = 0x80, pt
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	p.n = n
	return p
}

func TestRewriteAcrossSourceSwitch(t *testing.T) {
	h := newHarness(Config{})
	w := &recordWriter{keep: true}
	d := h.downTrack(w)
	a := h.upTrack(webrtc.MimeTypeVP8)
	d.attach(a)
	if a.waitingKF.Load() != 1 {
		t.Fatalf("attached video should wait for a keyframe")
	}
	// Delta frames before the first keyframe are not forwarded.
	a.forward(vp8Packet(100, 9000, false, true))
	a.forward(vp8Packet(101, 9000, false, false))
	a.forward(vp8Packet(102, 12000, true, true))
	a.forward(vp8Packet(103, 12000, true, false))
	a.forward(vp8Packet(104, 15000, false, true))
	drain(d)
	if len(w.hdrs) != 3 || w.hdrs[0].SequenceNumber != 102 {
		t.Fatalf("forwarded %d packets starting %v; want 3 from the keyframe at seq 102", len(w.hdrs), w.hdrs)
	}
	if a.waitingKF.Load() != 0 {
		t.Errorf("keyframe delivered but the track still counts a waiter")
	}
	for _, hd := range w.hdrs {
		if hd.SSRC != 777 || hd.PayloadType != 96 {
			t.Errorf("header not rewritten to the subscriber's SSRC/PT: %+v", hd)
		}
	}

	// Switch to a source with unrelated numbering: the receiver sees the
	// next sequence number and a later timestamp.
	b := h.upTrack(webrtc.MimeTypeVP8)
	d.detach()
	d.attach(b)
	time.Sleep(20 * time.Millisecond)
	b.forward(vp8Packet(50000, 4000000000, false, true)) // not a keyframe: skipped
	b.forward(vp8Packet(50001, 4000003000, true, true))
	b.forward(vp8Packet(50002, 4000003000, true, false))
	drain(d)
	if len(w.hdrs) != 5 {
		t.Fatalf("after switch forwarded %d packets total, want 5", len(w.hdrs))
	}
	prev, sw := w.hdrs[2], w.hdrs[3]
	if sw.SequenceNumber != prev.SequenceNumber+1 || w.hdrs[4].SequenceNumber != sw.SequenceNumber+1 {
		t.Errorf("sequence numbers broke across the switch: %d then %d, %d", prev.SequenceNumber, sw.SequenceNumber, w.hdrs[4].SequenceNumber)
	}
	if gap := sw.Timestamp - prev.Timestamp; gap == 0 || gap > 90000 {
		t.Errorf("timestamp step across the switch = %d ticks, want a small positive step", gap)
	}

	// A NACK for the switch packet is answered from b's cache with the same
	// rewritten numbers; a repeat within the window is ignored.
	d.nack(sw.SequenceNumber)
	d.nack(sw.SequenceNumber)
	drain(d)
	if len(w.hdrs) != 6 || w.hdrs[5].SequenceNumber != sw.SequenceNumber || w.hdrs[5].Timestamp != sw.Timestamp {
		t.Fatalf("retransmission: got %d packets, last %+v; want one resend of seq %d", len(w.hdrs), w.hdrs[len(w.hdrs)-1], sw.SequenceNumber)
	}
	// A NACK from before the switch has nothing to resend under this map.
	d.nack(prev.SequenceNumber)
	drain(d)
	if len(w.hdrs) != 6 {
		t.Errorf("resent a packet from before the switch")
	}
	if d.rtx.Load() != 1 || d.nacks.Load() != 3 {
		t.Errorf("rtx=%d nacks=%d, want 1 and 3", d.rtx.Load(), d.nacks.Load())
	}
	d.detach()
	a.cache.clear()
	b.cache.clear()
}

func TestNotReadyTransportRetriesKeyframe(t *testing.T) {
	h := newHarness(Config{})
	w := &recordWriter{keep: true, fail: true}
	d := h.downTrack(w)
	a := h.upTrack(webrtc.MimeTypeVP8)
	d.attach(a)
	a.forward(vp8Packet(1, 0, true, true))
	drain(d)
	if d.mapping.Load() != nil || a.waitingKF.Load() != 1 {
		t.Fatalf("a keyframe the transport did not take must not count as delivered")
	}
	w.fail = false
	a.forward(vp8Packet(2, 0, false, true))
	a.forward(vp8Packet(3, 3000, true, true))
	drain(d)
	if len(w.hdrs) != 1 || w.hdrs[0].SequenceNumber != 3 || a.waitingKF.Load() != 0 {
		t.Fatalf("got %v, want delivery to start at the next keyframe (seq 3)", w.hdrs)
	}
	d.detach()
	a.cache.clear()
}

func TestPLIThrottle(t *testing.T) {
	tests := []struct {
		name     string
		throttle time.Duration
		gaps     []time.Duration
		want     int
	}{
		{"burst collapses to one", 500 * time.Millisecond, []time.Duration{0, 0, 0, 0}, 1},
		{"after the throttle another goes", 30 * time.Millisecond, []time.Duration{0, 40 * time.Millisecond, 0}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(Config{PLIThrottle: tc.throttle})
			a := h.upTrack(webrtc.MimeTypeVP8)
			var sent int
			a.requestPLI = func() { sent++ }
			for _, g := range tc.gaps {
				time.Sleep(g)
				a.keyframeRequest(nanotime())
			}
			if sent != tc.want || int(a.plis.Load()) != tc.want {
				t.Errorf("sent %d PLIs (counted %d), want %d", sent, a.plis.Load(), tc.want)
			}
		})
	}
}

func TestSubscriberFeedbackForwardsPLI(t *testing.T) {
	h := newHarness(Config{})
	d := h.downTrack(&recordWriter{})
	a := h.upTrack(webrtc.MimeTypeVP8)
	var sent int
	a.requestPLI = func() { sent++ }
	d.attach(a) // connected: asks at once
	for range 10 {
		d.handleRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{}, &rtcp.FullIntraRequest{}})
	}
	if sent != 1 {
		t.Errorf("20 PLI/FIR from a subscriber within the throttle sent %d PLIs to the publisher, want 1", sent)
	}
	d.detach()
}

func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	h := newHarness(Config{QueueSize: 4})
	slow := h.downTrack(&recordWriter{})
	fast := h.downTrack(&recordWriter{})
	a := h.upTrack(webrtc.MimeTypeVP8)
	slow.attach(a)
	fast.attach(a)
	done := make(chan struct{})
	go func() {
		for i := range 100 {
			a.forward(vp8Packet(uint16(i), uint32(i)*3000, true, true))
			drain(fast) // the fast subscriber keeps up; the slow one never reads
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a subscriber that never reads blocked the read loop")
	}
	// The slow queue holds the start-from-cache request made at attach
	// and the first 3 packets; the other 97 are dropped.
	if slow.drops.Load() != 97 || fast.drops.Load() != 0 {
		t.Errorf("drops: slow %d (want 97), fast %d (want 0)", slow.drops.Load(), fast.drops.Load())
	}
	if fast.packets.Load() != 100 {
		t.Errorf("fast subscriber got %d of 100 packets", fast.packets.Load())
	}
	drain(slow)
	slow.detach()
	fast.detach()
	a.cache.clear()
}

// BenchmarkForward measures the forwarding path per packet for 50
// subscribers: parse, keyframe check, cache, fan-out into the queues, and
// each subscriber's rewrite and write (into a writer that discards, so
// pion's SRTP and socket costs are left out), with the GOP cache on as
// serve runs it: a keyframe every 60 packets. Target: 0 allocs/op.
func BenchmarkForward(b *testing.B) {
	const subs = 50
	h := newHarness(gopConfig(Config{}))
	a := h.upTrack(webrtc.MimeTypeVP8)
	var ds []*downTrack
	var ws []*recordWriter
	for range subs {
		w := &recordWriter{}
		d := h.downTrack(w)
		d.attach(a)
		ds, ws = append(ds, d), append(ws, w)
	}
	src := vp8Packet(0, 0, true, true)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := getPacket()
		p.n = src.n
		copy(p.buf[:src.n], src.buf[:src.n])
		binary.BigEndian.PutUint16(p.buf[2:], uint16(i))
		if i%60 != 0 {
			p.buf[13] = 0x01 // a delta frame's start
		}
		a.forward(p)
		for _, d := range ds {
			drain(d)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/subs, "ns/pkt/sub")
	// Every packet must have gone to every subscriber: a path that drops
	// some (as one did past 32,768 packets) would look cheaper.
	for i, w := range ws {
		if n := w.count.Load(); n != int64(b.N) {
			b.Fatalf("subscriber %d was sent %d of %d packets", i, n, b.N)
		}
	}
	for _, d := range ds {
		d.detach()
	}
	a.clearCaches()
}

func TestNACKRepeatWindowAndCap(t *testing.T) {
	tests := []struct {
		name   string
		window time.Duration
		gap    time.Duration
		nacks  int
		want   int
	}{
		{"repeats inside the window are ignored", time.Hour, 0, 5, 1},
		{"repeats after the window are resent up to the cap", time.Millisecond, 3 * time.Millisecond, 6, maxRetransmits},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(Config{NACKRepeatWindow: tc.window})
			w := &recordWriter{}
			d := h.downTrack(w)
			a := h.upTrack(webrtc.MimeTypeVP8)
			d.attach(a)
			a.forward(vp8Packet(10, 0, true, true))
			drain(d)
			for range tc.nacks {
				d.nack(10)
				drain(d)
				time.Sleep(tc.gap)
			}
			if got := int(d.rtx.Load()); got != tc.want {
				t.Errorf("%d NACKs for one packet caused %d retransmissions, want %d", tc.nacks, got, tc.want)
			}
			d.detach()
			a.cache.clear()
		})
	}
}

// TestKeyframeRequestRepeatsUntilDelivered: a connected subscriber waiting
// for a keyframe makes the read loop ask again each throttle interval, and
// the asking stops once a keyframe has been delivered.
func TestKeyframeRequestRepeatsUntilDelivered(t *testing.T) {
	h := newHarness(Config{PLIThrottle: 20 * time.Millisecond})
	w := &recordWriter{}
	d := h.downTrack(w)
	a := h.upTrack(webrtc.MimeTypeVP8)
	var sent atomic.Int32
	a.requestPLI = func() { sent.Add(1) }
	d.attach(a) // asks once at once
	seq := uint16(0)
	for range 10 { // 10 delta frames over ~250 ms
		a.forward(vp8Packet(seq, uint32(seq)*3000, false, true))
		seq++
		drain(d)
		time.Sleep(25 * time.Millisecond)
	}
	if n := sent.Load(); n < 5 {
		t.Fatalf("%d keyframe requests while waiting ~250 ms with a 20 ms throttle, want about 10", n)
	}
	a.forward(vp8Packet(seq, uint32(seq)*3000, true, true))
	seq++
	drain(d)
	before := sent.Load()
	for range 5 {
		time.Sleep(25 * time.Millisecond)
		a.forward(vp8Packet(seq, uint32(seq)*3000, false, true))
		seq++
		drain(d)
	}
	if sent.Load() != before {
		t.Errorf("keyframe requests continued after the keyframe was delivered (%d → %d)", before, sent.Load())
	}
	if w.count.Load() != 6 {
		t.Errorf("delivered %d packets, want the keyframe and the 5 after it", w.count.Load())
	}
	d.detach()
	a.cache.clear()
}

// attachBeforeConnect attaches a recorded down-track, whose subscriber is
// not connected yet, to a VP8 up-track that counts its keyframe requests.
func attachBeforeConnect(cfg Config) (w *recordWriter, d *downTrack, a *upTrack, plis *atomic.Int32) {
	h := newHarness(cfg)
	w = &recordWriter{keep: true}
	d = h.downTrack(w)
	d.sub.connected.Store(false)
	a = h.upTrack(webrtc.MimeTypeVP8)
	plis = new(atomic.Int32)
	a.requestPLI = func() { plis.Add(1) }
	d.attach(a)
	return w, d, a, plis
}

// connect marks d's subscriber connected, as its peer connection does.
func connect(d *downTrack) {
	d.sub.connected.Store(true)
	d.connected()
}

func seqs(w *recordWriter) []uint16 {
	var out []uint16
	for _, h := range w.hdrs {
		out = append(out, h.SequenceNumber)
	}
	return out
}

// TestStartFromCachedKeyframe: a track attached before its subscriber is
// connected asks for a keyframe at once; once connected, it starts from
// that keyframe in the cache, with the packets after it, and sends none
// of them twice.
func TestStartFromCachedKeyframe(t *testing.T) {
	w, d, a, plis := attachBeforeConnect(Config{})
	if plis.Load() != 1 {
		t.Fatalf("%d keyframe requests at attach, want 1", plis.Load())
	}
	a.forward(vp8Packet(9, 0, false, true)) // delta: nobody can start on it
	a.forward(vp8Packet(10, 3000, true, true))
	a.forward(vp8Packet(11, 3000, false, false))
	drain(d) // not connected yet: the writer passes them by
	if len(w.hdrs) != 0 {
		t.Fatalf("sent %v before the subscriber was connected", seqs(w))
	}
	connect(d)
	a.forward(vp8Packet(12, 6000, false, true)) // queued behind the start request
	drain(d)
	a.forward(vp8Packet(13, 9000, false, true))
	drain(d)
	if got := seqs(w); !slices.Equal(got, []uint16{10, 11, 12, 13}) {
		t.Fatalf("sent source packets %v, want [10 11 12 13] (keyframe from the cache, then live, none twice)", got)
	}
	if a.waitingKF.Load() != 0 {
		t.Errorf("still counted as waiting for a keyframe")
	}
	d.detach()
	a.cache.clear()
}

// TestStaleCachedKeyframeNotUsed: a keyframe older than the PLI throttle
// would start the viewer that far behind live; the track asks for a new
// one instead.
func TestStaleCachedKeyframeNotUsed(t *testing.T) {
	throttle := 20 * time.Millisecond
	w, d, a, plis := attachBeforeConnect(Config{PLIThrottle: throttle})
	a.forward(vp8Packet(10, 0, true, true))
	drain(d)
	time.Sleep(2 * throttle)
	connect(d)
	a.forward(vp8Packet(11, 3000, false, true))
	drain(d)
	if len(w.hdrs) != 0 {
		t.Fatalf("started from a stale keyframe: sent %v", seqs(w))
	}
	if plis.Load() != 2 {
		t.Errorf("%d keyframe requests, want 2 (at attach, and at connect)", plis.Load())
	}
	a.forward(vp8Packet(12, 6000, true, true))
	drain(d)
	if got := seqs(w); !slices.Equal(got, []uint16{12}) {
		t.Errorf("sent %v, want to start at the new keyframe 12", got)
	}
	d.detach()
	a.cache.clear()
}

// TestLongStreamKeepsFlowing: sequence numbers wrap every 65,536 packets
// (~5 minutes of 1.5 Mbit/s video), and comparisons against where the
// track started must keep working past 32,768 packets, when the start is
// "behind" in 16-bit arithmetic. Live packets, the packets replayed from
// the cached keyframe, and NACKs must all keep flowing.
func TestLongStreamKeepsFlowing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fromCache bool
	}{{"live keyframe", false}, {"keyframe from the cache", true}} {
		t.Run(tc.name, func(t *testing.T) {
			w, d, a, _ := attachBeforeConnect(Config{})
			const first, n = 65000, 140000 // starts near a wrap, wraps twice
			seq, ts := uint16(first), uint32(0)
			a.forward(vp8Packet(seq, ts, true, true))
			forwarded := 1
			if tc.fromCache {
				seq++
				a.forward(vp8Packet(seq, ts, false, false))
				forwarded++
			}
			connect(d) // with fromCache, replays both packets from the cache
			drain(d)
			var last uint16
			for forwarded < n {
				seq++
				if seq%3 == 0 {
					ts += 3000
				}
				a.forward(vp8Packet(seq, ts, false, seq%3 == 0))
				forwarded++
				drain(d)
				if forwarded%20000 == 0 || forwarded == n {
					if got := w.count.Load(); got != int64(forwarded) {
						t.Fatalf("%d packets forwarded from the keyframe on, %d sent", forwarded, got)
					}
				}
				if forwarded == n-1 {
					last = w.hdrs[len(w.hdrs)-1].SequenceNumber
				}
			}
			// The packet before last is in the cache: a NACK resends it.
			before := w.count.Load()
			d.nack(last)
			drain(d)
			if w.count.Load() != before+1 {
				t.Errorf("NACK for a recent packet after %d packets was not answered", n)
			}
			d.detach()
			a.cache.clear()
		})
	}
}
