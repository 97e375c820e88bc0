package relay

import (
	"math"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

const testTWCCID = 3

// sendTrain records n packets of size bytes from transport-wide sequence
// number seq, gap apart, starting at at (ns).
func sendTrain(m *trainMeter, seq uint16, n, size int, gap time.Duration, at int64) {
	for i := range n {
		m.record(seq+uint16(i), size, at+int64(i)*int64(gap))
	}
}

// feedbackFor builds the viewer's transport-wide feedback for packets from
// base on, arriving deltas[i] µs after the one before (-1: not received),
// in the wire format (as a viewer's pion sends it).
func feedbackFor(t *testing.T, base uint16, deltas []int64) []byte {
	t.Helper()
	return feedbackAt(t, base, 1, deltas)
}

// feedbackAt is feedbackFor with the reference time ref (64 ms units) the
// first delta counts from.
func feedbackAt(t *testing.T, base uint16, ref uint32, deltas []int64) []byte {
	t.Helper()
	fb := &rtcp.TransportLayerCC{BaseSequenceNumber: base, PacketStatusCount: uint16(len(deltas)), ReferenceTime: ref}
	for i := 0; i < len(deltas); i += 7 {
		c := &rtcp.StatusVectorChunk{Type: rtcp.TypeTCCStatusVectorChunk, SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit}
		for j := i; j < i+7; j++ {
			switch {
			case j >= len(deltas) || deltas[j] < 0:
				c.SymbolList = append(c.SymbolList, rtcp.TypeTCCPacketNotReceived)
			default:
				c.SymbolList = append(c.SymbolList, rtcp.TypeTCCPacketReceivedLargeDelta)
				fb.RecvDeltas = append(fb.RecvDeltas, &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: deltas[j]})
			}
		}
		fb.PacketChunks = append(fb.PacketChunks, c)
	}
	// As pion's twcc interceptor: header, chunks and deltas (2 bytes each,
	// large), padded to 32 bits.
	n := 20 + 2*len(fb.PacketChunks) + 2*len(fb.RecvDeltas)
	fb.Header = rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback, Padding: n%4 != 0, Length: uint16((n+3)/4 - 1)}
	b, err := fb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func spaced(n int, us int64) []int64 {
	d := make([]int64, n)
	for i := 1; i < n; i++ {
		d[i] = us
	}
	return d
}

// TestTrainCapacity: trains of packets sent back to back measure the rate
// their arrivals are spread to; short trains, gaps in them, packets not
// sent together, a single train and old trains measure nothing.
func TestTrainCapacity(t *testing.T) {
	const size = 1200
	// 1200 bytes at 700 kbit/s: 13.714 ms apart; the feedback's clock
	// ticks 250 µs.
	narrow := spaced(10, 13750)
	lost := spaced(10, 13750)
	lost[5] = -1
	// A busy viewer host: a wide path's arrivals held 60 ms twice; a
	// narrow one's read late and caught up at once (fewer than half the
	// gaps either way).
	stalled := make([]int64, 10)
	stalled[3], stalled[7] = 60000, 60000
	bunched := spaced(10, 13750)
	bunched[4], bunched[5], bunched[6] = 0, 0, 3*13750
	for _, tt := range []struct {
		name   string
		trains int
		n      int
		gap    time.Duration // between sends
		deltas []int64
		age    time.Duration // of the trains when capacity is read
		want   float64       // bits/s; 0: unknown
	}{
		{"700 kbit/s path", 2, 10, 10 * time.Microsecond, narrow, 0, 9 * size * 8 / (9 * 0.01375)},
		{"wide path: arrivals within a tick", 3, 10, 10 * time.Microsecond, make([]int64, 10), 0, size * 8 / 0.00025},
		{"wide path, a stalled reader", 3, 10, 10 * time.Microsecond, stalled, 0, size * 8 / 0.00025},
		{"700 kbit/s path, a bunching reader", 3, 10, 10 * time.Microsecond, bunched, 0, size * 8 / 0.01375},
		{"one train is not enough", 1, 10, 10 * time.Microsecond, narrow, 0, 0},
		{"a loss splits the train too short", 2, 10, 10 * time.Microsecond, lost, 0, 0},
		{"not sent back to back", 2, 10, 5 * time.Millisecond, narrow, 0, 0},
		{"too few packets", 2, 5, 10 * time.Microsecond, narrow[:5], 0, 0},
		{"older than the window", 2, 10, 10 * time.Microsecond, narrow, capacityWindow + time.Second, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &trainMeter{}
			now := int64(time.Hour)
			seq := uint16(65530) // the numbers wrap within the run
			for range tt.trains {
				sendTrain(m, seq, tt.n, size, tt.gap, now)
				m.feedback(feedbackFor(t, seq, tt.deltas), now)
				seq += uint16(tt.n)
				now += int64(500 * time.Millisecond)
			}
			got := m.capacity(now + int64(tt.age))
			if math.Abs(got-tt.want) > tt.want*0.01 || (tt.want == 0) != (got == 0) {
				t.Errorf("capacity %.0f bit/s, want %.0f", got, tt.want)
			}
		})
	}
}

// TestTrainCapacityFeedbackBeforeSend: feedback for numbers the relay has
// no record of (sent before the meter existed, or long ago) measures
// nothing.
func TestTrainCapacityFeedbackBeforeSend(t *testing.T) {
	m := &trainMeter{}
	now := int64(time.Hour)
	for i := range 3 {
		m.feedback(feedbackFor(t, uint16(100*i), spaced(10, 13750)), now)
	}
	if c := m.capacity(now); c != 0 {
		t.Errorf("capacity %.0f from feedback on packets never recorded", c)
	}
}

// TestTrainRecordAllocs: recording a sent packet, on the forwarding path
// of every subscriber with a meter, allocates nothing.
func TestTrainRecordAllocs(t *testing.T) {
	m := &trainMeter{}
	if n := testing.AllocsPerRun(1000, func() { m.record(0x0102, 1200, nanotime()) }); n != 0 {
		t.Errorf("record allocates %v times per packet", n)
	}
	if !m.sent[0x0102%sentRing].ok {
		t.Error("record did not keep the packet")
	}
}

// TestCapacityHeld: a capacity reading stands for capacityHold after the
// trains' window has none (the estimate does not jump back to
// initialEstimate, which would let a narrow viewer probe a layer its path
// cannot carry), and then gives way.
func TestCapacityHeld(t *testing.T) {
	var b subscriberBWE
	t0 := int64(time.Hour)
	m := &trainMeter{samples: []capSample{{bps: 700_000, at: t0}, {bps: 700_000, at: t0}}}
	b.trains.Store(m)
	for _, step := range []struct {
		at   time.Duration
		want uint64
	}{
		{0, 700_000},
		{capacityWindow + time.Second, 700_000}, // no train in the window: held
		{capacityHold - time.Second, 700_000},
		{capacityHold + time.Second, 0},
	} {
		b.measureCapacity(t0 + int64(step.at))
		if got := b.capacity.Load(); got != step.want {
			t.Errorf("%v after the last train: capacity %d, want %d", step.at, got, step.want)
		}
	}
}
