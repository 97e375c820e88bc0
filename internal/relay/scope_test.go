package relay

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

func TestOfferScope(t *testing.T) {
	local := []netip.Addr{
		netip.MustParseAddr("127.0.0.1"),
		netip.MustParseAddr("192.0.2.2"),
		netip.MustParseAddr("::1"),
		netip.MustParseAddr("fd00::2"),
	}
	const end = "a=end-of-candidates\r\n"
	cand := func(addr, typ string) string {
		return "a=candidate:1 1 udp 2130706431 " + addr + " 50000 typ " + typ + "\r\n"
	}
	for _, tc := range []struct {
		name  string
		attrs string // the video section's candidate lines
		local []netip.Addr
		want  scope
	}{
		{"loopback client", cand("127.0.0.1", "host") + end, local, 1 << 0},
		{"IPv4 behind NAT", cand("10.0.0.5", "host") + cand("203.0.113.9", "srflx") + end, local, 1 << 1},
		{"dual-stack client", cand("10.0.0.5", "host") + cand("2001:db8::5", "host") + end, local, 1<<1 | 1<<3},
		{"IPv4-mapped loopback", cand("::ffff:127.0.0.1", "host") + end, local, 1 << 0},
		{"IPv6 loopback", cand("::1", "host") + end, local, 1 << 2},
		{"every kind: nothing left out", cand("127.0.0.1", "host") + cand("::1", "host") + cand("10.0.0.5", "host") + cand("2001:db8::5", "host") + end, local, 0},
		{"trickle to come", cand("127.0.0.1", "host"), local, 0},
		{"no candidates", end, local, 0},
		{"mDNS name hides the address", cand("127.0.0.1", "host") + cand("0b5c1a7e-3f1e-4a0e-9c1e-1d2b3c4d5e6f.local", "host") + end, local, 0},
		{"zoned address", cand("fe80::1%eth0", "host") + end, local, 0},
		{"malformed candidate", "a=candidate:1 1 udp 2130706431 127.0.0.1\r\n" + end, local, 0},
		{"no local address can pair", cand("2001:db8::5", "host") + end, local[:2], 0},
		{"one local address", cand("127.0.0.1", "host") + end, local[:1], 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := parseOffer(offerHead + offerSection(0, "video", "96 VP8/90000", true) + tc.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if got := offerScope(d, tc.local); got != tc.want {
				t.Errorf("scope %04b, want %04b", got, tc.want)
			}
		})
	}
	t.Run("session-level end-of-candidates", func(t *testing.T) {
		head := strings.Replace(offerHead, "t=0 0\r\n", "t=0 0\r\na=end-of-candidates\r\n", 1)
		d, err := parseOffer(head + offerSection(0, "video", "96 VP8/90000", true) + cand("192.0.2.7", "host"))
		if err != nil {
			t.Fatal(err)
		}
		if got := offerScope(d, local); got != 1<<1 {
			t.Errorf("scope %04b, want 0010", got)
		}
	})
}

// answerCandidates lists the distinct addresses of an answer's candidates.
func answerCandidates(t *testing.T, answer string) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	for _, line := range strings.Split(answer, "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "a=candidate:")
		if !ok {
			continue
		}
		a, ok := candidateAddr(v)
		if !ok {
			t.Fatalf("answer candidate %q has no IP address", line)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// TestAnswerScopedToOffer: a relay on every interface answers a client on
// this host, whose complete offer names only 127.0.0.1, with loopback
// candidates only, and the client connects; the same offer without its
// end-of-candidates (more may be trickled) gets a candidate for every
// local address. The host needs an address besides loopback.
func TestAnswerScopedToOffer(t *testing.T) {
	hostIPv4(t)
	r, err := New(Config{}) // every interface, any port
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	every := len(r.udpMux.GetListenAddresses())

	for _, tc := range []struct {
		name     string
		complete bool
	}{{"complete offer", true}, {"trickle offer", false}} {
		t.Run(tc.name, func(t *testing.T) {
			client := newTestSubscriber(t, nil)
			defer client.Close()
			connected := make(chan struct{})
			client.pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
				if s == webrtc.ICEConnectionStateConnected {
					close(connected)
				}
			})
			offer := recvOnlyOffer(t, client.pc)
			if !strings.Contains(offer, "a=end-of-candidates") {
				t.Fatal("the client's gathered offer has no end-of-candidates")
			}
			if !tc.complete {
				offer = strings.ReplaceAll(offer, "a=end-of-candidates\r\n", "")
			}
			sess, answer, err := r.SubscribeOffer("scope", "viewer", offer)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			got := answerCandidates(t, answer)
			if tc.complete {
				if len(got) == 0 {
					t.Fatal("answer has no candidates")
				}
				for _, a := range got {
					if !a.IsLoopback() || !a.Is4() {
						t.Errorf("answer to a 127.0.0.1-only client offers %s", a)
					}
				}
			} else if len(got) != every {
				t.Errorf("answer to a trickling client offers %v, want all %d local addresses", got, every)
			}
			if err := client.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
				t.Fatal(err)
			}
			waitChan(t, connected, 10*time.Second, "the client's ICE connection")
		})
	}
}

// TestPublisherAnswerScoped: publishers' answers are scoped as viewers' are.
func TestPublisherAnswerScoped(t *testing.T) {
	hostIPv4(t)
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tr, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "v", "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTrack(tr); err != nil {
		t.Fatal(err)
	}
	p, answer, err := r.Publish("scope", "alice", offerWithCandidates(t, pc))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, a := range answerCandidates(t, answer) {
		if !a.IsLoopback() {
			t.Errorf("answer to a 127.0.0.1-only publisher offers %s", a)
		}
	}
}
