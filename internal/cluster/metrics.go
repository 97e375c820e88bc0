package cluster

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// counters are the node's running totals of its work with the store.
type counters struct {
	roundTrips    atomic.Uint64 // exchanges with Redis (a pipeline is one)
	commands      atomic.Uint64 // commands sent (a pipeline of k counts k)
	errors        atomic.Uint64 // failed exchanges
	subscribes    atomic.Uint64 // channels subscribed or unsubscribed
	published     atomic.Uint64 // messages published by the writer (events, counts)
	chats         atomic.Uint64 // chat messages sent (one script each)
	received      atomic.Uint64 // channel messages received
	badMessages   atomic.Uint64 // channel messages that could not be read
	eventsDropped atomic.Uint64 // events not published: queue full
	takeovers     atomic.Uint64 // origin leases taken over from a node that was down
	leasesLost    atomic.Uint64 // origin leases another node took over from this one
}

// Stats are the node's figures: totals since start.
type Stats struct {
	RoundTrips    uint64 `json:"redis_round_trips"`
	Commands      uint64 `json:"redis_commands"`
	Errors        uint64 `json:"redis_errors"`
	Subscribes    uint64 `json:"subscribes"`
	Published     uint64 `json:"published"`
	Chats         uint64 `json:"chats"`
	Received      uint64 `json:"received"`
	BadMessages   uint64 `json:"bad_messages"`
	EventsDropped uint64 `json:"events_dropped"`
	Takeovers     uint64 `json:"takeovers"`
	LeasesLost    uint64 `json:"leases_lost"`
	RoomsFollowed int    `json:"rooms_followed"` // rooms with local members
	RoomsOwned    int    `json:"rooms_owned"`    // origin leases held
}

// Stats returns the node's figures.
func (n *Node) Stats() Stats {
	c := &n.stats
	n.mu.Lock()
	rooms, owned := len(n.rooms), len(n.leases)
	n.mu.Unlock()
	return Stats{RoundTrips: c.roundTrips.Load(), Commands: c.commands.Load() + c.subscribes.Load(), Errors: c.errors.Load(),
		Subscribes: c.subscribes.Load(), Published: c.published.Load(), Chats: c.chats.Load(), Received: c.received.Load(),
		BadMessages: c.badMessages.Load(), EventsDropped: c.eventsDropped.Load(),
		Takeovers: c.takeovers.Load(), LeasesLost: c.leasesLost.Load(), RoomsFollowed: rooms, RoomsOwned: owned}
}

// countingHook counts what the client sends. Subscriptions do not pass
// through hooks; reconcile counts them.
type countingHook struct{ c *counters }

func (h countingHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.c.roundTrips.Add(1)
		h.c.commands.Add(1)
		return next(ctx, cmd)
	}
}

func (h countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.c.roundTrips.Add(1)
		h.c.commands.Add(uint64(len(cmds)))
		return next(ctx, cmds)
	}
}

var (
	descRoundTrips = prometheus.NewDesc("livectl_cluster_redis_round_trips_total", "Exchanges with the cluster's Redis (a pipeline counts one).", nil, nil)
	descCommands   = prometheus.NewDesc("livectl_cluster_redis_commands_total", "Commands sent to the cluster's Redis (a script counts one).", nil, nil)
	descErrors     = prometheus.NewDesc("livectl_cluster_redis_errors_total", "Failed exchanges with the cluster's Redis.", nil, nil)
	descPublished  = prometheus.NewDesc("livectl_cluster_published_total", "Room events and counts published to other nodes.", nil, nil)
	descChats      = prometheus.NewDesc("livectl_cluster_chat_messages_total", "Chat messages numbered and published through Redis by this node.", nil, nil)
	descReceived   = prometheus.NewDesc("livectl_cluster_received_total", "Room channel messages received from Redis.", nil, nil)
	descDropped    = prometheus.NewDesc("livectl_cluster_events_dropped_total", "Room events not published because the queue to Redis was full.", nil, nil)
	descTakeovers  = prometheus.NewDesc("livectl_cluster_takeovers_total", "Room origin leases this node took over from an origin node that was down.", nil, nil)
	descLeasesLost = prometheus.NewDesc("livectl_cluster_leases_lost_total", "Room origin leases another node took over from this one (it was taken for down).", nil, nil)
	descFollowed   = prometheus.NewDesc("livectl_cluster_rooms_followed", "Rooms with members on this node (their channels subscribed).", nil, nil)
	descOwned      = prometheus.NewDesc("livectl_cluster_rooms_owned", "Rooms whose origin lease this node holds.", nil, nil)
	descUp         = prometheus.NewDesc("livectl_cluster_redis_up", "1 while the cluster's Redis answers.", nil, nil)
)

// Collector returns the node's Prometheus collector.
func (n *Node) Collector() prometheus.Collector { return collector{n} }

type collector struct{ n *Node }

func (c collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.n.Stats()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter(descRoundTrips, s.RoundTrips)
	counter(descCommands, s.Commands)
	counter(descErrors, s.Errors)
	counter(descPublished, s.Published)
	counter(descChats, s.Chats)
	counter(descReceived, s.Received)
	counter(descDropped, s.EventsDropped)
	counter(descTakeovers, s.Takeovers)
	counter(descLeasesLost, s.LeasesLost)
	gauge(descFollowed, float64(s.RoomsFollowed))
	gauge(descOwned, float64(s.RoomsOwned))
	up := 1.0
	if c.n.Ready() != nil {
		up = 0
	}
	gauge(descUp, up)
}
