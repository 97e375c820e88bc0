// Package cluster is the control plane of several `livectl serve` nodes
// sharing one Redis: a node registry (each node's record, refreshed by a
// heartbeat, gone when it expires), a room directory (a room's origin is
// the node that claimed it first, by a lease it renews) and a pub/sub
// channel per room that carries membership events, counts and chat between
// the nodes that have members of the room. The signaling server reaches it
// only through server.Config.Cluster; the media plane through the
// directory's Lookup (sfu.Config.Origin).
package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/livectl/livectl/internal/signal"
)

// Default timings: a node's record is refreshed every DefaultHeartbeat and
// is dead to the others DefaultExpiry after its last refresh; an origin's
// lease lasts as long.
const (
	DefaultHeartbeat = 2 * time.Second
	DefaultExpiry    = 6 * time.Second
	// countsWindow coalesces a room's count changes: at most one counts
	// message per room per window from each node, whatever the join rate.
	countsWindow = 250 * time.Millisecond
	// DefaultTimeout bounds one exchange with Redis, so that a Redis that
	// went away is noticed in about a second, not at the TCP timeout.
	DefaultTimeout = time.Second
	// maxRecordRooms caps the rooms a node's record lists.
	maxRecordRooms = 1000
)

// State is a node's state in the registry.
type State string

// Node states.
const (
	StateServing  State = "serving"
	StateDraining State = "draining" // takes no new rooms
)

// Load is a node's load as its record reports it.
type Load struct {
	CPU        float64 `json:"cpu"` // cores busy (1.5: one and a half cores)
	Sessions   int     `json:"sessions"`
	Tracks     int     `json:"tracks"`
	BitrateBps uint64  `json:"bitrate_bps"`
}

// Record is a node's entry in the registry.
type Record struct {
	ID        string         `json:"id"`
	URL       string         `json:"url"`                  // HTTP base clients and nodes use
	MediaAddr string         `json:"media_addr,omitempty"` // the media address other nodes use
	Version   string         `json:"version"`
	State     State          `json:"state"`
	Load      Load           `json:"load"`
	Rooms     map[string]int `json:"rooms,omitempty"` // members per room on this node
	UpdatedMS int64          `json:"updated_ms"`
}

// Config configures a Node.
type Config struct {
	// Redis is the store's URL, redis://[user:password@]host:port/db.
	Redis string
	// NodeID names this node; unique in the cluster.
	NodeID string
	// AdvertiseURL is this node's HTTP base (http://host:port) as clients
	// and other nodes reach it.
	AdvertiseURL string
	// MediaAddr is the media address other nodes use (host:port).
	MediaAddr string
	Version   string
	// Heartbeat and Expiry: 0 takes the defaults. Expiry must exceed
	// Heartbeat.
	Heartbeat, Expiry time.Duration
	// Timeout bounds one exchange with the store (0: DefaultTimeout).
	Timeout time.Duration
	// Prefix is put before every key and channel (default "livectl:"), so
	// that clusters (or tests) can share one Redis.
	Prefix string
	// Load, when set, is read at each heartbeat for the node's record.
	Load func() Load
	// Publishes, when set, says whether room still has a publisher on
	// this node: a lease whose room has none is let go at the next
	// heartbeat (after a grace of one Expiry from the claim, while the
	// publisher sets up). Nil: leases are held until Release.
	Publishes func(room string) bool
	// Draining, when set, is read at each heartbeat: true marks the node
	// draining (as SetState does).
	Draining func() bool
	// Liveness, when positive, bounds a check of a room's origin before
	// another node trusts it: GET /healthz on the origin's URL must answer
	// (any status) within it, or the origin is taken for down — Lookup
	// says ErrNodeGone and Claim takes its lease over at once instead of
	// waiting for it to expire. Zero: an origin is down only when its
	// record has expired.
	Liveness time.Duration
	// Links, when set, gives the media plane's node links for /v1/cluster.
	Links  func() any
	Logger *slog.Logger
}

// Local is what the node delivers remote room traffic to: the signaling
// server (*server.Server implements it).
type Local interface {
	// RemoteEvent gives a membership event (an encoded signaling message)
	// from another node to the local members of room.
	RemoteEvent(room string, frame []byte)
	// RemoteChat gives a chat message with its cluster-wide seq to the
	// local members of room; every node, the sender's included, gets each
	// message this way, in seq order.
	RemoteChat(room string, m signal.ChatMessage)
	// RemoteCounts gives the room's publishers and viewers on the other
	// nodes, summed, and the publishers they named (a new slice each call:
	// Local may keep it).
	RemoteCounts(room string, publishers, viewers int, listed []signal.Participant)
}

// Node is this process's membership of a cluster.
type Node struct {
	cfg    Config
	log    *slog.Logger
	rdb    *redis.Client
	http   *http.Client // liveness checks of other nodes (Config.Liveness)
	ps     *redis.PubSub
	keys   keys
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stats  counters

	local atomic.Pointer[localBox]

	pubq chan outMsg           // events to publish, in order
	kick chan struct{}         // subscriptions or counts changed
	lost atomic.Pointer[error] // the last store failure; nil: healthy

	mu      sync.Mutex
	state   State
	rooms   map[string]*roomState // rooms with local members
	leases  map[string]time.Time  // rooms whose origin lease this node holds: when claimed
	subbed  map[string]bool       // channels subscribed on ps
	closing bool
}

type localBox struct{ Local }

// roomState is what a node knows of a room it has members in.
type roomState struct {
	name       string
	pubs, view int                  // local counts
	listed     []signal.Participant // local publishers named (CountsChanged)
	sent       bool                 // local counts published since the last change
	remote     map[string]remoteCounts
	subscribed chan struct{} // closed when the channel's subscription is confirmed
	subOnce    bool
}

type remoteCounts struct {
	pubs, view int
	listed     []signal.Participant
	at         time.Time
}

// keys names the node's Redis keys and channels.
type keys struct{ prefix string }

func (k keys) node(id string) string      { return k.prefix + "node:" + id }
func (k keys) nodes() string              { return k.prefix + "nodes" }
func (k keys) rooms() string              { return k.prefix + "rooms" }
func (k keys) origin(room string) string  { return k.prefix + "room:" + room + ":origin" }
func (k keys) seq(room string) string     { return k.prefix + "room:" + room + ":seq" }
func (k keys) channel(room string) string { return k.prefix + "room:" + room }

// New connects to the store, writes this node's record and starts its
// heartbeat. It fails when the store cannot be reached at start: a node
// that was never part of the cluster should not pretend to be.
func New(cfg Config) (*Node, error) {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Expiry <= 0 {
		cfg.Expiry = DefaultExpiry
	}
	if cfg.Expiry <= cfg.Heartbeat {
		return nil, &ConfigError{Field: "Expiry", Reason: fmt.Sprintf("%s must exceed the heartbeat %s", cfg.Expiry, cfg.Heartbeat)}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "livectl:"
	}
	if cfg.NodeID == "" {
		return nil, &ConfigError{Field: "NodeID", Reason: "empty"}
	}
	if u, err := url.Parse(cfg.AdvertiseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &ConfigError{Field: "AdvertiseURL", Reason: fmt.Sprintf("%q is not http(s)://host:port", cfg.AdvertiseURL)}
	}
	opt, err := redis.ParseURL(cfg.Redis)
	if err != nil {
		return nil, &ConfigError{Field: "Redis", Reason: err.Error()}
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = cfg.Timeout, cfg.Timeout, cfg.Timeout
	opt.MaxRetries = -1 // a failed exchange is reported, not retried behind our back
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// go-redis logs reconnect attempts to stderr on its own; the node
	// reports the store's health itself (Ready, /readyz, one log line).
	redisLogOnce.Do(func() { redis.SetLogger(debugLog{log}) })
	n := &Node{cfg: cfg, log: log, keys: keys{cfg.Prefix}, state: StateServing,
		pubq: make(chan outMsg, 4096), kick: make(chan struct{}, 1),
		rooms: map[string]*roomState{}, leases: map[string]time.Time{}, subbed: map[string]bool{}}
	// No keep-alives: a liveness check is rare and must see the node as it
	// is now, not through a connection opened before it died.
	n.http = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	n.rdb = redis.NewClient(opt)
	n.rdb.AddHook(countingHook{&n.stats})
	n.ctx, n.cancel = context.WithCancel(context.Background())
	if err := n.heartbeat(); err != nil {
		n.rdb.Close()
		n.cancel()
		return nil, err
	}
	n.ps = n.rdb.Subscribe(n.ctx)
	msgs := n.ps.ChannelWithSubscriptions(redis.WithChannelSize(1024))
	n.wg.Add(2)
	go n.writer()
	go n.reader(msgs)
	return n, nil
}

var redisLogOnce sync.Once

// debugLog passes go-redis's own messages to the first node's logger at
// debug level.
type debugLog struct{ log *slog.Logger }

func (d debugLog) Printf(ctx context.Context, format string, v ...any) {
	d.log.DebugContext(ctx, fmt.Sprintf(format, v...))
}

// Attach sets where remote room traffic goes. Until then it is dropped.
func (n *Node) Attach(l Local) { n.local.Store(&localBox{l}) }

// ID is this node's id.
func (n *Node) ID() string { return n.cfg.NodeID }

// SetState marks the node serving or draining in its record (at the next
// heartbeat); a draining node claims no new rooms.
func (n *Node) SetState(s State) {
	n.mu.Lock()
	n.state = s
	n.mu.Unlock()
}

// Ready is nil while the store answers, else an error that matches
// ErrUnavailable and says what failed.
func (n *Node) Ready() error {
	if p := n.lost.Load(); p != nil {
		return *p
	}
	return nil
}

// Close stops the heartbeat, releases the node's leases, removes its
// record (the others see it gone at once rather than at expiry) and
// closes the store connections.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		return nil
	}
	n.closing = true
	owned := make([]string, 0, len(n.leases))
	for r := range n.leases {
		owned = append(owned, r)
	}
	n.leases = map[string]time.Time{}
	n.mu.Unlock()
	n.cancel()
	n.ps.Close()
	n.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeout)
	defer cancel()
	pipe := n.rdb.Pipeline()
	for _, r := range owned {
		releaseScript.Eval(ctx, pipe, []string{n.keys.origin(r)}, n.cfg.NodeID)
	}
	pipe.Del(ctx, n.keys.node(n.cfg.NodeID))
	pipe.ZRem(ctx, n.keys.nodes(), n.cfg.NodeID)
	_, _ = pipe.Exec(ctx) // best effort: the records expire anyway
	return n.rdb.Close()
}

// store runs one exchange with Redis under Config.Timeout and tracks health.
func (n *Node) store(op string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.Timeout)
	defer cancel()
	err := f(ctx)
	if err != nil && err != redis.Nil {
		n.stats.errors.Add(1)
		se := error(&StoreError{Op: op, Err: err})
		if n.ctx.Err() != nil {
			return ErrClosed
		}
		if n.lost.Swap(&se) == nil {
			n.log.Warn("cluster store unreachable: serving local rooms only until it is back", "op", op, "err", err)
		}
		return se
	}
	return err
}

// recovered clears the failure after a successful heartbeat.
func (n *Node) recovered() {
	if n.lost.Swap(nil) != nil {
		n.log.Info("cluster store reachable again")
	}
}

// heartbeat writes this node's record with its expiry, renews the origin
// leases it holds, and republishes its counts of every room it has
// members in (so that a node that subscribed late, or a restarted store,
// has them within one heartbeat).
func (n *Node) heartbeat() error {
	rec := n.record()
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	owned, gone := n.leasesToRenew()
	for _, r := range gone {
		n.release(r)
	}
	n.mu.Lock()
	for _, rs := range n.rooms {
		rs.sent = false
	}
	n.mu.Unlock()
	renewed := make([]*redis.Cmd, len(owned))
	err = n.store("writing node record", func(ctx context.Context) error {
		pipe := n.rdb.Pipeline()
		exp := n.cfg.Expiry
		pipe.Set(ctx, n.keys.node(n.cfg.NodeID), b, exp)
		pipe.ZAdd(ctx, n.keys.nodes(), redis.Z{Score: float64(time.Now().Add(exp).UnixMilli()), Member: n.cfg.NodeID})
		pipe.ZRemRangeByScore(ctx, n.keys.nodes(), "-inf", fmt.Sprint(time.Now().UnixMilli()))
		for i, r := range owned {
			renewed[i] = renewScript.Eval(ctx, pipe, []string{n.keys.origin(r), n.keys.rooms()}, n.cfg.NodeID, exp.Milliseconds(), r)
		}
		_, err := pipe.Exec(ctx)
		return err
	})
	if err == nil {
		n.recovered()
		for i, c := range renewed {
			if v, err := c.Int(); err == nil && v == 0 {
				n.leaseLost(owned[i])
			}
		}
	}
	n.expireRemote()
	n.flushCounts()
	return err
}

// leaseLost forgets a lease another node took over (it found this node
// down: a stall, a partition): this node no longer renews it, and its
// cascade and admission follow the directory, which names the new origin.
func (n *Node) leaseLost(room string) {
	n.mu.Lock()
	delete(n.leases, room)
	n.mu.Unlock()
	n.stats.leasesLost.Add(1)
	n.log.Warn("cluster: another node took over this room's origin (it found this node down)", "room", room)
}

// leasesToRenew splits the leases into those to renew and those whose
// room no longer has a local publisher (Config.Publishes), which it drops.
func (n *Node) leasesToRenew() (renew, gone []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	grace := time.Now().Add(-n.cfg.Expiry)
	for r, at := range n.leases {
		if n.cfg.Publishes != nil && at.Before(grace) && !n.cfg.Publishes(r) {
			delete(n.leases, r)
			gone = append(gone, r)
			continue
		}
		renew = append(renew, r)
	}
	return renew, gone
}

func (n *Node) record() Record {
	var load Load
	if n.cfg.Load != nil {
		load = n.cfg.Load()
	}
	if n.cfg.Draining != nil && n.cfg.Draining() {
		n.SetState(StateDraining)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	rec := Record{ID: n.cfg.NodeID, URL: n.cfg.AdvertiseURL, MediaAddr: n.cfg.MediaAddr, Version: n.cfg.Version,
		State: n.state, Load: load, UpdatedMS: time.Now().UnixMilli()}
	if len(n.rooms) > 0 {
		rec.Rooms = make(map[string]int, min(len(n.rooms), maxRecordRooms))
		names := make([]string, 0, len(n.rooms))
		for name := range n.rooms {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names[:min(len(names), maxRecordRooms)] {
			rs := n.rooms[name]
			rec.Rooms[name] = rs.pubs + rs.view
		}
	}
	return rec
}

// Nodes lists the live nodes' records, sorted by id.
func (n *Node) Nodes(ctx context.Context) ([]Record, error) {
	var recs []Record
	err := n.store("listing nodes", func(ctx context.Context) error {
		ids, err := n.rdb.ZRangeByScore(ctx, n.keys.nodes(), &redis.ZRangeBy{Min: fmt.Sprint(time.Now().UnixMilli()), Max: "+inf"}).Result()
		if err != nil || len(ids) == 0 {
			return err
		}
		ks := make([]string, len(ids))
		for i, id := range ids {
			ks[i] = n.keys.node(id)
		}
		vals, err := n.rdb.MGet(ctx, ks...).Result()
		if err != nil {
			return err
		}
		for _, v := range vals {
			s, ok := v.(string)
			if !ok {
				continue // expired between the two reads
			}
			if r, err := decodeRecord(s); err == nil {
				recs = append(recs, r)
			}
		}
		return nil
	})
	sort.Slice(recs, func(i, j int) bool { return recs[i].ID < recs[j].ID })
	return recs, err
}

// writer is the node's one goroutine that writes to the store on its own
// account: heartbeats, subscriptions, events, coalesced counts.
func (n *Node) writer() {
	defer n.wg.Done()
	hb := time.NewTicker(n.cfg.Heartbeat)
	defer hb.Stop()
	counts := time.NewTicker(countsWindow)
	defer counts.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-hb.C:
			_ = n.heartbeat()
		case <-counts.C:
			n.flushCounts()
		case <-n.kick:
			n.reconcile()
		case m := <-n.pubq:
			n.publish(m)
		}
	}
}
