package signalbench

import (
	"net"
	"reflect"
	"testing"

	"github.com/livectl/livectl/internal/bench"
)

func TestParseSourceIPs(t *testing.T) {
	tests := []struct {
		in    string
		first string
		n     int
		ok    bool
	}{
		{"127.0.0.1", "127.0.0.1", 1, true},
		{"127.0.0.1-127.0.0.8", "127.0.0.1", 8, true},
		{"127.0.1.0/29", "127.0.1.0", 8, true},
		{"127.0.0.1, 127.0.0.5", "127.0.0.1", 2, true},
		{"127.0.0.255-127.0.1.1", "127.0.0.255", 3, true},
		{"127.0.0.8-127.0.0.1", "", 0, false},
		{"::1", "", 0, false},
		{"127.0.0.0/8", "", 0, false}, // more than MaxSourceIPs
		{"nope", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSourceIPs(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			if len(got) != tt.n || got[0].String() != tt.first {
				t.Errorf("got %v", got)
			}
		})
	}
}

func TestCheckLocal(t *testing.T) {
	if err := CheckLocal([]net.IP{net.IPv4(127, 0, 0, 3)}); err != nil {
		t.Errorf("loopback alias refused: %v", err)
	}
	if err := CheckLocal([]net.IP{net.IPv4(192, 0, 2, 1)}); err == nil { // TEST-NET-1, never local
		t.Error("192.0.2.1 accepted as local")
	}
}

func TestSplitOptions(t *testing.T) {
	o := Options{URL: "ws://x/ws", Conns: 10, Rate: 100, RoomSize: 4, RunID: "t1",
		SourceIPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2), net.IPv4(127, 0, 0, 3)},
		StatsURL:  "http://x/v1/stats"}
	parts := SplitOptions(o, 3)
	wantConns := []int{4, 3, 3}
	wantOffset := []int{0, 4, 7}
	rate := 0.0
	for i, p := range parts {
		if p.Conns != wantConns[i] || p.Offset != wantOffset[i] {
			t.Errorf("part %d: conns %d offset %d", i, p.Conns, p.Offset)
		}
		if len(p.SourceIPs) != 1 || !p.SourceIPs[0].Equal(o.SourceIPs[i]) {
			t.Errorf("part %d: source ips %v", i, p.SourceIPs)
		}
		if p.StatsURL != "" || p.RunID != parts[0].RunID {
			t.Errorf("part %d: stats %q run id %q", i, p.StatsURL, p.RunID)
		}
		rate += p.Rate
	}
	if rate != 100 {
		t.Errorf("rates sum to %v", rate)
	}
	// Rooms are the same whether one process or three open the sessions.
	o.Defaults()
	for i, p := range parts {
		for j := 0; j < p.Conns; j++ {
			if p.room(p.Offset+j) != o.room(wantOffset[i]+j) {
				t.Fatalf("session %d room differs", wantOffset[i]+j)
			}
		}
	}
}

// Three shards name the same rooms and identities, with the same chat
// senders, as one run of all their sessions, each session once.
func TestForShardKeepsRoomsOfOneRun(t *testing.T) {
	for _, whole := range []Options{
		{URL: "ws://x/ws", Conns: 10, Rate: 90, RoomSize: 4, RunID: "s1", ChatRate: 10},
		{URL: "ws://x/ws", Conns: 11, Rate: 90, Rooms: 3, RunID: "s1", ChatRate: 10},
	} {
		whole.Defaults()
		type seat struct {
			room, identity string
			chat           bool
		}
		want := map[int]seat{}
		for i := range whole.Conns {
			want[i] = seat{whole.room(i), whole.identity(i), whole.member(i) < whole.chatSenders()}
		}
		got := map[int]seat{}
		for k := range 3 {
			o := whole
			o.Shard = bench.Shard{Index: k, Count: 3}
			part, err := o.ForShard()
			if err != nil {
				t.Fatal(err)
			}
			if part.RoomCount() != whole.RoomCount() || part.LargestRoom() != whole.LargestRoom() {
				t.Errorf("shard %d: %d rooms of up to %d, whole run %d of %d", k, part.RoomCount(), part.LargestRoom(), whole.RoomCount(), whole.LargestRoom())
			}
			for j := range part.Conns {
				i := part.Offset + j
				if _, dup := got[i]; dup {
					t.Fatalf("session %d in two shards", i)
				}
				got[i] = seat{part.room(i), part.identity(i), part.member(i) < part.chatSenders()}
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("shards' sessions %v, one run's %v", got, want)
		}
	}
}
