package relay

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestRemoteCandidatesBounded: a client may trickle at most
// maxRemoteCandidates into one peer connection; the next is refused as bad
// SDP. Unbounded, 17,000 candidates from one session cost ~10,000
// goroutines and a core, and made the server send checks to every address.
func TestRemoteCandidatesBounded(t *testing.T) {
	r := newTestRelay(t, Config{})
	client := newTestSubscriber(t, nil)
	defer client.Close()
	sess, _, err := r.SubscribeOffer("cands", "viewer", recvOnlyOffer(t, client.pc))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	mid := "0"
	for i := range maxRemoteCandidates + 1 {
		// TEST-NET-1 (RFC 5737): checks to it go nowhere.
		c := Candidate{Candidate: fmt.Sprintf("candidate:%d 1 udp 2130706431 192.0.2.%d %d typ host", i, 1+i%200, 40000+i), SDPMid: &mid}
		err := sess.AddICECandidate(c)
		switch {
		case i < maxRemoteCandidates && err != nil:
			t.Fatalf("candidate %d refused: %v", i+1, err)
		case i == maxRemoteCandidates && !errors.Is(err, ErrBadSDP):
			t.Fatalf("candidate %d: err %v, want ErrBadSDP (over the bound)", i+1, err)
		}
	}
}

// TestPublishNeedsMediaToSend: a publish offer with nothing to send (a
// viewer's recvonly offer sent to WHIP by mistake) is refused as bad SDP;
// it was accepted, and the session sat there with no tracks.
func TestPublishNeedsMediaToSend(t *testing.T) {
	r := newTestRelay(t, Config{})
	client := newTestSubscriber(t, nil)
	defer client.Close()
	_, _, err := r.Publish("p", "alice", recvOnlyOffer(t, client.pc))
	if !errors.Is(err, ErrBadSDP) || !strings.Contains(err.Error(), "sends no audio or video") {
		t.Fatalf("err = %v, want ErrBadSDP saying nothing is sent", err)
	}
	for _, tc := range []struct {
		name string
		sdp  string
		want bool
	}{
		{"sendonly video", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\n", true},
		{"no direction is sendrecv", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", true},
		{"session recvonly", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=recvonly\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", false},
		{"rejected section", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\na=sendonly\r\n", false},
		{"data only", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", false},
	} {
		d, err := parseSDP(tc.sdp)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := sendsMedia(d); got != tc.want {
			t.Errorf("%s: sendsMedia = %v, want %v", tc.name, got, tc.want)
		}
	}
}
