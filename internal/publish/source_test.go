package publish

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/livectl/livectl/internal/media"
	"github.com/livectl/livectl/internal/peer/peertest"
)

// TestIVFFrameDurations: frames last as long as their timestamps say,
// whatever the file's time base, and so does the last one, which has no
// successor: a loop's RTP timestamps must step evenly across the wrap.
func TestIVFFrameDurations(t *testing.T) {
	frames := clipFrames(t, 3)
	tests := []struct {
		name     string
		den, num uint32
		ts       func(int) uint64
		want     time.Duration
	}{
		{"1/30 (libvpx)", 30, 1, func(i int) uint64 { return uint64(i) }, time.Second / 30},
		{"1/1000 (from WebM)", 1000, 1, func(i int) uint64 { return uint64(33 * i) }, 33 * time.Millisecond},
		{"1/90000", 90000, 1, func(i int) uint64 { return uint64(3000 * i) }, time.Second / 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := fileSource(writeIVF(t, frames, tt.den, tt.num, tt.ts), 0)
			if err != nil {
				t.Fatal(err)
			}
			for i, f := range src.video.frames {
				if f.dur != tt.want {
					t.Errorf("frame %d lasts %v, want %v", i, f.dur, tt.want)
				}
			}
		})
	}
}

func TestFileSizeLimit(t *testing.T) {
	for _, tt := range []struct {
		data    string
		limit   int64
		wantErr error
	}{
		{"abcdef", 6, nil},
		{"abcdef", 10, nil},
		{"abcdef", 5, errFileTooLarge},
	} {
		got, err := io.ReadAll(&sizeLimited{r: strings.NewReader(tt.data), left: tt.limit})
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("%q limited to %d: err = %v, want %v", tt.data, tt.limit, err, tt.wantErr)
		}
		if tt.wantErr == nil && string(got) != tt.data {
			t.Errorf("%q limited to %d: read %q", tt.data, tt.limit, got)
		}
	}
}

// TestKeyframeAtLeastEveryTwoSeconds: a file whose own keyframes are 3 s
// apart still gets one at most MaxKeyframeInterval after the last, by
// the RTP clock (the schedule), not a frame later.
func TestKeyframeAtLeastEveryTwoSeconds(t *testing.T) {
	gop := clipFrames(t, 30) // one keyframe, then 29 inter frames
	var frames [][]byte
	frames = append(frames, gop...)
	for range 2 {
		frames = append(frames, gop[1:]...)
	}
	frames = append(frames, gop[1:3]...) // 90 frames: 3 s, one keyframe
	path := writeIVF(t, frames, 30, 1, func(i int) uint64 { return uint64(i) })

	srv := peertest.Start(t)
	rec := newRecorder(media.MimeVP8)
	srv.OnRTP = rec.onRTP
	publishFor(t, Options{URL: srv.URL + "/whip/k", File: path}, 2300*time.Millisecond)
	keys := rec.keyTimestamps()
	if len(keys) < 2 {
		t.Fatalf("%d keyframes in 2.3 s of a file with one per 3 s, want the forced one too", len(keys))
	}
	const maxTicks = uint32(MaxKeyframeInterval / time.Second * 90000)
	if d := keys[1] - keys[0]; d > maxTicks {
		t.Errorf("second keyframe %d RTP ticks (%.3f s) after the first, want at most %d", d, float64(d)/90000, maxTicks)
	}
}

// TestUnknownFormat: a file the publisher cannot send wraps
// ErrUnknownFormat, which the CLI turns into a usage error.
func TestUnknownFormat(t *testing.T) {
	ivf := func(fourcc string) []byte {
		h := make([]byte, 32)
		copy(h, "DKIF")
		binary.LittleEndian.PutUint16(h[6:], 32)
		copy(h[8:], fourcc)
		binary.LittleEndian.PutUint32(h[16:], 30)
		binary.LittleEndian.PutUint32(h[20:], 1)
		return h
	}
	tests := []struct {
		name, file string
		body       []byte
		want       error
	}{
		{"text file", "notes.txt", []byte("not media at all\n"), ErrUnknownFormat},
		{"PNG", "frame.png", []byte("\x89PNG\r\n\x1a\n0000"), ErrUnknownFormat},
		{"IVF with VP9", "clip.ivf", ivf("VP90"), ErrUnknownFormat},
		{"IVF with VP8 but no frames", "empty.ivf", ivf("VP80"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, tt.body, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := fileSource(path, 30)
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("fileSource = %v, want %v", err, tt.want)
			}
			if tt.want == nil && (err == nil || errors.Is(err, ErrUnknownFormat)) {
				t.Fatalf("fileSource = %v: a VP8 IVF is a known format, its error is about its content", err)
			}
		})
	}
}

// TestFixedKeyframeInterval: with KeyframeInterval and IgnorePLI the
// publisher acts as a fixed-GOP encoder: keyframes exactly the interval
// apart by the RTP clock and no other, whatever the file's GOP (a shorter
// one is played slower, a longer one cut), and a PLI is counted but not
// answered.
func TestFixedKeyframeInterval(t *testing.T) {
	long := clipFrames(t, 30) // one keyframe, then 29 inter frames: 1 s
	tests := []struct {
		name     string
		frames   [][]byte
		interval time.Duration
	}{
		{"clip GOP shorter: played slower", clipFrames(t, 10), 600 * time.Millisecond},
		{"clip GOP longer: cut", long, 400 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeIVF(t, tc.frames, 30, 1, func(i int) uint64 { return uint64(i) })
			srv := peertest.Start(t)
			rec := newRecorder(media.MimeVP8)
			srv.OnRTP = rec.onRTP
			p, err := Start(context.Background(), Options{URL: srv.URL + "/whip/k", File: path, KeyframeInterval: tc.interval, IgnorePLI: true})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(tc.interval / 2)
			if err := srv.SendRTCP("k", func(ssrc uint32) []rtcp.Packet {
				return []rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}
			}); err != nil {
				t.Fatal(err)
			}
			if err := p.Wait(context.Background(), 3*tc.interval+tc.interval/2); err != nil {
				t.Fatal(err)
			}
			st := p.Stats()
			keys := rec.keyTimestamps()
			if len(keys) < 3 {
				t.Fatalf("%d keyframes in %v at an interval of %v, want at least 3", len(keys), 3*tc.interval+tc.interval/2, tc.interval)
			}
			want := int64(tc.interval / time.Millisecond * 90)
			for i := 1; i < len(keys); i++ {
				if d := int64(keys[i] - keys[i-1]); d < want-3 || d > want+3 {
					t.Errorf("keyframes %d and %d are %d RTP ticks apart, want %d", i-1, i, d, want)
				}
			}
			if st.PLIs != 1 || st.KeyframesOnPLI != 0 {
				t.Errorf("PLIs %d, keyframes on request %d: want the PLI counted and not answered", st.PLIs, st.KeyframesOnPLI)
			}
		})
	}
}

// keyTimestamps lists the RTP timestamps of the keyframes received.
func (r *recorder) keyTimestamps() []uint32 {
	f, _, _ := r.snapshot()
	var keys []uint32
	for _, x := range f {
		if x.Keyframe {
			keys = append(keys, x.Timestamp)
		}
	}
	return keys
}
