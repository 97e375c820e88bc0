package relay

import (
	"slices"
	"sync"
	"time"
)

// Path capacity from packet trains. A delay-based estimate (pion's gcc,
// which the relay used before) says nothing about room above what a viewer
// is sent: while the path is not full, pion's rate controller raised it 8 %
// a second without bound, so a viewer on h behind 700 kbit/s saw 2 Mbit/s
// "fit" the 1.4 Mbit/s f layer, switched up and froze for seconds. The relay does not
// pace: a keyframe's packets, and a frame's, leave back to back, and the
// narrowest link of the path spreads them out to its own rate. The viewer's
// transport-wide feedback says when each arrived, so each such train
// measures the path's capacity at no cost (packet-train dispersion), which
// caps the estimate (Subscriber.estimate). A viewer whose path is lifted
// shows it with the next keyframe.
const (
	// trainGap: packets handed to the transport less than this apart were
	// sent back to back (one burst of the writer).
	trainGap = time.Millisecond
	// A train must have this many packets to measure anything: shorter
	// ones fit into a shaper's burst allowance. Its rate is its mean
	// packet size over the median time between its arrivals, not over its
	// whole span: the viewer's host, when busy, stalls some arrivals (a
	// wide path would read as narrow) or bunches them (a narrow one as
	// wide), a few gaps of the train either way. A median gap under
	// minArrivalGap (the feedback's clock ticks 250 µs) counts as that: a
	// lower bound far above any layer (38 Mbit/s for 1,200 bytes).
	minTrainPackets = 6
	minArrivalGap   = 250 * time.Microsecond
	// capacityWindow is how long a train's measurement counts; the
	// capacity is the median of those in it (a late reader of the viewer
	// bunches arrivals, so single trains overstate). A layer's frames
	// between keyframes are mostly too short to be trains: the window
	// spans a few keyframes.
	capacityWindow = 6 * time.Second
	minTrains      = 2
	sentRing       = 512 // transport-wide sequence numbers remembered (seconds of video)
	maxSamples     = 32
)

// trainMeter is one subscriber's record of what it sent (by transport-wide
// sequence number), the capacity its trains measured and the queue its
// path holds (queue.go).
type trainMeter struct {
	mu      sync.Mutex
	sent    [sentRing]sentPacket
	samples []capSample // oldest first, at most maxSamples
	arr     []arrival   // scratch for one feedback packet
	gaps    []int64     // scratch for one train
	q       queueMeter
}

type sentPacket struct {
	seq  uint16
	ok   bool
	size int32
	at   int64 // nanotime handed to the transport
}

type capSample struct {
	bps float64
	at  int64
}

type arrival struct {
	seq uint16
	at  int64 // µs on the viewer's clock
}

// record records a packet the writer handed to the transport with
// transport-wide sequence number seq. Writer goroutine; no allocation.
func (m *trainMeter) record(seq uint16, size int, now int64) {
	m.mu.Lock()
	m.sent[seq%sentRing] = sentPacket{seq: seq, ok: true, size: int32(size), at: now}
	m.mu.Unlock()
}

// feedback reads one transport-wide feedback packet (p: its bytes, the
// RTCP header included; twccread.go): the arrival times of the packets it
// lists, and from each train among them a capacity sample. It reports
// false if p is malformed; what it listed before the fault counts.
func (m *trainMeter) feedback(p []byte, now int64) bool {
	r, ok := newTWCCReader(p)
	if !ok {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.arr = m.arr[:0]
	sample := fbSample{at: now}
	for {
		seq, got, at, ok := r.next()
		if !ok {
			break
		}
		if got {
			m.arr = append(m.arr, arrival{seq: seq, at: at})
		}
		if p := m.sent[seq%sentRing]; p.ok && p.seq == seq {
			sample.sent(p, got, at)
		}
	}
	valid := r.left == 0
	m.q.add(sample)
	// Trains: consecutive sequence numbers, all received, sent back to back.
	start := 0
	for i := 1; i <= len(m.arr); i++ {
		if i < len(m.arr) && m.arr[i].seq == m.arr[i-1].seq+1 {
			p, q := m.sent[m.arr[i-1].seq%sentRing], m.sent[m.arr[i].seq%sentRing]
			if p.ok && q.ok && p.seq == m.arr[i-1].seq && q.seq == m.arr[i].seq && q.at-p.at < int64(trainGap) {
				continue
			}
		}
		m.train(m.arr[start:i], now)
		start = i
	}
	return valid
}

// train adds the capacity the packets of one train measured: their mean
// size (after the first) over the median time between their arrivals.
func (m *trainMeter) train(t []arrival, now int64) {
	if len(t) < minTrainPackets {
		return
	}
	bytes := 0
	m.gaps = m.gaps[:0]
	for i, a := range t[1:] {
		bytes += int(m.sent[a.seq%sentRing].size)
		m.gaps = append(m.gaps, a.at-t[i].at)
	}
	slices.Sort(m.gaps)
	gap := max(time.Duration(m.gaps[len(m.gaps)/2])*time.Microsecond, minArrivalGap)
	if len(m.samples) == maxSamples {
		m.samples = append(m.samples[:0], m.samples[1:]...)
	}
	mean := float64(bytes) / float64(len(t)-1)
	m.samples = append(m.samples, capSample{bps: mean * 8 / gap.Seconds(), at: now})
}

// capacity is the median of the trains measured within capacityWindow (of
// two, the higher), 0 when fewer than minTrains were.
func (m *trainMeter) capacity(now int64) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var v []float64
	for _, s := range m.samples {
		if now-s.at <= int64(capacityWindow) {
			v = append(v, s.bps)
		}
	}
	if len(v) < minTrains {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}
