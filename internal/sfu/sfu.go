// Package sfu is the media plane of `livectl serve`: it puts the SFU
// (internal/relay) behind the signaling server's MediaPlane seam for /ws
// participants, serves WHIP and WHEP on it, with the demo page that uses
// them, and exports its per-room figures to /metrics. In a cluster
// (Config.Origin) it is also the media cascade: viewers of a room published
// on another node are served from one upstream per room (cascade.go), and
// publishers are sent to the room's origin.
//
// It imports internal/server and internal/relay; neither imports it. The
// command that builds the server wires them (internal/cli/serve.go):
//
//	plane, err := sfu.New(sfu.Config{...})
//	srv, err := server.New(server.Config{..., MediaPlane: plane})
//	err = plane.Mount(srv) // WHIP/WHEP, demo page, per-room metrics
package sfu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livectl/livectl/internal/relay"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/signal"
	"github.com/livectl/livectl/internal/stats"
)

// Config configures the SFU.
type Config struct {
	// UDPPort is the one UDP port for all ICE traffic; 0 picks a free one.
	UDPPort int
	// TCPPort is the ICE-TCP port; 0 disables ICE-TCP.
	TCPPort int
	// UDPListenIP binds the ICE UDP socket to one address (one host
	// candidate, announced as PublicIP when that is set); empty binds
	// every local address. TCPListenIP does the same for ICE-TCP.
	UDPListenIP, TCPListenIP string
	// PublicIP is announced in candidates for 1:1 NAT.
	PublicIP string
	// STUN lists STUN server URLs ("stun:" may be left out).
	STUN []string
	// ConnectTimeout ends a session whose peer connection has not
	// connected by then (0: relay.DefaultConnectTimeout, 30 s).
	ConnectTimeout time.Duration
	// MaxPending bounds media sessions setting up at once (0:
	// relay.DefaultMaxPending); one more is refused as busy.
	MaxPending int
	// GOPCacheDuration and GOPCacheBytes bound each video track's GOP
	// cache (0: the relay's defaults); a negative duration turns it off.
	GOPCacheDuration time.Duration
	GOPCacheBytes    int
	// GOPCatchUpRate paces a new viewer's catch-up from the GOP cache
	// (relay.Config.GOPCatchUpRate); zero sends it all at once.
	GOPCatchUpRate float64
	// Logger receives the SFU's logs; nil discards them.
	Logger *slog.Logger

	// Origin, when set, makes the node part of a cluster (docs/cluster.md,
	// "Media cascade"): it names the node where a room is published, or
	// returns ErrNoOrigin when no node publishes it or the node that did
	// is down (so that a publisher arriving here is admitted and the
	// cascade waits for the next origin). A viewer of a room
	// published elsewhere is served here from one upstream per room; a
	// publisher of such a room is sent to its origin. Nil: one node.
	Origin func(ctx context.Context, room string) (OriginInfo, error)
	// OnOrigin is told when a publisher arrives here for a room (WHIP or
	// /ws) that Origin says no other node publishes, so that the cluster
	// can record this node as its origin. Called from request handlers;
	// it must not block for long.
	OnOrigin func(room string)
	// ClusterSecret signs the tokens of the node-to-node WHEP sessions
	// (HS256, internal/auth, sent as "Authorization: Bearer"), and this
	// node accepts such a token in place of a viewer's. Keep it apart from
	// the join-token secret. Empty: upstreams send no token.
	ClusterSecret []byte
	// NodeID names this node in its upstream tokens (default "node").
	NodeID string
}

// SFU is the relay seen from the signaling side: a server.MediaPlane.
type SFU struct {
	relay *relay.Relay
	log   *slog.Logger

	mu    sync.Mutex
	parts map[string]map[*wsMedia]struct{} // room → /ws participants, for track events

	res resources // WHIP/WHEP sessions (whip.go)

	cascade       *cascade // nil without a cluster (cascade.go)
	onOrigin      func(room string)
	clusterSecret []byte
	pubsMu        sync.Mutex
	pubs          map[string]int // room → local publishers (not upstreams)

	// maxOfferLen is signal.MaxSDPLen; tests lower it to reach it quickly.
	maxOfferLen atomic.Int64
}

var _ server.MediaPlane = (*SFU)(nil)

// New starts the relay on its ports. Errors opening them are
// *relay.PortError.
func New(cfg Config) (*SFU, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &SFU{log: log, parts: map[string]map[*wsMedia]struct{}{}, pubs: map[string]int{},
		onOrigin: cfg.OnOrigin, clusterSecret: cfg.ClusterSecret}
	s.res.m = map[string]*resource{}
	if cfg.Origin != nil {
		node := cfg.NodeID
		if node == "" {
			node = "node"
		}
		s.cascade = &cascade{sfu: s, origin: cfg.Origin, secret: cfg.ClusterSecret, node: node,
			client: &http.Client{Timeout: 10 * time.Second}, rooms: map[string]*upstream{}, all: map[*upstream]struct{}{}}
	}
	s.maxOfferLen.Store(signal.MaxSDPLen)
	rc := relay.Config{
		UDPPort: cfg.UDPPort, TCPPort: cfg.TCPPort, ConnectTimeout: cfg.ConnectTimeout, MaxPending: cfg.MaxPending,
		ListenIP: cfg.UDPListenIP, TCPListenIP: cfg.TCPListenIP,
		GOPCacheDuration: cfg.GOPCacheDuration, GOPCacheBytes: cfg.GOPCacheBytes, GOPCatchUpRate: cfg.GOPCatchUpRate,
		Logger: log, OnTrack: s.onTrack,
	}
	if cfg.PublicIP != "" {
		rc.PublicIPs = []string{cfg.PublicIP}
	}
	for _, u := range cfg.STUN {
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") {
			u = "stun:" + u
		}
		rc.STUNServers = append(rc.STUNServers, u)
	}
	r, err := relay.New(rc)
	if err != nil {
		return nil, err
	}
	s.relay = r
	return s, nil
}

// Relay exposes the relay for tests and the serve banner (ICE address).
func (s *SFU) Relay() *relay.Relay { return s.relay }

// Join implements server.MediaPlane.
func (s *SFU) Join(p server.MediaParticipant) (server.MediaSession, error) {
	w := &wsMedia{sfu: s, p: p}
	s.mu.Lock()
	set := s.parts[p.Room]
	if set == nil {
		set = map[*wsMedia]struct{}{}
		s.parts[p.Room] = set
	}
	set[w] = struct{}{}
	s.mu.Unlock()
	return w, nil
}

// onTrack tells every /ws participant of the room about a track.
func (s *SFU) onTrack(room string, ev relay.TrackEvent) {
	m := &signal.Message{Type: signal.TypeTrackUnpublished, Track: signalTrack(ev.Track)}
	if ev.Published {
		m.Type = signal.TypeTrackPublished
	}
	s.mu.Lock()
	parts := make([]*wsMedia, 0, len(s.parts[room]))
	for w := range s.parts[room] {
		parts = append(parts, w)
	}
	s.mu.Unlock()
	for _, w := range parts {
		w.send(m)
	}
}

// Stats implements server.MediaPlane.
func (s *SFU) Stats() server.MediaStats {
	st := s.relay.Stats()
	ms := server.MediaStats{
		TracksPublished: int64(st.TracksPublished), TracksSubscribed: int64(st.TracksSubscribed),
		BytesIn: st.BytesIn, BytesOut: st.BytesOut, PacketsIn: st.PacketsIn, PacketsOut: st.PacketsOut,
		PacketsLost: st.PacketsLost, NACKs: st.NACKs, PLIs: st.PLIs,
	}
	for _, r := range st.Rooms {
		mr := server.MediaRoomStats{
			Name: r.Name, Publishers: r.Publishers, Subscribers: r.Subscribers, Tracks: r.Tracks,
			BitrateInBps: r.BitrateInBps, BitrateOutBps: r.BitrateOutBps,
		}
		if sc := r.Simulcast; sc != nil {
			mr.Simulcast = &stats.Simulcast{ViewersPerLayer: sc.ViewersPerLayer, Switches: sc.Switches,
				EstimateP50Bps: sc.EstimateP50Bps, UnusedLayers: sc.UnusedLayers, QuietViewers: sc.QuietViewers}
		}
		ms.Rooms = append(ms.Rooms, mr)
	}
	return ms
}

// Close implements server.MediaPlane: it ends every peer connection.
func (s *SFU) Close() error {
	s.cascade.close()
	err := s.relay.Close()
	s.res.wg.Wait()
	return err
}

func signalTrack(t relay.TrackInfo) *signal.Track {
	return &signal.Track{ID: t.ID, Kind: t.Kind, Codec: t.Codec, Publisher: t.Publisher, StreamID: t.StreamID}
}

// mediaError turns a relay error into the protocol error a client sees.
func mediaError(what string, err error) error {
	switch {
	case errors.Is(err, relay.ErrBadSDP):
		return &signal.Error{Code: signal.CodeBadSDP, Reason: fmt.Sprintf("%s: %v", what, err)}
	case errors.Is(err, relay.ErrClosed):
		return &signal.Error{Code: signal.CodeDraining, Reason: what + ": the media plane is shutting down"}
	case errors.Is(err, relay.ErrBusy):
		return &signal.Error{Code: signal.CodeServerFull, Reason: what + ": " + err.Error() + ", retry in a few seconds"}
	case errors.Is(err, relay.ErrNoOfferPending), errors.Is(err, relay.ErrNoSuchTrack):
		return &signal.Error{Code: signal.CodeBadMessage, Reason: fmt.Sprintf("%s: %v", what, err)}
	}
	var oe *OriginError
	if errors.As(err, &oe) {
		return &signal.Error{Code: signal.CodeNotOrigin, Reason: fmt.Sprintf("%s: %v", what, err)}
	}
	var de *DirectoryError
	if errors.As(err, &de) {
		return &signal.Error{Code: signal.CodeInternal, Reason: fmt.Sprintf("%s: %v", what, err)}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// wsMedia is one /ws participant's media: at most one publisher and one
// subscriber peer connection.
type wsMedia struct {
	sfu    *SFU
	p      server.MediaParticipant
	closed atomic.Bool

	mu  sync.Mutex // requests are sequential; this guards against Close
	pub *relay.Publisher
	sub *relay.Subscriber
}

func (w *wsMedia) send(m *signal.Message) {
	if !w.closed.Load() {
		w.p.Send(m)
	}
}

func (w *wsMedia) Tracks() []signal.Track {
	var out []signal.Track
	for _, t := range w.sfu.relay.Tracks(w.p.Room) {
		out = append(out, *signalTrack(t))
	}
	return out
}

func ended(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

func (w *wsMedia) Handle(_ context.Context, m *signal.Message) (*signal.Message, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed.Load() {
		return nil, &signal.Error{Code: signal.CodeNotJoined, Reason: "media session has ended"}
	}
	r := w.sfu.relay
	switch m.Type {
	case signal.TypePublish:
		if w.pub != nil && !ended(w.pub.Done()) {
			ans, err := w.pub.Renegotiate(m.SDP)
			if err != nil {
				return nil, mediaError("renegotiating publish", err)
			}
			return &signal.Message{Type: signal.TypeAnswer, SDP: ans, Target: signal.TargetPublisher}, nil
		}
		if _, err := w.sfu.admitPublisher(context.Background(), w.p.Room); err != nil {
			return nil, mediaError("publishing", err)
		}
		held := w.sfu.published(w.p.Room)
		pub, ans, err := r.Publish(w.p.Room, w.p.Identity, m.SDP)
		if err != nil {
			held()
			return nil, mediaError("publishing", err)
		}
		w.pub = pub
		logEnd := w.sfu.startMediaLog("publish", "ws", w.p.Room, w.p.Identity, w.p.Remote, pub.Counters)
		w.reportEnd(signal.TargetPublisher, pub.Done(), func() { held(); logEnd() }, func() bool { return w.pub == pub })
		return &signal.Message{Type: signal.TypeAnswer, SDP: ans, Target: signal.TargetPublisher}, nil

	case signal.TypeSubscribe:
		if w.sub != nil {
			w.sub.Close() // a new subscribe restarts the subscription
		}
		var self atomic.Pointer[relay.Subscriber]
		var told atomic.Bool // the end was explained already
		// Hold the room's upstream, if any, before subscribing: see
		// WHEP's create.
		held := w.sfu.cascade.hold(w.p.Room)
		sub, offer, err := r.Subscribe(w.p.Room, w.p.Identity, func(sdp string) {
			if err := w.sfu.offerFits(sdp); err != nil {
				// The client's answer would be refused, and the
				// subscription would wait for it for ever: end it
				// now and say why.
				told.Store(true)
				w.send(&signal.Message{Type: signal.TypeError, Code: err.Code, Reason: "subscription ended: " + err.Reason})
				if s := self.Load(); s != nil {
					go s.Close() // not from inside its own negotiation
				}
				return
			}
			w.send(&signal.Message{Type: signal.TypeOffer, SDP: sdp, Target: signal.TargetSubscriber})
		})
		if err != nil {
			held()
			return nil, mediaError("subscribing", err)
		}
		if err := w.sfu.offerFits(offer); err != nil {
			sub.Close()
			held()
			return nil, err
		}
		self.Store(sub)
		w.sub = sub
		logEnd := w.sfu.startMediaLog("subscribe", "ws", w.p.Room, w.p.Identity, w.p.Remote, sub.Counters)
		w.reportEnd(signal.TargetSubscriber, sub.Done(), func() { held(); logEnd() }, func() bool { return w.sub == sub && !told.Load() })
		return &signal.Message{Type: signal.TypeOffer, SDP: offer, Target: signal.TargetSubscriber}, nil

	case signal.TypeAnswer:
		if w.sub == nil {
			return nil, &signal.Error{Code: signal.CodeBadMessage, Reason: "answer without a subscription: send subscribe first"}
		}
		if err := w.sub.SetAnswer(m.SDP); err != nil {
			return nil, mediaError("applying answer", err)
		}
		return nil, nil

	case signal.TypeTrickle:
		c := relay.Candidate{Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid,
			SDPMLineIndex: m.Candidate.SDPMLineIndex, UsernameFragment: m.Candidate.UsernameFragment}
		var err error
		switch {
		case m.Target == signal.TargetPublisher && w.pub != nil:
			err = w.pub.AddICECandidate(c)
		case m.Target == signal.TargetSubscriber && w.sub != nil:
			err = w.sub.AddICECandidate(c)
		default:
			return nil, &signal.Error{Code: signal.CodeBadMessage, Reason: fmt.Sprintf("trickle for %s, but there is no %s peer connection yet", m.Target, m.Target)}
		}
		if err != nil {
			return nil, &signal.Error{Code: signal.CodeBadSDP, Reason: err.Error()}
		}
		return nil, nil

	case signal.TypeUnpublish:
		if w.pub == nil {
			return nil, &signal.Error{Code: signal.CodeBadMessage, Reason: "unpublish: nothing is published on this connection"}
		}
		if err := w.pub.Unpublish(m.TrackID); err != nil {
			return nil, mediaError("unpublishing", err)
		}
		if m.TrackID == "" {
			w.pub = nil
		}
		return &signal.Message{Type: signal.TypeUnpublished, TrackID: m.TrackID}, nil

	case signal.TypeSetQuality:
		if w.sub == nil {
			return nil, &signal.Error{Code: signal.CodeBadMessage, Reason: "set_quality without a subscription: send subscribe first"}
		}
		if !w.sub.SetQuality(m.TrackID, relay.LayerRequest{RID: m.Layer, MaxWidth: m.MaxWidth}) && m.TrackID != "" {
			return nil, &signal.Error{Code: signal.CodeBadMessage, Reason: fmt.Sprintf("set_quality: this subscription has no video track %q", m.TrackID)}
		}
		return &signal.Message{Type: signal.TypeQualitySet, TrackID: m.TrackID, Layer: m.Layer, MaxWidth: m.MaxWidth}, nil
	}
	return nil, &signal.Error{Code: signal.CodeUnsupported, Reason: m.Type + " is not a media request"}
}

// reportEnd runs ended (what the session held in the cluster) when it
// ends, and tells the client when the relay ends its publisher or
// subscriber peer connection on its own (not connected within the connect
// timeout, ICE or DTLS failed); the client
// would otherwise learn it only from the silence. current says, under w.mu
// (held by Handle for a whole request), whether the session is still the
// client's: one it replaced (subscribe again) or ended (unpublish) is not
// reported, nor are sessions of a participant that left.
func (w *wsMedia) reportEnd(target string, done <-chan struct{}, ended func(), current func() bool) {
	go func() {
		<-done
		ended()
		w.mu.Lock()
		ours := current()
		w.mu.Unlock()
		if !ours || w.closed.Load() {
			return
		}
		again := "subscribe"
		if target == signal.TargetPublisher {
			again = "publish"
		}
		w.send(&signal.Message{Type: signal.TypeError, Code: signal.CodeMediaFailed, Target: target,
			Reason: fmt.Sprintf("the server ended the %s peer connection: it did not connect within %s, or ICE/DTLS failed; %s again", target, w.sfu.relay.ConnectTimeout(), again)})
	}()
}

// offerFits checks that a client can answer a subscriber offer: an answer
// is about as long as its offer, and the protocol refuses SDP over
// signal.MaxSDPLen: a room with more than ~60 tracks at once reaches it
// (sections of tracks that have gone are reused, see relay's addTrack).
func (s *SFU) offerFits(sdp string) *signal.Error {
	limit := int(s.maxOfferLen.Load())
	if len(sdp) <= limit {
		return nil
	}
	return &signal.Error{Code: signal.CodeBadSDP, Reason: fmt.Sprintf(
		"the server's offer is %d bytes and an answer over %d bytes would be refused (a media section per track in the room)",
		len(sdp), limit)}
}

func (w *wsMedia) Close() {
	if w.closed.Swap(true) {
		return
	}
	s := w.sfu
	s.mu.Lock()
	if set := s.parts[w.p.Room]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(s.parts, w.p.Room)
		}
	}
	s.mu.Unlock()
	w.mu.Lock()
	pub, sub := w.pub, w.sub
	w.pub, w.sub = nil, nil
	w.mu.Unlock()
	if sub != nil {
		sub.Close()
	}
	if pub != nil {
		pub.Close()
	}
}
