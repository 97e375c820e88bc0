package peer

import (
	"context"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// TestBindIP: with BindIP the offer carries candidates on that address
// only; LocalIPToward finds the loopback address for a loopback URL.
func TestBindIP(t *testing.T) {
	ip, err := LocalIPToward("https://127.0.0.1:7880/whep/r")
	if err != nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("LocalIPToward(127.0.0.1) = %v, %v", ip, err)
	}
	for _, tc := range []struct {
		name string
		bind net.IP
		only string
	}{
		{"loopback", ip, "127.0.0.1"},
		{"unbound", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{BindIP: tc.bind}
			api, err := NewAPI(o)
			if err != nil {
				t.Fatal(err)
			}
			pc, err := NewPeerConnection(api, o)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			offer, err := Offer(ctx, pc)
			if err != nil {
				t.Fatal(err)
			}
			var addrs []string
			for _, m := range regexp.MustCompile(`(?m)^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ host`).FindAllStringSubmatch(offer, -1) {
				addrs = append(addrs, m[1])
			}
			if len(addrs) == 0 {
				t.Fatalf("no host candidates:\n%s", offer)
			}
			for _, a := range addrs {
				if tc.only != "" && a != tc.only {
					t.Fatalf("bound to %s, the offer has candidates %v", tc.only, addrs)
				}
			}
			t.Logf("candidates %v", addrs)
		})
	}
}
