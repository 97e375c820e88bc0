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
