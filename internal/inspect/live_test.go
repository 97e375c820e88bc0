package inspect

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// pprofServer serves net/http/pprof the way a Go process does.
func pprofServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// parkedInKnownFunction blocks until release is closed; tests look for
// goroutines parked here.
func parkedInKnownFunction(release <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	<-release
}

// leakyWorker is a second known function, for the leak-ranking test.
func leakyWorker(release <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	never := make(chan int)
	select {
	case <-release:
	case <-never:
	}
}

// park starts n goroutines running fn, waits until they are parked, and
// releases them (and waits for them) when the test ends, so goleak sees
// none left.
func park(t *testing.T, n int, fn func(<-chan struct{}, *sync.WaitGroup)) {
	t.Helper()
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(n)
	before := parkedIn(fn)
	for i := 0; i < n; i++ {
		go fn(release, &wg)
	}
	t.Cleanup(func() { close(release); wg.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for parkedIn(fn) < before+n {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines did not park within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// parkedIn counts this process's goroutines parked in fn, read with the
// package's own dump parser.
func parkedIn(fn any) int {
	name := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Name()
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	d, err := ParseDump(buf)
	if err != nil {
		return 0
	}
	n := 0
	for _, g := range d.Goroutines {
		if len(g.Frames) > 0 && g.Frames[0].Func == name && g.State != "running" && g.State != "runnable" {
			n++
		}
	}
	return n
}

func findGroup(r *Report, top string) *Group {
	for i := range r.Groups {
		if strings.HasSuffix(r.Groups[i].Top, top) {
			return &r.Groups[i]
		}
	}
	return nil
}

func TestLiveGoroutineGroups(t *testing.T) {
	srv := pprofServer(t)
	const n = 37
	park(t, n, parkedInKnownFunction)
	c, err := NewClient(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	gp, err := c.FetchGoroutines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dump, err := c.FetchGoroutineDump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("without dump", func(t *testing.T) {
		r := GroupProfile(gp, GroupOptions{})
		g := findGroup(r, ".parkedInKnownFunction")
		if g == nil {
			t.Fatalf("no group with top parkedInKnownFunction in %+v", r.Groups)
		}
		if g.Count != n || g.State != "chan receive" || g.StateSource != "stack" {
			t.Errorf("group = count %d state %q (%s), want %d chan receive (stack)", g.Count, g.State, g.StateSource, n)
		}
		if r.Total < n+1 {
			t.Errorf("total = %d, want > %d", r.Total, n)
		}
	})
	t.Run("with dump", func(t *testing.T) {
		r := GroupProfile(gp, GroupOptions{Dump: dump})
		g := findGroup(r, ".parkedInKnownFunction")
		if g == nil {
			t.Fatal("group missing")
		}
		if g.Count != n || g.State != "chan receive" || g.StateSource != "dump" || g.States["chan receive"] != n {
			t.Errorf("group = %d %q (%s) states %v", g.Count, g.State, g.StateSource, g.States)
		}
		if !strings.HasSuffix(g.CreatedBy, ".park") {
			t.Errorf("created_by = %q, want .park", g.CreatedBy)
		}
		if g.WaitMaxS == nil || *g.WaitMaxS != 0 {
			t.Errorf("wait_max_s = %v, want 0 (under a minute)", g.WaitMaxS)
		}
	})
	t.Run("filter and top", func(t *testing.T) {
		r := GroupProfile(gp, GroupOptions{Filter: regexp.MustCompile(`parkedInKnown`), Top: 5})
		if len(r.Groups) != 1 || r.Matched != n {
			t.Errorf("filtered groups = %d matched %d, want 1 group of %d", len(r.Groups), r.Matched, n)
		}
		r = GroupProfile(gp, GroupOptions{Top: 1})
		if len(r.Groups) != 1 || r.Groups[0].Count != n {
			t.Errorf("top 1 = %+v, want the group of %d", r.Groups, n)
		}
	})
}

func TestLiveLeakRanksFirst(t *testing.T) {
	srv := pprofServer(t)
	park(t, 5, parkedInKnownFunction)
	c, _ := NewClient(srv.URL, srv.Client())
	ctx := context.Background()
	a, err := c.FetchGoroutines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	park(t, 12, leakyWorker)
	b, err := c.FetchGoroutines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Compare([]*GoroutineProfile{a, b}, GroupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Suspects) == 0 || !strings.HasSuffix(s.Suspects[0].Top, ".leakyWorker") {
		t.Fatalf("suspects = %+v, want leakyWorker first", s.Suspects)
	}
	// Two samples rank growth but cannot show a trend: not steady.
	if got := s.Suspects[0]; got.Growth != 12 || got.Counts[0] != 0 || got.Counts[1] != 12 || got.Steady || got.State != "select" {
		t.Errorf("suspect = %+v, want 0→12 select, not steady from two samples", got)
	}

	// A third sample with more of the same: growth at every step is steady.
	park(t, 3, leakyWorker)
	c3, err := c.FetchGoroutines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err = Compare([]*GoroutineProfile{a, b, c3}, GroupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Suspects[0]; !strings.HasSuffix(got.Top, ".leakyWorker") || got.Growth != 15 || !got.Steady {
		t.Errorf("suspect = %+v, want leakyWorker 0→12→15 steady", got)
	}
}

func TestFetchErrors(t *testing.T) {
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>demo page</body></html>"))
	}))
	defer html.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for _, tc := range []struct {
		name   string
		target string
		want   error
		msg    string
	}{
		{"unreachable", closedURL, ErrUnreachable, "connection refused"},
		{"404", notFound.URL, ErrNotExposed, "net/http/pprof"},
		{"not a profile", html.URL, ErrNotProfile, "not with a pprof profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient(tc.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.FetchGoroutines(context.Background())
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), tc.target) {
				t.Errorf("message %q should name the target and contain %q", err, tc.msg)
			}
		})
	}
}

func TestFetchTimeout(t *testing.T) {
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)
	c, _ := NewClient(slow.URL, slow.Client())
	c.Timeout = 50 * time.Millisecond
	_, err := c.FetchGoroutines(context.Background())
	var na *NoAnswerError
	if !errors.Is(err, ErrUnreachable) || !errors.As(err, &na) || !strings.Contains(err.Error(), "no answer within") {
		t.Errorf("err = %v, want ErrUnreachable with a NoAnswerError", err)
	}
}
