package relay

import (
	"fmt"

	"github.com/pion/webrtc/v4"
)

// Pull starts a cascade upstream into room: a peer connection that offers
// to receive one audio and one video track (as a WHEP client does), whose
// tracks join the room as a publisher's would. Local subscribers then share
// them like any published track: the same down-tracks, NACK cache,
// keyframe cache, and PLI throttle, whose keyframe requests go up this peer
// connection to the node it pulls from. The caller carries the offer to
// that node (WHEP) and hands back the answer with SetAnswer; the upstream
// ends like any publisher, with Close or when its peer connection fails.
func (r *Relay) Pull(room, identity string) (*Publisher, string, error) {
	pc, release, err := r.newPeer(publisherAPI, nil) // it receives, as a publisher does
	if err != nil {
		return nil, "", err
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			release()
			return nil, "", fmt.Errorf("adding the upstream's %s transceiver: %w", kind, err)
		}
	}
	p, err := r.addPublisher(room, identity, "upstream", pc, release)
	if err != nil {
		return nil, "", err
	}
	p.negMu.Lock()
	defer p.negMu.Unlock()
	o, err := pc.CreateOffer(nil)
	if err != nil {
		p.Close()
		return nil, "", fmt.Errorf("creating the upstream offer: %w", err)
	}
	offer, err := setLocalAndGather(pc, o)
	if err != nil {
		p.Close()
		return nil, "", err
	}
	return p, offer, nil
}

// SetAnswer applies the answer of the node a Pull upstream subscribes to.
func (p *Publisher) SetAnswer(answer string) error {
	if _, err := parseSDP(answer); err != nil {
		return err
	}
	p.negMu.Lock()
	defer p.negMu.Unlock()
	if p.isClosed() {
		return ErrSessionClosed
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("%w: applying the upstream answer: %v", ErrBadSDP, err)
	}
	return nil
}

// Counters returns the figures of the session's tracks so far (an
// upstream's bytes in, for the cascade's metrics).
func (p *Publisher) Counters() Counters {
	var c Counters
	p.addCounters(&c)
	return c
}
