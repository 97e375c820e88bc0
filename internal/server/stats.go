package server

import (
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/livectl/livectl/internal/stats"
)

// dropReason says why a connection was cut off without a clean close.
type dropReason int

const (
	dropSlow  dropReason = iota // send queue overflowed
	dropWrite                   // a write failed or timed out
	dropDead                    // no frame or pong for two ping intervals
	numDropReasons
)

var dropNames = [numDropReasons]string{"slow_consumer", "write_failed", "ping_timeout"}

// rejectReason says why a connection or frame was refused with an error.
type rejectReason int

const (
	rejectOrigin rejectReason = iota
	rejectServerFull
	rejectDraining
	rejectTooLarge
	rejectProtocol
	rejectRateLimited
	rejectUnauthorized // no token, or not one this server signed
	rejectForbidden    // a token for another room or identity
	rejectExpired      // a token past its expiry
	numRejectReasons
)

var rejectNames = [numRejectReasons]string{"origin", "server_full", "draining", "message_too_large", "protocol_error", "rate_limited",
	"unauthorized", "forbidden", "expired"}

// counters are the server's running totals.
type counters struct {
	connsTotal  atomic.Uint64
	msgsIn      atomic.Uint64
	msgsOut     atomic.Uint64
	badMessages atomic.Uint64
	dropped     [numDropReasons]atomic.Uint64
	rejected    [numRejectReasons]atomic.Uint64

	chatIn         atomic.Uint64 // chat messages accepted
	chatDeliveries atomic.Uint64 // messages queued to members (a batch of k to n members: k×n)
	chatDropped    atomic.Uint64 // messages lost to members whose chat queue was full
	chatRefused    [numChatRefusals]atomic.Uint64
}

func (c *counters) droppedTotal() uint64 {
	var n uint64
	for i := range c.dropped {
		n += c.dropped[i].Load()
	}
	return n
}

// Stats returns the /v1/stats document: signaling figures, media figures
// from the media plane (0 without one), runtime figures, and the union of
// signaling and media rooms by name.
func (s *Server) Stats() stats.Snapshot {
	rooms, participants := s.reg.roomStats()
	var ms MediaStats
	if s.media != nil {
		ms = s.media.Stats()
	}
	byName := make(map[string]*stats.Room, len(rooms)+len(ms.Rooms))
	list := make([]stats.Room, 0, len(rooms)+len(ms.Rooms))
	for _, r := range rooms {
		list = append(list, stats.Room{Name: r.name, Participants: r.participants,
			Publishers: r.publishers, Viewers: r.participants - r.publishers,
			ChatInPerS: float64(r.chatInPerS), ChatDeliveriesPerS: float64(r.chatOutPerS)})
	}
	for i := range list {
		byName[list[i].Name] = &list[i]
	}
	for _, mr := range ms.Rooms {
		r := byName[mr.Name]
		if r == nil {
			list = append(list, stats.Room{Name: mr.Name})
			r = &list[len(list)-1]
			// list may have grown: rebuild the index lazily below.
			byName = nil
		}
		// The media plane's publishers include WHIP sessions, which /ws
		// does not see; a /ws publisher without tracks yet is not in it.
		r.Publishers = max(r.Publishers, mr.Publishers)
		r.Subscribers, r.Tracks = mr.Subscribers, mr.Tracks
		r.BitrateInBps, r.BitrateOutBps = mr.BitrateInBps, mr.BitrateOutBps
		r.Simulcast = mr.Simulcast
		if byName == nil {
			byName = make(map[string]*stats.Room, len(list))
			for i := range list {
				byName[list[i].Name] = &list[i]
			}
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })

	heap, p99 := runtimeFigures()
	state := "serving"
	if s.Draining() {
		state = "draining"
	}
	c := &s.counters
	return stats.Snapshot{
		Version:            s.cfg.Version,
		State:              state,
		UptimeS:            time.Since(s.start).Seconds(),
		Connections:        int64(s.Connections()),
		RoomCount:          int64(len(list)),
		Participants:       int64(participants),
		TracksPublished:    ms.TracksPublished,
		TracksSubscribed:   ms.TracksSubscribed,
		BytesIn:            ms.BytesIn,
		BytesOut:           ms.BytesOut,
		PacketsIn:          ms.PacketsIn,
		PacketsOut:         ms.PacketsOut,
		PacketsLost:        ms.PacketsLost,
		NACKs:              ms.NACKs,
		PLIs:               ms.PLIs,
		Goroutines:         runtime.NumGoroutine(),
		HeapBytes:          heap,
		GCPauseNsP99:       p99,
		ConnectionsTotal:   c.connsTotal.Load(),
		ConnectionsDropped: c.droppedTotal(),
		MessagesIn:         c.msgsIn.Load(),
		MessagesOut:        c.msgsOut.Load(),
		Rooms:              list,
	}
}

// runtimeFigures reads heap bytes in use by objects and the p99 GC pause
// from runtime/metrics, which does not stop the world.
func runtimeFigures() (heap, pauseP99 uint64) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/sched/pauses/total/gc:seconds"},
	}
	metrics.Read(samples)
	if samples[0].Value.Kind() == metrics.KindUint64 {
		heap = samples[0].Value.Uint64()
	}
	if samples[1].Value.Kind() == metrics.KindFloat64Histogram {
		pauseP99 = uint64(histQuantile(samples[1].Value.Float64Histogram(), 0.99) * 1e9)
	}
	return heap, pauseP99
}

// histQuantile returns the upper bound of the bucket holding quantile q.
func histQuantile(h *metrics.Float64Histogram, q float64) float64 {
	var total uint64
	for _, n := range h.Counts {
		total += n
	}
	if total == 0 {
		return 0
	}
	want := uint64(q * float64(total))
	var seen uint64
	for i, n := range h.Counts {
		seen += n
		if seen > want || (seen == total && n > 0) {
			b := h.Buckets[i+1]
			if b > 1e9 { // +Inf bucket: report its lower bound
				b = h.Buckets[i]
			}
			return b
		}
	}
	return 0
}

func (s *Server) serveStats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.Stats())
}

// metrics exposes the server's figures to Prometheus. This collector reads
// one Stats snapshot per scrape (totals, and each room's /ws participants);
// the media plane's per-room collector (internal/sfu) reads the relay's own,
// so per-room media series and the totals are a moment apart.
type promMetrics struct {
	reg *prometheus.Registry
	h   http.Handler
}

func newMetrics(s *Server) *promMetrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{s: s},
	)
	return &promMetrics{reg: reg, h: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
}

func (m *promMetrics) handler() http.Handler { return m.h }

var (
	descConnections      = prometheus.NewDesc("livectl_connections", "Open /ws signaling connections.", nil, nil)
	descConnsTotal       = prometheus.NewDesc("livectl_connections_total", "Accepted /ws connections since start.", nil, nil)
	descDropped          = prometheus.NewDesc("livectl_connections_dropped_total", "Connections cut off because the client was slow or dead.", []string{"reason"}, nil)
	descRejected         = prometheus.NewDesc("livectl_rejected_total", "Connections or frames refused with an error.", []string{"reason"}, nil)
	descRooms            = prometheus.NewDesc("livectl_rooms", "Rooms (signaling and media).", nil, nil)
	descParticipants     = prometheus.NewDesc("livectl_participants", "Participants joined over /ws.", nil, nil)
	descRoomParticipants = prometheus.NewDesc("livectl_room_participants", "Participants joined over /ws, per room.", []string{"room"}, nil)
	descMsgsIn           = prometheus.NewDesc("livectl_messages_in_total", "Signaling frames received.", nil, nil)
	descMsgsOut          = prometheus.NewDesc("livectl_messages_out_total", "Signaling frames sent.", nil, nil)
	descBadMsgs          = prometheus.NewDesc("livectl_messages_bad_total", "Malformed or invalid signaling frames received.", nil, nil)
	descDraining         = prometheus.NewDesc("livectl_draining", "1 while the server drains.", nil, nil)
	descTracksPublished  = prometheus.NewDesc("livectl_tracks_published", "Media tracks being published.", nil, nil)
	descTracksSubbed     = prometheus.NewDesc("livectl_tracks_subscribed", "Media tracks being forwarded to subscribers.", nil, nil)
	descBytesIn          = prometheus.NewDesc("livectl_media_bytes_in_total", "Media bytes received.", nil, nil)
	descBytesOut         = prometheus.NewDesc("livectl_media_bytes_out_total", "Media bytes sent.", nil, nil)
	descPacketsIn        = prometheus.NewDesc("livectl_media_packets_in_total", "RTP packets received.", nil, nil)
	descPacketsOut       = prometheus.NewDesc("livectl_media_packets_out_total", "RTP packets sent.", nil, nil)
	descPacketsLost      = prometheus.NewDesc("livectl_media_packets_lost", "RTP packets from publishers still missing after NACK repair (falls when a late packet fills a gap).", nil, nil)
	descNACKs            = prometheus.NewDesc("livectl_media_nacks_total", "NACKs received from subscribers.", nil, nil)
	descPLIs             = prometheus.NewDesc("livectl_media_plis_total", "PLIs sent to publishers.", nil, nil)
	descRoomPublishers   = prometheus.NewDesc("livectl_room_publishers", "Publishers per room: /ws members that have published, or the media plane's count (WHIP included) if larger.", []string{"room"}, nil)
	descRoomViewers      = prometheus.NewDesc("livectl_room_viewers", "/ws participants that have not published, per room.", []string{"room"}, nil)
	descRoomChatIn       = prometheus.NewDesc("livectl_room_chat_in_per_second", "Chat messages accepted in the last whole second, per room.", []string{"room"}, nil)
	descRoomChatOut      = prometheus.NewDesc("livectl_room_chat_deliveries_per_second", "Chat messages queued to members in the last whole second, per room.", []string{"room"}, nil)
	descChatIn           = prometheus.NewDesc("livectl_chat_messages_total", "Chat messages accepted.", nil, nil)
	descChatDeliveries   = prometheus.NewDesc("livectl_chat_deliveries_total", "Chat messages queued to members (one message to n members counts n).", nil, nil)
	descChatDropped      = prometheus.NewDesc("livectl_chat_dropped_total", "Chat messages lost to members too slow to take them (they see a gap in seq).", nil, nil)
	descChatRefused      = prometheus.NewDesc("livectl_chat_refused_total", "Chat messages refused with rate_limited.", []string{"reason"}, nil)
	descGCPauseP99       = prometheus.NewDesc("livectl_gc_pause_p99_seconds", "99th percentile GC stop-the-world pause.", nil, nil)
)

type collector struct{ s *Server }

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descConnections, float64(st.Connections))
	counter(descConnsTotal, float64(st.ConnectionsTotal))
	for i := range c.s.counters.dropped {
		counter(descDropped, float64(c.s.counters.dropped[i].Load()), dropNames[i])
	}
	for i := range c.s.counters.rejected {
		counter(descRejected, float64(c.s.counters.rejected[i].Load()), rejectNames[i])
	}
	gauge(descRooms, float64(st.RoomCount))
	gauge(descParticipants, float64(st.Participants))
	for _, r := range st.Rooms { // every room, signaling-only ones included
		gauge(descRoomParticipants, float64(r.Participants), r.Name)
		gauge(descRoomPublishers, float64(r.Publishers), r.Name)
		gauge(descRoomViewers, float64(r.Viewers), r.Name)
		gauge(descRoomChatIn, r.ChatInPerS, r.Name)
		gauge(descRoomChatOut, r.ChatDeliveriesPerS, r.Name)
	}
	counter(descChatIn, float64(c.s.counters.chatIn.Load()))
	counter(descChatDeliveries, float64(c.s.counters.chatDeliveries.Load()))
	counter(descChatDropped, float64(c.s.counters.chatDropped.Load()))
	for i := range c.s.counters.chatRefused {
		counter(descChatRefused, float64(c.s.counters.chatRefused[i].Load()), chatRefusalNames[i])
	}
	counter(descMsgsIn, float64(st.MessagesIn))
	counter(descMsgsOut, float64(st.MessagesOut))
	counter(descBadMsgs, float64(c.s.counters.badMessages.Load()))
	draining := 0.0
	if c.s.Draining() {
		draining = 1
	}
	gauge(descDraining, draining)
	gauge(descTracksPublished, float64(st.TracksPublished))
	gauge(descTracksSubbed, float64(st.TracksSubscribed))
	counter(descBytesIn, float64(st.BytesIn))
	counter(descBytesOut, float64(st.BytesOut))
	counter(descPacketsIn, float64(st.PacketsIn))
	counter(descPacketsOut, float64(st.PacketsOut))
	gauge(descPacketsLost, float64(st.PacketsLost))
	counter(descNACKs, float64(st.NACKs))
	counter(descPLIs, float64(st.PLIs))
	gauge(descGCPauseP99, float64(st.GCPauseNsP99)/1e9)
}
