// Package peer holds the WebRTC client plumbing that livectl's own clients
// (publish, probe, bench media) share: a pion API configured like a real
// browser client (VP8, H.264, Opus; NACK, RTCP reports, TWCC), the
// offer/answer helpers, and the WHIP/WHEP HTTP exchange (RFC 9725 and the
// WHEP draft). It knows nothing of livectl's server: it reaches servers only
// the way any client would.
package peer

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/livectl/livectl/internal/tlsconf"
)

// LocalIPToward is the local address the kernel would use to reach the host
// of rawURL (no packet is sent): the one address a client's peer needs to
// offer (Options.BindIP).
func LocalIPToward(rawURL string) (net.IP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	port := u.Port()
	if port == "" {
		port = "443" // the route depends on the host alone
	}
	c, err := net.Dial("udp4", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, fmt.Errorf("finding the local address toward %s: %w", u.Host, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP, nil
}

// HTTPClient is the client for WHIP/WHEP requests: Go's default one, or
// one with o.TLS.
func (o Options) HTTPClient() *http.Client {
	if o.TLS == nil {
		return http.DefaultClient
	}
	tr := tlsconf.Transport(o.TLS)
	// A session makes a handful of requests (POST, PATCH, DELETE), and
	// each call makes a new transport: idle connections kept alive would
	// only outlive the session.
	tr.DisableKeepAlives = true
	return &http.Client{Transport: tr}
}

// Options tune the API. The zero value suits loopback and LAN use.
type Options struct {
	// TLS configures the client's https:// (WHIP/WHEP) and wss:// (/ws)
	// connections: the CA to trust, or no verification. Nil uses Go's
	// defaults (the system's roots).
	TLS *tls.Config
	// ICEServers are STUN/TURN servers; empty means host candidates only.
	ICEServers []webrtc.ICEServer
	// BindIP, when set, gathers candidates on this local address only
	// (loopback included when it is loopback): a tool dialling a server on
	// 127.0.0.1 has no business offering the LAN's addresses, nor a
	// server on the LAN its Docker bridge's. LocalIPToward finds it.
	BindIP net.IP
	// ExcludeLoopback drops 127.0.0.0/8 candidates. By default they are
	// kept, because livectl is routinely pointed at a server on loopback.
	ExcludeLoopback bool
	// DisableReplayProtection accepts SRTP packets whose sequence number was
	// already seen. Tests use it to observe NACK retransmissions, which SRTP
	// replay protection would otherwise drop as duplicates.
	DisableReplayProtection bool
	// UDPMux, if set, carries every ICE UDP candidate of the API's peer
	// connections on its socket instead of one socket per interface and
	// network type; only UDP candidates are gathered then. bench media
	// gives each subscriber one such socket, so its descriptor budget is
	// one UDP socket per peer.
	UDPMux ice.UDPMux
	// Interceptors are registered before the default ones, so they see
	// every RTP packet as it comes out of SRTP and every RTCP packet the
	// default interceptors write (NACKs, receiver reports).
	Interceptors []interceptor.Factory
	// LoggerFactory, if set, receives pion's own logs (the peer
	// connection's and its interceptors') instead of stderr (bench media
	// silences them: hundreds of peers tearing down at once
	// log expected errors, such as a data channel closed mid-read).
	LoggerFactory logging.LoggerFactory
	// DetachDataChannels leaves data channels the remote side opens
	// unread: pion then starts no reading goroutine (with its 64 KiB
	// buffer) for them. For clients that use no data channel but must
	// accept the one a server adds (livectl's /ws subscribers get one).
	DetachDataChannels bool
	// NoStatsInterceptor leaves out pion's stats interceptor, which records
	// every packet for GetStats: a client that counts packets itself (bench
	// media) never calls GetStats. The other default interceptors stay, so
	// the server sees the same RTCP as from any client.
	NoStatsInterceptor bool
	// FailAfter, when positive, fails the peer connection once nothing has
	// come from the remote for this long (ICE disconnected at half of it),
	// with consent checks sent every quarter of it so that a live remote
	// is always heard. Zero keeps pion's timings: failed after 30 s of
	// silence. A publisher that retries elsewhere (publish.Keep) wants to
	// know its server died in seconds, not half a minute.
	FailAfter time.Duration
}

// Codec parameters livectl clients offer. The payload types match what
// browsers commonly use so that SDP from either side reads the same.
var (
	VP8 = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}
	// H264 is constrained baseline, packetization mode 1 (STAP-A, FU-A).
	H264 = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFeedback,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	Opus = webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2,
		SDPFmtpLine: "minptime=10;useinbandfec=1"}
)

var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"},
}

// NewAPI builds a pion API with livectl's codecs and the default
// interceptors (NACK generator and responder — the responder is the send
// cache that answers NACKs — RTCP sender/receiver reports, TWCC).
func NewAPI(o Options) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range []struct {
		cap webrtc.RTPCodecCapability
		pt  webrtc.PayloadType
		t   webrtc.RTPCodecType
	}{
		{Opus, 111, webrtc.RTPCodecTypeAudio},
		{VP8, 96, webrtc.RTPCodecTypeVideo},
		{H264, 102, webrtc.RTPCodecTypeVideo},
	} {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: c.cap, PayloadType: c.pt}, c.t); err != nil {
			return nil, fmt.Errorf("registering codec %s: %w", c.cap.MimeType, err)
		}
	}
	ir := &interceptor.Registry{}
	for _, f := range o.Interceptors {
		ir.Add(f)
	}
	if err := registerInterceptors(m, ir, o); err != nil {
		return nil, fmt.Errorf("registering interceptors: %w", err)
	}
	var s webrtc.SettingEngine
	s.SetIncludeLoopbackCandidate(!o.ExcludeLoopback)
	if bind := o.BindIP; bind != nil {
		s.SetIPFilter(func(ip net.IP) bool { return ip.Equal(bind) })
		s.SetIncludeLoopbackCandidate(bind.IsLoopback())
	}
	// mDNS candidates hide addresses behind names that only a browser on the
	// same LAN resolves; a tool wants plain host candidates.
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6, webrtc.NetworkTypeTCP4})
	if o.UDPMux != nil {
		s.SetICEUDPMux(o.UDPMux)
		s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	}
	if o.DisableReplayProtection {
		s.DisableSRTPReplayProtection(true)
	}
	if o.FailAfter > 0 {
		s.SetICETimeouts(o.FailAfter/2, o.FailAfter/2, o.FailAfter/4)
	}
	if o.LoggerFactory != nil {
		s.LoggerFactory = o.LoggerFactory
	}
	if o.DetachDataChannels {
		s.DetachDataChannels()
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(s)), nil
}

// registerInterceptors adds pion's default interceptors, without the stats
// interceptor when o says so, logging to o.LoggerFactory when set.
func registerInterceptors(m *webrtc.MediaEngine, ir *interceptor.Registry, o Options) error {
	if !o.NoStatsInterceptor {
		var opts []webrtc.InterceptorOption
		if o.LoggerFactory != nil {
			opts = append(opts, webrtc.WithInterceptorLoggerFactory(o.LoggerFactory))
		}
		return webrtc.RegisterDefaultInterceptorsWithOptions(m, ir, opts...)
	}
	// The defaults as webrtc.RegisterDefaultInterceptors lists them, stats aside.
	var (
		gen  []nack.GeneratorOption
		resp []nack.ResponderOption
		recv []report.ReceiverOption
		send []report.SenderOption
		tw   []twcc.Option
	)
	if lf := o.LoggerFactory; lf != nil {
		gen = append(gen, nack.WithGeneratorLoggerFactory(lf))
		resp = append(resp, nack.WithResponderLoggerFactory(lf))
		recv = append(recv, report.WithReceiverLoggerFactory(lf))
		send = append(send, report.WithSenderLoggerFactory(lf))
		tw = append(tw, twcc.WithLoggerFactory(lf))
	}
	if err := webrtc.ConfigureNackWithOptions(m, ir, gen, resp...); err != nil {
		return err
	}
	if err := webrtc.ConfigureRTCPReportsWithOptions(ir, recv, send...); err != nil {
		return err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return err
	}
	return webrtc.ConfigureTWCCSenderWithOptions(m, ir, tw...)
}

// NewPeerConnection returns a peer connection of api with o's ICE servers.
func NewPeerConnection(api *webrtc.API, o Options) (*webrtc.PeerConnection, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: o.ICEServers})
	if err != nil {
		return nil, fmt.Errorf("creating peer connection: %w", err)
	}
	return pc, nil
}

// SetLocalAndGather sets desc as the local description and waits until ICE
// gathering completes, returning the SDP with every candidate in it. Host
// candidates gather in a few milliseconds, so waiting costs little and the
// SDP works with servers that do not support trickle (many WHIP servers).
func SetLocalAndGather(ctx context.Context, pc *webrtc.PeerConnection, desc webrtc.SessionDescription) (string, error) {
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return "", fmt.Errorf("setting local description: %w", err)
	}
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		// Partial gathering is still usable; the remaining candidates, if
		// any, would have trickled.
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

// Offer creates an offer, gathers and returns its SDP.
func Offer(ctx context.Context, pc *webrtc.PeerConnection) (string, error) {
	o, err := pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("creating offer: %w", err)
	}
	return SetLocalAndGather(ctx, pc, o)
}

// Answer applies a remote offer and returns the gathered answer SDP.
func Answer(ctx context.Context, pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("applying the server's offer: %w", err)
	}
	a, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("creating answer: %w", err)
	}
	return SetLocalAndGather(ctx, pc, a)
}
