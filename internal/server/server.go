// Package server is the HTTP side of `livectl serve`: WebSocket signaling on
// GET /ws (rooms, membership events, ping), health and readiness, the
// /v1/stats document, Prometheus metrics, the admin listener (pprof) and the
// drain on shutdown. The media plane plugs in through MediaPlane (media.go);
// whoever builds the server passes it in Config and mounts its routes with
// Handle (internal/sfu does both for the SFU; this package does not import
// it).
//
// Data path: socket → read loop (one goroutine per connection) → decode
// (internal/signal) → room registry → per-connection bounded send queue →
// write loop, a goroutine that exists only while the queue is non-empty.
// Fan-out never blocks: a connection whose queue overflows is dropped with
// close code 4008 and counted.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/signal"
)

// Limits bound what clients can make the server hold. Zero fields take the
// defaults below.
type Limits struct {
	MaxConns        int   // open /ws connections
	MaxRooms        int   // rooms at once
	MaxParticipants int   // participants per room
	MaxMessageSize  int64 // bytes per inbound frame
	SendQueue       int   // frames queued per connection before it is dropped
	// MaxHTTPConns caps each listener's plain HTTP connections (requests
	// in progress and idle keep-alives; WebSockets not counted): at the
	// cap a new one closes the longest idle, else the oldest (Serve only).
	MaxHTTPConns int
	// RequestRate is how many requests (frames) per second a connection
	// may send, sustained, and RequestBurst how many at once; join and
	// leave count as 5 each (each sends an event to every member of the
	// room). A request over the limit gets rate_limited and is not
	// executed. math.Inf(1) turns the limit off.
	RequestRate  float64
	RequestBurst int
	// BodyReadTimeout bounds reading a request's body, on every route of
	// both listeners (0: DefaultBodyReadTimeout).
	BodyReadTimeout time.Duration
}

// Default limits.
const (
	DefaultMaxConns        = 10000
	DefaultMaxRooms        = 10000
	DefaultMaxParticipants = 100000
	DefaultSendQueue       = 256
	DefaultWriteTimeout    = 10 * time.Second
	DefaultPingInterval    = 30 * time.Second
	DefaultDrainTimeout    = 30 * time.Second
	// DefaultBodyReadTimeout: a client that sent headers announcing a body
	// and then nothing held its connection (and a file descriptor) for
	// ever; 220 such held a server at its descriptor limit.
	DefaultBodyReadTimeout = 10 * time.Second
)

// Refused tokens are logged at most rejectLogRate lines a second after a
// burst of rejectLogBurst; /metrics counts every one.
const (
	rejectLogRate  = 2
	rejectLogBurst = 5
)

// closeGrace bounds the close handshake: how long a close frame may take to
// write and how long the server then waits for the client's reply.
const closeGrace = time.Second

// maxBadFrames is how many malformed frames in a row end a connection (4002).
const maxBadFrames = 10

// Config configures a Server. The zero value serves signaling with no auth,
// same-origin browsers only, and default limits.
type Config struct {
	Limits Limits
	// AuthSecret, when set, requires a token (internal/auth) on every join.
	// It also keeps /v1/stats and /metrics, which name every room and its
	// traffic, off the public listener unless PublicStats is set.
	AuthSecret []byte
	// PublicStats serves /v1/stats and /metrics on the public listener
	// with auth on too (without auth they always are).
	PublicStats bool
	// AllowedOrigins lists browser origins (scheme://host[:port]) allowed to
	// open /ws besides the server's own host; "*" allows any.
	AllowedOrigins []string
	// AllowAllOrigins turns origin checking off (--dev).
	AllowAllOrigins bool
	// AllowedHosts lists the names (host or host:port, "*" for any) the
	// public listener answers to besides localhost, loopback IPs and the
	// IP a request arrived on; other Host values get 421 (DNS rebinding).
	AllowedHosts []string
	// AdminAllowedHosts is the same for the admin listener.
	AdminAllowedHosts []string
	// WriteTimeout bounds each frame write; a client that does not take a
	// frame in time is dropped.
	WriteTimeout time.Duration
	// PingInterval is how often the server pings each connection; one silent
	// for two intervals is dropped as dead.
	PingInterval time.Duration
	// DrainTimeout is how long Serve waits for clients after a shutdown signal.
	DrainTimeout time.Duration
	// Version is reported in /v1/stats.
	Version string
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// MediaPlane serves publish/subscribe/answer/trickle/unpublish; nil:
	// signaling only. The server closes it when it closes.
	MediaPlane MediaPlane
	// OnRefused is told of each client refused because of the server's
	// configuration: a *LimitError or an *OriginError. It runs on the
	// refusing goroutine, at times with the room registry locked: it must
	// return quickly and must not call the Server. serve logs these with
	// the flag that would change the outcome; clients get only the reason.
	OnRefused func(error)
	// Rooms shapes large rooms and their chat (room.go).
	Rooms RoomsConfig
	// Cluster, when set, links rooms across nodes (cluster.go); nil: one
	// node.
	Cluster Cluster
	// Handlers are extra routes on the public listener ("/" for the demo
	// page, for example), mounted by New.
	Handlers map[string]http.Handler
}

// Server is the signaling server. Create it with New, serve it with Serve
// (or mount Handler and AdminHandler yourself), end it with Close.
type Server struct {
	cfg   Config
	log   *slog.Logger
	media MediaPlane
	start time.Time

	mux      *http.ServeMux
	admin    *http.ServeMux
	public   http.Handler // mux behind guard
	private  http.Handler // admin behind guard
	upgrader websocket.Upgrader

	ctx    context.Context // cancelled by Close; passed to media Handle
	cancel context.CancelFunc

	mu       sync.Mutex
	sessions map[*session]struct{}
	admitted int // sessions with admitted set
	closed   bool

	reg   registry
	slots outsideSlots // WHIP/WHEP sessions (outside.go)

	draining      atomic.Bool
	drainDeadline atomic.Int64 // unix nanoseconds

	wg        sync.WaitGroup // read loops, write loops, the pinger
	pingStop  chan struct{}
	closeOnce sync.Once

	counters counters
	// rejectLog bounds the lines logged about refused tokens.
	rejectLog *rate.Limiter
	metrics   *promMetrics
}

// New builds a server from cfg, filling in defaults.
func New(cfg Config) (*Server, error) {
	l := &cfg.Limits
	if l.MaxConns <= 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.MaxRooms <= 0 {
		l.MaxRooms = DefaultMaxRooms
	}
	if l.MaxParticipants <= 0 {
		l.MaxParticipants = DefaultMaxParticipants
	}
	if l.MaxMessageSize <= 0 {
		l.MaxMessageSize = signal.DefaultMaxMessageSize
	}
	if l.SendQueue <= 0 {
		l.SendQueue = DefaultSendQueue
	}
	if l.MaxHTTPConns <= 0 {
		l.MaxHTTPConns = maxHTTPConnsFor(l.MaxConns)
	}
	cfg.Rooms.fillDefaults()
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			continue
		}
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("allowed origin %q is not scheme://host[:port] (e.g. https://example.com)", o)
		}
	}

	s := &Server{
		cfg:       cfg,
		log:       log,
		rejectLog: rate.NewLimiter(rejectLogRate, rejectLogBurst),
		media:     cfg.MediaPlane,
		start:     time.Now(),
		mux:       http.NewServeMux(),
		admin:     http.NewServeMux(),
		sessions:  make(map[*session]struct{}),
		pingStop:  make(chan struct{}),
	}
	s.reg.rooms = make(map[string]*room)
	s.slots.inRoom = make(map[string]int)
	s.reg.cfg = cfg.Rooms
	s.reg.cluster = cfg.Cluster
	s.reg.pace = updatePace
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		// Small read buffers and a shared write-buffer pool keep an idle
		// connection cheap: it holds 512 bytes of read buffer and no write
		// buffer. Larger frames are read in more calls.
		ReadBufferSize:  512,
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
		Subprotocols:    []string{signal.Subprotocol},
		// Origins are checked in serveWS, which tells OnRefused.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	s.metrics = newMetrics(s)

	s.mux.HandleFunc("GET /ws", s.serveWS)
	s.mux.HandleFunc("GET /healthz", s.serveHealthz)
	s.mux.HandleFunc("GET /readyz", s.serveReadyz)
	if s.PublicStats() {
		s.mux.HandleFunc("GET /v1/stats", s.serveStats)
		s.mux.Handle("GET /metrics", s.metrics.handler())
	}
	for pattern, h := range cfg.Handlers {
		s.mux.Handle(pattern, h)
	}

	s.admin.Handle("GET /metrics", s.metrics.handler())
	// /v1/stats here too, so that one --target (livectl inspect bundle)
	// gets an incident's profiles and the server's figures together.
	s.admin.HandleFunc("GET /v1/stats", s.serveStats)
	s.admin.HandleFunc("/debug/pprof/", pprof.Index)
	// No /debug/pprof/cmdline: the command line may hold --auth-secret.
	s.admin.HandleFunc("/debug/pprof/profile", pprof.Profile)
	s.admin.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	s.admin.HandleFunc("/debug/pprof/trace", pprof.Trace)

	s.public = s.guard(s.mux, cfg.AllowedHosts)
	s.private = s.guard(s.admin, cfg.AdminAllowedHosts)

	s.wg.Add(1)
	go s.pinger()
	return s, nil
}

// PublicStats reports whether the public listener serves /v1/stats and
// /metrics: without auth, or with Config.PublicStats.
func (s *Server) PublicStats() bool { return len(s.cfg.AuthSecret) == 0 || s.cfg.PublicStats }

// Handler serves the public routes: /ws, /healthz, /readyz, /v1/stats and
// /metrics (when PublicStats), and any mounted with Handle.
func (s *Server) Handler() http.Handler { return s.public }

// AdminHandler serves /debug/pprof/* (not cmdline), /metrics and
// /v1/stats; mount it only on a private listener.
func (s *Server) AdminHandler() http.Handler { return s.private }

// HandleAdmin mounts h on the admin listener.
func (s *Server) HandleAdmin(pattern string, h http.Handler) { s.admin.Handle(pattern, h) }

// Handle mounts h on the public listener (ServeMux patterns, e.g.
// "POST /whip/{room}"). It may be called while serving.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// RegisterCollector adds c to what /metrics serves, on both listeners (the
// media plane's per-room series, for example).
func (s *Server) RegisterCollector(c prometheus.Collector) error { return s.metrics.reg.Register(c) }

// Media returns the media plane, or nil when there is none.
func (s *Server) Media() MediaPlane { return s.media }

// Logger is the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Draining reports whether the server is shutting down: new joins and new
// media sessions (WHIP/WHEP) should be refused with CodeDraining / HTTP 503.
func (s *Server) Draining() bool { return s.draining.Load() }

// AuthEnabled reports whether joins need a token.
func (s *Server) AuthEnabled() bool { return len(s.cfg.AuthSecret) > 0 }

// Authorize checks token for access to room (as identity, if not empty)
// for a client at remote. With auth off it grants everything. Errors are
// *signal.Error with CodeUnauthorized (missing, invalid or expired token)
// or CodeForbidden (token for another room or identity); WHIP/WHEP map
// them to 401 and 403. Each refusal is counted by reason
// (livectl_rejected_total) and logged with remote, a few lines a second
// at most.
func (s *Server) Authorize(remote, token, room, identity string) (auth.Grant, error) {
	if !s.AuthEnabled() {
		return auth.Grant{Room: room, Identity: identity, Publish: true, Subscribe: true, Chat: true}, nil
	}
	if token == "" {
		return auth.Grant{}, s.rejectToken(remote, room, rejectUnauthorized, &signal.Error{Code: signal.CodeUnauthorized, Reason: "this server requires a token"})
	}
	g, err := auth.Verify(s.cfg.AuthSecret, token)
	if err != nil {
		why := rejectUnauthorized
		if errors.Is(err, auth.ErrExpired) {
			why = rejectExpired
		}
		return auth.Grant{}, s.rejectToken(remote, room, why, &signal.Error{Code: signal.CodeUnauthorized, Reason: err.Error()})
	}
	if !g.Allows(room, identity) {
		return auth.Grant{}, s.rejectToken(remote, room, rejectForbidden, &signal.Error{Code: signal.CodeForbidden,
			Reason: fmt.Sprintf("token is for room %q as %q, not room %q as %q", g.Room, g.Identity, room, identity)})
	}
	return *g, nil
}

// rejectToken counts a refused token and logs it (rate-limited: a client
// retrying a bad token in a loop must not flood the log) and returns err.
func (s *Server) rejectToken(remote, room string, why rejectReason, err *signal.Error) error {
	s.counters.rejected[why].Add(1)
	if s.rejectLog.Allow() {
		s.log.Warn("token refused", "reason", rejectNames[why], "remote", remote, "room", room, "detail", err.Reason)
	}
	return err
}

func (s *Server) serveHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

func (s *Server) serveReadyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.Draining() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "draining")
		return
	}
	if s.clusterNotReady(w) {
		return
	}
	fmt.Fprintln(w, "ready")
}

// originAllowed applies the origin policy: requests without Origin (non-
// browser clients) pass; browsers must come from the server's own host or
// an allowed origin.
func (s *Server) originAllowed(r *http.Request) bool {
	if s.cfg.AllowAllOrigins {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if err := s.CheckOrigin(r); err != nil {
		s.counters.rejected[rejectOrigin].Add(1)
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "this is livectl's WebSocket signaling endpoint: connect with a WebSocket client (protocol "+signal.Subprotocol+", docs/protocol.md); plain HTTP gets nothing here", http.StatusBadRequest)
		return
	}
	uw := w
	if batchWrites {
		uw = batchingWriter{w}
	}
	conn, err := s.upgrader.Upgrade(uw, r, nil)
	if err != nil {
		// The upgrader has already answered with an HTTP error.
		s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	// A body deadline (limitBody) must not end the session.
	conn.NetConn().SetReadDeadline(time.Time{})
	sess := &session{srv: s, conn: conn, id: newSessionID()}
	sess.lastSeen.Store(time.Now().UnixNano())

	// A refused session (full, draining) stays in s.sessions while its close
	// handshake runs, but only admitted ones count towards --max-conns (with
	// WHIP/WHEP sessions) and as connections, so a storm of refused
	// reconnects cannot lock out real clients or hold a drain.
	outside := s.OutsideSessions()
	s.mu.Lock()
	full := s.admitted+outside >= s.cfg.Limits.MaxConns
	closed := s.closed
	if !closed {
		s.sessions[sess] = struct{}{}
		s.wg.Add(1) // the read loop, started below
		if sess.admitted = !full && !s.Draining(); sess.admitted {
			s.admitted++
		}
	}
	s.mu.Unlock()
	if closed {
		conn.Close()
		return
	}
	s.counters.connsTotal.Add(1)

	switch {
	case s.Draining():
		s.counters.rejected[rejectDraining].Add(1)
		sess.fail("", signal.CodeDraining, "server is shutting down: connect to another instance", signal.CloseTryAgainLater)
	case full:
		s.counters.rejected[rejectServerFull].Add(1)
		err := &LimitError{Limit: LimitConns, Max: s.cfg.Limits.MaxConns}
		s.refused(err)
		sess.fail("", err.Code(), err.Error(), signal.CloseTryAgainLater)
	default:
		s.log.Debug("session opened", "session", sess.id, "remote", r.RemoteAddr)
		sess.send(&signal.Message{Type: signal.TypeWelcome, Protocol: signal.Version,
			SessionID: sess.id, ServerTime: time.Now().UnixMilli()})
	}
	// The read loop runs on its own goroutine so that this handler returns
	// and net/http releases the request and its buffers.
	go sess.readLoop()
}

// removeSession forgets a finished session.
func (s *Server) removeSession(sess *session) {
	s.mu.Lock()
	if _, ok := s.sessions[sess]; ok && sess.admitted {
		s.admitted--
		s.log.Debug("session closed", "session", sess.id, "remote", sess.conn.RemoteAddr().String())
	}
	delete(s.sessions, sess)
	s.mu.Unlock()
}

// Connections is the number of open /ws connections (refused ones, still
// closing, not counted).
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admitted
}

func (s *Server) snapshotSessions() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		out = append(out, sess)
	}
	return out
}

// pinger pings every connection each PingInterval and drops those silent
// for two intervals. One goroutine for all connections keeps idle sessions
// free of timers.
func (s *Server) pinger() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.pingStop:
			return
		case now := <-t.C:
			deadline := now.Add(-2 * s.cfg.PingInterval).UnixNano()
			for _, sess := range s.snapshotSessions() {
				if sess.lastSeen.Load() < deadline {
					s.drop(sess, dropDead, "no frame or pong for two ping intervals")
					continue
				}
				sess.push(frame{op: opPing}, false)
			}
		}
	}
}

// drop ends a session that is slow or dead without a close handshake and
// counts it.
func (s *Server) drop(sess *session, reason dropReason, why string) {
	if !sess.markClosing() {
		return
	}
	s.counters.dropped[reason].Add(1)
	s.log.Info("dropping connection", "session", sess.id, "remote", sess.conn.RemoteAddr().String(), "reason", why)
	sess.conn.NetConn().Close()
}

// StartDrain puts the server into draining: /readyz answers 503, joins and
// new connections are refused with CodeDraining, and every connected client
// gets a draining message saying when the server will close it.
func (s *Server) StartDrain(deadline time.Time) {
	if s.draining.Swap(true) {
		return
	}
	s.drainDeadline.Store(deadline.UnixNano())
	msg := &signal.Message{Type: signal.TypeDraining, ServerTime: time.Now().UnixMilli(),
		DeadlineMS: max(time.Until(deadline).Milliseconds(), 0)}
	b, _ := signal.Encode(msg)
	for _, sess := range s.snapshotSessions() {
		sess.push(textFrame(b), false)
	}
}

// Serve serves Handler on ln and AdminHandler on adminLn (nil: no admin
// listener) until ctx is done, then drains: it calls StartDrain, waits until
// every client has gone or DrainTimeout has passed, closes the rest with
// 1001, and returns nil. A receive on force (a second signal) ends the
// drain at once and Serve returns ErrForced. Serve closes the server.
func (s *Server) Serve(ctx context.Context, ln, adminLn net.Listener, force <-chan struct{}) error {
	errc := make(chan error, 2)
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	// IdleTimeout: a keep-alive connection with no request for a minute is
	// closed (it held a file descriptor for ever). WebSockets are hijacked
	// and unaffected; bodies have their own deadline (limitBody).
	pub := &http.Server{Handler: s.public, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: idleTimeout, ErrorLog: errLog,
		ConnState: newConnGate(s.cfg.Limits.MaxHTTPConns).track}
	servers := []*http.Server{pub}
	go func() { errc <- serveHTTP(pub, ln, "public") }()
	if adminLn != nil {
		adm := &http.Server{Handler: s.private, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: idleTimeout, ErrorLog: errLog,
			ConnState: newConnGate(s.cfg.Limits.MaxHTTPConns).track}
		servers = append(servers, adm)
		go func() { errc <- serveHTTP(adm, adminLn, "admin") }()
	}
	shutdown := func() {
		sctx, cancel := context.WithTimeout(context.Background(), closeGrace)
		defer cancel()
		for _, hs := range servers {
			_ = hs.Shutdown(sctx)
		}
	}

	var err error
	select {
	case err = <-errc:
		s.Close()
		shutdown()
		return err
	case <-ctx.Done():
	}

	deadline := time.Now().Add(s.cfg.DrainTimeout)
	s.log.Info("draining: refusing new joins, waiting for clients to leave",
		"connections", s.Connections(), "whip_whep_sessions", s.OutsideSessions(), "drain_timeout", s.cfg.DrainTimeout.String())
	s.StartDrain(deadline)
	timer := time.NewTimer(s.cfg.DrainTimeout)
	defer timer.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
wait:
	// WHIP and WHEP sessions have no channel to be told on; they get the
	// same time to end as /ws clients.
	for s.Connections()+s.OutsideSessions() > 0 {
		select {
		case <-poll.C:
		case <-timer.C:
			s.log.Warn("drain timeout: closing remaining connections", "connections", s.Connections(), "whip_whep_sessions", s.OutsideSessions())
			break wait
		case <-force:
			s.log.Warn("second signal: exiting without waiting", "connections", s.Connections(), "whip_whep_sessions", s.OutsideSessions())
			err = ErrForced
			break wait
		case err = <-errc:
			break wait
		}
	}
	s.Close()
	shutdown()
	if err == nil {
		s.log.Info("drained")
	}
	return err
}

// ErrForced is returned by Serve when the drain was cut short by force.
var ErrForced = errors.New("drain interrupted by a second signal")

// idleTimeout closes keep-alive connections that send no request.
var idleTimeout = 60 * time.Second

func serveHTTP(hs *http.Server, ln net.Listener, name string) error {
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving %s listener on %s: %w", name, ln.Addr(), err)
	}
	return nil
}

// Close ends every connection (close code 1001), stops the pinger and the
// media plane, and waits for the server's goroutines to finish. It does
// not close listeners passed to Serve; Serve does that itself.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.pingStop)
		for _, sess := range s.snapshotSessions() {
			sess.closeWith(signal.CloseGoingAway, "server shutting down")
			// A write stuck on a client that does not read would hold
			// Close for the whole write timeout; cut it to the grace.
			sess.conn.NetConn().SetWriteDeadline(time.Now().Add(closeGrace))
		}
		s.cancel()
		s.wg.Wait()
		if s.media != nil {
			err = s.media.Close()
		}
	})
	return err
}

func newSessionID() string { return rand.Text() }
