package media

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

type counted struct {
	TS       uint32
	Keyframe bool
	Packets  int
	Size     [2]int // a VP8 keyframe's width and height
}

// TestFrameCounterMatchesAssembler feeds the same packets, mangled as a
// network does, to Assembler and to FrameCounter: they must find the same
// complete frames.
func TestFrameCounterMatchesAssembler(t *testing.T) {
	mangles := []struct {
		name string
		fn   func(rng *rand.Rand, ps []*rtp.Packet) []*rtp.Packet
	}{
		{"in order", func(_ *rand.Rand, ps []*rtp.Packet) []*rtp.Packet { return ps }},
		{"duplicates", func(rng *rand.Rand, ps []*rtp.Packet) []*rtp.Packet {
			var out []*rtp.Packet
			for _, p := range ps {
				out = append(out, p)
				if rng.IntN(10) == 0 {
					out = append(out, p)
				}
			}
			return out
		}},
		{"reordered", func(rng *rand.Rand, ps []*rtp.Packet) []*rtp.Packet {
			out := slices.Clone(ps)
			for i := 1; i < len(out); i++ {
				if rng.IntN(5) == 0 {
					out[i-1], out[i] = out[i], out[i-1]
				}
			}
			return out
		}},
		{"lost", func(rng *rand.Rand, ps []*rtp.Packet) []*rtp.Packet {
			return slices.DeleteFunc(slices.Clone(ps), func(*rtp.Packet) bool { return rng.IntN(20) == 0 })
		}},
		{"retransmitted late", func(rng *rand.Rand, ps []*rtp.Packet) []*rtp.Packet {
			var out, held []*rtp.Packet
			for _, p := range ps {
				if rng.IntN(15) == 0 {
					held = append(held, p)
					continue
				}
				out = append(out, p)
				if len(held) > 0 && rng.IntN(4) == 0 {
					out = append(out, held[0])
					held = held[1:]
				}
			}
			return append(out, held...)
		}},
	}
	h264, _ := h264Units(t)
	streams := []struct {
		codec  string
		pay    rtp.Payloader
		frames [][]byte
	}{
		{MimeVP8, &codecs.VP8Payloader{EnablePictureID: true}, clipFrames(t)},
		{MimeH264, &codecs.H264Payloader{}, h264},
	}
	for _, st := range streams {
		// Sequence numbers and timestamps both wrap within the clip.
		sent := slices.Concat(packetize(st.pay, st.frames, 65000, 1<<32-9000)...)
		for _, m := range mangles {
			t.Run(st.codec+"/"+m.name, func(t *testing.T) {
				ps := m.fn(rand.New(rand.NewPCG(7, 11)), sent)
				asm, err := NewAssembler(st.codec)
				if err != nil {
					t.Fatal(err)
				}
				fc, err := NewFrameCounter(st.codec)
				if err != nil {
					t.Fatal(err)
				}
				var want, got []counted
				// VP8 keyframes carry their size (a layer switch shows as
				// a new one); H.264's counter does not parse the SPS.
				size := func(f Frame) [2]int {
					if st.codec == MimeVP8 && f.Keyframe {
						return [2]int{f.Width, f.Height}
					}
					return [2]int{}
				}
				for _, p := range ps {
					if f, ok := asm.Push(p); ok {
						want = append(want, counted{f.Timestamp, f.Keyframe, f.Packets, size(f)})
					}
					if f, ok := fc.Push(p); ok {
						if f.Data != nil {
							t.Fatal("FrameCounter returned frame data")
						}
						got = append(got, counted{f.Timestamp, f.Keyframe, f.Packets, size(f)})
					}
				}
				if len(want) < len(st.frames)/2 {
					t.Fatalf("the assembler found only %d of %d frames: the test's packets are wrong", len(want), len(st.frames))
				}
				if !slices.Equal(got, want) {
					t.Errorf("FrameCounter found %d frames, Assembler %d; first difference at %d", len(got), len(want), firstDiff(got, want))
				}
			})
		}
	}
}

func firstDiff(a, b []counted) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestFrameCounterAfter ignores the frame an Assembler already returned
// and earlier ones.
func TestFrameCounterAfter(t *testing.T) {
	frames := packetize(&codecs.VP8Payloader{}, clipFrames(t)[:3], 100, 3000)
	fc, err := NewFrameCounter(MimeVP8)
	if err != nil {
		t.Fatal(err)
	}
	fc.After(frames[1][0].Timestamp)
	var got []uint32
	for _, f := range frames {
		for _, p := range f {
			if fr, ok := fc.Push(p); ok {
				got = append(got, fr.Timestamp)
			}
		}
	}
	if want := []uint32{frames[2][0].Timestamp}; !slices.Equal(got, want) {
		t.Fatalf("counted frames %v, want only %v", got, want)
	}
}

// FuzzFrameCounter feeds arbitrary packets (each: 2 bytes sequence number,
// 1 byte timestamp step, 1 byte marker, 1 byte length, payload) to a
// FrameCounter: it must not panic, and must return frames in timestamp
// order with at least one packet each.
func FuzzFrameCounter(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 3, 0x10, 0, 0}, true)
	f.Add([]byte{0, 1, 0, 0, 2, 0x10, 0, 0, 2, 0, 1, 2, 0, 0, 0, 2, 1, 1, 0, 0, 0, 0, 1, 1, 0x10}, false)
	f.Fuzz(func(t *testing.T, data []byte, vp8 bool) {
		codec := MimeH264
		if vp8 {
			codec = MimeVP8
		}
		fc, err := NewFrameCounter(codec)
		if err != nil {
			t.Fatal(err)
		}
		var ts, last uint32
		var emitted bool
		for len(data) >= 5 {
			seq := binary.BigEndian.Uint16(data)
			ts += uint32(data[2]) * 1500
			n := min(int(data[4]), len(data)-5)
			p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: data[3]&1 != 0}, Payload: data[5 : 5+n]}
			data = data[5+n:]
			fr, ok := fc.Push(p)
			if !ok {
				continue
			}
			if fr.Packets < 1 {
				t.Fatalf("frame with %d packets", fr.Packets)
			}
			if emitted && !tsAfter(fr.Timestamp, last) {
				t.Fatalf("frame %d returned after frame %d", fr.Timestamp, last)
			}
			last, emitted = fr.Timestamp, true
			if len(fc.pending) > maxPendingFrames {
				t.Fatalf("%d frames in progress", len(fc.pending))
			}
		}
	})
}
