package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/livectl/livectl/internal/cluster"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/sfu"
)

// ClusterOptions are serve's cluster flags; Redis empty: one node.
type ClusterOptions struct {
	Redis        string // --cluster
	NodeID       string // --node-id
	AdvertiseURL string // --advertise-url
	SecretFile   string // --cluster-secret-file
	secret       []byte
}

func (o *ClusterOptions) addFlags(f interface {
	StringVar(p *string, name, value, usage string)
}) {
	f.StringVar(&o.Redis, "cluster", "", "join a cluster through this Redis (redis://host:6379/0); empty: one node, no Redis")
	f.StringVar(&o.NodeID, "node-id", "", "this node's id in the cluster (default: host name and --listen port)")
	f.StringVar(&o.AdvertiseURL, "advertise-url", "", "this node's HTTP base as clients and other nodes reach it (default: http(s)://<listen host or host name>:<port>)")
	f.StringVar(&o.SecretFile, "cluster-secret-file", "", "file holding the secret that signs node-to-node media sessions (the same on every node; keep it apart from the auth secret)")
}

// resolve fills the defaults that depend on --listen and reads the secret.
func (o *ClusterOptions) resolve(f *Factory, listen string, tls bool) error {
	if o.Redis == "" {
		for _, fl := range []struct{ name, v string }{{"node-id", o.NodeID}, {"advertise-url", o.AdvertiseURL}, {"cluster-secret-file", o.SecretFile}} {
			if fl.v != "" {
				return UsageErrorf("%s needs %s (the cluster's Redis)", f.FlagRef(fl.name), f.FlagRef("cluster"))
			}
		}
		return nil
	}
	host, port, _ := net.SplitHostPort(listen)
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "node"
	}
	if o.NodeID == "" {
		o.NodeID = hostname + "-" + port
	}
	if o.AdvertiseURL == "" {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = hostname
		}
		scheme := "http://"
		if tls {
			scheme = "https://"
		}
		o.AdvertiseURL = scheme + net.JoinHostPort(host, port)
	}
	if o.SecretFile != "" {
		b, err := os.ReadFile(o.SecretFile)
		if err != nil {
			return UsageErrorf("%s: %v", f.FlagRef("cluster-secret-file"), err)
		}
		if o.secret = []byte(strings.TrimSpace(string(b))); len(o.secret) == 0 {
			return UsageErrorf("%s: %s is empty", f.FlagRef("cluster-secret-file"), o.SecretFile)
		}
	}
	return nil
}

// livenessTimeout bounds the check of a room's origin before a node
// redirects a publisher to it or pulls from it: a killed origin refuses at
// once; one that does not answer within this is taken for down (and loses
// the room to this node) rather than waited for until its lease expires.
const livenessTimeout = 500 * time.Millisecond

// clusterWiring joins the SFU, the server and the cluster node, which
// need each other: the SFU asks the node where rooms live, the node asks
// the SFU whether it still publishes a room and the server for its load.
type clusterWiring struct {
	node *cluster.Node
	log  *slog.Logger
	srv  atomic.Pointer[server.Server]
	sfu  atomic.Pointer[sfu.SFU]
	cpu  cpuMeter
}

// sfuConfig sets the SFU's cluster seam; the node it calls is made later
// (newNode), before any request can arrive.
func (w *clusterWiring) sfuConfig(cfg *sfu.Config, o *ClusterOptions) {
	cfg.Origin = func(ctx context.Context, room string) (sfu.OriginInfo, error) {
		org, err := w.node.Lookup(ctx, room)
		// An origin that is down publishes nothing: a publisher arriving
		// here is admitted (OnOrigin's Claim takes the lease over) and the
		// cascade waits for the next origin.
		if errors.Is(err, cluster.ErrNoOrigin) || errors.Is(err, cluster.ErrNodeGone) {
			return sfu.OriginInfo{}, sfu.ErrNoOrigin
		}
		if err != nil {
			return sfu.OriginInfo{}, err
		}
		return sfu.OriginInfo{WHEPBase: org.URL, WHIPURL: org.WHIPURL(), Self: org.Self}, nil
	}
	cfg.OnOrigin = func(room string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		org, err := w.node.Claim(ctx, room)
		switch {
		case err != nil:
			w.log.Warn("cluster: could not record this node as the room's origin", "room", room, "err", err)
		case !org.Self:
			w.log.Warn("cluster: another node became the room's origin first", "room", room, "origin", org.NodeID)
		}
	}
	cfg.ClusterSecret = o.secret
	cfg.NodeID = o.NodeID
}

// newNode joins the cluster.
func (w *clusterWiring) newNode(f *Factory, o *ClusterOptions, plane *sfu.SFU, udpPort int) error {
	w.sfu.Store(plane)
	w.log = f.Logger
	node, err := cluster.New(cluster.Config{Redis: o.Redis, NodeID: o.NodeID, AdvertiseURL: o.AdvertiseURL,
		MediaAddr: mediaAddr(o.AdvertiseURL, udpPort), Version: Build().Version, Logger: f.Logger,
		Load: w.load, Publishes: plane.Publishes, Liveness: livenessTimeout, Links: func() any { return plane.Cascade() },
		Draining: func() bool { s := w.srv.Load(); return s != nil && s.Draining() }})
	if err != nil {
		return clusterError(f, err)
	}
	w.node = node
	return nil
}

// attach connects the node to the built server: remote room traffic, the
// /v1/cluster route, the node's metrics.
func (w *clusterWiring) attach(srv *server.Server) error {
	w.srv.Store(srv)
	w.node.Attach(srv)
	// Like /v1/stats: it names every room, so with auth on it is on the
	// public listener only with --public-stats.
	if srv.PublicStats() {
		srv.Handle("GET /v1/cluster", w.node.Handler())
	}
	srv.HandleAdmin("GET /v1/cluster", w.node.Handler())
	return srv.RegisterCollector(w.node.Collector())
}

// load is the node's load for its registry record.
func (w *clusterWiring) load() cluster.Load {
	l := cluster.Load{CPU: w.cpu.cores()}
	if s := w.srv.Load(); s != nil {
		st := s.Stats()
		l.Sessions = int(st.Connections) + s.OutsideSessions()
		l.Tracks = int(st.TracksPublished)
		for _, r := range st.Rooms {
			l.BitrateBps += r.BitrateInBps + r.BitrateOutBps
		}
	}
	return l
}

// clusterError adds to a cluster error which flag to look at.
func clusterError(f *Factory, err error) error {
	var ce *cluster.ConfigError
	if errors.As(err, &ce) {
		flag := map[string]string{"Redis": "cluster", "NodeID": "node-id", "AdvertiseURL": "advertise-url"}[ce.Field]
		if flag != "" {
			return UsageErrorf("%s: %s", f.FlagRef(flag), ce.Reason)
		}
		return err
	}
	if errors.Is(err, cluster.ErrUnavailable) {
		return fmt.Errorf("joining the cluster: %w (is Redis running at the %s URL?)", err, f.FlagRef("cluster"))
	}
	return err
}

// mediaAddr is the host of the advertise URL with the ICE UDP port.
func mediaAddr(advertise string, udpPort int) string {
	host := advertise
	if u, err := url.Parse(advertise); err == nil {
		host = u.Hostname()
	}
	return net.JoinHostPort(host, strconv.Itoa(udpPort))
}

// cpuMeter measures the process's CPU use between two readings, in cores.
type cpuMeter struct {
	last  time.Duration
	lastT time.Time
}

func (m *cpuMeter) cores() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	used := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	now := time.Now()
	var c float64
	if !m.lastT.IsZero() && now.After(m.lastT) {
		c = float64(used-m.last) / float64(now.Sub(m.lastT))
	}
	m.last, m.lastT = used, now
	return c
}
