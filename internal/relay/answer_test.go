package relay

import (
	"os"
	"testing"

	"github.com/pion/webrtc/v4"
)

// BenchmarkSubscribeOffer times the relay's side of a WHEP request: parse
// the offer, create the peer connection, answer with candidates. A browser
// offer (Chromium 156, recvonly video+audio, max-bundle, 6 KB with 30-odd
// video payload types) costs more than a pion one; both are in the time a
// viewer waits for its first frame.
//
//	go test -run '^$' -bench SubscribeOffer -benchmem ./internal/relay
func BenchmarkSubscribeOffer(b *testing.B) {
	chromium, err := os.ReadFile("testdata/chromium-156-whep-offer.sdp")
	if err != nil {
		b.Fatal(err)
	}
	pcOffer := func() string {
		pc, err := clientAPI(b).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			b.Fatal(err)
		}
		defer pc.Close()
		return recvOnlyOffer(b, pc)
	}()
	for _, bc := range []struct{ name, offer string }{
		{"chromium", string(chromium)},
		{"pion", pcOffer},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := newTestRelay(b, Config{})
			for b.Loop() {
				s, _, err := r.SubscribeOffer("bench", "viewer", bc.offer)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
		})
	}
}
