package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/livectl/livectl/internal/signal"
)

// envelope is one message on a room's channel.
type envelope struct {
	Node  string              `json:"n"`
	Kind  string              `json:"k"` // kindEvent, kindCounts or kindChat
	Seq   uint64              `json:"seq,omitempty"`
	Chat  *signal.ChatMessage `json:"m,omitempty"`
	Event json.RawMessage     `json:"ev,omitempty"`
	Pubs  int                 `json:"p,omitempty"`
	View  int                 `json:"v,omitempty"`
	// List names the node's publishers in the room (at most maxListed),
	// for joined replies on the other nodes.
	List []signal.Participant `json:"l,omitempty"`
}

const (
	kindEvent  = "ev"
	kindCounts = "counts"
	kindChat   = "chat"
)

// outMsg is a message waiting in pubq.
type outMsg struct {
	room string
	body []byte
}

// chatScript gives a chat message the room's next seq and publishes it,
// in one step: Redis runs a script alone, so the channel carries the
// room's messages in seq order, with no gap, to every node.
var chatScript = redis.NewScript(`
local s = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[1], ARGV[2] .. s .. ARGV[3])
return s`)

// seqTTL keeps a room's seq counter a day after its last message: a room
// that comes back within it continues its numbering.
const seqTTL = 24 * time.Hour

// RoomOpened tells the node that room has its first local member: it
// subscribes to the room's channel. It never blocks.
func (n *Node) RoomOpened(room string) {
	n.mu.Lock()
	if n.rooms[room] == nil {
		rs := &roomState{name: room, remote: map[string]remoteCounts{}, subscribed: make(chan struct{})}
		if n.subbed[n.keys.channel(room)] { // closed and opened again before reconcile ran
			rs.subOnce = true
			close(rs.subscribed)
		}
		n.rooms[room] = rs
	}
	n.mu.Unlock()
	n.poke()
}

// RoomClosed tells the node that room's last local member left: it
// unsubscribes and stops claiming the room for /ws publishers.
func (n *Node) RoomClosed(room string) {
	n.mu.Lock()
	delete(n.rooms, room)
	n.mu.Unlock()
	n.poke()
	// The others drop this node's share now, not at expiry.
	n.enqueue(room, envelope{Node: n.cfg.NodeID, Kind: kindCounts})
}

// CountsChanged tells the node room's local publishers and viewers, and
// names (some of) the publishers. They reach the other nodes coalesced: at
// most one message per room per countsWindow. It never blocks.
func (n *Node) CountsChanged(room string, publishers, viewers int, listed []signal.Participant) {
	listed = listed[:min(len(listed), maxListed)]
	n.mu.Lock()
	rs := n.rooms[room]
	if rs != nil && (rs.pubs != publishers || rs.view != viewers || !slices.Equal(rs.listed, listed)) {
		rs.pubs, rs.view, rs.sent = publishers, viewers, false
		rs.listed = append(rs.listed[:0], listed...)
	}
	n.mu.Unlock()
}

// Event publishes a membership event (an encoded signaling message) to
// the other nodes with members of room. It never blocks: when the queue
// is full (the store is slow or gone) the event is dropped and counted.
func (n *Node) Event(room string, frame []byte) {
	n.enqueue(room, envelope{Node: n.cfg.NodeID, Kind: kindEvent, Event: frame})
}

// enqueue queues e for the writer to publish on room's channel, or drops
// and counts it when the queue is full.
func (n *Node) enqueue(room string, e envelope) {
	body, err := json.Marshal(e)
	if err != nil {
		return
	}
	select {
	case n.pubq <- outMsg{room: room, body: body}:
	default:
		n.stats.eventsDropped.Add(1)
	}
}

// Chat gives m the room's next cluster-wide seq and publishes it to every
// node with members of room, this one included: members get it through
// Local.RemoteChat. It waits until this node's subscription to the room
// is confirmed, so that the sender's node sees its own message.
func (n *Node) Chat(ctx context.Context, room string, m signal.ChatMessage) (uint64, error) {
	if err := n.Ready(); err != nil {
		return 0, err
	}
	n.mu.Lock()
	rs := n.rooms[room]
	n.mu.Unlock()
	if rs == nil {
		return 0, ErrNotMember
	}
	select {
	case <-rs.subscribed:
	case <-ctx.Done():
		return 0, &StoreError{Op: "subscribing to room " + room, Err: ctx.Err()}
	}
	m.Seq = 0
	body, err := json.Marshal(m)
	if err != nil {
		return 0, err
	}
	prefix := `{"n":` + strconv.Quote(n.cfg.NodeID) + `,"k":"chat","m":` + string(body) + `,"seq":`
	var seq uint64
	err = n.store("sending chat", func(sctx context.Context) error {
		if d, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			sctx, cancel = context.WithDeadline(sctx, d)
			defer cancel()
		}
		v, err := chatScript.Run(sctx, n.rdb, []string{n.keys.seq(room)}, n.keys.channel(room), prefix, "}", seqTTL.Milliseconds()).Int64()
		seq = uint64(v)
		return err
	})
	if err != nil {
		return 0, err
	}
	n.stats.chats.Add(1)
	return seq, nil
}

func (n *Node) poke() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// reconcile subscribes to the channels of rooms with local members and
// unsubscribes from the others.
func (n *Node) reconcile() {
	n.mu.Lock()
	var add, drop []string
	for name := range n.rooms {
		if ch := n.keys.channel(name); !n.subbed[ch] {
			add = append(add, ch)
		}
	}
	for ch := range n.subbed {
		if n.rooms[strings.TrimPrefix(ch, n.keys.channel(""))] == nil {
			drop = append(drop, ch)
		}
	}
	n.mu.Unlock()
	if len(add) > 0 {
		if n.store("subscribing", func(ctx context.Context) error { return n.ps.Subscribe(ctx, add...) }) == nil {
			n.stats.subscribes.Add(uint64(len(add)))
			n.mu.Lock()
			for _, ch := range add {
				n.subbed[ch] = true
			}
			n.mu.Unlock()
		} else {
			time.AfterFunc(time.Second, n.poke) // try again
		}
	}
	if len(drop) > 0 {
		if n.store("unsubscribing", func(ctx context.Context) error { return n.ps.Unsubscribe(ctx, drop...) }) == nil {
			n.stats.subscribes.Add(uint64(len(drop)))
			n.mu.Lock()
			for _, ch := range drop {
				delete(n.subbed, ch)
				if rs := n.rooms[strings.TrimPrefix(ch, n.keys.channel(""))]; rs != nil {
					// Opened again while the unsubscribe was on its way:
					// wait for the new subscription's confirmation.
					rs.subscribed, rs.subOnce = make(chan struct{}), false
					defer n.poke()
				}
			}
			n.mu.Unlock()
		}
	}
}

// publish sends m and whatever else is queued, in one pipeline.
func (n *Node) publish(first outMsg) {
	batch := []outMsg{first}
more:
	for len(batch) < 256 {
		select {
		case m := <-n.pubq:
			batch = append(batch, m)
		default:
			break more
		}
	}
	_ = n.store("publishing room events", func(ctx context.Context) error {
		pipe := n.rdb.Pipeline()
		for _, m := range batch {
			pipe.Publish(ctx, n.keys.channel(m.room), m.body)
		}
		_, err := pipe.Exec(ctx)
		return err
	})
	n.stats.published.Add(uint64(len(batch)))
}

// flushCounts publishes the local counts of rooms that changed since they
// were last sent.
func (n *Node) flushCounts() {
	type c struct {
		room       string
		pubs, view int
		listed     []signal.Participant
	}
	var out []c
	n.mu.Lock()
	for _, rs := range n.rooms {
		if !rs.sent {
			rs.sent = true
			out = append(out, c{rs.name, rs.pubs, rs.view, slices.Clone(rs.listed)})
		}
	}
	n.mu.Unlock()
	if len(out) == 0 {
		return
	}
	_ = n.store("publishing room counts", func(ctx context.Context) error {
		pipe := n.rdb.Pipeline()
		for _, o := range out {
			b, _ := json.Marshal(envelope{Node: n.cfg.NodeID, Kind: kindCounts, Pubs: o.pubs, View: o.view, List: o.listed})
			pipe.Publish(ctx, n.keys.channel(o.room), b)
		}
		_, err := pipe.Exec(ctx)
		return err
	})
	n.stats.published.Add(uint64(len(out)))
}

// expireRemote forgets counts of nodes not heard from within Expiry (a
// node killed without a word) and tells Local the new sums.
func (n *Node) expireRemote() {
	cut := time.Now().Add(-n.cfg.Expiry)
	var changed []*roomState
	n.mu.Lock()
	for _, rs := range n.rooms {
		gone := false
		for id, rc := range rs.remote {
			if rc.at.Before(cut) {
				delete(rs.remote, id)
				gone = true
			}
		}
		if gone {
			changed = append(changed, rs)
		}
	}
	n.mu.Unlock()
	for _, rs := range changed {
		n.tellCounts(rs)
	}
}

// tellCounts gives Local the sum of rs's remote counts and their listed
// publishers (in node order, so that a list does not reorder by itself).
func (n *Node) tellCounts(rs *roomState) {
	n.mu.Lock()
	p, v := 0, 0
	ids := make([]string, 0, len(rs.remote))
	for id, rc := range rs.remote {
		p, v = p+rc.pubs, v+rc.view
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var listed []signal.Participant
	for _, id := range ids {
		listed = append(listed, rs.remote[id].listed...)
	}
	n.mu.Unlock()
	if l := n.local.Load(); l != nil {
		l.RemoteCounts(rs.name, p, v, listed)
	}
}

// reader delivers what arrives on the node's subscriptions.
func (n *Node) reader(msgs <-chan any) {
	defer n.wg.Done()
	prefix := n.keys.channel("")
	for raw := range msgs {
		switch m := raw.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				n.mu.Lock()
				if rs := n.rooms[strings.TrimPrefix(m.Channel, prefix)]; rs != nil && !rs.subOnce {
					rs.subOnce = true
					close(rs.subscribed)
				}
				n.mu.Unlock()
			}
		case *redis.Message:
			n.stats.received.Add(1)
			n.deliver(strings.TrimPrefix(m.Channel, prefix), m.Payload)
		}
	}
}

// deliver hands one channel message to Local.
func (n *Node) deliver(room, payload string) {
	e, err := decodeEnvelope(payload)
	if err != nil {
		n.stats.badMessages.Add(1)
		n.log.Debug("cluster: dropping a room message", "room", room, "err", err)
		return
	}
	l := n.local.Load()
	switch e.Kind {
	case kindChat:
		e.Chat.Seq = e.Seq
		if l != nil {
			l.RemoteChat(room, *e.Chat)
		}
	case kindEvent:
		if e.Node != n.cfg.NodeID && l != nil && len(e.Event) > 0 {
			l.RemoteEvent(room, e.Event)
		}
	case kindCounts:
		if e.Node == n.cfg.NodeID {
			return
		}
		n.mu.Lock()
		rs := n.rooms[room]
		if rs != nil {
			if e.Pubs == 0 && e.View == 0 {
				delete(rs.remote, e.Node)
			} else {
				rs.remote[e.Node] = remoteCounts{pubs: e.Pubs, view: e.View, listed: e.List, at: time.Now()}
			}
		}
		n.mu.Unlock()
		if rs != nil {
			n.tellCounts(rs)
		}
	}
}
