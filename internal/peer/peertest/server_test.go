package peertest_test

import (
	"context"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/peer/peertest"
	"github.com/livectl/livectl/internal/publish"
)

// TestRepublishToTheSameRoom: a room outlives its publisher; the next one
// takes it over (the server closed the room's ready channel twice).
func TestRepublishToTheSameRoom(t *testing.T) {
	srv := peertest.Start(t)
	for i := range 2 {
		p, err := publish.Start(context.Background(), publish.Options{URL: srv.URL + "/whip/r"})
		if err != nil {
			t.Fatalf("publisher %d: %v", i+1, err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for p.Stats().FramesSent < 3 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		p.Close()
		for srv.Sessions() != 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if srv.Sessions() != 0 {
			t.Fatalf("publisher %d's session not deleted", i+1)
		}
	}
}
