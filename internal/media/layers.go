package media

import (
	"fmt"
	"time"
)

// LayerTracker follows the resolution a viewer receives over time, as a
// simulcast relay switches it between layers: each keyframe says its size,
// and the frames after it have that size until the next keyframe that
// says otherwise. It records every change (a switch), the time spent at
// each size, and the longest time without a frame (a freeze), overall and
// since a given moment.
type LayerTracker struct {
	cur     string // "WxH", "" before the first keyframe
	curAt   time.Time
	last    time.Time
	spans   []LayerSpan
	at      map[string]time.Duration
	gaps    []gap
	started bool
}

// LayerSpan is a stretch of frames at one size.
type LayerSpan struct {
	Start time.Time
	Size  string // "WxH"
}

// minGap is the shortest gap between frames the tracker keeps: a 30 fps
// stream has 33 ms gaps, and keeping them all would grow without bound.
const minGap = 50 * time.Millisecond

type gap struct {
	end time.Time
	len time.Duration
}

// Frame records a frame (its keyframe size, when it has one) that arrived at t.
func (l *LayerTracker) Frame(t time.Time, f Frame) {
	if l.at == nil {
		l.at = map[string]time.Duration{}
	}
	if l.started {
		if g := t.Sub(l.last); g >= minGap {
			l.gaps = append(l.gaps, gap{t, g})
		}
	}
	l.started = true
	l.last = t
	if !f.Keyframe || f.Width == 0 {
		return
	}
	size := fmt.Sprintf("%dx%d", f.Width, f.Height)
	if size == l.cur {
		return
	}
	if l.cur != "" {
		l.at[l.cur] += t.Sub(l.curAt)
	}
	l.cur, l.curAt = size, t
	l.spans = append(l.spans, LayerSpan{Start: t, Size: size})
}

// Finish closes the observation at t (the time at the last size counts to t).
func (l *LayerTracker) Finish(t time.Time) {
	if l.cur != "" && t.After(l.curAt) {
		l.at[l.cur] += t.Sub(l.curAt)
		l.curAt = t
	}
}

// Current is the size being received ("WxH"), "" before the first keyframe.
func (l *LayerTracker) Current() string { return l.cur }

// Spans is the sizes received over time, in order.
func (l *LayerTracker) Spans() []LayerSpan { return l.spans }

// Switches is the number of size changes after the first size.
func (l *LayerTracker) Switches() int { return max(len(l.spans)-1, 0) }

// TimeAt is the time spent at each size (after Finish, up to its time).
func (l *LayerTracker) TimeAt() map[string]time.Duration { return l.at }

// SettledAt is when the current size began.
func (l *LayerTracker) SettledAt() time.Time { return l.curAt }

// MaxGapSince is the longest time between two frames that ended after t
// (0 when none was 50 ms or more).
func (l *LayerTracker) MaxGapSince(t time.Time) time.Duration {
	var m time.Duration
	for _, g := range l.gaps {
		if g.end.After(t) && g.len > m {
			m = g.len
		}
	}
	return m
}
