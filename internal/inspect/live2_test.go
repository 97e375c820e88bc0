package inspect

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	assert "github.com/livectl/livectl/internal/metrics/threshold"
)

// retained keeps allocations alive so they show up as in-use heap.
var retained [][]byte

//go:noinline
func allocateKnownBlock() {
	for i := 0; i < 64; i++ {
		retained = append(retained, make([]byte, 64<<10))
	}
}

func TestLiveHeapAndCPU(t *testing.T) {
	srv := pprofServer(t)
	allocateKnownBlock()
	t.Cleanup(func() { retained = nil })
	c, _ := NewClient(srv.URL, srv.Client())
	ctx := context.Background()

	heap, err := c.FetchHeap(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := SampleTypes(heap.Profile); strings.Join(got, ",") != "alloc_objects,alloc_space,inuse_objects,inuse_space" {
		t.Errorf("heap sample types = %v", got)
	}
	r, err := Top(heap.Profile, "heap", TopOptions{SampleType: "alloc_space"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range r.Functions {
		if strings.HasSuffix(f.Func, ".allocateKnownBlock") && f.Flat > 0 && f.Cum >= f.Flat {
			found = true
		}
	}
	if !found {
		t.Errorf("allocateKnownBlock not in the alloc_space top: %+v", r.Functions[:min(5, len(r.Functions))])
	}
	// The raw body must stay readable by go tool pprof (google/pprof's parser).
	if _, err := profile.ParseData(heap.Raw.Body); err != nil {
		t.Errorf("raw heap body does not parse: %v", err)
	}

	// A busy goroutine gives the CPU profile something to see.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		x := 0
		for {
			select {
			case <-stop:
				return
			default:
				for i := 0; i < 1e5; i++ {
					x += i * i
				}
			}
		}
	}()
	cpu, err := c.FetchCPU(ctx, time.Second)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	cr, err := Top(cpu.Profile, "cpu", TopOptions{N: 5})
	if err != nil {
		t.Fatal(err)
	}
	if cr.SampleType != "cpu" || cr.Unit != "nanoseconds" || cr.Total <= 0 || len(cr.Functions) == 0 || cr.DurationS < 0.9 {
		t.Errorf("cpu top = %+v", cr)
	}
}

func TestLiveBundle(t *testing.T) {
	srv := pprofServer(t)
	park(t, 4, parkedInKnownFunction)
	stats := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"uptime_s":1,"goroutines":9,"rooms":[]}`))
	}))
	defer stats.Close()
	c, _ := NewClient(srv.URL, srv.Client())
	dir := t.TempDir()

	t.Run("complete", func(t *testing.T) {
		out := filepath.Join(dir, "b.tar.gz")
		var steps []string
		res, err := c.Bundle(context.Background(), out, BundleOptions{CPU: time.Second, StatsURL: stats.URL + "/v1/stats", Progress: func(s string) { steps = append(steps, s) }})
		if err != nil {
			t.Fatal(err)
		}
		files := readTar(t, out)
		for _, name := range []string{"goroutine.pb.gz", "goroutine-debug2.txt", "heap.pb.gz", "cpu.pb.gz", "stats.json", "summary.txt"} {
			if len(files[name]) == 0 {
				t.Errorf("bundle lacks %s (has %v)", name, res.Files)
			}
		}
		for _, name := range []string{"goroutine.pb.gz", "heap.pb.gz", "cpu.pb.gz"} {
			if _, err := profile.ParseData(files[name]); err != nil {
				t.Errorf("%s does not parse: %v", name, err)
			}
		}
		sum := string(files["summary.txt"])
		for _, want := range []string{"== goroutines ==", "parkedInKnownFunction", "== heap (in use) ==", "== cpu ==", srv.URL} {
			if !strings.Contains(sum, want) {
				t.Errorf("summary.txt lacks %q:\n%s", want, sum)
			}
		}
		if len(res.Missing) != 0 || len(steps) < 4 {
			t.Errorf("missing = %v, steps = %v", res.Missing, steps)
		}
	})
	t.Run("stats unreachable is a note", func(t *testing.T) {
		out := filepath.Join(dir, "c.tar.gz")
		res, err := c.Bundle(context.Background(), out, BundleOptions{StatsURL: "http://127.0.0.1:1/v1/stats"})
		if err != nil {
			t.Fatal(err)
		}
		files := readTar(t, out)
		if _, ok := files["stats.json"]; ok {
			t.Error("stats.json present")
		}
		if _, ok := files["cpu.pb.gz"]; ok {
			t.Error("cpu.pb.gz present with CPU 0")
		}
		if !strings.Contains(string(files["summary.txt"]), "stats.json skipped") || len(res.Missing) != 1 {
			t.Errorf("summary / missing = %v", res.Missing)
		}
	})
	t.Run("stats from the target by default", func(t *testing.T) {
		// The target (a pprof-only process) has no /v1/stats: the
		// bundle is written, and says what is missing and what to do.
		out := filepath.Join(dir, "e.tar.gz")
		res, err := c.Bundle(context.Background(), out, BundleOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Missing) != 1 || !strings.Contains(res.Missing[0], srv.URL+"/v1/stats") || !strings.Contains(res.Missing[0], "--stats") {
			t.Errorf("missing = %v, want the target's /v1/stats named, with a hint", res.Missing)
		}
		out = filepath.Join(dir, "f.tar.gz")
		if res, err = c.Bundle(context.Background(), out, BundleOptions{StatsURL: "none"}); err != nil || len(res.Missing) != 0 {
			t.Errorf("--stats none: err %v, missing %v", err, res.Missing)
		}
	})
	t.Run("unreachable target writes nothing", func(t *testing.T) {
		bad, _ := NewClient("http://127.0.0.1:1", nil)
		out := filepath.Join(dir, "d.tar.gz")
		if _, err := bad.Bundle(context.Background(), out, BundleOptions{}); !errors.Is(err, ErrUnreachable) {
			t.Fatalf("err = %v", err)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("archive written for an unreachable target")
		}
	})
}

func readTar(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = b
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

func TestAssertions(t *testing.T) {
	plain := func(v float64) assert.Value { return assert.Value{Kind: assert.Plain, V: v} }
	metrics := assert.Map{"growth": plain(150), "total": plain(900), "suspects": plain(1), "total_growth": plain(160), "groups": plain(12)}
	tests := []struct {
		in      string
		failed  int
		wantErr string
	}{
		{in: "growth<100", failed: 1},
		{in: "growth<=150, total<1000", failed: 0},
		{in: "suspects==0,groups>20,total_growth>=0", failed: 2},
		{in: "growth<", wantErr: "missing value"},
		{in: "leaks<1", wantErr: "unknown metric"},
		{in: "growth=>1", wantErr: "unknown operator"},
		{in: "growth 100", wantErr: "want metric<value"},
		{in: "growth<10%", wantErr: "plain number"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			as, err := assert.Parse(tc.in)
			if err == nil {
				err = assert.Check(as, metrics)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			failed := assert.Failed(assert.Evaluate(as, metrics))
			if len(failed) != tc.failed {
				t.Errorf("failed = %q, want %d", failed, tc.failed)
			}
			for _, f := range failed {
				if !strings.Contains(f, "FAILED (") {
					t.Errorf("message %q should give the measured value", f)
				}
			}
		})
	}
}
