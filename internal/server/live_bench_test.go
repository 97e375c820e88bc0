package server

import (
	"context"
	"fmt"
	"math"
	"syscall"
	"testing"
	"time"

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

// BenchmarkChatFanout: one member sends chat messages as fast as it can
// into a room of N members held by another process; an op is one message
// delivered to every member (queued and written). It reports the
// server's CPU time per million deliveries (this process: the server and
// the sender), the share of the expected deliveries queued, and the
// messages dropped for members too slow to take them.
// writes=single turns the batching writer off, for comparison.
func BenchmarkChatFanout(b *testing.B) {
	for _, n := range []int{1000, 3000} {
		for _, batched := range []bool{true, false} {
			name := fmt.Sprintf("members=%d/writes=batched", n)
			if !batched {
				name = fmt.Sprintf("members=%d/writes=single", n)
			}
			b.Run(name, func(b *testing.B) {
				defer func(v bool) { batchWrites = v }(batchWrites)
				batchWrites = batched
				s, url := listenServer(b, Config{Limits: Limits{RequestRate: math.Inf(1), MaxConns: 20000},
					Rooms: RoomsConfig{ChatRate: math.Inf(1), RoomChatRate: math.Inf(1)}})
				holdSessions(b, url, n, 1)
				c, err := signal.Dial(context.Background(), url, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				if _, err := c.Join(context.Background(), "room-0", "sender", ""); err != nil {
					b.Fatal(err)
				}
				in0, out0, dropped0 := s.counters.chatIn.Load(), s.counters.chatDeliveries.Load(), s.counters.chatDropped.Load()
				cpu0 := cpuTime()
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					if err := c.SendChat("a message of about the length of a danmaku line", time.Now().UnixMilli()); err != nil {
						b.Fatal(err)
					}
					// A round trip now and then keeps the chat_ok replies
					// waiting for the sender under its send queue.
					if i%64 == 63 {
						if _, _, err := c.Ping(context.Background()); err != nil {
							b.Fatal(err)
						}
					}
				}
				// Every message accepted and sent, and every writer done (or
				// its connection gone).
				deadline := time.Now().Add(time.Minute)
				for s.counters.chatIn.Load() < in0+uint64(b.N) || batchWaiting(s, "room-0") || !allIdle(s) {
					if time.Now().After(deadline) {
						b.Fatalf("%d of %d messages accepted after a minute", s.counters.chatIn.Load()-in0, b.N)
					}
					time.Sleep(time.Millisecond)
				}
				b.StopTimer()
				cpu := cpuTime() - cpu0
				out := s.counters.chatDeliveries.Load() - out0
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(out)*1e6/1e9, "cpu-s/Mdeliveries")
				b.ReportMetric(float64(out)/float64(uint64(b.N)*uint64(n+1)), "delivered/expected")
				b.ReportMetric(float64(s.counters.chatDropped.Load()-dropped0), "dropped")
				b.ReportMetric(float64(s.counters.droppedTotal()), "sessions-cut")
			})
		}
	}
}

// cpuTime is this process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// batchWaiting reports whether the room has chat messages accepted and
// not yet sent.
func batchWaiting(s *Server, name string) bool {
	s.reg.mu.Lock()
	rm := s.reg.rooms[name]
	s.reg.mu.Unlock()
	if rm == nil {
		return false
	}
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return len(rm.batch) > 0
}
