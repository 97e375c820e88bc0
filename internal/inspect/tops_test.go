package inspect

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
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
