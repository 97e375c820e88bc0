package server

import (
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/livectl/livectl/internal/signal"
)

// RoomsConfig shapes live rooms: how much of a large room a member is
// told about, and the room's chat. Zero fields take the defaults below.
type RoomsConfig struct {
	// ListLimit is how many participants a joined reply lists at most,
	// publishers first.
	ListLimit int
	// EventThreshold: in a room of more members than this, viewers' joins
	// and leaves are not announced one by one; members get a room_update
	// with the counts instead, at most every UpdateInterval.
	EventThreshold int
	UpdateInterval time.Duration
	// ChatMaxBytes bounds a chat message's text.
	ChatMaxBytes int
	// ChatRate and ChatBurst limit one sender's chat messages, RoomChatRate
	// a room's (burst: one second's worth). math.Inf(1) turns a limit off.
	ChatRate     float64
	ChatBurst    int
	RoomChatRate float64
	// ChatBatch is how long accepted messages wait to share one frame per
	// member; negative: none, each message is sent at once.
	ChatBatch time.Duration
	// ChatHistory is how many of the last messages a joined reply carries;
	// negative: none.
	ChatHistory int
}

// Default live-room settings.
const (
	DefaultRoomListLimit      = 100
	DefaultRoomEventThreshold = 100
	DefaultRoomUpdateInterval = 500 * time.Millisecond
	DefaultChatMaxBytes       = 512
	DefaultChatRate           = 5 // messages per second per sender
	DefaultChatBurst          = 10
	DefaultRoomChatRate       = 2000 // messages per second per room
	DefaultChatBatch          = 50 * time.Millisecond
	DefaultChatHistory        = 50
)

// maxChatBatch is the most messages one chat frame carries: a window with
// more is sent in several frames, so a frame stays small whatever the rate.
const maxChatBatch = 256

func (rc *RoomsConfig) fillDefaults() {
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&rc.ListLimit, DefaultRoomListLimit)
	setInt(&rc.EventThreshold, DefaultRoomEventThreshold)
	setInt(&rc.ChatMaxBytes, DefaultChatMaxBytes)
	setInt(&rc.ChatBurst, DefaultChatBurst)
	rc.ChatMaxBytes = min(rc.ChatMaxBytes, signal.MaxChatLen)
	if rc.UpdateInterval <= 0 {
		rc.UpdateInterval = DefaultRoomUpdateInterval
	}
	if !(rc.ChatRate > 0) {
		rc.ChatRate = DefaultChatRate
	}
	if !(rc.RoomChatRate > 0) {
		rc.RoomChatRate = DefaultRoomChatRate
	}
	if rc.ChatBatch == 0 {
		rc.ChatBatch = DefaultChatBatch
	}
	if rc.ChatHistory == 0 {
		rc.ChatHistory = DefaultChatHistory
	}
}

// limiter makes a token bucket of r per second (+Inf: no limit).
func limiter(r float64, burst int) *rate.Limiter {
	if math.IsInf(r, 1) {
		return rate.NewLimiter(rate.Inf, burst)
	}
	return rate.NewLimiter(rate.Limit(r), burst)
}

// room is a named set of sessions. It exists from its first join until its
// last participant leaves. Its own mutex covers its membership, its
// events and its chat, so that what happens in one room never waits for
// another: every member sees joins, leaves and chat in one order,
// consistent with the participant list and history of its joined reply.
// Fan-out only queues frames (encoded once, shared by every member).
type room struct {
	name string
	// n counts members plus joins admitted and not yet added. It grows
	// only under registry.mu, so a room whose n is 0 under registry.mu
	// can be deleted.
	n atomic.Int64

	mu      sync.Mutex
	members map[*session]struct{}
	pubs    map[*session]struct{} // members that are publishers
	closed  bool                  // deleted from the registry: timers do nothing
	// The room's members on other nodes of a cluster (Config.Cluster),
	// and the publishers those nodes named.
	remotePubs, remoteViewers int
	remoteListed              []signal.Participant

	// Coalesced counts (room_update).
	announced   bool // a room_update has been sent
	sentPubs    int
	sentViewers int
	updateArmed bool
	updateTimer *time.Timer
	lastUpdate  time.Time
	fanout      []*session // a paced update's members, kept for the next

	// Chat.
	seq         uint64
	batch       []signal.ChatMessage // accepted, not yet sent
	batchArmed  bool
	batchTimer  *time.Timer
	history     []signal.ChatMessage // sent, newest last; at most 2×ChatHistory
	chatLimiter *rate.Limiter
	chatIn      perSecond
	chatOut     perSecond
}

// total is the room's members on every node.
func (rm *room) total() int { return len(rm.members) + rm.remotePubs + rm.remoteViewers }

// counts are the room's publishers and viewers on every node.
func (rm *room) counts() (pubs, viewers int) {
	return len(rm.pubs) + rm.remotePubs, len(rm.members) - len(rm.pubs) + rm.remoteViewers
}

// perSecond counts events in whole seconds: rate is the count of the last
// complete second.
type perSecond struct {
	sec       int64
	cur, prev uint64
}

func (p *perSecond) roll(now int64) {
	if now == p.sec {
		return
	}
	if now == p.sec+1 {
		p.prev = p.cur
	} else {
		p.prev = 0
	}
	p.cur, p.sec = 0, now
}

func (p *perSecond) add(now int64, n uint64) { p.roll(now); p.cur += n }

func (p *perSecond) rate(now int64) uint64 { p.roll(now); return p.prev }

// registry holds the rooms. Its mutex covers only the room map and
// admission (with the media plane's resources.mu, in that order); each
// room has its own lock for membership and fan-out.
type registry struct {
	mu           sync.Mutex
	rooms        map[string]*room
	participants atomic.Int64
	cfg          RoomsConfig
	cluster      Cluster       // nil: one node
	pace         time.Duration // between the steps of a paced room_update (updatePace; tests stretch it)
}

// join adds c to the room m.Room (creating it), queues the joined reply to c
// and, while the room is small, participant_joined to the others. Errors
// are *signal.Error.
func (r *registry) join(c *session, m *signal.Message, tracks []signal.Track) error {
	outside := c.srv.outside()
	r.mu.Lock()
	if outside != nil {
		outside.mu.Lock()
	}
	err := r.admitLocked(c.srv.cfg.Limits, outside, m.Room)
	var rm *room
	if err == nil {
		rm = r.rooms[m.Room]
		if rm == nil {
			rm = &room{name: m.Room, members: make(map[*session]struct{}), pubs: make(map[*session]struct{}),
				chatLimiter: limiter(r.cfg.RoomChatRate, max(1, int(min(r.cfg.RoomChatRate, 1e6))))}
			r.rooms[m.Room] = rm
			if r.cluster != nil {
				r.cluster.RoomOpened(m.Room)
			}
		}
		rm.n.Add(1)
	}
	if outside != nil {
		outside.mu.Unlock()
	}
	r.mu.Unlock()
	if err != nil {
		c.srv.refused(err)
		return err
	}

	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.members[c] = struct{}{}
	r.participants.Add(1)
	c.room, c.joinedAs, c.publisher = rm, m.Identity, false
	pubs, viewers := rm.counts()
	c.send(&signal.Message{Type: signal.TypeJoined, ID: m.ID, Room: m.Room, Identity: m.Identity,
		SessionID: c.id, Participants: r.listLocked(rm, c), Tracks: tracks,
		Publishers: pubs, Viewers: viewers, Messages: r.historyLocked(rm)})
	if rm.total() <= r.cfg.EventThreshold {
		r.announce(rm, c, &signal.Message{Type: signal.TypeParticipantJoined,
			Room: m.Room, Participant: &signal.Participant{Identity: m.Identity, SessionID: c.id}})
	}
	r.countsChangedLocked(rm)
	return nil
}

// listLocked is the participant list of a joined reply: at most ListLimit
// members other than c, publishers first: this node's, then those the
// cluster's other nodes named; viewers only from this node.
func (r *registry) listLocked(rm *room, c *session) []signal.Participant {
	n := min(len(rm.members)-1+len(rm.remoteListed), r.cfg.ListLimit)
	if n <= 0 {
		return nil
	}
	list := rm.appendPublishersLocked(make([]signal.Participant, 0, n), n)
	for _, p := range rm.remoteListed {
		if len(list) == n {
			return list
		}
		list = append(list, p)
	}
	for o := range rm.members {
		if len(list) == n {
			break
		}
		if o != c && !o.publisher {
			list = append(list, signal.Participant{Identity: o.joinedAs, SessionID: o.id})
		}
	}
	return list
}

// appendPublishersLocked appends up to limit of rm's publishers on this
// node to dst, in session order: stable, so that a list that only moved is
// not news to the other nodes of a cluster.
func (rm *room) appendPublishersLocked(dst []signal.Participant, limit int) []signal.Participant {
	start := len(dst)
	for o := range rm.pubs {
		if len(dst)-start == limit {
			break
		}
		dst = append(dst, signal.Participant{Identity: o.joinedAs, SessionID: o.id, Publisher: true})
	}
	slices.SortFunc(dst[start:], func(a, b signal.Participant) int { return strings.Compare(a.SessionID, b.SessionID) })
	return dst
}

// historyLocked is the chat history a joined reply carries: the last
// ChatHistory messages sent (not those still waiting for their batch,
// which the new member gets with it).
func (r *registry) historyLocked(rm *room) []signal.ChatMessage {
	if r.cfg.ChatHistory <= 0 {
		return nil
	}
	h := rm.history[max(0, len(rm.history)-r.cfg.ChatHistory):]
	if len(h) == 0 {
		return nil
	}
	return append([]signal.ChatMessage(nil), h...)
}

// admitLocked checks that one more participant fits in room: the room
// limit if the room is new, and the participant limit. WHIP and WHEP
// sessions (outside, nil without a media plane) count as participants of
// their room, and their rooms as rooms, as /ws ones do. The caller holds
// r.mu and outside.mu, in that order.
func (r *registry) admitLocked(lim Limits, outside *outsideSlots, room string) *LimitError {
	members := 0
	if rm := r.rooms[room]; rm != nil {
		members = int(rm.n.Load())
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
		if r.rooms[room] != nil {
			rooms-- // an empty room about to be deleted
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
// empty, i.e. on request) and participant_left to the others (always for a
// publisher, for a viewer while the room is small), and deletes the room
// when it is empty.
func (r *registry) leave(c *session, id string) {
	rm := c.room
	if rm == nil {
		return
	}
	rm.mu.Lock()
	wasPub := c.publisher
	small := rm.total() <= r.cfg.EventThreshold
	delete(rm.members, c)
	delete(rm.pubs, c)
	r.participants.Add(-1)
	c.room, c.publisher = nil, false
	if id != "" {
		c.send(&signal.Message{Type: signal.TypeLeft, ID: id, Room: rm.name})
	}
	if wasPub || small {
		r.announce(rm, nil, &signal.Message{Type: signal.TypeParticipantLeft, Room: rm.name,
			Participant: &signal.Participant{Identity: c.joinedAs, SessionID: c.id, Publisher: wasPub}})
	}
	r.countsChangedLocked(rm)
	c.joinedAs = ""
	empty := rm.n.Add(-1) == 0
	rm.mu.Unlock()
	if !empty {
		return
	}
	r.mu.Lock()
	if rm.n.Load() == 0 && r.rooms[rm.name] == rm {
		delete(r.rooms, rm.name)
		if r.cluster != nil {
			r.cluster.RoomClosed(rm.name)
		}
		rm.mu.Lock()
		rm.closed = true
		for _, t := range []*time.Timer{rm.updateTimer, rm.batchTimer} {
			if t != nil {
				t.Stop()
			}
		}
		rm.mu.Unlock()
	}
	r.mu.Unlock()
}

// markPublisher makes c, a member, a publisher: every other member is told
// (participant_updated), whatever the room's size.
func (r *registry) markPublisher(c *session) {
	rm := c.room
	if rm == nil {
		return
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if c.room != rm || c.publisher {
		return
	}
	c.publisher = true
	rm.pubs[c] = struct{}{}
	r.announce(rm, c, &signal.Message{Type: signal.TypeParticipantUpdated, Room: rm.name,
		Participant: &signal.Participant{Identity: c.joinedAs, SessionID: c.id, Publisher: true}})
	r.countsChangedLocked(rm)
}

// countsChangedLocked schedules a room_update after a change of rm's
// counts, once the room is large (or has been: its members know counts
// from room_update, which must then stay true). Updates are at least
// UpdateInterval apart; one that would repeat the last counts is not sent.
func (r *registry) countsChangedLocked(rm *room) {
	if r.cluster != nil {
		r.cluster.CountsChanged(rm.name, len(rm.pubs), len(rm.members)-len(rm.pubs), rm.appendPublishersLocked(nil, r.cfg.ListLimit))
	}
	r.armUpdateLocked(rm)
}

// armUpdateLocked schedules rm's next room_update unless one is armed or
// the room is still small.
func (r *registry) armUpdateLocked(rm *room) {
	if rm.updateArmed || (!rm.announced && rm.total() <= r.cfg.EventThreshold) {
		return
	}
	rm.updateArmed = true
	wait := max(time.Until(rm.lastUpdate.Add(r.cfg.UpdateInterval)), 0)
	rm.updateTimer = time.AfterFunc(wait, func() { r.sendUpdate(rm) })
}

// A room_update goes to every member of a large room at once: 10,000
// writers woken together take both cores for tens of milliseconds, and
// every join in the room waits behind them (the room of 10,000's join p99
// was 46 ms with an update every 500 ms, 13 ms with one every 5 s). So a
// large room's update is paced: updateSteps steps of at least
// updateChunk members, updatePace apart, the room unlocked in between
// (a room of 10,000: 40 steps over about 80 ms).
const (
	updateChunk = 250
	updateSteps = 50
	updatePace  = 2 * time.Millisecond
)

// sendUpdate sends rm's counts as a room_update when they changed since
// the last one. It runs on the update timer's goroutine and may take
// updateSteps×updatePace in a large room; the room stays armed meanwhile,
// so updates never overlap and every member sees counts in order.
func (r *registry) sendUpdate(rm *room) {
	rm.mu.Lock()
	if rm.closed {
		rm.mu.Unlock()
		return
	}
	p, v := rm.counts()
	if rm.announced && p == rm.sentPubs && v == rm.sentViewers {
		rm.updateArmed = false
		rm.mu.Unlock()
		return
	}
	rm.announced, rm.lastUpdate = true, time.Now()
	f, ok := r.updateFrame(rm, p, v)
	if !ok || len(rm.members) <= updateChunk {
		if ok {
			r.broadcastFrame(rm, nil, f)
		}
		rm.updateArmed = false
		rm.mu.Unlock()
		return
	}
	members := rm.fanout[:0]
	for o := range rm.members {
		members = append(members, o)
	}
	rm.mu.Unlock()

	chunk := max(updateChunk, (len(members)+updateSteps-1)/updateSteps)
	stale := false // members of earlier steps got counts that changed since
	for i := 0; i < len(members); i += chunk {
		if i > 0 {
			time.Sleep(r.pace)
		}
		rm.mu.Lock()
		if rm.closed {
			rm.mu.Unlock()
			return
		}
		// Counts that changed meanwhile go out in this step already: a
		// member must not get counts older than an event queued to it
		// before (a new publisher's participant_updated).
		if p, v := rm.counts(); p != rm.sentPubs || v != rm.sentViewers {
			if nf, ok := r.updateFrame(rm, p, v); ok {
				f, stale = nf, true
			}
		}
		for _, o := range members[i:min(i+chunk, len(members))] {
			if _, member := rm.members[o]; member { // not left meanwhile
				o.push(f, false)
			}
		}
		rm.mu.Unlock()
	}
	clear(members)
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.fanout = members[:0]
	rm.updateArmed = false
	if stale {
		rm.sentPubs = -1 // the earlier steps' members need the counts too
	}
	if p, v := rm.counts(); p != rm.sentPubs || v != rm.sentViewers {
		r.armUpdateLocked(rm)
	}
}

// updateFrame encodes a room_update with counts p and v and records them
// as sent.
func (r *registry) updateFrame(rm *room, p, v int) (frame, bool) {
	rm.sentPubs, rm.sentViewers = p, v
	b, err := signal.Encode(&signal.Message{Type: signal.TypeRoomUpdate, Room: rm.name, Publishers: p, Viewers: v})
	if err != nil {
		return frame{}, false
	}
	return textFrame(b), true
}

// chatRefusal says which limit refused a chat message.
type chatRefusal int

const (
	chatRefusedSender chatRefusal = iota // the sender's rate
	chatRefusedRoom                      // the room's rate
	numChatRefusals
)

var chatRefusalNames = [numChatRefusals]string{"sender_rate", "room_rate"}

// chat accepts a message from c (a member) into its room's chat, queues
// chat_ok with its seq to c, and sends it to every member with the next
// batch. It reports false when the room's rate refused it. In a cluster
// the cluster numbers the message and brings it back to every node's
// members (RemoteChat); err is then its failure to do so.
func (r *registry) chat(c *session, m *signal.Message) (ok bool, err error) {
	rm := c.room
	now := time.Now()
	msg := signal.ChatMessage{From: c.joinedAs, Text: m.Text, ClientTime: m.ClientTime, ServerTime: now.UnixMilli()}
	if r.cluster != nil {
		return r.clusterChat(c, rm, m.ID, msg)
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if !rm.chatLimiter.AllowN(now, 1) {
		return false, nil
	}
	rm.seq++
	msg.Seq = rm.seq
	c.srv.counters.chatIn.Add(1)
	// Queued under the room's lock: the sender gets chat_ok before the
	// batch that carries its message.
	c.send(&signal.Message{Type: signal.TypeChatOK, ID: m.ID, Seq: rm.seq})
	r.queueChatLocked(rm, c.srv, msg, now)
	return true, nil
}

// queueChatLocked adds msg to rm's next batch and sends the batch when it
// is full or unbatched, else arms its timer.
func (r *registry) queueChatLocked(rm *room, srv *Server, msg signal.ChatMessage, now time.Time) {
	rm.batch = append(rm.batch, msg)
	rm.chatIn.add(now.Unix(), 1)
	switch {
	case r.cfg.ChatBatch < 0 || len(rm.batch) >= maxChatBatch:
		r.flushLocked(rm, srv)
	case !rm.batchArmed:
		rm.batchArmed = true
		rm.batchTimer = time.AfterFunc(r.cfg.ChatBatch, func() {
			rm.mu.Lock()
			defer rm.mu.Unlock()
			rm.batchArmed = false
			if !rm.closed {
				r.flushLocked(rm, srv)
			}
		})
	}
}

// flushLocked sends the waiting chat messages as one frame, encoded once,
// to every member's droppable chat queue, and moves them to the history.
func (r *registry) flushLocked(rm *room, srv *Server) {
	msgs := rm.batch
	if len(msgs) == 0 {
		return
	}
	rm.batch = nil
	b, err := signal.Encode(&signal.Message{Type: signal.TypeChat, Room: rm.name, Messages: msgs})
	if err != nil {
		srv.log.Error("encoding chat batch", "room", rm.name, "err", err)
		return
	}
	f := textFrame(b)
	var queued uint64
	for o := range rm.members {
		if o.pushChat(f, len(msgs)) {
			queued++
		}
	}
	deliveries := queued * uint64(len(msgs))
	rm.chatOut.add(time.Now().Unix(), deliveries)
	srv.counters.chatDeliveries.Add(deliveries)
	if h := r.cfg.ChatHistory; h > 0 {
		rm.history = append(rm.history, msgs...)
		if len(rm.history) > 2*h { // trimmed now and then, not on every batch
			rm.history = append([]signal.ChatMessage(nil), rm.history[len(rm.history)-h:]...)
		}
	}
}

// broadcast queues m to every member of rm but except; it encodes once.
// These frames must be delivered: a member that cannot take them is
// dropped as a slow consumer.
func (r *registry) broadcast(rm *room, except *session, m *signal.Message) {
	if len(rm.members) == 0 || (len(rm.members) == 1 && except != nil) {
		return
	}
	b, err := signal.Encode(m)
	if err != nil {
		return
	}
	r.broadcastFrame(rm, except, textFrame(b))
}

// announce broadcasts a membership event and, in a cluster, passes it to
// the room's members on the other nodes.
func (r *registry) announce(rm *room, except *session, m *signal.Message) {
	if r.cluster == nil {
		r.broadcast(rm, except, m)
		return
	}
	b, err := signal.Encode(m)
	if err != nil {
		return
	}
	r.broadcastFrame(rm, except, textFrame(b))
	r.cluster.Event(rm.name, b)
}

// broadcastFrame queues f to every member of rm but except.
func (r *registry) broadcastFrame(rm *room, except *session, f frame) {
	for o := range rm.members {
		if o != except {
			o.push(f, false)
		}
	}
}

// roomCount is one room's figures for /v1/stats.
type roomCount struct {
	name                     string
	participants, publishers int
	chatInPerS, chatOutPerS  uint64
}

// roomStats lists rooms with their figures, sorted by name.
func (r *registry) roomStats() (rooms []roomCount, participants int) {
	r.mu.Lock()
	list := make([]*room, 0, len(r.rooms))
	for _, rm := range r.rooms {
		list = append(list, rm)
	}
	participants = int(r.participants.Load())
	r.mu.Unlock()
	now := time.Now().Unix()
	rooms = make([]roomCount, 0, len(list))
	for _, rm := range list {
		rm.mu.Lock()
		if !rm.closed {
			rooms = append(rooms, roomCount{name: rm.name, participants: len(rm.members), publishers: len(rm.pubs),
				chatInPerS: rm.chatIn.rate(now), chatOutPerS: rm.chatOut.rate(now)})
		}
		rm.mu.Unlock()
	}
	sort.Slice(rooms, func(i, j int) bool { return rooms[i].name < rooms[j].name })
	return rooms, participants
}
