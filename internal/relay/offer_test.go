package relay

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// offerHead is a session header with ICE credentials and a fingerprint,
// and offerVideo a sendonly VP8 section: together a minimal publish offer
// the relay accepts.
const offerHead = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" +
	"a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n"

func offerSection(mid int, media, rtpmap string, ice bool) string {
	pt, _, _ := strings.Cut(rtpmap, " ")
	s := fmt.Sprintf("m=%s 9 UDP/TLS/RTP/SAVPF %s\r\nc=IN IP4 0.0.0.0\r\na=mid:%d\r\n", media, pt, mid)
	if ice {
		s += "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef01234567\r\n"
	}
	return s + "a=setup:actpass\r\na=sendonly\r\na=rtcp-mux\r\na=rtpmap:" + rtpmap + "\r\n"
}

// TestOfferChecks: offers the relay cannot use are refused as ErrBadSDP
// before a peer connection or a room exists. Each was accepted before
// (issue 15): 700 media sections held ~3 MiB for 30 s; an offer with no
// common codec or no ice-ufrag got an answer (201 on WHIP) and a session
// that could never carry media.
func TestOfferChecks(t *testing.T) {
	many := offerHead
	for i := range 700 {
		many += offerSection(i, "audio", "111 opus/48000/2", true)
	}
	atCap := offerHead
	for i := range MaxOfferSections {
		atCap += offerSection(i, "video", "96 VP8/90000", true)
	}
	for _, tc := range []struct {
		name, offer, problem string // "" problem: accepted
	}{
		{"vp8", offerHead + offerSection(0, "video", "96 VP8/90000", true), ""},
		{"sections at the cap", atCap, ""},
		{"700 sections", many, "700 media sections"},
		{"no common codec", offerHead + offerSection(0, "video", "98 VP9/90000", true) + offerSection(1, "audio", "0 PCMU/8000", true), "no audio or video section in a codec"},
		{"audio codec in a video section", offerHead + offerSection(0, "video", "111 opus/48000/2", true), "no audio or video section in a codec"},
		{"no ice-ufrag", offerHead + offerSection(0, "video", "96 VP8/90000", false), "ice-ufrag"},
		{"second section without ice-ufrag", offerHead + offerSection(0, "video", "96 VP8/90000", true) + offerSection(1, "audio", "111 opus/48000/2", false), "ice-ufrag"},
		{"session-level ice credentials", strings.Replace(offerHead, "t=0 0\r\n", "t=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef01234567\r\n", 1) +
			offerSection(0, "video", "96 VP8/90000", false), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRelay(t, Config{})
			for _, kind := range []string{"publish", "whep"} {
				var err error
				var closeSession func()
				if kind == "publish" {
					p, _, e := r.Publish("room", "alice", tc.offer)
					if e == nil {
						closeSession = p.Close
					}
					err = e
				} else {
					s, _, e := r.SubscribeOffer("room", "viewer", tc.offer)
					if e == nil {
						closeSession = s.Close
					}
					err = e
				}
				if tc.problem == "" {
					if err != nil {
						t.Fatalf("%s: %v", kind, err)
					}
					closeSession()
					continue
				}
				if !errors.Is(err, ErrBadSDP) || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("%s: err = %v, want ErrBadSDP saying %q", kind, err, tc.problem)
				}
				if rooms := r.Stats().Rooms; len(rooms) != 0 {
					t.Fatalf("%s: refused offer left rooms %+v", kind, rooms)
				}
			}
		})
	}
}
