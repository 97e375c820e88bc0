package media

import (
	"fmt"
	"strings"

	"github.com/pion/rtp"
)

// FrameCounter finds the complete frames of a video stream by Assembler's
// rules — a start packet, the marker packet and every sequence number
// between them; duplicates ignored; frames older than the last complete one
// dropped; at most maxPendingFrames in progress and maxPacketsPerFrame in
// one — from RTP headers and the payload's first bytes alone. It copies no
// payload and builds no frame: Push returns frames without Data, Width or
// Height. For readers that only count frames (the probe's CountOnly mode,
// which bench media's subscribers use). It is not safe for concurrent use.
type FrameCounter struct {
	codec   string
	pending []*countedFrame
	free    []*countedFrame
	lastTS  uint32
	emitted bool
}

// countedFrame is a frame in progress: the sequence numbers seen, and
// where it starts and ends.
type countedFrame struct {
	ts         uint32
	seqs       []uint16
	nals       []uint32 // H.264: each packet's NAL unit types (h264NALTypes), by seqs' index
	start      uint16   // the earliest start packet
	haveStart  bool
	marker     uint16 // the earliest marker packet
	haveMarker bool
	keyframe   bool
	w, h       int // a VP8 keyframe's size
}

// NewFrameCounter returns a FrameCounter for a video MIME type (VP8 or H.264).
func NewFrameCounter(mimeType string) (*FrameCounter, error) {
	switch {
	case strings.EqualFold(mimeType, MimeVP8):
		return &FrameCounter{codec: MimeVP8}, nil
	case strings.EqualFold(mimeType, MimeH264):
		return &FrameCounter{codec: MimeH264}, nil
	}
	return nil, fmt.Errorf("counting %s frames: %w (VP8 and H.264 are supported)", mimeType, ErrUnsupportedCodec)
}

// After says that the frame with RTP timestamp ts is complete already (an
// Assembler returned it): packets of it and of earlier frames are ignored,
// as an Assembler would after returning it.
func (c *FrameCounter) After(ts uint32) { c.lastTS, c.emitted = ts, true }

// Push counts one packet and returns the frame it completed, without Data.
// It keeps no reference to p.
func (c *FrameCounter) Push(p *rtp.Packet) (Frame, bool) {
	if len(p.Payload) == 0 || c.emitted && !tsAfter(p.Timestamp, c.lastTS) {
		return Frame{}, false
	}
	f := c.find(p.Timestamp)
	for _, q := range f.seqs {
		if q == p.SequenceNumber {
			return Frame{}, false // a duplicate (a retransmission that raced the original)
		}
	}
	if len(f.seqs) >= maxPacketsPerFrame {
		c.drop(f)
		return Frame{}, false
	}
	f.seqs = append(f.seqs, p.SequenceNumber)
	if c.codec == MimeH264 {
		f.nals = append(f.nals, h264NALTypes(p.Payload))
	}
	if startsFrame(c.codec, p.Payload) && (!f.haveStart || int16(p.SequenceNumber-f.start) < 0) {
		f.start, f.haveStart = p.SequenceNumber, true
		f.keyframe, f.w, f.h = c.codec == MimeVP8 && IsVP8Keyframe(p.Payload), 0, 0
		if f.keyframe { // only a keyframe's first packet is parsed further
			f.w, f.h, _ = VP8KeyframeSize(p.Payload)
		}
	}
	if p.Marker && (!f.haveMarker || int16(p.SequenceNumber-f.marker) < 0) {
		f.marker, f.haveMarker = p.SequenceNumber, true
	}
	n, ok := f.complete()
	if !ok {
		return Frame{}, false
	}
	c.lastTS, c.emitted = f.ts, true
	// Frames still in progress before this one will not complete in time.
	kept := c.pending[:0]
	for _, q := range c.pending {
		if q != f && tsAfter(q.ts, f.ts) {
			kept = append(kept, q)
		} else {
			c.free = append(c.free, q)
		}
	}
	c.pending = kept
	return Frame{Timestamp: f.ts, Keyframe: f.keyframe, Width: f.w, Height: f.h, Packets: n}, true
}

// complete reports whether f holds its start, its marker and every
// sequence number between them, and how many packets that is. For H.264
// it settles f.keyframe from those packets' NAL units, as Assembler does.
func (f *countedFrame) complete() (int, bool) {
	if !f.haveStart || !f.haveMarker {
		return 0, false
	}
	span := int(int16(f.marker - f.start))
	if span < 0 {
		return 0, false
	}
	in := 0
	var types uint32
	for i, q := range f.seqs {
		if d := int(int16(q - f.start)); d >= 0 && d <= span {
			in++
			if f.nals != nil {
				types |= f.nals[i]
			}
		}
	}
	if in != span+1 {
		return in, false
	}
	if f.nals != nil {
		f.keyframe = h264Keyframe(types)
	}
	return in, true
}

// find returns the frame in progress with timestamp ts, starting one (and
// abandoning the oldest when too many are in progress).
func (c *FrameCounter) find(ts uint32) *countedFrame {
	for _, f := range c.pending {
		if f.ts == ts {
			return f
		}
	}
	if len(c.pending) >= maxPendingFrames {
		c.free = append(c.free, c.pending[0])
		c.pending = append(c.pending[:0], c.pending[1:]...)
	}
	var f *countedFrame
	if n := len(c.free); n > 0 {
		f, c.free = c.free[n-1], c.free[:n-1]
	} else {
		f = &countedFrame{}
	}
	*f = countedFrame{ts: ts, seqs: f.seqs[:0], nals: f.nals[:0]} // keep the slices for reuse
	c.pending = append(c.pending, f)
	return f
}

// drop abandons f, a frame in progress.
func (c *FrameCounter) drop(f *countedFrame) {
	for i, q := range c.pending {
		if q == f {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			c.free = append(c.free, f)
			return
		}
	}
}
