package relay

import (
	"math"
	"time"
)

// The queue a viewer's path holds, read from the same transport-wide
// feedback as the trains (trains.go) and the same record of what was sent:
// no work per packet beyond the record's. A packet's one-way delay is its
// arrival on the viewer's clock less its hand-off to the transport on
// ours; the clocks' offset is unknown but constant, so the least delay
// seen lately (the base) stands for an empty queue, and each packet's
// delay above it is what it queued. Per feedback packet the meter keeps the
// least queue delay of the packets it reports (its least one-way delay
// above the base) and how much was sent and delivered; queue reads them
// over standingWindow for the standing-queue cap (bwe.go).
const (
	feedbackRing = 64 // feedback packets remembered (a few seconds)
	// sendGap: packets sent further apart than this are not one stretch
	// of numbered video (frames are 33 ms apart).
	sendGap = 250 * time.Millisecond
	// baseBucket: the base is the least delay of the current bucket and
	// the one before, so it follows a route change or clock drift within
	// two buckets, and a queue that stands a whole bucket still shows.
	baseBucket = 15 * time.Second
	// maxQueueDelay: a delay this far from the base is a jump of the
	// viewer's clock (or its reference time wrapping), not a queue.
	maxQueueDelay = 5 * time.Second
)

// fbSample is what one feedback packet said.
type fbSample struct {
	at                  int64 // nanotime it was read
	minOWD              int64 // ns, offset clocks: the least one-way delay of the packets it reports received
	minQueue            int64 // ns: minOWD above the base (queueMeter.add)
	n, recvN            int   // packets it reports that were recorded; of them received
	sentBytes           int64 // of every packet it reports
	recvBytes           int64 // of those received
	firstSent, lastSent int64 // nanotime the packets it reports were handed on
	firstArr, lastArr   int64 // µs on the viewer's clock, of those received
}

// sent adds a packet the feedback reports, received (at arr µs) or not.
func (f *fbSample) sent(p sentPacket, got bool, arr int64) {
	if f.n == 0 {
		f.firstSent, f.lastSent = p.at, p.at
	}
	f.firstSent, f.lastSent = min(f.firstSent, p.at), max(f.lastSent, p.at)
	f.n++
	f.sentBytes += int64(p.size)
	if !got {
		return
	}
	owd := arr*1000 - p.at
	if f.recvN == 0 {
		f.firstArr, f.lastArr, f.minOWD = arr, arr, owd
	}
	f.firstArr, f.lastArr, f.minOWD = min(f.firstArr, arr), max(f.lastArr, arr), min(f.minOWD, owd)
	f.recvN++
	f.recvBytes += int64(p.size)
}

// queueMeter keeps the recent feedback samples and the base delay (under
// the trainMeter's lock).
type queueMeter struct {
	ring      [feedbackRing]fbSample
	next      int
	cur, prev int64 // least one-way delay (ns, offset clocks) of this bucket and the last
	haveCur   bool
	havePrev  bool
	bucketAt  int64
}

// add records one feedback packet's sample. Only its least delay can
// move the base or be its least queue delay, so that is all it takes.
func (q *queueMeter) add(f fbSample) {
	if f.recvN == 0 {
		return
	}
	if f.at-q.bucketAt > int64(baseBucket) {
		q.prev, q.havePrev = q.cur, q.haveCur
		q.haveCur, q.bucketAt = false, f.at
	}
	q.note(f.minOWD)
	f.minQueue = f.minOWD - q.base()
	if f.minQueue > int64(maxQueueDelay) { // the viewer's clock jumped ahead
		q.cur, q.haveCur, q.havePrev = f.minOWD, true, false
		f.minQueue = 0
	}
	q.ring[q.next%feedbackRing] = f
	q.next++
}

// note takes one packet's one-way delay into the base.
func (q *queueMeter) note(owd int64) {
	switch {
	case q.haveCur && owd < q.base()-int64(maxQueueDelay): // the viewer's clock jumped back
		q.cur, q.havePrev = owd, false
	case !q.haveCur || owd < q.cur:
		q.cur, q.haveCur = owd, true
	}
}

func (q *queueMeter) base() int64 {
	if q.havePrev && q.prev < q.cur {
		return q.prev
	}
	return q.cur
}

// queueReading is the path's queue over the last standingWindow: the least
// queue delay of any packet in it (0 when the feedback covers too little
// of the window to say), and the rates at which the packets it reports
// were sent and delivered, in bits/s.
type queueReading struct {
	standing        time.Duration
	sent, delivered float64
}

// read reads the samples of the last standingWindow.
func (q *queueMeter) read(now int64) queueReading {
	var (
		r                   queueReading
		oldest              = now
		minQ                = int64(math.MaxInt64)
		sentB, recvB        int64
		firstSent, lastSent int64
		firstArr, lastArr   int64
		seen                bool
	)
	// Newest first, and no further back than a gap in what was sent: rates
	// taken across one (a quiet viewer's unnumbered stretch, twccstamp.go;
	// paused video) would read the path as slow as the gap is long.
	for k := range feedbackRing {
		i := q.next - 1 - k
		if i < 0 {
			break
		}
		f := &q.ring[i%feedbackRing]
		if f.at > now {
			continue
		}
		if f.recvN == 0 || now-f.at > int64(standingWindow) || (seen && f.lastSent < firstSent-int64(sendGap)) {
			break
		}
		if !seen {
			firstSent, lastSent, firstArr, lastArr = f.firstSent, f.lastSent, f.firstArr, f.lastArr
			seen = true
		}
		oldest = min(oldest, f.at)
		minQ = min(minQ, f.minQueue)
		sentB += f.sentBytes
		recvB += f.recvBytes
		firstSent, lastSent = min(firstSent, f.firstSent), max(lastSent, f.lastSent)
		firstArr, lastArr = min(firstArr, f.firstArr), max(lastArr, f.lastArr)
	}
	if !seen || now-oldest < int64(standingWindow)*3/4 {
		return r
	}
	r.standing = time.Duration(max(minQ, 0))
	if d := lastSent - firstSent; d > 0 {
		r.sent = float64(sentB*8) / (float64(d) / 1e9)
	}
	if d := lastArr - firstArr; d > 0 {
		r.delivered = float64(recvB*8) / (float64(d) / 1e6)
	}
	return r
}

// queue reads the path's queue (adapt loop).
func (m *trainMeter) queue(now int64) queueReading {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.q.read(now)
}
