package publish

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/livectl/livectl/internal/media"
)

// maxFileSize bounds a --file loaded into memory for looping.
const maxFileSize = 512 << 20

// errFileTooLarge says so instead of looping a silently cut file.
var errFileTooLarge = fmt.Errorf("larger than %d MiB, the most a publisher loads into memory to loop: cut it shorter", maxFileSize>>20)

// sizeLimited reads at most maxFileSize bytes and fails with
// errFileTooLarge past them (a pipe has no size to check first).
type sizeLimited struct {
	r    io.Reader
	left int64
}

func (s *sizeLimited) Read(b []byte) (int, error) {
	if s.left <= 0 {
		var one [1]byte
		if n, _ := io.ReadFull(s.r, one[:]); n > 0 {
			return 0, errFileTooLarge
		}
		return 0, io.EOF
	}
	n, err := s.r.Read(b[:min(int64(len(b)), s.left)])
	s.left -= int64(n)
	return n, err
}

// frame is one unit of media to send: a video frame or an audio packet.
type frame struct {
	data []byte
	key  bool
	dur  time.Duration
}

// loop plays frames in a circle. Keyframe requests jump to the next keyframe
// in the clip: a file cannot be re-encoded, so this is how a file-backed
// publisher answers a PLI promptly. RTP timestamps stay continuous because
// they advance by each sent frame's duration, whatever frame it is.
type loop struct {
	codec  string
	frames []frame
	i      int
	loops  int
	w, h   int
}

func (l *loop) next() frame {
	f := l.frames[l.i]
	l.i++
	if l.i == len(l.frames) {
		l.i = 0
		l.loops++
	}
	return f
}

// seekKeyframe moves to the nearest keyframe at or after the cursor,
// wrapping around the end of the clip. A clip without keyframes stays put.
func (l *loop) seekKeyframe() {
	for n := range len(l.frames) {
		j := (l.i + n) % len(l.frames)
		if l.frames[j].key {
			if j < l.i {
				l.loops++
			}
			l.i = j
			return
		}
	}
}

// gopDuration is how long the clip plays from the keyframe at the cursor
// to its next keyframe (wrapping around; the whole loop when it has one).
func (l *loop) gopDuration() time.Duration {
	d := l.frames[l.i].dur
	for n := 1; n < len(l.frames); n++ {
		f := l.frames[(l.i+n)%len(l.frames)]
		if f.key {
			break
		}
		d += f.dur
	}
	return d
}

// source is what a publisher sends: a video loop and optionally an audio
// loop. A simulcast source has its video in layers, lowest first, each sent
// with its RTP stream id (rids); video is then the top layer.
type source struct {
	video, audio *loop
	layers       []*loop
	rids         []string
	name         string
}

// builtinSource is the embedded clip: VP8 640x360 with Opus.
func builtinSource() (*source, error) {
	v, err := loadIVF(bytes.NewReader(media.ClipVP8Bytes()))
	if err != nil {
		return nil, err
	}
	a, err := loadOgg(bytes.NewReader(media.ClipOggBytes()))
	if err != nil {
		return nil, err
	}
	return &source{video: v, audio: a, name: "built-in clip"}, nil
}

// builtinSimulcastSource is the embedded clip in three simulcast layers
// (q 320x180, h 640x360, f 1280x720) with Opus. The layers have the same
// frames and keyframes, so sent in lockstep they switch to a keyframe
// together.
func builtinSimulcastSource() (*source, error) {
	src, err := builtinSource()
	if err != nil {
		return nil, err
	}
	src.name = "built-in simulcast clip"
	for _, l := range media.SimulcastClip() {
		v, err := loadIVF(bytes.NewReader(l.IVF))
		if err != nil {
			return nil, fmt.Errorf("simulcast layer %s: %w", l.RID, err)
		}
		if n := len(src.layers); n > 0 && len(v.frames) != len(src.layers[0].frames) {
			return nil, fmt.Errorf("simulcast layer %s has %d frames, layer %s %d: they must play in lockstep", l.RID, len(v.frames), src.rids[0], len(src.layers[0].frames))
		}
		src.layers = append(src.layers, v)
		src.rids = append(src.rids, l.RID)
	}
	src.video = src.layers[len(src.layers)-1]
	return src, nil
}

// fileSource opens --file, recognising the format by its magic bytes (and
// the extension for headerless Annex-B H.264).
func fileSource(path string, fps int) (*source, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening media file: %w", err)
	}
	defer fh.Close()
	br := bufio.NewReader(&sizeLimited{r: fh, left: maxFileSize})
	magic, _ := br.Peek(4)
	src := &source{name: path}
	switch {
	case bytes.Equal(magic, []byte("DKIF")):
		src.video, err = loadIVF(br)
	case bytes.Equal(magic, []byte("OggS")):
		src.audio, err = loadOgg(br)
	case bytes.HasPrefix(magic, []byte{0, 0, 1}) || bytes.Equal(magic, []byte{0, 0, 0, 1}) ||
		strings.HasSuffix(path, ".h264") || strings.HasSuffix(path, ".264"):
		src.video, err = loadH264(br, fps)
	default:
		return nil, fmt.Errorf("media file %s: %w", path, ErrUnknownFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("media file %s: %w", path, err)
	}
	return src, nil
}

func loadIVF(r io.Reader) (*loop, error) {
	ir, err := media.NewIVFReader(r)
	if err != nil {
		return nil, err
	}
	if ir.Header.Codec() != media.MimeVP8 {
		return nil, fmt.Errorf("IVF codec %q: %w", ir.Header.FourCC, ErrUnknownFormat)
	}
	l := &loop{codec: media.MimeVP8, w: int(ir.Header.Width), h: int(ir.Header.Height)}
	def := ir.Header.FrameDuration()
	var last uint64
	for {
		f, err := ir.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		info, err := media.ParseVP8Frame(f.Data)
		if err != nil {
			return nil, fmt.Errorf("frame %d: %w", len(l.frames), err)
		}
		// Durations come from successive timestamps when they are sane.
		if n := len(l.frames); n > 0 && f.Timestamp > last && ir.Header.TimebaseDen > 0 {
			d := time.Duration((f.Timestamp - last) * uint64(ir.Header.TimebaseNum) * uint64(time.Second) / uint64(ir.Header.TimebaseDen))
			if d > 0 && d <= time.Second {
				l.frames[n-1].dur = d
			}
		}
		last = f.Timestamp
		l.frames = append(l.frames, frame{data: f.Data, key: info.Keyframe, dur: def})
	}
	// The last frame has no successor to time it by; the header's time
	// base is 1/fps only for some writers (1/1000 from WebM, for one), so
	// it lasts as long as the frame before it, and the loop's timestamps
	// step evenly across the wrap.
	if n := len(l.frames); n >= 2 {
		l.frames[n-1].dur = l.frames[n-2].dur
	}
	return checkLoop(l)
}

func loadH264(r io.Reader, fps int) (*loop, error) {
	if fps <= 0 {
		fps = 30
	}
	hr := media.NewH264Reader(r)
	l := &loop{codec: media.MimeH264}
	for {
		au, err := hr.NextAccessUnit()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		var buf []byte
		for _, n := range au.NALs {
			buf = append(append(buf, 0, 0, 0, 1), n...)
			if l.w == 0 && n[0]&0x1f == 7 {
				l.w, l.h, _ = media.ParseH264SPS(n)
			}
		}
		l.frames = append(l.frames, frame{data: buf, key: au.Keyframe, dur: time.Second / time.Duration(fps)})
	}
	return checkLoop(l)
}

func loadOgg(r io.Reader) (*loop, error) {
	or, err := media.NewOggReader(r)
	if err != nil {
		return nil, err
	}
	l := &loop{codec: media.MimeOpus}
	for {
		p, err := or.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		d := media.OpusPacketDuration(p)
		if d == 0 {
			continue
		}
		l.frames = append(l.frames, frame{data: p, dur: d})
	}
	return checkLoop(l)
}

func checkLoop(l *loop) (*loop, error) {
	if len(l.frames) == 0 {
		return nil, errors.New("no frames in file")
	}
	if l.codec != media.MimeOpus {
		hasKey := false
		for _, f := range l.frames {
			hasKey = hasKey || f.key
		}
		if !hasKey {
			return nil, errors.New("no keyframe in file: a viewer could never start decoding")
		}
		// Start on a keyframe so the first frame sent is decodable.
		l.seekKeyframe()
		l.loops = 0
	}
	return l, nil
}
