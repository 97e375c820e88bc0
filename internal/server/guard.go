package server

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Every request on both listeners passes guard: its Host must be one of
// the listener's own names (DNS rebinding), and its body must arrive within
// Limits.BodyReadTimeout. Serve also caps each listener's HTTP connections that
// are not WebSockets (connGate).

// DefaultMaxHTTPConns is the least cap on a listener's plain HTTP
// connections (a request in progress, or idle keep-alive), WebSockets not
// counted. Unset, the cap is half of MaxConns when that is more: every
// /ws client is a plain HTTP connection until its upgrade, and when a
// connect storm outruns the server (19,000 sessions at 2,000/s, the ramp
// 1.4 s behind) a cap of 1,024 closed 800–2,100 handshakes in progress.
const DefaultMaxHTTPConns = 1024

// maxHTTPConnsFor is the cap on plain HTTP connections when none is set.
func maxHTTPConnsFor(maxConns int) int { return max(DefaultMaxHTTPConns, maxConns/2) }

// BodyReadTimeout is how long a request's body may take to arrive: a
// handler that reads one says so when it was cut.
func (s *Server) BodyReadTimeout() time.Duration {
	if d := s.cfg.Limits.BodyReadTimeout; d > 0 {
		return d
	}
	return DefaultBodyReadTimeout
}

// guard wraps a listener's routes with the Host check and the body deadline.
func (s *Server) guard(next http.Handler, allowed []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r, allowed) {
			s.log.Debug("refused request for a host this server is not", "host", r.Host, "remote", r.RemoteAddr)
			http.Error(w, "this server does not answer to host "+strings.ReplaceAll(r.Host, "\n", "")+" (DNS rebinding protection)", http.StatusMisdirectedRequest)
			return
		}
		limitBody(w, r, s.BodyReadTimeout())
		next.ServeHTTP(w, r)
	})
}

// hostAllowed says whether r's Host names this server: localhost, a
// loopback IP, the IP the request arrived on, or a name in allowed (host
// or host:port; "*" allows any). The port is not compared: proxies and
// port mappings change it. A DNS-rebinding page reaches the server under
// its own domain name, which is none of these.
func hostAllowed(r *http.Request, allowed []string) bool {
	host := r.Host
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.ToLower(strings.Trim(name, "[]")), ".")
	if name == "localhost" {
		return true
	}
	if ip := net.ParseIP(name); ip != nil {
		if ip.IsLoopback() {
			return true
		}
		if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if tcp, ok := la.(*net.TCPAddr); ok && tcp.IP.Equal(ip) {
				return true
			}
		}
	}
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(a, name) || strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

// limitBody gives r's body, if it has one, timeout to arrive. The
// deadline is lifted once the body has been read: net/http then watches
// the connection for the client going away, and a deadline would cancel a
// long response (a 30 s CPU profile). A body never read keeps it, so
// net/http's discarding of it after the handler ends at the deadline and
// the connection is closed.
func limitBody(w http.ResponseWriter, r *http.Request, timeout time.Duration) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(timeout)) != nil {
		return
	}
	r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
}

type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// connGate caps one listener's plain HTTP connections (http.Server
// ConnState): at the cap, a new connection closes the one that has been
// idle longest, or else the oldest. Connections that become WebSockets
// leave the gate (they count towards --max-conns instead). Without it, held
// requests and idle keep-alives could use every descriptor the process may
// open, and /healthz and /ws stopped answering.
type connGate struct {
	max int

	mu    sync.Mutex
	seq   uint64
	conns map[net.Conn]gateEntry
}

type gateEntry struct {
	seq  uint64 // order of arrival, or of going idle
	idle bool
}

func newConnGate(max int) *connGate {
	return &connGate{max: max, conns: make(map[net.Conn]gateEntry)}
}

// track is the http.Server's ConnState hook.
func (g *connGate) track(c net.Conn, st http.ConnState) {
	var victim net.Conn
	g.mu.Lock()
	g.seq++
	switch st {
	case http.StateNew:
		if len(g.conns) >= g.max {
			victim = g.victimLocked()
			delete(g.conns, victim)
		}
		g.conns[c] = gateEntry{seq: g.seq}
	case http.StateIdle, http.StateActive:
		if _, ok := g.conns[c]; ok {
			g.conns[c] = gateEntry{seq: g.seq, idle: st == http.StateIdle}
		}
	case http.StateHijacked, http.StateClosed:
		delete(g.conns, c)
	}
	g.mu.Unlock()
	if victim != nil {
		victim.Close()
	}
}

// victimLocked picks the connection to close: idle longest, else oldest.
func (g *connGate) victimLocked() net.Conn {
	var victim net.Conn
	var best gateEntry
	for c, e := range g.conns {
		if victim == nil || e.idle && !best.idle || e.idle == best.idle && e.seq < best.seq {
			victim, best = c, e
		}
	}
	return victim
}
