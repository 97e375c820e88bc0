package relay

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Publisher is one peer connection sending tracks into a room.
type Publisher struct {
	relay    *Relay
	room     *Room
	identity string
	id       string
	pc       *webrtc.PeerConnection
	cands    candidateBudget

	negMu sync.Mutex // one offer/answer at a time

	mu        sync.Mutex
	tracks    []*upTrack
	receivers map[rtcpSource]bool
	closed    bool

	up           atomic.Bool // the peer connection has connected once
	simulcast    atomic.Bool // an offer declared simulcast layers (roomSimulcast)
	connectTimer *time.Timer
	release      func() // the place in the relay's pending budget

	done      chan struct{}
	onClosed  closeHooks
	closeOnce sync.Once
}

// Publish accepts a publisher's offer into room and returns the answer. The
// publisher's tracks join the room when their first packets arrive.
func (r *Relay) Publish(room, identity, offer string) (*Publisher, string, error) {
	d, err := parseOffer(offer)
	if err != nil {
		return nil, "", err
	}
	if !sendsMedia(d) {
		return nil, "", fmt.Errorf("%w: the offer sends no audio or video (every section is recvonly or inactive); to watch, subscribe (WHEP) instead", ErrBadSDP)
	}
	pc, release, err := r.newPeer(publisherAPI, d)
	if err != nil {
		return nil, "", err
	}
	p, err := r.addPublisher(room, identity, "publisher", pc, release)
	if err != nil {
		return nil, "", err
	}
	p.noteSimulcast(d)
	p.negMu.Lock()
	answer, err := answerOffer(pc, offer)
	p.negMu.Unlock()
	if err != nil {
		p.Close()
		return nil, "", err
	}
	return p, answer, nil
}

// addPublisher makes pc, built within the pending budget (release), a
// publisher of room: its tracks join the room as they arrive, and the
// session ends with its peer connection. what names it in logs and its id.
func (r *Relay) addPublisher(room, identity, what string, pc *webrtc.PeerConnection, release func()) (*Publisher, error) {
	prefix := "PU_"
	if what == "upstream" {
		prefix = "UP_"
	}
	p := &Publisher{relay: r, identity: identity, id: newID(prefix), pc: pc, release: release,
		receivers: map[rtcpSource]bool{}, done: make(chan struct{})}
	if _, err := r.join(room, func(rm *Room) { p.room = rm; rm.pubs[p] = struct{}{} }); err != nil {
		pc.Close()
		release()
		return nil, err
	}
	pc.OnTrack(p.onTrack)
	p.mu.Lock() // the timer's Close reads connectTimer
	p.connectTimer = r.superviseConnection(pc, what, p.id, &p.up, release, nil, p.Close)
	p.mu.Unlock()
	return p, nil
}

// noteSimulcast marks p as a simulcast publisher once an offer of its
// declares layers (a=simulcast), before the layers' packets arrive.
func (p *Publisher) noteSimulcast(d *sdp.SessionDescription) {
	for _, m := range d.MediaDescriptions {
		if _, ok := m.Attribute("simulcast"); ok && m.MediaName.Media == "video" {
			p.simulcast.Store(true)
		}
	}
}

// ID identifies the session (unique in the process).
func (p *Publisher) ID() string { return p.id }

// Done is closed when the session has ended.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// AfterClose runs f as Close ends, after Done is closed, on the goroutine
// that closed the session (at once if it has closed): f must not block.
func (p *Publisher) AfterClose(f func()) { p.onClosed.add(f) }

// Renegotiate applies a new offer from the publisher (tracks added or
// removed, ICE restart) and returns the answer.
func (p *Publisher) Renegotiate(offer string) (string, error) {
	d, err := parseOffer(offer)
	if err != nil {
		return "", err
	}
	p.noteSimulcast(d)
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if p.isClosed() {
		return "", ErrSessionClosed
	}
	return answerOffer(p.pc, offer)
}

// AddICECandidate adds a candidate trickled by the publisher.
func (p *Publisher) AddICECandidate(c Candidate) error {
	if err := p.cands.take(); err != nil {
		return err
	}
	if err := p.pc.AddICECandidate(c); err != nil {
		return fmt.Errorf("adding publisher ICE candidate: %w", err)
	}
	return nil
}

// Tracks lists the tracks this publisher has in its room.
func (p *Publisher) Tracks() []TrackInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []TrackInfo
	for _, t := range p.tracks {
		if !t.removed.Load() && !t.layer {
			out = append(out, t.info)
		}
	}
	return out
}

// Unpublish removes one track (by id) from the room, or every track and the
// session itself when trackID is empty.
func (p *Publisher) Unpublish(trackID string) error {
	if trackID == "" {
		p.Close()
		return nil
	}
	p.mu.Lock()
	var t *upTrack
	var layers []*upTrack
	for _, x := range p.tracks {
		if x.info.ID == trackID {
			if x.layer {
				layers = append(layers, x)
			} else {
				t = x
			}
		}
	}
	p.mu.Unlock()
	if t == nil {
		return fmt.Errorf("unpublishing %q: %w", trackID, ErrNoSuchTrack)
	}
	p.room.removeTrack(t)
	for _, x := range layers {
		p.room.removeTrack(x) // not listed: this stops their forwarding
	}
	return nil
}

func (p *Publisher) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *Publisher) onTrack(remote *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	codec := remote.Codec()
	info := TrackInfo{
		ID: newID("TR_"), Kind: remote.Kind().String(), Codec: codec.MimeType,
		Publisher: p.identity, StreamID: remote.StreamID(), RID: remote.RID(),
	}
	if info.StreamID == "" {
		info.StreamID = p.identity
	}
	t := newUpTrack(p.room, p, info, uint32(remote.SSRC()), codec)
	t.requestPLI = pliSender(p.pc, uint32(remote.SSRC()))

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	// Simulcast: each layer arrives as its own track; the first to
	// arrive stands for the group in the room (simulcast.go).
	primary := info.RID == "" || p.joinLayerGroup(t)
	p.tracks = append(p.tracks, t)
	src := rtcpSource{recv, remote.RID()}
	readRTCP := !p.receivers[src]
	p.receivers[src] = true
	p.relay.wg.Add(1)
	p.mu.Unlock()

	go func() {
		defer p.relay.wg.Done()
		t.readLoop(remote)
		if t.group != nil {
			t.group.remove(t)
		}
		p.room.removeTrack(t)
		t.clearCaches()
	}()
	if readRTCP {
		// Reading the receiver's RTCP runs the interceptors (sender reports
		// feed the receiver reports); the packets themselves are not needed.
		p.relay.wg.Add(1)
		go func() {
			defer p.relay.wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := src.read(buf); err != nil {
					return
				}
			}
		}()
	}
	if !primary {
		return // a layer: down-tracks switch to it (adapt.go)
	}
	p.room.addTrack(t)
}

func (p *Publisher) addCounters(c *Counters) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.tracks {
		t.addCounters(c)
	}
}

// rtcpSource is what the publisher reads RTCP from: a receiver, or one
// simulcast layer of it (pion keeps a layer's RTCP apart, and reading a
// simulcast receiver as a whole logs an error per read).
type rtcpSource struct {
	recv *webrtc.RTPReceiver
	rid  string
}

func (s rtcpSource) read(b []byte) (int, interceptor.Attributes, error) {
	if s.rid != "" {
		return s.recv.ReadSimulcast(b, s.rid)
	}
	return s.recv.Read(b)
}

// Close unpublishes every track and ends the session.
func (p *Publisher) Close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		if p.connectTimer != nil {
			p.connectTimer.Stop()
		}
		p.release()
		p.closed = true
		tracks := append([]*upTrack(nil), p.tracks...)
		p.mu.Unlock()
		for _, t := range tracks {
			p.room.removeTrack(t)
		}
		if err := p.pc.Close(); err != nil && !errors.Is(err, webrtc.ErrConnectionClosed) {
			p.relay.log.Debug("closing publisher peer connection", "session", p.id, "err", err)
		}
		var c Counters
		rm := p.room
		rm.mu.Lock() // a stats snapshot counts p live or ended, never neither
		p.addCounters(&c)
		delete(rm.pubs, p)
		rm.ended.add(&c)
		rm.mu.Unlock()
		close(p.done)
		p.relay.dropRoomIfEmpty(rm)
		p.onClosed.run()
	})
}
