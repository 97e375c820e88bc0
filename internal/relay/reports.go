package relay

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// Sender reports. A viewer's receiver needs one per track now and then
// (RFC 3550 6.4.1): its NTP/RTP time pair lines audio up with video, and
// its counts feed the viewer's statistics. pion's report interceptor made
// them with a goroutine and a ticker per peer connection and a mutex, a
// clock read and a map lookup per packet sent; at 100 viewers that was
// ~4 % of the server's CPU (`livectl inspect cpu`) and one of each
// viewer's goroutines. Here the writer publishes, once per frame, the
// frame's outgoing timestamp and when the frame arrived (srClock), and one
// loop for the relay sends every subscriber's reports each
// senderReportInterval.
//
// The RTP time of a report is the last frame's timestamp moved on by the
// time since that frame arrived from the publisher. Arrival, not sending:
// a frame sent from the GOP cache, or after a wait in the viewer's queue,
// keeps its own place on the publisher's timeline, and audio and video
// keep theirs relative to each other, which is what the receiver syncs.
const senderReportInterval = time.Second

// srClock is a down-track's reference for its sender reports: a frame's
// outgoing timestamp, its arrival (nanotime), and the packets and payload
// bytes sent up to the frame's first packet (so the counts of a report lag
// by at most the rest of a frame, and never disagree with each other). The
// writer publishes it and the report loop reads it, under a
// sequence count (odd while a publish is under way), so the loop never
// pairs one frame's timestamp with another's arrival.
type srClock struct {
	seq     atomic.Uint32
	ts      atomic.Uint32
	at      atomic.Int64
	packets atomic.Uint32
	octets  atomic.Uint32
}

// publish is called by the track's writer only.
func (c *srClock) publish(ts uint32, at int64, packets, octets uint32) {
	c.seq.Add(1)
	c.ts.Store(ts)
	c.at.Store(at)
	c.packets.Store(packets)
	c.octets.Store(octets)
	c.seq.Add(1)
}

// load returns the last published reference; ok is false before the first
// one, or if the writer kept publishing through every try.
func (c *srClock) load() (ts uint32, at int64, packets, octets uint32, ok bool) {
	for range 8 {
		s := c.seq.Load()
		if s == 0 {
			return 0, 0, 0, 0, false
		}
		if s&1 == 1 {
			runtime.Gosched()
			continue
		}
		ts, at, packets, octets = c.ts.Load(), c.at.Load(), c.packets.Load(), c.octets.Load()
		if c.seq.Load() == s {
			return ts, at, packets, octets, true
		}
	}
	return 0, 0, 0, 0, false
}

// ticksSince is the media clock's advance from at to now (nanotime), at
// clockRate Hz; never negative.
func ticksSince(at, now int64, clockRate uint32) uint32 {
	el := max(now-at, 0)
	// In two parts, so that a long pause cannot overflow the product.
	return uint32(uint64(el/1e9)*uint64(clockRate) + uint64(el%1e9)*uint64(clockRate)/1e9)
}

// ntpTime is t as a 64-bit NTP timestamp (RFC 3550 4).
func ntpTime(t time.Time) uint64 {
	const unixToNTP = 2208988800 // seconds from 1900 to 1970
	ns := uint64(t.UnixNano())
	secs := ns/1e9 + unixToNTP
	frac := (ns % 1e9) << 32 / 1e9
	return secs<<32 | frac
}

// senderReport is the track's report at wall time wall, nanotime now; ok
// is false before the track has sent a frame.
func (d *downTrack) senderReport(wall time.Time, now int64) (rtcp.SenderReport, bool) {
	if !d.bound.Load() {
		return rtcp.SenderReport{}, false
	}
	ts, at, packets, octets, ok := d.sr.load()
	if !ok {
		return rtcp.SenderReport{}, false
	}
	return rtcp.SenderReport{
		SSRC:        d.ssrc,
		NTPTime:     ntpTime(wall),
		RTPTime:     ts + ticksSince(at, now, d.clockRate),
		PacketCount: packets,
		OctetCount:  octets,
	}, true
}

// sendReports sends a connected subscriber its tracks' sender reports, in
// one compound packet.
func (s *Subscriber) sendReports(wall time.Time, now int64) {
	if !s.connected.Load() {
		return
	}
	var pkts []rtcp.Packet
	s.mu.Lock()
	for _, d := range s.downs {
		if sr, ok := d.senderReport(wall, now); ok {
			pkts = append(pkts, &sr)
		}
	}
	s.mu.Unlock()
	if len(pkts) > 0 {
		// An error is a closing peer connection: its session ends anyway.
		_ = s.pc.WriteRTCP(pkts)
	}
}

// reportOnce sends every subscriber of every room its sender reports.
func (r *Relay) reportOnce(wall time.Time, now int64) {
	for _, rm := range r.roomList() {
		rm.mu.Lock()
		subs := rm.subscribers()
		rm.mu.Unlock()
		for _, s := range subs {
			s.sendReports(wall, now)
		}
	}
}
