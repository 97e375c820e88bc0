package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// maxOggPacket bounds one Opus packet assembled from Ogg segments. Real
// Opus packets are under 1275 bytes per frame and 120 ms; anything bigger
// is a corrupt or hostile file.
const maxOggPacket = 64 << 10

// OggReader reads the Opus packets of an Ogg Opus file (RFC 7845), skipping
// the OpusHead and OpusTags header packets. Only the first logical stream is
// read; pages of other streams are skipped.
type OggReader struct {
	r       io.Reader
	serial  uint32
	started bool
	pending [][]byte // packets completed on the current page
	partial []byte   // a packet continued on the next page
	headers int      // header packets seen (2 before audio)
	// Channels and PreSkip come from the OpusHead packet.
	Channels int
	PreSkip  int
	hdr      [27]byte
	seg      [255]byte
}

// NewOggReader checks that r starts an Ogg Opus stream and reads its headers.
func NewOggReader(r io.Reader) (*OggReader, error) {
	o := &OggReader{r: r}
	// Read through OpusHead and OpusTags so that Next returns audio only and
	// a file that is not Opus fails here, at open.
	for o.headers < 2 {
		p, err := o.nextPacket()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("reading Ogg Opus headers: %w", err)
		}
		if o.headers == 0 {
			if len(p) < 19 || string(p[:8]) != "OpusHead" {
				return nil, errors.New("reading Ogg Opus headers: first packet is not OpusHead (not an Opus file)")
			}
			o.Channels = int(p[9])
			o.PreSkip = int(binary.LittleEndian.Uint16(p[10:12]))
		}
		o.headers++
	}
	return o, nil
}

// Next returns the next Opus packet, or io.EOF at the end of the stream.
func (o *OggReader) Next() ([]byte, error) { return o.nextPacket() }

func (o *OggReader) nextPacket() ([]byte, error) {
	for len(o.pending) == 0 {
		if err := o.readPage(); err != nil {
			return nil, err
		}
	}
	p := o.pending[0]
	o.pending = o.pending[1:]
	return p, nil
}

func (o *OggReader) readPage() error {
	if _, err := io.ReadFull(o.r, o.hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return fmt.Errorf("reading Ogg page header: %w", err)
	}
	h := o.hdr[:]
	if string(h[0:4]) != "OggS" {
		return errors.New("reading Ogg page: missing OggS capture pattern (not an Ogg file or corrupt)")
	}
	if h[4] != 0 {
		return fmt.Errorf("reading Ogg page: unsupported version %d", h[4])
	}
	serial := binary.LittleEndian.Uint32(h[14:18])
	nseg := int(h[26])
	if _, err := io.ReadFull(o.r, o.seg[:nseg]); err != nil {
		return fmt.Errorf("reading Ogg segment table: %w", unexpected(err))
	}
	total := 0
	for _, s := range o.seg[:nseg] {
		total += int(s)
	}
	body := make([]byte, total)
	if _, err := io.ReadFull(o.r, body); err != nil {
		return fmt.Errorf("reading Ogg page body: %w", unexpected(err))
	}
	if !o.started {
		o.serial, o.started = serial, true
	} else if serial != o.serial {
		return nil // another logical stream: not ours
	}
	continued := h[5]&0x01 != 0
	if !continued {
		o.partial = nil // a packet left open by the previous page was lost
	}
	// A page that continues a packet this reader never saw begin (a cut or
	// spliced file, or a page lost before it) opens with that packet's
	// tail: skip it rather than send a fragment as a packet.
	orphan := continued && o.partial == nil
	off := 0
	for _, s := range o.seg[:nseg] {
		if orphan {
			off += int(s)
			orphan = s == 255
			continue
		}
		o.partial = append(o.partial, body[off:off+int(s)]...)
		off += int(s)
		if len(o.partial) > maxOggPacket {
			return errors.New("reading Ogg page: packet larger than 64 KiB (corrupt file)")
		}
		if s < 255 {
			o.pending = append(o.pending, o.partial)
			o.partial = nil
		}
	}
	return nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// OpusPacketDuration is the audio duration of an Opus packet, from its TOC
// byte (RFC 6716 §3.1). It returns 0 for an empty or malformed packet.
func OpusPacketDuration(p []byte) time.Duration {
	if len(p) == 0 {
		return 0
	}
	toc := p[0]
	cfg := toc >> 3
	var frame time.Duration
	switch {
	case cfg < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]time.Duration{10, 20, 40, 60}[cfg&3] * time.Millisecond
	case cfg < 16: // hybrid: 10, 20 ms
		frame = [2]time.Duration{10, 20}[cfg&1] * time.Millisecond
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [4]time.Duration{2500, 5000, 10000, 20000}[cfg&3] * time.Microsecond
	}
	var n int
	switch toc & 3 {
	case 0:
		n = 1
	case 1, 2:
		n = 2
	case 3:
		if len(p) < 2 {
			return 0
		}
		n = int(p[1] & 0x3f)
	}
	d := frame * time.Duration(n)
	if d > 120*time.Millisecond {
		return 0
	}
	return d
}
