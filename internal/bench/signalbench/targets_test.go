package signalbench

import (
	"context"
	"io"
	"net"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/stats"
)

// connectionsTotal reads how many /ws connections a server has accepted.
func connectionsTotal(t *testing.T, statsURL string) uint64 {
	t.Helper()
	s, err := stats.Fetch(context.Background(), http.DefaultClient, statsURL)
	if err != nil {
		t.Fatal(err)
	}
	return s.ConnectionsTotal
}

// refusedURL is a ws URL on a port nobody listens on.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "ws://" + ln.Addr().String() + "/ws"
}

// TestSignalSpreadsOverTargets runs one generator against two livectl
// servers: sessions alternate between them, each server sees its share
// (its own connections_total), and the report counts them per target.
func TestSignalSpreadsOverTargets(t *testing.T) {
	wsA, statsA, _ := startServer(t, server.Config{})
	wsB, statsB, _ := startServer(t, server.Config{})
	down := refusedURL(t)
	tests := []struct {
		name    string
		urls    []string
		conns   int
		want    []bench.TargetCount
		servers map[string]uint64 // stats URL → connections it should have accepted in this case
	}{
		{"even over two servers", []string{wsA, wsB}, 41,
			[]bench.TargetCount{{URL: wsA, Sessions: 21}, {URL: wsB, Sessions: 20}},
			map[string]uint64{statsA: 21, statsB: 20}},
		{"one target down", []string{wsA, down}, 10,
			[]bench.TargetCount{{URL: wsA, Sessions: 5}, {URL: down, Sessions: 5, Failed: 5}},
			map[string]uint64{statsA: 5, statsB: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := map[string]uint64{}
			for u := range tt.servers {
				before[u] = connectionsTotal(t, u)
			}
			rep := runSignal(t, Options{URLs: tt.urls, Conns: tt.conns, Rate: 2000, Duration: 100 * time.Millisecond,
				PingInterval: 50 * time.Millisecond, Rooms: 3, ConnectTimeout: 2 * time.Second})
			if !reflect.DeepEqual(rep.Targets, tt.want) {
				t.Errorf("targets %+v, want %+v", rep.Targets, tt.want)
			}
			if want := tt.urls[0] + "," + tt.urls[1]; rep.Target != want {
				t.Errorf("target %q, want %q", rep.Target, want)
			}
			var failed int64
			for _, c := range tt.want {
				failed += c.Failed
			}
			if rep.Connections.Attempted != int64(tt.conns) || rep.Connections.Failed != failed {
				t.Errorf("connections %+v, want %d attempted, %d failed", rep.Connections, tt.conns, failed)
			}
			for u, n := range tt.servers {
				if got := connectionsTotal(t, u) - before[u]; got != n {
					t.Errorf("server %s accepted %d connections, want %d", u, got, n)
				}
			}
		})
	}
}

// TestSplitRunsAgreeOnTargets runs the shares --procs gives its children
// (SplitOptions) one after another against two servers and merges their
// reports as the parent does: each session goes where it would have gone
// in one process, so the merged counts per target are those of one run.
func TestSplitRunsAgreeOnTargets(t *testing.T) {
	wsA, statsA, _ := startServer(t, server.Config{})
	wsB, statsB, _ := startServer(t, server.Config{})
	o := Options{URLs: []string{wsA, wsB}, Conns: 13, Rate: 2000, RoomSize: 4}
	var reps []*Report
	for _, c := range SplitOptions(o, 3) {
		reps = append(reps, runSignal(t, c))
	}
	rep, err := reps[0].Merge(reps[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	want := []bench.TargetCount{{URL: wsA, Sessions: 7}, {URL: wsB, Sessions: 6}}
	if !reflect.DeepEqual(rep.Targets, want) || rep.Target != wsA+","+wsB {
		t.Errorf("merged target %q counts %+v, want %+v", rep.Target, rep.Targets, want)
	}
	if a, b := connectionsTotal(t, statsA), connectionsTotal(t, statsB); a != 7 || b != 6 {
		t.Errorf("servers accepted %d and %d connections, want 7 and 6", a, b)
	}
}

// TestProcsMergesTargetCounts checks the parent side of --procs: the
// children's counts per target add up and the report names every target.
func TestProcsMergesTargetCounts(t *testing.T) {
	exe := childScript(t, `cat >/dev/null
echo '{"report":{"kind":"signal","target":"ws://a/ws,ws://b/ws","protocol":"livectl","connections":{"attempted":3,"established":2,"failed":1},"errors":{"refused":1},"targets":[{"url":"ws://a/ws","sessions":2,"failed":0},{"url":"ws://b/ws","sessions":1,"failed":1}]}}'
`)
	p, err := NewProcs(exe, Options{URLs: []string{"ws://a/ws", "ws://b/ws"}, Conns: 6, Rate: 100}, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := p.Execute(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []bench.TargetCount{{URL: "ws://a/ws", Sessions: 4}, {URL: "ws://b/ws", Sessions: 2, Failed: 2}}
	if !reflect.DeepEqual(rep.Targets, want) || rep.Target != "ws://a/ws,ws://b/ws" {
		t.Errorf("target %q counts %+v, want %+v", rep.Target, rep.Targets, want)
	}
}
