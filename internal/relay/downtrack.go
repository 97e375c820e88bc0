package relay

import (
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// downTrack is one subscriber's copy of a track. It implements
// webrtc.TrackLocal so that pion hands it the negotiated SSRC, payload type
// and write stream, and it rewrites sequence numbers and timestamps so the
// receiver sees one continuous stream across source switches, packets
// skipped while waiting for a keyframe, and retransmissions.
type downTrack struct {
	sub      *Subscriber
	id       string
	streamID string
	kind     webrtc.RTPCodecType
	video    bool
	slot     bool // follows the room's track of its kind (WHEP) instead of one track

	wantMime  string                  // codec to bind: the source's when known
	src       atomic.Pointer[upTrack] // current source
	waitingOn atomic.Pointer[upTrack] // source whose keyframe this track waits for

	// waitMu guards the waiting state changes (rare: attach, connect,
	// keyframe delivered, detach). counted says whether this track is in
	// waitingOn's waitingKF, which only connected subscribers join (the
	// read loop's repeated requests are for them); a track attached before
	// its subscriber connects asks once, and starts from that keyframe
	// from the cache when it connects (startFromCache).
	waitMu  sync.Mutex
	counted bool
	sender  *webrtc.RTPSender

	// Set by Bind.
	bound     atomic.Bool
	ssrc      uint32
	pt        uint8
	mime      string
	clockRate uint32
	writer    webrtc.TrackLocalWriter

	mapping atomic.Pointer[seqMap] // read by the RTCP goroutine for NACKs

	layers layerState // simulcast: layer switching and pausing (simulcast.go)

	// twccID is the transport-wide sequence number's header extension id
	// (0: not negotiated); set in Bind.
	twccID uint8
	// Owned by the subscriber's writer goroutine.
	hdr        rtp.Header
	twccExt    [2]byte // hdr's transport-wide number (twccstamp.go)
	haveOut    bool
	lastOutSeq uint16
	lastOutTS  uint32
	lastOutAt  int64
	// Payload bytes sent, for sender reports (it wraps, as theirs does).
	sentOctets uint32

	sr srClock // the writer's reference for sender reports (reports.go)

	// Owned by the RTCP goroutine: when each cached packet was last
	// retransmitted to this receiver and how often, to ignore repeated
	// NACKs and cap the resends. One slot per packet cache slot (made on
	// the first NACK), indexed by the receiver's sequence number: under
	// one mapping no two cached packets share a slot, so however wide the
	// NACKs, a packet's mark lasts as long as the packet is in the cache.
	nackSeen []nackMark

	packets, bytes, drops, nacks, rtx, lostOut atomic.Uint64
}

type nackMark struct {
	seq   uint16
	at    int64
	count uint8
}

// maxRetransmits bounds the resends of one packet to one subscriber: a
// receiver that keeps losing it is overloaded, and more copies would only
// add to its load (a NACK storm). Whatever it NACKs, a subscriber gets at
// most this many copies of the stream on top of the stream itself.
const maxRetransmits = 3

// seqMap turns a source's sequence numbers and timestamps into this
// down-track's: out = in + offset. It changes only when the source does.
type seqMap struct {
	src    *upTrack
	seqOff uint16
	tsOff  uint32

	// floor is the oldest source sequence number this map forwards: the
	// keyframe it started on, later about newest-floorLag. Sequence numbers
	// are compared in 16-bit arithmetic, which only orders numbers less
	// than 32,768 apart; a floor left at the start would put every packet
	// "before" it once the stream is 32,768 packets on (a few minutes of
	// video), and the track would stop until the numbers wrapped around.
	// The writer goroutine owns floor; nackFloor is its copy for the RTCP
	// goroutine, which checks NACKs against it.
	floor     uint16
	nackFloor atomic.Uint32

	// Written and read by the writer goroutine only: the last source
	// packet startFromCache sent, so that its queued copy is not sent
	// again; cleared once a newer packet has been delivered.
	replayed  bool
	replayEnd uint16
}

// floorLag is how far the floor trails the newest packet, at least: more
// than any packet cache holds (maxCacheSize), so that every cached packet
// can still be resent. It moves in floorStep jumps, so that the forwarding
// path stores it once per floorStep packets, not per packet; the lag stays
// under floorLag+floorStep, well within the 32,768 that 16-bit comparisons
// can order.
const (
	floorLag  = 1 << 14
	floorStep = 1 << 12
)

// forwards reports whether source sequence number seq is at or after the
// map's floor (writer goroutine).
func (m *seqMap) forwards(seq uint16) bool { return int16(seq-m.floor) >= 0 }

// nackable is forwards for the RTCP goroutine.
func (m *seqMap) nackable(seq uint16) bool { return int16(seq-uint16(m.nackFloor.Load())) >= 0 }

// setFloor sets the floor (writer goroutine).
func (m *seqMap) setFloor(seq uint16) {
	m.floor = seq
	m.nackFloor.Store(uint32(seq))
}

// advance moves the floor up behind seq, the newest packet delivered.
func (m *seqMap) advance(seq uint16) {
	if int16(seq-m.floor) >= floorLag+floorStep {
		m.setFloor(seq - floorLag)
	}
}

// qentry is one packet waiting in a subscriber's queue; without a packet,
// it tells the writer to start the track from src's cached keyframe.
type qentry struct {
	d   *downTrack
	src *upTrack
	p   *packet
	rtx bool
}

// release drops the entry's reference on its packet, if it has one.
func (e qentry) release() {
	if e.p != nil {
		e.p.release()
	}
}

var _ webrtc.TrackLocal = (*downTrack)(nil)

// Bind picks the negotiated codec matching the source's.
func (d *downTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	want := d.wantMime
	if want == "" && d.video {
		want = webrtc.MimeTypeVP8
	} else if want == "" {
		want = webrtc.MimeTypeOpus
	}
	var chosen *webrtc.RTPCodecParameters
	codecs := ctx.CodecParameters()
	for i := range codecs {
		if strings.EqualFold(codecs[i].MimeType, want) {
			chosen = &codecs[i]
			break
		}
	}
	if chosen == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	d.ssrc = uint32(ctx.SSRC())
	d.pt = uint8(chosen.PayloadType)
	d.mime = chosen.MimeType
	d.clockRate = chosen.ClockRate
	d.writer = ctx.WriteStream()
	for _, e := range ctx.HeaderExtensions() {
		if e.URI == sdp.TransportCCURI {
			d.twccID = uint8(e.ID)
		}
	}
	d.bound.Store(true)
	// A track added to a connected subscriber is bound when the client's
	// answer arrives: only now can it use the keyframe it waits for.
	if d.sub.connected.Load() {
		d.connected()
	}
	return *chosen, nil
}

// Unbind stops writes to the peer connection. A track still waiting for a
// keyframe stops counting as a waiter: it could not send one.
func (d *downTrack) Unbind(webrtc.TrackLocalContext) error {
	d.bound.Store(false)
	d.waitMu.Lock()
	if src := d.waitingOn.Load(); src != nil && d.counted {
		src.waitingKF.Add(-1)
		d.counted = false
	}
	d.waitMu.Unlock()
	return nil
}

func (d *downTrack) ID() string                { return d.id }
func (d *downTrack) RID() string               { return "" }
func (d *downTrack) StreamID() string          { return d.streamID }
func (d *downTrack) Kind() webrtc.RTPCodecType { return d.kind }

// attach makes src this track's source, unless it already has one; video
// then waits for a keyframe. The room announces tracks from a snapshot of
// its subscribers, so the track may have been unpublished, or the
// subscriber closed (its Close detaching everything), while this ran:
// attach then undoes itself whole, also when a concurrent detach has
// already cleared d.src but came before src.addDown.
func (d *downTrack) attach(src *upTrack) bool {
	src = d.firstLayer(src)
	if !d.src.CompareAndSwap(nil, src) {
		return false
	}
	if d.video {
		d.startWaiting(src)
	}
	src.addDown(d)
	if src.removed.Load() || d.sub.isClosed() {
		d.src.CompareAndSwap(src, nil)
		src.removeDown(d)
		d.stopWaiting(src)
		return false
	}
	return true
}

// codec is the MIME type this track sends (or will, once bound).
func (d *downTrack) codec() string {
	if d.bound.Load() {
		return d.mime
	}
	return d.wantMime
}

// detach stops forwarding from the current source.
func (d *downTrack) detach() *upTrack {
	src := d.src.Swap(nil)
	if src == nil {
		return nil
	}
	d.cancelSwitch()
	src.removeDown(d)
	d.stopWaiting(src)
	return src
}

// startWaiting makes the track wait for src's next keyframe.
func (d *downTrack) startWaiting(src *upTrack) {
	d.waitMu.Lock()
	if old := d.waitingOn.Swap(src); old != nil && d.counted {
		old.waitingKF.Add(-1)
	}
	d.counted = false
	d.waitMu.Unlock()
	if d.sub.connected.Load() {
		d.connected()
		return
	}
	// Connecting (ICE and DTLS round trips) takes longer than the
	// publisher needs for a keyframe, so ask now: when the subscriber is
	// connected, the keyframe is likely in the cache already and the
	// first frame need not wait for another request's round trip.
	src.keyframeRequest(nanotime())
}

// connected counts a waiting track in its source's waiters and asks for a
// keyframe now; the source's read loop repeats the request, throttled,
// until the keyframe has reached this track. Only a bound track counts:
// one whose offer the client has not answered (or whose section it
// rejected) cannot receive the keyframe, and counting it would have the
// publisher send keyframes twice a second for as long as it stays. Bind
// calls this again.
func (d *downTrack) connected() {
	d.waitMu.Lock()
	src := d.waitingOn.Load()
	if src == nil || d.counted || !d.bound.Load() {
		d.waitMu.Unlock()
		return
	}
	d.counted = true
	src.waitingKF.Add(1)
	d.waitMu.Unlock()
	src.keyframeRequest(nanotime())
	d.sub.queue.push(qentry{d: d, src: src}) // startFromCache; skipped when the queue is full
}

// stopWaiting ends the wait for src's keyframe (delivered, or src left).
// If the track has moved on to wait for another source meanwhile, that
// wait (and its place in that source's count) stays as it is.
func (d *downTrack) stopWaiting(src *upTrack) {
	d.waitMu.Lock()
	if d.waitingOn.CompareAndSwap(src, nil) {
		if d.counted {
			src.waitingKF.Add(-1)
		}
		d.counted = false
	}
	d.waitMu.Unlock()
}

// enqueue hands p to the subscriber's writer, or drops it when the queue
// is full. The caller has already added the reference this consumes.
func (d *downTrack) enqueue(src *upTrack, p *packet, rtx bool) {
	if !d.sub.queue.push(qentry{d: d, src: src, p: p, rtx: rtx}) {
		d.drops.Add(1)
		p.release()
	}
}

// write sends one queued packet; it runs on the subscriber's writer goroutine.
func (d *downTrack) write(e qentry) {
	if !d.bound.Load() || !d.sub.connected.Load() || !d.gate(e) {
		return // not ready yet, a packet of a source we left, or video paused
	}
	p := e.p
	if p == nil {
		d.startFromCache(e.src)
		return
	}
	m := d.mapping.Load()
	if e.rtx {
		if m == nil || m.src != e.src || !m.forwards(p.seq) {
			return
		}
		if d.send(p, p.seq+m.seqOff, p.ts+m.tsOff) > 0 {
			d.rtx.Add(1)
		}
		return
	}
	if !d.video && (m == nil || m.src != e.src) && d.waitsForVideo(e.src) {
		return // starts with the video (startAudioAt)
	}
	if m != nil && m.src == e.src && m.replayed {
		if int16(p.seq-m.replayEnd) <= 0 {
			return // startFromCache sent it already
		}
		m.replayed = false
	}
	d.deliver(e.src, p, m)
}

// deliver sends p in sequence: video starts (rebases) on a keyframe. It
// reports whether p was sent.
func (d *downTrack) deliver(src *upTrack, p *packet, m *seqMap) bool {
	rebased := false
	if m == nil || m.src != src {
		if d.video && !p.keyframe {
			return false // a decoder can only start on a keyframe
		}
		m = d.rebase(src, p, m)
		rebased = true
	} else if !m.forwards(p.seq) {
		return false // from before the keyframe we started on
	}
	outSeq, outTS := p.seq+m.seqOff, p.ts+m.tsOff
	n := d.send(p, outSeq, outTS)
	if n == 0 {
		if rebased {
			d.mapping.Store(nil) // transport not ready: start again on the next keyframe
		}
		return false
	}
	if !d.haveOut || int16(outSeq-d.lastOutSeq) > 0 {
		if !d.haveOut || outTS != d.lastOutTS {
			d.sr.publish(outTS, p.arrival, uint32(d.packets.Load()), d.sentOctets) // a new frame
		}
		d.haveOut = true
		d.lastOutSeq, d.lastOutTS, d.lastOutAt = outSeq, outTS, p.arrival
		m.advance(p.seq)
	}
	if rebased && d.video {
		d.stopWaiting(src)
		d.startAudioAt(src, p.arrival)
	}
	return true
}

// startFromCache starts a video track that is still waiting for a keyframe
// (and its audio with it: deliver calls startAudioAt). With the GOP cache on, it starts
// from the track's current GOP whatever its age: the keyframe and every
// packet since, all at once unless Config.GOPCatchUpRate paces them
// (docs/media.md measures both). Without
// it, it starts from the newest keyframe in the packet cache only if that
// arrived within the PLI throttle (the one asked for when the track was
// attached, typically): an older one would start the viewer that much
// behind live, and a newer one can be asked for.
func (d *downTrack) startFromCache(src *upTrack) {
	if !d.video {
		return
	}
	if m := d.mapping.Load(); m != nil && m.src == src {
		return // started already
	}
	if src.gop != nil {
		if pkts := src.gop.snapshot(); pkts != nil {
			d.replayPaced(src, pkts, d.sub.relay.cfg.GOPCatchUpRate)
			return
		}
	}
	seq, at, ok := src.newestKeyframe()
	if !ok || nanotime()-at > src.throttle {
		return
	}
	var pkts []*packet
	for range len(src.cache.slots) {
		p := src.cache.get(seq)
		if p == nil {
			break // the newest packet so far, or a gap the receiver will NACK
		}
		pkts = append(pkts, p)
		seq++
	}
	d.replay(src, pkts)
}

// replay sends cached packets of src in order to start the track, and
// notes the newest so that its queued copy is not sent again. It releases
// the packets and reports whether the track started.
func (d *downTrack) replay(src *upTrack, pkts []*packet) bool {
	return d.replayPaced(src, pkts, 0)
}

// replayPaced is replay at rate times real time after the first frame
// (rate 0: all at once). A paced catch-up runs on a goroutine of its own,
// not on the shared writer, and holds the subscriber's queue meanwhile
// (Subscriber.drain): its live packets wait behind the catch-up, which they
// must follow anyway. A subscriber that closes meanwhile ends it.
func (d *downTrack) replayPaced(src *upTrack, pkts []*packet, rate float64) bool {
	s := d.sub
	if rate <= 0 || s.queue.ready == nil { // all at once, or a test drains by hand
		return d.catchUp(src, pkts, rate)
	}
	s.catchingUp.Store(true)
	s.relay.wg.Add(1) // on a writer, whose own count keeps Close waiting
	go func() {
		defer s.relay.wg.Done()
		d.catchUp(src, pkts, rate)
		s.catchingUp.Store(false)
		s.relay.writers.schedule(s)
	}()
	return true
}

// catchUp is replayPaced's work, on the goroutine that is to wait.
func (d *downTrack) catchUp(src *upTrack, pkts []*packet, rate float64) bool {
	started := false
	var begin int64
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for i, p := range pkts {
		if rate > 0 && started && p.ts != pkts[0].ts {
			if wait := time.Duration(float64(p.arrival-pkts[0].arrival)/rate) - time.Duration(nanotime()-begin); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-timer.C:
				case <-d.sub.stop:
					for _, q := range pkts[i:] {
						q.release()
					}
					return true
				}
			}
		}
		if i == 0 {
			begin = nanotime()
		}
		if !d.deliver(src, p, d.mapping.Load()) && !started {
			for _, q := range pkts[i:] {
				q.release()
			}
			return false // not a start, or the transport is not ready
		}
		if m := d.mapping.Load(); !started || int16(p.seq-m.replayEnd) > 0 {
			m.replayed, m.replayEnd = true, p.seq
		}
		started = true
		p.release()
	}
	return started
}

// startAudioAt starts the subscriber's audio from the same publisher as
// video, which has just started (from the GOP cache, or live) on a
// keyframe that arrived at at, from the audio that arrived since then, so that picture and sound begin
// together instead of the sound running ahead by the keyframe's age.
// The audio track has waited for this (waitsForVideo). It runs on the
// subscriber's writer goroutine, which owns every down-track's sending.
func (d *downTrack) startAudioAt(video *upTrack, at int64) {
	d.sub.mu.Lock()
	var audio []*downTrack
	for _, a := range d.sub.downs {
		if src := a.src.Load(); !a.video && src != nil && src.pub == video.pub && a.bound.Load() {
			if m := a.mapping.Load(); m == nil || m.src != src {
				audio = append(audio, a)
			}
		}
	}
	d.sub.mu.Unlock()
	for _, a := range audio {
		src := a.src.Load()
		newest := src.newestSeq.Load()
		if newest == 0 {
			continue
		}
		// Walk back from the newest packet to the first that arrived
		// after the keyframe (or the oldest the cache still has).
		first := uint16(newest - 1)
		for n := 0; n < len(src.cache.slots); n++ {
			p := src.cache.get(first - 1)
			if p == nil {
				break
			}
			early := p.arrival < at
			p.release()
			if early {
				break
			}
			first--
		}
		var pkts []*packet
		for seq := first; ; seq++ {
			p := src.cache.get(seq)
			if p == nil {
				break
			}
			pkts = append(pkts, p)
			if seq == uint16(newest-1) {
				break
			}
		}
		a.replay(src, pkts)
	}
}

// waitsForVideo reports whether an audio track that has not started should
// hold back src's packets: the subscriber's video from the same publisher
// is about to start from the GOP cache, and the audio will start with it
// (startAudioAt). Only while that start is at hand, so audio is never held
// for a video that may not come.
func (d *downTrack) waitsForVideo(src *upTrack) bool {
	d.sub.mu.Lock()
	defer d.sub.mu.Unlock()
	for _, v := range d.sub.downs {
		if !v.video || !v.bound.Load() {
			continue
		}
		w := v.waitingOn.Load()
		if w != nil && w.pub == src.pub && w.gop != nil && w.gop.usable.Load() {
			return true
		}
	}
	return false
}

// rebase starts forwarding src at p: the first packet continues the
// sequence numbers and the timeline this receiver has seen so far.
func (d *downTrack) rebase(src *upTrack, p *packet, prev *seqMap) *seqMap {
	m := &seqMap{src: src}
	m.setFloor(p.seq)
	if d.haveOut {
		m.seqOff = d.lastOutSeq + 1 - p.seq
		m.tsOff = d.lastOutTS + max(ticksSince(d.lastOutAt, nanotime(), d.clockRate), 1) - p.ts
	}
	d.mapping.Store(m)
	return m
}

// send writes p with the given sequence number and timestamp under this
// down-track's SSRC and payload type. Publisher header extensions are not
// forwarded: their ids belong to the publisher's session.
func (d *downTrack) send(p *packet, seq uint16, ts uint32) int {
	h := &d.hdr
	h.Version = 2
	h.Padding, h.PaddingSize = false, 0
	h.Extension, h.ExtensionProfile = false, 0
	h.Extensions = h.Extensions[:0]
	h.CSRC = h.CSRC[:0]
	h.Marker = p.marker
	h.PayloadType = d.pt
	h.SequenceNumber = seq
	h.Timestamp = ts
	h.SSRC = d.ssrc
	var (
		now     int64
		tseq    uint16
		stamped bool
	)
	if d.twccID != 0 {
		if now = nanotime(); d.sub.bwe.stamps(now) {
			tseq = d.sub.bwe.nextSeq()
			d.twccExt = [2]byte{byte(tseq >> 8), byte(tseq)}
			stamped = h.SetExtension(d.twccID, d.twccExt[:]) == nil
		}
	}
	n, err := d.writer.WriteRTP(h, p.payload())
	if err != nil || n == 0 {
		return 0
	}
	d.packets.Add(1)
	d.bytes.Add(uint64(n))
	d.sentOctets += uint32(p.payEnd - p.payOff)
	if m := d.sub.bwe.trains.Load(); m != nil && stamped {
		m.record(tseq, n, now)
	}
	return n
}

// handleRTCP acts on a subscriber's feedback: NACKs from the cache, PLI/FIR
// to the publisher through the throttle. One RTCP packet (a compound
// datagram) is answered for at most as many sequence numbers as the cache
// holds, the first it lists; the rest are counted as NACKed but not
// looked at. A receiver has no use for more (a NACK pair asks for up to 17
// packets, so a datagram can ask for thousands).
func (d *downTrack) handleRTCP(pkts []rtcp.Packet) {
	left := d.sub.relay.cfg.CacheSize
	for _, pkt := range pkts {
		switch pk := pkt.(type) {
		case *rtcp.TransportLayerNack:
			for _, pair := range pk.Nacks {
				if n := 1 + bits.OnesCount16(uint16(pair.LostPackets)); n > left {
					d.nacks.Add(uint64(n - left))
				}
				pair.Range(func(seq uint16) bool {
					if left <= 0 {
						return false
					}
					left--
					d.nack(seq)
					return true
				})
			}
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			if src := d.src.Load(); src != nil {
				src.keyframeRequest(nanotime())
			}
		case *rtcp.ReceiverReport:
			for _, rr := range pk.Reports {
				if rr.SSRC == d.ssrc {
					d.lostOut.Store(uint64(rr.TotalLost))
					d.layers.fracLost.Store(uint32(rr.FractionLost))
				}
			}
		}
	}
}

// nack resends one packet, identified by this receiver's sequence number,
// unless it was resent within the repeat window or maxRetransmits times.
func (d *downTrack) nack(outSeq uint16) {
	d.nacks.Add(1)
	m := d.mapping.Load()
	if m == nil || !m.nackable(outSeq-m.seqOff) {
		return // before this source's first packet: nothing to resend
	}
	p := m.src.cache.get(outSeq - m.seqOff)
	if p == nil {
		return
	}
	if len(d.nackSeen) < len(m.src.cache.slots) {
		d.nackSeen = make([]nackMark, len(m.src.cache.slots))
	}
	now := nanotime()
	mark := &d.nackSeen[int(outSeq)&(len(d.nackSeen)-1)]
	// A mark from before p arrived is for an earlier packet with this
	// sequence number (65,536 packets ago).
	if mark.seq == outSeq && mark.at != 0 && mark.at >= p.arrival {
		if now-mark.at < int64(d.sub.relay.cfg.NACKRepeatWindow) || mark.count >= maxRetransmits {
			p.release()
			return
		}
		mark.count++
	} else {
		mark.seq, mark.count = outSeq, 1
	}
	mark.at = now
	d.enqueue(m.src, p, true)
}

func (d *downTrack) addCounters(c *Counters) {
	c.PacketsOut += d.packets.Load()
	c.BytesOut += d.bytes.Load()
	c.Drops += d.drops.Load()
	c.NACKs += d.nacks.Load()
	c.Retransmits += d.rtx.Load()
	c.LostOut += d.lostOut.Load()
	c.LayerSwitches += d.layers.switches.Load()
}
