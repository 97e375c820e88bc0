package relay

import "errors"

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
