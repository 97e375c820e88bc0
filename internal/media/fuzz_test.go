package media

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// Every parser of untrusted input here has a fuzz target. The committed seed
// corpus lives in testdata/fuzz/<Target>; `go test -run TestWriteSeedCorpus
// -update-corpus` regenerates it from the built-in clip and fixtures.

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz seed corpora")

// seedPackets returns a few real RTP packets of each codec, marshalled.
func seedPackets() (vp8, h264 [][]byte) {
	ivf := ClipVP8()
	f, _ := ivf.Next()
	for i, p := range (&codecs.VP8Payloader{EnablePictureID: true}).Payload(1200, f.Data) {
		if i < 3 {
			vp8 = append(vp8, p)
		}
	}
	b, _ := os.ReadFile("testdata/clip.h264")
	hr := NewH264Reader(bytes.NewReader(b))
	pay := &codecs.H264Payloader{}
	for range 2 {
		au, err := hr.NextAccessUnit()
		if err != nil {
			break
		}
		for _, n := range au.NALs {
			for i, p := range pay.Payload(1200, append([]byte{0, 0, 0, 1}, n...)) {
				if i < 2 {
					h264 = append(h264, p)
				}
			}
		}
	}
	return vp8, h264
}

// encodeStream frames packets for FuzzAssembler: 2-byte length, then an RTP packet.
func encodeStream(ps [][]byte, seq uint16) []byte {
	var out []byte
	for i, p := range ps {
		pk := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq + uint16(i), Timestamp: 90000, Marker: i == len(ps)-1}, Payload: p}
		b, _ := pk.Marshal()
		out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
	}
	return out
}

func seeds(t testing.TB) map[string][][]byte {
	vp8, h264 := seedPackets()
	black, _ := os.ReadFile("testdata/black.ivf")
	h264file, _ := os.ReadFile("testdata/clip.h264")
	var sps []byte
	if au, err := NewH264Reader(bytes.NewReader(h264file)).NextAccessUnit(); err == nil {
		sps = au.NALs[0]
	}
	key, _ := ClipVP8().Next()
	return map[string][][]byte{
		"FuzzIsKeyframe":    append(append([][]byte{{0x10, 0x00}, {0x7c, 0x85, 0x00}}, vp8...), h264...),
		"FuzzAssemblerVP8":  {encodeStream(vp8, 65534), encodeStream(vp8[:1], 0)},
		"FuzzAssemblerH264": {encodeStream(h264, 10), encodeStream(h264[:2], 0)},
		"FuzzIVFReader":     {black, ClipVP8Bytes()[:4096]},
		"FuzzOggReader":     {ClipOggBytes()[:4096], oggPage([]byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"))},
		"FuzzH264Reader":    {h264file[:4096], {0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x65, 0x88}},
		"FuzzParseH264SPS":  {sps, {0x67, 0x64, 0x00, 0x1f, 0xac}},
		"FuzzDecodeVP8":     {key.Data[:min(len(key.Data), 2048)], key.Data},
	}
}

func TestWriteSeedCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to regenerate testdata/fuzz")
	}
	for name, inputs := range seeds(t) {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, in := range inputs {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", in)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func FuzzIsKeyframe(f *testing.F) {
	f.Fuzz(func(t *testing.T, p []byte) {
		IsVP8Keyframe(p)
		VP8KeyframeSize(p)
		IsH264Keyframe(p)
		h264StartsAccessUnit(p)
	})
}

func fuzzAssembler(mime string) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		a, err := NewAssembler(mime)
		if err != nil {
			t.Fatal(err)
		}
		for len(b) >= 2 {
			n := int(binary.BigEndian.Uint16(b))
			b = b[2:]
			if n > len(b) {
				n = len(b)
			}
			var p rtp.Packet
			if p.Unmarshal(b[:n]) == nil {
				if f, ok := a.Push(&p); ok && len(f.Data) == 0 {
					t.Fatal("assembled an empty frame")
				}
			}
			b = b[n:]
		}
		if len(a.pending) > maxPendingFrames {
			t.Fatalf("%d pending frames", len(a.pending))
		}
	}
}

func FuzzAssemblerVP8(f *testing.F)  { f.Fuzz(fuzzAssembler(MimeVP8)) }
func FuzzAssemblerH264(f *testing.F) { f.Fuzz(fuzzAssembler(MimeH264)) }

func FuzzIVFReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewIVFReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		for range 1000 {
			fr, err := r.Next()
			if err != nil {
				return
			}
			ParseVP8Frame(fr.Data)
		}
	})
}

func FuzzOggReader(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewOggReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		for range 1000 {
			p, err := r.Next()
			if err != nil {
				return
			}
			OpusPacketDuration(p)
		}
	})
}

func FuzzH264Reader(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewH264Reader(bytes.NewReader(b))
		for range 1000 {
			au, err := r.NextAccessUnit()
			if err == io.EOF {
				return
			}
			if err != nil {
				return
			}
			if len(au.NALs) == 0 {
				t.Fatal("empty access unit")
			}
			for _, n := range au.NALs {
				if len(n) == 0 {
					t.Fatal("empty NAL unit")
				}
			}
		}
	})
}

func FuzzParseH264SPS(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if w, h, err := ParseH264SPS(b); err == nil && (w <= 0 || h <= 0) {
			t.Fatalf("size %dx%d without error", w, h)
		}
	})
}

func FuzzDecodeVP8(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		if img, err := DecodeVP8(b); err == nil {
			Luma(img)
		}
	})
}
