package mediabench

import (
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// window is how many sequence numbers behind the highest one a packet may
// arrive and still fill its gap (a retransmission after a NACK, or
// reordering). At 200 packets/s it is ten seconds, far past any NACK retry.
const window = 2048

// stream counts one received RTP stream (one SSRC).
type stream struct {
	video     bool
	clockRate float64

	started       bool
	base, highest uint64 // extended sequence numbers
	seen          [window / 64]uint64
	unique        int64 // distinct sequence numbers received
	packets       int64 // every packet, duplicates included
	bytes         int64 // RTP bytes (header and payload)
	late          int64 // arrived after a later one: reordered, or retransmitted after a NACK
	tooLate       int64 // older than window: not counted as received
	first, last   time.Time

	// RFC 3550 interarrival jitter, in clock-rate units.
	jitter      float64
	lastTransit float64
	haveTransit bool
}

// Counters gather what one subscriber received and sent back. They are fed
// by an interceptor placed first in the chain, so they see every RTP packet
// as it leaves SRTP (before the NACK generator or anyone else) and every
// RTCP packet the default interceptors write.
type Counters struct {
	mu      sync.Mutex
	streams map[uint32]*stream
	frozen  bool // no new sequence numbers counted; gaps may still fill
	end     time.Time

	nacks, nackedPackets, plis, firs int64
}

func newCounters() *Counters { return &Counters{streams: map[uint32]*stream{}} }

// Factory returns an interceptor factory feeding c.
func (c *Counters) Factory() interceptor.Factory { return factory{c} }

type factory struct{ c *Counters }

func (f factory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &counting{c: f.c}, nil
}

type counting struct {
	interceptor.NoOp
	c *Counters
}

func (i *counting) BindRemoteStream(info *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	c := i.c
	c.mu.Lock()
	s := c.streams[info.SSRC]
	if s == nil {
		s = &stream{}
		c.streams[info.SSRC] = s
	}
	s.video = strings.HasPrefix(strings.ToLower(info.MimeType), "video/")
	s.clockRate = float64(info.ClockRate)
	c.mu.Unlock()
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, a, err := r.Read(b, a)
		if err == nil && n >= 12 {
			c.packet(s, time.Now(), binary.BigEndian.Uint16(b[2:4]), binary.BigEndian.Uint32(b[4:8]), n)
		}
		return n, a, err
	})
}

func (i *counting) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	c := i.c
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		c.mu.Lock()
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.TransportLayerNack:
				c.nacks++
				for _, pair := range p.Nacks {
					c.nackedPackets += int64(len(pair.PacketList()))
				}
			case *rtcp.PictureLossIndication:
				c.plis++
			case *rtcp.FullIntraRequest:
				c.firs++
			}
		}
		c.mu.Unlock()
		return w.Write(pkts, a)
	})
}

// packet records one RTP packet of s that arrived at now.
func (c *Counters) packet(s *stream, now time.Time, seq uint16, ts uint32, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !s.started {
		if c.frozen {
			return
		}
		s.started = true
		s.base, s.highest = uint64(seq)+1<<16, uint64(seq)+1<<16 // room to go back before the first
		s.first = now
		s.mark(s.highest)
		s.unique, s.packets, s.bytes = 1, 1, int64(size)
		s.last = now
		s.transit(now, ts)
		return
	}
	// Extend seq to the value nearest the highest so far.
	ext := s.highest&^0xffff | uint64(seq)
	switch {
	case ext+0x8000 < s.highest:
		ext += 1 << 16
	case ext > s.highest+0x8000 && ext >= 1<<16:
		ext -= 1 << 16
	}
	if ext > s.highest {
		if c.frozen {
			return // the run's window is closed: only gaps may still fill
		}
		for q := s.highest + 1; q <= ext && q <= s.highest+window; q++ {
			s.clear(q)
		}
		if ext-s.highest >= window {
			s.seen = [window / 64]uint64{}
		}
		s.highest = ext
	} else {
		if s.highest-ext >= window || ext < s.base {
			s.tooLate++
			return
		}
		if ext < s.highest && !s.has(ext) {
			s.late++
		}
	}
	s.packets++
	if s.has(ext) {
		return // a duplicate: SRTP replay protection usually drops these first
	}
	s.mark(ext)
	s.unique++
	s.bytes += int64(size)
	s.last = now
	s.transit(now, ts)
}

func (s *stream) has(q uint64) bool { return s.seen[q/64%(window/64)]&(1<<(q%64)) != 0 }
func (s *stream) mark(q uint64)     { s.seen[q/64%(window/64)] |= 1 << (q % 64) }
func (s *stream) clear(q uint64)    { s.seen[q/64%(window/64)] &^= 1 << (q % 64) }

// transit updates the interarrival jitter (RFC 3550 §6.4.1).
func (s *stream) transit(now time.Time, ts uint32) {
	if s.clockRate == 0 {
		return
	}
	// Arrival in clock units since the stream's first packet, and the RTP
	// timestamp as a float that wraps: only differences matter.
	arrival := now.Sub(s.first).Seconds() * s.clockRate
	transit := arrival - float64(ts)
	if s.haveTransit {
		d := transit - s.lastTransit
		// A timestamp wrap shows up as a jump of 2^32 units.
		for d > 1<<31 {
			d -= 1 << 32
		}
		for d < -(1 << 31) {
			d += 1 << 32
		}
		if d < 0 {
			d = -d
		}
		s.jitter += (d - s.jitter) / 16
	}
	s.lastTransit, s.haveTransit = transit, true
}

// Freeze closes the counting window at now: later sequence numbers are
// ignored, while retransmissions may still fill the gaps inside the window.
// Only the first call counts: the run closes every window at the end of the
// hold, and each subscriber freezes again when it hangs up after the grace
// period; moving the end then would divide the window's bytes by a longer
// time and understate bitrate_kbps and receive_s.
func (c *Counters) Freeze(now time.Time) {
	c.mu.Lock()
	if !c.frozen {
		c.frozen, c.end = true, now
	}
	c.mu.Unlock()
}

// Snapshot is what a subscriber received, summed over its streams.
type Snapshot struct {
	Packets, Unique, Bytes, Expected, Late, TooLate int64
	VideoPackets, AudioPackets                      int64
	NACKs, NACKedPackets, PLIs, FIRs                int64
	JitterMS, AudioJitterMS                         float64
	First                                           time.Time
	End                                             time.Time
}

// Lost is the number of packets never received, after NACK recovery.
func (s Snapshot) Lost() int64 { return max(s.Expected-s.Unique, 0) }

// Snapshot reads the counters.
func (c *Counters) Snapshot() Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Snapshot{NACKs: c.nacks, NACKedPackets: c.nackedPackets, PLIs: c.plis, FIRs: c.firs, End: c.end}
	for _, s := range c.streams {
		if !s.started {
			continue
		}
		out.Packets += s.packets
		out.Unique += s.unique
		out.Bytes += s.bytes
		out.Expected += int64(s.highest - s.base + 1)
		out.Late += s.late
		out.TooLate += s.tooLate
		if out.First.IsZero() || s.first.Before(out.First) {
			out.First = s.first
		}
		ms := 0.0
		if s.clockRate > 0 {
			ms = s.jitter / s.clockRate * 1000
		}
		if s.video {
			out.VideoPackets += s.packets
			out.JitterMS = max(out.JitterMS, ms)
		} else {
			out.AudioPackets += s.packets
			out.AudioJitterMS = max(out.AudioJitterMS, ms)
		}
	}
	if out.End.IsZero() {
		out.End = time.Now()
	}
	return out
}
