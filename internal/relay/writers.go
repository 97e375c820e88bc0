package relay

import "sync"

// writers drain the subscribers' send queues on a few goroutines, one per
// processor, instead of one goroutine per subscriber. A media write never
// waits for its viewer (UDP: the datagram is queued for sendmmsg), so a
// goroutine per viewer bought no isolation; it cost each viewer a deep
// stack (pion's interceptors and SRTP run on it) and a wake-up per packet
// per viewer. A subscriber whose queue goes from empty to not joins the
// ready list; a worker takes it, writes a few batches, and puts it back
// at the end of the list while entries remain, so one busy viewer cannot
// hold a worker. A subscriber is on the list or with a worker at most
// once (sendQueue.scheduled): its down-tracks have one writer at a time.
type writers struct {
	mu     sync.Mutex
	cond   sync.Cond
	ready  []*Subscriber // ready[head:] wait, oldest first
	head   int
	closed bool
}

// drainRounds is how many batches a worker writes for one subscriber
// before it moves on to the next.
const drainRounds = 4

// newWriters starts n workers (Relay: one per processor).
func newWriters(wg *sync.WaitGroup, n int) *writers {
	w := &writers{}
	w.cond.L = &w.mu
	for range n {
		wg.Go(w.loop)
	}
	return w
}

// schedule appends s to the ready list.
func (w *writers) schedule(s *Subscriber) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.ready = append(w.ready, s)
	w.mu.Unlock()
	w.cond.Signal()
}

// next waits for a ready subscriber; nil once the writers are closed.
func (w *writers) next() *Subscriber {
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.head == len(w.ready) && !w.closed {
		w.cond.Wait()
	}
	if w.closed {
		return nil
	}
	s := w.ready[w.head]
	w.ready[w.head] = nil
	w.head++
	switch {
	case w.head == len(w.ready):
		w.ready, w.head = w.ready[:0], 0
	case w.head > 256 && w.head > len(w.ready)/2: // a list that never empties
		n := copy(w.ready, w.ready[w.head:])
		clear(w.ready[n:])
		w.ready, w.head = w.ready[:n], 0
	}
	return s
}

func (w *writers) loop() {
	var batch [16]qentry
	for s := w.next(); s != nil; s = w.next() {
		if s.drain(batch[:]) {
			w.schedule(s)
		}
	}
}

// close ends the workers; subscribers still listed are left to their own
// Close, which releases what they hold.
func (w *writers) close() {
	w.mu.Lock()
	w.closed = true
	clear(w.ready)
	w.ready, w.head = nil, 0
	w.mu.Unlock()
	w.cond.Broadcast()
}
