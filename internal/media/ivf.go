package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// MaxFrameSize bounds one frame read from a file; a larger size field means
// the file is corrupt, and the reader refuses rather than allocating it.
const MaxFrameSize = 8 << 20

// ErrFrameTooLarge is returned when a file declares a frame over MaxFrameSize.
var ErrFrameTooLarge = errors.New("frame larger than 8 MiB: file is corrupt")

// IVFHeader is the 32-byte header of an IVF file.
type IVFHeader struct {
	FourCC        string // "VP80" for VP8
	Width, Height uint16
	// TimebaseDen / TimebaseNum is the clock of frame timestamps: a frame
	// with timestamp t is at t*TimebaseNum/TimebaseDen seconds.
	TimebaseDen, TimebaseNum uint32
	Frames                   uint32 // as declared; may be 0 or wrong
}

// Codec returns the MIME type of the stream, or "" when the FourCC is unknown.
func (h IVFHeader) Codec() string {
	switch h.FourCC {
	case "VP80":
		return MimeVP8
	}
	return ""
}

// FrameDuration is the nominal duration of one frame when the time base is
// 1/fps, as libvpx writes it; 33ms if the header says nothing useful. Other
// writers use a clock (1/1000 from WebM, 1/90000): a time base finer than
// 1/120 s is no frame rate, and also gives 33ms. Successive frame
// timestamps, where a file has them, say more.
func (h IVFHeader) FrameDuration() time.Duration {
	if h.TimebaseDen == 0 || h.TimebaseNum == 0 {
		return 33 * time.Millisecond
	}
	d := time.Duration(uint64(h.TimebaseNum) * uint64(time.Second) / uint64(h.TimebaseDen))
	if d < time.Second/120 || d > time.Second {
		return 33 * time.Millisecond
	}
	return d
}

// IVFFrame is one frame of an IVF file.
type IVFFrame struct {
	Data      []byte
	Timestamp uint64 // in the header's time base
}

// IVFReader reads frames from an IVF file.
type IVFReader struct {
	r      io.Reader
	Header IVFHeader
	hdr    [12]byte
}

// NewIVFReader reads and checks the file header.
func NewIVFReader(r io.Reader) (*IVFReader, error) {
	var b [32]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nil, fmt.Errorf("reading IVF header (file empty or cut short): %w", unexpected(err))
	}
	if string(b[0:4]) != "DKIF" {
		return nil, errors.New("reading IVF header: not an IVF file (no DKIF signature)")
	}
	hs := binary.LittleEndian.Uint16(b[6:8])
	ir := &IVFReader{r: r, Header: IVFHeader{
		FourCC:      string(b[8:12]),
		Width:       binary.LittleEndian.Uint16(b[12:14]),
		Height:      binary.LittleEndian.Uint16(b[14:16]),
		TimebaseDen: binary.LittleEndian.Uint32(b[16:20]),
		TimebaseNum: binary.LittleEndian.Uint32(b[20:24]),
		Frames:      binary.LittleEndian.Uint32(b[24:28]),
	}}
	// A header longer than 32 bytes is allowed by the format; skip the rest.
	if hs > 32 {
		if _, err := io.CopyN(io.Discard, r, int64(hs-32)); err != nil {
			return nil, fmt.Errorf("reading IVF header: %w", err)
		}
	}
	return ir, nil
}

// Next returns the next frame, or io.EOF at the end of the file. A file cut
// in the middle of a frame returns io.ErrUnexpectedEOF.
func (ir *IVFReader) Next() (IVFFrame, error) {
	if _, err := io.ReadFull(ir.r, ir.hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return IVFFrame{}, io.EOF
		}
		return IVFFrame{}, fmt.Errorf("reading IVF frame header: %w", err)
	}
	n := binary.LittleEndian.Uint32(ir.hdr[0:4])
	if n > MaxFrameSize {
		return IVFFrame{}, ErrFrameTooLarge
	}
	f := IVFFrame{Data: make([]byte, n), Timestamp: binary.LittleEndian.Uint64(ir.hdr[4:12])}
	if _, err := io.ReadFull(ir.r, f.Data); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return IVFFrame{}, fmt.Errorf("reading IVF frame: %w", err)
	}
	return f, nil
}

// VP8FrameInfo is what a VP8 frame's uncompressed header says (RFC 6386 §9.1).
type VP8FrameInfo struct {
	Keyframe      bool
	Width, Height int // key frames only
}

// ParseVP8Frame reads the header of a complete VP8 frame (as stored in IVF
// or reassembled from RTP).
func ParseVP8Frame(b []byte) (VP8FrameInfo, error) {
	if len(b) < 3 {
		return VP8FrameInfo{}, errors.New("VP8 frame shorter than its 3-byte tag")
	}
	if b[0]&1 != 0 {
		return VP8FrameInfo{}, nil
	}
	if len(b) < 10 {
		return VP8FrameInfo{}, errors.New("VP8 key frame shorter than its 10-byte header")
	}
	if b[3] != 0x9d || b[4] != 0x01 || b[5] != 0x2a {
		return VP8FrameInfo{}, errors.New("VP8 key frame without start code")
	}
	return VP8FrameInfo{
		Keyframe: true,
		Width:    int(binary.LittleEndian.Uint16(b[6:8]) & 0x3fff),
		Height:   int(binary.LittleEndian.Uint16(b[8:10]) & 0x3fff),
	}, nil
}
