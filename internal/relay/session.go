package relay

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Candidate is a trickled ICE candidate (the browser's RTCIceCandidateInit).
type Candidate = webrtc.ICECandidateInit

// gatherTimeout bounds waiting for local candidates. With the UDP mux they
// are known at once; the bound only matters if something is badly wrong.
const gatherTimeout = 10 * time.Second

// maxRemoteCandidates bounds the ICE candidates a client may trickle into
// one peer connection. A browser gathers a handful (one per interface and
// protocol, a few more with STUN or TURN); 17,000 from one WHIP session
// once cost ~10,000 goroutines, a core, and STUN checks sent to every
// address the client named.
const maxRemoteCandidates = 64

// candidateBudget counts the candidates added to one peer connection.
type candidateBudget struct{ n atomic.Int32 }

// take accounts for one more candidate, or says it is one too many.
func (b *candidateBudget) take() error {
	if b.n.Add(1) > maxRemoteCandidates {
		return fmt.Errorf("%w: more than %d remote ICE candidates for one peer connection", ErrBadSDP, maxRemoteCandidates)
	}
	return nil
}

// newID returns a random identifier with a prefix.
func newID(prefix string) string { return prefix + rand.Text() }

// parseSDP checks that s is SDP with at least one media section.
func parseSDP(s string) (*sdp.SessionDescription, error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	if len(d.MediaDescriptions) == 0 {
		return nil, fmt.Errorf("%w: no media sections", ErrBadSDP)
	}
	return &d, nil
}

// MaxOfferSections caps the media sections of an offer (publish, its
// renegotiations, WHEP). A publisher needs a handful (audio, video, a data
// channel); each section costs a transceiver and its buffers, so a 60 KB
// offer with 700 of them held ~3 MiB for the 30 s a session may take to
// connect (a normal one ~50 KiB).
const MaxOfferSections = 16

// parseOffer parses a client's offer and refuses, as ErrBadSDP and before
// any peer connection is built, one the relay cannot use: more than
// MaxOfferSections media sections, no ICE credentials, or no audio or
// video section in a codec the relay forwards (it would be answered with
// every section rejected and hold a session slot until it timed out).
func parseOffer(s string) (*sdp.SessionDescription, error) {
	if n := strings.Count(s, "\nm="); n > MaxOfferSections {
		// Counted before parsing (every section starts a line with
		// "m="), so the cap bounds the parse too.
		return nil, fmt.Errorf("%w: %d media sections, at most %d", ErrBadSDP, n, MaxOfferSections)
	}
	d, err := parseSDP(s)
	if err != nil {
		return nil, err
	}
	_, sessUfrag := d.Attribute("ice-ufrag")
	_, sessPwd := d.Attribute("ice-pwd")
	usable := false
	for i, m := range d.MediaDescriptions {
		if m.MediaName.Port.Value == 0 {
			continue // rejected section
		}
		_, ufrag := m.Attribute("ice-ufrag")
		_, pwd := m.Attribute("ice-pwd")
		if !(ufrag || sessUfrag) || !(pwd || sessPwd) {
			return nil, fmt.Errorf("%w: media section %d has no a=ice-ufrag or a=ice-pwd", ErrBadSDP, i)
		}
		usable = usable || knownCodec(m)
	}
	if !usable {
		return nil, fmt.Errorf("%w: no audio or video section in a codec the relay forwards (%s)", ErrBadSDP, codecNames())
	}
	return d, nil
}

// knownCodec says whether m is an audio or video section naming (a=rtpmap)
// one of relayCodecs of its kind.
func knownCodec(m *sdp.MediaDescription) bool {
	kind := webrtc.NewRTPCodecType(m.MediaName.Media)
	if kind == 0 {
		return false
	}
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		_, enc, _ := strings.Cut(a.Value, " ")
		name, _, _ := strings.Cut(enc, "/")
		for _, c := range relayCodecs {
			if c.t == kind && strings.EqualFold(strings.TrimPrefix(c.c.MimeType, kind.String()+"/"), name) {
				return true
			}
		}
	}
	return false
}

// codecNames lists relayCodecs' names once each, for error messages.
func codecNames() string {
	var names []string
	for _, c := range relayCodecs {
		if !slices.Contains(names, c.c.MimeType) {
			names = append(names, c.c.MimeType)
		}
	}
	return strings.Join(names, ", ")
}

// mediaKinds lists d's media sections' kinds in order.
func mediaKinds(d *sdp.SessionDescription) []string {
	kinds := make([]string, 0, len(d.MediaDescriptions))
	for _, m := range d.MediaDescriptions {
		kinds = append(kinds, m.MediaName.Media)
	}
	return kinds
}

// sendsMedia says whether an offer has an audio or video section its
// client sends on: sendrecv or sendonly (sendrecv when the section, and the
// session, name no direction), and not rejected (port 0).
func sendsMedia(d *sdp.SessionDescription) bool {
	direction := func(attrs []sdp.Attribute, dir string) string {
		for _, a := range attrs {
			switch a.Key {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				dir = a.Key
			}
		}
		return dir
	}
	sessionDir := direction(d.Attributes, "sendrecv")
	for _, m := range d.MediaDescriptions {
		if m.MediaName.Media != "audio" && m.MediaName.Media != "video" || m.MediaName.Port.Value == 0 {
			continue
		}
		if dir := direction(m.Attributes, sessionDir); dir == "sendrecv" || dir == "sendonly" {
			return true
		}
	}
	return false
}

// setLocalAndGather sets desc and waits for every local candidate, so the
// SDP handed back carries them all (the relay does not trickle its own).
func setLocalAndGather(pc *webrtc.PeerConnection, desc webrtc.SessionDescription) (string, error) {
	done := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(desc); err != nil {
		return "", fmt.Errorf("setting local description: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), gatherTimeout)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return "", fmt.Errorf("gathering ICE candidates: timed out after %s", gatherTimeout)
	}
	return pc.LocalDescription().SDP, nil
}

// answerOffer applies a remote offer and returns the answer with candidates.
func answerOffer(pc *webrtc.PeerConnection, offer string) (string, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: applying offer: %v", ErrBadSDP, err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: creating answer: %v", ErrBadSDP, err)
	}
	return setLocalAndGather(pc, ans)
}

// superviseConnection ends a session with its peer connection: connected
// is set, the session's place in the pending budget released and
// onConnected (if any) called when the connection comes up;
// closeSession runs when it fails or closes, or when it has not come up
// within the relay's ConnectTimeout. The returned timer is for the
// session's Close to stop.
func (r *Relay) superviseConnection(pc *webrtc.PeerConnection, what, id string, connected *atomic.Bool, release, onConnected, closeSession func()) *time.Timer {
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			connected.Store(true)
			release()
			if onConnected != nil {
				onConnected()
			}
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go closeSession()
		}
	})
	return time.AfterFunc(r.cfg.ConnectTimeout, func() {
		if !connected.Load() {
			r.log.Info("closing "+what+" that never connected", "session", id, "after", r.cfg.ConnectTimeout)
			closeSession()
		}
	})
}

// closeHooks runs functions once a session has closed. A caller that must
// act when a session ends registers a hook instead of parking a goroutine
// on Done: a WHEP viewer costs one goroutine less.
type closeHooks struct {
	mu     sync.Mutex
	fns    []func()
	closed bool
}

// add registers f, or runs it at once if the session has closed.
func (h *closeHooks) add(f func()) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		f()
		return
	}
	h.fns = append(h.fns, f)
	h.mu.Unlock()
}

// run marks the session closed and runs the hooks, in order, once.
func (h *closeHooks) run() {
	h.mu.Lock()
	fns := h.fns
	h.fns, h.closed = nil, true
	h.mu.Unlock()
	for _, f := range fns {
		f()
	}
}
