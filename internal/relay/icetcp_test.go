package relay

import (
	"net"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// tcpClientAPI is a client that may only use ICE over TCP (active candidates).
func tcpClientAPI(t *testing.T) *webrtc.API {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
}

// TestICETCP publishes and subscribes with clients that cannot use UDP:
// the relay's shared ICE-TCP listener carries both.
func TestICETCP(t *testing.T) {
	r := newTestRelay(t, Config{TCPPort: -1})
	if r.TCPAddr() == nil {
		t.Fatal("ICE-TCP listener not opened")
	}
	pub := startPublisher(t, r, "tcp", "alice", tcpClientAPI(t))
	defer pub.Close()
	ts := newTestSubscriber(t, tcpClientAPI(t))
	defer ts.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := ts.pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	sess, answer, err := r.SubscribeOffer("tcp", "bob", offerWithCandidates(t, ts.pc))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := ts.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitChan(t, ts.firstFrame, 15*time.Second, "a keyframe decoded over ICE-TCP")
	pair, err := ts.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("no selected candidate pair: %v", err)
	}
	if pair.Local.Protocol != webrtc.ICEProtocolTCP || pair.Remote.Port != uint16(r.TCPAddr().(*net.TCPAddr).Port) {
		t.Errorf("selected pair %s → %s:%d, want TCP to the relay's ICE-TCP port %s", pair.Local.Protocol, pair.Remote.Address, pair.Remote.Port, r.TCPAddr())
	}
}
