// Package stats defines the /v1/stats document that `livectl serve` publishes
// and that top, bench and inspect bundles read. It is the contract between the
// server and its observers, so it lives apart from both.
package stats

import "strings"

// Snapshot is the JSON body of GET /v1/stats. Field names are part of the
// public contract docs/server.md (/v1/stats) records: add fields, never
// rename them.
type Snapshot struct {
	Version     string  `json:"version,omitempty"`
	State       string  `json:"state,omitempty"` // "serving" or "draining"
	UptimeS     float64 `json:"uptime_s"`
	Connections int64   `json:"connections"`
	// RoomCount is the number of rooms. The contract names "rooms" both as a
	// figure and as the per-room list; one key cannot be both, so "rooms" holds the
	// list (its length is the count) and the count also stands here.
	RoomCount        int64  `json:"room_count"`
	Participants     int64  `json:"participants"`
	TracksPublished  int64  `json:"tracks_published"`
	TracksSubscribed int64  `json:"tracks_subscribed"`
	BytesIn          uint64 `json:"bytes_in"`
	BytesOut         uint64 `json:"bytes_out"`
	PacketsIn        uint64 `json:"packets_in"`
	PacketsOut       uint64 `json:"packets_out"`
	PacketsLost      uint64 `json:"packets_lost"`
	NACKs            uint64 `json:"nacks"`
	PLIs             uint64 `json:"plis"`
	Goroutines       int    `json:"goroutines"`
	HeapBytes        uint64 `json:"heap_bytes"`
	GCPauseNsP99     uint64 `json:"gc_pause_ns_p99"`

	// Signaling counters beyond the contract's minimum.
	ConnectionsTotal   uint64 `json:"connections_total"`
	ConnectionsDropped uint64 `json:"connections_dropped"` // slow or dead clients cut off
	MessagesIn         uint64 `json:"messages_in"`
	MessagesOut        uint64 `json:"messages_out"`

	Rooms []Room `json:"rooms"`
}

// Room is one entry of the per-room list.
type Room struct {
	Name         string `json:"name"`
	Participants int    `json:"participants"` // over /ws
	// Publishers: /ws members that have published media, or the media
	// plane's publishers (WHIP sessions included) when they are more.
	Publishers int `json:"publishers"`
	// Viewers: /ws members that have not published.
	Viewers       int    `json:"viewers"`
	Subscribers   int    `json:"subscribers"`
	Tracks        int    `json:"tracks"`
	BitrateInBps  uint64 `json:"bitrate_in_bps"`
	BitrateOutBps uint64 `json:"bitrate_out_bps"`
	// Chat messages accepted, and queued to members (k messages to n
	// members: k×n), in the last whole second.
	ChatInPerS         float64 `json:"chat_in_per_s"`
	ChatDeliveriesPerS float64 `json:"chat_deliveries_per_s"`
	// Simulcast is set in rooms with a simulcast track.
	Simulcast *Simulcast `json:"simulcast,omitempty"`
}

// Simulcast is a room's simulcast figures: which layers its viewers get.
type Simulcast struct {
	// ViewersPerLayer counts video down-tracks by the layer (RID) they
	// forward; LayerPaused those below the lowest layer.
	ViewersPerLayer map[string]int `json:"viewers_per_layer"`
	// Switches is layer switches done since the room was created.
	Switches uint64 `json:"switches"`
	// EstimateP50Bps is the median of the viewers' bandwidth estimates.
	EstimateP50Bps uint64 `json:"estimate_p50_bps"`
	// UnusedLayers counts layers no viewer takes: their bitrate is
	// received and cached for nothing (a saving for a later change).
	UnusedLayers int `json:"unused_layers"`
	// QuietViewers counts viewers settled on their top layer with room to
	// spare, whose packets carry transport-wide numbers only part of the
	// time, so that they send a third of the congestion feedback.
	QuietViewers int `json:"quiet_viewers"`
}

// LayerPaused is the ViewersPerLayer key of viewers whose video is paused
// below the lowest layer.
const LayerPaused = "paused"

// LayerRank orders the RIDs publishers use, lowest layer first: q/h/f
// (Chromium's and livectl's own), l/m/h and 0/1/2. An unknown RID ranks
// after the known ones (3).
func LayerRank(rid string) int {
	switch strings.ToLower(rid) {
	case "q", "l", "low", "0":
		return 0
	case "h", "m", "mid", "1":
		return 1
	case "f", "hi", "high", "2":
		return 2
	}
	return 3
}
