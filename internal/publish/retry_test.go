package publish

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestKeep: a failure no retry can mend ends Keep at once; an unreachable
// server is tried again, with backoff, until the duration passes.
func TestKeep(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/whip/live"
	ln.Close() // nothing listens there now
	for _, tc := range []struct {
		name     string
		o        Options
		wantErr  func(error) bool
		minTries int
		maxTries int
		duration time.Duration
	}{
		{name: "missing file", o: Options{URL: dead, File: "/nonexistent.ivf"},
			wantErr: func(err error) bool { var fe *FileError; return errors.As(err, &fe) }, maxTries: 0, duration: time.Minute},
		{name: "ws without room", o: Options{URL: "ws://" + ln.Addr().String() + "/ws"},
			wantErr: func(err error) bool { return errors.Is(err, ErrNoRoom) }, maxTries: 0, duration: time.Minute},
		{name: "unreachable", o: Options{URL: dead, ConnectTimeout: time.Second},
			wantErr: func(err error) bool { return err == nil }, minTries: 3, maxTries: 20, duration: time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tries := 0
			start := time.Now()
			_, err := Keep(context.Background(), tc.o, tc.duration, Backoff{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond},
				func(error, time.Duration) { tries++ })
			if !tc.wantErr(err) {
				t.Errorf("Keep: %v", err)
			}
			if tries < tc.minTries || tries > tc.maxTries {
				t.Errorf("%d retries; want %d–%d", tries, tc.minTries, tc.maxTries)
			}
			if el := time.Since(start); el > tc.duration+2*time.Second {
				t.Errorf("Keep took %v", el)
			}
		})
	}
}

// TestKeepTurnsToTheNextURL: each new session goes to the next of URL and
// MoreURLs, round robin, so that a dead node is left at the first retry.
func TestKeepTurnsToTheNextURL(t *testing.T) {
	var mu sync.Mutex
	var order []string
	node := func(name string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			http.Error(w, "not now", http.StatusServiceUnavailable)
		}))
		t.Cleanup(s.Close)
		return s.URL + "/whip/live"
	}
	o := Options{URL: node("a"), MoreURLs: []string{node("b"), node("c")}, ConnectTimeout: time.Second}
	if _, err := Keep(context.Background(), o, 500*time.Millisecond, Backoff{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}, nil); err != nil {
		t.Fatalf("Keep: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) < 4 {
		t.Fatalf("%d sessions tried in 500 ms: %v", len(order), order)
	}
	for i, got := range order {
		if want := string(rune('a' + i%3)); got != want {
			t.Fatalf("session %d went to %s, want %s (order %v)", i, got, want, order)
		}
	}
}
