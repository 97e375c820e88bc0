package media

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"testing"
	"testing/iotest"
	"time"

	"github.com/pion/rtp/codecs"
)

func readAllIVF(t testing.TB, r *IVFReader) []IVFFrame {
	t.Helper()
	var out []IVFFrame
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, f)
	}
}

// TestClipVP8 checks the built-in clip and its simulcast renditions: 4 s
// at 30 fps, the size they claim, keyframes every second on the same frames
// (a viewer switching layers finds one on each at the same moment).
func TestClipVP8(t *testing.T) {
	type clip struct {
		name string
		r    *IVFReader
		w, h int
	}
	clips := []clip{{"built-in", ClipVP8(), ClipWidth, ClipHeight}}
	for _, l := range SimulcastClip() {
		r, err := NewIVFReader(bytes.NewReader(l.IVF))
		if err != nil {
			t.Fatalf("simulcast layer %s: %v", l.RID, err)
		}
		clips = append(clips, clip{"simulcast " + l.RID, r, l.Width, l.Height})
	}
	for _, c := range clips {
		t.Run(c.name, func(t *testing.T) {
			r := c.r
			if r.Header.FourCC != "VP80" || int(r.Header.Width) != c.w || int(r.Header.Height) != c.h {
				t.Fatalf("header = %+v", r.Header)
			}
			if d := r.Header.FrameDuration(); d < 33*time.Millisecond || d > 34*time.Millisecond {
				t.Fatalf("frame duration = %v, want 1/30 s", d)
			}
			frames := readAllIVF(t, r)
			if len(frames) != 120 {
				t.Fatalf("frames = %d, want 120 (4 s at 30 fps)", len(frames))
			}
			var keys []int
			for i, f := range frames {
				info, err := ParseVP8Frame(f.Data)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if info.Keyframe {
					keys = append(keys, i)
					if info.Width != c.w || info.Height != c.h {
						t.Fatalf("frame %d: %dx%d", i, info.Width, info.Height)
					}
				}
			}
			if want := []int{0, 30, 60, 90}; !equalInts(keys, want) {
				t.Fatalf("keyframes at %v, want %v", keys, want)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestClipOpus(t *testing.T) {
	r := ClipOpus()
	if r.Channels != 2 {
		t.Fatalf("channels = %d", r.Channels)
	}
	var total time.Duration
	n := 0
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if d := OpusPacketDuration(p); d != 20*time.Millisecond {
			t.Fatalf("packet %d duration %v", n, d)
		}
		total += OpusPacketDuration(p)
		n++
	}
	if total < 3900*time.Millisecond || total > 4100*time.Millisecond {
		t.Fatalf("total audio %v in %d packets, want ~4s", total, n)
	}
}

func TestH264Reader(t *testing.T) {
	b, err := os.ReadFile("testdata/clip.h264")
	if err != nil {
		t.Fatal(err)
	}
	r := NewH264Reader(bytes.NewReader(b))
	var keys []int
	n := 0
	for {
		au, err := r.NextAccessUnit()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if au.Keyframe {
			keys = append(keys, n)
		}
		n++
	}
	if n != 60 {
		t.Fatalf("access units = %d, want 60 (2 s at 30 fps)", n)
	}
	if want := []int{0, 30}; !equalInts(keys, want) {
		t.Fatalf("keyframes at %v, want %v", keys, want)
	}
}

func TestReadersRejectGarbage(t *testing.T) {
	// Each opens the input and reads its first frame, NAL or packet; a
	// header the reader refuses is not what these cases test.
	ivfFrame := func(b []byte) error {
		r, err := NewIVFReader(bytes.NewReader(b))
		if err != nil {
			return nil
		}
		_, err = r.Next()
		return err
	}
	oggPacket := func(b []byte) error {
		r, err := NewOggReader(bytes.NewReader(b))
		if err != nil {
			return nil
		}
		_, err = r.Next()
		return err
	}
	h264Unit := func(b []byte) error { _, err := NewH264Reader(bytes.NewReader(b)).NextAccessUnit(); return err }
	tests := []struct {
		name string
		open func([]byte) error
		in   []byte
	}{
		{"ivf empty", func(b []byte) error { _, err := NewIVFReader(bytes.NewReader(b)); return err }, nil},
		{"ivf wrong magic", func(b []byte) error { _, err := NewIVFReader(bytes.NewReader(b)); return err }, bytes.Repeat([]byte{'x'}, 40)},
		{"ivf huge frame", ivfFrame, append(append([]byte("DKIF"), make([]byte, 28)...), 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0)},
		{"ogg not ogg", func(b []byte) error { _, err := NewOggReader(bytes.NewReader(b)); return err }, []byte("hello world, this is not an ogg file")},
		{"ogg vorbis", func(b []byte) error { _, err := NewOggReader(bytes.NewReader(b)); return err }, oggPage([]byte("\x01vorbis-not-opus-header-xxxx"))},
		{"h264 no start code", h264Unit, []byte{1, 2, 3, 4, 5}},
		// The cases below are where pion's readers differ (doc.go): each
		// would come back as a clean end, or after an allocation the size
		// of the declared length.
		{"ivf frame cut short", ivfFrame, append(append([]byte("DKIF"), make([]byte, 28)...), 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3)},
		{"h264 NAL unit over the bound", h264Unit, append([]byte{0, 0, 0, 1, 0x65}, bytes.Repeat([]byte{0xff}, maxNALSize)...)},
		{"h264 read error", func(b []byte) error {
			_, err := NewH264Reader(io.MultiReader(bytes.NewReader(b), iotest.ErrReader(errors.New("disk error")))).NextAccessUnit()
			return err
		}, []byte{0, 0, 0, 1, 0x65, 0x88, 1, 2}},
		{"ogg packet over the bound", oggPacket, slices.Concat(oggHeaders(), oggFullPage(0), oggFullPage(1))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.open(tt.in); err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("err = %v, want a descriptive error", err)
			}
		})
	}
}

// oggPage builds a single-segment Ogg page around body (CRC not checked by the reader).
func oggPage(body []byte) []byte { return oggRawPage(0x02, []byte{byte(len(body))}, body) }

// oggRawPage builds an Ogg page with the given header type flags and
// lacing values around body.
func oggRawPage(flags byte, lacing, body []byte) []byte {
	h := make([]byte, 27)
	copy(h, "OggS")
	h[5] = flags
	h[26] = byte(len(lacing))
	return slices.Concat(h, lacing, body)
}

// oggHeaders is the OpusHead and OpusTags pages of a stereo stream.
func oggHeaders() []byte {
	return slices.Concat(oggPage([]byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00")),
		oggPage([]byte("OpusTags\x00\x00\x00\x00\x00\x00\x00\x00")))
}

// oggFullPage is a page of 255 segments of 255 bytes: all of it one packet
// that goes on into the next page. flags 1 marks it a continuation.
func oggFullPage(flags byte) []byte {
	return oggRawPage(flags, bytes.Repeat([]byte{255}, 255), make([]byte, 255*255))
}

// TestOggPackets: the reader returns Opus packets, not pages (pion's
// oggreader returns a page's payload whole): several packets share a page
// in files from opusenc and libopus, and one packet may span pages.
func TestOggPackets(t *testing.T) {
	spanning := slices.Concat(make([]byte, 255), []byte{0xfc, 7, 7})
	tests := []struct {
		name  string
		pages []byte
		want  [][]byte
	}{
		{"three packets on a page", oggRawPage(0, []byte{2, 3, 1}, []byte{0xfc, 1, 0xfc, 2, 2, 0xfc}),
			[][]byte{{0xfc, 1}, {0xfc, 2, 2}, {0xfc}}},
		{"a packet across two pages", slices.Concat(oggRawPage(0, []byte{255}, spanning[:255]), oggRawPage(1, []byte{3, 1}, []byte{0xfc, 7, 7, 0xf8})),
			[][]byte{spanning, {0xf8}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewOggReader(bytes.NewReader(slices.Concat(oggHeaders(), tt.pages)))
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				p, err := r.Next()
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if !bytes.Equal(p, want) {
					t.Fatalf("packet %d = %x, want %x", i, p, want)
				}
			}
			if _, err := r.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the last packet: %v, want EOF", err)
			}
		})
	}
}

func TestKeyframeDetection(t *testing.T) {
	t.Run("vp8 clip packets", func(t *testing.T) {
		frames := readAllIVF(t, ClipVP8())
		pay := &codecs.VP8Payloader{EnablePictureID: true}
		for i, f := range frames {
			info, _ := ParseVP8Frame(f.Data)
			for j, p := range pay.Payload(1200, f.Data) {
				want := info.Keyframe && j == 0
				if got := IsKeyframe("video/vp8", p); got != want {
					t.Fatalf("frame %d packet %d: IsKeyframe = %v, want %v", i, j, got, want)
				}
			}
		}
	})
	t.Run("h264 clip packets", func(t *testing.T) {
		b, _ := os.ReadFile("testdata/clip.h264")
		r := NewH264Reader(bytes.NewReader(b))
		pay := &codecs.H264Payloader{}
		keys := 0
		for i := 0; ; i++ {
			au, err := r.NextAccessUnit()
			if err != nil {
				break
			}
			var sawKey bool
			for _, nal := range au.NALs {
				for _, p := range pay.Payload(1200, append([]byte{0, 0, 0, 1}, nal...)) {
					if IsKeyframe(MimeH264, p) {
						sawKey = true
					}
				}
			}
			if sawKey != au.Keyframe {
				t.Fatalf("access unit %d: keyframe seen in packets = %v, in stream = %v", i, sawKey, au.Keyframe)
			}
			if sawKey {
				keys++
			}
		}
		if keys != 2 {
			t.Fatalf("keyframes = %d, want 2", keys)
		}
	})
	tests := []struct {
		name    string
		mime    string
		payload []byte
		want    bool
	}{
		{"empty vp8", MimeVP8, nil, false},
		{"vp8 continuation", MimeVP8, []byte{0x00, 0x00}, false},
		{"vp8 start key", MimeVP8, []byte{0x10, 0x00}, true},
		{"vp8 start inter", MimeVP8, []byte{0x10, 0x01}, false},
		{"vp8 start key pid 1", MimeVP8, []byte{0x11, 0x00}, false},
		{"vp8 ext 15-bit picid key", MimeVP8, []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true},
		{"vp8 ext truncated", MimeVP8, []byte{0x90, 0x80, 0x81}, false},
		{"h264 idr", MimeH264, []byte{0x65, 0x88}, true},
		{"h264 sps", MimeH264, []byte{0x67, 0x42}, true},
		{"h264 p slice", MimeH264, []byte{0x41, 0x9a}, false},
		{"h264 stap-a with sps", MimeH264, []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"h264 stap-a truncated", MimeH264, []byte{0x78, 0x00, 0x09, 0x67}, false},
		{"h264 fu-a idr start", MimeH264, []byte{0x7c, 0x85, 0x00}, true},
		{"h264 fu-a idr middle", MimeH264, []byte{0x7c, 0x05, 0x00}, false},
		{"opus", MimeOpus, []byte{0x10, 0x00}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsKeyframe(tt.mime, tt.payload); got != tt.want {
				t.Fatalf("IsKeyframe(%s, % x) = %v, want %v", tt.mime, tt.payload, got, tt.want)
			}
		})
	}
}

func BenchmarkIsKeyframeVP8(b *testing.B) {
	p := []byte{0x90, 0x80, 0x81, 0x23, 0x00, 0x01, 0x02}
	b.ReportAllocs()
	for b.Loop() {
		IsKeyframe(MimeVP8, p)
	}
}

// TestOggSkipsOrphanContinuation: a page flagged as continuing a packet
// the reader never saw begin opens with that packet's tail, which must not
// come out as a packet of its own.
func TestOggSkipsOrphanContinuation(t *testing.T) {
	head := append([]byte("OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00"), 0)
	var file []byte
	file = append(file, oggPage(head)...)
	file = append(file, oggPage([]byte("OpusTags\x00\x00\x00\x00\x00\x00\x00\x00"))...)
	// One page, continued flag set: a 3-byte tail of a lost packet, then
	// a whole 2-byte packet.
	page := make([]byte, 27)
	copy(page, "OggS")
	page[5] = 0x01
	page[26] = 2
	page = append(page, 3, 2)
	page = append(page, 0xaa, 0xbb, 0xcc) // the orphan tail
	page = append(page, 0xfc, 0x01)       // a real packet
	file = append(file, page...)

	r, err := NewOggReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p, []byte{0xfc, 0x01}) {
		t.Fatalf("first packet %x, want fc01 (the orphan tail skipped)", p)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last packet: %v, want EOF", err)
	}
}

// TestParseH264SPSTruncated: an SPS cut after frame_mbs_only_flag is an
// error, not a picture size without its cropping (here 1920x1088 for a
// 1920x1080 stream).
func TestParseH264SPSTruncated(t *testing.T) {
	if w, h, err := ParseH264SPS([]byte{0x67, 0x4d, 0x40, 0x28, 0xec, 0xa0, 0x3c, 0x01, 0x13}); err == nil {
		t.Fatalf("truncated SPS parsed as %dx%d", w, h)
	}
}

func TestLayerTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	key := func(w, h int) Frame { return Frame{Keyframe: true, Width: w, Height: h} }
	var l LayerTracker
	l.Frame(at(0), key(640, 360))
	l.Frame(at(33), Frame{})
	l.Frame(at(1000), key(1280, 720)) // a 967 ms freeze, then a switch
	l.Frame(at(1033), Frame{})
	l.Frame(at(1066), key(1280, 720)) // same size: no switch
	l.Frame(at(3000), key(320, 180))
	l.Finish(at(4000))
	if l.Current() != "320x180" || l.Switches() != 2 || len(l.Spans()) != 3 {
		t.Fatalf("current %s, %d switches, spans %v", l.Current(), l.Switches(), l.Spans())
	}
	want := map[string]time.Duration{"640x360": time.Second, "1280x720": 2 * time.Second, "320x180": time.Second}
	for size, d := range want {
		if got := l.TimeAt()[size]; got != d {
			t.Errorf("time at %s = %v, want %v", size, got, d)
		}
	}
	if g := l.MaxGapSince(at(0)); g != 1934*time.Millisecond {
		t.Errorf("max gap since the start = %v, want 1.934s", g)
	}
	if g := l.MaxGapSince(at(1100)); g != 1934*time.Millisecond {
		t.Errorf("max gap since 1.1 s = %v, want 1.934s (it ended at 3 s)", g)
	}
	if g := l.MaxGapSince(at(3000)); g != 0 {
		t.Errorf("max gap since 3 s = %v, want 0", g)
	}
}
