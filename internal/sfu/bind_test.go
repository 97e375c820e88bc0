package sfu

import (
	"context"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/server"
)

// TestBindAddress: with UDPListenIP the relay has one UDP socket on that
// address and its answers carry one host candidate, that address, or the
// public IP when one is set; media flows through it.
func TestBindAddress(t *testing.T) {
	candidate := regexp.MustCompile(`(?m)^a=candidate:\S+ \d+ (?i:udp) \d+ (\S+) \d+ typ host`)
	for _, tc := range []struct {
		name     string
		mc       Config
		announce string
		media    bool
	}{
		{"bound to loopback", Config{UDPListenIP: "127.0.0.1"}, "127.0.0.1", true},
		{"bound, public IP announced", Config{UDPListenIP: "127.0.0.1", PublicIP: "203.0.113.7"}, "203.0.113.7", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newMediaServer(t, server.Config{}, tc.mc)
			if a, ok := ts.sfu.Relay().UDPAddr().(*net.UDPAddr); !ok || a.IP.String() != "127.0.0.1" {
				t.Fatalf("relay UDP socket on %v, want 127.0.0.1", ts.sfu.Relay().UDPAddr())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := peer.Exchange(ctx, nil, ts.http.URL+"/whep/bind", "", recvOffer(t))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(context.Background())
			var ips []string
			for _, m := range candidate.FindAllStringSubmatch(s.Answer, -1) {
				ips = append(ips, m[1])
			}
			if len(ips) == 0 {
				t.Fatalf("no UDP host candidate in the answer:\n%s", s.Answer)
			}
			for _, ip := range ips {
				if ip != tc.announce {
					t.Fatalf("answer announces %v, want only %s", ips, tc.announce)
				}
			}
			if !tc.media { // 203.0.113.7 leads nowhere from here
				return
			}
			pub, err := publish.Start(ctx, publish.Options{URL: ts.http.URL + "/whip/bind"})
			if err != nil {
				t.Fatal(err)
			}
			defer pub.Close()
			probeAll(t, []probe.Options{{URL: ts.http.URL + "/whep/bind"}})
			t.Logf("candidates %v; a probe decoded the clip through the bound socket", ips)
		})
	}
}
