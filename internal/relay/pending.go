package relay

import (
	"errors"
	"sync"
	"sync/atomic"
)

// DefaultMaxPending bounds the peer connections that have been built but
// have not connected yet. Each holds its ICE agent, DTLS state and parsed
// SDP (at most MaxOfferSections media sections) for up to ConnectTimeout:
// 40 oversized WHIP offers once took the heap from 3 to 120 MiB in 8 s.
// Connected sessions are bounded by the server's participant limits
// instead; this budget only stops set-up floods.
const DefaultMaxPending = 256

// ErrBusy is returned when MaxPending sessions are already setting up: the
// caller may retry shortly (HTTP 503 with Retry-After, /ws server_full).
var ErrBusy = errors.New("too many media sessions are setting up at once")

// pendingBudget counts sessions between building their peer connection and
// its connecting (or ending).
type pendingBudget struct {
	n   atomic.Int64
	max int64
}

// take reserves a place; release, safe to call more than once, gives it
// back.
func (b *pendingBudget) take() (release func(), err error) {
	if b.n.Add(1) > b.max {
		b.n.Add(-1)
		return nil, ErrBusy
	}
	return sync.OnceFunc(func() { b.n.Add(-1) }), nil
}

// Pending is how many sessions are setting up now (for tests and stats).
func (r *Relay) Pending() int { return int(r.pending.n.Load()) }
