package publish

import (
	"context"
	"errors"
	"time"
)

// Backoff bounds the wait between two sessions of Keep: it starts at Min
// and doubles up to Max while sessions keep failing.
type Backoff struct {
	Min, Max time.Duration
}

// DefaultBackoff is `livectl publish --retry`'s. It starts short: a
// publisher whose origin node died tries the next node at once, since a
// cluster node takes over a room whose origin is down as soon as it is
// asked (docs/cluster.md, "Failover").
var DefaultBackoff = Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}

// keepFailAfter is how long a kept session's server may be silent before
// the session is given up and started again (peer.Options.FailAfter): a
// live server answers consent checks every half second.
const keepFailAfter = 2 * time.Second

// steadyRun is how long a session must have run for the next failure to
// start the backoff from Min again.
const steadyRun = 10 * time.Second

// Keep publishes with o until ctx ends or duration passes (when positive),
// starting a new session whenever one ends on its own or cannot start: the
// server went away, the session was ended, the origin moved to another
// node. Each new session goes to the next of o.URL and o.MoreURLs, round
// robin, so that a publisher given a cluster's nodes leaves a dead one at
// its first retry. A server silent for 2 s ends the session (unless
// o.Peer.FailAfter says otherwise). onRetry, if set, is told why and how long Keep waits. It returns
// the sessions' stats summed, and nil once ctx ends or duration passes;
// errors that no retry can mend (a bad file, a ws:// URL without a room)
// are returned at once.
func Keep(ctx context.Context, o Options, duration time.Duration, b Backoff, onRetry func(err error, wait time.Duration)) (Stats, error) {
	if b.Min <= 0 {
		b = DefaultBackoff
	}
	b.Max = max(b.Max, b.Min)
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	if o.Peer.FailAfter <= 0 {
		o.Peer.FailAfter = keepFailAfter
	}
	urls := append([]string{o.URL}, o.MoreURLs...)
	var total Stats
	wait := b.Min
	for try := 0; ; try++ {
		started := time.Now()
		o.URL = urls[try%len(urls)]
		p, err := Start(ctx, o)
		if err == nil {
			err = p.Wait(ctx, 0)
			total.add(p.Stats())
		}
		if ctx.Err() != nil {
			return total, nil
		}
		if permanent(err) {
			return total, err
		}
		if time.Since(started) >= steadyRun {
			wait = b.Min
		}
		if onRetry != nil {
			onRetry(err, wait)
		}
		select {
		case <-ctx.Done():
			return total, nil
		case <-time.After(wait):
		}
		wait = min(2*wait, b.Max)
	}
}

// permanent says whether a session failed for a reason that retrying the
// same options cannot change.
func permanent(err error) bool {
	var fe *FileError
	return errors.Is(err, ErrNoRoom) || errors.As(err, &fe)
}

// add sums o's counters into s; the media description stays the first's.
func (s *Stats) add(o Stats) {
	if s.Codec == "" {
		s.Codec, s.Width, s.Height = o.Codec, o.Width, o.Height
	}
	s.FramesSent += o.FramesSent
	s.KeyframesSent += o.KeyframesSent
	s.KeyframesOnPLI += o.KeyframesOnPLI
	s.AudioPacketsSent += o.AudioPacketsSent
	s.BytesSent += o.BytesSent
	s.Loops += o.Loops
	s.PLIs += o.PLIs
	s.FIRs += o.FIRs
	s.NACKs += o.NACKs
	s.NACKedPackets += o.NACKedPackets
}
