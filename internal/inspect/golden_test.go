package inspect

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

func readDump(t *testing.T, name string) *Dump {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDump(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestGoroutineTableGolden(t *testing.T) {
	gp := synthGoroutines(t, t0, 3, 2, 1, 40)
	dump := readDump(t, "dump-synthetic.txt")
	for _, tc := range []struct {
		name   string
		opts   GroupOptions
		stacks bool
	}{
		{"goroutines.golden", GroupOptions{}, false},
		{"goroutines-states.golden", GroupOptions{Dump: dump}, false},
		{"goroutines-depth1-top3.golden", GroupOptions{Depth: 1, Top: 3}, false},
		{"goroutines-filter-stacks.golden", GroupOptions{Filter: regexp.MustCompile(`app/conn`), Dump: dump}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteGoroutineTable(&buf, GroupProfile(gp, tc.opts), tc.stacks); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, buf.Bytes())
		})
	}
}

func TestGroupingSemantics(t *testing.T) {
	gp := synthGoroutines(t, t0, 3, 2, 1, 40)
	dump := readDump(t, "dump-synthetic.txt")
	tests := []struct {
		name       string
		opts       GroupOptions
		wantGroups int
		first      Group
	}{
		{"identical stacks", GroupOptions{}, 6, Group{Count: 40, Top: "example.com/app/session.(*Session).keepalive", State: "select", StateSource: "stack"}},
		{"depth 1 merges the two readLoop lines", GroupOptions{Depth: 1}, 5, Group{Count: 40}},
		{"filter", GroupOptions{Filter: regexp.MustCompile(`readLoop`)}, 2, Group{Count: 2, Top: "example.com/app/conn.(*Conn).readLoop", State: "IO wait"}},
		{"dump states", GroupOptions{Dump: dump, Filter: regexp.MustCompile(`Pool`)}, 1, Group{Count: 3, State: "chan receive", StateSource: "dump", CreatedBy: "example.com/app/worker.New"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := GroupProfile(gp, tc.opts)
			if r.GroupCount != tc.wantGroups {
				t.Fatalf("groups = %d, want %d: %+v", r.GroupCount, tc.wantGroups, r.Groups)
			}
			g := r.Groups[0]
			w := tc.first
			if g.Count != w.Count || (w.Top != "" && g.Top != w.Top) || (w.State != "" && g.State != w.State) ||
				(w.StateSource != "" && g.StateSource != w.StateSource) || g.CreatedBy != w.CreatedBy {
				t.Errorf("first group = %+v, want %+v", g, w)
			}
			if r.Total != 48 {
				t.Errorf("total = %d, want 48", r.Total)
			}
		})
	}
	t.Run("depth 1 merged count", func(t *testing.T) {
		r := GroupProfile(gp, GroupOptions{Depth: 1, Filter: regexp.MustCompile(`readLoop`)})
		if len(r.Groups) != 1 || r.Groups[0].Count != 3 {
			t.Errorf("groups = %+v, want one readLoop group of 3", r.Groups)
		}
	})
	t.Run("dump waits and mixed states", func(t *testing.T) {
		r := GroupProfile(gp, GroupOptions{Dump: dump, Filter: regexp.MustCompile(`Pool`)})
		g := r.Groups[0]
		if *g.WaitMinS != 0 || *g.WaitMaxS != 12*60 || g.States["runnable"] != 1 || g.States["chan receive"] != 2 {
			t.Errorf("group = %+v wait %v–%v", g, *g.WaitMinS, *g.WaitMaxS)
		}
		if got := g.WaitRange(); got != "<1m–12m" {
			t.Errorf("WaitRange = %q", got)
		}
		if got := g.StateText(); got != "chan receive (+1 other)" {
			t.Errorf("StateText = %q", got)
		}
	})
}

func TestSeriesGolden(t *testing.T) {
	samples := []*GoroutineProfile{
		synthGoroutines(t, t0, 3, 2, 1, 10),
		synthGoroutines(t, t0.Add(10*time.Second), 5, 2, 0, 25),
		synthGoroutines(t, t0.Add(20*time.Second), 4, 3, 0, 40),
	}
	s, err := Compare(samples, GroupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteSeriesTable(&buf, s); err != nil {
		t.Fatal(err)
	}
	golden(t, "series.golden", buf.Bytes())

	want := []struct {
		top    string
		growth int64
		steady bool
	}{
		{"example.com/app/session.(*Session).keepalive", 30, true},
		// Equal growth: ordered by name.
		{"example.com/app/conn.(*Conn).readLoop", 1, false},
		{"example.com/app/worker.(*Pool).wait", 1, false},
	}
	if len(s.Suspects) != len(want) {
		t.Fatalf("suspects = %+v", s.Suspects)
	}
	for i, w := range want {
		if got := s.Suspects[i]; got.Top != w.top || got.Growth != w.growth || got.Steady != w.steady {
			t.Errorf("suspect %d = %+v, want %+v", i, got, w)
		}
	}
	m := s.Metrics()
	if m["growth"].V != 30 || m["suspects"].V != 1 || m["total_growth"].V != 31 || m["total"].V != 49 || m["groups"].V != 5 {
		t.Errorf("metrics = %v", m)
	}
}

func TestSeriesNoGrowth(t *testing.T) {
	a := synthGoroutines(t, t0, 3, 2, 1, 10)
	s, err := Compare([]*GoroutineProfile{a, a}, GroupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Suspects) != 0 {
		t.Errorf("suspects = %+v, want none", s.Suspects)
	}
	var buf bytes.Buffer
	_ = WriteSeriesTable(&buf, s)
	if !bytes.Contains(buf.Bytes(), []byte("no leak suspect")) {
		t.Errorf("table = %s", buf.String())
	}
	if _, err := Compare([]*GoroutineProfile{a}, GroupOptions{}); err == nil {
		t.Error("Compare with one sample: want an error")
	}
}

var heapTypes = []*profile.ValueType{
	{Type: "alloc_objects", Unit: "count"}, {Type: "alloc_space", Unit: "bytes"},
	{Type: "inuse_objects", Unit: "count"}, {Type: "inuse_space", Unit: "bytes"},
}

func synthHeap(t *testing.T) *profile.Profile {
	t.Helper()
	alloc := fr("example.com/app/buf.Alloc", "/src/app/buf/buf.go", 10)
	read := fr("example.com/app/conn.(*Conn).readLoop", "/src/app/conn/conn.go", 140)
	cache := fr("example.com/app/cache.(*LRU).Put", "/src/app/cache/lru.go", 51)
	handle := fr("example.com/app.handle", "/src/app/main.go", 70)
	rec := fr("example.com/app.walk", "/src/app/walk.go", 5)
	raw := synthProfile(t, heapTypes, []synthStack{
		{[]int64{1000, 64 << 20, 10, 640 << 10}, []Frame{alloc, read}},
		{[]int64{200, 8 << 20, 150, 6 << 20}, []Frame{cache, handle}},
		{[]int64{50, 1 << 20, 5, 100 << 10}, []Frame{alloc, handle}},
		// Recursion: walk appears twice, cum must count the sample once.
		{[]int64{10, 4096, 10, 4096}, []Frame{rec, rec, handle}},
	}, t0)
	p, err := profile.ParseData(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTopGolden(t *testing.T) {
	p := synthHeap(t)
	for _, tc := range []struct {
		name string
		opts TopOptions
	}{
		{"heap-inuse.golden", TopOptions{}},
		{"heap-alloc-cum.golden", TopOptions{SampleType: "alloc_space", SortByCum: true, N: 3}},
		{"heap-inuse-objects.golden", TopOptions{SampleType: "inuse_objects"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Top(p, "heap", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := WriteTopTable(&buf, r); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, buf.Bytes())
		})
	}
	t.Run("figures", func(t *testing.T) {
		r, err := Top(p, "heap", TopOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.SampleType != "inuse_space" || r.Total != 640<<10+6<<20+100<<10+4096 {
			t.Errorf("sample %s total %d", r.SampleType, r.Total)
		}
		byName := map[string]FuncStat{}
		for _, f := range r.Functions {
			byName[f.Func] = f
		}
		if f := byName["example.com/app.walk"]; f.Flat != 4096 || f.Cum != 4096 {
			t.Errorf("recursive walk = %+v, want flat=cum=4096", f)
		}
		if f := byName["example.com/app.handle"]; f.Flat != 0 || f.Cum != 6<<20+100<<10+4096 {
			t.Errorf("handle = %+v", f)
		}
		if _, err := Top(p, "heap", TopOptions{SampleType: "nope"}); err == nil {
			t.Error("unknown sample type: want an error")
		}
	})
}

// TestJSONShape pins the stable fields docs/inspect.md promises.
func TestJSONShape(t *testing.T) {
	gp := synthGoroutines(t, t0, 3, 2, 1, 40)
	decode := func(v any) map[string]any {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	need := func(t *testing.T, m map[string]any, fields ...string) {
		t.Helper()
		for _, f := range fields {
			if _, ok := m[f]; !ok {
				t.Errorf("missing %q in %v", f, keys(m))
			}
		}
	}
	t.Run("goroutines", func(t *testing.T) {
		m := decode(GroupProfile(gp, GroupOptions{}))
		need(t, m, "total", "groups")
		if m["total"].(float64) != 48 {
			t.Errorf("total = %v", m["total"])
		}
		g := m["groups"].([]any)[0].(map[string]any)
		need(t, g, "count", "state", "top", "stack")
		if _, ok := g["stack"].([]any)[0].(string); !ok {
			t.Errorf("stack entries must be strings: %v", g["stack"])
		}
	})
	t.Run("empty groups is a list", func(t *testing.T) {
		m := decode(GroupProfile(gp, GroupOptions{Filter: regexp.MustCompile(`nothing-matches`)}))
		if gs, ok := m["groups"].([]any); !ok || len(gs) != 0 {
			t.Errorf("groups = %#v, want []", m["groups"])
		}
	})
	t.Run("series", func(t *testing.T) {
		s, err := Compare([]*GoroutineProfile{gp, synthGoroutines(t, t0.Add(time.Minute), 3, 2, 1, 50)}, GroupOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m := decode(s)
		need(t, m, "total", "groups", "suspects", "samples")
		sp := m["suspects"].([]any)[0].(map[string]any)
		need(t, sp, "top", "counts", "growth")
		if sp["growth"].(float64) != 10 || len(sp["counts"].([]any)) != 2 {
			t.Errorf("suspect = %v", sp)
		}
	})
	t.Run("top", func(t *testing.T) {
		r, err := Top(synthHeap(t), "heap", TopOptions{N: 2})
		if err != nil {
			t.Fatal(err)
		}
		m := decode(r)
		need(t, m, "kind", "sample_type", "unit", "total", "totals", "functions")
		f := m["functions"].([]any)[0].(map[string]any)
		need(t, f, "func", "flat", "flat_pct", "cum", "cum_pct")
	})
}

func TestTopFrame(t *testing.T) {
	tests := []struct {
		name  string
		funcs []string
		want  string
	}{
		{"app below stdlib", []string{"runtime.gopark", "internal/poll.runtime_pollWait", "net.(*conn).Read", "bufio.(*Reader).fill", "github.com/gorilla/websocket.(*Conn).NextReader", "example.com/app.(*Conn).readLoop"}, "github.com/gorilla/websocket.(*Conn).NextReader"},
		{"package main", []string{"runtime.gopark", "time.Sleep", "main.worker"}, "main.worker"},
		{"only stdlib", []string{"runtime.gopark", "runtime.selectgo", "net/http.(*persistConn).readLoop"}, "net/http.(*persistConn).readLoop"},
		{"only runtime", []string{"runtime.gopark", "runtime.gcBgMarkWorker"}, "runtime.gopark"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := make([]Frame, len(tc.funcs))
			for i, fn := range tc.funcs {
				fs[i].Func = fn
			}
			if got := fs[topIndex(fs)].Func; got != tc.want {
				t.Errorf("top = %s, want %s", got, tc.want)
			}
		})
	}
}
