package inspect

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// fr builds a frame; stacks in these tests are written leaf first.
func fr(fn, file string, line int64) Frame { return Frame{Func: fn, File: file, Line: line} }

type synthStack struct {
	values []int64
	frames []Frame
}

// synthProfile builds a profile with the given sample types, serialises it
// and parses it back, so tests exercise the same path as fetched bodies.
func synthProfile(t *testing.T, types []*profile.ValueType, stacks []synthStack, at time.Time) []byte {
	t.Helper()
	p := &profile.Profile{SampleType: types, PeriodType: types[0], Period: 1, TimeNanos: at.UnixNano()}
	funcs := map[string]*profile.Function{}
	locs := map[string]*profile.Location{}
	for _, st := range stacks {
		s := &profile.Sample{Value: st.values}
		for _, f := range st.frames {
			fn := funcs[f.Func]
			if fn == nil {
				fn = &profile.Function{ID: uint64(len(funcs) + 1), Name: f.Func, SystemName: f.Func, Filename: f.File}
				funcs[f.Func] = fn
				p.Function = append(p.Function, fn)
			}
			key := fmt.Sprintf("%s:%s:%d", f.Func, f.File, f.Line)
			loc := locs[key]
			if loc == nil {
				loc = &profile.Location{ID: uint64(len(locs) + 1), Address: uint64(0x1000 + len(locs)), Line: []profile.Line{{Function: fn, Line: f.Line}}}
				locs[key] = loc
				p.Location = append(p.Location, loc)
			}
			s.Location = append(s.Location, loc)
		}
		p.Sample = append(p.Sample, s)
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var goroutineType = []*profile.ValueType{{Type: "goroutine", Unit: "count"}}

var t0 = time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)

// Stacks of a small imaginary service, runtime frames included as the
// protobuf form has them.
var (
	poolStack = []Frame{
		fr("runtime.gopark", "/go/src/runtime/proc.go", 435),
		fr("runtime.chanrecv", "/go/src/runtime/chan.go", 664),
		fr("runtime.chanrecv1", "/go/src/runtime/chan.go", 506),
		fr("example.com/app/worker.(*Pool).wait", "/src/app/worker/pool.go", 88),
		fr("example.com/app/worker.(*Pool).run", "/src/app/worker/pool.go", 61),
		fr("runtime.goexit", "/go/src/runtime/asm_amd64.s", 1700),
	}
	connStack = []Frame{
		fr("runtime.gopark", "/go/src/runtime/proc.go", 435),
		fr("runtime.netpollblock", "/go/src/runtime/netpoll.go", 575),
		fr("internal/poll.runtime_pollWait", "/go/src/runtime/netpoll.go", 351),
		fr("net.(*netFD).Read", "/go/src/net/fd_posix.go", 68),
		fr("example.com/app/conn.(*Conn).readLoop", "/src/app/conn/conn.go", 140),
		fr("runtime.goexit", "/go/src/runtime/asm_amd64.s", 1700),
	}
	// Same function as connStack's reader but blocked at another line: a
	// different group with depth 0, the same with --depth 1.
	connStack2 = []Frame{
		fr("runtime.gopark", "/go/src/runtime/proc.go", 435),
		fr("runtime.selectgo", "/go/src/runtime/select.go", 351),
		fr("example.com/app/conn.(*Conn).readLoop", "/src/app/conn/conn.go", 152),
		fr("runtime.goexit", "/go/src/runtime/asm_amd64.s", 1700),
	}
	leakStack = []Frame{
		fr("runtime.gopark", "/go/src/runtime/proc.go", 435),
		fr("runtime.selectgo", "/go/src/runtime/select.go", 351),
		fr("example.com/app/session.(*Session).keepalive", "/src/app/session/session.go", 77),
		fr("runtime.goexit", "/go/src/runtime/asm_amd64.s", 1700),
	}
	mainStack = []Frame{
		fr("example.com/app.main", "/src/app/main.go", 20),
		fr("runtime.main", "/go/src/runtime/proc.go", 283),
		fr("runtime.goexit", "/go/src/runtime/asm_amd64.s", 1700),
	}
	sleepStack = []Frame{
		fr("runtime.gopark", "/go/src/runtime/proc.go", 435),
		fr("time.Sleep", "/go/src/runtime/time.go", 363),
		fr("example.com/app/stats.(*Collector).loop", "/src/app/stats/collect.go", 31),
		fr("runtime.goexit", "/go/src/runtime/asm_amd64.s", 1700),
	}
)

func synthGoroutines(t *testing.T, at time.Time, pool, conn, conn2, leak int64) *GoroutineProfile {
	t.Helper()
	var stacks []synthStack
	for _, s := range []struct {
		n  int64
		fs []Frame
	}{{1, mainStack}, {pool, poolStack}, {conn, connStack}, {conn2, connStack2}, {leak, leakStack}, {1, sleepStack}} {
		if s.n > 0 {
			stacks = append(stacks, synthStack{[]int64{s.n}, s.fs})
		}
	}
	gp, err := ParseGoroutineProfile(synthProfile(t, goroutineType, stacks, at), "http://127.0.0.1:6060/debug/pprof/goroutine")
	if err != nil {
		t.Fatal(err)
	}
	gp.FetchedAt = at
	return gp
}
