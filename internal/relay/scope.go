package relay

import (
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Candidates an answer offers. With one socket per local address (listenUDP)
// every answer named every address: on a dual-stack host with loopback
// included, three candidates. Each is a muxed connection that pion's ICE
// agent reads with its own goroutine into its own 8 KB buffer, plus a
// goroutine waiting to remove it, for the whole session, and a pair the
// client checks even when it cannot work. An offer that is complete (its
// "a=end-of-candidates", RFC 8838: no candidate will be trickled after it)
// and names each candidate by its IP address tells the relay where the
// client is; the answer then carries only the local addresses one of those
// candidates can pair with: the same family, and loopback with loopback
// only. A client on this host offering 127.0.0.1 gets one candidate instead
// of three (100 viewers: ~300 goroutines and ~2 MB less), an IPv4-only
// client of a dual-stack server one instead of two. An offer that hides
// its addresses (mDNS names, as browsers do), has none yet (trickle), or
// cannot pair with any local address keeps every candidate.

// scope is a set of the relay's local UDP addresses, a bit per address in
// the order apiSet.local lists them; 0 means every address.
type scope uint64

// maxScoped bounds the addresses a scope can name; a host with more offers
// every one of them in every answer.
const maxScoped = 64

// offerScope returns the local addresses (of local) that the candidates of a
// parsed offer d can pair with, or 0 (every address) when there is no offer
// (the relay offers), the offer does not say where the client is, or
// nothing would be left out.
func offerScope(d *sdp.SessionDescription, local []netip.Addr) scope {
	if d == nil || len(local) < 2 || len(local) > maxScoped {
		return 0
	}
	complete := false
	var found scope
	n := 0
	check := func(attrs []sdp.Attribute) bool {
		for _, a := range attrs {
			switch a.Key {
			case "end-of-candidates":
				complete = true
			case "candidate":
				addr, ok := candidateAddr(a.Value)
				if !ok {
					return false
				}
				n++
				for i, l := range local {
					if l.Is4() == addr.Is4() && l.IsLoopback() == addr.IsLoopback() {
						found |= 1 << i
					}
				}
			}
		}
		return true
	}
	if !check(d.Attributes) {
		return 0
	}
	for _, m := range d.MediaDescriptions {
		if !check(m.Attributes) {
			return 0
		}
	}
	if !complete || n == 0 || bits.OnesCount64(uint64(found)) == len(local) {
		return 0
	}
	return found // 0 too when no local address can pair: every candidate stays
}

// candidateAddr is the connection address of an SDP candidate attribute's
// value ("foundation component transport priority address port typ …"),
// when it is an IP address (not an mDNS name).
func candidateAddr(v string) (netip.Addr, bool) {
	f := strings.Fields(v)
	if len(f) < 8 || f[6] != "typ" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(f[4])
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// apiKind is what a peer connection is for; each kind registers its own
// interceptors (newAPI).
type apiKind uint8

const (
	publisherAPI    apiKind = iota // publishers and an edge's upstream: registerInterceptors
	simulcastSubAPI                // subscribers of simulcast rooms: registerSimulcastSubscriber
	plainSubAPI                    // other subscribers: registerSubscriberInterceptors
	apiKinds
)

// apiSet holds the relay's pion APIs: one per kind for every local address,
// and one per kind and scope, made the first time an offer needs it (a
// host has a handful of addresses, so a handful of scopes).
type apiSet struct {
	se       webrtc.SettingEngine
	mux      ice.UDPMux
	listen   []net.Addr   // the mux's addresses, in its order
	local    []netip.Addr // the same as IP addresses, when answers may be scoped
	register [apiKinds]func(*webrtc.MediaEngine, *interceptor.Registry) error

	mu   sync.Mutex
	apis map[apiKey]*webrtc.API
}

type apiKey struct {
	kind  apiKind
	scope scope
}

// newAPISet builds the every-address APIs (so a registration error shows at
// start). scoped says whether answers may leave addresses out: not with
// announced public addresses, whose mapping to local ones pion keeps.
func newAPISet(se webrtc.SettingEngine, mux ice.UDPMux, scoped bool, register [apiKinds]func(*webrtc.MediaEngine, *interceptor.Registry) error) (*apiSet, error) {
	s := &apiSet{se: se, mux: mux, listen: mux.GetListenAddresses(), register: register, apis: make(map[apiKey]*webrtc.API)}
	if scoped {
		for _, a := range s.listen {
			u, ok := a.(*net.UDPAddr)
			var ip netip.Addr
			if ok {
				ip, ok = netip.AddrFromSlice(u.IP)
			}
			if !ok {
				s.local = nil // a bit per address, in the mux's order, or none
				break
			}
			s.local = append(s.local, ip.Unmap())
		}
	}
	for k := range apiKinds {
		if _, err := s.get(k, 0); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// forOffer is the API of kind for a peer answering d (nil: the relay
// offers, with every address).
func (s *apiSet) forOffer(kind apiKind, d *sdp.SessionDescription) (*webrtc.API, error) {
	return s.get(kind, offerScope(d, s.local))
}

func (s *apiSet) get(kind apiKind, sc scope) (*webrtc.API, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if api := s.apis[apiKey{kind, sc}]; api != nil {
		return api, nil
	}
	se := s.se
	if sc != 0 {
		se.SetICEUDPMux(scopedMux{UDPMux: s.mux, addrs: s.addrs(sc)})
	}
	api, err := newAPI(se, s.register[kind])
	if err != nil {
		return nil, fmt.Errorf("preparing peer connections: %w", err)
	}
	s.apis[apiKey{kind, sc}] = api
	return api, nil
}

// addrs lists the mux's addresses in sc.
func (s *apiSet) addrs(sc scope) []net.Addr {
	var out []net.Addr
	for i, a := range s.listen {
		if i < maxScoped && sc&(1<<i) != 0 {
			out = append(out, a)
		}
	}
	return out
}

// scopedMux is the relay's UDP mux as a peer connection of one scope sees
// it: pion's agent gathers a host candidate for each listen address, and
// reads and writes through the shared sockets as before.
type scopedMux struct {
	ice.UDPMux
	addrs []net.Addr
}

func (m scopedMux) GetListenAddresses() []net.Addr { return m.addrs }
