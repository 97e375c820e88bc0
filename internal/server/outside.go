package server

import "sync"

// outsideSlots counts the media sessions that do not come over /ws (WHIP
// and WHEP), live and being created, per room: they count towards the
// server's limits (connections, rooms, participants per room) as /ws
// participants do. The media plane claims a slot with ReserveSession.
type outsideSlots struct {
	mu     sync.Mutex
	inRoom map[string]int // live and reserved sessions per room
	total  int
}

func (o *outsideSlots) release(room string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.inRoom[room]--; o.inRoom[room] <= 0 {
		delete(o.inRoom, room)
	}
	o.total--
}

// ReserveSession claims a place in room, within the server's limits, for a
// media session that does not come over /ws (WHIP, WHEP): it counts as a
// connection, as a participant of room and room as a room, with the /ws
// ones. The caller calls release once, when the session has ended or was
// not created. A refusal is a *LimitError.
func (s *Server) ReserveSession(room string) (release func(), err error) {
	conns := s.Connections()
	err = s.reserveLocked(conns, room)
	if err != nil {
		s.refused(err)
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { s.slots.release(room) }) }, nil
}

func (s *Server) reserveLocked(conns int, room string) error {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	s.slots.mu.Lock()
	defer s.slots.mu.Unlock()
	lim := s.cfg.Limits
	if conns+s.slots.total >= lim.MaxConns {
		return &LimitError{Limit: LimitConns, Max: lim.MaxConns}
	}
	if err := s.reg.admitLocked(lim, &s.slots, room); err != nil {
		return err
	}
	s.slots.inRoom[room]++
	s.slots.total++
	return nil
}

// outside is the WHIP/WHEP slots, which count towards the limits with /ws
// sessions; nil without a media plane (there are none then).
func (s *Server) outside() *outsideSlots {
	if s.media == nil {
		return nil
	}
	return &s.slots
}

// OutsideSessions is the number of WHIP/WHEP sessions, live or being
// created.
func (s *Server) OutsideSessions() int {
	s.slots.mu.Lock()
	defer s.slots.mu.Unlock()
	return s.slots.total
}
