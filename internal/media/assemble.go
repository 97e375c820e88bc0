package media

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pion/rtp"
)

// Limits that keep a hostile or broken sender from growing an Assembler
// without bound.
const (
	maxPendingFrames   = 8
	maxPacketsPerFrame = 4096
)

// Frame is a complete video frame reassembled from RTP packets.
type Frame struct {
	// Data is the frame as a decoder takes it: for VP8 the concatenated
	// partitions; for H.264 an Annex-B access unit (4-byte start codes).
	Data      []byte
	Timestamp uint32 // RTP timestamp shared by the frame's packets
	// Keyframe: a decoder that has seen nothing before can start here (VP8:
	// a key frame; H.264: an IDR picture with its SPS and PPS).
	Keyframe bool
	// Width and Height come from the keyframe header (VP8) or the SPS
	// (H.264); 0 when the frame does not carry them.
	Width, Height int
	Packets       int
}

// AssemblerStats counts what an Assembler saw.
type AssemblerStats struct {
	Packets    int // packets pushed
	Frames     int // complete frames returned
	Dropped    int // frames abandoned incomplete (loss, or a later frame completed first)
	Duplicates int // packets whose sequence number was already held
}

// Assembler rebuilds frames from the RTP packets of one video stream. It
// tolerates reordering within a frame and duplicate (retransmitted) packets;
// a frame with a missing packet is dropped once a later frame completes.
// It is not safe for concurrent use.
type Assembler struct {
	codec   string
	pending []*partial
	lastTS  uint32
	emitted bool
	Stats   AssemblerStats
}

type pkt struct {
	seq     uint16
	payload []byte
	marker  bool
	start   bool
}

type partial struct {
	ts    uint32
	pkts  []pkt
	bytes int
}

// ErrUnsupportedCodec is returned for a codec the package cannot assemble or decode.
var ErrUnsupportedCodec = errors.New("unsupported codec")

// NewAssembler returns an Assembler for a video MIME type (VP8 or H.264).
func NewAssembler(mimeType string) (*Assembler, error) {
	switch {
	case strings.EqualFold(mimeType, MimeVP8):
		return &Assembler{codec: MimeVP8}, nil
	case strings.EqualFold(mimeType, MimeH264):
		return &Assembler{codec: MimeH264}, nil
	}
	return nil, fmt.Errorf("assembling %s frames: %w (VP8 and H.264 are supported)", mimeType, ErrUnsupportedCodec)
}

// Push adds one packet. It returns a frame when this packet completed one.
// The packet's payload is copied; the caller may reuse it.
func (a *Assembler) Push(p *rtp.Packet) (Frame, bool) {
	a.Stats.Packets++
	if len(p.Payload) == 0 {
		return Frame{}, false
	}
	// A frame older than the last one returned can no longer be useful.
	if a.emitted && !tsAfter(p.Timestamp, a.lastTS) {
		return Frame{}, false
	}
	pf := a.find(p.Timestamp)
	for _, q := range pf.pkts {
		if q.seq == p.SequenceNumber {
			a.Stats.Duplicates++
			return Frame{}, false
		}
	}
	if len(pf.pkts) >= maxPacketsPerFrame || pf.bytes+len(p.Payload) > MaxFrameSize {
		a.drop(pf)
		return Frame{}, false
	}
	pf.pkts = append(pf.pkts, pkt{
		seq:     p.SequenceNumber,
		payload: append([]byte(nil), p.Payload...),
		marker:  p.Marker,
		start:   a.isStart(p.Payload),
	})
	pf.bytes += len(p.Payload)
	f, ok := a.complete(pf)
	if !ok {
		return Frame{}, false
	}
	a.Stats.Frames++
	a.lastTS, a.emitted = pf.ts, true
	// Frames still pending before this one will not complete in time to matter.
	kept := a.pending[:0]
	for _, q := range a.pending {
		if q == pf {
			continue
		}
		if tsAfter(q.ts, pf.ts) {
			kept = append(kept, q)
		} else {
			a.Stats.Dropped++
		}
	}
	a.pending = kept
	return f, true
}

// tsAfter reports whether RTP timestamp a is after b, with wraparound.
func tsAfter(a, b uint32) bool { return a != b && a-b < 1<<31 }

func (a *Assembler) find(ts uint32) *partial {
	for _, pf := range a.pending {
		if pf.ts == ts {
			return pf
		}
	}
	if len(a.pending) >= maxPendingFrames {
		a.Stats.Dropped++
		a.pending = append(a.pending[:0], a.pending[1:]...)
	}
	pf := &partial{ts: ts}
	a.pending = append(a.pending, pf)
	return pf
}

func (a *Assembler) drop(pf *partial) {
	for i, q := range a.pending {
		if q == pf {
			a.pending = append(a.pending[:i], a.pending[i+1:]...)
			a.Stats.Dropped++
			return
		}
	}
}

func (a *Assembler) isStart(payload []byte) bool { return startsFrame(a.codec, payload) }

// startsFrame reports whether a payload of codec (MimeVP8 or MimeH264)
// opens a frame: the start of VP8 partition 0, or of an H.264 access unit.
// Assembler and FrameCounter decide it alike.
func startsFrame(codec string, payload []byte) bool {
	if codec == MimeVP8 {
		_, start, pid, ok := vp8Descriptor(payload)
		return ok && start && pid == 0
	}
	return h264StartsAccessUnit(payload)
}

// h264StartsAccessUnit reports whether an RTP payload begins an access
// unit: an AUD, SPS, PPS or SEI, or the first slice of a picture
// (first_mb_in_slice 0), alone, first in a STAP-A, or opening an FU-A.
func h264StartsAccessUnit(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	nal := p
	switch p[0] & naluTypeMk {
	case naluSTAPA:
		if len(p) < 4 {
			return false
		}
		nal = p[3:]
	case naluFUA:
		if p[1]&0x80 == 0 || len(p) < 3 {
			return false
		}
		// Rebuild the first two bytes of the fragmented NAL.
		nal = []byte{p[0]&0xe0 | p[1]&naluTypeMk, p[2]}
	}
	switch t := nal[0] & naluTypeMk; t {
	case naluAUD, naluSPS, naluPPS, naluSEI:
		return true
	case naluSlice, naluIDR:
		return firstMBZero(nal)
	}
	return false
}

// complete returns the frame if pf holds a start packet, the marker packet
// and every sequence number between them.
func (a *Assembler) complete(pf *partial) (Frame, bool) {
	var haveStart, haveMarker bool
	for _, q := range pf.pkts {
		haveStart = haveStart || q.start
		haveMarker = haveMarker || q.marker
	}
	if !haveStart || !haveMarker {
		return Frame{}, false
	}
	// Order by sequence number relative to the first packet received, which
	// handles wraparound for any frame shorter than 32768 packets.
	base := pf.pkts[0].seq
	sort.Slice(pf.pkts, func(i, j int) bool {
		return int16(pf.pkts[i].seq-base) < int16(pf.pkts[j].seq-base)
	})
	// The frame runs from the first start packet to the marker. (H.264 has
	// several packets that qualify as a start — parameter sets, SEI, the
	// first slice — and the earliest one opens the access unit.)
	begin, end := -1, -1
	for i, q := range pf.pkts {
		if q.start && begin < 0 {
			begin = i
		}
		if q.marker {
			end = i
			break
		}
	}
	if begin < 0 || end < begin {
		return Frame{}, false
	}
	run := pf.pkts[begin : end+1]
	if int(uint16(run[len(run)-1].seq-run[0].seq))+1 != len(run) {
		return Frame{}, false // a hole: wait for the retransmission
	}
	var f Frame
	var err error
	if a.codec == MimeVP8 {
		f, err = buildVP8(run)
	} else {
		f, err = buildH264(run)
	}
	if err != nil {
		a.drop(pf)
		return Frame{}, false
	}
	f.Timestamp, f.Packets = pf.ts, len(run)
	return f, true
}

func buildVP8(run []pkt) (Frame, error) {
	var f Frame
	for _, q := range run {
		off, _, _, ok := vp8Descriptor(q.payload)
		if !ok {
			return Frame{}, errors.New("bad VP8 payload descriptor")
		}
		f.Data = append(f.Data, q.payload[off:]...)
	}
	info, err := ParseVP8Frame(f.Data)
	if err != nil {
		return Frame{}, err
	}
	f.Keyframe, f.Width, f.Height = info.Keyframe, info.Width, info.Height
	return f, nil
}

var startCode = []byte{0, 0, 0, 1}

func buildH264(run []pkt) (Frame, error) {
	var f Frame
	inFU := false
	var types uint32
	note := func(nal []byte) {
		if nal[0]&naluTypeMk == naluSPS {
			if w, h, err := ParseH264SPS(nal); err == nil {
				f.Width, f.Height = w, h
			}
		}
	}
	for _, q := range run {
		types |= h264NALTypes(q.payload)
	}
	f.Keyframe = h264Keyframe(types)
	for _, q := range run {
		p := q.payload
		switch t := p[0] & naluTypeMk; {
		case t >= 1 && t <= 23:
			if inFU {
				return Frame{}, errors.New("FU-A interrupted")
			}
			f.Data = append(append(f.Data, startCode...), p...)
			note(p)
		case t == naluSTAPA:
			if inFU {
				return Frame{}, errors.New("FU-A interrupted")
			}
			s := p[1:]
			for len(s) > 0 {
				if len(s) < 2 {
					return Frame{}, errors.New("truncated STAP-A")
				}
				n := int(s[0])<<8 | int(s[1])
				if n == 0 || len(s) < 2+n {
					return Frame{}, errors.New("truncated STAP-A")
				}
				nal := s[2 : 2+n]
				f.Data = append(append(f.Data, startCode...), nal...)
				note(nal)
				s = s[2+n:]
			}
		case t == naluFUA:
			if len(p) < 2 {
				return Frame{}, errors.New("truncated FU-A")
			}
			startBit, endBit := p[1]&0x80 != 0, p[1]&0x40 != 0
			if startBit {
				if inFU {
					return Frame{}, errors.New("FU-A restarted")
				}
				hdr := p[0]&0xe0 | p[1]&naluTypeMk
				f.Data = append(append(f.Data, startCode...), hdr)
				inFU = true
			} else if !inFU {
				return Frame{}, errors.New("FU-A without start")
			}
			f.Data = append(f.Data, p[2:]...)
			if endBit {
				inFU = false
			}
		default:
			return Frame{}, fmt.Errorf("unsupported H.264 packetization (NAL type %d)", t)
		}
	}
	if inFU {
		return Frame{}, errors.New("FU-A not finished")
	}
	return f, nil
}
