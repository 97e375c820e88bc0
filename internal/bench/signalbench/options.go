package signalbench

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

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
	// Conns is the number of sessions to open.
	Conns int `json:"conns"`
	// Rate is the connection attempts per second of the ramp. Attempts start
	// on schedule whether or not earlier ones finished (an open model).
	Rate float64 `json:"rate"`
	// Duration is how long every session is held open after the ramp.
	Duration time.Duration `json:"duration"`
	// PingInterval is how often each session measures a round trip; 0 turns pings off.
	PingInterval time.Duration `json:"ping_interval"`
	// Rooms spreads sessions round-robin over this many rooms; otherwise
	// RoomSize fills rooms of that many sessions one after the other.
	Rooms    int `json:"rooms,omitempty"`
	RoomSize int `json:"room_size,omitempty"`
	// RunID prefixes room and identity names so runs do not collide.
	RunID string `json:"run_id"`
	// Token is sent in join requests; Header with the upgrade request.
	Token  string      `json:"token,omitempty"`
	Header http.Header `json:"header,omitempty"`
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
}

// Defaults fills unset fields.
func (o *Options) Defaults() {
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
}

// room is the room of session i (numbered over all processes).
func (o *Options) room(i int) string {
	n := 0
	if o.Rooms > 0 {
		n = i % o.Rooms
	} else {
		n = i / o.RoomSize
	}
	return "bench-" + o.RunID + "-" + strconv.Itoa(n)
}

// RoomCount is the number of rooms the run uses.
func (o *Options) RoomCount() int {
	if o.Rooms > 0 {
		return min(o.Rooms, o.Conns)
	}
	return (o.Conns + o.RoomSize - 1) / o.RoomSize
}

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

// Validate checks options that a CLI would otherwise catch; it is used for
// options arriving as JSON in a child process as well.
func (o *Options) Validate() error {
	var errs []error
	if o.URL == "" {
		errs = append(errs, errors.New("url is required"))
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
	return errors.Join(errs...)
}
