package relay

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// wideNACK is the hostile subscriber's RTCP packet: 250 NACK pairs, each
// asking for 17 packets, so one packet asks for the 4,250 sequence numbers
// from first on.
func wideNACK(first uint16) []rtcp.Packet {
	pairs := make([]rtcp.NackPair, 250)
	for i := range pairs {
		pairs[i] = rtcp.NackPair{PacketID: first + uint16(17*i), LostPackets: 0xffff}
	}
	return []rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 777, Nacks: pairs}}
}

// nackHarness starts a VP8 track of n packets from seq 0 on a recording
// down-track (its sequence numbers are the source's: it starts on the
// first packet, a keyframe).
func nackHarness(t *testing.T, cfg Config, n int) (*recordWriter, *downTrack, *upTrack) {
	t.Helper()
	h := newHarness(cfg)
	w := &recordWriter{keep: true}
	d := h.downTrack(w)
	a := h.upTrack(webrtc.MimeTypeVP8)
	d.attach(a)
	for i := range n {
		a.forward(vp8Packet(uint16(i), uint32(i/3)*3000, i == 0, i%3 == 0))
		drain(d)
	}
	if got := int(w.count.Load()); got != n {
		t.Fatalf("forwarded %d of %d packets", got, n)
	}
	t.Cleanup(func() {
		d.detach()
		a.cache.clear()
	})
	return w, d, a
}

// resends counts how often each sequence number was sent after the first
// n packets (the live stream): the retransmissions.
func resends(w *recordWriter, from int) map[uint16]int {
	c := map[uint16]int{}
	for _, h := range w.hdrs[from:] {
		c[h.SequenceNumber]++
	}
	return c
}

func maxCount(c map[uint16]int) (seq uint16, n int) {
	for s, k := range c {
		if k > n {
			seq, n = s, k
		}
	}
	return seq, n
}

// TestNACKAbuseRepeatWindow: the hostile subscriber's wide NACKs, repeated
// back to back with shifting ranges (all within the 100 ms repeat window),
// get each cached packet resent once, not once per NACK.
func TestNACKAbuseRepeatWindow(t *testing.T) {
	const live = 1000
	w, d, a := nackHarness(t, Config{}, live) // repeat window 100 ms
	cached := len(a.cache.slots)
	oldest := uint16(live - cached)
	start := time.Now()
	const rounds = 20
	for i := range rounds {
		// Each range starts a little before the oldest cached packet,
		// so every one of them is within the per-packet cap.
		d.handleRTCP(wideNACK(oldest - uint16(i%8)))
		drain(d)
	}
	if el := time.Since(start); el > DefaultNACKRepeatWindow/2 {
		t.Skipf("the %d NACKs took %v, not all within the repeat window", rounds, el)
	}
	c := resends(w, live)
	total := int(d.rtx.Load())
	t.Logf("%d wide NACKs in the repeat window: %d retransmissions (%d packets cached)", rounds, total, cached)
	if seq, n := maxCount(c); n > 1 {
		t.Errorf("seq %d resent %d times within the %v repeat window, want at most once", seq, n, DefaultNACKRepeatWindow)
	}
	if total > cached {
		t.Errorf("%d retransmissions for %d cached packets within the repeat window", total, cached)
	}
	if total < cached/2 {
		t.Errorf("only %d of %d cached packets resent: the NACKs' first request was not answered", total, cached)
	}
}

// TestNACKAbuseRetransmitCap: with the repeat window passed each time, the
// hostile NACKs still get each cached packet resent at most maxRetransmits
// times, while the stream goes on and the ranges shift with it: the
// retransmissions stay within maxRetransmits times the stream.
func TestNACKAbuseRetransmitCap(t *testing.T) {
	const window = time.Millisecond
	const live = 1000
	w, d, a := nackHarness(t, Config{NACKRepeatWindow: window}, live)
	cached := len(a.cache.slots)
	seq := live
	newPackets := 0
	for round := range 60 {
		// ~90 NACK packets a second against a stream of ~30 packets per
		// NACK: every NACK asks again for the whole cache.
		for range 30 {
			a.forward(vp8Packet(uint16(seq), uint32(seq/3)*3000, false, seq%3 == 0))
			seq++
			newPackets++
		}
		drain(d)
		time.Sleep(window + time.Millisecond)
		d.handleRTCP(wideNACK(uint16(seq - cached - round%8)))
		drain(d)
	}
	total := int(d.rtx.Load())
	c := resends(w, 0)
	// Every packet was sent once live; the rest are retransmissions.
	for s := range c {
		c[s]--
	}
	seqMax, nMax := maxCount(c)
	distinct := 0
	for _, k := range c {
		if k > 0 {
			distinct++
		}
	}
	t.Logf("60 wide NACKs over %d new packets (%d in the cache at the start): %d retransmissions of %d packets, at most %d of one",
		newPackets, cached, total, distinct, nMax)
	if nMax > maxRetransmits {
		t.Errorf("seq %d resent %d times, want at most maxRetransmits (%d)", seqMax, nMax, maxRetransmits)
	}
	if limit := maxRetransmits * (cached + newPackets); total > limit {
		t.Errorf("%d retransmissions, more than maxRetransmits × the %d packets that were in the cache", total, cached+newPackets)
	}
	if drops := d.drops.Load(); drops != 0 {
		t.Errorf("%d queue drops", drops)
	}
}

// TestNACKWorkPerRTCPPacket: one RTCP packet is worth at most as many
// sequence numbers as the cache holds; past those, it is not looked at.
// The hostile NACK first asks for packets the relay never had.
func TestNACKWorkPerRTCPPacket(t *testing.T) {
	const live = 1000
	w, d, a := nackHarness(t, Config{}, live)
	cached := len(a.cache.slots)
	// The first ~3,700 sequence numbers asked for are not in the cache
	// (from live on: never sent yet); the last ~500 are the cached
	// packets, which only a relay that goes on past the cap resends.
	pairs := make([]rtcp.NackPair, 0, 250)
	for i := range 250 - cached/17 - 1 {
		pairs = append(pairs, rtcp.NackPair{PacketID: uint16(live + 17*i), LostPackets: 0xffff})
	}
	for s := live - cached; s < live; s += 17 {
		pairs = append(pairs, rtcp.NackPair{PacketID: uint16(s), LostPackets: 0xffff})
	}
	d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 777, Nacks: pairs}})
	drain(d)
	if got := int(w.count.Load()) - live; got != 0 {
		t.Errorf("a NACK of %d pairs whose first %d sequence numbers are not cached resent %d packets; want none: past %d sequence numbers an RTCP packet is not looked at",
			len(pairs), 17*(len(pairs)-cached/17-1), got, cached)
	}
	if n := d.nacks.Load(); n != uint64(17*len(pairs)) {
		t.Errorf("nacks counter %d, want every sequence number asked for (%d)", n, 17*len(pairs))
	}
}

// TestNACKFewLostResent: a receiver's ordinary NACK for a few lost packets
// is answered at once, each packet once, in the receiver's numbering.
func TestNACKFewLostResent(t *testing.T) {
	const live = 600
	w, d, _ := nackHarness(t, Config{}, live)
	// Lost: 590, and 592 and 595 (bits 1 and 4 after 591).
	d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: 777, Nacks: []rtcp.NackPair{
		{PacketID: 590}, {PacketID: 591, LostPackets: 1<<0 | 1<<3},
	}}})
	drain(d)
	var got []uint16
	for _, h := range w.hdrs[live:] {
		got = append(got, h.SequenceNumber)
	}
	if want := []uint16{590, 591, 592, 595}; !slices.Equal(got, want) {
		t.Fatalf("resent %v, want %v", got, want)
	}
}

// TestNACKAfterSequenceWrap: a packet resent maxRetransmits times leaves no
// mark on the packet that has its sequence number 65,536 packets later.
func TestNACKAfterSequenceWrap(t *testing.T) {
	w, d, a := nackHarness(t, Config{NACKRepeatWindow: time.Millisecond}, 100)
	for range maxRetransmits + 1 {
		d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: 50}}}})
		drain(d)
		time.Sleep(2 * time.Millisecond)
	}
	if got := d.rtx.Load(); got != maxRetransmits {
		t.Fatalf("%d retransmissions of seq 50, want %d", got, maxRetransmits)
	}
	w.keep = false
	for i := 100; i <= 1<<16+60; i++ {
		a.forward(vp8Packet(uint16(i), uint32(i/3)*3000, false, i%3 == 0))
		drain(d)
	}
	d.handleRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{Nacks: []rtcp.NackPair{{PacketID: 50}}}})
	drain(d)
	if got := d.rtx.Load(); got != maxRetransmits+1 {
		t.Errorf("the packet numbered 50 after the wrap was not resent (%d retransmissions in all)", got)
	}
}
