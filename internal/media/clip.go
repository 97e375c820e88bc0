package media

import (
	"bytes"
	_ "embed"
)

//go:embed clip/clip.ivf
var clipIVF []byte

//go:embed clip/clip.ogg
var clipOgg []byte

// Properties of the built-in clip (see clip/README.md).
const (
	ClipWidth  = 640
	ClipHeight = 360
	ClipFPS    = 30
)

// ClipVP8 returns a reader over the built-in VP8 clip (IVF, 640x360, 30 fps,
// 4 s, a keyframe every second).
func ClipVP8() *IVFReader {
	r, err := NewIVFReader(bytes.NewReader(clipIVF))
	if err != nil {
		panic("media: built-in clip is corrupt: " + err.Error()) // caught by the package tests
	}
	return r
}

// ClipOpus returns a reader over the built-in Opus clip (Ogg, 48 kHz
// stereo, 4 s, 20 ms packets).
func ClipOpus() *OggReader {
	r, err := NewOggReader(bytes.NewReader(clipOgg))
	if err != nil {
		panic("media: built-in clip is corrupt: " + err.Error())
	}
	return r
}

// ClipVP8Bytes and ClipOggBytes expose the raw embedded files (read-only by
// convention), for tools that reopen them on every loop.
func ClipVP8Bytes() []byte { return clipIVF }

// ClipOggBytes is the raw embedded Ogg Opus file.
func ClipOggBytes() []byte { return clipOgg }

//go:embed clip/simulcast-q.ivf
var simulcastQ []byte

//go:embed clip/simulcast-h.ivf
var simulcastH []byte

//go:embed clip/simulcast-f.ivf
var simulcastF []byte

// SimulcastLayer is one rendition of the built-in simulcast clip.
type SimulcastLayer struct {
	RID           string // the RTP stream id it is sent with
	Width, Height int
	IVF           []byte // the raw embedded file (read-only by convention)
}

// SimulcastClip returns the built-in clip's three simulcast renditions,
// lowest first: q 320x180 (~150 kbit/s), h 640x360 (~500 kbit/s) and f
// 1280x720 (~1.5 Mbit/s), VP8 at 30 fps, 4 s, keyframes on the same frames
// of every layer (see clip/README.md).
func SimulcastClip() []SimulcastLayer {
	return []SimulcastLayer{
		{RID: "q", Width: 320, Height: 180, IVF: simulcastQ},
		{RID: "h", Width: 640, Height: 360, IVF: simulcastH},
		{RID: "f", Width: 1280, Height: 720, IVF: simulcastF},
	}
}
