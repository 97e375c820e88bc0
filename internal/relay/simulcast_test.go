package relay

import (
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// layers builds a simulcast group of three layers q, h, f in the harness.
func (h *harness) layers() []*upTrack {
	var out []*upTrack
	g := &layerGroup{}
	for i, rid := range []string{"f", "q", "h"} { // arrival order is not rank order
		t := h.upTrack(webrtc.MimeTypeVP8)
		t.info.RID = rid
		t.ssrc = uint32(1000 + i)
		t.group = g
		g.add(t)
		out = append(out, t)
	}
	return g.all()
}

func TestLayerGroupOrder(t *testing.T) {
	ls := newHarness(Config{}).layers()
	var got []string
	for _, l := range ls {
		got = append(got, l.info.RID)
	}
	if len(got) != 3 || got[0] != "q" || got[1] != "h" || got[2] != "f" {
		t.Fatalf("layers in order %v, want q h f", got)
	}
}

// TestLayerSwitchOnKeyframe: a down-track switching layers goes on with the
// old layer until the new one's keyframe, then forwards only the new one,
// with sequence numbers and timestamps continuing; a pause holds video
// back and resumes on a keyframe, numbers still continuous.
func TestLayerSwitchOnKeyframe(t *testing.T) {
	h := newHarness(Config{})
	w := &recordWriter{keep: true}
	d := h.downTrack(w)
	ls := h.layers()
	q, hi := ls[0], ls[1]
	d.layers.maxRank.Store(1) // ask for q, so attach starts there
	if !d.attach(ls[2]) || d.src.Load() != q {
		t.Fatalf("attached to %v, want the requested layer q", d.src.Load().info.RID)
	}
	q.forward(vp8Packet(100, 9000, true, true))
	q.forward(vp8Packet(101, 9000, true, false))
	drain(d)

	plis := hi.plis.Load()
	d.beginSwitch(hi)
	if hi.plis.Load() == plis {
		t.Errorf("a switch did not ask the new layer for a keyframe")
	}
	hi.forward(vp8Packet(5000, 700000, false, true)) // a delta frame of h: not yet
	q.forward(vp8Packet(102, 12000, false, true))    // q goes on meanwhile
	drain(d)
	if d.src.Load() != q || len(w.hdrs) != 3 {
		t.Fatalf("before h's keyframe: on %s with %d packets, want q with 3", d.src.Load().info.RID, len(w.hdrs))
	}
	time.Sleep(10 * time.Millisecond)
	hi.forward(vp8Packet(5001, 703000, true, true))
	q.forward(vp8Packet(103, 15000, false, true)) // the old layer: dropped now
	hi.forward(vp8Packet(5002, 703000, true, false))
	drain(d)
	if d.src.Load() != hi || d.layers.next.Load() != nil || d.layers.switches.Load() != 1 {
		t.Fatalf("after h's keyframe: on %s, next %v, %d switches", d.src.Load().info.RID, d.layers.next.Load(), d.layers.switches.Load())
	}
	if n := len(*q.downs.Load()); n != 0 {
		t.Errorf("the old layer still feeds %d down-tracks", n)
	}
	checkContinuous(t, w, 5)

	// Pause: nothing goes out; resume: from h's next keyframe only.
	d.chooseLayer(ls, -1)
	hi.forward(vp8Packet(5003, 706000, false, true))
	drain(d)
	d.chooseLayer(ls, 1)
	hi.forward(vp8Packet(5004, 709000, false, true)) // not a keyframe: held back
	hi.forward(vp8Packet(5005, 712000, true, true))
	drain(d)
	checkContinuous(t, w, 6)
	if last := w.hdrs[5]; last.Timestamp == w.hdrs[4].Timestamp {
		t.Errorf("resumed keyframe has the timestamp of the frame before the pause")
	}
	d.detach()
	for _, l := range ls {
		l.clearCaches()
	}
}

// checkContinuous fails unless w has n packets with consecutive sequence
// numbers and timestamps that never go back.
func checkContinuous(t *testing.T, w *recordWriter, n int) {
	t.Helper()
	if len(w.hdrs) != n {
		t.Fatalf("sent %d packets, want %d", len(w.hdrs), n)
	}
	for i := 1; i < n; i++ {
		a, b := w.hdrs[i-1], w.hdrs[i]
		if b.SequenceNumber != a.SequenceNumber+1 || int32(b.Timestamp-a.Timestamp) < 0 || b.Timestamp-a.Timestamp > 90000 {
			t.Errorf("packet %d: seq %d ts %d after seq %d ts %d", i, b.SequenceNumber, b.Timestamp, a.SequenceNumber, a.Timestamp)
		}
	}
}

// TestAdaptChoosesLayer: the choice follows the estimate with hysteresis
// and the viewer's cap.
func TestAdaptChoosesLayer(t *testing.T) {
	rates := []uint64{180_000, 500_000, 1_400_000}
	tests := []struct {
		name  string
		start int     // layer index attached
		avail float64 // bits/s for the track
		loss  float64
		nacks float64 // packets NACKed per packet sent
		cap   LayerRequest
		hold  time.Duration // how long the estimate stays
		want  int           // layer index switched to (-1: paused)
	}{
		{"fits the top with headroom", 1, 2_000_000, 0, 0, LayerRequest{}, 3 * time.Second, 2},
		{"not before upHold", 1, 2_000_000, 0, 0, LayerRequest{}, time.Second, 1},
		{"short of the top's bitrate, no capacity measured: probe", 1, 700_000, 0, 0, LayerRequest{}, probeHold + time.Second, 2},
		{"no probe before probeHold", 1, 700_000, 0, 0, LayerRequest{}, probeHold - time.Second, 1},
		{"short of the top's bitrate, losing: no probe", 1, 700_000, 0.08, 0, LayerRequest{}, probeHold + time.Second, 1},
		{"short of the top's bitrate, little room: no probe", 1, 600_000, 0, 0, LayerRequest{}, probeHold + time.Second, 1},
		{"drops to what fits when losing", 2, 1_000_000, 0.2, 0, LayerRequest{}, 2 * time.Second, 1},
		{"not before downHold", 2, 1_000_000, 0.2, 0, LayerRequest{}, time.Second, 2},
		{"keyframe-burst loss does not drop", 2, 1_000_000, 0.1, 0, LayerRequest{}, 3 * time.Second, 2},
		{"a lower estimate without loss stays", 2, 1_000_000, 0, 0, LayerRequest{}, 3 * time.Second, 2},
		{"far too low an estimate drops without loss", 2, 600_000, 0, 0, LayerRequest{}, 2 * time.Second, 1},
		{"cap by layer", 2, 5_000_000, 0, 0, LayerRequest{RID: "q"}, 0, 0},
		{"cap by width", 2, 5_000_000, 0, 0, LayerRequest{MaxWidth: 640}, 0, 1},
		{"a NACK storm confirms a lower estimate", 2, 1_000_000, 0, 0.6, LayerRequest{}, 2 * time.Second, 1},
		{"a NACK storm with keyframe-burst loss drops", 2, 1_000_000, 0.1, 0.6, LayerRequest{}, 2 * time.Second, 1},
		{"a few NACKs do not drop", 2, 1_000_000, 0.1, 0.2, LayerRequest{}, 3 * time.Second, 2},
		{"a NACK storm with room for the layer stays", 2, 2_000_000, 0, 0.6, LayerRequest{}, 3 * time.Second, 2},
		{"below the lowest pauses", 0, 100_000, 0.2, 0, LayerRequest{}, 2 * time.Second, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(Config{})
			d := h.downTrack(&recordWriter{})
			ls := h.layers()
			for i, l := range ls {
				l.rate.Store(rates[i])
				l.width.Store(int32(320 << i))
			}
			d.src.Store(ls[tt.start])
			ls[tt.start].addDown(d)
			if tt.cap != (LayerRequest{}) {
				d.setQuality(tt.cap)
			}
			start := int64(time.Hour)
			for now := start; ; now += int64(adaptInterval) {
				d.packets.Add(100)
				d.nacks.Add(uint64(100 * tt.nacks))
				d.adapt(now, tt.avail, tt.loss)
				if now-start >= int64(tt.hold) {
					break
				}
			}
			got := ls[0].group.index(d.src.Load())
			if n := d.layers.next.Load(); n != nil {
				got = ls[0].group.index(n)
			}
			if d.layers.paused.Load() {
				got = -1
			}
			if got != tt.want {
				t.Errorf("chose layer %d, want %d", got, tt.want)
			}
			d.detach()
		})
	}
}

// TestAdaptNoProbeWithCapacity: with the path's capacity measured (trains.go)
// the estimate shows the room above what is sent, so a viewer does not try
// the next layer to find it (it would stall the picture on a narrow path);
// without a measurement it probes as before.
func TestAdaptNoProbeWithCapacity(t *testing.T) {
	for _, tt := range []struct {
		capacity uint64
		want     int
	}{{0, 2}, {700_000, 1}} {
		h := newHarness(Config{})
		d := h.downTrack(&recordWriter{})
		ls := h.layers()
		for i, l := range ls {
			l.rate.Store([]uint64{180_000, 500_000, 1_400_000}[i])
		}
		d.src.Store(ls[1])
		ls[1].addDown(d)
		d.sub.bwe.capacity.Store(tt.capacity)
		start := int64(time.Hour)
		for now := start; now-start <= int64(probeHold+time.Second); now += int64(adaptInterval) {
			d.adapt(now, 700_000, 0)
		}
		got := ls[0].group.index(d.src.Load())
		if n := d.layers.next.Load(); n != nil {
			got = ls[0].group.index(n)
		}
		if got != tt.want {
			t.Errorf("capacity %d: on layer %d, want %d", tt.capacity, got, tt.want)
		}
		d.detach()
	}
}

// TestCapWaitsForAllowedLayer: a viewer capped at q whose track's h layer
// comes first is paused, not sent h; it takes q when q comes, or, when the
// publisher sends no layer within the cap, the lowest there is after
// capWaitMax.
func TestCapWaitsForAllowedLayer(t *testing.T) {
	for _, qComes := range []bool{true, false} {
		h := newHarness(Config{})
		d := h.downTrack(&recordWriter{})
		d.setQuality(LayerRequest{RID: "q"})
		g := &layerGroup{}
		layer := func(rid string, ssrc uint32) *upTrack {
			l := h.upTrack(webrtc.MimeTypeVP8)
			l.info.RID, l.ssrc, l.group = rid, ssrc, g
			g.add(l)
			return l
		}
		hl := layer("h", 1001)
		if !d.attach(hl) {
			t.Fatal("attach failed")
		}
		if !d.layers.paused.Load() || !d.layers.capWait.Load() {
			t.Fatalf("capped at q with only h come: paused %v, waiting %v; want both", d.layers.paused.Load(), d.layers.capWait.Load())
		}
		start := int64(time.Hour)
		d.adapt(start, 5_000_000, 0)
		if d.layers.next.Load() != nil || !d.layers.paused.Load() {
			t.Fatal("the wait ended before a layer within the cap came")
		}
		want, at := hl, start+int64(capWaitMax)+1
		if qComes {
			want, at = layer("q", 1002), start+int64(adaptInterval)
		}
		d.adapt(at, 5_000_000, 0)
		if next := d.layers.next.Load(); want == hl && (next != nil || d.layers.paused.Load()) || want != hl && next != want {
			t.Errorf("q comes: %v: next %v, paused %v; want to forward %s", qComes, next, d.layers.paused.Load(), want.info.RID)
		}
		d.detach()
	}
}
