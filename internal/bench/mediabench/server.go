package mediabench

import (
	"context"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/stats"
)

// sampler reads the server's /v1/stats once a second, and its CPU and RSS
// from /proc when it runs on this machine. Every read is best effort: a
// server that is not livectl simply has no server section.
type sampler struct {
	url    string
	pid    int
	client *http.Client

	mu       sync.Mutex
	samples  int
	cpuMax   float64
	rssMax   uint64
	heapMax  uint64
	gorMax   int
	trackMax int64
	first    *stats.Snapshot
	last     *stats.Snapshot
	lastCPU  time.Duration
	lastAt   time.Time
	marks    []mark

	stopCh chan struct{}
	done   chan struct{}
}

// mark is the server's cumulative figures at one moment (hold start, end).
type mark struct {
	at   time.Time
	cpu  time.Duration
	cpuK bool
	snap *stats.Snapshot
}

func newSampler(url string, pid int) *sampler {
	return &sampler{url: url, pid: pid, client: &http.Client{Timeout: 2 * time.Second},
		stopCh: make(chan struct{}), done: make(chan struct{})}
}

func (s *sampler) active() bool { return s.url != "" || s.pid > 0 }

func (s *sampler) start() {
	if !s.active() {
		close(s.done)
		return
	}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(time.Second)
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

func (s *sampler) stop() {
	select {
	case <-s.stopCh:
	default:
		close(s.stopCh)
	}
	<-s.done
}

func (s *sampler) fetch() *stats.Snapshot {
	if s.url == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	snap, _ := stats.Fetch(ctx, s.client, s.url) // best effort: a miss is a sample less
	return snap
}

func (s *sampler) sample() {
	snap := s.fetch()
	now := time.Now()
	var cpu time.Duration
	var cpuOK bool
	var rss uint64
	if s.pid > 0 {
		cpu, cpuOK = bench.PIDCPU(s.pid)
		rss = bench.PIDRSS(s.pid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cpuOK {
		if !s.lastAt.IsZero() {
			if dt := now.Sub(s.lastAt); dt > 0 {
				s.cpuMax = max(s.cpuMax, float64(cpu-s.lastCPU)/float64(dt))
			}
		}
		s.lastCPU, s.lastAt = cpu, now
	}
	s.rssMax = max(s.rssMax, rss)
	if snap != nil {
		s.samples++
		if s.first == nil {
			s.first = snap
		}
		s.last = snap
		s.heapMax = max(s.heapMax, snap.HeapBytes)
		s.gorMax = max(s.gorMax, snap.Goroutines)
		s.trackMax = max(s.trackMax, snap.TracksSubscribed)
	}
}

// mark records the server's cumulative figures now and returns the marks
// so far (the hold's start and end).
func (s *sampler) mark() []mark {
	if !s.active() {
		return nil
	}
	m := mark{at: time.Now(), snap: s.fetch()}
	if s.pid > 0 {
		m.cpu, m.cpuK = bench.PIDCPU(s.pid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.snap != nil {
		s.samples++
		s.last = m.snap
		if s.first == nil {
			s.first = m.snap
		}
		s.gorMax = max(s.gorMax, m.snap.Goroutines)
		s.heapMax = max(s.heapMax, m.snap.HeapBytes)
		s.trackMax = max(s.trackMax, m.snap.TracksSubscribed)
	}
	s.marks = append(s.marks, m)
	return append([]mark(nil), s.marks...)
}

// report sums up the server's side; hold holds the hold's start and end
// marks; receiving is the number of subscribers getting media in the hold.
func (s *sampler) report(hold []mark, receiving int64) *Server {
	if !s.active() {
		return nil
	}
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &Server{Samples: s.samples, CPUCoresMax: round2(s.cpuMax), RSSPeakBytes: s.rssMax,
		HeapPeakBytes: s.heapMax, GoroutinesPeak: s.gorMax, TracksSubscribedPeak: s.trackMax}
	if s.first != nil && s.last != nil {
		out.PacketsLost = s.last.PacketsLost - min(s.first.PacketsLost, s.last.PacketsLost)
		out.NACKs = s.last.NACKs - min(s.first.NACKs, s.last.NACKs)
		out.PLIs = s.last.PLIs - min(s.first.PLIs, s.last.PLIs)
	}
	if len(hold) >= 2 {
		a, b := hold[0], hold[len(hold)-1]
		dt := b.at.Sub(a.at).Seconds()
		if dt > 0 && a.cpuK && b.cpuK {
			out.CPUCoresHold = round2((b.cpu - a.cpu).Seconds() / dt)
			if receiving > 0 {
				out.MillicoresPerSubscriber = round2(out.CPUCoresHold * 1000 / float64(receiving))
			}
		}
		if dt > 0 && a.snap != nil && b.snap != nil && b.snap.BytesOut >= a.snap.BytesOut {
			out.BitrateOutKbps = math.Round(float64(b.snap.BytesOut-a.snap.BytesOut) * 8 / 1000 / dt)
		}
		if receiving > 0 && s.first != nil && a.snap != nil {
			out.GoroutinesPerSubscriber = round2(float64(a.snap.Goroutines-s.first.Goroutines) / float64(receiving))
			out.HeapBytesPerSubscriberKB = round2(float64(int64(a.snap.HeapBytes)-int64(s.first.HeapBytes)) / 1024 / float64(receiving))
		}
	}
	return out
}
