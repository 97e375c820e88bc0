package relay

import (
	"math"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

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

// FuzzParseOffer feeds arbitrary offers to the checks every client offer
// passes before a peer connection is built: they must never panic, and an
// offer they accept has at most MaxOfferSections media sections and a
// section in a codec the relay forwards.
func FuzzParseOffer(f *testing.F) {
	f.Add(offerHead + offerSection(0, "video", "96 VP8/90000", true))
	f.Add(offerHead + offerSection(0, "audio", "111 opus/48000/2", false))
	f.Add(offerHead + offerSection(0, "video", "98 VP9/90000", true) + offerSection(1, "audio", "111 opus/48000/2", true))
	f.Add(offerHead + offerSection(0, "video", "96 VP8/90000", true) + "a=candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host\r\na=end-of-candidates\r\n")
	if b, err := os.ReadFile("testdata/chromium-156-whep-offer.sdp"); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, offer string) {
		d, err := parseOffer(offer)
		if err != nil {
			return
		}
		if n := len(d.MediaDescriptions); n == 0 || n > MaxOfferSections {
			t.Fatalf("accepted an offer with %d media sections", n)
		}
		if !slices.ContainsFunc(d.MediaDescriptions, knownCodec) {
			t.Fatal("accepted an offer with no section in a known codec")
		}
		// Its candidates choose the answer's (scope.go): never an
		// address the relay does not have.
		if sc := offerScope(d, fuzzLocal); sc >= 1<<len(fuzzLocal) {
			t.Fatalf("scope %b names addresses beyond the relay's %d", sc, len(fuzzLocal))
		}
	})
}

var fuzzLocal = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("::1"), netip.MustParseAddr("fd00::2")}

// FuzzTrainFeedback: transport-wide feedback from a viewer (untrusted)
// goes to the train meter; whatever it says about whatever sequence
// numbers, reading it must not panic, capacity stays finite and not
// negative, and so do the queue's delay and rates (standing.go).
func FuzzTrainFeedback(f *testing.F) {
	f.Add(feedbackFor(&testing.T{}, 65530, spaced(10, 13750)))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := &trainMeter{}
		now := int64(time.Hour)
		sendTrain(m, 65530, 20, 1200, 10*time.Microsecond, now)
		for i := range 3 {
			m.feedback(b, now+int64(i)*int64(400*time.Millisecond))
		}
		if c := m.capacity(now); c < 0 || math.IsNaN(c) || math.IsInf(c, 0) {
			t.Errorf("capacity %v", c)
		}
		q := m.queue(now + int64(time.Second))
		for _, v := range []float64{q.sent, q.delivered, float64(q.standing)} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("queue reading %+v", q)
			}
		}
	})
}
