package media

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	"time"

	"golang.org/x/image/vp8"
)

// ErrNotKeyframe is returned when asked to decode a VP8 inter frame: the Go
// decoder (golang.org/x/image/vp8) decodes key frames only.
var ErrNotKeyframe = errors.New("VP8 inter frame: only key frames can be decoded")

// MaxDecodePixels bounds the picture DecodeVP8 will allocate (4K UHD).
const MaxDecodePixels = 3840 * 2160

// DecodeVP8 decodes a complete VP8 key frame to a YCbCr picture.
func DecodeVP8(frame []byte) (*image.YCbCr, error) {
	d := vp8.NewDecoder()
	d.Init(bytes.NewReader(frame), len(frame))
	fh, err := d.DecodeFrameHeader()
	if err != nil {
		return nil, fmt.Errorf("decoding VP8 frame header: %w", err)
	}
	if !fh.KeyFrame {
		return nil, ErrNotKeyframe
	}
	// The size comes from the sender; refuse to allocate a giant picture.
	if fh.Width*fh.Height > MaxDecodePixels || fh.Width == 0 || fh.Height == 0 {
		return nil, fmt.Errorf("decoding VP8 key frame: picture size %dx%d out of range (at most %d pixels)", fh.Width, fh.Height, MaxDecodePixels)
	}
	img, err := d.DecodeFrame()
	if err != nil {
		return nil, fmt.Errorf("decoding VP8 key frame: %w", err)
	}
	return img, nil
}

// LumaStats summarise the luma (Y) plane of a picture.
type LumaStats struct {
	Mean     float64 // 0–255
	Variance float64
}

// Black-picture thresholds: a picture is black when its luma is both dark
// and flat. Encoders produce video-range black at Y≈16 with a little coding
// noise; a dark scene with real content has a far larger variance.
const (
	BlackMaxMean     = 32
	BlackMaxVariance = 16
)

// Black reports whether the picture is (near) uniformly black.
func (s LumaStats) Black() bool { return s.Mean <= BlackMaxMean && s.Variance <= BlackMaxVariance }

// Luma computes the mean and variance of a picture's visible luma samples.
func Luma(img *image.YCbCr) LumaStats {
	r := img.Rect
	n := float64(r.Dx() * r.Dy())
	if n == 0 {
		return LumaStats{}
	}
	var sum, sq float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := img.Y[img.YOffset(r.Min.X, y) : img.YOffset(r.Max.X-1, y)+1]
		var s, q uint64
		for _, v := range row {
			s += uint64(v)
			q += uint64(v) * uint64(v)
		}
		sum += float64(s)
		sq += float64(q)
	}
	mean := sum / n
	return LumaStats{Mean: mean, Variance: sq/n - mean*mean}
}

// FreezeDetector notices a picture that stops changing: no new frame for
// longer than Threshold after the first one. A frame whose bytes repeat the
// previous frame's exactly does not count as new.
type FreezeDetector struct {
	Threshold time.Duration

	first, last time.Time
	lastHash    uint64
	frames      int
	maxGap      time.Duration
}

// Frame records a frame that arrived at t.
func (d *FreezeDetector) Frame(t time.Time, data []byte) {
	h := fnv.New64a()
	h.Write(data)
	sum := h.Sum64()
	if d.frames > 0 && sum == d.lastHash {
		return
	}
	if d.frames == 0 {
		d.first = t
	} else if g := t.Sub(d.last); g > d.maxGap {
		d.maxGap = g
	}
	d.last, d.lastHash = t, sum
	d.frames++
}

// Finish accounts for the time from the last new frame until t, the end of
// observation.
func (d *FreezeDetector) Finish(t time.Time) {
	if d.frames > 0 {
		if g := t.Sub(d.last); g > d.maxGap {
			d.maxGap = g
		}
	}
}

// Frames is the number of distinct frames seen.
func (d *FreezeDetector) Frames() int { return d.frames }

// MaxGap is the longest time without a new frame after the first.
func (d *FreezeDetector) MaxGap() time.Duration { return d.maxGap }

// Frozen reports whether the picture stalled for longer than Threshold.
func (d *FreezeDetector) Frozen() bool { return d.frames > 0 && d.maxGap > d.Threshold }
