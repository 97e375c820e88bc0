package server

import (
	"fmt"
	"net/http"

	"github.com/livectl/livectl/internal/signal"
)

// Limit names one of the admission limits of Limits.
type Limit string

// The limits a client can be refused at.
const (
	LimitConns        Limit = "max_conns"        // Limits.MaxConns
	LimitRooms        Limit = "max_rooms"        // Limits.MaxRooms
	LimitParticipants Limit = "max_participants" // Limits.MaxParticipants
)

// LimitError is a refusal because a client reached one of the server's
// limits. Its Error is the reason the client gets; it unwraps to the
// *signal.Error the client is sent, so errors.As finds the code.
type LimitError struct {
	Limit Limit
	Max   int
	Room  string // the room, for LimitParticipants
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitConns:
		return fmt.Sprintf("server is at its connection limit (%d /ws connections and WHIP/WHEP sessions): retry later", e.Max)
	case LimitRooms:
		return fmt.Sprintf("server is at its room limit (%d): join an existing room or retry later", e.Max)
	case LimitParticipants:
		return fmt.Sprintf("room %q has %d participants, the limit", e.Room, e.Max)
	}
	return fmt.Sprintf("server limit %s (%d) reached", e.Limit, e.Max)
}

// Code is the protocol error code the client is sent.
func (e *LimitError) Code() string {
	if e.Limit == LimitParticipants {
		return signal.CodeRoomFull
	}
	return signal.CodeServerFull
}

// Unwrap returns the protocol error a client is sent.
func (e *LimitError) Unwrap() error { return &signal.Error{Code: e.Code(), Reason: e.Error()} }

// OriginError is a refusal of a browser whose origin the server does not
// allow (Config.AllowedOrigins).
type OriginError struct{ Origin string }

func (e *OriginError) Error() string {
	return fmt.Sprintf("origin %q is not allowed by this server", e.Origin)
}

// refused tells Config.OnRefused about a refusal.
func (s *Server) refused(err error) {
	if s.cfg.OnRefused != nil {
		s.cfg.OnRefused(err)
	}
}

// CheckOrigin applies the server's origin policy to a browser request (one
// with an Origin header); a refusal is an *OriginError, also told to
// Config.OnRefused. The media plane's HTTP routes use it for CORS.
func (s *Server) CheckOrigin(r *http.Request) error {
	if s.originAllowed(r) {
		return nil
	}
	err := &OriginError{Origin: r.Header.Get("Origin")}
	s.refused(err)
	return err
}
