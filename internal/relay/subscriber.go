package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Subscriber is one peer connection receiving a room's tracks. It comes in
// two shapes: server-offered (Subscribe, for /ws: every track of the room,
// renegotiated as tracks come and go) and client-offered (SubscribeOffer,
// for WHEP: one audio and one video slot that follow the room's oldest
// track of their kind, switching source without renegotiation).
type Subscriber struct {
	relay    *Relay
	room     *Room
	identity string
	id       string
	pc       *webrtc.PeerConnection
	onOffer  func(sdp string) // nil for client-offered sessions
	cands    candidateBudget

	bwe subscriberBWE // the send bitrate estimate (bwe.go)

	queue        *sendQueue  // bounded; full means drop and count
	catchingUp   atomic.Bool // a paced catch-up holds the queue (replayPaced)
	connected    atomic.Bool
	connectTimer *time.Timer
	release      func() // the place in the relay's pending budget

	negMu        sync.Mutex
	offerPending bool
	needNeg      bool

	mu    sync.Mutex
	downs []*downTrack
	// quality is the cap set_quality gave every video track (SetQuality
	// without a track); video down-tracks added later take it.
	quality *LayerRequest
	closed  bool

	stop      chan struct{} // ends the writer
	done      chan struct{} // closed when Close has finished
	onClosed  closeHooks
	closeOnce sync.Once
}

// newSubscriber builds a subscriber's peer connection. Only a viewer of a
// room whose video comes in simulcast layers carries what the estimate
// needs (transport-wide sequence numbers on its video, read back from the
// viewer's feedback): its estimate chooses the layer. Elsewhere there is
// nothing to choose. The room is judged when the peer is built: a viewer
// that joined before a simulcast publisher has no transport-wide feedback,
// and its layer follows the loss its receiver reports show (bwe.go).
func (r *Relay) newSubscriber(room, identity string, offer *sdp.SessionDescription, onOffer func(string)) (*Subscriber, error) {
	kind, twcc := plainSubAPI, r.roomSimulcast(room)
	if twcc {
		kind = simulcastSubAPI
	}
	pc, release, err := r.newPeer(kind, offer)
	if err != nil {
		return nil, err
	}
	s := &Subscriber{relay: r, identity: identity, id: newID("SU_"), pc: pc, onOffer: onOffer, release: release,
		stop: make(chan struct{}), done: make(chan struct{})}
	s.queue = newSendQueue(r.cfg.QueueSize, func() { r.writers.schedule(s) })
	s.bwe.twcc = twcc
	s.mu.Lock() // the timer's Close reads connectTimer
	s.connectTimer = r.superviseConnection(pc, "subscriber", s.id, &s.connected, release, func() {
		s.bwe.since.Store(nanotime())
		// Each waiting track starts from the cached keyframe or asks
		// for one; the read loop repeats the request (throttled).
		for _, d := range s.downTracks() {
			d.connected()
		}
	}, s.Close)
	s.mu.Unlock()
	return s, nil
}

// Subscribe starts a server-offered subscription to room and returns the
// first offer. The peer connection carries a data channel besides the
// media, so ICE and DTLS come up at once even in an empty room, and a track
// published later starts without waiting for connectivity. onOffer
// receives each later offer (one per change of the room's tracks); the
// client answers every offer with SetAnswer. Tracks published by identity
// itself are not sent back.
func (r *Relay) Subscribe(room, identity string, onOffer func(sdp string)) (*Subscriber, string, error) {
	if onOffer == nil {
		return nil, "", errors.New("subscribing: onOffer is required")
	}
	s, err := r.newSubscriber(room, identity, nil, onOffer)
	if err != nil {
		return nil, "", err
	}
	if _, err := s.pc.CreateDataChannel("livectl", nil); err != nil {
		s.Close()
		return nil, "", fmt.Errorf("creating the subscriber's data channel: %w", err)
	}
	// From join on, the room can add a track and ask for an offer; until
	// the first offer has been made, that only notes that another is due.
	s.negMu.Lock()
	s.offerPending = true
	s.negMu.Unlock()
	var tracks []*upTrack
	if _, err := r.join(room, func(rm *Room) {
		s.room = rm
		rm.subs[s] = struct{}{}
		tracks = append(tracks, rm.tracks...)
	}); err != nil {
		s.Close()
		return nil, "", err
	}
	for _, t := range tracks {
		s.addTrack(t)
	}
	offer, err := s.offer()
	if err != nil {
		s.Close()
		return nil, "", err
	}
	return s, offer, nil
}

// SubscribeOffer answers a client's offer (WHEP) to watch room: each audio
// or video section the client offers to receive gets the room's oldest
// track of that kind, now or when one is published.
func (r *Relay) SubscribeOffer(room, identity, offer string) (*Subscriber, string, error) {
	return r.SubscribeOfferLayers(room, identity, offer, LayerRequest{})
}

// SubscribeOfferLayers is SubscribeOffer for a viewer that caps the
// simulcast layers it is sent (WHEP's ?layer= and ?max_width=) from the
// start, as SetQuality would.
func (r *Relay) SubscribeOfferLayers(room, identity, offer string, req LayerRequest) (*Subscriber, string, error) {
	d, err := parseOffer(offer)
	if err != nil {
		return nil, "", err
	}
	kinds := mediaKinds(d)
	s, err := r.newSubscriber(room, identity, d, nil)
	if err != nil {
		return nil, "", err
	}
	if _, err := r.join(room, func(rm *Room) { s.room = rm; rm.subs[s] = struct{}{} }); err != nil {
		s.Close()
		return nil, "", err
	}
	seen := map[string]bool{}
	for _, k := range kinds {
		if (k != "audio" && k != "video") || seen[k] {
			continue
		}
		seen[k] = true
		d := &downTrack{sub: s, id: k, streamID: "livectl-" + s.room.name, slot: true,
			kind: webrtc.NewRTPCodecType(k), video: k == "video"}
		if t := s.room.trackOfKind(k, nil); t != nil {
			d.wantMime = t.mime
		}
		if d.video && req != (LayerRequest{}) {
			d.setQuality(req)
		}
		sender, err := s.pc.AddTrack(d)
		if err != nil {
			s.Close()
			return nil, "", fmt.Errorf("adding %s track: %w", k, err)
		}
		d.sender = sender
		s.mu.Lock()
		s.downs = append(s.downs, d)
		s.mu.Unlock()
	}
	s.negMu.Lock()
	answer, err := answerOffer(s.pc, offer)
	s.negMu.Unlock()
	if err != nil {
		s.Close()
		return nil, "", err
	}
	for _, d := range s.downTracks() {
		if t := s.room.trackOfKind(d.kind.String(), nil); t != nil && strings.EqualFold(t.mime, d.codec()) {
			d.attach(t)
		}
		s.startRTCP(d)
	}
	return s, answer, nil
}

// ID identifies the session (unique in the process).
func (s *Subscriber) ID() string { return s.id }

// Done is closed when the session has ended.
func (s *Subscriber) Done() <-chan struct{} { return s.done }

// AfterClose runs f as Close ends, after Done is closed, on the goroutine
// that closed the session (at once if it has closed): f must not block.
func (s *Subscriber) AfterClose(f func()) { s.onClosed.add(f) }

// AddICECandidate adds a candidate trickled by the subscriber.
func (s *Subscriber) AddICECandidate(c Candidate) error {
	if err := s.cands.take(); err != nil {
		return err
	}
	if err := s.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("adding subscriber ICE candidate: %w", err)
	}
	return nil
}

// SetAnswer applies the client's answer to the last offer.
func (s *Subscriber) SetAnswer(answer string) error {
	if _, err := parseSDP(answer); err != nil {
		return err
	}
	s.negMu.Lock()
	if !s.offerPending {
		s.negMu.Unlock()
		return ErrNoOfferPending
	}
	err := s.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer})
	s.offerPending = false
	again := s.needNeg
	s.needNeg = false
	s.negMu.Unlock()
	if err != nil {
		return fmt.Errorf("%w: applying answer: %v", ErrBadSDP, err)
	}
	if again {
		s.negotiate()
	}
	return nil
}

// offer creates the first offer. Subscribe has marked it pending already,
// so a track published meanwhile waits for the client's answer to it.
func (s *Subscriber) offer() (string, error) {
	s.negMu.Lock()
	defer s.negMu.Unlock()
	o, err := s.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("creating subscriber offer: %w", err)
	}
	sdp, err := setLocalAndGather(s.pc, o)
	if err != nil {
		return "", err
	}
	s.offerPending = true
	return sdp, nil
}

// negotiate sends a new offer, or notes that one is needed once the
// pending offer is answered.
func (s *Subscriber) negotiate() {
	s.negMu.Lock()
	if s.isClosed() {
		s.negMu.Unlock()
		return
	}
	if s.offerPending {
		s.needNeg = true
		s.negMu.Unlock()
		return
	}
	offer, err := s.pc.CreateOffer(nil)
	var sdp string
	if err == nil {
		sdp, err = setLocalAndGather(s.pc, offer)
	}
	if err != nil {
		s.negMu.Unlock()
		if !s.isClosed() {
			s.relay.log.Warn("creating subscriber offer", "session", s.id, "err", err)
		}
		return
	}
	s.offerPending = true
	s.negMu.Unlock()
	s.onOffer(sdp)
}

func (s *Subscriber) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Subscriber) downTracks() []*downTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*downTrack(nil), s.downs...)
}

// addTrack gives a server-offered subscriber a down-track for t; it
// reports whether renegotiation is needed.
func (s *Subscriber) addTrack(t *upTrack) bool {
	if t.info.Publisher == s.identity {
		return false
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	for _, d := range s.downs {
		if d.follows(t) {
			s.mu.Unlock()
			return false
		}
	}
	d := &downTrack{sub: s, id: t.info.ID, streamID: t.info.StreamID, wantMime: t.mime,
		kind: webrtc.NewRTPCodecType(t.info.Kind), video: t.video}
	// AddTrack takes back the transceiver of a track that has gone, or
	// adds a sendrecv one: a section per track ever published would grow
	// every later offer past the SDP limit (see wsMedia's offerFits). The
	// section is sendrecv, not sendonly, so that removing its track makes
	// it recvonly rather than inactive: pion, as the viewer, stops a
	// transceiver at every offer that has it inactive, and the receiver it
	// then hands a reused section is dead (no OnTrack, no packets). The
	// viewer answers recvonly and sends nothing back.
	sender, err := s.pc.AddTrack(d)
	if err != nil {
		s.mu.Unlock()
		s.relay.log.Warn("adding track to subscriber", "session", s.id, "track", t.info.ID, "err", err)
		return false
	}
	d.sender = sender
	s.downs = append(s.downs, d)
	if d.video && s.quality != nil {
		d.setQuality(*s.quality)
	}
	s.mu.Unlock()
	d.attach(t)
	s.startRTCP(d)
	return true
}

// startRTCP reads the receiver's RTCP for d until the sender stops. It
// reads into one buffer (pion's ReadRTCP makes one per packet) and skips a
// datagram it cannot parse or that does not fit, rather than stop reading:
// a receiver's malformed RTCP must not end its NACKs and keyframe
// requests.
func (s *Subscriber) startRTCP(d *downTrack) {
	s.relay.wg.Add(1)
	go func() {
		defer s.relay.wg.Done()
		buf := make([]byte, rtcpReadBuffer)
		for {
			n, _, err := d.sender.Read(buf)
			if errors.Is(err, io.ErrShortBuffer) {
				continue
			}
			if err != nil {
				return
			}
			d.readRTCP(buf[:n])
		}
	}()
}

// readRTCP acts on one RTCP datagram from the receiver: a compound of
// packets, each starting with its length. Transport-wide feedback, the
// most frequent (every 50-100 ms from a simulcast viewer), is read in
// place (twccread.go); the rest as pion parses it (no interceptor of a
// subscriber's reads RTCP, so none has parsed it already). A packet that
// does not parse is skipped with what follows it.
func (d *downTrack) readRTCP(b []byte) {
	for len(b) >= 4 {
		n := 4 * (int(binary.BigEndian.Uint16(b[2:])) + 1)
		if n > len(b) {
			return
		}
		p := b[:n]
		b = b[n:]
		if isTWCC(p) {
			d.sub.bwe.feedback(p)
			continue
		}
		pkts, err := rtcp.Unmarshal(p)
		if err != nil {
			return
		}
		d.handleRTCP(pkts)
	}
}

// rtcpReadBuffer holds any RTCP datagram a receiver sends: they fit a
// path MTU, which is at most Ethernet's 1,500 bytes on the paths WebRTC
// takes.
const rtcpReadBuffer = 1500

// trackAdded is the room telling the subscriber about a new track.
func (s *Subscriber) trackAdded(t *upTrack) {
	if s.onOffer != nil {
		if s.addTrack(t) {
			s.negotiate()
		}
		return
	}
	for _, d := range s.downTracks() {
		if d.kind.String() == t.info.Kind && d.src.Load() == nil && strings.EqualFold(d.codec(), t.mime) {
			d.attach(t)
		}
	}
}

// trackRemoved is the room telling the subscriber a track has gone.
func (s *Subscriber) trackRemoved(t *upTrack) {
	for _, d := range s.downTracks() {
		if !d.follows(t) {
			continue
		}
		d.detach()
		if d.slot {
			// Follow the room's next track of this kind, if compatible.
			if next := s.room.trackOfKind(t.info.Kind, t); next != nil && strings.EqualFold(next.mime, d.codec()) {
				d.attach(next)
			}
			continue
		}
		// The down-track's figures move to the room's ended ones under
		// the room's lock too: a stats snapshot sees them in one place or
		// the other, never in neither (totals would go backwards).
		rm := s.room
		rm.mu.Lock()
		s.mu.Lock()
		for i, x := range s.downs {
			if x == d {
				s.downs = append(s.downs[:i], s.downs[i+1:]...)
				break
			}
		}
		closed := s.closed
		var c Counters
		d.addCounters(&c)
		rm.ended.add(&c)
		s.mu.Unlock()
		rm.mu.Unlock()
		if !closed {
			if err := s.pc.RemoveTrack(d.sender); err == nil {
				s.negotiate()
			}
		}
	}
}

// drain is a writer's turn at s (writers.go): it writes up to drainRounds
// batches of the queue into the peer connection and reports whether s
// goes back on the ready list, entries remaining. A paced catch-up from
// the GOP cache ends the turn with s off the list: what follows it in the
// queue waits, and the catch-up puts s back when it is done.
func (s *Subscriber) drain(batch []qentry) bool {
	for range drainRounds {
		k := s.queue.pop(batch)
		for i := range batch[:k] {
			batch[i].d.write(batch[i])
			batch[i].release()
			batch[i] = qentry{}
		}
		if s.catchingUp.Load() {
			return false
		}
		if k < len(batch) && s.queue.settle() {
			return false // emptied: the next push schedules s again
		}
	}
	return !s.queue.settle()
}

// addCounters adds the live down-tracks' figures and returns their number.
func (s *Subscriber) addCounters(c *Counters) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.downs {
		d.addCounters(c)
		if d.src.Load() != nil {
			n++
		}
	}
	return n
}

// Close ends the subscription.
func (s *Subscriber) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.connectTimer.Stop()
		s.release()
		s.closed = true
		downs := append([]*downTrack(nil), s.downs...)
		s.mu.Unlock()
		for _, d := range downs {
			d.detach()
		}
		close(s.stop)
		s.queue.close()
		if err := s.pc.Close(); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
			s.relay.log.Debug("closing subscriber peer connection", "session", s.id, "err", err)
		}
		defer s.onClosed.run() // after done is closed (deferred calls run last first)
		defer close(s.done)
		rm := s.room
		if rm == nil {
			return
		}
		var c Counters
		rm.mu.Lock() // see trackRemoved
		s.addCounters(&c)
		delete(rm.subs, s)
		rm.ended.add(&c)
		rm.mu.Unlock()
		s.relay.dropRoomIfEmpty(rm)
	})
}
