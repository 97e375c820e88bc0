package top

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/stats"
)

func TestStatsURL(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"http://127.0.0.1:7880", "http://127.0.0.1:7880/v1/stats", false},
		{"http://127.0.0.1:7880/", "http://127.0.0.1:7880/v1/stats", false},
		{"127.0.0.1:7880", "http://127.0.0.1:7880/v1/stats", false},
		{"ws://127.0.0.1:7880/ws", "http://127.0.0.1:7880/v1/stats", false},
		{"wss://example.com/ws", "https://example.com/v1/stats", false},
		{"https://example.com/sfu/v1/stats?x=1", "https://example.com/sfu/v1/stats", false},
		{"", "", true},
		{"ftp://example.com", "", true},
		{"http://", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := StatsURL(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("StatsURL(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// statsServer serves the snapshots in turn (repeating the last) on /v1/stats.
type statsServer struct {
	*httptest.Server
	snaps []stats.Snapshot
	calls atomic.Int64
}

func newStatsServer(t *testing.T, snaps ...stats.Snapshot) *statsServer {
	t.Helper()
	s := &statsServer{snaps: snaps}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/stats" {
			http.NotFound(w, r)
			return
		}
		n := int(s.calls.Add(1)) - 1
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.snaps[min(n, len(s.snaps)-1)])
	}))
	t.Cleanup(s.Close)
	return s
}

func newSource(t *testing.T, target string) *HTTPStats {
	t.Helper()
	src, err := NewHTTPStats(target, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return src
}

func TestHTTPStats(t *testing.T) {
	t.Run("decodes snapshot", func(t *testing.T) {
		srv := newStatsServer(t, sampleSnap(10, 0))
		got, err := newSource(t, srv.URL).FetchStats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got.UptimeS != 10 || len(got.Rooms) != 4 || got.Rooms[0].Name != "lobby" {
			t.Errorf("got %+v", got)
		}
	})
	failures := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"server error", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", 500) }, "HTTP 500: boom"},
		{"not found", http.NotFound, "HTTP 404"},
		{"not json", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<html>")) }, "not a stats document"},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			_, err := newSource(t, srv.URL).FetchStats(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), srv.URL+"/v1/stats") {
				t.Errorf("error = %v, want it to name the URL and contain %q", err, tt.want)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		_, err := newSource(t, closedAddr(t)).FetchStats(context.Background())
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("error = %v, want connection refused", err)
		}
		if got := shortErr(err, time.Second); !strings.Contains(got, "refused") || strings.Contains(got, "http://") {
			t.Errorf("shortErr = %q, want just the cause", got)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
		defer srv.Close()
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := newSource(t, srv.URL).FetchStats(ctx)
		if got := shortErr(err, 2*time.Second); got != "no answer within 2s" {
			t.Errorf("shortErr(%v) = %q", err, got)
		}
	})
}

// closedAddr is the URL of a loopback port nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestOnce(t *testing.T) {
	a, b := sampleSnap(10, 0), sampleSnap(12, 1)
	srv := newStatsServer(t, a, b)
	rep, err := Once(context.Background(), OnceOptions{
		Target: srv.URL, Interval: 10 * time.Millisecond, Stats: newSource(t, srv.URL),
		Goroutines: &fakeGoroutines{sum: sampleGoroutines()}, Now: stepClock(time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rates == nil {
		t.Fatal("no rates from two polls")
	}
	// 2 s of uptime between the polls; b carries 2 Mbit more in.
	if want := float64(b.BytesIn-a.BytesIn) * 8 / 2; rep.Rates.BitrateInBps != want {
		t.Errorf("bitrate in = %v, want %v", rep.Rates.BitrateInBps, want)
	}
	if rep.Stats.UptimeS != 12 || rep.Goroutines == nil || rep.Goroutines.Total != 57 {
		t.Errorf("report = %+v", rep)
	}

	var js bytes.Buffer
	if err := json.NewEncoder(&js).Encode(rep); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"target", "time", "rates", "stats", "goroutines"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, js.String())
		}
	}

	var tab bytes.Buffer
	if err := rep.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"connections", "bitrate", "stage-b", "ROOM", " server.(*conn).readLoop"} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tab.String())
		}
	}
	// Every room column, narrow or not: viewers, publishers, chat in and
	// deliveries per second (stage-b: 14 viewers, 1 publisher, 100 in, 1,500 out).
	if !regexp.MustCompile(`ROOM\s+PART\s+VIEW\s+PUB\s+SUB\s+TRK\s+MSG/s\s+DLV/s\s+IN\s+OUT`).MatchString(tab.String()) ||
		!regexp.MustCompile(`stage-b\s+15\s+14\s+1\s+14\s+2\s+100\s+1.5k\s`).MatchString(tab.String()) {
		t.Errorf("rooms table lacks the live-room columns:\n%s", tab.String())
	}

	t.Run("unreachable", func(t *testing.T) {
		_, err := Once(context.Background(), OnceOptions{Stats: newSource(t, closedAddr(t))})
		if err == nil {
			t.Fatal("no error from a closed port")
		}
	})
	t.Run("goroutine failure is reported, not fatal", func(t *testing.T) {
		rep, err := Once(context.Background(), OnceOptions{Stats: newSource(t, srv.URL), Goroutines: &fakeGoroutines{err: errFake}})
		if err != nil || rep.GoroutinesError == "" || rep.Rates != nil {
			t.Errorf("rep=%+v err=%v", rep, err)
		}
	})
}

// stepClock is a clock that moves step on at every reading, so that polls
// taken a few milliseconds apart look as far apart as the snapshots' uptimes
// say (Once reads it before and after each poll).
func stepClock(step time.Duration) func() time.Time {
	var mu sync.Mutex
	now := t0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(step)
		return now
	}
}

// TestOnceRates checks which pairs of polls give rates in the --once report.
func TestOnceRates(t *testing.T) {
	lateLoss := sampleSnap(12, 1)
	lateLoss.PacketsLost = 3 // fell from 10: late packets counted as received
	base := sampleSnap(10, 0)
	base.PacketsLost = 10
	tests := []struct {
		name   string
		a, b   stats.Snapshot
		rates  bool
		lossIs float64
	}{
		{"same process", sampleSnap(10, 0), sampleSnap(12, 1), true, 100 * 10 / 1000.0},
		{"packets_lost fell", base, lateLoss, true, 0},
		{"uptime went back", sampleSnap(10, 0), sampleSnap(1, 1), false, 0},
		{"uptime ran ahead of the clock", sampleSnap(10, 0), sampleSnap(60, 1), false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newStatsServer(t, tt.a, tt.b)
			rep, err := Once(context.Background(), OnceOptions{
				Target: srv.URL, Interval: time.Millisecond, Stats: newSource(t, srv.URL), Now: stepClock(time.Second),
			})
			if err != nil {
				t.Fatal(err)
			}
			if (rep.Rates != nil) != tt.rates {
				t.Fatalf("rates = %+v, want present: %v", rep.Rates, tt.rates)
			}
			if rep.Rates != nil && math.Abs(rep.Rates.LossPct-tt.lossIs) > 1e-9 {
				t.Errorf("loss = %v%%, want %v%%", rep.Rates.LossPct, tt.lossIs)
			}
		})
	}
}

// TestStatsFallbackToAdmin: a server with auth on answers 404 for the
// public /v1/stats; top then reads the admin listener's and stays there.
func TestStatsFallbackToAdmin(t *testing.T) {
	srv, err := server.New(server.Config{AuthSecret: []byte(strings.Repeat("k", 32)), Version: "fallback"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	public := httptest.NewServer(srv.Handler())
	defer public.Close()
	admin := httptest.NewServer(srv.AdminHandler())
	defer admin.Close()

	src := newSource(t, public.URL)
	if _, err := src.FetchStats(context.Background()); err == nil {
		t.Fatal("the public /v1/stats of an auth-on server answered; the fallback is not exercised")
	}
	if src.Fallback, err = StatsURL(admin.URL); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		snap, err := src.FetchStats(context.Background())
		if err != nil || snap.Version != "fallback" {
			t.Fatalf("with the admin fallback: %+v, %v", snap, err)
		}
	}
	if src.Where() != admin.URL+"/v1/stats" {
		t.Errorf("reading from %s, want the admin listener", src.Where())
	}
}
