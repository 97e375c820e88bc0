package cluster

import (
	"context"
	"encoding/json"
	"errors"
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
// ms unless a lease is held, and returns the holder. The room is listed
// in KEYS[2] for the cluster view.
var claimScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
return ARGV[1]`)

// renewScript extends the lease if ARGV[1] still holds it.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

// releaseScript ends the lease if ARGV[1] holds it.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// Claim makes this node the origin of room unless another node holds its
// lease, and returns the origin. A lease this node wins is renewed at
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

// claim runs claimScript and resolves the holder.
func (n *Node) claim(ctx context.Context, room string) (Origin, error) {
	var holder string
	err := n.store("claiming room origin", func(sctx context.Context) error {
		var err error
		holder, err = claimScript.Run(sctx, n.rdb, []string{n.keys.origin(room), n.keys.rooms()},
			n.cfg.NodeID, n.cfg.Expiry.Milliseconds(), room).Text()
		return err
	})
	if err != nil {
		return Origin{}, err
	}
	return n.resolve(ctx, room, holder)
}

func (n *Node) release(room string) {
	_ = n.store("releasing room origin", func(ctx context.Context) error {
		return releaseScript.Run(ctx, n.rdb, []string{n.keys.origin(room)}, n.cfg.NodeID).Err()
	})
}

// Lookup says which node is room's origin, without claiming it:
// ErrNoOrigin when no node holds its lease.
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

// resolve turns a lease holder's id into an Origin with its URL.
func (n *Node) resolve(_ context.Context, room, holder string) (Origin, error) {
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
	var rec Record
	if err := json.Unmarshal([]byte(b), &rec); err != nil {
		return Origin{}, &StoreError{Op: "reading origin node record", Err: err}
	}
	return Origin{Room: room, NodeID: holder, URL: rec.URL}, nil
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
