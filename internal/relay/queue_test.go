package relay

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSendQueueOrderAndBound: entries come out in order across the ring's
// growth and wrap-around, and a queue at its limit refuses.
func TestSendQueueOrderAndBound(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
		// rounds of (push k, pop m)
		rounds [][2]int
	}{
		{"grows to the limit", 100, [][2]int{{100, 100}}},
		{"wraps while growing", 64, [][2]int{{10, 7}, {30, 20}, {40, 40}, {3, 16}}},
		{"limit below the start size", 5, [][2]int{{8, 3}, {8, 8}}},
		{"limit not a power of two", 37, [][2]int{{20, 15}, {40, 40}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newSendQueue(tc.limit, nil)
			next, want, held := 0, 0, 0
			buf := make([]qentry, 7)
			for _, r := range tc.rounds {
				for range r[0] {
					ok := q.push(qentry{rtx: true, d: &downTrack{ssrc: uint32(next)}})
					if ok != (held < tc.limit) {
						t.Fatalf("push with %d of %d held: ok=%v", held, tc.limit, ok)
					}
					if ok {
						next++
						held++
					}
				}
				for popped := 0; popped < r[1]; {
					k := q.pop(buf[:min(len(buf), r[1]-popped)])
					if k == 0 {
						break
					}
					for _, e := range buf[:k] {
						if int(e.d.ssrc) != want {
							t.Fatalf("popped entry %d, want %d", e.d.ssrc, want)
						}
						want++
					}
					popped += k
					held -= k
				}
				if q.n != held {
					t.Fatalf("queue holds %d, want %d", q.n, held)
				}
			}
		})
	}
}

// TestSendQueueShrinks: a ring grown by a burst halves once the burst has
// been gone for queueShrinkAfter, and not before.
func TestSendQueueShrinks(t *testing.T) {
	q := newSendQueue(512, nil)
	pk := &packet{} // an entry with a packet: pop takes many at once
	buf := make([]qentry, 512)
	var at int64 // the queue's clock
	q.clock = func() int64 { return at }
	popAt := func(t int64) { at = t; q.pop(buf) }
	for range 300 {
		q.push(qentry{p: pk})
	}
	popAt(1)
	if len(q.ring) != 512 {
		t.Fatalf("ring %d after a burst of 300, want 512", len(q.ring))
	}
	// The interval that saw the burst keeps the ring.
	now := queueShrinkAfter
	q.push(qentry{p: pk})
	popAt(now)
	if len(q.ring) != 512 {
		t.Fatalf("ring %d at the check after the burst, want 512 kept", len(q.ring))
	}
	for len(q.ring) > queueMin {
		size := len(q.ring)
		q.push(qentry{p: pk})
		popAt(now + queueShrinkAfter/2)
		if len(q.ring) != size {
			t.Fatalf("shrank %d → %d before queueShrinkAfter", size, len(q.ring))
		}
		now += queueShrinkAfter
		q.push(qentry{p: pk})
		popAt(now)
		if len(q.ring) != size/2 {
			t.Fatalf("ring %d after an idle interval, want %d", len(q.ring), size/2)
		}
	}
	// A queue in use at a third of its ring keeps it.
	for range 100 {
		q.push(qentry{p: pk})
	}
	popAt(now)
	size := len(q.ring)
	for range 5 {
		now += queueShrinkAfter
		for range size / 3 {
			q.push(qentry{p: pk})
		}
		popAt(now)
	}
	if len(q.ring) != size {
		t.Errorf("ring %d while used at a third, want %d kept", len(q.ring), size)
	}
}

// TestSendQueueClose: close releases what is queued and refuses more.
func TestSendQueueClose(t *testing.T) {
	q := newSendQueue(8, nil)
	p := getPacket()
	p.refs.Store(2)
	q.push(qentry{p: p})
	q.push(qentry{p: p})
	q.close()
	if r := p.refs.Load(); r != 0 {
		t.Errorf("packet references after close: %d, want 0", r)
	}
	if q.push(qentry{}) {
		t.Error("push after close was taken")
	}
}

// TestSendQueueSchedules: a writer that is called by ready and drains
// until settle sees every entry pushed by concurrent producers (none left
// behind, no lost wake-up), and the queue is scheduled once at a time.
func TestSendQueueSchedules(t *testing.T) {
	wake := make(chan struct{}, 1)
	var twice atomic.Int64
	q := newSendQueue(1<<20, func() {
		select {
		case wake <- struct{}{}:
		default:
			twice.Add(1) // scheduled while already scheduled
		}
	})
	const producers, each = 4, 20000
	got := make(chan int)
	go func() {
		n := 0
		buf := make([]qentry, 16)
		for n < producers*each {
			select {
			case <-wake:
			case <-time.After(5 * time.Second):
				got <- n
				return
			}
			for {
				for k := q.pop(buf); k > 0; k = q.pop(buf) {
					n += k
				}
				if q.settle() {
					break
				}
			}
		}
		got <- n
	}()
	var wg sync.WaitGroup
	for range producers {
		wg.Go(func() {
			for range each {
				q.push(qentry{p: &packet{}})
			}
		})
	}
	wg.Wait()
	if n := <-got; n != producers*each {
		t.Fatalf("writer saw %d of %d entries (a lost wake-up)", n, producers*each)
	}
	if n := twice.Load(); n > 0 {
		t.Errorf("ready called %d times while the queue was already scheduled", n)
	}
}

// TestSendQueuePopStopsAfterStart: pop hands out an entry that starts a
// track from the cache last, so a paced catch-up can hold what follows.
func TestSendQueuePopStopsAfterStart(t *testing.T) {
	q := newSendQueue(16, nil)
	p := &packet{}
	for _, e := range []qentry{{p: p}, {p: p}, {}, {p: p}} {
		q.push(e)
	}
	buf := make([]qentry, 16)
	if k := q.pop(buf); k != 3 || buf[2].p != nil {
		t.Fatalf("first pop: %d entries, want 3 ending with the start", k)
	}
	if k := q.pop(buf); k != 1 || buf[0].p == nil {
		t.Fatalf("second pop: %d entries, want the packet after the start", k)
	}
}
