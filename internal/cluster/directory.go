package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// Origin is where a room's origin lives.
type Origin struct {
	Room   string `json:"room"`
	NodeID string `json:"node"`
	URL    string `json:"url"` // the origin node's HTTP base
	Self   bool   `json:"self"`
}

// WHIPURL is the origin's WHIP endpoint for the room.
func (o Origin) WHIPURL() string { return o.URL + "/whip/" + url.PathEscape(o.Room) }

// WHEPURL is the origin's WHEP endpoint for the room.
func (o Origin) WHEPURL() string { return o.URL + "/whep/" + url.PathEscape(o.Room) }

// claimScript makes ARGV[1] the origin of the room (KEYS[1]) for ARGV[2]
// ms unless a lease is held, and returns the holder. A lease held by
// ARGV[4] (a holder found dead; "" for none) is taken over: compared and
// set in one step, so that of two nodes taking over from the same dead
// holder one wins and the other is told the winner. The room is listed in
// KEYS[2] for the cluster view.
var claimScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[4] then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return ARGV[1]`)

// renewScript extends the lease if ARGV[1] still holds it, takes it again
// if it is free (a store that restarted empty, a node that stalled past
// expiry with nobody claiming), and returns 0 if another node holds it:
// this node lost the room to a takeover.
var renewScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return 1`)

// releaseScript ends the lease if ARGV[1] holds it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// Claim makes this node the origin of room unless another live node holds
// its lease, and returns the origin. A holder that is down (its record
// expired, or its URL does not answer: Config.Liveness) loses the lease
// to this node at once rather than at its expiry. A lease this node wins is renewed at
// each heartbeat until Release, or until Config.Publishes says the room
// has no local publisher; a draining node claims nothing (ErrDraining)
// but still learns who the origin is.
func (n *Node) Claim(ctx context.Context, room string) (Origin, error) {
	n.mu.Lock()
	draining := n.state == StateDraining
	_, held := n.leases[room]
	n.mu.Unlock()
	if held {
		return n.self(room), nil
	}
	if draining {
		o, err := n.Lookup(ctx, room)
		if err == nil {
			return o, nil
		}
		return Origin{}, ErrDraining
	}
	o, err := n.claim(ctx, room)
	if err == nil && o.Self {
		n.mu.Lock()
		n.leases[room] = time.Now()
		n.mu.Unlock()
	}
	return o, err
}

// Release ends this node's lease on room, if it holds it.
func (n *Node) Release(room string) {
	n.mu.Lock()
	_, held := n.leases[room]
	delete(n.leases, room)
	n.mu.Unlock()
	if held {
		n.release(room)
	}
}

func (n *Node) self(room string) Origin {
	return Origin{Room: room, NodeID: n.cfg.NodeID, URL: n.cfg.AdvertiseURL, Self: true}
}

// claim runs claimScript and resolves the holder; a holder that is down
// is taken over (once: a node that took over meanwhile is resolved as
// found).
func (n *Node) claim(ctx context.Context, room string) (Origin, error) {
	holder, err := n.claimOver(room, "")
	if err != nil {
		return Origin{}, err
	}
	o, err := n.resolve(ctx, room, holder)
	if !errors.Is(err, ErrNodeGone) {
		return o, err
	}
	n.log.Warn("cluster: taking over a room whose origin node is down", "room", room, "origin", holder, "err", err)
	if holder, err = n.claimOver(room, holder); err != nil {
		return Origin{}, err
	}
	if holder == n.cfg.NodeID {
		n.stats.takeovers.Add(1)
	}
	return n.resolve(ctx, room, holder)
}

// claimOver runs claimScript, taking the lease over from dead if it holds it.
func (n *Node) claimOver(room, dead string) (holder string, err error) {
	err = n.store("claiming room origin", func(sctx context.Context) error {
		var err error
		holder, err = claimScript.Run(sctx, n.rdb, []string{n.keys.origin(room), n.keys.rooms()},
			n.cfg.NodeID, n.cfg.Expiry.Milliseconds(), room, dead).Text()
		return err
	})
	return holder, err
}

func (n *Node) release(room string) {
	_ = n.store("releasing room origin", func(ctx context.Context) error {
		return releaseScript.Run(ctx, n.rdb, []string{n.keys.origin(room)}, n.cfg.NodeID).Err()
	})
}

// Lookup says which node is room's origin, without claiming it:
// ErrNoOrigin when no node holds its lease, ErrNodeGone (with the
// holder's id) when the node holding it is down.
func (n *Node) Lookup(ctx context.Context, room string) (Origin, error) {
	var holder string
	err := n.store("looking up room origin", func(sctx context.Context) error {
		var err error
		holder, err = n.rdb.Get(sctx, n.keys.origin(room)).Result()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return Origin{}, ErrNoOrigin
	}
	if err != nil {
		return Origin{}, err
	}
	return n.resolve(ctx, room, holder)
}

// resolve turns a lease holder's id into an Origin with its URL, or
// ErrNodeGone when the holder is down: its record has expired, or (with
// Config.Liveness) its URL refuses or does not answer.
func (n *Node) resolve(ctx context.Context, room, holder string) (Origin, error) {
	if holder == n.cfg.NodeID {
		return n.self(room), nil
	}
	var b string
	err := n.store("reading origin node record", func(ctx context.Context) error {
		var err error
		b, err = n.rdb.Get(ctx, n.keys.node(holder)).Result()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return Origin{Room: room, NodeID: holder}, ErrNodeGone
	}
	if err != nil {
		return Origin{}, err
	}
	rec, err := decodeRecord(b)
	if err != nil {
		return Origin{}, &StoreError{Op: "reading origin node record", Err: err}
	}
	o := Origin{Room: room, NodeID: holder, URL: rec.URL}
	if err := n.alive(ctx, rec.URL); err != nil {
		return o, fmt.Errorf("%w: %s does not answer: %w", ErrNodeGone, rec.URL, err)
	}
	return o, nil
}

// alive asks a node's HTTP whether it is up (GET /healthz) within
// Config.Liveness: any answer counts, even a TLS handshake this node does
// not accept (something is running there); only a connection that cannot
// be made or no answer in time does not. Without Config.Liveness every
// node with a record is taken as up.
func (n *Node) alive(ctx context.Context, base string) error {
	if n.cfg.Liveness <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Liveness)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := n.http.Do(req)
	if err == nil {
		resp.Body.Close()
		return nil
	}
	var op *net.OpError
	if (errors.As(err, &op) && op.Op == "dial") || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// RoomOrigin is one room of the directory.
type RoomOrigin struct {
	Room   string `json:"room"`
	Origin string `json:"origin"` // node id
}

// Rooms lists the rooms that have an origin, sorted by name, and drops
// from the list those whose lease has ended.
func (n *Node) Rooms(ctx context.Context) ([]RoomOrigin, error) {
	var out []RoomOrigin
	err := n.store("listing rooms", func(sctx context.Context) error {
		names, err := n.rdb.SMembers(sctx, n.keys.rooms()).Result()
		if err != nil || len(names) == 0 {
			return err
		}
		ks := make([]string, len(names))
		for i, r := range names {
			ks[i] = n.keys.origin(r)
		}
		vals, err := n.rdb.MGet(sctx, ks...).Result()
		if err != nil {
			return err
		}
		var gone []any
		for i, v := range vals {
			if s, ok := v.(string); ok {
				out = append(out, RoomOrigin{Room: names[i], Origin: s})
			} else {
				gone = append(gone, names[i])
			}
		}
		if len(gone) > 0 {
			return n.rdb.SRem(sctx, n.keys.rooms(), gone...).Err()
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out, err
}
