package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/livectl/livectl/internal/stats"
	"github.com/livectl/livectl/internal/tlsconf"
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

// CheckStats reads statsURL once within timeout: nil when it answers with a
// /v1/stats document, else why not (for a warning before a run).
func CheckStats(statsURL string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := stats.Fetch(ctx, &http.Client{Timeout: timeout}, statsURL)
	return err
}

// fetchTimeout bounds one read of /v1/stats, so that a stalled server costs
// a sample, not the run.
const fetchTimeout = 2 * time.Second

// Mark is the server's cumulative figures at one moment (before a ramp, at
// its peak, at the start and end of a hold). Each generator turns two marks
// into its own figures: cost per session, CPU per subscriber.
type Mark struct {
	At    time.Time
	Snap  *stats.Snapshot // nil when /v1/stats was not read or did not answer
	CPU   time.Duration   // the server process's user+system CPU so far
	CPUOK bool            // CPU was read (the server runs on this machine)
	RSS   uint64          // its resident set size; 0 when unknown
}

// Peaks is what periodic sampling and marks saw of the server over a run.
type Peaks struct {
	Samples int // /v1/stats documents read
	// CPUCoresMax is the busiest interval between two periodic samples.
	CPUCoresMax         float64
	RSSMax              uint64
	HeapMax             uint64
	GoroutinesMax       int
	TracksSubscribedMax int64
	// First and Last are the first and last /v1/stats documents read.
	First, Last *stats.Snapshot
}

// Sampler is every generator's one reader of the target server: its
// /v1/stats (statsURL) and, when it runs on this machine (pid), its CPU and
// RSS from /proc. Marks are taken when the generator asks; Start adds a
// sample at a fixed interval for peaks. Every read is best effort: a target
// that is not a livectl server simply has no server figures.
type Sampler struct {
	url    string
	pid    int
	client *http.Client

	mu      sync.Mutex
	peaks   Peaks
	lastCPU time.Duration
	lastAt  time.Time

	started  bool
	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}
}

// NewSampler reads statsURL ("" for none) and the process pid (0 for none).
// trust is what an https:// statsURL is verified against (the run's --ca or
// --insecure; nil for the system's roots).
func NewSampler(statsURL string, pid int, trust *tls.Config) *Sampler {
	return &Sampler{url: statsURL, pid: pid, client: &http.Client{Timeout: fetchTimeout, Transport: tlsconf.Transport(trust)},
		stopCh: make(chan struct{}), done: make(chan struct{})}
}

// Active reports whether there is anything to read.
func (s *Sampler) Active() bool { return s.url != "" || s.pid > 0 }

// Start samples now and then every interval on a goroutine of its own until
// Stop. It does nothing when the sampler is not active.
func (s *Sampler) Start(every time.Duration) {
	if !s.Active() {
		return
	}
	s.started = true
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stopCh:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
}

// Stop ends periodic sampling (it may be called more than once, and without
// Start) and returns the peaks seen.
func (s *Sampler) Stop() Peaks {
	s.stopOnce.Do(func() {
		close(s.stopCh)
		if s.started {
			<-s.done
		}
		s.client.CloseIdleConnections() // its own transport: nothing else's
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peaks
}

// Mark reads the server's cumulative figures now (within ctx) and counts
// them towards the peaks.
func (s *Sampler) Mark(ctx context.Context) Mark {
	m := s.read(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(m)
	return m
}

func (s *Sampler) read(ctx context.Context) Mark {
	m := Mark{At: time.Now()}
	if s.url != "" {
		ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		m.Snap, _ = stats.Fetch(ctx, s.client, s.url) // best effort: a miss is a sample less
		cancel()
	}
	if s.pid > 0 {
		m.CPU, m.CPUOK = PIDCPU(s.pid)
		m.RSS = PIDRSS(s.pid)
	}
	return m
}

// sample is one periodic reading: a mark that also times the server's CPU
// since the previous one (marks do not, as they may fall just after a
// sample and make a busy instant look like a busy second).
func (s *Sampler) sample() {
	m := s.read(context.Background())
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.CPUOK {
		if !s.lastAt.IsZero() {
			if dt := m.At.Sub(s.lastAt); dt > 0 {
				s.peaks.CPUCoresMax = max(s.peaks.CPUCoresMax, float64(m.CPU-s.lastCPU)/float64(dt))
			}
		}
		s.lastCPU, s.lastAt = m.CPU, m.At
	}
	s.record(m)
}

// record counts m towards the peaks; s.mu is held.
func (s *Sampler) record(m Mark) {
	p := &s.peaks
	p.RSSMax = max(p.RSSMax, m.RSS)
	if m.Snap == nil {
		return
	}
	p.Samples++
	if p.First == nil {
		p.First = m.Snap
	}
	p.Last = m.Snap
	p.HeapMax = max(p.HeapMax, m.Snap.HeapBytes)
	p.GoroutinesMax = max(p.GoroutinesMax, m.Snap.Goroutines)
	p.TracksSubscribedMax = max(p.TracksSubscribedMax, m.Snap.TracksSubscribed)
}
