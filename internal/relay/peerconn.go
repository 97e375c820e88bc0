package relay

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
)

// Each viewer's WHEP request waits for the relay to build a peer
// connection, so the per-connection set-up that does not depend on the
// peer is done once per relay instead: the DTLS certificate and the list
// of network interfaces took 30 % of answering a browser's offer
// (BenchmarkSubscribeOffer).

// certRotation is how long the relay signs new peer connections with one
// certificate. pion's certificates are valid for a month; a connection
// keeps the certificate it started with.
const certRotation = 24 * time.Hour

// certs hands out the relay's current DTLS certificate.
type certs struct {
	mu      sync.Mutex
	cert    *webrtc.Certificate
	created time.Time
}

func (c *certs) current() (webrtc.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert == nil || time.Since(c.created) > certRotation {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return webrtc.Certificate{}, fmt.Errorf("generating the DTLS key: %w", err)
		}
		cert, err := webrtc.GenerateCertificate(key)
		if err != nil {
			return webrtc.Certificate{}, fmt.Errorf("generating the DTLS certificate: %w", err)
		}
		c.cert, c.created = cert, time.Now()
	}
	return *c.cert, nil
}

// frozenNet is the host's interface list read once, shared by every ICE
// agent of the relay. pion reads it afresh (netlink) for each new agent
// otherwise, though the relay's candidates are its UDP sockets, bound at
// start. Being another type than *stdnet.Net, it is never refreshed behind
// the other agents' backs by pion's network monitoring.
type frozenNet struct{ *stdnet.Net }

func newFrozenNet() (frozenNet, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return frozenNet{}, fmt.Errorf("listing network interfaces: %w", err)
	}
	return frozenNet{n}, nil
}

// newPeer builds a peer connection of kind, answering offer (nil when the
// relay offers), within the pending budget: release gives its place back,
// and must be called once it has connected or ended (superviseConnection
// and the sessions' Close do).
func (r *Relay) newPeer(kind apiKind, offer *sdp.SessionDescription) (pc *webrtc.PeerConnection, release func(), err error) {
	api, err := r.apis.forOffer(kind, offer)
	if err != nil {
		return nil, nil, err
	}
	release, err = r.pending.take()
	if err != nil {
		return nil, nil, err
	}
	cert, err := r.certs.current()
	if err != nil {
		release()
		return nil, nil, err
	}
	pc, err = api.NewPeerConnection(webrtc.Configuration{ICEServers: r.iceSrv, Certificates: []webrtc.Certificate{cert}})
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("creating peer connection: %w", err)
	}
	return pc, release, nil
}
