package relay

import (
	"sync"
	"time"
)

// sendQueue is a subscriber's queue of packets for its writer: bounded (a
// full queue refuses, and the caller drops and counts) and sized by use.
// A viewer's queue is nearly always empty, since its writer takes each
// packet as it comes, so a buffer of the full bound (512 entries, 16 KB)
// cost every viewer a tenth of its live heap for the rare burst. The ring
// starts at queueMin entries, doubles up to the bound when a burst needs
// it, and halves again after queueShrinkAfter in which it never held more
// than a quarter of its size.
type sendQueue struct {
	mu      sync.Mutex
	ring    []qentry
	head    int // index of the oldest entry
	n       int // entries held
	limit   int
	peak    int   // most entries held since the last shrink check
	checked int64 // nanotime of the last shrink check
	closed  bool
	// scheduled is set while the subscriber is on the writers' ready list
	// or being drained: one writer at a time owns its down-tracks.
	scheduled bool
	// ready puts the subscriber on the writers' ready list; push calls it
	// when it sets scheduled. Nil in tests that drain by hand.
	ready func()
	// clock is nanotime (tests set another); pop reads it only to pace the
	// shrink check of a ring above queueMin, not on every turn.
	clock func() int64
}

const (
	queueMin         = 16
	queueShrinkAfter = int64(2 * time.Second)
)

func newSendQueue(limit int, ready func()) *sendQueue {
	limit = max(limit, 1)
	return &sendQueue{ring: make([]qentry, min(limit, queueMin)), limit: limit, ready: ready, clock: nanotime}
}

// push appends e and reports whether it did: not when the queue holds its
// limit or has been closed.
func (q *sendQueue) push(e qentry) bool {
	q.mu.Lock()
	if q.closed || q.n >= q.limit {
		q.mu.Unlock()
		return false
	}
	if q.n == len(q.ring) {
		q.resize(min(2*len(q.ring), q.limit))
	}
	i := q.head + q.n
	if i >= len(q.ring) {
		i -= len(q.ring)
	}
	q.ring[i] = e
	q.n++
	q.peak = max(q.peak, q.n)
	schedule := !q.scheduled
	q.scheduled = true
	q.mu.Unlock()
	if schedule && q.ready != nil {
		q.ready()
	}
	return true
}

// pop moves up to len(buf) of the oldest entries into buf and returns how
// many. It stops after an entry that starts a track from the cache: a paced
// catch-up holds back what follows it. When the queue empties, a ring above
// queueMin is checked for shrinking, at most once per queueShrinkAfter.
func (q *sendQueue) pop(buf []qentry) int {
	q.mu.Lock()
	k := 0
	for k < len(buf) && q.n > 0 {
		buf[k] = q.shift()
		k++
		if buf[k-1].p == nil {
			break
		}
	}
	if q.n == 0 {
		q.head = 0
		if len(q.ring) <= queueMin {
			q.peak = 0
		} else if now := q.clock(); now-q.checked >= queueShrinkAfter {
			if len(q.ring) > queueMin && q.peak <= len(q.ring)/4 {
				q.ring = make([]qentry, len(q.ring)/2)
			}
			q.peak, q.checked = 0, now
		}
	}
	q.mu.Unlock()
	return k
}

// settle ends a writer's turn: it reports whether the queue is empty, and
// then the next push schedules the subscriber again; otherwise the writer
// puts it back on the ready list itself.
func (q *sendQueue) settle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		q.scheduled = false
		return true
	}
	return false
}

// close refuses every later push and releases what is queued.
func (q *sendQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for q.n > 0 {
		q.shift().release()
	}
}

// shift takes the oldest entry out of the ring (q.n > 0, q.mu held); its
// packet reference passes to the caller.
func (q *sendQueue) shift() qentry {
	e := q.ring[q.head]
	q.ring[q.head] = qentry{}
	if q.head++; q.head == len(q.ring) {
		q.head = 0
	}
	q.n--
	return e
}

// resize moves the entries into a ring of size entries (size >= q.n).
func (q *sendQueue) resize(size int) {
	ring := make([]qentry, size)
	k := copy(ring, q.ring[q.head:min(q.head+q.n, len(q.ring))])
	copy(ring[k:q.n], q.ring)
	q.ring, q.head = ring, 0
}
