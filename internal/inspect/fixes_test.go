package inspect

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	assert "github.com/livectl/livectl/internal/metrics/threshold"
)

func TestParseFileLine(t *testing.T) {
	tests := []struct {
		name, in string
		file     string
		line     int64
		ok       bool
	}{
		{"plain", "\t/go/src/runtime/proc.go:435 +0x1d", "/go/src/runtime/proc.go", 435, true},
		{"inlined, no offset", "\t/src/app/worker/pool.go:88", "/src/app/worker/pool.go", 88, true},
		{"space in the path", "\t/tmp/rv dump/main.go:15 +0x30", "/tmp/rv dump/main.go", 15, true},
		{"space in the path, no offset", "\t/tmp/rv dump/main.go:15", "/tmp/rv dump/main.go", 15, true},
		{"windows path", "\tC:/Program Files/Go/src/runtime/proc.go:435 +0x1d", "C:/Program Files/Go/src/runtime/proc.go", 435, true},
		{"GOTRACEBACK=system", "\t/a b/c.go:7 +0x2a fp=0xc000 sp=0xc001 pc=0x4a", "/a b/c.go", 7, true},
		{"no line", "\t/src/app/main.go +0x1d", "", 0, false},
		{"drive only", "\tC:", "", 0, false},
		{"negative line", "\t/m.go:-3 +0x1", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file, line, ok := parseFileLine(tt.in)
			if ok != tt.ok || file != tt.file || line != tt.line {
				t.Errorf("parseFileLine(%q) = %q, %d, %v; want %q, %d, %v", tt.in, file, line, ok, tt.file, tt.line, tt.ok)
			}
		})
	}
	t.Run("through ParseDump", func(t *testing.T) {
		d, err := ParseDump([]byte("goroutine 1 [running]:\nmain.main()\n\t/tmp/rv dump/main.go:15 +0x30\n"))
		if err != nil {
			t.Fatal(err)
		}
		if fs := d.Goroutines[0].Frames; d.Skipped != 0 || len(fs) != 1 || fs[0].File != "/tmp/rv dump/main.go" || fs[0].Line != 15 {
			t.Errorf("skipped %d, frames %+v", d.Skipped, fs)
		}
	})
}

// deepStack is a goroutine blocked in select at the bottom of a recursion
// of n frames (runtime frames included, goexit not), leaf first.
func deepStack(leaf string, n int) []Frame {
	fs := []Frame{
		fr("runtime.gopark", "/go/src/runtime/proc.go", 435),
		fr("runtime.selectgo", "/go/src/runtime/select.go", 351),
		fr("example.com/app/tree."+leaf, "/src/app/tree/tree.go", 40),
	}
	for i := 0; len(fs) < n-1; i++ {
		fn := []string{"example.com/app/tree.(*Node).walk", "example.com/app/tree.(*Node).visit"}[i%2]
		fs = append(fs, fr(fn, "/src/app/tree/tree.go", int64(20+i%2)))
	}
	return append(fs, fr("example.com/app/tree.Start", "/src/app/tree/tree.go", 9))
}

// dumpText renders goroutines as /debug/pprof/goroutine?debug=2 does,
// eliding the middle of stacks over 100 frames.
func dumpText(id int, state, creator string, fs []Frame) string {
	var b strings.Builder
	fmt.Fprintf(&b, "goroutine %d [%s]:\n", id, state)
	write := func(fs []Frame) {
		for _, f := range fs {
			fmt.Fprintf(&b, "%s(...)\n\t%s:%d +0x1d\n", f.Func, f.File, f.Line)
		}
	}
	if len(fs) > 100 {
		write(fs[:50])
		fmt.Fprintf(&b, "...%d frames elided...\n", len(fs)-100)
		write(fs[len(fs)-50:])
	} else {
		write(fs)
	}
	fmt.Fprintf(&b, "created by %s in goroutine 1\n\t/src/app/tree/tree.go:5 +0x25\n\n", creator)
	return b.String()
}

// TestDumpJoinDeepStacks: the dump keeps the first and last 50 frames of a
// stack over 100, the profile the first 128 (or fewer with
// GODEBUG=profstackdepth); the groups still get their states and creators,
// each its own, also when they differ only in how deep they recurse.
func TestDumpJoinDeepStacks(t *testing.T) {
	type spec struct {
		leaf           string
		frames         int // of the goroutines' real stacks
		state, creator string
		n              int64
	}
	leaves := func(frames int) spec {
		return spec{"visitLeaf", frames, "chan receive", "example.com/app/tree.StartLeaves", 2}
	}
	branches := func(frames int) spec {
		return spec{"visitBranch", frames, "select", "example.com/app/tree.StartBranches", 3}
	}
	tests := []struct {
		name      string
		profDepth int // frames the profile keeps
		groups    []spec
	}{
		{"shallow", 128, []spec{leaves(60), branches(60)}},
		{"dump elided", 128, []spec{leaves(110), branches(110)}},
		{"both cut", 128, []spec{leaves(300), branches(300)}},
		{"profile cut short", 32, []spec{leaves(60), branches(60)}},
		{"one recursion at two depths", 128, []spec{
			leaves(110), {"visitLeaf", 300, "IO wait", "example.com/app/tree.StartDeep", 4},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stacks []synthStack
			var dump strings.Builder
			id := 10
			for _, g := range tt.groups {
				fs := deepStack(g.leaf, g.frames)
				prof := append(append([]Frame{}, fs...), fr("runtime.goexit", "/go/src/runtime/asm_amd64.s", 1700))
				if len(prof) > tt.profDepth {
					prof = prof[:tt.profDepth]
				}
				stacks = append(stacks, synthStack{[]int64{g.n}, prof})
				for range g.n {
					dump.WriteString(dumpText(id, g.state, g.creator, fs))
					id++
				}
			}
			gp, err := ParseGoroutineProfile(synthProfile(t, goroutineType, stacks, t0), "test")
			if err != nil {
				t.Fatal(err)
			}
			d, err := ParseDump([]byte(dump.String()))
			if err != nil {
				t.Fatal(err)
			}
			r := GroupProfile(gp, GroupOptions{Dump: d})
			if len(r.Groups) != len(tt.groups) {
				t.Fatalf("groups = %+v", r.Groups)
			}
			for _, g := range r.Groups {
				var w spec
				for _, s := range tt.groups {
					if s.n == g.Count {
						w = s
					}
				}
				if g.StateSource != "dump" || g.State != w.state || g.CreatedBy != w.creator || g.States[w.state] != int(g.Count) {
					t.Errorf("group of %d in %s: state %q from %s, states %v, created by %q; want %q from the dump, created by %q",
						g.Count, g.Top, g.State, g.StateSource, g.States, g.CreatedBy, w.state, w.creator)
				}
			}
		})
	}
}

// TestNotStartedState: goroutines not yet started come as one sample per
// label set; every one of them is runnable.
func TestNotStartedState(t *testing.T) {
	goexit := []Frame{fr("runtime.goexit", "/go/src/runtime/asm_amd64.s", 1700)}
	tests := []struct {
		name   string
		counts []int64
	}{
		{"one sample", []int64{4}},
		{"three label sets", []int64{1, 3, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stacks []synthStack
			var total int64
			for _, n := range tt.counts {
				stacks = append(stacks, synthStack{[]int64{n}, goexit})
				total += n
			}
			gp, err := ParseGoroutineProfile(synthProfile(t, goroutineType, stacks, t0), "test")
			if err != nil {
				t.Fatal(err)
			}
			r := GroupProfile(gp, GroupOptions{})
			if len(r.Groups) != 1 {
				t.Fatalf("groups = %+v", r.Groups)
			}
			g := r.Groups[0]
			if g.Top != NotStarted || g.Count != total || g.State != "runnable" || len(g.States) != 1 || g.States["runnable"] != int(total) {
				t.Errorf("group = top %q count %d state %q states %v; want %d runnable", g.Top, g.Count, g.State, g.States, total)
			}
		})
	}
}

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

// TestAssertCountsAllSuspects: --top cuts the suspects shown, not the ones
// --assert counts. A burst (1→1→50) outranks a steady leak (1→2→3).
func TestAssertCountsAllSuspects(t *testing.T) {
	samples := []*GoroutineProfile{
		synthGoroutines(t, t0, 3, 1, 1, 1),
		synthGoroutines(t, t0.Add(10*time.Second), 3, 1, 1, 2),
		synthGoroutines(t, t0.Add(20*time.Second), 3, 50, 1, 3),
	}
	asserts, err := assert.Parse("suspects==0")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		top   int
		shown int
	}{{0, 2}, {1, 1}, {2, 2}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("top %d", tt.top), func(t *testing.T) {
			s, err := Compare(samples, GroupOptions{Top: tt.top})
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Suspects) != tt.shown || s.SuspectCount != 2 || s.SteadyCount != 1 {
				t.Errorf("shown %d of %d suspects (%d steady), want %d of 2 (1 steady)", len(s.Suspects), s.SuspectCount, s.SteadyCount, tt.shown)
			}
			m := s.Metrics()
			if m["suspects"].V != 1 || m["growth"].V != 49 {
				t.Errorf("metrics = %v, want suspects 1 and growth 49", m)
			}
			if failed := assert.Failed(assert.Evaluate(asserts, m)); len(failed) != 1 {
				t.Errorf("suspects==0 passed with a steady leak ranked below --top %d", tt.top)
			}
			var buf bytes.Buffer
			if err := WriteSeriesTable(&buf, s); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), "2 groups grew, 1 at every sample") {
				t.Errorf("table summary does not count the groups left out:\n%s", buf.String())
			}
		})
	}
}

func TestParseDumpElision(t *testing.T) {
	tests := []struct {
		name         string
		in           string
		at, n, count int
	}{
		{"go1.21+: first and last frames", "goroutine 1 [select]:\nmain.a()\n\t/m.go:1\nmain.b()\n\t/m.go:2\n...7 frames elided...\nmain.c()\n\t/m.go:3 +0x1\n", 2, 7, 3},
		{"older: first frames only", "goroutine 1 [select]:\nmain.a()\n\t/m.go:1\n...additional frames elided...\n", 1, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDump([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			g := d.Goroutines[0]
			if !g.Elided || g.ElidedAt != tt.at || g.ElidedFrames != tt.n || len(g.Frames) != tt.count || d.Skipped != 0 {
				t.Errorf("elided %v at %d (%d frames left out), %d frames, %d lines skipped; want at %d, %d left out, %d frames",
					g.Elided, g.ElidedAt, g.ElidedFrames, len(g.Frames), d.Skipped, tt.at, tt.n, tt.count)
			}
		})
	}
}
