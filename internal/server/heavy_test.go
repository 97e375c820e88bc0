//go:build heavy

package server

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/signal"
)

// Heavy measurements: run with
//
//	go test ./internal/server -tags heavy -run 'TestIdleSessionCost|TestJoinLatency' -v -timeout 10m

const idleBudget = 16 << 10 // bytes of Go heap + stacks per idle session

// TestIdleSessionCost holds 10,000 joined sessions from a child process and
// measures what they cost this (server) process: Go heap in use plus
// goroutine stacks, and RSS, per session.
func TestIdleSessionCost(t *testing.T) {
	n := envInt("LIVECTL_TEST_SESSIONS", 10000)
	rooms := envInt("LIVECTL_TEST_ROOMS", 1000)
	s, url := listenServer(t, Config{Limits: Limits{MaxConns: n + 10, MaxRooms: rooms + 10}})
	before := measure()
	start := time.Now()
	release := holdSessions(t, url, n, rooms)
	t.Logf("%d sessions joined to %d rooms in %s", n, rooms, time.Since(start).Round(time.Millisecond))
	if c := s.Connections(); c != n {
		t.Fatalf("server has %d connections, want %d", c, n)
	}
	// Wait until every send queue is empty (fan-out of joins delivered).
	deadline := time.Now().Add(time.Minute)
	for !allIdle(s) {
		if time.Now().After(deadline) {
			t.Fatal("send queues still busy after a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
	after := measure()

	per := func(a, b uint64) float64 { return float64(int64(a)-int64(b)) / float64(n) }
	heap := per(after.heapInuse, before.heapInuse)
	stack := per(after.stackInuse, before.stackInuse)
	rss := per(after.rss, before.rss)
	t.Logf("per idle session: heap %.0f B + stacks %.0f B = %.0f B (budget %d); RSS %.0f B; goroutines %d",
		heap, stack, heap+stack, idleBudget, rss, after.goroutines-before.goroutines)
	fmt.Printf("IDLE_SESSION_COST sessions=%d heap_per_session=%.0f stack_per_session=%.0f total_per_session=%.0f rss_per_session=%.0f\n",
		n, heap, stack, heap+stack, rss)
	if heap+stack > idleBudget {
		t.Errorf("idle session costs %.0f B of heap and stack, over the %d B budget", heap+stack, idleBudget)
	}

	release()
	deadline = time.Now().Add(time.Minute)
	for s.Connections() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections remain after the client exited", s.Connections())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type memFigures struct {
	heapInuse, stackInuse, rss uint64
	goroutines                 int
}

// measure collects garbage (several cycles, so idle stacks shrink) and
// reads the figures.
func measure() memFigures {
	for range 4 {
		runtime.GC()
	}
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memFigures{heapInuse: ms.HeapInuse, stackInuse: ms.StackInuse, rss: rssBytes(), goroutines: runtime.NumGoroutine()}
}

func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestJoinLatency: with 1,000 sessions connected and joined (50 rooms) by
// another process, join round trips on loopback have p99 under 5 ms. Each
// join also fans participant_joined out to the room's 20 members.
func TestJoinLatency(t *testing.T) {
	// Back-to-back joins and leaves on one connection: no rate limit.
	_, url := listenServer(t, Config{Limits: Limits{RequestRate: math.Inf(1)}})
	holdSessions(t, url, 1000, 50)
	lat := joinLatencies(t, url, envInt("LIVECTL_TEST_JOINS", 3000), 50)
	p := percentiles(lat)
	t.Logf("join round trip with 1,000 sessions connected (%d joins): p50 %s p90 %s p99 %s max %s", len(lat), p[0], p[1], p[2], p[3])
	fmt.Printf("JOIN_LATENCY joins=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n", len(lat),
		p[0].Microseconds(), p[1].Microseconds(), p[2].Microseconds(), p[3].Microseconds())
	if p[2] >= 5*time.Millisecond {
		t.Errorf("join p99 = %s, want under 5ms", p[2])
	}
}

// joinLatencies joins and leaves the populated rooms count times from one
// extra client and returns the join round trips.
func joinLatencies(t testing.TB, url string, count, rooms int) []time.Duration {
	t.Helper()
	c, err := signal.Dial(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := make([]time.Duration, 0, count)
	for i := range count {
		start := time.Now()
		if _, err := c.Join(ctx, fmt.Sprintf("room-%02d", i%rooms), "probe", ""); err != nil {
			t.Fatal(err)
		}
		out = append(out, time.Since(start))
		if err := c.Leave(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
