package media

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// packetize turns frames into RTP packets the way a sender does.
func packetize(pay rtp.Payloader, frames [][]byte, seq uint16, ts uint32) [][]*rtp.Packet {
	out := make([][]*rtp.Packet, len(frames))
	for i, f := range frames {
		ps := pay.Payload(1200, f)
		for j, p := range ps {
			out[i] = append(out[i], &rtp.Packet{
				Header:  rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts, Marker: j == len(ps)-1, PayloadType: 96},
				Payload: p,
			})
			seq++
		}
		ts += 3000
	}
	return out
}

func clipFrames(t testing.TB) [][]byte {
	var out [][]byte
	for _, f := range readAllIVF(t, ClipVP8()) {
		out = append(out, f.Data)
	}
	return out
}

func h264Units(t testing.TB) ([][]byte, []H264AccessUnit) {
	b, err := os.ReadFile("testdata/clip.h264")
	if err != nil {
		t.Fatal(err)
	}
	r := NewH264Reader(bytes.NewReader(b))
	var annexB [][]byte
	var aus []H264AccessUnit
	for {
		au, err := r.NextAccessUnit()
		if errors.Is(err, io.EOF) {
			return annexB, aus
		}
		if err != nil {
			t.Fatal(err)
		}
		var buf []byte
		for _, n := range au.NALs {
			buf = append(append(buf, 0, 0, 0, 1), n...)
		}
		annexB = append(annexB, buf)
		aus = append(aus, au)
	}
}

func TestAssembler(t *testing.T) {
	vp8 := clipFrames(t)
	h264, _ := h264Units(t)
	tests := []struct {
		name    string
		mime    string
		pay     rtp.Payloader
		frames  [][]byte
		seq     uint16
		mangle  func(rng *rand.Rand, frame []*rtp.Packet) []*rtp.Packet
		wantAll bool
		keys    int
		w, h    int
	}{
		{name: "vp8 in order", mime: MimeVP8, pay: &codecs.VP8Payloader{EnablePictureID: true}, frames: vp8, seq: 100, wantAll: true, keys: 4, w: 640, h: 360},
		{name: "vp8 seq wraps", mime: MimeVP8, pay: &codecs.VP8Payloader{}, frames: vp8, seq: 65000, wantAll: true, keys: 4, w: 640, h: 360},
		{name: "vp8 reordered and duplicated within frames", mime: MimeVP8, pay: &codecs.VP8Payloader{}, frames: vp8, seq: 7, wantAll: true, keys: 4, w: 640, h: 360,
			mangle: func(rng *rand.Rand, ps []*rtp.Packet) []*rtp.Packet {
				rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
				return append(ps, ps[0])
			}},
		{name: "h264 in order (STAP-A, FU-A, single NAL)", mime: MimeH264, pay: &codecs.H264Payloader{}, frames: h264, seq: 1, wantAll: true, keys: 2, w: 320, h: 240},
		{name: "h264 reordered", mime: MimeH264, pay: &codecs.H264Payloader{}, frames: h264, seq: 65530, wantAll: true, keys: 2, w: 320, h: 240,
			mangle: func(rng *rand.Rand, ps []*rtp.Packet) []*rtp.Packet {
				rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
				return ps
			}},
		{name: "vp8 lossy drops broken frames only", mime: MimeVP8, pay: &codecs.VP8Payloader{}, frames: vp8, seq: 9, w: 640, h: 360,
			mangle: func(rng *rand.Rand, ps []*rtp.Packet) []*rtp.Packet {
				if len(ps) > 1 && rng.IntN(4) == 0 {
					return append(ps[:1:1], ps[2:]...)
				}
				return ps
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			a, err := NewAssembler(tt.mime)
			if err != nil {
				t.Fatal(err)
			}
			pkts := packetize(tt.pay, tt.frames, tt.seq, 1234)
			got, keys := 0, 0
			for i, ps := range pkts {
				sent := ps
				if tt.mangle != nil {
					sent = tt.mangle(rng, append([]*rtp.Packet(nil), ps...))
				}
				var out []Frame
				for _, p := range sent {
					if f, ok := a.Push(p); ok {
						out = append(out, f)
					}
				}
				if len(out) > 1 {
					t.Fatalf("frame %d: %d frames out", i, len(out))
				}
				if len(out) == 0 {
					if tt.wantAll {
						t.Fatalf("frame %d not assembled (stats %+v)", i, a.Stats)
					}
					continue
				}
				f := out[0]
				got++
				if !bytes.Equal(f.Data, tt.frames[i]) {
					t.Fatalf("frame %d: assembled %d bytes differ from the %d sent", i, len(f.Data), len(tt.frames[i]))
				}
				if f.Keyframe {
					keys++
					if f.Width != tt.w || f.Height != tt.h {
						t.Fatalf("keyframe %d: %dx%d, want %dx%d", i, f.Width, f.Height, tt.w, tt.h)
					}
				}
			}
			if tt.wantAll && (got != len(tt.frames) || keys != tt.keys) {
				t.Fatalf("assembled %d frames (%d keys), want %d (%d keys)", got, keys, len(tt.frames), tt.keys)
			}
			if !tt.wantAll && (got == 0 || got == len(tt.frames) || a.Stats.Dropped == 0) {
				t.Fatalf("lossy: assembled %d of %d, stats %+v", got, len(tt.frames), a.Stats)
			}
		})
	}
}

func TestNewAssemblerRejectsAudio(t *testing.T) {
	if _, err := NewAssembler(MimeOpus); !errors.Is(err, ErrUnsupportedCodec) {
		t.Fatalf("err = %v", err)
	}
}

func TestDecodeAndLuma(t *testing.T) {
	tests := []struct {
		name      string
		file      []byte
		w, h      int
		wantBlack bool
	}{
		{"clip", ClipVP8Bytes(), 640, 360, false},
		{"black", mustRead(t, "testdata/black.ivf"), 320, 240, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewIVFReader(bytes.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			f, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			img, err := DecodeVP8(f.Data)
			if err != nil {
				t.Fatal(err)
			}
			if img.Rect.Dx() != tt.w || img.Rect.Dy() != tt.h {
				t.Fatalf("decoded %v, want %dx%d", img.Rect, tt.w, tt.h)
			}
			s := Luma(img)
			if s.Black() != tt.wantBlack {
				t.Fatalf("luma %+v: black = %v, want %v", s, s.Black(), tt.wantBlack)
			}
			next, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeVP8(next.Data); !errors.Is(err, ErrNotKeyframe) {
				t.Fatalf("inter frame: err = %v, want ErrNotKeyframe", err)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFreezeDetector(t *testing.T) {
	t0 := time.Unix(0, 0)
	tests := []struct {
		name   string
		at     []int // ms
		data   []string
		end    int
		frozen bool
	}{
		{"steady 30fps", []int{0, 33, 66, 100, 133}, []string{"a", "b", "c", "d", "e"}, 150, false},
		{"gap", []int{0, 33, 900}, []string{"a", "b", "c"}, 920, true},
		{"stalls at end", []int{0, 33}, []string{"a", "b"}, 1000, true},
		{"repeated bytes are not new", []int{0, 33, 66, 100}, []string{"a", "b", "b", "b"}, 800, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := FreezeDetector{Threshold: 500 * time.Millisecond}
			for i, ms := range tt.at {
				d.Frame(t0.Add(time.Duration(ms)*time.Millisecond), []byte(tt.data[i]))
			}
			d.Finish(t0.Add(time.Duration(tt.end) * time.Millisecond))
			if d.Frozen() != tt.frozen {
				t.Fatalf("frozen = %v (max gap %v), want %v", d.Frozen(), d.MaxGap(), tt.frozen)
			}
		})
	}
}

// TestH264KeyframeNeedsParameterSets: when the packet carrying an IDR's SPS
// and PPS is lost, the rest of the access unit still reassembles (a decoder
// that has the parameter sets from before can use it), but it is not a
// keyframe: a fresh decoder cannot start on it. Assembler and FrameCounter
// agree.
func TestH264KeyframeNeedsParameterSets(t *testing.T) {
	h264, _ := h264Units(t)
	frames := packetize(&codecs.H264Payloader{}, h264, 500, 9000)
	first := frames[0]
	if !IsDecoderStart(MimeH264, first[0].Payload) || len(first) < 2 {
		t.Fatalf("the clip's first frame does not open with its SPS in a packet of its own")
	}
	asm, err := NewAssembler(MimeH264)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := NewFrameCounter(MimeH264)
	if err != nil {
		t.Fatal(err)
	}
	var fromAsm, fromCounter []bool
	for i, ps := range frames {
		if i == 0 {
			ps = ps[1:] // the parameter sets are lost
		}
		for _, p := range ps {
			if f, ok := asm.Push(p); ok {
				fromAsm = append(fromAsm, f.Keyframe)
			}
			if f, ok := fc.Push(p); ok {
				fromCounter = append(fromCounter, f.Keyframe)
			}
		}
	}
	if len(fromAsm) != len(frames) {
		t.Fatalf("assembled %d of %d frames", len(fromAsm), len(frames))
	}
	if fromAsm[0] {
		t.Errorf("an IDR without its SPS and PPS counts as a keyframe")
	}
	keys := 0
	for _, k := range fromAsm {
		if k {
			keys++
		}
	}
	if keys != 1 {
		t.Errorf("%d keyframes, want 1 (the clip's second, complete one)", keys)
	}
	if !slices.Equal(fromAsm, fromCounter) {
		t.Errorf("FrameCounter's keyframes %v differ from Assembler's %v", fromCounter, fromAsm)
	}
}

// TestBuildH264RejectsBrokenRuns: a run of packets whose FU-A fragments or
// STAP-A entries do not add up is no frame (pion's H264Packet would glue
// most of these into one; doc.go).
func TestBuildH264RejectsBrokenRuns(t *testing.T) {
	tests := []struct {
		name     string
		payloads [][]byte
	}{
		{"fu-a without its start", [][]byte{{0x7c, 0x05, 1, 2}, {0x7c, 0x45, 3, 4}}},
		{"fu-a restarted", [][]byte{{0x7c, 0x85, 1}, {0x7c, 0x85, 2}, {0x7c, 0x45, 3}}},
		{"single nal inside fu-a", [][]byte{{0x7c, 0x85, 1}, {0x41, 0x9a}, {0x7c, 0x45, 3}}},
		{"fu-a not finished", [][]byte{{0x7c, 0x85, 1}, {0x7c, 0x05, 2}}},
		{"stap-a zero-length entry", [][]byte{{0x78, 0, 0, 0, 1, 0x67}}},
		{"stap-a trailing byte", [][]byte{{0x78, 0, 1, 0x67, 0}}},
		{"stap-a entry past the end", [][]byte{{0x78, 0, 9, 0x67}}},
		{"fu-b", [][]byte{{0x7d, 0x85, 0, 0, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var run []pkt
			for i, p := range tt.payloads {
				run = append(run, pkt{seq: uint16(i), payload: p, marker: i == len(tt.payloads)-1})
			}
			if f, err := buildH264(run); err == nil {
				t.Fatalf("built a %d-byte frame % x", len(f.Data), f.Data)
			}
		})
	}
}
