package relay

import (
	"errors"
	"fmt"
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
