package server

import (
	"context"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/signal"
	"github.com/livectl/livectl/internal/stats"
)

// MediaPlane is the seam between signaling and the SFU. The server calls it;
// it never calls the server except through the Send func it is given.
//
// With no MediaPlane configured, publish/subscribe/answer/trickle/unpublish
// get CodeUnsupported and the media fields of /v1/stats are 0.
type MediaPlane interface {
	// Join is called when a participant joins a room over /ws, before the
	// room and participant limits are checked: if the join is then refused,
	// the returned session is closed at once. Otherwise it receives the
	// participant's media requests until Close. An error refuses media for
	// this participant; the join itself still succeeds.
	Join(p MediaParticipant) (MediaSession, error)
	// Stats returns the media totals and per-room figures for /v1/stats and
	// /metrics. It is called on every scrape, so it must be cheap.
	Stats() MediaStats
	// Close stops the media plane; the server calls it when it closes.
	Close() error
}

// MediaParticipant is what the media plane learns about a participant.
type MediaParticipant struct {
	Room      string
	Identity  string
	SessionID string
	// Remote is the client's address, for the media plane's session logs.
	Remote string
	// Grant is the verified token's grant; with auth off (--dev) it allows
	// publishing and subscribing.
	Grant auth.Grant
	// Send queues a server message (offer, trickle, track_published, …) to
	// the participant. It never blocks; it reports false when the session is
	// gone or its send queue overflowed (the session is then dropped). Calls
	// made before Join returns are held and delivered after the joined reply.
	Send func(*signal.Message) bool
}

// MediaSession is one participant's media state.
type MediaSession interface {
	// Tracks lists the tracks already published in the room; they go into
	// the joined reply. Tracks published later are announced through Send.
	Tracks() []signal.Track
	// Handle serves one publish, subscribe, answer, trickle or unpublish
	// message. It runs on the participant's read loop (requests of one
	// participant are handled in order) and should return promptly. The reply
	// may be nil (trickle); the server sets its ID to the request's. An
	// error that is a *signal.Error is sent with its code; any other error
	// is sent as CodeInternal.
	Handle(ctx context.Context, m *signal.Message) (*signal.Message, error)
	// Close ends the participant's media: it left, was dropped or the server
	// is closing. It must not call Send.
	Close()
}

// MediaStats are the media plane's figures. Counters are totals since start.
type MediaStats struct {
	TracksPublished  int64
	TracksSubscribed int64
	BytesIn          uint64
	BytesOut         uint64
	PacketsIn        uint64
	PacketsOut       uint64
	PacketsLost      uint64
	NACKs            uint64
	PLIs             uint64
	Rooms            []MediaRoomStats
}

// MediaRoomStats are one room's media figures. A room that exists only in
// the media plane (a WHIP publisher, say) is listed in /v1/stats too.
type MediaRoomStats struct {
	Name          string
	Publishers    int
	Subscribers   int
	Tracks        int
	BitrateInBps  uint64
	BitrateOutBps uint64
	Simulcast     *stats.Simulcast // nil without simulcast tracks
}

// isMediaType reports whether t is served by the media plane.
func isMediaType(t string) bool {
	switch t {
	case signal.TypePublish, signal.TypeSubscribe, signal.TypeAnswer, signal.TypeTrickle, signal.TypeUnpublish, signal.TypeSetQuality:
		return true
	}
	return false
}
