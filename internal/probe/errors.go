package probe

import "errors"

// Causes of a failed attempt that callers tell apart with errors.Is on
// Result.Err.
var (
	// ErrNoRoom: a ws:// URL needs a room to subscribe to.
	ErrNoRoom = errors.New("a room is needed to probe over /ws")
	// ErrICEFailed: ICE gave up; no candidate pair between the probe and
	// the server worked.
	ErrICEFailed = errors.New("ICE failed: no candidate pair worked")
	// ErrDTLSFailed: ICE connected but the DTLS handshake on top failed.
	ErrDTLSFailed = errors.New("DTLS handshake failed after ICE connected")
)
