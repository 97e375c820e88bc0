package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/livectl/livectl/internal/stats"
)

// StatsURLFor derives a livectl server's /v1/stats address from its /ws URL.
func StatsURLFor(wsURL string) (string, error) {
	u, err := url.Parse(wsURL)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return "", fmt.Errorf("url %q: want ws:// or wss://", wsURL)
	}
	u.Path, u.RawQuery, u.Fragment = "/v1/stats", "", ""
	return u.String(), nil
}

// serverSampler reads the target's /v1/stats (and, for a local server, its
// RSS) before and after the ramp. Every step is best effort: a target that
// is not a livectl server simply gets no server section.
type serverSampler struct {
	url      string
	pid      int
	client   *http.Client
	b, p     *stats.Snapshot
	rssB     uint64
	rssP     uint64
	cpuB     time.Duration
	cpuP     time.Duration
	cpuOK    bool
	sessions int64
}

func newServerSampler(statsURL string, pid int) *serverSampler {
	return &serverSampler{url: statsURL, pid: pid, client: &http.Client{Timeout: 3 * time.Second}}
}

func (s *serverSampler) fetch(ctx context.Context) *stats.Snapshot {
	if s.url == "" {
		return nil
	}
	snap, _ := stats.Fetch(ctx, s.client, s.url)
	return snap
}

// CheckStats reads statsURL once within timeout: nil when it answers with a
// /v1/stats document, else why not (for a warning before a run).
func CheckStats(statsURL string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := stats.Fetch(ctx, &http.Client{Timeout: timeout}, statsURL)
	return err
}

func (s *serverSampler) rss() uint64 {
	if s.pid <= 0 {
		return 0
	}
	return procStatusRSS("/proc/" + strconv.Itoa(s.pid) + "/status")
}

func (s *serverSampler) cpu() (time.Duration, bool) {
	if s.pid <= 0 {
		return 0, false
	}
	return PIDCPU(s.pid)
}

func (s *serverSampler) before(ctx context.Context) {
	s.b, s.rssB = s.fetch(ctx), s.rss()
	s.cpuB, s.cpuOK = s.cpu()
}

func (s *serverSampler) peak(ctx context.Context, sessions int64) {
	var ok bool
	s.cpuP, ok = s.cpu()
	s.cpuOK = s.cpuOK && ok
	s.p, s.rssP, s.sessions = s.fetch(ctx), s.rss(), sessions
}

// cost is the server's cost per session, or nil when it was not measured.
func (s *serverSampler) cost() *ServerCost {
	if s.b == nil || s.p == nil {
		return nil
	}
	n := s.p.Connections - s.b.Connections
	if n <= 0 {
		return nil
	}
	c := &ServerCost{
		Sessions:            n,
		HeapBytesPerSession: math.Round(float64(int64(s.p.HeapBytes)-int64(s.b.HeapBytes)) / float64(n)),
		GoroutinesPerSess:   round2(float64(s.p.Goroutines-s.b.Goroutines) / float64(n)),
		ConnectionsPeak:     s.p.Connections,
		RSSPeakBytes:        s.rssP,
	}
	if s.rssB > 0 && s.rssP > 0 {
		c.RSSBytesPerSession = math.Round(float64(int64(s.rssP)-int64(s.rssB)) / float64(n))
	}
	if s.cpuOK {
		c.RampCPUUSPerSession = math.Round(float64((s.cpuP-s.cpuB)/time.Microsecond) / float64(n))
	}
	return c
}
