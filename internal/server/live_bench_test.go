package server

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/livectl/livectl/internal/signal"
)

// BenchmarkJoinLargeRoom: one client joins and leaves a room that N
// sessions (held by another process) are in. ns/op and allocs/op are one
// join plus one leave, round trips included; the fan-out they cause (an
// event per member, or the coalesced room_update above
// --room-event-threshold) and the joined reply's size grow with N.
func BenchmarkJoinLargeRoom(b *testing.B) {
	for _, n := range []int{100, 1000, 2000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			_, url := listenServer(b, Config{Limits: Limits{RequestRate: math.Inf(1), MaxParticipants: 100000}})
			holdSessions(b, url, n, 1)
			c, err := signal.Dial(context.Background(), url, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.Join(ctx, "room-0", "probe", ""); err != nil {
					b.Fatal(err)
				}
				if err := c.Leave(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
