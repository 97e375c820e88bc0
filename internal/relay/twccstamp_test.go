package relay

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// stampWriter keeps the transport-wide number of each packet written (-1:
// none), read when it is written, as the transport marshals it.
type stampWriter struct {
	t    *testing.T
	seqs []int
}

func (w *stampWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	seq := -1
	if b := h.GetExtension(5); b != nil {
		var ext rtp.TransportCCExtension
		if err := ext.Unmarshal(b); err != nil {
			w.t.Fatalf("transport-wide extension: %v", err)
		}
		seq = int(ext.TransportSequence)
	} else if h.Extension {
		w.t.Error("a header extension without the transport-wide number")
	}
	if w.seqs != nil {
		w.seqs = append(w.seqs, seq)
	}
	return 12 + len(payload), nil
}

func (w *stampWriter) Write(b []byte) (int, error) { return len(b), nil }

// TestTWCCStamp: the video packets of every track of a subscriber carry
// one transport-wide sequence, recorded for the train meter, without an
// allocation; a quiet subscriber's packets carry none outside the window
// (and the sequence goes on from where it stopped); a track without the
// extension negotiated gets none.
func TestTWCCStamp(t *testing.T) {
	h := newHarness(Config{})
	w := &stampWriter{t: t, seqs: []int{}}
	d1 := h.downTrack(nil)
	d2 := &downTrack{sub: d1.sub, kind: webrtc.RTPCodecTypeVideo, video: true, ssrc: 778, pt: 96}
	d1.writer, d2.writer = w, w
	d1.twccID, d2.twccID = 5, 5
	m := &trainMeter{}
	d1.sub.bwe.trains.Store(m)
	p := vp8Packet(1, 0, true, true)
	defer p.release()

	for _, d := range []*downTrack{d1, d1, d2, d1} {
		d.send(p, 1, 0)
	}
	if want := []int{0, 1, 2, 3}; !slices.Equal(w.seqs, want) {
		t.Errorf("sequence numbers %v, want %v", w.seqs, want)
	}
	for seq := uint16(0); seq < 4; seq++ {
		if r := m.sent[seq%sentRing]; !r.ok || r.seq != seq {
			t.Errorf("packet %d not recorded for the train meter: %+v", seq, r)
		}
	}

	// Quiet, outside its window: no number, none used up; in its window,
	// numbered again from where the sequence stopped.
	b := &d1.sub.bwe
	w.seqs = w.seqs[:0]
	b.quietFrom.Store(nanotime() - int64(quietOn) - int64(100*time.Millisecond))
	d1.send(p, 2, 0)
	b.quietFrom.Store(nanotime())
	d1.send(p, 3, 0)
	b.quietFrom.Store(0)
	if want := []int{-1, 4}; !slices.Equal(w.seqs, want) {
		t.Errorf("quiet, outside and inside the window: numbers %v, want %v", w.seqs, want)
	}

	w.seqs = nil
	if n := testing.AllocsPerRun(200, func() { d1.send(p, 4, 0) }); n != 0 {
		t.Errorf("%.1f allocations per stamped packet, want 0", n)
	}

	w3 := &stampWriter{t: t, seqs: []int{}}
	plain := h.downTrack(nil)
	plain.writer = w3
	plain.send(p, 1, 0)
	if want := []int{-1}; !slices.Equal(w3.seqs, want) {
		t.Errorf("a track without the extension negotiated: numbers %v, want %v", w3.seqs, want)
	}
}

// TestUpdateQuiet: a subscriber's feedback goes quiet only after
// quietAfter of every condition holding, and loud at once when one fails.
func TestUpdateQuiet(t *testing.T) {
	const sent = 2_000_000
	settle := func(s *Subscriber, ds []*downTrack) {
		b := &s.bwe
		b.twcc = true
		b.twccSeen.Store(true)
		b.capacity.Store(10_000_000)
		b.delayBps.Store(0)
		b.standing = 0
		for _, d := range ds {
			d.layers.sel.quietOK = true
		}
	}
	for _, tc := range []struct {
		name  string
		loss  float64
		spoil func(s *Subscriber, ds []*downTrack)
		quiet bool
	}{
		{name: "settled", quiet: true},
		{name: "loss reported", loss: 0.02},
		{name: "a track not settled", spoil: func(_ *Subscriber, ds []*downTrack) { ds[1].layers.sel.quietOK = false }},
		{name: "no feedback yet", spoil: func(s *Subscriber, _ []*downTrack) { s.bwe.twccSeen.Store(false) }},
		{name: "no capacity measured", spoil: func(s *Subscriber, _ []*downTrack) { s.bwe.capacity.Store(0) }},
		{name: "a queue", spoil: func(s *Subscriber, _ []*downTrack) { s.bwe.standing = standingTarget }},
		{name: "a delay cap", spoil: func(s *Subscriber, _ []*downTrack) { s.bwe.delayBps.Store(5_000_000) }},
		{name: "little headroom", spoil: func(s *Subscriber, _ []*downTrack) { s.bwe.capacity.Store(sent * 1.2) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(Config{})
			d1 := h.downTrack(&recordWriter{})
			d2 := &downTrack{sub: d1.sub}
			s, ds := d1.sub, []*downTrack{d1, d2}
			settle(s, ds)
			now := int64(time.Hour)
			// Quiet first, so that a failing condition is seen to end it.
			for step := int64(0); step <= int64(quietAfter); step += int64(adaptInterval) {
				s.updateQuiet(now+step, ds, sent, 0)
			}
			if !s.bwe.quiet() {
				t.Fatal("not quiet after quietAfter settled")
			}
			if tc.spoil != nil {
				tc.spoil(s, ds)
			}
			s.updateQuiet(now+int64(quietAfter)+int64(adaptInterval), ds, sent, tc.loss)
			if s.bwe.quiet() != tc.quiet {
				t.Fatalf("quiet %v, want %v", s.bwe.quiet(), tc.quiet)
			}
			if tc.quiet {
				return
			}
			// Settled again, it waits quietAfter before going quiet.
			settle(s, ds)
			start := now + int64(quietAfter) + 2*int64(adaptInterval)
			s.updateQuiet(start, ds, sent, 0)
			s.updateQuiet(start+int64(quietAfter)-int64(adaptInterval), ds, sent, 0)
			if s.bwe.quiet() {
				t.Fatal("quiet again before quietAfter")
			}
			s.updateQuiet(start+int64(quietAfter), ds, sent, 0)
			if !s.bwe.quiet() {
				t.Fatal("not quiet again after quietAfter")
			}
		})
	}
}
