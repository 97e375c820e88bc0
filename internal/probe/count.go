package probe

import (
	"context"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/livectl/livectl/internal/media"
)

// frameCounter finds the complete frames of a video stream as
// media.Assembler does — a start packet, the marker packet and every
// sequence number between them, duplicates ignored, frames older than the
// last complete one dropped, at most maxPending frames in progress — from
// RTP headers and the payload's first bytes alone: no payload is copied and
// no frame is built. Options.CountOnly uses it after the first keyframe.
type frameCounter struct {
	codec   string
	pending []*countedFrame
	free    []*countedFrame
	lastTS  uint32
	emitted bool
}

// Limits as media.Assembler's: frames in progress, packets in one frame.
const (
	maxPending      = 8
	maxFramePackets = 4096
)

// countedFrame is a frame in progress: the sequence numbers seen, and
// where it starts and ends.
type countedFrame struct {
	ts         uint32
	seqs       []uint16
	start      uint16 // earliest start packet, relative order by int16 distance
	haveStart  bool
	marker     uint16
	haveMarker bool
	keyframe   bool
}

func newFrameCounter(codec string) *frameCounter { return &frameCounter{codec: codec} }

// tsAfter reports whether RTP timestamp a is after b, with wraparound.
func tsAfter(a, b uint32) bool { return a != b && a-b < 1<<31 }

// push counts one packet and returns the frame it completed, without Data.
// It keeps no reference to p.
func (c *frameCounter) push(p *rtp.Packet) (media.Frame, bool) {
	if len(p.Payload) == 0 || c.emitted && !tsAfter(p.Timestamp, c.lastTS) {
		return media.Frame{}, false
	}
	f := c.find(p.Timestamp)
	for _, q := range f.seqs {
		if q == p.SequenceNumber {
			return media.Frame{}, false // a duplicate (a retransmission that raced the original)
		}
	}
	if len(f.seqs) >= maxFramePackets {
		c.drop(f)
		return media.Frame{}, false
	}
	f.seqs = append(f.seqs, p.SequenceNumber)
	if media.StartsFrame(c.codec, p.Payload) {
		if !f.haveStart || int16(p.SequenceNumber-f.start) < 0 {
			f.start, f.haveStart = p.SequenceNumber, true
			f.keyframe = media.IsKeyframe(c.codec, p.Payload)
		}
	}
	if p.Marker && (!f.haveMarker || int16(p.SequenceNumber-f.marker) < 0) {
		f.marker, f.haveMarker = p.SequenceNumber, true
	}
	n, ok := f.complete()
	if !ok {
		return media.Frame{}, false
	}
	c.lastTS, c.emitted = f.ts, true
	// Frames still in progress before this one will not complete in time.
	kept := c.pending[:0]
	for _, q := range c.pending {
		if q != f && tsAfter(q.ts, f.ts) {
			kept = append(kept, q)
		} else {
			c.release(q)
		}
	}
	c.pending = kept
	return media.Frame{Timestamp: f.ts, Keyframe: f.keyframe, Packets: n}, true
}

// complete reports whether f holds its start, its marker and every
// sequence number between them, and how many packets that is.
func (f *countedFrame) complete() (int, bool) {
	if !f.haveStart || !f.haveMarker {
		return 0, false
	}
	span := int(int16(f.marker - f.start))
	if span < 0 {
		return 0, false
	}
	in := 0
	for _, q := range f.seqs {
		if d := int(int16(q - f.start)); d >= 0 && d <= span {
			in++
		}
	}
	return in, in == span+1
}

func (c *frameCounter) find(ts uint32) *countedFrame {
	for _, f := range c.pending {
		if f.ts == ts {
			return f
		}
	}
	if len(c.pending) >= maxPending {
		c.release(c.pending[0])
		c.pending = append(c.pending[:0], c.pending[1:]...)
	}
	var f *countedFrame
	if n := len(c.free); n > 0 {
		f, c.free = c.free[n-1], c.free[:n-1]
	} else {
		f = &countedFrame{}
	}
	*f = countedFrame{ts: ts, seqs: f.seqs[:0]}
	c.pending = append(c.pending, f)
	return f
}

// drop abandons f, a frame in progress.
func (c *frameCounter) drop(f *countedFrame) {
	for i, q := range c.pending {
		if q == f {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			c.release(f)
			return
		}
	}
}

// release keeps f's sequence-number slice for a later frame.
func (c *frameCounter) release(f *countedFrame) { c.free = append(c.free, f) }

// countFrames observes the stream after the first keyframe (RTP timestamp
// keyTS, complete at first) until until, ctx's end, or the stream's end,
// counting frames with a frameCounter: each packet is read into one reused
// buffer and only its header and first payload bytes are looked at. (A
// frame whose first packets reached the assembler before the keyframe
// completed is not counted: at most one, and only with reordering or a
// retransmitted keyframe packet.)
func (a *attempt) countFrames(ctx context.Context, t *webrtc.TrackRemote, codec string, keyTS uint32, first, until time.Time) Result {
	fc := newFrameCounter(codec)
	fc.lastTS, fc.emitted = keyTS, true
	buf := make([]byte, 1500)
	var p rtp.Packet
	frames, last := 1, first
	var maxGap time.Duration
	t.SetReadDeadline(until)
	for ctx.Err() == nil { // ctx's end moves the read deadline to now
		n, _, err := t.Read(buf)
		if err != nil {
			break // observation over, or the stream ended
		}
		if p.Unmarshal(buf[:n]) != nil {
			continue
		}
		f, ok := fc.push(&p)
		if !ok {
			continue
		}
		now := time.Now()
		maxGap = max(maxGap, now.Sub(last))
		frames, last = frames+1, now
		if a.o.OnFrame != nil {
			a.o.OnFrame(now, f)
		}
	}
	maxGap = max(maxGap, time.Since(last))
	a.mu.Lock()
	defer a.mu.Unlock()
	a.res.Frames = frames
	a.res.MaxGapMS = float64(maxGap.Microseconds()) / 1000
	a.res.Frozen = maxGap > a.o.FreezeThreshold
	return a.res
}
