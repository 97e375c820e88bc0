package relay

import (
	"errors"
	"fmt"
)

// Sentinel errors; callers match them with errors.Is to pick a status code.
var (
	// ErrBadSDP: the offer or answer could not be parsed or negotiated.
	ErrBadSDP = errors.New("bad SDP")
	// ErrSessionClosed: the publisher or subscriber session has ended.
	ErrSessionClosed = errors.New("media session closed")
	// ErrNoSuchTrack: Unpublish named a track this publisher does not have.
	ErrNoSuchTrack = errors.New("no such track")
	// ErrNoOfferPending: an answer arrived while the relay had no offer out.
	ErrNoOfferPending = errors.New("no offer pending")
)

// PortError is a failure to open one of the relay's ICE ports
// (Config.UDPPort, Config.TCPPort): taken by another process, say.
type PortError struct {
	Network string // "udp" or "tcp"
	Addr    string // the address or port that could not be opened
	Err     error
}

func (e *PortError) Error() string {
	if e.Network == "tcp" {
		return fmt.Sprintf("opening the ICE-TCP port %s: %v", e.Addr, e.Err)
	}
	return fmt.Sprintf("opening the ICE UDP port %s: %v", e.Addr, e.Err)
}

func (e *PortError) Unwrap() error { return e.Err }
