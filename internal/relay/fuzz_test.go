package relay

import (
	"testing"

	"github.com/livectl/livectl/internal/media"
)

// FuzzParseRTP feeds arbitrary datagrams to the header parser that every
// publisher packet goes through: it must never panic or index outside the
// packet, and a parsed payload must lie within it.
func FuzzParseRTP(f *testing.F) {
	f.Add(vp8Packet(1, 2, true, true).buf[:200])
	f.Add([]byte{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1})
	f.Add([]byte{0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0, 0x10})
	f.Add([]byte{0xa0, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 2, 3, 3})
	f.Add([]byte{0x8f, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxPacket {
			b = b[:maxPacket]
		}
		p := getPacket()
		defer p.release()
		p.n = copy(p.buf[:], b)
		if !p.parseRTP() {
			return
		}
		if p.payOff < 12 || p.payOff > p.payEnd || p.payEnd > p.n {
			t.Fatalf("payload [%d:%d] outside a %d-byte packet", p.payOff, p.payEnd, p.n)
		}
		_ = media.IsKeyframe(media.MimeVP8, p.payload())
		_ = media.IsKeyframe(media.MimeH264, p.payload())
	})
}
