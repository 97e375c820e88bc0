package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	ossignal "os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pion/stun/v4"
	"github.com/spf13/cobra"

	"github.com/livectl/livectl/internal/auth"
	"github.com/livectl/livectl/internal/relay"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/sfu"
	"github.com/livectl/livectl/internal/signal"
	"github.com/livectl/livectl/internal/tlsconf"
)

// ServeOptions are the resolved flags of `livectl serve`.
type ServeOptions struct {
	Listen         string
	AdminListen    string
	Dev            bool
	AuthSecret     string
	AllowedOrigins []string

	// AuthSecretFile holds the secret (--auth-secret-file): a secret on
	// the command line can be read by anyone who can list processes.
	AuthSecretFile    string
	AllowedHosts      []string
	AdminAllowedHosts []string
	MaxHTTPConns      int
	MaxPendingMedia   int

	MaxConns        int
	MaxRooms        int
	MaxParticipants int
	MaxMessageSize  ByteSize
	SendQueue       int
	RequestRate     float64
	RequestBurst    int
	WriteTimeout    time.Duration
	PingInterval    time.Duration
	DrainTimeout    time.Duration

	// Rooms holds the live-room flags as given: a 0 --chat-batch or
	// --chat-history means none here, default in server.RoomsConfig.
	Rooms server.RoomsConfig

	UDPPort  int
	TCPPort  int
	PublicIP string
	STUN     []string
	// UDPListen and TCPListen bind the ICE sockets to one address: IP or
	// IP:PORT (the port then replaces --udp-port/--tcp-port).
	UDPListen, TCPListen string
	// portSet says which of udp-port and tcp-port were given (any source),
	// so a second port in --udp-listen/--tcp-listen is a conflict.
	portSet      map[string]bool
	udpIP, tcpIP string

	// PublicStats serves /v1/stats and /metrics on --listen with auth on.
	PublicStats bool

	// TLSCert and TLSKey turn the public listener into HTTPS and WSS.
	TLSCert, TLSKey string
	// tls serves and reloads the certificate (set by validate).
	tls *tlsconf.Reloader

	// GOPCache turns the relay's GOP cache on, bounded by the two after it
	// (checked only when it is on).
	GOPCache         bool
	GOPCacheDuration time.Duration
	GOPCacheBytes    ByteSize
	GOPCatchUpRate   float64

	Cluster ClusterOptions

	// Signals, when set, replaces the process's SIGINT/SIGTERM (tests).
	Signals <-chan os.Signal
	// Reload, when set, replaces the process's SIGHUP (tests).
	Reload <-chan os.Signal
	// TLSWatchInterval is how often the certificate files are checked for
	// a change; default defaultTLSWatch (tests shorten it).
	TLSWatchInterval time.Duration
	// Ready, when set, is called with the bound addresses once serving (tests).
	Ready func(public, admin net.Addr)
}

func newServeCmd(f *Factory) *cobra.Command {
	opts := &ServeOptions{MaxMessageSize: signal.DefaultMaxMessageSize, GOPCacheBytes: relay.DefaultGOPCacheBytes}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the signaling + SFU server",
		Long: `Run livectl's WebRTC signaling server and SFU in one process.

Routes on --listen: GET /ws (signaling, docs/protocol.md), /healthz, /readyz,
/v1/stats, /metrics, and the media routes (/whip/{room}, /whep/{room}, / demo
page) when the media plane is built in. --admin-listen serves /debug/pprof/*,
/metrics and /v1/stats only; keep it private.

Joins need a token minted by 'livectl token' with the same --auth-secret
(or --auth-secret-file, which keeps it off the command line). --dev turns
auth and origin checks off for local work.

Both listeners answer only Host values that name them (localhost, loopback
and their own IPs, the --listen/--admin-listen host): a DNS name clients use
must be listed in --allowed-hosts (--admin-allowed-hosts), --dev included.

On SIGINT/SIGTERM the server drains: /readyz turns 503, new joins are refused,
clients are told, and it exits 0 when they are gone or at --drain-timeout.
A second signal exits at once.`,
		Example: `  livectl serve --dev
  livectl serve --auth-secret "$SECRET" --listen 0.0.0.0:7880 --allowed-origins https://app.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.portSet = map[string]bool{}
			for _, name := range []string{"udp-port", "tcp-port"} {
				opts.portSet[name] = f.flagLevel(cmd.Flags(), name) > 0
			}
			return runServe(cmd.Context(), f, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", "127.0.0.1:7880", "public HTTP address: /ws, health, stats, metrics, media routes")
	fl.StringVar(&opts.AdminListen, "admin-listen", "127.0.0.1:6060", "admin HTTP address for /debug/pprof/*, /metrics and /v1/stats (empty: off)")
	fl.BoolVar(&opts.Dev, "dev", false, "development mode: no auth, all origins allowed")
	fl.StringVar(&opts.AuthSecret, "auth-secret", "", "HMAC secret that join tokens are signed with (required unless --dev)")
	fl.StringVar(&opts.AuthSecretFile, "auth-secret-file", "", "read the auth secret from this file (surrounding white space ignored) instead of --auth-secret")
	fl.StringSliceVar(&opts.AllowedHosts, "allowed-hosts", nil, "names (host or host:port) the public listener answers to besides localhost, loopback IPs, its own IPs and the --listen host; * for any")
	fl.StringSliceVar(&opts.AdminAllowedHosts, "admin-allowed-hosts", nil, "names the admin listener answers to besides localhost, loopback IPs, its own IPs and the --admin-listen host; * for any")
	fl.IntVar(&opts.MaxPendingMedia, "max-pending-media", relay.DefaultMaxPending, "media sessions (WebRTC peer connections) setting up at once; more are refused as busy until one connects or times out")
	fl.IntVar(&opts.MaxHTTPConns, "max-http-conns", 0, "plain HTTP connections per listener (WebSockets not counted; a /ws client is one until its upgrade); at the limit a new one closes the longest idle (0: half of --max-conns, at least 1024)")
	fl.StringSliceVar(&opts.AllowedOrigins, "allowed-origins", nil, "browser origins allowed to open /ws besides the server's own host (scheme://host[:port], * for any)")
	fl.IntVar(&opts.MaxConns, "max-conns", server.DefaultMaxConns, "maximum open /ws connections and WHIP/WHEP sessions, together")
	fl.IntVar(&opts.MaxRooms, "max-rooms", server.DefaultMaxRooms, "maximum rooms")
	fl.IntVar(&opts.MaxParticipants, "max-participants", server.DefaultMaxParticipants, "maximum participants per room")
	fl.Var(&opts.MaxMessageSize, "max-message-size", "largest inbound signaling frame (e.g. 64KiB)")
	fl.IntVar(&opts.SendQueue, "send-queue", server.DefaultSendQueue, "frames queued per connection before a slow client is dropped")
	fl.Float64Var(&opts.RequestRate, "request-rate", server.DefaultRequestRate, "requests per second one connection may send, sustained (join/leave count 5); inf: no limit")
	fl.IntVar(&opts.RequestBurst, "request-burst", server.DefaultRequestBurst, "requests one connection may send at once")
	fl.DurationVar(&opts.WriteTimeout, "write-timeout", server.DefaultWriteTimeout, "drop a client that does not take a frame within this time")
	fl.DurationVar(&opts.PingInterval, "ping-interval", server.DefaultPingInterval, "ping each connection this often; drop it after two silent intervals")
	fl.DurationVar(&opts.DrainTimeout, "drain-timeout", server.DefaultDrainTimeout, "on shutdown, how long to wait for clients to leave")
	fl.IntVar(&opts.Rooms.ListLimit, "room-list-limit", server.DefaultRoomListLimit, "most participants a joined reply lists (publishers first); the counts are always given")
	fl.IntVar(&opts.Rooms.EventThreshold, "room-event-threshold", server.DefaultRoomEventThreshold, "above this many members, viewers' joins and leaves become a coalesced room_update")
	fl.DurationVar(&opts.Rooms.UpdateInterval, "room-update-interval", server.DefaultRoomUpdateInterval, "least time between two room_update messages of a room")
	fl.IntVar(&opts.Rooms.ChatMaxBytes, "chat-max-bytes", server.DefaultChatMaxBytes, "longest chat message text, in bytes")
	fl.Float64Var(&opts.Rooms.ChatRate, "chat-rate", server.DefaultChatRate, "chat messages per second one member may send, sustained; inf: no limit")
	fl.IntVar(&opts.Rooms.ChatBurst, "chat-burst", server.DefaultChatBurst, "chat messages one member may send at once")
	fl.Float64Var(&opts.Rooms.RoomChatRate, "room-chat-rate", server.DefaultRoomChatRate, "chat messages per second a room takes from all its members; inf: no limit")
	fl.DurationVar(&opts.Rooms.ChatBatch, "chat-batch", server.DefaultChatBatch, "how long accepted chat messages wait to share one frame per member (0: none)")
	fl.IntVar(&opts.Rooms.ChatHistory, "chat-history", server.DefaultChatHistory, "last chat messages a joined reply carries (0: none)")
	fl.IntVar(&opts.UDPPort, "udp-port", 7882, "the one UDP port for all ICE/media traffic")
	fl.IntVar(&opts.TCPPort, "tcp-port", 0, "ICE-TCP port (0: off)")
	fl.StringVar(&opts.PublicIP, "public-ip", "", "public IP announced in ICE candidates (1:1 NAT)")
	fl.StringVar(&opts.UDPListen, "udp-listen", "", "bind the ICE UDP socket to this one address (IP or IP:PORT) instead of every local address")
	fl.StringVar(&opts.TCPListen, "tcp-listen", "", "bind the ICE-TCP listener to this one address (IP or IP:PORT; needs a port here or in --tcp-port)")
	fl.StringSliceVar(&opts.STUN, "stun", nil, "STUN server URLs (stun:host:port), comma-separated")
	fl.BoolVar(&opts.PublicStats, "public-stats", false, "with auth on, also serve /v1/stats and /metrics (every room name and its traffic) on --listen, not only on --admin-listen")
	fl.StringVar(&opts.TLSCert, "tls-cert", "", "PEM certificate chain: serve HTTPS and WSS on --listen (reloaded on SIGHUP and when the file changes)")
	fl.StringVar(&opts.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	fl.BoolVar(&opts.GOPCache, "gop-cache", true, "start new viewers at once from each video track's current GOP (--gop-cache=false: wait for a keyframe)")
	fl.DurationVar(&opts.GOPCacheDuration, "gop-cache-max-duration", relay.DefaultGOPCacheDuration, "longest GOP a video track keeps for new viewers; a longer one is not kept")
	fl.Float64Var(&opts.GOPCatchUpRate, "gop-catchup-rate", 0, "pace a new viewer's catch-up from the GOP cache at this multiple of real time after its keyframe (0: all at once, measured faster to a live picture in Chromium)")
	fl.Var(&opts.GOPCacheBytes, "gop-cache-max-bytes", "most memory one video track's GOP cache holds (e.g. 8MiB); a larger GOP is not kept")
	opts.Cluster.addFlags(fl)
	return cmd
}

func (o *ServeOptions) validate(f *Factory) error {
	// --dev used to win silently over a secret: a server given one (by a
	// service manager's environment, say) ran with auth off, and nobody
	// saw the banner. Either is a decision; both is a mistake.
	if o.Dev && (o.AuthSecret != "" || o.AuthSecretFile != "") {
		secret := "auth-secret"
		if o.AuthSecretFile != "" {
			secret = "auth-secret-file"
		}
		return UsageErrorf("%s turns auth off, but %s gives an auth secret: remove one of them (%s for local work without auth, the secret for a server others reach)",
			f.FlagRef("dev"), f.FlagRef(secret), "--dev")
	}
	if err := o.readSecretFile(f); err != nil {
		return err
	}
	if !o.Dev && o.AuthSecret == "" {
		return UsageErrorf("%s is required (or run with --dev for local work without auth): mint tokens with 'livectl token --auth-secret ...'",
			f.FlagRef("auth-secret"))
	}
	checks := []struct {
		name string
		v    int
	}{{"max-conns", o.MaxConns}, {"max-rooms", o.MaxRooms}, {"max-participants", o.MaxParticipants}, {"send-queue", o.SendQueue}, {"request-burst", o.RequestBurst},
		{"room-list-limit", o.Rooms.ListLimit}, {"room-event-threshold", o.Rooms.EventThreshold}, {"chat-burst", o.Rooms.ChatBurst}}
	for _, c := range checks {
		if c.v <= 0 {
			return UsageErrorf("%s must be positive, got %d", f.FlagRef(c.name), c.v)
		}
	}
	if o.MaxPendingMedia < 0 { // 0: the relay's default
		return UsageErrorf("%s must be positive, got %d", f.FlagRef("max-pending-media"), o.MaxPendingMedia)
	}
	if o.MaxHTTPConns < 0 { // 0: the server's default
		return UsageErrorf("%s must be positive, got %d", f.FlagRef("max-http-conns"), o.MaxHTTPConns)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"request-rate", o.RequestRate}, {"chat-rate", o.Rooms.ChatRate}, {"room-chat-rate", o.Rooms.RoomChatRate}} {
		if !(r.v > 0) { // NaN too; +Inf turns the limit off
			return UsageErrorf("%s must be positive (inf: no limit), got %g", f.FlagRef(r.name), r.v)
		}
	}
	if o.Rooms.ChatMaxBytes < 1 || o.Rooms.ChatMaxBytes > signal.MaxChatLen {
		return UsageErrorf("%s must be 1 to %d, got %d", f.FlagRef("chat-max-bytes"), signal.MaxChatLen, o.Rooms.ChatMaxBytes)
	}
	if o.Rooms.ChatBatch < 0 || o.Rooms.ChatHistory < 0 {
		return UsageErrorf("%s and %s must not be negative (0: none)", f.FlagRef("chat-batch"), f.FlagRef("chat-history"))
	}
	if o.GOPCatchUpRate < 0 {
		return UsageErrorf("%s must not be negative (0: all at once), got %g", f.FlagRef("gop-catchup-rate"), o.GOPCatchUpRate)
	}
	if o.GOPCache {
		if err := requirePositive(f, "gop-cache-max-duration", o.GOPCacheDuration); err != nil {
			return err
		}
		if o.GOPCacheBytes < 64<<10 {
			return UsageErrorf("%s must be at least 64KiB, got %d bytes", f.FlagRef("gop-cache-max-bytes"), int64(o.GOPCacheBytes))
		}
	}
	if o.MaxMessageSize < 1024 {
		return UsageErrorf("%s must be at least 1KiB, got %d bytes", f.FlagRef("max-message-size"), int64(o.MaxMessageSize))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"write-timeout", o.WriteTimeout}, {"ping-interval", o.PingInterval}, {"drain-timeout", o.DrainTimeout}, {"room-update-interval", o.Rooms.UpdateInterval}} {
		if d.v <= 0 {
			return UsageErrorf("%s must be positive, got %s", f.FlagRef(d.name), d.v)
		}
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"udp-port", o.UDPPort}, {"tcp-port", o.TCPPort}} {
		if p.v < 0 || p.v > 65535 {
			return UsageErrorf("%s must be a port number 0-65535, got %d", f.FlagRef(p.name), p.v)
		}
	}
	for _, origin := range o.AllowedOrigins {
		if u, err := url.Parse(origin); origin != "*" && (err != nil || u.Scheme == "" || u.Host == "") {
			return UsageErrorf("%s: %q is not an origin: want scheme://host[:port] (e.g. https://app.example.com) or *",
				f.FlagRef("allowed-origins"), origin)
		}
	}
	// Malformed addresses are usage errors; one already taken is found
	// when listening (exit 1, with what to do about it).
	for _, a := range []struct{ name, v string }{{"listen", o.Listen}, {"admin-listen", o.AdminListen}} {
		if a.v == "" && a.name == "admin-listen" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.v); err != nil {
			return UsageErrorf("%s: %v (want host:port, e.g. 127.0.0.1:7880 or :7880)", f.FlagRef(a.name), err)
		} else if _, err := net.LookupPort("tcp", port); err != nil {
			return UsageErrorf("%s: %q: the port must be a number 0-65535", f.FlagRef(a.name), a.v)
		}
	}
	if o.AdminListen != "" && o.AdminListen == o.Listen && !strings.HasSuffix(o.Listen, ":0") {
		return UsageErrorf("%s and %s are both %s: pprof must not be on the public listener; give the admin listener its own address", f.FlagRef("listen"), f.FlagRef("admin-listen"), o.Listen)
	}
	if err := o.Cluster.resolve(f, o.Listen, o.TLSCert != ""); err != nil {
		return err
	}
	if err := o.mediaBinds(f); err != nil {
		return err
	}
	if o.PublicIP != "" && net.ParseIP(o.PublicIP) == nil {
		return UsageErrorf("%s: %q is not an IP address", f.FlagRef("public-ip"), o.PublicIP)
	}
	if !o.Dev {
		if err := auth.CheckSecret(o.AuthSecret); err != nil {
			return UsageErrorf("%s: %v", f.FlagRef("auth-secret"), err)
		}
	}
	if err := o.loadTLS(f); err != nil {
		return err
	}
	// A bad STUN URL would make every peer connection fail at run time.
	for _, u := range o.STUN {
		full := u
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "stuns:") {
			full = "stun:" + u
		}
		if _, err := stun.ParseURI(full); err != nil {
			return UsageErrorf("%s: %q is not a STUN server: %v (want host:port or stun:host:port)", f.FlagRef("stun"), u, err)
		}
	}
	return nil
}

func runServe(ctx context.Context, f *Factory, o *ServeOptions) error {
	if err := o.validate(f); err != nil {
		return err
	}
	ln, adminLn, err := o.listen()
	if err != nil {
		return err
	}
	srv, err := buildServer(f, o)
	if err != nil {
		ln.Close()
		if adminLn != nil {
			adminLn.Close()
		}
		return err
	}
	if o.tls != nil {
		ln = tls.NewListener(ln, tlsconf.ServerConfig(o.tls))
	}
	stopReloads := o.watchReloads(ctx, f)
	defer stopReloads()
	printBanner(f.IO.ErrOut, f.Logger, f.Globals.LogFormat == "json", o, srv, ln, adminLn)
	if o.Ready != nil {
		var aa net.Addr
		if adminLn != nil {
			aa = adminLn.Addr()
		}
		o.Ready(ln.Addr(), aa)
	}
	drainCtx, force, stop := o.drainSignals(ctx, f.Logger)
	defer stop()
	err = srv.Serve(drainCtx, ln, adminLn, force)
	if cl, ok := srv.Cluster().(io.Closer); ok {
		cl.Close() // after the drain: its record goes at once, not at expiry
	}
	if errors.Is(err, server.ErrForced) {
		return fmt.Errorf("exited before clients had left: %w", err)
	}
	return err
}

// listen opens the public and (unless --admin-listen is empty) the admin
// listener.
func (o *ServeOptions) listen() (ln, adminLn net.Listener, err error) {
	ln, err = net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("listening on %s (--listen): %w: %s", o.Listen, err, listenHint(err))
	}
	if o.AdminListen != "" {
		adminLn, err = net.Listen("tcp", o.AdminListen)
		if err != nil {
			ln.Close()
			return nil, nil, fmt.Errorf("listening on %s (--admin-listen): %w: %s, or --admin-listen '' to turn it off", o.AdminListen, err, listenHint(err))
		}
	}
	return ln, adminLn, nil
}

// buildServer wires serve: the SFU as the signaling server's media plane,
// and its WHIP/WHEP routes, demo page and per-room metrics on the server.
// Refused clients are logged with the flag that would have let them in.
func buildServer(f *Factory, o *ServeOptions) (*server.Server, error) {
	log := f.Logger
	gop := o.GOPCacheDuration
	if !o.GOPCache {
		gop = -1
	}
	sfuCfg := sfu.Config{UDPPort: o.UDPPort, TCPPort: o.TCPPort, UDPListenIP: o.udpIP, TCPListenIP: o.tcpIP,
		PublicIP: o.PublicIP, STUN: o.STUN, Logger: log,
		GOPCacheDuration: gop, GOPCacheBytes: int(o.GOPCacheBytes), GOPCatchUpRate: o.GOPCatchUpRate, MaxPending: o.MaxPendingMedia}
	var wire *clusterWiring
	if o.Cluster.Redis != "" {
		wire = &clusterWiring{}
		wire.sfuConfig(&sfuCfg, &o.Cluster)
	}
	plane, err := sfu.New(sfuCfg)
	if err != nil {
		return nil, fmt.Errorf("starting the media plane: %w%s", err, portHint(err))
	}
	if wire != nil {
		if err := wire.newNode(f, &o.Cluster, plane, o.UDPPort); err != nil {
			plane.Close()
			return nil, err
		}
	}
	cfg := server.Config{
		Limits: server.Limits{
			MaxConns: o.MaxConns, MaxRooms: o.MaxRooms, MaxParticipants: o.MaxParticipants,
			MaxMessageSize: int64(o.MaxMessageSize), SendQueue: o.SendQueue,
			RequestRate: o.RequestRate, RequestBurst: o.RequestBurst, MaxHTTPConns: o.MaxHTTPConns,
		},
		Rooms:           o.Rooms,
		AllowedOrigins:  o.AllowedOrigins,
		AllowAllOrigins: o.Dev,
		WriteTimeout:    o.WriteTimeout,
		PingInterval:    o.PingInterval,
		DrainTimeout:    o.DrainTimeout,
		Version:         Build().Version,
		Logger:          log,
		MediaPlane:      plane,
		OnRefused:       newRefusalLog(log, time.Minute).refused,
	}
	// 0 on the command line is "none"; in the config it is "default".
	cfg.Rooms.ChatBatch, cfg.Rooms.ChatHistory = noneIfZero(o.Rooms.ChatBatch), noneIfZero(o.Rooms.ChatHistory)
	if !o.Dev {
		cfg.AuthSecret = []byte(o.AuthSecret)
	}
	cfg.PublicStats = o.PublicStats
	cfg.AllowedHosts = withListenName(o.AllowedHosts, o.Listen)
	cfg.AdminAllowedHosts = withListenName(o.AdminAllowedHosts, o.AdminListen)
	if wire != nil {
		cfg.Cluster = wire.node
	}
	srv, err := server.New(cfg)
	if err != nil {
		plane.Close()
		if wire != nil {
			wire.node.Close()
		}
		return nil, err
	}
	if err := plane.Mount(srv); err == nil && wire != nil {
		err = wire.attach(srv)
	}
	if err != nil {
		srv.Close()
		if wire != nil {
			wire.node.Close()
		}
		return nil, err
	}
	return srv, nil
}

// printBanner tells the operator what is served where: lines for people,
// or with --log-format json one log record, so that every line on stderr
// is JSON for a log collector.
func printBanner(w io.Writer, log *slog.Logger, jsonLogs bool, o *ServeOptions, srv *server.Server, ln, adminLn net.Listener) {
	web, ws := "http://", "ws://"
	if o.tls != nil {
		web, ws = "https://", "wss://"
	}
	base := web + hostPort(ln.Addr())
	type row struct{ label, key, text string }
	rows := []row{{"signaling", "signaling", ws + hostPort(ln.Addr()) + "/ws"}}
	if srv.Media() != nil {
		media := "udp " + mediaBind(o.udpIP, o.UDPPort)
		if o.TCPPort != 0 {
			media += ", tcp " + mediaBind(o.tcpIP, o.TCPPort)
		}
		if o.PublicIP != "" {
			media += ", announced as " + o.PublicIP
		}
		rows = append(rows, row{"demo page", "demo_page", base + "/"},
			row{"WHIP/WHEP", "whip_whep", base + "/whip/{room}  " + base + "/whep/{room}"},
			row{"media", "media", media})
	}
	if o.Cluster.Redis != "" {
		rows = append(rows, row{"cluster", "cluster", "node " + o.Cluster.NodeID + ", advertised as " + o.Cluster.AdvertiseURL})
	}
	rows = append(rows, row{"health", "health", base + "/healthz  " + base + "/readyz"})
	if srv.PublicStats() {
		rows = append(rows, row{"stats", "stats", base + "/v1/stats  " + base + "/metrics"})
	} else {
		rows = append(rows, row{"stats", "stats", "on the admin listener only (auth on; --public-stats serves them here too)"})
	}
	if adminLn != nil {
		ab := "http://" + hostPort(adminLn.Addr())
		rows = append(rows, row{"admin", "admin", ab + "/debug/pprof/  " + ab + "/v1/stats  " + ab + "/metrics"})
	}
	const devWarning = "AUTH IS OFF and every origin is allowed (--dev): anyone who can reach this address can join any room; use --auth-secret outside local development"
	auth := "on"
	if o.Dev {
		auth = "OFF (--dev)"
	}
	if jsonLogs {
		if o.Dev {
			log.Warn(devWarning)
		}
		attrs := []any{"version", Build().Version, "auth", auth, "tls", o.tls != nil}
		for _, r := range rows {
			attrs = append(attrs, r.key, r.text)
		}
		log.Info("serving", attrs...)
		return
	}
	if o.Dev {
		fmt.Fprintln(w, "!! livectl serve --dev: AUTH IS OFF and every origin is allowed. Anyone who can reach")
		fmt.Fprintln(w, "!! this address can join any room. Use --auth-secret outside local development.")
	}
	fmt.Fprintf(w, "livectl (version %s, auth %s) serving\n", Build().Version, auth)
	for _, r := range rows {
		fmt.Fprintf(w, "  %-11s %s\n", r.label, r.text)
	}
}

// drainSignals turns the first signal (or ctx ending) into the end of
// drainCtx, which starts the drain, and a second signal into a close of
// force, which cuts it short. stop ends the watch.
func (o *ServeOptions) drainSignals(ctx context.Context, log *slog.Logger) (drainCtx context.Context, force <-chan struct{}, stop func()) {
	sigc := o.Signals
	unnotify := func() {}
	if sigc == nil {
		ownSignals.Store(true)
		c := make(chan os.Signal, 2)
		ossignal.Notify(c, os.Interrupt, syscall.SIGTERM)
		unnotify = func() { ossignal.Stop(c) }
		sigc = c
	}
	drainCtx, startDrain := context.WithCancel(context.Background())
	forced := make(chan struct{})
	done := make(chan struct{})
	go func() {
		n, ctxDone := 0, ctx.Done()
		for {
			select {
			case <-done:
				return
			case <-ctxDone:
				startDrain()
				ctxDone = nil // seen once
			case sig := <-sigc:
				n++
				if n == 1 {
					log.Info("signal received: draining (send it again to exit at once)", "signal", sig.String())
					startDrain()
				} else {
					close(forced)
					return
				}
			}
		}
	}()
	return drainCtx, forced, func() {
		close(done)
		startDrain()
		unnotify()
	}
}

// readSecretFile sets AuthSecret from --auth-secret-file, if given.
func (o *ServeOptions) readSecretFile(f *Factory) error {
	if o.AuthSecretFile == "" {
		return nil
	}
	if o.AuthSecret != "" {
		return UsageErrorf("%s and %s both given: use one", f.FlagRef("auth-secret"), f.FlagRef("auth-secret-file"))
	}
	b, err := os.ReadFile(o.AuthSecretFile)
	if err != nil {
		return UsageErrorf("%s: %v", f.FlagRef("auth-secret-file"), err)
	}
	o.AuthSecret = strings.TrimSpace(string(b))
	if o.AuthSecret == "" {
		return UsageErrorf("%s: %s is empty", f.FlagRef("auth-secret-file"), o.AuthSecretFile)
	}
	return nil
}

// withListenName adds the host of a listen address to the names its
// listener answers to, when it is a name (an IP is always answered).
func withListenName(hosts []string, listen string) []string {
	h, _, err := net.SplitHostPort(listen)
	if err != nil || h == "" || net.ParseIP(h) != nil {
		return hosts
	}
	return append(slices.Clip(hosts), h)
}

// mediaBinds checks --udp-listen and --tcp-listen: an IP, or IP:PORT
// whose port replaces --udp-port/--tcp-port (given in both places, it is a
// conflict, not a silent choice).
func (o *ServeOptions) mediaBinds(f *Factory) error {
	for _, b := range []struct {
		flag, portFlag string
		v              string
		ip             *string
		port           *int
	}{{"udp-listen", "udp-port", o.UDPListen, &o.udpIP, &o.UDPPort}, {"tcp-listen", "tcp-port", o.TCPListen, &o.tcpIP, &o.TCPPort}} {
		if b.v == "" {
			continue
		}
		host, port, err := net.SplitHostPort(b.v)
		if err != nil { // no port: the whole value is the IP
			host, port = strings.Trim(b.v, "[]"), ""
		}
		ip := net.ParseIP(host)
		if ip == nil || ip.IsUnspecified() {
			return UsageErrorf("%s: %q is not one IP address of this machine (want IP or IP:PORT, e.g. 10.0.0.5 or 10.0.0.5:7882; leave it empty for every address)",
				f.FlagRef(b.flag), b.v)
		}
		*b.ip = ip.String()
		if port == "" {
			continue
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return UsageErrorf("%s: %q: the port must be a number 0-65535", f.FlagRef(b.flag), b.v)
		}
		if o.portSet[b.portFlag] && n != *b.port {
			return UsageErrorf("%s %s and %s %d name two ports: give the port in one of them", f.FlagRef(b.flag), b.v, f.FlagRef(b.portFlag), *b.port)
		}
		*b.port = n
	}
	if o.TCPListen != "" && o.TCPPort == 0 {
		return UsageErrorf("%s needs a port: %s IP:PORT or %s", f.FlagRef("tcp-listen"), f.FlagRef("tcp-listen"), f.FlagRef("tcp-port"))
	}
	return nil
}

// mediaBind renders an ICE socket's address for the banner.
func mediaBind(ip string, port int) string {
	p := "(a free port)"
	if port > 0 {
		p = strconv.Itoa(port)
	}
	if ip == "" {
		return p
	}
	if port > 0 {
		return net.JoinHostPort(ip, p)
	}
	return ip + " " + p
}

// hostPort renders a listener address for a URL, bracketing IPv6.
func hostPort(a net.Addr) string {
	s := a.String()
	if strings.HasPrefix(s, "[::]:") || strings.HasPrefix(s, "0.0.0.0:") {
		_, port, _ := net.SplitHostPort(s)
		return "localhost:" + port
	}
	return s
}

// listenHint says what to do about a listen error.
func listenHint(err error) string {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "another process holds it; stop it or pick another address"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "no interface of this machine has that IP; use one it has, or 0.0.0.0"
	case errors.Is(err, syscall.EACCES):
		return "ports below 1024 need privileges; pick a higher one"
	}
	return "pick another address"
}

// portHint says which flag picks another ICE port when the SFU could not
// open one.
func portHint(err error) string {
	var pe *relay.PortError
	if !errors.As(err, &pe) {
		return ""
	}
	if pe.Network == "tcp" {
		return " (pick another with --tcp-port)"
	}
	return " (pick another with --udp-port)"
}

// refusalHint names what the operator could change to let in a client the
// server refused: clients are told the reason, never serve's flags.
func refusalHint(err error) string {
	var le *server.LimitError
	if errors.As(err, &le) {
		switch le.Limit {
		case server.LimitConns:
			return "raise --max-conns if the machine has room"
		case server.LimitRooms:
			return "raise --max-rooms if the machine has room"
		case server.LimitParticipants:
			return "raise --max-participants if the machine has room"
		}
	}
	var oe *server.OriginError
	if errors.As(err, &oe) {
		return "add it to --allowed-origins if that page should connect"
	}
	return ""
}

// refusalLog logs the server's refusals with their hint, each kind at most
// once per interval: a full server refuses every client, and one line says
// it as well as a thousand.
type refusalLog struct {
	log      *slog.Logger
	interval time.Duration

	mu   sync.Mutex
	last map[string]time.Time // by hint
}

func newRefusalLog(log *slog.Logger, interval time.Duration) *refusalLog {
	return &refusalLog{log: log, interval: interval, last: map[string]time.Time{}}
}

// refused is server.Config.OnRefused: quick, and it does not call the server.
func (r *refusalLog) refused(err error) {
	hint := refusalHint(err)
	now := time.Now()
	r.mu.Lock()
	if now.Sub(r.last[hint]) < r.interval {
		r.mu.Unlock()
		return
	}
	r.last[hint] = now
	r.mu.Unlock()
	r.log.Warn("client refused", "reason", err.Error(), "hint", hint)
}

// noneIfZero maps a flag's 0 ("none") to the server config's -1.
func noneIfZero[T int | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}
