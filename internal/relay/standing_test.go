package relay

import (
	"math"
	"testing"
	"time"
)

// pathSim sends packets through a bottleneck of a set rate (a fluid queue
// that drops nothing, behind 20 ms of propagation) to a viewer whose clock
// is offset from the relay's, and hands the meter the viewer's feedback
// every 100 ms for the packets that have arrived, as a viewer does.
type pathSim struct {
	t        *testing.T
	m        *trainMeter
	now      int64 // the relay's clock, ns
	seq      uint16
	free     int64 // when the bottleneck is next free, ns
	pending  []simPacket
	lastFeed int64
}

type simPacket struct {
	seq uint16
	arr int64 // ns, the relay's clock
}

const simViewerOffset = 987_654_321 * int64(time.Microsecond) // the viewer's clock ahead of the relay's

// send sends size-byte packets every gap for d through a rate bits/s path;
// burst packets more go back to back at the start.
func (p *pathSim) send(d, gap time.Duration, size, burst int, rate float64) {
	end := p.now + int64(d)
	for i := 0; p.now < end; i++ {
		s := p.seq
		p.seq++
		sendTrain(p.m, s, 1, size, 0, p.now)
		start := max(p.now+int64(20*time.Millisecond), p.free)
		p.free = start + int64(float64(size*8)/rate*1e9)
		p.pending = append(p.pending, simPacket{seq: s, arr: p.free})
		if i >= burst {
			p.now += int64(gap)
		}
		p.feed()
	}
}

// feed reports every 100 ms the packets that have arrived by now.
func (p *pathSim) feed() {
	if p.now-p.lastFeed < int64(100*time.Millisecond) {
		return
	}
	p.lastFeed = p.now
	n := 0
	for n < len(p.pending) && p.pending[n].arr <= p.now {
		n++
	}
	if n == 0 {
		return
	}
	// Arrivals on the viewer's clock in the feedback's 250 µs ticks,
	// counted from a reference time (64 ms units) at or before the first.
	tick := func(ns int64) int64 { return (ns + simViewerOffset) / 250_000 * 250 } // µs
	first := tick(p.pending[0].arr)
	ref := first / 64_000
	deltas := make([]int64, n)
	prev := ref * 64_000
	for i, pk := range p.pending[:n] {
		at := tick(pk.arr)
		deltas[i] = at - prev
		prev = at
		if i > 0 && pk.seq != p.pending[i-1].seq+1 {
			p.t.Fatal("simulated packets out of order")
		}
	}
	p.m.feedback(feedbackAt(p.t, p.pending[0].seq, uint32(ref), deltas), p.now)
	p.pending = p.pending[n:]
}

// TestQueueReading: the meter tells a path that carries what it is sent
// (no standing queue, delivered ≈ sent), one sent more than it carries (a
// standing queue, delivered at the bottleneck's rate) and one that queues
// a keyframe's burst and drains it (no reading in the second after the
// burst shows overuse), whatever the offset between the clocks.
func TestQueueReading(t *testing.T) {
	const size = 1200
	gapFor := func(bps float64) time.Duration { return time.Duration(float64(size*8) / bps * 1e9) }
	overused := func(r queueReading) bool {
		return r.standing >= standingTarget && r.delivered < overuseRatio*r.sent
	}
	for _, tc := range []struct {
		name          string
		send, path    float64 // bits/s
		burst         int     // a keyframe's packets at the start of the last second
		wantOveruse   bool
		wantDelivered float64 // bits/s, ±10 %; 0: not checked
	}{
		{"wide path", 1_500_000, 10_000_000, 0, false, 1_500_000},
		{"913 kbit/s into 700", 913_000, 700_000, 0, true, 700_000},
		{"500 kbit/s behind 700, a 20 kB keyframe", 500_000, 700_000, 17, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &pathSim{t: t, m: &trainMeter{}, now: int64(time.Hour), seq: 65000}
			p.send(3*time.Second, gapFor(tc.send), size, 0, tc.path)
			p.send(100*time.Millisecond, gapFor(tc.send), size, tc.burst, tc.path)
			for range 10 {
				p.send(100*time.Millisecond, gapFor(tc.send), size, 0, tc.path)
				if r := p.m.queue(p.now); overused(r) != tc.wantOveruse {
					t.Fatalf("overuse %v, want %v: standing %v, sent %.0f, delivered %.0f bit/s", overused(r), tc.wantOveruse, r.standing, r.sent, r.delivered)
				}
			}
			r := p.m.queue(p.now)
			if r.sent <= 0 || r.delivered <= 0 {
				t.Fatalf("no rates: sent %.0f, delivered %.0f", r.sent, r.delivered)
			}
			if tc.burst == 0 && math.Abs(r.sent-tc.send) > tc.send*0.1 {
				t.Errorf("sent %.0f bit/s, want %.0f", r.sent, tc.send)
			}
			if tc.wantDelivered > 0 && math.Abs(r.delivered-tc.wantDelivered) > tc.wantDelivered*0.1 {
				t.Errorf("delivered %.0f bit/s, want %.0f", r.delivered, tc.wantDelivered)
			}
		})
	}
}

// TestQueueClockJump: a jump of the viewer's clock (or its reference time
// wrapping) does not read as a queue.
func TestQueueClockJump(t *testing.T) {
	p := &pathSim{t: t, m: &trainMeter{}, now: int64(time.Hour)}
	p.send(2*time.Second, 5*time.Millisecond, 1000, 0, 10_000_000)
	p.m.q.cur -= int64(time.Minute) // as if every delay so far had been a minute longer
	p.send(2*time.Second, 5*time.Millisecond, 1000, 0, 10_000_000)
	if r := p.m.queue(p.now); r.standing >= standingTarget {
		t.Errorf("standing queue %v after a clock jump", r.standing)
	}
}

// TestDelayCap: behind a 700 kbit/s path a 913 kbit/s stream brings the
// cap down to delayBackoff of what the path delivers; the cap holds for
// delayHoldMin while the viewer takes less, then grows by delayGrowth a
// second, and a second overuse soon after doubles the hold.
func TestDelayCap(t *testing.T) {
	const size = 1200
	var b subscriberBWE
	p := &pathSim{t: t, m: &trainMeter{}, now: int64(time.Hour)}
	b.trains.Store(p.m)
	tick := func(d time.Duration, sendBps, pathBps float64) {
		for end := p.now + int64(d); p.now < end; {
			p.send(200*time.Millisecond, time.Duration(float64(size*8)/sendBps*1e9), size, 0, pathBps)
			b.updateDelayCap(p.now)
		}
	}
	tick(3*time.Second, 500_000, 700_000)
	if c := b.delayBps.Load(); c != 0 {
		t.Fatalf("cap %d on a path that carries the stream", c)
	}
	tick(3*time.Second, 913_000, 700_000)
	c := float64(b.delayBps.Load())
	if want := delayBackoff * 700_000; math.Abs(c-want) > want*0.1 {
		t.Fatalf("cap %.0f after overuse, want ~%.0f", c, want)
	}
	down := b.delayDownAt
	tick(time.Duration(b.delayHold)-time.Duration(p.now-down)-200*time.Millisecond, 400_000, 700_000)
	if got := float64(b.delayBps.Load()); got != c {
		t.Errorf("cap moved from %.0f to %.0f within its hold", c, got)
	}
	// The queue of the overuse drains (at 300 kbit/s net) before the cap grows.
	tick(5*time.Second, 400_000, 700_000)
	if got := float64(b.delayBps.Load()); got < c*1.2 || got > c*math.Pow(1+delayGrowth, 5.5) {
		t.Errorf("cap %.0f after the hold and 5 s, want it grown from %.0f by ~%.0f %% a second", got, c, delayGrowth*100)
	}
	hold := b.delayHold
	tick(4*time.Second, 913_000, 700_000)
	if b.delayHold != 2*hold {
		t.Errorf("hold %v after a second overuse soon after, want %v", time.Duration(b.delayHold), 2*time.Duration(hold))
	}
}

// TestQueueReadingAfterGap: a stretch with nothing numbered (a quiet
// viewer's, twccstamp.go) does not count in the rates: right after it the
// meter has no reading, and then reads the path from what followed it
// alone, not as slow as the gap was long.
func TestQueueReadingAfterGap(t *testing.T) {
	const size, rate = 1200, 1_500_000
	gap := time.Duration(float64(size*8) / rate * 1e9)
	p := &pathSim{t: t, m: &trainMeter{}, now: int64(time.Hour), seq: 100}
	p.send(2*time.Second, gap, size, 0, 10_000_000)
	p.now += int64(800 * time.Millisecond) // nothing numbered
	p.send(300*time.Millisecond, gap, size, 0, 10_000_000)
	if r := p.m.queue(p.now); r.sent != 0 || r.delivered != 0 {
		t.Errorf("0.3 s after the gap: sent %.0f, delivered %.0f bit/s, want no reading", r.sent, r.delivered)
	}
	p.send(600*time.Millisecond, gap, size, 0, 10_000_000)
	r := p.m.queue(p.now)
	for _, x := range []struct {
		name string
		bps  float64
	}{{"sent", r.sent}, {"delivered", r.delivered}} {
		if math.Abs(x.bps-rate) > rate*0.1 {
			t.Errorf("0.9 s after the gap: %s %.0f bit/s, want %d", x.name, x.bps, rate)
		}
	}
}
