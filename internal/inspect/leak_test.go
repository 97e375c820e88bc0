package inspect

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCompareFilterAcrossSamples: the filter keeps or drops a group in
// every sample alike, also when it matches only through the creator, which
// only the last sample's dump knows.
func TestCompareFilterAcrossSamples(t *testing.T) {
	samples := []*GoroutineProfile{
		synthGoroutines(t, t0, 100, 2, 1, 10),
		synthGoroutines(t, t0.Add(10*time.Second), 100, 2, 1, 20),
		synthGoroutines(t, t0.Add(20*time.Second), 100, 2, 1, 30),
	}
	dump := readDump(t, "dump-synthetic.txt") // the Pool goroutines were created by worker.New
	tests := []struct {
		name     string
		filter   string
		suspects []string
		groups   int
	}{
		{"creator only: steady pool shows no growth", `worker\.New`, nil, 1},
		{"frame", `keepalive`, []string{"example.com/app/session.(*Session).keepalive"}, 1},
		{"no filter", ``, []string{"example.com/app/session.(*Session).keepalive"}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := GroupOptions{Dump: dump}
			if tt.filter != "" {
				opts.Filter = regexp.MustCompile(tt.filter)
			}
			s, err := Compare(samples, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, sp := range s.Suspects {
				got = append(got, fmt.Sprintf("%s %v", sp.Top, sp.Counts))
			}
			if len(s.Suspects) != len(tt.suspects) {
				t.Fatalf("suspects = %v, want %v", got, tt.suspects)
			}
			for i, w := range tt.suspects {
				if s.Suspects[i].Top != w {
					t.Errorf("suspect %d = %s, want %s", i, got[i], w)
				}
			}
			if s.GroupCount != tt.groups {
				t.Errorf("groups in the last sample = %d, want %d", s.GroupCount, tt.groups)
			}
		})
	}
}

func TestWatch(t *testing.T) {
	srv := pprofServer(t)
	c, _ := NewClient(srv.URL, srv.Client())
	t.Run("samples and leak", func(t *testing.T) {
		var seen []int64
		ctx := context.Background()
		releases := make(chan func(), 3)
		samples, err := c.Watch(ctx, WatchOptions{Interval: 30 * time.Millisecond, Samples: 3, OnSample: func(i int, p *GoroutineProfile) {
			seen = append(seen, p.Total())
			if i < 2 {
				// Leak 5 more goroutines between samples.
				release := make(chan struct{})
				var wg sync.WaitGroup
				wg.Add(5)
				for j := 0; j < 5; j++ {
					go leakyWorker(release, &wg)
				}
				releases <- func() { close(release); wg.Wait() }
			}
		}})
		close(releases)
		defer func() {
			for r := range releases {
				r()
			}
		}()
		if err != nil || len(samples) != 3 || len(seen) != 3 {
			t.Fatalf("samples = %d seen = %v err = %v", len(samples), seen, err)
		}
		s, err := Compare(samples, GroupOptions{})
		if err != nil {
			t.Fatal(err)
		}
		top := s.Suspects[0]
		if !strings.HasSuffix(top.Top, ".leakyWorker") || !top.Steady || top.Growth != 10 {
			t.Errorf("first suspect = %+v", top)
		}
		if d := samples[2].FetchedAt.Sub(samples[0].FetchedAt); d < 55*time.Millisecond {
			t.Errorf("samples %s apart, want ≥ 2 intervals", d)
		}
	})
	t.Run("cancel returns samples so far", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		samples, err := c.Watch(ctx, WatchOptions{Interval: time.Hour, Samples: 3, OnSample: func(int, *GoroutineProfile) { cancel() }})
		if !errors.Is(err, context.Canceled) || len(samples) != 1 {
			t.Errorf("samples = %d err = %v", len(samples), err)
		}
	})
}
