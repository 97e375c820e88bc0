package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/livectl/livectl/internal/signal"
)

// Cluster links this server's rooms with the same rooms on other nodes
// (internal/cluster implements it over Redis; this package does not know
// how). The server calls it with a room's lock held: every method but
// Chat must return at once. What other nodes send comes back through
// RemoteEvent, RemoteChat and RemoteCounts.
type Cluster interface {
	// RoomOpened: room has its first member on this node; RoomClosed: its
	// last one left. The node follows a room's traffic only in between.
	RoomOpened(room string)
	RoomClosed(room string)
	// CountsChanged gives the room's publishers and viewers on this node,
	// and names up to the room list limit of the publishers (the other
	// nodes' joined replies list them).
	CountsChanged(room string, publishers, viewers int, listed []signal.Participant)
	// Event passes a membership event (encoded) to the other nodes.
	Event(room string, frame []byte)
	// Chat numbers m with the room's next cluster-wide seq and sends it to
	// every node with members of room, this one included (RemoteChat).
	Chat(ctx context.Context, room string, m signal.ChatMessage) (seq uint64, err error)
	// Ready is nil while the cluster can be reached; else why not.
	Ready() error
}

// Cluster is the server's Config.Cluster (nil: one node).
func (s *Server) Cluster() Cluster { return s.cfg.Cluster }

// chatTimeout bounds a chat message's trip through the cluster.
const chatTimeout = 2 * time.Second

// clusterChat sends a member's chat message through the cluster and
// replies chat_ok with the seq it got. The message reaches this node's
// members as it reaches the others' (RemoteChat), so that every node
// delivers the room's messages in one order.
func (r *registry) clusterChat(c *session, rm *room, id string, msg signal.ChatMessage) (bool, error) {
	if !rm.chatLimiter.Allow() {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(c.srv.ctx, chatTimeout)
	defer cancel()
	seq, err := r.cluster.Chat(ctx, rm.name, msg)
	if err != nil {
		return true, err
	}
	c.srv.counters.chatIn.Add(1)
	c.send(&signal.Message{Type: signal.TypeChatOK, ID: id, Seq: seq})
	return true, nil
}

// room returns the room named name, or nil.
func (r *registry) room(name string) *room {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rooms[name]
}

// RemoteEvent gives a membership event from another node to this node's
// members of room.
func (s *Server) RemoteEvent(room string, frame []byte) {
	rm := s.reg.room(room)
	if rm == nil {
		return
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if !rm.closed {
		s.reg.broadcastFrame(rm, nil, textFrame(frame))
	}
}

// RemoteChat gives a chat message, numbered by the cluster, to this
// node's members of room with the room's next batch.
func (s *Server) RemoteChat(room string, m signal.ChatMessage) {
	rm := s.reg.room(room)
	if rm == nil {
		return
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.closed {
		return
	}
	rm.seq = m.Seq
	s.reg.queueChatLocked(rm, s, m, time.Now())
}

// RemoteCounts sets room's publishers and viewers on the other nodes, and
// the publishers they named (listed is the server's to keep); room_update
// and joined replies carry the sums, and joined replies list the named
// publishers after this node's.
func (s *Server) RemoteCounts(room string, publishers, viewers int, listed []signal.Participant) {
	rm := s.reg.room(room)
	if rm == nil {
		return
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if rm.closed {
		return
	}
	rm.remoteListed = listed
	if rm.remotePubs == publishers && rm.remoteViewers == viewers {
		return
	}
	rm.remotePubs, rm.remoteViewers = publishers, viewers
	s.reg.armUpdateLocked(rm)
}

// clusterNotReady writes why the cluster makes this node not ready, and
// reports whether it did.
func (s *Server) clusterNotReady(w http.ResponseWriter) bool {
	if s.cfg.Cluster == nil {
		return false
	}
	err := s.cfg.Cluster.Ready()
	if err == nil {
		return false
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintf(w, "cluster unavailable: %v (local rooms are still served; work that spans nodes is refused)\n", err)
	return true
}
