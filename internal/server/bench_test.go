package server

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/signal"
)

// BenchmarkJoinRoundTrip measures join round trips (and the fan-out of
// participant_joined to the room's 20 members) with 1,000 sessions held by
// another process; it reports p50/p99 besides ns/op (a join plus a leave).
func BenchmarkJoinRoundTrip(b *testing.B) {
	// Back-to-back joins and leaves on one connection: no rate limit.
	_, url := listenServer(b, Config{Limits: Limits{RequestRate: math.Inf(1)}})
	holdSessions(b, url, 1000, 50)
	c, err := signal.Dial(context.Background(), url, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	rooms := []string{"room-0", "room-1", "room-2", "room-3", "room-4"}
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := c.Join(ctx, rooms[i%len(rooms)], "probe", ""); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		if err := c.Leave(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	p := percentiles(lat)
	b.ReportMetric(float64(p[0].Microseconds()), "p50-µs")
	b.ReportMetric(float64(p[2].Microseconds()), "p99-µs")
}

func percentiles(d []time.Duration) [4]time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return [4]time.Duration{at(0.50), at(0.90), at(0.99), s[len(s)-1]}
}
