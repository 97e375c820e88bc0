package relay

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/sdp/v3"
	"github.com/pion/stun/v4"
)

// hostIPv4 returns one of this host's IPv4 addresses other than loopback,
// or skips: the test needs a second address to send from.
func hostIPv4(t *testing.T) net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP
		}
	}
	t.Skip("this host has no IPv4 address besides loopback: nothing to send a cross-address check from")
	return nil
}

// TestCheckAnsweredFromItsDestination sends an ICE connectivity check from
// the host's own non-loopback address to the relay's 127.0.0.1 candidate,
// as Chromium on the same host does, and wants the answer to come from
// 127.0.0.1. A relay with one wildcard socket answered from the other
// address (the kernel's choice of source), the browser dropped the answer,
// and its next candidate pair was only tried about 50 ms later.
func TestCheckAnsweredFromItsDestination(t *testing.T) {
	from := hostIPv4(t)
	r, err := New(Config{}) // every interface, any port
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	offer, err := os.ReadFile("testdata/chromium-156-whep-offer.sdp")
	if err != nil {
		t.Fatal(err)
	}
	sub, answer, err := r.SubscribeOffer("multihome", "viewer", string(offer))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	relayUfrag, relayPwd := iceCredentials(t, answer)
	clientUfrag, _ := iceCredentials(t, string(offer))

	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: from})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: r.UDPAddr().(*net.UDPAddr).Port}
	check := stun.MustBuild(stun.TransactionID, stun.BindingRequest,
		stun.NewUsername(relayUfrag+":"+clientUfrag), ice.AttrControlling(1), ice.PriorityAttr(1<<24),
		stun.NewShortTermIntegrity(relayPwd), stun.Fingerprint)
	if _, err := conn.WriteTo(check.Raw, to); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, src, err := conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no answer to a check sent from %s to %s: %v", from, to, err)
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() != nil || m.TransactionID != check.TransactionID {
			continue // the relay's own checks towards us, if any
		}
		if m.Type != stun.BindingSuccess {
			t.Fatalf("check answered with %s", m.Type)
		}
		if !src.IP.Equal(to.IP) || src.Port != to.Port {
			t.Fatalf("check sent to %s answered from %s: a browser discards such an answer", to, src)
		}
		return
	}
}

// iceCredentials returns the first ice-ufrag and ice-pwd in an SDP.
func iceCredentials(t *testing.T, s string) (ufrag, pwd string) {
	t.Helper()
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		t.Fatal(err)
	}
	ufrag, _ = d.Attribute("ice-ufrag")
	pwd, _ = d.Attribute("ice-pwd")
	for _, m := range d.MediaDescriptions {
		if ufrag == "" {
			ufrag, _ = m.Attribute("ice-ufrag")
		}
		if pwd == "" {
			pwd, _ = m.Attribute("ice-pwd")
		}
	}
	if ufrag == "" || pwd == "" {
		t.Fatalf("no ICE credentials in SDP:\n%s", s)
	}
	return ufrag, pwd
}

// TestOneSocketPerAddress: on every interface the relay binds each local
// address (loopback included, IPv6 link-local not) on one shared port;
// 0.0.0.0 means every IPv4 address.
func TestOneSocketPerAddress(t *testing.T) {
	for _, tc := range []struct {
		listen   string
		ipv4Only bool
	}{{"", false}, {"::", false}, {"0.0.0.0", true}} {
		t.Run("listen="+tc.listen, func(t *testing.T) {
			r, err := New(Config{ListenIP: tc.listen})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			port := r.UDPAddr().(*net.UDPAddr).Port
			var loopback bool
			for _, a := range r.udpMux.GetListenAddresses() {
				u := a.(*net.UDPAddr)
				switch {
				case u.IP.IsUnspecified():
					t.Errorf("socket bound to the wildcard address %s", u)
				case u.IP.IsLinkLocalUnicast():
					t.Errorf("socket bound to link-local %s", u)
				case tc.ipv4Only && u.IP.To4() == nil:
					t.Errorf("socket bound to IPv6 %s with 0.0.0.0", u)
				case u.Port != port:
					t.Errorf("socket %s is not on the relay's port %d", u, port)
				}
				loopback = loopback || u.IP.Equal(net.IPv4(127, 0, 0, 1))
			}
			if !loopback {
				t.Errorf("no socket on 127.0.0.1 among %v", r.udpMux.GetListenAddresses())
			}
		})
	}
}
