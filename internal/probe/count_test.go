package probe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/livectl/livectl/internal/media"
)

// sentPackets packetizes frames as a sender does, 1200-byte payloads.
func sentPackets(pay rtp.Payloader, frames [][]byte) []*rtp.Packet {
	var out []*rtp.Packet
	seq, ts := uint16(65000), uint32(1<<32-9000) // both wrap within the clip
	for _, f := range frames {
		ps := pay.Payload(1200, f)
		for j, p := range ps {
			out = append(out, &rtp.Packet{
				Header:  rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: j == len(ps)-1, PayloadType: 96},
				Payload: p,
			})
			seq++
		}
		ts += 3000
	}
	return out
}

func vp8ClipFrames(t *testing.T) [][]byte {
	t.Helper()
	r := media.ClipVP8()
	var out [][]byte
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f.Data)
	}
}

func h264ClipFrames(t *testing.T) [][]byte {
	t.Helper()
	b, err := os.ReadFile("../media/testdata/clip.h264")
	if err != nil {
		t.Fatal(err)
	}
	r := media.NewH264Reader(bytes.NewReader(b))
	var out [][]byte
	for {
		au, err := r.NextAccessUnit()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var buf []byte
		for _, n := range au.NALs {
			buf = append(append(buf, 0, 0, 0, 1), n...)
		}
		out = append(out, buf)
	}
}

type counted struct {
	TS       uint32
	Keyframe bool
	Packets  int
}

// TestFrameCounterMatchesAssembler feeds the same packets, mangled as a
// network does, to media.Assembler and to frameCounter: they must find the
// same complete frames.
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
	streams := []struct {
		codec  string
		pay    rtp.Payloader
		frames [][]byte
	}{
		{media.MimeVP8, &codecs.VP8Payloader{EnablePictureID: true}, vp8ClipFrames(t)},
		{media.MimeH264, &codecs.H264Payloader{}, h264ClipFrames(t)},
	}
	for _, st := range streams {
		sent := sentPackets(st.pay, st.frames)
		for _, m := range mangles {
			t.Run(st.codec+"/"+m.name, func(t *testing.T) {
				ps := m.fn(rand.New(rand.NewPCG(7, 11)), sent)
				asm, err := media.NewAssembler(st.codec)
				if err != nil {
					t.Fatal(err)
				}
				fc := newFrameCounter(st.codec)
				var want, got []counted
				for _, p := range ps {
					if f, ok := asm.Push(p); ok {
						want = append(want, counted{f.Timestamp, f.Keyframe, f.Packets})
					}
					if f, ok := fc.push(p); ok {
						if f.Data != nil {
							t.Fatal("frameCounter returned frame data")
						}
						got = append(got, counted{f.Timestamp, f.Keyframe, f.Packets})
					}
				}
				if len(want) < len(st.frames)/2 {
					t.Fatalf("the assembler found only %d of %d frames: the test's packets are wrong", len(want), len(st.frames))
				}
				if !slices.Equal(got, want) {
					t.Errorf("frameCounter found %d frames, media.Assembler %d; first difference at %d", len(got), len(want), firstDiff(got, want))
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

// FuzzFrameCounter feeds arbitrary packets (each: 2 bytes sequence number,
// 1 byte timestamp step, 1 byte marker, 1 byte length, payload) to a
// frameCounter: it must not panic, and must return frames in timestamp
// order with at least one packet each.
func FuzzFrameCounter(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 3, 0x10, 0, 0}, true)
	f.Add([]byte{0, 1, 0, 0, 2, 0x10, 0, 0, 2, 0, 1, 2, 0, 0, 0, 2, 1, 1, 0, 0, 0, 0, 1, 1, 0x10}, false)
	f.Fuzz(func(t *testing.T, data []byte, vp8 bool) {
		codec := media.MimeH264
		if vp8 {
			codec = media.MimeVP8
		}
		fc := newFrameCounter(codec)
		var ts uint32
		var last uint32
		var emitted bool
		for len(data) >= 5 {
			seq := binary.BigEndian.Uint16(data)
			ts += uint32(data[2]) * 1500
			marker := data[3]&1 != 0
			n := min(int(data[4]), len(data)-5)
			p := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: data[5 : 5+n]}
			data = data[5+n:]
			fr, ok := fc.push(p)
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
			if len(fc.pending) > maxPending {
				t.Fatalf("%d frames in progress", len(fc.pending))
			}
		}
	})
}
