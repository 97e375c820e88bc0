package publish

import (
	"context"
	"errors"
	"net"
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
