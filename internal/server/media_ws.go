package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livectl/livectl/internal/relay"
	"github.com/livectl/livectl/internal/signal"
)

// The SFU (internal/relay) is the media plane of serve: this file adapts it
// to the MediaPlane seam for /ws, and whip.go serves WHIP/WHEP on it.
func init() {
	RegisterMediaFactory(func(cfg MediaConfig, log *slog.Logger) (MediaPlane, error) {
		return newSFU(cfg, log)
	})
}

// sfu is the relay seen from the signaling side.
type sfu struct {
	relay *relay.Relay
	log   *slog.Logger

	mu    sync.Mutex
	parts map[string]map[*wsMedia]struct{} // room → /ws participants, for track events

	res resources // WHIP/WHEP sessions (whip.go)
}

var _ MediaPlane = (*sfu)(nil)

func newSFU(cfg MediaConfig, log *slog.Logger) (*sfu, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &sfu{log: log, parts: map[string]map[*wsMedia]struct{}{}}
	s.res.m = map[string]*resource{}
	s.res.inRoom = map[string]int{}
	rc := relay.Config{
		UDPPort: cfg.UDPPort, TCPPort: cfg.TCPPort, ConnectTimeout: cfg.ConnectTimeout,
		GOPCacheDuration: cfg.GOPCacheDuration, GOPCacheBytes: cfg.GOPCacheBytes,
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

// Relay exposes the SFU for tests and the serve banner (ICE address).
func (s *sfu) Relay() *relay.Relay { return s.relay }

func (s *sfu) Join(p MediaParticipant) (MediaSession, error) {
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
func (s *sfu) onTrack(room string, ev relay.TrackEvent) {
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

func (s *sfu) Stats() MediaStats {
	st := s.relay.Stats()
	ms := MediaStats{
		TracksPublished: int64(st.TracksPublished), TracksSubscribed: int64(st.TracksSubscribed),
		BytesIn: st.BytesIn, BytesOut: st.BytesOut, PacketsIn: st.PacketsIn, PacketsOut: st.PacketsOut,
		PacketsLost: st.PacketsLost, NACKs: st.NACKs, PLIs: st.PLIs,
	}
	for _, r := range st.Rooms {
		ms.Rooms = append(ms.Rooms, MediaRoomStats{
			Name: r.Name, Publishers: r.Publishers, Subscribers: r.Subscribers, Tracks: r.Tracks,
			BitrateInBps: r.BitrateInBps, BitrateOutBps: r.BitrateOutBps,
		})
	}
	return ms
}

func (s *sfu) Close() error {
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
	case errors.Is(err, relay.ErrNoOfferPending), errors.Is(err, relay.ErrNoSuchTrack):
		return &signal.Error{Code: signal.CodeBadMessage, Reason: fmt.Sprintf("%s: %v", what, err)}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// wsMedia is one /ws participant's media: at most one publisher and one
// subscriber peer connection.
type wsMedia struct {
	sfu    *sfu
	p      MediaParticipant
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
		pub, ans, err := r.Publish(w.p.Room, w.p.Identity, m.SDP)
		if err != nil {
			return nil, mediaError("publishing", err)
		}
		w.pub = pub
		w.reportEnd(signal.TargetPublisher, pub.Done(), func() bool { return w.pub == pub })
		return &signal.Message{Type: signal.TypeAnswer, SDP: ans, Target: signal.TargetPublisher}, nil

	case signal.TypeSubscribe:
		if w.sub != nil {
			w.sub.Close() // a new subscribe restarts the subscription
		}
		var self atomic.Pointer[relay.Subscriber]
		var told atomic.Bool // the end was explained already
		sub, offer, err := r.Subscribe(w.p.Room, w.p.Identity, func(sdp string) {
			if err := offerFits(sdp); err != nil {
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
			return nil, mediaError("subscribing", err)
		}
		if err := offerFits(offer); err != nil {
			sub.Close()
			return nil, err
		}
		self.Store(sub)
		w.sub = sub
		w.reportEnd(signal.TargetSubscriber, sub.Done(), func() bool { return w.sub == sub && !told.Load() })
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
	}
	return nil, &signal.Error{Code: signal.CodeUnsupported, Reason: m.Type + " is not a media request"}
}

// reportEnd tells the client when the relay ends its publisher or
// subscriber peer connection on its own (not connected within the connect
// timeout, ICE or DTLS failed); the client
// would otherwise learn it only from the silence. current says, under w.mu
// (held by Handle for a whole request), whether the session is still the
// client's: one it replaced (subscribe again) or ended (unpublish) is not
// reported, nor are sessions of a participant that left.
func (w *wsMedia) reportEnd(target string, done <-chan struct{}, current func() bool) {
	go func() {
		<-done
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
func offerFits(sdp string) *signal.Error {
	limit := int(maxOfferLen.Load())
	if len(sdp) <= limit {
		return nil
	}
	return &signal.Error{Code: signal.CodeBadSDP, Reason: fmt.Sprintf(
		"the server's offer is %d bytes and an answer over %d bytes would be refused (a media section per track in the room)",
		len(sdp), limit)}
}

// maxOfferLen is signal.MaxSDPLen; tests lower it to reach it quickly.
var maxOfferLen atomic.Int64

func init() { maxOfferLen.Store(signal.MaxSDPLen) }

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

// Per-room media series for /metrics, beside the server's totals: rooms
// come and go, so each scrape reports the rooms that exist then.
var (
	descRoomTracks     = prometheus.NewDesc("livectl_room_tracks", "Tracks published in the room.", []string{"room"}, nil)
	descRoomPubs       = prometheus.NewDesc("livectl_room_media_publishers", "Publisher peer connections in the room.", []string{"room"}, nil)
	descRoomSubs       = prometheus.NewDesc("livectl_room_media_subscribers", "Subscriber peer connections in the room.", []string{"room"}, nil)
	descRoomBitrateIn  = prometheus.NewDesc("livectl_room_bitrate_in_bps", "Media bitrate received from the room's publishers.", []string{"room"}, nil)
	descRoomBitrateOut = prometheus.NewDesc("livectl_room_bitrate_out_bps", "Media bitrate sent to the room's subscribers.", []string{"room"}, nil)
	descRoomPacketsIn  = prometheus.NewDesc("livectl_room_packets_in_total", "RTP packets received in the room.", []string{"room"}, nil)
	descRoomPacketsOut = prometheus.NewDesc("livectl_room_packets_out_total", "RTP packets sent in the room.", []string{"room"}, nil)
	descRoomBytesIn    = prometheus.NewDesc("livectl_room_bytes_in_total", "Media bytes received in the room.", []string{"room"}, nil)
	descRoomBytesOut   = prometheus.NewDesc("livectl_room_bytes_out_total", "Media bytes sent in the room.", []string{"room"}, nil)
	descRoomLost       = prometheus.NewDesc("livectl_room_packets_lost", "Publisher packets still missing after NACK repair (falls when a late packet fills a gap).", []string{"room"}, nil)
	descRoomNACKs      = prometheus.NewDesc("livectl_room_nacks_total", "Packets NACKed by the room's subscribers.", []string{"room"}, nil)
	descRoomPLIs       = prometheus.NewDesc("livectl_room_plis_total", "Keyframe requests sent to the room's publishers.", []string{"room"}, nil)
	descRetransmits    = prometheus.NewDesc("livectl_media_retransmits_total", "Packets resent to subscribers from the relay's cache.", nil, nil)
	descQueueDrops     = prometheus.NewDesc("livectl_media_queue_drops_total", "Packets dropped because a subscriber's send queue was full.", nil, nil)
)

type roomCollector struct{ sfu *sfu }

func (c *roomCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *roomCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.sfu.relay.Stats()
	g := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	for _, r := range st.Rooms {
		g(descRoomTracks, prometheus.GaugeValue, float64(r.Tracks), r.Name)
		g(descRoomPubs, prometheus.GaugeValue, float64(r.Publishers), r.Name)
		g(descRoomSubs, prometheus.GaugeValue, float64(r.Subscribers), r.Name)
		g(descRoomBitrateIn, prometheus.GaugeValue, float64(r.BitrateInBps), r.Name)
		g(descRoomBitrateOut, prometheus.GaugeValue, float64(r.BitrateOutBps), r.Name)
		g(descRoomPacketsIn, prometheus.CounterValue, float64(r.PacketsIn), r.Name)
		g(descRoomPacketsOut, prometheus.CounterValue, float64(r.PacketsOut), r.Name)
		g(descRoomBytesIn, prometheus.CounterValue, float64(r.BytesIn), r.Name)
		g(descRoomBytesOut, prometheus.CounterValue, float64(r.BytesOut), r.Name)
		g(descRoomLost, prometheus.GaugeValue, float64(r.PacketsLost), r.Name)
		g(descRoomNACKs, prometheus.CounterValue, float64(r.NACKs), r.Name)
		g(descRoomPLIs, prometheus.CounterValue, float64(r.PLIs), r.Name)
	}
	g(descRetransmits, prometheus.CounterValue, float64(st.Retransmits))
	g(descQueueDrops, prometheus.CounterValue, float64(st.Drops))
}

func init() {
	registerRoutes(func(s *Server) {
		if sf, ok := s.Media().(*sfu); ok && s.metrics != nil {
			s.metrics.reg.MustRegister(&roomCollector{sfu: sf})
		}
	})
}
