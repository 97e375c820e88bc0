package top

import (
	"fmt"
	"testing"

	"github.com/livectl/livectl/internal/stats"
)

// bigSnap is a server with n rooms, for measuring the cost of a poll and a
// redraw on a large deployment.
func bigSnap(n int, uptime float64) stats.Snapshot {
	s := sampleSnap(uptime, uint64(uptime))
	s.Rooms = make([]stats.Room, n)
	for i := range s.Rooms {
		s.Rooms[i] = stats.Room{Name: fmt.Sprintf("room-%05d", i), Participants: i % 97, Tracks: i % 5, BitrateInBps: uint64(i * 7919 % 5_000_000)}
	}
	s.RoomCount = int64(n)
	return s
}

// BenchmarkPoll is the UI-side cost of one stats poll result (derive, push
// history, filter, sort and rebuild the rooms table).
func BenchmarkPoll(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("rooms=%d", n), func(b *testing.B) {
			c := newClock()
			m := New(Options{Target: "x", Stats: noStats{}, Now: c.Now})
			defer m.cancel()
			snaps := []stats.Snapshot{bigSnap(n, 1), bigSnap(n, 2)}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				feed(m, c, snaps[i%2])
			}
		})
	}
}

// BenchmarkView is the cost of one redraw at 80x24.
func BenchmarkView(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprintf("rooms=%d", n), func(b *testing.B) {
			c := newClock()
			m := New(Options{Target: "x", Stats: noStats{}, Now: c.Now})
			defer m.cancel()
			for i := range 300 {
				feed(m, c, bigSnap(n, float64(i+1)))
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = m.View()
			}
		})
	}
}
