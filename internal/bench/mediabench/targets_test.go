package mediabench

import (
	"context"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/livectl/livectl/internal/bench"
	"github.com/livectl/livectl/internal/publish"
	"github.com/livectl/livectl/internal/server"
	"github.com/livectl/livectl/internal/server/servertest"
	"github.com/livectl/livectl/internal/stats"
)

// TestMediaSpreadsOverTargets runs subscribers against two servers, each
// with its own publisher in the room: subscribers alternate between them,
// each server sees its share of /ws connections, and the report counts
// them per target and records each subscriber's.
func TestMediaSpreadsOverTargets(t *testing.T) {
	ctx := context.Background()
	var urls, statsURLs []string
	for range 2 {
		srv := servertest.Start(t, server.Config{})
		p, err := publish.Start(ctx, publish.Options{URL: srv.HTTP + "/whip/spread"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		urls, statsURLs = append(urls, srv.WS), append(statsURLs, srv.HTTP+"/v1/stats")
	}
	rep := execute(t, Options{URLs: urls, Room: "spread", Subscribers: 6, Rate: 50, Duration: time.Second})
	logReport(t, rep)
	if rep.Subscribers.OK != 6 {
		t.Fatalf("want 6 subscribers with frames, got %+v (errors %v)", rep.Subscribers, rep.ErrorDetail)
	}
	want := []bench.TargetCount{{URL: urls[0], Sessions: 3}, {URL: urls[1], Sessions: 3}}
	if !reflect.DeepEqual(rep.Targets, want) || rep.Target != urls[0]+","+urls[1] {
		t.Errorf("target %q counts %+v, want %+v", rep.Target, rep.Targets, want)
	}
	for _, r := range rep.Results {
		if r.Target != urls[r.ID%2] {
			t.Errorf("subscriber %d played from %q, want %q", r.ID, r.Target, urls[r.ID%2])
		}
	}
	for i, u := range statsURLs {
		s, err := stats.Fetch(ctx, http.DefaultClient, u)
		if err != nil {
			t.Fatal(err)
		}
		if s.ConnectionsTotal != 3 {
			t.Errorf("server %d accepted %d /ws connections, want 3", i, s.ConnectionsTotal)
		}
	}
}

func TestMergeCountsTargets(t *testing.T) {
	multi := &Report{Kind: KindMedia, Target: "ws://a/ws,ws://b/ws", Subscribers: Counts{Attempted: 3},
		Results: []Result{{ID: 0, Target: "ws://a/ws", FirstFrameMS: 10}, {ID: 1, Target: "ws://b/ws", FailedPhase: "signal"}, {ID: 2, Target: "ws://a/ws", FirstFrameMS: 12}}}
	one := &Report{Kind: KindMedia, Target: "ws://c/ws", Subscribers: Counts{Attempted: 2},
		Results: []Result{{ID: 0, FirstFrameMS: 9}, {ID: 1, FirstFrameMS: 11}}}
	tests := []struct {
		name   string
		merge  []*Report
		target string
		want   []bench.TargetCount
	}{
		{"several targets and one", []*Report{multi, one}, "ws://a/ws,ws://b/ws,ws://c/ws",
			[]bench.TargetCount{{URL: "ws://a/ws", Sessions: 2}, {URL: "ws://b/ws", Sessions: 1, Failed: 1}, {URL: "ws://c/ws", Sessions: 2}}},
		{"two runs of one target", []*Report{one, one}, "ws://c/ws", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := tt.merge[0].Merge(tt.merge[1:]...)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Target != tt.target || !reflect.DeepEqual(rep.Targets, tt.want) {
				t.Errorf("target %q counts %+v, want %q %+v", rep.Target, rep.Targets, tt.target, tt.want)
			}
			if tt.want == nil {
				for _, r := range rep.Results {
					if r.Target != "" {
						t.Errorf("result of a one-target merge names its target %q", r.Target)
					}
				}
			}
		})
	}
}
