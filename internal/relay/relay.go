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
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
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
	// maxCacheSize bounds CacheSize: down-tracks resend cached packets up
	// to floorLag behind the newest.
	maxCacheSize = floorLag
	// DefaultConnectTimeout ends a session whose peer connection has not
	// come up by then (a WHIP POST with no ICE behind it, an offer never
	// answered), so abandoned sessions cannot pile up.
	DefaultConnectTimeout = 30 * time.Second
)

// ConnectTimeout is how long a session may take to connect before it is
// closed.
func (r *Relay) ConnectTimeout() time.Duration { return r.cfg.ConnectTimeout }

// Config configures a Relay. Zero values take the defaults above.
type Config struct {
	// ListenIP is the address the UDP (and TCP) ICE sockets bind to. Empty
	// binds all interfaces (loopback candidates included).
	ListenIP string
	// TCPListenIP, when set, is the ICE-TCP listener's address instead of
	// ListenIP.
	TCPListenIP string
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
	// MaxPending bounds sessions setting up at once (0: DefaultMaxPending);
	// one more gets ErrBusy before its peer connection is built.
	MaxPending int

	// GOPCacheDuration and GOPCacheBytes bound each video track's GOP
	// cache (gop.go), from which a new subscriber starts at once however
	// old the publisher's last keyframe is. Zero takes the defaults; a
	// negative GOPCacheDuration turns the cache off (a subscriber then
	// starts at a keyframe no older than PLIThrottle, or waits for one).
	GOPCacheDuration time.Duration
	GOPCacheBytes    int
	// GOPCatchUpRate paces a new subscriber's catch-up from the GOP
	// cache: after the keyframe, each packet goes out no earlier than its
	// arrival after the keyframe's divided by this rate (2: twice real
	// time). Zero sends the GOP all at once (docs/media.md measures both).
	GOPCatchUpRate float64

	// OnTrack is told when a track is published to or unpublished from a
	// room, so that the signaling side can tell the room's participants. It
	// is called from the relay's goroutines and must not block.
	OnTrack func(room string, ev TrackEvent)

	Logger *slog.Logger

	// NoBatchWrite sends each datagram with its own system call instead of
	// batching them with sendmmsg (batch.go); for comparisons.
	NoBatchWrite bool

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
	cfg Config
	log *slog.Logger
	// pionLogs is pion's logger factory for every peer (pionlog.go).
	pionLogs *pionLogs
	// apis are the pion APIs, per kind of peer (publishers; subscribers
	// of simulcast rooms, with the send-side bandwidth estimator; other
	// subscribers, without it) and per set of local addresses an offer
	// can reach (scope.go).
	apis *apiSet

	stopAdapt chan struct{} // ends adaptLoop
	udpMux    ice.UDPMux    // one socket, or one per local address (listenUDP)
	tcpLn     net.Listener
	tcpMux    *ice.TCPMuxDefault
	iceSrv    []webrtc.ICEServer

	certs   certs
	pending pendingBudget // sessions setting up (MaxPending)

	mu     sync.Mutex
	rooms  map[string]*Room
	closed bool
	gone   Counters // totals of rooms that no longer exist

	writers *writers       // drain the subscribers' send queues
	wg      sync.WaitGroup // peers' background goroutines and the writers
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
	cfg.CacheSize = min(cfg.CacheSize, maxCacheSize)
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.GOPCacheDuration == 0 {
		cfg.GOPCacheDuration = DefaultGOPCacheDuration
	}
	if cfg.GOPCacheBytes <= 0 {
		cfg.GOPCacheBytes = DefaultGOPCacheBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Relay{cfg: cfg, log: cfg.Logger, rooms: make(map[string]*Room)}
	r.pending.max = int64(cfg.MaxPending)

	ip := net.ParseIP(cfg.ListenIP)
	if cfg.ListenIP != "" && ip == nil {
		return nil, fmt.Errorf("relay listen address %q is not an IP address", cfg.ListenIP)
	}
	if ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
		// Bound to loopback or to every interface: peers on this host
		// (a browser, a load test) reach the relay over 127.0.0.1.
		cfg.IncludeLoopback = true
	}
	mux, err := listenUDP(cfg, ip)
	if err != nil {
		return nil, err
	}
	r.udpMux = mux

	n, err := newFrozenNet()
	if err != nil {
		r.udpMux.Close()
		return nil, err
	}
	r.pionLogs = newPionLogs(r.log)
	se := webrtc.SettingEngine{LoggerFactory: r.pionLogs}
	se.SetNet(n)
	se.SetICEUDPMux(r.udpMux)
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	networks := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.TCPPort != 0 {
		port := max(cfg.TCPPort, 0)
		tcpIP := cfg.ListenIP
		if cfg.TCPListenIP != "" {
			tcpIP = cfg.TCPListenIP
		}
		tcpAddr := net.JoinHostPort(tcpIP, strconv.Itoa(port))
		ln, err := net.Listen("tcp", tcpAddr)
		if err != nil {
			r.udpMux.Close()
			return nil, &PortError{Network: "tcp", Addr: tcpAddr, Err: err}
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

	r.apis, err = newAPISet(se, r.udpMux, len(cfg.PublicIPs) == 0, [apiKinds]func(*webrtc.MediaEngine, *interceptor.Registry) error{
		publisherAPI:    r.registerInterceptors,
		simulcastSubAPI: r.registerSimulcastSubscriber,
		plainSubAPI:     r.registerSubscriberInterceptors,
	})
	if err != nil {
		r.closeSockets()
		return nil, err
	}
	for _, s := range cfg.STUNServers {
		r.iceSrv = append(r.iceSrv, webrtc.ICEServer{URLs: []string{s}})
	}
	r.stopAdapt = make(chan struct{})
	r.wg.Add(1)
	go r.adaptLoop()
	r.writers = newWriters(&r.wg, runtime.GOMAXPROCS(0))
	return r, nil
}

// newAPI builds the pion API of one role, whose interceptors register
// adds: publishers' (registerInterceptors), subscribers' in a room with
// simulcast (registerSimulcastSubscriber), other subscribers'
// (registerSubscriberInterceptors). All of them log through r.pionLogs.
func newAPI(se webrtc.SettingEngine, register func(*webrtc.MediaEngine, *interceptor.Registry) error) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := register(m, ir); err != nil {
		return nil, err
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// registerSimulcastSubscriber sets up subscribers whose send bitrate the
// relay estimates, to choose their simulcast layers: their video carries
// transport-wide sequence numbers, which the viewers' feedback reports
// back (bwe.go). Their other RTCP is as other subscribers'
// (registerSubscriberInterceptors).
func (r *Relay) registerSimulcastSubscriber(m *webrtc.MediaEngine, ir *interceptor.Registry) error {
	if err := registerTWCC(m, ir); err != nil {
		return err
	}
	return r.registerSubscriberInterceptors(m, ir)
}

// UDPAddr is the address of the (first) ICE UDP socket; with one socket
// per local address, they all share its port.
func (r *Relay) UDPAddr() net.Addr { return r.udpMux.GetListenAddresses()[0] }

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
}

// Socket buffers: bursts of a keyframe to many peers leave through the
// relay's UDP sockets.
const (
	udpWriteBuffer = 8 << 20
	udpReadBuffer  = 4 << 20
)

// listenUDP opens the relay's ICE UDP sockets. Bound to one address, that
// is one socket. Bound to every interface (ListenIP empty or unspecified),
// it is one socket per local address, all on one port. A single wildcard
// socket would answer each connectivity check from whichever source address
// the kernel picks for the reply: on a host with several addresses, a check
// that a peer on 192.0.2.2 sends to the relay's 127.0.0.1 candidate is
// answered from 192.0.2.2, and the peer discards the answer. Browsers check
// one candidate pair at a time, about 50 ms apart, so every such dead pair
// that sorts first delays a viewer's first frame by 50 ms.
func listenUDP(cfg Config, ip net.IP) (ice.UDPMux, error) {
	if ip != nil && !ip.IsUnspecified() {
		addr := net.JoinHostPort(cfg.ListenIP, strconv.Itoa(cfg.UDPPort))
		conn, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, &PortError{Network: "udp", Addr: addr, Err: err}
		}
		if uc, ok := conn.(*net.UDPConn); ok {
			_ = uc.SetWriteBuffer(udpWriteBuffer)
			_ = uc.SetReadBuffer(udpReadBuffer)
			if !cfg.NoBatchWrite {
				conn = newBatchConn(uc)
			}
		}
		if cfg.wrapConn != nil {
			conn = cfg.wrapConn(conn)
		}
		return ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: conn}), nil
	}
	opts := []ice.UDPMuxFromPortOption{
		ice.UDPMuxFromPortWithReadBufferSize(udpReadBuffer),
		ice.UDPMuxFromPortWithWriteBufferSize(udpWriteBuffer),
		// IPv6 link-local addresses only reach the same link and need a
		// zone: no use as candidates (the single socket never offered them).
		ice.UDPMuxFromPortWithIPFilter(func(ip net.IP) bool { return !ip.IsLinkLocalUnicast() }),
	}
	if cfg.IncludeLoopback {
		opts = append(opts, ice.UDPMuxFromPortWithLoopback())
	}
	if !cfg.NoBatchWrite {
		n, err := newFrozenNet()
		if err != nil {
			return nil, err
		}
		opts = append(opts, ice.UDPMuxFromPortWithNet(batchNet{n}))
	}
	if ip != nil && ip.To4() != nil { // 0.0.0.0: every IPv4 address only
		opts = append(opts, ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4))
	}
	if cfg.UDPPort != 0 {
		mux, err := ice.NewMultiUDPMuxFromPort(cfg.UDPPort, opts...)
		if err != nil {
			return nil, &PortError{Network: "udp", Addr: strconv.Itoa(cfg.UDPPort) + " on every local address", Err: err}
		}
		return mux, nil
	}
	// Any free port: take one that is free on the wildcard address and bind
	// every local address to it; another process can take it in between,
	// so try a few.
	var err error
	for range 10 {
		var probe net.PacketConn
		if probe, err = net.ListenPacket("udp", ":0"); err != nil {
			break
		}
		port := probe.LocalAddr().(*net.UDPAddr).Port
		probe.Close()
		var mux *ice.MultiUDPMuxDefault
		if mux, err = ice.NewMultiUDPMuxFromPort(port, opts...); err == nil {
			return mux, nil
		}
	}
	return nil, fmt.Errorf("opening an ICE UDP port on every local address: %w", err)
}

// registerCodecs offers what the relay forwards: Opus, VP8 and H.264
// (constrained baseline and baseline, packetization mode 1). No RTX: the
// relay retransmits on the media SSRC, which every receiver accepts.
func registerCodecs(m *webrtc.MediaEngine) error {
	for _, c := range relayCodecs {
		if err := m.RegisterCodec(c.c, c.t); err != nil {
			return fmt.Errorf("registering codec %s: %w", c.c.MimeType, err)
		}
	}
	return nil
}

// relayCodecs are the codecs registerCodecs offers; checkOffer refuses an
// offer that names none of them.
var relayCodecs = func() []struct {
	c webrtc.RTPCodecParameters
	t webrtc.RTPCodecType
} {
	videoFB := []webrtc.RTCPFeedback{
		{Type: webrtc.TypeRTCPFBTransportCC},
		{Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"},
	}
	return []struct {
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
}()

// registerInterceptors sets up RTCP for the peers the relay receives
// media from (publishers, and an edge's pull from the origin): a NACK
// generator (the relay's own cache answers subscribers' NACKs, so no
// per-peer responder copies every packet), receiver reports, and
// transport-wide congestion feedback for the sender's bandwidth
// estimation. No sender reports: the relay sends these peers no media,
// and pion's sender-report interceptor would only run an idle loop per
// peer. The simulcast header extensions let publishers send RID layers.
func (r *Relay) registerInterceptors(m *webrtc.MediaEngine, ir *interceptor.Registry) error {
	gen, err := nack.NewGeneratorInterceptor(nack.GeneratorInterval(50*time.Millisecond), nack.WithGeneratorLoggerFactory(r.pionLogs))
	if err != nil {
		return fmt.Errorf("creating NACK generator: %w", err)
	}
	ir.Add(gen)
	receiver, err := report.NewReceiverInterceptor(report.WithReceiverLoggerFactory(r.pionLogs))
	if err != nil {
		return fmt.Errorf("creating receiver reports: %w", err)
	}
	ir.Add(receiver)
	if err := webrtc.ConfigureTWCCSenderWithOptions(m, ir, twcc.WithLoggerFactory(r.pionLogs)); err != nil {
		return fmt.Errorf("configuring transport-wide congestion control feedback: %w", err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return fmt.Errorf("configuring simulcast header extensions: %w", err)
	}
	return nil
}

// registerSubscriberInterceptors sets up RTCP for subscribers: none. A
// subscriber sends the relay no media, so the publishers' NACK generator,
// receiver reports and congestion feedback would only run idle loops: each
// is a goroutine with a ticker per peer connection (the NACK generator's
// every 50 ms), which at hundreds of viewers is CPU and memory for nothing.
// NACKs from subscribers are answered from the relay's own cache, and
// their sender reports come from the relay's report loop (reports.go).
func (r *Relay) registerSubscriberInterceptors(*webrtc.MediaEngine, *interceptor.Registry) error {
	return nil
}

// roomList is a snapshot of the relay's rooms.
func (r *Relay) roomList() []*Room {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.roomsLocked()
}

// roomsLocked is roomList with r.mu held.
func (r *Relay) roomsLocked() []*Room {
	rooms := make([]*Room, 0, len(r.rooms))
	for _, rm := range r.rooms {
		rooms = append(rooms, rm)
	}
	return rooms
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
	rooms := r.roomsLocked()
	r.mu.Unlock()
	for _, rm := range rooms {
		rm.closeAll()
	}
	close(r.stopAdapt)
	r.writers.close()
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
