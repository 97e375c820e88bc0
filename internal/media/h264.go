package media

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// maxNALSize bounds one NAL unit read from an Annex-B stream.
const maxNALSize = MaxFrameSize

// H264Reader splits an H.264 Annex-B byte stream (start codes 00 00 01 or
// 00 00 00 01) into NAL units and groups them into access units (frames).
type H264Reader struct {
	br      *bufio.Reader
	started bool   // the first start code has been seen
	next    []byte // a NAL read ahead that begins the next access unit
	eof     bool
}

// NewH264Reader reads an Annex-B stream from r.
func NewH264Reader(r io.Reader) *H264Reader {
	return &H264Reader{br: bufio.NewReaderSize(r, 64<<10)}
}

// NextNAL returns the next NAL unit without its start code, or io.EOF.
func (h *H264Reader) NextNAL() ([]byte, error) {
	if h.eof {
		return nil, io.EOF
	}
	if !h.started {
		// Skip anything before the first start code (leading zeros, garbage).
		zeros := 0
		for {
			b, err := h.br.ReadByte()
			if err != nil {
				h.eof = true
				if errors.Is(err, io.EOF) {
					return nil, errors.New("reading H.264 stream: no Annex-B start code found (not an Annex-B .h264 file?)")
				}
				return nil, fmt.Errorf("reading H.264 stream: %w", err)
			}
			if b == 0 {
				zeros++
				continue
			}
			if b == 1 && zeros >= 2 {
				break
			}
			zeros = 0
		}
		h.started = true
	}
	var nal []byte
	zeros := 0
	for {
		b, err := h.br.ReadByte()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("reading H.264 stream: %w", err)
			}
			h.eof = true
			nal = trimZeros(nal)
			if len(nal) == 0 {
				return nil, io.EOF
			}
			return nal, nil
		}
		if b == 1 && zeros >= 2 {
			// nal holds the zeros of the start code; drop them (and any
			// trailing_zero_8bits before a 4-byte start code).
			nal = trimZeros(nal)
			if len(nal) == 0 {
				zeros = 0
				continue // empty NAL between two start codes
			}
			return nal, nil
		}
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
		if len(nal) >= maxNALSize {
			h.eof = true
			return nil, errors.New("reading H.264 stream: NAL unit larger than 8 MiB (corrupt file)")
		}
		nal = append(nal, b)
	}
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// H264AccessUnit is one frame's NAL units, in stream order.
type H264AccessUnit struct {
	NALs     [][]byte
	Keyframe bool // contains an IDR slice
}

// NextAccessUnit returns the NAL units of the next frame, or io.EOF. A new
// access unit begins at an access unit delimiter, at SPS/PPS/SEI after a
// slice, or at a slice whose first_mb_in_slice is 0 after a slice (H.264 §7.4.1.2.3,
// simplified for the single-layer streams encoders produce).
func (h *H264Reader) NextAccessUnit() (H264AccessUnit, error) {
	var au H264AccessUnit
	sawSlice := false
	for {
		nal := h.next
		h.next = nil
		if nal == nil {
			var err error
			nal, err = h.NextNAL()
			if err != nil {
				if errors.Is(err, io.EOF) && len(au.NALs) > 0 {
					return au, nil
				}
				return H264AccessUnit{}, err
			}
		}
		t := nal[0] & naluTypeMk
		isSlice := t >= naluSlice && t <= naluIDR
		if sawSlice && (t == naluAUD || t == naluSPS || t == naluPPS || t == naluSEI || (isSlice && firstMBZero(nal))) {
			h.next = nal
			return au, nil
		}
		au.NALs = append(au.NALs, nal)
		if t == naluIDR {
			au.Keyframe = true
		}
		if isSlice {
			sawSlice = true
		}
	}
}

// firstMBZero reports whether a slice NAL's first_mb_in_slice (the first
// ue(v) of the slice header) is 0, which is coded as a single 1 bit.
func firstMBZero(nal []byte) bool {
	return len(nal) > 1 && nal[1]&0x80 != 0
}
