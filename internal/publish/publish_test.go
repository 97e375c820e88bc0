package publish

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/livectl/livectl/internal/media"
	"github.com/livectl/livectl/internal/peer/peertest"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/server/servertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder collects what the test WHIP server receives.
type recorder struct {
	mu        sync.Mutex
	asm       *media.Assembler
	frames    []media.Frame
	at        []time.Time
	seqs      map[uint16]int
	audio     int
	lastVideo *rtp.Packet
}

func newRecorder(mime string) *recorder {
	a, _ := media.NewAssembler(mime)
	return &recorder{asm: a, seqs: map[uint16]int{}}
}

func (r *recorder) onRTP(_ string, kind webrtc.RTPCodecType, p *rtp.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if kind == webrtc.RTPCodecTypeAudio {
		r.audio++
		return
	}
	r.seqs[p.SequenceNumber]++
	r.lastVideo = p
	if f, ok := r.asm.Push(p); ok {
		r.frames = append(r.frames, f)
		r.at = append(r.at, time.Now())
	}
}

func (r *recorder) snapshot() ([]media.Frame, []time.Time, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]media.Frame(nil), r.frames...), append([]time.Time(nil), r.at...), r.audio
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// shortClip writes the first n frames of the built-in clip as an IVF file,
// so that a test sees the loop wrap in well under a second.
func shortClip(t *testing.T, n int) string {
	return writeIVF(t, clipFrames(t, n), 30, 1, func(i int) uint64 { return uint64(i) })
}

// clipFrames returns the first n frames of the built-in VP8 clip.
func clipFrames(t *testing.T, n int) [][]byte {
	r := media.ClipVP8()
	var out [][]byte
	for range n {
		f, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f.Data)
	}
	return out
}

// writeIVF writes VP8 frames as an IVF file with time base num/den and
// the given frame timestamps, and returns its path.
func writeIVF(t *testing.T, frames [][]byte, den, num uint32, ts func(i int) uint64) string {
	out := make([]byte, 32)
	copy(out, "DKIF")
	binary.LittleEndian.PutUint16(out[6:], 32)
	copy(out[8:], "VP80")
	binary.LittleEndian.PutUint16(out[12:], media.ClipWidth)
	binary.LittleEndian.PutUint16(out[14:], media.ClipHeight)
	binary.LittleEndian.PutUint32(out[16:], den)
	binary.LittleEndian.PutUint32(out[20:], num)
	binary.LittleEndian.PutUint32(out[24:], uint32(len(frames)))
	for i, f := range frames {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(f)))
		out = binary.LittleEndian.AppendUint64(out, ts(i))
		out = append(out, f...)
	}
	path := filepath.Join(t.TempDir(), "clip.ivf")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPublishWHIP(t *testing.T) {
	srv := peertest.Start(t)
	rec := newRecorder(media.MimeVP8)
	srv.OnRTP = rec.onRTP

	ctx := context.Background()
	p, err := Start(ctx, Options{URL: srv.URL + "/whip/r1", File: shortClip(t, 10)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	t.Run("first frame is a keyframe and frames flow", func(t *testing.T) {
		waitFor(t, 3*time.Second, "20 frames", func() bool { f, _, _ := rec.snapshot(); return len(f) >= 20 })
		f, _, _ := rec.snapshot()
		if !f[0].Keyframe || f[0].Width != 640 || f[0].Height != 360 {
			t.Fatalf("first frame: key=%v %dx%d", f[0].Keyframe, f[0].Width, f[0].Height)
		}
	})
	t.Run("timestamps continue across loops", func(t *testing.T) {
		f, _, _ := rec.snapshot()
		for i := 1; i < len(f); i++ {
			if d := f[i].Timestamp - f[i-1].Timestamp; d < 2900 || d > 3100 {
				t.Fatalf("frame %d: timestamp step %d, want ~3000 (90 kHz, 30 fps)", i, d)
			}
		}
		if s := p.Stats(); s.Loops < 1 {
			t.Fatalf("loops = %d, want the 10-frame clip to have wrapped", s.Loops)
		}
	})
	t.Run("keyframe promptly on PLI", func(t *testing.T) {
		// Wait until we are mid-GOP (the short clip has one keyframe per 10 frames).
		waitFor(t, 2*time.Second, "an inter frame", func() bool { f, _, _ := rec.snapshot(); return !f[len(f)-1].Keyframe })
		before, _, _ := rec.snapshot()
		sent := time.Now()
		if err := srv.SendRTCP("r1", func(ssrc uint32) []rtcp.Packet {
			return []rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}
		}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Second, "a keyframe after the PLI", func() bool {
			f, _, _ := rec.snapshot()
			for _, x := range f[len(before):] {
				if x.Keyframe {
					return true
				}
			}
			return false
		})
		if d := time.Since(sent); d > 150*time.Millisecond {
			t.Fatalf("keyframe %v after PLI, want within a few frame intervals", d)
		}
		waitFor(t, time.Second, "the PLI in the stats", func() bool { s := p.Stats(); return s.PLIs >= 1 && s.KeyframesOnPLI >= 1 })
	})
	t.Run("NACK answered from the send cache", func(t *testing.T) {
		rec.mu.Lock()
		seq := rec.lastVideo.SequenceNumber - 5
		rec.mu.Unlock()
		if err := srv.SendRTCP("r1", func(ssrc uint32) []rtcp.Packet {
			return []rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{seq})}}
		}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Second, "the retransmission", func() bool {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			return rec.seqs[seq] >= 2
		})
		waitFor(t, time.Second, "the NACK in the stats", func() bool { s := p.Stats(); return s.NACKs >= 1 && s.NACKedPackets >= 1 })
	})
	p.Close()
	waitFor(t, 2*time.Second, "WHIP DELETE", func() bool { return srv.Sessions() == 0 })
}

// publishFor publishes with o for d and returns the final stats.
func publishFor(t *testing.T, o Options, d time.Duration) Stats {
	t.Helper()
	p, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return p.Stats()
}

func TestPublishBuiltinClipWithAudio(t *testing.T) {
	srv := peertest.Start(t)
	rec := newRecorder(media.MimeVP8)
	srv.OnRTP = rec.onRTP
	st := publishFor(t, Options{URL: srv.URL + "/whip/r"}, 700*time.Millisecond)
	f, _, audio := rec.snapshot()
	if len(f) < 10 || audio < 10 {
		t.Fatalf("received %d video frames and %d audio packets", len(f), audio)
	}
	if st.FramesSent < 15 || st.Codec != media.MimeVP8 || st.Width != 640 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPublishH264File(t *testing.T) {
	srv := peertest.Start(t)
	rec := newRecorder(media.MimeH264)
	srv.OnRTP = rec.onRTP
	publishFor(t, Options{URL: srv.URL + "/whip/h", File: "../media/testdata/clip.h264"}, 500*time.Millisecond)
	f, _, _ := rec.snapshot()
	if len(f) < 5 || !f[0].Keyframe || f[0].Width != 320 || f[0].Height != 240 {
		t.Fatalf("got %d frames; first %+v", len(f), f[0])
	}
}

func TestPublishErrors(t *testing.T) {
	srv := peertest.Start(t)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"ws without room", Options{URL: "ws://127.0.0.1:1/ws"}, "room"},
		{"missing file", Options{URL: srv.URL + "/whip/x", File: "/nonexistent.ivf"}, "opening media file"},
		{"WHIP 404", Options{URL: srv.URL + "/nope/x"}, "HTTP 404"},
		{"unreachable", Options{URL: "http://127.0.0.1:1/whip/x"}, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Start(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestPublishWHIPServerEndsSession: a server that ends a WHIP session
// cleanly (its peer connection closed, DTLS close_notify sent: shutdown,
// drain, DELETE on its side) ends the publisher, with an error that says so;
// before, the publisher went on pacing frames into nothing and Wait never
// returned.
func TestPublishWHIPServerEndsSession(t *testing.T) {
	for _, tt := range []struct {
		name  string
		start func(t *testing.T) (url string, closeServer func())
	}{
		{"pion test server closes", func(t *testing.T) (string, func()) {
			srv := peertest.Start(t)
			return srv.URL + "/whip/r", srv.Close
		}},
		{"livectl server closes", func(t *testing.T) (string, func()) {
			srv := servertest.Start(t, server.Config{})
			return srv.HTTP + "/whip/r", func() { srv.Close() }
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url, closeServer := tt.start(t)
			p, err := Start(context.Background(), Options{URL: url, NoAudio: true})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			waitFor(t, 3*time.Second, "frames sent", func() bool { return p.Stats().FramesSent >= 5 })

			closeServer()
			ended := time.Now()
			errc := make(chan error, 1)
			go func() { errc <- p.Wait(context.Background(), 0) }()
			select {
			case err := <-errc:
				if err == nil || !strings.Contains(err.Error(), "ended by the server") || !strings.Contains(err.Error(), url) {
					t.Fatalf("Wait = %v, want an error saying the server ended the session at %s", err, url)
				}
				t.Logf("publisher ended %v after the server: %v", time.Since(ended).Round(time.Millisecond), err)
			case <-time.After(5 * time.Second):
				t.Fatal("the publisher still runs 5 s after the server ended its session")
			}
		})
	}
}

// TestPublishCloseIsNotAnError: the publisher's own ending (Close, the
// context, the duration) closes its peer connection too; that is not the
// server ending the session.
func TestPublishCloseIsNotAnError(t *testing.T) {
	srv := peertest.Start(t)
	start := func() *Publisher {
		t.Helper()
		p, err := Start(context.Background(), Options{URL: srv.URL + "/whip/r", NoAudio: true})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 3*time.Second, "frames sent", func() bool { return p.Stats().FramesSent >= 3 })
		return p
	}
	check := func(what string, p *Publisher, err error) {
		t.Helper()
		time.Sleep(100 * time.Millisecond) // let a late state change land
		if err != nil || p.Err() != nil {
			t.Fatalf("%s: Wait = %v, Err = %v; want nil", what, err, p.Err())
		}
	}

	p := start()
	check("Close", p, p.Close())

	p = start()
	check("duration", p, p.Wait(context.Background(), 100*time.Millisecond))

	p = start()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	check("context", p, p.Wait(ctx, 0))
	cancel()
}

// TestPublishSimulcast: --simulcast sends three VP8 layers, each on its own
// SSRC, whose keyframes are 320x180, 640x360 and 1280x720.
func TestPublishSimulcast(t *testing.T) {
	srv := peertest.Start(t)
	var mu sync.Mutex
	asm := map[uint32]*media.Assembler{}
	sizes := map[uint32]string{}
	srv.OnRTP = func(_ string, kind webrtc.RTPCodecType, p *rtp.Packet) {
		if kind != webrtc.RTPCodecTypeVideo {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		a := asm[p.SSRC]
		if a == nil {
			a, _ = media.NewAssembler(media.MimeVP8)
			asm[p.SSRC] = a
		}
		if f, ok := a.Push(p); ok && f.Keyframe {
			sizes[p.SSRC] = fmt.Sprintf("%dx%d", f.Width, f.Height)
		}
	}
	st := publishFor(t, Options{URL: srv.URL + "/whip/sc", Simulcast: true}, 1500*time.Millisecond)
	mu.Lock()
	var got []string
	for _, s := range sizes {
		got = append(got, s)
	}
	mu.Unlock()
	sort.Strings(got)
	if want := []string{"1280x720", "320x180", "640x360"}; !slices.Equal(got, want) {
		t.Errorf("keyframe sizes by SSRC %v, want %v", got, want)
	}
	if want := []string{"q 320x180", "h 640x360", "f 1280x720"}; !slices.Equal(st.Layers, want) || st.Width != 1280 {
		t.Errorf("stats layers %v (width %d), want %v", st.Layers, st.Width, want)
	}
	if _, err := Start(context.Background(), Options{URL: srv.URL + "/whip/sc", Simulcast: true, File: "x.ivf"}); !errors.Is(err, ErrSimulcastFile) {
		t.Errorf("simulcast with a file: err = %v, want ErrSimulcastFile", err)
	}
}
