package media

import (
	"strings"

	"github.com/pion/rtp/codecs"
)

// MIME types of the codecs this package understands, as pion spells them.
const (
	MimeVP8  = "video/VP8"
	MimeH264 = "video/H264"
	MimeOpus = "audio/opus"
)

// H.264 NAL unit types used for keyframe detection and RTP depacketization.
const (
	naluSlice  = 1
	naluIDR    = 5
	naluSEI    = 6
	naluSPS    = 7
	naluPPS    = 8
	naluAUD    = 9
	naluSTAPA  = 24
	naluFUA    = 28
	naluTypeMk = 0x1f
)

// IsKeyframe reports whether an RTP payload of the given codec (a MIME type,
// compared case-insensitively) starts a keyframe. Codecs other than VP8 and
// H.264 report false. It allocates nothing; the relay calls it per packet.
func IsKeyframe(mimeType string, payload []byte) bool {
	switch {
	case strings.EqualFold(mimeType, MimeVP8):
		return IsVP8Keyframe(payload)
	case strings.EqualFold(mimeType, MimeH264):
		return IsH264Keyframe(payload)
	}
	return false
}

// h264NALTypes returns the NAL unit types an H.264 RTP payload carries, as
// a set (bit 1<<type): its own, a STAP-A's aggregated units', or for the
// first fragment of an FU-A the fragmented unit's. It allocates nothing.
func h264NALTypes(p []byte) uint32 {
	if len(p) < 1 {
		return 0
	}
	switch t := p[0] & naluTypeMk; t {
	case naluSTAPA:
		var set uint32
		for s := p[1:]; len(s) >= 3; {
			n := int(s[0])<<8 | int(s[1])
			if n == 0 || len(s) < 2+n {
				break
			}
			set |= 1 << (s[2] & naluTypeMk)
			s = s[2+n:]
		}
		return set
	case naluFUA:
		if len(p) < 2 || p[1]&0x80 == 0 {
			return 0
		}
		return 1 << (p[1] & naluTypeMk)
	default:
		return 1 << t
	}
}

// h264Keyframe reports whether an access unit carrying the NAL unit types
// in set (h264NALTypes) is one a fresh decoder can start on: an IDR
// picture with its SPS and PPS. An IDR whose parameter sets were lost is
// decodable only by a decoder that has them from before.
func h264Keyframe(set uint32) bool {
	const need = 1<<naluSPS | 1<<naluPPS | 1<<naluIDR
	return set&need == need
}

// IsDecoderStart reports whether a receiver that has seen nothing of the
// stream can start decoding at this RTP payload: where a forwarder may begin
// a new subscriber's video. For VP8 that is any keyframe start. For H.264 it
// is a packet carrying the sequence parameter set (alone or in a STAP-A):
// an IDR slice whose SPS/PPS went by earlier in the same access unit is a
// keyframe, but one no fresh decoder can use (nor can it learn the picture
// size from it). Senders that follow common practice (browsers, pion's
// payloader) send SPS and PPS before every IDR. It allocates nothing.
func IsDecoderStart(mimeType string, payload []byte) bool {
	if !strings.EqualFold(mimeType, MimeH264) {
		return IsKeyframe(mimeType, payload)
	}
	if len(payload) < 1 {
		return false
	}
	switch payload[0] & naluTypeMk {
	case naluSPS:
		return true
	case naluSTAPA:
		for p := payload[1:]; len(p) >= 3; {
			n := int(p[0])<<8 | int(p[1])
			if n == 0 || len(p) < 2+n {
				return false
			}
			if p[2]&naluTypeMk == naluSPS {
				return true
			}
			p = p[2+n:]
		}
	}
	return false
}

// vp8Descriptor parses the VP8 RTP payload descriptor (RFC 7741 §4.2) with
// pion's depacketizer and returns the offset of the VP8 payload, whether the
// packet starts a partition (S bit), and the partition index (PID). The
// VP8Packet lives on the stack: the relay calls this per packet.
func vp8Descriptor(p []byte) (off int, start bool, pid byte, ok bool) {
	var d codecs.VP8Packet
	payload, err := d.Unmarshal(p)
	if err != nil {
		return 0, false, 0, false
	}
	return len(p) - len(payload), d.S == 1, d.PID, true
}

// IsVP8Keyframe reports whether a VP8 RTP payload is the first packet of a
// key frame: the start of partition 0 whose payload header has the P
// (inter-frame) bit clear (RFC 7741 §4.3).
func IsVP8Keyframe(payload []byte) bool {
	off, start, pid, ok := vp8Descriptor(payload)
	if !ok || !start || pid != 0 || off >= len(payload) {
		return false
	}
	return payload[off]&0x01 == 0
}

// IsH264Keyframe reports whether an H.264 RTP payload (RFC 6184) carries the
// start of a keyframe: an SPS or the first fragment of an IDR slice, alone,
// aggregated in a STAP-A, or as the start of an FU-A. The SPS counts because
// encoders send it immediately before the IDR picture, so a forwarder that
// waits for an IDR slice would cut the parameter sets off the keyframe.
func IsH264Keyframe(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	switch t := payload[0] & naluTypeMk; t {
	case naluIDR, naluSPS:
		return true
	case naluSTAPA:
		p := payload[1:]
		for len(p) >= 3 {
			n := int(p[0])<<8 | int(p[1])
			if n == 0 || len(p) < 2+n {
				return false
			}
			switch p[2] & naluTypeMk {
			case naluIDR, naluSPS:
				return true
			}
			p = p[2+n:]
		}
	case naluFUA:
		if len(payload) < 2 {
			return false
		}
		return payload[1]&0x80 != 0 && payload[1]&naluTypeMk == naluIDR
	}
	return false
}

// VP8KeyframeSize returns the picture size a VP8 RTP payload announces when
// it is the first packet of a key frame (the key frame header carries it,
// RFC 6386 §9.1); ok is false for any other packet. The relay reads it on
// each keyframe of a simulcast layer to know the layer's resolution.
func VP8KeyframeSize(payload []byte) (w, h int, ok bool) {
	if !IsVP8Keyframe(payload) {
		return 0, 0, false
	}
	off, _, _, _ := vp8Descriptor(payload)
	info, err := ParseVP8Frame(payload[off:])
	if err != nil || !info.Keyframe {
		return 0, 0, false
	}
	return info.Width, info.Height, true
}
