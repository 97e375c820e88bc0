package server

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/livectl/livectl/internal/signal"
)

func TestRequestLimitDefaults(t *testing.T) {
	for _, tc := range []struct {
		lim   Limits
		rate  rate.Limit
		burst int
	}{
		{Limits{}, DefaultRequestRate, DefaultRequestBurst},
		{Limits{RequestRate: -1, RequestBurst: -1}, DefaultRequestRate, DefaultRequestBurst},
		{Limits{RequestRate: 2.5, RequestBurst: 7}, 2.5, 7},
		{Limits{RequestRate: math.Inf(1)}, rate.Inf, DefaultRequestBurst},
	} {
		if r, b := tc.lim.requestLimit(); r != tc.rate || b != tc.burst {
			t.Errorf("%+v: rate %v burst %d, want %v %d", tc.lim, r, b, tc.rate, tc.burst)
		}
	}
}

// TestRequestLimitOff: RequestRate +Inf serves a pipelined flood in full
// (benchmarks that time back-to-back requests on one connection use it).
func TestRequestLimitOff(t *testing.T) {
	ts := newTestServer(t, Config{Limits: Limits{RequestRate: math.Inf(1)}})
	fc := dialFlood(t, ts.wsURL)
	var msgs []string
	for i := range 100 {
		msgs = append(msgs,
			fmt.Sprintf(`{"type":"join","id":"j%d","room":"r","identity":"a"}`, i),
			fmt.Sprintf(`{"type":"leave","id":"l%d"}`, i))
	}
	fc.send(t, msgs...)
	fc.waitReplies(t, len(msgs))
	if codes := fc.codeCounts(); len(codes) > 0 {
		t.Fatalf("errors with the limit off: %v", codes)
	}
}

// TestRequestBurstIsServed: a client's burst of up to RequestBurst
// requests (a join counting as fanOutCost) is served in full, pipelined.
func TestRequestBurstIsServed(t *testing.T) {
	ts := newTestServer(t, Config{})
	fc := dialFlood(t, ts.wsURL)
	msgs := []string{`{"type":"join","id":"j","room":"r","identity":"a"}`}
	for i := range DefaultRequestBurst - fanOutCost {
		msgs = append(msgs, fmt.Sprintf(`{"type":"ping","id":"p%d"}`, i))
	}
	fc.send(t, msgs...)
	fc.waitReplies(t, len(msgs))
	fc.mu.Lock()
	defer fc.mu.Unlock()
	for id, m := range fc.replies {
		if m.Type == signal.TypeError {
			t.Errorf("request %s refused: %s: %s", id, m.Code, m.Reason)
		}
	}
}

// TestRateLimitedFlood: a connection over its limit gets rate_limited for
// every refused request and stays open while it slows down now and then;
// one that keeps flooding for floodLimit is closed with 4029. Others are
// served meanwhile.
func TestRateLimitedFlood(t *testing.T) {
	old := floodLimit
	floodLimit = 300 * time.Millisecond
	t.Cleanup(func() { floodLimit = old })
	ts := newTestServer(t, Config{Limits: Limits{RequestRate: 20, RequestBurst: 6}})
	bystander := dial(t, ts.wsURL, nil)

	ping := func(fc *floodClient, id string) error {
		fc.ws.SetWriteDeadline(time.Now().Add(time.Second))
		return fc.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","id":"`+id+`"}`))
	}

	// Bursts of 12 every 250 ms: half of each refused, but the bucket
	// earns back 5 between bursts: over floodLimit in all, not closed.
	bursty := dialFlood(t, ts.wsURL)
	sent := 0
	for range 4 {
		for range 12 {
			if err := ping(bursty, fmt.Sprint(sent)); err != nil {
				t.Fatal(err)
			}
			sent++
		}
		time.Sleep(250 * time.Millisecond)
	}
	bursty.waitReplies(t, sent)
	if n := bursty.codeCounts()[wantRateLimited]; n < 4*5 {
		t.Errorf("%d of %d requests refused, want at least 20", n, sent)
	}

	// A steady flood is refused, then closed.
	fc := dialFlood(t, ts.wsURL)
	start := time.Now()
	for i := 0; time.Since(start) < 5*time.Second; i++ {
		if ping(fc, fmt.Sprint(i)) != nil {
			break // the server has closed the connection
		}
		time.Sleep(time.Millisecond)
	}
	<-fc.done
	var ce *websocket.CloseError
	if !errors.As(fc.err, &ce) || ce.Code != signal.CloseRateLimited {
		t.Fatalf("flood ended with %v, want close %d", fc.err, signal.CloseRateLimited)
	}
	if el := time.Since(start); el < floodLimit {
		t.Errorf("closed after %s, before the flood limit of %s", el, floodLimit)
	}
	fc.mu.Lock()
	closing := 0
	for _, m := range fc.replies {
		if m.Code == wantRateLimited && strings.Contains(m.Reason, "closing") {
			closing++
		}
	}
	fc.mu.Unlock()
	if closing != 1 {
		t.Errorf("%d rate_limited replies say closing, want 1", closing)
	}
	if n := ts.counters.droppedTotal(); n != 0 {
		t.Errorf("%d connections counted as dropped", n)
	}
	if _, _, err := bystander.Ping(ctxT(t)); err != nil {
		t.Fatalf("bystander: %v", err)
	}
	// The bursty client is still served.
	time.Sleep(300 * time.Millisecond)
	if err := ping(bursty, "last"); err != nil {
		t.Fatal(err)
	}
	bursty.waitReplies(t, sent+1)
}
