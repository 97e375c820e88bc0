package relay

import (
	"testing"

	"github.com/pion/rtcp"
)

// reported is one packet a feedback packet reports.
type reported struct {
	seq uint16
	got bool
	at  int64 // µs
}

// pionReported walks feedback as pion parses it, the reference for
// twccReader.
func pionReported(fb *rtcp.TransportLayerCC) []reported {
	var out []reported
	seq, left, at, di := fb.BaseSequenceNumber, int(fb.PacketStatusCount), int64(fb.ReferenceTime)*64_000, 0
	add := func(sym uint16) {
		got := false
		if sym == rtcp.TypeTCCPacketReceivedSmallDelta || sym == rtcp.TypeTCCPacketReceivedLargeDelta {
			if di < len(fb.RecvDeltas) {
				at += fb.RecvDeltas[di].Delta
				di++
				got = true
			}
		}
		r := reported{seq: seq, got: got}
		if got {
			r.at = at
		}
		out = append(out, r)
		seq++
		left--
	}
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for range min(int(c.RunLength), left) {
				add(c.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, sym := range c.SymbolList[:min(len(c.SymbolList), left)] {
				add(sym)
			}
		}
	}
	return out
}

func readerReported(p []byte) ([]reported, bool) {
	r, ok := newTWCCReader(p)
	if !ok {
		return nil, false
	}
	var out []reported
	for {
		seq, got, at, ok := r.next()
		if !ok {
			return out, r.left == 0
		}
		e := reported{seq: seq, got: got}
		if got {
			e.at = at
		}
		out = append(out, e)
	}
}

// FuzzTWCCReader: whatever a viewer sends, reading it in place never
// panics; and feedback pion parses is read exactly as pion reads it
// (every packet's number, whether it arrived, and when).
func FuzzTWCCReader(f *testing.F) {
	f.Add(feedbackFor(&testing.T{}, 65530, spaced(10, 13750)))
	lost := spaced(20, 1000)
	lost[3], lost[11] = -1, -1
	f.Add(feedbackAt(&testing.T{}, 7, 0xfffff0, lost))
	f.Add(feedbackFor(&testing.T{}, 0, []int64{0, 64_000, -1, 300_000, 250}))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := readerReported(b)
		pkts, err := rtcp.Unmarshal(b)
		if err != nil || len(pkts) != 1 {
			return
		}
		fb, isFB := pkts[0].(*rtcp.TransportLayerCC)
		if !isFB {
			return
		}
		want := pionReported(fb)
		if !ok {
			t.Fatalf("pion reads %d packets from feedback the reader refuses (read %d)", len(want), len(got))
		}
		if len(got) != len(want) {
			t.Fatalf("read %d packets, pion %d", len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("packet %d: read %+v, pion %+v", i, got[i], want[i])
			}
		}
	})
}

// TestTWCCReaderAllocs: reading feedback, done for every viewer ten or
// twenty times a second, allocates nothing.
func TestTWCCReaderAllocs(t *testing.T) {
	p := feedbackFor(t, 100, spaced(40, 1000))
	m := &trainMeter{}
	m.feedback(p, 1) // the scratch slices grow once
	if n := testing.AllocsPerRun(100, func() { m.feedback(p, 1) }); n != 0 {
		t.Errorf("%v allocations per feedback packet", n)
	}
}
