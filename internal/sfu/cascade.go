package sfu

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/relay"
)

// The media cascade (docs/cluster.md, "Media cascade"): a node that has
// viewers of a room published on another node (its origin) pulls the
// room's media from the origin once, over a node-to-node WHEP session, and
// republishes it into its own relay room, where its viewers share it.

// OriginInfo names the node where a room is published.
type OriginInfo struct {
	// WHEPBase is the origin's HTTP base URL (http://node-a:7880): the
	// cascade pulls from WHEPBase/whep/{room}.
	WHEPBase string
	// WHIPURL is the origin's WHIP endpoint for the room; a WHIP POST to
	// another node is redirected there.
	WHIPURL string
	// Self says this node is the origin.
	Self bool
}

// ErrNoOrigin is what Config.Origin returns for a room that no node
// publishes: a publisher arriving here makes this node its origin.
var ErrNoOrigin = errors.New("the room has no origin node")

// OriginError is a publish refused because another node is the room's
// origin; Origin is that node's HTTP base URL.
type OriginError struct {
	Room, Origin string
}

func (e *OriginError) Error() string {
	return fmt.Sprintf("room %q is published on node %s: publish there (ws: %s/ws)", e.Room, e.Origin, wsBase(e.Origin))
}

// DirectoryError is a cluster request refused because the room directory
// (Config.Origin) could not answer.
type DirectoryError struct{ Err error }

func (e *DirectoryError) Error() string {
	return "the cluster's room directory is unavailable: " + e.Err.Error() + "; retry shortly"
}

func (e *DirectoryError) Unwrap() error { return e.Err }

func wsBase(httpBase string) string {
	switch {
	case strings.HasPrefix(httpBase, "https://"):
		return "wss://" + strings.TrimPrefix(httpBase, "https://")
	case strings.HasPrefix(httpBase, "http://"):
		return "ws://" + strings.TrimPrefix(httpBase, "http://")
	}
	return httpBase
}

// Upstream timing. A dead origin is noticed by its silence: with the
// relay's ICE timeouts its peer connection would only fail after 15 s.
const (
	// upstreamStall is how long an upstream may bring nothing before the
	// cascade asks whether its origin is still the origin and alive.
	upstreamStall = time.Second
	// upstreamCheck is how often an upstream's byte count is read.
	upstreamCheck = 250 * time.Millisecond
	// retryMin and retryMax bound the wait between two looks for a
	// room's origin (no origin yet, origin unreachable, upstream ended).
	// The cap is short because viewers are waiting: after its origin died
	// an edge must find the next one within a fraction of a second of its
	// takeover. A look is one or two Redis reads per room with viewers and
	// no upstream.
	retryMin = 100 * time.Millisecond
	retryMax = 250 * time.Millisecond
	// nodeTokenTTL is the life of a node-to-node token: minted afresh for
	// each upstream, it only has to outlive the WHEP exchange.
	nodeTokenTTL = time.Minute
	// cascadeIdentity publishes the upstream's tracks in the edge's room.
	cascadeIdentity = "livectl-cascade"
)

// cascade runs the node's upstreams: one per room with local viewers whose
// origin is another node.
type cascade struct {
	sfu    *SFU
	origin func(ctx context.Context, room string) (OriginInfo, error)
	secret []byte
	node   string
	client *http.Client

	mu    sync.Mutex
	rooms map[string]*upstream   // the room's current upstream, held by its viewers
	all   map[*upstream]struct{} // every upstream still running, ending ones too
	wg    sync.WaitGroup

	started atomic.Uint64 // upstream sessions set up
	ended   uint64        // bytes received by upstreams that have ended; under mu
}

// upstream is one room's pull: it lives while the room has local viewers.
type upstream struct {
	room    string
	viewers int
	cancel  context.CancelFunc

	mu     sync.Mutex
	pub    *relay.Publisher // nil between two pulls
	origin string           // the origin pulled from now
}

// hold counts a viewer of room and starts the room's upstream with the
// first one; release, called once when the viewer leaves, ends it with
// the last. Without a cluster (no Origin) it does nothing.
func (c *cascade) hold(room string) (release func()) {
	if c == nil {
		return func() {}
	}
	c.mu.Lock()
	u := c.rooms[room]
	if u == nil {
		ctx, cancel := context.WithCancel(context.Background())
		u = &upstream{room: room, cancel: cancel}
		c.rooms[room] = u
		c.all[u] = struct{}{}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.run(ctx, u)
			c.mu.Lock()
			delete(c.all, u)
			c.mu.Unlock()
		}()
	}
	u.viewers++
	c.mu.Unlock()
	return sync.OnceFunc(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if u.viewers--; u.viewers == 0 {
			delete(c.rooms, room)
			u.cancel()
		}
	})
}

// close ends every upstream and waits for them.
func (c *cascade) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	for u := range c.all {
		u.cancel()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// run keeps room's upstream going until ctx ends: it looks the origin up,
// pulls from it while it lasts, and looks again (with backoff) when there
// is no origin, this node is it, or the pull ended. Local viewers keep
// their sessions throughout; their down-tracks switch to the next pull's
// tracks as they arrive.
func (c *cascade) run(ctx context.Context, u *upstream) {
	wait := retryMin
	for ctx.Err() == nil {
		info, err := c.origin(ctx, u.room)
		switch {
		case err != nil || info.Self || info.WHEPBase == "":
			if err != nil && !errors.Is(err, ErrNoOrigin) && ctx.Err() == nil {
				c.sfu.log.Debug("cascade: looking up the origin", "room", u.room, "err", err)
			}
		default:
			if err := c.pull(ctx, u, info.WHEPBase); err != nil {
				if ctx.Err() == nil {
					c.sfu.log.Info("cascade: upstream ended", "room", u.room, "origin", info.WHEPBase, "err", err)
				}
			} else {
				wait = retryMin
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
}

// pull subscribes to room on the origin at base and republishes it here
// until ctx ends or the upstream ends or stalls. A nil error means the
// upstream ran (and then ended); an error means it never came up.
func (c *cascade) pull(ctx context.Context, u *upstream, base string) error {
	pub, offer, err := c.sfu.relay.Pull(u.room, cascadeIdentity)
	if err != nil {
		return err
	}
	defer func() {
		pub.Close()
		// Under both locks, so that Cascade counts the pull's bytes
		// either live or ended, never both or neither.
		c.mu.Lock()
		u.mu.Lock()
		c.ended += pub.Counters().BytesIn
		u.pub, u.origin = nil, ""
		u.mu.Unlock()
		c.mu.Unlock()
	}()
	token := ""
	if len(c.secret) > 0 {
		token, err = auth.Mint(c.secret, auth.Grant{Room: u.room, Identity: "node-" + c.node, Subscribe: true}, nodeTokenTTL, time.Now())
		if err != nil {
			return err
		}
	}
	xctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	sess, err := peer.Exchange(xctx, c.client, base+"/whep/"+url.PathEscape(u.room), token, offer)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = sess.Close(dctx) // the origin's side of a dead link ends on its own
		cancel()
	}()
	if err := pub.SetAnswer(sess.Answer); err != nil {
		return err
	}
	c.started.Add(1)
	u.mu.Lock()
	u.pub, u.origin = pub, base
	u.mu.Unlock()

	tick := time.NewTicker(upstreamCheck)
	defer tick.Stop()
	last, quietSince := uint64(0), time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-pub.Done():
			return nil
		case now := <-tick.C:
			if b := pub.Counters().BytesIn; b != last {
				last, quietSince = b, now
				continue
			}
			if now.Sub(quietSince) < upstreamStall {
				continue
			}
			quietSince = now // look again after another stall, not every tick
			if !c.stillOrigin(ctx, u.room, base) {
				return nil
			}
		}
	}
}

// stillOrigin says whether base is still room's origin and up, as the
// directory says: a silent upstream whose origin is not is given up. A
// silent one whose origin is (its publisher paused or left) is kept: the
// origin's WHEP session picks up the room's next publisher. Whether the
// origin is up is the directory's to check (Config.Origin: the cluster
// asks the origin's /healthz), once for both admission and the cascade.
func (c *cascade) stillOrigin(ctx context.Context, room, base string) bool {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	info, err := c.origin(cctx, room)
	return err == nil && !info.Self && info.WHEPBase == base
}

// CascadeStats are the node's upstream figures.
type CascadeStats struct {
	Upstreams int           // upstream peer connections now
	Tracks    int           // tracks received over them now
	Started   uint64        // upstreams set up since start
	BytesIn   uint64        // media bytes received over upstreams since start
	Rooms     []CascadeRoom // by name; a room whose last viewer left is listed until its upstream has ended
}

// CascadeRoom is one room's upstream.
type CascadeRoom struct {
	Room    string
	Origin  string // HTTP base URL pulled from; empty while looking
	Viewers int    // local viewer sessions holding the upstream
	Tracks  int
	BytesIn uint64 // of the current pull
}

// Cascade reports the node's upstreams (zero without a cluster).
func (s *SFU) Cascade() CascadeStats {
	c := s.cascade
	if c == nil {
		return CascadeStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := CascadeStats{Started: c.started.Load(), BytesIn: c.ended}
	for u := range c.all {
		u.mu.Lock()
		r := CascadeRoom{Room: u.room, Origin: u.origin, Viewers: u.viewers}
		if u.pub != nil {
			r.Tracks = len(u.pub.Tracks())
			r.BytesIn = u.pub.Counters().BytesIn
			st.Upstreams++
		}
		u.mu.Unlock()
		st.Tracks += r.Tracks
		st.BytesIn += r.BytesIn
		st.Rooms = append(st.Rooms, r)
	}
	sort.Slice(st.Rooms, func(i, j int) bool { return st.Rooms[i].Room < st.Rooms[j].Room })
	return st
}

// admitPublisher says whether a publisher of room may publish on this
// node: nil when no other node publishes the room (or without a cluster);
// *OriginError naming the origin when another node does; *DirectoryError
// when the directory cannot tell, since publishing anyway could give the
// room two origins.
func (s *SFU) admitPublisher(ctx context.Context, room string) (OriginInfo, error) {
	if s.cascade == nil {
		return OriginInfo{Self: true}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := s.cascade.origin(ctx, room)
	switch {
	case errors.Is(err, ErrNoOrigin):
		return OriginInfo{Self: true}, nil
	case err != nil:
		return OriginInfo{}, &DirectoryError{Err: err}
	case info.Self:
		return info, nil
	}
	if info.WHIPURL == "" && info.WHEPBase != "" {
		info.WHIPURL = info.WHEPBase + "/whip/" + url.PathEscape(room)
	}
	return info, &OriginError{Room: room, Origin: info.WHEPBase}
}

// published counts a local publisher of room, telling OnOrigin about the
// first; release, called once when it ends, uncounts it.
func (s *SFU) published(room string) (release func()) {
	s.pubsMu.Lock()
	s.pubs[room]++
	first := s.pubs[room] == 1
	s.pubsMu.Unlock()
	if first && s.onOrigin != nil {
		s.onOrigin(room)
	}
	return sync.OnceFunc(func() {
		s.pubsMu.Lock()
		if s.pubs[room]--; s.pubs[room] == 0 {
			delete(s.pubs, room)
		}
		s.pubsMu.Unlock()
	})
}

// Publishes says whether room has a publisher on this node (cascade
// upstreams aside): the cluster renews its origin lease while it does.
func (s *SFU) Publishes(room string) bool {
	s.pubsMu.Lock()
	defer s.pubsMu.Unlock()
	return s.pubs[room] > 0
}

// nodeGrant returns the grant of a node-to-node request: a bearer token
// signed with the cluster secret that grants subscribing to room. Such a
// request is an upstream of another node: it is served from what this
// node has and never starts an upstream of its own (no loops), and it
// takes no place in the viewer limits.
func (s *SFU) nodeGrant(r *http.Request, room string) (*auth.Grant, bool) {
	if len(s.clusterSecret) == 0 {
		return nil, false
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil, false
	}
	g, err := auth.Verify(s.clusterSecret, strings.TrimSpace(tok))
	if err != nil || !g.Subscribe || !g.Allows(room, "") {
		return nil, false
	}
	return g, true
}
