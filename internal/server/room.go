package server

import (
	"sort"
	"sync"

	"github.com/livectl/livectl/internal/signal"
)

// room is a named set of sessions. It exists from its first join until its
// last participant leaves.
type room struct {
	name    string
	members map[*session]struct{}
}

// registry holds the rooms. One mutex covers membership and the fan-out of
// membership events, so every participant sees joins and leaves in one
// order, consistent with the participant list of its joined reply. Fan-out
// only queues frames, so the lock is held for microseconds.
type registry struct {
	mu           sync.Mutex
	rooms        map[string]*room
	participants int
}

// join adds c to the room m.Room (creating it), queues the joined reply to c
// and participant_joined to the others. Errors are *signal.Error.
func (r *registry) join(c *session, m *signal.Message, tracks []signal.Track) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	outside := c.srv.outside()
	if outside != nil {
		outside.mu.Lock()
	}
	err := r.admitLocked(c.srv.cfg.Limits, outside, m.Room)
	if outside != nil {
		outside.mu.Unlock()
	}
	if err != nil {
		c.srv.refused(err)
		return err
	}
	rm := r.rooms[m.Room]
	if rm == nil {
		rm = &room{name: m.Room, members: make(map[*session]struct{})}
		r.rooms[m.Room] = rm
	}
	others := make([]signal.Participant, 0, len(rm.members))
	for o := range rm.members {
		others = append(others, signal.Participant{Identity: o.joinedAs, SessionID: o.id})
	}
	rm.members[c] = struct{}{}
	r.participants++
	c.room = rm
	c.joinedAs = m.Identity
	c.send(&signal.Message{Type: signal.TypeJoined, ID: m.ID, Room: m.Room, Identity: m.Identity,
		SessionID: c.id, Participants: others, Tracks: tracks})
	r.broadcast(rm, c, &signal.Message{Type: signal.TypeParticipantJoined,
		Room: m.Room, Participant: &signal.Participant{Identity: m.Identity, SessionID: c.id}})
	return nil
}

// admitLocked checks that one more participant fits in room: the room
// limit if the room is new, and the participant limit. WHIP and WHEP
// sessions (outside, nil without a media plane) count as participants of
// their room, and their rooms as rooms, as /ws ones do. The caller holds
// r.mu and outside.mu, in that order.
func (r *registry) admitLocked(lim Limits, outside *outsideSlots, room string) *LimitError {
	members := 0
	if rm := r.rooms[room]; rm != nil {
		members = len(rm.members)
	}
	if outside != nil {
		members += outside.inRoom[room]
	}
	if members == 0 { // a new room
		rooms := len(r.rooms)
		if outside != nil {
			for name := range outside.inRoom {
				if r.rooms[name] == nil {
					rooms++
				}
			}
		}
		if rooms >= lim.MaxRooms {
			return &LimitError{Limit: LimitRooms, Max: lim.MaxRooms}
		}
	}
	if members >= lim.MaxParticipants {
		return &LimitError{Limit: LimitParticipants, Max: lim.MaxParticipants, Room: room}
	}
	return nil
}

// leave removes c from its room, queues the left reply (when id is not
// empty, i.e. on request) and participant_left to the others, and deletes
// the room when it is empty.
func (r *registry) leave(c *session, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm := c.room
	if rm == nil {
		return
	}
	delete(rm.members, c)
	r.participants--
	c.room = nil
	if len(rm.members) == 0 {
		delete(r.rooms, rm.name)
	}
	if id != "" {
		c.send(&signal.Message{Type: signal.TypeLeft, ID: id, Room: rm.name})
	}
	r.broadcast(rm, nil, &signal.Message{Type: signal.TypeParticipantLeft,
		Room: rm.name, Participant: &signal.Participant{Identity: c.joinedAs, SessionID: c.id}})
	c.joinedAs = ""
}

// broadcast queues m to every member of rm but except; it encodes once.
func (r *registry) broadcast(rm *room, except *session, m *signal.Message) {
	if len(rm.members) == 0 || (len(rm.members) == 1 && except != nil) {
		return
	}
	b, err := signal.Encode(m)
	if err != nil {
		return
	}
	f := frame{op: opText, data: b}
	for o := range rm.members {
		if o != except {
			o.push(f, false)
		}
	}
}

// roomStats lists rooms with their participant counts, sorted by name.
func (r *registry) roomStats() (rooms []roomCount, participants int) {
	r.mu.Lock()
	rooms = make([]roomCount, 0, len(r.rooms))
	for name, rm := range r.rooms {
		rooms = append(rooms, roomCount{name, len(rm.members)})
	}
	participants = r.participants
	r.mu.Unlock()
	sort.Slice(rooms, func(i, j int) bool { return rooms[i].name < rooms[j].name })
	return rooms, participants
}

type roomCount struct {
	name         string
	participants int
}
