package mediabench

import (
	"sync"
	"time"

	"github.com/livectl/livectl/internal/media"
)

// MinFreeze is the shortest gap between frames that counts as a freeze.
// A gap is a freeze when it is longer than three frame intervals and longer
// than MinFreeze: at 30 fps one late frame (100 ms) is not a freeze, and at
// 5 fps every frame is not one either. This follows the spirit of the
// WebRTC stats' freezeCount, with a fixed floor instead of a running mean.
const MinFreeze = 200 * time.Millisecond

// videoClock is the RTP clock rate of every video codec livectl handles.
const videoClock = 90000

// frames counts the complete video frames of one subscriber and its freezes.
type frames struct {
	mu       sync.Mutex
	stopAt   time.Time
	n        int
	first    time.Time
	last     time.Time
	lastTS   uint32
	minDelta uint32 // smallest RTP timestamp step between frames: the nominal interval
	freezes  int
	frozen   time.Duration
	maxGap   time.Duration
}

// threshold is the freeze threshold for the stream's frame rate.
func (f *frames) threshold() time.Duration {
	iv := time.Duration(f.minDelta) * time.Second / videoClock
	return max(3*iv, MinFreeze)
}

// frame records a complete frame that arrived at now; it reports whether it
// was the first.
func (f *frames) frame(now time.Time, fr media.Frame) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopAt.IsZero() {
		return false
	}
	if f.n == 0 {
		f.first, f.last, f.lastTS, f.n = now, now, fr.Timestamp, 1
		return true
	}
	if d := fr.Timestamp - f.lastTS; d > 0 && d < 1<<31 && (f.minDelta == 0 || d < f.minDelta) {
		f.minDelta = d
	}
	f.gap(now.Sub(f.last))
	f.last, f.lastTS = now, fr.Timestamp
	f.n++
	return false
}

func (f *frames) gap(g time.Duration) {
	f.maxGap = max(f.maxGap, g)
	if g > f.threshold() {
		f.freezes++
		f.frozen += g
	}
}

// finish closes the window at end; a stall running at that moment counts.
func (f *frames) finish(end time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopAt.IsZero() {
		return
	}
	f.stopAt = end
	if f.n > 0 && end.After(f.last) {
		f.gap(end.Sub(f.last))
	}
}

// frameStats is what frames found.
type frameStats struct {
	Frames  int
	FPS     float64
	Freezes int
	Frozen  time.Duration
	MaxGap  time.Duration
}

func (f *frames) stats() frameStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := frameStats{Frames: f.n, Freezes: f.freezes, Frozen: f.frozen, MaxGap: f.maxGap}
	end := f.stopAt
	if end.IsZero() {
		end = f.last
	}
	if d := end.Sub(f.first).Seconds(); f.n > 1 && d > 0 {
		s.FPS = float64(f.n-1) / d
	}
	return s
}
