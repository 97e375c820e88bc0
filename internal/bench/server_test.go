package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/livectl/livectl/internal/stats"
)

// statsTarget serves /v1/stats documents whose counters grow by one step a
// read, as a server's do, and counts the reads.
func statsTarget(t *testing.T) (url string, reads *atomic.Int64) {
	reads = new(atomic.Int64)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := reads.Add(1)
		_ = json.NewEncoder(w).Encode(stats.Snapshot{Connections: n, Goroutines: int(10 * n),
			HeapBytes: uint64(1000 * n), TracksSubscribed: n, PacketsLost: uint64(n)})
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/v1/stats", reads
}

func TestSampler(t *testing.T) {
	// Registered first, so it runs after the target is closed (cleanups
	// run last in, first out) and its client connections have ended.
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait")) })
	url, reads := statsTarget(t)
	tests := []struct {
		name    string
		url     string
		pid     int
		start   bool
		active  bool
		snaps   bool // marks carry a /v1/stats document
		process bool // marks carry CPU and RSS
	}{
		{"nothing to read", "", 0, true, false, false, false},
		{"stats only, marks only", url, 0, false, true, true, false},
		{"stats and process, periodic", url, os.Getpid(), true, true, true, true},
		{"process only", "", os.Getpid(), true, true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reads.Store(0)
			s := NewSampler(tt.url, tt.pid, nil)
			if s.Active() != tt.active {
				t.Fatalf("Active() = %v, want %v", s.Active(), tt.active)
			}
			if tt.start {
				s.Start(20 * time.Millisecond)
			}
			a := s.Mark(context.Background())
			time.Sleep(120 * time.Millisecond)
			b := s.Mark(context.Background())
			p := s.Stop()
			if again := s.Stop(); again != p {
				t.Errorf("a second Stop returned %+v, want %+v", again, p)
			}
			if (a.Snap != nil) != tt.snaps || (b.Snap != nil) != tt.snaps {
				t.Fatalf("marks' documents %v, %v; want documents: %v", a.Snap, b.Snap, tt.snaps)
			}
			if a.CPUOK != tt.process || b.CPUOK != tt.process || (b.RSS > 0) != tt.process {
				t.Errorf("marks' process figures %+v, %+v; want them: %v", a, b, tt.process)
			}
			if !b.At.After(a.At) {
				t.Errorf("marks at %v then %v", a.At, b.At)
			}
			if !tt.snaps {
				if p.Samples != 0 || p.First != nil {
					t.Errorf("peaks %+v without a stats URL", p)
				}
				return
			}
			// Every document read counts, from marks and periodic samples.
			if int64(p.Samples) != reads.Load() {
				t.Errorf("%d samples, %d documents served", p.Samples, reads.Load())
			}
			if tt.start && p.Samples < 4 {
				t.Errorf("%d samples in 120ms at 20ms with two marks, want more", p.Samples)
			}
			if !tt.start && p.Samples != 2 {
				t.Errorf("%d samples from two marks alone", p.Samples)
			}
			// Last is the last document recorded: a periodic sample may
			// be read before the final mark and recorded after it, so it
			// is the newest or the one before.
			if p.First.Connections != 1 || p.Last.Connections < int64(p.Samples)-1 ||
				p.HeapMax != uint64(1000*p.Samples) || p.GoroutinesMax != 10*p.Samples || p.TracksSubscribedMax != int64(p.Samples) {
				t.Errorf("peaks %+v (first %+v, last %+v) over %d samples", p, p.First, p.Last, p.Samples)
			}
			if b.Snap.Connections <= a.Snap.Connections {
				t.Errorf("marks out of order: %d then %d connections", a.Snap.Connections, b.Snap.Connections)
			}
		})
	}
}

// TestSamplerUnreachable checks that a server that does not answer costs
// samples, not the run: marks come back without a document, in time.
func TestSamplerUnreachable(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
	s := NewSampler("http://127.0.0.1:1/v1/stats", 0, nil)
	s.Start(10 * time.Millisecond)
	start := time.Now()
	m := s.Mark(context.Background())
	p := s.Stop()
	if m.Snap != nil || p.Samples != 0 || p.First != nil {
		t.Errorf("mark %+v, peaks %+v from a closed port", m, p)
	}
	if d := time.Since(start); d > fetchTimeout+time.Second {
		t.Errorf("a mark took %v", d)
	}
}

// TestSamplerTLS: an https:// stats URL is read with the run's trust (a
// private CA: here the test server's own certificate) and missed without
// it, as the system's roots do not know that certificate.
func TestSamplerTLS(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(stats.Snapshot{Connections: 7})
	}))
	defer ts.Close()
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	for _, tt := range []struct {
		name  string
		trust *tls.Config
		read  bool
	}{
		{"the run's CA", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, true},
		{"system roots", nil, false},
	} {
		s := NewSampler(ts.URL+"/v1/stats", 0, tt.trust)
		m := s.Mark(context.Background())
		s.Stop()
		if got := m.Snap != nil && m.Snap.Connections == 7; got != tt.read {
			t.Errorf("%s: read the document: %v, want %v", tt.name, got, tt.read)
		}
	}
}
