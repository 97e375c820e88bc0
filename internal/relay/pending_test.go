package relay

import (
	"errors"
	"testing"
	"time"
)

// TestPendingBudget: sessions that have not connected are bounded
// (issue 15: 40 oversized offers held 120 MiB for 30 s); a place comes
// back when a session closes or connects.
func TestPendingBudget(t *testing.T) {
	r := newTestRelay(t, Config{MaxPending: 2})
	// Offers whose answers are never applied: these never connect.
	var held []*Subscriber
	for i := range 2 {
		c := newTestSubscriber(t, nil)
		defer c.pc.Close()
		s, _, err := r.SubscribeOffer("p", "v", recvOnlyOffer(t, c.pc))
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		held = append(held, s)
	}
	c := newTestSubscriber(t, nil)
	defer c.pc.Close()
	if _, _, err := r.SubscribeOffer("p", "v", recvOnlyOffer(t, c.pc)); !errors.Is(err, ErrBusy) {
		t.Fatalf("third pending session: %v, want ErrBusy", err)
	}
	c2 := newTestSubscriber(t, nil)
	defer c2.pc.Close()
	if _, _, err := r.Publish("p", "a", recvOnlyOffer(t, c2.pc)); !errors.Is(err, ErrBadSDP) {
		t.Fatalf("an offer refused as bad SDP must not take a place: %v", err) // parsed before the budget
	}
	held[0].Close()
	if got := r.Pending(); got != 1 {
		t.Fatalf("pending after a close = %d, want 1", got)
	}
	held[1].Close()
	held[1].Close() // a second Close gives nothing back twice
	if got := r.Pending(); got != 0 {
		t.Fatalf("pending after closing both = %d, want 0", got)
	}

	// A session that connects leaves the budget while it lives on.
	ts, sub := subscribeWHEP(t, r, "p", "viewer")
	defer ts.pc.Close()
	defer sub.Close()
	deadline := time.Now().Add(10 * time.Second)
	for r.Pending() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("pending = %d after the viewer connected, want 0", r.Pending())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
