package signalbench

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/tlsconf"
)

// Protocols of the signal generator.
const (
	ProtocolLivectl = "livectl" // livectl's signaling protocol: welcome, join, ping, leave
	ProtocolRaw     = "raw"     // any WebSocket server: send/expect scripted messages
)

// Options configure one run of the signaling generator. They travel as
// JSON to child processes (--procs), so every field is serialisable.
type Options struct {
	URL string `json:"url"`
	// URLs, when the run spreads over several targets (the nodes of a
	// cluster), lists them all; session i goes to URLs[i % len(URLs)], and
	// URL is the first (Defaults sets it), which the run's server sampling
	// and local-address checks use.
	URLs []string `json:"urls,omitempty"`
	// Conns is the number of sessions to open.
	Conns int `json:"conns"`
	// RunConns is the whole run's sessions when this process opens a share
	// of them (--procs); room sizes are figured from it. Defaults to Conns.
	RunConns int `json:"run_conns,omitempty"`
	// Rate is the connection attempts per second of the ramp. Attempts start
	// on schedule whether or not earlier ones finished (an open model).
	Rate float64 `json:"rate"`
	// Duration is how long every session is held open after the ramp.
	Duration time.Duration `json:"duration"`
	// PingInterval is how often each session measures a round trip; 0 turns pings off.
	PingInterval time.Duration `json:"ping_interval"`
	// Rooms spreads sessions round-robin over this many rooms; otherwise
	// RoomSize fills rooms of that many sessions one after the other. Both
	// describe the same thing, a partition of the run's sessions: one room
	// of the whole run is Rooms 1 or RoomSize Conns.
	Rooms    int `json:"rooms,omitempty"`
	RoomSize int `json:"room_size,omitempty"`
	// ChatRate is the chat messages per second sent into each room during
	// the hold, on schedule (an open model); 0 sends none. ChatSenders of
	// each room's members (its first joiners) take turns sending them.
	ChatRate    float64 `json:"chat_rate,omitempty"`
	ChatSenders int     `json:"chat_senders,omitempty"`
	// Hello are raw-mode frames sent in order right after connecting (a
	// handshake: authenticate, subscribe) before the session counts as
	// established.
	Hello []string `json:"hello,omitempty"`
	// RunID prefixes room and identity names so runs do not collide.
	RunID string `json:"run_id"`
	// Auth is how livectl sessions authenticate: a token minted per
	// session for its room and identity, or one given token, which fits
	// only a run of one session (it then joins the token's room as its
	// identity). Header goes with the upgrade request.
	Auth   auth.Credentials `json:"auth,omitzero"`
	Header http.Header      `json:"header,omitempty"`
	// SourceIPs are the local addresses dials are spread over; empty lets
	// the kernel choose.
	SourceIPs []net.IP `json:"source_ips,omitempty"`
	// ConnectTimeout bounds dial+upgrade+welcome; RequestTimeout each join,
	// ping and leave.
	ConnectTimeout time.Duration `json:"connect_timeout"`
	RequestTimeout time.Duration `json:"request_timeout"`

	// Protocol is ProtocolLivectl (default) or ProtocolRaw.
	Protocol string `json:"protocol,omitempty"`
	// Send is the raw-mode message sent every PingInterval; Expect says
	// which reply ends the round trip (empty: any frame).
	Send   string  `json:"send,omitempty"`
	Expect Matcher `json:"expect"`

	// Offset numbers this process's sessions after those of earlier child
	// processes, so that room membership is the same as in one process.
	Offset int `json:"offset,omitempty"`
	// StatsURL is the server's /v1/stats, sampled before and after the ramp
	// to report the server's cost per session; empty skips it.
	StatsURL string `json:"stats_url,omitempty"`
	// ServerPID, when the server runs on this machine, lets the report
	// include the server's RSS per session (from /proc).
	ServerPID int `json:"server_pid,omitempty"`
	// TLS is what wss:// connections trust (--insecure, --ca); children
	// get it with the rest of the options.
	TLS tlsconf.Client `json:"tls,omitzero"`
	// Shard says this process runs one part of a run split over several
	// machines (--shard); ForShard gives that part's options.
	Shard bench.Shard `json:"shard,omitzero"`

	// fixed is the grant of a given token that the run's one session
	// joins with (Auth.Fixed), set by NewRun.
	fixed *auth.Grant
}

// Defaults fills unset fields.
func (o *Options) Defaults() {
	o.URL, o.URLs = bench.FirstOf(o.URL, o.URLs)
	if o.Protocol == "" {
		o.Protocol = ProtocolLivectl
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.Rooms <= 0 && o.RoomSize <= 0 {
		o.RoomSize = 10
	}
	if o.RunID == "" {
		o.RunID = bench.NewRunID()
	}
	if o.RunConns <= 0 {
		o.RunConns = o.Conns
	}
}

// targets are the URLs sessions are spread over (one, or URLs).
func (o *Options) targets() []string { return bench.Targets(o.URL, o.URLs) }

// target is the URL of session i (numbered over all processes).
func (o *Options) target(i int) string { return bench.TargetOf(o.targets(), i) }

// roomIndex is the number of session i's room (sessions numbered over
// all processes); member is i's place among its room's members in the
// order they join (0 first).
func (o *Options) roomIndex(i int) int {
	if o.Rooms > 0 {
		return i % o.Rooms
	}
	return i / o.RoomSize
}

func (o *Options) member(i int) int {
	if o.Rooms > 0 {
		return i / o.Rooms
	}
	return i % o.RoomSize
}

// room is the name of session i's room.
func (o *Options) room(i int) string {
	if o.fixed != nil {
		return o.fixed.Room
	}
	return roomName(o.RunID, o.roomIndex(i))
}

// identity is session i's identity.
func (o *Options) identity(i int) string {
	if o.fixed != nil {
		return o.fixed.Identity
	}
	return "bench-" + o.RunID + "-" + strconv.Itoa(i)
}

// token is what session i presents in its join: one minted for its room,
// identity and grants (chat for the room's senders), valid for the whole
// run, or the given token.
func (o *Options) token(i int) (string, error) {
	ramp := time.Duration(float64(o.RunConns) / o.Rate * float64(time.Second))
	ttl := ramp + o.Duration + o.ConnectTimeout + 3*o.RequestTimeout + time.Hour
	return o.Auth.For(auth.Grant{Room: o.room(i), Identity: o.identity(i),
		Chat: o.ChatRate > 0 && o.member(i) < o.chatSenders()}, ttl)
}

func roomName(runID string, n int) string { return "bench-" + runID + "-" + strconv.Itoa(n) }

// RoomCount is the number of rooms the whole run uses (all processes).
func (o *Options) RoomCount() int {
	if o.Rooms > 0 {
		return min(o.Rooms, o.RunConns)
	}
	return (o.RunConns + o.RoomSize - 1) / o.RoomSize
}

// LargestRoom is how many members the run's largest room has.
func (o *Options) LargestRoom() int {
	if o.Rooms > 0 {
		return (o.RunConns + o.Rooms - 1) / o.Rooms
	}
	return min(o.RoomSize, o.RunConns)
}

// chatSenders is how many members of each room send chat: ChatSenders,
// or by default enough that each sends at most defaultSenderRate (under
// livectl serve's default per-sender limit), never more than a room holds.
func (o *Options) chatSenders() int {
	k := o.ChatSenders
	if k <= 0 {
		k = int(math.Ceil(o.ChatRate / defaultSenderRate))
	}
	return max(1, min(k, o.LargestRoom()))
}

// defaultSenderRate is the chat messages per second one sender sends when
// --chat-senders is not given: below livectl serve's default --chat-rate
// of 5/s per sender.
const defaultSenderRate = 4

// MaxSourceIPs bounds --source-ips ranges.
const MaxSourceIPs = 4096

// ParseSourceIPs reads a list of local IPv4 addresses: comma-separated items,
// each an address, a range "127.0.0.1-127.0.0.8" or a CIDR "127.0.1.0/29".
func ParseSourceIPs(s string) ([]net.IP, error) {
	var out []net.IP
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var lo, hi uint32
		switch {
		case strings.Contains(item, "/"):
			_, n, err := net.ParseCIDR(item)
			if err != nil || n.IP.To4() == nil {
				return nil, fmt.Errorf("invalid source address block %q: want IPv4 CIDR such as 127.0.1.0/29", item)
			}
			ones, bits := n.Mask.Size()
			lo = binary.BigEndian.Uint32(n.IP.To4())
			hi = lo | (1<<(bits-ones) - 1)
		case strings.Contains(item, "-"):
			a, b, _ := strings.Cut(item, "-")
			ia, ib := net.ParseIP(strings.TrimSpace(a)).To4(), net.ParseIP(strings.TrimSpace(b)).To4()
			if ia == nil || ib == nil {
				return nil, fmt.Errorf("invalid source address range %q: want e.g. 127.0.0.1-127.0.0.8", item)
			}
			lo, hi = binary.BigEndian.Uint32(ia), binary.BigEndian.Uint32(ib)
			if hi < lo {
				return nil, fmt.Errorf("invalid source address range %q: end before start", item)
			}
		default:
			ip := net.ParseIP(item).To4()
			if ip == nil {
				return nil, fmt.Errorf("invalid source address %q: want an IPv4 address", item)
			}
			lo = binary.BigEndian.Uint32(ip)
			hi = lo
		}
		if int(hi-lo)+1+len(out) > MaxSourceIPs || hi-lo >= MaxSourceIPs {
			return nil, fmt.Errorf("too many source addresses in %q: at most %d", s, MaxSourceIPs)
		}
		for v := lo; ; v++ {
			ip := make(net.IP, 4)
			binary.BigEndian.PutUint32(ip, v)
			out = append(out, ip)
			if v == hi {
				break
			}
		}
	}
	return out, nil
}

// CheckLocal verifies that every address can be bound on this machine, so a
// typo fails before the run instead of as thousands of dial errors.
func CheckLocal(ips []net.IP) error {
	for _, ip := range ips {
		c, err := net.ListenPacket("udp4", net.JoinHostPort(ip.String(), "0"))
		if err != nil {
			return fmt.Errorf("source address %s is not local to this machine: %w", ip, err)
		}
		c.Close()
	}
	return nil
}

// Matcher decides whether a raw-mode frame is the expected reply. Its text
// form is either plain text, matched as a substring, or "json:PATH=VALUE",
// which matches a JSON object whose field at the dotted PATH renders as VALUE.
type Matcher struct {
	Text  string `json:"text,omitempty"`
	Path  string `json:"path,omitempty"`
	Value string `json:"value,omitempty"`
}

// ParseMatcher reads an --expect value.
func ParseMatcher(s string) (Matcher, error) {
	rest, ok := strings.CutPrefix(s, "json:")
	if !ok {
		return Matcher{Text: s}, nil
	}
	path, value, ok := strings.Cut(rest, "=")
	if !ok || path == "" {
		return Matcher{}, fmt.Errorf("invalid expectation %q: want json:field.path=value, e.g. json:type=pong", s)
	}
	return Matcher{Path: path, Value: value}, nil
}

// Match reports whether frame satisfies m. The zero Matcher matches anything.
func (m Matcher) Match(frame []byte) bool {
	if m.Path == "" {
		return m.Text == "" || strings.Contains(string(frame), m.Text)
	}
	var v any
	if err := json.Unmarshal(frame, &v); err != nil {
		return false
	}
	for _, key := range strings.Split(m.Path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = obj[key]; !ok {
			return false
		}
	}
	switch x := v.(type) {
	case string:
		return x == m.Value
	case nil:
		return m.Value == "null"
	default:
		b, _ := json.Marshal(x)
		return string(b) == m.Value
	}
}

// String is the --expect form of m.
func (m Matcher) String() string {
	if m.Path != "" {
		return "json:" + m.Path + "=" + m.Value
	}
	return m.Text
}

// ForShard is this process's part of the run that o describes whole
// when o.Shard splits it: its block of the sessions (numbered over the
// whole run, so rooms and identities are those of one run of them all) and
// its share of the rate. The run id must be the one every shard uses.
func (o Options) ForShard() (Options, error) {
	o.Defaults()
	sh, err := o.Shard.Of(o.Conns, o.Rate)
	if err != nil {
		return o, err
	}
	o.RunConns = o.Conns
	o.Conns, o.Offset, o.Rate = sh.N, o.Offset+sh.Offset, sh.Rate
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
	if o.URL == "" {
		errs = append(errs, errors.New("url is required"))
	}
	if len(o.URLs) > 0 && o.URL != o.URLs[0] {
		errs = append(errs, fmt.Errorf("url %q must be the first of urls %q", o.URL, o.URLs))
	}
	if o.Conns <= 0 {
		errs = append(errs, fmt.Errorf("conns must be positive, got %d", o.Conns))
	}
	if o.Rate <= 0 {
		errs = append(errs, fmt.Errorf("rate must be positive, got %g", o.Rate))
	}
	if o.Protocol != ProtocolLivectl && o.Protocol != ProtocolRaw {
		errs = append(errs, fmt.Errorf("protocol must be livectl or raw, got %q", o.Protocol))
	}
	if o.Rooms < 0 || o.RoomSize < 0 {
		errs = append(errs, errors.New("rooms and room size must not be negative"))
	}
	if o.Rooms > 0 && o.RoomSize > 0 {
		errs = append(errs, errors.New("give rooms or room size, not both"))
	}
	if o.ChatRate < 0 || o.ChatSenders < 0 {
		errs = append(errs, errors.New("chat rate and chat senders must not be negative"))
	}
	if o.ChatRate > 0 && o.Protocol == ProtocolRaw {
		errs = append(errs, errors.New("chat is for the livectl protocol; raw mode sends --send"))
	}
	if len(o.Hello) > 0 && o.Protocol != ProtocolRaw {
		errs = append(errs, errors.New("hello frames are for the raw protocol; livectl sessions join"))
	}
	if o.Protocol == ProtocolRaw && o.Auth != (auth.Credentials{}) {
		errs = append(errs, errors.New("tokens go in livectl join requests; a raw-mode server takes its credentials in a header or hello frame"))
	}
	if o.Protocol == ProtocolLivectl {
		if _, err := o.Auth.Fixed(o.RunConns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
