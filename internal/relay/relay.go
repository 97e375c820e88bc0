// Package relay is the media plane of `livectl serve`: a selective forwarding
// unit on pion/webrtc. Publishers' RTP tracks are read once, cached for
// retransmission and fanned out to every subscriber of the room through
// bounded per-subscriber queues; sequence numbers and timestamps are rewritten
// per subscriber so that source switches and dropped packets never break a
// receiver. RTCP flows back: NACKs are answered from the cache, PLI/FIR go to
// the publisher through a throttle, and the server sends receiver reports and
// transport-wide congestion feedback so publishers' encoders adapt.
//
// All peers share one UDP socket (pion's ICE UDP mux) and optionally one
// ICE-TCP listener. The package knows nothing of HTTP or JSON: the server
// hands it SDP strings and ICE candidates and gets SDP strings back.
package relay

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"
)

// Defaults of Config's tunables.
const (
	// DefaultPLIThrottle is the shortest interval between two keyframe
	// requests sent to a publisher for one track, however many subscribers
	// ask: a keyframe costs the publisher several times a delta frame.
	DefaultPLIThrottle = 500 * time.Millisecond
	// DefaultNACKRepeatWindow ignores a subscriber's repeated NACK for the
	// same packet within this window: the retransmission is still in flight.
	DefaultNACKRepeatWindow = 100 * time.Millisecond
	// DefaultQueueSize is each subscriber's send queue in packets (about
	// 2.5 s of a 1.5 Mbit/s video plus audio): enough to ride out the
	// scheduling stalls of a busy host without dropping. A full queue drops
	// and counts. Entries are 32 bytes; the packets are shared.
	DefaultQueueSize = 512
	// DefaultCacheSize is the per-track retransmission cache in packets.
	DefaultCacheSize = 512
	// DefaultConnectTimeout ends a session whose peer connection has not
	// come up by then (a WHIP POST with no ICE behind it, an offer never
	// answered), so abandoned sessions cannot pile up.
	DefaultConnectTimeout = 30 * time.Second
)

// Config configures a Relay. Zero values take the defaults above.
type Config struct {
	// ListenIP is the address the UDP (and TCP) ICE sockets bind to. Empty
	// binds all interfaces (loopback candidates included).
	ListenIP string
	// UDPPort is the one UDP port all peers share. 0 picks a free port.
	UDPPort int
	// TCPPort enables ICE-TCP on this port when non-zero (-1: a free port).
	TCPPort int
	// PublicIPs, when set, replace the host candidates' addresses (1:1 NAT).
	PublicIPs []string
	// STUNServers are offered to peers as ICE servers (stun:host:port). Empty
	// by default: the relay does not need STUN to be reached.
	STUNServers []string
	// IncludeLoopback gathers loopback candidates; needed when peers reach
	// the relay over 127.0.0.0/8. Set automatically unless ListenIP is a
	// specific non-loopback address.
	IncludeLoopback bool

	PLIThrottle      time.Duration
	NACKRepeatWindow time.Duration
	QueueSize        int
	CacheSize        int
	ConnectTimeout   time.Duration

	// OnTrack is told when a track is published to or unpublished from a
	// room, so that the signaling side can tell the room's participants. It
	// is called from the relay's goroutines and must not block.
	OnTrack func(room string, ev TrackEvent)

	Logger *slog.Logger

	// wrapConn lets tests put a lossy layer over the shared UDP socket.
	wrapConn func(net.PacketConn) net.PacketConn
}

// TrackEvent reports a track published to or removed from a room.
type TrackEvent struct {
	Published bool // false: unpublished
	Track     TrackInfo
}

// TrackInfo describes a published track as the signaling side shows it.
type TrackInfo struct {
	ID        string
	Kind      string // "audio" or "video"
	Codec     string // MIME type, e.g. "video/VP8"
	Publisher string // publisher's identity
	StreamID  string
	RID       string // simulcast layer, empty when not simulcast
}

// Relay is the media plane: it owns the shared sockets, the pion API and the rooms.
type Relay struct {
	cfg     Config
	log     *slog.Logger
	api     *webrtc.API
	udpConn net.PacketConn
	udpMux  *ice.UDPMuxDefault
	tcpLn   net.Listener
	tcpMux  *ice.TCPMuxDefault
	iceSrv  []webrtc.ICEServer

	mu     sync.Mutex
	rooms  map[string]*Room
	closed bool
	gone   counters // totals of rooms that no longer exist

	wg sync.WaitGroup // peers' background goroutines
}

// New opens the shared ICE sockets and prepares the pion API.
func New(cfg Config) (*Relay, error) {
	if cfg.PLIThrottle <= 0 {
		cfg.PLIThrottle = DefaultPLIThrottle
	}
	if cfg.NACKRepeatWindow <= 0 {
		cfg.NACKRepeatWindow = DefaultNACKRepeatWindow
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Relay{cfg: cfg, log: cfg.Logger, rooms: make(map[string]*Room)}

	ip := net.ParseIP(cfg.ListenIP)
	if cfg.ListenIP != "" && ip == nil {
		return nil, fmt.Errorf("relay listen address %q is not an IP address", cfg.ListenIP)
	}
	if ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
		// Bound to loopback or to every interface: peers on this host
		// (a browser, a load test) reach the relay over 127.0.0.1.
		cfg.IncludeLoopback = true
	}
	udpAddr := net.JoinHostPort(cfg.ListenIP, strconv.Itoa(cfg.UDPPort))
	conn, err := net.ListenPacket("udp", udpAddr)
	if err != nil {
		return nil, fmt.Errorf("opening the ICE UDP port %s: %w (pick another with --udp-port)", udpAddr, err)
	}
	if uc, ok := conn.(*net.UDPConn); ok {
		// Bursts of a keyframe to many peers leave through this one socket.
		_ = uc.SetWriteBuffer(8 << 20)
		_ = uc.SetReadBuffer(4 << 20)
	}
	r.udpConn = conn
	if cfg.wrapConn != nil {
		conn = cfg.wrapConn(conn)
	}
	r.udpMux = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: conn})

	se := webrtc.SettingEngine{}
	se.SetICEUDPMux(r.udpMux)
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.TCPPort != 0 {
		port := max(cfg.TCPPort, 0)
		tcpAddr := net.JoinHostPort(cfg.ListenIP, strconv.Itoa(port))
		ln, err := net.Listen("tcp", tcpAddr)
		if err != nil {
			r.udpMux.Close()
			r.udpConn.Close()
			return nil, fmt.Errorf("opening the ICE-TCP port %s: %w (pick another with --tcp-port)", tcpAddr, err)
		}
		r.tcpLn = ln
		r.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{Listener: ln, ReadBufferSize: 64, WriteBufferSize: 4 << 20})
		se.SetICETCPMux(r.tcpMux)
		networks = append(networks, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	se.SetNetworkTypes(networks)
	if len(cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	// Gathering is local (the mux knows its addresses), so the relay answers
	// with every candidate in the SDP; a failed peer is noticed quickly.
	se.SetICETimeouts(5*time.Second, 15*time.Second, 2*time.Second)
	// A retransmission can arrive well after newer packets; SRTP's default
	// 64-packet replay window would discard it as a replay.
	se.SetSRTPReplayProtectionWindow(1024)

	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		r.closeSockets()
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := registerInterceptors(m, ir); err != nil {
		r.closeSockets()
		return nil, err
	}
	r.api = webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	for _, s := range cfg.STUNServers {
		r.iceSrv = append(r.iceSrv, webrtc.ICEServer{URLs: []string{s}})
	}
	return r, nil
}

// UDPAddr is the shared ICE UDP socket's address.
func (r *Relay) UDPAddr() net.Addr { return r.udpConn.LocalAddr() }

// TCPAddr is the ICE-TCP listener's address, nil when ICE-TCP is off.
func (r *Relay) TCPAddr() net.Addr {
	if r.tcpLn == nil {
		return nil
	}
	return r.tcpLn.Addr()
}

func (r *Relay) closeSockets() {
	if r.tcpMux != nil {
		r.tcpMux.Close()
		r.tcpLn.Close()
	}
	r.udpMux.Close()
	r.udpConn.Close()
}

// registerCodecs offers what the relay forwards: Opus, VP8 and H.264
// (constrained baseline and baseline, packetization mode 1). No RTX: the
// relay retransmits on the media SSRC, which every receiver accepts.
func registerCodecs(m *webrtc.MediaEngine) error {
	videoFB := []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBTransportCC},
		{Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"},
	}
	codecs := []struct {
		c webrtc.RTPCodecParameters
		t webrtc.RTPCodecType
	}{
		{webrtc.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
			RTCPFeedback: []webrtc.RTCPFeedback{{Type: webrtc.TypeRTCPFBTransportCC}}}}, webrtc.RTPCodecTypeAudio},
		{webrtc.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFB}}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFB,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}}, webrtc.RTPCodecTypeVideo},
		{webrtc.RTPCodecParameters{PayloadType: 108, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: videoFB,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"}}, webrtc.RTPCodecTypeVideo},
	}
	for _, c := range codecs {
		if err := m.RegisterCodec(c.c, c.t); err != nil {
			return fmt.Errorf("registering codec %s: %w", c.c.MimeType, err)
		}
	}
	return nil
}

// registerInterceptors sets up RTCP for the relay's role: a NACK generator
// towards publishers (the relay's own cache answers subscribers' NACKs, so no
// per-peer responder copies every packet), sender and receiver reports, and
// transport-wide congestion feedback for publishers' bandwidth estimation.
// The simulcast header extensions let publishers send RID layers.
func registerInterceptors(m *webrtc.MediaEngine, ir *interceptor.Registry) error {
	gen, err := nack.NewGeneratorInterceptor(nack.GeneratorInterval(50 * time.Millisecond))
	if err != nil {
		return fmt.Errorf("creating NACK generator: %w", err)
	}
	ir.Add(gen)
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return fmt.Errorf("configuring RTCP reports: %w", err)
	}
	if err := webrtc.ConfigureTWCCSender(m, ir); err != nil {
		return fmt.Errorf("configuring transport-wide congestion control feedback: %w", err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return fmt.Errorf("configuring simulcast header extensions: %w", err)
	}
	return nil
}

// ErrClosed is returned by calls on a closed Relay.
var ErrClosed = errors.New("relay is closed")

// Close ends every session and releases the shared sockets.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	rooms := make([]*Room, 0, len(r.rooms))
	for _, rm := range r.rooms {
		rooms = append(rooms, rm)
	}
	r.mu.Unlock()
	for _, rm := range rooms {
		rm.closeAll()
	}
	r.wg.Wait()
	r.closeSockets()
	return nil
}

// join returns the named room, creating it, after running register on it
// with the room locked: a room cannot be dropped as empty between being
// found and getting its new session.
func (r *Relay) join(name string, register func(rm *Room)) (*Room, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	rm := r.rooms[name]
	if rm == nil {
		rm = newRoom(r, name)
		r.rooms[name] = rm
	}
	rm.mu.Lock()
	register(rm)
	rm.mu.Unlock()
	return rm, nil
}

// dropRoomIfEmpty forgets a room with no sessions left, keeping its totals.
func (r *Relay) dropRoomIfEmpty(rm *Room) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rooms[rm.name] != rm || !rm.empty() {
		return
	}
	delete(r.rooms, rm.name)
	c := rm.totals()
	r.gone.add(&c)
}

func (r *Relay) newPeer() (*webrtc.PeerConnection, error) {
	pc, err := r.api.NewPeerConnection(webrtc.Configuration{ICEServers: r.iceSrv})
	if err != nil {
		return nil, fmt.Errorf("creating peer connection: %w", err)
	}
	return pc, nil
}
