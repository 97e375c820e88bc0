package inspect

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseDump(t *testing.T) {
	b, err := os.ReadFile("testdata/dump-synthetic.txt")
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDump(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Goroutines) != 5 || d.Skipped != 0 {
		t.Fatalf("goroutines = %d skipped = %d, want 5 and 0", len(d.Goroutines), d.Skipped)
	}
	g := d.Goroutines[1]
	if g.ID != 7 || g.State != "chan receive" || g.Wait != 12*time.Minute || g.Locked {
		t.Errorf("goroutine 7 header = %+v", g)
	}
	if len(g.Frames) != 2 || g.Frames[0].Func != "example.com/app/worker.(*Pool).wait" || g.Frames[0].Line != 88 ||
		g.Frames[1].Func != "example.com/app/worker.(*Pool).run" || g.Frames[1].File != "/src/app/worker/pool.go" || g.Frames[1].Line != 61 {
		t.Errorf("goroutine 7 frames = %+v", g.Frames)
	}
	if g.CreatedBy != "example.com/app/worker.New" || g.CreatorID != 1 {
		t.Errorf("created by = %q in %d", g.CreatedBy, g.CreatorID)
	}
	io := d.Goroutines[4]
	if io.ID != 21 || io.State != "IO wait" || io.Wait != 2*time.Minute || !io.Locked || !io.Elided || len(io.Frames) != 3 || io.CreatorID != 5 {
		t.Errorf("goroutine 21 = %+v", io)
	}
}

func TestParseDumpEdgeCases(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
		check   func(t *testing.T, d *Dump)
	}{
		{name: "empty", in: "", wantErr: true},
		{name: "html", in: "<html><body>404 page</body></html>\n", wantErr: true},
		{name: "protobuf bytes", in: "\x1f\x8b\x08\x00\x00\x00", wantErr: true},
		{name: "header only, truncated", in: "goroutine 5 [select]:\nmain.f(", check: func(t *testing.T, d *Dump) {
			if len(d.Goroutines) != 1 || len(d.Goroutines[0].Frames) != 0 || d.Skipped != 1 {
				t.Errorf("got %+v", d)
			}
		}},
		{name: "crlf and one minute", in: "goroutine 3 [sleep, 1 minutes]:\r\ntime.Sleep(0x3b9aca00)\r\n\t/go/src/runtime/time.go:300 +0x1\r\n", check: func(t *testing.T, d *Dump) {
			g := d.Goroutines[0]
			if g.Wait != time.Minute || g.Frames[0].Func != "time.Sleep" || g.Frames[0].Line != 300 {
				t.Errorf("got %+v", g)
			}
		}},
		{name: "unknown annotations kept", in: "goroutine 9 [chan send, durable, 99999999999999999999 minutes]:\nmain.f()\n", check: func(t *testing.T, d *Dump) {
			g := d.Goroutines[0]
			if g.State != "chan send" || g.Wait != 0 || len(g.Extra) != 2 {
				t.Errorf("got %+v", g)
			}
		}},
		{name: "a wait past what a Duration holds kept as text", in: "goroutine 4 [select, 170000000 minutes]:\nmain.f()\n", check: func(t *testing.T, d *Dump) {
			g := d.Goroutines[0]
			if g.Wait != 0 || len(g.Extra) != 1 || g.Extra[0] != "170000000 minutes" {
				t.Errorf("got %+v", g)
			}
		}},
		{name: "the longest wait a Duration holds", in: "goroutine 5 [select, 153722867 minutes]:\nmain.f()\n", check: func(t *testing.T, d *Dump) {
			if g := d.Goroutines[0]; g.Wait != 153722867*time.Minute {
				t.Errorf("got %+v", g)
			}
		}},
		{name: "bad header skipped, next parsed", in: "goroutine x [running]:\nmain.a()\n\ngoroutine 2 [running]:\nmain.b()\n", check: func(t *testing.T, d *Dump) {
			if len(d.Goroutines) != 1 || d.Goroutines[0].ID != 2 || d.Skipped != 2 {
				t.Errorf("got %+v", d)
			}
		}},
		{name: "generic and method names", in: "goroutine 4 [running]:\nexample.com/p.Map[...].Range(0xc0, {0x1, 0x2})\n\t/p.go:9 +0x1\nexample.com/p.(*T).m.func1()\n\t/p.go:12 +0x2\n", check: func(t *testing.T, d *Dump) {
			fs := d.Goroutines[0].Frames
			if len(fs) != 2 || fs[0].Func != "example.com/p.Map[...].Range" || fs[1].Func != "example.com/p.(*T).m.func1" {
				t.Errorf("frames = %+v", fs)
			}
		}},
		{name: "ancestors ignored", in: "goroutine 6 [running]:\nmain.f()\n\t/m.go:1 +0x1\n[originating from goroutine 1]:\nmain.main()\n\t/m.go:2 +0x1\n", check: func(t *testing.T, d *Dump) {
			if fs := d.Goroutines[0].Frames; len(fs) != 1 || fs[0].Func != "main.f" {
				t.Errorf("frames = %+v", fs)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDump([]byte(tc.in))
			if tc.wantErr {
				if !errors.Is(err, ErrNotProfile) {
					t.Fatalf("err = %v, want ErrNotProfile", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, d)
		})
	}
}

// FuzzParseDump feeds the debug=2 parser arbitrary text: it must not
// panic, and what it returns must be well formed. Seeds are real dumps
// (testdata/fuzz/FuzzParseDump) plus the synthetic one.
func FuzzParseDump(f *testing.F) {
	if b, err := os.ReadFile("testdata/dump-synthetic.txt"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("goroutine 1 [running]:\nmain.main()\n\t/m.go:3 +0x1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseDump(data)
		if err != nil {
			if d != nil {
				t.Fatal("error with a non-nil dump")
			}
			return
		}
		if len(d.Goroutines) == 0 {
			t.Fatal("no error and no goroutine")
		}
		for _, g := range d.Goroutines {
			if g.ID < 0 || g.State == "" || g.Wait < 0 || g.CreatorID < 0 {
				t.Fatalf("bad goroutine %+v", g)
			}
			for _, fr := range g.Frames {
				if fr.Func == "" || strings.ContainsAny(fr.Func, " \t\n") || fr.Line < 0 {
					t.Fatalf("bad frame %+v", fr)
				}
			}
		}
	})
}

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
