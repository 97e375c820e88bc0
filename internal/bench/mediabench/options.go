// Package mediabench is the media load generator behind `livectl bench
// media`: optional built-in publishers (internal/publish), then N
// subscribers started at a fixed rate (an open model, as in bench signal),
// each a probe subscriber (internal/probe: first-frame phases, then frames
// counted from RTP headers in its CountOnly mode) on its own UDP socket,
// kept open for the run and counted packet by packet by an interceptor
// placed first in its pion chain: received bitrate, packets lost
// after NACK recovery, interarrival jitter, NACKs and PLIs sent, frames and
// freezes. The report gives percentiles over subscribers for each figure,
// totals, the worst subscribers, the server's cost sampled from /v1/stats
// and /proc, and the generator's own.
//
// Like bench signal, it reaches servers only as a client would (livectl's
// /ws protocol, or any WHEP/WHIP endpoint), so the same run can be pointed
// at another server for comparison.
package mediabench

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/peer"
	"github.com/livectl/livectl/internal/probe"
	"github.com/livectl/livectl/internal/tlsconf"
)

// Protocols of the subscribers.
const (
	ProtocolLivectl = "livectl" // livectl's /ws signaling
	ProtocolWHEP    = "whep"    // any WHEP endpoint
)

// Options configure a run. They travel as JSON to child processes
// (--procs), so every field but the hooks is serialisable.
type Options struct {
	// URL is livectl's signaling URL (ws://host/ws); subscribers and
	// built-in publishers use it with Room unless WHEP / WHIP are set.
	URL  string `json:"url,omitempty"`
	Room string `json:"room,omitempty"`
	// WHEP, if set, is the endpoint subscribers play from instead of URL.
	WHEP string `json:"whep,omitempty"`
	// URLs and WHEPs, when subscribers spread over several targets (the
	// nodes of a cluster), list them all: subscriber i plays from
	// targets[i % len(targets)]. URL and WHEP are then the first of each
	// (Defaults sets them): built-in publishers, server sampling and the
	// local address use them.
	URLs  []string `json:"urls,omitempty"`
	WHEPs []string `json:"wheps,omitempty"`
	// WHIP, if set, is the endpoint built-in publishers send to.
	WHIP string `json:"whip,omitempty"`
	// Subscribers to start, at Rate per second (open model).
	Subscribers int     `json:"subscribers"`
	Rate        float64 `json:"rate"`
	// Publishers is the number of built-in publishers (the looping VP8+Opus
	// clip) started before the subscribers; 0 expects media already there.
	Publishers int `json:"publishers"`
	// Simulcast makes the built-in publishers send three layers (publish's
	// Simulcast).
	Simulcast bool `json:"simulcast,omitempty"`
	// Duration is how long every subscriber is held after the last one
	// reached its first frame (or failed).
	Duration time.Duration `json:"duration"`
	// Timeout bounds each subscriber's way to its first frame.
	Timeout time.Duration `json:"timeout"`
	// Grace is the wait, after the counting window closes, for
	// retransmissions of packets lost just before it.
	Grace time.Duration `json:"grace"`
	// Auth is how subscribers and publishers authenticate: a token minted
	// for each (its room, identity and the one grant it needs), or one
	// given token, which fits WHIP/WHEP sessions (they carry no identity
	// of their own) and at most one session over /ws (it then joins as the
	// token's identity).
	Auth auth.Credentials `json:"auth,omitzero"`
	// Layer asks a simulcast server for at most this layer ("q", "h" or
	// "f") for every subscriber, as probe's Layer does (WHEP ?layer=, /ws
	// set_quality).
	Layer string `json:"layer,omitempty"`
	// ShapeRateBps, if set, holds the path into each of the first Shaped
	// subscribers (all when Shaped is 0) to this rate, with netshape's
	// queue (tc tbf's way) on its UDP socket: viewers on a narrow path
	// without root or network namespaces.
	ShapeRateBps int64 `json:"shape_rate_bps,omitempty"`
	Shaped       int   `json:"shaped,omitempty"`
	// BindIP is the local address of the subscribers' UDP sockets; empty
	// picks the address this machine uses toward the target.
	BindIP string `json:"bind_ip,omitempty"`
	// StatsURL is a server /v1/stats sampled each second; ServerPID a
	// server process on this machine whose CPU and RSS are read from /proc.
	StatsURL  string `json:"stats_url,omitempty"`
	ServerPID int    `json:"server_pid,omitempty"`
	// TLS is what https:// and wss:// connections trust (--insecure,
	// --ca); children get it with the rest of the options.
	TLS tlsconf.Client `json:"tls,omitzero"`
	// RunID names identities so that runs do not collide; Offset numbers
	// this process's subscribers after those of earlier child processes.
	RunID  string `json:"run_id"`
	Offset int    `json:"offset,omitempty"`
	// Procs is informational in a child (the parent's --procs).
	Procs int `json:"procs,omitempty"`
	// Shard says this process runs one part of a run split over several
	// machines (--shard); ForShard gives that part's options.
	Shard bench.Shard `json:"shard,omitzero"`

	// WrapConn, if set, wraps each subscriber's UDP socket (tests put a
	// lossy network in the path with it).
	WrapConn func(net.PacketConn) net.PacketConn `json:"-"`
	Logger   *slog.Logger                        `json:"-"`

	// fixed is the grant of the given token the run's one /ws session
	// joins with (Auth.Fixed).
	fixed *auth.Grant
}

// Defaults fills unset fields.
func (o *Options) Defaults() {
	o.URL, o.URLs = bench.FirstOf(o.URL, o.URLs)
	o.WHEP, o.WHEPs = bench.FirstOf(o.WHEP, o.WHEPs)
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Second
	}
	if o.Grace <= 0 {
		o.Grace = 500 * time.Millisecond
	}
	if o.RunID == "" {
		o.RunID = bench.NewRunID()
	}
	if o.Procs <= 0 {
		o.Procs = 1
	}
}

// shaped reports whether subscriber id's path is held to ShapeRateBps.
func (o *Options) shaped(id int) bool {
	return o.ShapeRateBps > 0 && (o.Shaped == 0 || id < o.Shaped)
}

// Protocol is how subscribers reach the server.
func (o *Options) Protocol() string {
	if o.WHEP != "" {
		return ProtocolWHEP
	}
	return ProtocolLivectl
}

// Target is the subscribers' URL (the first, when there are several).
func (o *Options) Target() string {
	if o.WHEP != "" {
		return o.WHEP
	}
	return o.URL
}

// Targets are the URLs subscribers spread over.
func (o *Options) Targets() []string {
	if o.WHEP != "" {
		return bench.Targets(o.WHEP, o.WHEPs)
	}
	return bench.Targets(o.URL, o.URLs)
}

// subscriberTarget is the URL subscriber id plays from.
func (o *Options) subscriberTarget(id int) string { return bench.TargetOf(o.Targets(), id) }

// resultTarget is what subscriber id's result records as its target: its
// URL when there are several, else nothing (the report's target says it).
func (o *Options) resultTarget(id int) string {
	if len(o.Targets()) < 2 {
		return ""
	}
	return o.subscriberTarget(id)
}

// PublishURL is where built-in publishers send.
func (o *Options) PublishURL() string {
	if o.WHIP != "" {
		return o.WHIP
	}
	return o.URL
}

// wsSessions is how many identities of the run's own naming join over /ws.
func (o *Options) WSSessions() int {
	n := 0
	if o.WHEP == "" {
		n += o.Subscribers
	}
	if o.WHIP == "" {
		n += o.Publishers
	}
	return n
}

// session is the room, identity and token of a subscriber (or, with
// publisher set, a built-in publisher) numbered i.
func (o *Options) session(i int, publisher bool) (room, identity, token string, err error) {
	u, role := o.Target(), "-sub-"
	if publisher {
		u, role = o.PublishURL(), "-pub-"
	}
	room, identity = o.Room, "bench-"+o.RunID+role+strconv.Itoa(i)
	if !peer.IsWebSocketURL(u) {
		room = peer.EndpointRoom(u)
	} else if o.fixed != nil {
		identity = o.fixed.Identity
	}
	ttl := time.Duration(float64(o.Subscribers)/o.Rate*float64(time.Second)) + o.Duration + o.Timeout + time.Hour
	token, err = o.Auth.For(auth.Grant{Room: room, Identity: identity, Publish: publisher, Subscribe: !publisher}, ttl)
	return room, identity, token, err
}

// ForShard is this process's part of the run that o describes whole
// when o.Shard splits it: its block of the subscribers (numbered over the
// whole run, so identities are those of one run of them all) and its
// share of the rate. Shard 0 alone starts the built-in publishers, as one
// run would start them once. The run id must be the one every shard uses.
func (o Options) ForShard() (Options, error) {
	o.Defaults()
	sh, err := o.Shard.Of(o.Subscribers, o.Rate)
	if err != nil {
		return o, err
	}
	o.Subscribers, o.Offset, o.Rate = sh.N, o.Offset+sh.Offset, sh.Rate
	if o.Shard.Index > 0 {
		o.Publishers = 0
	}
	return o, nil
}

// Redacted is o for a report's settings: its credentials are only said
// to be there.
func (o Options) Redacted() Options {
	o.Auth = o.Auth.Redacted()
	return o
}

// Validate checks options that a CLI would otherwise catch; it is used for
// options arriving as JSON in a child process as well.
func (o *Options) Validate() error {
	var errs []error
	if o.URL == "" && o.WHEP == "" {
		errs = append(errs, errors.New("a livectl URL (ws://…/ws) or a WHEP endpoint is required"))
	}
	if o.WHEP == "" && o.Room == "" {
		errs = append(errs, errors.New("a room is required with a ws:// URL"))
	}
	if o.Subscribers <= 0 {
		errs = append(errs, fmt.Errorf("subscribers must be positive, got %d", o.Subscribers))
	}
	if o.Rate <= 0 {
		errs = append(errs, fmt.Errorf("rate must be positive, got %g", o.Rate))
	}
	if o.Publishers < 0 {
		errs = append(errs, fmt.Errorf("publishers must not be negative, got %d", o.Publishers))
	}
	if o.Publishers > 0 && o.WHIP == "" && o.URL == "" {
		errs = append(errs, errors.New("built-in publishers need a WHIP endpoint or a livectl ws:// URL"))
	}
	if o.Layer != "" && !probe.ValidLayer(o.Layer) {
		errs = append(errs, fmt.Errorf("layer %q: want q, h or f", o.Layer))
	}
	if o.ShapeRateBps < 0 || o.Shaped < 0 {
		errs = append(errs, fmt.Errorf("shape rate and shaped subscribers must not be negative, got %d and %d", o.ShapeRateBps, o.Shaped))
	}
	if _, err := o.Auth.Fixed(o.WSSessions()); err != nil {
		errs = append(errs, err)
	}
	if len(o.URLs) > 0 && o.URL != o.URLs[0] || len(o.WHEPs) > 0 && o.WHEP != o.WHEPs[0] {
		errs = append(errs, errors.New("url and whep must be the first of their lists"))
	}
	for _, u := range slices.Concat([]string{o.URL, o.WHEP, o.WHIP}, o.URLs, o.WHEPs) {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || p.Host == "" {
			errs = append(errs, fmt.Errorf("invalid URL %q", u))
		}
	}
	return errors.Join(errs...)
}

// FDsPerSubscriber is the descriptors one subscriber holds in this process:
// its UDP socket, plus its signaling connection over /ws (WHEP requests
// reuse a few pooled HTTP connections).
func FDsPerSubscriber(protocol string) int {
	if protocol == ProtocolWHEP {
		return 1
	}
	return 2
}
