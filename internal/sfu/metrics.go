package sfu

import "github.com/prometheus/client_golang/prometheus"

// Per-room media series for /metrics, beside the server's totals: rooms
// come and go, so each scrape reports the rooms that exist then.
var (
	descRoomTracks     = prometheus.NewDesc("livectl_room_tracks", "Tracks published in the room.", []string{"room"}, nil)
	descRoomPubs       = prometheus.NewDesc("livectl_room_media_publishers", "Publisher peer connections in the room.", []string{"room"}, nil)
	descRoomSubs       = prometheus.NewDesc("livectl_room_media_subscribers", "Subscriber peer connections in the room.", []string{"room"}, nil)
	descRoomBitrateIn  = prometheus.NewDesc("livectl_room_bitrate_in_bps", "Media bitrate received from the room's publishers.", []string{"room"}, nil)
	descRoomBitrateOut = prometheus.NewDesc("livectl_room_bitrate_out_bps", "Media bitrate sent to the room's subscribers.", []string{"room"}, nil)
	descRoomPacketsIn  = prometheus.NewDesc("livectl_room_packets_in_total", "RTP packets received in the room.", []string{"room"}, nil)
	descRoomPacketsOut = prometheus.NewDesc("livectl_room_packets_out_total", "RTP packets sent in the room.", []string{"room"}, nil)
	descRoomBytesIn    = prometheus.NewDesc("livectl_room_bytes_in_total", "Media bytes received in the room.", []string{"room"}, nil)
	descRoomBytesOut   = prometheus.NewDesc("livectl_room_bytes_out_total", "Media bytes sent in the room.", []string{"room"}, nil)
	descRoomLost       = prometheus.NewDesc("livectl_room_packets_lost", "Publisher packets still missing after NACK repair (falls when a late packet fills a gap).", []string{"room"}, nil)
	descRoomNACKs      = prometheus.NewDesc("livectl_room_nacks_total", "Packets NACKed by the room's subscribers.", []string{"room"}, nil)
	descRoomPLIs       = prometheus.NewDesc("livectl_room_plis_total", "Keyframe requests sent to the room's publishers.", []string{"room"}, nil)
	descRoomLayerViews = prometheus.NewDesc("livectl_room_simulcast_viewers", "Video down-tracks by the simulcast layer they forward (paused: below the lowest).", []string{"room", "layer"}, nil)
	descRoomSwitches   = prometheus.NewDesc("livectl_room_simulcast_switches_total", "Simulcast layer switches of the room's viewers.", []string{"room"}, nil)
	descRoomEstimate   = prometheus.NewDesc("livectl_room_simulcast_estimate_p50_bps", "Median bandwidth estimate of the room's simulcast viewers.", []string{"room"}, nil)
	descRoomQuiet      = prometheus.NewDesc("livectl_room_simulcast_quiet_viewers", "Simulcast viewers settled on their top layer whose congestion feedback is asked for part of the time.", []string{"room"}, nil)
	descRoomUnused     = prometheus.NewDesc("livectl_room_simulcast_unused_layers", "Simulcast layers no viewer takes (received for nothing).", []string{"room"}, nil)
	descRetransmits    = prometheus.NewDesc("livectl_media_retransmits_total", "Packets resent to subscribers from the relay's cache.", nil, nil)
	descQueueDrops     = prometheus.NewDesc("livectl_media_queue_drops_total", "Packets dropped because a subscriber's send queue was full.", nil, nil)

	// The cascade's node links (cluster nodes only): one upstream per room
	// with local viewers whose origin is another node.
	descUpstreams       = prometheus.NewDesc("livectl_cascade_upstreams", "Upstream peer connections pulling a room from its origin node.", nil, nil)
	descUpstreamTracks  = prometheus.NewDesc("livectl_cascade_upstream_tracks", "Tracks received over upstreams: one per origin track per node, whatever the viewers.", nil, nil)
	descUpstreamBytes   = prometheus.NewDesc("livectl_cascade_upstream_bytes_total", "Media bytes received over upstreams.", nil, nil)
	descUpstreamsOpened = prometheus.NewDesc("livectl_cascade_upstreams_started_total", "Upstreams set up (a failover sets up another).", nil, nil)
)

// roomCollector serves the relay's per-room figures; Mount registers it.
type roomCollector struct{ sfu *SFU }

func (c *roomCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *roomCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.sfu.relay.Stats()
	g := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, labels...)
	}
	for _, r := range st.Rooms {
		g(descRoomTracks, prometheus.GaugeValue, float64(r.Tracks), r.Name)
		g(descRoomPubs, prometheus.GaugeValue, float64(r.Publishers), r.Name)
		g(descRoomSubs, prometheus.GaugeValue, float64(r.Subscribers), r.Name)
		g(descRoomBitrateIn, prometheus.GaugeValue, float64(r.BitrateInBps), r.Name)
		g(descRoomBitrateOut, prometheus.GaugeValue, float64(r.BitrateOutBps), r.Name)
		g(descRoomPacketsIn, prometheus.CounterValue, float64(r.PacketsIn), r.Name)
		g(descRoomPacketsOut, prometheus.CounterValue, float64(r.PacketsOut), r.Name)
		g(descRoomBytesIn, prometheus.CounterValue, float64(r.BytesIn), r.Name)
		g(descRoomBytesOut, prometheus.CounterValue, float64(r.BytesOut), r.Name)
		g(descRoomLost, prometheus.GaugeValue, float64(r.PacketsLost), r.Name)
		g(descRoomNACKs, prometheus.CounterValue, float64(r.NACKs), r.Name)
		g(descRoomPLIs, prometheus.CounterValue, float64(r.PLIs), r.Name)
		if sc := r.Simulcast; sc != nil {
			for layer, n := range sc.ViewersPerLayer {
				g(descRoomLayerViews, prometheus.GaugeValue, float64(n), r.Name, layer)
			}
			g(descRoomSwitches, prometheus.CounterValue, float64(sc.Switches), r.Name)
			g(descRoomEstimate, prometheus.GaugeValue, float64(sc.EstimateP50Bps), r.Name)
			g(descRoomQuiet, prometheus.GaugeValue, float64(sc.QuietViewers), r.Name)
			g(descRoomUnused, prometheus.GaugeValue, float64(sc.UnusedLayers), r.Name)
		}
	}
	g(descRetransmits, prometheus.CounterValue, float64(st.Retransmits))
	g(descQueueDrops, prometheus.CounterValue, float64(st.Drops))
	if c.sfu.cascade != nil {
		cs := c.sfu.Cascade()
		g(descUpstreams, prometheus.GaugeValue, float64(cs.Upstreams))
		g(descUpstreamTracks, prometheus.GaugeValue, float64(cs.Tracks))
		g(descUpstreamBytes, prometheus.CounterValue, float64(cs.BytesIn))
		g(descUpstreamsOpened, prometheus.CounterValue, float64(cs.Started))
	}
}
